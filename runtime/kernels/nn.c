/* nn.c: convolution, pooling and normalisation kernels (see nn.h).
 *
 * The dense convolution is in conv.c; depthwise convolutions, which have
 * too little work per pixel for its scheme, are in dwconv.c.
 */
#include "nn.h"
#include "kiln_kernel_abi.h"

#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* --- convolution ------------------------------------------------------------ */

void kiln_conv_transpose_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH,
                             int64_t IW, int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH,
                             int64_t KW, int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,
                             int64_t TW, int64_t PD, int64_t PH, int64_t PW,
                             const float *restrict X, const float *restrict W,
                             const float *restrict B, float *restrict Y) {
    int64_t IP = ID * IH * IW, OP = OD * OH * OW, KS = KD * KH * KW;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            float *restrict y = Y + (n * G + g) * M * OP;
            for (int64_t m = 0; m < M; m++)
                for (int64_t p = 0; p < OP; p++)
                    y[m * OP + p] = B ? B[g * M + m] : 0.0f;
            for (int64_t c = 0; c < C; c++) {
                const float *restrict x = X + ((n * G + g) * C + c) * IP;
                for (int64_t m = 0; m < M; m++) {
                    const float *restrict w = W + ((g * C + c) * M + m) * KS;
                    float *restrict ym = y + m * OP;
                    for (int64_t kd = 0; kd < KD; kd++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                float wv = w[(kd * KH + kh) * KW + kw];
                                /* Inputs i whose output i*S + k*T - P lands in [0, O). */
                                int64_t d_lo, d_hi, h_lo, h_hi, w_lo, w_hi;
                                kiln_valid_range(ID, OD, SD, kd * TD - PD, &d_lo, &d_hi);
                                kiln_valid_range(IH, OH, SH, kh * TH - PH, &h_lo, &h_hi);
                                kiln_valid_range(IW, OW, SW, kw * TW - PW, &w_lo, &w_hi);
                                for (int64_t id = d_lo; id < d_hi; id++)
                                    for (int64_t ih = h_lo; ih < h_hi; ih++) {
                                        const float *restrict xr = x + (id * IH + ih) * IW;
                                        float *restrict yr = ym +
                                                             ((id * SD + kd * TD - PD) * OH +
                                                              ih * SH + kh * TH - PH) *
                                                                 OW +
                                                             kw * TW - PW;
                                        for (int64_t iw = w_lo; iw < w_hi; iw++)
                                            yr[iw * SW] += wv * xr[iw];
                                    }
                            }
                }
            }
        }
}

/* --- normalisation ------------------------------------------------------------ */

#define BATCHNORM(T, sfx, A)                                                                       \
    void kiln_batchnorm_##sfx(int64_t N, int64_t C, int64_t S, const T *restrict x,                \
                              const T *restrict scale, const T *restrict bias,                     \
                              const T *restrict mean, const T *restrict var, float eps,            \
                              T *restrict y) {                                                     \
        for (int64_t n = 0; n < N; n++)                                                            \
            for (int64_t c = 0; c < C; c++) {                                                      \
                A a = (A)scale[c] / __builtin_sqrt((A)var[c] + (A)eps);                            \
                A b = (A)bias[c] - (A)mean[c] * a;                                                 \
                const T *restrict xr = x + (n * C + c) * S;                                        \
                T *restrict yr = y + (n * C + c) * S;                                              \
                for (int64_t i = 0; i < S; i++)                                                    \
                    yr[i] = (T)((A)xr[i] * a + b);                                                 \
            }                                                                                      \
    }
KILN_FOR_FLOAT_TYPES(BATCHNORM)

/* Two passes (mean, then the mean of squared deviations): no cancellation
 * when the mean is large against the spread. */
#define INSTANCENORM(T, sfx, A)                                                                    \
    void kiln_instancenorm_##sfx(int64_t N, int64_t C, int64_t S, const T *restrict x,             \
                                 const T *restrict scale, const T *restrict bias, float eps,       \
                                 T *restrict y) {                                                  \
        for (int64_t n = 0; n < N; n++)                                                            \
            for (int64_t c = 0; c < C; c++) {                                                      \
                const T *restrict xr = x + (n * C + c) * S;                                        \
                T *restrict yr = y + (n * C + c) * S;                                              \
                A sum = 0;                                                                         \
                for (int64_t i = 0; i < S; i++)                                                    \
                    sum += (A)xr[i];                                                               \
                A mean = sum / (A)S, sq = 0;                                                       \
                for (int64_t i = 0; i < S; i++)                                                    \
                    sq += ((A)xr[i] - mean) * ((A)xr[i] - mean);                                   \
                A a = (A)scale[c] / __builtin_sqrt(sq / (A)S + (A)eps);                            \
                A b = (A)bias[c] - mean * a;                                                       \
                for (int64_t i = 0; i < S; i++)                                                    \
                    yr[i] = (T)((A)xr[i] * a + b);                                                 \
            }                                                                                      \
    }
KILN_FOR_FLOAT_TYPES(INSTANCENORM)

void kiln_lrn_f32(int64_t N, int64_t C, int64_t S, int64_t size, float alpha, float beta,
                  float bias, const float *restrict x, float *restrict y) {
    float k = alpha / (float)size;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t lo = c - (size - 1) / 2, hi = c + size / 2;
            lo = lo < 0 ? 0 : lo;
            hi = hi > C - 1 ? C - 1 : hi;
            const float *restrict xc = x + (n * C + c) * S;
            float *restrict yc = y + (n * C + c) * S;
            for (int64_t i = 0; i < S; i++) {
                float sq = 0.0f;
                for (int64_t j = lo; j <= hi; j++) {
                    float v = x[(n * C + j) * S + i];
                    sq += v * v;
                }
                yc[i] = xc[i] / __builtin_powf(bias + k * sq, beta);
            }
        }
}

/* --- pooling ------------------------------------------------------------------- */

/* The loops visit only window positions inside the input (valid_range per
 * output along each axis), so pads never take part in a maximum. Without
 * indices, the columns whose whole window lies inside the input (ow in
 * [wa, wb)) are one run per output row, taken window tap by window tap
 * across the run so that it vectorises: each output still sees its taps
 * in the same order, and a maximum is one of its inputs, so the result
 * is the same. */
#define MAXPOOL(T, sfx, A)                                                                         \
    void kiln_maxpool_##sfx(int64_t NC, int64_t ID, int64_t IH, int64_t IW, int64_t OD,            \
                            int64_t OH, int64_t OW, int64_t KD, int64_t KH, int64_t KW,            \
                            int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,            \
                            int64_t TW, int64_t PD, int64_t PH, int64_t PW, const T *restrict x,   \
                            T *restrict y, int64_t *restrict ind, int col_major) {                 \
        int64_t wa, wb, wa1, wb1;                                                                  \
        kiln_valid_range(OW, IW, SW, -PW, &wa, &wb);                                               \
        kiln_valid_range(OW, IW, SW, (KW - 1) * TW - PW, &wa1, &wb1);                              \
        wa = wa > wa1 ? wa : wa1;                                                                  \
        wb = wb < wb1 ? wb : wb1;                                                                  \
        int pair = TW == 1 && SW == 2; /* taps kw, kw + 1 of a run: one interleaved load */        \
        for (int64_t nc = 0; nc < NC; nc++)                                                        \
            for (int64_t od = 0; od < OD; od++)                                                    \
                for (int64_t oh = 0; oh < OH; oh++) {                                              \
                    int64_t d0 = od * SD - PD, h0 = oh * SH - PH;                                  \
                    int64_t kd_lo, kd_hi, kh_lo, kh_hi;                                            \
                    kiln_valid_range(KD, ID, TD, d0, &kd_lo, &kd_hi);                              \
                    kiln_valid_range(KH, IH, TH, h0, &kh_lo, &kh_hi);                              \
                    int fast = !ind && kd_lo < kd_hi && kh_lo < kh_hi && KW > 0 && wa < wb;        \
                    T *restrict yr = y + ((nc * OD + od) * OH + oh) * OW;                          \
                    if (fast) {                                                                    \
                        const T *restrict xw = x + wa * SW - PW;                                   \
                        for (int64_t kd = kd_lo; kd < kd_hi; kd++)                                 \
                            for (int64_t kh = kh_lo; kh < kh_hi; kh++) {                           \
                                const T *restrict xr =                                             \
                                    xw + ((nc * ID + d0 + kd * TD) * IH + h0 + kh * TH) * IW;      \
                                int first = kd == kd_lo && kh == kh_lo;                            \
                                for (int64_t kw = 0; kw < KW; kw++) {                              \
                                    const T *restrict xk = xr + kw * TW;                           \
                                    int fresh = first && kw == 0;                                  \
                                    if (pair && kw + 1 < KW) {                                     \
                                        for (int64_t o = 0; o < wb - wa; o++) {                    \
                                            A m = (A)xk[2 * o], v = (A)xk[2 * o + 1];              \
                                            m = v > m ? v : m;                                     \
                                            A cur = fresh ? m : (A)yr[wa + o];                     \
                                            yr[wa + o] = (T)(m > cur ? m : cur);                   \
                                        }                                                          \
                                        kw++;                                                      \
                                        continue;                                                  \
                                    }                                                              \
                                    for (int64_t o = 0; o < wb - wa; o++) {                        \
                                        A v = (A)xk[o * SW];                                       \
                                        A cur = fresh ? v : (A)yr[wa + o];                         \
                                        yr[wa + o] = (T)(v > cur ? v : cur);                       \
                                    }                                                              \
                                }                                                                  \
                            }                                                                      \
                    }                                                                              \
                    for (int64_t ow = 0; ow < OW; ow++) {                                          \
                        int64_t w0 = ow * SW - PW;                                                 \
                        if (fast && ow == wa) {                                                    \
                            ow = wb - 1;                                                           \
                            continue;                                                              \
                        }                                                                          \
                        int64_t kw_lo, kw_hi;                                                      \
                        kiln_valid_range(KW, IW, TW, w0, &kw_lo, &kw_hi);                          \
                        A best = 0;                                                                \
                        int64_t at = -1;                                                           \
                        for (int64_t kd = kd_lo; kd < kd_hi; kd++)                                 \
                            for (int64_t kh = kh_lo; kh < kh_hi; kh++) {                           \
                                int64_t i0 =                                                       \
                                    ((nc * ID + d0 + kd * TD) * IH + h0 + kh * TH) * IW + w0;      \
                                if (at < 0 && kw_lo < kw_hi) {                                     \
                                    at = i0 + kw_lo * TW;                                          \
                                    best = (A)x[at];                                               \
                                }                                                                  \
                                for (int64_t kw = kw_lo; kw < kw_hi; kw++) {                       \
                                    A v = (A)x[i0 + kw * TW];                                      \
                                    if (!ind) {                                                    \
                                        best = v > best ? v : best; /* no index: a plain max */    \
                                    } else if (v > best) {                                         \
                                        best = v;                                                  \
                                        at = i0 + kw * TW;                                         \
                                    }                                                              \
                                }                                                                  \
                            }                                                                      \
                        yr[ow] = (T)best;                                                          \
                        if (ind) {                                                                 \
                            if (col_major && at >= 0) {                                            \
                                int64_t w = at % IW, h = at / IW % IH, rest = at / (IW * IH);      \
                                at = (rest * IW + w) * IH + h;                                     \
                            }                                                                      \
                            ind[((nc * OD + od) * OH + oh) * OW + ow] = at;                        \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
    }
MAXPOOL(float, f32, float)
MAXPOOL(double, f64, double)
MAXPOOL(_Float16, f16, float)

/* kiln_maxpool_f32 without indices, split over threads: the planes
 * (image, channel) among the tasks, each computed as the unsplit kernel
 * does. */
void kiln_maxpool_split_f32(int64_t NC, int64_t ID, int64_t IH, int64_t IW, int64_t OD, int64_t OH,
                            int64_t OW, int64_t KD, int64_t KH, int64_t KW, int64_t SD, int64_t SH,
                            int64_t SW, int64_t TD, int64_t TH, int64_t TW, int64_t PD, int64_t PH,
                            int64_t PW, const float *restrict x, float *restrict y, int64_t task,
                            int64_t n_tasks) {
    int64_t c0 = n_tasks > 1 ? NC * task / n_tasks : 0,
            c1 = n_tasks > 1 ? NC * (task + 1) / n_tasks : NC;
    if (c0 >= c1) return;
    kiln_maxpool_f32(c1 - c0, ID, IH, IW, OD, OH, OW, KD, KH, KW, SD, SH, SW, TD, TH, TW, PD, PH,
                     PW, x + c0 * ID * IH * IW, y + c0 * OD * OH * OW, 0, 0);
}
MAXPOOL(int8_t, i8, int)
MAXPOOL(uint8_t, u8, int)

INLINE int64_t window_count(int64_t o, int64_t S, int64_t P, int64_t K, int64_t I, int64_t E,
                            int include_pad) {
    int64_t start = o * S - P, end = start + K;
    int64_t lo = include_pad ? -P : 0, hi = include_pad ? I + E : I;
    start = start < lo ? lo : start;
    end = end > hi ? hi : end;
    return end > start ? end - start : 0;
}

#define AVGPOOL(T, sfx, A)                                                                         \
    void kiln_avgpool_##sfx(int64_t NC, int64_t ID, int64_t IH, int64_t IW, int64_t OD,            \
                            int64_t OH, int64_t OW, int64_t KD, int64_t KH, int64_t KW,            \
                            int64_t SD, int64_t SH, int64_t SW, int64_t PD, int64_t PH,            \
                            int64_t PW, int64_t ED, int64_t EH, int64_t EW, int count_include_pad, \
                            const T *restrict x, T *restrict y) {                                  \
        for (int64_t nc = 0; nc < NC; nc++)                                                        \
            for (int64_t od = 0; od < OD; od++)                                                    \
                for (int64_t oh = 0; oh < OH; oh++)                                                \
                    for (int64_t ow = 0; ow < OW; ow++) {                                          \
                        int64_t d0 = od * SD - PD, h0 = oh * SH - PH, w0 = ow * SW - PW;           \
                        int64_t kd_lo, kd_hi, kh_lo, kh_hi, kw_lo, kw_hi;                          \
                        kiln_valid_range(KD, ID, 1, d0, &kd_lo, &kd_hi);                           \
                        kiln_valid_range(KH, IH, 1, h0, &kh_lo, &kh_hi);                           \
                        kiln_valid_range(KW, IW, 1, w0, &kw_lo, &kw_hi);                           \
                        A sum = 0;                                                                 \
                        for (int64_t kd = kd_lo; kd < kd_hi; kd++)                                 \
                            for (int64_t kh = kh_lo; kh < kh_hi; kh++)                             \
                                for (int64_t kw = kw_lo; kw < kw_hi; kw++)                         \
                                    sum +=                                                         \
                                        (A)x[((nc * ID + d0 + kd) * IH + h0 + kh) * IW + w0 + kw]; \
                        int64_t cnt = window_count(od, SD, PD, KD, ID, ED, count_include_pad) *    \
                                      window_count(oh, SH, PH, KH, IH, EH, count_include_pad) *    \
                                      window_count(ow, SW, PW, KW, IW, EW, count_include_pad);     \
                        y[((nc * OD + od) * OH + oh) * OW + ow] = (T)(cnt ? sum / (A)cnt : (A)0);  \
                    }                                                                              \
    }
KILN_FOR_FLOAT_TYPES(AVGPOOL)

/* An average sums each plane in POOL_LANES interleaved lanes (element j
 * into lane j % POOL_LANES), then adds the lanes pairwise: one running
 * sum is a chain of dependent adds that cannot vectorise, as float
 * addition does not reassociate; the lanes can, and their order is fixed
 * whatever the target. A plane shorter than the lanes is summed in order. */
#define POOL_LANES 16
#define GLOBAL_POOL(T, sfx, A)                                                                     \
    void kiln_global_pool_##sfx(int op, int64_t NC, int64_t S, const T *restrict x,                \
                                T *restrict y) {                                                   \
        for (int64_t i = 0; i < NC; i++) {                                                         \
            const T *restrict xr = x + i * S;                                                      \
            A acc = (A)xr[0];                                                                      \
            if (op == KILN_GLOBAL_MAX) {                                                           \
                for (int64_t j = 1; j < S; j++)                                                    \
                    acc = (A)xr[j] > acc ? (A)xr[j] : acc;                                         \
                y[i] = (T)acc;                                                                     \
                continue;                                                                          \
            }                                                                                      \
            if (S < POOL_LANES) {                                                                  \
                for (int64_t j = 1; j < S; j++)                                                    \
                    acc += (A)xr[j];                                                               \
            } else {                                                                               \
                A lane[POOL_LANES];                                                                \
                for (int l = 0; l < POOL_LANES; l++)                                               \
                    lane[l] = (A)xr[l];                                                            \
                int64_t j = POOL_LANES;                                                            \
                for (; j + POOL_LANES <= S; j += POOL_LANES)                                       \
                    for (int l = 0; l < POOL_LANES; l++)                                           \
                        lane[l] += (A)xr[j + l];                                                   \
                for (int l = 0; l < S - j; l++)                                                    \
                    lane[l] += (A)xr[j + l];                                                       \
                for (int w = POOL_LANES / 2; w > 0; w /= 2)                                        \
                    for (int l = 0; l < w; l++)                                                    \
                        lane[l] += lane[l + w];                                                    \
                acc = lane[0];                                                                     \
            }                                                                                      \
            y[i] = (T)(acc / (A)S);                                                                \
        }                                                                                          \
    }
KILN_FOR_FLOAT_TYPES(GLOBAL_POOL)
