/* test_quant_kernels.c: the quantisation and misc kernels
 * (runtime/kernels/quant.h, misc.h) against hand-worked values, and
 * Einsum's equation parser (compiler/ir/einsum.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "einsum.h"
#include "misc.h"
#include "quant.h"

static void test_quantize_rounds_half_to_even_and_saturates(void **state) {
    (void)state;
    float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.0f, -1000.0f, NAN};
    float scale = 1.0f;
    uint8_t zp = 10, y[8];
    kiln_quantize_u8(1, 1, 8, x, &scale, &zp, 0, y);
    uint8_t want[] = {10, 12, 12, 10, 8, 255, 0, 10}; /* NaN: the zero point */
    assert_memory_equal(y, want, sizeof want);
    int8_t yi[8], zi = -3;
    kiln_quantize_i8(1, 1, 8, x, &scale, &zi, 0, yi);
    int8_t wanti[] = {-3, -1, -1, -3, -5, 127, -128, -3};
    assert_memory_equal(yi, wanti, sizeof wanti);
}

static void test_quantize_and_dequantize_per_axis(void **state) {
    (void)state;
    /* [2, 2, 2]: axis 1 has scales 0.5 and 2, zero points 1 and 3. */
    float x[] = {1, 2, 4, 8, -1, -2, -4, -8}, scale[] = {0.5f, 2.0f}, back[8];
    int8_t zp[] = {1, 3}, y[8];
    kiln_quantize_i8(2, 2, 2, x, scale, zp, 1, y);
    int8_t want[] = {3, 5, 5, 7, -1, -3, 1, -1};
    assert_memory_equal(y, want, sizeof want);
    kiln_dequantize_i8(2, 2, 2, y, scale, zp, 1, back);
    for (int i = 0; i < 8; i++)
        assert_true(back[i] == x[i]);
}

static void test_integer_matmul_subtracts_zero_points_per_row_and_column(void **state) {
    (void)state;
    uint8_t a[] = {1, 2, 3, 4}, azp[] = {1, 2};  /* rows (0, 1) and (1, 2) */
    int8_t b[] = {1, -1, 2, 0}, bzp[] = {0, -1}; /* columns (1, 2) and (0, 1) */
    int32_t y[4];
    float fs[12];
    kiln_matmul_int_u8_i8(1, 2, 2, 2, a, 0, azp, 1, b, 0, bzp, 1, fs, y);
    int32_t want[] = {2, 1, 5, 2};
    assert_memory_equal(y, want, sizeof want);
}

/* Products of 255 x 255 over K = 600 (three float chunks of at most 256)
 * reach 39 million, past float's 2^24: exact only if each chunk is. */
static void test_integer_matmul_is_exact_past_float_precision(void **state) {
    (void)state;
    enum { M = 9, N = 33, K = 600 };
    static uint8_t a[M * K];
    static int8_t b[K * N];
    static int32_t y[M * N];
    static float fs[M * K + K * N + M * N];
    for (int i = 0; i < M * K; i++)
        a[i] = (uint8_t)(i % 7 ? 255 : i % 256);
    for (int i = 0; i < K * N; i++)
        b[i] = (int8_t)(i % 5 ? -128 : i % 256 - 128);
    uint8_t azp = 0;
    int8_t bzp = 127;
    kiln_matmul_int_u8_i8(1, M, N, K, a, 0, &azp, 0, b, 0, &bzp, 0, fs, y);
    for (int m = 0; m < M; m++)
        for (int j = 0; j < N; j++) {
            int64_t want = 0;
            for (int k = 0; k < K; k++)
                want += (int64_t)a[m * K + k] * ((int64_t)b[k * N + j] - 127);
            assert_true(want < -(INT64_C(1) << 24));
            assert_int_equal(y[m * N + j], want);
        }
}

/* A 3x3 convolution over 64 channels (K = 576) with padding, stride 2 and
 * two groups, at the operands' extremes, against a direct sum. */
static void test_integer_conv_is_exact_past_float_precision(void **state) {
    (void)state;
    enum { C = 128, H = 9, W = 11, M = 18, G = 2, OH = 5, OW = 6, KK = C / G * 9 };
    static uint8_t x[C * H * W];
    static int8_t w[M * KK];
    static int32_t y[M * OH * OW], bias[M];
    static float fs[M * KK + KILN_QUANT_KC * KILN_QUANT_PC + M * KILN_QUANT_PC];
    for (int i = 0; i < C * H * W; i++)
        x[i] = (uint8_t)(i % 3 ? 255 : i % 256);
    for (int i = 0; i < M * KK; i++)
        w[i] = (int8_t)(i % 4 ? -128 : i % 256 - 128);
    for (int m = 0; m < M; m++)
        bias[m] = 1000 * m - 7;
    uint8_t xzp = 3;
    int8_t wzp = 127;
    int64_t g[9] = {3, 3, 2, 2, 1, 1, 1, 1, G};
    kiln_conv_int_u8_i8(1, C, H, W, M, OH, OW, g, x, &xzp, w, &wzp, 0, bias, fs, y);
    for (int m = 0; m < M; m++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int64_t want = bias[m];
                int c0 = m / (M / G) * (C / G);
                for (int c = 0; c < C / G; c++)
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++) {
                            int iy = oy * 2 - 1 + i, ix = ox * 2 - 1 + j;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            want += ((int64_t)x[((c0 + c) * H + iy) * W + ix] - 3) *
                                    ((int64_t)w[m * KK + (c * 3 + i) * 3 + j] - 127);
                        }
                assert_int_equal(y[(m * OH + oy) * OW + ox], want);
            }
}

static void test_dynamic_quantize_of_zeros_is_scale_zero(void **state) {
    (void)state;
    float x[3] = {0, 0, 0}, s = -1;
    uint8_t y[3] = {9, 9, 9}, zp = 9;
    kiln_dynamic_quantize_u8(3, x, y, &s, &zp);
    assert_true(s == 0.0f);
    assert_int_equal(zp, 0);
    assert_int_equal(y[0] | y[1] | y[2], 0);
}

static void test_bfloat16_casts_truncate_and_keep_nan(void **state) {
    (void)state;
    float x[] = {1.0f, 1.00390625f * 1.5f, NAN, -INFINITY}, back[4];
    uint16_t b[4];
    kiln_cast_f32_bf16(4, x, b);
    assert_int_equal(b[0], 0x3f80);
    assert_int_equal(b[1], 0x3fc0); /* the low bits are dropped */
    assert_int_equal(b[3], 0xff80);
    kiln_cast_bf16_f32(4, b, back);
    assert_true(back[0] == 1.0f && back[1] == 1.5f && isnan(back[2]) && isinf(back[3]));
}

static void test_det_pivots(void **state) {
    (void)state;
    float x[] = {0, 1, 0, 1, 0, 0, 0, 0, 3}, y; /* a zero pivot: one row swap */
    double scratch[9];
    kiln_det_f32(1, 3, x, scratch, &y);
    assert_true(fabsf(y - -3.0f) < 1e-6f);
}

static void test_einsum_parser_labels_diagonals_ellipses_and_implicit_outputs(void **state) {
    (void)state;
    EinsumSpec sp;
    char err[160];
    int r2[] = {2, 2};
    assert_int_equal(einsum_parse("ij, jk -> ik", 2, r2, &sp, err), 0);
    assert_int_equal(sp.n_labels, 3);
    assert_int_equal(sp.rank[2], 2);
    assert_int_equal(sp.label[2][0], 0);
    assert_int_equal(sp.label[2][1], 2);
    int r3[] = {3};
    assert_int_equal(einsum_parse("bii", 1, r3, &sp, err), 0); /* implicit: 'b' only */
    assert_int_equal(sp.rank[1], 1);
    assert_int_equal(sp.label[0][1], sp.label[0][2]);
    int re[] = {4, 3};
    assert_int_equal(einsum_parse("...ij,...jk", 2, re, &sp, err), 0);
    assert_int_equal(sp.rank[2], 4);     /* implicit: the two ellipsis dims, then i and k */
    assert_int_equal(sp.label[1][0], 1); /* the shorter ellipsis aligns right */
    assert_int_equal(einsum_parse("ij,jk", 1, r2, &sp, err), -1);
    assert_non_null(strstr(err, "terms"));
    assert_int_equal(einsum_parse("ij->iz", 1, r2, &sp, err), -1);
    assert_non_null(strstr(err, "'z' is in no input"));
    assert_int_equal(einsum_parse("i.j", 1, r2, &sp, err), -1);
    assert_int_equal(einsum_parse("ijk", 1, r2, &sp, err), -1);
}

static void test_einsum_kernel_sums_a_trace(void **state) {
    (void)state;
    float x[] = {1, 2, 3, 4}, y = -1;
    int64_t sizes[] = {2};
    int32_t ranks[] = {2, 0}, labels[] = {0, 0};
    const float *ops[] = {x};
    kiln_einsum_f32(1, 1, sizes, ranks, labels, ops, &y);
    assert_true(y == 5.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_rounds_half_to_even_and_saturates),
        cmocka_unit_test(test_quantize_and_dequantize_per_axis),
        cmocka_unit_test(test_integer_matmul_subtracts_zero_points_per_row_and_column),
        cmocka_unit_test(test_integer_matmul_is_exact_past_float_precision),
        cmocka_unit_test(test_integer_conv_is_exact_past_float_precision),
        cmocka_unit_test(test_dynamic_quantize_of_zeros_is_scale_zero),
        cmocka_unit_test(test_bfloat16_casts_truncate_and_keep_nan),
        cmocka_unit_test(test_det_pivots),
        cmocka_unit_test(test_einsum_parser_labels_diagonals_ellipses_and_implicit_outputs),
        cmocka_unit_test(test_einsum_kernel_sums_a_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
