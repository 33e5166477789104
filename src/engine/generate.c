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
#include "sample/stop.h"
#include "text/tokenize.h"

struct g4_gen {
    g4_engine *e;
    g4_session *s;
    const g4_vocab *v;
    int n_ctx, V;
    int32_t *cache; /* the tokens whose keys/values the session holds, in order */
    int n_cache;
    float *logits;
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
    free(g);
}

int g4_gen_n_ctx(const g4_gen *g) { return g->n_ctx; }

void g4_gen_reset(g4_gen *g) {
    if (g->n_cache) g4_session_truncate(g->s, 0, 0, NULL);
    g->n_cache = 0;
}

/* Keeps the longest cached prefix of prompt that the session can cut back to, leaving
 * at least the last prompt token to evaluate (its logits start the generation). */
static int reuse_prefix(g4_gen *g, const int32_t *prompt, int n) {
    int c = 0;
    const int lim = g->n_cache < n ? g->n_cache : n;
    while (c < lim && g->cache[c] == prompt[c]) c++;
    if (c == n) c--;
    if (c < g->n_cache) {
        if (g4_session_truncate(g->s, 0, c, NULL)) { /* the sliding-window ring moved on */
            g4_session_truncate(g->s, 0, 0, NULL);
            c = 0;
        }
        g->n_cache = c;
    }
    return c;
}

/* Token bytes -> valid UTF-8: complete sequences pass, an incomplete one waits for the
 * next token, and bytes that cannot form a sequence (a random or badly-trained model can
 * emit any byte token) become U+FFFD, so every consumer (terminal, JSON) gets valid text. */
typedef struct {
    unsigned char pend[4];
    int n, need;
} u8fix;

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

static void u8fix_feed(u8fix *u, const char *in, size_t n, g4_buf *out) {
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

static void u8fix_flush(u8fix *u, g4_buf *out) {
    if (u->n) g4_buf_add(out, REPL, 3);
    u->n = 0;
}

typedef struct {
    const g4_gen_params *p;
    int n_calls;
} sink;

static void on_parse(void *user, const g4_parse_event *ev) {
    sink *k = user;
    if (ev->kind == G4_PARSE_TOOL_CALL) {
        k->n_calls++;
        if (k->p->on_tool_call) k->p->on_tool_call(k->p->user, ev->index, ev->name, ev->name_len, ev->args, ev->args_len);
    } else if (ev->len && k->p->on_text) {
        k->p->on_text(k->p->user, ev->kind, ev->text, ev->len);
    }
}

/* Routes released text to the parser or, for raw generation, straight to on_text. */
static g4_status deliver(g4_outparser *op, sink *k, const char *s, size_t n, g4_error *err) {
    if (!n) return G4_OK;
    if (!op) {
        if (k->p->on_text) k->p->on_text(k->p->user, G4_PARSE_CONTENT, s, n);
        return G4_OK;
    }
    return g4_outparser_feed(op, s, n, on_parse, k, err);
}

g4_status g4_gen_run(g4_gen *g, const int32_t *prompt, size_t n_prompt, const g4_gen_params *p,
                     g4_gen_result *res, g4_error *err) {
    memset(res, 0, sizeof *res);
    if (!g || !prompt || !p) return g4_fail(err, G4_ERR_ARG, "generate: missing argument");
    if (n_prompt == 0) return g4_fail(err, G4_ERR_ARG, "the prompt is empty");
    if (n_prompt >= (size_t)g->n_ctx)
        return g4_fail(err, G4_ERR_CTX_FULL,
                       "the prompt has %zu tokens but the context holds %d (leave room for the answer: "
                       "raise the context size or shorten the conversation)",
                       n_prompt, g->n_ctx);
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= g->V)
            return g4_fail(err, G4_ERR_ARG, "prompt token %zu (id %d) is outside the vocabulary", i, prompt[i]);
    const int n = (int)n_prompt;

    /* sampler: the caller's biases plus the model's suppressed tokens */
    int n_sup = 0;
    const int32_t *sup = g4_engine_suppress(g->e, &n_sup);
    g4_sampler_params sp = p->sampling;
    g4_logit_bias *bias = NULL;
    if (n_sup) {
        bias = malloc((sp.n_bias + (size_t)n_sup) * sizeof *bias);
        if (!bias) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        if (sp.n_bias) memcpy(bias, sp.bias, sp.n_bias * sizeof *bias);
        for (int i = 0; i < n_sup; i++) bias[sp.n_bias + i] = (g4_logit_bias){sup[i], -INFINITY};
        sp.bias = bias;
        sp.n_bias += (size_t)n_sup;
    }
    g4_sampler *smp = NULL;
    g4_stopper *stop = NULL;
    g4_outparser *op = NULL;
    g4_buf emit = G4_BUF_INIT, text = G4_BUF_INIT;
    g4_status st = g4_sampler_new(&sp, g->V, &smp, err);
    free(bias);
    if (st) return st;
    if (p->n_stop && (st = g4_stopper_new(p->stop, p->n_stop, &stop, err))) goto done;
    if (p->parse && (st = g4_outparser_new(p->in_thinking, &op, err))) goto done;

    /* prompt */
    double t0 = now_s();
    int c = reuse_prefix(g, prompt, n);
    res->n_prompt = n;
    res->n_cached = c;
    if ((st = g4_session_eval(g->s, prompt + c, n - c, false, g->logits, err))) {
        g4_gen_reset(g);
        goto done;
    }
    memcpy(g->cache + c, prompt + c, (size_t)(n - c) * sizeof *prompt);
    g->n_cache = n;
    for (int i = 0; i < n; i++) g4_sampler_accept(smp, prompt[i]);
    double t1 = now_s();
    res->t_prompt = t1 - t0;

    /* generation */
    sink k = {p, 0};
    u8fix u8 = {{0}, 0, 0};
    char piece[256];
    bool stopped = false;
    res->finish = G4_FINISH_LENGTH;
    for (;;) {
        if (p->n_predict >= 0 && res->n_gen >= p->n_predict) break;
        if (p->should_stop && p->should_stop(p->user)) {
            res->finish = G4_FINISH_CANCELLED;
            break;
        }
        int32_t tok = g4_sampler_sample(smp, g->logits);
        if (tok == G4_TOKEN_NONE) {
            st = g4_fail(err, G4_ERR_ARG, "every token is banned (logit bias / suppressed tokens)");
            goto done;
        }
        res->n_gen++;
        if (p->on_token) p->on_token(p->user, tok);
        if (g4_vocab_is_eog(g->v, tok)) {
            res->finish = G4_FINISH_STOP;
            break;
        }
        g4_sampler_accept(smp, tok);
        size_t pl = g4_token_piece(g->v, tok, false, piece, sizeof piece);
        if (pl > sizeof piece) pl = sizeof piece; /* no real token is this long */
        g4_buf_clear(&text);
        u8fix_feed(&u8, piece, pl, &text);
        if (stop) {
            g4_buf_clear(&emit);
            stopped = g4_stopper_feed(stop, g4_buf_str(&text), text.n, &emit);
            if (!g4_buf_ok(&emit) || !g4_buf_ok(&text)) {
                st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
                goto done;
            }
            st = deliver(op, &k, emit.p, emit.n, err);
        } else {
            if (!g4_buf_ok(&text)) {
                st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
                goto done;
            }
            st = deliver(op, &k, text.p, text.n, err);
        }
        if (st) goto done;
        if (stopped || (op && g4_outparser_done(op))) {
            res->finish = G4_FINISH_STOP;
            break;
        }
        if (g->n_cache >= g->n_ctx) break; /* context full: length */
        if ((st = g4_session_eval(g->s, &tok, 1, false, g->logits, err))) {
            g4_gen_reset(g);
            goto done;
        }
        g->cache[g->n_cache++] = tok;
    }
    /* flush what is held back: an incomplete UTF-8 tail, a possible stop prefix, the parser */
    if (!stopped) {
        g4_buf_clear(&text);
        u8fix_flush(&u8, &text);
        g4_buf_clear(&emit);
        if (stop) {
            if (text.n) stopped = g4_stopper_feed(stop, text.p, text.n, &emit);
            if (!stopped) stopped = g4_stopper_flush(stop, &emit);
            if (stopped) res->finish = G4_FINISH_STOP;
        } else {
            g4_buf_add(&emit, g4_buf_str(&text), text.n);
        }
        if (!g4_buf_ok(&emit)) {
            st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((st = deliver(op, &k, emit.p, emit.n, err))) goto done;
    }
    if (op && (st = g4_outparser_finish(op, on_parse, &k, err))) goto done;
    res->n_tool_calls = k.n_calls;
    if (k.n_calls && res->finish == G4_FINISH_STOP) res->finish = G4_FINISH_TOOL_CALLS;
    res->t_gen = now_s() - t1;
done:
    g4_buf_free(&text);
    g4_buf_free(&emit);
    g4_outparser_free(op);
    g4_stopper_free(stop);
    g4_sampler_free(smp);
    return st;
}
