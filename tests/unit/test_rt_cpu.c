/* test_rt_cpu.c: the start check of runtime/service/cpu.c on models whose
 * variants need features every x86-64 CPU has, none has, or it cannot
 * check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cpu.h"

static int pick_first(void) {
    return 0;
}
static int pick_none(void) {
    return -1;
}

static KilnModel model_needing(const char *needs, int (*variant)(void)) {
    static KilnCpuVariant v[1];
    v[0] = (KilnCpuVariant){"x86-64-test", needs};
    return (KilnModel){.abi_version = KILN_ABI_VERSION,
                       .name = "m",
                       .n_variants = 1,
                       .variants = v,
                       .variant = variant};
}

static void test_cpu_check_passes_a_model_without_variants(void **state) {
    (void)state;
    KilnModel m = {.abi_version = KILN_ABI_VERSION, .name = "m"};
    char err[RT_ERR_LEN];
    assert_int_equal(rt_cpu_check(&m, err), 0);
    assert_null(rt_cpu_selected(&m));
}

static void test_cpu_check_passes_baseline_features_and_reports_the_pick(void **state) {
    (void)state;
    KilnModel m = model_needing("cmov,sse,sse2", pick_first);
    char err[RT_ERR_LEN];
    assert_int_equal(rt_cpu_check(&m, err), 0);
    assert_string_equal(rt_cpu_selected(&m), "x86-64-test");
}

static void test_cpu_check_ignores_a_feature_it_does_not_know(void **state) {
    (void)state;
    KilnModel m = model_needing("sse2,no-such-feature", pick_first);
    char err[RT_ERR_LEN];
    assert_int_equal(rt_cpu_check(&m, err), 0);
}

static void test_cpu_check_fails_when_the_dispatcher_picks_nothing(void **state) {
    (void)state;
    KilnModel m = model_needing("sse2", pick_none);
    char err[RT_ERR_LEN];
    assert_int_equal(rt_cpu_check(&m, err), -1);
    assert_non_null(strstr(err, "internal error"));
}

/* No Intel CPU and no AMD CPU since Zen has XOP and FMA4. */
static void test_cpu_check_names_missing_features_and_the_cpu_to_rebuild_for(void **state) {
    (void)state;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("xop") || __builtin_cpu_supports("fma4")) skip();
#else
    skip();
#endif
    KilnModel m = model_needing("sse2,xop,fma4", pick_first);
    char err[RT_ERR_LEN];
    assert_int_equal(rt_cpu_check(&m, err), -1);
    assert_non_null(strstr(err, "this binary needs XOP, FMA4 (compiled for x86-64-test)"));
    assert_non_null(strstr(err, "this CPU lacks them: rebuild with --cpu x86-64"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_check_passes_a_model_without_variants),
        cmocka_unit_test(test_cpu_check_passes_baseline_features_and_reports_the_pick),
        cmocka_unit_test(test_cpu_check_ignores_a_feature_it_does_not_know),
        cmocka_unit_test(test_cpu_check_fails_when_the_dispatcher_picks_nothing),
        cmocka_unit_test(test_cpu_check_names_missing_features_and_the_cpu_to_rebuild_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
