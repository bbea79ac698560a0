/* kmath.h: vectorisable float math for kernels.
 *
 * libm's expf is an opaque call that stops LLVM's loop vectoriser; these
 * are straight-line polynomial versions (Cephes' coefficients, range
 * reduction by powers of two) that vectorise to FMAs. Accuracy: about 2 ulp
 * for expf over [-87, 88]; inputs beyond are clamped, which keeps results
 * finite for sigmoid, tanh and softmax.
 */
#ifndef KILN_KERNEL_MATH_H
#define KILN_KERNEL_MATH_H

#include <stdint.h>

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
    scale.i = ((int32_t)n + 127) << 23;
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

#endif
