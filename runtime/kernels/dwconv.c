/* dwconv.c: depthwise convolution (see dwconv.h).
 *
 * A depthwise convolution does KD*KH*KW multiply-adds per output, too
 * little work for im2col + GEMM to pay off. Here each output row is
 * computed straight from the input: the pixels whose whole window lies
 * in the input row (the interior) in vectors of 16, 8 and 4 outputs, one
 * accumulator per vector over every tap, and the border pixels one at a
 * time over the taps inside the input, so pads are never materialised
 * (planes up to 32 outputs wide, and stride-2 5x5 ones, take the padded
 * path below).
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

/* The padded path (2-D): every plane the row path below would do one
 * border pixel at a time (mobile nets' 14x14 and 7x7 stages, 5x5
 * kernels), and every stride-2 plane, whose taps the row path loads as
 * two vectors and a shuffle. Bands of output rows are copied with their
 * input rows into a zeroed buffer with the pads (rows of XW floats, with
 * room for a vector's over-read); every output row is computed in vectors
 * of VW covering OW, into a row buffer from which the first OW values are
 * stored through the epilogue. Taps on the pads add w * 0, so the sums are
 * those of the row path. At stride 2 each buffer row holds the even
 * columns, then from XE on the odd ones: the inputs of a tap are then one
 * plain vector load, and the shuffles are done once per input row, not
 * once per tap. A band is the whole plane when it fits in DWP_MAX floats,
 * else a multiple of 4 rows. */
#define DWP_MAX 4096
#define DWP_DI_MIN_KW 5
#define DWP_TS 128 /* the row buffer's row length: OW up to 128 */

/* Where column c of a padded row is stored (stride 2: evens, then odds). */
#define DWP_COL(c) (DI ? (((c)&1) ? XE : 0) + ((c) >> 1) : (c))

/* The inputs of a tap for outputs [ow, ow + VW) of a row: lanes at
 * columns c, c + SW, ..., of the padded row xr. */
#define DWP_LOAD(VT, VW, xr, c, v, ...)                                                            \
    do {                                                                                           \
        if (SW == 1 || DI) {                                                                       \
            v = *(const VT *)((xr) + DWP_COL(c));                                                  \
        } else if (SW == 2) {                                                                      \
            VT l_ = *(const VT *)((xr) + (c)), h_ = *(const VT *)((xr) + (c) + VW - 1);            \
            v = __builtin_shufflevector(l_, h_, __VA_ARGS__);                                      \
        } else {                                                                                   \
            for (int j_ = 0; j_ < VW; j_++)                                                        \
                v[j_] = (xr)[(c) + j_ * SW];                                                       \
        }                                                                                          \
    } while (0)

/* Rows [oh, oh + R) of the output, R 1 or 4, into t (DWP_TS floats a
 * row), in vectors of VW: R independent accumulators a tap, so that the
 * FMAs' latency overlaps (one chain of 25 taps per 7-wide row kept the
 * 7x7 stage latency-bound). Named accumulators, not an array, so that
 * they stay in registers when the tap loops do not unroll. xb: the band's
 * buffer, whose first row is output row o0's first input row. */
#define DWP_ROWS(VT, VW, R, ...)                                                                   \
    do {                                                                                           \
        for (int64_t ow = 0; ow < OW; ow += VW) {                                                  \
            VT a0_ = (VT){0} + bias, a1_ = a0_, a2_ = a0_, a3_ = a0_;                              \
            for (int64_t kh = 0; kh < KH; kh++) {                                                  \
                const float *restrict xr_ = xb + ((oh - o0) * SH + kh * TH) * XW;                  \
                const float *restrict wr_ = w + kh * KW;                                           \
                for (int64_t kw = 0; kw < KW; kw++) {                                              \
                    int64_t c_ = ow * SW + kw * TW;                                                \
                    float wk_ = wr_[kw];                                                           \
                    VT v_;                                                                         \
                    DWP_LOAD(VT, VW, xr_, c_, v_, __VA_ARGS__);                                    \
                    a0_ += wk_ * v_;                                                               \
                    if (R == 4) {                                                                  \
                        DWP_LOAD(VT, VW, xr_ + SH * XW, c_, v_, __VA_ARGS__);                      \
                        a1_ += wk_ * v_;                                                           \
                        DWP_LOAD(VT, VW, xr_ + 2 * SH * XW, c_, v_, __VA_ARGS__);                  \
                        a2_ += wk_ * v_;                                                           \
                        DWP_LOAD(VT, VW, xr_ + 3 * SH * XW, c_, v_, __VA_ARGS__);                  \
                        a3_ += wk_ * v_;                                                           \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            *(VT *)(t + ow) = a0_;                                                                 \
            if (R == 4) {                                                                          \
                *(VT *)(t + DWP_TS + ow) = a1_;                                                    \
                *(VT *)(t + 2 * DWP_TS + ow) = a2_;                                                \
                *(VT *)(t + 3 * DWP_TS + ow) = a3_;                                                \
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
 * the last vector; at stride 2 twice XE, the length of the even half
 * (*xe), which holds the last vector's last even column and its odd
 * counterpart's over-read. */
static inline int64_t dwp_width(int64_t OW, int64_t VW, int64_t SW, int64_t KW, int64_t TW,
                                int64_t DI, int64_t *xe) {
    int64_t owv = (OW + VW - 1) / VW * VW;
    *xe = owv + (KW - 1) * TW / 2 + 1;
    if (DI) return 2 * *xe;
    return (owv - 1) * SW + (KW - 1) * TW + 2 * VW;
}

INLINE void dw_plane_padded(const float *restrict x, const float *restrict w, float bias,
                            float *restrict y, int64_t IH, int64_t IW, int64_t OH, int64_t OW,
                            int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t TH, int64_t TW,
                            int64_t PH, int64_t PW, int64_t VW, int64_t BR, int64_t XW, int64_t XE,
                            int64_t DI, int epi, float a, float b) {
    float xb[DWP_MAX];
    float t[4 * DWP_TS];
    for (int64_t o0 = 0; o0 < OH; o0 += BR) {
        int64_t o1 = o0 + BR < OH ? o0 + BR : OH;
        int64_t XH = (o1 - o0 - 1) * SH + (KH - 1) * TH + 1, h0 = o0 * SH - PH;
        for (int64_t i = 0; i < XH * XW; i++)
            xb[i] = 0.0f;
        /* Rows and columns of the input that fall in the buffer (pads of
         * XW or more leave it all zeros, and iw + PW cannot wrap). */
        for (int64_t r = 0; r < XH; r++) {
            int64_t ih = h0 + r;
            if (ih < 0 || ih >= IH || PW >= XW) continue;
            float *restrict xr = xb + r * XW;
            const float *restrict xi = x + ih * IW;
            int64_t iw = 0, n = IW < XW - PW ? IW : XW - PW;
            if (DI) /* 32 inputs at a time into 16 evens and 16 odds */
                for (; iw + 32 <= n; iw += 32) {
                    v16 l = *(const v16 *)(xi + iw), h = *(const v16 *)(xi + iw + 16);
                    v16 e = __builtin_shufflevector(l, h, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
                                                    24, 26, 28, 30);
                    v16 o = __builtin_shufflevector(l, h, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23,
                                                    25, 27, 29, 31);
                    int64_t c = iw + PW; /* the column of xi[iw] */
                    *(v16 *)(xr + DWP_COL(c)) = e;
                    *(v16 *)(xr + DWP_COL(c + 1)) = o;
                }
            if (DI) /* the rest 16 and 8 at a time */
                for (; iw + 8 <= n; iw += 8) {
                    v4 l = *(const v4 *)(xi + iw), h = *(const v4 *)(xi + iw + 4);
                    *(v4 *)(xr + DWP_COL(iw + PW)) = __builtin_shufflevector(l, h, 0, 2, 4, 6);
                    *(v4 *)(xr + DWP_COL(iw + PW + 1)) = __builtin_shufflevector(l, h, 1, 3, 5, 7);
                }
            for (; iw < n; iw++)
                xr[DWP_COL(iw + PW)] = xi[iw];
        }
        /* Rows in fours; the last four of a band of 4 or more overlap the
         * ones before (the same sums, stored again), so that no row takes
         * the one-accumulator path. */
        for (int64_t o = o0; o < o1;) {
            int64_t R = o1 - o0 >= 4 ? 4 : 1, oh = o + R <= o1 ? o : o1 - R;
            if (R == 4)
                DWP_VW(4);
            else
                DWP_VW(1);
            for (int64_t r = 0; r < R; r++) {
                float *restrict yr = y + (oh + r) * OW;
                for (int64_t j = 0; j < OW; j++)
                    yr[j] = kiln_epilogue_f32(epi, a, b, t[r * DWP_TS + j]);
            }
            o = oh + R;
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
    /* The padded path: 2-D, outputs up to 32 wide (mostly border pixels),
     * or up to DWP_TS wide at stride 2 with rows of DWP_DI_MIN_KW taps or
     * more (deinterleaved: 3-tap rows at stride 2 ran faster on the row
     * path, 5-tap ones 1.1-1.5x faster here), in bands that fit.
     * Each factor is bounded first, so that no product can overflow
     * (hostile strides and pads of 2^31 take the row path). */
    int64_t VW = OW > 8 ? 16 : OW > 4 ? 8 : 4, BR = 0, XW = 0, XE = 0;
    int64_t DI = SW == 2 && KW >= DWP_DI_MIN_KW;
    int padded = KD == 1 && ID == 1 && OD == 1 && OW > 0 && (OW <= 32 || (DI && OW <= DWP_TS)) &&
                 OH > 0 && OH <= DWP_MAX && KH <= 64 && KW <= 64 && SH <= 64 && SW <= 64 &&
                 TH <= 64 && TW <= 64;
    if (padded) {
        XW = dwp_width(OW, VW, SW, KW, TW, DI, &XE);
        int64_t fixed = ((KH - 1) * TH + 1) * XW, per = SH * XW;
        if (((OH - 1) * SH + (KH - 1) * TH + 1) * XW <= DWP_MAX)
            BR = OH; /* the whole plane */
        else if (fixed + 3 * per <= DWP_MAX)
            BR = ((DWP_MAX - fixed) / per + 1) / 4 * 4;
        padded = BR > 0;
    }
    for (int64_t p = p_lo; p < p_hi; p++) {
        int64_t oc = p % (G * M);
        const float *restrict x = X + (p / (G * M) * G + oc / M) * IP;
        const float *restrict w = W + oc * KS;
        float bias = B ? B[oc] : 0.0f;
        float *restrict y = Y + p * OP;
        if (padded) {
            dw_plane_padded(x, w, bias, y, IH, IW, OH, OW, KH, KW, SH, SW, TH, TW, PH, PW, VW, BR,
                            XW, XE, DI, epi, a, b);
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
