/* test_ir_read.c: ir_graph_parse (compiler/ir/ir_read.c), the reader of
 * the text ir_graph_print writes.
 *
 * The main property is the round trip: print(parse(text)) == text for the
 * golden dumps of the samples and for graphs with every attribute kind and
 * initializer type. Then what the reader builds (kinds, exact values,
 * epilogues) and how it reports text it cannot read.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

/* The text form of g, in the test's arena. */
static const char *printed(State *s, const Graph *g) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    ir_graph_print(g, f);
    fclose(f);
    char *text = arena_strdup(s->a, buf);
    free(buf);
    return text;
}

static Graph *parse_ok(State *s, const char *text) {
    Graph *g = NULL;
    assert_int_equal(ir_graph_parse(s->a, text, "t.ir", &g, &s->c.d), 0);
    assert_string_equal(capture_text(&s->c), "");
    assert_non_null(g);
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
    return g;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int ch;
    while ((ch = fgetc(f)) != EOF)
        fputc(ch, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* --- round trips ------------------------------------------------------------ */

static void round_trip_file(State *s, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/%s", KILN_SOURCE_DIR, name);
    char *text = read_file(path);
    Graph *g = parse_ok(s, text);
    assert_string_equal(printed(s, g), text);
    free(text);
}

static void test_parse_of_the_fraud_golden_prints_it_identically(void **state) {
    round_trip_file(*state, "fraud.ir");
}

static void test_parse_of_the_classifier_golden_prints_it_identically(void **state) {
    round_trip_file(*state, "classifier.ir");
}

static void test_every_attribute_kind_round_trips_with_its_kind(void **state) {
    State *s = *state;
    const char *text = "graph main opset 13 (m.onnx)\n"
                       "  input  %x: f32[N,3]\n"
                       "  %y: ?[?] = Softmax 'sm' (%x) {axis=-1, alpha=1.0, eps=1e-05, tenth=0.1, "
                       "big=1e+20, neg=-2.5, nan=nan, inf=-inf, mode=\"a \\\"q\\\" \\\\ "
                       "\\x0a\", perm=[1,0], scales=[1.0,0.5], none=[], names=[\"a\",\"b,c\"], "
                       "value=<i64[1] = {7}>, big_t=<f32[20]>}\n"
                       "  output %y\n";
    Graph *g = parse_ok(s, text);
    assert_string_equal(printed(s, g), text);
    Node *n = g->nodes[0];
    assert_int_equal(ir_attr(n, "axis")->kind, ATTR_INT);
    assert_int_equal(ir_attr(n, "axis")->i, -1);
    assert_int_equal(ir_attr(n, "alpha")->kind, ATTR_FLOAT);
    assert_true(ir_attr(n, "alpha")->f == 1.0f);
    assert_true(ir_attr(n, "tenth")->f == 0.1f);
    assert_true(isnan(ir_attr(n, "nan")->f));
    assert_true(isinf(ir_attr(n, "inf")->f) && ir_attr(n, "inf")->f < 0);
    assert_string_equal(ir_attr(n, "mode")->s, "a \"q\" \\ \n");
    assert_int_equal(ir_attr(n, "perm")->kind, ATTR_INTS);
    assert_int_equal(ir_attr(n, "perm")->n, 2);
    assert_int_equal(ir_attr(n, "scales")->kind, ATTR_FLOATS);
    assert_true(ir_attr(n, "scales")->floats[1] == 0.5f);
    assert_int_equal(ir_attr(n, "none")->n, 0);
    assert_int_equal(ir_attr(n, "names")->kind, ATTR_STRINGS);
    assert_string_equal(ir_attr(n, "names")->strings[1], "b,c");
    const Value *t = ir_attr(n, "value")->t;
    assert_int_equal(t->dtype, DT_I64);
    assert_int_equal(*(const int64_t *)t->data, 7);
    assert_non_null(ir_attr(n, "big_t")->t->data);
}

static void test_small_initializers_round_trip_exactly_in_every_type(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 17);
    float f[16];
    uint32_t seed = 12345;
    gb_fill(f, 16, &seed);
    f[3] = -0.0f;
    f[4] = 1e-40f; /* subnormal */
    f[5] = 3.4028235e38f;
    gb_init_f32(g, "f", SHP(4, 4), f);
    gb_init(g, "d", DT_F64, SHP(3), (double[]){0.1, -1e-300, 1.0 / 3});
    gb_init(g, "i", DT_I64, SHP(3), (int64_t[]){INT64_MIN, -1, INT64_MAX});
    gb_init(g, "i32", DT_I32, SHP(2), (int32_t[]){-7, 1 << 30});
    gb_init(g, "u8", DT_U8, SHP(2), (uint8_t[]){0, 255});
    gb_init(g, "b", DT_BOOL, SHP(2), (uint8_t[]){1, 0});
    gb_init(g, "h", DT_F16, SHP(2), (uint16_t[]){0x3c00, 0xfbff});
    gb_init(g, "u64", DT_U64, SHP(1), (uint64_t[]){UINT64_MAX});
    gb_init(g, "scalar", DT_F32, SHP0, (float[]){2.5f});
    gb_init(g, "empty", DT_I64, SHP(0), (int64_t[]){0});
    const char *text = arena_strdup(s->a, printed(s, g));
    assert_non_null(strstr(text, "  init   %i: i64[3] = {-9223372036854775808 -1 "
                                 "9223372036854775807}\n"));
    assert_non_null(strstr(text, "  init   %scalar: f32[] = {2.5}\n"));
    assert_non_null(strstr(text, "  init   %empty: i64[0] = {}\n"));
    assert_non_null(strstr(text, "  init   %h: f16[2] = {0x3c00 0xfbff}\n"));
    Graph *h = parse_ok(s, text);
    assert_string_equal(printed(s, h), text);
    for (int i = 0; i < g->n_values; i++) {
        const Value *a = g->values[i], *b = ir_value_find(h, a->name);
        assert_non_null(b);
        assert_int_equal(a->dtype, b->dtype);
        assert_true(shape_equal(&a->shape, &b->shape));
        size_t bytes = (size_t)shape_numel(&a->shape) * dtype_size(a->dtype);
        if (bytes) assert_memory_equal(a->data, b->data, bytes);
    }
}

static void test_large_initializers_get_the_same_deterministic_fill(void **state) {
    State *s = *state;
    const char *text = "graph main opset 17 (m.onnx)\n"
                       "  init   %w: f32[4,8]\n"
                       "  init   %k: i64[20]\n";
    Graph *g = parse_ok(s, text), *h = parse_ok(s, text);
    const float *w = ir_value_find(g, "w")->data;
    assert_memory_equal(w, ir_value_find(h, "w")->data, 32 * sizeof(float));
    int distinct = 0;
    for (int i = 0; i < 32; i++) {
        assert_true(w[i] >= -1.0f && w[i] < 1.0f);
        distinct += i && w[i] != w[i - 1];
    }
    assert_true(distinct > 20);
    const int64_t *k = ir_value_find(g, "k")->data;
    for (int i = 0; i < 20; i++)
        assert_int_equal(k[i], 0);
}

/* --- what the reader builds -------------------------------------------------- */

static void test_parse_builds_nodes_uses_outputs_and_epilogues(void **state) {
    State *s = *state;
    Graph *g = parse_ok(s, "# a comment, then a blank line\n"
                           "\n"
                           "graph g opset 11 (dir/m.onnx)\n"
                           "  input  %x: f32[N,4]\n"
                           "  init   %w: f32[2,4] = {1 2 3 4 5 6 7 8}\n"
                           "  %y: f32[N,2] = Gemm 'fc' (%x, %w, _) {transB=1} +relu\n"
                           "  %d: ?[?], %m: ?[?] = Dropout 'drop' (%y)\n"
                           "  ,  = Dropout 'nothing' (%d)\n"
                           "  %u: ?[?] = FancyOp 'fancy' (%d, %y)\n"
                           "  output %u\n"
                           "  output %y\n");
    assert_string_equal(g->name, "g");
    assert_int_equal(g->opset, 11);
    assert_int_equal(g->n_inputs, 1);
    assert_int_equal(g->n_outputs, 2);
    assert_int_equal(g->n_nodes, 4);
    Node *fc = ir_node_find(g, "fc");
    assert_int_equal(fc->op, OP_GEMM);
    assert_int_equal(fc->epilogue, EPI_RELU);
    assert_int_equal(fc->n_inputs, 3);
    assert_null(fc->inputs[2]);
    assert_ptr_equal(fc->outputs[0]->producer, fc);
    assert_int_equal(fc->outputs[0]->shape.dims[0], DIM_N);
    assert_int_equal(fc->outputs[0]->n_uses, 3); /* drop, fancy, graph output */
    assert_int_equal(ir_node_find(g, "drop")->n_outputs, 2);
    Node *nothing = ir_node_find(g, "nothing");
    assert_int_equal(nothing->n_outputs, 2);
    assert_null(nothing->outputs[0]);
    Node *fancy = ir_node_find(g, "fancy");
    assert_int_equal(fancy->op, OP_UNKNOWN);
    assert_string_equal(fancy->op_type, "FancyOp");
    assert_int_equal(ir_value_find(g, "u")->output_index, 0);
}

static void test_unknown_markers_are_accepted_and_skipped(void **state) {
    State *s = *state;
    Graph *g = parse_ok(s, "graph g opset 17 (m.onnx)\n"
                           "  input  %x: f32[2]\n"
                           "  %y: f32[2] = Relu 'r' (%x) +packed +clamp(0,6) +tanh\n"
                           "  output %y\n");
    assert_int_equal(g->nodes[0]->epilogue, EPI_TANH);
}

static void test_a_node_may_have_any_number_of_inputs(void **state) {
    State *s = *state;
    Graph *g = gb_graph(s->a, 13);
    Value *ins[100];
    for (int i = 0; i < 100; i++)
        ins[i] = gb_input(g, arena_printf(s->a, "x%d", i), DT_F32, SHP(DIM_N, 1));
    Value *y = ir_value_add(g, "y", DT_UNDEF);
    ir_attr_add(ir_node_add(g, OP_UNKNOWN, "WideOp", "wide", 100, ins, 1, &y), "axis", ATTR_INT)
        ->i = 1;
    ir_graph_add_output(g, y);
    const char *text = arena_strdup(s->a, printed(s, g));
    Graph *h = parse_ok(s, text);
    assert_int_equal(h->nodes[0]->n_inputs, 100);
    assert_string_equal(printed(s, h), text);
}

/* --- errors ------------------------------------------------------------------ */

static void expect_error(State *s, const char *text, const char *message) {
    Graph *g = (Graph *)1;
    assert_int_equal(ir_graph_parse(s->a, text, "t.ir", &g, &s->c.d), -1);
    assert_null(g);
    assert_string_equal(capture_text(&s->c), message);
}

static void test_a_use_before_definition_is_reported_with_its_line(void **state) {
    expect_error(*state,
                 "graph g opset 17 (m.onnx)\n"
                 "  input  %x: f32[2]\n"
                 "  %y: f32[2] = Add 'a' (%x, %later)\n"
                 "  output %y\n",
                 "t.ir:3: value 'later' is used before it is defined\n");
}

static void test_bad_types_counts_and_headers_are_reported(void **state) {
    State *s = *state;
    expect_error(s, "  input  %x: f32[2]\n",
                 "t.ir:1: expected 'graph NAME opset N (SOURCE)', got 'input  %x: f32[2]'\n");
    capture_close(&s->c);
    capture_open(&s->c);
    expect_error(s,
                 "graph g opset 17 (m.onnx)\n"
                 "  input  %x: q7[2]\n"
                 "  init   %w: f32[3] = {1 2}\n"
                 "  init   %w: f32[1] = {1}\n"
                 "  init   %v: i64[1] = {1.5}\n"
                 "  bogus\n",
                 "t.ir:2: unknown element type at 'q7[2]'\n"
                 "t.ir:3: fewer values than the shape of 'w' holds\n"
                 "t.ir:4: value 'w' is defined twice\n"
                 "t.ir:5: '1.5' is not an integer\n"
                 "t.ir:6: expected input, init, output or a node, got 'bogus'\n");
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_parse_of_the_fraud_golden_prints_it_identically),
        T(test_parse_of_the_classifier_golden_prints_it_identically),
        T(test_every_attribute_kind_round_trips_with_its_kind),
        T(test_small_initializers_round_trip_exactly_in_every_type),
        T(test_large_initializers_get_the_same_deterministic_fill),
        T(test_parse_builds_nodes_uses_outputs_and_epilogues),
        T(test_unknown_markers_are_accepted_and_skipped),
        T(test_a_node_may_have_any_number_of_inputs),
        T(test_a_use_before_definition_is_reported_with_its_line),
        T(test_bad_types_counts_and_headers_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
