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

#endif
