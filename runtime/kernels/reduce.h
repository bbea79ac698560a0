/* reduce.h: kernels that combine elements along axes: reductions, arg
 * max/min, the softmax family, normalisations over axes, cumulative sums
 * and top-k.
 *
 * Most kernels see their input as [outer, len, inner] and work along the
 * middle axis: codegen merges the dims before, inside and after the axes an
 * op works on, so one kernel serves every rank and every axis. Reductions
 * over several axes that are not neighbours go through kiln_reduce_any_*,
 * which walks up to four kept and four reduced dims by strides.
 *
 * Float32 reductions along the innermost axis (inner == 1) accumulate into
 * RED_LANES independent partial results, so that after inlining LLVM
 * vectorises them without having to reassociate the sum itself.
 * Conventions as in kernels.h: no allocation, no failure, restrict operands.
 */
#ifndef KILN_REDUCE_H
#define KILN_REDUCE_H

#include <stdint.h>

#include "kernels.h"

/* How kiln_reduce_* combines the elements of one slice. */
enum {
    KILN_RED_SUM = 0,       /* x0 + x1 + ... */
    KILN_RED_SUMSQ = 1,     /* x0^2 + x1^2 + ... */
    KILN_RED_ASUM = 2,      /* |x0| + |x1| + ... */
    KILN_RED_PROD = 3,      /* x0 * x1 * ... */
    KILN_RED_MAX = 4,       /* max(x0, x1, ...) */
    KILN_RED_MIN = 5,       /* min(x0, x1, ...) */
    KILN_RED_LOGSUMEXP = 6, /* log(exp(x0) + exp(x1) + ...), computed max-subtracted */
};

/* What kiln_reduce_* applies to each combined result before storing it. */
enum {
    KILN_RED_POST_NONE = 0,
    KILN_RED_POST_DIV = 1,  /* divided by `div` (ReduceMean) */
    KILN_RED_POST_SQRT = 2, /* ReduceL2 */
    KILN_RED_POST_LOG = 3,  /* ReduceLogSum */
};

/* Numeric kernels with a wide accumulator: X(T, suffix, accumulator type,
 * float type for exp/log/sqrt). Integers accumulate in 64 bits (sums wrap
 * as numpy's do once cast back) and do their transcendental math in
 * double; _Float16 computes in float. */
#define KILN_REDUCE_TYPES(X)                                                                       \
    X(float, f32, float, float)                                                                    \
    X(double, f64, double, double)                                                                 \
    X(_Float16, f16, float, float)                                                                 \
    X(int8_t, i8, int64_t, double)                                                                 \
    X(int16_t, i16, int64_t, double)                                                               \
    X(int32_t, i32, int64_t, double)                                                               \
    X(int64_t, i64, int64_t, double)                                                               \
    X(uint8_t, u8, uint64_t, double)                                                               \
    X(uint16_t, u16, uint64_t, double)                                                             \
    X(uint32_t, u32, uint64_t, double)                                                             \
    X(uint64_t, u64, uint64_t, double)

/* Float-only kernels (softmax family, normalisations): X(T, suffix, compute type). */
#define KILN_FLOAT_TYPES(X)                                                                        \
    X(float, f32, float)                                                                           \
    X(double, f64, double)                                                                         \
    X(_Float16, f16, float)

/* y[o, k] = post(combine over i of x[o, i, k]) for x [outer, len, inner],
 * y [outer, inner]; len >= 1. */
#define KILN_DECLARE_REDUCE(T, sfx, ACC, F)                                                        \
    void kiln_reduce_##sfx(int op, int post, double div, int64_t outer, int64_t len,               \
                           int64_t inner, const T *restrict x, T *restrict y);                     \
    void kiln_reduce_any_##sfx(                                                                    \
        int op, int post, double div, int64_t k0, int64_t k1, int64_t k2, int64_t k3, int64_t ks0, \
        int64_t ks1, int64_t ks2, int64_t ks3, int64_t r0, int64_t r1, int64_t r2, int64_t r3,     \
        int64_t rs0, int64_t rs1, int64_t rs2, int64_t rs3, const T *restrict x, T *restrict y);   \
    void kiln_argmax_##sfx(int is_min, int select_last, int64_t outer, int64_t len, int64_t inner, \
                           const T *restrict x, int64_t *restrict y);                              \
    void kiln_cumsum_##sfx(int exclusive, int reverse, int64_t outer, int64_t len, int64_t inner,  \
                           const T *restrict x, T *restrict y);                                    \
    void kiln_topk_##sfx(int largest, int64_t k, int64_t outer, int64_t len, int64_t inner,        \
                         const T *restrict x, T *restrict values, int64_t *restrict indices);
/* kiln_reduce_any_*: y is dense over the kept dims k0..k3 (x strides
 * ks0..ks3); each output combines the r0..r3 block at x strides rs0..rs3.
 * kiln_argmax_*: index along len of the max (is_min: the min) of each
 * slice; ties go to the first index, or the last with select_last.
 * kiln_cumsum_*: running sums along len; exclusive starts from 0, reverse
 * runs from the end.
 * kiln_topk_*: the k largest (smallest) elements along len, in order,
 * values [outer, k, inner] and their indices; equal values keep the lower
 * index first. */
KILN_REDUCE_TYPES(KILN_DECLARE_REDUCE)

/* Softmax, LogSoftmax, Hardmax over the middle axis of x viewed as
 * [outer, len, inner]; max-subtracted, so large inputs stay finite.
 * Hardmax: 1 at the first maximum of each slice, 0 elsewhere.
 * kiln_softmax_f32 is the classifier/transformer hot path. */
#define KILN_DECLARE_SOFTMAX(T, sfx, F)                                                            \
    void kiln_softmax_##sfx(int64_t outer, int64_t len, int64_t inner, const T *restrict x,        \
                            T *restrict y);                                                        \
    void kiln_logsoftmax_##sfx(int64_t outer, int64_t len, int64_t inner, const T *restrict x,     \
                               T *restrict y);                                                     \
    void kiln_hardmax_##sfx(int64_t outer, int64_t len, int64_t inner, const T *restrict x,        \
                            T *restrict y);                                                        \
    void kiln_layernorm_##sfx(int64_t outer, int64_t len, const T *restrict x,                     \
                              const T *restrict scale, int64_t scale_stride,                       \
                              const T *restrict bias, int64_t bias_stride, float epsilon,          \
                              T *restrict y, T *restrict mean, T *restrict inv_std);               \
    void kiln_lpnorm_##sfx(int p, int64_t outer, int64_t len, int64_t inner, const T *restrict x,  \
                           T *restrict y);                                                         \
    void kiln_mvn_##sfx(int64_t k0, int64_t k1, int64_t k2, int64_t k3, int64_t ks0, int64_t ks1,  \
                        int64_t ks2, int64_t ks3, int64_t r0, int64_t r1, int64_t r2, int64_t r3,  \
                        int64_t rs0, int64_t rs1, int64_t rs2, int64_t rs3, const T *restrict x,   \
                        T *restrict y);                                                            \
    int32_t kiln_nllloss_##sfx(int reduction, int64_t ignore_index, int64_t n, int64_t c,          \
                               int64_t d, const T *restrict x, const int64_t *restrict target,     \
                               const T *restrict weight, T *restrict loss,                         \
                               KilnRunError *restrict err);
/* kiln_layernorm_*: each row of x [outer, len] normalised to zero mean and
 * unit variance (epsilon added to the variance), times scale plus bias
 * (bias may be NULL; a stride of 0 broadcasts one value); mean and
 * inv_std (may be NULL) receive each row's statistics.
 * kiln_lpnorm_*: x divided by its L1 (p = 1) or L2 (p = 2) norm along len.
 * kiln_mvn_*: x minus its mean, divided by its standard deviation (plus
 * 1e-9), the statistics taken over the reduced dims as in kiln_reduce_any_*;
 * y has x's layout.
 * kiln_nllloss_*: negative log-likelihood of x [n, c, d] (log
 * probabilities) at target [n, d]; weight [c] may be NULL; targets equal
 * to ignore_index count 0; checked (kiln_kernel_abi.h): every other target
 * is a class in [0, c). reduction: KILN_LOSS_NONE writes loss [n, d],
 * _SUM and _MEAN one value (mean divides by the summed weights). */
KILN_FLOAT_TYPES(KILN_DECLARE_SOFTMAX)

enum { KILN_LOSS_NONE = 0, KILN_LOSS_SUM = 1, KILN_LOSS_MEAN = 2 };

#endif
