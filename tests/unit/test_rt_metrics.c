/* test_rt_metrics.c: counters, histograms and their Prometheus text
 * (metrics.h), with two worker shards summed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kiln_model.h"
#include "metrics.h"

static void expect_line(const char *text, const char *line) {
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[strlen(line)] == '\n') return;
    fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void test_metrics_reason_classifies_statuses(void **state) {
    (void)state;
    assert_int_equal(rt_metrics_reason(200), RT_REASON_OK);
    assert_int_equal(rt_metrics_reason(400), RT_REASON_BAD_REQUEST);
    assert_int_equal(rt_metrics_reason(401), RT_REASON_UNAUTHORIZED);
    assert_int_equal(rt_metrics_reason(404), RT_REASON_NOT_FOUND);
    assert_int_equal(rt_metrics_reason(405), RT_REASON_METHOD_NOT_ALLOWED);
    assert_int_equal(rt_metrics_reason(413), RT_REASON_TOO_LARGE);
    assert_int_equal(rt_metrics_reason(503), RT_REASON_UNAVAILABLE);
    assert_int_equal(rt_metrics_reason(500), RT_REASON_INTERNAL);
}

static void test_metrics_text_sums_shards_into_prometheus_text(void **state) {
    (void)state;
    RtMetrics *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    rt_metrics_request_count(a, RT_EP_INFER, 200);
    rt_metrics_request_count(b, RT_EP_INFER, 200);
    rt_metrics_request_count(b, RT_EP_INFER, 400);
    rt_metrics_observe(&a->request_us, 7);        /* le=10 */
    rt_metrics_observe(&b->request_us, 60);       /* le=100 */
    rt_metrics_observe(&b->request_us, 99999999); /* +Inf */
    rt_metrics_observe(&a->compute_us, 3);
    const RtMetrics *shards[] = {a, b};
    RtGauges g = {
        .in_flight = 2, .connections = 5, .ready = 1, .workers = 2, .threads_per_request = 1};
    size_t len = 0;
    char *text = rt_metrics_text(&kiln_model, shards, 2, &g, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    expect_line(text, "kiln_requests_total{endpoint=\"infer\",reason=\"ok\"} 2");
    expect_line(text, "kiln_requests_total{endpoint=\"infer\",reason=\"bad_request\"} 1");
    expect_line(text, "kiln_requests_total{endpoint=\"health\",reason=\"ok\"} 0");
    expect_line(text, "# TYPE kiln_request_duration_us histogram");
    expect_line(text, "kiln_request_duration_us_bucket{le=\"10\"} 1");
    expect_line(text, "kiln_request_duration_us_bucket{le=\"50\"} 1");
    expect_line(text, "kiln_request_duration_us_bucket{le=\"100\"} 2");
    expect_line(text, "kiln_request_duration_us_bucket{le=\"10000000\"} 2");
    expect_line(text, "kiln_request_duration_us_bucket{le=\"+Inf\"} 3");
    expect_line(text, "kiln_request_duration_us_count 3");
    expect_line(text, "kiln_request_duration_us_sum 100000066");
    expect_line(text, "kiln_compute_duration_us_count 1");
    expect_line(text, "kiln_in_flight_requests 2");
    expect_line(text, "kiln_open_connections 5");
    expect_line(text, "kiln_ready 1");
    expect_line(text, "kiln_build_info{model=\"fake\",version=\"3\",sha256=\""
                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
                      "kiln_version=\"9.8.7\",threads_per_request=\"1\"} 1");
    free(text);
    free(a);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_reason_classifies_statuses),
        cmocka_unit_test(test_metrics_text_sums_shards_into_prometheus_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
