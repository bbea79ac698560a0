/* kiln_bench.c: in-process latency of a compiled model.
 *
 * Linked with an object from `kiln compile --emit obj` (build with
 * -Dkiln_model=kiln_model_<name>, the symbol its header names). Usage:
 *   kiln_bench BATCH ITERS [NAME=VALUE | INPUT=DIMS]...
 * BATCH is the value of the symbol that is dim 0 of every input whose dim
 * 0 is dynamic (ignored if there is none), and the rows that inferences/s
 * counts; NAME=VALUE sets any other symbol (a symbol not given is at its
 * minimum); INPUT=DIMS (like tokens=8x128) gives an input's whole shape.
 * Runs the model ITERS times on deterministic inputs, the generator of
 * ort_bench.js: floats in [-1, 1), integers in [0, 1000) (valid token
 * ids), and prints one JSON line: median and p99 latency in microseconds,
 * inferences/s. Exit 1 if the model refuses the shapes, 2 on bad usage.
 * KILN_THREADS=N in the environment (default 1) lends run() a pool of N
 * threads, the service's own (runtime/service/pool.c, compiled in here so
 * that the one-file cc line of bench/run.sh still builds it).
 */
#define _POSIX_C_SOURCE 200809L
#include "service/pool.c"

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

/* "8x128" into shape[0..rank); 0 if it is not rank `x`-separated sizes. */
static int parse_dims(const char *s, int64_t *shape, int rank) {
    for (int d = 0; d < rank; d++) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0 || (*end != (d + 1 < rank ? 'x' : '\0'))) return 0;
        shape[d] = v;
        s = end + (d + 1 < rank);
    }
    return 1;
}

/* n elements of dtype from the shared generator. */
static void fill(void *p, int dtype, size_t n, unsigned *seed) {
    for (size_t k = 0; k < n; k++) {
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

static void *buffer(size_t n) {
    return n > SIZE_MAX - 127 ? NULL : aligned_alloc(64, (n + 63) / 64 * 64 + 64);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: kiln_bench BATCH ITERS [NAME=VALUE | INPUT=DIMS]...\n");
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
    int64_t in_shape[MAX_TENSORS][8], out_shape[MAX_TENSORS][8];
    const int64_t *in_shapes[MAX_TENSORS];
    int64_t *out_shapes[MAX_TENSORS];
    int given[MAX_TENSORS] = {0};
    for (int i = 0; i < m->n_inputs; i++)
        in_shapes[i] = m->inputs[i].rank <= 8 ? in_shape[i]
                                              : calloc((size_t)m->inputs[i].rank, sizeof(int64_t));
    for (int a = 3; a < argc; a++) {
        const char *eq = strchr(argv[a], '=');
        size_t len = eq ? (size_t)(eq - argv[a]) : 0;
        int s = 0, i = 0;
        while (eq && i < m->n_inputs &&
               (strlen(m->inputs[i].name) != len || strncmp(m->inputs[i].name, argv[a], len)))
            i++;
        if (eq && i < m->n_inputs) { /* INPUT=DIMS */
            if (!parse_dims(eq + 1, (int64_t *)in_shapes[i], m->inputs[i].rank)) {
                fprintf(stderr, "kiln_bench: '%s': input '%s' has rank %d\n", argv[a],
                        m->inputs[i].name, m->inputs[i].rank);
                return 2;
            }
            given[i] = 1;
            continue;
        }
        while (eq && s < m->n_syms &&
               (strlen(m->syms[s].name) != len || strncmp(m->syms[s].name, argv[a], len) != 0))
            s++;
        if (!eq || s == m->n_syms) {
            fprintf(stderr,
                    "kiln_bench: '%s' is not NAME=VALUE with NAME a symbol, nor INPUT=DIMS\n",
                    argv[a]);
            return 2;
        }
        syms[s] = atoll(eq + 1);
    }
    for (int i = 0; i < m->n_inputs; i++) {
        const KilnTensorInfo *t = &m->inputs[i];
        int64_t *sh = (int64_t *)in_shapes[i];
        for (int d = 0; !given[i] && d < t->rank; d++)
            sh[d] = t->shape[d] != -1 ? t->shape[d] : t->sym[d] >= 0 ? syms[t->sym[d]] : t->min[d];
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
        size_t n = bytes_of(&m->inputs[i], in_shapes[i]), es = kiln_dtype_size(m->inputs[i].dtype);
        void *p = buffer(n);
        if (!p) {
            fprintf(stderr, "kiln_bench: input '%s' does not fit in memory\n", m->inputs[i].name);
            return 1;
        }
        fill(p, m->inputs[i].dtype, es ? n / es : 0, &seed);
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
    const char *nt = getenv("KILN_THREADS");
    int threads = nt && *nt ? atoi(nt) : 1;
    KilnPool *pool = threads > 1 ? kiln_pool_create(threads) : NULL;
    if (threads < 1 || threads > KILN_POOL_MAX_THREADS || (threads > 1 && !pool)) {
        fprintf(stderr, "kiln_bench: KILN_THREADS=%s: give 1..%d threads\n", nt,
                KILN_POOL_MAX_THREADS);
        return 2;
    }
    KilnThreadPool *lent = pool ? kiln_pool_abi(pool) : NULL;
    for (int i = 0; i < 10; i++)
        m->run(ins, in_shapes, outs, NULL, ws, lent);
    double *t = malloc(sizeof(double) * (size_t)iters);
    for (int i = 0; i < iters; i++) {
        double t0 = now_us();
        m->run(ins, in_shapes, outs, NULL, ws, lent);
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    double med = t[iters / 2], p99 = t[(int)(iters * 0.99)];
    printf("{\"median_us\": %.3f, \"p99_us\": %.3f, \"inferences_per_s\": %.1f, \"threads\": %d}\n",
           med, p99, batch * 1e6 / med, threads);
    kiln_pool_destroy(pool);
    return 0;
}
