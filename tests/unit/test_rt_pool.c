/* test_rt_pool.c: the thread pool behind KilnThreadPool (runtime/service/pool.h). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pool.h"

enum { MAX_TASKS = 4096 };

/* Counts how often each task ran, and on how many distinct threads. */
typedef struct Tally {
    _Atomic int runs[MAX_TASKS];
    _Atomic int64_t sum;
} Tally;

static void task_count(void *ctx, int64_t task) {
    Tally *t = ctx;
    atomic_fetch_add(&t->runs[task], 1);
    atomic_fetch_add(&t->sum, task);
}

static void tally_expect_once(Tally *t, int64_t n) {
    for (int64_t i = 0; i < MAX_TASKS; i++)
        assert_int_equal(atomic_load(&t->runs[i]), i < n ? 1 : 0);
    assert_int_equal(atomic_load(&t->sum), n * (n - 1) / 2);
}

static void test_pool_create_refuses_thread_counts_out_of_range(void **state) {
    (void)state;
    assert_null(kiln_pool_create(0));
    assert_null(kiln_pool_create(-3));
    assert_null(kiln_pool_create(KILN_POOL_MAX_THREADS + 1));
    kiln_pool_destroy(NULL); /* ignored */
}

static void test_pool_reports_its_thread_count(void **state) {
    (void)state;
    for (int n = 1; n <= 4; n++) {
        KilnPool *p = kiln_pool_create(n);
        assert_non_null(p);
        assert_int_equal(kiln_pool_abi(p)->n_threads, n);
        kiln_pool_destroy(p);
    }
}

static void test_pool_runs_every_task_once_for_any_task_count(void **state) {
    (void)state;
    static const int64_t counts[] = {0, 1, 2, 3, 7, 64, 1000, MAX_TASKS};
    for (int n = 1; n <= 3; n++) {
        KilnPool *p = kiln_pool_create(n);
        KilnThreadPool *abi = kiln_pool_abi(p);
        for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
            Tally *t = calloc(1, sizeof *t);
            abi->parallel(abi, task_count, t, counts[i]);
            tally_expect_once(t, counts[i]);
            free(t);
        }
        kiln_pool_destroy(p);
    }
}

static void test_pool_negative_task_count_runs_nothing(void **state) {
    (void)state;
    KilnPool *p = kiln_pool_create(2);
    Tally *t = calloc(1, sizeof *t);
    kiln_pool_abi(p)->parallel(kiln_pool_abi(p), task_count, t, -5);
    tally_expect_once(t, 0);
    free(t);
    kiln_pool_destroy(p);
}

/* Each loop writes its own values; the next loop reads them: every loop
 * must see the previous one's writes, and no task may run in the wrong loop. */
typedef struct Chain {
    int64_t loop;
    int64_t v[256];
    _Atomic int bad;
} Chain;

static void task_chain(void *ctx, int64_t task) {
    Chain *c = ctx;
    if (c->v[task] != c->loop * 1000 + task) atomic_store(&c->bad, 1);
    c->v[task] = (c->loop + 1) * 1000 + task;
}

static void test_pool_back_to_back_loops_see_each_others_writes(void **state) {
    (void)state;
    KilnPool *p = kiln_pool_create(3);
    KilnThreadPool *abi = kiln_pool_abi(p);
    Chain *c = calloc(1, sizeof *c);
    for (int64_t i = 0; i < 256; i++)
        c->v[i] = i;
    for (c->loop = 0; c->loop < 5000; c->loop++)
        abi->parallel(abi, task_chain, c, 256);
    assert_int_equal(atomic_load(&c->bad), 0);
    for (int64_t i = 0; i < 256; i++)
        assert_int_equal(c->v[i], 5000 * 1000 + i);
    free(c);
    kiln_pool_destroy(p);
}

/* Loops with sleeps in between: workers go to sleep and must wake. */
static void test_pool_wakes_sleeping_workers(void **state) {
    (void)state;
    KilnPool *p = kiln_pool_create(2);
    KilnThreadPool *abi = kiln_pool_abi(p);
    for (int r = 0; r < 20; r++) {
        struct timespec ts = {0, 2000000}; /* 2 ms: past the workers' spinning */
        nanosleep(&ts, NULL);
        Tally *t = calloc(1, sizeof *t);
        abi->parallel(abi, task_count, t, 100);
        tally_expect_once(t, 100);
        free(t);
    }
    kiln_pool_destroy(p);
}

/* Every task blocks until all n_threads threads are inside one: proves the
 * pool really runs tasks on n threads at once (and would hang, failing the
 * test by timeout, if it did not). */
typedef struct Barrier {
    _Atomic int arrived;
    int need;
} Barrier;

static void task_barrier(void *ctx, int64_t task) {
    (void)task;
    Barrier *b = ctx;
    atomic_fetch_add(&b->arrived, 1);
    while (atomic_load(&b->arrived) < b->need)
        sched_yield();
}

static void test_pool_runs_tasks_on_every_thread_at_once(void **state) {
    (void)state;
    KilnPool *p = kiln_pool_create(3);
    Barrier b = {0, 3};
    kiln_pool_abi(p)->parallel(kiln_pool_abi(p), task_barrier, &b, 3);
    assert_int_equal(atomic_load(&b.arrived), 3);
    kiln_pool_destroy(p);
}

/* Several pools used from several threads at once (the service: one per worker). */
static void *pool_user(void *arg) {
    (void)arg;
    KilnPool *p = kiln_pool_create(2);
    KilnThreadPool *abi = kiln_pool_abi(p);
    Tally *t = calloc(1, sizeof *t);
    for (int r = 0; r < 300; r++) {
        memset(t, 0, sizeof *t);
        abi->parallel(abi, task_count, t, 1 + r % 50);
        for (int i = 0; i < 1 + r % 50; i++)
            if (atomic_load(&t->runs[i]) != 1) abort();
    }
    free(t);
    kiln_pool_destroy(p);
    return NULL;
}

static void test_pool_many_pools_run_side_by_side(void **state) {
    (void)state;
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, pool_user, NULL), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
}

static void test_pool_destroy_right_after_create(void **state) {
    (void)state;
    for (int i = 0; i < 50; i++)
        kiln_pool_destroy(kiln_pool_create(1 + i % 4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_create_refuses_thread_counts_out_of_range),
        cmocka_unit_test(test_pool_reports_its_thread_count),
        cmocka_unit_test(test_pool_runs_every_task_once_for_any_task_count),
        cmocka_unit_test(test_pool_negative_task_count_runs_nothing),
        cmocka_unit_test(test_pool_back_to_back_loops_see_each_others_writes),
        cmocka_unit_test(test_pool_wakes_sleeping_workers),
        cmocka_unit_test(test_pool_runs_tasks_on_every_thread_at_once),
        cmocka_unit_test(test_pool_many_pools_run_side_by_side),
        cmocka_unit_test(test_pool_destroy_right_after_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
