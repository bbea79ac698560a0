/* dwconv.h: the depthwise convolution kernel (one input channel per group).
 *
 * Tensors and geometry are as in nn.h: NCDHW, every convolution seen as
 * 3-D with unit leading dims, geometry in (D, H, W) triples. The kernel
 * reads the input where it is (no padded copy) for planes more than 32
 * outputs wide: each output row is split
 * into a left border, an interior where every tap of the window lies in
 * the row, and a right border; the interior is computed in vectors of
 * output pixels, the borders one pixel at a time with the taps that fall
 * inside. Narrower 2-D planes (mobile nets' 14x14 and 7x7 stages, where
 * most pixels are border pixels), and stride-2 planes with 5 or more taps
 * a row (their columns split into evens and odds), are copied in bands of
 * rows into a zeroed buffer with their pads and computed in whole vectors,
 * four rows at a time. The activation epilogue (KILN_EPI_*, kiln_kernel_abi.h)
 * is applied to each row while it is still in L1.
 */
#ifndef KILN_DWCONV_H
#define KILN_DWCONV_H

#include <stdint.h>

#include "kiln_kernel_abi.h" /* KILN_EPI_* */

/* Depthwise convolution with channel multiplier M, f32. X [N, G, ID, IH,
 * IW], W [G*M, 1, KD, KH, KW] as in the model, B [G*M] or NULL, Y [N, G*M,
 * OD, OH, OW]: output channel g*M + m reads input channel g only. Then
 * y = kiln_epilogue_f32(epi, a, b, y). Work is split over the N*G*M
 * output planes: this call computes the planes of part task of n_tasks
 * ((0, 1): all of them). */
void kiln_conv_dw_f32(int64_t N, int64_t G, int64_t M, int64_t ID, int64_t IH, int64_t IW,
                      int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH, int64_t KW,
                      int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH, int64_t TW,
                      int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                      const float *restrict W, const float *restrict B, int epi, float a, float b,
                      float *restrict Y, int64_t task, int64_t n_tasks);

#endif
