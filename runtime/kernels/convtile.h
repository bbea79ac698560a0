/* convtile.h: what the dense convolution (conv.c) and Winograd's
 * (wino.c) kernels share: the register tile of 8 output channels by up to
 * 48 pixels (or tiles), and the model of two threads by which they cut
 * one image into parts (kiln_split_two_threads).
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

/* How one image is cut among at most `parts` tasks: q blocks (of pixels,
 * or of tile rows; q <= max_q) by mc chunks of the n_cb channel blocks,
 * part p the block p % q of chunk p / q. cost(ctx, q, b, cbs): what block
 * b of q costs for cbs channel blocks. The choice is the shortest time on
 * two threads taking the parts in order, each to the thread that comes
 * free first (runtime/service/pool.c hands out tasks so); of equal times
 * the first found, the fewest parts. */
static inline __attribute__((always_inline)) void
kiln_split_two_threads(int64_t parts, int64_t max_q, int64_t n_cb,
                       int64_t (*cost)(const void *ctx, int64_t q, int64_t b, int64_t cbs),
                       const void *ctx, int64_t *q_out, int64_t *mc_out) {
    int64_t best = -1;
    *q_out = *mc_out = 1;
    for (int64_t q = 1; q <= parts && q <= max_q; q++)
        for (int64_t mc = 1; q * mc <= parts && mc <= n_cb; mc++) {
            int64_t f[2] = {0, 0};
            for (int64_t p = 0; p < q * mc; p++) {
                int64_t c = p / q, cbs = (c + 1) * n_cb / mc - c * n_cb / mc;
                f[f[0] <= f[1] ? 0 : 1] += cost(ctx, q, p % q, cbs);
            }
            int64_t t = f[0] > f[1] ? f[0] : f[1];
            if (best < 0 || t < best) {
                best = t;
                *q_out = q;
                *mc_out = mc;
            }
        }
}

#endif
