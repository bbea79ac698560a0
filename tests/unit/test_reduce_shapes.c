/* test_reduce_shapes.c: shape functions of the reduce family
 * (passes/shapes_reduce.c), and their models run end to end through the
 * JIT with the batch dim among the reduced and the kept dims.
 */
#include <math.h>

#include "fixture.h"

#define N DIM_N

/* --- shapes ------------------------------------------------------------------------ */

static void test_reduce_shapes_follow_axes_and_keepdims(void **state) {
    State *s = *state;
    static const struct {
        int64_t axes[3];
        int n_axes, keepdims;
        const char *want;
    } cases[] = {
        {{1}, 1, 1, "[N,1,4]"},
        {{-1, 0}, 2, 0, "[3]"},
        {{0}, 0, 1, "[1,1,1]"},
        {{0}, 0, 0, "[]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = gb_graph(s->a, 11);
        Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 4));
        Node *n = gb_node(g, OP_REDUCE_MEAN, "r", "y", 1, x);
        if (cases[i].n_axes) gb_attr_ints(n, "axes", cases[i].n_axes, cases[i].axes);
        gb_attr_int(n, "keepdims", cases[i].keepdims);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), cases[i].want);
    }
}

static void test_reduce_sum_13_reads_axes_from_a_constant_input(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_I64, SHP(N, 3, 4));
    static const int64_t ax[] = {-2};
    Node *n = gb_node(g, OP_REDUCE_SUM, "r", "y", 2, x, gb_init_i64(g, "axes", 1, ax));
    gb_attr_int(n, "keepdims", 0);
    infer_ok(s, g);
    assert_string_equal(str(gb_out(n)), "[N,4]");
    assert_int_equal(gb_out(n)->dtype, DT_I64);
    /* Empty axes with noop_with_empty_axes: the identity. */
    Graph *g2 = gb_graph(s->a, 13);
    Value *x2 = gb_input(g2, "x", DT_F32, SHP(2, 3));
    Node *n2 = gb_node(g2, OP_REDUCE_SUM, "r", "y", 2, x2, gb_init_i64(g2, "axes", 0, ax));
    gb_attr_int(n2, "noop_with_empty_axes", 1);
    infer_ok(s, g2);
    assert_string_equal(str(gb_out(n2)), "[2,3]");
}

/* --- plans: the resolved axes on the node (ir.h ReducePlan) ----------------------- */

static const ReducePlan *plan_of(const Node *n) {
    assert_int_equal(n->plan_kind, PLAN_REDUCE);
    return n->plan.reduce;
}

static void test_reduce_plan_holds_opset_11_attribute_axes_and_keepdims(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 11);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 4));
    Node *n = gb_node(g, OP_REDUCE_MEAN, "r", "y", 1, x);
    gb_attr_ints(n, "axes", 2, (int64_t[]){-1, 1});
    gb_attr_int(n, "keepdims", 0);
    Node *all = gb_node(g, OP_REDUCE_MAX, "all", "z", 1, x); /* no axes: every dim */
    infer_ok(s, g);
    assert_int_equal(plan_of(n)->mask, 0x6);
    assert_int_equal(plan_of(n)->keepdims, 0);
    assert_false(plan_of(n)->noop);
    assert_int_equal(plan_of(all)->mask, 0x7);
    assert_int_equal(plan_of(all)->keepdims, 1);
    assert_false(plan_of(all)->noop);
}

static void test_reduce_plan_holds_opset_13_input_axes_and_noop_with_empty_axes(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 4));
    static const int64_t ax[] = {-2, 0};
    Node *n = gb_node(g, OP_REDUCE_SUM, "r", "y", 2, x, gb_init_i64(g, "axes", 2, ax));
    /* An empty axes input reduces every dim, unless noop_with_empty_axes. */
    Node *e = gb_node(g, OP_REDUCE_SUM, "e", "z", 2, x, gb_init_i64(g, "none", 0, ax));
    Node *noop = gb_node(g, OP_REDUCE_SUM, "noop", "w", 2, x, gb_init_i64(g, "none2", 0, ax));
    gb_attr_int(noop, "noop_with_empty_axes", 1);
    /* An attribute at opset 13 is not ReduceSum's spelling, but ReduceMax's. */
    Node *m = gb_node(g, OP_REDUCE_MAX, "m", "v", 1, x);
    gb_attr_ints(m, "axes", 1, (int64_t[]){2});
    infer_ok(s, g);
    assert_int_equal(plan_of(n)->mask, 0x3);
    assert_false(plan_of(n)->noop);
    assert_int_equal(plan_of(e)->mask, 0x7);
    assert_false(plan_of(e)->noop);
    assert_int_equal(plan_of(noop)->mask, 0);
    assert_true(plan_of(noop)->noop);
    assert_int_equal(plan_of(m)->mask, 0x4);
}

static void test_one_axis_ops_carry_their_resolved_axis(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 11);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 4));
    Node *am = gb_node(g, OP_ARG_MAX, "am", "a", 1, x);
    gb_attr_int(am, "axis", -2);
    gb_attr_int(am, "keepdims", 0);
    Node *cs = gb_node(g, OP_CUMSUM, "cs", "c", 2, x, gb_init_i64(g, "ax", 1, (int64_t[]){-1}));
    Value *tk_in[] = {x, gb_init_i64(g, "k", 1, (int64_t[]){2})};
    Value *tk_out[] = {ir_value_add(g, "t", DT_UNDEF), ir_value_add(g, "ti", DT_UNDEF)};
    Node *tk = ir_node_add(g, OP_TOPK, NULL, "tk", 2, tk_in, 2, tk_out);
    Node *lp = gb_node(g, OP_LP_NORM, "lp", "l", 1, x);
    Node *sm = gb_node(g, OP_SOFTMAX, "sm", "s", 1, x); /* opset 11: axis 1, coerced to 2-D */
    infer_ok(s, g);
    assert_int_equal(plan_of(am)->axis, 1);
    assert_int_equal(plan_of(am)->keepdims, 0);
    assert_int_equal(plan_of(cs)->axis, 2);
    assert_int_equal(plan_of(tk)->axis, 2);
    assert_int_equal(plan_of(tk)->k, 2);
    assert_int_equal(plan_of(lp)->axis, 2);
    assert_int_equal(plan_of(sm)->axis, 1);
    assert_true(plan_of(sm)->flatten);
}

static void test_topk_and_softmax_plans_follow_the_opset(void **state) {
    State *s = *state;
    /* TopK before opset 10: k is an attribute. */
    Graph *g = gb_graph(s->a, 9);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 5));
    Value *out[] = {ir_value_add(g, "t", DT_UNDEF), ir_value_add(g, "ti", DT_UNDEF)};
    Node *tk = ir_node_add(g, OP_TOPK, NULL, "tk", 1, &x, 2, out);
    gb_attr_int(tk, "k", 3);
    infer_ok(s, g);
    assert_int_equal(plan_of(tk)->k, 3);
    assert_int_equal(plan_of(tk)->axis, 1);
    /* Softmax from opset 13: the last axis by default, not coerced; an axis
     * out of range is recorded for codegen to report. */
    Graph *g2 = gb_graph(s->a, 13);
    Value *x2 = gb_input(g2, "x", DT_F32, SHP(N, 3, 4));
    Node *sm = gb_node(g2, OP_LOG_SOFTMAX, "sm", "y", 1, x2);
    Node *bad = gb_node(g2, OP_HARDMAX, "bad", "z", 1, x2);
    gb_attr_int(bad, "axis", -4);
    infer_ok(s, g2);
    assert_int_equal(plan_of(sm)->axis, 2);
    assert_false(plan_of(sm)->flatten);
    assert_int_equal(plan_of(bad)->axis, -1);
    assert_int_equal(plan_of(bad)->asked, -4);
}

static void test_reduce_reports_axes_that_are_repeated_out_of_range_or_not_constant(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 11);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3));
    Node *n = gb_node(g, OP_REDUCE_MAX, "r1", "y1", 1, x);
    gb_attr_ints(n, "axes", 2, (int64_t[]){1, -1});
    Node *m = gb_node(g, OP_REDUCE_MIN, "r2", "y2", 1, x);
    gb_attr_ints(m, "axes", 1, (int64_t[]){2});
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'r1' (ReduceMax): axis -1 is listed twice in 'axes'\n"
                        "test.onnx: node 'r2' (ReduceMin): axis 2 is out of range for rank 2\n");
    Graph *g2 = gb_graph(s->a, 13);
    Value *x2 = gb_input(g2, "x", DT_F32, SHP(2, 3));
    gb_node(g2, OP_REDUCE_SUM, "r3", "y", 2, x2, gb_input(g2, "axes", DT_I64, SHP(1)));
    assert_string_equal(infer_fails(s, g2),
                        "test.onnx: node 'r1' (ReduceMax): axis -1 is listed twice in 'axes'\n"
                        "test.onnx: node 'r2' (ReduceMin): axis 2 is out of range for rank 2\n"
                        "test.onnx: node 'r3' (ReduceSum): input 1 ('axes') must be a constant "
                        "int64 tensor\n"
                        "  hint: kiln compiles shapes ahead of time; export this input as an "
                        "initializer\n");
}

static void test_reduce_rejects_bool_inputs(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_BOOL, SHP(2, 3));
    gb_node(g, OP_ARG_MAX, "am", "y", 1, x);
    assert_string_equal(infer_fails(s, g), "test.onnx: node 'am' (ArgMax): input 'x' has element "
                                           "type bool; ArgMax needs a numeric type\n");
}

static void test_arg_max_gives_int64_indices(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 4));
    Node *n = gb_node(g, OP_ARG_MIN, "am", "y", 1, x);
    gb_attr_int(n, "axis", -1);
    gb_attr_int(n, "keepdims", 0);
    infer_ok(s, g);
    assert_string_equal(str(gb_out(n)), "[N,3]");
    assert_int_equal(gb_out(n)->dtype, DT_I64);
}

static void test_layer_norm_checks_its_scale_against_the_normalised_dims(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 4));
    Node *n = gb_node(g, OP_LAYER_NORM, "ln", "y", 2, x, gb_input(g, "scale", DT_F32, SHP(1, 4)));
    infer_ok(s, g);
    assert_string_equal(str(gb_out(n)), "[N,3,4]");
    Graph *g2 = gb_graph(s->a, 17);
    Value *x2 = gb_input(g2, "x", DT_F32, SHP(N, 3, 4));
    Node *n2 =
        gb_node(g2, OP_LAYER_NORM, "ln", "y", 2, x2, gb_input(g2, "scale", DT_F32, SHP(3, 4)));
    gb_attr_int(n2, "axis", -1);
    assert_string_equal(infer_fails(s, g2),
                        "test.onnx: node 'ln' (LayerNormalization): 'scale' has shape [3,4]; "
                        "expected the normalised dims [4] or a single value\n");
}

static void test_topk_checks_k_against_the_axis(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 11);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 5));
    Value *o[2] = {ir_value_add(g, "v", DT_UNDEF), ir_value_add(g, "i", DT_UNDEF)};
    Value *in[2] = {x, gb_init_i64(g, "k", 1, (int64_t[]){3})};
    Node *n = ir_node_add(g, OP_TOPK, NULL, "tk", 2, in, 2, o);
    infer_ok(s, g);
    assert_string_equal(str(n->outputs[0]), "[N,3]");
    assert_int_equal(n->outputs[1]->dtype, DT_I64);
    Graph *g2 = gb_graph(s->a, 11);
    Value *x2 = gb_input(g2, "x", DT_F32, SHP(N, 5));
    Value *o2[2] = {ir_value_add(g2, "v", DT_UNDEF), ir_value_add(g2, "i", DT_UNDEF)};
    Value *in2[2] = {x2, gb_init_i64(g2, "k", 1, (int64_t[]){6})};
    ir_node_add(g2, OP_TOPK, NULL, "tk", 2, in2, 2, o2);
    assert_string_equal(infer_fails(s, g2),
                        "test.onnx: node 'tk' (TopK): k is 6 but axis 1 has 5 elements\n");
}

static void test_loss_checks_target_against_input(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 5, 2));
    Value *t = gb_input(g, "t", DT_I64, SHP(N, 3));
    gb_node(g, OP_NLL_LOSS, "nll", "y", 2, x, t);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'nll' (NegativeLogLikelihoodLoss): input 'x' [N,5,2] and "
                        "target 't' [N,3] do not match as [N,C,d...] and [N,d...]\n");
}

/* --- end to end, with the batch among reduced and kept dims ------------------------------ */

static const CodegenOptions options = {
    .opt_level = 2, .name = "unit", .version = "1", .sha256 = "00ff", .build_info = "{}"};

static const KilnModel *compile(State *s, Graph *g) {
    return fixture_compile(s, g, &options);
}

static void run(const KilnModel *m, int64_t batch, const float *x, float *y) {
    RunShapes rs;
    fixture_shapes(m, batch, &rs);
    size_t ws_size = m->workspace_size(rs.in);
    void *ws = aligned_alloc(64, (ws_size + 63) / 64 * 64 + 64);
    const void *ins[] = {x};
    void *outs[] = {y};
    assert_int_equal(m->run(ins, rs.in, outs, rs.out, ws, NULL), 0);
    free(ws);
}

static void test_reduce_mean_over_the_batch_and_a_separate_dim_runs_for_every_batch(void **state) {
    State *s = *state;
    /* x [N,3,4] reduced over dims 0 and 2 (two separate groups): y [3]. */
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 4));
    Node *n = gb_node(g, OP_REDUCE_MEAN, "r", "y", 1, x);
    gb_attr_ints(n, "axes", 2, (int64_t[]){0, 2});
    gb_attr_int(n, "keepdims", 0);
    ir_graph_add_output(g, gb_out(n));
    const KilnModel *m = compile(s, g);
    for (int64_t B = 1; B <= 9; B += 4) {
        float *xin = malloc(sizeof(float) * (size_t)(B * 12)), y[3];
        uint32_t st = 5;
        gb_fill(xin, B * 12, &st);
        run(m, B, xin, y);
        for (int c = 0; c < 3; c++) {
            double want = 0;
            for (int64_t b = 0; b < B; b++)
                for (int w = 0; w < 4; w++)
                    want += xin[b * 12 + c * 4 + w];
            want /= (double)(B * 4);
            if (fabs(y[c] - want) > 1e-5)
                fail_msg("batch %lld: y[%d] = %g, want %g", (long long)B, c, (double)y[c], want);
        }
        free(xin);
    }
}

static void test_log_softmax_along_the_batch_axis_runs_for_every_batch(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3));
    Node *n = gb_node(g, OP_LOG_SOFTMAX, "ls", "y", 1, x);
    gb_attr_int(n, "axis", 0);
    ir_graph_add_output(g, gb_out(n));
    const KilnModel *m = compile(s, g);
    for (int64_t B = 1; B <= 9; B += 4) {
        float *xin = malloc(sizeof(float) * (size_t)(B * 3)),
              *y = malloc(sizeof(float) * (size_t)(B * 3));
        uint32_t st = 9;
        gb_fill(xin, B * 3, &st);
        run(m, B, xin, y);
        for (int c = 0; c < 3; c++) {
            double sum = 0;
            for (int64_t b = 0; b < B; b++)
                sum += exp(xin[b * 3 + c]);
            for (int64_t b = 0; b < B; b++)
                if (fabs(y[b * 3 + c] - (xin[b * 3 + c] - log(sum))) > 1e-5)
                    fail_msg("batch %lld: wrong log-softmax at [%lld,%d]", (long long)B,
                             (long long)b, c);
        }
        free(xin), free(y);
    }
}

static void test_softmax_reports_the_default_axis_it_used(void **state) {
    State *s = *state;
    /* Before opset 13 the default axis is 1, out of range for a 1-D input. */
    Graph *g = gb_graph(s->a, 11);
    Value *x = gb_input(g, "x", DT_F32, SHP(5));
    Node *sm = gb_node(g, OP_HARDMAX, "hm", "y", 1, x);
    ir_graph_add_output(g, gb_out(sm));
    assert_int_equal(gb_run_pipeline(g, &s->c.d), 0);
    Codegen *cg = fixture_codegen(s, &options);
    assert_int_equal(codegen_build(cg, g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: node 'hm' (Hardmax): axis 1 is out of range for rank 1\n");
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_reduce_shapes_follow_axes_and_keepdims),
        T(test_reduce_sum_13_reads_axes_from_a_constant_input),
        T(test_reduce_plan_holds_opset_11_attribute_axes_and_keepdims),
        T(test_reduce_plan_holds_opset_13_input_axes_and_noop_with_empty_axes),
        T(test_one_axis_ops_carry_their_resolved_axis),
        T(test_topk_and_softmax_plans_follow_the_opset),
        T(test_reduce_reports_axes_that_are_repeated_out_of_range_or_not_constant),
        T(test_reduce_rejects_bool_inputs),
        T(test_arg_max_gives_int64_indices),
        T(test_layer_norm_checks_its_scale_against_the_normalised_dims),
        T(test_topk_checks_k_against_the_axis),
        T(test_loss_checks_target_against_input),
        T(test_reduce_mean_over_the_batch_and_a_separate_dim_runs_for_every_batch),
        T(test_log_softmax_along_the_batch_axis_runs_for_every_batch),
        T(test_softmax_reports_the_default_axis_it_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
