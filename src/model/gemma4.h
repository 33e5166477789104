/* gemma4.h — the Gemma 4 text forward pass over a batch of (sequence, position, token)
 * rows, with its KV cache and scratch memory (allocated once, from the session config:
 * decoding allocates nothing). */
#ifndef G4_MODEL_GEMMA4_H
#define G4_MODEL_GEMMA4_H
#include "kernels/ops.h"
#include "model/kvcache.h"
#include "model/model.h"

/* Observer of intermediate activations (tests, debugging): name as in the fixtures
 * ("inp_scaled", "attn_out-3", "l_out-3", "result_norm", "inp_per_layer",
 * "ffn_moe_logits-1"), rows x cols floats. */
typedef void (*g4_act_fn)(void *user, const char *name, const float *data, int rows, int cols);

typedef struct {
    const g4_model *m;
    const float *gelu_table; /* NULL = exact GELU */
    g4_compute comp;
    g4_kv kv;
    int n_ctx, n_seq, n_batch;
    g4_act_fn act_cb;
    void *act_user;

    /* scratch, [n_batch][...] unless noted */
    float *x, *h, *q, *k, *v, *att, *o, *g, *u;
    float *ple;       /* [n_batch][n_layer * P] per-layer inputs */
    float *ple_tmp;   /* [n_batch][n_layer * P] */
    float *rope_swa, *rope_full; /* [n_batch][rope dims] cos/sin */
    float *scores;    /* [n_threads][n_ctx] */
    float *moe_logits; /* [n_batch][n_expert] */
    int32_t *moe_sel;  /* [n_batch][n_expert_used] */
    float *moe_w;      /* [n_batch][n_expert_used] */
    float *moe_out;    /* [n_batch][n_expert_used][H] */
    float *ex_x, *ex_gu, *ex_act, *ex_out; /* gathered rows of one expert */
    int32_t *ex_rows;  /* [n_batch] */
    int32_t *seq_tmp;  /* [n_batch] */
    int32_t *seq_zero; /* [n_batch] zeros: rows of a batch without seq ids */
    int32_t *grp_end;  /* [n_batch] last position of the row's non-causal group, -1 = none */
    int32_t *grp_tmp;  /* [2][n_seq] group bookkeeping while checking a batch */
    bool grp_swa, grp_full; /* this batch opens its groups on sliding / full layers */
} g4_fwd;

/* swa_keep: extra sliding-window cells per sequence beyond window + n_batch, so that a
 * sequence can be cut back that much further (prefix reuse after long answers). */
g4_status g4_fwd_init(g4_fwd *f, const g4_model *m, const g4_kernels *k, g4_pool *pool,
                      bool ref_mode, const float *gelu_table, int n_ctx, int n_seq, int n_batch,
                      int swa_keep, g4_error *err);
void g4_fwd_free(g4_fwd *f);

/* Runs the batch; logits (may be NULL) receives one row of n_vocab per wanted row. */
g4_status g4_fwd_decode(g4_fwd *f, const g4_batch *b, float *logits, g4_error *err);

#endif
