/* test_ml_kernels.c: the ONNX-ML kernels' shared pieces (runtime/kernels/
 * ml.c), natively compiled: post_transform and class-label selection as
 * ONNX Runtime defines them (ml.h), against double-precision formulas and
 * the cases ORT decides by rule (ties, NaN, a lone binary score). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ml.h"

static void test_write_scores_softmax_matches_the_formula_per_row(void **state) {
    (void)state;
    float in[6] = {1, 2, 3, -1, 0, 1}, out[6];
    kiln_ml_write_scores(2, 3, KILN_ML_POST_SOFTMAX, KILN_ML_SECOND_NONE, NULL, in, out, 3);
    for (int r = 0; r < 2; r++) {
        double s = 0;
        for (int j = 0; j < 3; j++)
            s += exp(in[r * 3 + j]);
        for (int j = 0; j < 3; j++)
            assert_true(fabs(out[r * 3 + j] - exp(in[r * 3 + j]) / s) < 1e-6);
    }
}

static void test_write_scores_softmax_zero_keeps_zero_scores_at_zero(void **state) {
    (void)state;
    float s[3] = {0, 1, 2};
    kiln_ml_write_scores(1, 3, KILN_ML_POST_SOFTMAX_ZERO, KILN_ML_SECOND_NONE, NULL, s, s, 3);
    double e1 = exp(-1.0), e2 = 1.0;
    assert_float_equal(s[0], 0.0f, 0);
    assert_true(fabs(s[1] - e1 / (e1 + e2)) < 1e-6 && fabs(s[2] - e2 / (e1 + e2)) < 1e-6);
}

static void test_write_scores_logistic_and_probit_are_elementwise(void **state) {
    (void)state;
    float in[2] = {-30, 0.5f}, out[2];
    kiln_ml_write_scores(1, 2, KILN_ML_POST_LOGISTIC, KILN_ML_SECOND_NONE, NULL, in, out, 2);
    assert_float_equal(out[0], 0.0f, 0); /* ORT's mirrored form: 1 - 1.0f, no NaN from exp(30) */
    assert_true(fabs(out[1] - 1 / (1 + exp(-0.5))) < 1e-6);
    float p[2] = {0.5f, 0.975f};
    kiln_ml_write_scores(1, 2, KILN_ML_POST_PROBIT, KILN_ML_SECOND_NONE, NULL, p, p, 2);
    assert_true(fabs(p[0]) < 1e-6);
    assert_true(fabs(p[1] - 1.959964) < 2e-3); /* Winitzki's approximation, as ORT */
}

static void test_a_lone_score_expands_in_place_into_two_columns(void **state) {
    (void)state;
    float z[6] = {0.25f, -1, 2, 0, 0, 0}; /* three scores, room for [3, 2] */
    kiln_ml_write_scores(3, 1, KILN_ML_POST_NONE, KILN_ML_SECOND_LINEAR, NULL, z, z, 2);
    const float want[6] = {0.75f, 0.25f, 2, -1, -1, 2};
    for (int i = 0; i < 6; i++)
        assert_float_equal(z[i], want[i], 0);
    float l[4] = {0, 2}, two[4];
    kiln_ml_write_scores(2, 1, KILN_ML_POST_LOGISTIC, KILN_ML_SECOND_LINEAR, NULL, l, two, 2);
    assert_float_equal(two[0], 0.5f, 1e-7);
    assert_true(fabs(two[3] - 1 / (1 + exp(-2.0))) < 1e-6 && fabs(two[2] + two[3] - 1) < 1e-6);
    int32_t modes[2] = {KILN_ML_SECOND_COMPLEMENT, KILN_ML_SECOND_NEGATE};
    kiln_ml_write_scores(2, 1, KILN_ML_POST_NONE, KILN_ML_SECOND_NONE, modes, l, two, 2);
    assert_float_equal(two[0], 1.0f, 0);
    assert_float_equal(two[2], -2.0f, 0);
    assert_float_equal(two[3], 2.0f, 0);
}

static void test_argmax_label_takes_the_first_maximum_and_never_nan(void **state) {
    (void)state;
    float s[9] = {1, 3, 3, NAN, 0, 1, NAN, NAN, NAN};
    int64_t labels[3] = {10, 20, 30}, out[3];
    kiln_ml_argmax_label_i64(3, 3, s, 3, labels, out);
    assert_int_equal(out[0], 20); /* tie: the earlier class */
    assert_int_equal(out[1], 10); /* NaN first: never replaced by a comparison... */
    assert_int_equal(out[2], 10); /* ...and an all-NaN row is class 0 */
    const char *names[3] = {"a", "b", "c"}, *so[3];
    kiln_ml_argmax_label_str(3, 3, s, 3, names, so);
    assert_string_equal(so[0], "b");
}

static void test_binary_label_is_positive_only_above_the_threshold(void **state) {
    (void)state;
    float s[4] = {0.0f, 1e-7f, -1, NAN};
    int64_t labels[2] = {-1, 1}, out[4];
    kiln_ml_binary_label_i64(4, s, 1, 0.0f, labels, out);
    assert_int_equal(out[0], -1);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], -1);
    assert_int_equal(out[3], -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_scores_softmax_matches_the_formula_per_row),
        cmocka_unit_test(test_write_scores_softmax_zero_keeps_zero_scores_at_zero),
        cmocka_unit_test(test_write_scores_logistic_and_probit_are_elementwise),
        cmocka_unit_test(test_a_lone_score_expands_in_place_into_two_columns),
        cmocka_unit_test(test_argmax_label_takes_the_first_maximum_and_never_nan),
        cmocka_unit_test(test_binary_label_is_positive_only_above_the_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
