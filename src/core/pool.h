/* pool.h — a persistent worker pool owned by the engine (no globals, no OpenMP).
 *
 * g4_pool_run splits [0, n_rows) into chunks that the workers and the calling thread
 * take from a shared counter. Every row is computed by exactly one thread with the same
 * code, so results do not depend on the thread count or on who took which chunk.
 * Between jobs workers spin briefly (token loops issue thousands of small jobs per
 * second) and then sleep on a condition variable. Not re-entrant: a nested call runs
 * inline on the calling thread. */
#ifndef G4_CORE_POOL_H
#define G4_CORE_POOL_H
#include <stdint.h>

#include "g4.h"

/* tid in [0, n_threads): lets a job use per-thread scratch. */
typedef void (*g4_rows_fn)(void *arg, int64_t r0, int64_t r1, int tid);

typedef struct g4_pool g4_pool;

g4_status g4_pool_create(int n_threads, g4_pool **out, g4_error *err);
void g4_pool_free(g4_pool *p);
int g4_pool_size(const g4_pool *p);
/* Runs fn over [0, n_rows) in chunks of at least min_chunk rows. */
void g4_pool_run(g4_pool *p, int64_t n_rows, int64_t min_chunk, g4_rows_fn fn, void *arg);

#endif
