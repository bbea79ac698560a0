/* test_math_kernels.c: the math family's kernels (runtime/kernels/
 * elementwise.c, kmath.h), natively compiled, against naive double loops
 * and libm.
 *
 * The tolerance is the conformance suite's: |got - want| <= 1e-7 + 1e-3 *
 * |want|. The atol of 1e-7 is tight near zero, where sin, erf, tanh and
 * friends are about x: each unary op is also swept over tiny inputs.
 * Measured (x86-64, gcc -O2): kiln_erff max abs error 4.2e-7 on [-6, 6]
 * (relative 2.5e-7 below 1e-3); kiln_logf max relative error 7.9e-8 over
 * [1e-30, 1e30].
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

#include "kernels.h"
#include "kmath.h"
#include "kmath_ops.h"

static int close_enough(double got, double want) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= 1e-7 + 1e-3 * fabs(want);
}

/* Inputs for a unary op: a sweep of [lo, hi] plus tiny values near 0. */
static int64_t sweep(float *x, int64_t cap, float lo, float hi) {
    int64_t n = 0;
    for (int64_t i = 0; i < 4000 && n < cap; i++)
        x[n++] = lo + (hi - lo) * (float)i / 3999.0f;
    static const float tiny[] = {0.0f, 1e-8f, -1e-8f, 3e-6f, -3e-6f, 1e-4f, -1e-4f, 1e-30f};
    for (size_t i = 0; i < sizeof tiny / sizeof *tiny && n < cap; i++)
        if (tiny[i] >= lo && tiny[i] <= hi) x[n++] = tiny[i];
    return n;
}

typedef struct UnaryCase {
    int op;
    float lo, hi, alpha, beta;
    double (*ref)(double x, double a, double b);
} UnaryCase;

static double r_relu(double x, double a, double b) {
    return (void)a, (void)b, x > 0 ? x : 0;
}
static double r_sigmoid(double x, double a, double b) {
    return (void)a, (void)b, 1 / (1 + exp(-x));
}
static double r_tanh(double x, double a, double b) {
    return (void)a, (void)b, tanh(x);
}
static double r_abs(double x, double a, double b) {
    return (void)a, (void)b, fabs(x);
}
static double r_neg(double x, double a, double b) {
    return (void)a, (void)b, -x;
}
static double r_exp(double x, double a, double b) {
    return (void)a, (void)b, exp(x);
}
static double r_log(double x, double a, double b) {
    return (void)a, (void)b, log(x);
}
static double r_sqrt(double x, double a, double b) {
    return (void)a, (void)b, sqrt(x);
}
static double r_recip(double x, double a, double b) {
    return (void)a, (void)b, 1 / x;
}
static double r_floor(double x, double a, double b) {
    return (void)a, (void)b, floor(x);
}
static double r_ceil(double x, double a, double b) {
    return (void)a, (void)b, ceil(x);
}
static double r_round(double x, double a, double b) {
    return (void)a, (void)b, nearbyint(x);
}
static double r_sign(double x, double a, double b) {
    return (void)a, (void)b, (x > 0) - (x < 0);
}
static double r_sin(double x, double a, double b) {
    return (void)a, (void)b, sin(x);
}
static double r_cos(double x, double a, double b) {
    return (void)a, (void)b, cos(x);
}
static double r_tan(double x, double a, double b) {
    return (void)a, (void)b, tan(x);
}
static double r_asin(double x, double a, double b) {
    return (void)a, (void)b, asin(x);
}
static double r_acos(double x, double a, double b) {
    return (void)a, (void)b, acos(x);
}
static double r_atan(double x, double a, double b) {
    return (void)a, (void)b, atan(x);
}
static double r_sinh(double x, double a, double b) {
    return (void)a, (void)b, sinh(x);
}
static double r_cosh(double x, double a, double b) {
    return (void)a, (void)b, cosh(x);
}
static double r_asinh(double x, double a, double b) {
    return (void)a, (void)b, asinh(x);
}
static double r_acosh(double x, double a, double b) {
    return (void)a, (void)b, acosh(x);
}
static double r_atanh(double x, double a, double b) {
    return (void)a, (void)b, atanh(x);
}
static double r_erf(double x, double a, double b) {
    return (void)a, (void)b, erf(x);
}
static double r_leaky(double x, double a, double b) {
    return (void)b, x < 0 ? a * x : x;
}
static double r_elu(double x, double a, double b) {
    return (void)b, x < 0 ? a * expm1(x) : x;
}
static double r_selu(double x, double a, double g) {
    return x > 0 ? g * x : g * a * expm1(x);
}
static double r_celu(double x, double a, double b) {
    return (void)b, fmax(0, x) + fmin(0, a * expm1(x / a));
}
static double r_hsig(double x, double a, double b) {
    return fmax(0, fmin(1, a * x + b));
}
static double r_hswish(double x, double a, double b) {
    return (void)a, (void)b, x * fmax(0, fmin(1, x / 6 + 0.5));
}
static double r_softplus(double x, double a, double b) {
    return (void)a, (void)b, log1p(exp(x));
}
static double r_softsign(double x, double a, double b) {
    return (void)a, (void)b, x / (1 + fabs(x));
}
static double r_thresh(double x, double a, double b) {
    return (void)b, x > a ? x : 0;
}
static double r_shrink(double x, double l, double b) {
    return x < -l ? x + b : x > l ? x - b : 0;
}

static const UnaryCase unary_cases[] = {
    {KILN_UN_RELU, -5, 5, 0, 0, r_relu},
    {KILN_UN_SIGMOID, -20, 20, 0, 0, r_sigmoid},
    {KILN_UN_TANH, -10, 10, 0, 0, r_tanh},
    {KILN_UN_ABS, -5, 5, 0, 0, r_abs},
    {KILN_UN_NEG, -5, 5, 0, 0, r_neg},
    {KILN_UN_EXP, -110, 89, 0, 0, r_exp},
    {KILN_UN_LOG, 0, 1e6f, 0, 0, r_log},
    {KILN_UN_SQRT, 0, 100, 0, 0, r_sqrt},
    {KILN_UN_RECIPROCAL, 0.01f, 100, 0, 0, r_recip},
    {KILN_UN_FLOOR, -5, 5, 0, 0, r_floor},
    {KILN_UN_CEIL, -5, 5, 0, 0, r_ceil},
    {KILN_UN_ROUND, -5, 5, 0, 0, r_round},
    {KILN_UN_SIGN, -5, 5, 0, 0, r_sign},
    {KILN_UN_SIN, -10, 10, 0, 0, r_sin},
    {KILN_UN_COS, -10, 10, 0, 0, r_cos},
    {KILN_UN_TAN, -1.5f, 1.5f, 0, 0, r_tan},
    {KILN_UN_ASIN, -1, 1, 0, 0, r_asin},
    {KILN_UN_ACOS, -1, 1, 0, 0, r_acos},
    {KILN_UN_ATAN, -10, 10, 0, 0, r_atan},
    {KILN_UN_SINH, -10, 10, 0, 0, r_sinh},
    {KILN_UN_COSH, -10, 10, 0, 0, r_cosh},
    {KILN_UN_ASINH, -10, 10, 0, 0, r_asinh},
    {KILN_UN_ACOSH, 1, 10, 0, 0, r_acosh},
    {KILN_UN_ATANH, -0.99f, 0.99f, 0, 0, r_atanh},
    {KILN_UN_ERF, -6, 6, 0, 0, r_erf},
    {KILN_UN_LEAKY_RELU, -5, 5, 0.1f, 0, r_leaky},
    {KILN_UN_ELU, -5, 5, 2.0f, 0, r_elu},
    {KILN_UN_SELU, -5, 5, 1.67326319217681884765625f, 1.05070102214813232421875f, r_selu},
    {KILN_UN_CELU, -5, 5, 2.0f, 0, r_celu},
    {KILN_UN_HARD_SIGMOID, -5, 5, 0.2f, 0.5f, r_hsig},
    {KILN_UN_HARD_SWISH, -5, 5, 0, 0, r_hswish},
    {KILN_UN_SOFTPLUS, -30, 100, 0, 0, r_softplus},
    {KILN_UN_SOFTSIGN, -5, 5, 0, 0, r_softsign},
    {KILN_UN_THRESHOLDED_RELU, -5, 5, 1.0f, 0, r_thresh},
    {KILN_UN_SHRINK, -5, 5, 0.5f, 1.5f, r_shrink},
};

static void test_unary_float_ops_match_libm_within_the_conformance_tolerance(void **state) {
    (void)state;
    enum { CAP = 4100 };
    static float x[CAP], y[CAP];
    static double xd[CAP], yd[CAP];
    for (size_t c = 0; c < sizeof unary_cases / sizeof *unary_cases; c++) {
        const UnaryCase *u = &unary_cases[c];
        int64_t n = sweep(x, CAP, u->lo, u->hi);
        kiln_unary_f32(u->op, n, x, y, u->alpha, u->beta);
        for (int64_t i = 0; i < n; i++) {
            /* Rounded to float: exp(88.75) overflows to inf. */
            double want = (float)u->ref((double)x[i], (double)u->alpha, (double)u->beta);
            if (!close_enough(y[i], want))
                fail_msg("f32 op %d at x=%.9g: got %.9g, want %.9g", u->op, (double)x[i],
                         (double)y[i], want);
        }
        for (int64_t i = 0; i < n; i++)
            xd[i] = x[i];
        kiln_unary_f64(u->op, n, xd, yd, u->alpha, u->beta);
        for (int64_t i = 0; i < n; i++) {
            double want = u->ref(xd[i], (double)u->alpha, (double)u->beta);
            if (!(isnan(want)   ? isnan(yd[i])
                  : isinf(want) ? yd[i] == want
                                : fabs(yd[i] - want) <= 1e-12 + 1e-9 * fabs(want)))
                fail_msg("f64 op %d at x=%.17g: got %.17g, want %.17g", u->op, xd[i], yd[i], want);
        }
    }
}

static void test_exp_and_log_give_ieee_results_at_the_edges(void **state) {
    (void)state;
    float x[] = {100.0f, -200.0f, 0.0f, -1.0f, INFINITY, NAN, 1e-40f};
    float e[7], l[7];
    kiln_unary_f32(KILN_UN_EXP, 7, x, e, 0, 0);
    kiln_unary_f32(KILN_UN_LOG, 7, x, l, 0, 0);
    assert_true(isinf(e[0]) && e[0] > 0);
    assert_true(e[1] == 0.0f);
    assert_true(isinf(l[2]) && l[2] < 0);
    assert_true(isnan(l[3]));
    assert_true(isinf(l[4]) && l[4] > 0);
    assert_true(isnan(l[5]) && isnan(e[5]));
    assert_true(close_enough(l[6], log(1e-40)));
}

static void test_round_is_half_to_even(void **state) {
    (void)state;
    float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, 2.6f};
    float want[] = {0, 2, 2, -0.0f, -2, -2, 2, 3};
    float y[8];
    kiln_unary_f32(KILN_UN_ROUND, 8, x, y, 0, 0);
    for (int i = 0; i < 8; i++)
        assert_true(y[i] == want[i]);
}

static void test_integer_unary_ops_handle_sign_and_not(void **state) {
    (void)state;
    int32_t x[] = {-3, 0, 7};
    int32_t y[3];
    kiln_unary_i32(KILN_UN_ABS, 3, x, y, 0, 0);
    assert_true(y[0] == 3 && y[1] == 0 && y[2] == 7);
    kiln_unary_i32(KILN_UN_SIGN, 3, x, y, 0, 0);
    assert_true(y[0] == -1 && y[1] == 0 && y[2] == 1);
    kiln_unary_i32(KILN_UN_RELU, 3, x, y, 0, 0);
    assert_true(y[0] == 0 && y[2] == 7);
    kiln_unary_i32(KILN_UN_SHRINK, 3, x, y, 1.5f, 1.0f);
    assert_true(y[0] == -2 && y[1] == 0 && y[2] == 6);
    uint8_t b[] = {0, 1}, nb[2];
    kiln_unary_bool(KILN_UN_NOT, 2, b, nb, 0, 0);
    assert_true(nb[0] == 1 && nb[1] == 0);
}

/* Binary ops through one row (stride 1, no broadcast). */
#define ROW(fn, op, a, b, y, n) fn(op, 1, 1, 1, n, a, 0, 0, 0, 1, b, 0, 0, 0, 1, y)

static void test_integer_division_truncates_and_never_traps(void **state) {
    (void)state;
    int32_t a[] = {7, -7, 7, -7, 5, INT32_MIN};
    int32_t b[] = {2, 2, -2, -2, 0, -1};
    int32_t y[6];
    ROW(kiln_binary_i32, KILN_BIN_DIV, a, b, y, 6);
    int32_t want[] = {3, -3, -3, 3, 0, INT32_MIN};
    for (int i = 0; i < 6; i++)
        assert_int_equal(y[i], want[i]);
}

static void test_mod_takes_the_divisors_sign_and_fmod_the_dividends(void **state) {
    (void)state;
    int64_t a[] = {-4, 7, 5, -7, 3, INT64_MIN};
    int64_t b[] = {3, -3, 0, -3, 3, -1};
    int64_t y[6];
    ROW(kiln_binary_i64, KILN_BIN_MOD, a, b, y, 6);
    int64_t mod[] = {2, -2, 0, -1, 0, 0}; /* numpy's np.mod */
    for (int i = 0; i < 6; i++)
        assert_int_equal(y[i], mod[i]);
    ROW(kiln_binary_i64, KILN_BIN_FMOD, a, b, y, 6);
    int64_t fmod_[] = {-1, 1, 0, -1, 0, 0}; /* np.fmod */
    for (int i = 0; i < 6; i++)
        assert_int_equal(y[i], fmod_[i]);
    float fa[] = {-4.3f, 7.5f}, fb[] = {2.1f, -2.0f}, fy[2];
    ROW(kiln_binary_f32, KILN_BIN_FMOD, fa, fb, fy, 2);
    assert_true(fy[0] == fmodf(-4.3f, 2.1f) && fy[1] == fmodf(7.5f, -2.0f));
}

static void test_integer_pow_shifts_and_logic_match_numpy(void **state) {
    (void)state;
    int64_t a[] = {2, -3, 5, 1, -1, 2};
    int64_t b[] = {10, 3, 0, -2, -3, -1};
    int64_t y[6];
    ROW(kiln_binary_i64, KILN_BIN_POW, a, b, y, 6);
    int64_t want[] = {1024, -27, 1, 1, -1, 0};
    for (int i = 0; i < 6; i++)
        assert_int_equal(y[i], want[i]);
    uint8_t s[] = {16, 4, 1, 255}, k[] = {1, 2, 8, 7}, sy[4];
    ROW(kiln_binary_u8, KILN_BIN_SHL, s, k, sy, 4);
    assert_true(sy[0] == 32 && sy[1] == 16 && sy[2] == 0 && sy[3] == 128);
    ROW(kiln_binary_u8, KILN_BIN_SHR, s, k, sy, 4);
    assert_true(sy[0] == 8 && sy[1] == 1 && sy[2] == 0 && sy[3] == 1);
    uint8_t p[] = {0, 0, 1, 1}, q[] = {0, 1, 0, 1}, r[4];
    ROW(kiln_binary_bool, KILN_BIN_XOR, p, q, r, 4);
    assert_true(r[0] == 0 && r[1] == 1 && r[2] == 1 && r[3] == 0);
    ROW(kiln_binary_bool, KILN_BIN_AND, p, q, r, 4);
    assert_true(r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 1);
}

static void test_float_max_and_min_propagate_nan(void **state) {
    (void)state;
    float a[] = {1, NAN, 3}, b[] = {NAN, 2, 1}, y[3];
    ROW(kiln_binary_f32, KILN_BIN_MAX, a, b, y, 3);
    assert_true(isnan(y[0]) && isnan(y[1]) && y[2] == 3);
    ROW(kiln_binary_f32, KILN_BIN_MIN, a, b, y, 3);
    assert_true(isnan(y[0]) && isnan(y[1]) && y[2] == 1);
}

static void test_float_pow_matches_libm_including_the_folded_exponents(void **state) {
    (void)state;
    float a[] = {2.0f, 9.0f, 3.0f, -2.0f}, b[] = {2.0f, 0.5f, 1.7f, 3.0f}, y[4];
    ROW(kiln_binary_f32, KILN_BIN_POW, a, b, y, 4);
    for (int i = 0; i < 4; i++)
        assert_true(close_enough(y[i], pow(a[i], b[i])));
}

/* Broadcast [2,3,1] op [4] -> [2,3,4] (a walks dims 0,1; b walks dim 2)
 * against a naive loop. */
static void test_compare_and_where_broadcast_like_numpy(void **state) {
    (void)state;
    int64_t a[6], b[4];
    uint8_t y[24], c[4] = {1, 0, 0, 1};
    for (int i = 0; i < 6; i++)
        a[i] = i - 2;
    for (int j = 0; j < 4; j++)
        b[j] = j - 1;
    kiln_compare_i64(KILN_BIN_LE, 1, 6, 1, 4, a, 0, 1, 0, 0, b, 0, 0, 0, 1, y);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++)
            assert_int_equal(y[i * 4 + j], a[i] <= b[j]);
    int64_t w[24];
    kiln_where_i64(1, 6, 1, 4, c, 0, 0, 0, 1, a, 0, 1, 0, 0, b, 0, 0, 0, 1, w);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++)
            assert_int_equal(w[i * 4 + j], c[j] ? a[i] : b[j]);
    /* int64 beyond 2^53 must not compare through double. */
    int64_t big[] = {(1LL << 60) + 1}, big2[] = {1LL << 60};
    uint8_t eq;
    ROW(kiln_compare_i64, KILN_BIN_EQ, big, big2, &eq, 1);
    assert_int_equal(eq, 0);
}

static void test_prelu_scales_negative_values_by_the_broadcast_slope(void **state) {
    (void)state;
    float x[] = {-1, 2, -3, 4, -5, 6}, s[] = {0.5f, 0.25f}, y[6];
    /* x [3,2], slope [2]: slope stride 0 along dim 0. */
    kiln_binary_f32(KILN_BIN_PRELU, 1, 1, 3, 2, x, 0, 0, 2, 1, s, 0, 0, 0, 1, y);
    float want[] = {-0.5f, 2, -1.5f, 4, -2.5f, 6};
    for (int i = 0; i < 6; i++)
        assert_true(y[i] == want[i]);
}

static void test_clip_reads_optional_bounds_and_keeps_nan(void **state) {
    (void)state;
    float x[] = {-2, 0.5f, 3, NAN}, lo = -1, hi = 1, y[4];
    kiln_clip_f32(4, x, &lo, &hi, y);
    assert_true(y[0] == -1 && y[1] == 0.5f && y[2] == 1 && isnan(y[3]));
    kiln_clip_f32(4, x, NULL, &hi, y);
    assert_true(y[0] == -2 && y[2] == 1);
    kiln_clip_f32(4, x, &lo, NULL, y);
    assert_true(y[0] == -1 && y[2] == 3);
    int8_t xi[] = {-128, 5, 127}, li = -3, yi[3];
    kiln_clip_i8(3, xi, &li, NULL, yi);
    assert_true(yi[0] == -3 && yi[1] == 5 && yi[2] == 127);
}

static void test_isinf_and_isnan_classify_each_sign(void **state) {
    (void)state;
    float x[] = {INFINITY, -INFINITY, NAN, 1.0f};
    uint8_t y[4];
    kiln_classify_f32(KILN_CLASS_INF, 4, x, y);
    assert_true(y[0] && y[1] && !y[2] && !y[3]);
    kiln_classify_f32(KILN_CLASS_POS_INF, 4, x, y);
    assert_true(y[0] && !y[1]);
    kiln_classify_f32(KILN_CLASS_NEG_INF, 4, x, y);
    assert_true(!y[0] && y[1]);
    kiln_classify_f32(KILN_CLASS_NAN, 4, x, y);
    assert_true(!y[0] && !y[1] && y[2] && !y[3]);
}

static void test_cast_truncates_rounds_to_half_and_maps_to_bool(void **state) {
    (void)state;
    float x[] = {-2.7f, 2.7f, 0.0f, NAN, 65520.0f, 1.00048828125f};
    int32_t i[2];
    kiln_cast_f32_i32(2, x, i);
    assert_true(i[0] == -2 && i[1] == 2);
    uint8_t b[4];
    kiln_cast_f32_bool(4, x, b);
    assert_true(b[0] == 1 && b[1] == 1 && b[2] == 0 && b[3] == 1);
    _Float16 h[6];
    float back[6];
    kiln_cast_f32_f16(6, x, h);
    kiln_cast_f16_f32(6, h, back);
    assert_true(back[0] == -2.69921875f && isnan(back[3]));
    assert_true(isinf(back[4]));  /* rounds past 65504 */
    assert_true(back[5] == 1.0f); /* ties to even */
    double d[] = {0.1, 1e300};
    kiln_cast_f64_f16(2, d, h);
    kiln_cast_f16_f32(2, h, back);
    assert_true(back[0] == 0.0999755859375f && isinf(back[1]));
    uint8_t t[] = {0, 1};
    double td[2];
    kiln_cast_bool_f64(2, t, td);
    assert_true(td[0] == 0.0 && td[1] == 1.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_float_ops_match_libm_within_the_conformance_tolerance),
        cmocka_unit_test(test_exp_and_log_give_ieee_results_at_the_edges),
        cmocka_unit_test(test_round_is_half_to_even),
        cmocka_unit_test(test_integer_unary_ops_handle_sign_and_not),
        cmocka_unit_test(test_integer_division_truncates_and_never_traps),
        cmocka_unit_test(test_mod_takes_the_divisors_sign_and_fmod_the_dividends),
        cmocka_unit_test(test_integer_pow_shifts_and_logic_match_numpy),
        cmocka_unit_test(test_float_max_and_min_propagate_nan),
        cmocka_unit_test(test_float_pow_matches_libm_including_the_folded_exponents),
        cmocka_unit_test(test_compare_and_where_broadcast_like_numpy),
        cmocka_unit_test(test_prelu_scales_negative_values_by_the_broadcast_slope),
        cmocka_unit_test(test_clip_reads_optional_bounds_and_keeps_nan),
        cmocka_unit_test(test_isinf_and_isnan_classify_each_sign),
        cmocka_unit_test(test_cast_truncates_rounds_to_half_and_maps_to_bool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
