/* elementwise.c: the math family's kernels (broadcasting binary ops,
 * comparisons, Where, unary math and activations, IsNaN/IsInf, Clip,
 * Cast), then kiln_copy.
 *
 * Each kernel is one loop nest with the op as an argument; at the call
 * site op is a constant, so after inlining the switch folds away and the
 * loop body is one expression the vectoriser can take. float16 computes
 * in float and rounds once per result, as numpy does.
 */
#include "kernels.h"
#include "kmath.h"
#include "kmath_ops.h"

/* The integer macros below serve signed and unsigned types alike, so
 * `x < 0` is sometimes always false: that is intended. */
#pragma GCC diagnostic ignored "-Wtype-limits"

/* --- scalar ops, by compute type ------------------------------------------------ */

/* Unary ops, from KILN_FOR_UNARY_OPS in kernels.h: one switch per compute
 * type, each case the row's expression. */
static inline float clamp01f(float v) {
    v = v > 0.0f ? v : 0.0f;
    return v < 1.0f ? v : 1.0f;
}
static inline double clamp01(double v) {
    v = v > 0.0 ? v : 0.0;
    return v < 1.0 ? v : 1.0;
}

#define UNARY_CASE_F32(op, f32, f64, integer)                                                      \
    case KILN_UN_##op:                                                                             \
        return f32;
static inline float unary_f32(int op, float x, float a, float b) {
    switch (op) {
        KILN_FOR_UNARY_OPS(UNARY_CASE_F32)
    default:
        return x;
    }
}

#define UNARY_CASE_F64(op, f32, f64, integer)                                                      \
    case KILN_UN_##op:                                                                             \
        return f64;
static inline double unary_f64(int op, double x, float a, float b) {
    switch (op) {
        KILN_FOR_UNARY_OPS(UNARY_CASE_F64)
    default:
        return x;
    }
}

/* Integers: the result converts to T on return, as a cast would. */
#define UNARY_CASE_INT(op, f32, f64, integer)                                                      \
    case KILN_UN_##op:                                                                             \
        return integer;
#define UNARY_INT(T, sfx, kind)                                                                    \
    static inline T unary_##sfx(int op, T x, float a, float b) {                                   \
        switch (op) {                                                                              \
            KILN_FOR_UNARY_OPS(UNARY_CASE_INT)                                                     \
        default:                                                                                   \
            return x;                                                                              \
        }                                                                                          \
    }

/* Binary ops on floats (CT: float or double). Pow by a constant 2 or 0.5
 * folds to a multiply or sqrt once the exponent is a known constant. */
#define BINARY_FLOAT(CT, sfx, fmod_, pow_, sqrt_)                                                  \
    static inline CT binary_##sfx(int op, CT x, CT y) {                                            \
        switch (op) {                                                                              \
        case KILN_BIN_ADD:                                                                         \
            return x + y;                                                                          \
        case KILN_BIN_SUB:                                                                         \
            return x - y;                                                                          \
        case KILN_BIN_MUL:                                                                         \
            return x * y;                                                                          \
        case KILN_BIN_DIV:                                                                         \
            return x / y;                                                                          \
        case KILN_BIN_POW:                                                                         \
            return y == (CT)2 ? x * x : y == (CT)0.5 ? sqrt_(x) : pow_(x, y);                      \
        case KILN_BIN_MOD:                                                                         \
        case KILN_BIN_FMOD:                                                                        \
            return fmod_(x, y);                                                                    \
        case KILN_BIN_MAX: /* NaN in either operand propagates, as in numpy */                     \
            return x >= y || x != x ? x : y;                                                       \
        case KILN_BIN_MIN:                                                                         \
            return x <= y || x != x ? x : y;                                                       \
        case KILN_BIN_PRELU:                                                                       \
            return x < 0 ? x * y : x;                                                              \
        default:                                                                                   \
            return x;                                                                              \
        }                                                                                          \
    }
BINARY_FLOAT(float, f32, __builtin_fmodf, __builtin_powf, __builtin_sqrtf)
BINARY_FLOAT(double, f64, __builtin_fmod, __builtin_pow, __builtin_sqrt)

/* x^y for integers by squaring; a negative exponent gives the integer
 * part of 1/x^|y| (0 unless x is 1 or -1). */
#define POW_INT(T, sfx, kind)                                                                      \
    static inline T pow_##sfx(T x, T y) {                                                          \
        if ((kind) == KILN_KIND_SIGNED && y < 0)                                                   \
            return x == 1 ? 1 : x == (T)-1 ? ((y & 1) ? (T)-1 : 1) : 0;                            \
        T r = 1;                                                                                   \
        for (; y; y = (T)(y >> 1), x = (T)(x * x))                                                 \
            if (y & 1) r = (T)(r * x);                                                             \
        return r;                                                                                  \
    }

/* Binary ops on integers. Division and modulo by 0 give 0, and by -1
 * negate (INT_MIN / -1 would trap). */
#define BINARY_INT(T, sfx, kind)                                                                   \
    POW_INT(T, sfx, kind)                                                                          \
    static inline T binary_##sfx(int op, T x, T y) {                                               \
        int neg1 = (kind) == KILN_KIND_SIGNED && y == (T)-1;                                       \
        switch (op) {                                                                              \
        case KILN_BIN_ADD:                                                                         \
            return (T)(x + y);                                                                     \
        case KILN_BIN_SUB:                                                                         \
            return (T)(x - y);                                                                     \
        case KILN_BIN_MUL:                                                                         \
            return (T)(x * y);                                                                     \
        case KILN_BIN_DIV:                                                                         \
            return y == 0 ? 0 : neg1 ? (T)-x : (T)(x / y);                                         \
        case KILN_BIN_POW:                                                                         \
            return pow_##sfx(x, y);                                                                \
        case KILN_BIN_MOD: {                                                                       \
            T r = y == 0 || neg1 ? 0 : (T)(x % y);                                                 \
            return r != 0 && ((r < 0) != (y < 0)) ? (T)(r + y) : r;                                \
        }                                                                                          \
        case KILN_BIN_FMOD:                                                                        \
            return y == 0 || neg1 ? 0 : (T)(x % y);                                                \
        case KILN_BIN_MAX:                                                                         \
            return x > y ? x : y;                                                                  \
        case KILN_BIN_MIN:                                                                         \
            return x < y ? x : y;                                                                  \
        case KILN_BIN_SHL:                                                                         \
            return y >= (T)(8 * sizeof(T)) ? 0 : (T)(x << y);                                      \
        case KILN_BIN_SHR:                                                                         \
            return y >= (T)(8 * sizeof(T)) ? 0 : (T)(x >> y);                                      \
        case KILN_BIN_AND:                                                                         \
            return x & y;                                                                          \
        case KILN_BIN_OR:                                                                          \
            return x | y;                                                                          \
        case KILN_BIN_XOR:                                                                         \
            return x ^ y;                                                                          \
        case KILN_BIN_PRELU:                                                                       \
            return x < 0 ? (T)(x * y) : x;                                                         \
        default:                                                                                   \
            return x;                                                                              \
        }                                                                                          \
    }

#define INT_SCALARS(T, sfx, kind) UNARY_INT(T, sfx, kind) BINARY_INT(T, sfx, kind)
INT_SCALARS(int8_t, i8, KILN_KIND_SIGNED)
INT_SCALARS(int16_t, i16, KILN_KIND_SIGNED)
INT_SCALARS(int32_t, i32, KILN_KIND_SIGNED)
INT_SCALARS(int64_t, i64, KILN_KIND_SIGNED)
INT_SCALARS(uint8_t, u8, KILN_KIND_UNSIGNED)
INT_SCALARS(uint16_t, u16, KILN_KIND_UNSIGNED)
INT_SCALARS(uint32_t, u32, KILN_KIND_UNSIGNED)
INT_SCALARS(uint64_t, u64, KILN_KIND_UNSIGNED)
INT_SCALARS(uint8_t, bool, KILN_KIND_UNSIGNED)

/* float16 computes in float. */
#define unary_f16 unary_f32
#define binary_f16 binary_f32

static inline int compare(int op, double x, double y) {
    switch (op) {
    case KILN_BIN_EQ:
        return x == y;
    case KILN_BIN_LT:
        return x < y;
    case KILN_BIN_GT:
        return x > y;
    case KILN_BIN_LE:
        return x <= y;
    default:
        return x >= y;
    }
}
/* Integer comparisons must not go through double (int64 above 2^53). */
#define COMPARE_EXACT(op, x, y)                                                                    \
    ((op) == KILN_BIN_EQ   ? (x) == (y)                                                            \
     : (op) == KILN_BIN_LT ? (x) < (y)                                                             \
     : (op) == KILN_BIN_GT ? (x) > (y)                                                             \
     : (op) == KILN_BIN_LE ? (x) <= (y)                                                            \
                           : (x) >= (y))

/* --- broadcasting loops ------------------------------------------------------------ */

/* The 4-D strided loop nest shared by binary, compare and where: BODY
 * reads element i3 of the rows pa, pb (and pc), writes py[i3]. */
#define LOOP4(BODY)                                                                                \
    for (int64_t i0 = 0; i0 < d0; i0++)                                                            \
        for (int64_t i1 = 0; i1 < d1; i1++)                                                        \
            for (int64_t i2 = 0; i2 < d2; i2++) {                                                  \
                int64_t row = ((i0 * d1 + i1) * d2 + i2) * d3;                                     \
                int64_t oa = i0 * a0 + i1 * a1 + i2 * a2, ob = i0 * b0 + i1 * b1 + i2 * b2;        \
                (void)oa;                                                                          \
                (void)ob;                                                                          \
                for (int64_t i3 = 0; i3 < d3; i3++) {                                              \
                    BODY;                                                                          \
                }                                                                                  \
            }

#define BINARY(T, sfx, kind)                                                                       \
    void kiln_binary_##sfx(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,                 \
                           const T *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,    \
                           const T *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,    \
                           T *restrict y) {                                                        \
        LOOP4(y[row + i3] = (T)binary_##sfx(op, a[oa + i3 * a3], b[ob + i3 * b3]))                 \
    }
KILN_FOR_MATH_TYPES(BINARY)

/* Floats compare in double (exact for float16, float and double alike). */
#define COMPARE(T, sfx, kind)                                                                      \
    void kiln_compare_##sfx(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,                \
                            const T *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,   \
                            const T *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,   \
                            uint8_t *restrict y) {                                                 \
        if ((kind) == KILN_KIND_FLOAT) {                                                           \
            LOOP4(y[row + i3] =                                                                    \
                      (uint8_t)compare(op, (double)a[oa + i3 * a3], (double)b[ob + i3 * b3]))      \
        } else {                                                                                   \
            LOOP4(y[row + i3] = (uint8_t)COMPARE_EXACT(op, a[oa + i3 * a3], b[ob + i3 * b3]))      \
        }                                                                                          \
    }
KILN_FOR_MATH_TYPES(COMPARE)

#define WHERE(T, sfx, kind)                                                                        \
    void kiln_where_##sfx(int64_t d0, int64_t d1, int64_t d2, int64_t d3,                          \
                          const uint8_t *restrict c, int64_t c0, int64_t c1, int64_t c2,           \
                          int64_t c3, const T *restrict a, int64_t a0, int64_t a1, int64_t a2,     \
                          int64_t a3, const T *restrict b, int64_t b0, int64_t b1, int64_t b2,     \
                          int64_t b3, T *restrict y) {                                             \
        LOOP4(int64_t oc = i0 * c0 + i1 * c1 + i2 * c2;                                            \
              y[row + i3] = c[oc + i3 * c3] ? a[oa + i3 * a3] : b[ob + i3 * b3])                   \
    }
KILN_FOR_MATH_TYPES(WHERE)

/* The scan is one compare per element and vectorises; only a failing
 * divisor is walked a second time, to find the first zero. */
#define CHECK_DIVISOR(T, sfx, kind_)                                                               \
    int32_t kiln_check_divisor_##sfx(int64_t n, const T *restrict b, KilnRunError *restrict err) { \
        int zero = 0;                                                                              \
        for (int64_t i = 0; i < n; i++)                                                            \
            zero |= b[i] == 0;                                                                     \
        if (!zero) return 0;                                                                       \
        int64_t at = 0;                                                                            \
        while (b[at] != 0)                                                                         \
            at++;                                                                                  \
        err->kind = KILN_CHECK_DIVISOR;                                                            \
        err->value = 0;                                                                            \
        err->position = at;                                                                        \
        err->size = n;                                                                             \
        return 1;                                                                                  \
    }
KILN_FOR_MATH_TYPES(CHECK_DIVISOR)

/* --- unary -------------------------------------------------------------------------- */

#define UNARY(T, sfx, kind)                                                                        \
    void kiln_unary_##sfx(int op, int64_t n, const T *restrict x, T *restrict y, float alpha,      \
                          float beta) {                                                            \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = (T)unary_##sfx(op, x[i], alpha, beta);                                          \
    }
KILN_FOR_MATH_TYPES(UNARY)

/* --- split over threads (kernels.h) -------------------------------------------------
 *
 * Each element is computed as the unsplit kernel computes it. Unary parts
 * start at multiples of SPLIT_ALIGN elements, a multiple of every vector
 * loop's step, so that the vector and scalar code see the same elements
 * as unsplit and the results are bitwise the same. */
#define SPLIT_ALIGN 64

void kiln_unary_split_f32(int op, int64_t n, const float *restrict x, float *restrict y,
                          float alpha, float beta, int64_t task, int64_t n_tasks) {
    if (n_tasks <= 1) {
        kiln_unary_f32(op, n, x, y, alpha, beta);
        return;
    }
    int64_t blocks = (n + SPLIT_ALIGN - 1) / SPLIT_ALIGN;
    int64_t i0 = blocks * task / n_tasks * SPLIT_ALIGN;
    int64_t i1 = blocks * (task + 1) / n_tasks * SPLIT_ALIGN;
    if (i1 > n) i1 = n;
    if (i0 < i1) kiln_unary_f32(op, i1 - i0, x + i0, y + i0, alpha, beta);
}

/* Rows (i0, i1, i2) among the tasks when there are enough, else the
 * columns i3 of every row. */
void kiln_binary_split_f32(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                           const float *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,
                           const float *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,
                           float *restrict y, int64_t task, int64_t n_tasks) {
    if (n_tasks <= 1) {
        kiln_binary_f32(op, d0, d1, d2, d3, a, a0, a1, a2, a3, b, b0, b1, b2, b3, y);
        return;
    }
    int64_t rows = d0 * d1 * d2, r0 = 0, r1 = rows, c0 = 0, c1 = d3;
    if (rows >= n_tasks) {
        r0 = rows * task / n_tasks;
        r1 = rows * (task + 1) / n_tasks;
    } else {
        c0 = d3 * task / n_tasks;
        c1 = d3 * (task + 1) / n_tasks;
    }
    for (int64_t r = r0; r < r1; r++) {
        int64_t i2 = r % d2, q = r / d2, i1 = q % d1, i0 = q / d1;
        int64_t oa = i0 * a0 + i1 * a1 + i2 * a2, ob = i0 * b0 + i1 * b1 + i2 * b2;
        for (int64_t i3 = c0; i3 < c1; i3++)
            y[r * d3 + i3] = (float)binary_f32(op, a[oa + i3 * a3], b[ob + i3 * b3]);
    }
}

/* One step of a chain on acc; v: the operands' elements. */
static inline float chain_step(const KilnChainStep *st, float acc, const float *v) {
    float o = v[st->operand];
    switch (st->kind) {
    case KILN_CHAIN_UNARY:
        return unary_f32(st->op, acc, st->a, st->b);
    case KILN_CHAIN_BINARY:
        return binary_f32(st->op, acc, o);
    case KILN_CHAIN_BINARY_REV:
        return binary_f32(st->op, o, acc);
    case KILN_CHAIN_SELF:
        return binary_f32(st->op, acc, acc);
    default: /* CLAMP, as kiln_clip_f32 */
        acc = acc < st->a ? st->a : acc;
        return acc > st->b ? st->b : acc;
    }
}

/* One element of a chain. The steps are written out rather than looped
 * over: at the call site n_steps and the table are constants, so each
 * test and each step's switch fold away without relying on the loop
 * unroller, and the element loop is one expression to vectorise. */
#define CHAIN_STEP(i)                                                                              \
    if ((i) < n_steps) acc = chain_step(&steps[i], acc, v)
static inline float chain_one(int64_t n_steps, const KilnChainStep *steps, const float *v) {
    _Static_assert(KILN_CHAIN_MAX_STEPS == 16, "chain_one writes out 16 steps");
    float acc = v[0];
    CHAIN_STEP(0);
    CHAIN_STEP(1);
    CHAIN_STEP(2);
    CHAIN_STEP(3);
    CHAIN_STEP(4);
    CHAIN_STEP(5);
    CHAIN_STEP(6);
    CHAIN_STEP(7);
    CHAIN_STEP(8);
    CHAIN_STEP(9);
    CHAIN_STEP(10);
    CHAIN_STEP(11);
    CHAIN_STEP(12);
    CHAIN_STEP(13);
    CHAIN_STEP(14);
    CHAIN_STEP(15);
    return acc;
}

void kiln_chain_f32(int64_t n_steps, const KilnChainStep *steps, int64_t d0, int64_t d1, int64_t d2,
                    int64_t d3, const float *x0, int64_t s00, int64_t s01, int64_t s02, int64_t s03,
                    const float *x1, int64_t s10, int64_t s11, int64_t s12, int64_t s13,
                    const float *x2, int64_t s20, int64_t s21, int64_t s22, int64_t s23,
                    const float *x3, int64_t s30, int64_t s31, int64_t s32, int64_t s33,
                    const float *x4, int64_t s40, int64_t s41, int64_t s42, int64_t s43,
                    const float *x5, int64_t s50, int64_t s51, int64_t s52, int64_t s53, float *y,
                    int64_t task, int64_t n_tasks) {
    _Static_assert(KILN_CHAIN_MAX_IN == 6, "kiln_chain_f32 takes six operands");
    int64_t rows = d0 * d1 * d2, r0 = 0, r1 = rows, c0 = 0, c1 = d3;
    if (n_tasks > 1 && rows >= n_tasks) {
        r0 = rows * task / n_tasks;
        r1 = rows * (task + 1) / n_tasks;
    } else if (n_tasks > 1) { /* columns in whole blocks, as the vector loop steps */
        int64_t blocks = (d3 + SPLIT_ALIGN - 1) / SPLIT_ALIGN;
        c0 = blocks * task / n_tasks * SPLIT_ALIGN;
        c1 = blocks * (task + 1) / n_tasks * SPLIT_ALIGN;
        if (c1 > d3) c1 = d3;
        if (c0 > d3) c0 = d3;
    }
    for (int64_t r = r0; r < r1; r++) {
        int64_t i2 = r % d2, q = r / d2, i1 = q % d1, i0 = q / d1;
        const float *p0 = x0 + i0 * s00 + i1 * s01 + i2 * s02;
        const float *p1 = x1 + i0 * s10 + i1 * s11 + i2 * s12;
        const float *p2 = x2 + i0 * s20 + i1 * s21 + i2 * s22;
        const float *p3 = x3 + i0 * s30 + i1 * s31 + i2 * s32;
        const float *p4 = x4 + i0 * s40 + i1 * s41 + i2 * s42;
        const float *p5 = x5 + i0 * s50 + i1 * s51 + i2 * s52;
        float *py = y + r * d3;
        for (int64_t i3 = c0; i3 < c1; i3++) {
            const float v[6] = {p0[i3 * s03], p1[i3 * s13], p2[i3 * s23],
                                p3[i3 * s33], p4[i3 * s43], p5[i3 * s53]};
            py[i3] = chain_one(n_steps, steps, v);
        }
    }
}

#define CLASSIFY(T, sfx)                                                                           \
    void kiln_classify_##sfx(int op, int64_t n, const T *restrict x, uint8_t *restrict y) {        \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double v = (double)x[i];                                                               \
            int inf = v == __builtin_inf() || v == -__builtin_inf();                               \
            y[i] = (uint8_t)(op == KILN_CLASS_NAN       ? v != v                                   \
                             : op == KILN_CLASS_INF     ? inf                                      \
                             : op == KILN_CLASS_POS_INF ? inf && v > 0                             \
                             : op == KILN_CLASS_NEG_INF ? inf && v < 0                             \
                                                        : 0);                                      \
        }                                                                                          \
    }
CLASSIFY(float, f32)
CLASSIFY(double, f64)
CLASSIFY(_Float16, f16)

/* NaN passes through: both comparisons are false. */
#define CLIP(T, sfx, kind)                                                                         \
    void kiln_clip_##sfx(int64_t n, const T *restrict x, const T *restrict lo,                     \
                         const T *restrict hi, T *restrict y) {                                    \
        if (lo && hi) {                                                                            \
            T l = *lo, h = *hi;                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T v = x[i] < l ? l : x[i];                                                         \
                y[i] = v > h ? h : v;                                                              \
            }                                                                                      \
        } else if (lo) {                                                                           \
            T l = *lo;                                                                             \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = x[i] < l ? l : x[i];                                                        \
        } else if (hi) {                                                                           \
            T h = *hi;                                                                             \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = x[i] > h ? h : x[i];                                                        \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = x[i];                                                                       \
        }                                                                                          \
    }
KILN_FOR_MATH_TYPES(CLIP)

/* --- cast ---------------------------------------------------------------------------- */

#define CAST_TO(F, fsfx, T, tsfx, tkind)                                                           \
    void kiln_cast_##fsfx##_##tsfx(int64_t n, const F *restrict x, T *restrict y) {                \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = (tkind) == KILN_KIND_BOOL ? (T)(x[i] != 0) : (T)x[i];                           \
    }
#define CAST_FROM(F, fsfx, kind) KILN_CAST_TARGETS(CAST_TO, F, fsfx)
KILN_FOR_MATH_TYPES(CAST_FROM)

/* --- copy ---------------------------------------------------------------------------- */

void kiln_copy(int64_t n, const void *restrict src, void *restrict dst) {
    __builtin_memcpy(dst, src, (unsigned long)n);
}

void kiln_range_i64(int64_t n, int64_t start, int64_t delta, int64_t *restrict y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = start + i * delta;
}
