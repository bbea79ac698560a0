/* fused.h: kernels of kiln's fused ops (compiler/ir/ops_fused.def).
 *
 * Both apply an activation epilogue (KILN_EPI_* with its parameters a, b;
 * kiln_kernel_abi.h) with kiln_epilogue_f32, and split their work into
 * n_tasks parts of which a call computes part task ((0, 1): all).
 */
#ifndef KILN_FUSED_H
#define KILN_FUSED_H

#include <stdint.h>

#include "kiln_kernel_abi.h" /* KILN_EPI_* */

/* y[i] = epilogue(epi, a, b, x[i]) for i < n; parts are ranges of i. */
void kiln_activation_f32(int epi, float a, float b, int64_t n, const float *restrict x,
                         float *restrict y, int64_t task, int64_t n_tasks);

/* y[r, m] = epilogue(epi, a, b, B[m] + sum_c Wt[c, m] x[r, c]) for r < N,
 * m < M: a 1x1 convolution of 1x1 data (a matrix-vector product per row).
 * Wt: the model's W [M, C] transposed to [C, M] at compile time, so the
 * inner loop runs along m without a reduction. B [M] or NULL. Parts are
 * ranges of m. */
void kiln_conv_vec_f32(int64_t N, int64_t C, int64_t M, const float *restrict x,
                       const float *restrict Wt, const float *restrict B, int epi, float a, float b,
                       float *restrict y, int64_t task, int64_t n_tasks);

#endif
