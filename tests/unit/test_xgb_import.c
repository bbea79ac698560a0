/* test_xgb_import.c: XGBoost JSON -> IR (frontends/xgboost/xgb_import.c).
 *
 * Each test writes a tiny hand-made model (the shape XGBoost 1.7's
 * save_model("m.json") gives it) and checks the IR dump word for word, or
 * the one diagnostic a broken field gets.
 */
#include "fixture.h"
#include "frontends.h"

/* A model around `trees` (the JSON of the trees array) and `tree_info`. */
static const char *model_json(Arena *a, const char *objective, const char *num_class,
                              const char *base_score, const char *booster, const char *trees,
                              const char *tree_info, int n_trees) {
    return arena_printf(
        a,
        "{\"learner\": {\"attributes\": {}, \"feature_names\": [], \"feature_types\": [],\n"
        " \"gradient_booster\": {\"model\": {\"gbtree_model_param\": {\"num_parallel_tree\": "
        "\"1\", \"num_trees\": \"%d\", \"size_leaf_vector\": \"0\"},\n"
        "   \"tree_info\": %s, \"trees\": %s}, \"name\": \"%s\"},\n"
        " \"learner_model_param\": {\"base_score\": \"%s\", \"boost_from_average\": \"1\", "
        "\"num_class\": \"%s\", \"num_feature\": \"3\", \"num_target\": \"1\"},\n"
        " \"objective\": {\"name\": \"%s\", \"reg_loss_param\": {\"scale_pos_weight\": \"1\"}}},\n"
        " \"version\": [1, 7, 4]}\n",
        n_trees, tree_info, trees, booster, base_score, num_class, objective);
}

/* Tree 0: x1 < 0.5 (missing left) ? 0.25 : (x0 < -1 (missing right) ? -0.5 : 0.75);
 * tree 1: one leaf, 0.125. */
static const char *const TWO_TREES =
    "[{\"base_weights\": [0, 1, 0, -2, 3], \"categories\": [], \"categories_nodes\": [],\n"
    "  \"categories_segments\": [], \"categories_sizes\": [], \"default_left\": [1, 0, 0, 0, 0],\n"
    "  \"id\": 0, \"left_children\": [1, -1, 3, -1, -1], \"loss_changes\": [1, 0, 1, 0, 0],\n"
    "  \"parents\": [2147483647, 0, 0, 2, 2], \"right_children\": [2, -1, 4, -1, -1],\n"
    "  \"split_conditions\": [0.5, 0.25, -1, -0.5, 0.75], \"split_indices\": [1, 0, 0, 0, 0],\n"
    "  \"split_type\": [0, 0, 0, 0, 0], \"sum_hessian\": [5, 2, 3, 1, 2],\n"
    "  \"tree_param\": {\"num_deleted\": \"0\", \"num_feature\": \"3\", \"num_nodes\": \"5\",\n"
    "  \"size_leaf_vector\": \"0\"}},\n"
    " {\"base_weights\": [0.5], \"categories\": [], \"categories_nodes\": [],\n"
    "  \"categories_segments\": [], \"categories_sizes\": [], \"default_left\": [0], \"id\": 1,\n"
    "  \"left_children\": [-1], \"loss_changes\": [0], \"parents\": [2147483647],\n"
    "  \"right_children\": [-1], \"split_conditions\": [0.125], \"split_indices\": [0],\n"
    "  \"split_type\": [0], \"sum_hessian\": [5], \"tree_param\": {\"num_deleted\": \"0\",\n"
    "  \"num_feature\": \"3\", \"num_nodes\": \"1\", \"size_leaf_vector\": \"0\"}}]";

/* Loads text as path m.json; returns the IR dump, or NULL with the
 * diagnostics in s->c. */
static const char *load(State *s, const char *text, const OnnxPin *pins, int n_pins) {
    Graph *g = NULL;
    OnnxShapeFlags flags = {pins, n_pins, NULL, 0};
    int rc = model_load(s->a, "m.json", (const uint8_t *)text, strlen(text), &flags, &g, &s->c.d);
    if (rc != 0) {
        assert_null(g);
        return NULL;
    }
    assert_non_null(g);
    assert_int_equal(diag_count(&s->c.d), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ir_graph_print(g, f);
    fclose(f);
    const char *out = arena_strdup(s->a, buf);
    free(buf);
    return out;
}

static void test_xgb_binary_logistic_becomes_a_tree_ensemble_classifier(void **state) {
    State *s = *state;
    const char *ir =
        load(s, model_json(s->a, "binary:logistic", "0", "5E-1", "gbtree", TWO_TREES, "[0, 0]", 2),
             NULL, 0);
    assert_non_null(ir);
    assert_string_equal(
        ir, "graph xgboost opset 17 (m.json)\n"
            "  input  %input: f32[batch,3]\n"
            "  %label: i64[batch], %probabilities: f32[batch,2] = TreeEnsembleClassifier 'gbtree' "
            "(%input) "
            "{nodes_treeids=[0,0,0,0,0,1], nodes_nodeids=[0,1,2,3,4,0], "
            "nodes_featureids=[1,0,0,0,0,0], nodes_values=[0.5,0.0,-1.0,0.0,0.0,0.0], "
            "nodes_modes=[\"BRANCH_LT\",\"LEAF\",\"BRANCH_LT\",\"LEAF\",\"LEAF\",\"LEAF\"], "
            "nodes_truenodeids=[1,0,3,0,0,0], nodes_falsenodeids=[2,0,4,0,0,0], "
            "nodes_missing_value_tracks_true=[1,0,0,0,0,0], class_treeids=[0,0,0,1], "
            "class_nodeids=[1,3,4,0], class_ids=[0,0,0,0], class_weights=[0.25,-0.5,0.75,0.125], "
            "classlabels_int64s=[0,1], base_values=[0.0], post_transform=\"LOGISTIC\"}\n"
            "  output %label\n"
            "  output %probabilities\n");
}

static void test_xgb_base_score_goes_into_margin_space_for_logistic_objectives(void **state) {
    State *s = *state;
    /* logit(0.2) = ln(0.25) = -1.3862944 */
    const char *ir =
        load(s, model_json(s->a, "reg:logistic", "0", "2E-1", "gbtree", TWO_TREES, "[0, 0]", 2),
             NULL, 0);
    assert_non_null(ir);
    assert_non_null(strstr(ir, "%margin: f32[batch,1] = TreeEnsembleRegressor 'gbtree' (%input)"));
    assert_non_null(strstr(ir, "target_weights=[0.25,-0.5,0.75,0.125], n_targets=1, "
                               "aggregate_function=\"SUM\", base_values=[-1.3862944], "
                               "post_transform=\"NONE\"}\n"
                               "  %prediction: f32[batch,1] = Sigmoid 'sigmoid' (%margin)\n"
                               "  output %prediction\n"));
    ir =
        load(s, model_json(s->a, "reg:squarederror", "0", "2E-1", "gbtree", TWO_TREES, "[0, 0]", 2),
             NULL, 0);
    assert_non_null(
        strstr(ir, "%prediction: f32[batch,1] = TreeEnsembleRegressor 'gbtree' (%input)"));
    assert_non_null(strstr(ir, "base_values=[0.2], post_transform=\"NONE\"}\n  output"));
}

static void test_xgb_multi_class_trees_add_to_the_class_in_tree_info(void **state) {
    State *s = *state;
    const char *ir =
        load(s, model_json(s->a, "multi:softprob", "3", "5E-1", "gbtree", TWO_TREES, "[2, 1]", 2),
             NULL, 0);
    assert_non_null(ir);
    assert_non_null(strstr(ir, "%probabilities: f32[batch,3]"));
    assert_non_null(strstr(ir, "class_ids=[2,2,2,1]"));
    assert_non_null(strstr(ir, "classlabels_int64s=[0,1,2], base_values=[0.5,0.5,0.5], "
                               "post_transform=\"SOFTMAX\"}"));
}

static void test_xgb_input_pin_sets_the_batch(void **state) {
    State *s = *state;
    OnnxPin pin = {"input", 2, {4, 3}, {4, 3}};
    const char *ir =
        load(s, model_json(s->a, "binary:logistic", "0", "5E-1", "gbtree", TWO_TREES, "[0, 0]", 2),
             &pin, 1);
    assert_non_null(strstr(ir, "input  %input: f32[4,3]"));
    OnnxPin bad = {"input", 2, {4, 5}, {4, 5}};
    assert_null(
        load(s, model_json(s->a, "binary:logistic", "0", "5E-1", "gbtree", TWO_TREES, "[0, 0]", 2),
             &bad, 1));
    assert_int_equal(s->c.d.exit_code, EXIT_USAGE);
}

/* One broken field: exit class 1 and a message naming file and field. */
static void expect_error(State *s, const char *text, const char *msg) {
    capture_reset(&s->c);
    assert_null(load(s, text, NULL, 0));
    assert_int_equal(s->c.d.exit_code, EXIT_MODEL);
    const char *got = capture_text(&s->c);
    if (!strstr(got, msg)) fail_msg("expected \"%s\" in:\n%s", msg, got);
}

static void test_xgb_bad_fields_are_named(void **state) {
    State *s = *state;
    const char *T = "learner.gradient_booster.model.trees";
    /* A cycle: node 4 (was a leaf) points back to the root and to node 2. */
    char *cycle = arena_strdup(s->a, TWO_TREES);
    memcpy(strstr(cycle, "[1, -1, 3, -1, -1]"), "[1, -1, 3, -1,  2]", 18);
    memcpy(strstr(cycle, "[2, -1, 4, -1, -1]"), "[2, -1, 4, -1,  0]", 18);
    expect_error(s, model_json(s->a, "binary:logistic", "0", "5E-1", "gbtree", cycle, "[0, 0]", 2),
                 arena_printf(s->a,
                              "m.json: %s[0].right_children[4]: node 0 is reached twice (a cycle "
                              "or a shared subtree)",
                              T));
    expect_error(s, model_json(s->a, "binary:hinge", "0", "5E-1", "gbtree", TWO_TREES, "[0, 0]", 2),
                 "m.json: learner.objective.name: objective \"binary:hinge\" is not supported\n"
                 "  hint: kiln compiles binary:logistic, multi:softprob, multi:softmax, "
                 "reg:squarederror and reg:logistic models\n");
    expect_error(
        s, model_json(s->a, "binary:logistic", "0", "5E-1", "gblinear", TWO_TREES, "[0, 0]", 2),
        "m.json: learner.gradient_booster.name: booster \"gblinear\" is not supported");
    expect_error(s,
                 model_json(s->a, "binary:logistic", "0", "5E-1", "gbtree", TWO_TREES, "[0, 0]", 3),
                 arena_printf(s->a,
                              "m.json: %s: has 2 trees, but gbtree_model_param.num_trees "
                              "is 3\n",
                              T));
    expect_error(s,
                 model_json(s->a, "multi:softmax", "2", "5E-1", "gbtree", TWO_TREES, "[0, 2]", 2),
                 "m.json: learner.gradient_booster.model.tree_info[1]: 2 is out of range [0, 1]");
    expect_error(s, "{\"learner\": 1,", "m.json: not valid JSON (line 1, column 14:");
    expect_error(s, "  [1]", "m.json: the top level: is an array, expected an object");
}

static void test_xgb_format_is_detected_by_content(void **state) {
    (void)state;
    assert_int_equal(model_format_detect((const uint8_t *)" \n\t{", 4), MODEL_XGBOOST_JSON);
    assert_int_equal(model_format_detect((const uint8_t *)"\x08\x07\x12", 3), MODEL_ONNX);
    assert_int_equal(model_format_detect((const uint8_t *)"", 0), MODEL_ONNX);
    assert_int_equal(model_format_detect((const uint8_t *)"   ", 3), MODEL_ONNX);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_xgb_binary_logistic_becomes_a_tree_ensemble_classifier,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_xgb_base_score_goes_into_margin_space_for_logistic_objectives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xgb_multi_class_trees_add_to_the_class_in_tree_info,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_xgb_input_pin_sets_the_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xgb_bad_fields_are_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xgb_format_is_detected_by_content, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
