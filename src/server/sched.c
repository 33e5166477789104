/* sched.c — continuous batching with per-slot prefix caches (see sched.h). */
#include "server/sched.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "engine/engine.h"
#include "mtp/mtp.h"

struct g4_job {
    int32_t *prompt;
    int n_prompt;
    g4_gen_params gen;
    g4_event_fn on_event;
    void *user;
    atomic_int cancel;
    atomic_int refs;
    g4_job *next; /* queue link */
};

typedef enum { SLOT_IDLE, SLOT_PREFILL, SLOT_DECODE } slot_state;

typedef struct {
    g4_sched *s;
    int seq;
    slot_state state;
    int32_t *cache; /* tokens whose KV this sequence holds */
    int n_cache;
    uint64_t last_used;
    g4_job *job;
    g4_gen_params params; /* the job's, with callbacks bound to this slot */
    g4_tokpipe pipe;
    bool pipe_live;
    int n_done;       /* prompt tokens evaluated (incl. cached) */
    int32_t next_tok; /* sampled, to be evaluated */
    g4_gen_result res;
    double t0, t1;
    /* speculative decoding */
    float *h;        /* target hidden state of the row that produced next_tok */
    g4_spec_ctl ctl; /* per slot: acceptance depends on the conversation */
    int k;           /* drafts in this step */
    int32_t drafts[G4_SPEC_KMAX];
    int w0;          /* first wanted row of this slot in the step */
} slot;

struct g4_sched {
    g4_engine *e;
    g4_session *sess;
    int n_slots, n_ctx, n_batch, max_queue, V, n_embd;
    g4_mask_mode mask;
    g4_drafter *draft;
    int draft_max;
    bool draft_fixed;
    slot *slots;
    /* batch buffers */
    int32_t *b_tok, *b_pos, *b_seq, *b_grp;
    const float **b_embd;
    bool *b_want;
    int *b_slot; /* slots with logits in this step, in order of their first wanted row */
    bool *b_tried; /* slots considered for prefill in this step */
    float *logits;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_mutex_t engine_mu; /* held while the engine computes (steps, media projection) */
    pthread_cond_t cv;
    g4_job *q_head, *q_tail;
    int n_queued;
    bool quit;
    uint64_t tick;
    g4_sched_stats st;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void emit(slot *sl, const g4_event *ev) {
    if (sl->job && sl->job->on_event) sl->job->on_event(sl->job->user, ev);
}

/* g4_tokpipe callbacks -> events */
static void cb_text(void *user, g4_parse_kind kind, const char *text, size_t len) {
    g4_event ev = {.kind = G4_EV_TEXT, .text_kind = kind, .text = text, .len = len};
    emit(user, &ev);
}
static void cb_tool(void *user, int index, const char *name, size_t name_len, const char *args, size_t args_len) {
    g4_event ev = {.kind = G4_EV_TOOL_CALL, .index = index, .name = name, .name_len = name_len, .args = args,
                   .args_len = args_len};
    emit(user, &ev);
}
static void cb_token(void *user, int32_t token, float logprob, const g4_token_prob *top, int n_top) {
    g4_event ev = {.kind = G4_EV_TOKEN, .token = token, .logprob = logprob, .top = top, .n_top = n_top};
    emit(user, &ev);
}
static bool cb_stop(void *user) {
    slot *sl = user;
    return sl->job && atomic_load(&sl->job->cancel);
}

void g4_job_release(g4_job *j) {
    if (!j) return;
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        free(j->prompt);
        free(j);
    }
}

void g4_job_cancel(g4_job *j) {
    if (j) atomic_store(&j->cancel, 1);
}

static void finish_job(slot *sl, g4_status st, const char *msg) {
    g4_sched *s = sl->s;
    if (sl->pipe_live) {
        if (!st) {
            g4_error err = {0};
            st = g4_tokpipe_end(&sl->pipe, &err);
            if (st) msg = err.msg;
        }
        sl->res.n_gen = sl->pipe.n_gen;
        sl->res.finish = sl->pipe.finish;
        sl->res.n_tool_calls = sl->pipe.n_calls;
    }
    if (sl->t1 > 0) sl->res.t_gen = now_s() - sl->t1;
    pthread_mutex_lock(&s->mu); /* before DONE: whoever waits for it sees the counts */
    s->st.n_jobs++;
    s->st.n_gen_tokens += (uint64_t)sl->res.n_gen;
    s->st.n_drafted += (uint64_t)sl->res.n_drafted;
    s->st.n_accepted += (uint64_t)sl->res.n_accepted;
    s->st.n_active--;
    pthread_mutex_unlock(&s->mu);
    g4_event ev = {.kind = G4_EV_DONE, .result = &sl->res, .status = st, .error = msg ? msg : ""};
    emit(sl, &ev);
    if (sl->pipe_live) g4_tokpipe_free(&sl->pipe);
    sl->pipe_live = false;
    g4_job_release(sl->job);
    sl->job = NULL;
    sl->state = SLOT_IDLE;
    sl->last_used = ++s->tick;
}

static int lcp(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Moves queued jobs into idle slots (called with the lock held). */
static void admit(g4_sched *s) {
    while (s->q_head) {
        g4_job *j = s->q_head;
        /* the idle slot sharing the longest prefix, if it covers at least half the
         * prompt (as llama-server's slot similarity); otherwise the least valuable idle
         * slot: an empty one, else the least recently used, so that an unrelated short
         * request (a title, a summary) does not evict a long cached conversation */
        slot *best = NULL, *spare = NULL;
        int best_l = -1;
        for (int i = 0; i < s->n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->state != SLOT_IDLE) continue;
            int l = lcp(sl->cache, sl->n_cache, j->prompt, j->n_prompt);
            if (l > best_l || (l == best_l && sl->last_used < best->last_used)) best = sl, best_l = l;
            if (!spare || (sl->n_cache == 0) > (spare->n_cache == 0) ||
                ((sl->n_cache == 0) == (spare->n_cache == 0) && sl->last_used < spare->last_used))
                spare = sl;
        }
        if (!best) return;
        if (2 * (int64_t)best_l < j->n_prompt && best->n_cache > best_l) best = spare;
        s->q_head = j->next;
        if (!s->q_head) s->q_tail = NULL;
        s->n_queued--;
        s->st.n_active++;
        best->job = j;
        best->state = SLOT_PREFILL;
        best->last_used = ++s->tick;
    }
}

/* Sets up a slot that just received a job (outside the lock). */
static void start_slot(g4_sched *s, slot *sl) {
    g4_job *j = sl->job;
    memset(&sl->res, 0, sizeof sl->res);
    sl->t0 = now_s();
    sl->t1 = 0;
    sl->params = j->gen;
    sl->params.on_text = cb_text;
    sl->params.on_tool_call = cb_tool;
    sl->params.on_token = cb_token;
    sl->params.should_stop = cb_stop;
    sl->params.user = sl;
    g4_error err = {0};
    if (g4_tokpipe_init(&sl->pipe, s->e, &sl->params, &err)) {
        finish_job(sl, err.code ? err.code : G4_ERR_ARG, err.msg);
        return;
    }
    sl->pipe_live = true;
    if (s->draft) g4_spec_ctl_init(&sl->ctl, s->draft_max, s->draft_fixed);
    int c = g4_gen_keep_prefix(s->sess, sl->seq, sl->cache, &sl->n_cache, j->prompt, j->n_prompt, &j->gen);
    sl->n_done = c;
    sl->res.n_prompt = j->n_prompt;
    sl->res.n_cached = c;
    pthread_mutex_lock(&s->mu);
    s->st.n_prompt_tokens += (uint64_t)j->n_prompt;
    s->st.n_cached_tokens += (uint64_t)c;
    pthread_mutex_unlock(&s->mu);
    g4_tokpipe_prompt(&sl->pipe, j->prompt, j->n_prompt);
}

static void fail_batch(g4_sched *s, const g4_error *err) {
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state == SLOT_IDLE) continue;
        g4_session_truncate(s->sess, sl->seq, 0, NULL);
        sl->n_cache = 0;
        finish_job(sl, err->code ? err->code : G4_ERR_ARG, err->msg);
    }
}

/* Drafts for a decoding slot: the controller's length within the context, the tokens
 * still allowed and the batch budget left for the other decoding slots. */
static g4_status draft_slot(g4_sched *s, slot *sl, int budget, g4_error *err) {
    sl->k = 0;
    if (!s->draft) return G4_OK;
    int k = g4_spec_ctl_pick(&sl->ctl);
    if (k > s->n_ctx - sl->n_cache - 1) k = s->n_ctx - sl->n_cache - 1;
    if (k > budget - 1) k = budget - 1;
    const int np = sl->job->gen.n_predict;
    if (np >= 0 && k > np - sl->pipe.n_gen - 1) k = np - sl->pipe.n_gen - 1;
    if (k <= 0) return G4_OK;
    sl->k = k;
    return g4_spec_draft(s->draft, s->sess, sl->seq, sl->next_tok, sl->h, sl->n_cache, k, sl->drafts, err);
}

static void step(g4_sched *s) {
    int n = 0, n_want = 0, w = 0;
    const double t_step = now_s();
    g4_error err = {0};
    /* decoding slots first: the pending token (and drafts) each */
    int n_dec = 0;
    for (int i = 0; i < s->n_slots; i++) n_dec += s->slots[i].state == SLOT_DECODE;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_DECODE) continue;
        if (atomic_load(&sl->job->cancel)) {
            sl->pipe.finish = G4_FINISH_CANCELLED;
            finish_job(sl, G4_OK, NULL);
            n_dec--;
            continue;
        }
        /* an even share of the batch left after one row for each other decoding slot */
        const int budget = (s->n_batch - n - (n_dec - 1)) < G4_SPEC_KMAX + 1 ? s->n_batch - n - (n_dec - 1) : G4_SPEC_KMAX + 1;
        n_dec--;
        if (draft_slot(s, sl, budget, &err)) {
            finish_job(sl, err.code, err.msg);
            continue;
        }
        sl->w0 = w;
        for (int k = 0; k <= sl->k; k++) {
            s->b_tok[n] = k ? sl->drafts[k - 1] : sl->next_tok;
            s->b_pos[n] = sl->n_cache + k;
            s->b_seq[n] = sl->seq;
            s->b_want[n] = true;
            s->b_embd[n] = NULL;
            s->b_grp[n] = 0;
            n++;
        }
        w += sl->k + 1;
        s->b_slot[n_want++] = i;
    }
    /* then prompt chunks, oldest admission first, in the remaining budget */
    for (int i = 0; i < s->n_slots; i++) s->b_tried[i] = false;
    for (int pass = 0; pass < s->n_slots && n < s->n_batch; pass++) {
        slot *sl = NULL;
        for (int i = 0; i < s->n_slots; i++) {
            slot *c = &s->slots[i];
            if (c->state == SLOT_PREFILL && !s->b_tried[i] && c->n_done < c->job->n_prompt &&
                (!sl || c->last_used < sl->last_used) && c->n_cache == c->n_done)
                sl = c;
        }
        if (sl) s->b_tried[sl - s->slots] = true;
        if (!sl) break;
        if (atomic_load(&sl->job->cancel)) {
            sl->pipe.finish = G4_FINISH_CANCELLED;
            finish_job(sl, G4_OK, NULL);
            continue;
        }
        int m = sl->job->n_prompt - sl->n_done;
        if (m > s->n_batch - n) m = s->n_batch - n;
        /* never split an image / audio span across steps: stop before it, or wait for a
         * step with room for all of it */
        const g4_gen_params *gp = &sl->job->gen;
        for (int k = 0; k < gp->n_media; k++) {
            const g4_media_span *sp = &gp->media[k];
            if (sp->pos + sp->n <= sl->n_done || sp->pos >= sl->n_done + m) continue;
            if (sp->pos + sp->n > sl->n_done + m) m = sp->pos > sl->n_done ? sp->pos - sl->n_done : 0;
            break;
        }
        if (m == 0) continue; /* next step */
        for (int k = 0; k < m; k++) {
            const int at = sl->n_done + k;
            s->b_tok[n] = sl->job->prompt[at];
            s->b_pos[n] = at;
            s->b_seq[n] = sl->seq;
            s->b_want[n] = false;
            s->b_embd[n] = NULL;
            s->b_grp[n] = 0;
            for (int q = 0; q < gp->n_media; q++) {
                const g4_media_span *sp = &gp->media[q];
                if (at >= sp->pos && at < sp->pos + sp->n) {
                    s->b_embd[n] = sp->embd + (size_t)(at - sp->pos) * s->n_embd;
                    s->b_grp[n] = sp->group ? q + 1 : 0;
                    break;
                }
            }
            n++;
        }
        sl->n_done += m;
        if (sl->n_done == sl->job->n_prompt) {
            s->b_want[n - 1] = true;
            sl->k = 0;
            sl->w0 = w++;
            s->b_slot[n_want++] = (int)(sl - s->slots);
        }
    }
    if (n == 0) return;
    const double t_draft = now_s() - t_step;
    g4_batch b = {.n = n, .tokens = s->b_tok, .pos = s->b_pos, .seq = s->b_seq, .want = s->b_want,
                  .embd = s->b_embd, .n_embd = s->n_embd, .group = s->b_grp, .mask = s->mask};
    if (g4_session_decode(s->sess, &b, s->logits, &err)) {
        fail_batch(s, &err);
        return;
    }
    /* the KV now holds every row: record the tokens (rejected drafts are cut below) */
    for (int r = 0; r < n; r++) {
        slot *sl = &s->slots[s->b_seq[r]]; /* slot i owns sequence i */
        if (s->b_pos[r] == sl->n_cache) sl->cache[sl->n_cache++] = s->b_embd[r] ? -1 : s->b_tok[r];
    }
    /* sample every slot that has logits: one row, or the pending token's row and its
     * drafts' (g4_spec_accept commits the agreeing drafts and the target's next token) */
    for (int q = 0; q < n_want; q++) {
        slot *sl = &s->slots[s->b_slot[q]];
        const bool from_prompt = sl->state == SLOT_PREFILL;
        if (from_prompt) {
            sl->state = SLOT_DECODE;
            sl->t1 = now_s();
            sl->res.t_prompt = sl->t1 - sl->t0;
            g4_event ev = {.kind = G4_EV_STARTED, .result = &sl->res};
            emit(sl, &ev);
        }
        int32_t tok;
        bool done;
        int rows = 1;
        const float *lg = s->logits + (size_t)sl->w0 * s->V;
        g4_status st = sl->k ? g4_spec_accept(&sl->pipe, lg, sl->drafts, sl->k, &rows, &tok, &done, &err)
                             : g4_tokpipe_step(&sl->pipe, lg, &tok, &done, &err);
        if (!st && rows < sl->k + 1) { /* drop the rejected drafts */
            st = g4_session_truncate(s->sess, sl->seq, sl->n_cache - (sl->k + 1 - rows), &err);
            sl->n_cache -= sl->k + 1 - rows;
        }
        if (st) {
            finish_job(sl, st, err.msg);
            continue;
        }
        if (s->draft) {
            memcpy(sl->h, g4_session_hidden_row(s->sess, sl->w0 + rows - 1), (size_t)s->n_embd * sizeof *sl->h);
            if (!from_prompt) /* a prompt step's time says nothing about decoding */
                g4_spec_ctl_update(&sl->ctl, sl->k, rows - 1, !done && rows - 1 < sl->k, sl->k ? t_draft : 0,
                                   now_s() - t_step);
            sl->res.n_drafted += sl->k;
            sl->res.n_accepted += rows - 1;
        }
        if (!from_prompt) sl->res.n_passes++;
        if (!done && sl->n_cache >= s->n_ctx) done = true; /* context full: length */
        if (done) finish_job(sl, G4_OK, NULL);
        else sl->next_tok = tok;
    }
}

static void *run(void *arg) {
    g4_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        admit(s);
        bool busy = false;
        for (int i = 0; i < s->n_slots; i++) busy |= s->slots[i].state != SLOT_IDLE;
        while (!busy && !s->quit) {
            pthread_cond_wait(&s->cv, &s->mu);
            admit(s);
            for (int i = 0; i < s->n_slots; i++) busy |= s->slots[i].state != SLOT_IDLE;
        }
        bool quit = s->quit;
        pthread_mutex_unlock(&s->mu);
        if (quit) break;
        pthread_mutex_lock(&s->engine_mu);
        for (int i = 0; i < s->n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->state == SLOT_PREFILL && !sl->pipe_live && sl->job) start_slot(s, sl);
        }
        step(s);
        pthread_mutex_unlock(&s->engine_mu);
    }
    /* shutting down: cancel whatever is running or queued */
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE) {
            sl->pipe.finish = G4_FINISH_CANCELLED;
            finish_job(sl, G4_ERR_CANCELLED, "the server is shutting down");
        }
    }
    pthread_mutex_lock(&s->mu);
    g4_job *j = s->q_head;
    s->q_head = s->q_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (j) {
        g4_job *next = j->next;
        g4_gen_result r = {0};
        r.finish = G4_FINISH_CANCELLED;
        g4_event ev = {.kind = G4_EV_DONE, .result = &r, .status = G4_ERR_CANCELLED, .error = "the server is shutting down"};
        if (j->on_event) j->on_event(j->user, &ev);
        g4_job_release(j);
        j = next;
    }
    return NULL;
}

g4_status g4_sched_create(g4_engine *e, const g4_sched_config *cfg, g4_sched **out, g4_error *err) {
    *out = NULL;
    g4_sched *s = calloc(1, sizeof *s);
    if (!s) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    s->e = e;
    s->n_slots = cfg && cfg->n_slots > 0 ? cfg->n_slots : 1;
    s->n_batch = cfg && cfg->n_batch > 0 ? cfg->n_batch : 512;
    s->max_queue = cfg && cfg->max_queue > 0 ? cfg->max_queue : 64;
    if (s->n_batch < s->n_slots) s->n_batch = s->n_slots;
    s->V = g4_engine_n_vocab(e);
    g4_model_info mi;
    g4_engine_info(e, &mi);
    s->n_embd = mi.n_embd;
    s->mask = cfg ? cfg->mask : G4_MASK_HF;
    s->draft = cfg ? cfg->draft : NULL;
    s->draft_max = cfg && cfg->draft_max > 0 ? (cfg->draft_max < G4_SPEC_KMAX ? cfg->draft_max : G4_SPEC_KMAX) : 3;
    s->draft_fixed = cfg && cfg->draft_fixed;
    if (s->draft && !g4_drafter_is_for(s->draft, e)) {
        free(s);
        return g4_fail(err, G4_ERR_ARG, "the drafter was opened for another model");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->engine_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    g4_session_config sc = g4_session_config_default();
    sc.n_ctx = cfg ? cfg->n_ctx : 0;
    sc.n_seq = s->n_slots;
    sc.n_batch = s->n_batch;
    /* agent loops re-send the conversation with the model's last answer re-rendered: keep
     * enough sliding-window history to cut back over answers of up to n_batch + 1024
     * tokens without re-evaluating the prompt */
    sc.swa_keep = cfg && cfg->swa_keep >= 0 ? (cfg->swa_keep ? cfg->swa_keep : 1024) : 0;
    g4_status st = g4_session_create(e, &sc, &s->sess, err);
    if (st) {
        g4_sched_free(s);
        return st;
    }
    s->n_ctx = s->sess->f.kv.n_ctx;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->b_tok = malloc((size_t)s->n_batch * sizeof *s->b_tok);
    s->b_pos = malloc((size_t)s->n_batch * sizeof *s->b_pos);
    s->b_seq = malloc((size_t)s->n_batch * sizeof *s->b_seq);
    s->b_want = malloc((size_t)s->n_batch * sizeof *s->b_want);
    s->b_grp = malloc((size_t)s->n_batch * sizeof *s->b_grp);
    s->b_embd = malloc((size_t)s->n_batch * sizeof *s->b_embd);
    s->b_slot = malloc((size_t)s->n_slots * sizeof *s->b_slot);
    s->b_tried = malloc((size_t)s->n_slots * sizeof *s->b_tried);
    /* wanted rows: one per slot, or a pending token and its drafts per decoding slot */
    const int rows = s->draft ? (s->n_batch < s->n_slots * (s->draft_max + 1) ? s->n_batch : s->n_slots * (s->draft_max + 1))
                              : s->n_slots;
    s->logits = malloc((size_t)rows * s->V * sizeof *s->logits);
    if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_want || !s->b_grp || !s->b_embd || !s->b_slot || !s->b_tried || !s->logits) {
        g4_sched_free(s);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory for %d slots", cfg ? cfg->n_slots : 1);
    }
    for (int i = 0; i < s->n_slots; i++) {
        s->slots[i].s = s;
        s->slots[i].seq = i;
        s->slots[i].cache = malloc((size_t)s->n_ctx * sizeof(int32_t));
        if (s->draft) s->slots[i].h = malloc((size_t)s->n_embd * sizeof(float));
        if (!s->slots[i].cache || (s->draft && !s->slots[i].h)) {
            g4_sched_free(s);
            return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        }
    }
    s->st.n_slots = s->n_slots;
    s->st.n_ctx = s->n_ctx;
    if (pthread_create(&s->thread, NULL, run, s)) {
        g4_sched_free(s);
        return g4_fail(err, G4_ERR_NOMEM, "cannot start the scheduler thread");
    }
    s->thread_started = true;
    *out = s;
    return G4_OK;
}

void g4_sched_free(g4_sched *s) {
    if (!s) return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        free(s->slots[i].cache);
        free(s->slots[i].h);
    }
    free(s->slots);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_want);
    free(s->b_grp);
    free(s->b_embd);
    free(s->b_slot);
    free(s->b_tried);
    free(s->logits);
    g4_session_free(s->sess);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->engine_mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int g4_sched_n_ctx(const g4_sched *s) { return s->n_ctx; }

void g4_sched_get_stats(g4_sched *s, g4_sched_stats *st) {
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    st->n_queued = s->n_queued;
    pthread_mutex_unlock(&s->mu);
}

g4_status g4_sched_submit(g4_sched *s, const g4_job_desc *d, g4_job **out, g4_error *err) {
    *out = NULL;
    g4_status st = g4_gen_check_prompt(s->e, d->prompt, d->n_prompt, s->n_ctx, err);
    if (st) return st;
    for (int i = 0; i < d->gen.n_media; i++) {
        const g4_media_span *sp = &d->gen.media[i];
        if (sp->pos < 0 || sp->n <= 0 || (size_t)(sp->pos + sp->n) > d->n_prompt || !sp->embd ||
            (i && sp->pos < d->gen.media[i - 1].pos + d->gen.media[i - 1].n))
            return g4_fail(err, G4_ERR_ARG, "media item %d is outside the prompt or overlaps another", i);
        if (sp->n > s->n_batch)
            return g4_fail(err, G4_ERR_ARG, "a media item of %d soft tokens exceeds the batch of %d tokens", sp->n,
                           s->n_batch);
    }
    g4_job *j = calloc(1, sizeof *j);
    if (!j) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    j->prompt = malloc(d->n_prompt * sizeof *j->prompt);
    if (!j->prompt) {
        free(j);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    memcpy(j->prompt, d->prompt, d->n_prompt * sizeof *j->prompt);
    j->n_prompt = (int)d->n_prompt;
    j->gen = d->gen;
    j->on_event = d->on_event;
    j->user = d->user;
    atomic_init(&j->cancel, 0);
    atomic_init(&j->refs, 2);
    pthread_mutex_lock(&s->mu);
    if (s->quit || s->n_queued >= s->max_queue) {
        pthread_mutex_unlock(&s->mu);
        free(j->prompt);
        free(j);
        return g4_fail(err, G4_ERR_BUSY, "the server is busy: %d requests are already waiting", s->max_queue);
    }
    if (s->q_tail) s->q_tail->next = j;
    else s->q_head = j;
    s->q_tail = j;
    s->n_queued++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    *out = j;
    return G4_OK;
}

void g4_sched_engine_lock(g4_sched *s) { pthread_mutex_lock(&s->engine_mu); }
void g4_sched_engine_unlock(g4_sched *s) { pthread_mutex_unlock(&s->engine_mu); }
