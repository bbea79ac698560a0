/* test_nn_shapes.c: shape functions of the nn ops (passes/shapes_nn.c)
 * and the Conv epilogue passes (passes/fold_batchnorm.c). */
#include <math.h>

#include "fixture.h"

#define N DIM_N

static Value *weights(Graph *g, const char *name, Shape s) {
    float *w = arena_alloc(g->arena, sizeof(float) * (size_t)shape_numel(&s));
    for (int64_t i = 0; i < shape_numel(&s); i++)
        w[i] = (float)(i % 7) - 3.0f;
    return gb_init_f32(g, name, s, w);
}

static void test_conv_keeps_the_batch_and_resolves_same_upper_pads(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 10, 9));
    Node *c = gb_node(g, OP_CONV, "c", "y", 2, x, weights(g, "w", SHP(8, 3, 3, 3)));
    ir_attr_add(c, "auto_pad", ATTR_STRING)->s = "SAME_UPPER";
    gb_attr_ints(c, "strides", 2, (int64_t[]){2, 2});
    infer_ok(s, g);
    assert_string_equal(str(gb_out(c)), "[N,8,5,5]");
    /* 10 -> 5 with stride 2 needs 1 pad (after); 9 -> 5 needs 2 (1 + 1). */
    const Attr *p = ir_attr(c, "pads");
    assert_non_null(p);
    assert_int_equal(p->n, 4);
    assert_int_equal(p->ints[0], 0);
    assert_int_equal(p->ints[1], 1);
    assert_int_equal(p->ints[2], 1);
    assert_int_equal(p->ints[3], 1);
    assert_string_equal(ir_attr_str(c, "auto_pad", ""), "NOTSET");
    assert_true(c->scratch > 0);
    /* The same geometry, resolved, is the node's plan (what codegen reads). */
    assert_int_equal(c->plan_kind, PLAN_CONV);
    const ConvPlan *cp = c->plan.conv;
    assert_int_equal(cp->rank, 2);
    assert_int_equal(cp->group, 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cp->kernel[i], 3);
        assert_int_equal(cp->stride[i], 2);
        assert_int_equal(cp->dilation[i], 1);
        assert_int_equal(cp->pad_end[i], 1);
        assert_int_equal(cp->out[i], 5);
    }
    assert_int_equal(cp->pad_begin[0], 0);
    assert_int_equal(cp->pad_begin[1], 1);
}

static void test_conv_reports_weights_that_do_not_fit_the_groups(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(1, 4, 8, 8));
    Node *c = gb_node(g, OP_CONV, "c", "y", 2, x, weights(g, "w", SHP(8, 4, 3, 3)));
    gb_attr_int(c, "group", 2);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'c' (Conv): weights 'w' [8,4,3,3] do not fit input 'x' "
                        "[1,4,8,8] with group=2\n"
                        "  hint: Conv weights are [M, C/group, k...] with M divisible by group\n");
}

static void test_pool_requires_a_kernel_shape_and_applies_ceil_mode(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 2, 7, 7));
    Node *p = gb_node(g, OP_MAXPOOL, "p", "y", 1, x);
    p->op_type = "MaxPool";
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'p' (MaxPool): attribute 'kernel_shape' is required\n");
    gb_attr_ints(p, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_attr_ints(p, "strides", 2, (int64_t[]){2, 2});
    gb_attr_int(p, "ceil_mode", 1);
    capture_close(&s->c);
    capture_open(&s->c);
    infer_ok(s, g);
    assert_string_equal(str(gb_out(p)), "[N,2,4,4]");
    assert_int_equal(p->plan_kind, PLAN_CONV);
    assert_int_equal(p->plan.conv->out[0], 4);
    assert_int_equal(p->plan.conv->kernel[1], 2);
    assert_int_equal(p->plan.conv->group, 1);
}

static void test_batchnorm_in_training_mode_is_a_diagnostic(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 15);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 2, 4));
    Value *p = weights(g, "p", SHP(2));
    Node *b = gb_node(g, OP_BATCHNORM, "bn", "y", 5, x, p, p, p, p);
    gb_attr_int(b, "training_mode", 1);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'bn' (BatchNormalization): BatchNormalization in training "
                        "mode (running statistics as outputs) is not supported\n"
                        "  hint: export the model with model.eval()\n");
}

static void test_conv_transpose_output_shape_sets_the_pads(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(1, 1, 3, 3));
    Node *c = gb_node(g, OP_CONV_TRANSPOSE, "ct", "y", 2, x, weights(g, "w", SHP(1, 2, 3, 3)));
    gb_attr_ints(c, "strides", 2, (int64_t[]){3, 2});
    gb_attr_ints(c, "output_shape", 2, (int64_t[]){10, 8});
    infer_ok(s, g);
    assert_string_equal(str(gb_out(c)), "[1,2,10,8]");
    /* Natural sizes 9 and 7: one extra row and column, at the end. */
    const Attr *p = ir_attr(c, "pads");
    assert_int_equal(p->ints[0], 0);
    assert_int_equal(p->ints[2], -1);
    assert_int_equal(c->plan_kind, PLAN_CONV);
    assert_int_equal(c->plan.conv->pad_begin[0], 0);
    assert_int_equal(c->plan.conv->pad_end[0], -1);
    assert_int_equal(c->plan.conv->out[0], 10);
    assert_int_equal(c->plan.conv->out[1], 8);
}

static void test_fold_batchnorm_and_relu_into_the_conv(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 1, 4, 4));
    Node *c = gb_node(g, OP_CONV, "c", "t", 2, x, weights(g, "w", SHP(2, 1, 1, 1)));
    Value *scale = gb_init_f32(g, "scale", SHP(2), (float[]){2, 3});
    Value *beta = gb_init_f32(g, "beta", SHP(2), (float[]){1, -1});
    Value *mean = gb_init_f32(g, "mean", SHP(2), (float[]){0.5f, 0});
    Value *var = gb_init_f32(g, "var", SHP(2), (float[]){4, 1});
    Node *b = gb_node(g, OP_BATCHNORM, "bn", "u", 5, gb_out(c), scale, beta, mean, var);
    gb_attr_float(b, "epsilon", 0.0f);
    Node *r = gb_node(g, OP_RELU, "r", "y", 1, gb_out(b));
    ir_graph_add_output(g, gb_out(r));
    infer_ok(s, g);
    assert_int_equal(pass_fold_batchnorm(g, &s->c.d), 0);
    assert_int_equal(pass_fuse_conv_activation(g, &s->c.d), 0);
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
    assert_int_equal(g->n_nodes, 1);
    Node *only = g->nodes[0];
    assert_int_equal(only->op, OP_CONV);
    assert_int_equal(only->epilogue, EPI_RELU);
    assert_string_equal(only->outputs[0]->name, "y");
    /* w = {-3, -2}: w' = w * scale / sqrt(var), b' = -mean * a + beta. */
    const float *w = only->inputs[1]->data, *bias = only->inputs[2]->data;
    assert_true(fabsf(w[0] - (-3.0f)) < 1e-6f && fabsf(w[1] - (-6.0f)) < 1e-6f);
    assert_true(fabsf(bias[0] - 0.5f) < 1e-6f && fabsf(bias[1] - (-1.0f)) < 1e-6f);
}

static void test_fuse_clip_into_the_conv_as_a_clamp_epilogue(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 1, 4, 4));
    Node *c = gb_node(g, OP_CONV, "c", "t", 2, x, weights(g, "w", SHP(2, 1, 1, 1)));
    const float lo = 0.0f, hi = 6.0f;
    Node *clip = gb_node(g, OP_CLIP, "relu6", "y", 3, gb_out(c), gb_init_f32(g, "lo", SHP0, &lo),
                         gb_init_f32(g, "hi", SHP0, &hi));
    ir_graph_add_output(g, gb_out(clip));
    infer_ok(s, g);
    assert_int_equal(pass_fuse_conv_activation(g, &s->c.d), 0);
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
    assert_int_equal(g->n_nodes, 1);
    Node *only = g->nodes[0];
    assert_ptr_equal(only, c);
    assert_string_equal(only->outputs[0]->name, "y");
    assert_int_equal(only->epilogue, EPI_CLAMP);
    assert_true(only->epi_a == 0.0f && only->epi_b == 6.0f);
    assert_null(ir_attr(only, "clip_min")); /* internal state is not an attribute */
    assert_null(ir_attr(only, "clip_max"));
    /* The dump shows the clamp where it shows +relu. */
    ir_graph_print(g, s->c.f);
    assert_non_null(strstr(capture_text(&s->c), "} +clamp(0,6)\n"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conv_keeps_the_batch_and_resolves_same_upper_pads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_conv_reports_weights_that_do_not_fit_the_groups, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pool_requires_a_kernel_shape_and_applies_ceil_mode,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_batchnorm_in_training_mode_is_a_diagnostic, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_conv_transpose_output_shape_sets_the_pads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fold_batchnorm_and_relu_into_the_conv, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fuse_clip_into_the_conv_as_a_clamp_epilogue, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
