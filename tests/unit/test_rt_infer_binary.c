/* test_rt_infer_binary.c: the binary tensor extension of rt_infer_run()
 * (infer.h) on the fake model (fake_model.h): x FP32 [batch,len], scale
 * FP32 [1]; y = x * scale + 1, rowsum, argmax INT64, pairs [batch,len/2]. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "kiln_model.h"

/* A body: JSON head, then `bin` (n bytes). Returns its length. */
static size_t body_make(char *out, size_t cap, const char *head, const void *bin, size_t n,
                        size_t *head_len) {
    *head_len = strlen(head);
    assert_true(*head_len + n <= cap);
    memcpy(out, head, *head_len);
    memcpy(out + *head_len, bin, n);
    return *head_len + n;
}

static const char head_two_rows[] =
    "{\"id\":\"b\",\"inputs\":["
    "{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":24}"
    "},"
    "{\"name\":\"scale\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[2]}],"
    "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}},{\"name\":\"argmax\"}]}";

static void test_infer_reads_binary_inputs_and_writes_binary_outputs(void **state) {
    (void)state;
    const float x[6] = {1, 2, 3, -1, -2, -3};
    char body[1024], err[RT_ERR_LEN];
    size_t hl, len = body_make(body, sizeof body, head_two_rows, x, sizeof x, &hl);
    RtInferResult res;
    int st = rt_infer_run(&kiln_model, body, len, hl, 1, &res, err);
    if (st != 200) fail_msg("%d %s", st, err);
    assert_string_equal(res.id, "b");
    assert_int_equal(res.batch, 2);
    assert_int_equal(res.len, res.json_len + 24);
    json_t *doc = json_loadb(res.body, res.json_len, 0, NULL);
    assert_non_null(doc);
    json_t *y = json_array_get(json_object_get(doc, "outputs"), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(y, "parameters"), "binary_data_size")),
        24);
    assert_null(json_object_get(y, "data"));
    json_t *am = json_array_get(json_object_get(doc, "outputs"), 1);
    assert_int_equal(json_array_size(json_object_get(am, "data")), 2);
    float got[6];
    memcpy(got, res.body + res.json_len, sizeof got);
    for (int i = 0; i < 6; i++)
        assert_float_equal(got[i], x[i] * 2 + 1, 0);
    json_decref(doc);
    free(res.body);
}

static void test_infer_binary_data_output_asks_for_every_output(void **state) {
    (void)state;
    const char *head = "{\"parameters\":{\"binary_data_output\":true},\"inputs\":["
                       "{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]},"
                       "{\"name\":\"scale\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}";
    char err[RT_ERR_LEN];
    RtInferResult res;
    assert_int_equal(rt_infer_run(&kiln_model, head, strlen(head), strlen(head), 1, &res, err),
                     200);
    assert_int_equal(res.len - res.json_len, 12 + 4 + 8 + 4); /* y, rowsum, argmax, pairs */
    free(res.body);
    /* A caller that writes text only refuses binary outputs. */
    assert_int_equal(rt_infer_run(&kiln_model, head, strlen(head), strlen(head), 0, &res, err),
                     400);
    assert_null(res.body);
    assert_non_null(strstr(err, "binary_data"));
}

static void expect_400(const char *body, size_t len, size_t hl, const char *want) {
    char err[RT_ERR_LEN];
    RtInferResult res;
    int st = rt_infer_run(&kiln_model, body, len, hl, 1, &res, err);
    assert_null(res.body);
    if (st != 400 || strcmp(err, want) != 0)
        fail_msg("got %d \"%s\"\nwant 400 \"%s\"", st, err, want);
}

static void test_infer_checks_binary_sizes_against_the_bytes_received(void **state) {
    (void)state;
    const float x[6] = {0};
    char body[1024];
    size_t hl, len = body_make(body, sizeof body, head_two_rows, x, 20, &hl);
    expect_400(body, len, hl,
               "input 'x': binary_data_size 24, but only 20 bytes of binary data are left in the "
               "body");
    len = body_make(body, sizeof body, head_two_rows, x, sizeof x, &hl);
    expect_400(body, len + 0, hl + 1000,
               "Inference-Header-Content-Length is 1238, but the body has only 262 bytes");
    char more[1024];
    memcpy(more, body, len);
    memset(more + len, 0, 8);
    expect_400(more, len + 8, hl,
               "8 bytes of binary data after the JSON belong to no input; give each binary input "
               "\"parameters\": {\"binary_data_size\": N}");
    const char *wrong = "{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP32\","
                        "\"parameters\":{\"binary_data_size\":4611686018427387904}}]}";
    expect_400(wrong, strlen(wrong), strlen(wrong),
               "input 'x': binary_data_size 4611686018427387904, expected 24 bytes (6 FP32 "
               "values for shape [2,3])");
    const char *both = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
                       "\"data\":[1,2,3],\"parameters\":{\"binary_data_size\":12}}]}";
    expect_400(both, strlen(both), strlen(both),
               "input 'x': has both \"data\" and \"binary_data_size\"; send one");
}

int main(void) {
    json_object_seed(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infer_reads_binary_inputs_and_writes_binary_outputs),
        cmocka_unit_test(test_infer_binary_data_output_asks_for_every_output),
        cmocka_unit_test(test_infer_checks_binary_sizes_against_the_bytes_received),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
