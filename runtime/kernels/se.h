/* se.h: the squeeze-and-excitation scale folded into a convolution
 * (kiln.ConvScaled, compiler/ir/ops_se.def, made by passes/fuse_se.c).
 *
 * Conv(x * s) with s one factor per image and input channel is Conv(x)
 * with every weight of input channel c multiplied by s[n, c]: the kernel
 * scales the packed weights per image into scratch and runs the dense
 * convolution (conv.c) on the unscaled input, so the pass that would
 * write x * s over the whole tensor goes away.
 */
#ifndef KILN_SE_H
#define KILN_SE_H

#include <stdint.h>

#include "kiln_kernel_abi.h" /* KILN_CONV_TILE_CO, KILN_CONV_MAX_TASKS */

/* kiln_conv_f32 (nn.h, same arguments) of X scaled per image and input
 * channel by S [N, G*C]: image n runs with the weights Wp ([G][ceil(M/8)]
 * [K][8], K = C*KD*KH*KW) of input channel g*C + c times S[n, g*C + c].
 * scratch: kiln_conv_scaled_scratch_floats(G, C, M, taps) floats of scaled
 * weights (one copy per task), then the convolution's own scratch. Parts
 * are the convolution's, image by image; results are bitwise the same at
 * every n_tasks. */
void kiln_conv_scaled_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH,
                          int64_t IW, int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH,
                          int64_t KW, int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,
                          int64_t TW, int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                          const float *restrict Wp, const float *restrict S,
                          const float *restrict B, const float *restrict R, int epi, float epi_a,
                          float epi_b, float *restrict scratch, float *restrict Y, int64_t task,
                          int64_t n_tasks);

#endif
