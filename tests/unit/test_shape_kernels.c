/* test_shape_kernels.c: the data movement kernels (runtime/kernels/movement.c)
 * against naive loops, shape functions' messages for the batch dim, and
 * the plans they leave on the node. */
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
    KilnRunError e;
    assert_int_equal(kiln_gather_b2_i32(2, 2, 1, 3, &x[0][0], idx, &y[0][0], &e), 0);
    assert_int_equal(y[0][0], 3);
    assert_int_equal(y[0][1], 1);
    assert_int_equal(y[1][0], 6);
    assert_int_equal(y[1][1], 4);
}

static void test_shape_scatter_nd_adds_duplicates(void **state) {
    (void)state;
    float y[4] = {1, 1, 1, 1}, upd[2] = {2, 3};
    const int64_t dims[1] = {4}, ys[1] = {1}, idx[2] = {2, 2};
    KilnRunError e;
    assert_int_equal(kiln_scatter_nd_f32(2, 1, dims, ys, 1, idx, upd, KILN_SCATTER_ADD, y, &e), 0);
    assert_true(y[2] == 6.0f && y[0] == 1.0f);
}

static void test_shape_concat_along_the_batch_axis_adds_the_symbols(void **state) {
    (void)state;
    Arena *a = arena_create(1 << 16);
    DiagCapture c;
    capture_open(&c);
    Graph *g = gb_graph(a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(DIM_N, 3));
    Node *n = gb_node(g, OP_CONCAT, "cat", "y", 2, x, x);
    gb_attr_int(n, "axis", 0);
    assert_int_equal(pass_infer_shapes(g, &c.d), 0);
    assert_string_equal(capture_text(&c), "");
    assert_true(shape_equal(&gb_out(n)->shape, &SHP(dim_mul(DIM_N, 2), 3)));
    char buf[64];
    assert_string_equal(shape_str(&gb_out(n)->shape, buf, sizeof buf), "[N*2,3]");
    capture_close(&c);
    arena_destroy(a);
}

static void test_shape_split_reports_the_dynamic_axis(void **state) {
    (void)state;
    Arena *a = arena_create(1 << 16);
    DiagCapture c;
    capture_open(&c);
    Graph *g = gb_graph(a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(DIM_N, 3));
    Value *outs[2] = {ir_value_add(g, "y0", DT_UNDEF), ir_value_add(g, "y1", DT_UNDEF)};
    Node *n = ir_node_add(g, OP_SPLIT, NULL, "split", 1, &x, 2, outs);
    gb_attr_int(n, "axis", 0);
    /* Equal parts of a dynamic axis: N/2 each, the model checks that 2 divides N. */
    assert_int_equal(pass_infer_shapes(g, &c.d), 0);
    assert_int_equal(outs[0]->shape.rank, 2);
    assert_true(outs[0]->shape.dims[0] < 0);
    assert_int_equal(outs[0]->shape.dims[0], outs[1]->shape.dims[0]);
    assert_int_equal(outs[0]->shape.dims[1], 3);
    assert_true(g->n_dim_checks >= 1);
    capture_close(&c);
    arena_destroy(a);
}

static void test_shape_data_dependent_ops_size_by_a_bounded_symbol(void **state) {
    (void)state;
    Arena *a = arena_create(1 << 16);
    DiagCapture c;
    capture_open(&c);
    Graph *g = gb_graph(a, 13);
    Node *nz = gb_node(g, OP_NON_ZERO, "nz", "y", 1, gb_input(g, "x", DT_F32, SHP(4)));
    assert_int_equal(pass_infer_shapes(g, &c.d), 0);
    const Shape *y = &nz->outputs[0]->shape;
    assert_int_equal(y->rank, 2);
    assert_int_equal(y->dims[0], 1);
    assert_true(dim_sym_data_bound(dim_sym_of(y->dims[1])) == 4);
    /* inferred again, the node keeps its symbol */
    Dim before = y->dims[1];
    assert_int_equal(pass_infer_shapes(g, &c.d), 0);
    assert_true(nz->outputs[0]->shape.dims[1] == before);
    Graph *g2 = gb_graph(a, 13);
    gb_node(g2, OP_NON_ZERO, "nz", "y", 1, gb_input(g2, "x", DT_F32, SHP0));
    assert_int_equal(pass_infer_shapes(g2, &c.d), -1);
    assert_non_null(strstr(capture_text(&c), "node 'nz' (NonZero): input 'x' is a scalar"));
    capture_close(&c);
    arena_destroy(a);
}

/* Shape inference leaves each op's resolved parameters on the node, which
 * is all codegen reads. */
static void test_shape_inference_leaves_slice_pad_resize_and_range_plans(void **state) {
    (void)state;
    Arena *a = arena_create(1 << 16);
    DiagCapture c;
    capture_open(&c);
    Graph *g = gb_graph(a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(DIM_N, 1, 4, 6));
    const int64_t st[] = {-1}, en[] = {-100}, ax[] = {3}, sp[] = {-2};
    Node *sl = gb_node(g, OP_SLICE, "slice", "s", 5, x, gb_init_i64(g, "st", 1, st),
                       gb_init_i64(g, "en", 1, en), gb_init_i64(g, "ax", 1, ax),
                       gb_init_i64(g, "sp", 1, sp));
    const int64_t pads[] = {0, 0, 1, 0, 0, 0, 2, 0};
    const float fill = 2.5f;
    Node *pd = gb_node(g, OP_PAD, "pad", "p", 3, gb_out(sl), gb_init_i64(g, "pads", 8, pads),
                       gb_init_f32(g, "fill", SHP0, &fill));
    const float scales[] = {1, 1, 2, 1};
    Node *rs = gb_node(g, OP_RESIZE, "resize", "r", 3, gb_out(pd), NULL,
                       gb_init_f32(g, "scales", SHP(4), scales));
    ir_attr_add(rs, "mode", ATTR_STRING)->s = "linear";
    const int64_t r0 = 2, r1 = 11, r2 = 3;
    Node *rg = gb_node(g, OP_RANGE, "range", "q", 3, gb_init(g, "r0", DT_I64, SHP0, &r0),
                       gb_init(g, "r1", DT_I64, SHP0, &r1), gb_init(g, "r2", DT_I64, SHP0, &r2));
    assert_int_equal(pass_infer_shapes(g, &c.d), 0);
    assert_string_equal(capture_text(&c), "");

    /* x[:, :, :, -1::-2]: columns 5, 3, 1. */
    assert_int_equal(sl->plan_kind, PLAN_SLICE);
    const SlicePlan *slp = sl->plan.slice;
    assert_int_equal(slp->start[3], 5);
    assert_int_equal(slp->step[3], -2);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(slp->start[k], 0);
        assert_int_equal(slp->step[k], 1);
    }
    assert_true(shape_equal(&gb_out(sl)->shape, &SHP(DIM_N, 1, 4, 3)));

    assert_int_equal(pd->plan_kind, PLAN_PAD);
    const PadPlan *pp = pd->plan.pad;
    assert_int_equal(pp->mode, PAD_CONSTANT);
    assert_int_equal(pp->begin[2], 1);
    assert_int_equal(pp->end[2], 2);
    assert_int_equal(pp->begin[3] + pp->end[3] + pp->begin[0] + pp->end[1], 0);
    float bits;
    memcpy(&bits, &pp->fill, sizeof bits);
    assert_true(bits == 2.5f);
    assert_true(shape_equal(&gb_out(pd)->shape, &SHP(DIM_N, 1, 7, 3)));

    assert_int_equal(rs->plan_kind, PLAN_RESIZE);
    const ResizePlan *rp = rs->plan.resize;
    assert_int_equal(rp->mode, RESIZE_LINEAR);
    assert_true(shape_equal(&rp->out, &SHP(DIM_N, 1, 14, 3)));
    assert_true(rp->axis[0].identity && rp->axis[1].identity && rp->axis[3].identity);
    assert_null(rp->axis[0].idx); /* the batch axis has no taps */
    assert_false(rp->axis[2].identity);
    assert_int_equal(rp->axis[2].taps, 2);
    /* half_pixel, scale 2: output 1 reads x = 0.25 -> inputs 0 and 1 at 0.75/0.25. */
    assert_int_equal(rp->axis[2].idx[4], 0);
    assert_int_equal(rp->axis[2].idx[5], 1);
    assert_true(rp->axis[2].w[4] == 0.75 && rp->axis[2].w[5] == 0.25);
    /* Its scratch scales with the batch: two buffers of the largest
     * intermediate ([N,1,14,3] floats) and 128 bytes to align them. */
    assert_true(rs->scratch == dim_add(dim_mul(DIM_N, 2 * 42 * 4), 128));
    assert_int_equal(gb_eval_n(rs->scratch, 0), 128);
    assert_int_equal(gb_eval_n(rs->scratch, 5), 5 * 2 * 42 * 4 + 128);

    assert_int_equal(rg->plan_kind, PLAN_CONST);
    const int64_t *q = rg->plan.bytes;
    assert_true(shape_equal(&gb_out(rg)->shape, &SHP(3)));
    assert_int_equal(q[0], 2);
    assert_int_equal(q[1], 5);
    assert_int_equal(q[2], 8);
    capture_close(&c);
    arena_destroy(a);
}

static void test_shape_inference_leaves_the_transpose_permutation(void **state) {
    (void)state;
    Arena *a = arena_create(1 << 16);
    DiagCapture c;
    capture_open(&c);
    Graph *g = gb_graph(a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(DIM_N, 2, 3));
    Node *t = gb_node(g, OP_TRANSPOSE, "t", "y", 1, x);
    gb_attr_ints(t, "perm", 3, (int64_t[]){0, -1, 1});
    Node *r = gb_node(g, OP_TRANSPOSE, "r", "z", 1, x); /* no perm: the axes reversed */
    assert_int_equal(pass_infer_shapes(g, &c.d), 0);
    assert_string_equal(capture_text(&c), "");
    assert_int_equal(t->plan_kind, PLAN_PERM);
    assert_int_equal(t->plan.perm[0], 0);
    assert_int_equal(t->plan.perm[1], 2);
    assert_int_equal(t->plan.perm[2], 1);
    assert_int_equal(r->plan_kind, PLAN_PERM);
    assert_int_equal(r->plan.perm[0], 2);
    assert_int_equal(r->plan.perm[2], 0);
    assert_true(shape_equal(&gb_out(r)->shape, &SHP(3, 2, DIM_N)));
    capture_close(&c);
    arena_destroy(a);
}

static void test_shape_range_too_large_to_compute_is_a_diagnostic(void **state) {
    (void)state;
    Arena *a = arena_create(1 << 16);
    DiagCapture c;
    capture_open(&c);
    Graph *g = gb_graph(a, 13);
    const float r0 = 0, r1 = 1e12f, r2 = 1;
    gb_node(g, OP_RANGE, "range", "q", 3, gb_init_f32(g, "r0", SHP0, &r0),
            gb_init_f32(g, "r1", SHP0, &r1), gb_init_f32(g, "r2", SHP0, &r2));
    assert_int_equal(pass_infer_shapes(g, &c.d), -1);
    assert_non_null(strstr(capture_text(&c), "node 'range' (Range): the output would have "
                                             "999999995904 elements; kiln computes Range at "
                                             "compile time, for at most 268435456\n"));
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
        cmocka_unit_test(test_shape_concat_along_the_batch_axis_adds_the_symbols),
        cmocka_unit_test(test_shape_split_reports_the_dynamic_axis),
        cmocka_unit_test(test_shape_data_dependent_ops_size_by_a_bounded_symbol),
        cmocka_unit_test(test_shape_inference_leaves_slice_pad_resize_and_range_plans),
        cmocka_unit_test(test_shape_inference_leaves_the_transpose_permutation),
        cmocka_unit_test(test_shape_range_too_large_to_compute_is_a_diagnostic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
