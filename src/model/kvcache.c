/* kvcache.c — allocation, ring bookkeeping and truncation of the KV cache. */
#include "model/kvcache.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static int swa_cap(const g4_model *m, int n_ctx, int n_batch) {
    int64_t c = (int64_t)m->hp.n_swa + n_batch;
    return c < n_ctx ? (int)c : n_ctx;
}

uint64_t g4_kv_bytes(const g4_model *m, int n_ctx, int n_seq, int n_batch) {
    uint64_t total = 0;
    const int cs = swa_cap(m, n_ctx, n_batch);
    for (int l = 0; l < m->hp.n_layer; l++) {
        const g4_layer *L = &m->layers[l];
        if (!L->has_kv) continue;
        uint64_t cells = (uint64_t)(L->is_swa ? cs : n_ctx) * (uint64_t)n_seq;
        total += 2 * cells * (uint64_t)L->n_head_kv * (uint64_t)L->head_dim * sizeof(float);
    }
    return total;
}

g4_status g4_kv_init(g4_kv *kv, const g4_model *m, int n_ctx, int n_seq, int n_batch, g4_error *err) {
    memset(kv, 0, sizeof *kv);
    const int L = m->hp.n_layer;
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->n_layer = L;
    kv->cap_swa = swa_cap(m, n_ctx, n_batch);
    kv->cap = calloc((size_t)L, sizeof *kv->cap);
    kv->dim = calloc((size_t)L, sizeof *kv->dim);
    kv->k = calloc((size_t)L, sizeof *kv->k);
    kv->v = calloc((size_t)L, sizeof *kv->v);
    kv->ring_pos = malloc((size_t)n_seq * (size_t)kv->cap_swa * sizeof *kv->ring_pos);
    kv->n_pos = calloc((size_t)n_seq, sizeof *kv->n_pos);
    kv->grp_id = calloc((size_t)n_seq * 3, sizeof *kv->grp_id);
    if (!kv->cap || !kv->dim || !kv->k || !kv->v || !kv->ring_pos || !kv->n_pos || !kv->grp_id) goto nomem;
    kv->grp_start = kv->grp_id + n_seq;
    kv->grp_end = kv->grp_id + 2 * (size_t)n_seq;
    for (size_t i = 0; i < (size_t)n_seq * (size_t)kv->cap_swa; i++) kv->ring_pos[i] = -1;
    for (int l = 0; l < L; l++) {
        const g4_layer *ly = &m->layers[l];
        kv->dim[l] = ly->n_head_kv * ly->head_dim;
        if (!ly->has_kv) continue;
        kv->cap[l] = ly->is_swa ? kv->cap_swa : n_ctx;
        size_t n = (size_t)n_seq * (size_t)kv->cap[l] * (size_t)kv->dim[l];
        kv->k[l] = calloc(n, sizeof(float));
        kv->v[l] = calloc(n, sizeof(float));
        if (!kv->k[l] || !kv->v[l]) goto nomem;
        kv->bytes += 2 * n * sizeof(float);
    }
    for (int l = 0; l < L; l++) /* shared layers read their source's geometry */
        if (!m->layers[l].has_kv) kv->cap[l] = kv->cap[m->layers[l].kv_src];
    return G4_OK;
nomem:
    g4_kv_free(kv);
    return g4_fail(err, G4_ERR_NOMEM, "out of memory for the KV cache (n_ctx %d, %d sequences)", n_ctx, n_seq);
}

void g4_kv_free(g4_kv *kv) {
    if (kv->k)
        for (int l = 0; l < kv->n_layer; l++) free(kv->k[l]);
    if (kv->v)
        for (int l = 0; l < kv->n_layer; l++) free(kv->v[l]);
    free(kv->k);
    free(kv->v);
    free(kv->cap);
    free(kv->dim);
    free(kv->ring_pos);
    free(kv->n_pos);
    free(kv->grp_id);
    memset(kv, 0, sizeof *kv);
}

void g4_kv_mark(g4_kv *kv, int seq, int32_t p0, int32_t p1) {
    int32_t *rp = kv->ring_pos + (size_t)seq * (size_t)kv->cap_swa;
    for (int32_t p = p0; p < p1; p++) rp[p % kv->cap_swa] = p;
}

bool g4_kv_has(const g4_kv *kv, int seq, int32_t p0, int32_t p1) {
    const int32_t *rp = kv->ring_pos + (size_t)seq * (size_t)kv->cap_swa;
    for (int32_t p = p0 < 0 ? 0 : p0; p < p1; p++)
        if (rp[p % kv->cap_swa] != p) return false;
    return true;
}

g4_status g4_kv_truncate(g4_kv *kv, int seq, int32_t n_pos, int n_swa, g4_error *err) {
    if (seq < 0 || seq >= kv->n_seq) return g4_fail(err, G4_ERR_ARG, "sequence %d out of range", seq);
    if (n_pos < 0 || n_pos > kv->n_pos[seq])
        return g4_fail(err, G4_ERR_ARG, "cannot truncate sequence %d (length %d) to %d", seq,
                       kv->n_pos[seq], n_pos);
    /* the next token (position n_pos) attends back to n_pos - n_swa + 1 */
    if (!g4_kv_has(kv, seq, n_pos - n_swa + 1, n_pos))
        return g4_fail(err, G4_ERR_ARG,
                       "cannot roll sequence %d back from %d to %d: the sliding-window cache "
                       "no longer holds those positions (re-evaluate the prefix)",
                       seq, kv->n_pos[seq], n_pos);
    kv->n_pos[seq] = n_pos;
    /* a group cut in the middle may not be continued by the next call */
    if (kv->grp_id[seq] && n_pos <= kv->grp_start[seq]) kv->grp_id[seq] = 0;
    else if (kv->grp_id[seq] && n_pos <= kv->grp_end[seq]) kv->grp_end[seq] = n_pos - 1;
    return G4_OK;
}
