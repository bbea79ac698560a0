/* kiln_kernel_abi.h: what the compiler and the kernels (runtime/kernels)
 * must agree on beyond the kernels' signatures.
 *
 * Shape inference (passes/shapes_nn.c) reserves each node's kernel scratch
 * with these functions, codegen hands that scratch to the kernel, and the
 * kernel (runtime/kernels/nn.c) uses exactly this much, so the sizes are
 * computed in one place. Header only, no dependencies but <stdint.h>: the
 * compiler includes it without seeing any kernel header.
 */
#ifndef KILN_KERNEL_ABI_H
#define KILN_KERNEL_ABI_H

#include <stdint.h>

/* Output channels per register tile of the convolution kernel; codegen
 * packs constant weights in blocks of this many channels. */
#define KILN_CONV_TILE_CO 8
/* Floats per vector; rows of the im2col buffer are padded to a multiple. */
#define KILN_CONV_VEC 16

/* Floats of scratch kiln_conv_f32 needs for K = C*KD*KH*KW rows and
 * P = OD*OH*OW pixels: the im2col matrix, stored in panels of KILN_CONV_VEC
 * pixels (P rounded up). */
static inline int64_t kiln_conv_scratch_floats(int64_t K, int64_t P) {
    return K * ((P + KILN_CONV_VEC - 1) / KILN_CONV_VEC * KILN_CONV_VEC);
}

/* Floats of scratch kiln_conv_dw_f32 needs: one zero-padded input plane
 * (I*: input sizes, P*: pads before, E*: pads after, as (D, H, W)). */
static inline int64_t kiln_conv_dw_scratch_floats(int64_t ID, int64_t IH, int64_t IW, int64_t PD,
                                                  int64_t PH, int64_t PW, int64_t ED, int64_t EH,
                                                  int64_t EW) {
    return (ID + PD + ED) * (IH + PH + EH) * (IW + PW + EW);
}

#endif
