/* quant.h: kernels of the quantisation ops (compiler/ir/ops_quant.def).
 *
 * The arithmetic is ONNX's (and ONNX Runtime's):
 *   quantise    q = saturate(rint(x / scale) + zero_point)
 *   dequantise  x = (q - zero_point) * scale
 * where rint rounds half to even (the default rounding mode) and saturate
 * clamps to the output type's range. Integer products accumulate in int32
 * with the zero points subtracted first; a requantised accumulator is
 * saturate(rint(acc * (s1 * s2 / y_scale)) + y_zero_point), the multiplier
 * computed in float as ORT does. NaN quantises to the zero point.
 *
 * A "step" says how a scale or zero point is indexed: 0 for one value per
 * tensor, 1 for one per channel (per axis, per row or per column). A NULL
 * zero point is 0. Conventions as in kernels.h.
 */
#ifndef KILN_QUANT_H
#define KILN_QUANT_H

#include <stdint.h>

#include "kernels.h"

/* The 8-bit types the quantised ops take: X(C type, suffix, lo, hi). */
#define KILN_FOR_QUANT_TYPES(X)                                                                    \
    X(uint8_t, u8, 0, 255)                                                                         \
    X(int8_t, i8, -128, 127)

#define KILN_QUANT_DECLARE(T, sfx, lo, hi)                                                         \
    /* QuantizeLinear of x viewed as [outer, C, inner], scale and zero                             \
     * point indexed by c * step. */                                                               \
    void kiln_quantize_##sfx(int64_t outer, int64_t C, int64_t inner, const float *restrict x,     \
                             const float *restrict scale, const T *restrict zp, int64_t step,      \
                             T *restrict y);                                                       \
    /* DequantizeLinear, the same layout. */                                                       \
    void kiln_dequantize_##sfx(int64_t outer, int64_t C, int64_t inner, const T *restrict x,       \
                               const float *restrict scale, const T *restrict zp, int64_t step,    \
                               float *restrict y);                                                 \
    /* The accumulator acc viewed as [outer, R, C] requantised to y; scale                         \
     * s1 is s1[r * s1r + c * s1c], s2 likewise, y_scale and y_zp one value. */                    \
    void kiln_requantize_##sfx(                                                                    \
        int64_t outer, int64_t R, int64_t C, const int32_t *restrict acc,                          \
        const float *restrict s1, int64_t s1r, int64_t s1c, const float *restrict s2, int64_t s2r, \
        int64_t s2c, const float *restrict y_scale, const T *restrict y_zp, T *restrict y);
KILN_FOR_QUANT_TYPES(KILN_QUANT_DECLARE)
#undef KILN_QUANT_DECLARE

/* DequantizeLinear of int32 (a quantised bias; its zero point must be 0). */
void kiln_dequantize_i32(int64_t outer, int64_t C, int64_t inner, const int32_t *restrict x,
                         const float *restrict scale, const int32_t *restrict zp, int64_t step,
                         float *restrict y);

/* DynamicQuantizeLinear: the range [min(0, min x), max(0, max x)] mapped
 * onto 0..255; writes y, *scale and *zp as ONNX's reference computes them
 * (a range of zero gives scale 0, zero point 0 and y all 0). */
void kiln_dynamic_quantize_u8(int64_t n, const float *restrict x, uint8_t *restrict y,
                              float *restrict scale, uint8_t *restrict zp);

/* Integer kernels over every pair of 8-bit operand types: X(TA, a, TB, b). */
#define KILN_FOR_QUANT_PAIRS(X)                                                                    \
    X(uint8_t, u8, uint8_t, u8)                                                                    \
    X(uint8_t, u8, int8_t, i8)                                                                     \
    X(int8_t, i8, uint8_t, u8)                                                                     \
    X(int8_t, i8, int8_t, i8)

/* The integer products: see KILN_QUANT_KC in kiln_kernel_abi.h. */
#define KILN_QUANT_PAIR_DECLARE(TA, a, TB, b)                                                      \
    /* For each batch: Y[M,N] = sum_k (A[m,k] - azp) (B[k,n] - bzp) in int32,                      \
     * A_b = A + batch * a_bs (likewise B), Y dense; azp is                                        \
     * a_zp[m * a_step] (per row), bzp b_zp[n * b_step] (per column).                              \
     * fs: kiln_matmul_int_scratch(M, N, K) floats. */                                             \
    void kiln_matmul_int_##a##_##b(                                                                \
        int64_t batch, int64_t M, int64_t N, int64_t K, const TA *restrict A, int64_t a_bs,        \
        const TA *restrict a_zp, int64_t a_step, const TB *restrict B, int64_t b_bs,               \
        const TB *restrict b_zp, int64_t b_step, float *restrict fs, int32_t *restrict Y);         \
    /* A 2-D convolution in int32: X [N, C, H, W] (zero point x_zp, also the                       \
     * padding), W [M, C/group, kh, kw] (zero point w_zp[m * w_step]), plus                        \
     * bias[m] if not NULL, into Y [N, M, oh, ow]. g holds kh, kw, sh, sw,                         \
     * dh, dw, ph, pw (pads before), group. fs: kiln_conv_int_scratch(M,                           \
     * C / group * kh * kw) floats. */                                                             \
    void kiln_conv_int_##a##_##b(                                                                  \
        int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t oh, int64_t ow,             \
        const int64_t *restrict g, const TA *restrict X, const TA *restrict x_zp,                  \
        const TB *restrict Wt, const TB *restrict w_zp, int64_t w_step,                            \
        const int32_t *restrict bias, float *restrict fs, int32_t *restrict Y);
KILN_FOR_QUANT_PAIRS(KILN_QUANT_PAIR_DECLARE)
#undef KILN_QUANT_PAIR_DECLARE

#endif
