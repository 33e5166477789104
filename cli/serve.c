/* serve.c — gemma4c serve: the OpenAI-compatible HTTP server (libmicrohttpd).
 *
 * Threads: libmicrohttpd runs one thread per connection; handlers parse the request
 * (src/server/oai.c), render and tokenize the prompt, and submit jobs to the scheduler
 * (src/server/sched.c), whose single thread batches every running request into one
 * forward pass per step. The scheduler's events land in a per-request "call" under its
 * mutex: a streamed response drains SSE bytes from it; a plain one waits for the end
 * while watching the socket so that a client that hangs up cancels its generation. */
#include <arpa/inet.h>
#include <math.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifndef G4_HAVE_MHD
int cmd_serve(const cli_opts *o) {
    (void)o;
    fprintf(stderr, "gemma4c serve: this build has no HTTP server: install libmicrohttpd "
                    "(apt-get install libmicrohttpd-dev pkg-config) and rebuild\n");
    return 1;
}
#else
#include <microhttpd.h>

#include "core/buf.h"
#include "core/json.h"
#include "engine/engine.h"
#include "engine/generate.h"
#include "sample/grammar.h"
#include "cli_media.h"
#include "mm/layout.h"
#include "mm/mm.h"
#include "mmio/audio_io.h"
#include "mmio/image_io.h"
#include "mtp/mtp.h"
#include "server/oai.h"
#include "server/sched.h"
#include "text/tokenize.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result;
#else
typedef enum MHD_Result MHD_Result;
#endif

typedef struct {
    const cli_opts *o;
    g4_engine *e;
    const g4_vocab *v;
    g4_gvocab *gv;
    g4_sched *sched;
    char model_id[256];
    char alias[256];
    bool large_layout;
    size_t max_body;
    atomic_int ready;
    atomic_ullong counter;
    uint64_t id_seed;
    int64_t created;
    int32_t tool_call_tok; /* <|tool_call>: banned when tool_choice is none */
    g4_mmproj *proj;       /* NULL: no image/audio input */
    g4_image_mode image_mode;
    g4_drafter *draft;     /* --draft: speculative decoding in every slot */
} server;

static server G;

static int g4_engine_n_embd_(const g4_engine *e) {
    g4_model_info mi;
    g4_engine_info(e, &mi);
    return mi.n_embd;
}

/* ---- one HTTP request ---- */

typedef struct {
    g4_buf body;
    bool too_big;
    bool responded;
} request;

/* ---- one completion call: n choices, each a job ---- */

typedef struct {
    g4_oai_token_logprobs lp;
    g4_oai_logprob top[G4_OAI_MAX_TOP_LOGPROBS];
} lp_entry;

typedef struct call call;

typedef struct {
    call *c;
    g4_job *job;
    g4_buf content, reasoning;
    g4_oai_tool_call calls[64];
    char *call_ids[64], *call_names[64], *call_args[64];
    int n_calls;
    bool done;
    g4_gen_result res;
    g4_status st;
    char error[256];
    bool role_sent;
    /* logprobs: all tokens (non-stream) or pending ones (stream) */
    lp_entry *lps;
    size_t n_lp, cap_lp;
    g4_buf lp_text; /* token texts, referenced by offset */
    size_t *lp_off; /* per entry: offsets of chosen + top texts */
    int reasoning_tokens;
    bool in_reasoning;
} choice;

struct call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int refs;
    g4_oai_request req;
    g4_oai_meta meta;
    char id[64];
    bool stream;
    int n;
    choice ch[G4_OAI_MAX_N];
    int n_done;
    g4_buf sse; /* stream bytes not yet handed to libmicrohttpd */
    size_t sse_off;
    bool finished; /* all DONE and the tail written */
    int n_prompt, n_cached;
    g4_grammar *grammar;
    g4_logit_bias *bias;
    g4_mm_item *media;  /* projected images / audio, rows owned */
    int n_media;
    g4_media_span *spans;
    int fd; /* client socket, for hang-up detection */
    atomic_int gone;
    uint64_t call_counter;
};

static void call_release(call *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    for (int i = 0; i < c->n; i++) {
        choice *h = &c->ch[i];
        g4_buf_free(&h->content);
        g4_buf_free(&h->reasoning);
        for (int k = 0; k < h->n_calls; k++) free(h->call_ids[k]), free(h->call_names[k]), free(h->call_args[k]);
        free(h->lps);
        free(h->lp_off);
        g4_buf_free(&h->lp_text);
        if (h->job) g4_job_release(h->job);
    }
    g4_buf_free(&c->sse);
    g4_grammar_free(c->grammar);
    free(c->bias);
    for (int i = 0; i < c->n_media; i++) free((void *)c->media[i].embd);
    free(c->media);
    free(c->spans);
    g4_oai_request_free(&c->req);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static g4_oai_finish map_finish(g4_finish f) {
    switch (f) {
    case G4_FINISH_STOP: return G4_OAI_FINISH_STOP;
    case G4_FINISH_LENGTH: return G4_OAI_FINISH_LENGTH;
    case G4_FINISH_TOOL_CALLS: return G4_OAI_FINISH_TOOL_CALLS;
    case G4_FINISH_CANCELLED: return G4_OAI_FINISH_STOP;
    }
    return G4_OAI_FINISH_STOP;
}

/* logprob entries keep their texts in one buffer; pointers are fixed up on use */
static void lp_add(choice *h, const g4_event *ev) {
    if (h->n_lp == h->cap_lp) {
        size_t cap = h->cap_lp ? h->cap_lp * 2 : 64;
        lp_entry *n = realloc(h->lps, cap * sizeof *n);
        size_t *o = realloc(h->lp_off, cap * (1 + G4_OAI_MAX_TOP_LOGPROBS) * sizeof *o);
        if (n) h->lps = n;
        if (o) h->lp_off = o;
        if (!n || !o) return;
        h->cap_lp = cap;
    }
    lp_entry *e = &h->lps[h->n_lp];
    size_t *off = h->lp_off + h->n_lp * (1 + G4_OAI_MAX_TOP_LOGPROBS);
    char piece[256];
    size_t pl = g4_token_piece(G.v, ev->token, false, piece, sizeof piece);
    if (pl > sizeof piece) pl = sizeof piece;
    off[0] = h->lp_text.n;
    g4_buf_add(&h->lp_text, piece, pl);
    e->lp.tok.len = pl;
    e->lp.tok.logprob = ev->logprob;
    int nt = ev->n_top < G4_OAI_MAX_TOP_LOGPROBS ? ev->n_top : G4_OAI_MAX_TOP_LOGPROBS;
    for (int k = 0; k < nt; k++) {
        size_t l = g4_token_piece(G.v, ev->top[k].token, false, piece, sizeof piece);
        if (l > sizeof piece) l = sizeof piece;
        off[1 + k] = h->lp_text.n;
        g4_buf_add(&h->lp_text, piece, l);
        e->top[k].len = l;
        e->top[k].logprob = ev->top[k].prob;
    }
    e->lp.n_top = (size_t)nt;
    e->lp.text_offset = 0;
    h->n_lp++;
}

/* Points the entries' texts into lp_text (it may have moved since they were added). */
static void lp_fix(choice *h, size_t from) {
    for (size_t i = from; i < h->n_lp; i++) {
        lp_entry *e = &h->lps[i];
        size_t *off = h->lp_off + i * (1 + G4_OAI_MAX_TOP_LOGPROBS);
        e->lp.tok.text = h->lp_text.p + off[0];
        for (size_t k = 0; k < e->lp.n_top; k++) e->top[k].text = h->lp_text.p + off[1 + k];
        e->lp.top = e->top;
    }
}

static g4_oai_token_logprobs *lp_array(choice *h, size_t from, size_t n) {
    /* g4_oai_token_logprobs are the first member of lp_entry: copy into a plain array */
    g4_oai_token_logprobs *a = malloc((n ? n : 1) * sizeof *a);
    if (!a) return NULL;
    lp_fix(h, from);
    for (size_t i = 0; i < n; i++) a[i] = h->lps[from + i].lp;
    return a;
}

static void usage_of(const call *c, g4_oai_usage *u) {
    memset(u, 0, sizeof *u);
    u->prompt_tokens = c->n_prompt;
    u->cached_tokens = c->n_cached;
    for (int i = 0; i < c->n; i++) {
        u->completion_tokens += c->ch[i].res.n_gen;
        u->reasoning_tokens += c->ch[i].reasoning_tokens;
        u->draft_tokens += c->ch[i].res.n_drafted;
        u->accepted_draft_tokens += c->ch[i].res.n_accepted;
    }
    u->speculative = G.draft != NULL;
}

/* A choice's stream opens with delta {"role":"assistant","content":""}, once. */
static void send_role(call *c, choice *h) {
    if (h->role_sent) return;
    g4_oai_delta r = g4_oai_delta_init((int)(h - c->ch));
    r.role = true;
    g4_oai_format_chunk(&c->meta, &r, &c->sse);
    h->role_sent = true;
}

static void stream_delta(call *c, choice *h, g4_oai_delta *d) {
    send_role(c, h);
    g4_oai_token_logprobs *lp = NULL;
    if (c->req.logprobs && h->n_lp) {
        lp = lp_array(h, 0, h->n_lp);
        d->lp = lp;
        d->n_lp = lp ? h->n_lp : 0;
        d->logprobs = true;
    }
    g4_oai_format_chunk(&c->meta, d, &c->sse);
    free(lp);
    if (d->n_lp) {
        h->n_lp = 0;
        g4_buf_clear(&h->lp_text);
    }
}


static void finish_stream(call *c) {
    for (int i = 0; i < c->n; i++) {
        choice *h = &c->ch[i];
        if (h->st && h->st != G4_ERR_CANCELLED) {
            g4_oai_error e;
            g4_oai_error_server(&e, h->error);
            g4_oai_error_sse(&e, &c->sse);
            continue;
        }
        g4_oai_delta d = g4_oai_delta_init(i);
        d.finish = map_finish(h->res.finish);
        stream_delta(c, h, &d);
    }
    if (c->req.include_usage) {
        g4_oai_usage u;
        usage_of(c, &u);
        g4_oai_format_usage_chunk(&c->meta, &u, &c->sse);
    }
    g4_oai_format_done(&c->sse);
    c->finished = true;
}

static void on_event(void *user, const g4_event *ev) {
    choice *h = user;
    call *c = h->c;
    pthread_mutex_lock(&c->mu);
    const int idx = (int)(h - c->ch);
    switch (ev->kind) {
    case G4_EV_STARTED:
        if (idx == 0) c->n_cached = ev->result->n_cached;
        if (c->stream) send_role(c, h);
        break;
    case G4_EV_TOKEN:
        if (c->req.logprobs) lp_add(h, ev);
        if (h->in_reasoning) h->reasoning_tokens++;
        break;
    case G4_EV_TEXT:
        h->in_reasoning = ev->text_kind == G4_PARSE_REASONING;
        if (c->stream) {
            g4_oai_delta d = g4_oai_delta_init(idx);
            if (ev->text_kind == G4_PARSE_REASONING) d.reasoning = ev->text, d.reasoning_len = ev->len;
            else d.content = ev->text, d.content_len = ev->len;
            stream_delta(c, h, &d);
        } else {
            g4_buf_add(ev->text_kind == G4_PARSE_REASONING ? &h->reasoning : &h->content, ev->text, ev->len);
        }
        break;
    case G4_EV_TOOL_CALL: {
        if (h->n_calls == 64) break;
        int k = h->n_calls++;
        char id[64];
        g4_oai_make_id("call_", G.id_seed, atomic_fetch_add(&G.counter, 1), id, sizeof id);
        h->call_ids[k] = strdup(id);
        h->call_names[k] = strndup(ev->name, ev->name_len);
        h->call_args[k] = strndup(ev->args, ev->args_len);
        h->calls[k] = (g4_oai_tool_call){h->call_ids[k], h->call_names[k] ? h->call_names[k] : "",
                                         h->call_args[k] ? h->call_args[k] : "{}", h->call_args[k] ? ev->args_len : 2};
        if (c->stream) {
            g4_oai_delta d = g4_oai_delta_init(idx);
            d.tool_index = k;
            d.tool_id = h->calls[k].id;
            d.tool_name = h->calls[k].name;
            d.tool_args = "";
            d.tool_args_len = 0;
            stream_delta(c, h, &d);
            /* the arguments in pieces, as OpenAI streams them */
            const char *a = h->calls[k].arguments;
            size_t n = h->calls[k].arguments_len;
            for (size_t off = 0; off < n;) {
                size_t m = n - off < 48 ? n - off : 48;
                while (off + m < n && ((unsigned char)a[off + m] & 0xC0) == 0x80) m++; /* whole characters */
                g4_oai_delta p = g4_oai_delta_init(idx);
                p.tool_index = k;
                p.tool_args = a + off;
                p.tool_args_len = m;
                g4_oai_format_chunk(&c->meta, &p, &c->sse);
                off += m;
            }
        }
        break;
    }
    case G4_EV_DONE:
        h->res = *ev->result;
        h->st = ev->status;
        snprintf(h->error, sizeof h->error, "%s", ev->error ? ev->error : "");
        h->done = true;
        if (idx == 0 || c->n_prompt == 0) c->n_prompt = ev->result->n_prompt;
        if (++c->n_done == c->n && c->stream) finish_stream(c);
        break;
    }
    pthread_cond_broadcast(&c->cv);
    bool last = ev->kind == G4_EV_DONE;
    pthread_mutex_unlock(&c->mu);
    if (last) call_release(c); /* the job's reference */
}

/* ---- HTTP helpers ---- */

static MHD_Result send_buf(struct MHD_Connection *con, unsigned status, const char *type, const g4_buf *b) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b->n, (void *)g4_buf_str(b), MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (G.o->cors) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", G.o->cors);
        MHD_add_response_header(r, "Vary", "Origin");
    }
    MHD_Result ret = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return ret;
}

static MHD_Result send_json(struct MHD_Connection *con, unsigned status, const g4_buf *b) {
    return send_buf(con, status, "application/json", b);
}

static MHD_Result send_error(struct MHD_Connection *con, const g4_oai_error *e) {
    g4_buf b = G4_BUF_INIT;
    g4_oai_error_json(e, &b);
    MHD_Result r = send_json(con, (unsigned)e->status, &b);
    g4_buf_free(&b);
    return r;
}

/* True when the peer closed its side (a hang-up), probing without consuming. */
static bool peer_gone(int fd) {
    if (fd < 0) return false;
    char ch;
    ssize_t k = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void cancel_all(call *c) {
    atomic_store(&c->gone, 1);
    for (int i = 0; i < c->n; i++)
        if (c->ch[i].job) g4_job_cancel(c->ch[i].job);
}

/* libmicrohttpd pulls the stream from here (blocking is fine: a thread per connection). */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    call *c = cls;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        size_t avail = c->sse.n - c->sse_off;
        if (avail) {
            size_t m = avail < max ? avail : max;
            memcpy(buf, c->sse.p + c->sse_off, m);
            c->sse_off += m;
            if (c->sse_off == c->sse.n) {
                g4_buf_clear(&c->sse);
                c->sse_off = 0;
            }
            pthread_mutex_unlock(&c->mu);
            return (ssize_t)m;
        }
        if (c->finished) {
            pthread_mutex_unlock(&c->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (!c->finished && c->sse.n == c->sse_off && peer_gone(c->fd)) {
            pthread_mutex_unlock(&c->mu);
            cancel_all(c);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void stream_free(void *cls) {
    call *c = cls;
    cancel_all(c); /* no-op when finished; stops generation when the client went away */
    call_release(c);
}

/* ---- endpoints ---- */

static MHD_Result handle_models(struct MHD_Connection *con) {
    g4_model_info mi;
    g4_engine_info(G.e, &mi);
    g4_oai_model_info m[2];
    memset(m, 0, sizeof m);
    size_t n = 0;
    m[n].id = G.model_id;
    m[n].created = G.created;
    m[n].n_ctx = g4_sched_n_ctx(G.sched);
    m[n].n_ctx_train = mi.n_ctx_train;
    m[n].n_vocab = mi.n_vocab;
    m[n].size = (int64_t)mi.weight_bytes;
    n++;
    if (G.alias[0] && strcmp(G.alias, G.model_id)) {
        m[n] = m[0];
        m[n].id = G.alias;
        n++;
    }
    g4_buf b = G4_BUF_INIT;
    g4_oai_format_models(m, n, &b);
    MHD_Result r = send_json(con, 200, &b);
    g4_buf_free(&b);
    return r;
}

static MHD_Result handle_tokenize(struct MHD_Connection *con, const g4_buf *body) {
    g4_oai_tokenize_req tr;
    g4_oai_error e;
    if (!g4_oai_parse_tokenize(g4_buf_str(body), body->n, &tr, &e)) return send_error(con, &e);
    int32_t *ids = NULL;
    size_t n = 0;
    g4_error err = {0};
    MHD_Result r;
    if (g4_tokenize(G.v, tr.content, tr.content_len, tr.add_special, tr.parse_special, &ids, &n, &err)) {
        g4_oai_error_invalid(&e, "content", "cannot tokenize: %s", err.msg);
        r = send_error(con, &e);
    } else {
        g4_buf b = G4_BUF_INIT;
        char **pieces = NULL;
        size_t *lens = NULL;
        if (tr.with_pieces) {
            pieces = calloc(n ? n : 1, sizeof *pieces);
            lens = calloc(n ? n : 1, sizeof *lens);
            for (size_t i = 0; pieces && lens && i < n; i++) {
                char tmp[256];
                size_t l = g4_token_piece(G.v, ids[i], true, tmp, sizeof tmp);
                if (l > sizeof tmp) l = sizeof tmp;
                pieces[i] = malloc(l + 1);
                if (pieces[i]) memcpy(pieces[i], tmp, l);
                lens[i] = pieces[i] ? l : 0;
            }
        }
        g4_oai_format_tokens(ids, n, (const char *const *)pieces, lens, &b);
        r = send_json(con, 200, &b);
        for (size_t i = 0; pieces && i < n; i++) free(pieces[i]);
        free(pieces);
        free(lens);
        g4_buf_free(&b);
    }
    free(ids);
    g4_oai_tokenize_req_free(&tr);
    return r;
}

static MHD_Result handle_detokenize(struct MHD_Connection *con, const g4_buf *body) {
    g4_oai_detokenize_req dr;
    g4_oai_error e;
    if (!g4_oai_parse_detokenize(g4_buf_str(body), body->n, &dr, &e)) return send_error(con, &e);
    MHD_Result r;
    if (!g4_oai_check_token_ids(dr.tokens, dr.n_tokens, g4_vocab_n_tokens(G.v), "tokens", &e)) {
        r = send_error(con, &e);
    } else {
        char *text = NULL;
        size_t len = 0;
        g4_error err = {0};
        if (g4_detokenize(G.v, dr.tokens, dr.n_tokens, false, false, &text, &len, &err)) {
            g4_oai_error_server(&e, err.msg);
            r = send_error(con, &e);
        } else {
            g4_buf b = G4_BUF_INIT;
            g4_oai_format_detokenized(text, len, &b);
            r = send_json(con, 200, &b);
            g4_buf_free(&b);
        }
        free(text);
    }
    g4_oai_detokenize_req_free(&dr);
    return r;
}

/* ---- media in requests ---- */

static int b64v(unsigned char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

/* Standard or URL-safe base64, padding optional, whitespace skipped. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_n) {
    unsigned char *o = malloc(n / 4 * 3 + 4);
    if (!o) return NULL;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '=') break;
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
        int v = b64v(ch);
        if (v < 0) {
            free(o);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    *out_n = k;
    return o;
}

/* The bytes of a media part: a data: URL or bare base64. */
static unsigned char *media_bytes(const char *s, size_t n, const char *param, size_t *out_n, g4_oai_error *e) {
    if (n >= 5 && !strncasecmp(s, "data:", 5)) {
        const char *comma = memchr(s, ',', n);
        if (!comma) {
            g4_oai_error_invalid(e, param, "Malformed data URL (no comma).");
            return NULL;
        }
        bool b64 = false;
        for (const char *q = s; q + 7 <= comma; q++)
            if (!strncasecmp(q, ";base64", 7)) b64 = true;
        if (!b64) {
            g4_oai_error_invalid(e, param, "Only base64 data URLs are supported.");
            return NULL;
        }
        n -= (size_t)(comma + 1 - s);
        s = comma + 1;
    } else if ((n >= 7 && !strncasecmp(s, "http://", 7)) || (n >= 8 && !strncasecmp(s, "https://", 8)) ||
               (n >= 7 && !strncasecmp(s, "file://", 7))) {
        g4_oai_error_invalid(e, param, "Remote media URLs are not supported (the server does not download): "
                                       "send the file as a base64 data URL (data:image/png;base64,...).");
        return NULL;
    }
    unsigned char *b = b64_decode(s, n, out_n);
    if (!b) g4_oai_error_invalid(e, param, "The media data is not valid base64.");
    else if (*out_n == 0) {
        free(b);
        b = NULL;
        g4_oai_error_invalid(e, param, "The media data is empty.");
    }
    return b;
}

/* Projects every image / audio part, in the order the chat template places them. */
static bool collect_media(call *c, g4_oai_error *e) {
    const g4_json *msgs = c->req.messages;
    const int total = c->req.n_images + c->req.n_audio;
    if (!total) return true;
    if (!G.proj) {
        g4_oai_error_invalid(e, "messages", "This server has no projector for images and audio: start it with "
                                            "--mmproj FILE (a 12B mmproj GGUF).");
        return false;
    }
    c->media = calloc((size_t)total, sizeof *c->media);
    c->spans = calloc((size_t)total, sizeof *c->spans);
    if (!c->media || !c->spans) {
        g4_oai_error_server(e, "out of memory");
        return false;
    }
    for (size_t i = 0; i < g4_json_len(msgs); i++) {
        const g4_json *m = g4_json_at(msgs, i);
        const g4_json *content = g4_json_get(m, "content");
        if (!g4_json_is_array(content)) continue;
        size_t rl = 0;
        const char *role = g4_json_get_str(m, "role", &rl);
        if (i == 0 && role && rl == 6 && !memcmp(role, "system", 6)) continue; /* the template keeps its text only */
        for (size_t k = 0; k < g4_json_len(content); k++) {
            const g4_json *part = g4_json_at(content, k);
            size_t tl = 0;
            const char *type = g4_json_get_str(part, "type", &tl);
            if (!type) continue;
            bool image = (tl == 9 && !memcmp(type, "image_url", 9)) || (tl == 5 && !memcmp(type, "image", 5));
            bool audio = (tl == 11 && !memcmp(type, "input_audio", 11)) || (tl == 5 && !memcmp(type, "audio", 5));
            if (!image && !audio) continue;
            char param[96];
            snprintf(param, sizeof param, "messages[%zu].content[%zu]", i, k);
            const g4_json *pl = g4_json_get(part, type[0] == 'i' && type[1] == 'm' ? (tl == 9 ? "image_url" : "image")
                                                                                   : (tl == 11 ? "input_audio" : "audio"));
            if (g4_json_is_object(pl)) pl = g4_json_get(pl, image ? "url" : "data");
            size_t sl = 0;
            const char *str = g4_json_is_string(pl) ? g4_json_string(pl, &sl) : NULL;
            if (!str) {
                g4_oai_error_invalid(e, param, "The %s part has no data.", image ? "image" : "audio");
                return false;
            }
            size_t nb = 0;
            unsigned char *bytes = media_bytes(str, sl, param, &nb, e);
            if (!bytes) return false;
            g4_error err = {0};
            g4_mm_item *it = &c->media[c->n_media];
            it->image = image;
            float *embd = NULL;
            int n_tok = 0;
            bool ok = true;
            if (image) {
                g4_image img = {0};
                g4_image_params ip = g4_image_params_default();
                g4_image_plan plan;
                float *px = NULL;
                ok = !g4_image_decode_ex(bytes, nb, G.image_mode == G4_IMAGE_MODE_LLAMACPP ? G4_DECODE_LLAMACPP : 0,
                                         &img, &err) &&
                     !g4_mmproj_image_params(G.proj, &ip, &err) &&
                     !g4_image_preprocess(&ip, G.image_mode, img.rgb, img.w, img.h, &plan, &px, &err);
                if (ok) {
                    g4_sched_engine_lock(G.sched);
                    ok = !g4_mm_project_image(G.proj, G.e, px, plan.height, plan.width, &embd, &n_tok, &err);
                    g4_sched_engine_unlock(G.sched);
                }
                free(px);
                g4_image_free(&img);
            } else {
                g4_audio_decode_opts ao = g4_audio_decode_opts_default();
                g4_pcm pcm = {0};
                g4_audio_params ap = g4_audio_params_default();
                float *frames = NULL;
                int64_t nf = 0;
                ok = !g4_audio_decode_memory(bytes, nb, &ao, &pcm, &err) && !g4_mmproj_audio_params(G.proj, &ap, &err);
                if (ok) {
                    int64_t want = g4_audio_n_frames(&ap, pcm.n_samples);
                    frames = want > 0 ? malloc((size_t)want * (size_t)ap.frame_size * sizeof *frames) : NULL;
                    ok = frames && !g4_audio_frames(&ap, pcm.samples, pcm.n_samples, frames, want * ap.frame_size, &nf, &err);
                    if (!frames && !err.msg[0]) snprintf(err.msg, sizeof err.msg, "no audio frames");
                }
                if (ok) {
                    g4_sched_engine_lock(G.sched);
                    ok = !g4_mm_project_audio(G.proj, G.e, frames, (int)nf, &embd, &n_tok, &err);
                    g4_sched_engine_unlock(G.sched);
                }
                free(frames);
                g4_pcm_free(&pcm);
            }
            free(bytes);
            if (!ok) {
                g4_oai_error_invalid(e, param, "Cannot use this %s: %s", image ? "image" : "audio", err.msg);
                free(embd);
                return false;
            }
            it->embd = embd;
            it->n_tokens = n_tok;
            c->n_media++;
        }
    }
    return true;
}

static int client_fd(struct MHD_Connection *con) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

static MHD_Result handle_completion(struct MHD_Connection *con, const g4_buf *body, bool chat) {
    call *c = calloc(1, sizeof *c);
    g4_oai_error e;
    if (!c) {
        g4_oai_error_server(&e, "out of memory");
        return send_error(con, &e);
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    atomic_init(&c->refs, 1);
    atomic_init(&c->gone, 0);
    c->fd = client_fd(con);
    MHD_Result ret;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    g4_buf text = G4_BUF_INIT;
    if (!g4_oai_parse_request(g4_buf_str(body), body->n, chat, NULL, &c->req, &e) ||
        !g4_oai_check_vocab(&c->req, g4_vocab_n_tokens(G.v), &e))
        goto fail;
    const g4_oai_request *rq = &c->req;
    /* prompt */
    bool in_thought = false;
    if (!chat && rq->prompt_tokens) {
        n_ids = rq->n_prompt_tokens;
        ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
        if (!ids) goto oom;
        memcpy(ids, rq->prompt_tokens, n_ids * sizeof *ids);
    } else {
        if (!g4_oai_render_prompt(rq, G.large_layout, &text, &in_thought, &e)) goto fail;
        g4_error err = {0};
        /* the chat template writes <bos>; a raw completion prompt gets one added */
        bool add_bos = !chat && !(text.n >= 5 && !memcmp(text.p, "<bos>", 5));
        if (g4_tokenize(G.v, g4_buf_str(&text), text.n, add_bos, true, &ids, &n_ids, &err)) {
            g4_oai_error_invalid(&e, chat ? "messages" : "prompt", "cannot tokenize the prompt: %s", err.msg);
            goto fail;
        }
        if (chat && !collect_media(c, &e)) goto fail;
        if (c->n_media) {
            int32_t *x = NULL;
            size_t nx = 0;
            if (g4_mm_expand(G.v, ids, n_ids, c->media, c->n_media, &x, &nx, c->spans, &err)) {
                g4_oai_error_invalid(&e, "messages", "%s", err.msg);
                goto fail;
            }
            free(ids);
            ids = x;
            n_ids = nx;
        }
    }
    const int n_ctx = g4_sched_n_ctx(G.sched);
    if (n_ids == 0) {
        g4_oai_error_invalid(&e, chat ? "messages" : "prompt", "The prompt is empty.");
        goto fail;
    }
    if (g4_oai_context_exceeded(chat, (int)n_ids, n_ctx, &e)) goto fail;
    /* constrained output */
    if (rq->tool_choice == G4_TOOL_REQUIRED || rq->tool_choice == G4_TOOL_NAMED) {
        g4_error err = {0};
        if (g4_grammar_tool_call(rq->tools, rq->tool_choice == G4_TOOL_NAMED ? rq->tool_name : NULL,
                                 rq->parallel_tool_calls, &c->grammar, &err)) {
            g4_oai_error_invalid(&e, "tools", "cannot constrain the tool call: %s", err.msg);
            goto fail;
        }
    } else if (rq->response_format != G4_RF_TEXT) {
        g4_error err = {0};
        if (g4_grammar_json(rq->response_format == G4_RF_JSON_SCHEMA ? rq->schema : NULL, &c->grammar, &err)) {
            g4_oai_error_invalid(&e, "response_format", "unsupported schema: %s", err.msg);
            goto fail;
        }
    }
    /* response identity */
    g4_oai_make_id(chat ? "chatcmpl-" : "cmpl-", G.id_seed, atomic_fetch_add(&G.counter, 1), c->id, sizeof c->id);
    c->meta.chat = chat;
    c->meta.id = c->id;
    c->meta.created = (int64_t)time(NULL);
    c->meta.model = rq->model && *rq->model ? rq->model : G.model_id;
    c->meta.reasoning_alias = true;
    c->stream = rq->stream;
    c->n = rq->n;
    /* tool_choice none: the model cannot open a call */
    g4_sampler_params sp = rq->sampling;
    if (chat && rq->tool_choice == G4_TOOL_NONE && rq->tools && G.tool_call_tok >= 0) {
        c->bias = malloc((sp.n_bias + 1) * sizeof *c->bias);
        if (!c->bias) goto oom;
        if (sp.n_bias) memcpy(c->bias, sp.bias, sp.n_bias * sizeof *c->bias);
        c->bias[sp.n_bias] = (g4_logit_bias){G.tool_call_tok, -INFINITY};
        sp.bias = c->bias;
        sp.n_bias++;
    }
    const int max_tokens = g4_oai_clamp_max_tokens(rq->max_tokens, (int)n_ids, n_ctx);
    for (int i = 0; i < c->n; i++) {
        choice *h = &c->ch[i];
        h->c = c;
        g4_job_desc d;
        memset(&d, 0, sizeof d);
        d.prompt = ids;
        d.n_prompt = n_ids;
        d.gen = g4_gen_params_default();
        d.gen.sampling = sp;
        if (sp.seed != G4_SEED_RANDOM) d.gen.sampling.seed = sp.seed + (uint64_t)i;
        d.gen.n_predict = max_tokens;
        d.gen.stop = (const char *const *)rq->stop;
        d.gen.n_stop = rq->n_stop;
        d.gen.parse = chat;
        d.gen.in_thinking = in_thought;
        d.gen.grammar = c->grammar;
        d.gen.gvocab = G.gv;
        d.gen.top_logprobs = rq->logprobs ? rq->top_logprobs : -1;
        d.gen.ignore_eos = rq->ignore_eos;
        d.gen.media = c->spans;
        d.gen.n_media = c->n_media;
        d.on_event = on_event;
        d.user = h;
        atomic_fetch_add(&c->refs, 1);
        g4_error err = {0};
        g4_status st = g4_sched_submit(G.sched, &d, &h->job, &err);
        if (st) {
            atomic_fetch_sub(&c->refs, 1);
            cancel_all(c);
            /* jobs already submitted finish (cancelled) and drop their references */
            if (st == G4_ERR_BUSY) g4_oai_error_unavailable(&e, "Server busy: too many requests are waiting; retry later");
            else if (st == G4_ERR_CTX_FULL) g4_oai_error_context(&e, chat, (int)n_ids, n_ctx);
            else g4_oai_error_invalid(&e, chat ? "messages" : "prompt", "%s", err.msg);
            goto fail;
        }
    }
    free(ids);
    ids = NULL;
    g4_buf_free(&text);
    if (c->stream) {
        atomic_fetch_add(&c->refs, 1); /* the response's */
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, c, stream_free);
        if (!r) {
            atomic_fetch_sub(&c->refs, 1);
            cancel_all(c);
            call_release(c);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
        if (G.o->cors) MHD_add_response_header(r, "Access-Control-Allow-Origin", G.o->cors);
        ret = MHD_queue_response(con, 200, r);
        MHD_destroy_response(r);
        call_release(c);
        return ret;
    }
    /* plain response: wait for every choice, watching for a hang-up */
    pthread_mutex_lock(&c->mu);
    while (c->n_done < c->n) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->n_done < c->n && !atomic_load(&c->gone) && peer_gone(c->fd)) {
            pthread_mutex_unlock(&c->mu);
            cancel_all(c);
            pthread_mutex_lock(&c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->n; i++)
        if (c->ch[i].st && c->ch[i].st != G4_ERR_CANCELLED) {
            g4_oai_error_server(&e, c->ch[i].error);
            goto fail;
        }
    {
        g4_oai_choice chs[G4_OAI_MAX_N];
        g4_oai_token_logprobs *lps[G4_OAI_MAX_N] = {0};
        memset(chs, 0, sizeof chs);
        for (int i = 0; i < c->n; i++) {
            choice *h = &c->ch[i];
            chs[i].content = g4_buf_str(&h->content);
            chs[i].content_len = h->content.n;
            chs[i].reasoning = h->reasoning.n ? h->reasoning.p : NULL;
            chs[i].reasoning_len = h->reasoning.n;
            chs[i].tool_calls = h->calls;
            chs[i].n_tool_calls = (size_t)h->n_calls;
            chs[i].finish = map_finish(h->res.finish);
            chs[i].logprobs = rq->logprobs;
            if (rq->logprobs) {
                lps[i] = lp_array(h, 0, h->n_lp);
                chs[i].lp = lps[i];
                chs[i].n_lp = lps[i] ? h->n_lp : 0;
            }
        }
        g4_oai_usage u;
        usage_of(c, &u);
        g4_buf b = G4_BUF_INIT;
        g4_oai_format_response(&c->meta, chs, (size_t)c->n, &u, &b);
        ret = send_json(con, 200, &b);
        g4_buf_free(&b);
        for (int i = 0; i < c->n; i++) free(lps[i]);
    }
    call_release(c);
    return ret;
oom:
    g4_oai_error_server(&e, "out of memory");
fail:
    free(ids);
    g4_buf_free(&text);
    ret = send_error(con, &e);
    call_release(c);
    return ret;
}

static bool authorized(struct MHD_Connection *con) {
    if (!G.o->api_key) return true;
    const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    h += 7;
    while (*h == ' ') h++;
    /* constant-time compare */
    size_t a = strlen(h), b = strlen(G.o->api_key);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned char)h[i] ^ (unsigned char)G.o->api_key[i];
    return diff == 0;
}

typedef enum { R_NONE, R_HEALTH, R_MODELS, R_CHAT, R_COMPLETIONS, R_TOKENIZE, R_DETOKENIZE } route;

static route find_route(const char *url, const char **want_method) {
    static const struct {
        const char *path, *method;
        route r;
    } tab[] = {{"/health", "GET", R_HEALTH},         {"/v1/health", "GET", R_HEALTH},
               {"/v1/models", "GET", R_MODELS},      {"/models", "GET", R_MODELS},
               {"/v1/chat/completions", "POST", R_CHAT}, {"/chat/completions", "POST", R_CHAT},
               {"/v1/completions", "POST", R_COMPLETIONS}, {"/completions", "POST", R_COMPLETIONS},
               {"/tokenize", "POST", R_TOKENIZE},    {"/detokenize", "POST", R_DETOKENIZE}};
    size_t n = strcspn(url, "?");
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (strlen(tab[i].path) == n && !strncmp(url, tab[i].path, n) ) {
            *want_method = tab[i].method;
            return tab[i].r;
        }
    return R_NONE;
}

static MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                             const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)cls, (void)version;
    request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        /* refuse an announced oversized body before reading it */
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > G.max_body) {
            /* answer at once: libmicrohttpd then closes the connection unread */
            rq->too_big = rq->responded = true;
            g4_oai_error e;
            g4_oai_error_too_large(&e, G.max_body);
            return send_error(con, &e);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big) {
            if (rq->body.n + *upload_size > G.max_body) {
                rq->too_big = true;
                g4_buf_free(&rq->body);
            } else {
                g4_buf_add(&rq->body, upload, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->responded) return MHD_YES;
    rq->responded = true;
    g4_oai_error e;
    if (!strcmp(method, "OPTIONS")) { /* CORS preflight */
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        if (G.o->cors) {
            MHD_add_response_header(r, "Access-Control-Allow-Origin", G.o->cors);
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
        }
        MHD_Result ret = MHD_queue_response(con, 204, r);
        MHD_destroy_response(r);
        return ret;
    }
    const char *want = NULL;
    route rt = find_route(url, &want);
    if (rt == R_NONE) {
        g4_oai_error_not_found(&e, url);
        return send_error(con, &e);
    }
    if (strcmp(method, want) && !(rt == R_HEALTH && !strcmp(method, "HEAD"))) {
        g4_oai_error_method(&e, method, url);
        return send_error(con, &e);
    }
    if (rt == R_HEALTH) {
        g4_buf b = G4_BUF_INIT;
        bool ok = atomic_load(&G.ready);
        if (ok) g4_oai_format_health(&b);
        else g4_buf_adds(&b, "{\"status\":\"loading\"}");
        MHD_Result r = send_json(con, ok ? 200 : 503, &b);
        g4_buf_free(&b);
        return r;
    }
    if (!authorized(con)) {
        g4_oai_error_auth(&e);
        return send_error(con, &e);
    }
    if (rq->too_big) {
        g4_oai_error_too_large(&e, G.max_body);
        return send_error(con, &e);
    }
    if (!atomic_load(&G.ready)) {
        g4_oai_error_unavailable(&e, "Loading model");
        return send_error(con, &e);
    }
    switch (rt) {
    case R_MODELS: return handle_models(con);
    case R_CHAT: return handle_completion(con, &rq->body, true);
    case R_COMPLETIONS: return handle_completion(con, &rq->body, false);
    case R_TOKENIZE: return handle_tokenize(con, &rq->body);
    case R_DETOKENIZE: return handle_detokenize(con, &rq->body);
    default: break;
    }
    g4_oai_error_not_found(&e, url);
    return send_error(con, &e);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)con, (void)toe;
    request *rq = *con_cls;
    if (!rq) return;
    g4_buf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

static volatile sig_atomic_t g_quit;
static void on_signal(int sig) {
    (void)sig;
    g_quit = 1;
}

int cmd_serve(const cli_opts *o) {
    memset(&G, 0, sizeof G);
    G.o = o;
    G.max_body = o->max_body ? (size_t)o->max_body : (size_t)64 << 20;
    G.created = (int64_t)time(NULL);
    G.id_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    G.tool_call_tok = -1;
    const char *base = strrchr(o->model, '/') ? strrchr(o->model, '/') + 1 : o->model;
    snprintf(G.model_id, sizeof G.model_id, "%s", o->alias ? o->alias : base);
    if (o->alias) snprintf(G.alias, sizeof G.alias, "%s", o->alias);
    const char *host = o->host ? o->host : "127.0.0.1";
    const int port = o->port ? o->port : 8080;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "gemma4c serve: --host '%s' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::1)\n", host);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* listen first: /health answers "loading" while the model loads */
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, NULL,
                                            MHD_OPTION_SOCK_ADDR, sa,
                                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                                            MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "gemma4c serve: cannot listen on %s:%d (%s)\n", host, port,
                errno ? strerror(errno) : "address in use or not available");
        return 1;
    }
    int rc = 1;
    if (cli_open_engine(o, &G.e)) goto done;
    g4_error err = {0};
    G.v = g4_engine_vocab(G.e, &err);
    if (!G.v) {
        cli_die("cannot serve", &err);
        goto done;
    }
    G.large_layout = !g4_engine_small_layout(G.e);
    G.tool_call_tok = g4_vocab_find(G.v, "<|tool_call>", strlen("<|tool_call>"));
    if (g4_gvocab_new(G.v, &G.gv, &err)) {
        cli_die("cannot prepare constrained decoding", &err);
        goto done;
    }
    if (o->image_mode) g4_image_mode_parse(o->image_mode, &G.image_mode);
    {
        char *pp = cli_find_mmproj(o);
        if (pp) {
            if (g4_mmproj_open(pp, g4_engine_n_embd_(G.e), &G.proj, &err)) {
                fprintf(stderr, "gemma4c serve: %s: %s\n", pp, err.msg);
                free(pp);
                if (o->mmproj) goto done; /* asked for explicitly: an error */
                err = (g4_error){0};
            } else {
                fprintf(stderr, "gemma4c serve: images and audio via %s\n", pp);
                free(pp);
            }
        }
    }
    if (cli_open_drafter(o, G.e, &G.draft)) goto done;
    if (G.draft)
        fprintf(stderr, "gemma4c serve: speculative decoding with %s (up to %d drafts%s)\n", o->draft_path, o->draft_max,
                o->draft_fixed ? ", fixed" : ", adaptive");
    g4_sched_config sc = {.n_slots = o->parallel > 0 ? o->parallel : 1, .n_ctx = o->ctx, .n_batch = 0, .max_queue = 0,
                          .mask = G.image_mode == G4_IMAGE_MODE_LLAMACPP ? G4_MASK_LLAMACPP : G4_MASK_HF,
                          .draft = G.draft, .draft_max = o->draft_max, .draft_fixed = o->draft_fixed};
    if (g4_sched_create(G.e, &sc, &G.sched, &err)) {
        cli_die("cannot create the slots", &err);
        goto done;
    }
    atomic_store(&G.ready, 1);
    g4_model_info mi;
    g4_engine_info(G.e, &mi);
    fprintf(stderr, "gemma4c serve: %s — %d slots × %d context, %s kernels, %d threads\n", G.model_id, sc.n_slots,
            g4_sched_n_ctx(G.sched), mi.isa, mi.n_threads);
    fprintf(stderr, "gemma4c serve: listening on http://%s%s%s:%d (OpenAI API at /v1)%s\n", sa->sa_family == AF_INET6 ? "[" : "",
            host, sa->sa_family == AF_INET6 ? "]" : "", port, o->api_key ? ", API key required" : "");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!g_quit) pause();
    fprintf(stderr, "gemma4c serve: shutting down\n");
    rc = 0;
done:
    /* stop taking connections, end every generation (waiting handlers wake on DONE),
     * then let libmicrohttpd join its threads */
    atomic_store(&G.ready, 0);
    MHD_socket lsock = MHD_quiesce_daemon(d);
    g4_sched_free(G.sched);
    G.sched = NULL;
    MHD_stop_daemon(d);
    if (lsock != MHD_INVALID_SOCKET) close(lsock);
    g4_gvocab_free(G.gv);
    g4_mmproj_close(G.proj);
    g4_drafter_free(G.draft);
    g4_engine_free(G.e);
    return rc;
}
#endif
