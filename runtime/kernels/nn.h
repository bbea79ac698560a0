/* nn.h: convolution, pooling and normalisation kernels (the `nn` op family).
 *
 * Tensors are NCHW (NCDHW, NCW): every kernel sees 1-D, 2-D and 3-D data as
 * 3-D, with unit sizes for the missing leading spatial dims, so one kernel
 * serves all three. Geometry arguments come in (D, H, W) triples: input
 * size I*, output size O*, kernel K*, stride S*, dilation T* and the pad
 * before the first element P* (pads after it only matter for the output
 * size, which codegen already knows, and for AveragePool's divisor).
 * All of them are constants at the call site once codegen inlines the
 * kernel, so the loops below specialise to the exact shapes.
 *
 * Activation epilogue: the dense convolution applies any KILN_EPI_*; the
 * depthwise one clamps its result to [lo, hi] (Relu is [0, +inf), Clip(0,
 * 6) is [0, 6], none is [-inf, +inf]).
 */
#ifndef KILN_NN_H
#define KILN_NN_H

#include <stdint.h>

#include "kiln_kernel_abi.h" /* tile sizes and scratch sizes, shared with the compiler */

/* Geometry helpers the convolution and pooling kernels share. */

/* Integer division rounding towards -inf (C's / truncates). */
static inline int64_t kiln_floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The outputs o in [0, O) whose input position o*s + off lies in [0, I):
 * [*lo, *hi). Empty when *lo >= *hi. */
static inline void kiln_valid_range(int64_t O, int64_t I, int64_t s, int64_t off, int64_t *lo,
                                    int64_t *hi) {
    int64_t a = -kiln_floor_div(off, s);     /* ceil(-off / s) */
    int64_t b = -kiln_floor_div(off - I, s); /* ceil((I - off) / s) */
    *lo = a < 0 ? 0 : a > O ? O : a;
    *hi = b < *lo ? *lo : b > O ? O : b;
}

/* Grouped convolution, f32 (runtime/kernels/conv.c). X [N, G*C, ID, IH,
 * IW], Y [N, G*M, OD, OH, OW]. Wp: the weights [G*M, C, KD, KH, KW]
 * packed at compile time as [G][ceil(M/8)][K][8] (K = C*KD*KH*KW; output
 * channel 8b+r of group g at Wp[((g*ceil(M/8) + b)*K + k)*8 + r], zero
 * past M). B: bias [G*M] or NULL. R: a residual shaped as Y, added before
 * the epilogue, or NULL; it must not overlap Y. epi, epi_a, epi_b: the
 * activation (KILN_EPI_*, kiln_epilogue_f32 in kmath.h), so
 * Y = epi(conv(X, W) + B + R). scratch: kiln_conv_scratch_floats() floats.
 * task, n_tasks: compute part task of n_tasks ((0, 1): all); parts at or
 * past KILN_CONV_MAX_TASKS have nothing to do. */
void kiln_conv_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH, int64_t IW,
                   int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH, int64_t KW,
                   int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH, int64_t TW,
                   int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                   const float *restrict Wp, const float *restrict B, const float *restrict R,
                   int epi, float epi_a, float epi_b, float *restrict scratch, float *restrict Y,
                   int64_t task, int64_t n_tasks);

/* Transposed convolution, f32. X [N, G*C, ID, IH, IW], W [G*C, M, KD, KH,
 * KW] as in the model, B [G*M] or NULL, Y [N, G*M, OD, OH, OW]: input
 * element i scatters into outputs i*S - P + k*T. */
void kiln_conv_transpose_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH,
                             int64_t IW, int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH,
                             int64_t KW, int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,
                             int64_t TW, int64_t PD, int64_t PH, int64_t PW,
                             const float *restrict X, const float *restrict W,
                             const float *restrict B, float *restrict Y);

/* Kernels instantiated for the floating-point types: X(C type, suffix,
 * type the arithmetic is done in). */
#define KILN_FOR_FLOAT_TYPES(X)                                                                    \
    X(float, f32, float)                                                                           \
    X(double, f64, double)                                                                         \
    X(_Float16, f16, float)

/* Inference batch normalisation: x viewed as [N, C, S]; per channel c,
 * y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c]. */
#define KILN_DECLARE_BATCHNORM(T, sfx, A)                                                          \
    void kiln_batchnorm_##sfx(int64_t N, int64_t C, int64_t S, const T *restrict x,                \
                              const T *restrict scale, const T *restrict bias,                     \
                              const T *restrict mean, const T *restrict var, float eps,            \
                              T *restrict y);
KILN_FOR_FLOAT_TYPES(KILN_DECLARE_BATCHNORM)

/* Instance normalisation: x viewed as [N, C, S]; each (n, c) row is
 * normalised by its own mean and variance, then scaled and shifted by
 * scale[c], bias[c]. */
#define KILN_DECLARE_INSTANCENORM(T, sfx, A)                                                       \
    void kiln_instancenorm_##sfx(int64_t N, int64_t C, int64_t S, const T *restrict x,             \
                                 const T *restrict scale, const T *restrict bias, float eps,       \
                                 T *restrict y);
KILN_FOR_FLOAT_TYPES(KILN_DECLARE_INSTANCENORM)

/* Max pooling over x [NC, ID, IH, IW] into y [NC, OD, OH, OW]. Window
 * positions outside the input (pads) are skipped. ind (NULL: not wanted)
 * receives the flat index of each maximum in the whole input tensor, in
 * row-major order, or with H and W swapped when col_major (ONNX
 * storage_order=1). The first maximum wins on ties. */
#define KILN_DECLARE_MAXPOOL(T, sfx, A)                                                            \
    void kiln_maxpool_##sfx(int64_t NC, int64_t ID, int64_t IH, int64_t IW, int64_t OD,            \
                            int64_t OH, int64_t OW, int64_t KD, int64_t KH, int64_t KW,            \
                            int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,            \
                            int64_t TW, int64_t PD, int64_t PH, int64_t PW, const T *restrict x,   \
                            T *restrict y, int64_t *restrict ind, int col_major);
KILN_DECLARE_MAXPOOL(float, f32, float)
KILN_DECLARE_MAXPOOL(double, f64, double)
KILN_DECLARE_MAXPOOL(_Float16, f16, float)
KILN_DECLARE_MAXPOOL(int8_t, i8, int)
KILN_DECLARE_MAXPOOL(uint8_t, u8, int)
/* kiln_maxpool_f32 with no indices, planes split over (task, n_tasks). */
void kiln_maxpool_split_f32(int64_t NC, int64_t ID, int64_t IH, int64_t IW, int64_t OD, int64_t OH,
                            int64_t OW, int64_t KD, int64_t KH, int64_t KW, int64_t SD, int64_t SH,
                            int64_t SW, int64_t TD, int64_t TH, int64_t TW, int64_t PD, int64_t PH,
                            int64_t PW, const float *restrict x, float *restrict y, int64_t task,
                            int64_t n_tasks);

/* Average pooling (no dilation), as kiln_maxpool. The divisor counts the
 * window's elements inside the input, or with count_include_pad those
 * inside the padded input [-P, I + E) (E*: pads after the last element;
 * the part of a ceil_mode window past them is never counted). */
#define KILN_DECLARE_AVGPOOL(T, sfx, A)                                                            \
    void kiln_avgpool_##sfx(int64_t NC, int64_t ID, int64_t IH, int64_t IW, int64_t OD,            \
                            int64_t OH, int64_t OW, int64_t KD, int64_t KH, int64_t KW,            \
                            int64_t SD, int64_t SH, int64_t SW, int64_t PD, int64_t PH,            \
                            int64_t PW, int64_t ED, int64_t EH, int64_t EW, int count_include_pad, \
                            const T *restrict x, T *restrict y);
KILN_FOR_FLOAT_TYPES(KILN_DECLARE_AVGPOOL)

enum { KILN_GLOBAL_AVG = 0, KILN_GLOBAL_MAX = 1 };

/* Global pooling: y[i] = mean or max of x[i*S .. (i+1)*S). */
#define KILN_DECLARE_GLOBAL_POOL(T, sfx, A)                                                        \
    void kiln_global_pool_##sfx(int op, int64_t NC, int64_t S, const T *restrict x, T *restrict y);
KILN_FOR_FLOAT_TYPES(KILN_DECLARE_GLOBAL_POOL)

/* Local response normalisation across channels: x viewed as [N, C, S];
 * y = x / (bias + alpha/size * sum of x^2 over channels
 * [c - (size-1)/2, c + size/2])^beta. */
void kiln_lrn_f32(int64_t N, int64_t C, int64_t S, int64_t size, float alpha, float beta,
                  float bias, const float *restrict x, float *restrict y);

#endif
