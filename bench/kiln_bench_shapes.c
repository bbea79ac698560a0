/* kiln_bench_shapes.c: in-process latency of a compiled model at given
 * input shapes (model ABI 4: symbolic dims).
 *
 * Linked with an object from `kiln compile --emit obj`. Usage:
 *   kiln_bench_shapes ITERS NAME=DIMS...
 * with one NAME=DIMS (like tokens=8x128) for every model input. Runs the
 * model ITERS times, on one thread, on deterministic inputs: floats in
 * [-1, 1), integers in [0, 1000) (a valid token id for bench/dynamic.py's
 * text model), the generator of ort_bench.js. Prints one JSON line:
 * median and p99 latency in microseconds, inferences/s (batch = dim 0 of
 * the first input). Exit 1 if the model refuses the shapes, 2 on bad usage.
 * `--emit obj` names the model kiln_model_<name> (see the .h it writes):
 * build with -DKILN_BENCH_MODEL=kiln_model_<name>.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln_model.h"

#ifndef KILN_BENCH_MODEL
#define KILN_BENCH_MODEL kiln_model
#endif
extern const KilnModel KILN_BENCH_MODEL;

#define MAX_TENSORS 64
#define MAX_RANK 16

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Bytes of a dense tensor of this dtype and shape; 0 if it overflows. */
static size_t bytes_of(int dtype, int rank, const int64_t *shape) {
    size_t n = kiln_dtype_size(dtype);
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > SIZE_MAX / (size_t)shape[i])) return 0;
        n *= (size_t)shape[i];
    }
    return n;
}

static void *alloc64(size_t n) {
    size_t r = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, r ? r : 64);
    if (!p) {
        fprintf(stderr, "kiln_bench_shapes: out of memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

/* "8x128" into shape[0..rank); -1 if it is not `x`-separated numbers. */
static int parse_dims(const char *s, int64_t *shape) {
    int rank = 0;
    while (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0 || errno || rank == MAX_RANK) return -1;
        shape[rank++] = v;
        if (*end == 'x')
            end++;
        else if (*end != '\0')
            return -1;
        s = end;
    }
    return rank;
}

static void fill(void *p, int dtype, size_t n_elems, unsigned *seed) {
    for (size_t k = 0; k < n_elems; k++) {
        *seed = *seed * 1103515245u + 12345u;
        unsigned r = (*seed >> 8) & 0xffff;
        switch (dtype) {
        case KILN_DT_FLOAT:
            ((float *)p)[k] = (float)r / 32768.0f - 1.0f;
            break;
        case KILN_DT_DOUBLE:
            ((double *)p)[k] = (double)r / 32768.0 - 1.0;
            break;
        case KILN_DT_INT64:
            ((int64_t *)p)[k] = (int64_t)(r % 1000);
            break;
        case KILN_DT_INT32:
            ((int32_t *)p)[k] = (int32_t)(r % 1000);
            break;
        default:
            memset((char *)p + k * kiln_dtype_size(dtype), 0, kiln_dtype_size(dtype));
        }
    }
}

int main(int argc, char **argv) {
    const KilnModel *m = &KILN_BENCH_MODEL;
    if (argc < 2 || m->n_inputs > MAX_TENSORS || m->n_outputs > MAX_TENSORS) {
        fprintf(stderr, "usage: kiln_bench_shapes ITERS NAME=DIMS...\n");
        return 2;
    }
    int iters = atoi(argv[1]);
    if (iters < 1) {
        fprintf(stderr, "kiln_bench_shapes: ITERS must be >= 1\n");
        return 2;
    }
    static int64_t in_dims[MAX_TENSORS][MAX_RANK], out_dims[MAX_TENSORS][MAX_RANK];
    const int64_t *in_shapes[MAX_TENSORS];
    int64_t *out_shapes[MAX_TENSORS];
    const void *ins[MAX_TENSORS];
    void *outs[MAX_TENSORS];
    unsigned seed = 12345;
    for (int i = 0; i < m->n_inputs; i++) {
        const KilnTensorInfo *t = &m->inputs[i];
        const char *dims = NULL;
        size_t len = strlen(t->name);
        for (int a = 2; a < argc; a++)
            if (strncmp(argv[a], t->name, len) == 0 && argv[a][len] == '=')
                dims = argv[a] + len + 1;
        if (!dims) {
            fprintf(stderr, "kiln_bench_shapes: give input '%s' a shape (%s=DIMS)\n", t->name,
                    t->name);
            return 2;
        }
        if (parse_dims(dims, in_dims[i]) != t->rank) {
            fprintf(stderr, "kiln_bench_shapes: '%s=%s': expected %d dims separated by 'x'\n",
                    t->name, dims, t->rank);
            return 2;
        }
        in_shapes[i] = in_dims[i];
    }
    for (int i = 0; i < m->n_outputs; i++)
        out_shapes[i] = out_dims[i];
    KilnRunError err;
    memset(&err, 0, sizeof err);
    char msg[512];
    int rc = m->shapes(in_shapes, out_shapes, &err);
    if (rc != 0) {
        kiln_run_error_format(m, rc, &err, msg, sizeof msg);
        fprintf(stderr, "kiln_bench_shapes: %s\n", msg);
        return 1;
    }
    for (int i = 0; i < m->n_inputs; i++) {
        size_t n = bytes_of(m->inputs[i].dtype, m->inputs[i].rank, in_shapes[i]);
        void *p = alloc64(n);
        size_t es = kiln_dtype_size(m->inputs[i].dtype);
        fill(p, m->inputs[i].dtype, es ? n / es : 0, &seed);
        ins[i] = p;
    }
    for (int i = 0; i < m->n_outputs; i++)
        outs[i] = alloc64(bytes_of(m->outputs[i].dtype, m->outputs[i].rank, out_shapes[i]));
    size_t ws_n = m->workspace_size(in_shapes);
    if (ws_n == SIZE_MAX || ws_n > SIZE_MAX - 63) {
        fprintf(stderr, "kiln_bench_shapes: the model refused these shapes\n");
        return 1;
    }
    void *ws = alloc64(ws_n);
    for (int i = 0; i < 10; i++) {
        rc = m->run(ins, in_shapes, outs, out_shapes, ws, NULL);
        if (rc != 0) {
            kiln_run_error_format(m, rc, kiln_run_error(m, ws, in_shapes), msg, sizeof msg);
            fprintf(stderr, "kiln_bench_shapes: %s\n", msg);
            return 1;
        }
    }
    double *t = malloc(sizeof(double) * (size_t)iters);
    if (!t) return 3;
    for (int i = 0; i < iters; i++) {
        double t0 = now_us();
        m->run(ins, in_shapes, outs, out_shapes, ws, NULL);
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    double med = t[iters / 2], p99 = t[(int)(iters * 0.99)];
    int64_t batch = m->n_inputs > 0 && m->inputs[0].rank > 0 ? in_shapes[0][0] : 1;
    printf("{\"median_us\": %.3f, \"p99_us\": %.3f, \"inferences_per_s\": %.1f, "
           "\"workspace_bytes\": %zu}\n",
           med, p99, (double)batch * 1e6 / med, ws_n);
    return 0;
}
