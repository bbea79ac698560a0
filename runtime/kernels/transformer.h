/* transformer.h: fused transformer kernels (the `transformer` op family,
 * compiler/ir/ops_transformer.def). */
#ifndef KILN_TRANSFORMER_H
#define KILN_TRANSFORMER_H

#include <stdint.h>

#include "kiln_kernel_abi.h" /* KILN_ATTN_ROWS, KILN_ATTN_SLOTS, shared with the compiler */

/* Y_g = softmax(scale * Q_g K_g^T) V_g for each of G groups, along the
 * last axis. Q_g is [Lq, D], row i at Q + g*q_gs + i*q_rs (elements
 * contiguous); K_g and V_g [Lk, D] likewise; Y_g [Lq, D] at Y + g*y_gs +
 * i*y_rs. Only KILN_ATTN_ROWS rows of scores exist at a time. scratch:
 * KILN_ATTN_SLOTS slots of (D + KILN_ATTN_ROWS) * Lk floats (K_g^T and
 * the score rows). Computes part `task` of n_tasks: a range of the
 * (group, row block) pairs; (0, 1) is the whole. */
void kiln_attention_f32(int64_t G, int64_t Lq, int64_t Lk, int64_t D, const float *restrict Q,
                        int64_t q_gs, int64_t q_rs, const float *restrict K, int64_t k_gs,
                        int64_t k_rs, const float *restrict V, int64_t v_gs, int64_t v_rs,
                        float scale, float *restrict Y, int64_t y_gs, int64_t y_rs,
                        float *restrict scratch, int64_t task, int64_t n_tasks);

#endif
