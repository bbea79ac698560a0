/* kernels.h: the compute kernels every compiled model calls.
 *
 * Plain C, compiled twice: to LLVM bitcode that codegen links into each
 * model and specialises (every size, stride and op enum is a constant at
 * the call site, so after inlining O3 sees fixed-trip-count loops), and
 * natively for unit tests. Kernels never allocate and never fail; shapes
 * were checked at compile time. Outputs never alias inputs (the memory
 * planner guarantees it), hence `restrict`.
 *
 * Strided operands: element (i, j) of a matrix operand X is
 * X[i * x_rs + j * x_cs], so transposes and broadcasts (stride 0) need no
 * copies.
 */
#ifndef KILN_KERNELS_H
#define KILN_KERNELS_H

#include <stdint.h>

/* Kernels that exist for every numeric element type are instantiated
 * with this list: X(C type, name suffix, is_integer). Suffixes match
 * cg_dtype_suffix() in compiler/codegen. */
#define KILN_FOR_NUMERIC_TYPES(X)                                                                  \
    X(float, f32, 0)                                                                               \
    X(double, f64, 0)                                                                              \
    X(_Float16, f16, 0)                                                                            \
    X(int8_t, i8, 1)                                                                               \
    X(int16_t, i16, 1)                                                                             \
    X(int32_t, i32, 1)                                                                             \
    X(int64_t, i64, 1)                                                                             \
    X(uint8_t, u8, 1)                                                                              \
    X(uint16_t, u16, 1)                                                                            \
    X(uint32_t, u32, 1)                                                                            \
    X(uint64_t, u64, 1)

/* Activation applied to a kernel's result (bias+activation epilogue).
 * Same values as Epilogue in compiler/ir/ir.h (static_assert in
 * compiler/codegen/emit.c). CLAMP: the convolution kernels' [lo, hi]
 * arguments (nn.h); the Gemm kernels take NONE to TANH. */
enum {
    KILN_EPI_NONE = 0,
    KILN_EPI_RELU = 1,
    KILN_EPI_SIGMOID = 2,
    KILN_EPI_TANH = 3,
    KILN_EPI_CLAMP = 4,
};

/* Binary ops of kiln_binary_* (EQ..GE: kiln_compare_* in kmath_ops.h).
 * Integer DIV and MOD by zero give 0 instead of trapping; MOD takes the
 * divisor's sign (Python, ONNX Mod fmod=0), FMOD the dividend's (C).
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

/* Unary ops of kiln_unary_*; alpha and beta are the ONNX attributes named
 * in the comment (LEAKY_RELU's alpha, SELU's alpha and gamma, ...). */
enum {
    KILN_UN_RELU = 0,
    KILN_UN_SIGMOID = 1,
    KILN_UN_TANH = 2,
    KILN_UN_ABS,
    KILN_UN_NEG,
    KILN_UN_EXP,
    KILN_UN_LOG,
    KILN_UN_SQRT,
    KILN_UN_RECIPROCAL,
    KILN_UN_FLOOR,
    KILN_UN_CEIL,
    KILN_UN_ROUND, /* half to even */
    KILN_UN_SIGN,
    KILN_UN_SIN,
    KILN_UN_COS,
    KILN_UN_TAN,
    KILN_UN_ASIN,
    KILN_UN_ACOS,
    KILN_UN_ATAN,
    KILN_UN_SINH,
    KILN_UN_COSH,
    KILN_UN_ASINH,
    KILN_UN_ACOSH,
    KILN_UN_ATANH,
    KILN_UN_ERF,
    KILN_UN_NOT,
    KILN_UN_LEAKY_RELU,       /* alpha */
    KILN_UN_ELU,              /* alpha */
    KILN_UN_SELU,             /* alpha, beta = gamma */
    KILN_UN_CELU,             /* alpha */
    KILN_UN_HARD_SIGMOID,     /* alpha, beta */
    KILN_UN_HARD_SWISH,       /* */
    KILN_UN_SOFTPLUS,         /* */
    KILN_UN_SOFTSIGN,         /* */
    KILN_UN_THRESHOLDED_RELU, /* alpha */
    KILN_UN_SHRINK,           /* alpha = lambd, beta = bias */
};

/* Y[M,N] = epilogue(alpha * A(M,K) B(K,N) + beta * C(M,N)), Y dense row
 * major. C may be NULL (then beta is ignored); a broadcast bias has
 * c_rs == 0 and/or c_cs == 0. */
void kiln_gemm_f32(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t a_rs,
                   int64_t a_cs, const float *restrict B, int64_t b_rs, int64_t b_cs,
                   const float *restrict C, int64_t c_rs, int64_t c_cs, float alpha, float beta,
                   int epilogue, float *restrict Y);

/* The same with B constant and packed by codegen into panels of 32
 * columns: Bp[p][k][j] = B(k, 32p + j), zero past column N. */
void kiln_gemm_packed_f32(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t a_rs,
                          int64_t a_cs, const float *restrict Bp, const float *restrict C,
                          int64_t c_rs, int64_t c_cs, float alpha, float beta, int epilogue,
                          float *restrict Y);

/* For b in [0, batch): Y_b[M,N] = A_b[M,K] B_b[K,N], all dense row major,
 * A_b = A + b * a_bs, B_b = B + b * b_bs (0 to share one B), Y_b = Y + b*M*N. */
void kiln_matmul_f32(int64_t batch, int64_t M, int64_t N, int64_t K, const float *restrict A,
                     int64_t a_bs, const float *restrict B, int64_t b_bs, float *restrict Y);

/* y[i0,i1,i2,i3] = a[i0*a0 + i1*a1 + i2*a2 + i3*a3] OP b[...same with b strides],
 * y dense with dims d0..d3. Broadcast dims have stride 0. One per type:
 * kiln_binary_f32, kiln_binary_i64, ... */
#define KILN_DECLARE_BINARY(T, sfx, is_int)                                                        \
    void kiln_binary_##sfx(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,                 \
                           const T *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,    \
                           const T *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,    \
                           T *restrict y);
KILN_FOR_NUMERIC_TYPES(KILN_DECLARE_BINARY)
KILN_DECLARE_BINARY(uint8_t, bool, 1)

/* y[i] = op(x[i]) for i in [0, n); alpha/beta: the op's parameters. Types
 * without a meaning for op (Exp of an integer) are refused by the shape
 * function before a kernel is called. */
#define KILN_DECLARE_UNARY(T, sfx, is_int)                                                         \
    void kiln_unary_##sfx(int op, int64_t n, const T *restrict x, T *restrict y, float alpha,      \
                          float beta);
KILN_FOR_NUMERIC_TYPES(KILN_DECLARE_UNARY)
KILN_DECLARE_UNARY(uint8_t, bool, 1)

/* Softmax over the middle axis of x viewed as [outer, len, inner]. */
void kiln_softmax_f32(int64_t outer, int64_t len, int64_t inner, const float *restrict x,
                      float *restrict y);

/* memcpy of n bytes, for Reshape/Flatten/Identity when they cannot alias. */
void kiln_copy(int64_t n, const void *restrict src, void *restrict dst);

#endif
