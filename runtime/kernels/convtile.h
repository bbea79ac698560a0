/* convtile.h: what the dense convolution (conv.c) and Winograd's
 * (wino.c) kernels share: the register tile of 8 output channels by up to
 * 48 pixels (or tiles), and the model of two threads by which they cut
 * one image into parts.
 */
#ifndef KILN_CONVTILE_H
#define KILN_CONVTILE_H

#include <stdint.h>
#include <string.h>

#include "kiln_kernel_abi.h" /* KILN_CONV_TILE_CO, KILN_CONV_VEC */

typedef float kiln_v16 __attribute__((vector_size(64), aligned(4)));

#ifdef __clang__
#define KILN_TILE_UNROLL _Pragma("clang loop unroll(full)")
#else
#define KILN_TILE_UNROLL _Pragma("GCC unroll 16")
#endif

/* out[r][0 .. 16*nv) = sum over k < kl of w[k][r] * b[k][0 .. 16*nv) for
 * the 8 rows r, rows os apart; w [kl][8], b's rows bs apart. nv (1 to 3)
 * is a constant at the call, so the 8 x nv accumulators stay in vector
 * registers for the whole K loop: per k, nv loads of b and 8 weights
 * broadcast. */
static inline __attribute__((always_inline)) void
kiln_conv_tile8(int nv, int64_t kl, const float *restrict w, const float *restrict b, int64_t bs,
                float *restrict out, int64_t os) {
    kiln_v16 acc[KILN_CONV_TILE_CO][3];
    KILN_TILE_UNROLL for (int r = 0; r < KILN_CONV_TILE_CO; r++) {
        KILN_TILE_UNROLL for (int v = 0; v < 3; v++) {
            if (v < nv) acc[r][v] = (kiln_v16){0};
        }
    }
    for (int64_t k = 0; k < kl; k++) {
        kiln_v16 x[3];
        KILN_TILE_UNROLL for (int v = 0; v < 3; v++) {
            if (v < nv) x[v] = *(const kiln_v16 *)(b + k * bs + v * KILN_CONV_VEC);
        }
        KILN_TILE_UNROLL for (int r = 0; r < KILN_CONV_TILE_CO; r++) {
            float a = w[k * KILN_CONV_TILE_CO + r];
            KILN_TILE_UNROLL for (int v = 0; v < 3; v++) {
                if (v < nv) acc[r][v] += a * x[v];
            }
        }
    }
    KILN_TILE_UNROLL for (int r = 0; r < KILN_CONV_TILE_CO; r++) {
        KILN_TILE_UNROLL for (int v = 0; v < 3; v++) {
            if (v < nv) memcpy(out + r * os + v * KILN_CONV_VEC, &acc[r][v], sizeof(kiln_v16));
        }
    }
}

/* A part of `cost` given to whichever of two threads comes free first,
 * as the pool hands out tasks in order (runtime/service/pool.c); f: the
 * threads' finishing times. The kernels split one image by the choice
 * whose later finishing time is the least. */
static inline void kiln_two_threads_add(int64_t f[2], int64_t cost) {
    f[f[0] <= f[1] ? 0 : 1] += cost;
}

#endif
