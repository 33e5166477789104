/* spec.c — speculative decoding with the MTP drafter (spec §8.4-§8.7, mtp.h): the greedy
 * reference loop, the acceptance step of the sampling pipeline, the draft-length controller. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/generate.h"
#include "mtp/mtp.h"

static int32_t argmax(const float *v, int n) {
    int32_t b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

g4_status g4_spec_generate_greedy(g4_drafter *d, g4_session *s, const int32_t *prompt, int n_prompt,
                                  const g4_spec_params *p, int32_t *out, int out_cap, g4_spec_stats *stats,
                                  g4_error *err) {
    if (!d || !s || !p || !prompt || n_prompt < 1 || !out || out_cap < 1)
        return g4_fail(err, G4_ERR_ARG, "g4_spec_generate_greedy: bad arguments");
    const int N = p->n_draft, V = g4_drafter_n_vocab(d), H = g4_drafter_n_embd_out(d);
    if (N < 1 || N + 1 > s->f.n_batch)
        return g4_fail(err, G4_ERR_ARG, "speculative decoding: n_draft %d needs 1..%d (n_batch - 1)", N,
                       s->f.n_batch - 1);
    if (p->n_max < 1) return g4_fail(err, G4_ERR_ARG, "speculative decoding: n_max must be >= 1");
    const int32_t eos = s->e->m->hp.eos_id;
    g4_spec_stats st = {0, 0, 0, 0};
    float *logits = malloc((size_t)(N + 1) * (size_t)V * sizeof *logits);
    float *h = malloc((size_t)H * sizeof *h);
    int32_t *rows = malloc((size_t)(N + 1) * 2 * sizeof *rows), *ids = malloc((size_t)(N + 1) * sizeof *ids);
    bool *want = malloc((size_t)(N + 1) * sizeof *want);
    g4_status rc = G4_OK;
    if (!logits || !h || !rows || !ids || !want) {
        rc = g4_fail(err, G4_ERR_NOMEM, "speculative decoding: out of memory");
        goto done;
    }
    int32_t *toks = rows, *pos = rows + N + 1;
    for (int i = 0; i <= N; i++) want[i] = true;
    int32_t tok;

    /* like llama.cpp's speculative loop: the target consumes all but the last prompt
     * token, whose row then starts the first round (so the first round drafts too) */
    bool stop = false;
    if (n_prompt >= 2) {
        if ((rc = g4_session_eval(s, prompt, n_prompt - 1, false, NULL, err))) goto done;
        tok = prompt[n_prompt - 1];
    } else { /* one token: nothing to draft from yet; its greedy token is the first output */
        if ((rc = g4_session_eval(s, prompt, 1, false, logits, err))) goto done;
        tok = argmax(logits, V);
        out[st.n_gen++] = tok;
        if (p->on_step) p->on_step(p->user, 0, 0, &tok, 1);
        stop = p->stop_eos && tok == eos;
    }
    memcpy(h, g4_session_hidden_row(s, 0), (size_t)H * sizeof *h);

    while (!stop && st.n_gen < p->n_max) {
        const int n = g4_session_seq_len(s, 0);
        if (n + N + 1 > s->f.n_ctx) {
            rc = g4_fail(err, G4_ERR_ARG, "speculative decoding: context full (%d positions)", s->f.n_ctx);
            goto done;
        }
        /* draft N tokens at the same position n */
        toks[0] = tok;
        if ((rc = g4_spec_draft(d, s, 0, tok, h, n, N, toks + 1, err))) goto done;
        /* verify [tok, d_1..d_N] at n..n+N */
        for (int k = 0; k <= N; k++) pos[k] = n + k;
        g4_batch b = {0};
        b.n = N + 1;
        b.tokens = toks;
        b.pos = pos;
        b.want = want;
        if ((rc = g4_session_decode(s, &b, logits, err))) goto done;
        int j = 0;
        while (j < N && argmax(logits + (size_t)j * V, V) == toks[j + 1]) j++;
        const int32_t next = argmax(logits + (size_t)j * V, V);
        memcpy(h, g4_session_hidden_row(s, j), (size_t)H * sizeof *h);
        /* keep tok and the j accepted drafts; drop the rejected rows */
        if ((rc = g4_session_truncate(s, 0, n + 1 + j, err))) goto done;
        int n_ids = 0;
        for (int k = 1; k <= j; k++) ids[n_ids++] = toks[k];
        ids[n_ids++] = next;
        st.n_drafted += N;
        st.n_accepted += j;
        st.n_rounds++;
        if (p->on_step) p->on_step(p->user, N, j, ids, n_ids);
        for (int k = 0; k < n_ids; k++) {
            if (st.n_gen < out_cap) out[st.n_gen] = ids[k];
            st.n_gen++;
            if (p->stop_eos && ids[k] == eos) {
                stop = true;
                break;
            }
        }
        tok = next;
    }
    if (st.n_gen > out_cap) {
        rc = g4_fail(err, G4_ERR_ARG, "speculative decoding: %d tokens do not fit the output (%d)", st.n_gen,
                     out_cap);
        st.n_gen = out_cap;
    }
done:
    if (stats) *stats = st;
    free(logits);
    free(h);
    free(rows);
    free(ids);
    free(want);
    return rc;
}

/* ---- speculative rounds in the token pipeline ---- */

g4_status g4_spec_accept(g4_tokpipe *t, const float *logits, const int32_t *drafts, int k, int *n_rows,
                         int32_t *next, bool *done, g4_error *err) {
    const size_t V = (size_t)t->V;
    *next = G4_TOKEN_NONE;
    *done = false;
    for (int i = 0; i <= k; i++) {
        int32_t s;
        g4_status st = g4_tokpipe_step(t, logits + (size_t)i * V, &s, done, err);
        *n_rows = i + 1;
        if (st) return st;
        *next = s;
        if (*done || i == k || s != drafts[i]) return G4_OK;
    }
    return G4_OK;
}

void g4_spec_ctl_init(g4_spec_ctl *c, int kmax, bool fixed) {
    memset(c, 0, sizeof *c);
    c->kmax = kmax < 0 ? 0 : kmax > G4_SPEC_KMAX ? G4_SPEC_KMAX : kmax;
    c->fixed = fixed;
    c->probe_every = 4;
}

/* prior: a = 0.7 worth two drafts, so a new controller tries drafting */
double g4_spec_ctl_acceptance(const g4_spec_ctl *c) { return (c->acc_s + 1.4) / (c->acc_n + 2.0); }

/* Seconds of a round with k drafts (drafting, verification, acceptance): measured, else
 * interpolated between the nearest measured lengths, else extrapolated from the longest
 * measured one with its slope per draft, at least the drafter step plus 5 % of a plain
 * round (an optimistic guess, so that each longer length gets tried once). */
static double round_cost(const g4_spec_ctl *c, int k) {
    if (c->t_round[k] > 0) return c->t_round[k];
    int lo = -1, hi = -1;
    for (int i = k - 1; i >= 0; i--)
        if (c->t_round[i] > 0) {
            lo = i;
            break;
        }
    for (int i = k + 1; i <= c->kmax; i++)
        if (c->t_round[i] > 0) {
            hi = i;
            break;
        }
    if (lo >= 0 && hi >= 0) return c->t_round[lo] + (c->t_round[hi] - c->t_round[lo]) * (k - lo) / (hi - lo);
    const double base = c->t_round[0], td = c->t_draft > 0 ? c->t_draft : 0.05 * base;
    double slope = td + 0.05 * base;
    if (lo > 0 && (c->t_round[lo] - base) / lo > slope) slope = (c->t_round[lo] - base) / lo;
    if (lo >= 0) return c->t_round[lo] + slope * (k - lo);
    return c->t_round[hi] - slope * (hi - k);
}

int g4_spec_ctl_pick(g4_spec_ctl *c) {
    if (c->fixed || c->kmax == 0) return c->kmax;
    if (!(c->t_round[0] > 0)) return 0; /* measure a plain step first */
    const double a = g4_spec_ctl_acceptance(c);
    int best = 0;
    double best_rate = 1.0 / c->t_round[0], ak = a;
    double e = 1.0; /* E(k) = 1 + a + ... + a^k */
    for (int k = 1; k <= c->kmax; k++) {
        e += ak;
        ak *= a;
        if (k > 1 && !(c->t_round[k - 1] > 0)) break; /* lengthen one step at a time */
        const double rate = e / round_cost(c, k);
        if (rate > best_rate * 1.02) { /* a longer draft must pay for itself */
            best_rate = rate;
            best = k;
        }
    }
    if (best > 0) {
        c->plain_run = 0;
        c->probe_every = 4;
        return best;
    }
    if (++c->plain_run >= c->probe_every) { /* acceptance may have come back */
        c->plain_run = 0;
        if (c->probe_every < 64) c->probe_every *= 2;
        return 1;
    }
    return 0;
}

static void ema(double *v, double x, double w) { *v = *v > 0 ? *v + w * (x - *v) : x; }

void g4_spec_ctl_update(g4_spec_ctl *c, int k, int n_acc, bool rejected, double t_draft, double t_round) {
    if (k < 0 || k > c->kmax) return;
    if (k > 0) {
        const double decay = 0.9;
        c->acc_s = c->acc_s * decay + n_acc;
        c->acc_n = c->acc_n * decay + n_acc + (rejected ? 1 : 0);
        ema(&c->t_draft, t_draft / k, 0.3);
    }
    ema(&c->t_round[k], t_round, 0.3);
}
