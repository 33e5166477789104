/* engine.h — internal definitions behind g4.h's opaque engine and session, plus a
 * few internal hooks (activation observer) used by tests and tools. */
#ifndef G4_ENGINE_H
#define G4_ENGINE_H
#include "core/pool.h"
#include "core/status.h"
#include "g4.h"
#include "kernels/kernels.h"
#include "model/gemma4.h"
#include "model/model.h"
#include "text/vocab.h"

struct g4_engine {
    g4_engine_config cfg;
    g4_model *m;
    g4_kernels k;
    g4_isa isa;
    bool ref_mode;
    g4_pool *pool;
    int n_threads;
    float *gelu_table; /* NULL = exact GELU */
    g4_vocab *vocab;   /* NULL when the file has no tokenizer.ggml.* keys */
    int32_t *suppress; /* tokenizer.ggml.suppress_tokens (12B: <image|>, <audio|>) */
    int n_suppress;
    bool weights_in_ram; /* copied into huge-page RAM (else mapped): companions (the MTP
                            drafter) follow the same choice */
};

struct g4_session {
    g4_engine *e;
    g4_fwd f;
    int32_t *pos_buf; /* g4_session_eval: positions, then want flags */
    int pos_cap;
};

void g4_log(const g4_engine *e, g4_log_level lvl, const char *fmt, ...) G4_PRINTF(3, 4);
void g4_session_set_act_cb(g4_session *s, g4_act_fn fn, void *user);
const g4_model *g4_engine_model(const g4_engine *e);
/* The tokenizer, or NULL (and err says why) when the file has none. */
const g4_vocab *g4_engine_vocab(const g4_engine *e, g4_error *err);
/* Tokens whose logits must be -inf when sampling (tokenizer.ggml.suppress_tokens). */
const int32_t *g4_engine_suppress(const g4_engine *e, int *n);
/* True for the E2B/E4B layout (per-layer embeddings): selects the small chat template. */
bool g4_engine_small_layout(const g4_engine *e);
/* Weight bytes one decode step reads (one row of the per-layer table, used experts). */
uint64_t g4_engine_decode_bytes(const g4_engine *e);
/* Name of the type holding most matrix bytes ("q4_0"). */
const char *g4_engine_main_type(const g4_engine *e);

#endif
