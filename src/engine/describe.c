/* describe.c — human-readable model summary (`gemma4c info`) and the weight bytes a
 * decode step reads (for roofline ratios in `gemma4c bench`). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

typedef struct {
    char *buf;
    size_t cap, len;
} sbuf;

G4_PRINTF(2, 3) static void sb(sbuf *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof tmp) n = (int)sizeof tmp - 1;
    if (s->len + 1 < s->cap) {
        size_t room = s->cap - s->len - 1, k = (size_t)n < room ? (size_t)n : room;
        memcpy(s->buf + s->len, tmp, k);
        s->buf[s->len + k] = 0;
    }
    s->len += (size_t)n;
}

static bool is_expert(const char *name) { return strstr(name, "_exps.weight") != NULL; }

uint64_t g4_engine_decode_bytes(const g4_engine *e) {
    const g4_model *m = e->m;
    double total = 0;
    for (int64_t i = 0; i < g4_model_n_tensors(m); i++) {
        const g4_gguf_tensor *t = g4_model_tensor_at(m, i);
        if (!strcmp(t->name, "per_layer_token_embd.weight")) {
            total += (double)t->nbytes / (double)(t->ne[1] > 0 ? t->ne[1] : 1); /* one row */
        } else if (is_expert(t->name) && m->hp.n_expert > 0) {
            total += (double)t->nbytes * m->hp.n_expert_used / m->hp.n_expert;
        } else {
            total += (double)t->nbytes;
        }
    }
    return (uint64_t)total;
}

/* Most common matrix type, e.g. "q4_0" (what llama-bench calls the model type). */
const char *g4_engine_main_type(const g4_engine *e) {
    uint64_t bytes[G4_TYPE_COUNT] = {0};
    const g4_model *m = e->m;
    for (int64_t i = 0; i < g4_model_n_tensors(m); i++) {
        const g4_gguf_tensor *t = g4_model_tensor_at(m, i);
        if (t->n_dims >= 2 && t->type < G4_TYPE_COUNT) bytes[t->type] += t->nbytes;
    }
    int best = 0;
    for (int t = 1; t < G4_TYPE_COUNT; t++)
        if (bytes[t] > bytes[best]) best = t;
    return g4_type_name((uint32_t)best);
}

size_t g4_engine_describe(const g4_engine *e, int n_ctx, char *buf, size_t cap) {
    sbuf s = {buf, cap, 0};
    if (cap) buf[0] = 0;
    const g4_model *m = e->m;
    const g4_hparams *hp = &m->hp;
    const double GiB = 1024.0 * 1024.0 * 1024.0;
    sb(&s, "architecture      %s\n", hp->arch);
    sb(&s, "name              %s\n", hp->name[0] ? hp->name : "(none)");
    const char *kind = hp->n_expert > 0 ? "mixture of experts (like 26B-A4B)"
                       : hp->n_embd_per_layer > 0 ? "per-layer embeddings (like E2B/E4B)"
                                                  : "dense (like 12B/31B)";
    sb(&s, "kind              %s\n", kind);
    sb(&s, "layers            %d\n", hp->n_layer);
    sb(&s, "embedding         %d\n", hp->n_embd);
    sb(&s, "vocabulary        %d\n", hp->n_vocab);
    sb(&s, "trained context   %d\n", hp->n_ctx_train);
    sb(&s, "query heads       %d\n", hp->n_head);
    sb(&s, "head dim          %d sliding / %d full\n", hp->head_dim_swa, hp->head_dim_full);
    sb(&s, "sliding window    %d\n", hp->n_swa);
    sb(&s, "rope base         %g sliding / %g full (%d / %d dims)%s\n", hp->rope_base_swa,
       hp->rope_base_full, hp->rope_dims_swa, hp->rope_dims_full,
       m->rope_freqs ? ", proportional (rope_freqs)" : "");
    if (hp->n_embd_per_layer) sb(&s, "per-layer embd    %d per layer\n", hp->n_embd_per_layer);
    if (hp->n_shared_kv) sb(&s, "shared-KV layers  last %d\n", hp->n_shared_kv);
    if (hp->n_expert)
        sb(&s, "experts           %d, %d used, width %d\n", hp->n_expert, hp->n_expert_used, hp->n_ff_exp);
    sb(&s, "logit softcap     %g\n", hp->softcap);
    sb(&s, "layer pattern     ");
    for (int l = 0; l < hp->n_layer; l++) sb(&s, "%c", m->layers[l].is_swa ? 'S' : 'F');
    sb(&s, "  (S = sliding, F = full)\n");
    sb(&s, "layers:\n  %-4s %-4s %5s %4s %6s %-9s %s\n", "idx", "type", "hdim", "kv", "ffn", "kv from", "notes");
    for (int l = 0; l < hp->n_layer; l++) {
        const g4_layer *L = &m->layers[l];
        char src[16];
        snprintf(src, sizeof src, L->has_kv ? "own" : "layer %d", L->kv_src);
        sb(&s, "  %-4d %-4s %5d %4d %6d %-9s %s%s%s\n", l, L->is_swa ? "swa" : "full", L->head_dim,
           L->n_head_kv, L->n_ff, src, L->has_kv && !L->has_v ? "K=V " : "", L->is_moe ? "moe " : "",
           L->out_scale != 1.0f ? "scaled" : "");
    }
    uint64_t nb[G4_TYPE_COUNT] = {0}, nt[G4_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < g4_model_n_tensors(m); i++) {
        const g4_gguf_tensor *t = g4_model_tensor_at(m, i);
        if (t->type < G4_TYPE_COUNT) {
            nb[t->type] += t->nbytes;
            nt[t->type]++;
        }
    }
    sb(&s, "tensor types:\n");
    for (int t = 0; t < G4_TYPE_COUNT; t++)
        if (nt[t]) sb(&s, "  %-8s %5llu tensors %10.3f GiB\n", g4_type_name((uint32_t)t), (unsigned long long)nt[t], nb[t] / GiB);
    sb(&s, "weights           %.3f GiB (%llu bytes)\n", m->weight_bytes / GiB, (unsigned long long)m->weight_bytes);
    sb(&s, "read per token    %.3f GiB\n", g4_engine_decode_bytes(e) / GiB);
    int ctx = n_ctx > 0 ? n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    sb(&s, "KV cache (f32)    %.3f GiB for --ctx %d (sliding layers keep window + batch)\n",
       g4_engine_kv_bytes(e, ctx, 1, 512) / GiB, ctx);
    return s.len;
}
