/* test_infer_shapes.c: pass_infer_shapes, op by op (passes/infer_shapes.c).
 *
 * Each test builds a one- or two-node graph, runs the pass and checks the
 * output dtype and shape, or the exact diagnostic for a bad operand.
 */
#include "fixture.h"

#define N DIM_N

/* y = op(a, b) on two fresh f32 inputs of the given shapes. */
static Node *binary(Graph *g, OpKind op, Shape a, Shape b) {
    Value *va = gb_input(g, "a", DT_F32, a), *vb = gb_input(g, "b", DT_F32, b);
    return gb_node(g, op, "op", "y", 2, va, vb);
}

/* --- elementwise ---------------------------------------------------------- */

static void test_infer_shapes_broadcasts_binary_ops_like_numpy(void **state) {
    State *s = *state;
    static const struct {
        Shape a, b;
        const char *want;
    } cases[] = {
        {SHP(GB_N, 1, 4), SHP(3, 1), "[N,3,4]"},
        {SHP(2, 3), SHP(3), "[2,3]"},
        {SHP(3), SHP(2, 3), "[2,3]"},
        {SHP(2, 1), SHP(1, 5), "[2,5]"},
        {SHP0, SHP(4), "[4]"},
        {SHP0, SHP0, "[]"},
        {SHP(GB_N, 4), SHP(GB_N, 4), "[N,4]"},
        {SHP(GB_N, 4), SHP(1, 4), "[N,4]"},
        {SHP(1), SHP(GB_N, 1, 1), "[N,1,1]"},
        {SHP(2, 1, 3, 1), SHP(5, 1, 7), "[2,5,3,7]"},
    };
    static const OpKind ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = gb_graph(s->a, 17);
        Node *n = binary(g, ops[i % 4], cases[i].a, cases[i].b);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), cases[i].want);
        assert_int_equal(gb_out(n)->dtype, DT_F32);
    }
}

static void test_infer_shapes_reports_shapes_that_do_not_broadcast(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    binary(g, OP_ADD, SHP(2, 3), SHP(4));
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'op' (Add): shapes [2,3] of 'a' and [4] of 'b' do not "
                        "broadcast\n");
}

static void
test_infer_shapes_broadcasts_the_batch_against_a_size_with_a_run_time_check(void **state) {
    State *s = *state;
    /* N against 2: the output is [2,3] and the model checks N == 2. */
    Graph *g = gb_graph(s->a, 17);
    Node *n = binary(g, OP_MUL, SHP(N, 3), SHP(2, 3));
    infer_ok(s, g);
    assert_string_equal(str(gb_out(n)), "[2,3]");
    assert_int_equal(g->n_dim_checks, 1);
    assert_int_equal(g->dim_checks[0].kind, DIMCHECK_EQUAL);
    assert_true(g->dim_checks[0].a == N && g->dim_checks[0].b == 2);
    assert_string_equal(g->dim_checks[0].what,
                        "node 'op' (Mul): broadcast dim 0 of its inputs (N)");
    /* Where N's bounds exclude 2, the shapes do not broadcast. */
    capture_reset(&s->c);
    g = gb_graph(s->a, 17);
    assert_int_equal(dim_sym_set_bounds(dim_sym_of(N), 3, 10), 0);
    binary(g, OP_MUL, SHP(N, 3), SHP(2, 3));
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'op' (Mul): shapes [N,3] of 'a' and [2,3] of 'b' do not "
                        "broadcast\n");
}

static void test_infer_shapes_reports_mixed_element_types(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *a = gb_input(g, "a", DT_F32, SHP(2)), *b = gb_input(g, "b", DT_I64, SHP(2));
    gb_node(g, OP_SUB, "sub", "y", 2, a, b);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'sub' (Sub): inputs 'a' (float) and 'b' (int64) must "
                        "have the same element type\n");
}

static void test_infer_shapes_rejects_legacy_axis_broadcast_with_a_hint(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 6);
    Node *n = binary(g, OP_ADD, SHP(2, 3), SHP(3));
    gb_attr_int(n, "broadcast", 1);
    gb_attr_int(n, "axis", 1);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'op' (Add): legacy broadcast with 'axis' (opset < 7) is "
                        "not supported\n"
                        "  hint: re-export the model with opset >= 7\n");
}

static void test_infer_shapes_gives_unary_ops_their_input_shape(void **state) {
    State *s = *state;
    static const OpKind ops[] = {OP_RELU, OP_SIGMOID, OP_TANH, OP_IDENTITY};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        Graph *g = gb_graph(s->a, 17);
        Value *x = gb_input(g, "x", DT_F32, SHP(N, 5, 2));
        Node *n = gb_node(g, ops[i], "u", "y", 1, x);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), "[N,5,2]");
        assert_int_equal(gb_out(n)->dtype, DT_F32);
    }
}

static void test_infer_shapes_leaves_softmax_axis_semantics_to_codegen(void **state) {
    State *s = *state;
    /* Opset 11 (coerce to 2-D) and 13 (one axis) give the same shape; the
     * difference is in how codegen walks it. */
    for (int opset = 11; opset <= 13; opset += 2) {
        Graph *g = gb_graph(s->a, opset);
        Value *x = gb_input(g, "x", DT_F32, SHP(N, 2, 3));
        Node *n = gb_node(g, OP_SOFTMAX, "sm", "y", 1, x);
        gb_attr_int(n, "axis", 1);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), "[N,2,3]");
    }
}

/* --- Gemm ------------------------------------------------------------------ */

/* Gemm of A and B with the given transposes and an optional C shape
 * (rank < 0: no C). */
static Node *gemm(Graph *g, Shape a, Shape b, int ta, int tb, Shape c) {
    Value *va = gb_input(g, "A", DT_F32, a), *vb = gb_input(g, "B", DT_F32, b);
    Node *n;
    if (c.rank >= 0)
        n = gb_node(g, OP_GEMM, "fc", "y", 3, va, vb, gb_input(g, "C", DT_F32, c));
    else
        n = gb_node(g, OP_GEMM, "fc", "y", 2, va, vb);
    if (ta) gb_attr_int(n, "transA", 1);
    if (tb) gb_attr_int(n, "transB", 1);
    return n;
}

#define NO_C ((Shape){-1, {0}})

static void test_infer_shapes_gemm_handles_every_transpose(void **state) {
    State *s = *state;
    static const struct {
        Shape a, b;
        int ta, tb;
        const char *want;
    } cases[] = {
        {SHP(GB_N, 4), SHP(4, 3), 0, 0, "[N,3]"}, {SHP(GB_N, 4), SHP(3, 4), 0, 1, "[N,3]"},
        {SHP(4, 2), SHP(4, 3), 1, 0, "[2,3]"},    {SHP(4, 2), SHP(3, 4), 1, 1, "[2,3]"},
        {SHP(4, GB_N), SHP(4, 3), 1, 0, "[N,3]"}, {SHP(1, 1), SHP(1, 1), 0, 0, "[1,1]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = gb_graph(s->a, 17);
        Node *n = gemm(g, cases[i].a, cases[i].b, cases[i].ta, cases[i].tb, NO_C);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), cases[i].want);
    }
}

static void test_infer_shapes_gemm_accepts_a_bias_that_broadcasts_to_the_output(void **state) {
    State *s = *state;
    static const Shape ok[] = {SHP(3), SHP(1, 3), SHP(2, 3), SHP(2, 1), SHP(1), SHP0, SHP(1, 1)};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        Graph *g = gb_graph(s->a, 17);
        Node *n = gemm(g, SHP(2, 4), SHP(4, 3), 0, 0, ok[i]);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), "[2,3]");
    }
}

static void test_infer_shapes_gemm_rejects_a_bias_that_would_grow_the_output(void **state) {
    State *s = *state;
    static const struct {
        Shape c;
        const char *msg;
    } cases[] = {
        {SHP(4), "test.onnx: node 'fc' (Gemm): C 'C' of shape [4] does not broadcast to the "
                 "output [2,3]\n"},
        {SHP(5, 3), "test.onnx: node 'fc' (Gemm): C 'C' of shape [5,3] does not broadcast to "
                    "the output [2,3]\n"},
        {SHP(1, 2, 3), "test.onnx: node 'fc' (Gemm): C 'C' of shape [1,2,3] does not broadcast "
                       "to the output [2,3]\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        State t = *s;
        capture_open(&t.c);
        Graph *g = gb_graph(s->a, 17);
        gemm(g, SHP(2, 4), SHP(4, 3), 0, 0, cases[i].c);
        assert_string_equal(infer_fails(&t, g), cases[i].msg);
        capture_close(&t.c);
    }
}

static void test_infer_shapes_gemm_reports_inner_dimension_mismatch(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    gemm(g, SHP(N, 4), SHP(4, 3), 0, 1, NO_C);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'fc' (Gemm): inner dimensions differ: A 'A' [N,4] and B "
                        "'B' [4,3] (transposed)\n");
}

static void test_infer_shapes_gemm_takes_the_batch_as_inner_dimension(void **state) {
    State *s = *state;
    /* A [N,4] transposed times B [N,3]: the inner dimension is N on both. */
    Graph *g = gb_graph(s->a, 17);
    Node *n = gemm(g, SHP(N, 4), SHP(N, 3), 1, 0, NO_C);
    infer_ok(s, g);
    assert_string_equal(str(gb_out(n)), "[4,3]");
    assert_int_equal(g->n_dim_checks, 0);
    /* Two symbols whose bounds keep them apart cannot be the inner dimension. */
    capture_reset(&s->c);
    g = gb_graph(s->a, 17);
    Dim m = dim_sym("M");
    assert_int_equal(dim_sym_set_bounds(dim_sym_of(N), 1, 4), 0);
    assert_int_equal(dim_sym_set_bounds(dim_sym_of(m), 5, 8), 0);
    Value *va = gb_input(g, "A", DT_F32, SHP(N, 4)), *vb = gb_input(g, "B", DT_F32, SHP(m, 3));
    Node *fc = gb_node(g, OP_GEMM, "fc", "Y", 2, va, vb);
    gb_attr_int(fc, "transA", 1);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'fc' (Gemm): inner dimensions differ: A 'A' [N,4] "
                        "(transposed) and B 'B' [M,3]\n");
}

static void test_infer_shapes_gemm_requires_matrices_and_hints_matmul(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    gemm(g, SHP(N, 2, 4), SHP(4, 3), 0, 0, NO_C);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'fc' (Gemm): A 'A' has shape [N,2,4] and B 'B' has shape "
                        "[4,3], both must be 2-D\n"
                        "  hint: Gemm multiplies matrices; use MatMul for batched products\n");
}

/* --- MatMul ---------------------------------------------------------------- */

static void test_infer_shapes_matmul_follows_numpy_including_1d_and_batches(void **state) {
    State *s = *state;
    static const struct {
        Shape a, b;
        const char *want;
    } cases[] = {
        {SHP(3, 4), SHP(4, 5), "[3,5]"},
        {SHP(4), SHP(4, 5), "[5]"},
        {SHP(3, 4), SHP(4), "[3]"},
        {SHP(4), SHP(4), "[]"},
        {SHP(GB_N, 3, 4), SHP(4, 5), "[N,3,5]"},
        {SHP(GB_N, 3, 4), SHP(GB_N, 4, 5), "[N,3,5]"},
        {SHP(GB_N, 3, 4), SHP(4), "[N,3]"},
        {SHP(4), SHP(GB_N, 4, 5), "[N,5]"},
        {SHP(2, 1, 3, 4), SHP(5, 4, 6), "[2,5,3,6]"},
        {SHP(GB_N, 4), SHP(4, 2), "[N,2]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = gb_graph(s->a, 17);
        Node *n = binary(g, OP_MATMUL, cases[i].a, cases[i].b);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), cases[i].want);
    }
}

static void test_infer_shapes_matmul_reports_inner_dimension_mismatch(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    binary(g, OP_MATMUL, SHP(N, 3, 4), SHP(5, 2));
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'op' (MatMul): inner dimensions differ: 'a' [N,3,4] and "
                        "'b' [5,2]\n");
}

static void test_infer_shapes_matmul_reports_batch_dims_that_do_not_broadcast(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    binary(g, OP_MATMUL, SHP(2, 3, 4), SHP(3, 4, 5));
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'op' (MatMul): batch dimensions of 'a' [2,3,4] and 'b' "
                        "[3,4,5] do not broadcast\n");
}

static void test_infer_shapes_matmul_rejects_scalars(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    binary(g, OP_MATMUL, SHP0, SHP(4));
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'op' (MatMul): operands must have rank >= 1\n");
}

/* --- Flatten ---------------------------------------------------------------- */

static Node *flatten(Graph *g, Shape x, int64_t axis, int set_axis) {
    Node *n = gb_node(g, OP_FLATTEN, "flat", "y", 1, gb_input(g, "x", DT_F32, x));
    if (set_axis) gb_attr_int(n, "axis", axis);
    return n;
}

static void test_infer_shapes_flatten_splits_at_the_axis(void **state) {
    State *s = *state;
    static const struct {
        Shape x;
        int64_t axis;
        int set;
        const char *want;
    } cases[] = {
        {SHP(GB_N, 3, 4), 1, 0, "[N,12]"}, /* default axis 1 */
        {SHP(2, 3, 4), 0, 1, "[1,24]"},    {SHP(2, 3, 4), 2, 1, "[6,4]"},
        {SHP(2, 3, 4), 3, 1, "[24,1]"},    {SHP(2, 3, 4), -1, 1, "[6,4]"},
        {SHP(2, 3, 4), -3, 1, "[1,24]"},   {SHP(GB_N), 1, 1, "[N,1]"},
        {SHP(3, GB_N), 1, 1, "[3,N]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = gb_graph(s->a, 17);
        Node *n = flatten(g, cases[i].x, cases[i].axis, cases[i].set);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), cases[i].want);
    }
}

static void test_infer_shapes_flatten_reports_an_axis_out_of_range(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    flatten(g, SHP(2, 3, 4), 4, 1);
    Graph *g2 = gb_graph(s->a, 17);
    flatten(g2, SHP(2, 3, 4), -4, 1);
    assert_int_equal(pass_infer_shapes(g, &s->c.d), -1);
    assert_int_equal(pass_infer_shapes(g2, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: node 'flat' (Flatten): axis 4 is out of range for rank 3\n"
                        "test.onnx: node 'flat' (Flatten): axis -4 is out of range for rank 3\n");
}

static void test_infer_shapes_flatten_over_the_batch_multiplies_it(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Node *n = flatten(g, SHP(N, 3, 4), 2, 1);
    infer_ok(s, g);
    assert_string_equal(str(gb_out(n)), "[N*3,4]");
    assert_true(gb_out(n)->shape.dims[0] == dim_mul(N, 3));
}

static Node *reshape(Graph *g, Shape x, int n, const int64_t *want) {
    Value *vx = gb_input(g, "x", DT_F32, x);
    Value *t = gb_init_i64(g, "target", n, want);
    return gb_node(g, OP_RESHAPE, "rs", "y", 2, vx, t);
}

static void test_infer_shapes_reshape_copies_zeros_and_infers_minus_one(void **state) {
    State *s = *state;
    static const struct {
        Shape x;
        int n;
        int64_t want[4];
        const char *got;
    } cases[] = {
        {SHP(2, 3, 4), 2, {0, -1}, "[2,12]"},
        {SHP(2, 3, 4), 3, {4, 3, 2}, "[4,3,2]"},
        {SHP(2, 3, 4), 1, {-1}, "[24]"},
        {SHP(2, 3, 4), 3, {-1, 2, 2}, "[6,2,2]"},
        {SHP(GB_N, 3, 4), 2, {0, -1}, "[N,12]"},
        {SHP(GB_N, 3, 4), 2, {-1, 12}, "[N,12]"},
        {SHP(GB_N, 12), 3, {-1, 3, 4}, "[N,3,4]"},
        {SHP(GB_N, 12), 4, {0, 2, -1, 3}, "[N,2,2,3]"},
        {SHP(GB_N, 2, 6), 3, {0, 3, 4}, "[N,3,4]"},
        {SHP(GB_N, 1), 1, {-1}, "[N]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = gb_graph(s->a, 17);
        Node *n = reshape(g, cases[i].x, cases[i].n, cases[i].want);
        infer_ok(s, g);
        assert_string_equal(str(gb_out(n)), cases[i].got);
        assert_int_equal(gb_out(n)->dtype, DT_F32);
    }
}

static void test_infer_shapes_reshape_rejects_two_minus_ones(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    reshape(g, SHP(2, 3, 4), 3, (int64_t[]){-1, 2, -1});
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'rs' (Reshape): target shape has more than one -1\n");
}

static void test_infer_shapes_reshape_that_merges_the_batch_multiplies_it(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Node *n = reshape(g, SHP(N, 3, 4), 2, (int64_t[]){-1, 4});
    infer_ok(s, g);
    assert_string_equal(str(gb_out(n)), "[N*3,4]");
    assert_int_equal(g->n_dim_checks, 0); /* exact: nothing to check at run time */
}

static void test_infer_shapes_reshape_that_drops_the_batch_checks_it_at_run_time(void **state) {
    State *s = *state;
    /* [N,12] into [3,4]: only N == 1 has the right number of elements, so
     * the model checks the element count when it runs. */
    Graph *g = gb_graph(s->a, 17);
    Node *n = reshape(g, SHP(N, 12), 2, (int64_t[]){3, 4});
    infer_ok(s, g);
    assert_string_equal(str(gb_out(n)), "[3,4]");
    assert_int_equal(g->n_dim_checks, 1);
    assert_int_equal(g->dim_checks[0].kind, DIMCHECK_EQUAL);
    assert_true((g->dim_checks[0].a == 12 && g->dim_checks[0].b == dim_mul(N, 12)) ||
                (g->dim_checks[0].b == 12 && g->dim_checks[0].a == dim_mul(N, 12)));
    /* Where N's bounds exclude 1 it is an error at compile time. */
    capture_reset(&s->c);
    g = gb_graph(s->a, 17);
    assert_int_equal(dim_sym_set_bounds(dim_sym_of(N), 2, 64), 0);
    reshape(g, SHP(N, 12), 2, (int64_t[]){3, 4});
    assert_string_equal(infer_fails(s, g), "test.onnx: node 'rs' (Reshape): cannot reshape [N,12] "
                                           "(N*12 elements) into [3,4]\n");
}

static void test_infer_shapes_reshape_reports_a_wrong_element_count(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    reshape(g, SHP(2, 3), 2, (int64_t[]){4, 2});
    Graph *g2 = gb_graph(s->a, 17);
    reshape(g2, SHP(2, 6), 2, (int64_t[]){5, -1});
    assert_int_equal(pass_infer_shapes(g, &s->c.d), -1);
    assert_int_equal(pass_infer_shapes(g2, &s->c.d), -1);
    /* The second names the target with its -1 slot, which dyn prints as
     * 0 ("[5,0]", reported): only the start is checked. */
    const char *want = "test.onnx: node 'rs' (Reshape): cannot reshape [2,3] (6 elements) into "
                       "[4,2]\n"
                       "test.onnx: node 'rs' (Reshape): cannot reshape [2,6] into the target "
                       "shape";
    assert_memory_equal(capture_text(&s->c), want, strlen(want));
}

static void test_infer_shapes_reshape_reports_bad_target_dims(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    reshape(g, SHP(2, 3), 2, (int64_t[]){-2, 3});
    Graph *g2 = gb_graph(s->a, 17);
    reshape(g2, SHP(6), 2, (int64_t[]){0, 0});
    assert_int_equal(pass_infer_shapes(g, &s->c.d), -1);
    assert_int_equal(pass_infer_shapes(g2, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: node 'rs' (Reshape): target dim 0 is -2\n"
                        "test.onnx: node 'rs' (Reshape): target dim 1 is 0 (copy) but the input "
                        "[6] has no dim 1\n");
}

static void test_infer_shapes_reshape_needs_a_constant_int64_target(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2, 3));
    Value *t = gb_input(g, "dyn_shape", DT_I64, SHP(2));
    gb_node(g, OP_RESHAPE, "rs", "y", 2, x, t);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'rs' (Reshape): the target shape 'dyn_shape' must be a "
                        "constant 1-D int64 tensor\n"
                        "  hint: kiln folds shapes computed from constants and input shapes; a "
                        "shape that depends on the data is not supported\n");
}

/* --- Dropout and Constant ---------------------------------------------------- */

static void test_infer_shapes_dropout_passes_through_and_types_the_mask_bool(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 7));
    static const float ratio = 0.5f;
    static const unsigned char off = 0;
    Value *r = gb_init_f32(g, "ratio", SHP0, &ratio);
    Value *tm = gb_init(g, "training_mode", DT_BOOL, SHP0, &off);
    Value *outs[2] = {ir_value_add(g, "y", DT_UNDEF), ir_value_add(g, "mask", DT_UNDEF)};
    ir_node_add(g, OP_DROPOUT, NULL, "drop", 3, (Value *[]){x, r, tm}, 2, outs);
    infer_ok(s, g);
    assert_string_equal(str(outs[0]), "[N,7]");
    assert_int_equal(outs[0]->dtype, DT_F32);
    assert_string_equal(str(outs[1]), "[N,7]");
    assert_int_equal(outs[1]->dtype, DT_BOOL);
}

static void test_infer_shapes_dropout_in_training_mode_is_an_error(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    static const unsigned char on = 1;
    Value *tm = gb_init(g, "training_mode", DT_BOOL, SHP0, &on);
    gb_node(g, OP_DROPOUT, "drop", "y", 3, x, NULL, tm);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'drop' (Dropout): training_mode is true; kiln compiles "
                        "models for inference\n"
                        "  hint: export the model with model.eval()\n");
}

static void test_infer_shapes_dropout_with_a_runtime_training_mode_is_an_error(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    Value *tm = gb_input(g, "tm", DT_BOOL, SHP0);
    gb_node(g, OP_DROPOUT, "drop", "y", 3, x, NULL, tm);
    assert_string_equal(infer_fails(s, g), "test.onnx: node 'drop' (Dropout): training_mode 'tm' "
                                           "must be a constant\n");
}

static void test_infer_shapes_reports_an_unfolded_constant_node(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *y = ir_value_add(g, "c", DT_UNDEF);
    ir_node_add(g, OP_CONSTANT, NULL, "const", 0, NULL, 1, &y);
    assert_string_equal(infer_fails(s, g),
                        "test.onnx: node 'const' (Constant): Constant node was not folded at "
                        "import\n");
}

/* --- the pass as a whole ------------------------------------------------------ */

static void test_infer_shapes_propagates_through_a_chain(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 2, 6));
    Value *t = gb_init_i64(g, "target", 3, (int64_t[]){0, 3, 4});
    Node *r = gb_node(g, OP_RESHAPE, "rs", "r", 2, x, t);
    Node *f = gb_node(g, OP_FLATTEN, "flat", "f", 1, gb_out(r));
    static float w[12 * 5];
    Node *m = gb_node(g, OP_MATMUL, "mm", "m", 2, gb_out(f), gb_init_f32(g, "w", SHP(12, 5), w));
    Node *sm = gb_node(g, OP_SOFTMAX, "sm", "p", 1, gb_out(m));
    infer_ok(s, g);
    assert_string_equal(str(gb_out(r)), "[N,3,4]");
    assert_string_equal(str(gb_out(f)), "[N,12]");
    assert_string_equal(str(gb_out(m)), "[N,5]");
    assert_string_equal(str(gb_out(sm)), "[N,5]");
}

static void test_infer_shapes_reports_every_bad_node_and_skips_their_users(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *a = gb_input(g, "a", DT_F32, SHP(2, 3)), *b = gb_input(g, "b", DT_F32, SHP(4));
    Node *bad1 = gb_node(g, OP_ADD, "bad1", "y1", 2, a, b);
    gb_node(g, OP_RELU, "after1", "y2", 1, gb_out(bad1)); /* input unknown: skipped */
    Value *u = ir_value_add(g, "u", DT_UNDEF);
    Node *unk = ir_node_add(g, OP_UNKNOWN, "Fancy", "fancy", 1, &a, 1, &u);
    gb_node(g, OP_TANH, "after_unknown", "y3", 1, gb_out(unk));
    gb_node(g, OP_MATMUL, "bad2", "y4", 2, a, a);
    Node *good = gb_node(g, OP_SIGMOID, "good", "y5", 1, a);
    const char *msg = infer_fails(s, g);
    assert_int_equal(diag_count(&s->c.d), 2);
    assert_non_null(strstr(msg, "node 'bad1' (Add)"));
    assert_non_null(strstr(msg, "node 'bad2' (MatMul)"));
    assert_string_equal(str(gb_out(good)), "[2,3]");
    assert_int_equal(ir_value_find(g, "y2")->shape.rank, -1);
    assert_int_equal(ir_value_find(g, "y3")->shape.rank, -1);
}

static void
test_infer_shapes_reports_a_declared_output_shape_the_graph_does_not_compute(void **state) {
    State *s = *state;
    /* The importer stores an output's declared type on its Value
     * (onnx_import.c: output_type_from_model). */
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 3));
    Node *r = gb_node(g, OP_RELU, "r", "y", 1, x);
    gb_out(r)->decl_dtype = DT_F32;
    gb_out(r)->decl_shape = SHP(N, 5);
    ir_graph_add_output(g, gb_out(r));
    const char *msg = infer_fails(s, g);
    assert_non_null(strstr(msg, "'y'"));
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_infer_shapes_broadcasts_binary_ops_like_numpy),
        T(test_infer_shapes_reports_shapes_that_do_not_broadcast),
        T(test_infer_shapes_broadcasts_the_batch_against_a_size_with_a_run_time_check),
        T(test_infer_shapes_reports_mixed_element_types),
        T(test_infer_shapes_rejects_legacy_axis_broadcast_with_a_hint),
        T(test_infer_shapes_gives_unary_ops_their_input_shape),
        T(test_infer_shapes_leaves_softmax_axis_semantics_to_codegen),
        T(test_infer_shapes_gemm_handles_every_transpose),
        T(test_infer_shapes_gemm_accepts_a_bias_that_broadcasts_to_the_output),
        T(test_infer_shapes_gemm_rejects_a_bias_that_would_grow_the_output),
        T(test_infer_shapes_gemm_reports_inner_dimension_mismatch),
        T(test_infer_shapes_gemm_takes_the_batch_as_inner_dimension),
        T(test_infer_shapes_gemm_requires_matrices_and_hints_matmul),
        T(test_infer_shapes_matmul_follows_numpy_including_1d_and_batches),
        T(test_infer_shapes_matmul_reports_inner_dimension_mismatch),
        T(test_infer_shapes_matmul_reports_batch_dims_that_do_not_broadcast),
        T(test_infer_shapes_matmul_rejects_scalars),
        T(test_infer_shapes_flatten_splits_at_the_axis),
        T(test_infer_shapes_flatten_reports_an_axis_out_of_range),
        T(test_infer_shapes_flatten_over_the_batch_multiplies_it),
        T(test_infer_shapes_reshape_copies_zeros_and_infers_minus_one),
        T(test_infer_shapes_reshape_rejects_two_minus_ones),
        T(test_infer_shapes_reshape_that_merges_the_batch_multiplies_it),
        T(test_infer_shapes_reshape_that_drops_the_batch_checks_it_at_run_time),
        T(test_infer_shapes_reshape_reports_a_wrong_element_count),
        T(test_infer_shapes_reshape_reports_bad_target_dims),
        T(test_infer_shapes_reshape_needs_a_constant_int64_target),
        T(test_infer_shapes_dropout_passes_through_and_types_the_mask_bool),
        T(test_infer_shapes_dropout_in_training_mode_is_an_error),
        T(test_infer_shapes_dropout_with_a_runtime_training_mode_is_an_error),
        T(test_infer_shapes_reports_an_unfolded_constant_node),
        T(test_infer_shapes_propagates_through_a_chain),
        T(test_infer_shapes_reports_every_bad_node_and_skips_their_users),
        T(test_infer_shapes_reports_a_declared_output_shape_the_graph_does_not_compute),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
