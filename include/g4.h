/* g4.h — the public C API of libgemma4c.
 *
 * Objects:
 *   g4_engine   one loaded model: weights (views into the mmap), hyper-parameters,
 *               kernels, thread pool. Immutable after g4_engine_open; share it freely
 *               between sessions, but run one session's evaluation at a time per engine
 *               (the engine owns a single thread pool).
 *   g4_session  per-conversation state: KV cache for up to n_seq sequences and scratch
 *               memory. Belongs to one thread at a time.
 *
 * Errors: every call that can fail returns a g4_status and, when `err` is not NULL,
 * fills it with a message naming the problem. The library never exits or aborts on
 * bad input and never writes to stdout. */
#ifndef G4_H
#define G4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    G4_OK = 0,
    G4_ERR_ARG,         /* a caller argument is invalid */
    G4_ERR_NOMEM,       /* an allocation failed */
    G4_ERR_IO,          /* open/read/mmap failed */
    G4_ERR_FORMAT,      /* the file is malformed or is not a Gemma 4 model */
    G4_ERR_UNSUPPORTED, /* valid input we do not handle (e.g. a tensor type) */
    G4_ERR_CTX_FULL,    /* the sequence would exceed the context size */
    G4_ERR_CANCELLED,
    G4_ERR_BUSY         /* a queue is full: try again later */
} g4_status;

typedef struct {
    g4_status code;
    char msg[256];
} g4_error;

const char *g4_status_str(g4_status st);

/* Instruction-set choice for the compute kernels. */
typedef enum {
    G4_ISA_REF = 0,  /* reference mode: weights dequantized to f32, f32 activations, scalar code */
    G4_ISA_SCALAR,   /* quantized activations (Q8_0/Q8_K like llama.cpp), portable C */
    G4_ISA_AVX2,     /* + AVX2/FMA/F16C */
    G4_ISA_AVX512,   /* + AVX-512 F/BW/VL and VNNI when present */
    G4_ISA_NEON,     /* + ARM NEON / dotprod */
    G4_ISA_BEST      /* the best the CPU supports */
} g4_isa;

const char *g4_isa_name(g4_isa isa);
/* Parses "ref", "scalar", "avx2", "avx512", "neon", "best"/"auto". Returns false on junk. */
bool g4_isa_parse(const char *s, g4_isa *out);

typedef enum { G4_LOG_ERROR = 0, G4_LOG_WARN, G4_LOG_INFO, G4_LOG_DEBUG } g4_log_level;
typedef void (*g4_log_fn)(void *user, g4_log_level lvl, const char *msg);
/* Called during load with done/total bytes touched; return false to cancel. */
typedef bool (*g4_progress_fn)(void *user, uint64_t done, uint64_t total);

typedef enum {
    G4_GELU_TABLE = 0, /* tanh GELU through an fp16 lookup table, as llama.cpp's CPU backend */
    G4_GELU_EXACT      /* tanh GELU evaluated in f32 for every element */
} g4_gelu_mode;

typedef enum {
    G4_LOAD_AUTO = 0, /* copy when the file fits in available RAM with 2 GiB to spare, else map */
    G4_LOAD_MMAP,     /* map the file: starts at once, pages shared with the page cache */
    G4_LOAD_COPY      /* read into RAM backed by transparent huge pages: ~10-15% faster decode
                         (fewer TLB misses while streaming weights), RAM is not reclaimable */
} g4_load_mode;

typedef struct {
    const char *model_path; /* GGUF file (required) */
    int n_threads;          /* worker threads incl. the caller; 0 = number of online CPUs */
    g4_isa max_isa;         /* highest kernel ISA allowed; G4_ISA_BEST = detect */
    g4_gelu_mode gelu;      /* default G4_GELU_TABLE */
    g4_load_mode load;      /* default G4_LOAD_AUTO */
    g4_log_fn log;          /* NULL = stderr */
    void *log_user;
    g4_log_level log_level; /* default G4_LOG_WARN */
    g4_progress_fn progress; /* NULL = none */
    void *progress_user;
} g4_engine_config;

g4_engine_config g4_engine_config_default(void);

typedef struct g4_engine g4_engine;
typedef struct g4_session g4_session;

g4_status g4_engine_open(const g4_engine_config *cfg, g4_engine **out, g4_error *err);
void g4_engine_free(g4_engine *e); /* NULL is a no-op */

/* Facts about the loaded model (borrowed strings, valid until g4_engine_free). */
typedef struct {
    const char *arch;     /* "gemma4" */
    const char *name;     /* general.name or "" */
    int n_layer, n_embd, n_head, n_vocab, n_ctx_train;
    int n_swa;            /* sliding window */
    int n_embd_per_layer; /* PLE width, 0 if none */
    int n_shared_kv;      /* trailing layers that reuse KV */
    int n_expert, n_expert_used;
    uint64_t weight_bytes; /* bytes of all tensors in the file */
    const char *isa;      /* kernels in use */
    int n_threads;
} g4_model_info;

void g4_engine_info(const g4_engine *e, g4_model_info *out);
/* Bytes of KV cache a session with this context (and n_seq sequences, n_batch) would use. */
uint64_t g4_engine_kv_bytes(const g4_engine *e, int n_ctx, int n_seq, int n_batch);
/* Human-readable description of the model (layers, shapes, types); returns bytes needed
 * (snprintf-style). */
size_t g4_engine_describe(const g4_engine *e, int n_ctx, char *buf, size_t cap);

typedef struct {
    int n_ctx;   /* positions per sequence; 0 = min(4096, trained context) */
    int n_seq;   /* independent sequences sharing one batched pass; 0 = 1 */
    int n_batch; /* max tokens per g4_session_decode call; 0 = 512 */
    int swa_keep; /* extra sliding-window history per sequence (cells) so that
                     g4_session_truncate can cut back n_batch + swa_keep positions: prefix
                     reuse across long answers; costs swa_keep KV cells per sliding layer */
} g4_session_config;

g4_session_config g4_session_config_default(void);

g4_status g4_session_create(g4_engine *e, const g4_session_config *cfg, g4_session **out,
                            g4_error *err);
void g4_session_free(g4_session *s);

/* How the rows of a non-causal group (the soft tokens of one image) attend to each
 * other. Outside groups attention is causal (and windowed on sliding layers) in both. */
typedef enum {
    G4_MASK_HF = 0,  /* the model's definition (Hugging Face generate): on sliding-window
                        layers a group row also sees the later rows of its group (past keys
                        stay window-bounded); full-attention layers stay causal. Models with
                        per-layer embeddings (E2B/E4B) keep groups causal everywhere. */
    G4_MASK_LLAMACPP /* llama.cpp (Aug 2026): group rows see the whole group in every layer
                        (sliding layers still hide keys window or more positions back) */
} g4_mask_mode;

/* One batch of tokens. Row i is token tokens[i] of sequence seq[i] (NULL = all 0) at
 * position pos[i]. Positions of one sequence must continue that sequence: the first row
 * of a sequence in the batch has position = its current length, later rows +1 each.
 * logits: NULL, or out[n_out][n_vocab] for the rows with want[i] (want NULL = only the
 * last row of the batch).
 *
 * Multimodal rows (docs/MULTIMODAL.md): embd[i] != NULL makes row i's input the n_embd
 * floats embd[i] (a projected image/audio soft token, inserted as is: not scaled by
 * sqrt(n_embd); tokens[i] is ignored, and tokens may be NULL when every row has one).
 * group[i] > 0 puts row i in non-causal group group[i] of its sequence (0 = none): the
 * rows of a group are consecutive positions of one sequence, all in this call (a group
 * continued by the next call is refused; use distinct ids for adjacent groups), and
 * `mask` says how they see each other. Zero-initialised fields give a text batch. */
typedef struct {
    int n;
    const int32_t *tokens;
    const int32_t *pos;
    const int32_t *seq;
    const bool *want;
    const float *const *embd; /* NULL, or per row: NULL = token, else n_embd floats (borrowed) */
    int n_embd;               /* width of the embd rows: must equal the model's n_embd */
    const int32_t *group;     /* NULL = no groups */
    g4_mask_mode mask;
} g4_batch;

g4_status g4_session_decode(g4_session *s, const g4_batch *b, float *logits, g4_error *err);

/* Convenience: append n tokens to sequence 0 at its current end; writes logits of every
 * row (all_logits) or only the last row. */
g4_status g4_session_eval(g4_session *s, const int32_t *tokens, int n, bool all_logits,
                          float *logits, g4_error *err);

/* Current length of a sequence. */
int g4_session_seq_len(const g4_session *s, int seq);
/* Cut a sequence back to its first n_pos positions. Cheap (no copy). Fails with
 * G4_ERR_ARG when the sliding-window rings no longer hold what position n_pos needs
 * (rolled back further than n_batch since the last write); then re-prefill. */
g4_status g4_session_truncate(g4_session *s, int seq, int n_pos, g4_error *err);

/* What the user typed as MODEL -> a GGUF path (*path malloc'd; free() it): an existing
 * path as is; "hf:ORG/REPO/FILE.gguf" or "hf:ORG/REPO[:QUANT]" from the Hugging Face hub
 * cache; otherwise an Ollama name ("gemma4:12b", "NAMESPACE/MODEL:TAG") from the local
 * Ollama store ($OLLAMA_MODELS, ~/.ollama/models, /usr/share/ollama/.ollama/models). A
 * model that is not found fails with G4_ERR_IO and a message that says where it looked
 * and how to get the model. */
g4_status g4_model_resolve(const char *name, char **path, g4_error *err);
/* For an Ollama model name: the projector (mmproj) blob of the same manifest, if any. */
g4_status g4_model_resolve_projector(const char *name, char **path, g4_error *err);

/* Number of vocabulary entries (logit row width). */
int g4_engine_n_vocab(const g4_engine *e);

#ifdef __cplusplus
}
#endif
#endif
