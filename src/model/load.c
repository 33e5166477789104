/* load.c — read and validate Gemma 4 hyper-parameters (spec §3.2-3.3) and bind every
 * tensor by name with shape and type checks (spec §4). Everything read from the file
 * is checked here once, so the forward pass can trust the model struct. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "kernels/kernels.h"
#include "model/model.h"

/* ---- keys ------------------------------------------------------------------ */

typedef struct {
    const g4_gguf *g;
    const char *arch;
    g4_error *err;
} keys;

static const g4_gguf_kv *find_key(const keys *k, const char *suffix) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s", k->arch, suffix);
    return g4_gguf_find_kv(k->g, name);
}

/* Integer key; returns false (with an error when required) if missing or wrong type. */
static bool key_int(const keys *k, const char *suffix, bool required, int64_t lo, int64_t hi,
                    int64_t *out) {
    const g4_gguf_kv *kv = find_key(k, suffix);
    if (!kv) {
        if (required) g4_fail(k->err, G4_ERR_FORMAT, "missing required key %s.%s", k->arch, suffix);
        return false;
    }
    int64_t v;
    if (kv->type == G4_GGUF_ARRAY || !g4_gguf_kv_int(kv, &v)) {
        g4_fail(k->err, G4_ERR_FORMAT, "key %s must be an integer (is %s)", kv->key,
                g4_gguf_vtype_name(kv->type));
        return false;
    }
    if (v < lo || v > hi) {
        g4_fail(k->err, G4_ERR_FORMAT, "key %s = %lld is out of range [%lld, %lld]", kv->key,
                (long long)v, (long long)lo, (long long)hi);
        return false;
    }
    *out = v;
    return true;
}

static bool key_float(const keys *k, const char *suffix, bool required, double *out) {
    const g4_gguf_kv *kv = find_key(k, suffix);
    if (!kv) {
        if (required) g4_fail(k->err, G4_ERR_FORMAT, "missing required key %s.%s", k->arch, suffix);
        return false;
    }
    if (kv->type == G4_GGUF_ARRAY || !g4_gguf_kv_float(kv, out) || !isfinite(*out)) {
        g4_fail(k->err, G4_ERR_FORMAT, "key %s must be a finite number", kv->key);
        return false;
    }
    return true;
}

/* A per-layer key that may be a scalar or an array of n_layer integers (spec §3.3). */
static bool key_per_layer(const keys *k, const char *suffix, int n_layer, int64_t lo, int64_t hi,
                          int *out) {
    const g4_gguf_kv *kv = find_key(k, suffix);
    if (!kv) {
        g4_fail(k->err, G4_ERR_FORMAT, "missing required key %s.%s", k->arch, suffix);
        return false;
    }
    if (kv->type != G4_GGUF_ARRAY) {
        int64_t v;
        if (!key_int(k, suffix, true, lo, hi, &v)) return false;
        for (int l = 0; l < n_layer; l++) out[l] = (int)v;
        return true;
    }
    if (kv->arr_n != (uint64_t)n_layer) {
        g4_fail(k->err, G4_ERR_FORMAT, "key %s has %llu entries, expected block_count = %d",
                kv->key, (unsigned long long)kv->arr_n, n_layer);
        return false;
    }
    for (int l = 0; l < n_layer; l++) {
        int64_t v;
        if (!g4_gguf_arr_int(kv, (uint64_t)l, &v) || v < lo || v > hi) {
            g4_fail(k->err, G4_ERR_FORMAT, "key %s[%d] is not an integer in [%lld, %lld]", kv->key,
                    l, (long long)lo, (long long)hi);
            return false;
        }
        out[l] = (int)v;
    }
    return true;
}

static void copy_str_key(const g4_gguf *g, const char *key, char *dst, size_t cap) {
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    const char *s;
    size_t n;
    dst[0] = 0;
    if (kv && g4_gguf_kv_str(kv, &s, &n)) {
        if (n >= cap) n = cap - 1;
        memcpy(dst, s, n);
        dst[n] = 0;
    }
}

/* ---- tensors ----------------------------------------------------------------- */

typedef struct {
    g4_model *m;
    g4_kernels ref;
    g4_error *err;
} binder;

/* Binds `name` with the expected shape (ne[i] < 0 = any); absent + optional = zeroed. */
static bool bind(binder *b, const char *name, bool required, int64_t ne0, int64_t ne1, int64_t ne2,
                 g4_tensor *t) {
    memset(t, 0, sizeof *t);
    const g4_gguf_tensor *src = g4_model_find_tensor(b->m, name);
    if (!src) {
        if (required) g4_fail(b->err, G4_ERR_FORMAT, "missing required tensor %s", name);
        return !required;
    }
    int64_t want[3] = {ne0, ne1, ne2};
    for (int i = 0; i < 3; i++) {
        int64_t have = i < (int)src->n_dims ? src->ne[i] : 1;
        if (want[i] >= 0 && have != want[i]) {
            g4_fail(b->err, G4_ERR_FORMAT,
                    "tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]", name,
                    (long long)src->ne[0], (long long)src->ne[1], (long long)src->ne[2],
                    (long long)ne0, (long long)ne1, (long long)ne2);
            return false;
        }
    }
    if (src->n_dims > 3 && src->ne[3] != 1) {
        g4_fail(b->err, G4_ERR_FORMAT, "tensor %s has 4 dimensions", name);
        return false;
    }
    return g4_tensor_view(src, &b->ref, t, b->err);
}

bool g4_tensor_view(const g4_gguf_tensor *src, const g4_kernels *k, g4_tensor *t, g4_error *err) {
    if (src->type >= G4_TYPE_COUNT || !k->dequant[src->type] || !k->dot[src->type]) {
        g4_fail(err, G4_ERR_UNSUPPORTED, "tensor %s has type %s, which gemma4c does not support", src->name,
                g4_type_name(src->type));
        return false;
    }
    t->name = src->name;
    t->type = (g4_type)src->type;
    for (int i = 0; i < 4; i++) t->ne[i] = src->ne[i];
    t->data = src->data;
    t->row_size = g4_row_size(t->type, src->ne[0]);
    return true;
}

/* Binds a small vector and converts it to an owned f32 array. */
static bool bind_vec(binder *b, const char *name, bool required, int64_t n, float **out) {
    g4_tensor t;
    *out = NULL;
    if (!bind(b, name, required, n, 1, 1, &t)) return false;
    if (!t.data) return true;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) {
        g4_fail(b->err, G4_ERR_NOMEM, "out of memory reading %s", name);
        return false;
    }
    b->ref.dequant[t.type](t.data, v, n);
    for (int64_t i = 0; i < n; i++) {
        if (isnan(v[i])) {
            free(v);
            g4_fail(b->err, G4_ERR_FORMAT, "tensor %s contains NaN at element %lld", name, (long long)i);
            return false;
        }
    }
    *out = v;
    return true;
}

static bool bind_layer(binder *b, int il, g4_layer *L) {
    const g4_hparams *hp = &b->m->hp;
    const int H = hp->n_embd, hd = L->head_dim, nq = hp->n_head;
    const int nkv_own = L->n_head_kv;
    char n[96];
#define NM(s) (snprintf(n, sizeof n, "blk.%d." s, il), n)
    if (!bind_vec(b, NM("attn_norm.weight"), true, H, &L->attn_norm)) return false;
    if (!bind(b, NM("attn_q.weight"), true, H, (int64_t)nq * hd, 1, &L->attn_q)) return false;
    if (!bind_vec(b, NM("attn_q_norm.weight"), true, hd, &L->attn_q_norm)) return false;
    if (L->has_kv) {
        if (!bind(b, NM("attn_k.weight"), true, H, (int64_t)nkv_own * hd, 1, &L->attn_k)) return false;
        if (!bind_vec(b, NM("attn_k_norm.weight"), true, hd, &L->attn_k_norm)) return false;
        if (!bind(b, NM("attn_v.weight"), false, H, (int64_t)nkv_own * hd, 1, &L->attn_v)) return false;
        L->has_v = g4_tensor_ok(&L->attn_v);
    }
    if (!bind(b, NM("attn_output.weight"), true, (int64_t)nq * hd, H, 1, &L->attn_output)) return false;
    if (!bind_vec(b, NM("post_attention_norm.weight"), true, H, &L->post_attention_norm)) return false;
    if (!bind_vec(b, NM("ffn_norm.weight"), true, H, &L->ffn_norm)) return false;
    if (!bind(b, NM("ffn_gate.weight"), true, H, L->n_ff, 1, &L->ffn_gate)) return false;
    if (!bind(b, NM("ffn_up.weight"), true, H, L->n_ff, 1, &L->ffn_up)) return false;
    if (!bind(b, NM("ffn_down.weight"), true, L->n_ff, H, 1, &L->ffn_down)) return false;
    if (!bind_vec(b, NM("post_ffw_norm.weight"), true, H, &L->post_ffw_norm)) return false;
    float *scale = NULL;
    if (!bind_vec(b, NM("layer_output_scale.weight"), false, 1, &scale)) return false;
    if (!scale && !bind_vec(b, NM("layer_scalar"), false, 1, &scale)) return false; /* older Ollama name */
    L->out_scale = scale ? scale[0] : 1.0f;
    free(scale);
    if (hp->n_embd_per_layer > 0) {
        const int P = hp->n_embd_per_layer;
        if (!bind(b, NM("inp_gate.weight"), true, H, P, 1, &L->inp_gate)) return false;
        if (!bind(b, NM("proj.weight"), true, P, H, 1, &L->proj)) return false;
        if (!bind_vec(b, NM("post_norm.weight"), true, H, &L->post_norm)) return false;
    }
    L->is_moe = g4_model_find_tensor(b->m, NM("ffn_gate_inp.weight")) != NULL;
    if (L->is_moe) {
        const int E = hp->n_expert, F = hp->n_ff_exp;
        if (E <= 0 || F <= 0 || hp->n_expert_used <= 0)
            return g4_fail(b->err, G4_ERR_FORMAT,
                           "layer %d has MoE tensors but expert_count / expert_used_count / "
                           "expert_feed_forward_length are missing", il), false;
        if (!bind(b, NM("ffn_gate_inp.weight"), true, H, E, 1, &L->ffn_gate_inp)) return false;
        if (!bind_vec(b, NM("ffn_gate_inp.scale"), true, H, &L->ffn_gate_inp_scale)) return false;
        if (!bind_vec(b, NM("pre_ffw_norm_2.weight"), true, H, &L->pre_ffw_norm_2)) return false;
        if (!bind_vec(b, NM("post_ffw_norm_1.weight"), true, H, &L->post_ffw_norm_1)) return false;
        if (!bind_vec(b, NM("post_ffw_norm_2.weight"), true, H, &L->post_ffw_norm_2)) return false;
        if (!bind(b, NM("ffn_gate_up_exps.weight"), false, H, 2 * F, E, &L->ffn_gate_up_exps)) return false;
        if (!g4_tensor_ok(&L->ffn_gate_up_exps)) {
            /* split form (spec §2.2) */
            if (!bind(b, NM("ffn_gate_exps.weight"), true, H, F, E, &L->ffn_gate_exps)) return false;
            if (!bind(b, NM("ffn_up_exps.weight"), true, H, F, E, &L->ffn_up_exps)) return false;
        }
        if (!bind(b, NM("ffn_down_exps.weight"), true, F, H, E, &L->ffn_down_exps)) return false;
        if (!bind_vec(b, NM("ffn_down_exps.scale"), false, E, &L->ffn_down_exps_scale)) return false;
        if (!L->ffn_down_exps_scale &&
            !bind_vec(b, NM("ffn_gate_inp.per_expert_scale"), false, E, &L->ffn_down_exps_scale))
            return false;
    }
#undef NM
    return true;
}

/* ---- hyper-parameters ----------------------------------------------------------- */

static g4_status read_hparams(g4_model *m, int **tmp_kv, int **tmp_ff, bool **tmp_swa, g4_error *err) {
    g4_hparams *hp = &m->hp;
    keys k = {m->gguf, hp->arch, err};
    int64_t v;
    double f;
    if (!key_int(&k, "block_count", true, 1, G4_MAX_LAYERS, &v)) return err->code;
    hp->n_layer = (int)v;
    const int L = hp->n_layer;
    if (!key_int(&k, "embedding_length", true, 1, 1 << 16, &v)) return err->code;
    hp->n_embd = (int)v;
    if (!key_int(&k, "context_length", false, 1, INT32_MAX, &v)) v = 4096;
    if (err->code) return err->code;
    hp->n_ctx_train = (int)v;

    int *heads = calloc((size_t)L, sizeof *heads);
    *tmp_kv = calloc((size_t)L, sizeof **tmp_kv);
    *tmp_ff = calloc((size_t)L, sizeof **tmp_ff);
    *tmp_swa = calloc((size_t)L, sizeof **tmp_swa);
    if (!heads || !*tmp_kv || !*tmp_ff || !*tmp_swa) {
        free(heads);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    bool ok = key_per_layer(&k, "attention.head_count", L, 1, 1024, heads);
    for (int l = 1; ok && l < L; l++)
        if (heads[l] != heads[0]) {
            g4_fail(err, G4_ERR_UNSUPPORTED, "attention.head_count differs between layers");
            ok = false;
        }
    if (ok) hp->n_head = heads[0];
    free(heads);
    if (!ok) return err->code;
    if (!key_per_layer(&k, "attention.head_count_kv", L, 1, 1024, *tmp_kv)) return err->code;
    if (!key_per_layer(&k, "feed_forward_length", L, 1, 1 << 20, *tmp_ff)) return err->code;

    int64_t kl, vl, kls, vls;
    if (!key_int(&k, "attention.key_length", true, 1, 4096, &kl)) return err->code;
    if (!key_int(&k, "attention.value_length", false, 1, 4096, &vl)) vl = kl;
    if (err->code) return err->code;
    if (!key_int(&k, "attention.key_length_swa", false, 1, 4096, &kls)) kls = kl;
    if (err->code) return err->code;
    if (!key_int(&k, "attention.value_length_swa", false, 1, 4096, &vls)) vls = kls;
    if (err->code) return err->code;
    if (kl != vl || kls != vls)
        return g4_fail(err, G4_ERR_FORMAT, "key_length must equal value_length (%lld/%lld, swa %lld/%lld)",
                       (long long)kl, (long long)vl, (long long)kls, (long long)vls);
    if (kl % 2 || kls % 2) return g4_fail(err, G4_ERR_FORMAT, "head sizes must be even");
    hp->head_dim_full = (int)kl;
    hp->head_dim_swa = (int)kls;

    if (!key_int(&k, "attention.sliding_window", true, 1, INT32_MAX / 2, &v)) return err->code;
    hp->n_swa = (int)v;
    const g4_gguf_kv *pat = find_key(&k, "attention.sliding_window_pattern");
    if (!pat) return g4_fail(err, G4_ERR_FORMAT, "missing required key %s.attention.sliding_window_pattern", hp->arch);
    if (pat->type != G4_GGUF_ARRAY || pat->arr_n != (uint64_t)L)
        return g4_fail(err, G4_ERR_FORMAT, "%s must be an array of block_count = %d booleans", pat->key, L);
    for (int l = 0; l < L; l++) {
        bool b;
        int64_t iv;
        if (g4_gguf_arr_bool(pat, (uint64_t)l, &b)) (*tmp_swa)[l] = b;
        else if (g4_gguf_arr_int(pat, (uint64_t)l, &iv)) (*tmp_swa)[l] = iv != 0;
        else return g4_fail(err, G4_ERR_FORMAT, "%s[%d] is not a boolean", pat->key, l);
    }
    if (!key_int(&k, "attention.shared_kv_layers", false, 0, L - 1, &v)) v = 0;
    if (err->code) return err->code;
    hp->n_shared_kv = (int)v;
    if (!key_int(&k, "embedding_length_per_layer_input", false, 0, 1 << 16, &v)) v = 0;
    if (err->code) return err->code;
    hp->n_embd_per_layer = (int)v;
    if (!key_float(&k, "attention.layer_norm_rms_epsilon", false, &f)) f = 1e-6;
    if (err->code) return err->code;
    hp->eps = (float)f;
    if (!key_float(&k, "rope.freq_base", false, &f)) f = 1e6;
    if (err->code) return err->code;
    hp->rope_base_full = (float)f;
    if (!key_float(&k, "rope.freq_base_swa", false, &f) && !err->code &&
        !key_float(&k, "rope.local.freq_base", false, &f))
        f = 1e4;
    if (err->code) return err->code;
    hp->rope_base_swa = (float)f;
    if (!key_int(&k, "rope.dimension_count", false, 2, 4096, &v)) v = kl;
    if (err->code) return err->code;
    hp->rope_dims_full = (int)v;
    if (!key_int(&k, "rope.dimension_count_swa", false, 2, 4096, &v)) v = kls;
    if (err->code) return err->code;
    hp->rope_dims_swa = (int)v;
    if (hp->rope_dims_full > hp->head_dim_full || hp->rope_dims_swa > hp->head_dim_swa ||
        hp->rope_dims_full % 2 || hp->rope_dims_swa % 2)
        return g4_fail(err, G4_ERR_FORMAT, "rope dimension counts (%d, %d) exceed the head sizes",
                       hp->rope_dims_full, hp->rope_dims_swa);
    const g4_gguf_kv *rs = find_key(&k, "rope.scaling.type");
    if (rs) {
        const char *s;
        size_t n;
        if (!g4_gguf_kv_str(rs, &s, &n) || !((n == 4 && !memcmp(s, "none", 4)) ||
                                              (n == 6 && !memcmp(s, "linear", 6))))
            return g4_fail(err, G4_ERR_UNSUPPORTED, "RoPE scaling (%s) is not supported for Gemma 4", rs->key);
    }
    if (!key_float(&k, "final_logit_softcapping", false, &f)) f = 0;
    if (err->code) return err->code;
    hp->softcap = f > 0 ? (float)f : 0.0f;
    if (!key_int(&k, "expert_count", false, 0, 4096, &v)) v = 0;
    if (err->code) return err->code;
    hp->n_expert = (int)v;
    if (!key_int(&k, "expert_used_count", false, 0, 4096, &v)) v = 0;
    if (err->code) return err->code;
    hp->n_expert_used = (int)v;
    if (hp->n_expert_used > hp->n_expert)
        return g4_fail(err, G4_ERR_FORMAT, "expert_used_count %d > expert_count %d", hp->n_expert_used, hp->n_expert);
    if (!key_int(&k, "expert_feed_forward_length", false, 0, 1 << 20, &v)) v = 0;
    if (err->code) return err->code;
    hp->n_ff_exp = (int)v;

    hp->bos_id = 2;
    hp->eos_id = 1;
    const g4_gguf_kv *kv;
    if ((kv = g4_gguf_find_kv(m->gguf, "tokenizer.ggml.bos_token_id")) && g4_gguf_kv_int(kv, &v)) hp->bos_id = (int32_t)v;
    if ((kv = g4_gguf_find_kv(m->gguf, "tokenizer.ggml.eos_token_id")) && g4_gguf_kv_int(kv, &v)) hp->eos_id = (int32_t)v;
    return G4_OK;
}

static g4_status read_vocab(g4_model *m, g4_error *err) {
    const g4_gguf_kv *kv = g4_gguf_find_kv(m->gguf, "tokenizer.ggml.tokens");
    if (!kv) return G4_OK; /* vocab size then comes from token_embd */
    if (kv->type != G4_GGUF_ARRAY || kv->arr_type != G4_GGUF_STRING)
        return g4_fail(err, G4_ERR_FORMAT, "tokenizer.ggml.tokens must be an array of strings");
    if (kv->arr_n == 0 || kv->arr_n > (1u << 24))
        return g4_fail(err, G4_ERR_FORMAT, "tokenizer.ggml.tokens has %llu entries", (unsigned long long)kv->arr_n);
    size_t total = 0;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        const char *s;
        size_t n;
        if (!g4_gguf_arr_str(kv, i, &s, &n)) return g4_fail(err, G4_ERR_FORMAT, "bad token string %llu", (unsigned long long)i);
        total += n + 1;
    }
    m->vocab = malloc(kv->arr_n * sizeof *m->vocab + total);
    if (!m->vocab) return g4_fail(err, G4_ERR_NOMEM, "out of memory for the vocabulary");
    char *blob = (char *)(m->vocab + kv->arr_n);
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        const char *s;
        size_t n;
        g4_gguf_arr_str(kv, i, &s, &n);
        memcpy(blob, s, n);
        blob[n] = 0;
        m->vocab[i] = blob;
        blob += n + 1;
    }
    m->hp.n_vocab = (int)kv->arr_n;
    return G4_OK;
}

/* Derive per-layer facts (spec §3.3) and bind all tensors. */
static g4_status setup_layers(g4_model *m, const int *n_kv, const int *n_ff, const bool *swa, g4_error *err) {
    g4_hparams *hp = &m->hp;
    const int L = hp->n_layer, first_shared = L - hp->n_shared_kv;
    m->layers = calloc((size_t)L, sizeof *m->layers);
    if (!m->layers) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    hp->last_swa_kv = hp->last_full_kv = -1;
    for (int l = 0; l < first_shared; l++) {
        if (swa[l]) hp->last_swa_kv = l;
        else hp->last_full_kv = l;
    }
    for (int l = 0; l < L; l++) {
        g4_layer *ly = &m->layers[l];
        ly->is_swa = swa[l];
        ly->head_dim = swa[l] ? hp->head_dim_swa : hp->head_dim_full;
        ly->rope_dims = swa[l] ? hp->rope_dims_swa : hp->rope_dims_full;
        ly->rope_base = swa[l] ? hp->rope_base_swa : hp->rope_base_full;
        ly->n_ff = n_ff[l];
        ly->has_kv = l < first_shared;
        if (ly->has_kv) {
            ly->kv_src = l;
        } else {
            ly->kv_src = swa[l] ? hp->last_swa_kv : hp->last_full_kv;
            if (ly->kv_src < 0)
                return g4_fail(err, G4_ERR_FORMAT,
                               "layer %d shares KV but no earlier %s layer owns a cache", l,
                               swa[l] ? "sliding" : "full");
        }
        ly->n_head_kv = n_kv[ly->kv_src];
        if (hp->n_head % ly->n_head_kv)
            return g4_fail(err, G4_ERR_FORMAT, "layer %d: %d query heads are not a multiple of %d KV heads",
                           l, hp->n_head, ly->n_head_kv);
        int qd = hp->n_head * ly->head_dim, kd = ly->n_head_kv * ly->head_dim;
        if (qd > hp->n_head_max_dim) hp->n_head_max_dim = qd;
        if (kd > hp->n_kv_dim_max) hp->n_kv_dim_max = kd;
        if (ly->n_ff > hp->n_ff_max) hp->n_ff_max = ly->n_ff;
    }
    if (2 * hp->n_ff_exp > hp->n_ff_max) hp->n_ff_max = 2 * hp->n_ff_exp;

    binder b = {.m = m, .err = err};
    g4_kernels_ref(&b.ref);
    const int H = hp->n_embd;
    if (!bind(&b, "token_embd.weight", true, H, -1, 1, &m->token_embd)) return err->code;
    if (hp->n_vocab == 0) hp->n_vocab = (int)m->token_embd.ne[1];
    if (m->token_embd.ne[1] != hp->n_vocab)
        return g4_fail(err, G4_ERR_FORMAT, "token_embd has %lld rows but the vocabulary has %d tokens",
                       (long long)m->token_embd.ne[1], hp->n_vocab);
    if (!bind(&b, "output.weight", false, H, hp->n_vocab, 1, &m->output)) return err->code;
    if (!bind_vec(&b, "output_norm.weight", true, H, &m->output_norm)) return err->code;
    bool any_full = false;
    for (int l = 0; l < L; l++) any_full |= !swa[l];
    if (!bind_vec(&b, "rope_freqs.weight", false, hp->rope_dims_full / 2, &m->rope_freqs)) return err->code;
    (void)any_full; /* rope_freqs is optional: without it full layers rotate all pairs */
    if (hp->n_embd_per_layer > 0) {
        const int64_t LP = (int64_t)L * hp->n_embd_per_layer;
        if (!bind(&b, "per_layer_token_embd.weight", true, LP, hp->n_vocab, 1, &m->per_layer_token_embd)) return err->code;
        if (!bind(&b, "per_layer_model_proj.weight", true, H, LP, 1, &m->per_layer_model_proj)) return err->code;
        if (!bind_vec(&b, "per_layer_proj_norm.weight", true, hp->n_embd_per_layer, &m->per_layer_proj_norm)) return err->code;
    }
    for (int l = 0; l < L; l++)
        if (!bind_layer(&b, l, &m->layers[l])) return err->code;
    return G4_OK;
}

/* ---- split files ------------------------------------------------------------------ */

int64_t g4_model_n_tensors(const g4_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_shards; i++) n += g4_gguf_n_tensors(m->shards[i]);
    return n;
}

const g4_gguf_tensor *g4_model_tensor_at(const g4_model *m, int64_t i) {
    for (int s = 0; s < m->n_shards; s++) {
        int64_t n = g4_gguf_n_tensors(m->shards[s]);
        if (i < n) return g4_gguf_tensor_at(m->shards[s], i);
        i -= n;
    }
    return NULL;
}

const g4_gguf_tensor *g4_model_find_tensor(const g4_model *m, const char *name) {
    for (int s = 0; s < m->n_shards; s++) {
        const g4_gguf_tensor *t = g4_gguf_find_tensor(m->shards[s], name);
        if (t) return t;
    }
    return NULL;
}

static bool shard_key(const g4_gguf *g, const char *key, int64_t *v) {
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    return kv && kv->type != G4_GGUF_ARRAY && g4_gguf_kv_int(kv, v);
}

/* Big models come as NAME-00001-of-0000N.gguf; the first shard holds the metadata and
 * split.count, every shard its own tensors (offsets relative to its own data). */
static g4_status open_shards(g4_model *m, const char *path, bool copy, g4_progress_fn progress,
                             void *user, g4_error *err) {
    int64_t count, no;
    if (!shard_key(m->gguf, "split.count", &count) || count <= 1) return G4_OK;
    if (count > G4_MAX_SHARDS)
        return g4_fail(err, G4_ERR_FORMAT, "split.count %lld exceeds %d shards", (long long)count, G4_MAX_SHARDS);
    if (shard_key(m->gguf, "split.no", &no) && no != 0)
        return g4_fail(err, G4_ERR_ARG, "this is shard %lld of a split model: open the first file (-00001-of-%05lld)",
                       (long long)no + 1, (long long)count);
    /* NAME-00001-of-0000N.gguf -> NAME-0000k-of-0000N.gguf */
    size_t len = strlen(path);
    const char *tail = len >= 20 ? path + len - 20 : NULL; /* "-00001-of-00003.gguf" */
    char want_tail[32];
    snprintf(want_tail, sizeof want_tail, "-00001-of-%05lld.gguf", (long long)count);
    if (!tail || strcmp(tail, want_tail) != 0)
        return g4_fail(err, G4_ERR_FORMAT, "split model (%lld files) but the name does not end in %s",
                       (long long)count, want_tail);
    char *name = malloc(len + 1);
    if (!name) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    for (int k = 1; k < count; k++) {
        char t[64];
        snprintf(t, sizeof t, "-%05d-of-%05d.gguf", k + 1, (int)count); /* 20 chars: count <= 256 */
        memcpy(name, path, len + 1);
        memcpy(name + len - 20, t, 20);
        g4_status st = g4_gguf_open_ex(name, copy, progress, user, &m->shards[k], err);
        if (st) {
            free(name);
            return st;
        }
        m->n_shards = k + 1;
        if (!shard_key(m->shards[k], "split.no", &no) || no != k) {
            g4_status st2 = g4_fail(err, G4_ERR_FORMAT, "%s: split.no should be %d", name, k);
            free(name);
            return st2;
        }
    }
    free(name);
    /* a tensor name must appear in exactly one shard */
    for (int s = 1; s < m->n_shards; s++)
        for (int64_t i = 0; i < g4_gguf_n_tensors(m->shards[s]); i++) {
            const char *tn = g4_gguf_tensor_at(m->shards[s], i)->name;
            for (int r = 0; r < s; r++)
                if (g4_gguf_find_tensor(m->shards[r], tn))
                    return g4_fail(err, G4_ERR_FORMAT, "tensor %s appears in shards %d and %d", tn, r + 1, s + 1);
        }
    int64_t total;
    if (shard_key(m->gguf, "split.tensors.count", &total) && total != g4_model_n_tensors(m))
        return g4_fail(err, G4_ERR_FORMAT, "split.tensors.count says %lld tensors, the shards hold %lld",
                       (long long)total, (long long)g4_model_n_tensors(m));
    return G4_OK;
}

g4_status g4_model_load(const char *path, bool copy_to_ram, g4_progress_fn progress, void *user,
                        g4_model **out, g4_error *err) {
    g4_error local = {0};
    if (!err) err = &local;
    *out = NULL;
    g4_model *m = calloc(1, sizeof *m);
    if (!m) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    int *n_kv = NULL, *n_ff = NULL;
    bool *swa = NULL;
    g4_status st = g4_gguf_open_ex(path, copy_to_ram, progress, user, &m->gguf, err);
    if (st) goto fail;
    m->shards[0] = m->gguf;
    m->n_shards = 1;
    if ((st = open_shards(m, path, copy_to_ram, progress, user, err))) goto fail;
    copy_str_key(m->gguf, "general.architecture", m->hp.arch, sizeof m->hp.arch);
    copy_str_key(m->gguf, "general.name", m->hp.name, sizeof m->hp.name);
    if (strcmp(m->hp.arch, "gemma4") != 0) {
        st = g4_fail(err, m->hp.arch[0] ? G4_ERR_UNSUPPORTED : G4_ERR_FORMAT,
                     m->hp.arch[0] ? "architecture '%s' is not a Gemma 4 text model (expected 'gemma4')"
                                   : "missing general.architecture%s",
                     m->hp.arch);
        goto fail;
    }
    if ((st = read_hparams(m, &n_kv, &n_ff, &swa, err))) goto fail;
    if ((st = read_vocab(m, err))) goto fail;
    if ((st = setup_layers(m, n_kv, n_ff, swa, err))) goto fail;
    for (int64_t i = 0; i < g4_model_n_tensors(m); i++) m->weight_bytes += g4_model_tensor_at(m, i)->nbytes;
    free(n_kv);
    free(n_ff);
    free(swa);
    *out = m;
    return G4_OK;
fail:
    free(n_kv);
    free(n_ff);
    free(swa);
    g4_model_free(m);
    if (!strstr(err->msg, path)) g4_error_prefix(err, "%s", path);
    return st ? st : G4_ERR_FORMAT;
}

void g4_model_free(g4_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->hp.n_layer; l++) {
            g4_layer *L = &m->layers[l];
            float *vs[] = {L->attn_norm, L->attn_q_norm, L->attn_k_norm, L->post_attention_norm,
                           L->ffn_norm, L->post_ffw_norm, L->post_norm, L->ffn_gate_inp_scale,
                           L->pre_ffw_norm_2, L->post_ffw_norm_1, L->post_ffw_norm_2,
                           L->ffn_down_exps_scale};
            for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) free(vs[i]);
        }
    }
    free(m->layers);
    free(m->output_norm);
    free(m->per_layer_proj_norm);
    free(m->rope_freqs);
    free(m->vocab);
    for (int i = 0; i < m->n_shards; i++) g4_gguf_close(m->shards[i]);
    if (!m->n_shards) g4_gguf_close(m->gguf);
    free(m);
}
