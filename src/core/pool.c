/* pool.c — worker threads, chunked parallel-for with a shared atomic counter. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "status.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#include <sched.h>

/* Spin budget between jobs before sleeping (a decode step issues hundreds of short jobs).
 * Spinning threads yield the CPU every few iterations so that an oversubscribed pool
 * (more threads than free cores) still makes progress. */
#define SPIN_ITERS 50000
#define YIELD_EVERY 64

struct g4_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;     /* bumped once per job */
    atomic_int active;   /* workers still inside the current job */
    atomic_int stop;
    atomic_int busy;     /* a job is running (nested calls run inline) */
    /* current job */
    g4_rows_fn fn;
    void *arg;
    int64_t n_rows, chunk;
    atomic_llong next;
};

typedef struct {
    g4_pool *p;
    int tid;
} worker_arg;

static void do_chunks(g4_pool *p, int tid) {
    for (;;) {
        int64_t r0 = atomic_fetch_add_explicit(&p->next, p->chunk, memory_order_relaxed);
        if (r0 >= p->n_rows) break;
        int64_t r1 = r0 + p->chunk < p->n_rows ? r0 + p->chunk : p->n_rows;
        p->fn(p->arg, r0, r1, tid);
    }
}

static void *worker_main(void *varg) {
    worker_arg *wa = varg;
    g4_pool *p = wa->p;
    int tid = wa->tid;
    free(wa);
    unsigned seen = 0; /* gen is 0 until the first job, which may start before we run */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
                if (spins % YIELD_EVERY == 0) sched_yield();
                else cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = g;
        do_chunks(p, tid);
        atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel);
    }
    return NULL;
}

g4_status g4_pool_create(int n_threads, g4_pool **out, g4_error *err) {
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) return g4_fail(err, G4_ERR_ARG, "thread count %d is too large", n_threads);
    g4_pool *p = calloc(1, sizeof *p);
    if (!p) return g4_fail(err, G4_ERR_NOMEM, "pool: out of memory");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        g4_pool_free(p);
        return g4_fail(err, G4_ERR_NOMEM, "pool: out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->tid = i;
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n_threads = i; /* join only what started */
            g4_pool_free(p);
            return g4_fail(err, G4_ERR_NOMEM, "pool: cannot start thread %d", i);
        }
    }
    *out = p;
    return G4_OK;
}

void g4_pool_free(g4_pool *p) {
    if (!p) return;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int g4_pool_size(const g4_pool *p) { return p ? p->n_threads : 1; }

void g4_pool_run(g4_pool *p, int64_t n_rows, int64_t min_chunk, g4_rows_fn fn, void *arg) {
    if (n_rows <= 0) return;
    if (min_chunk < 1) min_chunk = 1;
    if (!p || p->n_threads == 1 || n_rows <= min_chunk || atomic_exchange(&p->busy, 1)) {
        /* single thread, tiny job or nested: run inline as thread 0 */
        fn(arg, 0, n_rows, 0);
        return;
    }
    int64_t chunk = n_rows / ((int64_t)p->n_threads * 4);
    if (chunk < min_chunk) chunk = min_chunk;
    p->fn = fn;
    p->arg = arg;
    p->n_rows = n_rows;
    p->chunk = chunk;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->active, p->n_threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    do_chunks(p, 0);
    for (unsigned spins = 1; atomic_load_explicit(&p->active, memory_order_acquire) > 0; spins++) {
        if (spins % YIELD_EVERY == 0) sched_yield();
        else cpu_relax();
    }
    atomic_store(&p->busy, 0);
}
