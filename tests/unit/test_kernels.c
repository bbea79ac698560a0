/* test_kernels.c: the compute kernels (runtime/kernels), natively compiled,
 * against naive double-precision loops on random data.
 *
 * Every operand is its own malloc of exactly the bytes the kernel may
 * read, so ASan catches reads past an operand; outputs carry guard words
 * after their last element to catch stray writes.
 *
 * The float math in kmath.h is measured against libm over [-90, 90] in
 * steps of 1e-4. Measured (x86-64, gcc -O0 and -O2): expf max rel error
 * 8.3e-8 on [-80, 80]; tanhf max abs error 7.1e-8; sigmoidf max abs error
 * 8.9e-8 (max rel 1.5e-7 on [-80, 80]). The bounds below are 1.5e-7 abs /
 * rel (about 2.5 ulp), so a regression of one ulp on average shows.
 */
#include <math.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "kernels.h"
#include "kmath.h"

/* --- helpers -------------------------------------------------------------- */

static uint32_t rng = 0x9e3779b9u;

static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (float)((double)(rng >> 8) / (double)(1u << 23) - 1.0);
}

static float *rand_buf(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

#define GUARD 16
static const float guard_value = 12345.0f;

/* An output of n floats followed by GUARD guard words. */
static float *out_buf(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n + GUARD));
    for (int64_t i = 0; i < n + GUARD; i++)
        p[i] = NAN;
    for (int i = 0; i < GUARD; i++)
        p[n + i] = guard_value;
    return p;
}

static void check_guard(const float *p, int64_t n) {
    for (int i = 0; i < GUARD; i++)
        assert_true(p[n + i] == guard_value);
}

static double sigmoid_ref(double x) {
    return 1.0 / (1.0 + exp(-x));
}

static double epilogue_ref(int epi, double v) {
    switch (epi) {
    case KILN_EPI_RELU:
        return v > 0 ? v : 0;
    case KILN_EPI_SIGMOID:
        return sigmoid_ref(v);
    case KILN_EPI_TANH:
        return tanh(v);
    default:
        return v;
    }
}

/* got close to want: |got - want| <= atol + rtol * scale, scale the sum of
 * magnitudes that went into want (float rounding grows with it). */
static void check_close(const char *what, int64_t i, float got, double want, double scale) {
    double tol = 1e-6 + 1e-5 * scale;
    if (!(fabs((double)got - want) <= tol))
        fail_msg("%s[%lld]: got %.9g, want %.9g (tol %.3g)", what, (long long)i, (double)got, want,
                 tol);
}

/* --- gemm ------------------------------------------------------------------- */

typedef struct GemmCase {
    int64_t M, N, K;
} GemmCase;

/* Shapes that hit the 8x32 tiles, the leftover rows and columns, and
 * degenerate sizes. */
static const GemmCase gemm_cases[] = {
    {1, 1, 1},   {3, 5, 7},   {8, 32, 4},   {17, 33, 9}, {16, 64, 3},
    {9, 70, 13}, {64, 1, 13}, {1, 100, 20}, {2, 130, 5}, {24, 96, 1},
};

enum { BIAS_NONE, BIAS_FULL, BIAS_ROW, BIAS_COL, BIAS_SCALAR, N_BIAS };

typedef struct GemmRun {
    int64_t M, N, K;
    int ta, tb, bias, epi;
    float alpha, beta;
    int packed;
} GemmRun;

/* Runs one configuration of kiln_gemm_f32 (or the packed variant) and
 * compares every element with the naive loop. */
static void run_gemm(const GemmRun *r) {
    int64_t M = r->M, N = r->N, K = r->K;
    /* A is stored [M,K], or [K,M] read transposed; B [K,N] or [N,K]. */
    float *A = rand_buf(M * K), *B = rand_buf(K * N);
    int64_t a_rs = r->ta ? 1 : K, a_cs = r->ta ? M : 1;
    int64_t b_rs = r->tb ? 1 : N, b_cs = r->tb ? K : 1;
    int64_t c_len = 0, c_rs = 0, c_cs = 0;
    switch (r->bias) {
    case BIAS_FULL:
        c_len = M * N, c_rs = N, c_cs = 1;
        break;
    case BIAS_ROW:
        c_len = N, c_rs = 0, c_cs = 1;
        break;
    case BIAS_COL:
        c_len = M, c_rs = 1, c_cs = 0;
        break;
    case BIAS_SCALAR:
        c_len = 1;
        break;
    }
    float *C = r->bias == BIAS_NONE ? NULL : rand_buf(c_len);
    float *Y = out_buf(M * N);
    float *Bp = NULL;
    if (r->packed) {
        int64_t P = (N + 31) / 32;
        Bp = calloc((size_t)(P * K * 32), sizeof(float));
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++)
                Bp[((j / 32) * K + k) * 32 + j % 32] = B[k * b_rs + j * b_cs];
        kiln_gemm_packed_f32(M, N, K, A, a_rs, a_cs, Bp, C, c_rs, c_cs, r->alpha, r->beta, r->epi,
                             Y, 0, 1);
    } else {
        kiln_gemm_f32(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, c_cs, r->alpha, r->beta,
                      r->epi, Y, 0, 1);
    }
    /* Split into n_tasks parts (threads run them; here one after another),
     * the result is bitwise the same. */
    static const int64_t splits[] = {2, 3, 5, 8, 64};
    for (size_t s = 0; s < sizeof splits / sizeof *splits; s++) {
        float *Ys = out_buf(M * N);
        for (int64_t t = 0; t < splits[s]; t++)
            if (r->packed)
                kiln_gemm_packed_f32(M, N, K, A, a_rs, a_cs, Bp, C, c_rs, c_cs, r->alpha, r->beta,
                                     r->epi, Ys, t, splits[s]);
            else
                kiln_gemm_f32(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, c_rs, c_cs, r->alpha,
                              r->beta, r->epi, Ys, t, splits[s]);
        assert_memory_equal(Ys, Y, sizeof(float) * (size_t)(M * N));
        check_guard(Ys, M * N);
        free(Ys);
    }
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)A[i * a_rs + k * a_cs] * B[k * b_rs + j * b_cs];
                acc += p;
                mag += fabs(p);
            }
            double v = r->alpha * acc, scale = fabs(r->alpha) * mag;
            if (C) {
                double c = (double)r->beta * C[i * c_rs + j * c_cs];
                v += c;
                scale += fabs(c);
            }
            char what[160];
            snprintf(what, sizeof what, "gemm%s M=%lld N=%lld K=%lld ta=%d tb=%d bias=%d epi=%d Y",
                     r->packed ? "_packed" : "", (long long)M, (long long)N, (long long)K, r->ta,
                     r->tb, r->bias, r->epi);
            check_close(what, i * N + j, Y[i * N + j], epilogue_ref(r->epi, v), scale);
        }
    check_guard(Y, M * N);
    free(A);
    free(B);
    free(C);
    free(Y);
    free(Bp);
}

static void test_gemm_matches_the_naive_loop_for_every_stride_and_bias(void **state) {
    (void)state;
    static const float ab[][2] = {{1, 1}, {0.5f, 2}, {-1.5f, 0.25f}};
    for (size_t s = 0; s < sizeof gemm_cases / sizeof *gemm_cases; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bias = 0; bias < N_BIAS; bias++) {
                    const float *p = ab[(s + (size_t)bias) % 3];
                    GemmRun r = {gemm_cases[s].M,
                                 gemm_cases[s].N,
                                 gemm_cases[s].K,
                                 ta,
                                 tb,
                                 bias,
                                 KILN_EPI_NONE,
                                 p[0],
                                 p[1],
                                 0};
                    run_gemm(&r);
                }
}

static void test_gemm_applies_every_epilogue(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof gemm_cases / sizeof *gemm_cases; s++)
        for (int epi = KILN_EPI_NONE; epi <= KILN_EPI_TANH; epi++) {
            GemmRun r = {gemm_cases[s].M,
                         gemm_cases[s].N,
                         gemm_cases[s].K,
                         0,
                         0,
                         BIAS_ROW,
                         epi,
                         1.0f,
                         1.0f,
                         0};
            run_gemm(&r);
        }
}

static void test_gemm_packed_matches_the_naive_loop(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof gemm_cases / sizeof *gemm_cases; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int bias = 0; bias < N_BIAS; bias++)
                for (int epi = KILN_EPI_NONE; epi <= KILN_EPI_TANH; epi += 3) {
                    GemmRun r = {gemm_cases[s].M,
                                 gemm_cases[s].N,
                                 gemm_cases[s].K,
                                 ta,
                                 bias % 2,
                                 bias,
                                 epi,
                                 bias == 2 ? 0.5f : 1.0f,
                                 bias == 3 ? -2.0f : 1.0f,
                                 1};
                    run_gemm(&r);
                }
}

static void test_gemm_packed_applies_every_epilogue(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof gemm_cases / sizeof *gemm_cases; s++)
        for (int epi = KILN_EPI_NONE; epi <= KILN_EPI_TANH; epi++) {
            GemmRun r = {gemm_cases[s].M,
                         gemm_cases[s].N,
                         gemm_cases[s].K,
                         0,
                         0,
                         BIAS_FULL,
                         epi,
                         1.0f,
                         1.0f,
                         1};
            run_gemm(&r);
        }
}

static void test_gemm_reads_unaligned_operands(void **state) {
    (void)state;
    /* Operands one float past an aligned address, as a slice of a larger
     * tensor would be. */
    enum { M = 16, N = 64, K = 5 };
    float *Abuf = rand_buf(M * K + 1), *Bbuf = rand_buf(K * N + 1), *Y = out_buf(M * N + 1);
    const float *A = Abuf + 1, *B = Bbuf + 1;
    kiln_gemm_f32(M, N, K, A, K, 1, B, N, 1, NULL, 0, 0, 1.0f, 0.0f, KILN_EPI_NONE, Y + 1, 0, 1);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                acc += (double)A[i * K + k] * B[k * N + j];
                mag += fabs((double)A[i * K + k] * B[k * N + j]);
            }
            check_close("unaligned gemm Y", i * N + j, Y[1 + i * N + j], acc, mag);
        }
    check_guard(Y, M * N + 1);
    free(Abuf);
    free(Bbuf);
    free(Y);
}

/* --- matmul ------------------------------------------------------------------ */

static void test_matmul_multiplies_each_batch_and_can_share_b(void **state) {
    (void)state;
    static const int64_t shapes[][4] = {
        {1, 1, 1, 1}, {3, 2, 5, 4}, {2, 8, 32, 3}, {4, 9, 33, 7}, {7, 3, 5, 4},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int mode = 0; mode < 3; mode++) {
            /* 0: own A and B per batch; 1: one B shared; 2: one A shared. */
            int64_t batch = shapes[s][0], M = shapes[s][1], N = shapes[s][2], K = shapes[s][3];
            int64_t a_bs = mode == 2 ? 0 : M * K, b_bs = mode == 1 ? 0 : K * N;
            float *A = rand_buf(mode == 2 ? M * K : batch * M * K);
            float *B = rand_buf(mode == 1 ? K * N : batch * K * N);
            float *Y = out_buf(batch * M * N);
            kiln_matmul_f32(batch, M, N, K, A, a_bs, B, b_bs, Y, 0, 1);
            for (int64_t nt = 2; nt <= 9; nt += 7) { /* fewer and more tasks than items */
                float *Ys = out_buf(batch * M * N);
                for (int64_t t = 0; t < nt; t++)
                    kiln_matmul_f32(batch, M, N, K, A, a_bs, B, b_bs, Ys, t, nt);
                assert_memory_equal(Ys, Y, sizeof(float) * (size_t)(batch * M * N));
                free(Ys);
            }
            for (int64_t b = 0; b < batch; b++)
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double acc = 0, mag = 0;
                        for (int64_t k = 0; k < K; k++) {
                            double p = (double)A[b * a_bs + i * K + k] * B[b * b_bs + k * N + j];
                            acc += p;
                            mag += fabs(p);
                        }
                        check_close("matmul Y", (b * M + i) * N + j, Y[(b * M + i) * N + j], acc,
                                    mag);
                    }
            check_guard(Y, batch * M * N);
            free(A);
            free(B);
            free(Y);
        }
}

/* --- binary ------------------------------------------------------------------ */

static double binary_ref(int op, double a, double b) {
    switch (op) {
    case KILN_BIN_ADD:
        return a + b;
    case KILN_BIN_SUB:
        return a - b;
    case KILN_BIN_MUL:
        return a * b;
    default:
        return a / b;
    }
}

/* Dense strides of a tensor with dims d[] where dims flagged in bmask are
 * 1 (broadcast: stride 0). Returns the element count. */
static int64_t strides_of(const int64_t d[4], int bmask, int64_t st[4]) {
    int64_t acc = 1;
    for (int i = 3; i >= 0; i--) {
        if (bmask & (1 << i) || d[i] == 1) {
            st[i] = 0;
        } else {
            st[i] = acc;
            acc *= d[i];
        }
    }
    return acc;
}

static void test_binary_broadcasts_over_four_dims_for_every_op(void **state) {
    (void)state;
    static const int64_t dims[][4] = {
        {1, 1, 1, 1}, {1, 1, 1, 17}, {2, 3, 4, 5}, {1, 7, 1, 33}, {3, 1, 6, 2}};
    for (size_t s = 0; s < sizeof dims / sizeof *dims; s++)
        for (int amask = 0; amask < 16; amask += 3)
            for (int bmask = 0; bmask < 16; bmask += 5)
                for (int op = KILN_BIN_ADD; op <= KILN_BIN_DIV; op++) {
                    const int64_t *d = dims[s];
                    int64_t sa[4], sb[4];
                    int64_t na = strides_of(d, amask, sa), nb = strides_of(d, bmask, sb);
                    float *a = rand_buf(na), *b = rand_buf(nb);
                    if (op == KILN_BIN_DIV)
                        for (int64_t i = 0; i < nb; i++)
                            b[i] = b[i] < 0 ? b[i] - 0.5f : b[i] + 0.5f;
                    int64_t n = d[0] * d[1] * d[2] * d[3];
                    float *y = out_buf(n);
                    kiln_binary_f32(op, d[0], d[1], d[2], d[3], a, sa[0], sa[1], sa[2], sa[3], b,
                                    sb[0], sb[1], sb[2], sb[3], y);
                    int64_t i = 0;
                    for (int64_t i0 = 0; i0 < d[0]; i0++)
                        for (int64_t i1 = 0; i1 < d[1]; i1++)
                            for (int64_t i2 = 0; i2 < d[2]; i2++)
                                for (int64_t i3 = 0; i3 < d[3]; i3++, i++) {
                                    double va =
                                        a[i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3]];
                                    double vb =
                                        b[i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3]];
                                    double want = binary_ref(op, va, vb);
                                    /* One float rounding of the exact result. */
                                    assert_true(fabs(y[i] - want) <= 6e-8 * fabs(want) + 1e-30);
                                }
                    check_guard(y, n);
                    free(a);
                    free(b);
                    free(y);
                }
}

static void test_binary_integer_ops_wrap_and_divide_by_zero_gives_zero(void **state) {
    (void)state;
    int32_t a[4] = {INT32_MAX, INT32_MIN, 7, -7}, b[4] = {1, -1, 0, 2}, y[4];
    kiln_binary_i32(KILN_BIN_ADD, 1, 1, 1, 4, a, 0, 0, 0, 1, b, 0, 0, 0, 1, y);
    assert_int_equal(y[0], INT32_MIN); /* wraps, as numpy does */
    assert_int_equal(y[1], INT32_MAX);
    kiln_binary_i32(KILN_BIN_MUL, 1, 1, 1, 4, a, 0, 0, 0, 1, b, 0, 0, 0, 1, y);
    assert_int_equal(y[3], -14);
    int32_t c[3] = {7, -7, 9}, d[3] = {0, 2, -4};
    kiln_binary_i32(KILN_BIN_DIV, 1, 1, 1, 3, c, 0, 0, 0, 1, d, 0, 0, 0, 1, y);
    assert_int_equal(y[0], 0);  /* division by zero gives 0 */
    assert_int_equal(y[1], -3); /* truncates toward zero, as ONNX Div */
    assert_int_equal(y[2], -2);
    int64_t e[2] = {INT64_MAX, 5}, f[2] = {1, 0}, z[2];
    kiln_binary_i64(KILN_BIN_ADD, 1, 1, 1, 2, e, 0, 0, 0, 1, f, 0, 0, 0, 1, z);
    assert_true(z[0] == INT64_MIN);
    kiln_binary_i64(KILN_BIN_DIV, 1, 1, 1, 2, e, 0, 0, 0, 1, f, 0, 0, 0, 1, z);
    assert_true(z[1] == 0);
    uint8_t g8[2] = {250, 3}, h8[2] = {10, 5}, u[2];
    kiln_binary_u8(KILN_BIN_ADD, 1, 1, 1, 2, g8, 0, 0, 0, 1, h8, 0, 0, 0, 1, u);
    assert_int_equal(u[0], 4);
    kiln_binary_u8(KILN_BIN_SUB, 1, 1, 1, 2, g8, 0, 0, 0, 1, h8, 0, 0, 0, 1, u);
    assert_int_equal(u[1], 254);
    /* Broadcast works the same for other types: [2,3] + [3] in double. */
    double da[6] = {1, 2, 3, 4, 5, 6}, db[3] = {0.5, 0.25, 0.125}, dy[6];
    kiln_binary_f64(KILN_BIN_ADD, 1, 1, 2, 3, da, 0, 0, 3, 1, db, 0, 0, 0, 1, dy);
    for (int i = 0; i < 6; i++)
        assert_true(dy[i] == da[i] + db[i % 3]);
}

/* Runs kiln_binary_<type> DIV of MIN by -1 in a child; 1 if it died of a
 * signal. */
static int min_div_minus_one_traps(int wide) {
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGFPE, SIG_DFL); /* not cmocka's handler, which would go on testing */
        if (wide) {
            int64_t a = INT64_MIN, b = -1, y = 0;
            kiln_binary_i64(KILN_BIN_DIV, 1, 1, 1, 1, &a, 0, 0, 0, 1, &b, 0, 0, 0, 1, &y);
            _exit(y == INT64_MIN ? 0 : 1);
        }
        int32_t a = INT32_MIN, b = -1, y = 0;
        kiln_binary_i32(KILN_BIN_DIV, 1, 1, 1, 1, &a, 0, 0, 0, 1, &b, 0, 0, 0, 1, &y);
        _exit(y == INT32_MIN ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? 1 : WEXITSTATUS(status) ? 2 : 0;
}

static void test_binary_integer_division_of_min_by_minus_one_does_not_trap(void **state) {
    (void)state;
    assert_int_equal(min_div_minus_one_traps(0), 0);
    assert_int_equal(min_div_minus_one_traps(1), 0);
}

/* --- unary -------------------------------------------------------------------- */

static void test_unary_relu_sigmoid_tanh_match_libm(void **state) {
    (void)state;
    enum { N = 1000 };
    float *x = rand_buf(N);
    for (int i = 0; i < N; i++)
        x[i] *= 12.0f; /* [-12, 12): both tails of sigmoid and tanh */
    for (int op = KILN_UN_RELU; op <= KILN_UN_TANH; op++) {
        float *y = out_buf(N);
        kiln_unary_f32(op, N, x, y, 0.0f, 0.0f);
        for (int i = 0; i < N; i++) {
            double want = op == KILN_UN_RELU      ? (x[i] > 0 ? x[i] : 0)
                          : op == KILN_UN_SIGMOID ? sigmoid_ref(x[i])
                                                  : tanh(x[i]);
            if (op == KILN_UN_RELU)
                assert_true(y[i] == (float)want);
            else
                assert_true(fabs(y[i] - want) <= 1.5e-7);
        }
        check_guard(y, N);
        free(y);
    }
    free(x);
}

static void test_unary_relu_zeroes_negatives_and_keeps_tiny_positives(void **state) {
    (void)state;
    float x[4] = {-0.0f, 0.0f, -1e-30f, 1e-30f}, y[4];
    kiln_unary_f32(KILN_UN_RELU, 4, x, y, 0, 0);
    assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 1e-30f);
}

/* --- softmax ------------------------------------------------------------------ */

static void softmax_check(int64_t outer, int64_t len, int64_t inner, const float *x,
                          const float *y) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            double m = -INFINITY, s = 0, sum_y = 0;
            for (int64_t i = 0; i < len; i++)
                m = fmax(m, x[(o * len + i) * inner + in]);
            for (int64_t i = 0; i < len; i++)
                s += exp(x[(o * len + i) * inner + in] - m);
            for (int64_t i = 0; i < len; i++) {
                int64_t at = (o * len + i) * inner + in;
                double want = exp(x[at] - m) / s;
                assert_true(isfinite(y[at]));
                if (!(fabs(y[at] - want) <= 1e-6 + 1e-5 * want))
                    fail_msg("softmax [%lld,%lld,%lld] at %lld: got %.9g want %.9g",
                             (long long)outer, (long long)len, (long long)inner, (long long)at,
                             (double)y[at], want);
                sum_y += y[at];
            }
            assert_true(fabs(sum_y - 1.0) <= 1e-5);
        }
}

static void test_softmax_rows_sum_to_one_along_the_middle_axis(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 10, 1}, {4, 7, 1},
                                        {3, 5, 6}, {2, 1, 3},  {1, 1000, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t o = shapes[s][0], l = shapes[s][1], in = shapes[s][2], n = o * l * in;
        float *x = rand_buf(n), *y = out_buf(n);
        for (int64_t i = 0; i < n; i++)
            x[i] *= 10.0f;
        kiln_softmax_f32(o, l, in, x, y);
        softmax_check(o, l, in, x, y);
        check_guard(y, n);
        free(x);
        free(y);
    }
}

static void test_softmax_of_huge_inputs_has_no_nan_or_inf(void **state) {
    (void)state;
    /* Max subtraction keeps exp in range; spreads beyond exp's range give
     * exact zeros and ones. */
    float x[8] = {3e38f, -3e38f, 1e4f, -1e4f, 88.0f, 89.0f, -100.0f, 0.0f};
    float y[8];
    kiln_softmax_f32(1, 8, 1, x, y);
    for (int i = 0; i < 8; i++)
        assert_true(isfinite(y[i]));
    assert_true(fabsf(y[0] - 1.0f) <= 1e-6f);
    for (int i = 1; i < 8; i++)
        assert_true(y[i] <= 1e-30f);

    float z[4] = {1e4f, 1e4f, 1e4f, 1e4f}, w[4];
    kiln_softmax_f32(1, 4, 1, z, w);
    for (int i = 0; i < 4; i++)
        assert_float_equal(w[i], 0.25f, 1e-7f);

    float big[6] = {500, 400, 300, -500, -400, -300}, out[6];
    kiln_softmax_f32(2, 3, 1, big, out);
    softmax_check(2, 3, 1, big, out);
}

/* --- copy ----------------------------------------------------------------------- */

static void test_copy_moves_exactly_n_bytes(void **state) {
    (void)state;
    unsigned char src[37], dst[40];
    for (int i = 0; i < 37; i++)
        src[i] = (unsigned char)(i * 7 + 1);
    memset(dst, 0xee, sizeof dst);
    kiln_copy(37, src, dst);
    assert_memory_equal(src, dst, 37);
    for (int i = 37; i < 40; i++)
        assert_int_equal(dst[i], 0xee);
    kiln_copy(0, src, dst + 39);
    assert_int_equal(dst[39], 0xee);
}

/* --- float math ------------------------------------------------------------------ */

static void test_kmath_expf_is_within_2_5_ulp_of_libm_on_minus_80_to_80(void **state) {
    (void)state;
    double worst = 0, at = 0;
    for (long i = 0; i <= 1600000; i++) {
        float x = (float)(-80.0 + (double)i * 1e-4);
        double want = exp((double)x), rel = fabs(kiln_expf(x) - want) / want;
        if (rel > worst) worst = rel, at = x;
    }
    print_message("kiln_expf: max rel error %.3g at x=%.4f on [-80, 80]\n", worst, at);
    assert_true(worst < 1.5e-7);
}

static void test_kmath_tanhf_and_sigmoidf_are_within_1_5e_7_of_libm(void **state) {
    (void)state;
    double wt = 0, xt = 0, ws = 0, xs = 0, wsr = 0, xsr = 0;
    for (long i = 0; i <= 1800000; i++) {
        float x = (float)(-90.0 + (double)i * 1e-4);
        double t = fabs(kiln_tanhf(x) - tanh((double)x));
        double sref = sigmoid_ref(x), s = fabs(kiln_sigmoidf(x) - sref);
        if (t > wt) wt = t, xt = x;
        if (s > ws) ws = s, xs = x;
        if (x >= -80 && x <= 80 && s / sref > wsr) wsr = s / sref, xsr = x;
    }
    print_message("kiln_tanhf: max abs error %.3g at x=%.4f on [-90, 90]\n", wt, xt);
    print_message("kiln_sigmoidf: max abs error %.3g at x=%.4f on [-90, 90]; max rel %.3g at "
                  "x=%.4f on [-80, 80]\n",
                  ws, xs, wsr, xsr);
    assert_true(wt < 1.5e-7);
    assert_true(ws < 1.5e-7);
    assert_true(wsr < 3e-7);
}

static void test_kmath_stays_finite_and_saturates_outside_exp_range(void **state) {
    (void)state;
    static const float xs[] = {-1e30f, -1000, -90, -88, 88.5f, 89, 90, 1000, 1e30f};
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
        assert_true(isfinite(kiln_expf(xs[i])));
        assert_true(kiln_expf(xs[i]) >= 0);
        assert_true(isfinite(kiln_tanhf(xs[i])));
        assert_true(isfinite(kiln_sigmoidf(xs[i])));
    }
    assert_float_equal(kiln_tanhf(90), 1.0f, 0);
    assert_float_equal(kiln_tanhf(-90), -1.0f, 0);
    assert_float_equal(kiln_sigmoidf(90), 1.0f, 0);
    assert_true(kiln_sigmoidf(-90) < 1e-37f);
    assert_float_equal(kiln_tanhf(0), 0.0f, 0);
    assert_float_equal(kiln_sigmoidf(0), 0.5f, 0);
    assert_float_equal(kiln_expf(0), 1.0f, 0);
    /* Odd symmetry of tanh holds exactly, on both sides of the 0.625 switch. */
    for (float x = 0.01f; x < 10; x *= 1.3f)
        assert_true(kiln_tanhf(-x) == -kiln_tanhf(x));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_matches_the_naive_loop_for_every_stride_and_bias),
        cmocka_unit_test(test_gemm_applies_every_epilogue),
        cmocka_unit_test(test_gemm_packed_matches_the_naive_loop),
        cmocka_unit_test(test_gemm_packed_applies_every_epilogue),
        cmocka_unit_test(test_gemm_reads_unaligned_operands),
        cmocka_unit_test(test_matmul_multiplies_each_batch_and_can_share_b),
        cmocka_unit_test(test_binary_broadcasts_over_four_dims_for_every_op),
        cmocka_unit_test(test_binary_integer_ops_wrap_and_divide_by_zero_gives_zero),
        cmocka_unit_test(test_binary_integer_division_of_min_by_minus_one_does_not_trap),
        cmocka_unit_test(test_unary_relu_sigmoid_tanh_match_libm),
        cmocka_unit_test(test_unary_relu_zeroes_negatives_and_keeps_tiny_positives),
        cmocka_unit_test(test_softmax_rows_sum_to_one_along_the_middle_axis),
        cmocka_unit_test(test_softmax_of_huge_inputs_has_no_nan_or_inf),
        cmocka_unit_test(test_copy_moves_exactly_n_bytes),
        cmocka_unit_test(test_kmath_expf_is_within_2_5_ulp_of_libm_on_minus_80_to_80),
        cmocka_unit_test(test_kmath_tanhf_and_sigmoidf_are_within_1_5e_7_of_libm),
        cmocka_unit_test(test_kmath_stays_finite_and_saturates_outside_exp_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
