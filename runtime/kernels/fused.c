/* fused.c: kernels of kiln's fused ops (see fused.h). Plain loops: with
 * the sizes and the epilogue constant after inlining, each inner loop is
 * one expression the vectoriser takes. */
#include "fused.h"
#include "kmath.h"

void kiln_activation_f32(int epi, float a, float b, int64_t n, const float *restrict x,
                         float *restrict y, int64_t task, int64_t n_tasks) {
    int64_t lo = n * task / n_tasks, hi = n * (task + 1) / n_tasks;
    for (int64_t i = lo; i < hi; i++)
        y[i] = kiln_epilogue_f32(epi, a, b, x[i]);
}

void kiln_conv_vec_f32(int64_t N, int64_t C, int64_t M, const float *restrict x,
                       const float *restrict Wt, const float *restrict B, int epi, float a, float b,
                       float *restrict y, int64_t task, int64_t n_tasks) {
    int64_t lo = M * task / n_tasks, hi = M * (task + 1) / n_tasks;
    for (int64_t r = 0; r < N; r++) {
        float *restrict yr = y + r * M;
        for (int64_t m = lo; m < hi; m++)
            yr[m] = B ? B[m] : 0.0f;
        for (int64_t c = 0; c < C; c++) {
            float xv = x[r * C + c];
            const float *restrict wr = Wt + c * M;
            for (int64_t m = lo; m < hi; m++)
                yr[m] += xv * wr[m];
        }
        if (epi != KILN_EPI_NONE)
            for (int64_t m = lo; m < hi; m++)
                yr[m] = kiln_epilogue_f32(epi, a, b, yr[m]);
    }
}
