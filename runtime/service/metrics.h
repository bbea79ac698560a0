/* metrics.h: request counters and latency histograms, written as
 * Prometheus text for GET /metrics.
 *
 * Each server worker owns one RtMetrics and is the only thread that
 * writes it (relaxed atomic adds: no lock, no contention); a scrape sums
 * every worker's copy while they keep running, so a scrape may see one
 * request counted in a counter and not yet in a histogram. Durations are
 * in microseconds. Nothing here allocates except rt_metrics_text(),
 * whose text the caller frees.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln_model.h"

typedef enum {
    RT_EP_INFER,    /* POST .../infer */
    RT_EP_HEALTH,   /* /v2/health/live and ready, .../ready */
    RT_EP_METADATA, /* /v2, /v2/models/{m}, .../config */
    RT_EP_METRICS,  /* /metrics */
    RT_EP_OTHER,    /* no such path */
    RT_EP_COUNT
} RtEndpoint;

typedef enum {
    RT_REASON_OK,
    RT_REASON_BAD_REQUEST,
    RT_REASON_UNAUTHORIZED,
    RT_REASON_NOT_FOUND,
    RT_REASON_METHOD_NOT_ALLOWED,
    RT_REASON_TOO_LARGE,
    RT_REASON_UNAVAILABLE,
    RT_REASON_INTERNAL,
    RT_REASON_COUNT
} RtReason;

#define RT_HIST_BOUNDS 18 /* finite bucket bounds; one more bucket is +Inf */

typedef struct RtHistogram {
    _Atomic uint64_t bucket[RT_HIST_BOUNDS + 1]; /* not cumulative; the last is +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} RtHistogram;

typedef struct RtMetrics {
    _Atomic uint64_t requests[RT_EP_COUNT][RT_REASON_COUNT];
    _Atomic uint64_t inferences;     /* successful infer requests */
    _Atomic uint64_t rows;           /* batch rows they inferred */
    _Atomic uint64_t conns_rejected; /* over --max-connections: 503 or closed */
    RtHistogram request_us;          /* whole request, handler entry to reply */
    RtHistogram queue_us;            /* infer: handler entry to the start of run() */
    RtHistogram compute_us;          /* infer: time in run() */
} RtMetrics;

/* Gauges the server reads at scrape time. */
typedef struct RtGauges {
    int64_t in_flight;   /* requests being handled or whose reply is being sent */
    int64_t connections; /* open client connections */
    int ready;           /* 1 unless draining */
    int workers;
    int threads_per_request;
} RtGauges;

/* The reason label of an HTTP status: 2xx ok, 400, 401, 404, 405, 413,
 * 503, anything else internal. */
RtReason rt_metrics_reason(int status);

void rt_metrics_observe(RtHistogram *h, uint64_t us);
void rt_metrics_request_count(RtMetrics *m, RtEndpoint ep, int status);

/* The Prometheus text (format 0.0.4) of n worker shards plus the gauges
 * and kiln_build_info{model, version, sha256, kiln_version}. malloc'd,
 * caller frees; NULL if memory ran out. */
char *rt_metrics_text(const KilnModel *model, const RtMetrics *const *shards, int n,
                      const RtGauges *g, size_t *len_out);

#endif
