/* kiln_bench.c: in-process latency of a compiled model.
 *
 * Linked with an object from `kiln compile --emit obj`. Usage:
 *   kiln_bench BATCH ITERS [NAME=VALUE]...
 * BATCH is the value of the symbol that is dim 0 of every input whose dim
 * 0 is dynamic (ignored if there is none); NAME=VALUE sets any other
 * symbol; a symbol not given is at its minimum. Runs the model ITERS times
 * on deterministic inputs in [-1, 1) and prints one JSON line: median and
 * p99 latency in microseconds, inferences/s.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln_model.h"

enum { MAX_TENSORS = 64 };

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Bytes of a tensor of this shape; SIZE_MAX if that overflows. */
static size_t bytes_of(const KilnTensorInfo *t, const int64_t *shape) {
    size_t n = kiln_dtype_size(t->dtype);
    for (int i = 0; i < t->rank; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, (size_t)shape[i], &n)) return SIZE_MAX;
    return n;
}

static void *buffer(size_t n) {
    return n > SIZE_MAX - 127 ? NULL : aligned_alloc(64, (n + 63) / 64 * 64 + 64);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: kiln_bench BATCH ITERS [NAME=VALUE]...\n");
        return 2;
    }
    int64_t batch = atoll(argv[1]);
    int iters = atoi(argv[2]);
    const KilnModel *m = &kiln_model;
    if (iters < 1 || m->n_inputs > MAX_TENSORS || m->n_outputs > MAX_TENSORS) {
        fprintf(stderr, "kiln_bench: ITERS must be >= 1 and the model have <= %d tensors\n",
                MAX_TENSORS);
        return 2;
    }
    /* The symbols' values: each at its min, the batch (dim 0) BATCH, then NAME=VALUE. */
    int64_t *syms = calloc((size_t)m->n_syms + 1, sizeof *syms);
    for (int s = 0; s < m->n_syms; s++)
        syms[s] = m->syms[s].min;
    for (int i = 0; i < m->n_inputs; i++)
        if (m->inputs[i].rank > 0 && m->inputs[i].sym[0] >= 0) syms[m->inputs[i].sym[0]] = batch;
    for (int a = 3; a < argc; a++) {
        const char *eq = strchr(argv[a], '=');
        int s = 0;
        while (eq && s < m->n_syms &&
               (strlen(m->syms[s].name) != (size_t)(eq - argv[a]) ||
                strncmp(m->syms[s].name, argv[a], (size_t)(eq - argv[a])) != 0))
            s++;
        if (!eq || s == m->n_syms) {
            fprintf(stderr, "kiln_bench: '%s' is not NAME=VALUE with NAME a symbol\n", argv[a]);
            return 2;
        }
        syms[s] = atoll(eq + 1);
    }
    int64_t in_shape[MAX_TENSORS][8], out_shape[MAX_TENSORS][8];
    const int64_t *in_shapes[MAX_TENSORS];
    int64_t *out_shapes[MAX_TENSORS];
    for (int i = 0; i < m->n_inputs; i++) {
        const KilnTensorInfo *t = &m->inputs[i];
        int64_t *sh = t->rank <= 8 ? in_shape[i] : calloc((size_t)t->rank, sizeof *sh);
        for (int d = 0; d < t->rank; d++)
            sh[d] = t->shape[d] != -1 ? t->shape[d] : t->sym[d] >= 0 ? syms[t->sym[d]] : t->min[d];
        in_shapes[i] = sh;
    }
    for (int i = 0; i < m->n_outputs; i++)
        out_shapes[i] = m->outputs[i].rank <= 8
                            ? out_shape[i]
                            : calloc((size_t)m->outputs[i].rank, sizeof(int64_t));
    KilnRunError err = {0};
    int rc = m->shapes(in_shapes, out_shapes, &err);
    if (rc != 0) {
        char msg[512];
        kiln_run_error_format(m, rc, &err, msg, sizeof msg);
        fprintf(stderr, "kiln_bench: %s\n", msg);
        return 1;
    }
    const void *ins[MAX_TENSORS];
    void *outs[MAX_TENSORS];
    unsigned seed = 12345;
    for (int i = 0; i < m->n_inputs; i++) {
        size_t n = bytes_of(&m->inputs[i], in_shapes[i]);
        float *p = buffer(n);
        if (!p) {
            fprintf(stderr, "kiln_bench: input '%s' does not fit in memory\n", m->inputs[i].name);
            return 1;
        }
        for (size_t k = 0; k < n / 4; k++) {
            seed = seed * 1103515245u + 12345u;
            p[k] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
        ins[i] = p;
    }
    for (int i = 0; i < m->n_outputs; i++) {
        if (!(outs[i] = buffer(bytes_of(&m->outputs[i], out_shapes[i])))) {
            fprintf(stderr, "kiln_bench: output '%s' does not fit in memory\n", m->outputs[i].name);
            return 1;
        }
    }
    void *ws = buffer(m->workspace_size(in_shapes));
    if (!ws) {
        fprintf(stderr, "kiln_bench: the workspace at these sizes does not fit in memory\n");
        return 1;
    }
    for (int i = 0; i < 10; i++)
        m->run(ins, in_shapes, outs, NULL, ws, NULL);
    double *t = malloc(sizeof(double) * (size_t)iters);
    for (int i = 0; i < iters; i++) {
        double t0 = now_us();
        m->run(ins, in_shapes, outs, NULL, ws, NULL);
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    double med = t[iters / 2], p99 = t[(int)(iters * 0.99)];
    printf("{\"median_us\": %.3f, \"p99_us\": %.3f, \"inferences_per_s\": %.1f}\n", med, p99,
           batch * 1e6 / med);
    return 0;
}
