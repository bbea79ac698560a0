/* bench.c: in-process latency of the model (bench.h). */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "meta.h"
#include "pool.h"

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

/* Elements of a tensor of this shape, or -1 on overflow / over the limit. */
static int tensor_numel(const KilnTensorInfo *t, const int64_t *shape, size_t *out) {
    size_t n = 1;
    for (int d = 0; d < t->rank; d++)
        if (shape[d] < 0 || __builtin_mul_overflow(n, (size_t)shape[d], &n)) return -1;
    if (n > RT_TENSOR_MAX_BYTES / kiln_dtype_size(t->dtype)) return -1;
    *out = n;
    return 0;
}

int rt_bench_syms(const KilnModel *m, int64_t batch, int batch_given, char *const *dims, int n_dims,
                  int64_t *syms, char err[RT_ERR_LEN]) {
    int b = rt_meta_batch_sym(m);
    char *given = calloc((size_t)m->n_syms + 1, 1);
    if (!given) {
        snprintf(err, RT_ERR_LEN, "out of memory");
        return -1;
    }
    int rc = -1;
    for (int s = 0; s < m->n_syms; s++)
        syms[s] = s == b && m->syms[s].min <= 1 && m->syms[s].max >= 1 ? 1 : m->syms[s].min;
    if (batch_given) {
        if (b < 0) {
            char syms_text[256];
            snprintf(err, RT_ERR_LEN,
                     "--batch: the model has no batch dimension (no symbol is dim 0 of every "
                     "input); %s%s",
                     m->n_syms ? "set its symbols with --dim NAME=VALUE: " : "its shapes are fixed",
                     m->n_syms ? rt_syms_format(syms_text, sizeof syms_text, m) : "");
            goto out;
        }
        if (batch < m->syms[b].min || batch > m->syms[b].max) {
            snprintf(err, RT_ERR_LEN,
                     "--batch %lld is outside the model's range [%lld, %lld] of %s",
                     (long long)batch, (long long)m->syms[b].min, (long long)m->syms[b].max,
                     m->syms[b].name);
            goto out;
        }
        syms[b] = batch;
        given[b] = 1;
    }
    for (int i = 0; i < n_dims; i++) {
        const char *eq = strchr(dims[i], '=');
        size_t len = eq ? (size_t)(eq - dims[i]) : 0;
        int s = 0;
        while (eq && s < m->n_syms &&
               (strlen(m->syms[s].name) != len || strncmp(m->syms[s].name, dims[i], len) != 0))
            s++;
        char syms_text[256];
        if (!eq || s == m->n_syms) {
            snprintf(err, RT_ERR_LEN, "--dim '%s': expected NAME=VALUE with NAME one of: %s",
                     dims[i], rt_syms_format(syms_text, sizeof syms_text, m));
            goto out;
        }
        char *end;
        errno = 0;
        long long v = strtoll(eq + 1, &end, 10);
        if (!eq[1] || *end || errno || v < m->syms[s].min || v > m->syms[s].max) {
            snprintf(err, RT_ERR_LEN,
                     "--dim %s: the value must be an integer in the model's range [%lld, %lld]",
                     dims[i], (long long)m->syms[s].min, (long long)m->syms[s].max);
            goto out;
        }
        if (given[s]) {
            snprintf(err, RT_ERR_LEN, "--dim %s: %s is given twice", dims[i], m->syms[s].name);
            goto out;
        }
        syms[s] = v;
        given[s] = 1;
    }
    rc = 0;
out:
    free(given);
    return rc;
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
        case KILN_DT_STRING: /* an array of `const char *` (kiln_model.h) */
            ((const char **)p)[i] = "";
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

/* Input k's shape at these symbol values: each fixed dim as it is, each
 * symbol's value, and a dynamic dim that is no symbol at its minimum. */
static void input_shape(const KilnTensorInfo *t, const int64_t *syms, int64_t *shape) {
    for (int d = 0; d < t->rank; d++)
        shape[d] = t->shape[d] != -1 ? t->shape[d] : t->sym[d] >= 0 ? syms[t->sym[d]] : t->min[d];
}

int rt_bench_run(const KilnModel *m, const int64_t *syms, long iters, int threads, FILE *out,
                 char err[RT_ERR_LEN]) {
    int rc = -1;
    void **in = calloc((size_t)m->n_inputs + 1, sizeof *in);
    void **outs = calloc((size_t)m->n_outputs + 1, sizeof *outs);
    int64_t **in_shapes = calloc((size_t)m->n_inputs + 1, sizeof *in_shapes);
    int64_t **out_shapes = calloc((size_t)m->n_outputs + 1, sizeof *out_shapes);
    uint64_t *ns = iters > 0 ? calloc((size_t)iters, sizeof *ns) : NULL;
    void *ws = NULL;
    uint32_t seed = 0x9e3779b9u;
    int b = rt_meta_batch_sym(m);
    int64_t batch = b >= 0 ? syms[b] : 1;
    KilnRunError e = {0};
    KilnPool *pool = NULL;
    KilnThreadPool *lent = NULL;
    int st = 0;
    if (iters < 1) {
        snprintf(err, RT_ERR_LEN, "bench needs --iters >= 1");
        goto out;
    }
    if (!in || !outs || !in_shapes || !out_shapes || !ns) goto oom;
    for (int k = 0; k < m->n_inputs; k++) {
        if (!(in_shapes[k] = calloc((size_t)m->inputs[k].rank + 1, sizeof(int64_t)))) goto oom;
        input_shape(&m->inputs[k], syms, in_shapes[k]);
    }
    for (int k = 0; k < m->n_outputs; k++)
        if (!(out_shapes[k] = calloc((size_t)m->outputs[k].rank + 1, sizeof(int64_t)))) goto oom;
    if ((st = m->shapes((const int64_t *const *)in_shapes, out_shapes, &e)) != 0) goto run_failed;
    for (int k = 0; k < m->n_inputs; k++) {
        size_t n;
        if (tensor_numel(&m->inputs[k], in_shapes[k], &n) != 0) {
            snprintf(err, RT_ERR_LEN,
                     "input '%s' is over the %zu MiB limit of a tensor at these sizes",
                     m->inputs[k].name, RT_TENSOR_MAX_BYTES >> 20);
            goto out;
        }
        if (!(in[k] = buffer_alloc(n * kiln_dtype_size(m->inputs[k].dtype)))) goto oom;
        inputs_fill(in[k], m->inputs[k].dtype, n, &seed);
    }
    for (int k = 0; k < m->n_outputs; k++) {
        size_t n;
        if (tensor_numel(&m->outputs[k], out_shapes[k], &n) != 0) {
            snprintf(err, RT_ERR_LEN,
                     "output '%s' is over the %zu MiB limit of a tensor at these sizes",
                     m->outputs[k].name, RT_TENSOR_MAX_BYTES >> 20);
            goto out;
        }
        if (!(outs[k] = buffer_alloc(n * kiln_dtype_size(m->outputs[k].dtype)))) goto oom;
    }
    size_t ws_size = m->workspace_size((const int64_t *const *)in_shapes);
    if (ws_size == SIZE_MAX || ws_size > RT_WORKSPACE_MAX_BYTES) {
        snprintf(err, RT_ERR_LEN,
                 "the model needs more than the %zu MiB limit of working memory at these sizes",
                 RT_WORKSPACE_MAX_BYTES >> 20);
        goto out;
    }
    if (!(ws = buffer_alloc(ws_size))) goto oom;
    if (threads > 1) {
        if (!(pool = kiln_pool_create(threads))) {
            snprintf(err, RT_ERR_LEN, "cannot start %d threads", threads - 1);
            goto out;
        }
        lent = kiln_pool_abi(pool);
    }

    long warmup = iters / 10 > 0 ? iters / 10 : 1;
    const void *const *ins = (const void *const *)in;
    const int64_t *const *shapes = (const int64_t *const *)in_shapes;
    for (long i = 0; i < warmup; i++)
        if ((st = m->run(ins, shapes, outs, NULL, ws, lent)) != 0) goto run_failed;
    uint64_t total = 0;
    for (long i = 0; i < iters; i++) {
        uint64_t t0 = now_ns();
        if ((st = m->run(ins, shapes, outs, NULL, ws, lent)) != 0) goto run_failed;
        ns[i] = now_ns() - t0;
        total += ns[i];
    }
    qsort(ns, (size_t)iters, sizeof *ns, cmp_u64);
    double secs = total > 0 ? (double)total / 1e9 : 1e-9;
    RtBuf buf;
    rt_buf_init(&buf);
    rt_buf_puts(&buf, "{\"model\":");
    rt_buf_put_json_string(&buf, m->name);
    rt_buf_puts(&buf, ",\"version\":");
    rt_buf_put_json_string(&buf, m->version);
    rt_buf_printf(&buf, ",\"batch\":%lld,\"symbols\":{", (long long)batch);
    for (int s = 0; s < m->n_syms; s++) {
        if (s) rt_buf_putc(&buf, ',');
        rt_buf_put_json_string(&buf, m->syms[s].name);
        rt_buf_printf(&buf, ":%lld", (long long)syms[s]);
    }
    rt_buf_printf(&buf,
                  "},\"iters\":%ld,\"threads_per_request\":%d,\"min_us\":%.3f,"
                  "\"median_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,\"max_us\":%.3f,"
                  "\"mean_us\":%.3f,\"runs_per_s\":%.1f,\"inferences_per_s\":%.1f}\n",
                  iters, threads, pct_us(ns, iters, 0), pct_us(ns, iters, 0.5),
                  pct_us(ns, iters, 0.9), pct_us(ns, iters, 0.99), pct_us(ns, iters, 1),
                  (double)total / 1000.0 / (double)iters, (double)iters / secs,
                  (double)iters * (double)batch / secs);
    size_t len = 0;
    char *text = rt_buf_take(&buf, &len);
    if (!text) goto oom;
    fwrite(text, 1, len, out);
    free(text);
    rc = 0;
    goto out;
run_failed: /* shapes the model refuses, or a check on bench's generated inputs (zeros, mostly) */
    if (st >= 1 && st <= m->n_checks && ws)
        e = *kiln_run_error(m, ws, (const int64_t *const *)in_shapes);
    kiln_run_error_format(m, st, &e, err, RT_ERR_LEN);
    goto out;
oom:
    snprintf(err, RT_ERR_LEN, "out of memory at these sizes (batch %lld)", (long long)batch);
out:
    for (int k = 0; in && k < m->n_inputs; k++)
        free(in[k]);
    for (int k = 0; outs && k < m->n_outputs; k++)
        free(outs[k]);
    for (int k = 0; in_shapes && k < m->n_inputs; k++)
        free(in_shapes[k]);
    for (int k = 0; out_shapes && k < m->n_outputs; k++)
        free(out_shapes[k]);
    free(in);
    free(outs);
    free(in_shapes);
    free(out_shapes);
    free(ns);
    free(ws);
    kiln_pool_destroy(pool);
    return rc;
}
