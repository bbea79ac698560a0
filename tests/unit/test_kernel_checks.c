/* test_kernel_checks.c: the checked kernels (kiln_kernel_abi.h) return 0
 * for good indices and divisors and 1 with the first bad one in the
 * KilnRunError for bad ones, before writing anything; integer division
 * never traps; kiln_run_error_format() turns a failed check into the
 * message the service and `kiln run` print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "movement.h"
#include "reduce.h"

static void expect_index_error(const KilnRunError *e, int64_t value, int64_t at, int64_t size) {
    assert_int_equal(e->kind, KILN_CHECK_INDEX);
    assert_int_equal(e->value, value);
    assert_int_equal(e->position, at);
    assert_int_equal(e->size, size);
}

static void test_check_gather_accepts_every_index_in_minus_n_to_n_minus_1(void **state) {
    (void)state;
    uint32_t x[4] = {10, 11, 12, 13}, y[8];
    const int64_t idx[8] = {0, 3, -1, -4, 2, -2, 1, -3};
    KilnRunError e = {0};
    assert_int_equal(kiln_gather_b4_i64(1, 8, 1, 4, x, idx, y, &e), 0);
    const uint32_t want[8] = {10, 13, 13, 10, 12, 12, 11, 11};
    assert_memory_equal(y, want, sizeof want);
}

static void test_check_gather_fails_on_the_first_index_out_of_range(void **state) {
    (void)state;
    uint32_t x[4] = {10, 11, 12, 13}, y[3] = {7, 7, 7};
    KilnRunError e = {0};
    const int64_t big[3] = {1, 4, 9};
    assert_int_equal(kiln_gather_b4_i64(1, 3, 1, 4, x, big, y, &e), 1);
    expect_index_error(&e, 4, 1, 4);
    assert_true(y[0] == 7); /* nothing written */
    const int32_t neg[3] = {0, -5, 1};
    assert_int_equal(kiln_gather_b4_i32(1, 3, 1, 4, x, neg, y, &e), 1);
    expect_index_error(&e, -5, 1, 4);
    const int64_t huge[1] = {INT64_MIN};
    assert_int_equal(kiln_gather_b4_i64(1, 1, 1, 4, x, huge, y, &e), 1);
    expect_index_error(&e, INT64_MIN, 0, 4);
}

static void test_check_gather_elements_and_nd_fail_on_bad_indices(void **state) {
    (void)state;
    float x[2][3] = {{1, 2, 3}, {4, 5, 6}}, y[4] = {0};
    const int64_t dims[2] = {2, 2}, xs[2] = {3, 1};
    const int64_t good[4] = {0, -1, 2, 1}, bad[4] = {0, 1, 3, 0};
    KilnRunError e = {0};
    assert_int_equal(kiln_gather_elements_b4_i64(2, dims, xs, 1, 3, (const uint32_t *)&x[0][0],
                                                 good, (uint32_t *)y, &e),
                     0);
    assert_true(y[0] == 1 && y[1] == 3 && y[2] == 6 && y[3] == 5);
    assert_int_equal(kiln_gather_elements_b4_i64(2, dims, xs, 1, 3, (const uint32_t *)&x[0][0], bad,
                                                 (uint32_t *)y, &e),
                     1);
    expect_index_error(&e, 3, 2, 3);
    /* GatherND: tuples (row, col) into x [2, 3]; component 1 of tuple 1 is bad. */
    const int64_t nd_dims[2] = {2, 3}, tuples[4] = {1, -1, 0, -4};
    assert_int_equal(kiln_gather_nd_b4(1, 0, 2, 2, nd_dims, xs, 1, (const uint32_t *)&x[0][0],
                                       tuples, (uint32_t *)y, &e),
                     1);
    expect_index_error(&e, -4, 3, 3);
    const int64_t ok_tuples[4] = {1, -1, -2, 0};
    assert_int_equal(kiln_gather_nd_b4(1, 0, 2, 2, nd_dims, xs, 1, (const uint32_t *)&x[0][0],
                                       ok_tuples, (uint32_t *)y, &e),
                     0);
    assert_true(y[0] == 6 && y[1] == 1);
}

static void test_check_scatters_fail_before_writing_anything(void **state) {
    (void)state;
    float y[4] = {1, 1, 1, 1}, upd[2] = {5, 6};
    const int64_t dims[1] = {4}, ys[1] = {1}, upd_dims[1] = {2};
    const int64_t bad_nd[2] = {1, 4}, bad_el[2] = {-5, 0}, good[2] = {-1, 0};
    KilnRunError e = {0};
    assert_int_equal(kiln_scatter_nd_f32(2, 1, dims, ys, 1, bad_nd, upd, KILN_SCATTER_NONE, y, &e),
                     1);
    expect_index_error(&e, 4, 1, 4);
    assert_int_equal(
        kiln_scatter_elements_f32(1, upd_dims, ys, 0, 4, bad_el, upd, KILN_SCATTER_NONE, y, &e), 1);
    expect_index_error(&e, -5, 0, 4);
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == 1);
    assert_int_equal(
        kiln_scatter_elements_f32(1, upd_dims, ys, 0, 4, good, upd, KILN_SCATTER_NONE, y, &e), 0);
    assert_true(y[0] == 6 && y[3] == 5 && y[1] == 1);
}

static void test_check_divisor_finds_the_first_zero(void **state) {
    (void)state;
    KilnRunError e = {0};
    const int64_t fine[3] = {1, -1, INT64_MIN}, zero[4] = {3, 2, 0, 0};
    assert_int_equal(kiln_check_divisor_i64(3, fine, &e), 0);
    assert_int_equal(kiln_check_divisor_i64(4, zero, &e), 1);
    assert_int_equal(e.kind, KILN_CHECK_DIVISOR);
    assert_int_equal(e.position, 2);
    const uint8_t z8[2] = {1, 0};
    assert_int_equal(kiln_check_divisor_u8(2, z8, &e), 1);
    assert_int_equal(e.position, 1);
}

/* INT_MIN / -1 wraps to INT_MIN and INT_MIN % -1 is 0, as numpy gives;
 * no SIGFPE, for every signed width. */
static void test_check_int_min_divided_by_minus_one_wraps(void **state) {
    (void)state;
    const int64_t a64[2] = {INT64_MIN, 7}, b64[2] = {-1, -1};
    int64_t y64[2];
    kiln_binary_i64(KILN_BIN_DIV, 1, 1, 1, 2, a64, 0, 0, 0, 1, b64, 0, 0, 0, 1, y64);
    assert_true(y64[0] == INT64_MIN && y64[1] == -7);
    kiln_binary_i64(KILN_BIN_MOD, 1, 1, 1, 2, a64, 0, 0, 0, 1, b64, 0, 0, 0, 1, y64);
    assert_true(y64[0] == 0 && y64[1] == 0);
    kiln_binary_i64(KILN_BIN_FMOD, 1, 1, 1, 2, a64, 0, 0, 0, 1, b64, 0, 0, 0, 1, y64);
    assert_true(y64[0] == 0);
    const int32_t a32[1] = {INT32_MIN}, b32[1] = {-1};
    int32_t y32[1];
    kiln_binary_i32(KILN_BIN_DIV, 1, 1, 1, 1, a32, 0, 0, 0, 1, b32, 0, 0, 0, 1, y32);
    assert_true(y32[0] == INT32_MIN);
    const int8_t a8[1] = {INT8_MIN}, b8[1] = {-1};
    int8_t y8[1];
    kiln_binary_i8(KILN_BIN_DIV, 1, 1, 1, 1, a8, 0, 0, 0, 1, b8, 0, 0, 0, 1, y8);
    assert_true(y8[0] == INT8_MIN);
}

static size_t ws_size(const int64_t *const *in_shapes) {
    return (size_t)in_shapes[0][0] * 128 + KILN_RUN_ERROR_BYTES;
}

static void test_check_run_error_format_names_the_site_value_and_range(void **state) {
    (void)state;
    static const char *const checks[] = {
        "node 'emb' (Gather): indices from input 'tokens' into axis 0 of 'w'",
        "node 'd' (Div): divisor from input 'z'"};
    KilnModel m = {.name = "m", .workspace_size = ws_size, .n_checks = 2, .checks = checks};
    _Alignas(64) unsigned char ws[2 * 128 + KILN_RUN_ERROR_BYTES];
    KilnRunError *e = (KilnRunError *)ws; /* the workspace's first 64 bytes (ABI v4) */
    *e = (KilnRunError){.kind = KILN_CHECK_INDEX, .value = 5000, .position = 3, .size = 1000};
    char msg[256];
    const int64_t shape[] = {2}, *shapes[] = {shape};
    assert_true(kiln_run_error(&m, ws, shapes) == e);
    assert_int_equal(kiln_run_error_format(&m, 1, e, msg, sizeof msg), 1);
    assert_string_equal(msg, "node 'emb' (Gather): indices from input 'tokens' into axis 0 of "
                             "'w': index 5000 at position 3 is out of range [-1000, 999]");
    *e = (KilnRunError){.kind = KILN_CHECK_DIVISOR, .position = 1};
    assert_int_equal(kiln_run_error_format(&m, 2, e, msg, sizeof msg), 1);
    assert_string_equal(msg, "division by zero in node 'd' (Div): divisor from input 'z': "
                             "element 1 is 0");
    assert_int_equal(kiln_run_error_format(&m, 3, e, msg, sizeof msg), 0);
    assert_string_equal(msg, "model 'm' failed to run (code 3)");
}

static void test_check_run_error_format_names_the_dim_checks(void **state) {
    (void)state;
    static const char *const checks[] = {"input 'x' dim 0 (batch)", "input 'z' dim 0 (batch)",
                                         "node 'conv' (Conv): output 'y' dim 2 = (h-3)/2+1"};
    KilnModel m = {.name = "m", .n_checks = 3, .checks = checks};
    KilnRunError e = {.kind = KILN_CHECK_DIM_RANGE, .value = 5000, .lo = 1, .hi = 64};
    char msg[256];
    assert_int_equal(kiln_run_error_format(&m, 1, &e, msg, sizeof msg), 1);
    assert_string_equal(msg, "input 'x' dim 0 (batch) is 5000, outside the model's range [1, 64]");
    e = (KilnRunError){.kind = KILN_CHECK_DIM_MATCH, .value = 3, .size = 2};
    assert_int_equal(kiln_run_error_format(&m, 2, &e, msg, sizeof msg), 1);
    assert_string_equal(msg, "input 'z' dim 0 (batch) is 3, expected 2");
    e = (KilnRunError){.kind = KILN_CHECK_DIM_SIZE, .value = 0, .lo = 1};
    assert_int_equal(kiln_run_error_format(&m, 3, &e, msg, sizeof msg), 1);
    assert_string_equal(msg, "node 'conv' (Conv): output 'y' dim 2 = (h-3)/2+1 is 0 at these "
                             "input sizes, below 1: the inputs are too small");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_gather_accepts_every_index_in_minus_n_to_n_minus_1),
        cmocka_unit_test(test_check_gather_fails_on_the_first_index_out_of_range),
        cmocka_unit_test(test_check_gather_elements_and_nd_fail_on_bad_indices),
        cmocka_unit_test(test_check_scatters_fail_before_writing_anything),
        cmocka_unit_test(test_check_divisor_finds_the_first_zero),
        cmocka_unit_test(test_check_int_min_divided_by_minus_one_wraps),
        cmocka_unit_test(test_check_run_error_format_names_the_site_value_and_range),
        cmocka_unit_test(test_check_run_error_format_names_the_dim_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
