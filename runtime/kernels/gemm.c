/* gemm.c: matrix products.
 *
 * The fast path computes Y in tiles of TILE_M rows by 32 columns whose
 * accumulators stay in vector registers for the whole K loop: per k, two
 * 16-float rows of B are loaded and each of the TILE_M values of A is
 * broadcast into two FMAs. Generic vector types keep the bitcode
 * target-neutral; codegen's target (AVX-512 here) decides the registers.
 * Rows and columns the tiles leave over go through a plain row-by-row
 * loop whose bounds are constants after specialisation.
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

static inline float epilogue_apply(int epilogue, float v) {
    switch (epilogue) {
    case KILN_EPI_RELU:
        return v > 0.0f ? v : 0.0f;
    case KILN_EPI_SIGMOID:
        return kiln_sigmoidf(v);
    case KILN_EPI_TANH:
        return kiln_tanhf(v);
    default:
        return v;
    }
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

/* Row by row: Y[i,:] starts as the bias, then gathers alpha*A[i,k]*B[k,:]
 * over k. Any strides; used for what the tiles do not cover. */
static void gemm_rows(int64_t i_begin, int64_t i_end, int64_t j_begin, int64_t N, int64_t K,
                      const float *restrict A, int64_t a_rs, int64_t a_cs, const float *restrict B,
                      int64_t b_rs, int64_t b_cs, const float *restrict C, int64_t c_rs,
                      int64_t c_cs, float alpha, float beta, int epilogue, float *restrict Y) {
    for (int64_t i = i_begin; i < i_end; i++) {
        float *restrict y = Y + i * N;
        for (int64_t j = j_begin; j < N; j++)
            y[j] = C ? beta * C[i * c_rs + j * c_cs] : 0.0f;
        for (int64_t k = 0; k < K; k++) {
            float a = alpha * A[i * a_rs + k * a_cs];
            const float *restrict b = B + k * b_rs;
            for (int64_t j = j_begin; j < N; j++)
                y[j] += a * b[j * b_cs];
        }
        if (epilogue != KILN_EPI_NONE)
            for (int64_t j = j_begin; j < N; j++)
                y[j] = epilogue_apply(epilogue, y[j]);
    }
}

void kiln_gemm_f32(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t a_rs,
                   int64_t a_cs, const float *restrict B, int64_t b_rs, int64_t b_cs,
                   const float *restrict C, int64_t c_rs, int64_t c_cs, float alpha, float beta,
                   int epilogue, float *restrict Y) {
    /* Leftover rows (all of them at batch 1) go row by row: a whole row of
     * Y gives more independent FMAs than a one-row tile. */
    int64_t m_tiled = b_cs == 1 ? M / TILE_M * TILE_M : 0;
    int64_t n_tiled = m_tiled ? N / TILE_N * TILE_N : 0;
    for (int64_t j0 = 0; j0 < n_tiled; j0 += TILE_N)
        for (int64_t i0 = 0; i0 < m_tiled; i0 += TILE_M)
            tile(TILE_M, i0, j0, N, K, A, a_rs, a_cs, B, b_rs, C, c_rs, c_cs, alpha, beta, epilogue,
                 Y);
    if (n_tiled < N)
        gemm_rows(0, m_tiled, n_tiled, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, c_cs, alpha,
                  beta, epilogue, Y);
    if (m_tiled < M)
        gemm_rows(m_tiled, M, 0, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, c_cs, alpha, beta,
                  epilogue, Y);
}

void kiln_matmul_f32(int64_t batch, int64_t M, int64_t N, int64_t K, const float *restrict A,
                     int64_t a_bs, const float *restrict B, int64_t b_bs, float *restrict Y) {
    for (int64_t b = 0; b < batch; b++)
        kiln_gemm_f32(M, N, K, A + b * a_bs, K, 1, B + b * b_bs, N, 1, 0, 0, 0, 1.0f, 0.0f,
                      KILN_EPI_NONE, Y + b * M * N);
}
