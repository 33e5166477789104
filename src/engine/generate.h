/* generate.h — the generation loop shared by the CLI and the server.
 *
 * A g4_gen owns one session (one sequence) and remembers which tokens its KV cache
 * holds, so that a new prompt that shares a prefix with the previous prompt + answer
 * (the usual case in a chat: the history is re-rendered every turn) only evaluates the
 * new tail. Sliding-window layers limit how far back the cache can be cut; when it
 * cannot, the prompt is evaluated from the start.
 *
 * Per token: sample (sampler + suppressed tokens) -> end-of-generation check (<eos>,
 * <turn|>, <|tool_response>) -> token text (user-defined markers visible) -> UTF-8
 * completion -> stop strings -> output parser (content / reasoning / tool calls) ->
 * callbacks. */
#ifndef G4_ENGINE_GENERATE_H
#define G4_ENGINE_GENERATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/parse.h"
#include "core/buf.h"
#include "g4.h"
#include "sample/sample.h"
#include "sample/stop.h"
#include "text/vocab.h"

typedef struct g4_grammar g4_grammar; /* sample/grammar.h */
typedef struct g4_gvocab g4_gvocab;
typedef struct g4_gstate g4_gstate;
typedef struct g4_drafter g4_drafter; /* mtp/mtp.h */

typedef enum {
    G4_FINISH_STOP = 0,   /* end-of-generation token or stop string */
    G4_FINISH_LENGTH,     /* n_predict reached, or the context is full */
    G4_FINISH_TOOL_CALLS, /* the model called tools and handed control back */
    G4_FINISH_CANCELLED   /* should_stop returned true */
} g4_finish;

const char *g4_finish_name(g4_finish f); /* "stop", "length", "tool_calls", "cancelled" */

/* Soft tokens of an image or audio clip inside a prompt: prompt[pos .. pos + n) are
 * placeholder ids whose inputs are the rows of embd (docs/MULTIMODAL.md). */
typedef struct {
    int pos, n;
    const float *embd; /* [n][n_embd] */
    bool group;        /* an image: its rows see each other (mask mode) */
} g4_media_span;

typedef struct {
    int n_predict;             /* max new tokens; < 0 = until the model stops or the context is full */
    g4_sampler_params sampling;
    const char *const *stop;   /* stop strings (may span tokens) */
    size_t n_stop;
    bool parse;                /* split content / reasoning / tool calls (chat); false = raw text */
    bool in_thinking;          /* the prompt ends inside an open thought channel */
    const g4_grammar *grammar; /* constrain the output (JSON schema, tool call), or NULL */
    const g4_gvocab *gvocab;   /* the vocabulary's token table for grammars (g4_gvocab_new) */
    bool ignore_eos;           /* never end on an end-of-generation token (llama.cpp's ignore_eos) */
    const g4_media_span *media; /* sorted by pos, not overlapping; NULL = text only */
    int n_media;
    g4_mask_mode mask;          /* how image rows see each other */
    int top_logprobs;          /* < 0: no log-probabilities; else on_token gets the chosen
                                  token's and this many (<= 20) alternatives' */
    /* Deltas of visible content or reasoning (parse), or raw text (!parse). */
    void (*on_text)(void *user, g4_parse_kind kind, const char *text, size_t len);
    /* A complete tool call: arguments are a compact JSON object. */
    void (*on_tool_call)(void *user, int index, const char *name, size_t name_len, const char *args,
                         size_t args_len);
    /* Every sampled token (before the end check). With top_logprobs >= 0: logprob of the
     * token and top[0..n_top) (prob holds a log-probability), best first. */
    void (*on_token)(void *user, int32_t token, float logprob, const g4_token_prob *top, int n_top);
    bool (*should_stop)(void *user); /* polled once per token; true cancels */
    void *user;
    /* Speculative decoding (docs/MTP.md): an MTP drafter opened against this engine, or
     * NULL. The output distribution is the target's (greedy: identical tokens). */
    g4_drafter *draft;
    int draft_max;    /* longest draft, 1..G4_SPEC_KMAX (0 = 3) */
    bool draft_fixed; /* always draft_max tokens; default: adapt to the acceptance rate */
} g4_gen_params;

g4_gen_params g4_gen_params_default(void);

typedef struct {
    int n_prompt;     /* prompt tokens */
    int n_cached;     /* of which reused from the cache */
    int n_gen;        /* tokens sampled (incl. the end token) */
    double t_prompt;  /* seconds evaluating the prompt */
    double t_gen;     /* seconds generating */
    g4_finish finish;
    int n_tool_calls;
    int n_drafted, n_accepted; /* speculative decoding: draft tokens proposed / accepted */
    int n_passes;              /* target evaluations during generation (rounds) */
} g4_gen_result;

typedef struct g4_gen g4_gen;

/* n_ctx: context of the session (0 = engine default); n_batch: prefill batch (0 = 512). */
g4_status g4_gen_create(g4_engine *e, int n_ctx, int n_batch, g4_gen **out, g4_error *err);
void g4_gen_free(g4_gen *g);
int g4_gen_n_ctx(const g4_gen *g);
/* Forget the cache (next run evaluates its whole prompt). */
void g4_gen_reset(g4_gen *g);

/* Evaluates prompt (reusing the cached prefix) and generates. The prompt must start with
 * <bos> when the model wants one (the chat renderer emits it). A prompt that does not fit
 * the context fails with G4_ERR_CTX_FULL. */
g4_status g4_gen_run(g4_gen *g, const int32_t *prompt, size_t n_prompt, const g4_gen_params *p,
                     g4_gen_result *res, g4_error *err);

/* Prefix reuse for one sequence of a session whose KV holds cache[0..*n_cache): keeps
 * the longest common prefix with prompt[0..n), at most n - 1 tokens (the last prompt
 * token is evaluated again for its logits) and not past the first media span of p (may
 * be NULL); cuts the sequence back, to 0 when the sliding-window rings no longer reach,
 * updates *n_cache and returns the tokens kept. */
int g4_gen_keep_prefix(g4_session *s, int seq, const int32_t *cache, int *n_cache, const int32_t *prompt, int n,
                       const g4_gen_params *p);

/* Checks a prompt against a context size and the vocabulary (clear errors). */
g4_status g4_gen_check_prompt(const g4_engine *e, const int32_t *prompt, size_t n_prompt, int n_ctx, g4_error *err);

/* ---- the per-token pipeline, shared by g4_gen_run and the server's batched scheduler ----
 * logits -> grammar mask -> sampler -> end check -> text -> stop strings -> parser -> callbacks */
typedef struct {
    unsigned char pend[4];
    int n, need;
} g4_u8fix;

typedef struct g4_tokpipe {
    const g4_gen_params *p;
    const g4_vocab *v;
    int V;
    g4_sampler *smp;
    g4_stopper *stop;
    g4_outparser *op;
    g4_gstate *gram;
    float *scratch;
    g4_u8fix u8;
    g4_buf text, emit;
    g4_token_prob top[20];
    int n_top;
    bool stopped;
    int n_gen, n_calls;
    g4_finish finish;
} g4_tokpipe;

g4_status g4_tokpipe_init(g4_tokpipe *t, const g4_engine *e, const g4_gen_params *p, g4_error *err);
void g4_tokpipe_free(g4_tokpipe *t);
/* Prompt tokens count for the repetition penalties, as in llama.cpp. */
void g4_tokpipe_prompt(g4_tokpipe *t, const int32_t *toks, int n);
/* Samples the next token from logits and runs it through the pipeline. *tok is the token
 * to evaluate next (unless *done); *done when the output ended (t->finish says why). */
g4_status g4_tokpipe_step(g4_tokpipe *t, const float *logits, int32_t *tok, bool *done, g4_error *err);
/* End of generation: flushes held-back text and the parser. */
g4_status g4_tokpipe_end(g4_tokpipe *t, g4_error *err);

#endif
