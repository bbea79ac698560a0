/* test_rt_infer.c: rt_infer_json(), the v2 JSON request path, on the fake
 * model (fake_model.c) and on small models built here for each dtype. */
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
    assert_int_equal(json_array_size(json_object_get(resp, "outputs")), 3);

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
    json_decref(resp);
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
    assert_int_equal(json_array_size(json_object_get(resp, "outputs")), 3);
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

static int failing_run(const void *const *in, void *const *out, void *ws, int64_t batch,
                       KilnThreadPool *pool) {
    (void)in, (void)out, (void)ws, (void)batch, (void)pool;
    return 7;
}

static void test_infer_reports_a_failed_run_as_an_internal_error(void **state) {
    (void)state;
    KilnModel m = kiln_model;
    m.run = failing_run;
    infer_fails(&m, "{\"inputs\":[" X_GOOD "," SCALE "]}", RT_STATUS_INTERNAL_ERROR,
                "model 'fake' failed to run (code 7)");
}

static size_t overflowing_workspace_size(int64_t batch) {
    (void)batch;
    return SIZE_MAX; /* kiln_model.h: what generated code answers when the size overflows */
}

static void test_infer_rejects_a_batch_whose_workspace_overflows(void **state) {
    (void)state;
    KilnModel m = kiln_model;
    m.workspace_size = overflowing_workspace_size;
    infer_fails(&m, "{\"inputs\":[" X_GOOD "," SCALE "]}", RT_STATUS_BAD_REQUEST,
                "batch 2 is too large for this model: its working memory does not fit in memory; "
                "send a smaller batch");
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
    infer_fails(
        &kiln_model, "{\"inputs\":[" X("[6]", "[1,2,3,4,5,6]") "," SCALE "]}", 400,
        "input 'x': shape has rank 1, expected rank 2 (model shape [-1,3], -1 is the batch)");
}

static void test_infer_rejects_a_static_dim_mismatch(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,4]", "[1,2,3,4,5,6,7,8]") "," SCALE "]}", 400,
                "input 'x': shape [2,4], expected [-1,3]: dim 1 must be 3");
    infer_fails(&kiln_model,
                "{\"inputs\":[" X_GOOD ",{\"name\":\"scale\",\"shape\":[2],\"datatype\":\"FP32\","
                "\"data\":[1,2]}]}",
                400, "input 'scale': shape [2], expected [1]: dim 0 must be 1");
}

static void test_infer_rejects_a_batch_below_one(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[0,3]", "[]") "," SCALE "]}", 400,
                "input 'x': shape [0,3] has batch 0, expected at least 1 (model shape [-1,3])");
}

static void test_infer_rejects_negative_or_non_integer_dims(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[-1,3]", "[1,2,3]") "," SCALE "]}", 400,
                "input 'x': shape[0] must be a non-negative integer (model shape [-1,3])");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[1.5,3]", "[1,2,3]") "," SCALE "]}", 400,
                "input 'x': shape[0] must be a non-negative integer (model shape [-1,3])");
    infer_fails(&kiln_model, "{\"inputs\":[" X("\"2x3\"", "[1,2,3]") "," SCALE "]}", 400,
                "input 'x': \"shape\" must be an array of dims like [-1,3] (-1 is the batch)");
}

static void test_infer_rejects_a_data_length_mismatch(void **state) {
    (void)state;
    infer_fails(&kiln_model, "{\"inputs\":[" X("[2,3]", "[1,2,3,4,5]") "," SCALE "]}", 400,
                "input 'x': expected 6 values for shape [2,3], got 5");
    infer_fails(&kiln_model,
                "{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP32\"}]}", 400,
                "input 'x': \"data\" must be an array of 6 values (shape [2,3])");
}

static void test_infer_rejects_a_huge_shape_without_allocating_it(void **state) {
    (void)state;
    /* 12 TB if the shape were believed: a clean 400, not a malloc. */
    infer_fails(&kiln_model, "{\"inputs\":[" X("[1000000000000,3]", "[1,2,3]") "," SCALE "]}", 400,
                "input 'x': expected 3000000000000 values for shape [1000000000000,3], got 3");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[1000000000000,3]", "[[1,2,3]]") "," SCALE "]}",
                400,
                "input 'x': data has 1 items, expected 1000000000000 (shape [1000000000000,3])");
    infer_fails(&kiln_model, "{\"inputs\":[" X("[9223372036854775807,3]", "[1,2,3]") "," SCALE "]}",
                400, "input 'x': shape [9223372036854775807,3] has too many elements");
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
                400, "unknown output 'z'; the model's outputs are: y, rowsum, argmax");
    infer_fails(&kiln_model,
                "{\"inputs\":[" X_GOOD "," SCALE
                "],\"outputs\":[{\"name\":\"y\"},{\"name\":\"y\"}]}",
                400, "output 'y' is requested twice");
    infer_fails(&kiln_model, "{\"inputs\":[" X_GOOD "," SCALE "],\"outputs\":[\"y\"]}", 400,
                "outputs[0] must be an object with a \"name\"");
}

/* --- other dtypes and shapes, on models built here ------------------------------- */

static const int64_t pair_shape[] = {-1, 2};
static size_t echo_elem; /* element size of the echo model's dtype */

static size_t echo_workspace_size(int64_t batch) {
    (void)batch;
    return 0;
}

static int echo_run(const void *const *in, void *const *out, void *ws, int64_t batch,
                    KilnThreadPool *pool) {
    (void)pool;
    if (!ws || (uintptr_t)ws % 64) return 2;
    memcpy(out[0], in[0], (size_t)batch * 2 * echo_elem);
    return 0;
}

/* A model with input "v" and output "w" of dtype and shape [-1,2]; w = v. */
static KilnModel echo_model(KilnTensorInfo io[2], int dtype) {
    io[0] = (KilnTensorInfo){"v", dtype, 2, pair_shape};
    io[1] = (KilnTensorInfo){"w", dtype, 2, pair_shape};
    echo_elem = kiln_dtype_size(dtype);
    return (KilnModel){.abi_version = KILN_ABI_VERSION,
                       .name = "echo",
                       .version = "1",
                       .n_inputs = 1,
                       .n_outputs = 1,
                       .inputs = &io[0],
                       .outputs = &io[1],
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
static const int64_t one_shape[] = {-1, 1};

static void test_infer_rejects_a_batch_whose_output_exceeds_the_tensor_limit(void **state) {
    (void)state;
    KilnTensorInfo in = {"v", KILN_DT_FLOAT, 2, one_shape},
                   out = {"big", KILN_DT_FLOAT, 2, big_shape};
    KilnModel m = {.abi_version = KILN_ABI_VERSION,
                   .name = "big",
                   .version = "1",
                   .n_inputs = 1,
                   .n_outputs = 1,
                   .inputs = &in,
                   .outputs = &out,
                   .workspace_size = echo_workspace_size,
                   .run = failing_run};
    infer_fails(
        &m, "{\"inputs\":[{\"name\":\"v\",\"shape\":[2,1],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
        400, "batch 2 makes output 'big' larger than the 1024 MiB limit of a tensor");
}

static const int64_t rows_shape[] = {-1};

static void test_infer_rejects_inputs_with_different_batches(void **state) {
    (void)state;
    KilnTensorInfo ins[2] = {{"a", KILN_DT_FLOAT, 2, pair_shape},
                             {"b", KILN_DT_INT64, 1, rows_shape}};
    KilnModel m = {.abi_version = KILN_ABI_VERSION,
                   .name = "pair",
                   .version = "1",
                   .n_inputs = 2,
                   .n_outputs = 0,
                   .inputs = ins,
                   .outputs = NULL,
                   .workspace_size = echo_workspace_size,
                   .run = failing_run};
    infer_fails(
        &m,
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[1,2,3,4]},"
        "{\"name\":\"b\",\"shape\":[3],\"datatype\":\"INT64\",\"data\":[1,2,3]}]}",
        400,
        "input 'b': shape [3] has batch 3, but input 'a' has batch 2; all inputs must share "
        "one batch size");
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
        cmocka_unit_test(test_infer_rejects_a_batch_whose_workspace_overflows),
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
        cmocka_unit_test(test_infer_rejects_a_batch_below_one),
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
        cmocka_unit_test(test_infer_rejects_a_batch_whose_output_exceeds_the_tensor_limit),
        cmocka_unit_test(test_infer_rejects_inputs_with_different_batches),
        cmocka_unit_test(test_infer_error_json_escapes_the_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
