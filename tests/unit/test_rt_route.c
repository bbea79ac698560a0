/* test_rt_route.c: endpoint routing and header parsing (route.h) on the
 * fake model (name "fake", version "3"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kiln_model.h"
#include "route.h"

static RtRoute route(RtMethod method, const char *path) {
    RtRoute r;
    rt_route_match(&r, method, path, &kiln_model);
    return r;
}

static void test_route_finds_every_v2_endpoint(void **state) {
    (void)state;
    static const struct {
        RtMethod method;
        const char *path;
        RtRouteKind kind;
        int token;
    } cases[] = {
        {RT_METHOD_GET, "/v2", RT_ROUTE_SERVER_META, 1},
        {RT_METHOD_GET, "/v2/health/live", RT_ROUTE_LIVE, 0},
        {RT_METHOD_HEAD, "/v2/health/ready", RT_ROUTE_READY, 0},
        {RT_METHOD_GET, "/v2/models/fake", RT_ROUTE_MODEL_META, 1},
        {RT_METHOD_GET, "/v2/models/fake/versions/3", RT_ROUTE_MODEL_META, 1},
        {RT_METHOD_GET, "/v2/models/fake/ready", RT_ROUTE_MODEL_READY, 1},
        {RT_METHOD_GET, "/v2/models/fake/versions/3/config", RT_ROUTE_MODEL_CONFIG, 1},
        {RT_METHOD_POST, "/v2/models/fake/infer", RT_ROUTE_INFER, 1},
        {RT_METHOD_POST, "/v2/models/fake/versions/3/infer", RT_ROUTE_INFER, 1},
        {RT_METHOD_GET, "/metrics", RT_ROUTE_METRICS, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        RtRoute r = route(cases[i].method, cases[i].path);
        if (r.status != 200 || r.kind != cases[i].kind || r.needs_token != cases[i].token)
            fail_msg("%s: status %d kind %d token %d", cases[i].path, r.status, r.kind,
                     r.needs_token);
    }
}

static void test_route_answers_405_with_allow_for_a_wrong_method(void **state) {
    (void)state;
    RtRoute r = route(RT_METHOD_GET, "/v2/models/fake/infer");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST");
    r = route(RT_METHOD_OTHER, "/v2/health/ready");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
}

static void test_route_answers_404_naming_what_is_served(void **state) {
    (void)state;
    RtRoute r = route(RT_METHOD_POST, "/v2/models/other/infer");
    assert_int_equal(r.status, 404);
    assert_int_equal(r.needs_token, 1);
    assert_string_equal(r.err, "unknown model 'other'; this server serves 'fake'");
    r = route(RT_METHOD_GET, "/v2/models/fake/versions/9");
    assert_int_equal(r.status, 404);
    assert_string_equal(r.err, "model 'fake' has no version '9'; this server serves version '3'");
    const char *missing[] = {"/",
                             "/v1/models/fake",
                             "/v2/models/",
                             "/v2/models/fake/explain",
                             "/v2/models/fake/versions/",
                             "/v2/health",
                             "/metricsx"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        r = route(RT_METHOD_GET, missing[i]);
        if (r.status != 404 || r.kind != RT_ROUTE_NONE) fail_msg("%s: %d", missing[i], r.status);
    }
}

static void test_route_refuses_a_too_long_model_name(void **state) {
    (void)state;
    char path[1024] = "/v2/models/";
    memset(path + strlen(path), 'a', 600);
    assert_int_equal(route(RT_METHOD_GET, path).status, 404);
}

static void test_header_size_parse_takes_digits_only(void **state) {
    (void)state;
    size_t v = 7;
    assert_int_equal(rt_header_size_parse("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rt_header_size_parse("1234", &v), 0);
    assert_int_equal(v, 1234);
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "0x10", "99999999999999999999999", NULL};
    for (int i = 0; bad[i]; i++)
        if (rt_header_size_parse(bad[i], &v) != -1) fail_msg("'%s' was accepted", bad[i]);
    assert_int_equal(rt_header_size_parse(NULL, &v), -1);
}

static void test_route_needs_the_token_wherever_it_is_not_a_probe(void **state) {
    (void)state;
    /* A 404 or 405 told without the token would say which paths, methods
     * and model names exist; only the probes and /metrics are open. */
    static const struct {
        RtMethod method;
        const char *path;
        int token;
    } cases[] = {
        {RT_METHOD_GET, "/v3/nothing", 1},
        {RT_METHOD_OTHER, "/v2/models/fake/infer", 1},
        {RT_METHOD_OTHER, "/v2/models/other/infer", 1},
        {RT_METHOD_OTHER, "/v2", 1},
        {RT_METHOD_GET, "/v2/health", 1},
        {RT_METHOD_OTHER, "/v2/health/live", 0},
        {RT_METHOD_POST, "/metrics", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        RtRoute r = route(cases[i].method, cases[i].path);
        if (r.status == 200 || r.needs_token != cases[i].token)
            fail_msg("%s: status %d token %d", cases[i].path, r.status, r.needs_token);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_finds_every_v2_endpoint),
        cmocka_unit_test(test_route_answers_405_with_allow_for_a_wrong_method),
        cmocka_unit_test(test_route_answers_404_naming_what_is_served),
        cmocka_unit_test(test_route_refuses_a_too_long_model_name),
        cmocka_unit_test(test_route_needs_the_token_wherever_it_is_not_a_probe),
        cmocka_unit_test(test_header_size_parse_takes_digits_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
