/* test_model_limits.c: the limits of compiler/ir/model_limits.h at their
 * edges: shape_bytes_check() (ir.c), arena_alloc_array() (arena.c) and the
 * nesting walk over protobuf bytes (frontends/onnx/proto_depth.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir.h"
#include "proto_depth.h"

static void test_shape_bytes_check_accepts_exactly_the_tensor_limit(void **state) {
    (void)state;
    int64_t bytes = -1;
    dim_reset();
    Shape s = {2, {dim_sym("N"), KILN_MAX_TENSOR_BYTES / 4}};
    assert_int_equal(shape_bytes_check(&s, DT_F32, &bytes), 0);
    assert_true(bytes == KILN_MAX_TENSOR_BYTES);
    s.dims[1]++;
    assert_int_equal(shape_bytes_check(&s, DT_F32, &bytes), -1);
    /* Per element type: the same count of bytes is fine. */
    assert_int_equal(shape_bytes_check(&s, DT_U8, &bytes), 0);
}

static void test_shape_bytes_check_bounds_symbolic_dims_at_their_upper_bounds(void **state) {
    (void)state;
    int64_t bytes = -1;
    dim_reset();
    Dim n = dim_sym("N"), big = dim_sym("big");
    assert_int_equal(dim_sym_set_bounds(dim_sym_of(big), 1, KILN_MAX_DIM), 0);
    /* 2^31 - 1 items of 2^17 bytes are just below KILN_MAX_DYN_BYTES (2^48). */
    Shape s = {2, {big, INT64_C(1) << 15}};
    assert_int_equal(shape_bytes_check(&s, DT_F32, &bytes), 0);
    assert_true(bytes == INT64_C(1) << 17);
    s.dims[1] *= 2;
    assert_int_equal(shape_bytes_check(&s, DT_F32, &bytes), -1);
    /* The default bounds [1, 4096] leave that far behind. */
    s.dims[0] = n;
    assert_int_equal(shape_bytes_check(&s, DT_F32, &bytes), 0);
    /* A symbol that may exceed KILN_MAX_DIM is refused. */
    assert_int_equal(dim_sym_set_bounds(dim_sym_of(dim_sym("huge")), 1, KILN_MAX_DIM + 1), 0);
    Shape h = {1, {dim_sym("huge")}};
    assert_int_equal(shape_bytes_check(&h, DT_U8, &bytes), -1);
}

static void test_shape_bytes_check_refuses_dims_whose_product_wraps(void **state) {
    (void)state;
    int64_t bytes;
    /* 2^32 * 2^32 wraps to 0 in 64 bits. */
    Shape s = {2, {INT64_C(1) << 32, INT64_C(1) << 32}};
    assert_int_equal(shape_bytes_check(&s, DT_U8, &bytes), -1);
    /* Eight dims of 2^8 are 2^64 elements. */
    Shape e = {8, {256, 256, 256, 256, 256, 256, 256, 256}};
    assert_int_equal(shape_bytes_check(&e, DT_U8, &bytes), -1);
    /* A zero dim empties the tensor but does not excuse the others. */
    Shape z = {3, {0, INT64_C(1) << 40, 2}};
    assert_int_equal(shape_bytes_check(&z, DT_U8, &bytes), -1);
    Shape z2 = {3, {0, 1000, 2}};
    assert_int_equal(shape_bytes_check(&z2, DT_F32, &bytes), 0);
    assert_int_equal(bytes, 0);
    /* Negative dims that name no expression, and bad ranks. */
    dim_reset();
    Shape neg = {1, {-5}};
    assert_int_equal(shape_bytes_check(&neg, DT_F32, &bytes), -1);
    Shape unknown = {-1, {0}};
    assert_int_equal(shape_bytes_check(&unknown, DT_F32, &bytes), -1);
    Shape scalar = {0, {0}};
    assert_int_equal(shape_bytes_check(&scalar, DT_F64, &bytes), 0);
    assert_int_equal(bytes, 8);
}

static void test_shape_numel_counts_the_batch_as_one(void **state) {
    (void)state;
    dim_reset();
    Shape s = {3, {dim_sym("N"), 3, 5}};
    assert_int_equal(shape_numel(&s), 15);
}

static void test_arena_alloc_array_gives_zeroed_elements(void **state) {
    (void)state;
    Arena *a = arena_create(4096);
    int64_t *p = arena_alloc_array(a, 1000, sizeof(int64_t));
    for (int i = 0; i < 1000; i++)
        assert_int_equal(p[i], 0);
    assert_int_equal((uintptr_t)p % 16, 0);
    assert_non_null(arena_alloc_array(a, 0, 8));
    arena_destroy(a);
}

static size_t put_varint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* A TypeProto nesting `depth` sequence types around a tensor type, inside
 * a graph input: model{graph(7){input(11){type(2){sequence_type(4){elem_type(1){...}}}}}}. */
static size_t nested_types(uint8_t *buf, size_t cap, int depth) {
    uint8_t *tmp = malloc(cap);
    size_t n = 0;
    buf[n++] = 0x0a, buf[n++] = 2, buf[n++] = 0x08, buf[n++] = 1; /* tensor_type{elem_type 1} */
    for (int i = 0; i < depth; i++) { /* TypeProto{sequence_type{elem_type: buf}} */
        size_t m = 0, inner;
        uint8_t len1[10], len2[10];
        size_t l1 = put_varint(len1, n);
        inner = 1 + l1 + n; /* Sequence{elem_type(1): TypeProto} */
        size_t l2 = put_varint(len2, inner);
        tmp[m++] = 0x22; /* field 4, length-delimited */
        memcpy(tmp + m, len2, l2), m += l2;
        tmp[m++] = 0x0a;
        memcpy(tmp + m, len1, l1), m += l1;
        memcpy(tmp + m, buf, n), m += n;
        assert_true(m <= cap);
        memcpy(buf, tmp, m);
        n = m;
    }
    const uint8_t wrap_fields[] = {0x12, 0x5a, 0x3a}; /* type(2), input(11), graph(7) */
    for (int w = 0; w < 3; w++) {
        uint8_t len[10];
        size_t l = put_varint(len, n);
        memmove(buf + 1 + l, buf, n);
        buf[0] = wrap_fields[w];
        memcpy(buf + 1, len, l);
        n += 1 + l;
    }
    free(tmp);
    return n;
}

static void test_proto_depth_allows_the_limit_and_refuses_one_more(void **state) {
    (void)state;
    size_t cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    /* The outermost TypeProto counts as one level. */
    size_t n = nested_types(buf, cap, KILN_MAX_NESTING - 1);
    assert_int_equal(onnx_proto_depth_check(buf, n), PROTO_DEPTH_OK);
    n = nested_types(buf, cap, KILN_MAX_NESTING);
    assert_int_equal(onnx_proto_depth_check(buf, n), PROTO_DEPTH_TYPES);
    free(buf);
}

static void test_proto_depth_reports_malformed_wire_format(void **state) {
    (void)state;
    const uint8_t truncated_len[] = {0x3a, 0x05, 0x0a}; /* graph: 5 bytes announced, 1 there */
    assert_int_equal(onnx_proto_depth_check(truncated_len, sizeof truncated_len),
                     PROTO_DEPTH_MALFORMED);
    const uint8_t group[] = {0x0b}; /* field 1, start group */
    assert_int_equal(onnx_proto_depth_check(group, sizeof group), PROTO_DEPTH_MALFORMED);
    const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(onnx_proto_depth_check(long_varint, sizeof long_varint),
                     PROTO_DEPTH_MALFORMED);
    const uint8_t fine[] = {0x08, 0x08, 0x12, 0x03, 'a', 'b', 'c'}; /* ir_version, producer */
    assert_int_equal(onnx_proto_depth_check(fine, sizeof fine), PROTO_DEPTH_OK);
    assert_int_equal(onnx_proto_depth_check(fine, 0), PROTO_DEPTH_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_bytes_check_accepts_exactly_the_tensor_limit),
        cmocka_unit_test(test_shape_bytes_check_bounds_symbolic_dims_at_their_upper_bounds),
        cmocka_unit_test(test_shape_bytes_check_refuses_dims_whose_product_wraps),
        cmocka_unit_test(test_shape_numel_counts_the_batch_as_one),
        cmocka_unit_test(test_arena_alloc_array_gives_zeroed_elements),
        cmocka_unit_test(test_proto_depth_allows_the_limit_and_refuses_one_more),
        cmocka_unit_test(test_proto_depth_reports_malformed_wire_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
