/* quant.c: the quantisation kernels (see quant.h). */
#include "quant.h"

#include "kmath.h"

/* v rounded half to even, plus zp, clamped to [lo, hi]; NaN gives zp. */
static inline int32_t quant_round(float v, int32_t zp, int32_t lo, int32_t hi) {
    if (v != v) return zp < lo ? lo : zp > hi ? hi : zp;
    float r = __builtin_rintf(v) + (float)zp;
    if (r < (float)lo) return lo;
    if (r > (float)hi) return hi;
    return kiln_whole_to_i32(r); /* 8-bit bounds: |r| < 2^22, and no lane-by-lane cast */
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
            for (int64_t r = 0; r < R; r++) {                                                      \
                if (s1c == 0 && s2c == 0) { /* one multiplier per row: the same value */           \
                    float m = s1[r * s1r] * s2[r * s2r] / ys;                                      \
                    const int32_t *restrict ar = acc + (o * R + r) * C;                            \
                    T *restrict yr = y + (o * R + r) * C;                                          \
                    for (int64_t c = 0; c < C; c++)                                                \
                        yr[c] = (T)quant_round((float)ar[c] * m, z, lo, hi);                       \
                    continue;                                                                      \
                }                                                                                  \
                for (int64_t c = 0; c < C; c++) {                                                  \
                    float m = s1[r * s1r + c * s1c] * s2[r * s2r + c * s2c] / ys;                  \
                    int64_t i = (o * R + r) * C + c;                                               \
                    y[i] = (T)quant_round((float)acc[i] * m, z, lo, hi);                           \
                }                                                                                  \
            }                                                                                      \
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

/* y[i] = (first ? base : y[i]) + t[i] over n, in wrapping int32; t
 * holds integers below 2^24 in magnitude. */
static inline void quant_add(int64_t n, const float *restrict t, int first, int32_t base,
                             int32_t *restrict y) {
    for (int64_t i = 0; i < n; i++) {
        /* t[i] as an integer without a (lane-by-lane, saturating) cast:
         * 1.5 * 2^52 puts it in the low bits of the double's mantissa. */
        union {
            double d;
            uint64_t u;
        } w = {(double)t[i] + 6755399441055744.0};
        uint32_t v = first ? (uint32_t)base : (uint32_t)y[i];
        y[i] = (int32_t)(v + (uint32_t)w.u);
    }
}

#define KILN_QUANT_PAIR_DEFINE(TA, a, TB, b)                                                       \
    void kiln_matmul_int_##a##_##b(                                                                \
        int64_t batch, int64_t M, int64_t N, int64_t K, const TA *restrict A, int64_t a_bs,        \
        const TA *restrict a_zp, int64_t a_step, const TB *restrict B, int64_t b_bs,               \
        const TB *restrict b_zp, int64_t b_step, float *restrict fs, int32_t *restrict Y) {        \
        float *restrict af = fs, *restrict bf = fs + M * K, *restrict t = bf + K * N;              \
        for (int64_t tb = 0; tb < batch; tb++) {                                                   \
            const TA *At = A + tb * a_bs;                                                          \
            const TB *Bt = B + tb * b_bs;                                                          \
            int32_t *Yt = Y + tb * M * N;                                                          \
            if (tb == 0 || a_bs)                                                                   \
                for (int64_t m = 0; m < M; m++) {                                                  \
                    int32_t za = a_zp ? a_zp[m * a_step] : 0;                                      \
                    for (int64_t k = 0; k < K; k++)                                                \
                        af[m * K + k] = (float)((int32_t)At[m * K + k] - za);                      \
                }                                                                                  \
            if (tb == 0 || b_bs)                                                                   \
                for (int64_t k = 0; k < K; k++)                                                    \
                    for (int64_t j = 0; j < N; j++)                                                \
                        bf[k * N + j] = (float)((int32_t)Bt[k * N + j] -                           \
                                                (b_zp ? (int32_t)b_zp[j * b_step] : 0));           \
            if (K == 0)                                                                            \
                for (int64_t i = 0; i < M * N; i++)                                                \
                    Yt[i] = 0;                                                                     \
            for (int64_t k0 = 0; k0 < K; k0 += KILN_QUANT_KC) {                                    \
                int64_t kl = K - k0 < KILN_QUANT_KC ? K - k0 : KILN_QUANT_KC;                      \
                kiln_gemm_f32(M, N, kl, af + k0, K, 1, bf + k0 * N, N, 1, 0, 0, 0, 1.0f, 0.0f,     \
                              KILN_EPI_NONE, t, 0, 1);                                             \
                quant_add(M *N, t, k0 == 0, 0, Yt);                                                \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void kiln_conv_int_##a##_##b(                                                                  \
        int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t oh, int64_t ow,             \
        const int64_t *restrict g, const TA *restrict X, const TA *restrict x_zp,                  \
        const TB *restrict Wt, const TB *restrict w_zp, int64_t w_step,                            \
        const int32_t *restrict bias, float *restrict fs, int32_t *restrict Y) {                   \
        int64_t kh = g[0], kw = g[1], sh = g[2], sw = g[3], dh = g[4], dw = g[5];                  \
        int64_t ph = g[6], pw = g[7], group = g[8];                                                \
        int64_t cg = C / group, mg = M / group, K = cg * kh * kw, P = oh * ow;                     \
        int32_t zx = x_zp ? x_zp[0] : 0;                                                           \
        float *restrict wf = fs, *restrict col = fs + M * K;                                       \
        float *restrict t = col + (int64_t)KILN_QUANT_KC * KILN_QUANT_PC;                          \
        for (int64_t m = 0; m < M; m++) {                                                          \
            int32_t zw = w_zp ? w_zp[m * w_step] : 0;                                              \
            for (int64_t k = 0; k < K; k++)                                                        \
                wf[m * K + k] = (float)((int32_t)Wt[m * K + k] - zw);                              \
        }                                                                                          \
        for (int64_t n = 0; n < N; n++)                                                            \
            for (int64_t gi = 0; gi < group; gi++) {                                               \
                const TA *xg = X + (n * C + gi * cg) * H * W;                                      \
                int32_t *yg = Y + (n * M + gi * mg) * P;                                           \
                for (int64_t p0 = 0; p0 < P; p0 += KILN_QUANT_PC) {                                \
                    int64_t pc = P - p0 < KILN_QUANT_PC ? P - p0 : KILN_QUANT_PC;                  \
                    for (int64_t k0 = 0; k0 < K; k0 += KILN_QUANT_KC) {                            \
                        int64_t kl = K - k0 < KILN_QUANT_KC ? K - k0 : KILN_QUANT_KC;              \
                        for (int64_t k = 0; k < kl; k++) { /* col[k][q]: row k0 + k of im2col */   \
                            int64_t kk = k0 + k, j = kk % kw, i = kk / kw % kh, c = kk / kw / kh;  \
                            const TA *xc = xg + c * H * W;                                         \
                            float *restrict d = col + k * pc;                                      \
                            /* The taps x * sw - pw + j * dw inside [0, W): x in [xl, xh). */      \
                            int64_t off = j * dw - pw, xl = 0, xh = ow;                            \
                            if (off < 0) xl = (-off + sw - 1) / sw;                                \
                            if (W - off <= 0)                                                      \
                                xh = 0;                                                            \
                            else if ((W - off + sw - 1) / sw < xh)                                 \
                                xh = (W - off + sw - 1) / sw;                                      \
                            for (int64_t q = 0; q < pc;) {                                         \
                                int64_t y = (p0 + q) / ow, x0 = (p0 + q) % ow;                     \
                                int64_t run = ow - x0 < pc - q ? ow - x0 : pc - q;                 \
                                int64_t iy = y * sh - ph + i * dh;                                 \
                                float *restrict dr = d + q - x0; /* dr[x]: column x */             \
                                int64_t a0 = xl > x0 ? xl : x0,                                    \
                                        a1 = xh < x0 + run ? xh : x0 + run;                        \
                                if (iy < 0 || iy >= H || a0 >= a1) {                               \
                                    for (int64_t x = x0; x < x0 + run; x++)                        \
                                        dr[x] = 0.0f;                                              \
                                } else {                                                           \
                                    const TA *xr = xc + iy * W + off;                              \
                                    for (int64_t x = x0; x < a0; x++)                              \
                                        dr[x] = 0.0f;                                              \
                                    for (int64_t x = a0; x < a1; x++)                              \
                                        dr[x] = (float)((int32_t)xr[x * sw] - zx);                 \
                                    for (int64_t x = a1; x < x0 + run; x++)                        \
                                        dr[x] = 0.0f;                                              \
                                }                                                                  \
                                q += run;                                                          \
                            }                                                                      \
                        }                                                                          \
                        kiln_gemm_f32(mg, pc, kl, wf + gi * mg * K + k0, K, 1, col, pc, 1, 0, 0,   \
                                      0, 1.0f, 0.0f, KILN_EPI_NONE, t, 0, 1);                      \
                        for (int64_t m = 0; m < mg; m++)                                           \
                            quant_add(pc, t + m * pc, k0 == 0, bias ? bias[gi * mg + m] : 0,       \
                                      yg + m * P + p0);                                            \
                    }                                                                              \
                    if (K == 0)                                                                    \
                        for (int64_t m = 0; m < mg; m++)                                           \
                            for (int64_t q = 0; q < pc; q++)                                       \
                                yg[m * P + p0 + q] = bias ? bias[gi * mg + m] : 0;                 \
                }                                                                                  \
            }                                                                                      \
    }
KILN_FOR_QUANT_PAIRS(KILN_QUANT_PAIR_DEFINE)
#undef KILN_QUANT_PAIR_DEFINE
