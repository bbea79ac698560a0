/* conv.c: dense (non-depthwise) convolution, f32 (see nn.h).
 *
 * Convolution as a blocked product Y[M][P] = W[M][K] col[K][P] (K =
 * C*KD*KH*KW, P = OD*OH*OW) where col, the receptive fields of the output
 * pixels, is never built whole. The pixels are cut into blocks of nb and
 * K into blocks of kc (kiln_conv_kc/kiln_conv_nb, kiln_kernel_abi.h), so
 * that one block of col, kc x nb floats, is packed at a time into scratch
 * that stays in L2, and every block of 8 output channels sweeps it. The
 * packed block holds sub-panels of 48 pixels, [kc][48] each, which is the
 * order the register tile reads: 8 channels x 48 pixels = 24 vector
 * accumulators over the block's kc rows, the 8 weights of each row
 * broadcast from the weights packed at compile time ([K][8] per channel
 * block). A 1x1 stride-1 unpadded convolution needs no packing: its input
 * [C][P] already is col, and the tiles read it in place (only a last
 * partial sub-panel, which would read past the input, is packed).
 *
 * The output is written in place in NCHW. The first K block starts from
 * the bias and the residual, later ones add to what is there, and the last
 * applies the activation epilogue (kiln_epilogue_f32), so a residual may
 * be read and replaced in the same pass.
 *
 * Tasks (task of n_tasks, at most KILN_CONV_MAX_TASKS of them working):
 * one image (and group) is cut into blocks of pixels by chunks of
 * channels, one part a task, by a small cost model of two threads
 * (kiln_split_two_threads, conv_part_cost). Otherwise the units of work are (image, group, pixel
 * block, channel chunk): pixel blocks the tasks cannot share evenly are
 * narrowed first (to two vectors at the least); then, if still fewer than
 * the tasks, the channels are cut into chunks. Each task packs into its
 * own slice of the scratch.
 */
#include "convtile.h"
#include "kmath.h"
#include "nn.h"

#include <string.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));

#define MR KILN_CONV_TILE_CO /* output channels per tile */
#define VEC KILN_CONV_VEC    /* floats per vector */
#define NR (3 * VEC)         /* pixels per full tile and per sub-panel */

#ifdef __clang__
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

#define INLINE static inline __attribute__((always_inline))

#ifdef __clang__
#define NO_VECTORIZE _Pragma("clang loop vectorize(disable)")
#else
#define NO_VECTORIZE
#endif

INLINE int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

INLINE int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* The geometry of one call, as nn.h describes it. */
typedef struct Geo {
    int64_t ID, IH, IW, OD, OH, OW, KD, KH, KW, SD, SH, SW, TD, TH, TW, PD, PH, PW;
} Geo;

/* Rows k0 .. k0+kl of col for the ws pixels from q0, into dst[kl][wsp]
 * (wsp: ws rounded up to whole vectors; the pixels past ws are zero).
 * x: one image's group of channels. Each output row's pixels are one run
 * whose taps lie in one input row: zeros where the taps fall in the pads,
 * a strided copy in between (at stride 2, the even elements of pairs of
 * vectors: gathers are slow). */
static void pack_panel(const Geo *g, const float *restrict x, int64_t k0, int64_t kl, int64_t q0,
                       int64_t ws, int64_t wsp, float *restrict dst) {
    int64_t kw = k0 % g->KW, t = k0 / g->KW;
    int64_t kh = t % g->KH;
    t /= g->KH;
    int64_t kd = t % g->KD, c = t / g->KD;
    int64_t ow0 = q0 % g->OW, oh0 = q0 / g->OW % g->OH, od0 = q0 / g->OW / g->OH;
    for (int64_t k = 0; k < kl; k++) {
        float *restrict d = dst + k * wsp;
        int64_t w_lo, w_hi;
        kiln_valid_range(g->OW, g->IW, g->SW, kw * g->TW - g->PW, &w_lo, &w_hi);
        const float *restrict xc = x + c * g->ID * g->IH * g->IW;
        int64_t od = od0, oh = oh0, ow = ow0, j = 0;
        while (j < ws) {
            int64_t e = min64(g->OW, ow + ws - j); /* the run is [ow, e) */
            int64_t id = od * g->SD + kd * g->TD - g->PD, ih = oh * g->SH + kh * g->TH - g->PH;
            float *restrict dr = d + j - ow; /* dr[o]: output column o */
            if (id < 0 || id >= g->ID || ih < 0 || ih >= g->IH) {
                for (int64_t o = ow; o < e; o++)
                    dr[o] = 0.0f;
            } else {
                const float *restrict xr = xc + (id * g->IH + ih) * g->IW + (kw * g->TW - g->PW);
                int64_t a = clamp64(w_lo, ow, e), b = clamp64(w_hi, a, e);
                for (int64_t o = ow; o < a; o++)
                    dr[o] = 0.0f;
                if (g->SW == 2) { /* the even elements of vectors: no gather */
                    int64_t m = a;
                    for (; m + VEC <= b; m += VEC) {
                        /* Elements 2m .. 2m+14, then 2m+16 .. 2m+30 from a load at
                         * 2m+15, so as not to read past the run's last tap. */
                        v16 lo = *(const v16 *)(xr + 2 * m);
                        v16 hi = *(const v16 *)(xr + 2 * m + VEC - 1);
                        v16 ev = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 17, 19,
                                                         21, 23, 25, 27, 29, 31);
                        memcpy(dr + m, &ev, sizeof ev);
                    }
                    NO_VECTORIZE for (; m < b; m++) dr[m] = xr[2 * m];
                } else {
                    for (int64_t o = a; o < b; o++)
                        dr[o] = xr[o * g->SW];
                }
                for (int64_t o = b; o < e; o++)
                    dr[o] = 0.0f;
            }
            j += e - ow;
            ow = 0;
            if (++oh == g->OH) {
                oh = 0;
                od++;
            }
        }
        for (; j < wsp; j++)
            d[j] = 0.0f;
        if (++kw == g->KW) {
            kw = 0;
            if (++kh == g->KH) {
                kh = 0;
                if (++kd == g->KD) {
                    kd = 0;
                    c++;
                }
            }
        }
    }
}

/* The epilogue's parameters and the residual, as the kernel got them. */
typedef struct Epi {
    int kind;
    float a, b;
} Epi;

/* Stores one tile's sums t[rows][cols] (rows NR apart) at y, rows P
 * apart: adds the bias and the residual res (NULL: none; shaped as y) on
 * the first K block, else what y holds; applies the epilogue on the last.
 * A plain loop, not unrolled with the tile: it costs little next to the K
 * loop and keeps small the code LLVM optimises at each call site. */
static void tile_store(const float *restrict t, int64_t rows, int64_t cols, int first, int last,
                       const float *restrict bias, const float *restrict res, int64_t P, Epi e,
                       float *restrict y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict tr = t + r * NR;
        float *restrict yr = y + r * P;
        float bv = bias ? bias[r] : 0.0f;
        if (!first && !last) {
            for (int64_t j = 0; j < cols; j++)
                yr[j] += tr[j];
        } else if (!first) {
            for (int64_t j = 0; j < cols; j++)
                yr[j] = kiln_epilogue_f32(e.kind, e.a, e.b, tr[j] + yr[j]);
        } else if (res) {
            const float *restrict rr = res + r * P;
            for (int64_t j = 0; j < cols; j++) {
                float v = tr[j] + bv + rr[j];
                yr[j] = last ? kiln_epilogue_f32(e.kind, e.a, e.b, v) : v;
            }
        } else {
            for (int64_t j = 0; j < cols; j++) {
                float v = tr[j] + bv;
                yr[j] = last ? kiln_epilogue_f32(e.kind, e.a, e.b, v) : v;
            }
        }
    }
}

/* Y[0 .. rows, 0 .. cols) of one tile (rows <= 8, cols <= 16*nv), with
 * y and res (NULL: no residual) at its first element, rows P apart. w: the
 * block's packed weights [kl][8]; b: its col rows, bs apart, 16*nv
 * pixels each. */
INLINE void conv_tile(int nv, int64_t kl, const float *restrict w, const float *restrict b,
                      int64_t bs, int64_t rows, int64_t cols, int first, int last,
                      const float *restrict bias, const float *restrict res, int64_t P, Epi e,
                      float *restrict y) {
    float t[MR * NR] __attribute__((aligned(64)));
    kiln_conv_tile8(nv, kl, w, b, bs, t, NR);
    tile_store(t, rows, cols, first, last, bias, res, P, e, y);
}

/* The tiles of channel blocks [cb0, cb1) over one pixel block (pw pixels
 * from p0) and one K block (kl rows from k0). Sub-panel s reads
 * col rows from cols[s] with stride bss[s]. */
static void conv_block(int64_t M, int64_t K, int64_t P, int64_t cb0, int64_t cb1, int64_t k0,
                       int64_t kl, int64_t p0, int64_t pw, const float *restrict wp,
                       const float *const *cols, const int64_t *bss, const float *restrict bias,
                       const float *restrict res, Epi e, float *restrict y) {
    int first = k0 == 0, last = k0 + kl == K;
    for (int64_t cb = cb0; cb < cb1; cb++) {
        int64_t rows = min64(MR, M - cb * MR);
        const float *restrict w = wp + (cb * K + k0) * MR;
        const float *restrict bb = bias ? bias + cb * MR : 0;
        int64_t at = cb * MR * P + p0;
        const float *restrict rb = res ? res + at : 0;
        for (int64_t s = 0; s * NR < pw; s++) {
            int64_t ws = min64(NR, pw - s * NR), o = s * NR;
            const float *rs = rb ? rb + o : 0;
            if (ws > 2 * VEC)
                conv_tile(3, kl, w, cols[s], bss[s], rows, ws, first, last, bb, rs, P, e,
                          y + at + o);
            else if (ws > VEC)
                conv_tile(2, kl, w, cols[s], bss[s], rows, ws, first, last, bb, rs, P, e,
                          y + at + o);
            else
                conv_tile(1, kl, w, cols[s], bss[s], rows, ws, first, last, bb, rs, P, e,
                          y + at + o);
        }
    }
}

/* What one call computes with, for conv_range. */
typedef struct Call {
    Geo geo;
    int64_t C, M, K, P, G, n_cb, kc;
    int direct;
    const float *X, *Wp, *B, *R;
    Epi e;
    float *Y;
} Call;

/* Pixels [p0, p0 + pw) of image (and group) ng, pw <= the block width
 * whose packing fits buf, for channel blocks [cb0, cb1). */
static void conv_range(const Call *a, int64_t ng, int64_t p0, int64_t pw, int64_t cb0, int64_t cb1,
                       float *restrict buf) {
    const float *cols[KILN_CONV_MAX_NB / NR + 1];
    int64_t bss[KILN_CONV_MAX_NB / NR + 1];
    int64_t g = ng % a->G, K = a->K, P = a->P, M = a->M;
    const float *restrict x = a->X + ng * a->C * a->geo.ID * a->geo.IH * a->geo.IW;
    for (int64_t k0 = 0; k0 < K; k0 += a->kc) {
        int64_t kl = min64(a->kc, K - k0);
        for (int64_t s = 0; s * NR < pw; s++) {
            int64_t q = p0 + s * NR, ws = min64(NR, pw - s * NR);
            int64_t wsp = (ws + VEC - 1) / VEC * VEC;
            if (a->direct && q + wsp <= P) {
                cols[s] = x + k0 * P + q;
                bss[s] = P;
            } else {
                float *d = buf + s * NR * kl;
                pack_panel(&a->geo, x, k0, kl, q, ws, wsp, d);
                cols[s] = d;
                bss[s] = wsp;
            }
        }
        conv_block(M, K, P, cb0, cb1, k0, kl, p0, pw, a->Wp + g * a->n_cb * K * MR, cols, bss,
                   a->B ? a->B + g * M : 0, a->R ? a->R + ng * M * P : 0, a->e, a->Y + ng * M * P);
    }
}

/* The first pixel of block i of q over P pixels: i*P/q to the nearest
 * whole vector. */
static int64_t conv_bound(int64_t P, int64_t q, int64_t i) {
    return i >= q ? P : min64(P, (i * P / q + VEC / 2) / VEC * VEC);
}

/* Block b of q over P pixels (conv_bound) for cbs channel blocks, for
 * kiln_split_two_threads: its pixels in whole vectors times its channel
 * blocks, plus two channel blocks' worth for packing (none when the input
 * is read in place), so that a chunk more packs the same pixels again.
 * ctx: {P, direct}. */
static int64_t conv_part_cost(const void *ctx, int64_t q, int64_t b, int64_t cbs) {
    const int64_t *c = ctx;
    int64_t w = conv_bound(c[0], q, b + 1) - conv_bound(c[0], q, b);
    return (w + VEC - 1) / VEC * (cbs + (c[1] ? 0 : 2));
}

void kiln_conv_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH, int64_t IW,
                   int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH, int64_t KW,
                   int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH, int64_t TW,
                   int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                   const float *restrict Wp, const float *restrict B, const float *restrict R,
                   int epi, float epi_a, float epi_b, float *restrict scratch, float *restrict Y,
                   int64_t task, int64_t n_tasks) {
    Geo geo = {ID, IH, IW, OD, OH, OW, KD, KH, KW, SD, SH, SW, TD, TH, TW, PD, PH, PW};
    Epi e = {epi, epi_a, epi_b};
    int64_t K = C * KD * KH * KW, P = OD * OH * OW, n_cb = (M + MR - 1) / MR;
    int64_t kc = kiln_conv_kc(K), nb = kiln_conv_nb(K, P), n_pb = (P + nb - 1) / nb;
    int direct = KD * KH * KW == 1 && SD * SH * SW == 1 && PD == 0 && PH == 0 && PW == 0;
    int64_t parts = n_tasks < 1 ? 1 : min64(n_tasks, KILN_CONV_MAX_TASKS);
    if (task < 0 || task >= parts || P == 0 || M == 0) return;
    Call a = {geo, C, M, K, P, G, n_cb, kc, direct, X, Wp, B, R, e, Y};
    float *restrict buf = scratch + task * kc * nb;
    /* This task's units, then one call site of conv_range for both ways
     * of cutting the work (one copy of the kernel's code, not two). */
    int one = N * G == 1 && parts > 1;
    int64_t q = 1, mc = 1, lo = 0, hi = P, n_mc = 1, cb_per = n_cb, u0, u1;
    if (one) {
        /* One image: blocks of pixels by chunks of channels, one part each,
         * each block in pieces of at most nb pixels. */
        int64_t ctx[2] = {P, direct};
        kiln_split_two_threads(parts, (P + VEC - 1) / VEC, n_cb, conv_part_cost, ctx, &q, &mc);
        if (task >= q * mc) return;
        lo = conv_bound(P, q, task % q);
        hi = conv_bound(P, q, task % q + 1);
        u0 = 0;
        u1 = (hi - lo + nb - 1) / nb;
    } else {
        if (parts > 1 && N * G * n_pb % parts != 0 && N * G * n_pb < 8 * parts) {
            /* Pixel blocks that the tasks cannot share evenly: narrower
             * blocks (whole vectors, two at the least), as many as a
             * multiple of the tasks where they can be. That is cheaper
             * than channel chunks, each of which packs the same block
             * again, and a pixel's sum is the same whatever block it is
             * in. */
            int64_t want = (N * G * n_pb + parts - 1) / parts * parts;
            int64_t per = (want + N * G - 1) / (N * G);
            int64_t w = ((P + per - 1) / per + VEC - 1) / VEC * VEC;
            nb = min64(nb, w < 2 * VEC ? 2 * VEC : w);
            n_pb = (P + nb - 1) / nb;
        }
        int64_t outer = N * G * n_pb;
        if (outer < parts) n_mc = min64(n_cb, (parts + outer - 1) / outer);
        cb_per = (n_cb + n_mc - 1) / n_mc;
        int64_t units = outer * n_mc;
        u0 = task * units / parts;
        u1 = (task + 1) * units / parts;
    }
    for (int64_t u = u0; u < u1; u++) {
        int64_t ng = 0, p0, cb0, cb1;
        if (one) {
            p0 = lo + u * nb;
            cb0 = task / q * n_cb / mc;
            cb1 = (task / q + 1) * n_cb / mc;
        } else {
            int64_t c = u % n_mc, pb = u / n_mc % n_pb;
            ng = u / n_mc / n_pb;
            p0 = pb * nb;
            cb0 = c * cb_per;
            cb1 = min64(n_cb, cb0 + cb_per);
        }
        if (cb0 >= cb1) continue;
        conv_range(&a, ng, p0, min64(nb, hi - p0), cb0, cb1, buf);
    }
}
