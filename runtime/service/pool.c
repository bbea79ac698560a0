/* pool.c: the thread pool run() borrows (pool.h).
 *
 * One loop at a time is published through `gen`, a sequence number that
 * works like a seqlock: parallel() makes it odd, waits until no worker is
 * still inside the previous loop (`inflight`), writes the loop's fn, ctx
 * and task count, and makes it even again. A worker that sees a new even
 * gen counts itself in `inflight`, checks that gen did not move meanwhile
 * (if it did, it backs off and looks again), and then takes tasks from
 * `next` until none is left. parallel() takes tasks too, and returns once
 * `done` reaches the task count: it waits for tasks, not for workers, so
 * a worker that wakes late finds nothing left and costs nothing.
 *
 * Every atomic operation on gen, inflight, next and done is sequentially
 * consistent, which is what the argument needs: a worker whose recheck
 * saw gen unchanged did its increment of inflight before parallel()'s
 * odd store, so parallel()'s wait sees it.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Spins of a worker waiting for the next loop before it sleeps (about
 * 50-200 us): long enough to bridge the small kernels run() calls
 * inline between two parallel loops, short enough not to burn a core
 * between requests. */
enum { POOL_WORKER_SPINS = 1 << 12, POOL_CALLER_SPINS = 1 << 10 };

struct KilnPool {
    KilnThreadPool abi; /* what run() gets */
    int n_workers;      /* abi.n_threads - 1 */
    pthread_t *threads; /* n_workers of them */
    /* The loop, written by parallel() while gen is odd. */
    _Atomic(KilnTaskFn) fn;
    _Atomic(void *) ctx;
    _Atomic int64_t n_tasks;
    _Atomic uint64_t gen; /* even: loop gen / 2 is published; odd: being written */
    _Atomic int64_t next; /* the next task to take */
    _Atomic int64_t done; /* tasks that have returned */
    _Atomic int inflight; /* workers that may read the loop or take tasks */
    _Atomic int sleepers; /* workers asleep (or going to sleep) on cv */
    _Atomic int stop;     /* kiln_pool_destroy(): workers exit */
    pthread_mutex_t mu;   /* with cv: where workers sleep */
    pthread_cond_t cv;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One step of parallel()'s waits: spin a little, then yield the core,
 * which may be the one the thread waited for needs (oversubscribed). */
static inline void caller_wait(int *spins) {
    if (++*spins < POOL_CALLER_SPINS)
        cpu_relax();
    else
        sched_yield();
}

/* Runs tasks of the published loop until none is left. */
static void tasks_take(KilnPool *p) {
    KilnTaskFn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
    void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
    int64_t n = atomic_load_explicit(&p->n_tasks, memory_order_relaxed);
    for (;;) {
        int64_t t = atomic_fetch_add(&p->next, 1);
        if (t >= n) return;
        fn(ctx, t);
        atomic_fetch_add(&p->done, 1);
    }
}

static void *worker_main(void *arg) {
    KilnPool *p = arg;
    uint64_t seen = 0; /* the last loop this worker joined (or the initial gen) */
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load(&p->gen)) == seen || (g & 1)) {
            if (atomic_load(&p->stop)) return NULL;
            if (++spins < POOL_WORKER_SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        atomic_fetch_add(&p->inflight, 1);
        if (atomic_load(&p->gen) == g) {
            seen = g;
            tasks_take(p);
        }
        atomic_fetch_sub(&p->inflight, 1);
    }
}

static void pool_parallel(KilnThreadPool *abi, KilnTaskFn fn, void *ctx, int64_t n_tasks) {
    KilnPool *p = (KilnPool *)abi;
    if (n_tasks <= 0) return;
    if (n_tasks == 1 || p->n_workers == 0) {
        for (int64_t t = 0; t < n_tasks; t++)
            fn(ctx, t);
        return;
    }
    uint64_t g = atomic_load(&p->gen); /* even: only this thread writes it */
    atomic_store(&p->gen, g + 1);
    int spins = 0;
    while (atomic_load(&p->inflight) != 0) /* late workers of the last loop leave */
        caller_wait(&spins);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->n_tasks, n_tasks, memory_order_relaxed);
    atomic_store(&p->next, 0);
    atomic_store(&p->done, 0);
    atomic_store(&p->gen, g + 2);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    tasks_take(p);
    /* The tasks left are running on workers. */
    for (spins = 0; atomic_load(&p->done) < n_tasks;)
        caller_wait(&spins);
}

KilnPool *kiln_pool_create(int n_threads) {
    if (n_threads < 1 || n_threads > KILN_POOL_MAX_THREADS) return NULL;
    KilnPool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->abi.n_threads = n_threads;
    p->abi.parallel = pool_parallel;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    if (n_threads > 1 && !(p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads))) {
        kiln_pool_destroy(p);
        return NULL;
    }
    /* Workers take no signals: the program's threads handle them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 0; i + 1 < n_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) break;
        p->n_workers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->n_workers != n_threads - 1) {
        kiln_pool_destroy(p);
        return NULL;
    }
    return p;
}

void kiln_pool_destroy(KilnPool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

KilnThreadPool *kiln_pool_abi(KilnPool *p) {
    return &p->abi;
}
