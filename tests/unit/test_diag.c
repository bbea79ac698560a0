/* test_diag.c: diagnostics (compiler/ir/diag.c).
 *
 * Messages are captured with open_memstream and compared word for word:
 * they are part of kiln's interface (golden tests and users read them).
 */
#include "fixture.h"

/* A node 'fc1' (Gemm) in a graph read from fraud.onnx. */
static Node *gemm_node(Arena *a, const char *path) {
    Graph *g = ir_graph_create(a, path);
    Value *x = ir_value_add(g, "x", DT_F32), *w = ir_value_add(g, "w", DT_F32);
    Value *y = ir_value_add(g, "y", DT_F32);
    Value *in[] = {x, w};
    return ir_node_add(g, OP_GEMM, NULL, "fc1", 2, in, 1, &y);
}

static void test_diag_starts_empty_with_exit_code_ok(void **state) {
    State *s = *state;
    assert_int_equal(diag_count(&s->c.d), 0);
    assert_int_equal(s->c.d.exit_code, EXIT_OK);
    assert_string_equal(capture_text(&s->c), "");
}

static void test_diag_node_names_file_node_and_op(void **state) {
    State *s = *state;
    Node *n = gemm_node(s->a, "fraud.onnx");
    diag_node(&s->c.d, n, "input 'B' has rank %d, expected %d", 3, 2);
    assert_string_equal(capture_text(&s->c),
                        "fraud.onnx: node 'fc1' (Gemm): input 'B' has rank 3, expected 2\n");
    assert_int_equal(diag_count(&s->c.d), 1);
    assert_int_equal(s->c.d.exit_code, EXIT_MODEL);
}

static void test_diag_node_uses_the_op_type_as_written_in_the_model(void **state) {
    State *s = *state;
    Graph *g = ir_graph_create(s->a, "m.onnx");
    Value *x = ir_value_add(g, "x", DT_F32), *y = ir_value_add(g, "y", DT_F32);
    Node *n = ir_node_add(g, OP_UNKNOWN, "FancyOp", "FancyOp_3", 1, &x, 1, &y);
    diag_node(&s->c.d, n, "op '%s' is not supported", n->op_type);
    assert_string_equal(capture_text(&s->c),
                        "m.onnx: node 'FancyOp_3' (FancyOp): op 'FancyOp' is not supported\n");
}

static void test_diag_hint_goes_under_the_error_and_is_not_counted(void **state) {
    State *s = *state;
    Node *n = gemm_node(s->a, "fraud.onnx");
    diag_node(&s->c.d, n, "weight '%s' has rank 3, expected 4", "W");
    diag_hint(&s->c.d, "re-export the model with opset >= %d", 11);
    assert_string_equal(capture_text(&s->c),
                        "fraud.onnx: node 'fc1' (Gemm): weight 'W' has rank 3, expected 4\n"
                        "  hint: re-export the model with opset >= 11\n");
    assert_int_equal(diag_count(&s->c.d), 1);
}

static void test_diag_file_prefixes_the_path_and_is_a_model_error(void **state) {
    State *s = *state;
    diag_file(&s->c.d, "bad.onnx", "not a valid ONNX protobuf");
    diag_file(&s->c.d, NULL, "no path");
    assert_string_equal(capture_text(&s->c), "bad.onnx: not a valid ONNX protobuf\n"
                                             "kiln: no path\n");
    assert_int_equal(diag_count(&s->c.d), 2);
    assert_int_equal(s->c.d.exit_code, EXIT_MODEL);
}

static void test_diag_usage_and_env_messages_start_with_kiln(void **state) {
    State *s = *state;
    diag_usage(&s->c.d, "unknown flag '%s'", "--frob");
    diag_env(&s->c.d, "no linker found");
    assert_string_equal(capture_text(&s->c), "kiln: unknown flag '--frob'\n"
                                             "kiln: no linker found\n");
    assert_int_equal(diag_count(&s->c.d), 2);
}

static void test_diag_exit_code_is_the_worst_class_seen(void **state) {
    State *s = *state;
    Diag *d = &s->c.d;
    Node *n = gemm_node(s->a, "m.onnx");
    diag_node(d, n, "model fault");
    assert_int_equal(d->exit_code, EXIT_MODEL);
    diag_usage(d, "usage fault");
    assert_int_equal(d->exit_code, EXIT_USAGE);
    diag_node(d, n, "another model fault"); /* a milder one does not lower it */
    assert_int_equal(d->exit_code, EXIT_USAGE);
    diag_env(d, "environment fault");
    assert_int_equal(d->exit_code, EXIT_ENV);
    diag_usage(d, "usage again");
    diag_file(d, "m.onnx", "model again");
    assert_int_equal(d->exit_code, EXIT_ENV);
    assert_int_equal(diag_count(d), 6);
}

static void test_diag_exit_code_usage_beats_model_in_either_order(void **state) {
    State *s = *state;
    Diag d;
    diag_init(&d, s->c.f);
    diag_usage(&d, "usage fault");
    diag_file(&d, "m.onnx", "model fault");
    assert_int_equal(d.exit_code, EXIT_USAGE);
    diag_init(&d, s->c.f); /* re-init resets the counters */
    assert_int_equal(diag_count(&d), 0);
    assert_int_equal(d.exit_code, EXIT_OK);
    diag_file(&d, "m.onnx", "model fault");
    diag_usage(&d, "usage fault");
    assert_int_equal(d.exit_code, EXIT_USAGE);
}

static void test_diag_null_is_allowed_and_drops_everything(void **state) {
    State *s = *state;
    Node *n = gemm_node(s->a, "m.onnx");
    diag_node(NULL, n, "dropped %d", 1);
    diag_file(NULL, "m.onnx", "dropped");
    diag_usage(NULL, "dropped");
    diag_env(NULL, "dropped");
    diag_hint(NULL, "dropped");
    assert_int_equal(diag_count(NULL), 0);
}

static void test_diag_init_with_null_stream_writes_to_stderr(void **state) {
    (void)state;
    Diag d;
    diag_init(&d, NULL);
    assert_ptr_equal(d.out, stderr);
    assert_int_equal(diag_count(&d), 0);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_diag_starts_empty_with_exit_code_ok),
        T(test_diag_node_names_file_node_and_op),
        T(test_diag_node_uses_the_op_type_as_written_in_the_model),
        T(test_diag_hint_goes_under_the_error_and_is_not_counted),
        T(test_diag_file_prefixes_the_path_and_is_a_model_error),
        T(test_diag_usage_and_env_messages_start_with_kiln),
        T(test_diag_exit_code_is_the_worst_class_seen),
        T(test_diag_exit_code_usage_beats_model_in_either_order),
        T(test_diag_null_is_allowed_and_drops_everything),
        T(test_diag_init_with_null_stream_writes_to_stderr),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
