/* metrics.c: counters, histograms and their Prometheus text (metrics.h). */
#include "metrics.h"

#include "buf.h"
#include "meta.h"

/* Bucket bounds in microseconds: 10 us to 10 s, roughly 1-2.5-5 steps. */
static const uint64_t bounds_us[RT_HIST_BOUNDS] = {
    10,    25,    50,    100,    250,    500,    1000,    2500,    5000,
    10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000, 10000000,
};

static const char *const endpoint_names[RT_EP_COUNT] = {
    [RT_EP_INFER] = "infer",     [RT_EP_HEALTH] = "health", [RT_EP_METADATA] = "metadata",
    [RT_EP_METRICS] = "metrics", [RT_EP_OTHER] = "other",
};

static const char *const reason_names[RT_REASON_COUNT] = {
    [RT_REASON_OK] = "ok",
    [RT_REASON_BAD_REQUEST] = "bad_request",
    [RT_REASON_UNAUTHORIZED] = "unauthorized",
    [RT_REASON_NOT_FOUND] = "not_found",
    [RT_REASON_METHOD_NOT_ALLOWED] = "method_not_allowed",
    [RT_REASON_TOO_LARGE] = "too_large",
    [RT_REASON_UNAVAILABLE] = "unavailable",
    [RT_REASON_INTERNAL] = "internal",
};

RtReason rt_metrics_reason(int status) {
    if (status >= 200 && status < 300) return RT_REASON_OK;
    switch (status) {
    case 400:
        return RT_REASON_BAD_REQUEST;
    case 401:
        return RT_REASON_UNAUTHORIZED;
    case 404:
        return RT_REASON_NOT_FOUND;
    case 405:
        return RT_REASON_METHOD_NOT_ALLOWED;
    case 413:
        return RT_REASON_TOO_LARGE;
    case 503:
        return RT_REASON_UNAVAILABLE;
    default:
        return RT_REASON_INTERNAL;
    }
}

static void add(_Atomic uint64_t *x, uint64_t v) {
    atomic_fetch_add_explicit(x, v, memory_order_relaxed);
}

static uint64_t get(const _Atomic uint64_t *x) {
    return atomic_load_explicit((_Atomic uint64_t *)x, memory_order_relaxed);
}

void rt_metrics_observe(RtHistogram *h, uint64_t us) {
    int b = 0;
    while (b < RT_HIST_BOUNDS && us > bounds_us[b])
        b++;
    add(&h->bucket[b], 1);
    add(&h->count, 1);
    add(&h->sum_us, us);
}

void rt_metrics_request_count(RtMetrics *m, RtEndpoint ep, int status) {
    add(&m->requests[ep][rt_metrics_reason(status)], 1);
}

static void histogram_write(RtBuf *b, const char *name, const char *help,
                            const RtMetrics *const *shards, int n, size_t offset) {
    rt_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0, count = 0, sum = 0;
    for (int k = 0; k <= RT_HIST_BOUNDS; k++) {
        for (int w = 0; w < n; w++) {
            const RtHistogram *h = (const RtHistogram *)((const char *)shards[w] + offset);
            cumulative += get(&h->bucket[k]);
        }
        if (k < RT_HIST_BOUNDS)
            rt_buf_printf(b, "%s_bucket{le=\"%llu\"} %llu\n", name,
                          (unsigned long long)bounds_us[k], (unsigned long long)cumulative);
        else
            rt_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    }
    for (int w = 0; w < n; w++) {
        const RtHistogram *h = (const RtHistogram *)((const char *)shards[w] + offset);
        count += get(&h->count);
        sum += get(&h->sum_us);
    }
    /* A scrape races the workers: keep +Inf and _count consistent. */
    if (count < cumulative) count = cumulative;
    rt_buf_printf(b, "%s_sum %llu\n%s_count %llu\n", name, (unsigned long long)sum, name,
                  (unsigned long long)count);
}

/* A label value: '\\', '"' and newlines escaped, as the text format asks. */
static void label_write(RtBuf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '\\' || *s == '"')
            rt_buf_putc(b, '\\'), rt_buf_putc(b, *s);
        else if (*s == '\n')
            rt_buf_puts(b, "\\n");
        else
            rt_buf_putc(b, *s);
    }
}

static uint64_t shards_sum(const RtMetrics *const *shards, int n, size_t offset) {
    uint64_t sum = 0;
    for (int w = 0; w < n; w++)
        sum += get((const _Atomic uint64_t *)((const char *)shards[w] + offset));
    return sum;
}

char *rt_metrics_text(const KilnModel *model, const RtMetrics *const *shards, int n,
                      const RtGauges *g, size_t *len_out) {
    RtBuf b;
    char version[64];
    rt_buf_init(&b);
    rt_buf_puts(&b, "# HELP kiln_requests_total HTTP requests answered, by endpoint and "
                    "reason (ok or the error class).\n# TYPE kiln_requests_total counter\n");
    for (int ep = 0; ep < RT_EP_COUNT; ep++) {
        for (int r = 0; r < RT_REASON_COUNT; r++) {
            size_t off = offsetof(RtMetrics, requests) +
                         ((size_t)ep * RT_REASON_COUNT + (size_t)r) * sizeof(_Atomic uint64_t);
            rt_buf_printf(&b, "kiln_requests_total{endpoint=\"%s\",reason=\"%s\"} %llu\n",
                          endpoint_names[ep], reason_names[r],
                          (unsigned long long)shards_sum(shards, n, off));
        }
    }
    rt_buf_printf(&b,
                  "# HELP kiln_inferences_total Successful inference requests.\n"
                  "# TYPE kiln_inferences_total counter\nkiln_inferences_total %llu\n"
                  "# HELP kiln_inference_rows_total Batch rows inferred.\n"
                  "# TYPE kiln_inference_rows_total counter\nkiln_inference_rows_total %llu\n"
                  "# HELP kiln_connections_rejected_total Connections over --max-connections "
                  "answered 503 or closed.\n"
                  "# TYPE kiln_connections_rejected_total counter\n"
                  "kiln_connections_rejected_total %llu\n",
                  (unsigned long long)shards_sum(shards, n, offsetof(RtMetrics, inferences)),
                  (unsigned long long)shards_sum(shards, n, offsetof(RtMetrics, rows)),
                  (unsigned long long)shards_sum(shards, n, offsetof(RtMetrics, conns_rejected)));
    histogram_write(&b, "kiln_request_duration_us",
                    "Time to handle a request, from the handler to the reply, in microseconds.",
                    shards, n, offsetof(RtMetrics, request_us));
    histogram_write(&b, "kiln_queue_duration_us",
                    "Infer: time from the handler to the start of the model run (parsing and "
                    "checking the request), in microseconds.",
                    shards, n, offsetof(RtMetrics, queue_us));
    histogram_write(&b, "kiln_compute_duration_us",
                    "Infer: time in the model's run(), in microseconds.", shards, n,
                    offsetof(RtMetrics, compute_us));
    rt_buf_printf(&b,
                  "# HELP kiln_in_flight_requests Requests being handled or answered.\n"
                  "# TYPE kiln_in_flight_requests gauge\nkiln_in_flight_requests %lld\n"
                  "# HELP kiln_open_connections Open client connections.\n"
                  "# TYPE kiln_open_connections gauge\nkiln_open_connections %lld\n"
                  "# HELP kiln_ready 1 while the server accepts inference, 0 while draining.\n"
                  "# TYPE kiln_ready gauge\nkiln_ready %d\n"
                  "# HELP kiln_workers Worker threads, each with its own event loop.\n"
                  "# TYPE kiln_workers gauge\nkiln_workers %d\n",
                  (long long)g->in_flight, (long long)g->connections, g->ready, g->workers);
    rt_buf_puts(&b, "# HELP kiln_build_info The model this binary serves and the kiln that "
                    "compiled it.\n# TYPE kiln_build_info gauge\nkiln_build_info{model=\"");
    label_write(&b, model->name);
    rt_buf_puts(&b, "\",version=\"");
    label_write(&b, model->version);
    rt_buf_puts(&b, "\",sha256=\"");
    label_write(&b, model->sha256 ? model->sha256 : "unknown");
    rt_buf_puts(&b, "\",kiln_version=\"");
    label_write(&b, rt_meta_kiln_version(model, version, sizeof version));
    rt_buf_printf(&b, "\",threads_per_request=\"%d\"} 1\n", g->threads_per_request);
    return rt_buf_take(&b, len_out);
}
