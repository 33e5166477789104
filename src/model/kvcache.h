/* kvcache.h — per-session K/V storage for every KV-owning layer and n_seq sequences.
 *
 * Full-attention layers keep n_ctx positions. Sliding-window layers keep a ring of
 * cap_swa = min(n_ctx, window + n_batch) cells indexed by position mod cap_swa, which
 * holds the window for every row of a batch and lets a sequence roll back up to
 * cap_swa - window positions (rejected speculative drafts, prefix reuse). Each ring
 * cell records the position it holds, so truncation is checked, not assumed.
 * Truncation only moves a length: it costs nothing. Layers that share KV (E models)
 * own no storage. Rows are f32, post-norm and post-RoPE (K) / post-norm (V). */
#ifndef G4_MODEL_KVCACHE_H
#define G4_MODEL_KVCACHE_H
#include <stdint.h>

#include "model/model.h"

typedef struct {
    int n_seq, n_ctx, cap_swa;
    int n_layer;
    int *cap;         /* [n_layer]: cells per sequence (0 for layers without KV) */
    int *dim;         /* [n_layer]: floats per cell (n_head_kv * head_dim) */
    float **k, **v;   /* [n_layer] -> [n_seq][cap][dim], NULL for shared layers */
    int32_t *ring_pos; /* [n_seq][cap_swa]: position held by each ring cell, -1 empty */
    int32_t *n_pos;    /* [n_seq]: current length */
    /* [n_seq]: the non-causal group (image) the sequence's last decoded row belonged to
     * (0 = none) and the positions it spans, so that a group continued by the next
     * decode call (which would see only half of it) is refused. */
    int32_t *grp_id, *grp_start, *grp_end;
    uint64_t bytes;
} g4_kv;

g4_status g4_kv_init(g4_kv *kv, const g4_model *m, int n_ctx, int n_seq, int n_batch, g4_error *err);
void g4_kv_free(g4_kv *kv);
/* Bytes g4_kv_init would allocate. */
uint64_t g4_kv_bytes(const g4_model *m, int n_ctx, int n_seq, int n_batch);

/* Cell of layer il (its own cache; shared layers pass kv_src) for seq at pos. */
static inline float *g4_kv_k(const g4_kv *kv, int il, int seq, int32_t pos) {
    return kv->k[il] + ((size_t)seq * (size_t)kv->cap[il] + (size_t)(pos % kv->cap[il])) * (size_t)kv->dim[il];
}
static inline float *g4_kv_v(const g4_kv *kv, int il, int seq, int32_t pos) {
    return kv->v[il] + ((size_t)seq * (size_t)kv->cap[il] + (size_t)(pos % kv->cap[il])) * (size_t)kv->dim[il];
}

/* Record that positions [p0, p1) of seq were written to every ring. */
void g4_kv_mark(g4_kv *kv, int seq, int32_t p0, int32_t p1);
/* True if every position in [p0, p1) of seq is still held by the rings. */
bool g4_kv_has(const g4_kv *kv, int seq, int32_t p0, int32_t p1);
g4_status g4_kv_truncate(g4_kv *kv, int seq, int32_t n_pos, int n_swa, g4_error *err);

#endif
