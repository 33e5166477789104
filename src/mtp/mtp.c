/* mtp.c — loading and running the gemma4-assistant drafter (spec §8, mtp.h). */
#include "mtp/mtp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "kernels/ops.h"
#include "model/kvcache.h"
#include "model/model.h"

#define ARCH "gemma4-assistant"
#define MAX_DLAYERS 64

typedef struct {
    bool is_swa;
    int head_dim, rope_dims, n_head_kv, src; /* src: target layer whose cache is read */
    float rope_base;
    g4_tensor attn_q, attn_output, ffn_gate, ffn_up, ffn_down;
    float *attn_norm, *attn_q_norm, *post_attention_norm, *ffn_norm, *post_ffw_norm;
    float out_scale;
} d_layer;

struct g4_drafter {
    g4_gguf *g;
    const g4_engine *e;
    int n_layer, D, Ht, n_head, n_ff, V, n_swa;
    float eps;
    d_layer *layers;
    g4_tensor token_embd, pre, post, centroids;
    float *output_norm, *rope_freqs;
    int32_t *ordering; /* [V] or NULL */
    int n_centroids, top_k;

    g4_compute comp;
    float *in, *x, *n, *q, *att, *o, *fg, *fu, *y, *cs, *cent;
    float *dlogits, *dh; /* g4_spec_draft: one step's logits and hidden state */
    float *scores;
    int scores_cap;
    int32_t *sel;
};

/* ---- loading ------------------------------------------------------------------------ */

static const g4_gguf_kv *key(const g4_drafter *d, const char *suffix) {
    char name[128];
    snprintf(name, sizeof name, ARCH ".%s", suffix);
    return g4_gguf_find_kv(d->g, name);
}

static bool key_int(const g4_drafter *d, const char *suffix, int64_t lo, int64_t hi, int *out,
                    g4_error *err) {
    const g4_gguf_kv *kv = key(d, suffix);
    int64_t v;
    if (!kv || !g4_gguf_kv_int(kv, &v)) {
        g4_fail(err, G4_ERR_FORMAT, "drafter: missing or non-integer key " ARCH ".%s", suffix);
        return false;
    }
    if (v < lo || v > hi) {
        g4_fail(err, G4_ERR_FORMAT, "drafter: key " ARCH ".%s = %lld is out of range [%lld, %lld]",
                suffix, (long long)v, (long long)lo, (long long)hi);
        return false;
    }
    *out = (int)v;
    return true;
}

static bool key_float(const g4_drafter *d, const char *suffix, float *out, g4_error *err) {
    const g4_gguf_kv *kv = key(d, suffix);
    double v;
    if (!kv || !g4_gguf_kv_float(kv, &v) || !isfinite(v)) {
        g4_fail(err, G4_ERR_FORMAT, "drafter: missing or invalid float key " ARCH ".%s", suffix);
        return false;
    }
    *out = (float)v;
    return true;
}

/* Binds `name` with shape [ne0, ne1] (ne1 = 1 for vectors); absent + optional = zeroed. */
static bool bind(g4_drafter *d, const char *name, bool required, int64_t ne0, int64_t ne1,
                 g4_tensor *t, g4_error *err) {
    memset(t, 0, sizeof *t);
    const g4_gguf_tensor *src = g4_gguf_find_tensor(d->g, name);
    if (!src) {
        if (required) g4_fail(err, G4_ERR_FORMAT, "drafter: missing required tensor %s", name);
        return !required;
    }
    const int64_t have1 = src->n_dims > 1 ? src->ne[1] : 1;
    if (src->ne[0] != ne0 || have1 != ne1 || src->ne[2] != 1 || src->ne[3] != 1) {
        g4_fail(err, G4_ERR_FORMAT, "drafter: tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld]",
                name, (long long)src->ne[0], (long long)src->ne[1], (long long)src->ne[2],
                (long long)ne0, (long long)ne1);
        return false;
    }
    if (!g4_tensor_view(src, &d->e->k, t, err)) {
        g4_error_prefix(err, "drafter");
        return false;
    }
    return true;
}

static bool bind_vec(g4_drafter *d, const char *name, int64_t n, float **out, g4_error *err) {
    g4_tensor t;
    *out = NULL;
    if (!bind(d, name, true, n, 1, &t, err)) return false;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) {
        g4_fail(err, G4_ERR_NOMEM, "drafter: out of memory reading %s", name);
        return false;
    }
    d->e->k.dequant[t.type](t.data, v, n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            free(v);
            g4_fail(err, G4_ERR_FORMAT, "drafter: tensor %s has a non-finite value at %lld", name, (long long)i);
            return false;
        }
    *out = v;
    return true;
}

static bool bind_layer(g4_drafter *d, int il, g4_error *err) {
    d_layer *L = &d->layers[il];
    const int D = d->D, qd = d->n_head * L->head_dim;
    char nm[96];
#define NM(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)
    if (!bind(d, NM("attn_q.weight"), true, D, qd, &L->attn_q, err) ||
        !bind(d, NM("attn_output.weight"), true, qd, D, &L->attn_output, err) ||
        !bind(d, NM("ffn_gate.weight"), true, D, d->n_ff, &L->ffn_gate, err) ||
        !bind(d, NM("ffn_up.weight"), true, D, d->n_ff, &L->ffn_up, err) ||
        !bind(d, NM("ffn_down.weight"), true, d->n_ff, D, &L->ffn_down, err) ||
        !bind_vec(d, NM("attn_norm.weight"), D, &L->attn_norm, err) ||
        !bind_vec(d, NM("attn_q_norm.weight"), L->head_dim, &L->attn_q_norm, err) ||
        !bind_vec(d, NM("post_attention_norm.weight"), D, &L->post_attention_norm, err) ||
        !bind_vec(d, NM("ffn_norm.weight"), D, &L->ffn_norm, err) ||
        !bind_vec(d, NM("post_ffw_norm.weight"), D, &L->post_ffw_norm, err))
        return false;
    float *s;
    if (!bind_vec(d, NM("layer_output_scale.weight"), 1, &s, err)) return false;
#undef NM
    L->out_scale = s[0];
    free(s);
    if (g4_gguf_find_tensor(d->g, (snprintf(nm, sizeof nm, "blk.%d.attn_k.weight", il), nm))) {
        g4_fail(err, G4_ERR_FORMAT, "drafter: layer %d has attn_k: not an MTP drafter layer", il);
        return false;
    }
    return true;
}

/* The optional ordered-embedding head (spec §8.6): centroids [D, C] and ordering [V]. */
static bool bind_masked_head(g4_drafter *d, g4_error *err) {
    const g4_gguf_tensor *c = g4_gguf_find_tensor(d->g, "masked_embd_centroids.weight");
    const g4_gguf_tensor *o = g4_gguf_find_tensor(d->g, "masked_embd_ordering");
    if (!c && !o) return true;
    if (!c || !o) {
        g4_fail(err, G4_ERR_FORMAT, "drafter: masked_embd_centroids and masked_embd_ordering must come together");
        return false;
    }
    const int64_t C = c->n_dims > 1 ? c->ne[1] : 1;
    if (C < 1 || C > d->V || d->V % C) {
        g4_fail(err, G4_ERR_FORMAT, "drafter: %lld centroids do not divide the vocabulary (%d)", (long long)C, d->V);
        return false;
    }
    if (!bind(d, "masked_embd_centroids.weight", true, d->D, C, &d->centroids, err)) return false;
    if (o->type != G4_TYPE_I32 || o->n_dims != 1 || o->ne[0] != d->V) {
        g4_fail(err, G4_ERR_FORMAT, "drafter: masked_embd_ordering must be i32 [%d]", d->V);
        return false;
    }
    d->ordering = malloc((size_t)d->V * sizeof *d->ordering);
    if (!d->ordering) {
        g4_fail(err, G4_ERR_NOMEM, "drafter: out of memory");
        return false;
    }
    memcpy(d->ordering, o->data, (size_t)d->V * sizeof *d->ordering);
    for (int i = 0; i < d->V; i++)
        if (d->ordering[i] < 0 || d->ordering[i] >= d->V) {
            g4_fail(err, G4_ERR_FORMAT, "drafter: masked_embd_ordering[%d] = %d is not a token id", i,
                    (int)d->ordering[i]);
            return false;
        }
    d->n_centroids = (int)C;
    d->top_k = C < 32 ? (int)C : 32; /* HF centroid_intermediate_top_k; not stored in GGUF */
    return true;
}

static g4_status read_hparams(g4_drafter *d, g4_error *err) {
    const g4_model *tm = d->e->m;
    const g4_hparams *th = &tm->hp;
    const g4_gguf_kv *a = g4_gguf_find_kv(d->g, "general.architecture");
    const char *s;
    size_t n;
    if (!a || !g4_gguf_kv_str(a, &s, &n) || n != strlen(ARCH) || memcmp(s, ARCH, n))
        return g4_fail(err, G4_ERR_FORMAT, "drafter: general.architecture is not \"" ARCH "\"");
    int hd_full, hd_swa, rd_full, rd_swa;
    if (!key_int(d, "block_count", 1, MAX_DLAYERS, &d->n_layer, err) ||
        !key_int(d, "embedding_length", 1, 1 << 16, &d->D, err) ||
        !key_int(d, "embedding_length_out", 1, 1 << 16, &d->Ht, err) ||
        !key_int(d, "attention.head_count", 1, 1024, &d->n_head, err) ||
        !key_int(d, "feed_forward_length", 1, 1 << 20, &d->n_ff, err) ||
        !key_int(d, "attention.key_length", 2, 4096, &hd_full, err) ||
        !key_int(d, "attention.key_length_swa", 2, 4096, &hd_swa, err) ||
        !key_int(d, "rope.dimension_count", 2, 4096, &rd_full, err) ||
        !key_int(d, "rope.dimension_count_swa", 2, 4096, &rd_swa, err) ||
        !key_int(d, "attention.sliding_window", 1, 1 << 24, &d->n_swa, err) ||
        !key_float(d, "attention.layer_norm_rms_epsilon", &d->eps, err))
        return err->code;
    float base_full, base_swa;
    if (!key_float(d, "rope.freq_base", &base_full, err) || !key_float(d, "rope.freq_base_swa", &base_swa, err))
        return err->code;

    /* against the target: the drafter's queries are dotted with the target's keys */
    if (d->Ht != th->n_embd)
        return g4_fail(err, G4_ERR_ARG,
                       "drafter is for a target of width %d (embedding_length_out), this target has %d",
                       d->Ht, th->n_embd);
    if (hd_full != th->head_dim_full || hd_swa != th->head_dim_swa)
        return g4_fail(err, G4_ERR_ARG, "drafter head dims %d/%d (full/swa) differ from the target's %d/%d",
                       hd_full, hd_swa, th->head_dim_full, th->head_dim_swa);
    if (rd_full != th->rope_dims_full || rd_swa != th->rope_dims_swa || base_full != th->rope_base_full ||
        base_swa != th->rope_base_swa)
        return g4_fail(err, G4_ERR_ARG, "drafter RoPE (dims %d/%d, base %g/%g) differs from the target's "
                       "(%d/%d, %g/%g)", rd_full, rd_swa, (double)base_full, (double)base_swa,
                       th->rope_dims_full, th->rope_dims_swa, (double)th->rope_base_full,
                       (double)th->rope_base_swa);
    if (d->n_swa != th->n_swa)
        return g4_fail(err, G4_ERR_ARG, "drafter sliding window %d differs from the target's %d", d->n_swa,
                       th->n_swa);
    if (d->eps != th->eps)
        return g4_fail(err, G4_ERR_ARG, "drafter RMS epsilon %g differs from the target's %g", (double)d->eps,
                       (double)th->eps);
    if (th->last_swa_kv < 0 || th->last_full_kv < 0)
        return g4_fail(err, G4_ERR_ARG, "target has no sliding and full KV layer to draft over");

    d->layers = calloc((size_t)d->n_layer, sizeof *d->layers);
    if (!d->layers) return g4_fail(err, G4_ERR_NOMEM, "drafter: out of memory");
    const g4_gguf_kv *pat = key(d, "attention.sliding_window_pattern");
    if (!pat || pat->type != G4_GGUF_ARRAY || pat->arr_n != (uint64_t)d->n_layer)
        return g4_fail(err, G4_ERR_FORMAT, "drafter: " ARCH ".attention.sliding_window_pattern must be a "
                       "bool array of %d entries", d->n_layer);
    for (int il = 0; il < d->n_layer; il++) {
        d_layer *L = &d->layers[il];
        bool swa;
        if (!g4_gguf_arr_bool(pat, (uint64_t)il, &swa))
            return g4_fail(err, G4_ERR_FORMAT, "drafter: sliding_window_pattern[%d] is not a bool", il);
        L->is_swa = swa;
        L->head_dim = swa ? hd_swa : hd_full;
        L->rope_dims = swa ? rd_swa : rd_full;
        L->rope_base = swa ? base_swa : base_full;
        L->src = swa ? th->last_swa_kv : th->last_full_kv;
        L->n_head_kv = tm->layers[L->src].n_head_kv;
        if (tm->layers[L->src].head_dim != L->head_dim)
            return g4_fail(err, G4_ERR_ARG, "drafter layer %d head dim %d differs from target layer %d's %d", il,
                           L->head_dim, L->src, tm->layers[L->src].head_dim);
        if (L->n_head_kv < 1 || d->n_head % L->n_head_kv)
            return g4_fail(err, G4_ERR_ARG, "drafter's %d query heads do not group over target layer %d's %d KV heads",
                           d->n_head, L->src, L->n_head_kv);
        if (L->rope_dims > L->head_dim || L->rope_dims % 2)
            return g4_fail(err, G4_ERR_FORMAT, "drafter: rotary dims %d do not fit head dim %d", L->rope_dims,
                           L->head_dim);
    }
    return G4_OK;
}

static float *falloc(size_t n, bool *ok) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *ok = false;
    return p;
}

static g4_status drafter_open(const char *path, const g4_engine *target, g4_drafter **out, g4_error *err);

g4_status g4_drafter_open(const char *path, const g4_engine *target, g4_drafter **out, g4_error *err) {
    /* a private error record: every failure path below reads its code */
    g4_error e = {G4_OK, ""};
    *out = NULL;
    g4_status st = drafter_open(path, target, out, &e);
    if (st) {
        g4_fail(err, st, "%s", e.msg);
        if (path && !strstr(err->msg, path)) g4_error_prefix(err, "%s", path);
    }
    return st;
}

static g4_status drafter_open(const char *path, const g4_engine *target, g4_drafter **out, g4_error *err) {
    if (!path || !target) return g4_fail(err, G4_ERR_ARG, "g4_drafter_open: path and target are required");
    g4_drafter *d = calloc(1, sizeof *d);
    if (!d) return g4_fail(err, G4_ERR_NOMEM, "drafter: out of memory");
    d->e = target;
    /* like the target: in RAM (huge pages) unless the target is mapped, so that the
     * first drafts do not fault the drafter in from the page cache */
    g4_status st = g4_gguf_open_ex(path, target->weights_in_ram, NULL, NULL, &d->g, err);
    if (st) goto fail;
    if ((st = read_hparams(d, err))) goto fail;

    d->V = target->m->hp.n_vocab;
    const g4_gguf_tensor *tt = g4_gguf_find_tensor(d->g, "token_embd.weight");
    if (tt && tt->n_dims == 2 && tt->ne[0] == d->D && tt->ne[1] != d->V) {
        g4_fail(err, G4_ERR_ARG, "drafter vocabulary (%lld) differs from the target's (%d)",
                (long long)tt->ne[1], d->V);
        goto fail;
    }
    if (!bind(d, "token_embd.weight", true, d->D, d->V, &d->token_embd, err)) goto fail;
    for (int il = 0; il < d->n_layer; il++)
        if (!bind_layer(d, il, err)) goto fail;
    if (!bind(d, "nextn.pre_projection.weight", true, 2 * (int64_t)d->Ht, d->D, &d->pre, err) ||
        !bind(d, "nextn.post_projection.weight", true, d->D, d->Ht, &d->post, err) ||
        !bind_vec(d, "output_norm.weight", d->D, &d->output_norm, err) ||
        !bind_vec(d, "rope_freqs.weight", target->m->hp.rope_dims_full / 2, &d->rope_freqs, err) ||
        !bind_masked_head(d, err))
        goto fail;

    /* scratch */
    int qd_max = 0, hd_max = 0;
    for (int il = 0; il < d->n_layer; il++) {
        const int qd = d->n_head * d->layers[il].head_dim;
        if (qd > qd_max) qd_max = qd;
        if (d->layers[il].head_dim > hd_max) hd_max = d->layers[il].head_dim;
    }
    int max_in = 2 * d->Ht;
    if (qd_max > max_in) max_in = qd_max;
    if (d->n_ff > max_in) max_in = d->n_ff;
    if (d->D > max_in) max_in = d->D;
    bool ok = true;
    d->comp.k = &target->k;
    d->comp.pool = target->pool;
    d->comp.n_threads = g4_pool_size(target->pool);
    d->comp.ref_mode = target->ref_mode;
    d->comp.qbuf_size = g4_matmul_qbuf_size(1, max_in);
    d->comp.qbuf = malloc(d->comp.qbuf_size);
    if (!d->comp.qbuf) ok = false;
    if (d->comp.ref_mode) {
        d->comp.deq_len = max_in;
        d->comp.deq = falloc((size_t)d->comp.n_threads * (size_t)max_in, &ok);
    }
    d->in = falloc(2 * (size_t)d->Ht, &ok);
    d->dlogits = falloc((size_t)d->V, &ok);
    d->dh = falloc((size_t)d->Ht, &ok);
    d->x = falloc((size_t)d->D, &ok);
    d->n = falloc((size_t)d->D, &ok);
    d->y = falloc((size_t)d->D, &ok);
    d->o = falloc((size_t)d->D, &ok);
    d->q = falloc((size_t)qd_max, &ok);
    d->att = falloc((size_t)qd_max, &ok);
    d->fg = falloc((size_t)d->n_ff, &ok);
    d->fu = falloc((size_t)d->n_ff, &ok);
    d->cs = falloc((size_t)hd_max, &ok);
    if (d->ordering) {
        d->cent = falloc((size_t)d->n_centroids, &ok);
        d->sel = calloc((size_t)d->top_k, sizeof *d->sel);
        if (!d->sel) ok = false;
    }
    if (!ok) {
        st = g4_fail(err, G4_ERR_NOMEM, "drafter: out of memory");
        goto fail;
    }
    *out = d;
    return G4_OK;
fail:
    st = err->code ? err->code : G4_ERR_FORMAT;
    g4_drafter_free(d);
    return st;
}

void g4_drafter_free(g4_drafter *d) {
    if (!d) return;
    if (d->layers)
        for (int il = 0; il < d->n_layer; il++) {
            d_layer *L = &d->layers[il];
            free(L->attn_norm);
            free(L->attn_q_norm);
            free(L->post_attention_norm);
            free(L->ffn_norm);
            free(L->post_ffw_norm);
        }
    free(d->layers);
    free(d->output_norm);
    free(d->rope_freqs);
    free(d->ordering);
    free(d->comp.qbuf);
    free(d->comp.deq);
    free(d->in);
    free(d->dlogits);
    free(d->dh);
    free(d->x);
    free(d->n);
    free(d->y);
    free(d->o);
    free(d->q);
    free(d->att);
    free(d->fg);
    free(d->fu);
    free(d->cs);
    free(d->cent);
    free(d->sel);
    free(d->scores);
    g4_gguf_close(d->g);
    free(d);
}

int g4_drafter_n_embd(const g4_drafter *d) { return d->D; }
int g4_drafter_n_embd_out(const g4_drafter *d) { return d->Ht; }
int g4_drafter_n_vocab(const g4_drafter *d) { return d->V; }
bool g4_drafter_has_masked_head(const g4_drafter *d) { return d->ordering != NULL; }
bool g4_drafter_is_for(const g4_drafter *d, const g4_engine *e) { return d && e && d->e == e; }

const float *g4_session_hidden_row(const g4_session *s, int i) {
    return s->f.h + (size_t)i * (size_t)s->e->m->hp.n_embd;
}

/* ---- forward ------------------------------------------------------------------------- */

static void mm(g4_drafter *d, const g4_tensor *W, const float *X, float *Y) {
    g4_matmul(&d->comp, W, X, 1, W->ne[0], Y, W->ne[1]);
}

/* x += rmsnorm(y) * w (y is overwritten) */
static void add_normed(float *x, float *y, const float *w, int n, float eps) {
    g4_rmsnorm(y, y, w, n, eps);
    for (int i = 0; i < n; i++) x[i] = y[i] + x[i];
}

/* Attention of the drafter's one query row over target cache `src` of seq, keys
 * [j0, pos - 1]: FULL sees every earlier position, SWA the last W - 1 (llama.cpp's causal
 * window at the draft position: keys p with pos - p < W). Scale 1, like the target. */
static void attend(g4_drafter *d, const d_layer *L, const g4_kv *kv, int seq, int pos, int j0) {
    const int hd = L->head_dim, group = d->n_head / L->n_head_kv, nk = pos - j0;
    const g4_dot_fn dot = d->comp.k->dot[G4_TYPE_F32];
    for (int h = 0; h < d->n_head; h++) {
        const int g = h / group;
        const float *q = d->q + (size_t)h * hd;
        for (int i = 0; i < nk; i++) dot(hd, &d->scores[i], g4_kv_k(kv, L->src, seq, j0 + i) + (size_t)g * hd, q);
        g4_softmax(d->scores, nk);
        float *out = d->att + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int i = 0; i < nk; i++) {
            const float *vv = g4_kv_v(kv, L->src, seq, j0 + i) + (size_t)g * hd;
            const float w = d->scores[i];
            for (int k = 0; k < hd; k++) out[k] += w * vv[k];
        }
    }
}

/* Ordered-embedding head (spec §8.6): logits of the tokens of the top_k clusters, the
 * others min - 1 (HF). */
static void masked_head(g4_drafter *d, float *logits) {
    const int C = d->n_centroids, K = d->V / C;
    mm(d, &d->centroids, d->y, d->cent);
    /* top_k largest centroid scores (ties: lower index first) */
    for (int s = 0; s < d->top_k; s++) {
        int best = -1;
        for (int c = 0; c < C; c++) {
            bool taken = false;
            for (int r = 0; r < s && !taken; r++) taken = d->sel[r] == c;
            if (!taken && (best < 0 || d->cent[c] > d->cent[best])) best = c;
        }
        d->sel[s] = best;
    }
    const g4_tensor *E = &d->token_embd;
    const g4_dot_fn dotw = d->comp.k->dot[G4_TYPE_F32];
    float mn = INFINITY;
    for (int i = 0; i < d->V; i++) logits[i] = NAN;
    for (int s = 0; s < d->top_k; s++)
        for (int j = 0; j < K; j++) {
            const int32_t t = d->ordering[(size_t)d->sel[s] * K + j];
            float row[1];
            /* one row: dequantize and dot (exact for f32 weights) */
            if (E->type == G4_TYPE_F32) {
                dotw(d->D, row, (const float *)((const uint8_t *)E->data + (size_t)t * E->row_size), d->y);
            } else {
                d->comp.k->dequant[E->type]((const uint8_t *)E->data + (size_t)t * E->row_size, d->n, d->D);
                dotw(d->D, row, d->n, d->y);
            }
            logits[t] = row[0];
            if (row[0] < mn) mn = row[0];
        }
    for (int i = 0; i < d->V; i++)
        if (isnan(logits[i])) logits[i] = mn - 1.0f;
}

g4_status g4_drafter_step(g4_drafter *d, g4_session *target, int seq, int32_t tok, const float *h, int pos,
                          float *logits_out, float *h_out, g4_error *err) {
    if (!target || !g4_drafter_is_for(d, target->e))
        return g4_fail(err, G4_ERR_ARG, "drafter step: the session is not of the drafter's target engine");
    const g4_kv *kv = &target->f.kv;
    if (seq < 0 || seq >= kv->n_seq) return g4_fail(err, G4_ERR_ARG, "drafter step: bad sequence %d", seq);
    if (tok < 0 || tok >= d->V) return g4_fail(err, G4_ERR_ARG, "drafter step: token %d out of range", (int)tok);
    if (!h || !logits_out || !h_out) return g4_fail(err, G4_ERR_ARG, "drafter step: NULL buffer");
    if (pos < 1 || pos > kv->n_pos[seq])
        return g4_fail(err, G4_ERR_ARG, "drafter step: position %d needs positions 0..%d of sequence %d in the "
                       "target cache (it holds %d)", pos, pos - 1, seq, (int)kv->n_pos[seq]);
    const int j0_swa = pos - d->n_swa + 1 > 0 ? pos - d->n_swa + 1 : 0;
    if (!g4_kv_has(kv, seq, j0_swa, pos))
        return g4_fail(err, G4_ERR_ARG, "drafter step: the target's sliding window no longer holds "
                       "positions %d..%d of sequence %d", j0_swa, pos - 1, seq);
    if (d->scores_cap < pos) {
        float *s = realloc(d->scores, (size_t)pos * sizeof *s);
        if (!s) return g4_fail(err, G4_ERR_NOMEM, "drafter step: out of memory");
        d->scores = s;
        d->scores_cap = pos;
    }
    const int D = d->D, Ht = d->Ht;
    const g4_tensor *te = &d->e->m->token_embd;

    /* input: pre_projection · (E_target[tok] · √H_t ‖ h) */
    d->comp.k->dequant[te->type]((const uint8_t *)te->data + (size_t)tok * te->row_size, d->in, Ht);
    const float es = sqrtf((float)Ht);
    for (int i = 0; i < Ht; i++) d->in[i] *= es;
    memcpy(d->in + Ht, h, (size_t)Ht * sizeof(float));
    mm(d, &d->pre, d->in, d->x);

    for (int il = 0; il < d->n_layer; il++) {
        const d_layer *L = &d->layers[il];
        const int hd = L->head_dim;
        g4_rmsnorm(d->n, d->x, L->attn_norm, D, d->eps);
        mm(d, &L->attn_q, d->n, d->q);
        g4_rope_cache(d->cs, pos, L->rope_dims, L->rope_base, L->is_swa ? NULL : d->rope_freqs);
        for (int hh = 0; hh < d->n_head; hh++) {
            float *qh = d->q + (size_t)hh * hd;
            g4_rmsnorm(qh, qh, L->attn_q_norm, hd, d->eps);
            g4_rope_apply(qh, d->cs, L->rope_dims);
        }
        attend(d, L, kv, seq, pos, L->is_swa ? j0_swa : 0);
        mm(d, &L->attn_output, d->att, d->o);
        add_normed(d->x, d->o, L->post_attention_norm, D, d->eps);

        g4_rmsnorm(d->n, d->x, L->ffn_norm, D, d->eps);
        mm(d, &L->ffn_gate, d->n, d->fg);
        mm(d, &L->ffn_up, d->n, d->fu);
        g4_geglu(d->fg, d->fg, d->fu, d->n_ff, d->e->gelu_table);
        mm(d, &L->ffn_down, d->fg, d->o);
        add_normed(d->x, d->o, L->post_ffw_norm, D, d->eps);
        for (int i = 0; i < D; i++) d->x[i] *= L->out_scale;
    }
    g4_rmsnorm(d->y, d->x, d->output_norm, D, d->eps);
    if (d->ordering) masked_head(d, logits_out);
    else mm(d, &d->token_embd, d->y, logits_out);
    mm(d, &d->post, d->y, h_out);
    return G4_OK;
}

g4_status g4_spec_draft(g4_drafter *d, g4_session *target, int seq, int32_t tok, const float *h, int pos, int k,
                        int32_t *drafts, g4_error *err) {
    const float *hin = h;
    for (int i = 0; i < k; i++) {
        g4_status st = g4_drafter_step(d, target, seq, i ? drafts[i - 1] : tok, hin, pos, d->dlogits, d->dh, err);
        if (st) return st;
        int32_t b = 0;
        for (int t = 1; t < d->V; t++)
            if (d->dlogits[t] > d->dlogits[b]) b = t;
        drafts[i] = b;
        hin = d->dh;
    }
    return G4_OK;
}
