/* bench.h: `OUT bench`, the model's latency measured in-process.
 *
 * Runs the model `iters` times on one set of deterministic inputs (a
 * fixed pseudo-random sequence, the same on every run and machine), at
 * the input shapes that the symbols' values give, after a warm-up of
 * iters/10 runs (at least 1), and writes one JSON line: {"model",
 * "version", "batch", "symbols": {name: value}, "iters",
 * "threads_per_request", "min_us", "median_us", "p90_us", "p99_us",
 * "max_us", "mean_us", "runs_per_s", "inferences_per_s"}. "batch" is the
 * value of the symbol that is every input's dim 0 (1 if there is none);
 * inferences_per_s counts that many per run. Every buffer is allocated
 * before timing starts and freed before returning.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "kiln_model.h"
#include "rt.h"

/* The symbols' values for a bench run into syms[m->n_syms]: `batch` (if
 * batch_given) for the symbol that is every input's dim 0, each "NAME=V"
 * of dims[0..n_dims) for the symbol NAME, every other symbol its min (the
 * batch symbol 1 if its range has it). 0, or -1 with the reason in err (a
 * usage error: an unknown name, a value outside the symbol's range, a
 * symbol given twice, --batch on a model without a batch symbol). */
int rt_bench_syms(const KilnModel *m, int64_t batch, int batch_given, char *const *dims, int n_dims,
                  int64_t *syms, char err[RT_ERR_LEN]);

/* 0 with the line written to out, or -1 with the reason in err (the
 * shapes the model refuses, memory). syms holds m->n_syms values, from
 * rt_bench_syms(). Each run uses a pool of `threads` threads (the calling one
 * included; pool.h). */
int rt_bench_run(const KilnModel *m, const int64_t *syms, long iters, int threads, FILE *out,
                 char err[RT_ERR_LEN]);

#endif
