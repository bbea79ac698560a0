/* test_wino_kernels.c: the Winograd F(2x2, 3x3) and F(4x4, 3x3)
 * convolutions (kernels/wino.c) against a direct sum in double, on shapes that reach
 * each of its paths: odd sizes (a last tile half outside), pads 0, 1, 2
 * and uneven ones, output channels past a whole block of 8, groups, two
 * images, an image wider than a block (column chunks), many input
 * channels (blocks of 16 tiles), a residual and each kind of epilogue; and
 * the parts of every split (n_tasks 2, 3, 4, 8, run one after another)
 * against one task, bitwise. The weights are transformed as emit_nn.c
 * does (wino.h gives the layout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kmath.h"
#include "wino.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct Case {
    int64_t N, G, C, M, IH, IW, PH, PW, OH, OW; /* per group C, M */
    int res, epi;
} Case;

/* W [G*M][C][3][3] into [G][n^2][ceil(M/8)][C][8] of G w G^T, n = T+2. */
static void pack(const Case *t, int T, const float *w, float *p) {
    static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static const double G4[6][3] = {{0.25, 0, 0},
                                    {-1 / 6.0, -1 / 6.0, -1 / 6.0},
                                    {-1 / 6.0, 1 / 6.0, -1 / 6.0},
                                    {1 / 24.0, 1 / 12.0, 1 / 6.0},
                                    {1 / 24.0, -1 / 12.0, 1 / 6.0},
                                    {0, 0, 1}};
    const double(*Gm)[3] = T == 2 ? G2 : G4;
    int n = T + 2, nx = n * n;
    int64_t n_cb = (t->M + 7) / 8;
    memset(p, 0, sizeof(float) * (size_t)(t->G * nx * n_cb * t->C * 8));
    for (int64_t g = 0; g < t->G; g++)
        for (int64_t m = 0; m < t->M; m++)
            for (int64_t c = 0; c < t->C; c++) {
                const float *k = w + ((g * t->M + m) * t->C + c) * 9;
                double a[6][3], u[6][6];
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < 3; j++)
                        a[i][j] = Gm[i][0] * k[j] + Gm[i][1] * k[3 + j] + Gm[i][2] * k[6 + j];
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                        u[i][j] = a[i][0] * Gm[j][0] + a[i][1] * Gm[j][1] + a[i][2] * Gm[j][2];
                for (int xi = 0; xi < nx; xi++)
                    p[(((g * nx + xi) * n_cb + m / 8) * t->C + c) * 8 + m % 8] =
                        (float)u[xi / n][xi % n];
            }
}

static void run(const Case *t, int T, const float *x, const float *wp, const float *b,
                const float *r, float *scratch, float *y, int64_t task, int64_t n_tasks) {
    if (T == 2)
        kiln_conv_wino_f32(t->N, t->G, t->C, t->M, 1, t->IH, t->IW, 1, t->OH, t->OW, 1, 3, 3, 1, 1,
                           1, 1, 1, 1, 0, t->PH, t->PW, x, wp, b, t->res ? r : NULL, t->epi, 0.0f,
                           6.0f, scratch, y, task, n_tasks);
    else
        kiln_conv_wino4_f32(t->N, t->G, t->C, t->M, 1, t->IH, t->IW, 1, t->OH, t->OW, 1, 3, 3, 1, 1,
                            1, 1, 1, 1, 0, t->PH, t->PW, x, wp, b, t->res ? r : NULL, t->epi, 0.0f,
                            6.0f, scratch, y, task, n_tasks);
}

/* F(TxT, 3x3) against the direct sum: within tol of the sum of the
 * products' magnitudes. */
static void check(const Case *t, int T, float tol) {
    unsigned seed = 11;
    int64_t GC = t->G * t->C, GM = t->G * t->M, n_cb = (t->M + 7) / 8;
    size_t nx = (size_t)(t->N * GC * t->IH * t->IW), nw = (size_t)(GM * t->C * 9);
    size_t ny = (size_t)(t->N * GM * t->OH * t->OW),
           np = (size_t)(t->G * (T + 2) * (T + 2) * n_cb * t->C * 8);
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
    float *wp = malloc(sizeof(float) * np), *b = malloc(sizeof(float) * (size_t)GM);
    float *r = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
    float *y2 = malloc(sizeof(float) * ny);
    float *scratch = malloc(sizeof(float) * (size_t)kiln_conv_wino_scratch_floats(T, t->C));
    assert_true(x && w && wp && b && r && y && y2 && scratch);
    for (size_t i = 0; i < nx; i++)
        x[i] = frand(&seed);
    for (size_t i = 0; i < nw; i++)
        w[i] = frand(&seed) * 0.5f;
    for (int64_t i = 0; i < GM; i++)
        b[i] = frand(&seed);
    for (size_t i = 0; i < ny; i++)
        r[i] = frand(&seed);
    pack(t, T, w, wp);
    run(t, T, x, wp, b, r, scratch, y, 0, 1);
    for (int64_t n = 0; n < t->N; n++)
        for (int64_t m = 0; m < GM; m++)
            for (int64_t oh = 0; oh < t->OH; oh++)
                for (int64_t ow = 0; ow < t->OW; ow++) {
                    int64_t g = m / t->M;
                    double sum = b[m], mag = fabs(b[m]);
                    for (int64_t c = 0; c < t->C; c++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                int64_t ih = oh - t->PH + kh, iw = ow - t->PW + kw;
                                if (ih < 0 || ih >= t->IH || iw < 0 || iw >= t->IW) continue;
                                double p =
                                    (double)x[((n * GC + g * t->C + c) * t->IH + ih) * t->IW + iw] *
                                    w[((m * t->C + c) * 3 + kh) * 3 + kw];
                                sum += p;
                                mag += fabs(p);
                            }
                    size_t at = (size_t)(((n * GM + m) * t->OH + oh) * t->OW + ow);
                    if (t->res) sum += r[at];
                    float want = kiln_epilogue_f32(t->epi, 0.0f, 6.0f, (float)sum);
                    if (!(fabsf(y[at] - want) <= tol * (float)(mag + 1.0))) {
                        print_error(
                            "F(%dx%d) N=%lld G=%lld C=%lld M=%lld %lldx%lld pads %lld,%lld: "
                            "y[%zu] = %g, expected %g\n",
                            T, T, (long long)t->N, (long long)t->G, (long long)t->C,
                            (long long)t->M, (long long)t->IH, (long long)t->IW, (long long)t->PH,
                            (long long)t->PW, at, y[at], want);
                        fail();
                    }
                }
    /* Every split, its parts run one after another: bitwise the same. */
    int64_t splits[] = {2, 3, 4, 8};
    for (size_t s = 0; s < sizeof splits / sizeof *splits; s++) {
        memset(y2, 0xff, sizeof(float) * ny); /* NaN: a part left unwritten shows */
        for (int64_t task = 0; task < splits[s]; task++)
            run(t, T, x, wp, b, r, scratch, y2, task, splits[s]);
        assert_memory_equal(y2, y, sizeof(float) * ny);
    }
    free(x), free(w), free(wp), free(b), free(r), free(y), free(y2), free(scratch);
}

static void test_winograd_matches_the_direct_sum(void **state) {
    (void)state;
    const Case cases[] = {
        /* N  G   C   M  IH   IW PH PW  OH   OW res epi */
        {1, 1, 8, 16, 5, 5, 1, 1, 5, 5, 0, KILN_EPI_NONE},            /* odd: half tiles */
        {1, 1, 16, 20, 12, 12, 0, 0, 10, 10, 0, KILN_EPI_RELU},       /* M past 8s, no pads */
        {2, 1, 9, 17, 6, 7, 2, 2, 8, 9, 1, KILN_EPI_CLAMP},           /* pads 2, two images */
        {1, 2, 12, 16, 9, 11, 1, 0, 9, 9, 1, KILN_EPI_SILU},          /* groups, uneven pads */
        {1, 1, 8, 16, 3, 301, 1, 1, 3, 301, 0, KILN_EPI_NONE},        /* column chunks */
        {1, 1, 600, 16, 9, 9, 1, 1, 9, 9, 1, KILN_EPI_NONE},          /* 16-tile blocks */
        {1, 1, 64, 64, 28, 28, 1, 1, 28, 28, 1, KILN_EPI_RELU},       /* resnet's bands */
        {1, 1, 256, 32, 14, 14, 1, 1, 14, 14, 0, KILN_EPI_HARDSWISH}, /* channel chunks */
        {1, 1, 8, 16, 1, 1, 1, 1, 1, 1, 0, KILN_EPI_NONE},            /* one pixel */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check(&cases[i], 2, 1e-6f);
        check(&cases[i], 4, 1e-5f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_winograd_matches_the_direct_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
