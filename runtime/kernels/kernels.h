/* kernels.h: the compute kernels every compiled model calls.
 *
 * Plain C, compiled twice: to LLVM bitcode that codegen links into each
 * model and specialises (every size, stride and op enum is a constant at
 * the call site, so after inlining O3 sees fixed-trip-count loops), and
 * natively for unit tests. Kernels never allocate; shapes were checked at
 * compile time. The few that read a data-dependent index or divisor check
 * it and can fail (checked kernels, kiln_kernel_abi.h). Outputs never alias inputs (the memory
 * planner guarantees it), hence `restrict`.
 *
 * Strided operands: element (i, j) of a matrix operand X is
 * X[i * x_rs + j * x_cs], so transposes and broadcasts (stride 0) need no
 * copies.
 */
#ifndef KILN_KERNELS_H
#define KILN_KERNELS_H

#include "kiln_kernel_abi.h" /* the element-wise kernels, op enums and type lists */

/* The matrix products are split over threads: each takes (task, n_tasks)
 * last and computes part task of n_tasks ((0, 1): all of it), with results
 * bitwise the same at every n_tasks (gemm.c). */

/* Y[M,N] = epilogue(alpha * A(M,K) B(K,N) + beta * C(M,N)), Y dense row
 * major. C may be NULL (then beta is ignored); a broadcast bias has
 * c_rs == 0 and/or c_cs == 0. */
void kiln_gemm_f32(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t a_rs,
                   int64_t a_cs, const float *restrict B, int64_t b_rs, int64_t b_cs,
                   const float *restrict C, int64_t c_rs, int64_t c_cs, float alpha, float beta,
                   int epilogue, float *restrict Y, int64_t task, int64_t n_tasks);

/* The same with B constant and packed by codegen into panels of 32
 * columns: Bp[p][k][j] = B(k, 32p + j), zero past column N. */
void kiln_gemm_packed_f32(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t a_rs,
                          int64_t a_cs, const float *restrict Bp, const float *restrict C,
                          int64_t c_rs, int64_t c_cs, float alpha, float beta, int epilogue,
                          float *restrict Y, int64_t task, int64_t n_tasks);

/* For b in [0, batch): Y_b[M,N] = A_b[M,K] B_b[K,N], all dense row major,
 * A_b = A + b * a_bs, B_b = B + b * b_bs (0 to share one B), Y_b = Y + b*M*N. */
void kiln_matmul_f32(int64_t batch, int64_t M, int64_t N, int64_t K, const float *restrict A,
                     int64_t a_bs, const float *restrict B, int64_t b_bs, float *restrict Y,
                     int64_t task, int64_t n_tasks);

/* kiln_unary_f32 and kiln_binary_f32 (kiln_kernel_abi.h) split over
 * threads: part task of n_tasks, each element as the unsplit kernel
 * computes it. */
void kiln_unary_split_f32(int op, int64_t n, const float *restrict x, float *restrict y,
                          float alpha, float beta, int64_t task, int64_t n_tasks);
void kiln_binary_split_f32(int op, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                           const float *restrict a, int64_t a0, int64_t a1, int64_t a2, int64_t a3,
                           const float *restrict b, int64_t b0, int64_t b1, int64_t b2, int64_t b3,
                           float *restrict y, int64_t task, int64_t n_tasks);

/* Softmax over the middle axis of x viewed as [outer, len, inner]. */
void kiln_softmax_f32(int64_t outer, int64_t len, int64_t inner, const float *restrict x,
                      float *restrict y);

/* memcpy of n bytes, for Reshape/Flatten/Identity when they cannot alias. */
void kiln_copy(int64_t n, const void *restrict src, void *restrict dst);
/* y[i] = start + i * delta for i < n: a Range whose length is only known
 * at run time. */
void kiln_range_i64(int64_t n, int64_t start, int64_t delta, int64_t *restrict y);

#endif
