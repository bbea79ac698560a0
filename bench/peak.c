/* peak.c: this machine's single-core FP32 FMA peak, in GFLOP/s.
 *
 *   cc -O2 -march=native bench/peak.c -o peak && ./peak [SECONDS]
 *
 * Runs CHAINS independent chains of fused multiply-adds (acc = acc * m + c)
 * on 512-bit vectors (16 floats; if the compiler targets AVX-512F) and on
 * 256-bit vectors (8 floats; AVX2 and FMA): enough chains to cover the
 * FMA latency on every FMA port, so the loop is bound by FMA throughput
 * alone. Each FMA counts 2 FLOPs per lane. Runs of about 5 ms alternate
 * between the widths for SECONDS (default 1); the best run of each width
 * is printed as one JSON line: {"gflops_512": ..., "gflops_256": ...,
 * "peak_gflops": the larger}
 * (gflops_512 is 0 without AVX-512). The multiplier is just under 1 and
 * the addend small, so the values converge and never go denormal.
 * bench/nets.py builds and runs it for the 1024 MatMul's share of peak.
 */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CHAINS = 16, INNER = 64 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The chains are sixteen named variables, so that they live in
 * registers; the asm barrier after each block keeps the compiler from
 * merging or hoisting them, and their sum is returned into the sink so
 * that none is dead. */
#define CHAIN_LIST(X)                                                                              \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define RUN(VT, SET1, STORE, LANES)                                                                \
    static double run_##LANES(long iters, float *sink) {                                           \
        const VT m = SET1(0.999999f), c = SET1(1e-6f);                                             \
        CHAIN_LIST(DECL_##LANES)                                                                   \
        double t0 = now_s();                                                                       \
        for (long it = 0; it < iters; it++) {                                                      \
            for (int k = 0; k < INNER; k++) {                                                      \
                CHAIN_LIST(STEP)                                                                   \
            }                                                                                      \
            CHAIN_LIST(BARRIER)                                                                    \
        }                                                                                          \
        double t = now_s() - t0;                                                                   \
        VT s = SET1(0.0f);                                                                         \
        CHAIN_LIST(SUM)                                                                            \
        float out[LANES];                                                                          \
        STORE(out, s);                                                                             \
        *sink += out[0];                                                                           \
        return (double)iters * INNER * CHAINS * LANES * 2 / t * 1e-9;                              \
    }
#define STEP(i) a##i = FMA_(a##i, m, c);
#define BARRIER(i) __asm__ volatile("" : "+v"(a##i));
#define SUM(i) s = ADD_(s, a##i);
#define DECL_16(i) __m512 a##i = _mm512_set1_ps(1.0f + (float)(i)*1e-3f);
#define DECL_8(i) __m256 a##i = _mm256_set1_ps(1.0f + (float)(i)*1e-3f);

#ifdef __AVX512F__
#define FMA_ _mm512_fmadd_ps
#define ADD_ _mm512_add_ps
RUN(__m512, _mm512_set1_ps, _mm512_storeu_ps, 16)
#undef FMA_
#undef ADD_
#endif
#if defined(__AVX2__) && defined(__FMA__)
#define FMA_ _mm256_fmadd_ps
#define ADD_ _mm256_add_ps
RUN(__m256, _mm256_set1_ps, _mm256_storeu_ps, 8)
#undef FMA_
#undef ADD_
#endif

/* Iterations of fn for about 5 ms: short runs, so that on a shared
 * machine some fit in one time slice. */
static long iters_for(double (*fn)(long, float *), float *sink) {
    long iters = 64;
    for (;;) {
        double t0 = now_s();
        fn(iters, sink);
        double t = now_s() - t0;
        if (t > 0.002) return (long)((double)iters * 0.005 / t) + 1;
        iters *= 2;
    }
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    if (!(seconds > 0 && seconds < 600)) {
        fprintf(stderr, "usage: peak [SECONDS]  (0 < SECONDS < 600)\n");
        return 2;
    }
    float sink = 0;
    double g512 = 0, g256 = 0;
#if !defined(__AVX2__) || !defined(__FMA__)
    fprintf(stderr, "peak: built without AVX2 and FMA; build with -march=native\n");
    return 3;
#else
    /* The widths alternate for `seconds`; the best run of each counts. */
    long i256 = iters_for(run_8, &sink);
#ifdef __AVX512F__
    long i512 = iters_for(run_16, &sink);
#endif
    for (double t0 = now_s(); now_s() - t0 < seconds;) {
        double g = run_8(i256, &sink);
        g256 = g > g256 ? g : g256;
#ifdef __AVX512F__
        g = run_16(i512, &sink);
        g512 = g > g512 ? g : g512;
#endif
    }
#endif
    printf("{\"gflops_512\": %.2f, \"gflops_256\": %.2f, \"peak_gflops\": %.2f, \"sink\": %g}\n",
           g512, g256, g512 > g256 ? g512 : g256, (double)sink);
    return 0;
}
