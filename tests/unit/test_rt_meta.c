/* test_rt_meta.c: v2 datatype names, shape text and model metadata. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
              "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,3]},"
              "{\"name\":\"scale\",\"datatype\":\"FP32\",\"shape\":[1]}],"
              "\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1,3]},"
              "{\"name\":\"rowsum\",\"datatype\":\"FP32\",\"shape\":[-1,1]},"
              "{\"name\":\"argmax\",\"datatype\":\"INT64\",\"shape\":[-1]}],"
              "\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
              "\"build\":{\"kiln_version\":\"9.8.7\",\"target\":\"x86_64-linux-gnu\","
              "\"flags\":[\"-O3\"]}}");
    free(text);
    json_decref(meta);
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

static void test_meta_check_rejects_a_string_tensor(void **state) {
    (void)state;
    char err[RT_ERR_LEN];
    static const int64_t shape[] = {-1};
    KilnTensorInfo in = {"text", KILN_DT_STRING, 1, shape};
    KilnModel m = kiln_model;
    m.n_inputs = 1;
    m.inputs = &in;
    assert_int_equal(rt_meta_check(&m, err), -1);
    assert_string_equal(err, "model input 'text' has dtype 8, which this runtime cannot serve");
}

static void test_meta_check_accepts_a_string_output(void **state) {
    (void)state; /* ONNX-ML class labels: const char * elements, served as BYTES */
    char err[RT_ERR_LEN];
    static const int64_t shape[] = {-1};
    KilnTensorInfo out = {"label", KILN_DT_STRING, 1, shape};
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
        cmocka_unit_test(test_meta_json_writes_null_for_a_build_info_that_is_not_an_object),
        cmocka_unit_test(test_meta_kiln_version_reads_build_info_or_falls_back),
        cmocka_unit_test(test_meta_check_accepts_the_fake_model),
        cmocka_unit_test(test_meta_check_rejects_another_abi_version),
        cmocka_unit_test(test_meta_check_rejects_a_string_tensor),
        cmocka_unit_test(test_meta_check_accepts_a_string_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
