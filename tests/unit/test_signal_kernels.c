/* test_signal_kernels.c: the signal and sampling kernels (runtime/kernels/
 * signal.c), natively compiled: the transforms against a long-double
 * direct DFT at every length 1..70 and the power-of-two ones, padding and
 * cutting to dft_length, and the sampling kernels on hostile coordinates
 * (NaN, infinities, huge values) and bad batch indices, which must give
 * defined answers or a check failure, never a read outside the image. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "signal_kernels.h"

/* y[k] = sum_t x[t] e^{-+2 pi i k t / n} over complex x[n], in long double. */
static void naive_dft(int64_t n, const float *x, int inverse, long double *y) {
    const long double pi = 3.141592653589793238462643383279503L;
    for (int64_t k = 0; k < n; k++) {
        long double sr = 0, si = 0;
        for (int64_t t = 0; t < n; t++) {
            long double a = (inverse ? 2 : -2) * pi * (long double)((k * t) % n) / (long double)n;
            sr += x[2 * t] * cosl(a) - x[2 * t + 1] * sinl(a);
            si += x[2 * t] * sinl(a) + x[2 * t + 1] * cosl(a);
        }
        y[2 * k] = inverse ? sr / n : sr;
        y[2 * k + 1] = inverse ? si / n : si;
    }
}

static void test_dft_matches_a_direct_dft_at_every_length(void **state) {
    (void)state;
    enum { MAXN = 128 };
    float x[2 * MAXN], y[2 * MAXN];
    long double want[2 * MAXN];
    double scratch[KILN_DFT_SCRATCH_DOUBLES(MAXN)];
    static const int extra[] = {128, 96, 127};
    for (int c = 0; c < 70 + 3; c++) {
        int64_t n = c < 70 ? c + 1 : extra[c - 70];
        for (int64_t i = 0; i < 2 * n; i++)
            x[i] = (float)sin(0.37 * (double)i + 0.1 * (double)n) + (float)(i % 3) * 0.25f;
        for (int inverse = 0; inverse < 2; inverse++) {
            kiln_dft_f32(1, n, 1, 2, x, n, n, inverse, y, scratch);
            naive_dft(n, x, inverse, want);
            for (int64_t i = 0; i < 2 * n; i++) {
                long double err = fabsl((long double)y[i] - want[i]);
                if (err > 1e-5L * (1 + fabsl(want[i])) * (inverse ? 1 : sqrt((double)n)))
                    fail_msg("n %lld inverse %d bin %lld: got %g want %Lg", (long long)n, inverse,
                             (long long)i, (double)y[i], want[i]);
            }
        }
    }
}

static void test_dft_pads_and_cuts_to_dft_length_along_a_middle_axis(void **state) {
    (void)state;
    /* x [2 outer, 5 len, 3 inner, 1 real]: each (o, i) line transformed at 8
     * (padded) and at 4 (cut), one-sided (5 and 3 bins). */
    float x[2 * 5 * 3], y[2 * 5 * 3 * 2], line[16];
    double scratch[KILN_DFT_SCRATCH_DOUBLES(8)];
    long double want[16];
    for (int i = 0; i < 30; i++)
        x[i] = (float)(i * 7 % 11) - 5.0f;
    static const int64_t lens[] = {8, 4};
    for (int l = 0; l < 2; l++) {
        int64_t nf = lens[l], nout = nf / 2 + 1;
        kiln_dft_f32(2, 5, 3, 1, x, nf, nout, 0, y, scratch);
        for (int o = 0; o < 2; o++)
            for (int i = 0; i < 3; i++) {
                for (int t = 0; t < nf; t++) {
                    line[2 * t] = t < 5 ? x[(o * 5 + t) * 3 + i] : 0.0f;
                    line[2 * t + 1] = 0;
                }
                naive_dft(nf, line, 0, want);
                for (int k = 0; k < nout; k++)
                    for (int c = 0; c < 2; c++)
                        assert_true(fabsl(y[((o * nout + k) * 3 + i) * 2 + c] - want[2 * k + c]) <
                                    1e-4L);
            }
    }
}

static void test_stft_frames_the_signal_and_applies_the_window(void **state) {
    (void)state;
    float x[20], w[6], y[2 * 4 * 6 * 2], line[12];
    double scratch[KILN_DFT_SCRATCH_DOUBLES(6)];
    long double want[12];
    for (int i = 0; i < 20; i++)
        x[i] = (float)((i * 5) % 9) - 4.0f;
    for (int t = 0; t < 6; t++)
        w[t] = 0.5f + 0.1f * (float)t;
    /* x [2, 10, 1], frames of 6 every 2: (10 - 6) / 2 + 1 = 3 frames, 4 bins. */
    kiln_stft_f32(2, 10, 1, x, 2, w, 6, 3, 4, y, scratch);
    for (int b = 0; b < 2; b++)
        for (int f = 0; f < 3; f++) {
            for (int t = 0; t < 6; t++) {
                line[2 * t] = x[b * 10 + f * 2 + t] * w[t];
                line[2 * t + 1] = 0;
            }
            naive_dft(6, line, 0, want);
            for (int k = 0; k < 4 * 2; k++)
                assert_true(fabsl(y[(b * 3 + f) * 8 + k] - want[k]) < 1e-4L);
        }
}

static void test_grid_sample_hostile_coordinates_stay_inside_the_image(void **state) {
    (void)state;
    /* A 3x4 image; every grid point one of the hostile values. ASan would
     * see a read outside x; the answers must be finite or NaN where NaN. */
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i + 1;
    static const float bad[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 1e10f, -3.0f, 2.5f, 1.0f};
    enum { NB = sizeof bad / sizeof bad[0] };
    float grid[NB * NB * 2], y[NB * NB];
    for (int i = 0; i < NB; i++)
        for (int j = 0; j < NB; j++)
            grid[(i * NB + j) * 2] = bad[i], grid[(i * NB + j) * 2 + 1] = bad[j];
    for (int mode = 0; mode < 3; mode++)
        for (int pad = 0; pad < 3; pad++)
            for (int ac = 0; ac < 2; ac++) {
                kiln_grid_sample_f32(1, 1, 3, 4, NB, NB, mode, pad, ac, x, grid, y);
                for (int i = 0; i < NB; i++)
                    for (int j = 0; j < NB; j++) {
                        float v = y[i * NB + j];
                        int nan_in = isnan(bad[i]) || isnan(bad[j]);
                        if (nan_in) {
                            assert_true(isnan(v));
                            continue;
                        }
                        assert_true(isfinite(v));
                        /* Border and reflection read only pixels (bicubic may
                         * overshoot them a little); zeros gives 0 far out. */
                        if (pad != KILN_GS_ZEROS && mode != KILN_GS_BICUBIC)
                            assert_true(v >= 1.0f - 1e-5f && v <= 12.0f + 1e-5f);
                        if (pad == KILN_GS_ZEROS && (fabsf(bad[i]) > 1e9f || fabsf(bad[j]) > 1e9f))
                            assert_float_equal(v, 0.0f, 0);
                    }
            }
}

static void test_grid_sample_nearest_rounds_half_to_even_and_pads_by_mode(void **state) {
    (void)state;
    /* A 1x4 row [10 20 30 40], align_corners=1: x = (g + 1) / 2 * 3. */
    float x[4] = {10, 20, 30, 40}, y[3];
    /* g = -2/3 -> 0.5 -> 0 (even); g = 0 -> 1.5 -> 2; g = 2 -> 4.5, outside. */
    float grid[6] = {-2.0f / 3.0f, 0, 0, 0, 2, 0};
    kiln_grid_sample_f32(1, 1, 1, 4, 1, 3, KILN_GS_NEAREST, KILN_GS_ZEROS, 1, x, grid, y);
    assert_float_equal(y[0], 10, 0);
    assert_float_equal(y[1], 30, 0);
    assert_float_equal(y[2], 0, 0);
    kiln_grid_sample_f32(1, 1, 1, 4, 1, 3, KILN_GS_NEAREST, KILN_GS_BORDER, 1, x, grid, y);
    assert_float_equal(y[2], 40, 0);
    /* Reflection about 3: 4.5 -> 1.5 -> 2 (even). */
    kiln_grid_sample_f32(1, 1, 1, 4, 1, 3, KILN_GS_NEAREST, KILN_GS_REFLECTION, 1, x, grid, y);
    assert_float_equal(y[2], 30, 0);
}

static void test_roi_align_checks_batch_indices_and_survives_hostile_rois(void **state) {
    (void)state;
    float x[2 * 4 * 4], y[3 * 2 * 2];
    for (int i = 0; i < 32; i++)
        x[i] = (float)i;
    float rois[12] = {0, 0, 3, 3, NAN, 0, 3, 3, -1e30f, -1e30f, 1e30f, 1e30f};
    int64_t bad[3] = {0, 2, 1}, good[3] = {0, 1, 1};
    KilnRunError err = {0};
    assert_int_equal(kiln_roi_align_f32(2, 1, 4, 4, 3, 2, 2, 0, 1.0f, 1, 0, x, rois, bad, y, &err),
                     1);
    assert_int_equal(err.kind, KILN_CHECK_RANGE);
    assert_int_equal(err.value, 2);
    assert_int_equal(err.position, 1);
    assert_int_equal(err.size, 2);
    for (int is_max = 0; is_max < 2; is_max++) {
        assert_int_equal(
            kiln_roi_align_f32(2, 1, 4, 4, 3, 2, 2, 0, 1.0f, 1, is_max, x, rois, good, y, &err), 0);
        for (int i = 0; i < 12; i++)
            assert_true(isfinite(y[i]));
    }
    /* Roi 0, avg, half_pixel, adaptive 2x2 samples a bin: the mean of
     * bilinear samples of x = 4 r + c, which is linear, so x at the mean
     * sample: 1.75 for bin (1, 1); bin (0, 0)'s samples at -0.125 and 0.625
     * clamp to 0 and 0.625, mean 0.3125 (ORT clamps before interpolating). */
    assert_int_equal(kiln_roi_align_f32(2, 1, 4, 4, 1, 2, 2, 0, 1.0f, 1, 0, x, rois, good, y, &err),
                     0);
    assert_true(fabsf(y[0] - 5 * 0.3125f) < 1e-5f);
    assert_true(fabsf(y[3] - 5 * 1.75f) < 1e-5f);
}

static void test_tfidf_counts_skip_grams_through_the_trie(void **state) {
    (void)state;
    /* The trie of unigram 5 (id 0) and bigram (5, 7) (id 1): node 0 --5-->
     * node 1 --7--> node 2. Unigrams count once; the bigram once per skip
     * distance 1..skip+1 at which it occurs (a brute-force count). */
    const int64_t first[3] = {0, 1, 0}, count[3] = {1, 1, 0};
    const int64_t key[2] = {5, 7}, child[2] = {1, 2}, id[2] = {0, 1};
    const int64_t row[6] = {5, 7, 5, 9, 7, 7};
    float y[2];
    for (int64_t skip = 0; skip < 4; skip++) {
        kiln_tfidf(1, 6, 8, row, 1, 2, skip, first, count, key, child, id, 2, 0, NULL, y);
        int uni = 0, bi = 0;
        for (int s = 0; s < 6; s++) {
            uni += row[s] == 5;
            for (int d = 1; d <= skip + 1; d++)
                bi += row[s] == 5 && s + d < 6 && row[s + d] == 7;
        }
        assert_float_equal(y[0], (float)uni, 0);
        assert_float_equal(y[1], (float)bi, 0);
    }
    /* String tokens: vocab sorted, ids by position; "x" matches nothing. */
    const char *vocab[2] = {"b", "d"}, *text[4] = {"b", "d", "x", "b"};
    const int64_t skey[2] = {0, 1};
    int64_t ids[4];
    float w[2] = {2.0f, 3.0f};
    kiln_tfidf_str(1, 4, text, vocab, 2, ids, 1, 2, 0, first, count, skey, child, id, 2, 2, w, y);
    assert_int_equal(ids[2], -1);
    assert_float_equal(y[0], 2 * 2.0f, 0); /* "b" twice, TFIDF weight 2 */
    assert_float_equal(y[1], 1 * 3.0f, 0); /* ("b", "d") once */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dft_matches_a_direct_dft_at_every_length),
        cmocka_unit_test(test_dft_pads_and_cuts_to_dft_length_along_a_middle_axis),
        cmocka_unit_test(test_stft_frames_the_signal_and_applies_the_window),
        cmocka_unit_test(test_grid_sample_hostile_coordinates_stay_inside_the_image),
        cmocka_unit_test(test_grid_sample_nearest_rounds_half_to_even_and_pads_by_mode),
        cmocka_unit_test(test_roi_align_checks_batch_indices_and_survives_hostile_rois),
        cmocka_unit_test(test_tfidf_counts_skip_grams_through_the_trie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
