/* engine.c — the public API (g4.h): engine = model + kernels + pool + GELU table,
 * session = forward-pass state (KV cache + scratch). */
#include "engine/engine.h"
#include "model/vocab_gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

g4_engine_config g4_engine_config_default(void) {
    g4_engine_config c;
    memset(&c, 0, sizeof c);
    c.max_isa = G4_ISA_BEST;
    c.gelu = G4_GELU_TABLE;
    c.log_level = G4_LOG_WARN;
    return c;
}

g4_session_config g4_session_config_default(void) {
    g4_session_config c = {0, 1, 512, 0};
    return c;
}

void g4_log(const g4_engine *e, g4_log_level lvl, const char *fmt, ...) {
    if (lvl > e->cfg.log_level) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (e->cfg.log) e->cfg.log(e->cfg.log_user, lvl, buf);
    else fprintf(stderr, "gemma4c: %s\n", buf);
}

/* Reads every weight page once so that the first tokens do not stall on page faults,
 * reporting progress (the mapping stays file-backed). */
static g4_status prefault(g4_engine *e, g4_error *err) {
    const g4_model *m = e->m;
    uint64_t total = e->m->weight_bytes, done = 0;
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < g4_model_n_tensors(m); i++) {
        const g4_gguf_tensor *t = g4_model_tensor_at(m, i);
        const uint8_t *p = t->data;
        for (size_t off = 0; off < t->nbytes; off += 4096) sink ^= p[off];
        done += t->nbytes;
        if (e->cfg.progress && !e->cfg.progress(e->cfg.progress_user, done, total))
            return g4_fail(err, G4_ERR_CANCELLED, "loading cancelled");
    }
    (void)sink;
    return G4_OK;
}

/* G4_LOAD_AUTO: copy into huge-page RAM when the file fits with 2 GiB to spare. */
static bool want_copy(const g4_engine_config *cfg) {
    if (cfg->load != G4_LOAD_AUTO) return cfg->load == G4_LOAD_COPY;
    struct stat st;
    const long long size = stat(cfg->model_path, &st) == 0 ? (long long)st.st_size : -1;
    long long avail = -1;
    FILE *mi = fopen("/proc/meminfo", "r");
    if (mi) {
        char line[256];
        while (fgets(line, sizeof line, mi))
            if (sscanf(line, "MemAvailable: %lld kB", &avail) == 1) break;
        fclose(mi);
    }
    return size > 0 && avail > 0 && size + (2LL << 30) < avail * 1024;
}

/* The tokenizer is optional (a file without tokenizer.ggml.tokens can still be evaluated
 * from token ids), but a present and broken one is an error. */
static g4_status load_tokenizer(g4_engine *e, g4_error *err) {
    const g4_gguf *g = e->m->gguf;
    if (g4_gguf_find_kv(g, "tokenizer.ggml.tokens")) {
        g4_error verr = {0};
        g4_status st = g4_vocab_from_gguf(g, &e->vocab, &verr);
        if (st) return g4_fail(err, st, "%s: tokenizer: %s", e->cfg.model_path, verr.msg);
        if (g4_vocab_n_tokens(e->vocab) != e->m->hp.n_vocab)
            return g4_fail(err, G4_ERR_FORMAT, "%s: the tokenizer has %d tokens but the model %d",
                           e->cfg.model_path, g4_vocab_n_tokens(e->vocab), e->m->hp.n_vocab);
    }
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, "tokenizer.ggml.suppress_tokens");
    if (kv && kv->type == G4_GGUF_ARRAY && kv->arr_n > 0) {
        if (kv->arr_n > (uint64_t)e->m->hp.n_vocab)
            return g4_fail(err, G4_ERR_FORMAT, "%s: tokenizer.ggml.suppress_tokens is longer than the vocabulary",
                           e->cfg.model_path);
        e->suppress = malloc(kv->arr_n * sizeof *e->suppress);
        if (!e->suppress) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        for (uint64_t i = 0; i < kv->arr_n; i++) {
            int64_t v;
            if (!g4_gguf_arr_int(kv, i, &v) || v < 0 || v >= e->m->hp.n_vocab)
                return g4_fail(err, G4_ERR_FORMAT, "%s: tokenizer.ggml.suppress_tokens[%llu] is not a token id",
                               e->cfg.model_path, (unsigned long long)i);
            e->suppress[e->n_suppress++] = (int32_t)v;
        }
    }
    return G4_OK;
}

const g4_vocab *g4_engine_vocab(const g4_engine *e, g4_error *err) {
    if (!e->vocab)
        g4_fail(err, G4_ERR_UNSUPPORTED, "%s has no tokenizer (tokenizer.ggml.tokens is missing); "
                "use a GGUF converted with its tokenizer, or pass token ids", e->cfg.model_path);
    return e->vocab;
}

const int32_t *g4_engine_suppress(const g4_engine *e, int *n) {
    *n = e->n_suppress;
    return e->suppress;
}

bool g4_engine_small_layout(const g4_engine *e) { return e->m->hp.n_embd_per_layer > 0; }

g4_status g4_engine_open(const g4_engine_config *cfg, g4_engine **out, g4_error *err) {
    *out = NULL;
    if (!cfg || !cfg->model_path) return g4_fail(err, G4_ERR_ARG, "model_path is required");
    if (cfg->n_threads < 0) return g4_fail(err, G4_ERR_ARG, "n_threads must be >= 0");
    g4_engine *e = calloc(1, sizeof *e);
    if (!e) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    e->cfg = *cfg;
    const bool copy = want_copy(cfg);
    e->weights_in_ram = copy;
    g4_status st = g4_model_load(cfg->model_path, copy, cfg->progress, cfg->progress_user, &e->m, err);
    if (st) goto fail;
    if ((st = load_tokenizer(e, err))) goto fail;
    e->isa = g4_kernels_init(&e->k, cfg->max_isa);
    e->ref_mode = cfg->max_isa == G4_ISA_REF;
    if (e->ref_mode) e->isa = G4_ISA_REF;
    int nt = cfg->n_threads;
    if (nt == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nt = n > 0 ? (int)n : 1;
    }
    if ((st = g4_pool_create(nt, &e->pool, err))) goto fail;
    e->n_threads = nt;
    if (cfg->gelu == G4_GELU_TABLE) {
        e->gelu_table = malloc(65536 * sizeof(float));
        if (!e->gelu_table) {
            st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
            goto fail;
        }
        g4_gelu_table_init(e->gelu_table);
    }
    if (cfg->progress && !copy && (st = prefault(e, err))) goto fail; /* copy: reported while reading */
    g4_log(e, G4_LOG_INFO, "loaded %s: %d layers, %s kernels, %d threads", cfg->model_path,
           e->m->hp.n_layer, g4_isa_name(e->isa), nt);
    *out = e;
    return G4_OK;
fail:
    g4_engine_free(e);
    return st;
}

void g4_engine_free(g4_engine *e) {
    if (!e) return;
    g4_pool_free(e->pool);
    g4_model_free(e->m);
    g4_vocab_free(e->vocab);
    free(e->suppress);
    free(e->gelu_table);
    free(e);
}

int g4_engine_n_vocab(const g4_engine *e) { return e->m->hp.n_vocab; }

void g4_engine_info(const g4_engine *e, g4_model_info *o) {
    const g4_hparams *hp = &e->m->hp;
    memset(o, 0, sizeof *o);
    o->arch = hp->arch;
    o->name = hp->name;
    o->n_layer = hp->n_layer;
    o->n_embd = hp->n_embd;
    o->n_head = hp->n_head;
    o->n_vocab = hp->n_vocab;
    o->n_ctx_train = hp->n_ctx_train;
    o->n_swa = hp->n_swa;
    o->n_embd_per_layer = hp->n_embd_per_layer;
    o->n_shared_kv = hp->n_shared_kv;
    o->n_expert = hp->n_expert;
    o->n_expert_used = hp->n_expert_used;
    o->weight_bytes = e->m->weight_bytes;
    o->isa = g4_isa_name(e->isa);
    o->n_threads = e->n_threads;
}

static void session_defaults(const g4_engine *e, const g4_session_config *cfg, int *n_ctx, int *n_seq,
                             int *n_batch) {
    *n_ctx = cfg && cfg->n_ctx > 0 ? cfg->n_ctx : 0;
    if (!*n_ctx) *n_ctx = e->m->hp.n_ctx_train < 4096 ? e->m->hp.n_ctx_train : 4096;
    *n_seq = cfg && cfg->n_seq > 0 ? cfg->n_seq : 1;
    *n_batch = cfg && cfg->n_batch > 0 ? cfg->n_batch : 512;
    if (*n_batch > *n_ctx * *n_seq) *n_batch = *n_ctx * *n_seq;
}

uint64_t g4_engine_kv_bytes(const g4_engine *e, int n_ctx, int n_seq, int n_batch) {
    g4_session_config c = {n_ctx, n_seq, n_batch, 0};
    session_defaults(e, &c, &n_ctx, &n_seq, &n_batch);
    return g4_kv_bytes(e->m, n_ctx, n_seq, n_batch);
}

g4_status g4_session_create(g4_engine *e, const g4_session_config *cfg, g4_session **out, g4_error *err) {
    *out = NULL;
    if (!e) return g4_fail(err, G4_ERR_ARG, "engine is NULL");
    if (cfg && (cfg->n_ctx < 0 || cfg->n_seq < 0 || cfg->n_batch < 0))
        return g4_fail(err, G4_ERR_ARG, "session sizes must be >= 0");
    int n_ctx, n_seq, n_batch;
    session_defaults(e, cfg, &n_ctx, &n_seq, &n_batch);
    if (n_seq > 4096) return g4_fail(err, G4_ERR_ARG, "n_seq %d is too large", n_seq);
    if (n_ctx > (1 << 24)) return g4_fail(err, G4_ERR_ARG, "n_ctx %d is too large", n_ctx);
    g4_session *s = calloc(1, sizeof *s);
    if (!s) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    s->e = e;
    int keep = cfg && cfg->swa_keep > 0 ? cfg->swa_keep : 0;
    if (keep > n_ctx) keep = n_ctx;
    g4_status st = g4_fwd_init(&s->f, e->m, &e->k, e->pool, e->ref_mode, e->gelu_table, n_ctx, n_seq,
                               n_batch, keep, err);
    if (st) {
        free(s);
        return st;
    }
    *out = s;
    return G4_OK;
}

void g4_session_free(g4_session *s) {
    if (!s) return;
    g4_fwd_free(&s->f);
    free(s->pos_buf);
    free(s);
}

g4_status g4_session_decode(g4_session *s, const g4_batch *b, float *logits, g4_error *err) {
    if (!s) return g4_fail(err, G4_ERR_ARG, "session is NULL");
    return g4_fwd_decode(&s->f, b, logits, err);
}

g4_status g4_session_eval(g4_session *s, const int32_t *tokens, int n, bool all_logits, float *logits,
                          g4_error *err) {
    if (!s || !tokens || n <= 0) return g4_fail(err, G4_ERR_ARG, "no tokens to evaluate");
    const int V = s->e->m->hp.n_vocab;
    if (s->pos_cap < s->f.n_batch) {
        free(s->pos_buf);
        s->pos_buf = malloc((size_t)s->f.n_batch * (sizeof(int32_t) + sizeof(bool)));
        if (!s->pos_buf) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        s->pos_cap = s->f.n_batch;
    }
    bool *want = (bool *)(s->pos_buf + s->pos_cap);
    for (int done = 0; done < n;) {
        int m = n - done < s->f.n_batch ? n - done : s->f.n_batch;
        int32_t p0 = s->f.kv.n_pos[0];
        for (int i = 0; i < m; i++) {
            s->pos_buf[i] = p0 + i;
            want[i] = all_logits || done + i == n - 1;
        }
        g4_batch b = {.n = m, .tokens = tokens + done, .pos = s->pos_buf, .seq = NULL, .want = want};
        float *out = NULL;
        if (logits) out = all_logits ? logits + (size_t)done * V : (done + m == n ? logits : NULL);
        g4_status st = g4_fwd_decode(&s->f, &b, out, err);
        if (st) return st;
        done += m;
    }
    return G4_OK;
}

int g4_session_seq_len(const g4_session *s, int seq) {
    if (!s || seq < 0 || seq >= s->f.n_seq) return -1;
    return s->f.kv.n_pos[seq];
}

g4_status g4_session_truncate(g4_session *s, int seq, int n_pos, g4_error *err) {
    if (!s) return g4_fail(err, G4_ERR_ARG, "session is NULL");
    return g4_kv_truncate(&s->f.kv, seq, n_pos, s->e->m->hp.n_swa, err);
}

void g4_session_set_act_cb(g4_session *s, g4_act_fn fn, void *user) {
    s->f.act_cb = fn;
    s->f.act_user = user;
}

const g4_model *g4_engine_model(const g4_engine *e) { return e->m; }
