/* test_reduce_kernels.c: the reduce-family kernels (runtime/kernels/reduce.c),
 * natively compiled, against naive double-precision loops.
 *
 * Shapes are chosen so that rows are shorter than, equal to and longer than
 * the RED_LANES partial sums, with and without a remainder, and inner
 * strides cover both the contiguous path (inner == 1) and the strided one,
 * including more inner elements than one RED_BLOCK.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reduce.h"

/* Deterministic uniform values in [-1, 1) (xorshift32). */
static float *rand_floats(int64_t n, uint32_t seed) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    uint32_t x = seed;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (float)((double)x / 2147483648.0 - 1.0);
    }
    return p;
}

/* |got - want| <= atol + rtol |want| elementwise. */
static void check_close_tol(const char *what, int64_t n, const float *got, const double *want,
                            double rtol, double atol) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= atol + rtol * fabs(want[i])))
            fail_msg("%s[%lld]: got %.9g, want %.9g", what, (long long)i, (double)got[i], want[i]);
}

static void check_close(const char *what, int64_t n, const float *got, const double *want,
                        double rtol) {
    check_close_tol(what, n, got, want, rtol, 1e-6);
}

static const int64_t shapes[][3] = {
    {1, 1, 1}, {3, 5, 1}, {2, 16, 1}, {4, 37, 1}, {2, 100, 1}, {3, 4, 7}, {2, 9, 70}, {1, 1, 5},
};
#define N_SHAPES (int)(sizeof shapes / sizeof *shapes)

/* --- Reduce* --------------------------------------------------------------------- */

static double reduce_ref(int op, int post, double div, const float *x, int64_t len, int64_t inner) {
    double acc = op == KILN_RED_PROD ? 1 : 0, m = -INFINITY;
    for (int64_t i = 0; i < len; i++) {
        double v = x[i * inner];
        m = fmax(m, v);
        if (op == KILN_RED_SUM) acc += v;
        if (op == KILN_RED_SUMSQ) acc += v * v;
        if (op == KILN_RED_ASUM) acc += fabs(v);
        if (op == KILN_RED_PROD) acc *= v;
        if (op == KILN_RED_MAX) acc = i ? fmax(acc, v) : v;
        if (op == KILN_RED_MIN) acc = i ? fmin(acc, v) : v;
    }
    if (op == KILN_RED_LOGSUMEXP) {
        for (int64_t i = 0; i < len; i++)
            acc += exp(x[i * inner] - m);
        return m + log(acc);
    }
    return post == KILN_RED_POST_DIV    ? acc / div
           : post == KILN_RED_POST_SQRT ? sqrt(acc)
           : post == KILN_RED_POST_LOG  ? log(acc)
                                        : acc;
}

static void test_reduce_matches_naive_loops_for_every_op_and_layout(void **state) {
    (void)state;
    static const int ops[][2] = {
        {KILN_RED_SUM, KILN_RED_POST_NONE},   {KILN_RED_SUM, KILN_RED_POST_DIV},
        {KILN_RED_SUMSQ, KILN_RED_POST_SQRT}, {KILN_RED_ASUM, KILN_RED_POST_NONE},
        {KILN_RED_PROD, KILN_RED_POST_NONE},  {KILN_RED_MAX, KILN_RED_POST_NONE},
        {KILN_RED_MIN, KILN_RED_POST_NONE},   {KILN_RED_LOGSUMEXP, KILN_RED_POST_NONE},
        {KILN_RED_SUMSQ, KILN_RED_POST_LOG},
    };
    for (int si = 0; si < N_SHAPES; si++)
        for (size_t oi = 0; oi < sizeof ops / sizeof *ops; oi++) {
            int64_t O = shapes[si][0], L = shapes[si][1], I = shapes[si][2];
            float *x = rand_floats(O * L * I, 7 + (uint32_t)si);
            /* Keep products away from 0 and logs away from negative sums. */
            if (ops[oi][0] == KILN_RED_PROD)
                for (int64_t k = 0; k < O * L * I; k++)
                    x[k] = 1.0f + 0.1f * x[k];
            float *y = malloc(sizeof(float) * (size_t)(O * I));
            double *want = malloc(sizeof(double) * (size_t)(O * I));
            kiln_reduce_f32(ops[oi][0], ops[oi][1], (double)L, O, L, I, x, y);
            for (int64_t o = 0; o < O; o++)
                for (int64_t k = 0; k < I; k++)
                    want[o * I + k] =
                        reduce_ref(ops[oi][0], ops[oi][1], (double)L, x + o * L * I + k, L, I);
            char what[64];
            snprintf(what, sizeof what, "reduce op %d post %d shape %d", ops[oi][0], ops[oi][1],
                     si);
            check_close(what, O * I, y, want, 1e-5);
            free(x), free(y), free(want);
        }
}

static void test_reduce_of_integers_accumulates_wide_and_means_truncate(void **state) {
    (void)state;
    int8_t x[] = {100, 100, 100, -7, 2, 0};
    int8_t y[2];
    kiln_reduce_i8(KILN_RED_SUM, KILN_RED_POST_NONE, 3, 2, 3, 1, x, y);
    assert_int_equal(y[0], (int8_t)300); /* wraps once, like numpy's cast back */
    assert_int_equal(y[1], -5);
    int32_t a[] = {7, 8, -7, -8};
    int32_t m[2];
    kiln_reduce_i32(KILN_RED_SUM, KILN_RED_POST_DIV, 2, 2, 2, 1, a, m);
    assert_int_equal(m[0], 7); /* 15 / 2 */
    assert_int_equal(m[1], -7);
    uint16_t u[] = {3, 9, 4};
    uint16_t mx;
    kiln_reduce_u16(KILN_RED_MAX, KILN_RED_POST_NONE, 1, 1, 3, 1, u, &mx);
    assert_int_equal(mx, 9);
}

static void test_reduce_any_combines_separate_groups_of_dims(void **state) {
    (void)state;
    /* x [2,3,4,5], reduce dims 0 and 2: kept 3 (stride 20) and 5 (stride 1),
     * reduced 2 (stride 60) and 4 (stride 5). */
    float *x = rand_floats(120, 3);
    float y[15];
    double want[15];
    kiln_reduce_any_f32(KILN_RED_SUM, KILN_RED_POST_DIV, 8, 1, 1, 3, 5, 0, 0, 20, 1, 1, 1, 2, 4, 0,
                        0, 60, 5, x, y);
    for (int c = 0; c < 3; c++)
        for (int w = 0; w < 5; w++) {
            double s = 0;
            for (int a = 0; a < 2; a++)
                for (int h = 0; h < 4; h++)
                    s += x[a * 60 + c * 20 + h * 5 + w];
            want[c * 5 + w] = s / 8;
        }
    check_close("reduce_any mean", 15, y, want, 1e-5);
    kiln_reduce_any_f32(KILN_RED_LOGSUMEXP, KILN_RED_POST_NONE, 1, 1, 1, 3, 5, 0, 0, 20, 1, 1, 1, 2,
                        4, 0, 0, 60, 5, x, y);
    for (int c = 0; c < 3; c++)
        for (int w = 0; w < 5; w++) {
            double s = 0;
            for (int a = 0; a < 2; a++)
                for (int h = 0; h < 4; h++)
                    s += exp(x[a * 60 + c * 20 + h * 5 + w]);
            want[c * 5 + w] = log(s);
        }
    check_close("reduce_any logsumexp", 15, y, want, 1e-5);
    free(x);
}

/* --- ArgMax, CumSum, TopK ----------------------------------------------------------- */

static void test_argmax_breaks_ties_by_first_or_last_index(void **state) {
    (void)state;
    /* [2,3,2]: along the middle axis. */
    float x[] = {1, 5, 3, 5, 3, 0, /* */ -2, -2, -2, -1, -3, -2};
    int64_t y[4];
    kiln_argmax_f32(0, 0, 2, 3, 2, x, y);
    assert_int_equal(y[0], 1), assert_int_equal(y[1], 0);
    assert_int_equal(y[2], 0), assert_int_equal(y[3], 1);
    kiln_argmax_f32(0, 1, 2, 3, 2, x, y);
    assert_int_equal(y[0], 2), assert_int_equal(y[1], 1);
    assert_int_equal(y[2], 1), assert_int_equal(y[3], 1);
    kiln_argmax_f32(1, 0, 2, 3, 2, x, y); /* ArgMin */
    assert_int_equal(y[0], 0), assert_int_equal(y[1], 2);
    assert_int_equal(y[2], 2), assert_int_equal(y[3], 0);
    kiln_argmax_f32(1, 1, 2, 3, 2, x, y);
    assert_int_equal(y[2], 2), assert_int_equal(y[3], 2);
}

static void test_cumsum_runs_forward_backward_inclusive_and_exclusive(void **state) {
    (void)state;
    double x[] = {1, 2, 3, 4, 5, 6}; /* [3,2], along axis 0 */
    double y[6];
    static const double want[4][6] = {
        {1, 2, 4, 6, 9, 12},  /* inclusive */
        {0, 0, 1, 2, 4, 6},   /* exclusive */
        {9, 12, 8, 10, 5, 6}, /* reverse */
        {8, 10, 5, 6, 0, 0},  /* reverse exclusive */
    };
    for (int v = 0; v < 4; v++) {
        kiln_cumsum_f64(v & 1, v >> 1, 1, 3, 2, x, y);
        for (int i = 0; i < 6; i++)
            assert_true(y[i] == want[v][i]);
    }
    int64_t a[] = {1, 2, 3};
    int64_t b[3];
    kiln_cumsum_i64(0, 0, 1, 3, 1, a, b);
    assert_int_equal(b[2], 6);
}

static void test_topk_returns_sorted_values_with_lower_indices_first_on_ties(void **state) {
    (void)state;
    float x[] = {3, 1, 3, 7, 1, /* */ 0, 0, 0, 0, 0};
    float v[6];
    int64_t ix[6];
    kiln_topk_f32(1, 3, 2, 5, 1, x, v, ix);
    static const float wv[] = {7, 3, 3, 0, 0, 0};
    static const int64_t wi[] = {3, 0, 2, 0, 1, 2};
    for (int i = 0; i < 6; i++) {
        assert_true(v[i] == wv[i]);
        assert_int_equal(ix[i], wi[i]);
    }
    kiln_topk_f32(0, 2, 1, 5, 1, x, v, ix); /* smallest */
    assert_true(v[0] == 1 && v[1] == 1);
    assert_int_equal(ix[0], 1), assert_int_equal(ix[1], 4);
    /* Strided: [1,3,2] along the middle axis, k = 1. */
    int32_t s[] = {1, 9, 5, 2, 3, 4};
    int32_t sv[2];
    kiln_topk_i32(1, 1, 1, 3, 2, s, sv, ix);
    assert_int_equal(sv[0], 5), assert_int_equal(sv[1], 9);
    assert_int_equal(ix[0], 1), assert_int_equal(ix[1], 0);
}

/* --- Softmax family ------------------------------------------------------------------- */

static void softmax_ref(int mode, const float *x, int64_t O, int64_t L, int64_t I, double *want) {
    for (int64_t o = 0; o < O; o++)
        for (int64_t k = 0; k < I; k++) {
            const float *p = x + o * L * I + k;
            double m = -INFINITY, s = 0;
            int64_t at = 0;
            for (int64_t i = 0; i < L; i++) {
                if (p[i * I] > m) at = i;
                m = fmax(m, p[i * I]);
            }
            for (int64_t i = 0; i < L; i++)
                s += exp(p[i * I] - m);
            for (int64_t i = 0; i < L; i++) {
                double *w = want + o * L * I + i * I + k;
                *w = mode == 0   ? exp(p[i * I] - m) / s
                     : mode == 1 ? p[i * I] - m - log(s)
                                 : (double)(i == at);
            }
        }
}

static void test_softmax_logsoftmax_and_hardmax_match_naive_loops(void **state) {
    (void)state;
    for (int si = 0; si < N_SHAPES; si++)
        for (int mode = 0; mode < 3; mode++) {
            int64_t O = shapes[si][0], L = shapes[si][1], I = shapes[si][2], n = O * L * I;
            float *x = rand_floats(n, 11 + (uint32_t)si);
            for (int64_t k = 0; k < n; k++)
                x[k] *= 8;
            float *y = malloc(sizeof(float) * (size_t)n);
            double *want = malloc(sizeof(double) * (size_t)n);
            if (mode == 0) kiln_softmax_f32(O, L, I, x, y);
            if (mode == 1) kiln_logsoftmax_f32(O, L, I, x, y);
            if (mode == 2) kiln_hardmax_f32(O, L, I, x, y);
            softmax_ref(mode, x, O, L, I, want);
            char what[64];
            snprintf(what, sizeof what, "softmax mode %d shape %d", mode, si);
            check_close(what, n, y, want, 1e-5);
            free(x), free(y), free(want);
        }
}

static void test_softmax_family_stays_finite_for_huge_inputs(void **state) {
    (void)state;
    float x[] = {10000, 10001, 10002, 10003, -1e30f, 1e30f, 0, 3};
    float y[8];
    double want[8];
    kiln_softmax_f32(2, 4, 1, x, y);
    softmax_ref(0, x, 2, 4, 1, want);
    check_close("softmax huge", 8, y, want, 1e-5);
    kiln_logsoftmax_f32(1, 4, 1, x, y);
    softmax_ref(1, x, 1, 4, 1, want);
    check_close("logsoftmax huge", 4, y, want, 1e-5);
    double d[] = {1000, 0, -1000};
    double dy[3];
    kiln_logsoftmax_f64(1, 3, 1, d, dy);
    assert_true(fabs(dy[0]) < 1e-12 && fabs(dy[1] + 1000) < 1e-9 && isfinite(dy[2]));
}

/* --- normalisations --------------------------------------------------------------------- */

static void test_layernorm_normalises_rows_and_reports_their_statistics(void **state) {
    (void)state;
    int64_t O = 3, L = 37;
    float *x = rand_floats(O * L, 5), *scale = rand_floats(L, 6), *bias = rand_floats(L, 7);
    for (int64_t i = 0; i < O * L; i++)
        x[i] = 100 + 3 * x[i]; /* a large mean: the two-pass variance matters */
    float *y = malloc(sizeof(float) * (size_t)(O * L)), mean[3], inv[3];
    double *want = malloc(sizeof(double) * (size_t)(O * L)), wm[3], wi[3];
    kiln_layernorm_f32(O, L, x, scale, 1, bias, 1, 1e-5f, y, mean, inv);
    for (int64_t o = 0; o < O; o++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < L; i++)
            m += x[o * L + i];
        m /= (double)L;
        for (int64_t i = 0; i < L; i++)
            v += (x[o * L + i] - m) * (x[o * L + i] - m);
        double r = 1 / sqrt(v / (double)L + 1e-5);
        for (int64_t i = 0; i < L; i++)
            want[o * L + i] = (x[o * L + i] - m) * r * scale[i] + bias[i];
        wm[o] = m, wi[o] = r;
    }
    /* Rows near 100 hold values to about 8e-6 (a float ulp there). */
    check_close_tol("layernorm y", O * L, y, want, 1e-4, 2e-5);
    check_close("layernorm mean", O, mean, wm, 1e-6);
    check_close("layernorm inv_std", O, inv, wi, 1e-4);
    /* No bias, one broadcast scale value, no statistics. */
    float two = 2;
    kiln_layernorm_f32(O, L, x, &two, 0, NULL, 0, 1e-5f, y, NULL, NULL);
    for (int64_t i = 0; i < O * L; i++)
        want[i] = 2 * (want[i] - bias[i % L]) / scale[i % L];
    check_close_tol("layernorm no bias", O * L, y, want, 1e-3, 4e-5);
    free(x), free(scale), free(bias), free(y), free(want);
}

static void test_lpnorm_and_mvn_match_naive_loops(void **state) {
    (void)state;
    float x[] = {3, -4, 0, 0, 1, 1};
    float y[6];
    kiln_lpnorm_f32(2, 3, 2, 1, x, y); /* rows of 2; the zero row stays zero */
    assert_true(fabs(y[0] - 0.6) < 1e-6 && fabs(y[1] + 0.8) < 1e-6 && y[2] == 0 && y[3] == 0);
    kiln_lpnorm_f32(1, 1, 3, 2, x, y); /* along the middle of [1,3,2] */
    assert_true(fabs(y[0] - 0.75) < 1e-6 && fabs(y[1] + 0.8) < 1e-6);
    /* MVN of [2,3,4] over dims 0 and 2: kept 3 (stride 4), reduced 2 (12), 4 (1). */
    float *m = rand_floats(24, 9), my[24];
    double want[24];
    kiln_mvn_f32(1, 1, 1, 3, 0, 0, 0, 4, 1, 1, 2, 4, 0, 0, 12, 1, m, my);
    for (int c = 0; c < 3; c++) {
        double mu = 0, var = 0;
        for (int a = 0; a < 2; a++)
            for (int w = 0; w < 4; w++)
                mu += m[a * 12 + c * 4 + w] / 8.0;
        for (int a = 0; a < 2; a++)
            for (int w = 0; w < 4; w++)
                var += pow(m[a * 12 + c * 4 + w] - mu, 2) / 8.0;
        for (int a = 0; a < 2; a++)
            for (int w = 0; w < 4; w++)
                want[a * 12 + c * 4 + w] = (m[a * 12 + c * 4 + w] - mu) / (sqrt(var) + 1e-9);
    }
    check_close("mvn", 24, my, want, 1e-4);
    free(m);
}

static void test_nllloss_weighs_ignores_and_reduces(void **state) {
    (void)state;
    /* x [2,3,2] log-probabilities, target [2,2]. */
    float x[] = {-1, -2, -3, -4, -5, -6, /* */ -7, -8, -9, -10, -11, -12};
    int64_t t[] = {0, 2, 1, -100}, t2[] = {0, 2, 1, 2};
    float w[] = {1, 2, 3};
    float loss[4];
    KilnRunError e;
    assert_int_equal(kiln_nllloss_f32(KILN_LOSS_NONE, -100, 2, 3, 2, x, t, NULL, loss, &e), 0);
    assert_true(loss[0] == 1 && loss[1] == 6 && loss[2] == 9 && loss[3] == 0);
    assert_int_equal(kiln_nllloss_f32(KILN_LOSS_SUM, -100, 2, 3, 2, x, t, w, loss, &e), 0);
    assert_true(loss[0] == 1 + 18 + 18);
    /* target 2 ignored */
    assert_int_equal(kiln_nllloss_f32(KILN_LOSS_MEAN, 2, 2, 3, 2, x, t2, w, loss, &e), 0);
    assert_true(fabs(loss[0] - (1 + 18) / 3.0) < 1e-6);
}

static void test_nllloss_fails_on_a_target_that_is_no_class(void **state) {
    (void)state;
    float x[12] = {0}, loss[4] = {7, 7, 7, 7};
    int64_t t[] = {0, 2, 1, 9};
    KilnRunError e = {0};
    assert_int_equal(kiln_nllloss_f32(KILN_LOSS_NONE, INT64_MIN, 2, 3, 2, x, t, NULL, loss, &e), 1);
    assert_int_equal(e.kind, KILN_CHECK_CLASS);
    assert_int_equal(e.value, 9);
    assert_int_equal(e.position, 3);
    assert_int_equal(e.size, 3);
    assert_true(loss[0] == 7); /* nothing written */
    t[3] = -1;
    assert_int_equal(kiln_nllloss_f32(KILN_LOSS_SUM, INT64_MIN, 2, 3, 2, x, t, NULL, loss, &e), 1);
    assert_int_equal(e.value, -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce_matches_naive_loops_for_every_op_and_layout),
        cmocka_unit_test(test_reduce_of_integers_accumulates_wide_and_means_truncate),
        cmocka_unit_test(test_reduce_any_combines_separate_groups_of_dims),
        cmocka_unit_test(test_argmax_breaks_ties_by_first_or_last_index),
        cmocka_unit_test(test_cumsum_runs_forward_backward_inclusive_and_exclusive),
        cmocka_unit_test(test_topk_returns_sorted_values_with_lower_indices_first_on_ties),
        cmocka_unit_test(test_softmax_logsoftmax_and_hardmax_match_naive_loops),
        cmocka_unit_test(test_softmax_family_stays_finite_for_huge_inputs),
        cmocka_unit_test(test_layernorm_normalises_rows_and_reports_their_statistics),
        cmocka_unit_test(test_lpnorm_and_mvn_match_naive_loops),
        cmocka_unit_test(test_nllloss_fails_on_a_target_that_is_no_class),
        cmocka_unit_test(test_nllloss_weighs_ignores_and_reduces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
