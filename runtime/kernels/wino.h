/* wino.h: 3x3 stride-1 convolution by Winograd's minimal filtering
 * F(2x2, 3x3) and F(4x4, 3x3) (runtime/kernels/wino.c).
 *
 * Each 2x2 block of output pixels (a tile) needs 16 multiplications per
 * input and output channel instead of 36, each 4x4 block 36 instead of
 * 144: the kernel transforms the input patches (4x4 or 6x6) and the 3x3
 * weights (the weights at compile time), multiplies the transforms
 * elementwise, summed over the input channels, and transforms the sums
 * back. kiln_conv_wino_tile (kiln_kernel_abi.h) says which convolutions
 * codegen sends here, and with which tile; the others go to kiln_conv_f32.
 * The results differ from the direct sum by rounding only: little for
 * F(2x2) (its transforms use 0, +-1 and +-1/2), about ten times more for
 * F(4x4) (up to 8 and 1/24), some 1e-6 of the outputs' scale.
 */
#ifndef KILN_WINO_H
#define KILN_WINO_H

#include <stdint.h>

#include "kiln_kernel_abi.h" /* KILN_CONV_TILE_CO, kiln_conv_wino_* */

/* kiln_conv_f32 (nn.h, the same arguments) for a 2-D convolution that
 * kiln_conv_wino_tile accepts: ID = OD = KD = 1, KH = KW = 3, strides and
 * dilations 1, any pads, by F(2x2, 3x3). Wp: the weights [G*M, C, 3, 3]
 * transformed and packed at compile time as [G][16][ceil(M/8)][C][8]: for
 * output channel 8b+r of group g and input channel c, element xi = 4i+j of
 * G w G^T (G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]) at
 * Wp[(((g*16 + xi)*ceil(M/8) + b)*C + c)*8 + r], zero past M.
 * scratch: kiln_conv_wino_scratch_floats(2, C) floats. Parts (task of
 * n_tasks) are blocks of tile rows and chunks of output channels; results
 * are bitwise the same at every n_tasks. */
void kiln_conv_wino_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH,
                        int64_t IW, int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH,
                        int64_t KW, int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,
                        int64_t TW, int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                        const float *restrict Wp, const float *restrict B, const float *restrict R,
                        int epi, float epi_a, float epi_b, float *restrict scratch,
                        float *restrict Y, int64_t task, int64_t n_tasks);

/* The same by F(4x4, 3x3): Wp [G][36][ceil(M/8)][C][8], element xi =
 * 6i+j of G w G^T with G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 * 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]; scratch:
 * kiln_conv_wino_scratch_floats(4, C) floats. */
void kiln_conv_wino4_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH,
                         int64_t IW, int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH,
                         int64_t KW, int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,
                         int64_t TW, int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                         const float *restrict Wp, const float *restrict B, const float *restrict R,
                         int epi, float epi_a, float epi_b, float *restrict scratch,
                         float *restrict Y, int64_t task, int64_t n_tasks);

#endif
