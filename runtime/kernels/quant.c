/* quant.c: the quantisation kernels (see quant.h). */
#include "quant.h"

/* v rounded half to even, plus zp, clamped to [lo, hi]; NaN gives zp. */
static inline int32_t quant_round(float v, int32_t zp, int32_t lo, int32_t hi) {
    if (v != v) return zp < lo ? lo : zp > hi ? hi : zp;
    float r = __builtin_rintf(v) + (float)zp;
    if (r < (float)lo) return lo;
    if (r > (float)hi) return hi;
    return (int32_t)r;
}

#define KILN_QUANT_DEFINE(T, sfx, lo, hi)                                                          \
    void kiln_quantize_##sfx(int64_t outer, int64_t C, int64_t inner, const float *restrict x,     \
                             const float *restrict scale, const T *restrict zp, int64_t step,      \
                             T *restrict y) {                                                      \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t c = 0; c < C; c++) {                                                      \
                float s = scale[c * step];                                                         \
                int32_t z = zp ? zp[c * step] : 0;                                                 \
                const float *xr = x + (o * C + c) * inner;                                         \
                T *yr = y + (o * C + c) * inner;                                                   \
                for (int64_t i = 0; i < inner; i++)                                                \
                    yr[i] = (T)quant_round(xr[i] / s, z, lo, hi);                                  \
            }                                                                                      \
    }                                                                                              \
    void kiln_dequantize_##sfx(int64_t outer, int64_t C, int64_t inner, const T *restrict x,       \
                               const float *restrict scale, const T *restrict zp, int64_t step,    \
                               float *restrict y) {                                                \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t c = 0; c < C; c++) {                                                      \
                float s = scale[c * step];                                                         \
                int32_t z = zp ? zp[c * step] : 0;                                                 \
                const T *xr = x + (o * C + c) * inner;                                             \
                float *yr = y + (o * C + c) * inner;                                               \
                for (int64_t i = 0; i < inner; i++)                                                \
                    yr[i] = (float)((int32_t)xr[i] - z) * s;                                       \
            }                                                                                      \
    }                                                                                              \
    void kiln_requantize_##sfx(                                                                    \
        int64_t outer, int64_t R, int64_t C, const int32_t *restrict acc,                          \
        const float *restrict s1, int64_t s1r, int64_t s1c, const float *restrict s2, int64_t s2r, \
        int64_t s2c, const float *restrict y_scale, const T *restrict y_zp, T *restrict y) {       \
        float ys = y_scale[0];                                                                     \
        int32_t z = y_zp ? y_zp[0] : 0;                                                            \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t r = 0; r < R; r++)                                                        \
                for (int64_t c = 0; c < C; c++) {                                                  \
                    float m = s1[r * s1r + c * s1c] * s2[r * s2r + c * s2c] / ys;                  \
                    int64_t i = (o * R + r) * C + c;                                               \
                    y[i] = (T)quant_round((float)acc[i] * m, z, lo, hi);                           \
                }                                                                                  \
    }
KILN_FOR_QUANT_TYPES(KILN_QUANT_DEFINE)
#undef KILN_QUANT_DEFINE

void kiln_dequantize_i32(int64_t outer, int64_t C, int64_t inner, const int32_t *restrict x,
                         const float *restrict scale, const int32_t *restrict zp, int64_t step,
                         float *restrict y) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < C; c++) {
            float s = scale[c * step];
            int64_t z = zp ? zp[c * step] : 0;
            const int32_t *xr = x + (o * C + c) * inner;
            float *yr = y + (o * C + c) * inner;
            for (int64_t i = 0; i < inner; i++)
                yr[i] = (float)((int64_t)xr[i] - z) * s;
        }
}

void kiln_dynamic_quantize_u8(int64_t n, const float *restrict x, uint8_t *restrict y,
                              float *restrict scale, uint8_t *restrict zp) {
    float lo = 0.0f, hi = 0.0f; /* the range always holds 0 */
    for (int64_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    float s = (hi - lo) / 255.0f;
    if (!(s > 0.0f)) { /* every element 0 (or the range is NaN) */
        *scale = 0.0f;
        *zp = 0;
        for (int64_t i = 0; i < n; i++)
            y[i] = 0;
        return;
    }
    int32_t z = quant_round(0.0f - lo / s, 0, 0, 255);
    *scale = s;
    *zp = (uint8_t)z;
    for (int64_t i = 0; i < n; i++)
        y[i] = (uint8_t)quant_round(x[i] / s, z, 0, 255);
}

#define KILN_QUANT_PAIR_DEFINE(TA, a, TB, b)                                                       \
    void kiln_matmul_int_##a##_##b(int64_t batch, int64_t M, int64_t N, int64_t K,                 \
                                   const TA *restrict A, int64_t a_bs, const TA *restrict a_zp,    \
                                   int64_t a_step, const TB *restrict B, int64_t b_bs,             \
                                   const TB *restrict b_zp, int64_t b_step, int32_t *restrict Y) { \
        for (int64_t t = 0; t < batch; t++) {                                                      \
            const TA *At = A + t * a_bs;                                                           \
            const TB *Bt = B + t * b_bs;                                                           \
            int32_t *Yt = Y + t * M * N;                                                           \
            for (int64_t i = 0; i < M * N; i++)                                                    \
                Yt[i] = 0;                                                                         \
            for (int64_t m = 0; m < M; m++) {                                                      \
                int32_t za = a_zp ? a_zp[m * a_step] : 0;                                          \
                for (int64_t k = 0; k < K; k++) {                                                  \
                    int32_t av = (int32_t)At[m * K + k] - za;                                      \
                    for (int64_t j = 0; j < N; j++) {                                              \
                        int32_t zb = b_zp ? b_zp[j * b_step] : 0;                                  \
                        Yt[m * N + j] += av * ((int32_t)Bt[k * N + j] - zb);                       \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void kiln_conv_int_##a##_##b(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M,            \
                                 int64_t oh, int64_t ow, const int64_t *restrict g,                \
                                 const TA *restrict X, const TA *restrict x_zp,                    \
                                 const TB *restrict Wt, const TB *restrict w_zp, int64_t w_step,   \
                                 const int32_t *restrict bias, int32_t *restrict Y) {              \
        int64_t kh = g[0], kw = g[1], sh = g[2], sw = g[3], dh = g[4], dw = g[5];                  \
        int64_t ph = g[6], pw = g[7], group = g[8];                                                \
        int64_t cg = C / group, mg = M / group;                                                    \
        int32_t zx = x_zp ? x_zp[0] : 0;                                                           \
        for (int64_t n = 0; n < N; n++)                                                            \
            for (int64_t m = 0; m < M; m++) {                                                      \
                int64_t c0 = m / mg * cg;                                                          \
                int32_t zw = w_zp ? w_zp[m * w_step] : 0;                                          \
                const TB *wm = Wt + m * cg * kh * kw;                                              \
                int32_t *ym = Y + (n * M + m) * oh * ow;                                           \
                for (int64_t y = 0; y < oh; y++)                                                   \
                    for (int64_t x = 0; x < ow; x++) {                                             \
                        int32_t s = bias ? bias[m] : 0;                                            \
                        for (int64_t c = 0; c < cg; c++) {                                         \
                            const TA *xc = X + (n * C + c0 + c) * H * W;                           \
                            for (int64_t i = 0; i < kh; i++) {                                     \
                                int64_t iy = y * sh - ph + i * dh;                                 \
                                if (iy < 0 || iy >= H) continue;                                   \
                                for (int64_t j = 0; j < kw; j++) {                                 \
                                    int64_t ix = x * sw - pw + j * dw;                             \
                                    if (ix < 0 || ix >= W) continue;                               \
                                    s += ((int32_t)xc[iy * W + ix] - zx) *                         \
                                         ((int32_t)wm[(c * kh + i) * kw + j] - zw);                \
                                }                                                                  \
                            }                                                                      \
                        }                                                                          \
                        ym[y * ow + x] = s;                                                        \
                    }                                                                              \
            }                                                                                      \
    }
KILN_FOR_QUANT_PAIRS(KILN_QUANT_PAIR_DEFINE)
#undef KILN_QUANT_PAIR_DEFINE
