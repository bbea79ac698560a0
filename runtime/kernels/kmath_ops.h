/* kmath_ops.h: the math family's kernels beyond those in kiln_kernel_abi.h
 * (binary, unary, comparisons, Where and Cast): IsNaN/IsInf and Clip.
 *
 * Same rules as kernels.h: sizes, strides and op enums become constants at
 * the call site; outputs never alias inputs. Bool tensors are one byte per
 * element holding 0 or 1, and use the suffix `bool`. The 4-D strided form
 * (d0..d3, per-operand strides, stride 0 along broadcast dims) is the one
 * kiln_binary uses; codegen merges dims so that four suffice.
 */
#ifndef KILN_KMATH_OPS_H
#define KILN_KMATH_OPS_H

#include "kernels.h"

/* IsNaN / IsInf, bool out. */
enum {
    KILN_CLASS_NAN = 0,     /* IsNaN */
    KILN_CLASS_INF = 1,     /* IsInf, both signs */
    KILN_CLASS_POS_INF = 2, /* IsInf detect_negative=0 */
    KILN_CLASS_NEG_INF = 3, /* IsInf detect_positive=0 */
    KILN_CLASS_NONE = 4,    /* IsInf detecting neither: all false */
};
void kiln_classify_f32(int op, int64_t n, const float *restrict x, uint8_t *restrict y);
void kiln_classify_f64(int op, int64_t n, const double *restrict x, uint8_t *restrict y);
void kiln_classify_f16(int op, int64_t n, const _Float16 *restrict x, uint8_t *restrict y);

/* y = min(max(x, *lo), *hi); lo or hi NULL: no bound on that side. The
 * bounds are pointers so that they can be tensors computed at run time. */
#define KILN_DECLARE_CLIP(T, sfx, kind)                                                            \
    void kiln_clip_##sfx(int64_t n, const T *restrict x, const T *restrict lo,                     \
                         const T *restrict hi, T *restrict y);
KILN_FOR_MATH_TYPES(KILN_DECLARE_CLIP)

/* The steps (n_steps of them, KilnChainStep in kiln_kernel_abi.h) over
 * the output's dims d0..d3, operand j at xj with strides sj0..sj3 (0 along
 * broadcast dims; operands past the chain's count: operand 0 again, they
 * are not read). y is dense; it may be operand 0 itself (each element is
 * read before it is written). Split over threads like
 * kiln_binary_split_f32. */
void kiln_chain_f32(int64_t n_steps, const KilnChainStep *steps, int64_t d0, int64_t d1, int64_t d2,
                    int64_t d3, const float *x0, int64_t s00, int64_t s01, int64_t s02, int64_t s03,
                    const float *x1, int64_t s10, int64_t s11, int64_t s12, int64_t s13,
                    const float *x2, int64_t s20, int64_t s21, int64_t s22, int64_t s23,
                    const float *x3, int64_t s30, int64_t s31, int64_t s32, int64_t s33,
                    const float *x4, int64_t s40, int64_t s41, int64_t s42, int64_t s43,
                    const float *x5, int64_t s50, int64_t s51, int64_t s52, int64_t s53, float *y,
                    int64_t task, int64_t n_tasks);

#endif
