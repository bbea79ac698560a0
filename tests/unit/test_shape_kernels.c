/* test_shape_kernels.c: the data movement kernels (runtime/kernels/movement.c)
 * against naive loops, and shape functions' messages for the batch dim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph_builder.h"
#include "movement.h"

static void test_shape_strided_copy_transposes_like_a_naive_loop(void **state) {
    (void)state;
    float x[2 * 3 * 4], y[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    /* y[k][j][i] = x[i][j][k] for x [2,3,4]. */
    kiln_strided_copy_b4(1, 1, 1, 4, 3, 2, (const uint32_t *)x, 0, 0, 0, 1, 4, 12, (uint32_t *)y, 0,
                         0, 0, 6, 2, 1);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                assert_true(y[(k * 3 + j) * 2 + i] == x[(i * 3 + j) * 4 + k]);
}

static void test_shape_strided_copy_reads_negative_steps(void **state) {
    (void)state;
    int64_t x[5] = {0, 1, 2, 3, 4}, y[3];
    kiln_strided_copy_b8(1, 1, 1, 1, 1, 3, (const uint64_t *)x + 4, 0, 0, 0, 0, 0, -2,
                         (uint64_t *)y, 0, 0, 0, 0, 0, 1);
    assert_int_equal(y[0], 4);
    assert_int_equal(y[1], 2);
    assert_int_equal(y[2], 0);
}

static void test_shape_table_gather_fills_where_the_table_says_so(void **state) {
    (void)state;
    uint8_t x[3] = {10, 20, 30}, y[6];
    const int64_t one[1] = {0}, t[6] = {KILN_TABLE_FILL, 0, 1, 2, 2, KILN_TABLE_FILL};
    kiln_table_gather_b1(1, 3, 1, 1, 1, 6, one, one, one, t, 7, x, y);
    const uint8_t want[6] = {7, 10, 20, 30, 30, 7};
    assert_memory_equal(y, want, 6);
}

static void test_shape_gather_wraps_negative_indices(void **state) {
    (void)state;
    uint16_t x[2][3] = {{1, 2, 3}, {4, 5, 6}}, y[2][2];
    const int32_t idx[2] = {-1, 0};
    kiln_gather_b2_i32(2, 2, 1, 3, &x[0][0], idx, &y[0][0]);
    assert_int_equal(y[0][0], 3);
    assert_int_equal(y[0][1], 1);
    assert_int_equal(y[1][0], 6);
    assert_int_equal(y[1][1], 4);
}

static void test_shape_scatter_nd_adds_duplicates(void **state) {
    (void)state;
    float y[4] = {1, 1, 1, 1}, upd[2] = {2, 3};
    const int64_t dims[1] = {4}, ys[1] = {1}, idx[2] = {2, 2};
    kiln_scatter_nd_f32(2, 1, dims, ys, 1, idx, upd, KILN_SCATTER_ADD, y);
    assert_true(y[2] == 6.0f && y[0] == 1.0f);
}

static void test_shape_concat_reports_the_batch_axis(void **state) {
    (void)state;
    Arena *a = arena_create(1 << 16);
    DiagCapture c;
    capture_open(&c);
    Graph *g = gb_graph(a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(DIM_BATCH, 3));
    Node *n = gb_node(g, OP_CONCAT, "cat", "y", 2, x, x);
    gb_attr_int(n, "axis", 0);
    assert_int_equal(pass_infer_shapes(g, &c.d), -1);
    assert_string_equal(capture_text(&c),
                        "test.onnx: node 'cat' (Concat): concatenating along axis 0, which is the "
                        "batch dimension\n  hint: fix the batch size with --shape INPUT=DIMS, or "
                        "export with a static batch\n");
    capture_close(&c);
    arena_destroy(a);
}

static void test_shape_data_dependent_ops_say_so(void **state) {
    (void)state;
    Arena *a = arena_create(1 << 16);
    DiagCapture c;
    capture_open(&c);
    Graph *g = gb_graph(a, 13);
    gb_node(g, OP_NON_ZERO, "nz", "y", 1, gb_input(g, "x", DT_F32, SHP(4)));
    assert_int_equal(pass_infer_shapes(g, &c.d), -1);
    assert_non_null(
        strstr(capture_text(&c), "node 'nz' (NonZero): output shape depends on the data"));
    capture_close(&c);
    arena_destroy(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_strided_copy_transposes_like_a_naive_loop),
        cmocka_unit_test(test_shape_strided_copy_reads_negative_steps),
        cmocka_unit_test(test_shape_table_gather_fills_where_the_table_says_so),
        cmocka_unit_test(test_shape_gather_wraps_negative_indices),
        cmocka_unit_test(test_shape_scatter_nd_adds_duplicates),
        cmocka_unit_test(test_shape_concat_reports_the_batch_axis),
        cmocka_unit_test(test_shape_data_dependent_ops_say_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
