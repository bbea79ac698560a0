/* kmath.h: vectorisable float math for kernels.
 *
 * libm's expf is an opaque call that stops LLVM's loop vectoriser; these
 * are straight-line polynomial versions (Cephes' coefficients, range
 * reduction by powers of two) that vectorise to FMAs. They cover the
 * functions networks use in hot loops (exp, log, erf, sigmoid, tanh);
 * kernels call libm for the rest. Accuracy: about 2 ulp for expf over
 * [-87, 88]; inputs beyond are clamped, which keeps results finite for
 * sigmoid, tanh and softmax (kiln_expf_full gives IEEE overflow and
 * underflow for the Exp op). tests/unit/test_math_kernels.c measures
 * each against libm.
 */
#ifndef KILN_KERNEL_MATH_H
#define KILN_KERNEL_MATH_H

#include <stdint.h>

/* n, a whole number with |n| < 2^22, as an int32, without a float to int
 * conversion: the kernels are built with -fno-strict-float-cast-overflow,
 * so a cast is a saturating conversion, which x86 vector code does one
 * lane at a time. Adding 1.5 * 2^23 puts n in the low mantissa bits. */
static inline int32_t kiln_whole_to_i32(float n) {
    union {
        float f;
        int32_t i;
    } u;
    u.f = n + 12582912.0f;
    return u.i - 0x4B400000;
}

static inline float kiln_expf(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.37f ? 88.37f : x;
    float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale;
    scale.i = (kiln_whole_to_i32(n) + 127) << 23;
    return p * scale.f;
}

static inline float kiln_sigmoidf(float x) {
    return 1.0f / (1.0f + kiln_expf(-x));
}

static inline float kiln_tanhf(float x) {
    float ax = x < 0 ? -x : x;
    /* Small |x|: odd polynomial, exact to float precision where 1 - 2/(e+1)
     * would cancel. Large |x|: the exp form. */
    float z = x * x;
    float small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z +
                    1.33314422036E-1f) *
                       z -
                   3.33332819422E-1f) *
                      z * x +
                  x;
    float big = 1.0f - 2.0f / (kiln_expf(2.0f * ax) + 1.0f);
    big = x < 0 ? -big : big;
    return ax < 0.625f ? small : big;
}

/* exp with IEEE results over the whole float range, for the Exp op: the
 * same polynomial, but 2^n is applied as two factors 2^(n/2) 2^(n-n/2),
 * each a normal float for n in [-150, 128], so results near overflow
 * (88.37 < x <= 88.72) and subnormal results (x < -87.3) are right;
 * +inf above, 0 below. */
static inline float kiln_expf_full(float x) {
    float c = x < -103.9f ? -103.9f : x;
    c = c > 88.7228f ? 88.7228f : c;
    float n = __builtin_floorf(c * 1.44269504088896341f + 0.5f);
    float r = c - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    int32_t ni = kiln_whole_to_i32(n), h = ni >> 1;
    union {
        int32_t i;
        float f;
    } s1, s2;
    s1.i = (h + 127) << 23;
    s2.i = (ni - h + 127) << 23;
    p = p * s1.f * s2.f;
    p = x > 88.7228f ? __builtin_inff() : p;
    return x < -103.9f ? 0.0f : p;
}

/* Natural log (Cephes logf): x = 2^e * m with m in [sqrt(1/2), sqrt(2)),
 * log(m) by a polynomial in m - 1, so results near x = 1 keep their
 * relative accuracy. Subnormals are scaled by 2^23 first. log(0) = -inf,
 * log(x < 0) = NaN, log(inf) = inf; all selects, so loops vectorise. */
static inline float kiln_logf(float x) {
    int sub = x < 1.17549435e-38f;
    union {
        float f;
        int32_t i;
    } u = {sub ? x * 8388608.0f : x};
    int32_t e = ((u.i >> 23) & 0xff) - 126 - (sub ? 23 : 0);
    u.i = (u.i & 0x007fffff) | 0x3f000000; /* m in [0.5, 1) */
    float m = u.f;
    int small = m < 0.707106781186547524f;
    e -= small;
    m = small ? m + m - 1.0f : m - 1.0f;
    float z = m * m;
    float p = 7.0376836292E-2f;
    p = p * m - 1.1514610310E-1f;
    p = p * m + 1.1676998740E-1f;
    p = p * m - 1.2420140846E-1f;
    p = p * m + 1.4249322787E-1f;
    p = p * m - 1.6668057665E-1f;
    p = p * m + 2.0000714765E-1f;
    p = p * m - 2.4999993993E-1f;
    p = p * m + 3.3333331174E-1f;
    float fe = (float)e;
    float r = p * m * z - 0.5f * z + fe * -2.12194440e-4f;
    r = m + r + fe * 0.693359375f;
    r = x == 0.0f ? -__builtin_inff() : r;
    r = x < 0.0f ? __builtin_nanf("") : r;
    return x == __builtin_inff() || x != x ? x : r;
}

/* erf as x * P(x^2) / Q(x^2) on [-4, 4] (Eigen's rational fit), exact
 * in relative terms near 0 and within 1 ulp of +-1 beyond 4. */
static inline float kiln_erff(float x) {
    float c = x > 4.0f ? 4.0f : x < -4.0f ? -4.0f : x;
    float z = c * c;
    float p = -2.72614225801306e-10f;
    p = p * z + 2.77068142495902e-08f;
    p = p * z - 2.10102402082508e-06f;
    p = p * z - 5.69250639462346e-05f;
    p = p * z - 7.34990630326855e-04f;
    p = p * z - 2.95459980854025e-03f;
    p = p * z - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * z - 2.13374055278905e-04f;
    q = q * z - 1.68282697438203e-03f;
    q = q * z - 7.37332916720468e-03f;
    q = q * z - 1.42647390514189e-02f;
    return c * p / q;
}

/* The activation epilogue `kind` (KILN_EPI_*, kiln_kernel_abi.h) of v,
 * with its parameters a and b; a loop over it with kind a constant
 * vectorises to the one case. NONE and unknown kinds give v. */
static inline float kiln_epilogue_f32(int kind, float a, float b, float v) {
    switch (kind) {
    case 1: /* RELU */
        return v > 0.0f ? v : 0.0f;
    case 2: /* SIGMOID */
        return kiln_sigmoidf(v);
    case 3: /* TANH */
        return kiln_tanhf(v);
    case 4: /* CLAMP */
        v = v < a ? a : v;
        return v > b ? b : v;
    case 5: /* LEAKY_RELU */
        return v < 0.0f ? a * v : v;
    case 6: { /* HARDSIGMOID */
        float h = a * v + b;
        h = h < 0.0f ? 0.0f : h;
        return h > 1.0f ? 1.0f : h;
    }
    case 7: { /* HARDSWISH */
        float h = v * (1.0f / 6.0f) + 0.5f;
        h = h < 0.0f ? 0.0f : h;
        return v * (h > 1.0f ? 1.0f : h);
    }
    case 8: /* SILU */
        return v * kiln_sigmoidf(v);
    case 9: /* GELU */
        return 0.5f * v * (1.0f + kiln_erff(v * 0.70710678118654752f));
    case 10: /* GELU_TANH */
        return 0.5f * v * (1.0f + kiln_tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    default:
        return v;
    }
}

#endif
