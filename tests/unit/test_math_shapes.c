/* test_math_shapes.c: the math family's shape functions (passes/
 * shapes_math.c): output types and shapes, and the exact diagnostics for
 * element types and attribute forms they refuse.
 */
#include "fixture.h"
#include "kiln_model.h"

#define N DIM_N

static void test_comparison_broadcasts_and_yields_bool(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *a = gb_input(g, "a", DT_I64, SHP(N, 3, 1));
    Value *b = gb_input(g, "b", DT_I64, SHP(4));
    Node *n = gb_node(g, OP_LESS_OR_EQUAL, "le", "y", 2, a, b);
    infer_ok(s, g);
    assert_int_equal(gb_out(n)->dtype, DT_BOOL);
    assert_true(shape_equal(&gb_out(n)->shape, &SHP(N, 3, 4)));
}

static void test_where_broadcasts_all_three_operands(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *c = gb_input(g, "c", DT_BOOL, SHP(2, 1, 1));
    Value *x = gb_input(g, "x", DT_F32, SHP(1, 3, 1));
    Value *y = gb_input(g, "y", DT_F32, SHP(4));
    Node *n = gb_node(g, OP_WHERE, "w", "o", 3, c, x, y);
    infer_ok(s, g);
    assert_int_equal(gb_out(n)->dtype, DT_F32);
    assert_true(shape_equal(&gb_out(n)->shape, &SHP(2, 3, 4)));
}

static void test_exp_of_an_integer_is_refused_by_name(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    gb_node(g, OP_EXP, "e", "y", 1, gb_input(g, "x", DT_I32, SHP(3)));
    assert_string_equal(infer_fails(s, g), "test.onnx: node 'e' (Exp): input 'x' has element type "
                                           "int32; Exp takes float, double or float16\n");
}

static void test_float_mod_without_fmod_is_refused(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *a = gb_input(g, "a", DT_F32, SHP(3));
    gb_node(g, OP_MOD, "m", "y", 2, a, gb_input(g, "b", DT_F32, SHP(3)));
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'm' (Mod): Mod of float needs fmod=1 (the ONNX spec "
                        "defines only that for floats)\n");
}

static void test_pow_with_an_integer_base_and_float_exponent_reserves_scratch(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_I64, SHP(N, 3));
    Value *e = gb_input(g, "e", DT_F32, SHP(3));
    Node *n = gb_node(g, OP_POW, "p", "y", 2, x, e);
    infer_ok(s, g);
    assert_int_equal(gb_out(n)->dtype, DT_I64);
    /* The base as float ([N,3]) and the float result ([N,3]). */
    assert_true(n->scratch == dim_mul(N, 2 * 3 * 4));
    assert_int_equal(gb_eval_n(n->scratch, 0), 0);
    assert_int_equal(gb_eval_n(n->scratch, 1), 2 * 3 * 4);
    assert_int_equal(gb_eval_n(n->scratch, 7), 7 * 2 * 3 * 4);
}

static void test_sum_of_three_inputs_reserves_one_intermediate(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *a = gb_input(g, "a", DT_F32, SHP(2, 3));
    Value *b = gb_input(g, "b", DT_F32, SHP(3));
    Value *c = gb_input(g, "c", DT_F32, SHP(2, 1));
    Node *n = gb_node(g, OP_SUM, "s", "y", 3, a, b, c);
    infer_ok(s, g);
    assert_true(shape_equal(&gb_out(n)->shape, &SHP(2, 3)));
    assert_int_equal(n->scratch, 6 * 4);
}

static void test_prelu_slope_must_broadcast_to_x(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(2, 3));
    gb_node(g, OP_PRELU, "pr", "y", 2, x, gb_input(g, "slope", DT_F32, SHP(2, 2, 3)));
    assert_string_equal(infer_fails(s, g), "test.onnx: node 'pr' (PRelu): slope 'slope' of shape "
                                           "[2,2,3] does not broadcast to X's shape [2,3]\n");
}

static void test_clip_bounds_must_be_scalars(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(4));
    Value *lo = gb_input(g, "lo", DT_F32, SHP(2));
    Node *n = gb_node(g, OP_CLIP, "c", "y", 2, x, lo);
    n->opset = 13;
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'c' (Clip): min 'lo' has shape [2], expected a scalar\n");
}

static void test_clip_plan_holds_attribute_bounds_before_opset_11_and_inputs_after(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 6);
    Value *x = gb_input(g, "x", DT_F32, SHP(4));
    Node *a = gb_node(g, OP_CLIP, "a", "y", 1, x);
    gb_attr_float(a, "max", 6.0f);
    infer_ok(s, g);
    assert_int_equal(a->plan_kind, PLAN_CLIP);
    assert_false(a->plan.clip->from_inputs);
    assert_false(a->plan.clip->has_min);
    assert_true(a->plan.clip->has_max && a->plan.clip->max == 6.0f);
    Graph *g2 = gb_graph(s->a, 13);
    Value *x2 = gb_input(g2, "x", DT_F32, SHP(4));
    Node *b = gb_node(g2, OP_CLIP, "b", "y", 2, x2, gb_input(g2, "lo", DT_F32, SHP0));
    gb_attr_float(b, "min", 1.0f); /* not Clip-13's spelling: ignored */
    infer_ok(s, g2);
    assert_int_equal(b->plan_kind, PLAN_CLIP);
    assert_true(b->plan.clip->from_inputs);
    assert_false(b->plan.clip->has_min || b->plan.clip->has_max);
}

static void test_cast_of_float16_to_string_is_refused_with_a_hint(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Node *n = gb_node(g, OP_CAST, "c", "y", 1, gb_input(g, "x", DT_F16, SHP(2)));
    gb_attr_int(n, "to", DT_STRING);
    const char *msg = infer_fails(s, g);
    assert_non_null(strstr(msg, "node 'c' (Cast): cast from float16 to string is not supported"));
    assert_non_null(strstr(msg, "hint: "));
}

static void test_cast_of_float_to_string_keeps_its_texts_in_scratch(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Node *n = gb_node(g, OP_CAST, "c", "y", 1, gb_input(g, "x", DT_F32, SHP(2, 3)));
    gb_attr_int(n, "to", DT_STRING);
    infer_ok(s, g);
    assert_int_equal(gb_out(n)->dtype, DT_STRING);
    assert_int_equal(n->scratch, 6 * KILN_CAST_STRING_BYTES);
    assert_true(op_info(OP_CAST)->flags & OPF_SCRATCH_KEEP);
    Graph *h = gb_graph(s->a, 13);
    Node *m = gb_node(h, OP_CAST, "c", "y", 1, gb_input(h, "x", DT_STRING, SHP(4)));
    gb_attr_int(m, "to", DT_I32);
    infer_ok(s, h);
    assert_int_equal(gb_out(m)->dtype, DT_I32);
    assert_int_equal(m->scratch, 0);
}

static void test_cast_like_takes_the_second_inputs_type(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 15);
    Value *x = gb_input(g, "x", DT_F64, SHP(N, 2));
    Node *n = gb_node(g, OP_CAST_LIKE, "c", "y", 2, x, gb_input(g, "like", DT_F16, SHP(1)));
    infer_ok(s, g);
    assert_int_equal(gb_out(n)->dtype, DT_F16);
    assert_true(shape_equal(&gb_out(n)->shape, &SHP(N, 2)));
}

static void test_bitshift_needs_a_direction(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *a = gb_input(g, "a", DT_U8, SHP(2));
    gb_node(g, OP_BITSHIFT, "bs", "y", 2, a, gb_input(g, "b", DT_U8, SHP(2)));
    assert_string_equal(infer_fails(s, g), "test.onnx: node 'bs' (BitShift): direction is '', "
                                           "expected \"LEFT\" or \"RIGHT\"\n");
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_comparison_broadcasts_and_yields_bool),
        T(test_where_broadcasts_all_three_operands),
        T(test_exp_of_an_integer_is_refused_by_name),
        T(test_float_mod_without_fmod_is_refused),
        T(test_pow_with_an_integer_base_and_float_exponent_reserves_scratch),
        T(test_sum_of_three_inputs_reserves_one_intermediate),
        T(test_prelu_slope_must_broadcast_to_x),
        T(test_clip_bounds_must_be_scalars),
        T(test_clip_plan_holds_attribute_bounds_before_opset_11_and_inputs_after),
        T(test_cast_of_float16_to_string_is_refused_with_a_hint),
        T(test_cast_of_float_to_string_keeps_its_texts_in_scratch),
        T(test_cast_like_takes_the_second_inputs_type),
        T(test_bitshift_needs_a_direction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
