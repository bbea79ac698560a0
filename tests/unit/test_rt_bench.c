/* test_rt_bench.c: `OUT bench` (bench.h) on the fake model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "bench.h"
#include "kiln_model.h"

static void test_bench_prints_one_json_line_with_latency_and_throughput(void **state) {
    (void)state;
    char err[RT_ERR_LEN], text[2048];
    FILE *out = tmpfile();
    assert_non_null(out);
    assert_int_equal(rt_bench_run(&kiln_model, 8, 50, 1, out, err), 0);
    rewind(out);
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = '\0';
    fclose(out);
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "batch")), 8);
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
    assert_int_equal(rt_bench_run(&kiln_model, 0, 10, 1, stdout, err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_prints_one_json_line_with_latency_and_throughput),
        cmocka_unit_test(test_bench_refuses_a_zero_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
