/* rnn.h: the recurrent kernels (the `rnn` op family: RNN, GRU, LSTM).
 *
 * One call runs one direction of one node over the whole sequence: the
 * input projection X W^T of every step as one GEMM up front, then per
 * step the recurrent product H R^T (one GEMM over the batch) and the gate
 * math, row by row. Weights come packed by codegen (kiln_rnn.h); the
 * cell kind, sizes, activations and flags are constants at the call site,
 * so after inlining the loops specialise.
 *
 * Gate orders are ONNX's: LSTM i, o, f, c; GRU z, r, h; RNN one gate.
 */
#ifndef KILN_KERNELS_RNN_H
#define KILN_KERNELS_RNN_H

#include <stdint.h>

#include "kiln_kernel_abi.h" /* KilnRunError */
#include "kiln_rnn.h"        /* activations, cells, scratch size */

/* One direction of cell (KILN_RNN_CELL_*) over T steps of B rows; G gates
 * (1, 3, 4) of H; input size I.
 *   X: the node's input, dense [T*B, I] rows in either layout; step t of
 *     row b is X's row t*x_ts + b*x_bs (layout 0: x_ts = B, x_bs = 1).
 *   Wp: W^T [I, G*H] packed; Rp: R^T [H, G*H] packed, or for a GRU with
 *     lbr == 0 R^T's first 2H columns packed, then its last H packed.
 *   bias: [G*H] added to the input projection (Wb + Rb; for a GRU with
 *     lbr == 1 the h gate's Wb only) or NULL; rbh: a GRU with lbr == 1,
 *     the h gate's Rb [H] or NULL. P: LSTM peepholes [3H] (i, o, f) or
 *     NULL. input_forget: LSTM couples f = 1 - i.
 *   lens: [B] steps of each row (checked by kiln_rnn_check_lens) or NULL
 *     for T; reverse runs each row from its last step back.
 *   h0, c0: initial state rows at h0 + b*h0_bs or NULL for zeros.
 *   f, g, h: activations KILN_RNN_ACT_* with their alpha and beta (the
 *     cell uses its first one, two or three); clip: |pre-activation| bound,
 *     +inf for none.
 *   Y: element (t, b, j) at Y[t*y_ts + b*y_bs + j], zero past a row's
 *     length; Yh, Yc: the last state of row b at b*y?_bs. Each may be NULL.
 *   scratch: kiln_rnn_scratch_floats(T, B, G, H) floats. */
void kiln_rnn_f32(int cell, int64_t T, int64_t B, int64_t I, int64_t H, int reverse,
                  const float *restrict X, int64_t x_ts, int64_t x_bs, const float *restrict Wp,
                  const float *restrict Rp, const float *restrict bias, const float *restrict rbh,
                  const float *restrict P, int lbr, int input_forget, const int32_t *restrict lens,
                  const float *restrict h0, int64_t h0_bs, const float *restrict c0, int64_t c0_bs,
                  int f, float fa, float fb, int g, float ga, float gb, int h, float ha, float hb,
                  float clip, float *restrict Y, int64_t y_ts, int64_t y_bs, float *restrict Yh,
                  int64_t yh_bs, float *restrict Yc, int64_t yc_bs, float *restrict scratch);

/* 0 if every lens[b] is in [0, T]; else 1 with the first bad one in *err
 * (KILN_CHECK_RANGE, size T + 1). */
int32_t kiln_rnn_check_lens(int64_t B, int64_t T, const int32_t *restrict lens,
                            KilnRunError *restrict err);

#endif
