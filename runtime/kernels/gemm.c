/* gemm.c: matrix products.
 *
 * The fast path computes Y in tiles of TILE_M rows by 32 columns whose
 * accumulators stay in vector registers for the whole K loop: per k, two
 * 16-float rows of B are loaded and each of the TILE_M values of A is
 * broadcast into two FMAs. Generic vector types keep the bitcode
 * target-neutral; codegen's target (AVX-512 here) decides the registers.
 * Rows and columns the tiles leave over go through a plain row-by-row
 * loop whose bounds are constants after specialisation.
 *
 * Threads: each kernel takes (task, n_tasks) last and computes only its
 * part task of n_tasks, a block of whole row groups of TILE_M rows (or,
 * when there are fewer row groups than tasks, of whole 32-column panels).
 * Every element of Y is computed by the same code in the same order
 * whatever the split, so results are bitwise the same at any n_tasks.
 */
#include <string.h>

#include "kernels.h"
#include "kmath.h"

typedef float v16 __attribute__((vector_size(64), aligned(4)));

#define TILE_M 8
#define TILE_N 32

#ifdef __clang__
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

/* The epilogues Gemm takes (pass_fuse) have no parameters. */
static inline float epilogue_apply(int epilogue, float v) {
    return kiln_epilogue_f32(epilogue, 0.0f, 0.0f, v);
}

/* Y[i0 .. i0+rows, j0 .. j0+32), rows <= TILE_M a constant at the call. */
static inline __attribute__((always_inline)) void
tile(int rows, int64_t i0, int64_t j0, int64_t N, int64_t K, const float *restrict A, int64_t a_rs,
     int64_t a_cs, const float *restrict B, int64_t b_rs, const float *restrict C, int64_t c_rs,
     int64_t c_cs, float alpha, float beta, int epilogue, float *restrict Y) {
    v16 acc[TILE_M][2];
    UNROLL for (int r = 0; r < TILE_M; r++) {
        if (r < rows) {
            acc[r][0] = (v16){0};
            acc[r][1] = (v16){0};
        }
    }
    for (int64_t k = 0; k < K; k++) {
        v16 b0 = *(const v16 *)(B + k * b_rs + j0);
        v16 b1 = *(const v16 *)(B + k * b_rs + j0 + 16);
        UNROLL for (int r = 0; r < TILE_M; r++) {
            if (r < rows) {
                float a = A[(i0 + r) * a_rs + k * a_cs];
                acc[r][0] += a * b0;
                acc[r][1] += a * b1;
            }
        }
    }
    UNROLL for (int r = 0; r < TILE_M; r++) {
        if (r >= rows) continue;
        float v[TILE_N];
        memcpy(v, acc[r], sizeof v);
        float *restrict y = Y + (i0 + r) * N + j0;
        for (int j = 0; j < TILE_N; j++) {
            float s = alpha * v[j];
            if (C) s += beta * C[(i0 + r) * c_rs + (j0 + j) * c_cs];
            y[j] = epilogue_apply(epilogue, s);
        }
    }
}

/* Row by row: Y[i, j_begin..j_end) starts as the bias, then gathers
 * alpha*A[i,k]*B[k,:] over k. Any strides; used for what the tiles do not
 * cover. */
static void gemm_rows(int64_t i_begin, int64_t i_end, int64_t j_begin, int64_t j_end, int64_t N,
                      int64_t K, const float *restrict A, int64_t a_rs, int64_t a_cs,
                      const float *restrict B, int64_t b_rs, int64_t b_cs, const float *restrict C,
                      int64_t c_rs, int64_t c_cs, float alpha, float beta, int epilogue,
                      float *restrict Y) {
    for (int64_t i = i_begin; i < i_end; i++) {
        float *restrict y = Y + i * N;
        for (int64_t j = j_begin; j < j_end; j++)
            y[j] = C ? beta * C[i * c_rs + j * c_cs] : 0.0f;
        for (int64_t k = 0; k < K; k++) {
            float a = alpha * A[i * a_rs + k * a_cs];
            const float *restrict b = B + k * b_rs;
            for (int64_t j = j_begin; j < j_end; j++)
                y[j] += a * b[j * b_cs];
        }
        if (epilogue != KILN_EPI_NONE)
            for (int64_t j = j_begin; j < j_end; j++)
                y[j] = epilogue_apply(epilogue, y[j]);
    }
}

/* The part [t0, t1) of `units` equal parts for task `task` of n_tasks. */
static inline void task_range(int64_t units, int64_t task, int64_t n_tasks, int64_t *t0,
                              int64_t *t1) {
    *t0 = units * task / n_tasks;
    *t1 = units * (task + 1) / n_tasks;
}

/* Y[i0..i1, j0..j1) where i0 is a multiple of TILE_M and j0 of TILE_N:
 * the tiles inside it, then what they leave, as kiln_gemm_f32 does for all
 * of Y. m_tiled, n_tiled: the rows and columns the tiles cover in all. */
static inline __attribute__((always_inline)) void
gemm_rect(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t m_tiled, int64_t n_tiled,
          int64_t N, int64_t K, const float *restrict A, int64_t a_rs, int64_t a_cs,
          const float *restrict B, int64_t b_rs, int64_t b_cs, const float *restrict C,
          int64_t c_rs, int64_t c_cs, float alpha, float beta, int epilogue, float *restrict Y) {
    int64_t ti1 = i1 < m_tiled ? i1 : m_tiled, tj1 = j1 < n_tiled ? j1 : n_tiled;
    for (int64_t j = j0; j < tj1; j += TILE_N)
        for (int64_t i = i0; i < ti1; i += TILE_M)
            tile(TILE_M, i, j, N, K, A, a_rs, a_cs, B, b_rs, C, c_rs, c_cs, alpha, beta, epilogue,
                 Y);
    int64_t jr = j0 > tj1 ? j0 : tj1, ir = i0 > ti1 ? i0 : ti1;
    if (jr < j1 && i0 < ti1)
        gemm_rows(i0, ti1, jr, j1, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, c_cs, alpha, beta,
                  epilogue, Y);
    if (ir < i1)
        gemm_rows(ir, i1, j0, j1, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, c_cs, alpha, beta,
                  epilogue, Y);
}

void kiln_gemm_f32(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t a_rs,
                   int64_t a_cs, const float *restrict B, int64_t b_rs, int64_t b_cs,
                   const float *restrict C, int64_t c_rs, int64_t c_cs, float alpha, float beta,
                   int epilogue, float *restrict Y, int64_t task, int64_t n_tasks) {
    /* Leftover rows (all of them at batch 1) go row by row: a whole row of
     * Y gives more independent FMAs than a one-row tile. */
    int64_t m_tiled = b_cs == 1 ? M / TILE_M * TILE_M : 0;
    int64_t n_tiled = m_tiled ? N / TILE_N * TILE_N : 0;
    int64_t i0 = 0, i1 = M, j0 = 0, j1 = N;
    if (n_tasks > 1) {
        int64_t row_groups = (M + TILE_M - 1) / TILE_M, t0, t1;
        if (row_groups >= n_tasks || N <= TILE_N) {
            task_range(row_groups, task, n_tasks, &t0, &t1);
            i0 = t0 * TILE_M;
            i1 = t1 * TILE_M < M ? t1 * TILE_M : M;
        } else {
            task_range((N + TILE_N - 1) / TILE_N, task, n_tasks, &t0, &t1);
            j0 = t0 * TILE_N;
            j1 = t1 * TILE_N < N ? t1 * TILE_N : N;
        }
        if (i0 >= i1 || j0 >= j1) return;
    }
    gemm_rect(i0, i1, j0, j1, m_tiled, n_tiled, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, c_cs,
              alpha, beta, epilogue, Y);
}

/* --- packed weights ---------------------------------------------------------
 *
 * A constant B is packed at compile time into panels of 32 columns,
 * Bp[p][k][0..32) = B(k, 32p + j), the last panel zero-padded, so that the
 * tile loop streams B through memory in order and needs no column
 * remainder path.
 */

/* Y[i0 .. i0+rows, 32*p0 .. 32*(p0+panels)), columns at or past N not
 * stored. rows * panels * 2 accumulators stay in vector registers. */
static inline __attribute__((always_inline)) void
ptile(int rows, int panels, int64_t i0, int64_t p0, int64_t N, int64_t K, const float *restrict A,
      int64_t a_rs, int64_t a_cs, const float *restrict Bp, const float *restrict C, int64_t c_rs,
      int64_t c_cs, float alpha, float beta, int epilogue, float *restrict Y) {
    v16 acc[TILE_M][8];
    UNROLL for (int r = 0; r < TILE_M; r++) {
        UNROLL for (int q = 0; q < 8; q++) {
            if (r < rows && q < 2 * panels) acc[r][q] = (v16){0};
        }
    }
    for (int64_t k = 0; k < K; k++) {
        v16 b[8];
        UNROLL for (int q = 0; q < 8; q++) {
            if (q < 2 * panels)
                b[q] = *(const v16 *)(Bp + ((p0 + q / 2) * K + k) * TILE_N + (q % 2) * 16);
        }
        UNROLL for (int r = 0; r < TILE_M; r++) {
            if (r < rows) {
                float a = A[(i0 + r) * a_rs + k * a_cs];
                UNROLL for (int q = 0; q < 8; q++) {
                    if (q < 2 * panels) acc[r][q] += a * b[q];
                }
            }
        }
    }
    UNROLL for (int r = 0; r < TILE_M; r++) {
        if (r >= rows) continue;
        UNROLL for (int q = 0; q < 8; q++) {
            if (q >= 2 * panels) continue;
            float v[16];
            memcpy(v, &acc[r][q], sizeof v);
            int64_t j0 = p0 * TILE_N + q * 16;
            float *restrict y = Y + (i0 + r) * N;
            if (j0 + 16 <= N) { /* a whole vector: no bound check, so the epilogue vectorises */
                for (int j = 0; j < 16; j++) {
                    float s = alpha * v[j];
                    if (C) s += beta * C[(i0 + r) * c_rs + (j0 + j) * c_cs];
                    y[j0 + j] = epilogue_apply(epilogue, s);
                }
                continue;
            }
            for (int j = 0; j < 16; j++) {
                if (j0 + j >= N) break;
                float s = alpha * v[j];
                if (C) s += beta * C[(i0 + r) * c_rs + (j0 + j) * c_cs];
                y[j0 + j] = epilogue_apply(epilogue, s);
            }
        }
    }
}

/* Y[i0..i1) x panels [p0, p1), i0 a multiple of TILE_M: rows in blocks of
 * TILE_M, one panel at a time; the rows left over (all of them at batch
 * 1) one at a time over four panels, which gives the eight independent
 * accumulators that hide the FMA latency. */
static inline __attribute__((always_inline)) void
packed_rect(int64_t i0, int64_t i1, int64_t p0, int64_t p1, int64_t m_tiled, int64_t N, int64_t K,
            const float *restrict A, int64_t a_rs, int64_t a_cs, const float *restrict Bp,
            const float *restrict C, int64_t c_rs, int64_t c_cs, float alpha, float beta,
            int epilogue, float *restrict Y) {
    int64_t ti1 = i1 < m_tiled ? i1 : m_tiled;
    for (int64_t p = p0; p < p1; p++)
        for (int64_t i = i0; i < ti1; i += TILE_M)
            ptile(TILE_M, 1, i, p, N, K, A, a_rs, a_cs, Bp, C, c_rs, c_cs, alpha, beta, epilogue,
                  Y);
    for (int64_t i = i0 > ti1 ? i0 : ti1; i < i1; i++) {
        int64_t p = p0;
        for (; p + 4 <= p1; p += 4)
            ptile(1, 4, i, p, N, K, A, a_rs, a_cs, Bp, C, c_rs, c_cs, alpha, beta, epilogue, Y);
        for (; p < p1; p++)
            ptile(1, 1, i, p, N, K, A, a_rs, a_cs, Bp, C, c_rs, c_cs, alpha, beta, epilogue, Y);
    }
}

void kiln_gemm_packed_f32(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t a_rs,
                          int64_t a_cs, const float *restrict Bp, const float *restrict C,
                          int64_t c_rs, int64_t c_cs, float alpha, float beta, int epilogue,
                          float *restrict Y, int64_t task, int64_t n_tasks) {
    int64_t P = (N + TILE_N - 1) / TILE_N;
    int64_t m_tiled = M / TILE_M * TILE_M;
    int64_t i0 = 0, i1 = M, p0 = 0, p1 = P;
    if (n_tasks > 1) {
        int64_t row_groups = (M + TILE_M - 1) / TILE_M, t0, t1;
        if (row_groups >= n_tasks || P == 1) {
            task_range(row_groups, task, n_tasks, &t0, &t1);
            i0 = t0 * TILE_M;
            i1 = t1 * TILE_M < M ? t1 * TILE_M : M;
        } else {
            /* Whole groups of four panels where the rows go one at a time. */
            int64_t g = m_tiled < M ? 4 : 1;
            task_range((P + g - 1) / g, task, n_tasks, &t0, &t1);
            p0 = t0 * g;
            p1 = t1 * g < P ? t1 * g : P;
        }
        if (i0 >= i1 || p0 >= p1) return;
    }
    packed_rect(i0, i1, p0, p1, m_tiled, N, K, A, a_rs, a_cs, Bp, C, c_rs, c_cs, alpha, beta,
                epilogue, Y);
}

/* Batch items split among the tasks when there are enough of them, else
 * each item's rows (or panels). */
void kiln_matmul_f32(int64_t batch, int64_t M, int64_t N, int64_t K, const float *restrict A,
                     int64_t a_bs, const float *restrict B, int64_t b_bs, float *restrict Y,
                     int64_t task, int64_t n_tasks) {
    int64_t b0 = 0, b1 = batch, sub = task, n_sub = n_tasks;
    if (batch >= n_tasks) {
        task_range(batch, task, n_tasks, &b0, &b1);
        sub = 0, n_sub = 1;
    }
    for (int64_t b = b0; b < b1; b++)
        kiln_gemm_f32(M, N, K, A + b * a_bs, K, 1, B + b * b_bs, N, 1, 0, 0, 0, 1.0f, 0.0f,
                      KILN_EPI_NONE, Y + b * M * N, sub, n_sub);
}
