/* test_rt_bench.c: `OUT bench` (bench.h) on the fake models. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "bench.h"
#include "fake_model.h"
#include "kiln_model.h"

/* rt_bench_run() at syms; the JSON line it printed, parsed. */
static json_t *bench_ok(const KilnModel *m, const int64_t *syms, long iters) {
    char err[RT_ERR_LEN], text[2048];
    FILE *out = tmpfile();
    assert_non_null(out);
    if (rt_bench_run(m, syms, iters, 1, out, err) != 0) fail_msg("%s", err);
    rewind(out);
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = '\0';
    fclose(out);
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    return doc;
}

static void test_bench_prints_one_json_line_with_latency_and_throughput(void **state) {
    (void)state;
    json_t *doc = bench_ok(&kiln_model, (int64_t[]){8, 3}, 50);
    assert_int_equal(json_integer_value(json_object_get(doc, "batch")), 8);
    json_t *syms = json_object_get(doc, "symbols");
    assert_int_equal(json_integer_value(json_object_get(syms, "batch")), 8);
    assert_int_equal(json_integer_value(json_object_get(syms, "len")), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "iters")), 50);
    const char *keys[] = {"median_us", "p99_us", "inferences_per_s", "min_us", "max_us"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_true(json_is_number(json_object_get(doc, keys[i])));
    assert_true(json_number_value(json_object_get(doc, "p99_us")) >=
                json_number_value(json_object_get(doc, "median_us")));
    json_decref(doc);
}

static void test_bench_refuses_a_zero_batch(void **state) {
    (void)state;
    char err[RT_ERR_LEN];
    int64_t syms[2];
    assert_int_equal(rt_bench_syms(&kiln_model, 0, 1, NULL, 0, syms, err), -1);
    assert_string_equal(err, "--batch 0 is outside the model's range [1, 64] of batch");
    /* and, past that check, the model's own */
    assert_int_equal(rt_bench_run(&kiln_model, (int64_t[]){0, 3}, 10, 1, stdout, err), -1);
    assert_string_equal(err, "input 'x' dim 0 (batch) is 0, outside the model's range [1, 64]");
}

static void test_bench_syms_set_batch_dims_and_minimums(void **state) {
    (void)state;
    char err[RT_ERR_LEN];
    int64_t syms[2];
    assert_int_equal(rt_bench_syms(&kiln_model, 1, 0, NULL, 0, syms, err), 0);
    assert_true(syms[0] == 1 && syms[1] == 1); /* batch 1, len at its min */
    char *dims[] = {"len=7"};
    assert_int_equal(rt_bench_syms(&kiln_model, 4, 1, dims, 1, syms, err), 0);
    assert_true(syms[0] == 4 && syms[1] == 7);
    char *both[] = {"batch=5", "len=2"};
    assert_int_equal(rt_bench_syms(&kiln_model, 1, 0, both, 2, syms, err), 0);
    assert_true(syms[0] == 5 && syms[1] == 2);
    char *wide[] = {"len=17"};
    assert_int_equal(rt_bench_syms(&kiln_model, 1, 0, wide, 1, syms, err), -1);
    assert_string_equal(err, "--dim len=17: the value must be an integer in the model's range "
                             "[1, 16]");
    char *unknown[] = {"seq=3"};
    assert_int_equal(rt_bench_syms(&kiln_model, 1, 0, unknown, 1, syms, err), -1);
    assert_string_equal(err, "--dim 'seq=3': expected NAME=VALUE with NAME one of: batch [1, 64], "
                             "len [1, 16]");
    char *twice[] = {"batch=2"};
    assert_int_equal(rt_bench_syms(&kiln_model, 3, 1, twice, 1, syms, err), -1);
    assert_string_equal(err, "--dim batch=2: batch is given twice");
    assert_int_equal(rt_bench_syms(&fake_static_model, 2, 1, NULL, 0, syms, err), -1);
    assert_string_equal(err, "--batch: the model has no batch dimension (no symbol is dim 0 of "
                             "every input); its shapes are fixed");
}

static void test_bench_checks_the_sizes_with_the_models_shapes(void **state) {
    (void)state;
    char err[RT_ERR_LEN];
    /* len 1 is in range, but pairs = [batch, len/2] needs len >= 2 */
    assert_int_equal(rt_bench_run(&kiln_model, (int64_t[]){1, 1}, 10, 1, stdout, err), -1);
    assert_string_equal(err, "node 'pairs' (Reshape): dim 1 of output 'pairs' (len/2) is 0 at "
                             "these input sizes, below 1: the inputs are too small");
}

static void test_bench_runs_a_static_model_and_a_text_model(void **state) {
    (void)state;
    json_t *doc = bench_ok(&fake_static_model, NULL, 20);
    assert_int_equal(json_integer_value(json_object_get(doc, "batch")), 1);
    assert_int_equal(json_object_size(json_object_get(doc, "symbols")), 0);
    json_decref(doc);
    doc = bench_ok(&fake_text_model, (int64_t[]){2, 100}, 20);
    assert_int_equal(json_integer_value(json_object_get(doc, "batch")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "symbols"), "seq")),
                     100);
    json_decref(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_prints_one_json_line_with_latency_and_throughput),
        cmocka_unit_test(test_bench_refuses_a_zero_batch),
        cmocka_unit_test(test_bench_syms_set_batch_dims_and_minimums),
        cmocka_unit_test(test_bench_checks_the_sizes_with_the_models_shapes),
        cmocka_unit_test(test_bench_runs_a_static_model_and_a_text_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
