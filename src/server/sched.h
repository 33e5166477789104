/* sched.h — continuous batching for the server.
 *
 * One scheduler thread owns a session with n_slots sequences. Requests (jobs) wait in a
 * bounded queue; a free slot takes the next one, preferring the slot whose cached tokens
 * share the longest prefix with the job's prompt (its KV is reused: prefix caching).
 * Every step runs ONE batched forward pass holding the next token of every decoding
 * slot (with its drafts, when a drafter is configured) plus prompt chunks of prefilling
 * slots, then samples each slot through the same per-token pipeline as the CLI
 * (g4_tokpipe: grammar, sampler, stop strings, parser; g4_spec_accept for drafts).
 * Results stream out as events, called on the scheduler thread: keep them short. */
#ifndef G4_SERVER_SCHED_H
#define G4_SERVER_SCHED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/generate.h"
#include "g4.h"

typedef enum { G4_EV_TEXT, G4_EV_TOOL_CALL, G4_EV_TOKEN, G4_EV_STARTED, G4_EV_DONE } g4_ev_kind;

typedef struct {
    g4_ev_kind kind;
    /* TEXT */
    g4_parse_kind text_kind;
    const char *text;
    size_t len;
    /* TOOL_CALL */
    int index;
    const char *name, *args;
    size_t name_len, args_len;
    /* TOKEN */
    int32_t token;
    float logprob;
    const g4_token_prob *top;
    int n_top;
    /* STARTED (prompt evaluated) and DONE */
    const g4_gen_result *result;
    /* DONE */
    g4_status status; /* G4_OK, or the failure (message in error) */
    const char *error;
} g4_event;

typedef void (*g4_event_fn)(void *user, const g4_event *ev);

typedef struct {
    const int32_t *prompt; /* copied by submit */
    size_t n_prompt;
    /* n_predict, sampling, stop, parse, in_thinking, grammar, top_logprobs, media are used; the
     * callbacks are replaced by events. Pointers inside must stay valid until DONE. */
    g4_gen_params gen;
    g4_event_fn on_event;
    void *user;
} g4_job_desc;

typedef struct {
    int n_slots;   /* parallel sequences; 0 = 1 */
    int n_ctx;     /* context of each slot; 0 = engine default */
    int n_batch;   /* tokens per forward pass; 0 = 512 */
    int max_queue; /* waiting jobs beyond the slots; 0 = 64 */
    int swa_keep;  /* extra sliding-window history per slot for prefix reuse; 0 = 1024, < 0 = none */
    g4_mask_mode mask; /* how image soft tokens see each other (all jobs) */
    /* Speculative decoding for every slot (docs/MTP.md): an MTP drafter opened against
     * the engine (borrowed; used on the scheduler thread only), or NULL. Each decoding
     * slot adds its pending token and up to draft_max drafts to the step's batch. */
    g4_drafter *draft;
    int draft_max;    /* 0 = 3 */
    bool draft_fixed; /* always draft_max drafts (no adaptation) */
} g4_sched_config;

typedef struct {
    int n_slots, n_active, n_queued, n_ctx;
    uint64_t n_jobs;             /* finished */
    uint64_t n_prompt_tokens;    /* submitted prompt tokens */
    uint64_t n_cached_tokens;    /* of which reused from slot caches */
    uint64_t n_gen_tokens;
    uint64_t n_drafted, n_accepted; /* speculative decoding */
} g4_sched_stats;

typedef struct g4_sched g4_sched;
typedef struct g4_job g4_job;

g4_status g4_sched_create(g4_engine *e, const g4_sched_config *cfg, g4_sched **out, g4_error *err);
/* Cancels everything (each job gets DONE), stops the thread, frees. */
void g4_sched_free(g4_sched *s);
int g4_sched_n_ctx(const g4_sched *s);
void g4_sched_get_stats(g4_sched *s, g4_sched_stats *st);

/* Queues a job. Fails with G4_ERR_BUSY when the queue is full, G4_ERR_CTX_FULL / G4_ERR_ARG
 * for a prompt that does not fit or holds bad ids. On success the caller holds one
 * reference to *out: g4_job_release it after DONE (or to walk away: cancel + release). */
g4_status g4_sched_submit(g4_sched *s, const g4_job_desc *d, g4_job **out, g4_error *err);
/* Thread-safe; generation stops within one step and DONE follows (finish cancelled). */
void g4_job_cancel(g4_job *j);
void g4_job_release(g4_job *j);

/* Other users of the engine (media projection on request threads) take this lock: the
 * scheduler holds it during each step. */
void g4_sched_engine_lock(g4_sched *s);
void g4_sched_engine_unlock(g4_sched *s);

#endif
