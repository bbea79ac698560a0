/* test_flops.c: FLOPs per batch item (passes/flops.c) against figures
 * computed by hand, for a small conv net, an MLP and the conv and matmul
 * variants (groups, ConvTranspose, batched MatMul).
 */
#include "fixture.h"

#define N DIM_N

/* A float32 initializer of shape s with zeros (only its shape matters). */
static Value *weight(Graph *g, const char *name, Shape s) {
    float *z = arena_alloc(g->arena, sizeof(float) * (size_t)shape_numel(&s));
    memset(z, 0, sizeof(float) * (size_t)shape_numel(&s));
    return gb_init_f32(g, name, s, z);
}

static Node *gemm(Graph *g, const char *name, Value *x, int64_t in, int64_t out) {
    char w[32], b[32], y[32];
    snprintf(w, sizeof w, "%s.w", name);
    snprintf(b, sizeof b, "%s.b", name);
    snprintf(y, sizeof y, "%s.y", name);
    Node *n =
        gb_node(g, OP_GEMM, name, y, 3, x, weight(g, w, SHP(out, in)), weight(g, b, SHP(out)));
    gb_attr_int(n, "transB", 1);
    return n;
}

static void infer(Graph *g) {
    Diag d;
    diag_init(&d, stderr);
    assert_int_equal(pass_infer_shapes(g, &d), 0);
}

/* x[N,3,32,32] -> Conv 3->8, 3x3, pad 1 (+ bias) -> Relu -> MaxPool 2x2
 * stride 2 -> Flatten -> Gemm 2048->10 (+ bias). Per batch item:
 *   Conv:    8*32*32 = 8192 outputs, each 3*3*3 = 27 multiply-adds:
 *            2 * 8192 * 27 = 442368, + 8192 bias adds      = 450560
 *   Relu:    8192 outputs                                   =   8192
 *   MaxPool: 8*16*16 = 2048 outputs, 2*2 taps each          =   8192
 *   Flatten: data movement                                  =      0
 *   Gemm:    2 * 10 * 2048 = 40960, + 10 bias adds          =  40970
 *   total                                                   = 507914 */
static void test_flops_of_a_conv_net_match_hand_computed_figures(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3, 32, 32));
    Node *conv = gb_node(g, OP_CONV, "conv", "c", 3, x, weight(g, "w", SHP(8, 3, 3, 3)),
                         weight(g, "b", SHP(8)));
    gb_attr_ints(conv, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Node *relu = gb_node(g, OP_RELU, "relu", "r", 1, gb_out(conv));
    Node *pool = gb_node(g, OP_MAXPOOL, "pool", "p", 1, gb_out(relu));
    gb_attr_ints(pool, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_attr_ints(pool, "strides", 2, (int64_t[]){2, 2});
    Node *flat = gb_node(g, OP_FLATTEN, "flat", "f", 1, gb_out(pool));
    Node *fc = gemm(g, "fc", gb_out(flat), 2048, 10);
    ir_graph_add_output(g, gb_out(fc));
    infer(g);

    assert_int_equal(flops_node_count(conv), 450560);
    assert_int_equal(flops_node_count(relu), 8192);
    assert_int_equal(flops_node_count(pool), 8192);
    assert_int_equal(flops_node_count(flat), 0);
    assert_int_equal(flops_node_count(fc), 40970);
    assert_int_equal(flops_graph_count(g), 507914);
}

/* x[N,784] -> Gemm 784->512 -> Relu -> Gemm 512->512 -> Relu -> Gemm
 * 512->10 -> Softmax, each Gemm with a bias. Per batch item:
 *   Gemm 1:  2 * 784 * 512 = 802816, + 512                  = 803328
 *   Relu:                                                   =    512
 *   Gemm 2:  2 * 512 * 512 = 524288, + 512                  = 524800
 *   Relu:                                                   =    512
 *   Gemm 3:  2 * 512 * 10 = 10240, + 10                     =  10250
 *   Softmax: 10 elements * 8 (max, sub, exp = 4, sum, div)  =     80
 *   total                                                   = 1339482 */
static void test_flops_of_an_mlp_match_hand_computed_figures(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 784));
    Node *l1 = gemm(g, "fc1", x, 784, 512);
    Node *r1 = gb_node(g, OP_RELU, "relu1", "r1", 1, gb_out(l1));
    Node *l2 = gemm(g, "fc2", gb_out(r1), 512, 512);
    Node *r2 = gb_node(g, OP_RELU, "relu2", "r2", 1, gb_out(l2));
    Node *l3 = gemm(g, "fc3", gb_out(r2), 512, 10);
    Node *sm = gb_node(g, OP_SOFTMAX, "softmax", "probs", 1, gb_out(l3));
    ir_graph_add_output(g, gb_out(sm));
    infer(g);

    assert_int_equal(flops_node_count(l1), 803328);
    assert_int_equal(flops_node_count(l2), 524800);
    assert_int_equal(flops_node_count(l3), 10250);
    assert_int_equal(flops_node_count(sm), 80);
    assert_int_equal(flops_graph_count(g), 1339482);
}

/* Depthwise 3x3 on [1,8,16,16], pad 1, no bias: 8*16*16 = 2048 outputs,
 * (C_in / group) * 3*3 = 9 taps each: 2 * 2048 * 9 = 36864. */
static void test_flops_of_a_grouped_conv_count_the_taps_of_one_group(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(1, 8, 16, 16));
    Node *conv = gb_node(g, OP_CONV, "dw", "y", 2, x, weight(g, "w", SHP(8, 1, 3, 3)));
    gb_attr_ints(conv, "pads", 4, (int64_t[]){1, 1, 1, 1});
    gb_attr_int(conv, "group", 8);
    ir_graph_add_output(g, gb_out(conv));
    infer(g);
    assert_int_equal(flops_node_count(conv), 36864);
}

/* ConvTranspose [1,4,8,8] -> 2 channels, 3x3, stride 2: every input
 * element scatters into 2 * 3*3 = 18 outputs: 2 * 4*8*8 * 18 = 9216. */
static void test_flops_of_a_conv_transpose_count_every_scattered_tap(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *x = gb_input(g, "x", DT_F32, SHP(1, 4, 8, 8));
    Node *ct = gb_node(g, OP_CONV_TRANSPOSE, "up", "y", 2, x, weight(g, "w", SHP(4, 2, 3, 3)));
    gb_attr_ints(ct, "strides", 2, (int64_t[]){2, 2});
    ir_graph_add_output(g, gb_out(ct));
    infer(g);
    assert_int_equal(gb_out(ct)->shape.dims[2], 17);
    assert_int_equal(flops_node_count(ct), 9216);
}

/* MatMul [2,3,4] x [4,5] -> [2,3,5]: 30 dot products of length 4: 240.
 * Data movement and Exp: Transpose 0, Exp of 30 elements 4 each: 120. */
static void test_flops_of_matmul_and_elementwise_ops(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *a = gb_input(g, "a", DT_F32, SHP(2, 3, 4));
    Node *mm = gb_node(g, OP_MATMUL, "mm", "y", 2, a, weight(g, "b", SHP(4, 5)));
    Node *tr = gb_node(g, OP_TRANSPOSE, "tr", "t", 1, gb_out(mm));
    Node *ex = gb_node(g, OP_EXP, "exp", "e", 1, gb_out(tr));
    ir_graph_add_output(g, gb_out(ex));
    infer(g);
    assert_int_equal(flops_node_count(mm), 240);
    assert_int_equal(flops_node_count(tr), 0);
    assert_int_equal(flops_node_count(ex), 120);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flops_of_a_conv_net_match_hand_computed_figures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flops_of_an_mlp_match_hand_computed_figures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flops_of_a_grouped_conv_count_the_taps_of_one_group,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_flops_of_a_conv_transpose_count_every_scattered_tap,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_flops_of_matmul_and_elementwise_ops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
