/* test_sched.c — continuous batching: jobs decoded together give exactly the tokens each
 * gives alone (greedy), the queue bounds, cancellation, prefix reuse across jobs, and the
 * same with speculative decoding per slot. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/generate.h"
#include "mtp/mtp.h"
#include "server/sched.h"
#include "t.h"
#include "t_model.h"

#define DATA G4_TEST_DATA

static const int32_t P3[] = {2, 6, 461, 394, 283, 318, 336, 403, 323, 395, 391, 326, 333, 336, 338, 391, 338,
                             333, 336, 343, 395, 320, 333, 339, 338, 388, 477, 292, 7, 283, 6, 331, 412, 283};
#define NP3 ((int)(sizeof P3 / sizeof *P3))

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int32_t toks[512];
    int n;
    g4_gen_result res;
    g4_status st;
    int started;
} waiter;

static void on_event(void *user, const g4_event *ev) {
    waiter *w = user;
    pthread_mutex_lock(&w->mu);
    if (ev->kind == G4_EV_TOKEN && w->n < 512) w->toks[w->n++] = ev->token;
    if (ev->kind == G4_EV_STARTED) w->started++;
    if (ev->kind == G4_EV_DONE) {
        w->res = *ev->result;
        w->st = ev->status;
        w->done = true;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

static void wait_done(waiter *w) {
    pthread_mutex_lock(&w->mu);
    while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void winit(waiter *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static g4_job_desc desc(const int32_t *prompt, int n, int n_predict, waiter *w) {
    g4_job_desc d;
    memset(&d, 0, sizeof d);
    d.prompt = prompt;
    d.n_prompt = (size_t)n;
    d.gen = g4_gen_params_default();
    d.gen.sampling.temperature = 0;
    d.gen.n_predict = n_predict;
    d.gen.parse = false;
    d.gen.top_logprobs = 0; /* TOKEN events */
    d.on_event = on_event;
    d.user = w;
    return d;
}

int main(void) {
    g4_engine *e = t_open_fixture("dense-f32", G4_LOAD_MMAP);
    if (!e) return T_DONE();
    g4_error err = {0};
    /* reference: each prompt alone through g4_gen_run */
    enum { NJ = 6, NGEN = 20 };
    int32_t prompts[NJ][64];
    int plen[NJ];
    int32_t want[NJ][NGEN];
    g4_gen *g = NULL;
    T_CHECK(g4_gen_create(e, 256, 64, &g, &err) == G4_OK);
    for (int j = 0; j < NJ; j++) {
        plen[j] = 8 + 5 * j;
        for (int i = 0; i < plen[j]; i++) prompts[j][i] = P3[(i * (j + 1)) % NP3];
        prompts[j][0] = 2;
        waiter w;
        winit(&w);
        g4_gen_params p = g4_gen_params_default();
        p.sampling.temperature = 0;
        p.n_predict = NGEN;
        p.parse = false;
        g4_gen_reset(g);
        g4_gen_result r;
        /* collect via a tiny adapter */
        struct {
            int32_t t[NGEN];
            int n;
        } acc = {{0}, 0};
        void tok_cb(void *u, int32_t t, float lp, const g4_token_prob *top, int nt);
        p.on_token = tok_cb;
        p.user = &acc;
        T_CHECK(g4_gen_run(g, prompts[j], (size_t)plen[j], &p, &r, &err) == G4_OK && acc.n == NGEN);
        memcpy(want[j], acc.t, sizeof want[j]);
    }
    g4_gen_free(g);

    /* 1. six jobs on three slots: all at once, so batches mix prefill and decode rows */
    g4_sched_config sc = {.n_slots = 3, .n_ctx = 256, .n_batch = 16, .max_queue = 8};
    g4_sched *s = NULL;
    T_CHECKF(g4_sched_create(e, &sc, &s, &err) == G4_OK, "%s", err.msg);
    waiter w[NJ];
    g4_job *jobs[NJ];
    for (int j = 0; j < NJ; j++) {
        winit(&w[j]);
        g4_job_desc d = desc(prompts[j], plen[j], NGEN, &w[j]);
        T_CHECK(g4_sched_submit(s, &d, &jobs[j], &err) == G4_OK);
    }
    for (int j = 0; j < NJ; j++) {
        wait_done(&w[j]);
        T_CHECK(w[j].st == G4_OK && w[j].started == 1);
        T_CHECKF(w[j].n == NGEN && !memcmp(w[j].toks, want[j], sizeof want[j]), "job %d differs from its solo run", j);
        T_CHECK(w[j].res.finish == G4_FINISH_LENGTH && w[j].res.n_gen == NGEN && w[j].res.n_prompt == plen[j]);
        g4_job_release(jobs[j]);
    }

    /* 2. prefix reuse: the prompt of job 5 extended by its answer */
    int32_t ext[128];
    memcpy(ext, prompts[5], (size_t)plen[5] * sizeof *ext);
    memcpy(ext + plen[5], want[5], 10 * sizeof *ext);
    ext[plen[5] + 10] = 283;
    waiter wx;
    winit(&wx);
    g4_job_desc d = desc(ext, plen[5] + 11, 4, &wx);
    g4_job *jx;
    T_CHECK(g4_sched_submit(s, &d, &jx, &err) == G4_OK);
    wait_done(&wx);
    T_CHECKF(wx.res.n_cached == plen[5] + 10, "cached %d, want %d", wx.res.n_cached, plen[5] + 10);
    g4_job_release(jx);

    /* 2b. an answer much longer than the batch (16) is cut back over: the extra
     * sliding-window history (swa_keep, default 1024) keeps the prompt reusable */
    {
        waiter wl;
        winit(&wl);
        d = desc(P3, NP3, 60, &wl);
        g4_job *jl;
        T_CHECK(g4_sched_submit(s, &d, &jl, &err) == G4_OK);
        wait_done(&wl);
        g4_job_release(jl);
        int32_t ext2[NP3 + 3];
        memcpy(ext2, P3, sizeof P3);
        memcpy(ext2 + NP3, wl.toks, 2 * sizeof *ext2);
        ext2[NP3 + 2] = wl.toks[2] == 283 ? 284 : 283;
        waiter w2;
        winit(&w2);
        d = desc(ext2, NP3 + 3, 2, &w2);
        T_CHECK(g4_sched_submit(s, &d, &jl, &err) == G4_OK);
        wait_done(&w2);
        T_CHECKF(w2.res.n_cached == NP3 + 2, "cached %d after a 58-token cut-back, want %d", w2.res.n_cached, NP3 + 2);
        g4_job_release(jl);
    }

    /* 3. cancellation: a long job stops soon after cancel */
    waiter wc;
    winit(&wc);
    d = desc(P3, NP3, 200, &wc);
    g4_job *jc;
    T_CHECK(g4_sched_submit(s, &d, &jc, &err) == G4_OK);
    for (;;) {
        pthread_mutex_lock(&wc.mu);
        int n = wc.n;
        pthread_mutex_unlock(&wc.mu);
        if (n >= 3) break;
        usleep(1000);
    }
    g4_job_cancel(jc);
    wait_done(&wc);
    T_CHECK(wc.res.finish == G4_FINISH_CANCELLED && wc.res.n_gen < 200);
    g4_job_release(jc);

    /* 4. errors: a prompt longer than the context, a full queue */
    int32_t big[300];
    for (int i = 0; i < 300; i++) big[i] = P3[i % NP3];
    waiter wb;
    winit(&wb);
    d = desc(big, 300, 4, &wb);
    g4_job *jb = NULL;
    T_CHECK(g4_sched_submit(s, &d, &jb, &err) == G4_ERR_CTX_FULL && jb == NULL);
    g4_sched_stats st;
    g4_sched_get_stats(s, &st);
    T_CHECK(st.n_jobs == NJ + 4 && st.n_active == 0 && st.n_queued == 0 && st.n_cached_tokens >= (uint64_t)plen[5] + 10);
    g4_sched_free(s);

    sc = (g4_sched_config){.n_slots = 1, .n_ctx = 256, .n_batch = 16, .max_queue = 2};
    T_CHECK(g4_sched_create(e, &sc, &s, &err) == G4_OK);
    waiter wq[4];
    g4_job *jq[4];
    int busy = 0;
    for (int j = 0; j < 4; j++) {
        winit(&wq[j]);
        d = desc(P3, NP3, 100, &wq[j]);
        g4_status r = g4_sched_submit(s, &d, &jq[j], &err);
        if (r == G4_ERR_BUSY) busy++, jq[j] = NULL;
    }
    T_CHECKF(busy >= 1, "a queue of 2 behind 1 slot took 4 jobs");
    for (int j = 0; j < 4; j++) g4_job_cancel(jq[j]);
    for (int j = 0; j < 4; j++)
        if (jq[j]) {
            wait_done(&wq[j]);
            g4_job_release(jq[j]);
        }
    g4_sched_free(s); /* nothing left running */

    /* 5. speculative decoding per slot (MTP drafter): the six jobs on three slots give the
     * same greedy tokens, with fixed and adaptive draft lengths, with a roomy batch and
     * with one so tight (3 rows for 3 slots) that drafts must shrink; usage counts add up */
    g4_drafter *dr = NULL;
    T_CHECKF(g4_drafter_open(DATA "/dense-assistant-f32.gguf", e, &dr, &err) == G4_OK, "%s", err.msg);
    const struct {
        int n_batch, draft_max;
        bool fixed;
    } cases[] = {{16, 3, true}, {16, 4, false}, {3, 3, true}, {64, 8, true}};
    for (size_t c = 0; dr && c < sizeof cases / sizeof *cases; c++) {
        sc = (g4_sched_config){.n_slots = 3, .n_ctx = 256, .n_batch = cases[c].n_batch, .max_queue = 8, .draft = dr,
                               .draft_max = cases[c].draft_max, .draft_fixed = cases[c].fixed};
        T_CHECKF(g4_sched_create(e, &sc, &s, &err) == G4_OK, "%s", err.msg);
        int drafted = 0, accepted = 0, passes = 0;
        for (int j = 0; j < NJ; j++) {
            winit(&w[j]);
            d = desc(prompts[j], plen[j], NGEN, &w[j]);
            T_CHECK(g4_sched_submit(s, &d, &jobs[j], &err) == G4_OK);
        }
        for (int j = 0; j < NJ; j++) {
            wait_done(&w[j]);
            T_CHECK(w[j].st == G4_OK);
            T_CHECKF(w[j].n == NGEN && !memcmp(w[j].toks, want[j], sizeof want[j]),
                     "batch %d, draft %d%s: job %d differs from its plain greedy run", cases[c].n_batch,
                     cases[c].draft_max, cases[c].fixed ? "" : " adaptive", j);
            T_CHECK(w[j].res.n_gen == NGEN && w[j].res.n_accepted <= w[j].res.n_drafted);
            T_CHECK(w[j].res.n_passes + w[j].res.n_accepted == NGEN - 1 || w[j].res.finish != G4_FINISH_LENGTH);
            drafted += w[j].res.n_drafted;
            accepted += w[j].res.n_accepted;
            passes += w[j].res.n_passes;
            g4_job_release(jobs[j]);
        }
        g4_sched_get_stats(s, &st);
        T_CHECK(st.n_drafted == (uint64_t)drafted && st.n_accepted == (uint64_t)accepted);
        T_CHECKF(drafted > 0 && accepted > 0 && passes < NJ * (NGEN - 1), "drafted %d accepted %d passes %d", drafted,
                 accepted, passes);
        fprintf(stderr, "sched + drafter (batch %d, draft %d%s): %d/%d drafts accepted, %d target passes for %d tokens\n",
                cases[c].n_batch, cases[c].draft_max, cases[c].fixed ? "" : " adaptive", accepted, drafted, passes,
                NJ * NGEN);
        g4_sched_free(s);
    }
    g4_drafter_free(dr);
    g4_engine_free(e);
    return T_DONE();
}

void tok_cb(void *u, int32_t t, float lp, const g4_token_prob *top, int nt) {
    struct {
        int32_t t[20];
        int n;
    } *acc = u;
    (void)lp, (void)top, (void)nt;
    if (acc->n < 20) acc->t[acc->n++] = t;
}
