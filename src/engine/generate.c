/* generate.c — prompt evaluation with prefix reuse, then sample / stream / parse until
 * the model stops (see generate.h). */
#include "engine/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/status.h"
#include "engine/engine.h"
#include "mtp/mtp.h"
#include "sample/stop.h"
#include "sample/grammar.h"
#include "text/tokenize.h"

struct g4_gen {
    g4_engine *e;
    g4_session *s;
    const g4_vocab *v;
    int n_ctx, V;
    int32_t *cache; /* the tokens whose keys/values the session holds, in order */
    int n_cache;
    float *logits;
    /* speculative decoding */
    g4_spec_ctl ctl;     /* learns across runs while draft_max / draft_fixed stay the same */
    float *vlogits, *h;  /* verification rows, the hidden state feeding the drafter */
    int v_rows;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *g4_finish_name(g4_finish f) {
    switch (f) {
    case G4_FINISH_STOP: return "stop";
    case G4_FINISH_LENGTH: return "length";
    case G4_FINISH_TOOL_CALLS: return "tool_calls";
    case G4_FINISH_CANCELLED: return "cancelled";
    }
    return "?";
}

g4_gen_params g4_gen_params_default(void) {
    g4_gen_params p;
    memset(&p, 0, sizeof p);
    p.n_predict = -1;
    p.sampling = g4_sampler_defaults();
    p.parse = true;
    p.top_logprobs = -1;
    return p;
}

g4_status g4_gen_create(g4_engine *e, int n_ctx, int n_batch, g4_gen **out, g4_error *err) {
    *out = NULL;
    if (!e) return g4_fail(err, G4_ERR_ARG, "no engine");
    const g4_vocab *v = g4_engine_vocab(e, err);
    if (!v) return err ? err->code : G4_ERR_UNSUPPORTED;
    g4_gen *g = calloc(1, sizeof *g);
    if (!g) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    g->e = e;
    g->v = v;
    g->V = g4_engine_n_vocab(e);
    g4_session_config sc = g4_session_config_default();
    sc.n_ctx = n_ctx;
    sc.n_batch = n_batch;
    g4_status st = g4_session_create(e, &sc, &g->s, err);
    if (st) {
        g4_gen_free(g);
        return st;
    }
    g->n_ctx = g->s->f.kv.n_ctx;
    g->cache = malloc((size_t)g->n_ctx * sizeof *g->cache);
    g->logits = malloc((size_t)g->V * sizeof *g->logits);
    if (!g->cache || !g->logits) {
        g4_gen_free(g);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    *out = g;
    return G4_OK;
}

void g4_gen_free(g4_gen *g) {
    if (!g) return;
    g4_session_free(g->s);
    free(g->cache);
    free(g->logits);
    free(g->vlogits);
    free(g->h);
    free(g);
}

int g4_gen_n_ctx(const g4_gen *g) { return g->n_ctx; }

void g4_gen_reset(g4_gen *g) {
    if (g->n_cache) g4_session_truncate(g->s, 0, 0, NULL);
    g->n_cache = 0;
}

/* Keeps the longest cached prefix of prompt that the session can cut back to, leaving
 * at least the last prompt token to evaluate (its logits start the generation). */
int g4_gen_keep_prefix(g4_session *s, int seq, const int32_t *cache, int *n_cache, const int32_t *prompt, int n,
                       const g4_gen_params *p) {
    int c = 0;
    const int lim = *n_cache < n ? *n_cache : n;
    while (c < lim && cache[c] == prompt[c]) c++;
    if (c == n) c--; /* the last prompt token is evaluated again for its logits */
    if (p && p->n_media && c > p->media[0].pos) c = p->media[0].pos; /* placeholders don't identify media */
    if (c < *n_cache) {
        if (g4_session_truncate(s, seq, c, NULL)) { /* the sliding-window ring moved on */
            g4_session_truncate(s, seq, 0, NULL);
            c = 0;
        }
        *n_cache = c;
    }
    return c;
}

/* Token bytes -> valid UTF-8: complete sequences pass, an incomplete one waits for the
 * next token, and bytes that cannot form a sequence (a random or badly-trained model can
 * emit any byte token) become U+FFFD, so every consumer (terminal, JSON) gets valid text. */

static const char REPL[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

static int u8_len(unsigned char c) {
    return c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
}

/* Is b a valid continuation at position n of a sequence that started with lead? */
static bool u8_cont_ok(unsigned char lead, int n, unsigned char b) {
    if ((b & 0xC0) != 0x80) return false;
    if (n != 1) return true;
    if (lead == 0xE0) return b >= 0xA0;
    if (lead == 0xED) return b < 0xA0; /* no surrogates */
    if (lead == 0xF0) return b >= 0x90;
    if (lead == 0xF4) return b < 0x90;
    return true;
}

static void u8fix_feed(g4_u8fix *u, const char *in, size_t n, g4_buf *out) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (u->n) {
            if (u8_cont_ok(u->pend[0], u->n, c)) {
                u->pend[u->n++] = c;
                if (u->n == u->need) {
                    g4_buf_add(out, u->pend, (size_t)u->n);
                    u->n = 0;
                }
                continue;
            }
            g4_buf_add(out, REPL, 3); /* a broken sequence; c starts afresh */
            u->n = 0;
        }
        int L = u8_len(c);
        if (L == 1) g4_buf_addc(out, (char)c);
        else if (L == 0) g4_buf_add(out, REPL, 3);
        else {
            u->pend[0] = c;
            u->n = 1;
            u->need = L;
        }
    }
}

static void u8fix_flush(g4_u8fix *u, g4_buf *out) {
    if (u->n) g4_buf_add(out, REPL, 3);
    u->n = 0;
}

static void on_parse(void *user, const g4_parse_event *ev) {
    g4_tokpipe *t = user;
    if (ev->kind == G4_PARSE_TOOL_CALL) {
        t->n_calls++;
        if (t->p->on_tool_call) t->p->on_tool_call(t->p->user, ev->index, ev->name, ev->name_len, ev->args, ev->args_len);
    } else if (ev->len && t->p->on_text) {
        t->p->on_text(t->p->user, ev->kind, ev->text, ev->len);
    }
}

/* Routes released text to the parser or, for raw generation, straight to on_text. */
static g4_status deliver(g4_tokpipe *t, const char *s, size_t n, g4_error *err) {
    if (!n) return G4_OK;
    if (!t->op) {
        if (t->p->on_text) t->p->on_text(t->p->user, G4_PARSE_CONTENT, s, n);
        return G4_OK;
    }
    return g4_outparser_feed(t->op, s, n, on_parse, t, err);
}

g4_status g4_tokpipe_init(g4_tokpipe *t, const g4_engine *e, const g4_gen_params *p, g4_error *err) {
    memset(t, 0, sizeof *t);
    t->p = p;
    t->v = g4_engine_vocab(e, err);
    if (!t->v) return err ? err->code : G4_ERR_UNSUPPORTED;
    t->V = g4_engine_n_vocab(e);
    t->finish = G4_FINISH_LENGTH;
    /* sampler: the caller's biases plus the model's suppressed tokens (and, with
     * ignore_eos, the end-of-generation tokens) */
    int n_sup = 0;
    const int32_t *sup = g4_engine_suppress(e, &n_sup);
    size_t n_eog = 0;
    if (p->ignore_eos)
        for (size_t i = 0; i < g4_vocab_n_special(t->v); i++) n_eog += g4_vocab_is_eog(t->v, g4_vocab_special_at(t->v, i));
    g4_sampler_params sp = p->sampling;
    g4_logit_bias *bias = NULL;
    if (n_sup || n_eog) {
        bias = malloc((sp.n_bias + (size_t)n_sup + n_eog) * sizeof *bias);
        if (!bias) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        if (sp.n_bias) memcpy(bias, sp.bias, sp.n_bias * sizeof *bias);
        size_t k = sp.n_bias;
        for (int i = 0; i < n_sup; i++) bias[k++] = (g4_logit_bias){sup[i], -INFINITY};
        for (size_t i = 0; n_eog && i < g4_vocab_n_special(t->v); i++) {
            int32_t id = g4_vocab_special_at(t->v, i);
            if (g4_vocab_is_eog(t->v, id)) bias[k++] = (g4_logit_bias){id, -INFINITY};
        }
        sp.bias = bias;
        sp.n_bias = k;
    }
    g4_status st = g4_sampler_new(&sp, t->V, &t->smp, err);
    free(bias);
    if (!st && p->n_stop) st = g4_stopper_new(p->stop, p->n_stop, &t->stop, err);
    if (!st && p->parse) st = g4_outparser_new(p->in_thinking, &t->op, err);
    if (!st && p->grammar) {
        if (!p->gvocab) st = g4_fail(err, G4_ERR_ARG, "a grammar needs its token table (gvocab)");
        else st = g4_gstate_new(p->grammar, p->gvocab, &t->gram, err);
        /* steer the grammar to finish within the token budget */
        if (!st && p->n_predict >= 0) g4_gstate_set_budget(t->gram, p->n_predict > 1 ? p->n_predict - 1 : p->n_predict);
    }
    if (!st && (p->grammar || p->top_logprobs >= 0)) {
        t->scratch = malloc((size_t)t->V * sizeof *t->scratch);
        if (!t->scratch) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    if (st) g4_tokpipe_free(t);
    return st;
}

void g4_tokpipe_free(g4_tokpipe *t) {
    g4_buf_free(&t->text);
    g4_buf_free(&t->emit);
    g4_outparser_free(t->op);
    g4_stopper_free(t->stop);
    g4_sampler_free(t->smp);
    g4_gstate_free(t->gram);
    free(t->scratch);
    memset(t, 0, sizeof *t);
}

void g4_tokpipe_prompt(g4_tokpipe *t, const int32_t *toks, int n) {
    for (int i = 0; i < n; i++) g4_sampler_accept(t->smp, toks[i]);
}

/* log-softmax of the chosen token and the n most likely (temperature 1, after bias) */
static void logprobs(g4_tokpipe *t, const float *logits, int32_t tok, float *lp, g4_token_prob *top, int n_top) {
    float mx = -INFINITY;
    for (int i = 0; i < t->V; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < t->V; i++) sum += logits[i] > -INFINITY ? exp((double)logits[i] - mx) : 0.0;
    const double lse = mx + log(sum);
    *lp = (float)((double)logits[tok] - lse);
    int k = 0;
    for (int i = 0; i < t->V; i++) {
        if (!(logits[i] > -INFINITY)) continue;
        if (k < n_top) {
            int j = k++;
            while (j > 0 && logits[top[j - 1].token] < logits[i]) top[j] = top[j - 1], j--;
            top[j].token = i;
        } else if (n_top && logits[i] > logits[top[n_top - 1].token]) {
            int j = n_top - 1;
            while (j > 0 && logits[top[j - 1].token] < logits[i]) top[j] = top[j - 1], j--;
            top[j].token = i;
        }
    }
    for (int j = 0; j < k; j++) top[j].prob = (float)((double)logits[top[j].token] - lse); /* a log-probability */
    t->n_top = k;
}

g4_status g4_tokpipe_step(g4_tokpipe *t, const float *logits, int32_t *out_tok, bool *done, g4_error *err) {
    const g4_gen_params *p = t->p;
    *done = false;
    *out_tok = G4_TOKEN_NONE;
    if (p->n_predict >= 0 && t->n_gen >= p->n_predict) {
        *done = true;
        return G4_OK;
    }
    if (p->should_stop && p->should_stop(p->user)) {
        t->finish = G4_FINISH_CANCELLED;
        *done = true;
        return G4_OK;
    }
    if (t->gram && g4_gstate_finished(t->gram)) { /* nothing can follow (e.g. ignore_eos banned the end) */
        t->finish = G4_FINISH_STOP;
        *done = true;
        return G4_OK;
    }
    const float *lg = logits;
    if (t->gram) {
        memcpy(t->scratch, logits, (size_t)t->V * sizeof *logits);
        g4_gstate_mask(t->gram, t->scratch);
        lg = t->scratch;
    }
    int32_t tok = g4_sampler_sample(t->smp, lg);
    if (tok == G4_TOKEN_NONE)
        return g4_fail(err, G4_ERR_ARG, "every token is banned (logit bias / suppressed tokens / grammar)");
    if (t->gram && !g4_gstate_accept(t->gram, tok))
        return g4_fail(err, G4_ERR_ARG, "internal: the grammar refused the token it allowed (%d)", tok);
    t->n_gen++;
    *out_tok = tok;
    if (p->on_token) {
        float lp = 0;
        t->n_top = 0;
        if (p->top_logprobs >= 0) {
            if (!t->gram) {
                g4_sampler_adjust(t->smp, logits, t->scratch);
                lg = t->scratch;
            }
            int nt = p->top_logprobs > 20 ? 20 : p->top_logprobs;
            logprobs(t, lg, tok, &lp, t->top, nt);
        }
        p->on_token(p->user, tok, lp, t->top, t->n_top);
    }
    if (g4_vocab_is_eog(t->v, tok)) {
        t->finish = G4_FINISH_STOP;
        *done = true;
        return G4_OK;
    }
    g4_sampler_accept(t->smp, tok);
    char piece[256];
    size_t pl = g4_token_piece(t->v, tok, false, piece, sizeof piece);
    if (pl > sizeof piece) pl = sizeof piece; /* no real token is this long */
    g4_buf_clear(&t->text);
    u8fix_feed(&t->u8, piece, pl, &t->text);
    g4_status st;
    if (t->stop) {
        g4_buf_clear(&t->emit);
        t->stopped = g4_stopper_feed(t->stop, g4_buf_str(&t->text), t->text.n, &t->emit);
        if (!g4_buf_ok(&t->emit) || !g4_buf_ok(&t->text)) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        st = deliver(t, t->emit.p, t->emit.n, err);
    } else {
        if (!g4_buf_ok(&t->text)) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        st = deliver(t, t->text.p, t->text.n, err);
    }
    if (st) return st;
    if (t->stopped || (t->op && g4_outparser_done(t->op))) {
        t->finish = G4_FINISH_STOP;
        *done = true;
    }
    if (p->n_predict >= 0 && t->n_gen >= p->n_predict) *done = true;
    return G4_OK;
}

g4_status g4_tokpipe_end(g4_tokpipe *t, g4_error *err) {
    if (!t->stopped) {
        g4_buf_clear(&t->text);
        u8fix_flush(&t->u8, &t->text);
        g4_buf_clear(&t->emit);
        if (t->stop) {
            if (t->text.n) t->stopped = g4_stopper_feed(t->stop, t->text.p, t->text.n, &t->emit);
            if (!t->stopped) t->stopped = g4_stopper_flush(t->stop, &t->emit);
            if (t->stopped) t->finish = G4_FINISH_STOP;
        } else {
            g4_buf_add(&t->emit, g4_buf_str(&t->text), t->text.n);
        }
        if (!g4_buf_ok(&t->emit)) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        g4_status st = deliver(t, t->emit.p, t->emit.n, err);
        if (st) return st;
    }
    if (t->op) {
        g4_status st = g4_outparser_finish(t->op, on_parse, t, err);
        if (st) return st;
    }
    /* a grammar that completed within the budget ended the output as intended */
    const bool complete = t->gram && g4_gstate_complete(t->gram);
    if (complete && t->finish == G4_FINISH_LENGTH) t->finish = G4_FINISH_STOP;
    if (t->n_calls && t->finish == G4_FINISH_STOP) t->finish = G4_FINISH_TOOL_CALLS;
    return G4_OK;
}

/* Evaluates prompt[from..n) with media rows, in batches that never split a media span. */
static g4_status eval_media(g4_gen *g, const int32_t *prompt, int from, int n, const g4_gen_params *p, g4_error *err) {
    const int B = g->s->f.n_batch;
    const int E = g->s->e->m->hp.n_embd;
    for (int i = 0; i < p->n_media; i++) {
        const g4_media_span *m = &p->media[i];
        if (m->pos < 0 || m->n <= 0 || m->pos + m->n > n || (i && m->pos < p->media[i - 1].pos + p->media[i - 1].n))
            return g4_fail(err, G4_ERR_ARG, "media span %d is outside the prompt or overlaps another", i);
        if (m->n > B)
            return g4_fail(err, G4_ERR_ARG, "a media item needs %d soft tokens but the batch holds %d", m->n, B);
    }
    int32_t *pos = malloc((size_t)B * sizeof *pos), *grp = malloc((size_t)B * sizeof *grp);
    const float **rows = malloc((size_t)B * sizeof *rows);
    bool *want = malloc((size_t)B * sizeof *want);
    g4_status st = G4_OK;
    if (!pos || !grp || !rows || !want) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
    int mi = 0;
    while (mi < p->n_media && p->media[mi].pos + p->media[mi].n <= from) mi++;
    for (int done = from; !st && done < n;) {
        int m = n - done < B ? n - done : B;
        /* do not cut a span: end the chunk before a span that does not fit */
        for (int j = mi; j < p->n_media; j++) {
            const g4_media_span *sp = &p->media[j];
            if (sp->pos >= done + m) break;
            if (sp->pos + sp->n > done + m && sp->pos > done) m = sp->pos - done;
        }
        for (int r = 0; r < m; r++) {
            const int at = done + r;
            pos[r] = at;
            grp[r] = 0;
            rows[r] = NULL;
            want[r] = at == n - 1;
            for (int j = mi; j < p->n_media; j++) {
                const g4_media_span *sp = &p->media[j];
                if (at < sp->pos) break;
                if (at < sp->pos + sp->n) {
                    rows[r] = sp->embd + (size_t)(at - sp->pos) * E;
                    grp[r] = sp->group ? j + 1 : 0;
                    break;
                }
            }
        }
        g4_batch b = {.n = m, .tokens = prompt + done, .pos = pos, .seq = NULL, .want = want,
                      .embd = rows, .n_embd = E, .group = grp, .mask = p->mask};
        st = g4_session_decode(g->s, &b, done + m == n ? g->logits : NULL, err);
        done += m;
        while (mi < p->n_media && p->media[mi].pos + p->media[mi].n <= done) mi++;
    }
    free(pos);
    free(grp);
    free(rows);
    free(want);
    return st;
}

/* Speculative generation (mtp.h): rounds of k drafts (the controller's pick, within the
 * context, the batch and the tokens still allowed) verified in one target pass. Entered
 * with the last prompt row's logits in g->logits and its hidden state in the session. */
static g4_status gen_spec(g4_gen *g, g4_tokpipe *t, const g4_gen_params *p, g4_gen_result *res, g4_error *err) {
    const int kmax = p->draft_max > 0 ? (p->draft_max < G4_SPEC_KMAX ? p->draft_max : G4_SPEC_KMAX) : 3;
    const int H = g->e->m->hp.n_embd;
    if (!g4_drafter_is_for(p->draft, g->e)) return g4_fail(err, G4_ERR_ARG, "the drafter was opened for another model");
    if (g->ctl.kmax != kmax || g->ctl.fixed != p->draft_fixed) g4_spec_ctl_init(&g->ctl, kmax, p->draft_fixed);
    if (g->v_rows < kmax + 1) {
        float *vl = realloc(g->vlogits, (size_t)(kmax + 1) * (size_t)g->V * sizeof *vl);
        if (!vl) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        g->vlogits = vl;
        g->v_rows = kmax + 1;
    }
    if (!g->h && !(g->h = malloc((size_t)H * sizeof *g->h))) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    memcpy(g->h, g4_session_hidden_row(g->s, 0), (size_t)H * sizeof *g->h);
    int32_t toks[G4_SPEC_KMAX + 1], pos[G4_SPEC_KMAX + 1];
    bool want[G4_SPEC_KMAX + 1];
    int32_t tok;
    bool done;
    g4_status st = g4_tokpipe_step(t, g->logits, &tok, &done, err);
    while (!st && !done) {
        const int n = g->n_cache;
        if (n >= g->n_ctx) break; /* context full: length */
        int k = g4_spec_ctl_pick(&g->ctl);
        if (k > g->n_ctx - n - 1) k = g->n_ctx - n - 1;
        if (k > g->s->f.n_batch - 1) k = g->s->f.n_batch - 1;
        if (p->n_predict >= 0 && k > p->n_predict - t->n_gen - 1) k = p->n_predict - t->n_gen - 1;
        if (k < 0) k = 0;
        toks[0] = tok;
        const double t0 = now_s();
        if (k && (st = g4_spec_draft(p->draft, g->s, 0, tok, g->h, n, k, toks + 1, err))) break;
        const double t1 = now_s();
        for (int i = 0; i <= k; i++) {
            pos[i] = n + i;
            want[i] = true;
        }
        g4_batch b = {.n = k + 1, .tokens = toks, .pos = pos, .want = want};
        if ((st = g4_session_decode(g->s, &b, g->vlogits, err))) break;
        int rows;
        if ((st = g4_spec_accept(t, g->vlogits, toks + 1, k, &rows, &tok, &done, err))) break;
        if (rows < k + 1 && (st = g4_session_truncate(g->s, 0, n + rows, err))) break;
        memcpy(g->cache + n, toks, (size_t)rows * sizeof *toks);
        g->n_cache = n + rows;
        memcpy(g->h, g4_session_hidden_row(g->s, rows - 1), (size_t)H * sizeof *g->h);
        g4_spec_ctl_update(&g->ctl, k, rows - 1, !done && rows - 1 < k, t1 - t0, now_s() - t0);
        res->n_drafted += k;
        res->n_accepted += rows - 1;
        res->n_passes++;
    }
    if (st) g4_gen_reset(g);
    return st;
}

g4_status g4_gen_run(g4_gen *g, const int32_t *prompt, size_t n_prompt, const g4_gen_params *p,
                     g4_gen_result *res, g4_error *err) {
    memset(res, 0, sizeof *res);
    if (!g || !prompt || !p) return g4_fail(err, G4_ERR_ARG, "generate: missing argument");
    g4_status st = g4_gen_check_prompt(g->e, prompt, n_prompt, g->n_ctx, err);
    if (st) return st;
    const int n = (int)n_prompt;
    g4_tokpipe t;
    if ((st = g4_tokpipe_init(&t, g->e, p, err))) return st;

    /* prompt */
    double t0 = now_s();
    int c = g4_gen_keep_prefix(g->s, 0, g->cache, &g->n_cache, prompt, n, p);
    res->n_prompt = n;
    res->n_cached = c;
    if (p->n_media) st = eval_media(g, prompt, c, n, p, err);
    else st = g4_session_eval(g->s, prompt + c, n - c, false, g->logits, err);
    if (st) {
        g4_gen_reset(g);
        goto done;
    }
    memcpy(g->cache + c, prompt + c, (size_t)(n - c) * sizeof *prompt);
    for (int i = 0; i < p->n_media; i++) /* never match a later prompt's placeholders */
        for (int k = 0; k < p->media[i].n; k++) g->cache[p->media[i].pos + k] = -1;
    g->n_cache = n;
    g4_tokpipe_prompt(&t, prompt, n);
    double t1 = now_s();
    res->t_prompt = t1 - t0;

    /* generation */
    if (p->draft) {
        if ((st = gen_spec(g, &t, p, res, err))) goto done;
    } else {
        for (;;) {
            int32_t tok;
            bool done;
            if ((st = g4_tokpipe_step(&t, g->logits, &tok, &done, err))) goto done;
            if (done) break;
            if (g->n_cache >= g->n_ctx) break; /* context full: length */
            if ((st = g4_session_eval(g->s, &tok, 1, false, g->logits, err))) {
                g4_gen_reset(g);
                goto done;
            }
            g->cache[g->n_cache++] = tok;
            res->n_passes++;
        }
    }
    if ((st = g4_tokpipe_end(&t, err))) goto done;
    res->n_gen = t.n_gen;
    res->finish = t.finish;
    res->n_tool_calls = t.n_calls;
    res->t_gen = now_s() - t1;
done:
    g4_tokpipe_free(&t);
    return st;
}

g4_status g4_gen_check_prompt(const g4_engine *e, const int32_t *prompt, size_t n_prompt, int n_ctx, g4_error *err) {
    if (n_prompt == 0) return g4_fail(err, G4_ERR_ARG, "the prompt is empty");
    if (n_prompt >= (size_t)n_ctx)
        return g4_fail(err, G4_ERR_CTX_FULL,
                       "the prompt has %zu tokens but the context holds %d (leave room for the answer: "
                       "raise the context size or shorten the conversation)",
                       n_prompt, n_ctx);
    const int V = g4_engine_n_vocab(e);
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return g4_fail(err, G4_ERR_ARG, "prompt token %zu (id %d) is outside the vocabulary", i, prompt[i]);
    return G4_OK;
}
