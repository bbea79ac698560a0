/* test_codegen_limits.c: codegen at the edges of its sizes.
 *
 * Sizes over the symbols (Sym, a Dim) overflow into an error, never into
 * wrapped code; the generated workspace_size() saturates at SIZE_MAX; a
 * graph too long for one LLVM function is split into chunk functions and
 * still computes the right answer.
 */
#include "fixture.h"

#include "cg.h"

#define N DIM_N

static const CodegenOptions options = {.opt_level = 2, .name = "limits"};

static void test_codegen_sym_mul_overflow_sticks_and_equals_nothing(void **state) {
    (void)state;
    dim_reset();
    Sym ok = cg_sym_mul(dim_mul(3, N), dim_mul(5, dim_mul(N, N)));
    assert_true(ok == dim_mul(15, dim_mul(N, dim_mul(N, N)))); /* 15 * N^3 */
    assert_true(cg_sym_eq(ok, dim_mul(dim_mul(N, 15), dim_mul(N, N))));
    Sym big = cg_sym_mul(cg_sym(INT64_MAX / 2 + 1), cg_sym(2));
    assert_true(big == CG_SYM_OVERFLOW);
    assert_true(cg_sym_mul(big, cg_sym(1)) == CG_SYM_OVERFLOW);
    assert_true(cg_sym_mul(cg_sym(0), big) == CG_SYM_OVERFLOW);
    assert_false(cg_sym_eq(big, big));
    assert_false(cg_sym_eq(big, cg_sym(0)));
    assert_false(cg_sym_is(big, 1));
    /* A coefficient times the symbol overflows as well. */
    assert_true(cg_sym_mul(dim_mul(INT64_MAX / 2 + 1, N), cg_sym(2)) == CG_SYM_OVERFLOW);
    Shape s = SHP(1LL << 40, 1LL << 40, N);
    assert_true(cg_sym_prod(&s, 0, 3) == CG_SYM_OVERFLOW);
    assert_true(cg_sym_prod(&s, 1, 3) == dim_mul(1LL << 40, N));
}

/* x [2^40, 2^40, 2^40] passes as a shape (no buffer of it is ever made)
 * but its element count overflows int64: codegen says so, naming the
 * node, instead of emitting a wrapped loop bound. */
static void test_codegen_size_overflow_is_an_error_naming_the_node(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(1LL << 40, 1LL << 40, 1LL << 40));
    Node *r = gb_node(g, OP_RELU, "huge_relu", "y", 1, x);
    ir_graph_add_output(g, gb_out(r));
    if (gb_run_pipeline(g, &s->c.d)) {
        /* The passes caught it first: as good, as long as they say so. */
        assert_diag(s, "huge_relu");
        return;
    }
    Codegen *cg = fixture_codegen(s, &options);
    assert_int_equal(codegen_build(cg, g, &s->c.d), -1);
    assert_diag(s, "huge_relu");
    assert_diag(s, "overflows 64 bits");
}

/* x [N,4] -> Relu -> Relu -> out: the middle value lives in the
 * workspace, at a size per item. */
static void test_codegen_workspace_size_is_size_max_when_it_overflows(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(N, 4));
    Node *a = gb_node(g, OP_RELU, "a", "mid", 1, x);
    Node *b = gb_node(g, OP_SIGMOID, "b", "out", 1, gb_out(a));
    ir_graph_add_output(g, gb_out(b));
    const KilnModel *m = fixture_compile(s, g, &options);
    assert_true(gb_eval_n(g->ws_size, 1) > 0);
    RunShapes rs;
    fixture_shapes(m, 3, &rs);
    assert_int_equal(m->workspace_size(rs.in),
                     (size_t)(KILN_RUN_ERROR_BYTES + gb_eval_n(g->ws_size, 3)));
    assert_true(gb_eval_n(g->ws_size, 8) > gb_eval_n(g->ws_size, 1)); /* 16 bytes an item */
    /* Sizes the bounds refuse (INT64_MAX items would wrap the plan's
     * product; a negative batch is a huge one) get SIZE_MAX. */
    fixture_in_shapes(m, INT64_MAX, &rs);
    assert_true(m->workspace_size(rs.in) == SIZE_MAX);
    fixture_in_shapes(m, -1, &rs);
    assert_true(m->workspace_size(rs.in) == SIZE_MAX);
}

/* A chain of n nodes over x [N,4]: Add 1, Mul 0.5, Relu in turn. */
static Graph *chain(State *s, int n) {
    static const float one[4] = {1, 1, 1, 1}, half[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    Graph *g = gb_graph(s->a, 17);
    Value *v = gb_input(g, "x", DT_F32, SHP(N, 4));
    Value *c1 = gb_init_f32(g, "one", SHP(4), one), *ch = gb_init_f32(g, "half", SHP(4), half);
    for (int i = 0; i < n; i++) {
        char name[32], out[32];
        snprintf(name, sizeof name, "n%d", i);
        snprintf(out, sizeof out, "v%d", i);
        Node *k = i % 3 == 0   ? gb_node(g, OP_ADD, name, out, 2, v, c1)
                  : i % 3 == 1 ? gb_node(g, OP_MUL, name, out, 2, v, ch)
                               : gb_node(g, OP_RELU, name, out, 1, v);
        v = gb_out(k);
    }
    ir_graph_add_output(g, v);
    return g;
}

/* 2,000 nodes: well past the one-function limit (256), so the run is
 * chunked, and quick enough for every test run (20,000 nodes are in
 * tests/e2e/test_compile_limits.py and bench/compile_time.py). */
static void test_codegen_long_chain_is_split_into_chunks_and_computes_right(void **state) {
    State *s = *state;
    enum { LEN = 2000 };
    const KilnModel *m = fixture_compile(s, chain(s, LEN), &options);
    for (int64_t B = 1; B <= 9; B += 8) {
        float x[9 * 4], y[9 * 4];
        for (int i = 0; i < B * 4; i++)
            x[i] = (float)(i % 7) - 3.0f;
        RunShapes rs;
        fixture_shapes(m, B, &rs);
        size_t ws_size = m->workspace_size(rs.in);
        void *ws = aligned_alloc(64, (ws_size + 63) / 64 * 64 + 64);
        const void *ins[] = {x};
        void *outs[] = {y};
        assert_int_equal(m->run(ins, rs.in, outs, NULL, ws, NULL), 0);
        free(ws);
        for (int i = 0; i < B * 4; i++) {
            float want = x[i];
            for (int k = 0; k < LEN; k++)
                want = k % 3 == 0 ? want + 1.0f : k % 3 == 1 ? want * 0.5f : want > 0 ? want : 0;
            assert_float_equal(y[i], want, 1e-6);
        }
    }
    /* The module has chunk functions; a small graph has none. */
    Codegen *cg = fixture_codegen(s, &(CodegenOptions){.opt_level = 0, .name = "ll"});
    Graph *g = chain(s, LEN);
    assert_int_equal(gb_run_pipeline(g, &s->c.d), 0);
    assert_int_equal(codegen_build(cg, g, &s->c.d), 0);
    const char *ll = path_in(s, "chain.ll");
    assert_int_equal(codegen_emit_file(cg, ll, CG_FILE_LLVM, &s->c.d), 0);
    FILE *f = fopen(ll, "r");
    assert_non_null(f);
    char line[4096];
    int chunks = 0;
    while (fgets(line, sizeof line, f))
        chunks += strncmp(line, "define", 6) == 0 && strstr(line, "@kiln_model_chunk_") != NULL;
    fclose(f);
    assert_int_equal(chunks, (LEN + 63) / 64);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_codegen_sym_mul_overflow_sticks_and_equals_nothing),
        T(test_codegen_size_overflow_is_an_error_naming_the_node),
        T(test_codegen_workspace_size_is_size_max_when_it_overflows),
        T(test_codegen_long_chain_is_split_into_chunks_and_computes_right),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
