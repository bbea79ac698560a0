/* test_fold_kernels.c: constant folding computes what the model computes.
 *
 * For each op flagged OPF_FOLD that has a run-time kernel, a node is
 * folded on small constant inputs (pass_fold_constants, which calls the
 * native kernels), and the same node is compiled unfolded (its inputs
 * made graph inputs), JIT-compiled and run on the same data. The two
 * results must agree bit for bit: folding and the model run the same
 * kernels with the same float flags. Shape, Size, ConstantOfShape and
 * Range read only shapes and static inputs, so a model folds them too;
 * test_fold_constants.c covers them.
 */
#include "fixture.h"

static const CodegenOptions options = {
    .opt_level = 2,
    .name = "unit",
    .version = "7",
    .sha256 = "00ff",
    .build_info = "{\"test\": true}",
};

#define NO_ATTR INT64_MIN
#define MAX_IN 8

/* One input of the node under test. `fixed`: it stays a constant in the
 * unfolded model too (the static slots, such as Reshape's target); data
 * NULL: filled by fill() with a pattern seeded by the operand's index. */
typedef struct Operand {
    DType t;
    Shape s;
    const void *data;
    int fixed;
} Operand;

/* Small values of every sign, never 0 (divisors), as type t. */
static void *fill(Arena *a, DType t, const Shape *s, int salt) {
    int64_t n = shape_numel(s);
    char *p = arena_alloc_aligned(a, (size_t)(n ? n : 1) * dtype_size(t), 64);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (i * 7 + salt * 5) % 11 - 5;
        if (v == 0) v = 3;
        double f = (double)v * 0.75;
        switch (t) {
        case DT_F32:
            ((float *)p)[i] = (float)f;
            break;
        case DT_F64:
            ((double *)p)[i] = f;
            break;
        case DT_F16:
            ((_Float16 *)p)[i] = (_Float16)f;
            break;
        case DT_I32:
            ((int32_t *)p)[i] = (int32_t)v;
            break;
        case DT_I64:
            ((int64_t *)p)[i] = v;
            break;
        case DT_U64:
            ((uint64_t *)p)[i] = (uint64_t)v; /* negative v: above 2^63 */
            break;
        case DT_BOOL:
            ((uint8_t *)p)[i] = (uint8_t)((i + salt) % 3 == 0);
            break;
        default:
            fail_msg("fill: no pattern for %s", dtype_name(t));
        }
    }
    return p;
}

/* The node under test in graph g: op over ins, output "y". */
static Node *add_node(Graph *g, OpKind op, Value **ins, int n, int64_t to, int64_t axis) {
    Value *y = ir_value_add(g, "y", DT_UNDEF);
    Node *node = ir_node_add(g, op, NULL, "node", n, ins, 1, &y);
    if (to != NO_ATTR) gb_attr_int(node, "to", to);
    if (axis != NO_ATTR) gb_attr_int(node, "axis", axis);
    return node;
}

/* Folds op over the operands, runs it unfolded in a JIT-compiled model,
 * and compares the bytes. */
static void check_fold(State *s, const char *what, OpKind op, int n, const Operand *in, int64_t to,
                       int64_t axis) {
    assert_true(n <= MAX_IN);
    const void *data[MAX_IN];
    for (int j = 0; j < n; j++)
        data[j] = in[j].data ? in[j].data : fill(s->a, in[j].t, &in[j].s, j);

    /* Folded: every input an initializer; the node feeds an Identity
     * (outputs of the graph are never folded). */
    Graph *gf = gb_graph(s->a, 13);
    Value *vf[MAX_IN];
    for (int j = 0; j < n; j++)
        vf[j] = gb_init(gf, arena_printf(s->a, "in%d", j), in[j].t, in[j].s, data[j]);
    Node *nf = add_node(gf, op, vf, n, to, axis);
    Node *id = gb_node(gf, OP_IDENTITY, "id", "out", 1, gb_out(nf));
    ir_graph_add_output(gf, gb_out(id));
    assert_int_equal(pass_fold_constants(gf, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    const Value *yf = gb_out(nf);
    if (!yf->data) fail_msg("%s: not folded", what);

    /* Unfolded: the inputs the model computes with are graph inputs. */
    Graph *gr = gb_graph(s->a, 13);
    Value *vr[MAX_IN];
    const void *run_in[MAX_IN];
    int n_run = 0;
    for (int j = 0; j < n; j++) {
        const char *name = arena_printf(s->a, "in%d", j);
        if (in[j].fixed) {
            vr[j] = gb_init(gr, name, in[j].t, in[j].s, data[j]);
        } else {
            vr[j] = gb_input(gr, name, in[j].t, in[j].s);
            run_in[n_run++] = data[j];
        }
    }
    Node *nr = add_node(gr, op, vr, n, to, axis);
    ir_graph_add_output(gr, gb_out(nr));
    /* One model per check: its Codegen goes at the end of this function. */
    if (gb_run_pipeline(gr, &s->c.d))
        fail_msg("%s: pipeline failed:\n%s", what, capture_text(&s->c));
    Codegen *cg = codegen_create(&options, &s->c.d);
    assert_non_null(cg);
    const KilnModel *m = NULL;
    if (codegen_build(cg, gr, &s->c.d) || codegen_jit(cg, &m, &s->c.d))
        fail_msg("%s: codegen failed:\n%s", what, capture_text(&s->c));
    assert_int_equal(m->n_inputs, n_run);
    assert_int_equal(m->n_outputs, 1);

    size_t bytes = (size_t)shape_numel(&yf->shape) * dtype_size(yf->dtype);
    assert_int_equal(m->outputs[0].dtype, (int)yf->dtype);
    assert_int_equal(m->outputs[0].rank, yf->shape.rank);
    RunShapes rs;
    fixture_shapes(m, 1, &rs);
    size_t ws_size = m->workspace_size(rs.in);
    void *ws = aligned_alloc(64, (ws_size + 63) / 64 * 64 + 64);
    void *out = malloc(bytes + 1);
    memset(out, 0xa5, bytes + 1);
    void *outs[1] = {out};
    assert_int_equal(m->run(run_in, rs.in, outs, rs.out, ws, NULL), 0);
    int same = memcmp(out, yf->data, bytes) == 0;
    free(ws);
    free(out);
    codegen_destroy(cg);
    if (!same)
        fail_msg("%s on %s: folded value differs from the model's", what, dtype_name(in[0].t));
}

/* clang-format off */
#define IN(t, s)       {t, s, NULL, 0} /* an input of the model, values from fill() */
#define DATA(t, s, d)  {t, s, d, 0}    /* the same with the given values */
#define FIXED(t, s, d) {t, s, d, 1}    /* a constant in both graphs */
/* clang-format on */
#define OPERANDS(...)                                                                              \
    (Operand[]) {                                                                                  \
        __VA_ARGS__                                                                                \
    }
#define CHECK(what, op, n, ...) check_fold(s, what, op, n, OPERANDS(__VA_ARGS__), NO_ATTR, NO_ATTR)

static void test_fold_kernels_binary_ops_match_the_model(void **state) {
    State *s = *state;
    static const OpKind ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN};
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        const char *name = op_info(ops[k])->name;
        /* Same shapes, a broadcast row, a broadcast column, a scalar. */
        CHECK(name, ops[k], 2, IN(DT_F32, SHP(2, 3)), IN(DT_F32, SHP(2, 3)));
        CHECK(name, ops[k], 2, IN(DT_F32, SHP(2, 3)), IN(DT_F32, SHP(3)));
        CHECK(name, ops[k], 2, IN(DT_I64, SHP(2, 3)), IN(DT_I64, SHP(2, 1)));
        CHECK(name, ops[k], 2, IN(DT_I64, SHP0), IN(DT_I64, SHP(4)));
        CHECK(name, ops[k], 2, IN(DT_I32, SHP(2, 1, 3)), IN(DT_I32, SHP(4, 1)));
        CHECK(name, ops[k], 2, IN(DT_F16, SHP(5)), IN(DT_F16, SHP(5)));
        CHECK(name, ops[k], 2, IN(DT_U64, SHP(5)), IN(DT_U64, SHP(1)));
    }
    /* More than four distinct dims after merging neighbours. */
    CHECK("Add rank 5", OP_ADD, 2, IN(DT_F32, SHP(2, 3, 2, 3, 2)), IN(DT_F32, SHP(2, 3, 1, 3, 2)));
    /* Variadic Max and Min of one input. */
    CHECK("Max of one", OP_MAX, 1, IN(DT_I64, SHP(3)));
}

static void test_fold_kernels_comparisons_and_where_match_the_model(void **state) {
    State *s = *state;
    static const OpKind ops[] = {OP_EQUAL, OP_LESS, OP_GREATER};
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        const char *name = op_info(ops[k])->name;
        CHECK(name, ops[k], 2, IN(DT_F32, SHP(2, 3)), IN(DT_F32, SHP(3)));
        CHECK(name, ops[k], 2, IN(DT_I64, SHP(4)), IN(DT_I64, SHP0));
        CHECK(name, ops[k], 2, IN(DT_U64, SHP(5)), IN(DT_U64, SHP(5)));
    }
    CHECK("Where f32", OP_WHERE, 3, IN(DT_BOOL, SHP(2, 3)), IN(DT_F32, SHP(3)),
          IN(DT_F32, SHP(2, 1)));
    CHECK("Where i64", OP_WHERE, 3, IN(DT_BOOL, SHP(4)), IN(DT_I64, SHP(4)), IN(DT_I64, SHP0));
}

static void test_fold_kernels_unary_ops_and_casts_match_the_model(void **state) {
    State *s = *state;
    CHECK("Abs f32", OP_ABS, 1, IN(DT_F32, SHP(2, 3)));
    CHECK("Abs i64", OP_ABS, 1, IN(DT_I64, SHP(5)));
    CHECK("Neg f32", OP_NEG, 1, IN(DT_F32, SHP(5)));
    CHECK("Neg i64", OP_NEG, 1, IN(DT_I64, SHP(2, 2)));
    CHECK("Not", OP_NOT, 1, IN(DT_BOOL, SHP(6)));
    static const struct {
        DType from, to;
    } casts[] = {{DT_F32, DT_I64},  {DT_I64, DT_F32},  {DT_I64, DT_I64}, {DT_F32, DT_F32},
                 {DT_F32, DT_BOOL}, {DT_I64, DT_BOOL}, {DT_I64, DT_F16}, {DT_F16, DT_F32},
                 {DT_F32, DT_I32},  {DT_BOOL, DT_I64}, {DT_F64, DT_F32}, {DT_I64, DT_U64}};
    for (size_t k = 0; k < sizeof casts / sizeof *casts; k++) {
        const char *what =
            arena_printf(s->a, "Cast %s -> %s", dtype_name(casts[k].from), dtype_name(casts[k].to));
        check_fold(s, what, OP_CAST, 1, OPERANDS(IN(casts[k].from, SHP(2, 3))), casts[k].to,
                   NO_ATTR);
    }
}

static void test_fold_kernels_data_movement_matches_the_model(void **state) {
    State *s = *state;
    static const int64_t target[] = {3, 2}, axes0[] = {0}, shape3[] = {2, 3, 4};
    static const int64_t starts[] = {1, 0}, ends[] = {4, 5}, saxes[] = {0, 1}, steps[] = {2, 2};
    static const int64_t idx[] = {2, 0, -1};
    static const DType types[] = {DT_F32, DT_I64};
    for (size_t k = 0; k < 2; k++) {
        DType t = types[k];
        const char *name = dtype_name(t);
        check_fold(s, arena_printf(s->a, "Identity %s", name), OP_IDENTITY, 1,
                   OPERANDS(IN(t, SHP(2, 3))), NO_ATTR, NO_ATTR);
        check_fold(s, arena_printf(s->a, "Flatten %s", name), OP_FLATTEN, 1,
                   OPERANDS(IN(t, SHP(2, 3, 2))), NO_ATTR, 2);
        check_fold(s, arena_printf(s->a, "Reshape %s", name), OP_RESHAPE, 2,
                   OPERANDS(IN(t, SHP(2, 3)), FIXED(DT_I64, SHP(2), target)), NO_ATTR, NO_ATTR);
        check_fold(s, arena_printf(s->a, "Squeeze %s", name), OP_SQUEEZE, 2,
                   OPERANDS(IN(t, SHP(1, 3)), FIXED(DT_I64, SHP(1), axes0)), NO_ATTR, NO_ATTR);
        check_fold(s, arena_printf(s->a, "Unsqueeze %s", name), OP_UNSQUEEZE, 2,
                   OPERANDS(IN(t, SHP(3)), FIXED(DT_I64, SHP(1), axes0)), NO_ATTR, NO_ATTR);
        check_fold(s, arena_printf(s->a, "Concat axis 0 %s", name), OP_CONCAT, 2,
                   OPERANDS(IN(t, SHP(2, 3)), IN(t, SHP(1, 3))), NO_ATTR, 0);
        check_fold(s, arena_printf(s->a, "Concat axis 1 %s", name), OP_CONCAT, 3,
                   OPERANDS(IN(t, SHP(2, 3)), IN(t, SHP(2, 1)), IN(t, SHP(2, 2))), NO_ATTR, 1);
        check_fold(s, arena_printf(s->a, "Gather %s", name), OP_GATHER, 2,
                   OPERANDS(IN(t, SHP(3, 4)), DATA(DT_I64, SHP(3), idx)), NO_ATTR, 0);
        check_fold(s, arena_printf(s->a, "Gather axis 1 %s", name), OP_GATHER, 2,
                   OPERANDS(IN(t, SHP(3, 4)), DATA(DT_I64, SHP(3), idx)), NO_ATTR, 1);
        check_fold(s, arena_printf(s->a, "Slice %s", name), OP_SLICE, 5,
                   OPERANDS(IN(t, SHP(4, 5)), FIXED(DT_I64, SHP(2), starts),
                            FIXED(DT_I64, SHP(2), ends), FIXED(DT_I64, SHP(2), saxes),
                            FIXED(DT_I64, SHP(2), steps)),
                   NO_ATTR, NO_ATTR);
        check_fold(s, arena_printf(s->a, "Expand %s", name), OP_EXPAND, 2,
                   OPERANDS(IN(t, SHP(3, 1)), FIXED(DT_I64, SHP(3), shape3)), NO_ATTR, NO_ATTR);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fold_kernels_binary_ops_match_the_model, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fold_kernels_comparisons_and_where_match_the_model,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_kernels_unary_ops_and_casts_match_the_model,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_kernels_data_movement_matches_the_model, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
