/* test_rt_meta.c: v2 datatype names, shape text and model metadata. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fake_model.h"
#include "kiln_model.h"
#include "meta.h"

static void test_dtype_name_uses_the_v2_spelling(void **state) {
    (void)state;
    assert_string_equal(rt_dtype_name(KILN_DT_FLOAT), "FP32");
    assert_string_equal(rt_dtype_name(KILN_DT_DOUBLE), "FP64");
    assert_string_equal(rt_dtype_name(KILN_DT_FLOAT16), "FP16");
    assert_string_equal(rt_dtype_name(KILN_DT_INT8), "INT8");
    assert_string_equal(rt_dtype_name(KILN_DT_INT64), "INT64");
    assert_string_equal(rt_dtype_name(KILN_DT_UINT8), "UINT8");
    assert_string_equal(rt_dtype_name(KILN_DT_UINT64), "UINT64");
    assert_string_equal(rt_dtype_name(KILN_DT_BOOL), "BOOL");
    assert_string_equal(rt_dtype_name(KILN_DT_STRING), "BYTES");
    assert_null(rt_dtype_name(0));
    assert_null(rt_dtype_name(16)); /* BFLOAT16: no kiln dtype */
}

static void test_dtype_from_name_inverts_dtype_name(void **state) {
    (void)state;
    for (int dt = 1; dt <= 13; dt++)
        assert_int_equal(rt_dtype_from_name(rt_dtype_name(dt)), dt);
    assert_int_equal(rt_dtype_from_name("fp32"), 0);
    assert_int_equal(rt_dtype_from_name("FLOAT"), 0);
}

static void test_shape_format_writes_brackets_and_truncates(void **state) {
    (void)state;
    char buf[32];
    assert_string_equal(rt_shape_format(buf, sizeof buf, (int64_t[]){-1, 30}, 2), "[-1,30]");
    assert_string_equal(rt_shape_format(buf, sizeof buf, NULL, 0), "[]");
    int64_t many[20];
    for (int i = 0; i < 20; i++)
        many[i] = 1000;
    rt_shape_format(buf, sizeof buf, many, 20);
    assert_true(strlen(buf) < sizeof buf);
    assert_string_equal(buf + strlen(buf) - 4, "...]");
}

static void test_meta_json_describes_the_model(void **state) {
    (void)state;
    json_t *meta = rt_meta_json(&kiln_model);
    assert_non_null(meta);
    char *text = json_dumps(meta, JSON_COMPACT);
    assert_string_equal(
        text, "{\"name\":\"fake\",\"versions\":[\"3\"],\"platform\":\"kiln\","
              "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,-1],"
              "\"dims\":[\"batch\",\"len\"]},"
              "{\"name\":\"scale\",\"datatype\":\"FP32\",\"shape\":[1]}],"
              "\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1,-1],"
              "\"dims\":[\"batch\",\"len\"]},"
              "{\"name\":\"rowsum\",\"datatype\":\"FP32\",\"shape\":[-1,1],"
              "\"dims\":[\"batch\",\"1\"]},"
              "{\"name\":\"argmax\",\"datatype\":\"INT64\",\"shape\":[-1],\"dims\":[\"batch\"]},"
              "{\"name\":\"pairs\",\"datatype\":\"FP32\",\"shape\":[-1,-1],"
              "\"dims\":[\"batch\",\"len/2\"]}],"
              "\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
              "\"build\":{\"kiln_version\":\"9.8.7\",\"target\":\"x86_64-linux-gnu\","
              "\"flags\":[\"-O3\"]},"
              "\"symbols\":[{\"name\":\"batch\",\"min\":1,\"max\":64},"
              "{\"name\":\"len\",\"min\":1,\"max\":16}]}");
    free(text);
    json_decref(meta);
}

static void test_meta_json_of_a_static_model_has_no_symbols_or_dims(void **state) {
    (void)state;
    json_t *meta = rt_meta_json(&fake_static_model);
    char *text = json_dumps(json_object_get(meta, "inputs"), JSON_COMPACT);
    assert_string_equal(text, "[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[2,3]}]");
    free(text);
    assert_null(json_object_get(meta, "symbols"));
    json_decref(meta);
}

static void test_dims_and_symbols_format_as_text(void **state) {
    (void)state;
    char buf[64];
    assert_string_equal(rt_dims_format(buf, sizeof buf, &kiln_model.inputs[0]), "[batch,len]");
    assert_string_equal(rt_dims_format(buf, sizeof buf, &kiln_model.outputs[3]), "[batch,len/2]");
    assert_string_equal(rt_dims_format(buf, sizeof buf, &fake_static_model.inputs[0]), "[2,3]");
    KilnTensorInfo t = kiln_model.outputs[3];
    t.dims = NULL; /* no text: the numbers */
    assert_string_equal(rt_dims_format(buf, sizeof buf, &t), "[-1,-1]");
    assert_string_equal(rt_dims_format(buf, 8, &kiln_model.outputs[3]), "[...]");
    assert_string_equal(rt_syms_format(buf, sizeof buf, &kiln_model), "batch [1, 64], len [1, 16]");
    assert_string_equal(rt_syms_format(buf, sizeof buf, &fake_static_model), "none");
}

static void test_meta_batch_sym_is_the_symbol_at_every_batched_dim_0(void **state) {
    (void)state;
    assert_int_equal(rt_meta_batch_sym(&kiln_model), 0);      /* scale [1] is not batched */
    assert_int_equal(rt_meta_batch_sym(&fake_text_model), 0); /* tokens and mask */
    assert_int_equal(rt_meta_batch_sym(&fake_static_model), -1);
    KilnModel m = fake_text_model;
    KilnTensorInfo ins[2] = {m.inputs[0], m.inputs[1]};
    static const int seq_first[] = {1, 0};
    ins[1].sym = seq_first; /* mask [seq,batch]: dim 0 differs */
    m.inputs = ins;
    assert_int_equal(rt_meta_batch_sym(&m), -1);
}

static void test_meta_config_reports_max_batch_size_and_dims_without_the_batch(void **state) {
    (void)state;
    json_t *c = rt_meta_config_json(&fake_text_model, 67108864, 1);
    assert_int_equal(json_integer_value(json_object_get(c, "max_batch_size")), 8);
    char *text = json_dumps(json_object_get(c, "input"), JSON_COMPACT);
    assert_string_equal(text,
                        "[{\"name\":\"tokens\",\"data_type\":\"TYPE_INT64\",\"datatype\":\"INT64\","
                        "\"dims\":[-1],\"shape\":[-1,-1]},{\"name\":\"mask\",\"data_type\":"
                        "\"TYPE_FP32\",\"datatype\":\"FP32\",\"dims\":[-1],\"shape\":[-1,-1]}]");
    free(text);
    json_decref(c);
    /* A row of the smallest inputs is 8 + 4 bytes: 20 bytes of body hold one. */
    c = rt_meta_config_json(&fake_text_model, 20, 1);
    assert_int_equal(json_integer_value(json_object_get(c, "max_batch_size")), 1);
    json_decref(c);
    /* scale [1] has no batch dim: no batching, dims are the whole shape. */
    c = rt_meta_config_json(&kiln_model, 67108864, 1);
    assert_int_equal(json_integer_value(json_object_get(c, "max_batch_size")), 0);
    json_t *x = json_array_get(json_object_get(c, "input"), 0);
    text = json_dumps(json_object_get(x, "dims"), JSON_COMPACT);
    assert_string_equal(text, "[-1,-1]");
    free(text);
    json_decref(c);
    c = rt_meta_config_json(&fake_static_model, 67108864, 1);
    assert_int_equal(json_integer_value(json_object_get(c, "max_batch_size")), 0);
    json_decref(c);
}

static void test_meta_check_rejects_bad_bounds(void **state) {
    (void)state;
    char err[RT_ERR_LEN];
    assert_int_equal(rt_meta_check(&fake_static_model, err), 0);
    assert_int_equal(rt_meta_check(&fake_text_model, err), 0);
    KilnModel m = kiln_model;
    KilnTensorInfo in = m.inputs[0];
    static const int64_t bad_min[] = {5, 1}, bad_max[] = {1, 16};
    in.min = bad_min; /* batch in [5, 1] */
    in.max = bad_max;
    m.inputs = &in;
    m.n_inputs = 1;
    assert_int_equal(rt_meta_check(&m, err), -1);
    assert_string_equal(err, "model input 'x' has an invalid dim 0: -1 in [5, 1], symbol 0");
    in = kiln_model.inputs[0];
    in.min = NULL;
    assert_int_equal(rt_meta_check(&m, err), -1);
    assert_string_equal(err, "model input 'x' has no bounds (min, max, sym)");
    m = kiln_model;
    m.n_syms = 1; /* len's index 1 is out of range */
    assert_int_equal(rt_meta_check(&m, err), -1);
    assert_string_equal(err, "model input 'x' has an invalid dim 1: -1 in [1, 16], symbol 1");
    m = kiln_model;
    m.shapes = NULL;
    assert_int_equal(rt_meta_check(&m, err), -1);
    assert_non_null(strstr(err, "model table is incomplete"));
}

static void test_meta_json_writes_null_for_a_build_info_that_is_not_an_object(void **state) {
    (void)state;
    KilnModel m = kiln_model;
    m.build_info = "not json";
    json_t *meta = rt_meta_json(&m);
    assert_true(json_is_null(json_object_get(meta, "build")));
    json_decref(meta);
}

static void test_meta_kiln_version_reads_build_info_or_falls_back(void **state) {
    (void)state;
    char buf[32];
    assert_string_equal(rt_meta_kiln_version(&kiln_model, buf, sizeof buf), "9.8.7");
    KilnModel m = kiln_model;
    m.build_info = "{\"kiln\": \"1.2.3\"}";
    assert_string_equal(rt_meta_kiln_version(&m, buf, sizeof buf), "1.2.3");
    m.build_info = NULL;
    assert_string_equal(rt_meta_kiln_version(&m, buf, sizeof buf), KILN_VERSION);
}

static void test_meta_check_accepts_the_fake_model(void **state) {
    (void)state;
    char err[RT_ERR_LEN];
    assert_int_equal(rt_meta_check(&kiln_model, err), 0);
}

static void test_meta_check_rejects_another_abi_version(void **state) {
    (void)state;
    char err[RT_ERR_LEN];
    KilnModel m = kiln_model;
    m.abi_version = KILN_ABI_VERSION + 1;
    assert_int_equal(rt_meta_check(&m, err), -1);
    assert_non_null(strstr(err, "ABI version"));
}

static void test_meta_check_rejects_an_unservable_dtype_but_serves_string_inputs(void **state) {
    (void)state;
    char err[RT_ERR_LEN];
    static const int64_t shape[] = {-1}, lo[] = {1}, hi[] = {64};
    static const int sym[] = {0};
    KilnTensorInfo in = {"text", KILN_DT_BFLOAT16, 1, shape, lo, hi, sym, NULL};
    KilnModel m = kiln_model;
    m.n_inputs = 1;
    m.inputs = &in;
    assert_int_equal(rt_meta_check(&m, err), -1);
    assert_string_equal(err, "model input 'text' has dtype 16, which this runtime cannot serve");
    /* BYTES inputs (TfIdfVectorizer's tokens) are served since issue 12. */
    in.dtype = KILN_DT_STRING;
    assert_int_equal(rt_meta_check(&m, err), 0);
}

static void test_meta_check_accepts_a_string_output(void **state) {
    (void)state; /* ONNX-ML class labels: const char * elements, served as BYTES */
    char err[RT_ERR_LEN];
    static const int64_t shape[] = {-1}, lo[] = {1}, hi[] = {64};
    static const int sym[] = {0};
    static const char *const dims[] = {"batch"};
    KilnTensorInfo out = {"label", KILN_DT_STRING, 1, shape, lo, hi, sym, dims};
    KilnModel m = kiln_model;
    m.n_outputs = 1;
    m.outputs = &out;
    assert_int_equal(rt_meta_check(&m, err), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_name_uses_the_v2_spelling),
        cmocka_unit_test(test_dtype_from_name_inverts_dtype_name),
        cmocka_unit_test(test_shape_format_writes_brackets_and_truncates),
        cmocka_unit_test(test_meta_json_describes_the_model),
        cmocka_unit_test(test_meta_json_of_a_static_model_has_no_symbols_or_dims),
        cmocka_unit_test(test_dims_and_symbols_format_as_text),
        cmocka_unit_test(test_meta_batch_sym_is_the_symbol_at_every_batched_dim_0),
        cmocka_unit_test(test_meta_config_reports_max_batch_size_and_dims_without_the_batch),
        cmocka_unit_test(test_meta_check_rejects_bad_bounds),
        cmocka_unit_test(test_meta_json_writes_null_for_a_build_info_that_is_not_an_object),
        cmocka_unit_test(test_meta_kiln_version_reads_build_info_or_falls_back),
        cmocka_unit_test(test_meta_check_accepts_the_fake_model),
        cmocka_unit_test(test_meta_check_rejects_another_abi_version),
        cmocka_unit_test(test_meta_check_rejects_an_unservable_dtype_but_serves_string_inputs),
        cmocka_unit_test(test_meta_check_accepts_a_string_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
