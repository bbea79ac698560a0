/* test_rt_infer.c: rt_infer_json(), the v2 JSON request path, on the fake
 * models (fake_model.h) and on small models built here for each dtype. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_model.h"
#include "infer.h"
#include "kiln_model.h"

/* --- helpers ----------------------------------------------------------------- */

static json_t *infer_ok(const KilnModel *m, const char *body) {
    char err[RT_ERR_LEN], *text = NULL;
    size_t len = 0;
    int st = rt_infer_json(m, body, strlen(body), &text, &len, err);
    if (st != RT_STATUS_OK) fail_msg("status %d: %s", st, err);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    json_error_t jerr;
    json_t *resp = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!resp) fail_msg("response is not JSON (%s): %s", jerr.text, text);
    free(text);
    return resp;
}

/* Expects status and exactly the message want. */
static void infer_fails(const KilnModel *m, const char *body, int status, const char *want) {
    char err[RT_ERR_LEN], *text = (char *)"untouched";
    int st = rt_infer_json(m, body, strlen(body), &text, NULL, err);
    assert_null(text);
    if (st != status || strcmp(err, want) != 0)
        fail_msg("got %d \"%s\"\nwant %d \"%s\"", st, err, status, want);
}

/* Expects a 400 whose message starts with prefix. */
static void infer_fails_with_prefix(const KilnModel *m, const char *body, const char *prefix) {
    char err[RT_ERR_LEN], *text = NULL;
    int st = rt_infer_json(m, body, strlen(body), &text, NULL, err);
    assert_null(text);
    assert_int_equal(st, RT_STATUS_BAD_REQUEST);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err, prefix);
}

static json_t *output_get(json_t *resp, const char *name) {
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(resp, "outputs"), i, o) {
        if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0) return o;
    }
    fail_msg("no output '%s'", name);
    return NULL;
}

static void data_equal(json_t *output, const double *want, size_t n) {
    json_t *data = json_object_get(output, "data");
    assert_int_equal(json_array_size(data), n);
    for (size_t i = 0; i < n; i++)
        assert_float_equal(json_number_value(json_array_get(data, i)), want[i], 0);
}

static void shape_equal(json_t *output, const char *want) {
    char *got = json_dumps(json_object_get(output, "shape"), JSON_COMPACT);
    assert_string_equal(got, want);
    free(got);
}

#define X(shape, data)                                                                             \
    "{\"name\":\"x\",\"shape\":" shape ",\"datatype\":\"FP32\",\"data\":" data "}"
#define SCALE "{\"name\":\"scale\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[2]}"
#define X_GOOD X("[2,3]", "[1,2,3,6,5,4]")

/* --- the good path --------------------------------------------------------- */

static void test_infer_computes_every_output_for_flat_data(void **state) {
    (void)state;
    json_t *resp = infer_ok(&kiln_model, "{\"inputs\":[" X_GOOD "," SCALE "]}");
    assert_string_equal(json_string_value(json_object_get(resp, "model_name")), "fake");
    assert_string_equal(json_string_value(json_object_get(resp, "model_version")), "3");
    assert_null(json_object_get(resp, "id"));
    assert_int_equal(json_array_size(json_object_get(resp, "outputs")), 4);

    json_t *y = output_get(resp, "y");
    assert_string_equal(json_string_value(json_object_get(y, "datatype")), "FP32");
    shape_equal(y, "[2,3]");
    data_equal(y, (double[]){3, 5, 7, 13, 11, 9}, 6);
    assert_null(json_object_get(y, "parameters"));

    json_t *rowsum = output_get(resp, "rowsum");
    shape_equal(rowsum, "[2,1]");
    data_equal(rowsum, (double[]){15, 33}, 2);

    json_t *argmax = output_get(resp, "argmax");
    assert_string_equal(json_string_value(json_object_get(argmax, "datatype")), "INT64");
    shape_equal(argmax, "[2]");
    assert_true(json_is_integer(json_array_get(json_object_get(argmax, "data"), 0)));
    data_equal(argmax, (double[]){2, 0}, 2);

    json_t *pairs = output_get(resp, "pairs"); /* [batch, len/2]: len 3 gives 1 pair */
    shape_equal(pairs, "[2,1]");
    data_equal(pairs, (double[]){8, 24}, 2);
    json_decref(resp);
}

static void test_infer_returns_each_output_with_its_actual_shape(void **state) {
    (void)state;
    json_t *resp = infer_ok(&kiln_model, "{\"inputs\":[" X("[1,5]", "[1,2,3,4,5]") "," SCALE "]}");
    shape_equal(output_get(resp, "y"), "[1,5]");
    data_equal(output_get(resp, "y"), (double[]){3, 5, 7, 9, 11}, 5);
    shape_equal(output_get(resp, "rowsum"), "[1,1]");
    shape_equal(output_get(resp, "argmax"), "[1]");
    shape_equal(output_get(resp, "pairs"), "[1,2]");
    data_equal(output_get(resp, "pairs"), (double[]){8, 16}, 2);
    json_decref(resp);
    /* Both symbols at once, up to their maximums: batch 64, len 16. */
    char *body = malloc(1 << 16);
    assert_non_null(body);
    int n = snprintf(body, 1 << 16,
                     "{\"inputs\":[" SCALE ",{\"name\":\"x\",\"shape\":[64,16],"
                     "\"datatype\":\"FP32\",\"data\":[");
    for (int i = 0; i < 64 * 16; i++)
        n += snprintf(body + n, (size_t)(1 << 16) - (size_t)n, "%s%d", i ? "," : "", i % 7);
    snprintf(body + n, (size_t)(1 << 16) - (size_t)n, "]}]}");
    resp = infer_ok(&kiln_model, body);
    free(body);
    shape_equal(output_get(resp, "y"), "[64,16]");
    shape_equal(output_get(resp, "pairs"), "[64,8]");
    json_t *pd = json_object_get(output_get(resp, "pairs"), "data");
    assert_int_equal(json_array_size(pd), 64 * 8);
    /* pairs[0][0] = y[0] + y[1] = (0*2+1) + (1*2+1) */
    assert_float_equal(json_number_value(json_array_get(pd, 0)), 4, 0);
    json_decref(resp);
}

static void test_infer_serves_a_model_without_symbols(void **state) {
    (void)state;
    json_t *resp = infer_ok(&fake_static_model, "{\"inputs\":[" X("[2,3]", "[1,2,3,4,5,6]") "]}");
    shape_equal(output_get(resp, "y"), "[2,3]");
    data_equal(output_get(resp, "y"), (double[]){2, 4, 6, 8, 10, 12}, 6);
    json_decref(resp);
    infer_fails(&fake_static_model, "{\"inputs\":[" X("[2,4]", "[1,2,3,4,5,6,7,8]") "]}", 400,
                "input 'x' dim 1 is 4, the model expects 3");
    infer_fails(&fake_static_model, "{\"inputs\":[" X("[6]", "[1,2,3,4,5,6]") "]}", 400,
                "input 'x': shape has rank 1, expected rank 2 (model shape [2,3])");
}

static void test_infer_accepts_data_nested_to_the_shape(void **state) {
    (void)state;
    json_t *resp =
        infer_ok(&kiln_model, "{\"inputs\":[" X("[2,3]", "[[1,2,3],[6,5,4]]") "," SCALE "]}");
    data_equal(output_get(resp, "y"), (double[]){3, 5, 7, 13, 11, 9}, 6);
    json_decref(resp);
}

static void test_infer_accepts_inputs_in_any_order_and_ignores_parameters(void **state) {
    (void)state;
    json_t *resp =
        infer_ok(&kiln_model, "{\"parameters\":{\"a\":1},\"inputs\":[" SCALE "," X_GOOD "],"
                              "\"extra\":true}");
    data_equal(output_get(resp, "rowsum"), (double[]){15, 33}, 2);
    json_decref(resp);
}

static void test_infer_echoes_the_request_id(void **state) {
    (void)state;
    json_t *resp = infer_ok(&kiln_model, "{\"id\":\"req \\\"7\\\"\\n\\u00e9\",\"inputs\":[" X_GOOD
                                         "," SCALE "]}");
    assert_string_equal(json_string_value(json_object_get(resp, "id")), "req \"7\"\n\xc3\xa9");
    json_decref(resp);
}

static void test_infer_returns_only_the_selected_outputs_in_request_order(void **state) {
    (void)state;
    json_t *resp = infer_ok(&kiln_model, "{\"inputs\":[" X_GOOD "," SCALE "],"
                                         "\"outputs\":[{\"name\":\"argmax\"},{\"name\":\"y\"}]}");
    json_t *outputs = json_object_get(resp, "outputs");
    assert_int_equal(json_array_size(outputs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(outputs, 0), "name")),
                        "argmax");
    assert_string_equal(json_string_value(json_object_get(json_array_get(outputs, 1), "name")),
                        "y");
    json_decref(resp);
}

static void test_infer_treats_an_empty_outputs_array_as_all(void **state) {
    (void)state;
    json_t *resp = infer_ok(&kiln_model, "{\"inputs\":[" X_GOOD "," SCALE "],\"outputs\":[]}");
    assert_int_equal(json_array_size(json_object_get(resp, "outputs")), 4);
    json_decref(resp);
}

static void test_infer_writes_non_finite_outputs_as_null_and_counts_them(void **state) {
    (void)state;
    json_t *resp = infer_ok(&kiln_model, "{\"inputs\":[" X("[1,3]", "[3e38,0,0]") "," SCALE "]}");
    json_t *y = output_get(resp, "y");
    assert_true(json_is_null(json_array_get(json_object_get(y, "data"), 0)));
    assert_float_equal(json_number_value(json_array_get(json_object_get(y, "data"), 1)), 1, 0);
    json_t *n = json_object_get(json_object_get(y, "parameters"), "non_finite_values");
    assert_int_equal(json_integer_value(n), 1);
    assert_true(
        json_is_null(json_array_get(json_object_get(output_get(resp, "rowsum"), "data"), 0)));
    json_decref(resp);
}

static int failing_run(const void *const *in, const int64_t *const *in_shapes, void *const *out,
                       int64_t *const *out_shapes, void *ws, KilnThreadPool *pool) {
    (void)in, (void)in_shapes, (void)out, (void)out_shapes, (void)ws, (void)pool;
    return 7;
}

/* A run whose check site 4 finds an index out of range. */
static int checking_run(const void *const *in, const int64_t *const *in_shapes, void *const *out,
                        int64_t *const *out_shapes, void *ws, KilnThreadPool *pool) {
    (void)in, (void)in_shapes, (void)out, (void)out_shapes, (void)pool;
    KilnRunError *e = (KilnRunError *)ws; /* the workspace's first bytes (kiln_model.h) */
    *e = (KilnRunError){.kind = KILN_CHECK_INDEX, .value = 5, .position = 1, .size = 3};
    return 4;
}

static void test_infer_reports_a_failed_check_in_run_as_the_requests_fault(void **state) {
    (void)state;
    KilnModel m = kiln_model;
    m.run = checking_run;
    infer_fails(&m, "{\"inputs\":[" X_GOOD "," SCALE "]}", RT_STATUS_BAD_REQUEST,
                "node 'pairs' (Reshape): dim 1 of output 'pairs' (len/2): index 5 at position 1 "
                "is out of range [-3, 2]");
}

static int buggy_shapes(const int64_t *const *in, int64_t *const *out, KilnRunError *e) {
    (void)in, (void)out, (void)e;
    return 42; /* no check site: a bug */
}

static int negative_shapes(const int64_t *const *in, int64_t *const *out, KilnRunError *e) {
    int rc = kiln_model.shapes(in, out, e);
    out[3][1] = -2;
    return rc;
}

static void test_infer_reports_what_shapes_finds(void **state) {
    (void)state;
    /* len 1 is in len's range, but pairs = [batch, len/2] needs len/2 >= 1 */
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,1]", "[1,2]") "," SCALE "]}",
                RT_STATUS_BAD_REQUEST,
                "node 'pairs' (Reshape): dim 1 of output 'pairs' (len/2) is 0 at these input "
                "sizes, below 1: the inputs are too small");
    KilnModel m = kiln_model;
    m.shapes = buggy_shapes;
    infer_fails(&m, "{\"inputs\":[" X_GOOD "," SCALE "]}", RT_STATUS_INTERNAL_ERROR,
                "model 'fake' failed to run (code 42)");
    m.shapes = negative_shapes;
    infer_fails(&m, "{\"inputs\":[" X_GOOD "," SCALE "]}", RT_STATUS_INTERNAL_ERROR,
                "model 'fake' computed dim 1 of output 'pairs' as -2 (a bug in the model)");
}

static void test_infer_reports_a_failed_run_as_an_internal_error(void **state) {
    (void)state;
    KilnModel m = kiln_model;
    m.run = failing_run;
    infer_fails(&m, "{\"inputs\":[" X_GOOD "," SCALE "]}", RT_STATUS_INTERNAL_ERROR,
                "model 'fake' failed to run (code 7)");
}

static size_t overflowing_workspace_size(const int64_t *const *in_shapes) {
    (void)in_shapes;
    return SIZE_MAX; /* kiln_model.h: what generated code answers when the size overflows */
}

static size_t huge_workspace_size(const int64_t *const *in_shapes) {
    (void)in_shapes;
    return RT_WORKSPACE_MAX_BYTES + 1;
}

static void test_infer_rejects_input_sizes_whose_workspace_overflows(void **state) {
    (void)state;
    KilnModel m = kiln_model;
    m.workspace_size = overflowing_workspace_size;
    infer_fails(&m, "{\"inputs\":[" X_GOOD "," SCALE "]}", RT_STATUS_BAD_REQUEST,
                "at batch = 2, len = 3 the model needs more working memory than fits in memory; "
                "send smaller inputs");
    m.workspace_size = huge_workspace_size;
    infer_fails(&m, "{\"inputs\":[" X_GOOD "," SCALE "]}", RT_STATUS_BAD_REQUEST,
                "at batch = 2, len = 3 the model needs 16385 MiB of working memory, over the "
                "16384 MiB limit of a request; send smaller inputs");
    m = fake_static_model;
    m.workspace_size = overflowing_workspace_size;
    infer_fails(&m, "{\"inputs\":[" X("[2,3]", "[1,2,3,4,5,6]") "]}", RT_STATUS_BAD_REQUEST,
                "at the model's fixed sizes the model needs more working memory than fits in "
                "memory; send smaller inputs");
}

/* --- malformed requests ------------------------------------------------------- */

static void test_infer_rejects_text_that_is_not_json(void **state) {
    (void)state;
    infer_fails_with_prefix(&kiln_model, "{\"inputs\": [", "request is not valid JSON: ");
    infer_fails_with_prefix(&kiln_model, "", "request is not valid JSON: ");
    infer_fails_with_prefix(&kiln_model, "{\"inputs\":[]} trailing", "request is not valid JSON: ");
}

static void test_infer_rejects_nan_and_infinity_literals(void **state) {
    (void)state;
    infer_fails_with_prefix(&kiln_model, "{\"inputs\":[" X("[1,3]", "[NaN,1,2]") "," SCALE "]}",
                            "request is not valid JSON: ");
    infer_fails_with_prefix(&kiln_model,
                            "{\"inputs\":[" X("[1,3]", "[Infinity,1,2]") "," SCALE "]}",
                            "request is not valid JSON: ");
    infer_fails_with_prefix(&kiln_model, "{\"inputs\":[" X("[1,3]", "[1e999,1,2]") "," SCALE "]}",
                            "request is not valid JSON: ");
}

static void test_infer_rejects_duplicate_keys(void **state) {
    (void)state;
    infer_fails_with_prefix(&kiln_model,
                            "{\"inputs\":[{\"name\":\"x\",\"name\":\"scale\",\"shape\":[1],"
                            "\"datatype\":\"FP32\",\"data\":[1]}]}",
                            "request is not valid JSON: duplicate object key");
}

static void test_infer_rejects_a_body_that_is_not_an_object(void **state) {
    (void)state;
    infer_fails(&kiln_model, "[1,2]", 400,
                "request must be a JSON object with an \"inputs\" array");
}

static void test_infer_rejects_a_request_without_inputs(void **state) {
    (void)state;
    infer_fails_with_prefix(&kiln_model, "{\"id\":\"a\"}", "request has no \"inputs\" array");
    infer_fails_with_prefix(&kiln_model, "{\"inputs\":{}}", "request has no \"inputs\" array");
    infer_fails(&kiln_model, "{\"inputs\":[7]}", 400,
                "inputs[0] must be an object with \"name\", \"shape\", \"datatype\" and \"data\"");
    infer_fails(&kiln_model, "{\"inputs\":[{\"shape\":[1]}]}", 400,
                "inputs[0] has no \"name\" string");
}

static void test_infer_rejects_an_id_that_is_not_a_string(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"id\":5,\"inputs\":[" X_GOOD "," SCALE "]}", 400,
                "\"id\" must be a string");
}

static void test_infer_rejects_an_unknown_input(void **state) {
    (void)state;
    infer_fails(&kiln_model,
                "{\"inputs\":[" X_GOOD "," SCALE ",{\"name\":\"z\",\"shape\":[1],"
                "\"datatype\":\"FP32\",\"data\":[1]}]}",
                400, "unknown input 'z'; the model's inputs are: x, scale");
}

static void test_infer_rejects_a_missing_input(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X_GOOD "]}", 400, "missing input 'scale' (FP32 [1])");
}

static void test_infer_rejects_a_duplicate_input(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X_GOOD "," SCALE "," X_GOOD "]}", 400,
                "duplicate input 'x'");
}

static void test_infer_rejects_a_datatype_mismatch(void **state) {
    (void)state;
    infer_fails(&kiln_model,
                "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\",\"data\":[1,2,"
                "3]}," SCALE "]}",
                400, "input 'x': datatype FP64, expected FP32");
    infer_fails(&kiln_model, "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"data\":[1,2,3]}]}",
                400, "input 'x': no \"datatype\" string, expected \"FP32\"");
}

static void test_infer_rejects_a_rank_mismatch(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[6]", "[1,2,3,4,5,6]") "," SCALE "]}", 400,
                "input 'x': shape has rank 1, expected rank 2 (model shape [batch,len])");
}

static void test_infer_rejects_a_static_dim_mismatch(void **state) {
    (void)state;
    infer_fails(&kiln_model,
                "{\"inputs\":[" X_GOOD ",{\"name\":\"scale\",\"shape\":[2],\"datatype\":\"FP32\","
                "\"data\":[1,2]}]}",
                400, "input 'scale' dim 0 is 2, the model expects 1");
}

static void test_infer_rejects_a_dynamic_dim_outside_its_range(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[0,3]", "[]") "," SCALE "]}", 400,
                "input 'x' dim 0 (batch) is 0, outside the model's range [1, 64]");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[65,3]", "[]") "," SCALE "]}", 400,
                "input 'x' dim 0 (batch) is 65, outside the model's range [1, 64]");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,17]", "[1,2]") "," SCALE "]}", 400,
                "input 'x' dim 1 (len) is 17, outside the model's range [1, 16]");
    /* Before the data is counted or anything allocated. */
    infer_fails(&kiln_model, "{\"inputs\":[" X("[1000000000000,3]", "[1,2,3]") "," SCALE "]}", 400,
                "input 'x' dim 0 (batch) is 1000000000000, outside the model's range [1, 64]");
    infer_fails(&fake_text_model,
                "{\"inputs\":[{\"name\":\"tokens\",\"shape\":[1,600],\"datatype\":\"INT64\","
                "\"data\":[]}]}",
                400, "input 'tokens' dim 1 (seq) is 600, outside the model's range [1, 512]");
}

#define TOKENS(shape, data)                                                                        \
    "{\"name\":\"tokens\",\"shape\":" shape ",\"datatype\":\"INT64\",\"data\":" data "}"
#define MASK(shape, data)                                                                          \
    "{\"name\":\"mask\",\"shape\":" shape ",\"datatype\":\"FP32\",\"data\":" data "}"

static void test_infer_rejects_inputs_that_disagree_on_a_symbol(void **state) {
    (void)state;
    infer_fails(&fake_text_model,
                "{\"inputs\":[" TOKENS("[1,7]", "[1,2,3,4,5,6,7]") "," MASK("[1,9]", "[]") "]}",
                400, "input 'mask' dim 1 (seq) is 9, but input 'tokens' dim 1 gives seq = 7");
    infer_fails(&fake_text_model,
                "{\"inputs\":[" MASK("[2,1]", "[1,0]") "," TOKENS("[3,1]", "[1,2,3]") "]}", 400,
                "input 'tokens' dim 0 (batch) is 3, but input 'mask' dim 0 gives batch = 2");
}

static void test_infer_serves_batch_and_sequence_changing_at_once(void **state) {
    (void)state;
    json_t *resp = infer_ok(
        &fake_text_model, "{\"inputs\":[" TOKENS("[1,2]", "[3,4]") "," MASK("[1,2]", "[1,0]") "]}");
    shape_equal(output_get(resp, "masked"), "[1,2]");
    data_equal(output_get(resp, "masked"), (double[]){3, 0}, 2);
    shape_equal(output_get(resp, "twice"), "[1,4]");
    data_equal(output_get(resp, "twice"), (double[]){3, 3, 0, 0}, 4);
    json_decref(resp);
    resp = infer_ok(&fake_text_model,
                    "{\"inputs\":[" TOKENS("[3,1]", "[1,2,3]") "," MASK("[3,1]", "[1,1,0.5]") "]}");
    shape_equal(output_get(resp, "masked"), "[3,1]");
    data_equal(output_get(resp, "masked"), (double[]){1, 2, 1.5}, 3);
    shape_equal(output_get(resp, "twice"), "[3,2]");
    json_decref(resp);
}

static void test_infer_rejects_negative_or_non_integer_dims(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[-1,3]", "[1,2,3]") "," SCALE "]}", 400,
                "input 'x': shape[0] must be a non-negative integer (model shape [batch,len])");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[1.5,3]", "[1,2,3]") "," SCALE "]}", 400,
                "input 'x': shape[0] must be a non-negative integer (model shape [batch,len])");
    infer_fails(&kiln_model, "{\"inputs\":[" X("\"2x3\"", "[1,2,3]") "," SCALE "]}", 400,
                "input 'x': \"shape\" must be an array of 2 dims like [batch,len]");
}

static void test_infer_rejects_a_data_length_mismatch(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,3]", "[1,2,3,4,5]") "," SCALE "]}", 400,
                "input 'x': expected 6 values for shape [2,3], got 5");
    infer_fails(&kiln_model,
                "{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP32\"}]}", 400,
                "input 'x': \"data\" must be an array of 6 values (shape [2,3])");
}

static KilnModel echo_model(KilnTensorInfo io[2], int dtype);

static void test_infer_rejects_a_huge_shape_without_allocating_it(void **state) {
    (void)state;
    /* 16 TB if the shape were believed, and within the echo model's bounds
     * [1, 2^63 - 1]: a clean 400, not a malloc. */
    KilnTensorInfo io[2];
    KilnModel m = echo_model(io, KILN_DT_FLOAT);
#define V(shape, data)                                                                             \
    "{\"inputs\":[{\"name\":\"v\",\"shape\":" shape ",\"datatype\":\"FP32\",\"data\":" data "}]}"
    infer_fails(&m, V("[1000000000000,2]", "[1,2]"), 400,
                "input 'v': expected 2000000000000 values for shape [1000000000000,2], got 2");
    infer_fails(&m, V("[1000000000000,2]", "[[1,2]]"), 400,
                "input 'v': data has 1 items, expected 1000000000000 (shape [1000000000000,2])");
    infer_fails(&m, V("[9223372036854775807,2]", "[1,2]"), 400,
                "input 'v': expected 18446744073709551614 values for shape "
                "[9223372036854775807,2], got 2");
    /* v [n,n]: a product past 2^64 */
    static const int64_t sq_shape[] = {-1, -1}, sq_min[] = {1, 1},
                         sq_max[] = {INT64_MAX, INT64_MAX};
    static const int sq_sym[] = {0, 0};
    io[0] = (KilnTensorInfo){"v", KILN_DT_FLOAT, 2, sq_shape, sq_min, sq_max, sq_sym, NULL};
    infer_fails(&m, V("[9223372036854775807,9223372036854775807]", "[1,2]"), 400,
                "input 'v': shape [9223372036854775807,9223372036854775807] has too many "
                "elements");
    infer_fails(&m, V("[3,2]", "[1,2]"), 400,
                "input 'v' dim 1 (n) is 2, but input 'v' dim 0 gives n = 3");
#undef V
}

static void test_infer_rejects_a_string_in_float_data(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,3]", "[1,\"2\",3,4,5,6]") "," SCALE "]}", 400,
                "input 'x': data[1] is a string, expected a number (FP32)");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,3]", "[[1,2,3],[4,null,6]]") "," SCALE "]}", 400,
                "input 'x': data[1][1] is null, expected a number (FP32)");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[1,3]", "[1,true,3]") "," SCALE "]}", 400,
                "input 'x': data[1] is true, expected a number (FP32)");
}

static void test_infer_rejects_a_float_beyond_the_fp32_range(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[1,3]", "[1,1e39,3]") "," SCALE "]}", 400,
                "input 'x': data[1] is 1e+39, out of range for FP32");
}

static void test_infer_rejects_ragged_nested_data(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,3]", "[[1,2,3],[4,5]]") "," SCALE "]}", 400,
                "input 'x': data[1] has 2 items, expected 3 (shape [2,3])");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,3]", "[[1,2,3],7]") "," SCALE "]}", 400,
                "input 'x': data[1] is not an array; nested data must follow shape [2,3]");
}

static void test_infer_rejects_nesting_deeper_than_the_rank(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[1,3]", "[[[1],[2],[3]]]") "," SCALE "]}", 400,
                "input 'x': data[0][0] is nested deeper than the input's rank 2 (shape [1,3])");
    infer_fails(&kiln_model,
                "{\"inputs\":[" X_GOOD ",{\"name\":\"scale\",\"shape\":[1],\"datatype\":\"FP32\","
                "\"data\":[[2]]}]}",
                400,
                "input 'scale': data[0] is an array; send a flat array of 1 values or arrays "
                "nested to match shape [1]");
}

static void test_infer_rejects_an_unknown_or_repeated_output(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X_GOOD "," SCALE "],\"outputs\":[{\"name\":\"z\"}]}",
                400, "unknown output 'z'; the model's outputs are: y, rowsum, argmax, pairs");
    infer_fails(&kiln_model,
                "{\"inputs\":[" X_GOOD "," SCALE
                "],\"outputs\":[{\"name\":\"y\"},{\"name\":\"y\"}]}",
                400, "output 'y' is requested twice");
    infer_fails(&kiln_model, "{\"inputs\":[" X_GOOD "," SCALE "],\"outputs\":[\"y\"]}", 400,
                "outputs[0] must be an object with a \"name\"");
}

/* --- other dtypes and shapes, on models built here ------------------------------- */

/* The echo model: one symbol n [1, 2^63 - 1]; input "v" and output "w"
 * of one dtype and shape [n,2]; w = v. */
static const int64_t pair_shape[] = {-1, 2}, pair_min[] = {1, 2}, pair_max[] = {INT64_MAX, 2};
static const int pair_sym[] = {0, -1};
static const char *const pair_dims[] = {"n", "2"};
static const KilnSymbol echo_syms[] = {{"n", 1, INT64_MAX}};
static size_t echo_elem; /* element size of the echo model's dtype */

static int echo_shapes(const int64_t *const *in, int64_t *const *out, KilnRunError *e) {
    (void)e;
    if (out) out[0][0] = in[0][0], out[0][1] = 2;
    return 0;
}

static size_t echo_workspace_size(const int64_t *const *in_shapes) {
    (void)in_shapes;
    return 0;
}

static int echo_run(const void *const *in, const int64_t *const *in_shapes, void *const *out,
                    int64_t *const *out_shapes, void *ws, KilnThreadPool *pool) {
    (void)pool, (void)out_shapes;
    if (!ws || (uintptr_t)ws % 64) return 2;
    memcpy(out[0], in[0], (size_t)in_shapes[0][0] * 2 * echo_elem);
    return 0;
}

/* A model with input "v" and output "w" of dtype and shape [n,2]; w = v. */
static KilnModel echo_model(KilnTensorInfo io[2], int dtype) {
    io[0] = (KilnTensorInfo){"v", dtype, 2, pair_shape, pair_min, pair_max, pair_sym, pair_dims};
    io[1] = (KilnTensorInfo){"w", dtype, 2, pair_shape, pair_min, pair_max, pair_sym, pair_dims};
    echo_elem = kiln_dtype_size(dtype);
    return (KilnModel){.abi_version = KILN_ABI_VERSION,
                       .name = "echo",
                       .version = "1",
                       .n_inputs = 1,
                       .n_outputs = 1,
                       .inputs = &io[0],
                       .outputs = &io[1],
                       .n_syms = 1,
                       .syms = echo_syms,
                       .shapes = echo_shapes,
                       .workspace_size = echo_workspace_size,
                       .run = echo_run};
}

static char *echo_request(char *buf, size_t n, const char *dtype, const char *data) {
    snprintf(buf, n,
             "{\"inputs\":[{\"name\":\"v\",\"shape\":[1,2],\"datatype\":\"%s\","
             "\"data\":%s}]}",
             dtype, data);
    return buf;
}

static void test_infer_round_trips_every_integer_type_at_its_limits(void **state) {
    (void)state;
    static const struct {
        int dtype;
        const char *name, *data;
    } cases[] = {
        {KILN_DT_INT8, "INT8", "[-128,127]"},
        {KILN_DT_UINT8, "UINT8", "[0,255]"},
        {KILN_DT_INT16, "INT16", "[-32768,32767]"},
        {KILN_DT_UINT16, "UINT16", "[0,65535]"},
        {KILN_DT_INT32, "INT32", "[-2147483648,2147483647]"},
        {KILN_DT_UINT32, "UINT32", "[0,4294967295]"},
        {KILN_DT_INT64, "INT64", "[-9223372036854775808,9223372036854775807]"},
        {KILN_DT_UINT64, "UINT64", "[0,9223372036854775807]"},
        {KILN_DT_BOOL, "BOOL", "[true,false]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        KilnTensorInfo io[2];
        KilnModel m = echo_model(io, cases[i].dtype);
        char req[256];
        json_t *resp = infer_ok(&m, echo_request(req, sizeof req, cases[i].name, cases[i].data));
        json_t *w = output_get(resp, "w");
        assert_string_equal(json_string_value(json_object_get(w, "datatype")), cases[i].name);
        char *data = json_dumps(json_object_get(w, "data"), JSON_COMPACT);
        assert_string_equal(data, cases[i].data);
        free(data);
        json_decref(resp);
    }
}

static void test_infer_rejects_integers_out_of_range_or_with_fractions(void **state) {
    (void)state;
    KilnTensorInfo io[2];
    char req[256];
    KilnModel m = echo_model(io, KILN_DT_UINT8);
    infer_fails(&m, echo_request(req, sizeof req, "UINT8", "[1,256]"), 400,
                "input 'v': data[1] is 256, out of range for UINT8 [0, 255]");
    infer_fails(&m, echo_request(req, sizeof req, "UINT8", "[-1,2]"), 400,
                "input 'v': data[0] is -1, out of range for UINT8 [0, 255]");
    m = echo_model(io, KILN_DT_INT8);
    infer_fails(&m, echo_request(req, sizeof req, "INT8", "[-129,0]"), 400,
                "input 'v': data[0] is -129, out of range for INT8 [-128, 127]");
    m = echo_model(io, KILN_DT_INT64);
    infer_fails(&m, echo_request(req, sizeof req, "INT64", "[2.5,1]"), 400,
                "input 'v': data[0] is 2.5, expected an integer (INT64)");
    infer_fails(&m, echo_request(req, sizeof req, "INT64", "[1,\"2\"]"), 400,
                "input 'v': data[1] is a string, expected an integer (INT64)");
}

static void test_infer_rejects_anything_but_true_and_false_for_bool(void **state) {
    (void)state;
    KilnTensorInfo io[2];
    char req[256];
    KilnModel m = echo_model(io, KILN_DT_BOOL);
    infer_fails(&m, echo_request(req, sizeof req, "BOOL", "[1,0]"), 400,
                "input 'v': data[0] is 1, expected true or false (BOOL)");
}

static void test_infer_round_trips_float32_exactly(void **state) {
    (void)state;
    KilnTensorInfo io[2];
    char req[256];
    KilnModel m = echo_model(io, KILN_DT_FLOAT);
    json_t *resp =
        infer_ok(&m, echo_request(req, sizeof req, "FP32", "[0.1,3.4028234663852886e38]"));
    json_t *data = json_object_get(output_get(resp, "w"), "data");
    assert_true((float)json_number_value(json_array_get(data, 0)) == 0.1f);
    assert_true((float)json_number_value(json_array_get(data, 1)) == FLT_MAX);
    json_decref(resp);
    /* FLT_MAX as printed with 9 digits is a little above FLT_MAX, and is accepted. */
    resp = infer_ok(&m, echo_request(req, sizeof req, "FP32", "[3.40282347e+38,1.40129846e-45]"));
    data = json_object_get(output_get(resp, "w"), "data");
    assert_true((float)json_number_value(json_array_get(data, 0)) == FLT_MAX);
    assert_true((float)json_number_value(json_array_get(data, 1)) > 0);
    json_decref(resp);
}

static void test_infer_round_trips_float64_and_float16(void **state) {
    (void)state;
    KilnTensorInfo io[2];
    char req[256];
    KilnModel m = echo_model(io, KILN_DT_DOUBLE);
    json_t *resp = infer_ok(&m, echo_request(req, sizeof req, "FP64", "[0.1,-1e300]"));
    json_t *data = json_object_get(output_get(resp, "w"), "data");
    assert_true(json_number_value(json_array_get(data, 0)) == 0.1);
    assert_true(json_number_value(json_array_get(data, 1)) == -1e300);
    json_decref(resp);

    m = echo_model(io, KILN_DT_FLOAT16);
    resp = infer_ok(&m, echo_request(req, sizeof req, "FP16", "[0.1,-65504]"));
    data = json_object_get(output_get(resp, "w"), "data");
    assert_float_equal(json_number_value(json_array_get(data, 0)), 0.0999755859375, 1e-6);
    assert_true(json_number_value(json_array_get(data, 1)) == -65504);
    json_decref(resp);
    infer_fails(&m, echo_request(req, sizeof req, "FP16", "[70000,1]"), 400,
                "input 'v': data[0] is 70000, out of range for FP16 [-65504, 65504]");
}

static const int64_t big_shape[] = {-1, (int64_t)1 << 28}; /* 1 GiB of FP32 per row */
static const int64_t big_max[] = {INT64_MAX, (int64_t)1 << 28};
static const int64_t one_shape[] = {-1, 1}, one_min[] = {1, 1}, one_max[] = {INT64_MAX, 1};

static int big_shapes(const int64_t *const *in, int64_t *const *out, KilnRunError *e) {
    (void)e;
    if (out) out[0][0] = in[0][0], out[0][1] = (int64_t)1 << 28;
    return 0;
}

static void test_infer_rejects_input_sizes_whose_output_exceeds_the_tensor_limit(void **state) {
    (void)state;
    KilnTensorInfo in = {"v", KILN_DT_FLOAT, 2, one_shape, one_min, one_max, pair_sym, pair_dims},
                   out = {"big", KILN_DT_FLOAT, 2, big_shape, one_min, big_max, pair_sym, NULL};
    KilnModel m = {.abi_version = KILN_ABI_VERSION,
                   .name = "big",
                   .version = "1",
                   .n_inputs = 1,
                   .n_outputs = 1,
                   .inputs = &in,
                   .outputs = &out,
                   .n_syms = 1,
                   .syms = echo_syms,
                   .shapes = big_shapes,
                   .workspace_size = echo_workspace_size,
                   .run = failing_run};
    infer_fails(
        &m, "{\"inputs\":[{\"name\":\"v\",\"shape\":[2,1],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
        400,
        "output 'big' would have shape [2,268435456], over the 1024 MiB limit of a tensor; send "
        "smaller inputs");
}

static void test_infer_error_json_escapes_the_message(void **state) {
    (void)state;
    size_t len = 0;
    char *text = rt_infer_error_json("input 'x': \"bad\"\n", &len);
    assert_string_equal(text, "{\"error\":\"input 'x': \\\"bad\\\"\\n\"}");
    assert_int_equal(len, strlen(text));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infer_computes_every_output_for_flat_data),
        cmocka_unit_test(test_infer_accepts_data_nested_to_the_shape),
        cmocka_unit_test(test_infer_accepts_inputs_in_any_order_and_ignores_parameters),
        cmocka_unit_test(test_infer_echoes_the_request_id),
        cmocka_unit_test(test_infer_returns_only_the_selected_outputs_in_request_order),
        cmocka_unit_test(test_infer_treats_an_empty_outputs_array_as_all),
        cmocka_unit_test(test_infer_writes_non_finite_outputs_as_null_and_counts_them),
        cmocka_unit_test(test_infer_reports_a_failed_run_as_an_internal_error),
        cmocka_unit_test(test_infer_rejects_input_sizes_whose_workspace_overflows),
        cmocka_unit_test(test_infer_returns_each_output_with_its_actual_shape),
        cmocka_unit_test(test_infer_serves_a_model_without_symbols),
        cmocka_unit_test(test_infer_reports_a_failed_check_in_run_as_the_requests_fault),
        cmocka_unit_test(test_infer_reports_what_shapes_finds),
        cmocka_unit_test(test_infer_rejects_text_that_is_not_json),
        cmocka_unit_test(test_infer_rejects_nan_and_infinity_literals),
        cmocka_unit_test(test_infer_rejects_duplicate_keys),
        cmocka_unit_test(test_infer_rejects_a_body_that_is_not_an_object),
        cmocka_unit_test(test_infer_rejects_a_request_without_inputs),
        cmocka_unit_test(test_infer_rejects_an_id_that_is_not_a_string),
        cmocka_unit_test(test_infer_rejects_an_unknown_input),
        cmocka_unit_test(test_infer_rejects_a_missing_input),
        cmocka_unit_test(test_infer_rejects_a_duplicate_input),
        cmocka_unit_test(test_infer_rejects_a_datatype_mismatch),
        cmocka_unit_test(test_infer_rejects_a_rank_mismatch),
        cmocka_unit_test(test_infer_rejects_a_static_dim_mismatch),
        cmocka_unit_test(test_infer_rejects_negative_or_non_integer_dims),
        cmocka_unit_test(test_infer_rejects_a_data_length_mismatch),
        cmocka_unit_test(test_infer_rejects_a_huge_shape_without_allocating_it),
        cmocka_unit_test(test_infer_rejects_a_string_in_float_data),
        cmocka_unit_test(test_infer_rejects_a_float_beyond_the_fp32_range),
        cmocka_unit_test(test_infer_rejects_ragged_nested_data),
        cmocka_unit_test(test_infer_rejects_nesting_deeper_than_the_rank),
        cmocka_unit_test(test_infer_rejects_an_unknown_or_repeated_output),
        cmocka_unit_test(test_infer_round_trips_every_integer_type_at_its_limits),
        cmocka_unit_test(test_infer_rejects_integers_out_of_range_or_with_fractions),
        cmocka_unit_test(test_infer_rejects_anything_but_true_and_false_for_bool),
        cmocka_unit_test(test_infer_round_trips_float32_exactly),
        cmocka_unit_test(test_infer_round_trips_float64_and_float16),
        cmocka_unit_test(test_infer_rejects_input_sizes_whose_output_exceeds_the_tensor_limit),
        cmocka_unit_test(test_infer_rejects_a_dynamic_dim_outside_its_range),
        cmocka_unit_test(test_infer_rejects_inputs_that_disagree_on_a_symbol),
        cmocka_unit_test(test_infer_serves_batch_and_sequence_changing_at_once),
        cmocka_unit_test(test_infer_error_json_escapes_the_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
