/* wino.c: 3x3 stride-1 convolution by Winograd's F(2x2, 3x3), f32 (see
 * wino.h).
 *
 * A tile is a 2x2 block of output pixels; it reads a 4x4 patch d of each
 * input channel. Output channel m's tile is
 *
 *     A^T [ sum_c (G g_mc G^T) .* (B^T d_c B) ] A
 *
 * with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] and A^T = [1 1 1 0;
 * 0 1 -1 -1]. The 16 elementwise products, summed over c, are 16 matrix
 * products U[xi] = W[xi] V[xi] (xi = 4i+j, the position in the 4x4):
 * W[xi] [M][C] the transformed weights (packed at compile time), V[xi]
 * [C][tiles] the transformed input. They run in the register tile of the
 * dense convolution (conv.c): 8 output channels x 48 tiles, the weights
 * broadcast.
 *
 * The tiles go in blocks of a few tile rows (and, on very wide images, a
 * chunk of the columns), at most kiln_wino_tiles(C) tiles, so that a
 * block's V, 16 x C x tiles floats, stays in L2. For each block the input
 * is transformed into V; then, for every 8 output channels, the 16
 * products go into U and U is transformed into the output, where the
 * bias, the residual and the epilogue are applied. Both transforms run on
 * rows (B^T and A^T across the 4 rows, then B and A along them), so the
 * loops run along tile columns, in vectors where the rows are long.
 *
 * Tasks: the units of work are (image, group, block, channel chunk), the
 * chunks slowest. When the blocks cannot be shared evenly among the tasks,
 * the rows are cut into more blocks of equal height where that keeps them
 * wide enough, else the output channels into as many chunks as tasks
 * (each of which transforms the block's input again). A value is computed
 * the same way whatever unit it falls in.
 */
#include "wino.h"

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
 * whole vectors (U's row stride), cs = tp and a vector of slack (V's). */
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

/* V[xi][c][t] = (B^T d B)[xi] for every channel c of x and tile t of the
 * block; the lanes from tb to tp are zero. rows: 8 rows of wp floats.
 * The loops go 16 tiles at a time: a row's last vector spills into the
 * next row, which is written after it, or into the slack. */
static void wino_input(const Geo *g, const Blk *k, int64_t C, const float *restrict x,
                       float *restrict V, float *restrict rows, int64_t wp) {
    int64_t wd = 2 * k->cw + 2, iw0 = 2 * k->tx0 - g->PW; /* columns read, the first */
    int64_t ja = clamp64(-iw0, 0, wd), jb = clamp64(g->IW - iw0, ja, wd);
    float *restrict d0 = rows, *restrict d1 = rows + wp, *restrict d2 = rows + 2 * wp,
                    *restrict d3 = rows + 3 * wp;
    float *restrict e[4] = {rows + 4 * wp, rows + 5 * wp, rows + 6 * wp, rows + 7 * wp};
    float *restrict d[4] = {d0, d1, d2, d3};
    int64_t cs = k->cs, xs = C * k->cs; /* V's channel and position strides */
    for (int64_t c = 0; c < C; c++) {
        const float *restrict xc = x + c * g->IH * g->IW;
        for (int64_t ty = k->ty0; ty < k->ty1; ty++) {
            for (int i = 0; i < 4; i++) {
                int64_t ih = 2 * ty - g->PH + i;
                if (ih < 0 || ih >= g->IH || ja >= jb) {
                    memset(d[i], 0, sizeof(float) * wd);
                    continue;
                }
                memset(d[i], 0, sizeof(float) * ja);
                memcpy(d[i] + ja, xc + ih * g->IW + iw0 + ja, sizeof(float) * (jb - ja));
                memset(d[i] + jb, 0, sizeof(float) * (wd - jb));
            }
            for (int64_t j = 0; j < wd; j++) { /* B^T across the rows */
                float a = d0[j], b = d1[j], c2 = d2[j], c3 = d3[j];
                e[0][j] = a - c2;
                e[1][j] = b + c2;
                e[2][j] = c2 - b;
                e[3][j] = b - c3;
            }
            float *restrict v = V + c * cs + (ty - k->ty0) * k->cw;
            for (int i = 0; i < 4; i++) { /* B along them */
                const float *restrict r = e[i];
                float *restrict v0 = v + 4 * i * xs, *restrict v1 = v0 + xs, *restrict v2 = v1 + xs,
                                *restrict v3 = v2 + xs;
                for (int64_t t = 0; t < k->cw; t += VEC) {
                    v16 lo = LD(r + 2 * t), hi = LD(r + 2 * t + VEC);
                    v16 lo2 = LD(r + 2 * t + 2), hi2 = LD(r + 2 * t + 2 + VEC);
                    v16 a = EVENS(lo, hi), b = ODDS(lo, hi);
                    v16 c2 = EVENS(lo2, hi2), c3 = ODDS(lo2, hi2);
                    ST(v0 + t, a - c2);
                    ST(v1 + t, b + c2);
                    ST(v2 + t, c2 - b);
                    ST(v3 + t, b - c3);
                }
            }
        }
        for (int xi = 0; xi < 16; xi++)
            memset(V + xi * xs + c * cs + k->tb, 0, sizeof(float) * (k->tp - k->tb));
    }
}

/* out[r][0 .. 16*nv) = sum_c w[c][r] * b[c][..] for the 8 rows r, rows
 * os apart; b's rows bs apart. */
INLINE void wino_tile(int nv, int64_t C, const float *restrict w, const float *restrict b,
                      int64_t bs, float *restrict out, int64_t os) {
    v16 acc[MR][3];
    UNROLL for (int r = 0; r < MR; r++) {
        UNROLL for (int v = 0; v < 3; v++) {
            if (v < nv) acc[r][v] = (v16){0};
        }
    }
    for (int64_t k = 0; k < C; k++) {
        v16 x[3];
        UNROLL for (int v = 0; v < 3; v++) {
            if (v < nv) x[v] = *(const v16 *)(b + k * bs + v * VEC);
        }
        UNROLL for (int r = 0; r < MR; r++) {
            float a = w[k * MR + r];
            UNROLL for (int v = 0; v < 3; v++) {
                if (v < nv) acc[r][v] += a * x[v];
            }
        }
    }
    UNROLL for (int r = 0; r < MR; r++) {
        UNROLL for (int v = 0; v < 3; v++) {
            if (v < nv) memcpy(out + r * os + v * VEC, &acc[r][v], sizeof(v16));
        }
    }
}

/* U[xi][r][t] for the 8 channels of w (w: W[xi=0], the others wxs
 * floats apart) over the block's tiles. */
static void wino_products(const Blk *k, int64_t C, int64_t wxs, const float *restrict w,
                          const float *restrict V, float *restrict U) {
    for (int xi = 0; xi < 16; xi++) {
        const float *restrict wx = w + xi * wxs, *restrict vx = V + xi * C * k->cs;
        float *restrict ux = U + xi * MR * k->tp;
        for (int64_t s = 0; s * NR < k->tb; s++) {
            int64_t ws = min64(NR, k->tb - s * NR), o = s * NR;
            if (ws > 2 * VEC)
                wino_tile(3, C, wx, vx + o, k->cs, ux + o, k->tp);
            else if (ws > VEC)
                wino_tile(2, C, wx, vx + o, k->cs, ux + o, k->tp);
            else
                wino_tile(1, C, wx, vx + o, k->cs, ux + o, k->tp);
        }
    }
}

/* The block's output pixels of `rows` channels from their products U:
 * A^T U A, plus the bias and the residual res (NULL: none; shaped as y),
 * through the epilogue. y, res: the first channel's plane. o: 2 rows of
 * 2*tp floats. 16 tiles at a time, reading past a row's end (into the
 * next row, or past U into the scratch that follows it). */
static void wino_output(const Geo *g, const Blk *k, int64_t rows, const float *restrict U,
                        const float *restrict bias, const float *restrict res, int epi, float ea,
                        float eb, float *restrict y, float *restrict o) {
    int64_t P = g->OH * g->OW, ow0 = 2 * k->tx0, n = min64(2 * k->cw, g->OW - ow0);
    int64_t xs = MR * k->tp;
    float *restrict s0 = o, *restrict s1 = o + 2 * k->tp;
    for (int64_t r = 0; r < rows; r++) {
        float bv = bias ? bias[r] : 0.0f;
        for (int64_t ty = k->ty0; ty < k->ty1; ty++) {
            const float *restrict u = U + r * k->tp + (ty - k->ty0) * k->cw;
            for (int64_t t = 0; t < k->cw; t += VEC) {
                v16 m[16];
                UNROLL for (int xi = 0; xi < 16; xi++) m[xi] = LD(u + xi * xs + t);
                v16 a0[4], a1[4]; /* A^T across the rows */
                UNROLL for (int j = 0; j < 4; j++) {
                    a0[j] = m[j] + m[4 + j] + m[8 + j];
                    a1[j] = m[4 + j] - m[8 + j] - m[12 + j];
                }
                v16 y00 = a0[0] + a0[1] + a0[2], y01 = a0[1] - a0[2] - a0[3]; /* A along */
                v16 y10 = a1[0] + a1[1] + a1[2], y11 = a1[1] - a1[2] - a1[3];
                ST(s0 + 2 * t, ZIP_LO(y00, y01));
                ST(s0 + 2 * t + VEC, ZIP_HI(y00, y01));
                ST(s1 + 2 * t, ZIP_LO(y10, y11));
                ST(s1 + 2 * t + VEC, ZIP_HI(y10, y11));
            }
            for (int q = 0; q < 2 && 2 * ty + q < g->OH; q++) {
                int64_t at = r * P + (2 * ty + q) * g->OW + ow0;
                const float *restrict sq = q ? s1 : s0;
                float *restrict yr = y + at;
                if (res) {
                    const float *restrict rr = res + at;
                    for (int64_t j = 0; j < n; j++)
                        yr[j] = kiln_epilogue_f32(epi, ea, eb, sq[j] + bv + rr[j]);
                } else {
                    for (int64_t j = 0; j < n; j++)
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
    k.cs = k.tp + VEC;
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

/* Parts of one image of th tile rows (of cw tiles, at most rmax rows a
 * block) and n_cb channel blocks among at most `parts` tasks: rb bands of
 * rows by mc chunks of channels, part p the band p % rb of chunk p / rb.
 * The choice is the shortest time on two threads taking the parts in
 * order as they come free (runtime/service/pool.c), the fewest parts of
 * equal time: a chunk more costs the input transform again, a band more
 * may narrow the blocks. */
static void wino_split(int64_t th, int64_t cw, int64_t rmax, int64_t n_cb, int64_t parts,
                       int64_t *rb_out, int64_t *mc_out) {
    int64_t best = -1;
    *rb_out = *mc_out = 1;
    for (int64_t rb = 1; rb <= parts && rb <= th; rb++)
        for (int64_t mc = 1; rb * mc <= parts && mc <= n_cb; mc++) {
            int64_t free0 = 0, free1 = 0;
            for (int64_t p = 0; p < rb * mc; p++) {
                int64_t b = p % rb, c = p / rb;
                int64_t cbs = (c + 1) * n_cb / mc - c * n_cb / mc;
                int64_t cost = wino_band_cost(b * th / rb, (b + 1) * th / rb, rmax, cw, cbs);
                if (free0 <= free1)
                    free0 += cost;
                else
                    free1 += cost;
            }
            int64_t t = free0 > free1 ? free0 : free1;
            if (best < 0 || t < best) {
                best = t;
                *rb_out = rb;
                *mc_out = mc;
            }
        }
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

static void wino_run(const Call *a, const Blk *k, int64_t ng, int64_t cb0, int64_t cb1) {
    int64_t g = ng % a->G, P = a->geo.OH * a->geo.OW, C = a->C, M = a->M;
    if (k->tb == 0) return;
    wino_input(&a->geo, k, C, a->X + ng * C * a->geo.IH * a->geo.IW, a->V, a->rows, a->wp);
    for (int64_t cb = cb0; cb < cb1; cb++) {
        int64_t m0 = cb * MR, nr = min64(MR, M - m0), at = (ng * M + m0) * P;
        wino_products(k, C, a->n_cb * C * MR, a->Wp + (g * 16 * a->n_cb + cb) * C * MR, a->V, a->U);
        wino_output(&a->geo, k, nr, a->U, a->B ? a->B + g * M + m0 : 0, a->R ? a->R + at : 0,
                    a->epi, a->ea, a->eb, a->Y + at, a->orow);
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
    Geo geo = {IH, IW, OH, OW, PH, PW};
    int64_t th = (OH + 1) / 2, tw = (OW + 1) / 2, n_cb = (M + MR - 1) / MR;
    int64_t parts = n_tasks < 1 ? 1 : min64(n_tasks, KILN_CONV_MAX_TASKS);
    if (task < 0 || task >= parts || th == 0 || tw == 0 || M == 0) return;
    /* Blocks: ncw chunks of columns, each at most the block's tiles;
     * bands of rows, as many rows each as fit. */
    int64_t tmax = kiln_wino_tiles(C), ncw = (tw + tmax - 1) / tmax;
    int64_t cwmax = (tw + ncw - 1) / ncw, rmax = tmax / cwmax < 1 ? 1 : tmax / cwmax;
    int64_t tp = (tmax + VEC - 1) / VEC * VEC;
    Call a = {geo, C, M, G, n_cb, X, Wp, B, R, epi, epi_a, epi_b, Y, 0, 0, 0, 0, 2 * tp + 16};
    a.V = scratch + task * kiln_wino_task_floats(C);
    a.U = a.V + 16 * C * (tp + VEC);
    a.rows = a.U + 16 * MR * tp;
    a.orow = a.rows + 8 * a.wp;
    if (N * G * ncw == 1 && parts > 1) {
        /* One image: bands of rows by chunks of channels, one part each. */
        int64_t rb, mc;
        wino_split(th, tw, rmax, n_cb, parts, &rb, &mc);
        if (task >= rb * mc) return;
        int64_t b = task % rb, c = task / rb, r0 = b * th / rb, r1 = (b + 1) * th / rb;
        int64_t nb = (r1 - r0 + rmax - 1) / rmax;
        for (int64_t i = 0; i < nb; i++) {
            Blk k = wino_block(r0, r1, nb, i, 0, tw);
            wino_run(&a, &k, 0, c * n_cb / mc, (c + 1) * n_cb / mc);
        }
        return;
    }
    /* Else the blocks of every image and column chunk, shared in order. */
    int64_t nbk = (th + rmax - 1) / rmax, units = N * G * ncw * nbk;
    int64_t u0 = task * units / parts, u1 = (task + 1) * units / parts;
    for (int64_t u = u0; u < u1; u++) {
        int64_t by = u % nbk, cx = u / nbk % ncw, ng = u / nbk / ncw;
        int64_t tx0 = cx * tw / ncw;
        Blk k = wino_block(0, th, nbk, by, tx0, (cx + 1) * tw / ncw - tx0);
        wino_run(&a, &k, ng, 0, n_cb);
    }
}
