/* kmath_ops.h: the math family's kernels beyond kiln_binary/kiln_unary
 * (declared in kernels.h): comparisons, Where, IsNaN/IsInf, Clip and Cast.
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

/* Every element type the math kernels take: X(C type, suffix, kind), kind
 * one of the KILN_KIND_* below. */
enum { KILN_KIND_FLOAT = 0, KILN_KIND_SIGNED = 1, KILN_KIND_UNSIGNED = 2, KILN_KIND_BOOL = 3 };
#define KILN_FOR_MATH_TYPES(X)                                                                     \
    X(float, f32, 0)                                                                               \
    X(double, f64, 0)                                                                              \
    X(_Float16, f16, 0)                                                                            \
    X(int8_t, i8, 1)                                                                               \
    X(int16_t, i16, 1)                                                                             \
    X(int32_t, i32, 1)                                                                             \
    X(int64_t, i64, 1)                                                                             \
    X(uint8_t, u8, 2)                                                                              \
    X(uint16_t, u16, 2)                                                                            \
    X(uint32_t, u32, 2)                                                                            \
    X(uint64_t, u64, 2)                                                                            \
    X(uint8_t, bool, 3)

/* y = a OP b as bool, op one of KILN_BIN_EQ..KILN_BIN_GE. */
#define KILN_DECLARE_COMPARE(T, sfx, kind)                                                         \
    void kiln_compare_##sfx(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,                \
                            const T *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,   \
                            const T *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,   \
                            uint8_t *restrict y);
KILN_FOR_MATH_TYPES(KILN_DECLARE_COMPARE)

/* y = c ? a : b (ONNX Where), c bool. */
#define KILN_DECLARE_WHERE(T, sfx, kind)                                                           \
    void kiln_where_##sfx(int64_t d0, int64_t d1, int64_t d2, int64_t d3,                          \
                          const uint8_t *restrict c, int64_t c0, int64_t c1, int64_t c2,           \
                          int64_t c3, const T *restrict a, int64_t a0, int64_t a1, int64_t a2,     \
                          int64_t a3, const T *restrict b, int64_t b0, int64_t b1, int64_t b2,     \
                          int64_t b3, T *restrict y);
KILN_FOR_MATH_TYPES(KILN_DECLARE_WHERE)

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

/* kiln_cast_<from>_<to>: C conversion of each element, as numpy's astype:
 * float to integer truncates toward zero (values outside the target's
 * range are undefined, as in numpy), anything to bool is x != 0. */
#define KILN_DECLARE_CAST_TO(F, fsfx, T, tsfx, tkind)                                              \
    void kiln_cast_##fsfx##_##tsfx(int64_t n, const F *restrict x, T *restrict y);
#define KILN_CAST_TARGETS(X, F, fsfx)                                                              \
    X(F, fsfx, float, f32, 0)                                                                      \
    X(F, fsfx, double, f64, 0)                                                                     \
    X(F, fsfx, _Float16, f16, 0)                                                                   \
    X(F, fsfx, int8_t, i8, 1)                                                                      \
    X(F, fsfx, int16_t, i16, 1)                                                                    \
    X(F, fsfx, int32_t, i32, 1)                                                                    \
    X(F, fsfx, int64_t, i64, 1)                                                                    \
    X(F, fsfx, uint8_t, u8, 2)                                                                     \
    X(F, fsfx, uint16_t, u16, 2)                                                                   \
    X(F, fsfx, uint32_t, u32, 2)                                                                   \
    X(F, fsfx, uint64_t, u64, 2)                                                                   \
    X(F, fsfx, uint8_t, bool, 3)
#define KILN_DECLARE_CAST_FROM(F, fsfx, kind) KILN_CAST_TARGETS(KILN_DECLARE_CAST_TO, F, fsfx)
KILN_FOR_MATH_TYPES(KILN_DECLARE_CAST_FROM)

#endif
