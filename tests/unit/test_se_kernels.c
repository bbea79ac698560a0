/* test_se_kernels.c: the squeeze-and-excitation kernels: the convolution
 * with per-image channel scales (kernels/se.c) against the plain one on a
 * pre-scaled input, and GlobalAveragePool's running sums against a double
 * sum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn.h"
#include "se.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void assert_close(const float *a, const float *b, size_t n, float tol) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= tol * (1.0f + fabsf(b[i])))) { /* NaN fails too */
            print_error("element %zu: %g, expected %g\n", i, a[i], b[i]);
            fail();
        }
}

enum { N = 2, C = 5, M = 11, H = 9, W = 10, KS = 3, K = C * KS * KS, P = H * W };
#define NCB ((M + KILN_CONV_TILE_CO - 1) / KILN_CONV_TILE_CO)

/* W [M, C, 3, 3] into [ceil(M/8)][K][8], as emit_nn.c packs it. */
static void pack(const float *w, float *p) {
    memset(p, 0, sizeof(float) * NCB * K * KILN_CONV_TILE_CO);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++)
            p[((m / KILN_CONV_TILE_CO) * K + k) * KILN_CONV_TILE_CO + m % KILN_CONV_TILE_CO] =
                w[m * K + k];
}

static void conv(const float *x, const float *wp, const float *s, const float *b, const float *r,
                 float *scratch, float *y, int64_t task, int64_t n_tasks) {
    if (s)
        kiln_conv_scaled_f32(N, 1, C, M, 1, H, W, 1, H, W, 1, KS, KS, 1, 1, 1, 1, 1, 1, 0, 1, 1, x,
                             wp, s, b, r, KILN_EPI_SILU, 0, 0, scratch, y, task, n_tasks);
    else
        kiln_conv_f32(N, 1, C, M, 1, H, W, 1, H, W, 1, KS, KS, 1, 1, 1, 1, 1, 1, 0, 1, 1, x, wp, b,
                      r, KILN_EPI_SILU, 0, 0, scratch, y, task, n_tasks);
}

static void test_scaled_conv_is_conv_of_the_scaled_input(void **state) {
    (void)state;
    unsigned seed = 7;
    static float x[N * C * P], xs[N * C * P], w[M * K], wp[NCB * K * KILN_CONV_TILE_CO];
    static float s[N * C], b[M], r[N * M * P], want[N * M * P], got[N * M * P], two[N * M * P];
    for (int i = 0; i < N * C * P; i++)
        x[i] = frand(&seed);
    for (int i = 0; i < M * K; i++)
        w[i] = frand(&seed);
    for (int i = 0; i < N * C; i++)
        s[i] = frand(&seed) + 1.5f;
    for (int i = 0; i < M; i++)
        b[i] = frand(&seed);
    for (int i = 0; i < N * M * P; i++)
        r[i] = frand(&seed);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < P; p++)
                xs[(n * C + c) * P + p] = x[(n * C + c) * P + p] * s[n * C + c];
    pack(w, wp);
    int64_t floats =
        kiln_conv_scaled_scratch_floats(1, C, M, KS * KS) + kiln_conv_scratch_floats(K, P);
    float *scratch = malloc(sizeof(float) * (size_t)floats);
    assert_non_null(scratch);
    conv(xs, wp, NULL, b, r, scratch, want, 0, 1);
    conv(x, wp, s, b, r, scratch, got, 0, 1);
    assert_close(got, want, N * M * P, 1e-5f);
    /* Two tasks, one after the other, write what one task writes, bitwise. */
    conv(x, wp, s, b, r, scratch, two, 0, 2);
    conv(x, wp, s, b, r, scratch, two, 1, 2);
    assert_memory_equal(two, got, sizeof got);
    free(scratch);
}

static void test_global_average_pool_sums_long_rows_closely(void **state) {
    (void)state;
    unsigned seed = 3;
    int64_t sizes[] = {1, 31, 32, 33, 100, 12549};
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        int64_t S = sizes[t];
        float *x = malloc(sizeof(float) * (size_t)(2 * S)), y[2], want[2];
        assert_non_null(x);
        for (int64_t i = 0; i < 2 * S; i++)
            x[i] = frand(&seed) + 0.25f;
        for (int c = 0; c < 2; c++) {
            double sum = 0;
            for (int64_t i = 0; i < S; i++)
                sum += x[c * S + i];
            want[c] = (float)(sum / (double)S);
        }
        kiln_global_pool_f32(KILN_GLOBAL_AVG, 2, S, x, y);
        assert_close(y, want, 2, 1e-5f);
        free(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scaled_conv_is_conv_of_the_scaled_input),
        cmocka_unit_test(test_global_average_pool_sums_long_rows_closely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
