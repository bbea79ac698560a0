/* pool.h: a thread pool that implements the model ABI's KilnThreadPool
 * (kiln_model.h), for the service and for programs that embed a model.
 *
 * kiln_pool_create(n) starts n - 1 worker threads; the thread that calls
 * parallel() is the n-th and takes tasks too. Tasks are handed out one at
 * a time from an atomic counter, so a slow or descheduled thread only
 * delays the tasks it took. Between loops the workers spin briefly, then
 * sleep on a condition variable until the next loop. parallel() never
 * allocates. One pool runs one loop at a time: give each thread that calls
 * run() its own pool. The pool is owned by its creator, who destroys it
 * once no run() uses it.
 *
 * Embedders: compile runtime/service/pool.c with their program (it needs
 * only pthreads) and pass kiln_pool_abi(pool) to run().
 */
#ifndef KILN_POOL_H
#define KILN_POOL_H

#include "kiln_model.h"

/* The largest thread count a pool takes (the service's --threads-per-request
 * bound). */
#define KILN_POOL_MAX_THREADS 256

typedef struct KilnPool KilnPool;

/* A pool of n_threads threads, the caller's included (n_threads in
 * [1, KILN_POOL_MAX_THREADS]; 1 starts no thread). NULL if n_threads is
 * out of range or the threads could not be started. */
KilnPool *kiln_pool_create(int n_threads);
/* Stops and joins the workers and frees the pool; NULL is ignored. */
void kiln_pool_destroy(KilnPool *p);
/* The interface run() takes; valid as long as p. */
KilnThreadPool *kiln_pool_abi(KilnPool *p);

#endif
