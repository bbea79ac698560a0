/* test_nn_kernels.c: the nn kernels (runtime/kernels/nn.c) against naive
 * loops written straight from the ONNX definitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dwconv.h"
#include "nn.h"

static float frand(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)(*s % 2001) / 1000.0f - 1.0f;
}

static float *rand_buf(size_t n, uint32_t seed) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = frand(&seed);
    return p;
}

static void assert_close(const float *a, const float *b, size_t n, float tol) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= tol * (1.0f + fabsf(b[i])))) { /* NaN fails too */
            print_error("element %zu: %g, expected %g\n", i, a[i], b[i]);
            fail();
        }
}

/* 2-D grouped convolution from the definition; W [G*M, C, KH, KW]. */
static void naive_conv(int N, int G, int C, int M, int IH, int IW, int OH, int OW, int KH, int KW,
                       int S, int T, int P, const float *x, const float *w, const float *b,
                       float lo, float hi, float *y) {
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++)
            for (int m = 0; m < M; m++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        float s = b ? b[g * M + m] : 0.0f;
                        for (int c = 0; c < C; c++)
                            for (int kh = 0; kh < KH; kh++)
                                for (int kw = 0; kw < KW; kw++) {
                                    int ih = oh * S + kh * T - P, iw = ow * S + kw * T - P;
                                    if (ih < 0 || ih >= IH || iw < 0 || iw >= IW) continue;
                                    s += x[(((n * G + g) * C + c) * IH + ih) * IW + iw] *
                                         w[(((g * M + m) * C + c) * KH + kh) * KW + kw];
                                }
                        s = s < lo ? lo : s > hi ? hi : s;
                        y[(((n * G + g) * M + m) * OH + oh) * OW + ow] = s;
                    }
}

/* The packing codegen does (compiler/codegen/emit_nn.c). */
static float *pack(const float *w, int G, int M, int K) {
    int n_cb = (M + KILN_CONV_TILE_CO - 1) / KILN_CONV_TILE_CO;
    float *p = calloc((size_t)(G * n_cb * K * KILN_CONV_TILE_CO), sizeof(float));
    for (int g = 0; g < G; g++)
        for (int m = 0; m < M; m++)
            for (int k = 0; k < K; k++)
                p[((g * n_cb + m / 8) * K + k) * 8 + m % 8] = w[(g * M + m) * K + k];
    return p;
}

static void check_conv(int N, int G, int C, int M, int IH, int IW, int KH, int KW, int S, int T,
                       int P, int with_bias, float lo, float hi) {
    int OH = (IH + 2 * P - (KH - 1) * T - 1) / S + 1, OW = (IW + 2 * P - (KW - 1) * T - 1) / S + 1;
    int K = C * KH * KW;
    float *x = rand_buf((size_t)(N * G * C * IH * IW), 1);
    float *w = rand_buf((size_t)(G * M * K), 2);
    float *b = with_bias ? rand_buf((size_t)(G * M), 3) : NULL;
    size_t ny = (size_t)(N * G * M * OH * OW);
    float *want = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
    naive_conv(N, G, C, M, IH, IW, OH, OW, KH, KW, S, T, P, x, w, b, lo, hi, want);
    float *wp = pack(w, G, M, K);
    float *col = malloc((size_t)kiln_conv_scratch_floats(K, OH * OW) * sizeof(float));
    int epi = isinf(lo) && isinf(hi) ? KILN_EPI_NONE : KILN_EPI_CLAMP;
    kiln_conv_f32(N, G, C, M, 1, IH, IW, 1, OH, OW, 1, KH, KW, 1, S, S, 1, T, T, 0, P, P, x, wp, b,
                  NULL, epi, lo, hi, col, got, 0, 1);
    assert_close(got, want, ny, 1e-4f);
    free(x), free(w), free(b), free(want), free(got), free(wp), free(col);
}

static void test_conv_matches_the_definition_for_3x3_with_pads_and_bias(void **state) {
    (void)state;
    check_conv(2, 1, 5, 19, 13, 11, 3, 3, 1, 1, 1, 1, -INFINITY, INFINITY);
}

static void test_conv_matches_the_definition_with_strides_dilations_and_groups(void **state) {
    (void)state;
    check_conv(1, 3, 4, 10, 17, 15, 3, 2, 2, 2, 2, 0, -INFINITY, INFINITY);
}

static void test_conv_covers_wide_and_narrow_pixel_tiles(void **state) {
    (void)state;
    /* 1x1 over 10x10 = 100 pixels: two 48-pixel tiles and a 4-pixel tail. */
    check_conv(1, 1, 7, 16, 10, 10, 1, 1, 1, 1, 0, 1, -INFINITY, INFINITY);
}

static void test_conv_clamps_to_the_epilogue_bounds(void **state) {
    (void)state;
    check_conv(1, 1, 3, 8, 9, 9, 3, 3, 1, 1, 1, 1, 0.0f, 0.5f);
}

/* Every split (task, n_tasks), run one task after the other, gives the
 * whole: y = relu(conv + b + r), r the residual. */
static void check_conv_split(int N, int C, int M, int IH, int IW, int KH, int S, int P) {
    int OH = (IH + 2 * P - KH) / S + 1, OW = (IW + 2 * P - KH) / S + 1, K = C * KH * KH;
    float *x = rand_buf((size_t)(N * C * IH * IW), 7), *w = rand_buf((size_t)(M * K), 8);
    float *b = rand_buf((size_t)M, 9);
    size_t ny = (size_t)(N * M * OH * OW);
    float *r = rand_buf(ny, 10);
    float *want = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
    naive_conv(N, 1, C, M, IH, IW, OH, OW, KH, KH, S, 1, P, x, w, b, -INFINITY, INFINITY, want);
    for (size_t i = 0; i < ny; i++)
        want[i] = want[i] + r[i] > 0.0f ? want[i] + r[i] : 0.0f;
    float *wp = pack(w, 1, M, K);
    float *col = malloc((size_t)kiln_conv_scratch_floats(K, OH * OW) * sizeof(float));
    float *one = malloc(ny * sizeof(float));
    for (int n_tasks = 1; n_tasks <= KILN_CONV_MAX_TASKS + 2; n_tasks++) {
        for (size_t i = 0; i < ny; i++)
            got[i] = NAN;
        for (int t = 0; t < n_tasks; t++)
            kiln_conv_f32(N, 1, C, M, 1, IH, IW, 1, OH, OW, 1, KH, KH, 1, S, S, 1, 1, 1, 0, P, P, x,
                          wp, b, r, KILN_EPI_RELU, 0.0f, 0.0f, col, got, t, n_tasks);
        assert_close(got, want, ny, 1e-4f);
        if (n_tasks == 1)
            memcpy(one, got, ny * sizeof(float));
        else /* the split changes no sum: bit for bit the one-task result */
            assert_memory_equal(got, one, ny * sizeof(float));
    }
    free(x), free(w), free(b), free(r), free(want), free(got), free(wp), free(col), free(one);
}

static void test_conv_tasks_split_pixels_and_channels_and_add_the_residual(void **state) {
    (void)state;
    check_conv_split(2, 5, 20, 30, 31, 3, 1, 1);   /* several pixel blocks per image */
    check_conv_split(1, 64, 40, 7, 7, 3, 1, 1);    /* one pixel block: channel chunks */
    check_conv_split(1, 9, 3, 12, 12, 1, 1, 0);    /* 1x1 read in place, one channel block */
    check_conv_split(1, 16, 32, 16, 16, 3, 1, 1);  /* one block narrowed into four */
    check_conv_split(1, 8, 16, 58, 58, 3, 1, 1);   /* 4 blocks, 3 tasks: narrowed to 6 */
    check_conv_split(1, 24, 21, 14, 14, 3, 1, 1);  /* P = 196: a 4-pixel tail */
    check_conv_split(1, 300, 9, 3, 17, 3, 1, 1);   /* P = 51, K blocks: a 3-pixel tail */
    check_conv_split(1, 3, 16, 111, 113, 3, 2, 1); /* one image's blocks wider than nb */
    check_conv_split(1, 96, 40, 28, 28, 3, 2, 1);  /* P = 196, stride 2: channel chunks */
}

static void test_depthwise_conv_matches_the_definition(void **state) {
    (void)state;
    int N = 2, G = 6, IH = 11, IW = 9, K = 3, S = 2, P = 1;
    int OH = (IH + 2 * P - K) / S + 1, OW = (IW + 2 * P - K) / S + 1;
    float *x = rand_buf((size_t)(N * G * IH * IW), 4), *w = rand_buf((size_t)(G * K * K), 5);
    float *b = rand_buf((size_t)G, 6);
    size_t ny = (size_t)(N * G * OH * OW);
    float *want = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
    naive_conv(N, G, 1, 1, IH, IW, OH, OW, K, K, S, 1, P, x, w, b, 0.0f, 6.0f, want);
    kiln_conv_dw_f32(N, G, 1, 1, IH, IW, 1, OH, OW, 1, K, K, 1, S, S, 1, 1, 1, 0, P, P, x, w, b,
                     KILN_EPI_CLAMP, 0.0f, 6.0f, got, 0, 1);
    assert_close(got, want, ny, 1e-5f);
    free(x), free(w), free(b), free(want), free(got);
}

static void test_conv_transpose_is_the_adjoint_of_conv(void **state) {
    (void)state;
    /* <conv(x), y> == <x, conv_transpose(y)> for the same weights. */
    int C = 3, M = 4, IH = 7, IW = 6, K = 3, S = 2, P = 1;
    int OH = (IH + 2 * P - K) / S + 1, OW = (IW + 2 * P - K) / S + 1;
    float *x = rand_buf((size_t)(C * IH * IW), 7), *w = rand_buf((size_t)(M * C * K * K), 8);
    float *y = rand_buf((size_t)(M * OH * OW), 9);
    float *cx = malloc((size_t)(M * OH * OW) * sizeof(float));
    naive_conv(1, 1, C, M, IH, IW, OH, OW, K, K, S, 1, P, x, w, NULL, -INFINITY, INFINITY, cx);
    /* ConvTranspose weights are [in=M, out=C, k, k]: the same tensor, read
     * with the channel roles swapped. */
    float *wt = malloc((size_t)(M * C * K * K) * sizeof(float));
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++)
            memcpy(wt + (m * C + c) * K * K, w + (m * C + c) * K * K, sizeof(float) * K * K);
    float *ty = malloc((size_t)(C * IH * IW) * sizeof(float));
    kiln_conv_transpose_f32(1, 1, M, C, 1, OH, OW, 1, IH, IW, 1, K, K, 1, S, S, 1, 1, 1, 0, P, P, y,
                            wt, NULL, ty);
    double a = 0, b = 0;
    for (int i = 0; i < M * OH * OW; i++)
        a += (double)cx[i] * y[i];
    for (int i = 0; i < C * IH * IW; i++)
        b += (double)x[i] * ty[i];
    assert_true(fabs(a - b) < 1e-3 * (1 + fabs(a)));
    free(x), free(w), free(y), free(cx), free(wt), free(ty);
}

/* Without indices the interior columns take a vectorised path; its values
 * must be those of the path with indices (one output at a time), bit for
 * bit, NaN included, over kernels, strides, dilations, pads and ceil-mode
 * output sizes that put windows past the input's end. */
static void test_maxpool_interior_path_matches_the_indexed_one(void **state) {
    (void)state;
    const int IH = 9, IW = 13;
    float *x = rand_buf((size_t)(2 * IH * IW), 11);
    x[3 * IW + 5] = NAN;
    x[IH * IW + 7] = NAN;
    for (int k = 1; k <= 4; k++)
        for (int s = 1; s <= 3; s++)
            for (int t = 1; t <= 2; t++)
                for (int p = 0; p < k && p <= 2; p++) {
                    int span = t * (k - 1) + 1;
                    if (IW + 2 * p < span || IH + 2 * p < span) continue;
                    /* ceil mode: one more output when the stride leaves a rest */
                    int OH = (IH + 2 * p - span + s - 1) / s + 1;
                    int OW = (IW + 2 * p - span + s - 1) / s + 1;
                    size_t ny = (size_t)(2 * OH * OW);
                    float *got = malloc(ny * sizeof(float)), *want = malloc(ny * sizeof(float));
                    int64_t *ind = malloc(ny * sizeof(int64_t));
                    kiln_maxpool_f32(2, 1, IH, IW, 1, OH, OW, 1, k, k, 1, s, s, 1, t, t, 0, p, p, x,
                                     got, NULL, 0);
                    kiln_maxpool_f32(2, 1, IH, IW, 1, OH, OW, 1, k, k, 1, s, s, 1, t, t, 0, p, p, x,
                                     want, ind, 0);
                    assert_memory_equal(got, want, ny * sizeof(float));
                    free(got), free(want), free(ind);
                }
    free(x);
}

static void test_maxpool_skips_pads_and_reports_row_or_column_major_indices(void **state) {
    (void)state;
    /* 1x1x3x4, 2x2 windows, stride 2, pad 1: outputs 2x3. */
    float x[12] = {1, 9, 2, 3, 4, 5, 6, 7, -1, -2, 8, -3};
    float y[6];
    int64_t ind[6];
    kiln_maxpool_f32(1, 1, 3, 4, 1, 2, 3, 1, 2, 2, 1, 2, 2, 1, 1, 1, 0, 1, 1, x, y, ind, 0);
    const float want[6] = {1, 9, 3, 4, 8, 7};
    const int64_t want_ind[6] = {0, 1, 3, 4, 10, 7};
    for (int i = 0; i < 6; i++) {
        assert_true(y[i] == want[i]);
        assert_int_equal(ind[i], want_ind[i]);
    }
    kiln_maxpool_f32(1, 1, 3, 4, 1, 2, 3, 1, 2, 2, 1, 2, 2, 1, 1, 1, 0, 1, 1, x, y, ind, 1);
    /* (h, w) -> w * 3 + h */
    const int64_t col_ind[6] = {0, 3, 9, 1, 8, 10};
    for (int i = 0; i < 6; i++)
        assert_int_equal(ind[i], col_ind[i]);
}

static void test_avgpool_divides_by_the_valid_or_padded_window(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4}, y[4];
    /* 1x1x2x2, 2x2 windows, stride 1, pads 1 before and 0 after: 2x2. */
    kiln_avgpool_f32(1, 1, 2, 2, 1, 2, 2, 1, 2, 2, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, x, y);
    const float excl[4] = {1, 1.5f, 2, 2.5f};
    assert_close(y, excl, 4, 1e-6f);
    kiln_avgpool_f32(1, 1, 2, 2, 1, 2, 2, 1, 2, 2, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, x, y);
    const float incl[4] = {0.25f, 0.75f, 1, 2.5f};
    assert_close(y, incl, 4, 1e-6f);
}

static void test_batchnorm_and_instancenorm_normalise_per_channel(void **state) {
    (void)state;
    float x[8] = {1, 2, 3, 4, 10, 20, 30, 40}, y[8];
    float scale[2] = {2, 1}, bias[2] = {1, 0}, mean[2] = {2.5f, 0}, var[2] = {1.25f, 100};
    kiln_batchnorm_f32(1, 2, 4, x, scale, bias, mean, var, 0.0f, y);
    float want[8];
    for (int i = 0; i < 4; i++) {
        want[i] = (x[i] - 2.5f) / sqrtf(1.25f) * 2 + 1;
        want[4 + i] = x[4 + i] / 10.0f;
    }
    assert_close(y, want, 8, 1e-5f);
    /* Instance statistics of channel 0 are the batchnorm's above. */
    kiln_instancenorm_f32(1, 2, 4, x, scale, bias, 0.0f, y);
    assert_close(y, want, 4, 1e-5f);
}

static void test_global_pools_and_lrn(void **state) {
    (void)state;
    float x[6] = {1, 5, 3, -1, -7, 2}, y[2];
    kiln_global_pool_f32(KILN_GLOBAL_AVG, 2, 3, x, y);
    assert_close(y, (float[]){3, -2}, 2, 1e-6f);
    kiln_global_pool_f32(KILN_GLOBAL_MAX, 2, 3, x, y);
    assert_close(y, (float[]){5, 2}, 2, 1e-6f);
    /* size 3 over 2 channels of one pixel each: both see both. */
    float l[2] = {1, 2}, ly[2];
    kiln_lrn_f32(1, 2, 1, 3, 3.0f, 0.5f, 1.0f, l, ly);
    float d = sqrtf(1.0f + 1.0f * 5.0f);
    assert_close(ly, (float[]){1 / d, 2 / d}, 2, 1e-6f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_matches_the_definition_for_3x3_with_pads_and_bias),
        cmocka_unit_test(test_conv_matches_the_definition_with_strides_dilations_and_groups),
        cmocka_unit_test(test_conv_covers_wide_and_narrow_pixel_tiles),
        cmocka_unit_test(test_conv_clamps_to_the_epilogue_bounds),
        cmocka_unit_test(test_conv_tasks_split_pixels_and_channels_and_add_the_residual),
        cmocka_unit_test(test_depthwise_conv_matches_the_definition),
        cmocka_unit_test(test_conv_transpose_is_the_adjoint_of_conv),
        cmocka_unit_test(test_maxpool_skips_pads_and_reports_row_or_column_major_indices),
        cmocka_unit_test(test_maxpool_interior_path_matches_the_indexed_one),
        cmocka_unit_test(test_avgpool_divides_by_the_valid_or_padded_window),
        cmocka_unit_test(test_batchnorm_and_instancenorm_normalise_per_channel),
        cmocka_unit_test(test_global_pools_and_lrn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
