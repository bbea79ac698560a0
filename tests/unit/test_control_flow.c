/* test_control_flow.c: control-flow regions in the IR (compiler/ir/ops_control.def):
 * region matching (ir.c), constant If folding (passes/control_flow.c),
 * region shapes (passes/shapes_control.c) and memory planning across a
 * loop's iterations (passes/plan_memory.c). Graphs are written in the IR
 * text form (ir.h) and read with ir_graph_parse.
 */
#include "fixture.h"
#include "passes.h"

static Graph *parse_ok(State *s, const char *text) {
    Graph *g = NULL;
    assert_int_equal(ir_graph_parse(s->a, text, "t.ir", &g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
    return g;
}

static const char *printed(State *s, const Graph *g) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ir_graph_print(g, f);
    fclose(f);
    char *text = arena_strdup(s->a, buf);
    free(buf);
    return text;
}

/* An If on input %c whose then branch holds a Loop. */
static const char *nested = "graph g opset 17 (t.onnx)\n"
                            "  input  %c: bool[]\n"
                            "  input  %x: f32[4]\n"
                            "  init   %m: i64[] = {3}\n"
                            "   = If 'pick' (%c)\n"
                            "  %i: i64[], %ci: bool[], %v: f32[4] = Loop 'L' (%m, _, %x)\n"
                            "  %v2: f32[4] = Add 'L/add' (%v, %x)\n"
                            "  %lv: f32[4] = Loop.end 'L' (%ci, %v2)\n"
                            "   = If.else 'pick' ()\n"
                            "  %n: f32[4] = Neg 'pick/neg' (%x)\n"
                            "  %y: f32[4] = If.end 'pick' (%lv, %n)\n"
                            "  output %y\n";

static void test_regions_match_their_begin_and_end_across_nesting(void **state) {
    State *s = *state;
    Graph *g = parse_ok(s, nested);
    Node *pick = g->nodes[0], *loop = g->nodes[1], *loop_end = g->nodes[3];
    Node *els = g->nodes[4], *end = g->nodes[6];
    assert_ptr_equal(ir_region_end(g, pick), end);
    assert_ptr_equal(ir_region_begin(g, end), pick);
    assert_ptr_equal(ir_region_begin(g, els), pick);
    assert_ptr_equal(ir_region_end(g, loop), loop_end);
    assert_ptr_equal(ir_region_begin(g, loop_end), loop);
}

static void test_infer_shapes_gives_the_if_the_shape_both_branches_agree_on(void **state) {
    State *s = *state;
    Graph *g = parse_ok(s, nested);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    Value *y = ir_value_find(g, "y");
    assert_int_equal(y->dtype, DT_F32);
    assert_int_equal(y->shape.rank, 1);
    assert_int_equal(y->shape.dims[0], 4);
}

static void test_infer_shapes_refuses_branches_of_different_shapes_naming_the_if(void **state) {
    State *s = *state;
    Graph *g = parse_ok(s, "graph g opset 17 (t.onnx)\n"
                           "  input  %c: bool[]\n"
                           "  input  %x: f32[4]\n"
                           "  input  %z: f32[3]\n"
                           "   = If 'pick' (%c)\n"
                           "   = If.else 'pick' ()\n"
                           "  %y: f32[4] = If.end 'pick' (%x, %z)\n"
                           "  output %y\n");
    assert_int_equal(pass_infer_shapes(g, &s->c.d), -1);
    const char *msg = capture_text(&s->c);
    assert_non_null(strstr(msg, "node 'pick' (If.end): output 0 is float[4] in then_branch ('x') "
                                "but float[3] in else_branch ('z')"));
}

static void test_fold_control_inlines_the_branch_a_constant_if_takes(void **state) {
    State *s = *state;
    Graph *g = parse_ok(s, "graph g opset 17 (t.onnx)\n"
                           "  input  %x: f32[4]\n"
                           "  init   %c: bool[] = {0}\n"
                           "   = If 'pick' (%c)\n"
                           "  %a: f32[4] = Relu 'pick/relu' (%x)\n"
                           "   = If.else 'pick' ()\n"
                           "  %b: f32[4] = Neg 'pick/neg' (%x)\n"
                           "  %y: f32[4] = If.end 'pick' (%a, %b)\n"
                           "  output %y\n");
    assert_int_equal(pass_fold_control(g, &s->c.d), 0);
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
    assert_int_equal(g->n_nodes, 2);
    assert_int_equal(g->nodes[0]->op, OP_NEG);
    assert_int_equal(g->nodes[1]->op, OP_IDENTITY);
    assert_ptr_equal(g->nodes[1]->outputs[0], ir_value_find(g, "y"));
    assert_null(ir_value_find(g, "a"));
    assert_null(strstr(printed(s, g), "If"));
}

static void test_loop_scan_outputs_are_counted_at_run_time_within_a_bound(void **state) {
    State *s = *state;
    const char *text = "graph g opset 17 (t.onnx)\n"
                       "  input  %m: i64[]\n"
                       "  input  %x: f32[2]\n"
                       "  %i: i64[], %ci: bool[], %v: f32[2] = Loop 'L' (%m, _, %x)\n"
                       "  %v2: f32[2] = Neg 'L/neg' (%v)\n"
                       "  %vf: f32[2], %st: f32[?] = Loop.end 'L' (%ci, %v2, %v2)\n"
                       "  output %st\n";
    /* M is a request input: the stack's length is a data-dependent symbol,
     * bounded by kiln's default, and each iteration is checked. */
    Graph *g = parse_ok(s, text);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    Value *st = ir_value_find(g, "st");
    Node *l = g->nodes[0];
    assert_int_equal(st->shape.rank, 2);
    assert_int_equal(st->shape.dims[1], 2);
    int sym = dim_sym_of(st->shape.dims[0]);
    assert_true(sym >= 0);
    assert_int_equal(dim_sym_data_bound(sym), DIM_DEFAULT_HI);
    assert_int_equal(l->plan_kind, PLAN_LOOP);
    assert_int_equal(l->plan.loop->bound, DIM_DEFAULT_HI);
    assert_int_equal(l->plan.loop->checked, 1);

    /* --loop-bound L=7 (the attribute the driver sets) bounds it instead. */
    g = parse_ok(s, text);
    ir_attr_set(g->nodes[0], "kiln_loop_bound", ATTR_INT)->i = 7;
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    st = ir_value_find(g, "st");
    assert_int_equal(dim_sym_data_bound(dim_sym_of(st->shape.dims[0])), 7);
    assert_int_equal(g->nodes[0]->plan.loop->bound, 7);
    assert_int_equal(g->nodes[0]->plan.loop->checked, 1);

    /* With M a constant 3 and no condition, the stack is [3, 2], unchecked. */
    g = parse_ok(s, text);
    Value *m = ir_value_find(g, "m");
    static const int64_t three = 3;
    m->data = (void *)&three;
    m->input_index = -1;
    g->n_inputs = 1;
    g->inputs[0] = ir_value_find(g, "x");
    g->inputs[0]->input_index = 0;
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    st = ir_value_find(g, "st");
    assert_int_equal(st->shape.rank, 2);
    assert_int_equal(st->shape.dims[0], 3);
    assert_int_equal(st->shape.dims[1], 2);
    assert_int_equal(g->nodes[0]->plan.loop->bound, 3);
    assert_int_equal(g->nodes[0]->plan.loop->checked, 0);

    /* Without M, a condition the body never changes never ends: refused. */
    g = parse_ok(s, "graph g opset 17 (t.onnx)\n"
                    "  input  %x: f32[2]\n"
                    "  %i: i64[], %ci: bool[], %v: f32[2] = Loop 'L' (_, _, %x)\n"
                    "  %v2: f32[2] = Neg 'L/neg' (%v)\n"
                    "  %vf: f32[2], %st: f32[?] = Loop.end 'L' (%ci, %v2, %v2)\n"
                    "  output %st\n");
    assert_int_equal(pass_infer_shapes(g, &s->c.d), -1);
    const char *msg = capture_text(&s->c);
    assert_non_null(strstr(msg, "node 'L' (Loop.end): it has no trip count M and its body never "
                                "changes the condition, so once it starts it never ends"));
}

static void test_loop_body_reads_its_iteration_number_as_a_bounded_symbol(void **state) {
    State *s = *state;
    /* test_loop11's shape: x[i:i+1] in a body of 5 iterations has length 1. */
    Graph *g = parse_ok(s, "graph g opset 17 (t.onnx)\n"
                           "  input  %y: f32[1]\n"
                           "  init   %m: i64[] = {5}\n"
                           "  init   %x: f32[5] = {1 2 3 4 5}\n"
                           "  init   %one: i64[] = {1}\n"
                           "  init   %ax: i64[1] = {0}\n"
                           "  %i: i64[], %ci: bool[], %v: f32[1] = Loop 'L' (%m, _, %y)\n"
                           "  %e: i64[] = Add 'L/add' (%i, %one)\n"
                           "  %s0: i64[1] = Unsqueeze 'L/u0' (%i, %ax)\n"
                           "  %s1: i64[1] = Unsqueeze 'L/u1' (%e, %ax)\n"
                           "  %sl: f32[?] = Slice 'L/slice' (%x, %s0, %s1)\n"
                           "  %v2: f32[1] = Add 'L/acc' (%v, %sl)\n"
                           "  %vf: f32[1], %st: f32[?] = Loop.end 'L' (%ci, %v2, %v2)\n"
                           "  output %vf\n"
                           "  output %st\n");
    assert_int_equal(pass_fold_constants(g, &s->c.d), 0);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    const LoopPlan *p = g->nodes[0]->plan.loop;
    assert_int_equal(p->bound, 5);
    assert_int_equal(dim_sym_data_bound(dim_sym_of(p->iter)), 4);
    Value *sl = ir_value_find(g, "sl");
    assert_int_equal(sl->shape.rank, 1);
    assert_int_equal(sl->shape.dims[0], 1);
    assert_int_equal(ir_value_find(g, "st")->shape.dims[0], 5);
}

static int overlap(const Value *a, const Value *b) {
    int64_t sa = shape_numel(&a->shape) * 4, sb = shape_numel(&b->shape) * 4;
    return a->ws_offset < b->ws_offset + sb && b->ws_offset < a->ws_offset + sa;
}

static void test_plan_memory_keeps_what_a_loop_reads_alive_across_iterations(void **state) {
    State *s = *state;
    /* %w is last read inside the body; %t and %u come after that read in
     * the node list but run again in the next iteration, before %w is
     * read again: they must not take its bytes. Likewise the body's inputs
     * (%i, %v) and the scan output %st, written slice by slice. */
    Graph *g = parse_ok(s, "graph g opset 17 (t.onnx)\n"
                           "  input  %x: f32[16]\n"
                           "  init   %m: i64[] = {3}\n"
                           "  %w: f32[16] = Neg 'w' (%x)\n"
                           "  %i: i64[], %ci: bool[], %v: f32[16] = Loop 'L' (%m, _, %x)\n"
                           "  %t: f32[16] = Add 'L/add' (%v, %w)\n"
                           "  %u: f32[16] = Mul 'L/mul' (%t, %t)\n"
                           "  %u2: f32[16] = Neg 'L/neg' (%u)\n"
                           "  %vf: f32[16], %st: f32[3,16] = Loop.end 'L' (%ci, %u2, %u2)\n"
                           "  %y: f32[3,16] = Relu 'y' (%st)\n"
                           "  %z: f32[16] = Relu 'z' (%vf)\n"
                           "  output %y\n"
                           "  output %z\n");
    assert_int_equal(pass_infer_shapes(g, &s->c.d), 0);
    assert_int_equal(pass_plan_memory(g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    const char *body[] = {"t", "u", "u2"};
    const char *kept[] = {"w", "v", "st", "vf", "ci", "i"};
    for (int k = 0; k < 6; k++)
        for (int j = 0; j < 3; j++)
            assert_false(overlap(ir_value_find(g, kept[k]), ir_value_find(g, body[j])));
    assert_false(overlap(ir_value_find(g, "st"), ir_value_find(g, "v")));
    assert_false(overlap(ir_value_find(g, "vf"), ir_value_find(g, "v")));
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_regions_match_their_begin_and_end_across_nesting),
        T(test_infer_shapes_gives_the_if_the_shape_both_branches_agree_on),
        T(test_infer_shapes_refuses_branches_of_different_shapes_naming_the_if),
        T(test_fold_control_inlines_the_branch_a_constant_if_takes),
        T(test_loop_scan_outputs_are_counted_at_run_time_within_a_bound),
        T(test_loop_body_reads_its_iteration_number_as_a_bounded_symbol),
        T(test_plan_memory_keeps_what_a_loop_reads_alive_across_iterations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
