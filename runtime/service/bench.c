/* bench.c: in-process latency of the model (bench.h). */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

#define ALIGN 64

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *buffer_alloc(size_t n) {
    if (n > SIZE_MAX - ALIGN) return NULL; /* workspace_size() says SIZE_MAX when it overflows */
    size_t size = n ? (n + ALIGN - 1) / ALIGN * ALIGN : ALIGN;
    return aligned_alloc(ALIGN, size);
}

/* Elements of tensor t at this batch, or -1 on overflow / over the limit. */
static int tensor_numel(const KilnTensorInfo *t, int64_t batch, size_t *out) {
    size_t n = 1;
    for (int d = 0; d < t->rank; d++) {
        int64_t dim = t->shape[d] == -1 ? batch : t->shape[d];
        if (dim < 0 || __builtin_mul_overflow(n, (size_t)dim, &n)) return -1;
    }
    if (n > RT_TENSOR_MAX_BYTES / kiln_dtype_size(t->dtype)) return -1;
    *out = n;
    return 0;
}

/* Fills n elements with small values from a fixed sequence (xorshift). */
static void inputs_fill(void *p, int dtype, size_t n, uint32_t *seed) {
    for (size_t i = 0; i < n; i++) {
        uint32_t x = *seed;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        *seed = x;
        float f = (float)(x >> 8) / (float)(1u << 24) * 2.0f - 1.0f; /* [-1, 1) */
        switch (dtype) {
        case KILN_DT_FLOAT:
            ((float *)p)[i] = f;
            break;
        case KILN_DT_DOUBLE:
            ((double *)p)[i] = f;
            break;
        case KILN_DT_BOOL:
        case KILN_DT_UINT8:
        case KILN_DT_INT8:
            ((uint8_t *)p)[i] = (uint8_t)(x & 1);
            break;
        default: /* other ints and FP16: zero is valid for all */
            memset((char *)p + i * kiln_dtype_size(dtype), 0, kiln_dtype_size(dtype));
        }
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(const uint64_t *sorted, long n, double p) {
    long i = (long)(p * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1000.0;
}

int rt_bench_run(const KilnModel *m, int64_t batch, long iters, int threads, FILE *out,
                 char err[RT_ERR_LEN]) {
    int rc = -1;
    void **in = calloc((size_t)m->n_inputs + 1, sizeof *in);
    void **outs = calloc((size_t)m->n_outputs + 1, sizeof *outs);
    uint64_t *ns = iters > 0 ? calloc((size_t)iters, sizeof *ns) : NULL;
    void *ws = NULL;
    uint32_t seed = 0x9e3779b9u;
    if (batch < 1 || iters < 1) {
        snprintf(err, RT_ERR_LEN, "bench needs --batch >= 1 and --iters >= 1");
        goto out;
    }
    if (!in || !outs || !ns) goto oom;
    for (int k = 0; k < m->n_inputs; k++) {
        size_t n;
        if (tensor_numel(&m->inputs[k], batch, &n) != 0) {
            snprintf(err, RT_ERR_LEN, "batch %lld makes input '%s' too large", (long long)batch,
                     m->inputs[k].name);
            goto out;
        }
        if (!(in[k] = buffer_alloc(n * kiln_dtype_size(m->inputs[k].dtype)))) goto oom;
        inputs_fill(in[k], m->inputs[k].dtype, n, &seed);
    }
    for (int k = 0; k < m->n_outputs; k++) {
        size_t n;
        if (tensor_numel(&m->outputs[k], batch, &n) != 0) {
            snprintf(err, RT_ERR_LEN, "batch %lld makes output '%s' too large", (long long)batch,
                     m->outputs[k].name);
            goto out;
        }
        if (!(outs[k] = buffer_alloc(n * kiln_dtype_size(m->outputs[k].dtype)))) goto oom;
    }
    if (!(ws = buffer_alloc(m->workspace_size(batch)))) goto oom;

    long warmup = iters / 10 > 0 ? iters / 10 : 1;
    int st = 0;
    for (long i = 0; i < warmup; i++)
        if ((st = m->run((const void *const *)in, outs, ws, batch, NULL)) != 0) goto run_failed;
    uint64_t total = 0;
    for (long i = 0; i < iters; i++) {
        uint64_t t0 = now_ns();
        if ((st = m->run((const void *const *)in, outs, ws, batch, NULL)) != 0) goto run_failed;
        ns[i] = now_ns() - t0;
        total += ns[i];
    }
    qsort(ns, (size_t)iters, sizeof *ns, cmp_u64);
    double secs = total > 0 ? (double)total / 1e9 : 1e-9;
    RtBuf b;
    rt_buf_init(&b);
    rt_buf_puts(&b, "{\"model\":");
    rt_buf_put_json_string(&b, m->name);
    rt_buf_puts(&b, ",\"version\":");
    rt_buf_put_json_string(&b, m->version);
    rt_buf_printf(&b,
                  ",\"batch\":%lld,\"iters\":%ld,\"threads_per_request\":%d,\"min_us\":%.3f,"
                  "\"median_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,\"max_us\":%.3f,"
                  "\"mean_us\":%.3f,\"runs_per_s\":%.1f,\"inferences_per_s\":%.1f}\n",
                  (long long)batch, iters, threads, pct_us(ns, iters, 0), pct_us(ns, iters, 0.5),
                  pct_us(ns, iters, 0.9), pct_us(ns, iters, 0.99), pct_us(ns, iters, 1),
                  (double)total / 1000.0 / (double)iters, (double)iters / secs,
                  (double)iters * (double)batch / secs);
    size_t len = 0;
    char *text = rt_buf_take(&b, &len);
    if (!text) goto oom;
    fwrite(text, 1, len, out);
    free(text);
    rc = 0;
    goto out;
run_failed: /* e.g. a check on bench's generated inputs (zeros, mostly) */
    kiln_run_error_format(m, st, ws, batch, err, RT_ERR_LEN);
    goto out;
oom:
    snprintf(err, RT_ERR_LEN, "out of memory for batch %lld", (long long)batch);
out:
    for (int k = 0; in && k < m->n_inputs; k++)
        free(in[k]);
    for (int k = 0; outs && k < m->n_outputs; k++)
        free(outs[k]);
    free(in);
    free(outs);
    free(ns);
    free(ws);
    return rc;
}
