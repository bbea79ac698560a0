/* bench.h: `OUT bench`, the model's latency measured in-process.
 *
 * Runs the model `iters` times on one batch of deterministic inputs
 * (a fixed pseudo-random sequence, the same on every run and machine),
 * after a warm-up of iters/10 runs (at least 1), and writes one JSON line:
 * {"model", "version", "batch", "iters", "threads_per_request", "min_us",
 * "median_us", "p90_us", "p99_us", "max_us", "mean_us", "runs_per_s",
 * "inferences_per_s"}. Every buffer is allocated before timing starts
 * and freed before returning.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "kiln_model.h"
#include "rt.h"

/* 0 with the line written to out, or -1 with the reason in err.
 * threads is recorded; runs use the calling thread. */
int rt_bench_run(const KilnModel *m, int64_t batch, long iters, int threads, FILE *out,
                 char err[RT_ERR_LEN]);

#endif
