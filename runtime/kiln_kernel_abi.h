/* kiln_kernel_abi.h: what the compiler and the kernels (runtime/kernels)
 * must agree on, for the compiler's side to see without any kernel header.
 *
 * - Kernel scratch sizes: shape inference (passes/shapes_nn.c) reserves
 *   each node's scratch with the functions below, codegen hands it to the
 *   kernel, and the kernel (runtime/kernels/nn.c) uses exactly this much.
 * - The element-wise kernels (runtime/kernels/elementwise.c): the type
 *   lists they are instantiated for, their op enums (KILN_BIN_*, KILN_UN_*,
 *   KILN_EPI_*) and the prototypes of kiln_binary/unary/compare/where/cast.
 *   Codegen calls them in each model; pass_fold_constants
 *   (passes/fold_constants.c) calls the same kernels, compiled natively,
 *   so a folded constant holds what the model would have computed.
 *
 * - Checked kernels: a kernel that reads a value it must check (an index,
 *   an integer divisor) returns int32_t, 0 if all is well, else 1 after
 *   filling the KilnRunError (runtime/kiln_model.h) its last argument
 *   points to; codegen turns that into run() returning the check site.
 *
 * Header only, no dependencies but <stdint.h>, kiln_dtypes.def and
 * kiln_model.h (for KilnRunError).
 */
#ifndef KILN_KERNEL_ABI_H
#define KILN_KERNEL_ABI_H

#include <stdint.h>

#include "kiln_model.h" /* KilnRunError */

/* Kernels that exist for every numeric element type are instantiated
 * with this list: X(C type, name suffix, kind), kind one of KILN_KIND_*
 * (so nonzero for the integers). Suffixes are the short names of
 * runtime/kiln_dtypes.def, as cg_dtype_suffix() in compiler/codegen
 * returns them. The math kernels also take bool: KILN_FOR_MATH_TYPES. */
enum { KILN_KIND_FLOAT = 0, KILN_KIND_SIGNED = 1, KILN_KIND_UNSIGNED = 2, KILN_KIND_BOOL = 3 };
#define KILN_FOR_NUMERIC_TYPES(X)                                                                  \
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
    X(uint64_t, u64, 2)
#define KILN_FOR_MATH_TYPES(X) KILN_FOR_NUMERIC_TYPES(X) X(uint8_t, bool, 3)

/* Bytes per element by kernel suffix (KILN_DTSIZE_f32 == 4), from the
 * dtype table; the asserts keep the C types above in step with it. */
enum {
#define KILN_DTYPE(ir, abi, onnx, name, size, ...) KILN_DTSIZE_##name = size,
#include "kiln_dtypes.def"
#undef KILN_DTYPE
};
#define KILN_CHECK_TYPE(T, sfx, kind)                                                              \
    _Static_assert(sizeof(T) == KILN_DTSIZE_##sfx,                                                 \
                   "kernel type " #sfx " disagrees with kiln_dtypes.def");
KILN_FOR_MATH_TYPES(KILN_CHECK_TYPE)
#undef KILN_CHECK_TYPE

/* Activation applied to a kernel's result (bias+activation epilogue).
 * Same values as Epilogue in compiler/ir/ir.h (static_assert in
 * compiler/codegen/emit.c); kiln_epilogue_f32 (kernels/kmath.h) says
 * what each computes with its parameters a and b. CLAMP: the convolution
 * kernels' [lo, hi] arguments (nn.h); the Gemm kernels take NONE to TANH. */
enum {
    KILN_EPI_NONE = 0,
    KILN_EPI_RELU = 1,
    KILN_EPI_SIGMOID = 2,
    KILN_EPI_TANH = 3,
    KILN_EPI_CLAMP = 4,       /* min(max(x, a), b) */
    KILN_EPI_LEAKY_RELU = 5,  /* x < 0 ? a*x : x */
    KILN_EPI_HARDSIGMOID = 6, /* max(0, min(1, a*x + b)) */
    KILN_EPI_HARDSWISH = 7,   /* x * max(0, min(1, x/6 + 1/2)) */
    KILN_EPI_SILU = 8,        /* x * sigmoid(x) */
    KILN_EPI_GELU = 9,        /* x/2 * (1 + erf(x / sqrt 2)) */
    KILN_EPI_GELU_TANH = 10,  /* x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) */
};

/* Binary ops of kiln_binary_* (EQ..GE: kiln_compare_* in kmath_ops.h).
 * Integer DIV, MOD and FMOD never trap: INT_MIN / -1 wraps to INT_MIN and
 * INT_MIN % -1 is 0, as in numpy; by zero they give 0, but callers check
 * the divisor first with kiln_check_divisor_* (ONNX makes it an error).
 * MOD takes the divisor's sign (Python, ONNX Mod fmod=0), FMOD the
 * dividend's (C).
 * SHL/SHR shift by the bit width or more give 0. PRELU: a < 0 ? a*b : a. */
enum {
    KILN_BIN_ADD = 0,
    KILN_BIN_SUB = 1,
    KILN_BIN_MUL = 2,
    KILN_BIN_DIV = 3,
    KILN_BIN_POW,
    KILN_BIN_MOD,
    KILN_BIN_FMOD,
    KILN_BIN_MAX,
    KILN_BIN_MIN,
    KILN_BIN_SHL,
    KILN_BIN_SHR,
    KILN_BIN_AND,
    KILN_BIN_OR,
    KILN_BIN_XOR,
    KILN_BIN_PRELU,
    KILN_BIN_EQ,
    KILN_BIN_LT,
    KILN_BIN_GT,
    KILN_BIN_LE,
    KILN_BIN_GE,
};

/* Unary ops of kiln_unary_*: the one table of them. X(op, f32, f64, integer)
 * gives, for KILN_UN_<op>, the C expression of y in terms of x and the
 * op's parameters a (alpha) and b (beta): in float (also float16, which
 * computes in float), in double, and in the integer element type. The
 * expressions are expanded only by runtime/kernels/elementwise.c, so they
 * may call kmath.h and the helpers there (clamp01f, clamp01); `x` stands
 * where ONNX does not define the op on that type (the shape function
 * refuses those before a kernel is called). Hot float ops (exp, log, erf,
 * sigmoid, tanh) use kmath.h's vectorisable versions; the rest call libm,
 * which is fine for ops that networks use rarely. Double is libm
 * throughout (double models are rare). The ops with parameters say what a
 * and b are; compiler/ir/ops_math.def names the ONNX attributes. */
// clang-format off
#define KILN_FOR_UNARY_OPS(X)                                                                      \
    /* op             float                 double                           integer */            \
    X(RELU,             x > 0.0f ? x : 0.0f,  x > 0.0 ? x : 0.0,               x > 0 ? x : 0)      \
    X(SIGMOID,          kiln_sigmoidf(x),     1.0 / (1.0 + __builtin_exp(-x)), x)                  \
    X(TANH,             kiln_tanhf(x),        __builtin_tanh(x),               x)                  \
    X(ABS,              __builtin_fabsf(x),   __builtin_fabs(x),               x < 0 ? -x : x)     \
    X(NEG,              -x,                   -x,                              -x)                 \
    /* kiln_expf_full: IEEE overflow and underflow */                                              \
    X(EXP,              kiln_expf_full(x),    __builtin_exp(x),                x)                  \
    X(LOG,              kiln_logf(x),         __builtin_log(x),                x)                  \
    X(SQRT,             __builtin_sqrtf(x),   __builtin_sqrt(x),               x)                  \
    X(RECIPROCAL,       1.0f / x,             1.0 / x,                         x)                  \
    X(FLOOR,            __builtin_floorf(x),  __builtin_floor(x),              x)                  \
    X(CEIL,             __builtin_ceilf(x),   __builtin_ceil(x),               x)                  \
    /* rint: the default rounding mode, half to even */                                            \
    X(ROUND,            __builtin_rintf(x),   __builtin_rint(x),               x)                  \
    X(SIGN,                                                                                        \
      x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x,                                                      \
      x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x,                                                          \
      x > 0 ? 1 : x < 0 ? -1 : 0)                                                                  \
    X(SIN,              __builtin_sinf(x),    __builtin_sin(x),                x)                  \
    X(COS,              __builtin_cosf(x),    __builtin_cos(x),                x)                  \
    X(TAN,              __builtin_tanf(x),    __builtin_tan(x),                x)                  \
    X(ASIN,             __builtin_asinf(x),   __builtin_asin(x),               x)                  \
    X(ACOS,             __builtin_acosf(x),   __builtin_acos(x),               x)                  \
    X(ATAN,             __builtin_atanf(x),   __builtin_atan(x),               x)                  \
    X(SINH,             __builtin_sinhf(x),   __builtin_sinh(x),               x)                  \
    X(COSH,             __builtin_coshf(x),   __builtin_cosh(x),               x)                  \
    X(ASINH,            __builtin_asinhf(x),  __builtin_asinh(x),              x)                  \
    X(ACOSH,            __builtin_acoshf(x),  __builtin_acosh(x),              x)                  \
    X(ATANH,            __builtin_atanhf(x),  __builtin_atanh(x),              x)                  \
    X(ERF,              kiln_erff(x),         __builtin_erf(x),                x)                  \
    X(NOT,              x == 0.0f,            x == 0.0,                        x == 0)             \
    /* a = alpha */                                                                                \
    X(LEAKY_RELU,       x < 0.0f ? a * x : x, x < 0.0 ? a * x : x,             x)                  \
    /* a = alpha */                                                                                \
    X(ELU,                                                                                         \
      x < 0.0f ? a * (kiln_expf(x) - 1.0f) : x,                                                    \
      x < 0.0 ? a * (__builtin_exp(x) - 1.0) : x,                                                  \
      x)                                                                                           \
    /* a = alpha, b = gamma */                                                                     \
    X(SELU,                                                                                        \
      x > 0.0f ? b * x : b * (a * kiln_expf(x) - a),                                               \
      x > 0.0 ? b * x : b * (a * __builtin_exp(x) - a),                                            \
      x)                                                                                           \
    /* a = alpha (never 0: codegen refuses it) */                                                  \
    X(CELU,                                                                                        \
      x > 0.0f ? x : a * (kiln_expf(x / a) - 1.0f),                                                \
      x > 0.0 ? x : a * (__builtin_exp(x / a) - 1.0),                                              \
      x)                                                                                           \
    /* a = alpha, b = beta */                                                                      \
    X(HARD_SIGMOID,     clamp01f(a * x + b),  clamp01(a * x + b),              x)                  \
    X(HARD_SWISH,                                                                                  \
      x * clamp01f(x * (1.0f / 6.0f) + 0.5f),                                                      \
      x * clamp01(x / 6.0 + 0.5),                                                                  \
      x)                                                                                           \
    /* log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): no overflow */                                  \
    X(SOFTPLUS,                                                                                    \
      (x > 0.0f ? x : 0.0f) + kiln_logf(1.0f + kiln_expf(-__builtin_fabsf(x))),                    \
      (x > 0.0 ? x : 0.0) + __builtin_log1p(__builtin_exp(-__builtin_fabs(x))),                    \
      x)                                                                                           \
    X(SOFTSIGN,                                                                                    \
      x / (1.0f + __builtin_fabsf(x)),                                                             \
      x / (1.0 + __builtin_fabs(x)),                                                               \
      x)                                                                                           \
    /* a = alpha */                                                                                \
    X(THRESHOLDED_RELU, x > a ? x : 0.0f,     x > a ? x : 0.0,                 x)                  \
    /* a = lambd, b = bias; integers compare and offset in double */                               \
    X(SHRINK,                                                                                      \
      x < -a ? x + b : x > a ? x - b : 0.0f,                                                       \
      x < -a ? x + b : x > a ? x - b : 0.0,                                                        \
      (double)x < -(double)a ? (double)x + b : (double)x > (double)a ? (double)x - b : 0)
// clang-format on

enum {
#define KILN_UN_ENUM(op, f32, f64, integer) KILN_UN_##op,
    KILN_FOR_UNARY_OPS(KILN_UN_ENUM)
#undef KILN_UN_ENUM
        KILN_UN_COUNT
};

/* y[i0,i1,i2,i3] = a[i0*a0 + i1*a1 + i2*a2 + i3*a3] OP b[...same with b strides],
 * y dense with dims d0..d3. Broadcast dims have stride 0. One per type:
 * kiln_binary_f32, kiln_binary_i64, ... */
#define KILN_DECLARE_BINARY(T, sfx, kind)                                                          \
    void kiln_binary_##sfx(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,                 \
                           const T *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,    \
                           const T *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,    \
                           T *restrict y);
KILN_FOR_MATH_TYPES(KILN_DECLARE_BINARY)

/* 0 if none of b[0..n) is 0; else 1 with the first zero's position in
 * *err (kind KILN_CHECK_DIVISOR). For the integer types, before an
 * integer DIV, MOD or FMOD. */
#define KILN_DECLARE_CHECK_DIVISOR(T, sfx, kind)                                                   \
    int32_t kiln_check_divisor_##sfx(int64_t n, const T *restrict b, KilnRunError *restrict err);
KILN_FOR_MATH_TYPES(KILN_DECLARE_CHECK_DIVISOR)

/* y[i] = op(x[i]) for i in [0, n); alpha/beta: the op's parameters. Types
 * without a meaning for op (Exp of an integer) are refused by the shape
 * function before a kernel is called. */
#define KILN_DECLARE_UNARY(T, sfx, kind)                                                           \
    void kiln_unary_##sfx(int op, int64_t n, const T *restrict x, T *restrict y, float alpha,      \
                          float beta);
KILN_FOR_MATH_TYPES(KILN_DECLARE_UNARY)

/* kiln_chain_f32 (kmath_ops.h): a chain of float element-wise steps in one
 * pass. The accumulator starts as operand 0's element; each step replaces
 * it with op(acc) (UNARY: a KILN_UN_* op with parameters a, b), acc OP v
 * or v OP acc (BINARY, BINARY_REV: a KILN_BIN_* op, v the element of
 * operand `operand`), acc OP acc (SELF), or acc clamped to [a, b] as Clip
 * does (CLAMP). */
enum {
    KILN_CHAIN_UNARY,
    KILN_CHAIN_BINARY,
    KILN_CHAIN_BINARY_REV,
    KILN_CHAIN_SELF,
    KILN_CHAIN_CLAMP
};
#define KILN_CHAIN_MAX_IN 6
#define KILN_CHAIN_MAX_STEPS 16
typedef struct KilnChainStep {
    int32_t kind, op, operand;
    float a, b;
} KilnChainStep;

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

/* Output channels per register tile of the convolution kernel; codegen
 * packs constant weights in blocks of this many channels. */
#define KILN_CONV_TILE_CO 8
/* Floats per vector; packed pixel panels are padded to a multiple. */
#define KILN_CONV_VEC 16
/* kiln_conv_f32 (runtime/kernels/conv.c) runs its (task, n_tasks) parts
 * on at most this many tasks at once (the others get no work), each
 * packing into its own slice of the scratch. */
#define KILN_CONV_MAX_TASKS 4
/* The widest pixel block (a multiple of 48, three vectors). */
#define KILN_CONV_MAX_NB 1536

/* Fused attention (kiln_attention_f32, kernels/transformer.c): query rows
 * per block, and the tasks that get their own scratch slot of
 * (D + KILN_ATTN_ROWS) * Lk floats (more tasks than slots share the work
 * of the first KILN_ATTN_SLOTS). */
#define KILN_ATTN_ROWS 4
#define KILN_ATTN_SLOTS 8

/* The convolution's K block (K = C*KD*KH*KW): all of K up to 384, else
 * the fewest near-equal blocks of at most 256 rows. */
static inline int64_t kiln_conv_kc(int64_t K) {
    if (K <= 384) return K < 1 ? 1 : K;
    int64_t n = (K + 255) / 256;
    return (K + n - 1) / n;
}

/* The widest pixel block for K: kc x nb packed floats stay within 256 KB
 * (L2), in whole 48-pixel sub-panels. */
static inline int64_t kiln_conv_nb_cap(int64_t K) {
    int64_t nb = 65536 / kiln_conv_kc(K) / 48 * 48;
    return nb < 48 ? 48 : nb > KILN_CONV_MAX_NB ? KILN_CONV_MAX_NB : nb;
}

/* The pixel block for K and P = OD*OH*OW output pixels: the cap, or all
 * of P rounded up to whole vectors. */
static inline int64_t kiln_conv_nb(int64_t K, int64_t P) {
    int64_t cap = kiln_conv_nb_cap(K), p = (P + KILN_CONV_VEC - 1) / KILN_CONV_VEC * KILN_CONV_VEC;
    return p < cap ? p : cap;
}

/* Floats of scratch kiln_conv_f32 needs for K = C*KD*KH*KW rows and
 * P = OD*OH*OW pixels: one packed block of col per task. */
static inline int64_t kiln_conv_scratch_floats(int64_t K, int64_t P) {
    return KILN_CONV_MAX_TASKS * kiln_conv_kc(K) * kiln_conv_nb(K, P);
}

/* Winograd's minimal filtering (kernels/wino.c) takes a dense 2-D
 * convolution with a 3x3 kernel, strides and dilations 1 and at least
 * KILN_WINO_MIN_C input and KILN_WINO_MIN_M output channels per group.
 * F(2x2, 3x3) (kiln_conv_wino_f32) costs 16 multiplications per 2x2 tile
 * of pixels and channel pair instead of 36, F(4x4, 3x3)
 * (kiln_conv_wino4_f32) 36 per 4x4 tile instead of 144; the transforms
 * cost a few additions per tile and channel, which enough channels pay
 * for. The products run 16 tiles to a vector, so kiln_conv_wino_tile
 * takes F(4x4) where its tiles, in whole vectors, cost less (square
 * images from 11 x 11 output pixels up: 12 x 12 is one vector of 4x4
 * tiles against three of 2x2 ones); F(2x2) on smaller or dynamic sizes
 * (OH or OW < 0). 0: neither. */
#define KILN_WINO_MIN_C 8
#define KILN_WINO_MIN_M 16
static inline int kiln_conv_wino_tile(int rank, int64_t C, int64_t M, int64_t KH, int64_t KW,
                                      int64_t SH, int64_t SW, int64_t TH, int64_t TW, int64_t OH,
                                      int64_t OW) {
    if (!(rank == 2 && C >= KILN_WINO_MIN_C && M >= KILN_WINO_MIN_M && KH == 3 && KW == 3 &&
          SH == 1 && SW == 1 && TH == 1 && TW == 1))
        return 0;
    if (OH < 0 || OW < 0 || OH > 1 << 20 || OW > 1 << 20) return 2;
    int64_t v2 = ((OH + 1) / 2 * ((OW + 1) / 2) + 15) / 16,
            v4 = ((OH + 3) / 4 * ((OW + 3) / 4) + 15) / 16;
    return 36 * v4 < 16 * v2 ? 4 : 2;
}

/* Tiles per block for C input channels and tiles of T x T pixels: the
 * block's transformed input, (T+2)^2 x C x tiles floats, stays within
 * 512 KB (half of L2). */
static inline int64_t kiln_wino_tiles(int T, int64_t C) {
    int64_t t = 131072 / ((T + 2) * (T + 2)) / (C < 1 ? 1 : C);
    return t < 16 ? 16 : t > 128 ? 128 : t;
}

/* One task's floats of scratch (a multiple of 16): the block's
 * transformed input [(T+2)^2][C][tiles + a vector], its products for 8
 * output channels [(T+2)^2][8][tiles], 2(T+2) rows of input and T of
 * output (tiles rounded up to whole vectors). */
static inline int64_t kiln_wino_task_floats(int T, int64_t C) {
    int64_t tp = (kiln_wino_tiles(T, C) + KILN_CONV_VEC - 1) / KILN_CONV_VEC * KILN_CONV_VEC;
    int64_t nx = (T + 2) * (T + 2);
    return nx * C * (tp + KILN_CONV_VEC) + nx * KILN_CONV_TILE_CO * tp +
           2 * (T + 2) * (T * tp + 16) + T * T * tp;
}

static inline int64_t kiln_conv_wino_scratch_floats(int T, int64_t C) {
    return KILN_CONV_MAX_TASKS * kiln_wino_task_floats(T, C);
}

/* The integer products (kernels/quant.c) run on the float GEMM, exactly:
 * the operands less their zero points are integers of at most 255 in
 * magnitude, so a sum of up to KILN_QUANT_KC of their products is an
 * integer below 2^24, which every float partial sum holds exactly in any
 * order. K is summed in chunks of KILN_QUANT_KC in float, and the chunks
 * in int32. A convolution goes KILN_QUANT_PC output pixels at a time. */
#define KILN_QUANT_KC 256
#define KILN_QUANT_PC 256

/* Their float scratch, in floats (the shape pass checks the sizes). */
static inline int64_t kiln_matmul_int_scratch(int64_t M, int64_t N, int64_t K) {
    return M * K + K * N + M * N;
}
static inline int64_t kiln_conv_int_scratch(int64_t M, int64_t K) {
    return M * K + (int64_t)KILN_QUANT_KC * KILN_QUANT_PC + M * KILN_QUANT_PC;
}

/* kiln_conv_scaled_f32 (kernels/se.c): one task's copy of the packed
 * weights scaled for one image, [G][ceil(M/8)][C*taps][8] floats rounded
 * up to whole 64-byte lines; its scratch holds a copy per task, then the
 * convolution's own. */
static inline int64_t kiln_conv_scaled_weight_floats(int64_t G, int64_t C, int64_t M,
                                                     int64_t taps) {
    int64_t n_cb = (M + KILN_CONV_TILE_CO - 1) / KILN_CONV_TILE_CO;
    return (G * n_cb * C * taps * KILN_CONV_TILE_CO + 15) / 16 * 16;
}

static inline int64_t kiln_conv_scaled_scratch_floats(int64_t G, int64_t C, int64_t M,
                                                      int64_t taps) {
    return KILN_CONV_MAX_TASKS * kiln_conv_scaled_weight_floats(G, C, M, taps);
}

#endif
