/* elementwise.c: broadcasting binary ops, unary activations, softmax, copy. */
#include "kernels.h"
#include "kmath.h"

static inline float binary_apply(int op, float a, float b) {
    switch (op) {
    case KILN_BIN_ADD:
        return a + b;
    case KILN_BIN_SUB:
        return a - b;
    case KILN_BIN_MUL:
        return a * b;
    default:
        return a / b;
    }
}

void kiln_binary_f32(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     const float *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,
                     const float *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,
                     float *restrict y) {
    for (int64_t i0 = 0; i0 < d0; i0++)
        for (int64_t i1 = 0; i1 < d1; i1++)
            for (int64_t i2 = 0; i2 < d2; i2++) {
                const float *restrict pa = a + i0 * a0 + i1 * a1 + i2 * a2;
                const float *restrict pb = b + i0 * b0 + i1 * b1 + i2 * b2;
                float *restrict py = y + ((i0 * d1 + i1) * d2 + i2) * d3;
                for (int64_t i3 = 0; i3 < d3; i3++)
                    py[i3] = binary_apply(op, pa[i3 * a3], pb[i3 * b3]);
            }
}

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
