/* kiln_bench.c: in-process latency of a compiled model.
 *
 * Linked with an object from `kiln compile --emit obj`. Usage:
 *   kiln_bench BATCH ITERS
 * Runs the model ITERS times on deterministic inputs in [-1, 1) and prints
 * one JSON line: median and p99 latency in microseconds, inferences/s.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln_model.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t bytes_of(const KilnTensorInfo *t, int64_t batch) {
    size_t n = kiln_dtype_size(t->dtype);
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)(t->shape[i] < 0 ? batch : t->shape[i]);
    return n;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: kiln_bench BATCH ITERS\n");
        return 2;
    }
    int64_t batch = atoll(argv[1]);
    int iters = atoi(argv[2]);
    const KilnModel *m = &kiln_model;
    const void *ins[64];
    void *outs[64];
    unsigned seed = 12345;
    for (int i = 0; i < m->n_inputs; i++) {
        size_t n = bytes_of(&m->inputs[i], batch);
        float *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
        for (size_t k = 0; k < n / 4; k++) {
            seed = seed * 1103515245u + 12345u;
            p[k] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
        ins[i] = p;
    }
    for (int i = 0; i < m->n_outputs; i++) {
        size_t n = bytes_of(&m->outputs[i], batch);
        outs[i] = aligned_alloc(64, (n + 63) & ~(size_t)63);
    }
    size_t ws_n = m->workspace_size(batch);
    if (ws_n > SIZE_MAX - 63) {
        fprintf(stderr, "kiln_bench: batch %lld is too large for this model\n", (long long)batch);
        return 1;
    }
    ws_n = (ws_n + 63) & ~(size_t)63;
    void *ws = aligned_alloc(64, ws_n ? ws_n : 64);
    for (int i = 0; i < 10; i++)
        m->run(ins, outs, ws, batch, NULL);
    double *t = malloc(sizeof(double) * (size_t)iters);
    for (int i = 0; i < iters; i++) {
        double t0 = now_us();
        m->run(ins, outs, ws, batch, NULL);
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    double med = t[iters / 2], p99 = t[(int)(iters * 0.99)];
    printf("{\"median_us\": %.3f, \"p99_us\": %.3f, \"inferences_per_s\": %.1f}\n", med, p99,
           batch * 1e6 / med);
    return 0;
}
