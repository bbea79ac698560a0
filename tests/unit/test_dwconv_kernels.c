/* test_dwconv_kernels.c: the depthwise convolution kernel
 * (runtime/kernels/dwconv.c) against a naive loop written from the ONNX
 * definition, over every geometry case its fast paths split on (vector
 * widths, strides 1, 2 and 3, pads before and after, dilation, rows too
 * short for a vector, 1-D and 3-D data, channel multipliers, batches),
 * every epilogue (each computed from its formula in double here), and
 * splits into tasks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dwconv.h"

static float frand(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)(*s % 4001) / 1000.0f - 2.0f;
}

static float *rand_buf(size_t n, uint32_t seed) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = frand(&seed);
    return p;
}

/* The epilogues from their definitions (kiln_kernel_abi.h), in double. */
static double epilogue(int kind, double a, double b, double v) {
    switch (kind) {
    case KILN_EPI_RELU:
        return v > 0 ? v : 0;
    case KILN_EPI_SIGMOID:
        return 1 / (1 + exp(-v));
    case KILN_EPI_TANH:
        return tanh(v);
    case KILN_EPI_CLAMP:
        return fmin(fmax(v, a), b);
    case KILN_EPI_LEAKY_RELU:
        return v < 0 ? a * v : v;
    case KILN_EPI_HARDSIGMOID:
        return fmax(0, fmin(1, a * v + b));
    case KILN_EPI_HARDSWISH:
        return v * fmax(0, fmin(1, v / 6 + 0.5));
    case KILN_EPI_SILU:
        return v / (1 + exp(-v));
    case KILN_EPI_GELU:
        return v / 2 * (1 + erf(v / sqrt(2.0)));
    case KILN_EPI_GELU_TANH:
        return v / 2 * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    default:
        return v;
    }
}

/* One case: sizes as (D, H, W) triples; pads before P and after E. */
typedef struct Case {
    int N, G, M;
    int I[3], K[3], S[3], T[3], P[3], E[3];
    int epi;
    float a, b;
    int n_tasks;
} Case;

static void check(const Case *c) {
    int O[3];
    for (int i = 0; i < 3; i++)
        O[i] = (c->I[i] + c->P[i] + c->E[i] - c->T[i] * (c->K[i] - 1) - 1) / c->S[i] + 1;
    int IP = c->I[0] * c->I[1] * c->I[2], OP = O[0] * O[1] * O[2], KS = c->K[0] * c->K[1] * c->K[2];
    int C = c->G * c->M;
    size_t nx = (size_t)(c->N * c->G * IP), ny = (size_t)(c->N * C * OP);
    float *x = rand_buf(nx, 11), *w = rand_buf((size_t)(C * KS), 12);
    float *bias = rand_buf((size_t)C, 13);
    float *got = malloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++)
        got[i] = NAN;
    for (int t = 0; t < c->n_tasks; t++)
        kiln_conv_dw_f32(c->N, c->G, c->M, c->I[0], c->I[1], c->I[2], O[0], O[1], O[2], c->K[0],
                         c->K[1], c->K[2], c->S[0], c->S[1], c->S[2], c->T[0], c->T[1], c->T[2],
                         c->P[0], c->P[1], c->P[2], x, w, bias, c->epi, c->a, c->b, got, t,
                         c->n_tasks);
    for (int n = 0; n < c->N; n++)
        for (int oc = 0; oc < C; oc++)
            for (int od = 0; od < O[0]; od++)
                for (int oh = 0; oh < O[1]; oh++)
                    for (int ow = 0; ow < O[2]; ow++) {
                        const float *xc = x + (size_t)(n * c->G + oc / c->M) * IP;
                        double s = bias[oc];
                        for (int kd = 0; kd < c->K[0]; kd++)
                            for (int kh = 0; kh < c->K[1]; kh++)
                                for (int kw = 0; kw < c->K[2]; kw++) {
                                    int id = od * c->S[0] - c->P[0] + kd * c->T[0];
                                    int ih = oh * c->S[1] - c->P[1] + kh * c->T[1];
                                    int iw = ow * c->S[2] - c->P[2] + kw * c->T[2];
                                    if (id < 0 || id >= c->I[0] || ih < 0 || ih >= c->I[1] ||
                                        iw < 0 || iw >= c->I[2])
                                        continue;
                                    s += (double)w[oc * KS + (kd * c->K[1] + kh) * c->K[2] + kw] *
                                         xc[(id * c->I[1] + ih) * c->I[2] + iw];
                                }
                        double want = epilogue(c->epi, c->a, c->b, s);
                        size_t at = (size_t)((n * C + oc) * OP + (od * O[1] + oh) * O[2] + ow);
                        if (!(fabs(got[at] - want) <= 1e-5 + 1e-4 * fabs(want))) {
                            print_error("n=%d c=%d (%d,%d,%d): %g, expected %g\n", n, oc, od, oh,
                                        ow, got[at], want);
                            fail();
                        }
                    }
    free(x), free(w), free(bias), free(got);
}

/* 2-D cases: N, G, M, IH, IW, K, S, T, pads (top, left, bottom, right). */
static Case case2d(int N, int G, int M, int IH, int IW, int K, int S, int T, int pt, int pl, int pb,
                   int pr) {
    Case c = {N,         G,           M,           {1, IH, IW},   {1, K, K}, {1, S, S},
              {1, T, T}, {0, pt, pl}, {0, pb, pr}, KILN_EPI_NONE, 0,         0,
              1};
    return c;
}

static void test_dwconv_3x3_and_5x5_at_strides_1_and_2_match_the_definition(void **state) {
    (void)state;
    for (int k = 3; k <= 5; k += 2)
        for (int s = 1; s <= 2; s++)
            for (int iw = 5; iw <= 40; iw += 7) {
                Case c = case2d(1, 3, 1, 9, iw, k, s, 1, k / 2, k / 2, k / 2, k / 2);
                check(&c);
            }
}

static void test_dwconv_takes_asymmetric_pads_no_pads_and_large_pads(void **state) {
    (void)state;
    Case a = case2d(1, 2, 1, 12, 37, 3, 2, 1, 0, 0, 1, 1); /* TF "SAME" at stride 2 */
    Case b = case2d(1, 2, 1, 12, 37, 3, 1, 1, 0, 0, 0, 0);
    Case c = case2d(1, 2, 1, 6, 20, 5, 1, 1, 4, 3, 0, 5);
    Case d = case2d(1, 2, 1, 3, 3, 5, 1, 1, 2, 2, 2, 2); /* the window is wider than the row */
    check(&a), check(&b), check(&c), check(&d);
}

static void test_dwconv_takes_dilation_and_other_strides(void **state) {
    (void)state;
    Case a = case2d(1, 2, 1, 15, 41, 3, 1, 2, 2, 2, 2, 2);
    Case b = case2d(1, 2, 1, 15, 41, 3, 3, 1, 1, 1, 1, 1);
    Case c = case2d(1, 2, 1, 15, 50, 5, 2, 3, 6, 6, 6, 6);
    check(&a), check(&b), check(&c);
}

static void test_dwconv_takes_a_channel_multiplier_and_batches(void **state) {
    (void)state;
    Case a = case2d(3, 4, 3, 10, 23, 3, 1, 1, 1, 1, 1, 1);
    Case b = case2d(2, 1, 5, 10, 23, 3, 2, 1, 1, 1, 1, 1); /* one group */
    check(&a), check(&b);
}

static void test_dwconv_takes_1d_and_3d_data(void **state) {
    (void)state;
    Case a = {2,         3,         2,         {1, 1, 40}, {1, 1, 5},
              {1, 1, 2}, {1, 1, 1}, {0, 0, 2}, {0, 0, 1},  KILN_EPI_NONE,
              0,         0,         1};
    Case b = {1,         3,         1,         {5, 6, 19}, {3, 3, 3},
              {2, 1, 1}, {1, 2, 1}, {1, 1, 1}, {1, 2, 0},  KILN_EPI_NONE,
              0,         0,         1};
    check(&a), check(&b);
}

static void test_dwconv_applies_every_epilogue(void **state) {
    (void)state;
    const struct {
        int kind;
        float a, b;
    } epis[] = {{KILN_EPI_NONE, 0, 0},          {KILN_EPI_RELU, 0, 0},
                {KILN_EPI_SIGMOID, 0, 0},       {KILN_EPI_TANH, 0, 0},
                {KILN_EPI_CLAMP, 0.0f, 6.0f},   {KILN_EPI_CLAMP, -0.5f, 0.25f},
                {KILN_EPI_LEAKY_RELU, 0.1f, 0}, {KILN_EPI_HARDSIGMOID, 0.2f, 0.5f},
                {KILN_EPI_HARDSWISH, 0, 0},     {KILN_EPI_SILU, 0, 0},
                {KILN_EPI_GELU, 0, 0},          {KILN_EPI_GELU_TANH, 0, 0}};
    for (size_t i = 0; i < sizeof epis / sizeof *epis; i++) {
        Case c = case2d(2, 3, 1, 9, 21, 3, 1, 1, 1, 1, 1, 1);
        c.epi = epis[i].kind, c.a = epis[i].a, c.b = epis[i].b;
        check(&c);
    }
}

static void test_dwconv_split_into_tasks_covers_every_plane_once(void **state) {
    (void)state;
    for (int t = 2; t <= 7; t += 5) {
        Case c = case2d(2, 5, 1, 8, 17, 3, 2, 1, 1, 1, 1, 1);
        c.n_tasks = t;
        check(&c);
    }
}

static void test_dwconv_small_planes_match_the_definition(void **state) {
    (void)state;
    /* Outputs up to 32 wide take the padded-plane path: sides 1, 2, 7, 14,
     * 15 (rows in fours and the rest one by one), 3x3 and 5x5, strides 1
     * to 3, dilation 2, a multiplier, an epilogue. */
    const int sides[] = {1, 2, 7, 14, 15};
    for (size_t i = 0; i < sizeof sides / sizeof *sides; i++)
        for (int k = 3; k <= 5; k += 2)
            for (int s = 1; s <= 3; s++) {
                int n = sides[i], p = k / 2;
                Case c = case2d(2, 3, 2, n, n, k, s, 1, p, p, p, p);
                c.epi = KILN_EPI_SILU;
                check(&c);
                Case d = case2d(1, 2, 1, n, n + 3, k, s, 2, 2 * p, p, 2 * p, 2 * p);
                check(&d);
            }
    /* Too tall for the buffer whole (2000 rows of 10): in bands. */
    Case e = case2d(1, 2, 1, 2000, 10, 3, 1, 1, 1, 1, 1, 1);
    check(&e);
}

static void test_dwconv_wide_stride_2_planes_and_bands_match_the_definition(void **state) {
    (void)state;
    /* Stride 2 with 5-tap rows, outputs 33 to 128 wide: the deinterleaved
     * padded path, in bands of rows (the 112-wide input of 56 outputs does
     * not fit the buffer whole); odd and even left pads (which half an
     * input column lands in), dilation 2, 7x7, inputs whose width is not a
     * multiple of the copy's 32 and 8, a last band shorter than 4 rows. */
    const int widths[] = {66, 112, 150, 255};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        int n = widths[i];
        Case c = case2d(1, 2, 1, 23, n, 5, 2, 1, 2, 2, 2, 2);
        c.epi = KILN_EPI_SILU;
        check(&c);
        Case d = case2d(1, 2, 1, 19, n, 5, 2, 1, 1, 3, 2, 1);
        check(&d);
        Case e = case2d(1, 1, 2, 30, n, 5, 2, 2, 4, 4, 4, 4);
        check(&e);
        Case f = case2d(1, 2, 1, 17, n, 7, 2, 1, 3, 3, 3, 3);
        check(&f);
    }
    /* Planes taller than the buffer: bands of 4k rows, the last four rows
     * of each band overlapping the ones before, at strides 1 and 2. */
    const int tall[] = {130, 131, 133};
    for (size_t i = 0; i < sizeof tall / sizeof *tall; i++) {
        Case c = case2d(1, 2, 1, tall[i], 30, 3, 1, 1, 1, 1, 1, 1);
        check(&c);
        Case d = case2d(1, 2, 1, tall[i], 60, 5, 2, 1, 2, 2, 2, 2);
        check(&d);
    }
    /* Split into tasks: every plane once. */
    Case t = case2d(2, 5, 1, 40, 112, 5, 2, 1, 2, 2, 2, 2);
    t.n_tasks = 3;
    check(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dwconv_3x3_and_5x5_at_strides_1_and_2_match_the_definition),
        cmocka_unit_test(test_dwconv_takes_asymmetric_pads_no_pads_and_large_pads),
        cmocka_unit_test(test_dwconv_takes_dilation_and_other_strides),
        cmocka_unit_test(test_dwconv_takes_a_channel_multiplier_and_batches),
        cmocka_unit_test(test_dwconv_takes_1d_and_3d_data),
        cmocka_unit_test(test_dwconv_applies_every_epilogue),
        cmocka_unit_test(test_dwconv_split_into_tasks_covers_every_plane_once),
        cmocka_unit_test(test_dwconv_small_planes_match_the_definition),
        cmocka_unit_test(test_dwconv_wide_stride_2_planes_and_bands_match_the_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
