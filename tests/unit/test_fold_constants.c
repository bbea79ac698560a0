/* test_fold_constants.c: pass_fold_constants (passes/fold_constants.c),
 * including the symbolic dims (encoded, ir_dim_encode) of torch's
 * x.view(x.size(0), -1). */
#include "fixture.h"

#define N DIM_N

/* x -> Shape -> Gather(idx) -> Unsqueeze(0) -> Concat([.., -1]) -> Reshape(x, .) */
static Node *view_graph(Graph *g, Shape xs, int64_t idx, Node **concat) {
    Value *x = gb_input(g, "x", DT_F32, xs);
    Node *sh = gb_node(g, OP_SHAPE, "shape", "s", 1, x);
    Value *i = gb_init(g, "i", DT_I64, SHP0, &idx);
    Node *ga = gb_node(g, OP_GATHER, "gather", "g", 2, gb_out(sh), i);
    int64_t zero = 0, minus1 = -1;
    Node *un =
        gb_node(g, OP_UNSQUEEZE, "unsqueeze", "u", 2, gb_out(ga), gb_init_i64(g, "ax", 1, &zero));
    Node *cc =
        gb_node(g, OP_CONCAT, "concat", "c", 2, gb_out(un), gb_init_i64(g, "m1", 1, &minus1));
    gb_attr_int(cc, "axis", 0);
    *concat = cc;
    Node *r = gb_node(g, OP_RESHAPE, "reshape", "y", 2, x, gb_out(cc));
    ir_graph_add_output(g, gb_out(r));
    return r;
}

static void test_fold_constants_turns_a_static_shape_chain_into_a_reshape_constant(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Node *cc;
    view_graph(g, SHP(2, 3, 4), 0, &cc);
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    assert_int_equal(g->n_nodes, 1);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    char buf[160];
    assert_string_equal(shape_str(&g->outputs[0]->shape, buf, sizeof buf), "[2,12]");
    assert_string_equal(capture_text(&s->c), "");
}

static void test_fold_constants_keeps_the_batch_through_view_of_size_0(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Node *cc;
    view_graph(g, SHP(N, 3, 4), 0, &cc);
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    assert_int_equal(g->n_nodes, 1);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    char buf[160];
    assert_string_equal(shape_str(&g->outputs[0]->shape, buf, sizeof buf), "[N,12]");
    assert_string_equal(capture_text(&s->c), "");
}

static void test_fold_constants_folds_a_static_dim_next_to_the_batch(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Node *cc;
    Node *r = view_graph(g, SHP(N, 3, 4), 1, &cc); /* x.view(3, -1): the -1 takes the batch */
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    assert_non_null(r->inputs[1]->data);
    assert_int_equal(((int64_t *)r->inputs[1]->data)[0], 3);
}

/* Shape(x) * k as a Reshape target: arithmetic on the batch folds on Dims
 * (the symbolic element N*k encoded in the data), and infer-shapes checks
 * the result like any target. */
static void test_fold_constants_computes_on_the_batch_size_for_a_static_slot(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 4));
    Node *sh = gb_node(g, OP_SHAPE, "shape", "s", 1, x);
    int64_t two[2] = {2, 2};
    Node *mul = gb_node(g, OP_MUL, "mul", "m", 2, gb_out(sh), gb_init_i64(g, "two", 2, two));
    Node *r = gb_node(g, OP_RESHAPE, "reshape", "y", 2, x, gb_out(mul));
    ir_graph_add_output(g, gb_out(r));
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    /* The Shape and the Mul are folded: [N*2, 8], the batch as a Dim. */
    assert_non_null(gb_out(mul)->data);
    assert_null(gb_out(mul)->producer);
    const int64_t *t = gb_out(mul)->data;
    assert_true(ir_dim_in_data(t[0]));
    assert_true(ir_dim_decode(t[0]) == dim_mul(N, 2));
    assert_int_equal(t[1], 8);
    assert_int_equal(g->n_nodes, 1);
    /* [N,4] has N*4 elements, never N*16: a mistake in the model. */
    assert_string_equal(infer_fails(s, g), "test.onnx: node 'reshape' (Reshape): cannot reshape "
                                           "[N,4] (N*4 elements) into [N*2,8]\n");
}

static void test_fold_constants_reshapes_by_arithmetic_on_the_batch_size(void **state) {
    State *s = *state;
    /* z [N,16] viewed as x.shape * [4, 1] = [N*4, 4]. */
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 4)), *z = gb_input(g, "z", DT_F32, SHP(N, 16));
    Node *sh = gb_node(g, OP_SHAPE, "shape", "s", 1, x);
    int64_t k[2] = {4, 1};
    Node *mul = gb_node(g, OP_MUL, "mul", "m", 2, gb_out(sh), gb_init_i64(g, "k", 2, k));
    Node *r = gb_node(g, OP_RESHAPE, "reshape", "y", 2, z, gb_out(mul));
    ir_graph_add_output(g, gb_out(r));
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    assert_int_equal(g->n_nodes, 1);
    infer_ok(s, g);
    assert_string_equal(str(gb_out(r)), "[N*4,4]");
    assert_int_equal(g->n_dim_checks, 0); /* N*16 == N*4*4: nothing to check at run time */
}

static void test_fold_constants_evaluates_range_and_constant_of_shape(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    int64_t a = 1, b = 7, c = 2;
    Node *rg = gb_node(g, OP_RANGE, "range", "r", 3, gb_init(g, "a", DT_I64, SHP0, &a),
                       gb_init(g, "b", DT_I64, SHP0, &b), gb_init(g, "c", DT_I64, SHP0, &c));
    Node *id = gb_node(g, OP_IDENTITY, "id", "y", 1, gb_out(rg));
    ir_graph_add_output(g, gb_out(id));
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    const int64_t *v = gb_out(rg)->data;
    assert_non_null(v);
    assert_int_equal(gb_out(rg)->shape.dims[0], 3);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 3);
    assert_int_equal(v[2], 5);
}

/* x.view(x.shape) through Cast(to=int64): an int64 -> int64 Cast is a copy
 * and carries the batch sentinel (OPF_SENTINEL_I64), so the chain folds. */
static void test_fold_constants_passes_the_batch_through_a_cast_to_int64(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 4));
    Node *sh = gb_node(g, OP_SHAPE, "shape", "s", 1, x);
    Node *cast = gb_node(g, OP_CAST, "cast", "c", 1, gb_out(sh));
    gb_attr_int(cast, "to", DT_I64);
    Node *r = gb_node(g, OP_RESHAPE, "reshape", "y", 2, x, gb_out(cast));
    ir_graph_add_output(g, gb_out(r));
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    assert_int_equal(g->n_nodes, 1);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    char buf[160];
    assert_string_equal(shape_str(&g->outputs[0]->shape, buf, sizeof buf), "[N,3,4]");
}

/* A Cast that changes the type computes, so an encoded dim must not reach
 * it as a number: the Shape folds (its data holds N encoded, which codegen
 * turns into this call's batch size) and the Cast stays a run-time node. */
static void test_fold_constants_keeps_a_cast_of_the_batch_to_float_at_run_time(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3));
    Node *sh = gb_node(g, OP_SHAPE, "shape", "s", 1, x);
    Node *cast = gb_node(g, OP_CAST, "cast", "c", 1, gb_out(sh));
    gb_attr_int(cast, "to", DT_F32);
    Node *neg = gb_node(g, OP_NEG, "neg", "y", 1, gb_out(cast));
    ir_graph_add_output(g, gb_out(neg));
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    assert_int_equal(g->n_nodes, 2);
    assert_non_null(gb_out(sh)->data);
    const int64_t *v = gb_out(sh)->data;
    assert_true(ir_dim_decode(v[0]) == N);
    assert_int_equal(v[1], 3);
    assert_null(gb_out(cast)->data);
    assert_non_null(gb_out(cast)->producer);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_fold_constants_turns_a_static_shape_chain_into_a_reshape_constant, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_fold_constants_keeps_the_batch_through_view_of_size_0,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_constants_folds_a_static_dim_next_to_the_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fold_constants_computes_on_the_batch_size_for_a_static_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fold_constants_reshapes_by_arithmetic_on_the_batch_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_constants_evaluates_range_and_constant_of_shape,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fold_constants_passes_the_batch_through_a_cast_to_int64, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fold_constants_keeps_a_cast_of_the_batch_to_float_at_run_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
