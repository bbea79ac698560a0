/* dwconv.c: depthwise convolution (see dwconv.h).
 *
 * A depthwise convolution does KD*KH*KW multiply-adds per output, too
 * little work for im2col + GEMM to pay off. Here each output row is
 * computed straight from the input: the pixels whose whole window lies
 * in the input row (the interior) in vectors of 16, 8 and 4 outputs, one
 * accumulator per vector over every tap, and the border pixels one at a
 * time over the taps inside the input, so pads are never materialised
 * (planes up to 32 outputs wide take the padded-plane path below).
 * Strided outputs load their inputs as vectors too: stride 2 as two
 * overlapping loads and a shuffle of the even lanes, others lane by lane.
 * After inlining the geometry is constant and the tap loops unroll.
 */
#include "dwconv.h"
#include "kmath.h"
#include "nn.h" /* kiln_valid_range */

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef float v4 __attribute__((vector_size(16), aligned(4)));

#define INLINE static inline __attribute__((always_inline))

/* The lanes of an even-lane shuffle of (p[0..VW), p[VW-1..2VW-1)): p[0],
 * p[2], ..., p[2*(VW-1)], reading nothing past the last. */
#define EVEN16 0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31
#define EVEN8 0, 2, 4, 6, 9, 11, 13, 15
#define EVEN4 0, 2, 5, 7

/* The window rows of one output row: taps kd in [kd_lo, kd_hi), kh in
 * [kh_lo, kh_hi) lie inside the input; d0, h0: the window's corner. */
typedef struct Rows {
    int64_t kd_lo, kd_hi, kh_lo, kh_hi, d0, h0;
} Rows;

/* Output ow of the row, over the taps inside the input (a border pixel). */
INLINE float dw_point(const float *restrict x, const float *restrict w, float bias, Rows r,
                      int64_t ow, int64_t IH, int64_t IW, int64_t KH, int64_t KW, int64_t SW,
                      int64_t TD, int64_t TH, int64_t TW, int64_t PW) {
    int64_t w0 = ow * SW - PW, kw_lo, kw_hi;
    kiln_valid_range(KW, IW, TW, w0, &kw_lo, &kw_hi);
    float s = bias;
    for (int64_t kd = r.kd_lo; kd < r.kd_hi; kd++)
        for (int64_t kh = r.kh_lo; kh < r.kh_hi; kh++) {
            int64_t i = ((r.d0 + kd * TD) * IH + r.h0 + kh * TH) * IW + w0;
            const float *restrict wr = w + (kd * KH + kh) * KW;
            for (int64_t kw = kw_lo; kw < kw_hi; kw++)
                s += wr[kw] * x[i + kw * TW];
        }
    return s;
}

/* Outputs [ow, ow + VW) of the row, all of whose taps lie in the input.
 * The inputs of a tap are lanes q[0], q[SW], ..., q[(VW-1)*SW]: one load
 * for stride 1, two and an even-lane shuffle for stride 2 (a macro, not a
 * function: vectors as return values would tie the ABI to AVX). */
#define DW_BLOCK(VT, VW, EVEN)                                                                     \
    do {                                                                                           \
        VT acc_ = (VT){0} + bias;                                                                  \
        int64_t w0_ = ow * SW - PW;                                                                \
        for (int64_t kd = r.kd_lo; kd < r.kd_hi; kd++)                                             \
            for (int64_t kh = r.kh_lo; kh < r.kh_hi; kh++) {                                       \
                int64_t i_ = ((r.d0 + kd * TD) * IH + r.h0 + kh * TH) * IW + w0_;                  \
                const float *restrict wr_ = w + (kd * KH + kh) * KW;                               \
                for (int64_t kw = 0; kw < KW; kw++) {                                              \
                    const float *restrict q_ = x + i_ + kw * TW;                                   \
                    VT v_;                                                                         \
                    if (SW == 1) {                                                                 \
                        v_ = *(const VT *)q_;                                                      \
                    } else if (SW == 2) {                                                          \
                        VT l_ = *(const VT *)q_, h_ = *(const VT *)(q_ + VW - 1);                  \
                        v_ = __builtin_shufflevector(l_, h_, EVEN);                                \
                    } else {                                                                       \
                        for (int j_ = 0; j_ < VW; j_++)                                            \
                            v_[j_] = q_[j_ * SW];                                                  \
                    }                                                                              \
                    acc_ += wr_[kw] * v_;                                                          \
                }                                                                                  \
            }                                                                                      \
        *(VT *)(yr + ow) = acc_;                                                                   \
    } while (0)

/* Small planes (the 14x14 and 7x7 stages of mobile nets, 5x5 kernels):
 * most pixels there are border pixels, which the row path does one at a
 * time. Instead the plane is copied into a zeroed buffer with its pads
 * (XH rows of XW floats, XW with room for a vector's over-read), and every
 * output row is computed in vectors of VW covering OW, into a row buffer
 * from which the first OW values are stored through the epilogue. Taps on
 * the pads add w * 0, so the sums are those of the row path. 2-D only. */
#define DWP_MAX 4096

/* The inputs of a tap for outputs [ow, ow + VW) of a row: lanes q[0],
 * q[SW], ..., as in DW_BLOCK. */
#define DWP_LOAD(VT, VW, q, v, ...)                                                                \
    do {                                                                                           \
        if (SW == 1) {                                                                             \
            v = *(const VT *)(q);                                                                  \
        } else if (SW == 2) {                                                                      \
            VT l_ = *(const VT *)(q), h_ = *(const VT *)((q) + VW - 1);                            \
            v = __builtin_shufflevector(l_, h_, __VA_ARGS__);                                      \
        } else {                                                                                   \
            for (int j_ = 0; j_ < VW; j_++)                                                        \
                v[j_] = (q)[j_ * SW];                                                              \
        }                                                                                          \
    } while (0)

/* Rows [oh, oh + R) of the output, R 1 or 4, into t (64 floats a row), in
 * vectors of VW: R independent accumulators a tap, so that the FMAs'
 * latency overlaps (one chain of 25 taps per 7-wide row kept the 7x7
 * stage latency-bound). Named accumulators, not an array, so that they
 * stay in registers when the tap loops do not unroll. */
#define DWP_ROWS(VT, VW, R, ...)                                                                   \
    do {                                                                                           \
        for (int64_t ow = 0; ow < OW; ow += VW) {                                                  \
            VT a0_ = (VT){0} + bias, a1_ = a0_, a2_ = a0_, a3_ = a0_;                              \
            for (int64_t kh = 0; kh < KH; kh++) {                                                  \
                const float *restrict xr_ = xp + (oh * SH + kh * TH) * XW + ow * SW;               \
                const float *restrict wr_ = w + kh * KW;                                           \
                for (int64_t kw = 0; kw < KW; kw++) {                                              \
                    const float *restrict q_ = xr_ + kw * TW;                                      \
                    float wk_ = wr_[kw];                                                           \
                    VT v_;                                                                         \
                    DWP_LOAD(VT, VW, q_, v_, __VA_ARGS__);                                         \
                    a0_ += wk_ * v_;                                                               \
                    if (R == 4) {                                                                  \
                        DWP_LOAD(VT, VW, q_ + SH * XW, v_, __VA_ARGS__);                           \
                        a1_ += wk_ * v_;                                                           \
                        DWP_LOAD(VT, VW, q_ + 2 * SH * XW, v_, __VA_ARGS__);                       \
                        a2_ += wk_ * v_;                                                           \
                        DWP_LOAD(VT, VW, q_ + 3 * SH * XW, v_, __VA_ARGS__);                       \
                        a3_ += wk_ * v_;                                                           \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            *(VT *)(t + ow) = a0_;                                                                 \
            if (R == 4) {                                                                          \
                *(VT *)(t + 64 + ow) = a1_;                                                        \
                *(VT *)(t + 128 + ow) = a2_;                                                       \
                *(VT *)(t + 192 + ow) = a3_;                                                       \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define DWP_VW(R)                                                                                  \
    do {                                                                                           \
        if (VW == 16)                                                                              \
            DWP_ROWS(v16, 16, R, EVEN16);                                                          \
        else if (VW == 8)                                                                          \
            DWP_ROWS(v8, 8, R, EVEN8);                                                             \
        else                                                                                       \
            DWP_ROWS(v4, 4, R, EVEN4);                                                             \
    } while (0)

/* The padded buffer's row length for outputs in vectors of VW: the taps of
 * the last vector, stride 2 reading up to 2 VW - 1 past its first. */
static inline int64_t dwp_width(int64_t OW, int64_t VW, int64_t SW, int64_t KW, int64_t TW) {
    int64_t owv = (OW + VW - 1) / VW * VW;
    return (owv - 1) * SW + (KW - 1) * TW + 2 * VW;
}

INLINE void dw_plane_padded(const float *restrict x, const float *restrict w, float bias,
                            float *restrict y, int64_t IH, int64_t IW, int64_t OH, int64_t OW,
                            int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t TH, int64_t TW,
                            int64_t PH, int64_t PW, int64_t VW, int64_t XH, int64_t XW, int epi,
                            float a, float b) {
    float xp[DWP_MAX];
    for (int64_t i = 0; i < XH * XW; i++)
        xp[i] = 0.0f;
    /* Pads of XH or XW or more leave the buffer all zeros (and ih + PH
     * cannot wrap). */
    for (int64_t ih = 0; PH < XH && PW < XW && ih < IH && ih + PH < XH; ih++)
        for (int64_t iw = 0; iw < IW && iw + PW < XW; iw++)
            xp[(ih + PH) * XW + iw + PW] = x[ih * IW + iw];
    float t[4 * 64];
    for (int64_t oh = 0, R; oh < OH; oh += R) {
        R = oh + 4 <= OH ? 4 : 1;
        if (R == 4)
            DWP_VW(4);
        else
            DWP_VW(1);
        for (int64_t r = 0; r < R; r++) {
            float *restrict yr = y + (oh + r) * OW;
            for (int64_t j = 0; j < OW; j++)
                yr[j] = kiln_epilogue_f32(epi, a, b, t[r * 64 + j]);
        }
    }
}

void kiln_conv_dw_f32(int64_t N, int64_t G, int64_t M, int64_t ID, int64_t IH, int64_t IW,
                      int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH, int64_t KW,
                      int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH, int64_t TW,
                      int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                      const float *restrict W, const float *restrict B, int epi, float a, float b,
                      float *restrict Y, int64_t task, int64_t n_tasks) {
    int64_t planes = N * G * M, KS = KD * KH * KW, IP = ID * IH * IW, OP = OD * OH * OW;
    int64_t p_lo = planes * task / n_tasks, p_hi = planes * (task + 1) / n_tasks;
    /* The interior [i_lo, i_hi): outputs whose first and last taps (so all
     * taps) lie in the row. Empty: every pixel is a border pixel. */
    int64_t lo0, hi0, loK, hiK;
    kiln_valid_range(OW, IW, SW, -PW, &lo0, &hi0);
    kiln_valid_range(OW, IW, SW, (KW - 1) * TW - PW, &loK, &hiK);
    int64_t i_lo = lo0 > loK ? lo0 : loK, i_hi = hi0 < hiK ? hi0 : hiK;
    if (i_lo >= i_hi) i_lo = i_hi = OW;
    /* The padded-plane path: 2-D, OW up to 32 and the buffers big enough. */
    /* Each factor is bounded first, so that XH * XW cannot overflow
     * (hostile strides and pads of 2^31 take the row path). */
    int64_t VW = OW > 8 ? 16 : OW > 4 ? 8 : 4, XH = 0, XW = 0;
    int padded = KD == 1 && ID == 1 && OD == 1 && OW > 0 && OW <= 32 && OH > 0 && OH <= DWP_MAX &&
                 KH <= 64 && KW <= 64 && SH <= 64 && SW <= 64 && TH <= 64 && TW <= 64;
    if (padded) {
        XH = (OH - 1) * SH + (KH - 1) * TH + 1;
        XW = dwp_width(OW, VW, SW, KW, TW);
        padded = XH * XW <= DWP_MAX;
    }
    for (int64_t p = p_lo; p < p_hi; p++) {
        int64_t oc = p % (G * M);
        const float *restrict x = X + (p / (G * M) * G + oc / M) * IP;
        const float *restrict w = W + oc * KS;
        float bias = B ? B[oc] : 0.0f;
        float *restrict y = Y + p * OP;
        if (padded) {
            dw_plane_padded(x, w, bias, y, IH, IW, OH, OW, KH, KW, SH, SW, TH, TW, PH, PW, VW, XH,
                            XW, epi, a, b);
            continue;
        }
        for (int64_t od = 0; od < OD; od++)
            for (int64_t oh = 0; oh < OH; oh++) {
                Rows r = {0, 0, 0, 0, od * SD - PD, oh * SH - PH};
                kiln_valid_range(KD, ID, TD, r.d0, &r.kd_lo, &r.kd_hi);
                kiln_valid_range(KH, IH, TH, r.h0, &r.kh_lo, &r.kh_hi);
                float *restrict yr = y + (od * OH + oh) * OW;
                int64_t ow = 0;
                for (; ow < i_lo; ow++)
                    yr[ow] = dw_point(x, w, bias, r, ow, IH, IW, KH, KW, SW, TD, TH, TW, PW);
                for (; ow + 16 <= i_hi; ow += 16)
                    DW_BLOCK(v16, 16, EVEN16);
                for (; ow + 8 <= i_hi; ow += 8)
                    DW_BLOCK(v8, 8, EVEN8);
                for (; ow + 4 <= i_hi; ow += 4)
                    DW_BLOCK(v4, 4, EVEN4);
                for (; ow < OW; ow++)
                    yr[ow] = dw_point(x, w, bias, r, ow, IH, IW, KH, KW, SW, TD, TH, TW, PW);
                if (epi != KILN_EPI_NONE)
                    for (int64_t j = 0; j < OW; j++)
                        yr[j] = kiln_epilogue_f32(epi, a, b, yr[j]);
            }
    }
}
