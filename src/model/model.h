/* model.h — Gemma 4 text model: hyper-parameters read from GGUF keys, weights bound
 * by name (views into the mapping), validated once at load time (spec §3, §4, §14.2).
 * The forward pass lives in gemma4.c, the KV cache in kvcache.c. */
#ifndef G4_MODEL_H
#define G4_MODEL_H
#include <stdbool.h>
#include <stdint.h>

#include "core/types.h"
#include "g4.h"
#include "gguf/gguf.h"
#include "kernels/ops.h"

#define G4_MAX_LAYERS 512

typedef struct {
    bool is_swa;       /* sliding-window layer */
    bool has_kv;       /* owns K/V (false: reads kv_src's cache) */
    bool has_v;        /* has attn_v (false: V = raw K projection) */
    bool is_moe;
    int head_dim;
    int n_head_kv;     /* of kv_src */
    int n_ff;
    int kv_src;        /* layer whose cache this layer attends over */
    int rope_dims;
    float rope_base;

    g4_tensor attn_q, attn_k, attn_v, attn_output;
    g4_tensor ffn_gate, ffn_up, ffn_down;
    g4_tensor inp_gate, proj; /* PLE */
    g4_tensor ffn_gate_inp, ffn_gate_up_exps, ffn_gate_exps, ffn_up_exps, ffn_down_exps;

    /* small vectors, converted to f32 at load (owned) */
    float *attn_norm, *attn_q_norm, *attn_k_norm, *post_attention_norm;
    float *ffn_norm, *post_ffw_norm, *post_norm;
    float *ffn_gate_inp_scale, *pre_ffw_norm_2, *post_ffw_norm_1, *post_ffw_norm_2;
    float *ffn_down_exps_scale; /* [n_expert] */
    float out_scale;            /* layer_output_scale, 1 if absent */
} g4_layer;

typedef struct {
    char arch[32];
    char name[128];
    int n_layer, n_embd, n_head, n_vocab, n_ctx_train;
    int head_dim_full, head_dim_swa;
    int n_swa;
    int n_embd_per_layer; /* P */
    int n_shared_kv;
    int n_expert, n_expert_used, n_ff_exp;
    int rope_dims_full, rope_dims_swa;
    float rope_base_full, rope_base_swa;
    float eps;
    float softcap; /* 0 = none */
    int n_head_max_dim; /* max over layers of n_head * head_dim */
    int n_kv_dim_max;   /* max over layers of n_head_kv * head_dim */
    int n_ff_max;
    int last_swa_kv, last_full_kv; /* last KV-owning layer of each type (MTP drafter reads these) */
    int32_t bos_id, eos_id;
} g4_hparams;

#define G4_MAX_SHARDS 256

typedef struct g4_model {
    g4_gguf *gguf;                  /* the first (or only) file: all metadata */
    g4_gguf *shards[G4_MAX_SHARDS]; /* split files "NAME-0000k-of-0000N.gguf"; shards[0] = gguf */
    int n_shards;
    g4_hparams hp;
    g4_layer *layers;

    g4_tensor token_embd;          /* [H, V] also the tied LM head */
    g4_tensor output;              /* [H, V] if untied (absent in official files) */
    g4_tensor per_layer_token_embd; /* [L*P, V] */
    g4_tensor per_layer_model_proj; /* [H, L*P] */
    float *output_norm;
    float *per_layer_proj_norm;
    float *rope_freqs;              /* [head_dim_full/2] or NULL */
    uint64_t weight_bytes;
    char **vocab;                   /* token strings (NUL-terminated copies) for display */
} g4_model;

/* Tensors across all shards. */
int64_t g4_model_n_tensors(const g4_model *m);
const g4_gguf_tensor *g4_model_tensor_at(const g4_model *m, int64_t i);
const g4_gguf_tensor *g4_model_find_tensor(const g4_model *m, const char *name);
/* *t = a view of src (no copy) when k has dequant and dot kernels for its type; else
 * G4_ERR_UNSUPPORTED naming the tensor and type. Shared by the model, projector and
 * drafter loaders; shape checks stay with the callers. */
bool g4_tensor_view(const g4_gguf_tensor *src, const g4_kernels *k, g4_tensor *t, g4_error *err);

g4_status g4_model_load(const char *path, bool copy_to_ram, g4_progress_fn progress, void *user,
                        g4_model **out, g4_error *err);
void g4_model_free(g4_model *m);

/* The LM head: `output` when present, else the tied `token_embd`. */
static inline const g4_tensor *g4_model_head(const g4_model *m) {
    return g4_tensor_ok(&m->output) ? &m->output : &m->token_embd;
}

#endif
