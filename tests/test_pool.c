/* test_pool.c — the worker pool: every row visited exactly once for any thread count,
 * chunk size and job size; thread ids in range; nested calls run inline; many small
 * jobs in a row (the decode pattern) neither lose work nor deadlock. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "t.h"

typedef struct {
    atomic_int *hits;
    int n_threads;
    atomic_int bad_tid;
    g4_pool *pool;
    atomic_int nested_rows;
} job;

static void count_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    job *j = arg;
    if (tid < 0 || tid >= j->n_threads) atomic_fetch_add(&j->bad_tid, 1);
    for (int64_t r = r0; r < r1; r++) atomic_fetch_add(&j->hits[r], 1);
}

static void inner(void *arg, int64_t r0, int64_t r1, int tid) {
    job *j = arg;
    (void)tid;
    atomic_fetch_add(&j->nested_rows, (int)(r1 - r0));
}

static void outer(void *arg, int64_t r0, int64_t r1, int tid) {
    job *j = arg;
    count_rows(arg, r0, r1, tid);
    for (int64_t r = r0; r < r1; r++) g4_pool_run(j->pool, 10, 1, inner, j); /* runs inline */
}

int main(void) {
    const int64_t sizes[] = {1, 2, 3, 7, 31, 32, 33, 100, 1000, 262144};
    for (int nt = 1; nt <= 4; nt++) {
        g4_pool *p = NULL;
        g4_error err = {0};
        T_CHECK(g4_pool_create(nt, &p, &err) == G4_OK);
        T_CHECK(g4_pool_size(p) == nt);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            for (int64_t chunk = 1; chunk <= 64; chunk *= 4) {
                const int64_t n = sizes[si];
                job j = {.n_threads = nt};
                j.hits = calloc((size_t)n, sizeof *j.hits);
                g4_pool_run(p, n, chunk, count_rows, &j);
                int wrong = 0;
                for (int64_t r = 0; r < n; r++) wrong += atomic_load(&j.hits[r]) != 1;
                T_CHECKF(wrong == 0, "threads %d, n %lld, chunk %lld: %d rows not visited once", nt,
                         (long long)n, (long long)chunk, wrong);
                T_CHECK(atomic_load(&j.bad_tid) == 0);
                free(j.hits);
            }
        }
        /* the decode pattern: thousands of tiny jobs back to back */
        job j = {.n_threads = nt};
        j.hits = calloc(64, sizeof *j.hits);
        for (int k = 0; k < 20000; k++) g4_pool_run(p, 64, 8, count_rows, &j);
        int wrong = 0;
        for (int r = 0; r < 64; r++) wrong += atomic_load(&j.hits[r]) != 20000;
        T_CHECKF(wrong == 0, "threads %d: lost rows in repeated jobs", nt);
        free(j.hits);
        /* nested parallel-for runs inline and completes */
        job jn = {.n_threads = nt, .pool = p};
        jn.hits = calloc(100, sizeof *jn.hits);
        g4_pool_run(p, 100, 1, outer, &jn);
        T_CHECK(atomic_load(&jn.nested_rows) == 100 * 10);
        free(jn.hits);
        g4_pool_free(p);
    }
    /* degenerate arguments */
    g4_pool *p = NULL;
    g4_error err = {0};
    T_CHECK(g4_pool_create(0, &p, &err) == G4_OK && g4_pool_size(p) == 1);
    g4_pool_free(p);
    T_CHECK(g4_pool_create(100000, &p, &err) == G4_ERR_ARG);
    g4_pool_free(NULL);
    job j = {.n_threads = 1};
    g4_pool_run(NULL, 0, 1, count_rows, &j); /* nothing to do */
    return T_DONE();
}
