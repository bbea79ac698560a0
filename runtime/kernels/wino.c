/* wino.c: 3x3 stride-1 convolution by Winograd's F(2x2, 3x3) and
 * F(4x4, 3x3), f32 (see wino.h).
 *
 * A tile is a T x T block of output pixels (T = 2 or 4); it reads an
 * n x n patch d of each input channel, n = T + 2. Output channel m's tile
 * is
 *
 *     A^T [ sum_c (G g_mc G^T) .* (B^T d_c B) ] A
 *
 * with, for T = 2, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] and
 * A^T = [1 1 1 0; 0 1 -1 -1], and for T = 4 the matrices of the points
 * 0, 1, -1, 2, -2 (BT4 and AT4 below). The n^2 elementwise products, summed
 * over c, are n^2 matrix products U[xi] = W[xi] V[xi] (xi = n*i + j, the
 * position in the patch): W[xi] [M][C] the transformed weights (packed at
 * compile time), V[xi] [C][tiles] the transformed input. They run in the
 * register tile of the dense convolution (convtile.h): 8 output channels x 48
 * tiles, the weights broadcast.
 *
 * The tiles go in blocks of a few tile rows (and, on very wide images, a
 * chunk of the columns), at most kiln_wino_tiles(T, C) tiles, so that a
 * block's V stays in L2. For each block the input is transformed into V;
 * then, for every 8 output channels, the products go into U and U is
 * transformed into the output, where the bias, the residual and the
 * epilogue are applied. Both transforms run on rows (B^T and A^T across
 * the rows, then B and A along them), 16 tiles to a vector.
 *
 * Tasks: one image is cut into bands of tile rows and chunks of output
 * channels, by a small cost model (kiln_split_two_threads,
 * wino_part_cost); several images, or column chunks, share their blocks
 * in order. A value is computed the same way whatever part it falls in.
 */
#include "wino.h"

#include "convtile.h"
#include "kmath.h"

#include <string.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));

#define MR KILN_CONV_TILE_CO /* output channels per register tile */
#define VEC KILN_CONV_VEC    /* floats per vector */
#define NR (3 * VEC)         /* tiles per register tile */

#ifdef __clang__
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

#define INLINE static inline __attribute__((always_inline))

INLINE int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

INLINE int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* One block of tiles: rows [ty0, ty1) by columns [tx0, tx0 + cw); tb =
 * its tiles, laid out row after row in V and U, tp = tb rounded up to
 * whole vectors (the row stride of V and U); cs = tp (V's channel stride;
 * each of its n^2 planes ends in a vector of slack). */
typedef struct Blk {
    int64_t ty0, ty1, tx0, cw, tb, tp, cs;
} Blk;

/* The image's geometry. */
typedef struct Geo {
    int64_t IH, IW, OH, OW, PH, PW;
} Geo;

/* Vectors as macros: functions taking or returning them would change
 * the ABI where the target has no 512-bit registers (-Wpsabi). */
#define LD(p) (*(const v16 *)(p))
#define ST(p, v)                                                                                   \
    do {                                                                                           \
        v16 st_ = (v);                                                                             \
        memcpy((p), &st_, sizeof st_);                                                             \
    } while (0)
/* The even and the odd elements of the 32 floats lo, hi. */
#define EVENS(lo, hi)                                                                              \
    __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define ODDS(lo, hi)                                                                               \
    __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
/* a[0] b[0] a[1] b[1] ...: the first 16 of them, and the last. */
#define ZIP_LO(a, b)                                                                               \
    __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define ZIP_HI(a, b)                                                                               \
    __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

/* e = B^T d and y = A^T m on arrays of vectors (or floats): BT2 and AT2
 * for F(2x2, 3x3), BT4 and AT4 for F(4x4, 3x3). */
#define BT2(e, d)                                                                                  \
    do {                                                                                           \
        (e)[0] = (d)[0] - (d)[2];                                                                  \
        (e)[1] = (d)[1] + (d)[2];                                                                  \
        (e)[2] = (d)[2] - (d)[1];                                                                  \
        (e)[3] = (d)[1] - (d)[3];                                                                  \
    } while (0)
#define BT4(e, d)                                                                                  \
    do {                                                                                           \
        (e)[0] = 4.0f * (d)[0] - 5.0f * (d)[2] + (d)[4];                                           \
        (e)[1] = (d)[3] + (d)[4] - 4.0f * ((d)[1] + (d)[2]);                                       \
        (e)[2] = 4.0f * ((d)[1] - (d)[2]) + (d)[4] - (d)[3];                                       \
        (e)[3] = 2.0f * ((d)[3] - (d)[1]) + (d)[4] - (d)[2];                                       \
        (e)[4] = 2.0f * ((d)[1] - (d)[3]) + (d)[4] - (d)[2];                                       \
        (e)[5] = 4.0f * (d)[1] - 5.0f * (d)[3] + (d)[5];                                           \
    } while (0)
#define AT2(y, m)                                                                                  \
    do {                                                                                           \
        (y)[0] = (m)[0] + (m)[1] + (m)[2];                                                         \
        (y)[1] = (m)[1] - (m)[2] - (m)[3];                                                         \
    } while (0)
#define AT4(y, m)                                                                                  \
    do {                                                                                           \
        (y)[0] = (m)[0] + (m)[1] + (m)[2] + (m)[3] + (m)[4];                                       \
        (y)[1] = (m)[1] - (m)[2] + 2.0f * ((m)[3] - (m)[4]);                                       \
        (y)[2] = (m)[1] + (m)[2] + 4.0f * ((m)[3] + (m)[4]);                                       \
        (y)[3] = (m)[1] - (m)[2] + 8.0f * ((m)[3] - (m)[4]) + (m)[5];                              \
    } while (0)

/* V[xi][c][t] = (B^T d B)[xi] for every channel c of x and tile t of the
 * block; the lanes from tb to tp are zero. rows: 2n rows of wp floats, d
 * and e. The loops go 16 columns or tiles at a time: a row's last vector
 * spills into the next row or channel, written after it, or into the
 * plane's slack; columns past the row's end are read but land in no tile. */
INLINE void wino_input(const int T, const Geo *g, const Blk *k, int64_t C, const float *restrict x,
                       float *restrict V, float *restrict rows, int64_t wp) {
    const int n = T + 2;
    int64_t wd = T * k->cw + 2, iw0 = T * k->tx0 - g->PW; /* columns read, the first */
    int64_t ja = clamp64(-iw0, 0, wd), jb = clamp64(g->IW - iw0, ja, wd);
    float *d[6], *e[6];
    UNROLL for (int i = 0; i < n; i++) {
        d[i] = rows + i * wp;
        e[i] = rows + (n + i) * wp;
    }
    int64_t cs = k->cs, xs = C * k->cs + VEC; /* V's channel and position strides */
    for (int64_t c = 0; c < C; c++) {
        const float *restrict xc = x + c * g->IH * g->IW;
        for (int64_t ty = k->ty0; ty < k->ty1; ty++) {
            for (int i = 0; i < n; i++) {
                int64_t ih = T * ty - g->PH + i;
                if (ih < 0 || ih >= g->IH || ja >= jb) {
                    memset(d[i], 0, sizeof(float) * wd);
                    continue;
                }
                memset(d[i], 0, sizeof(float) * ja);
                memcpy(d[i] + ja, xc + ih * g->IW + iw0 + ja, sizeof(float) * (jb - ja));
                memset(d[i] + jb, 0, sizeof(float) * (wd - jb));
            }
            for (int64_t j = 0; j < wd; j += VEC) { /* B^T across the rows */
                v16 dv[6], ev[6];
                UNROLL for (int i = 0; i < n; i++) dv[i] = LD(d[i] + j);
                if (T == 2)
                    BT2(ev, dv);
                else
                    BT4(ev, dv);
                UNROLL for (int i = 0; i < n; i++) ST(e[i] + j, ev[i]);
            }
            float *restrict v = V + c * cs + (ty - k->ty0) * k->cw;
            for (int i = 0; i < n; i++) { /* B along them */
                const float *restrict r = e[i];
                float *restrict vi = v + n * i * xs;
                for (int64_t t = 0; t < k->cw; t += VEC) {
                    v16 q[6], o[6];
                    if (T == 2) {
                        v16 lo = LD(r + 2 * t), hi = LD(r + 2 * t + VEC);
                        v16 lo2 = LD(r + 2 * t + 2), hi2 = LD(r + 2 * t + 2 + VEC);
                        q[0] = EVENS(lo, hi);
                        q[1] = ODDS(lo, hi);
                        q[2] = EVENS(lo2, hi2);
                        q[3] = ODDS(lo2, hi2);
                        BT2(o, q);
                    } else {
                        const float *r4 = r + 4 * t;
                        v16 a0 = LD(r4), a1 = LD(r4 + VEC), a2 = LD(r4 + 2 * VEC),
                            a3 = LD(r4 + 3 * VEC);
                        v16 e01 = EVENS(a0, a1), o01 = ODDS(a0, a1), e23 = EVENS(a2, a3),
                            o23 = ODDS(a2, a3);
                        q[0] = EVENS(e01, e23);
                        q[1] = EVENS(o01, o23);
                        q[2] = ODDS(e01, e23);
                        q[3] = ODDS(o01, o23);
                        v16 b0 = LD(r4 + 4), b1 = LD(r4 + 4 + VEC), b2 = LD(r4 + 4 + 2 * VEC),
                            b3 = LD(r4 + 4 + 3 * VEC);
                        q[4] = EVENS(EVENS(b0, b1), EVENS(b2, b3));
                        q[5] = EVENS(ODDS(b0, b1), ODDS(b2, b3));
                        BT4(o, q);
                    }
                    UNROLL for (int j = 0; j < n; j++) ST(vi + j * xs + t, o[j]);
                }
            }
        }
        if (k->tp > k->tb)
            for (int xi = 0; xi < n * n; xi++)
                memset(V + xi * xs + c * cs + k->tb, 0, sizeof(float) * (k->tp - k->tb));
    }
}

/* U[xi][r][t] for the nx positions and the 8 channels of w (w: W[xi=0],
 * the others wxs floats apart) over the block's tiles. */
static void wino_products(int nx, const Blk *k, int64_t C, int64_t wxs, const float *restrict w,
                          const float *restrict V, float *restrict U) {
    for (int xi = 0; xi < nx; xi++) {
        const float *restrict wx = w + xi * wxs, *restrict vx = V + xi * (C * k->cs + VEC);
        float *restrict ux = U + xi * MR * k->tp;
        for (int64_t s = 0; s * NR < k->tb; s++) {
            int64_t ws = min64(NR, k->tb - s * NR), o = s * NR;
            if (ws > 2 * VEC)
                kiln_conv_tile8(3, C, wx, vx + o, k->cs, ux + o, k->tp);
            else if (ws > VEC)
                kiln_conv_tile8(2, C, wx, vx + o, k->cs, ux + o, k->tp);
            else
                kiln_conv_tile8(1, C, wx, vx + o, k->cs, ux + o, k->tp);
        }
    }
}

/* The block's output pixels of `rows` channels from their products U:
 * A^T U A, plus the bias and the residual res (NULL: none; shaped as y),
 * through the epilogue. y, res: the first channel's plane. o: T rows of
 * T*tp floats. 16 tiles at a time, reading past a row's end (into the
 * next row, or past U into the scratch that follows it). */
INLINE void wino_output(const int T, const Geo *g, const Blk *k, int64_t rows,
                        const float *restrict U, const float *restrict bias,
                        const float *restrict res, int epi, float ea, float eb, float *restrict y,
                        float *restrict o) {
    const int n = T + 2;
    int64_t P = g->OH * g->OW, ow0 = T * k->tx0, w = min64(T * k->cw, g->OW - ow0);
    int64_t xs = MR * k->tp;
    for (int64_t r = 0; r < rows; r++) {
        float bv = bias ? bias[r] : 0.0f;
        for (int64_t ty = k->ty0; ty < k->ty1; ty++) {
            const float *restrict u = U + r * k->tp + (ty - k->ty0) * k->cw;
            for (int64_t t = 0; t < k->cw; t += VEC) {
                v16 m[36], a[4][6], yv[4][4];
                UNROLL for (int xi = 0; xi < n * n; xi++) m[xi] = LD(u + xi * xs + t);
                UNROLL for (int j = 0; j < n; j++) { /* A^T across the rows */
                    v16 col[6], out[4];
                    UNROLL for (int i = 0; i < n; i++) col[i] = m[n * i + j];
                    if (T == 2)
                        AT2(out, col);
                    else
                        AT4(out, col);
                    UNROLL for (int q = 0; q < T; q++) a[q][j] = out[q];
                }
                UNROLL for (int q = 0; q < T; q++) { /* A along them */
                    if (T == 2)
                        AT2(yv[q], a[q]);
                    else
                        AT4(yv[q], a[q]);
                }
                UNROLL for (int q = 0; q < T; q++) {
                    float *oq = o + q * T * k->tp + T * t;
                    if (T == 2) {
                        ST(oq, ZIP_LO(yv[q][0], yv[q][1]));
                        ST(oq + VEC, ZIP_HI(yv[q][0], yv[q][1]));
                    } else {
                        v16 p0 = ZIP_LO(yv[q][0], yv[q][2]), p1 = ZIP_HI(yv[q][0], yv[q][2]);
                        v16 q0 = ZIP_LO(yv[q][1], yv[q][3]), q1 = ZIP_HI(yv[q][1], yv[q][3]);
                        ST(oq, ZIP_LO(p0, q0));
                        ST(oq + VEC, ZIP_HI(p0, q0));
                        ST(oq + 2 * VEC, ZIP_LO(p1, q1));
                        ST(oq + 3 * VEC, ZIP_HI(p1, q1));
                    }
                }
            }
            for (int q = 0; q < T && T * ty + q < g->OH; q++) {
                int64_t at = r * P + (T * ty + q) * g->OW + ow0;
                const float *restrict sq = o + q * T * k->tp;
                float *restrict yr = y + at;
                if (res) {
                    const float *restrict rr = res + at;
                    for (int64_t j = 0; j < w; j++)
                        yr[j] = kiln_epilogue_f32(epi, ea, eb, sq[j] + bv + rr[j]);
                } else {
                    for (int64_t j = 0; j < w; j++)
                        yr[j] = kiln_epilogue_f32(epi, ea, eb, sq[j] + bv);
                }
            }
        }
    }
}

/* Block i of the nb blocks of band [r0, r1) of tile rows, cw tiles wide
 * from column tx0. */
static Blk wino_block(int64_t r0, int64_t r1, int64_t nb, int64_t i, int64_t tx0, int64_t cw) {
    Blk k;
    k.ty0 = r0 + i * (r1 - r0) / nb;
    k.ty1 = r0 + (i + 1) * (r1 - r0) / nb;
    k.tx0 = tx0;
    k.cw = cw;
    k.tb = (k.ty1 - k.ty0) * cw;
    k.tp = (k.tb + VEC - 1) / VEC * VEC;
    k.cs = k.tp;
    return k;
}

/* The cost of a band of tile rows [r0, r1) for cbs channel blocks, in
 * multiply-add vectors per input channel: each block's products (whole
 * vectors of tiles) and its input transform (WINO_IN per tile, measured
 * against one 8-channel block's products). */
#define WINO_IN 1
static int64_t wino_band_cost(int64_t r0, int64_t r1, int64_t rmax, int64_t cw, int64_t cbs) {
    int64_t nb = (r1 - r0 + rmax - 1) / rmax, cost = 0;
    for (int64_t i = 0; i < nb; i++) {
        Blk k = wino_block(r0, r1, nb, i, 0, cw);
        cost += k.tp * cbs + WINO_IN * k.tb;
    }
    return cost;
}

/* Band b of q of th tile rows (cw tiles wide, at most rmax rows a block)
 * for cbs channel blocks, for kiln_split_two_threads: a chunk more costs
 * the input transform again, a band more may narrow the blocks. ctx:
 * {th, cw, rmax}. */
static int64_t wino_part_cost(const void *ctx, int64_t q, int64_t b, int64_t cbs) {
    const int64_t *c = ctx;
    return wino_band_cost(b * c[0] / q, (b + 1) * c[0] / q, c[2], c[1], cbs);
}

/* Transforms, multiplies and transforms back block k of image (and
 * group) ng, for channel blocks [cb0, cb1). */
typedef struct Call {
    Geo geo;
    int64_t C, M, G, n_cb;
    const float *X, *Wp, *B, *R;
    int epi;
    float ea, eb;
    float *Y, *V, *U, *rows, *orow;
    int64_t wp;
} Call;

INLINE void wino_run(const int T, const Call *a, const Blk *k, int64_t ng, int64_t cb0,
                     int64_t cb1) {
    int64_t g = ng % a->G, P = a->geo.OH * a->geo.OW, C = a->C, M = a->M;
    const int nx = (T + 2) * (T + 2);
    if (k->tb == 0) return;
    wino_input(T, &a->geo, k, C, a->X + ng * C * a->geo.IH * a->geo.IW, a->V, a->rows, a->wp);
    for (int64_t cb = cb0; cb < cb1; cb++) {
        int64_t m0 = cb * MR, nr = min64(MR, M - m0), at = (ng * M + m0) * P;
        wino_products(nx, k, C, a->n_cb * C * MR, a->Wp + (g * nx * a->n_cb + cb) * C * MR, a->V,
                      a->U);
        wino_output(T, &a->geo, k, nr, a->U, a->B ? a->B + g * M + m0 : 0, a->R ? a->R + at : 0,
                    a->epi, a->ea, a->eb, a->Y + at, a->orow);
    }
}

/* kiln_conv_wino_f32 and kiln_conv_wino4_f32 with T = 2 and 4. */
INLINE void wino_conv(const int T, int64_t N, int64_t G, int64_t C, int64_t M, int64_t IH,
                      int64_t IW, int64_t OH, int64_t OW, int64_t PH, int64_t PW,
                      const float *restrict X, const float *restrict Wp, const float *restrict B,
                      const float *restrict R, int epi, float epi_a, float epi_b,
                      float *restrict scratch, float *restrict Y, int64_t task, int64_t n_tasks) {
    Geo geo = {IH, IW, OH, OW, PH, PW};
    int64_t th = (OH + T - 1) / T, tw = (OW + T - 1) / T, n_cb = (M + MR - 1) / MR;
    int64_t parts = n_tasks < 1 ? 1 : min64(n_tasks, KILN_CONV_MAX_TASKS);
    if (task < 0 || task >= parts || th == 0 || tw == 0 || M == 0) return;
    /* Blocks: ncw chunks of columns, each at most the block's tiles;
     * bands of rows, as many rows each as fit. */
    int64_t tmax = kiln_wino_tiles(T, C), ncw = (tw + tmax - 1) / tmax;
    int64_t cwmax = (tw + ncw - 1) / ncw, rmax = tmax / cwmax < 1 ? 1 : tmax / cwmax;
    int64_t tp = (tmax + VEC - 1) / VEC * VEC, nx = (T + 2) * (T + 2);
    Call a = {geo, C, M, G, n_cb, X, Wp, B, R, epi, epi_a, epi_b, Y, 0, 0, 0, 0, T * tp + 16};
    a.V = scratch + task * kiln_wino_task_floats(T, C);
    a.U = a.V + nx * C * (tp + VEC);
    a.rows = a.U + nx * MR * tp;
    a.orow = a.rows + 2 * (T + 2) * a.wp;
    /* The rows' tails past the columns read stay zero (wino_input). */
    memset(a.rows, 0, sizeof(float) * (size_t)(2 * (T + 2) * a.wp));
    /* This task's blocks, then one call site of wino_run for both ways
     * of cutting the work (one copy of the kernel's code, not two). */
    int one = N * G * ncw == 1 && parts > 1;
    int64_t rb = 1, mc = 1, r0 = 0, r1 = th, nb, u0, u1;
    if (one) {
        /* One image: bands of rows by chunks of channels, one part each. */
        int64_t ctx[3] = {th, tw, rmax};
        kiln_split_two_threads(parts, th, n_cb, wino_part_cost, ctx, &rb, &mc);
        if (task >= rb * mc) return;
        r0 = task % rb * th / rb;
        r1 = (task % rb + 1) * th / rb;
        nb = (r1 - r0 + rmax - 1) / rmax;
        u0 = 0;
        u1 = nb;
    } else {
        /* The blocks of every image and column chunk, shared in order. */
        nb = (th + rmax - 1) / rmax;
        int64_t units = N * G * ncw * nb;
        u0 = task * units / parts;
        u1 = (task + 1) * units / parts;
    }
    for (int64_t u = u0; u < u1; u++) {
        int64_t cx = u / nb % ncw, ng = u / nb / ncw, tx0 = cx * tw / ncw;
        int64_t c = one ? task / rb : 0;
        Blk k = wino_block(r0, r1, nb, u % nb, tx0, (cx + 1) * tw / ncw - tx0);
        wino_run(T, &a, &k, ng, c * n_cb / mc, (c + 1) * n_cb / mc);
    }
}

void kiln_conv_wino_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH,
                        int64_t IW, int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH,
                        int64_t KW, int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,
                        int64_t TW, int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                        const float *restrict Wp, const float *restrict B, const float *restrict R,
                        int epi, float epi_a, float epi_b, float *restrict scratch,
                        float *restrict Y, int64_t task, int64_t n_tasks) {
    (void)ID, (void)OD, (void)KD, (void)KH, (void)KW, (void)SD, (void)SH, (void)SW, (void)TD;
    (void)TH, (void)TW, (void)PD;
    wino_conv(2, N, G, C, M, IH, IW, OH, OW, PH, PW, X, Wp, B, R, epi, epi_a, epi_b, scratch, Y,
              task, n_tasks);
}

void kiln_conv_wino4_f32(int64_t N, int64_t G, int64_t C, int64_t M, int64_t ID, int64_t IH,
                         int64_t IW, int64_t OD, int64_t OH, int64_t OW, int64_t KD, int64_t KH,
                         int64_t KW, int64_t SD, int64_t SH, int64_t SW, int64_t TD, int64_t TH,
                         int64_t TW, int64_t PD, int64_t PH, int64_t PW, const float *restrict X,
                         const float *restrict Wp, const float *restrict B, const float *restrict R,
                         int epi, float epi_a, float epi_b, float *restrict scratch,
                         float *restrict Y, int64_t task, int64_t n_tasks) {
    (void)ID, (void)OD, (void)KD, (void)KH, (void)KW, (void)SD, (void)SH, (void)SW, (void)TD;
    (void)TH, (void)TW, (void)PD;
    wino_conv(4, N, G, C, M, IH, IW, OH, OW, PH, PW, X, Wp, B, R, epi, epi_a, epi_b, scratch, Y,
              task, n_tasks);
}
