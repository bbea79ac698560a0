/* transformer.c: fused attention (see transformer.h).
 *
 * Per group, K is first transposed into scratch (Kt[k][j], D x Lk) so that
 * the scores of a block of query rows are a small matrix product whose
 * accumulators stay in vector registers: per k, four 16-float pieces of a
 * Kt row and each row's Q[i][k] broadcast. Softmax then runs on the
 * block's score rows in place (max, exp and sum, one scale at the end),
 * and the output rows gather P[i][j] * V[j][:] the same way, V rows read
 * where they are. Generic vector types keep the bitcode target-neutral.
 */
#include "transformer.h"
#include "kmath.h"

typedef float v16 __attribute__((vector_size(64), aligned(4)));

#define R KILN_ATTN_ROWS
#define NV 4 /* vectors per register tile row: 64 floats */

#ifdef __clang__
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

/* s[r][j0 .. j0+16*nv) = scale * sum_k q[r][k] kt[k][j], rows r < rows. */
static inline __attribute__((always_inline)) void
score_tile(int rows, int nv, int64_t j0, int64_t Lk, int64_t D, const float *restrict q,
           int64_t q_rs, const float *restrict kt, float scale, float *restrict s) {
    v16 acc[R][NV];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < NV; c++) {
        if (r < rows && c < nv) acc[r][c] = (v16){0};
    }
    for (int64_t k = 0; k < D; k++) {
        v16 b[NV];
        UNROLL for (int c = 0; c < NV; c++) {
            if (c < nv) b[c] = *(const v16 *)(kt + k * Lk + j0 + 16 * c);
        }
        UNROLL for (int r = 0; r < R; r++) {
            if (r < rows) {
                float a = q[r * q_rs + k];
                UNROLL for (int c = 0; c < NV; c++) {
                    if (c < nv) acc[r][c] += a * b[c];
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < NV; c++) {
        if (r < rows && c < nv) *(v16 *)(s + r * Lk + j0 + 16 * c) = acc[r][c] * scale;
    }
}

/* y[r][d0 .. d0+16*nv) = inv[r] * sum_j s[r][j] v[j][d], rows r < rows. */
static inline __attribute__((always_inline)) void
out_tile(int rows, int nv, int64_t d0, int64_t Lk, const float *restrict s, const float *restrict v,
         int64_t v_rs, const float *restrict inv, float *restrict y, int64_t y_rs) {
    v16 acc[R][NV];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < NV; c++) {
        if (r < rows && c < nv) acc[r][c] = (v16){0};
    }
    for (int64_t j = 0; j < Lk; j++) {
        v16 b[NV];
        UNROLL for (int c = 0; c < NV; c++) {
            if (c < nv) b[c] = *(const v16 *)(v + j * v_rs + d0 + 16 * c);
        }
        UNROLL for (int r = 0; r < R; r++) {
            if (r < rows) {
                float p = s[r * Lk + j];
                UNROLL for (int c = 0; c < NV; c++) {
                    if (c < nv) acc[r][c] += p * b[c];
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < NV; c++) {
        if (r < rows && c < nv) *(v16 *)(y + r * y_rs + d0 + 16 * c) = acc[r][c] * inv[r];
    }
}

/* exp(s[i] - max s) in place; returns 1 / their sum. In 16 lanes side by
 * side (each an independent loop for the vectoriser, which may not
 * reorder a float sum itself). */
static inline float softmax_row(int64_t L, float *restrict s) {
    float lane[16];
    for (int j = 0; j < 16; j++)
        lane[j] = s[0];
    int64_t i = 0;
    for (; i + 16 <= L; i += 16)
        for (int j = 0; j < 16; j++)
            lane[j] = s[i + j] > lane[j] ? s[i + j] : lane[j];
    float m = lane[0];
    for (int j = 1; j < 16; j++)
        m = lane[j] > m ? lane[j] : m;
    for (; i < L; i++)
        m = s[i] > m ? s[i] : m;
    for (int j = 0; j < 16; j++)
        lane[j] = 0.0f;
    for (i = 0; i + 16 <= L; i += 16)
        for (int j = 0; j < 16; j++) {
            float e = kiln_expf(s[i + j] - m);
            s[i + j] = e;
            lane[j] += e;
        }
    float sum = 0.0f;
    for (int j = 0; j < 16; j++)
        sum += lane[j];
    for (; i < L; i++) {
        float e = kiln_expf(s[i] - m);
        s[i] = e;
        sum += e;
    }
    return 1.0f / sum;
}

/* One block of `rows` (a constant at the call) query rows. */
static inline __attribute__((always_inline)) void
block(int rows, int64_t Lk, int64_t D, const float *restrict q, int64_t q_rs,
      const float *restrict kt, const float *restrict v, int64_t v_rs, float scale,
      float *restrict s, float *restrict y, int64_t y_rs) {
    int64_t j = 0;
    for (; j + 16 * NV <= Lk; j += 16 * NV)
        score_tile(rows, NV, j, Lk, D, q, q_rs, kt, scale, s);
    for (; j + 16 <= Lk; j += 16)
        score_tile(rows, 1, j, Lk, D, q, q_rs, kt, scale, s);
    for (int r = 0; r < rows; r++)
        for (int64_t jj = j; jj < Lk; jj++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < D; k++)
                acc += q[r * q_rs + k] * kt[k * Lk + jj];
            s[r * Lk + jj] = acc * scale;
        }
    float inv[R];
    for (int r = 0; r < rows; r++)
        inv[r] = softmax_row(Lk, s + r * Lk);
    int64_t d = 0;
    for (; d + 16 * NV <= D; d += 16 * NV)
        out_tile(rows, NV, d, Lk, s, v, v_rs, inv, y, y_rs);
    for (; d + 16 <= D; d += 16)
        out_tile(rows, 1, d, Lk, s, v, v_rs, inv, y, y_rs);
    for (int r = 0; r < rows; r++)
        for (int64_t dd = d; dd < D; dd++) {
            float acc = 0.0f;
            for (int64_t jj = 0; jj < Lk; jj++)
                acc += s[r * Lk + jj] * v[jj * v_rs + dd];
            y[r * y_rs + dd] = acc * inv[r];
        }
}

void kiln_attention_f32(int64_t G, int64_t Lq, int64_t Lk, int64_t D, const float *restrict Q,
                        int64_t q_gs, int64_t q_rs, const float *restrict K, int64_t k_gs,
                        int64_t k_rs, const float *restrict V, int64_t v_gs, int64_t v_rs,
                        float scale, float *restrict Y, int64_t y_gs, int64_t y_rs,
                        float *restrict scratch, int64_t task, int64_t n_tasks) {
    if (n_tasks > KILN_ATTN_SLOTS) { /* one scratch slot per task: the first slots do it all */
        if (task >= KILN_ATTN_SLOTS) return;
        n_tasks = KILN_ATTN_SLOTS;
    }
    int64_t nb = (Lq + R - 1) / R, total = G * nb;
    int64_t t0 = total * task / n_tasks, t1 = total * (task + 1) / n_tasks;
    float *restrict kt = scratch + task * (D + R) * Lk;
    float *restrict s = kt + D * Lk;
    int64_t packed = -1;
    for (int64_t t = t0; t < t1; t++) {
        int64_t g = t / nb, i0 = t % nb * R;
        if (g != packed) {
            const float *restrict kg = K + g * k_gs;
            for (int64_t j = 0; j < Lk; j++)
                for (int64_t k = 0; k < D; k++)
                    kt[k * Lk + j] = kg[j * k_rs + k];
            packed = g;
        }
        const float *q = Q + g * q_gs + i0 * q_rs;
        float *y = Y + g * y_gs + i0 * y_rs;
        if (i0 + R <= Lq)
            block(R, Lk, D, q, q_rs, kt, V + g * v_gs, v_rs, scale, s, y, y_rs);
        else
            for (int64_t i = i0; i < Lq; i++)
                block(1, Lk, D, Q + g * q_gs + i * q_rs, q_rs, kt, V + g * v_gs, v_rs, scale, s,
                      Y + g * y_gs + i * y_rs, y_rs);
    }
}
