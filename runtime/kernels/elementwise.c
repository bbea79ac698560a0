/* elementwise.c: broadcasting binary ops, unary activations, softmax, copy. */
#include "kernels.h"
#include "kmath.h"

/* One binary kernel per element type, instantiated from BINARY(). Integer
 * arithmetic wraps (the bitcode is compiled with -fwrapv, as numpy
 * wraps); integer division by zero gives 0 instead of trapping. */
#define BINARY_APPLY(op, x, y, is_int)                                                             \
    ((op) == KILN_BIN_ADD   ? (x) + (y)                                                            \
     : (op) == KILN_BIN_SUB ? (x) - (y)                                                            \
     : (op) == KILN_BIN_MUL ? (x) * (y)                                                            \
     : (is_int) && (y) == 0 ? 0                                                                    \
                            : (x) / (y))

#define BINARY(T, sfx, is_int)                                                                     \
    void kiln_binary_##sfx(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,                 \
                           const T *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,    \
                           const T *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,    \
                           T *restrict y) {                                                        \
        for (int64_t i0 = 0; i0 < d0; i0++)                                                        \
            for (int64_t i1 = 0; i1 < d1; i1++)                                                    \
                for (int64_t i2 = 0; i2 < d2; i2++) {                                              \
                    const T *restrict pa = a + i0 * a0 + i1 * a1 + i2 * a2;                        \
                    const T *restrict pb = b + i0 * b0 + i1 * b1 + i2 * b2;                        \
                    T *restrict py = y + ((i0 * d1 + i1) * d2 + i2) * d3;                          \
                    for (int64_t i3 = 0; i3 < d3; i3++) {                                          \
                        T x = pa[i3 * a3], z = pb[i3 * b3];                                        \
                        py[i3] = (T)BINARY_APPLY(op, x, z, is_int);                                \
                    }                                                                              \
                }                                                                                  \
    }

KILN_FOR_NUMERIC_TYPES(BINARY)

void kiln_unary_f32(int op, int64_t n, const float *restrict x, float *restrict y, float alpha,
                    float beta) {
    (void)alpha;
    (void)beta;
    switch (op) {
    case KILN_UN_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case KILN_UN_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = kiln_sigmoidf(x[i]);
        break;
    case KILN_UN_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = kiln_tanhf(x[i]);
        break;
    }
}

void kiln_softmax_f32(int64_t outer, int64_t len, int64_t inner, const float *restrict x,
                      float *restrict y) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *restrict px = x + o * len * inner + in;
            float *restrict py = y + o * len * inner + in;
            float m = px[0];
            for (int64_t i = 1; i < len; i++)
                m = px[i * inner] > m ? px[i * inner] : m;
            float s = 0.0f;
            for (int64_t i = 0; i < len; i++) {
                float e = kiln_expf(px[i * inner] - m);
                py[i * inner] = e;
                s += e;
            }
            float r = 1.0f / s;
            for (int64_t i = 0; i < len; i++)
                py[i * inner] *= r;
        }
}

void kiln_copy(int64_t n, const void *restrict src, void *restrict dst) {
    __builtin_memcpy(dst, src, (unsigned long)n);
}
