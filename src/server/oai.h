/* oai.h — the OpenAI-compatible wire format, as pure functions: request bodies ->
 * g4_oai_request (validated, messages and tools normalised for the chat renderer), and
 * g4_oai_* formatters for every response body, stream chunk and error. No HTTP, no
 * model, no globals: the HTTP layer (routes, sockets, SSE writes) and the engine worker
 * (tokenize, generate, parse) use these. Field-by-field reference: docs/API.md.
 *
 * Conventions:
 *   - A JSON null counts as "absent" for every optional request field.
 *   - Unknown fields are ignored; a known field of the wrong type or out of range gives
 *     a 400 invalid_request_error whose `param` names it ("messages[2].content",
 *     "tools[0].function.parameters", "stream_options.include_usage").
 *   - Formatters append to a g4_buf (check g4_buf_ok once at the end). Strings written
 *     into JSON are UTF-8; invalid bytes (e.g. a token that is half of a character)
 *     become U+FFFD, so every body is valid JSON. Numbers print like JSON.stringify. */
#ifndef G4_SERVER_OAI_H
#define G4_SERVER_OAI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"
#include "sample/sample.h"

/* ====================================================================================
 * Errors
 * ==================================================================================== */

typedef struct {
    int status;        /* HTTP status: 400, 401, 404, 405, 413, 500, 503 */
    const char *type;  /* static string: "invalid_request_error", "authentication_error",
                          "not_found_error", "server_error", "unavailable_error" */
    char param[128];   /* "" = null */
    char code[64];     /* "" = null */
    char message[512];
} g4_oai_error;

/* Fills e (any previous content is replaced). type must be a static string; param and
 * code may be NULL (= null). */
void g4_oai_error_set(g4_oai_error *e, int status, const char *type, const char *param,
                      const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* 400 invalid_request_error with param. */
void g4_oai_error_invalid(g4_oai_error *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Common errors with OpenAI's wording (status, type, code):
 * 401 authentication_error / invalid_api_key; 404 not_found_error (the path);
 * 405 invalid_request_error / method_not_allowed; 413 invalid_request_error /
 * request_too_large; 503 unavailable_error (reason, e.g. "Loading model", "Server busy");
 * 500 server_error. */
void g4_oai_error_auth(g4_oai_error *e);
void g4_oai_error_not_found(g4_oai_error *e, const char *path);
void g4_oai_error_method(g4_oai_error *e, const char *method, const char *path);
void g4_oai_error_too_large(g4_oai_error *e, size_t limit);
void g4_oai_error_unavailable(g4_oai_error *e, const char *reason);
void g4_oai_error_server(g4_oai_error *e, const char *reason);

/* 400 context_length_exceeded, param "messages" (chat) or "prompt":
 * "This model's maximum context length is N tokens. However, your messages resulted in
 * M tokens (by K too many)." One position is reserved for the first generated token, so
 * the error applies when n_prompt >= n_ctx and K = n_prompt - n_ctx + 1. */
void g4_oai_error_context(g4_oai_error *e, bool chat, int n_prompt, int n_ctx);
/* True (and *e filled) when a prompt of n_prompt tokens leaves no room in n_ctx. */
bool g4_oai_context_exceeded(bool chat, int n_prompt, int n_ctx, g4_oai_error *e);

/* {"error":{"message":...,"type":...,"param":...|null,"code":...|null}} */
void g4_oai_error_json(const g4_oai_error *e, g4_buf *out);
/* The same, framed as one SSE event ("data: {...}\n\n"): an error after the stream began. */
void g4_oai_error_sse(const g4_oai_error *e, g4_buf *out);

/* ====================================================================================
 * Requests: POST /v1/chat/completions and POST /v1/completions
 * ==================================================================================== */

typedef enum { G4_TOOL_AUTO, G4_TOOL_NONE, G4_TOOL_REQUIRED, G4_TOOL_NAMED } g4_tool_choice;
typedef enum { G4_RF_TEXT, G4_RF_JSON_OBJECT, G4_RF_JSON_SCHEMA } g4_resp_format;

typedef struct {
    bool chat; /* /v1/chat/completions (true) or /v1/completions */
    char *model; /* as sent; "" when absent */

    /* chat */
    g4_json *messages; /* owned: the normalised array g4_chat_render takes (see docs/API.md) */
    g4_json *tools;    /* owned: normalised function tools; NULL when none */
    int n_images;      /* image parts (image_url / image) in the messages */
    int n_audio;       /* audio parts (input_audio / audio) in the messages */

    /* completions: a text prompt, or token ids */
    char *prompt;      /* owned, NUL-terminated; NULL when the prompt is token ids */
    size_t prompt_len;
    int32_t *prompt_tokens; /* owned; NULL unless the prompt was an array of token ids */
    size_t n_prompt_tokens;

    g4_tool_choice tool_choice; /* default AUTO (NONE when there are no tools) */
    char *tool_name;            /* owned; the function of G4_TOOL_NAMED, else NULL */
    bool parallel_tool_calls;   /* default true */
    g4_resp_format response_format;
    g4_json *schema; /* owned, raw (not normalised); NULL unless a JSON schema was given */

    bool enable_thinking;   /* resolved (docs/API.md "Thinking"); the default when not set */
    bool thinking_explicit; /* the request said something about thinking */
    bool preserve_thinking; /* chat_template_kwargs.preserve_thinking (default false) */

    int max_tokens; /* -1 = not given (or -1 sent: until the context is full) */
    g4_sampler_params sampling; /* defaults overlaid with the request; bias owned */
    char **stop;    /* owned; non-empty strings */
    size_t n_stop;
    bool ignore_eos; /* llama.cpp extension */

    int n;                /* choices, 1..G4_OAI_MAX_N */
    bool stream;
    bool include_usage;   /* stream_options.include_usage */
    bool logprobs;
    int top_logprobs;     /* 0..20 (completions: the integer `logprobs`) */
} g4_oai_request;

#define G4_OAI_MAX_N 16       /* `n` */
#define G4_OAI_MAX_STOP 64    /* stop strings */
#define G4_OAI_MAX_TOP_LOGPROBS 20
#define G4_OAI_MAX_SCHEMA_NODES 100000 /* schema nodes all tools may produce beyond 4x their input */
#define G4_OAI_MAX_SCHEMA_BYTES (16u << 20) /* and bytes beyond 4x their input */
#define G4_OAI_MAX_SCHEMA_DEPTH 128    /* nested schemas, $ref expansion included */

typedef struct {
    const g4_sampler_params *sampling; /* server defaults; NULL = g4_sampler_defaults() */
    bool enable_thinking;              /* thinking when the request does not say (false) */
} g4_oai_parse_opts;

/* Parses and validates body[0..len). On success fills *req (free with
 * g4_oai_request_free) and returns true. On failure returns false with *err filled
 * (400 invalid_request_error naming the field) and *req zeroed. opts may be NULL. */
bool g4_oai_parse_request(const char *body, size_t len, bool chat, const g4_oai_parse_opts *opts,
                          g4_oai_request *req, g4_oai_error *err);
void g4_oai_request_free(g4_oai_request *req); /* NULL and zeroed requests are fine */

/* Once the vocabulary size is known: logit_bias ids and prompt token ids must be in
 * [0, n_vocab). 400 naming "logit_bias" / "prompt" otherwise. */
bool g4_oai_check_vocab(const g4_oai_request *req, int32_t n_vocab, g4_oai_error *err);
/* ids[0..n) in [0, n_vocab), else a 400 naming param (e.g. "tokens" for /detokenize). */
bool g4_oai_check_token_ids(const int32_t *ids, size_t n, int32_t n_vocab, const char *param,
                            g4_oai_error *err);

/* Builds from a JSON array of OpenAI tools a new array that the Gemma 4 chat template
 * renders without error (rules in docs/API.md "Tool schemas"): non-function tools are
 * dropped; each function keeps name, description, parameters and response; every schema
 * gets a string `type` wherever the template upper-cases one (unions -> first non-null
 * type + nullable, anyOf/oneOf -> first non-null branch + nullable, allOf merged, local
 * $ref resolved, a missing type inferred), objects without `properties` get
 * `properties: {}`, and $schema/$id/$defs/definitions/$comment/$anchor are removed.
 * Well-formed schemas render exactly as before. Returns the new array (the caller frees
 * it), or NULL with a 400 naming "tools[i]..." (not an array, no function name,
 * parameters not an object, a schema nested deeper than G4_OAI_MAX_SCHEMA_DEPTH, or
 * schemas that expand ($ref) to more than G4_OAI_MAX_SCHEMA_NODES nodes or
 * G4_OAI_MAX_SCHEMA_BYTES bytes beyond 4x the input, all tools together) or a 500 when
 * out of memory. Linear in the size of the output. */
g4_json *g4_oai_normalize_tools(const g4_json *tools, g4_oai_error *err);

/* Renders the request's prompt: chat -> g4_chat_render(messages, tools) with the
 * request's thinking flags (large_layout: 12B/26B/31B template, else E2B/E4B); text
 * completions -> the prompt as is. Appends to out. A template error becomes a 400 with
 * param "messages". *ends_in_thought (may be NULL) tells whether the prompt ends inside
 * an open thought channel (output starts as reasoning). Token-id prompts: false + 400. */
bool g4_oai_render_prompt(const g4_oai_request *req, bool large_layout, g4_buf *out,
                          bool *ends_in_thought, g4_oai_error *err);

/* max_tokens to generate: the free context (n_ctx - n_prompt, at least 0) when requested
 * is < 0 (absent) or larger; otherwise requested. Never an error: clients send
 * max_tokens: 32000 on small contexts. */
int g4_oai_clamp_max_tokens(int requested, int n_prompt, int n_ctx);

/* ====================================================================================
 * Ids
 * ==================================================================================== */

/* prefix + 24 characters of [0-9A-Za-z], a pure function of (seed, counter):
 * g4_oai_make_id("call_", seed, k, buf, sizeof buf). Writes at most cap bytes including
 * the NUL (truncating) and returns the full length. */
size_t g4_oai_make_id(const char *prefix, uint64_t seed, uint64_t counter, char *buf, size_t cap);

/* ====================================================================================
 * Responses
 * ==================================================================================== */

typedef enum {
    G4_OAI_FINISH_NONE = 0, /* null (stream chunks before the last) */
    G4_OAI_FINISH_STOP,
    G4_OAI_FINISH_LENGTH,
    G4_OAI_FINISH_TOOL_CALLS
} g4_oai_finish;
const char *g4_oai_finish_str(g4_oai_finish f); /* "stop", "length", "tool_calls"; NULL */

/* What every body of one response repeats. */
typedef struct {
    bool chat;                      /* "chat.completion(.chunk)" vs "text_completion" */
    const char *id;                 /* "chatcmpl-..." / "cmpl-..." */
    int64_t created;                /* unix seconds */
    const char *model;              /* the request's model name (NULL = "") */
    const char *system_fingerprint; /* NULL = omitted */
    bool reasoning_alias;           /* also write "reasoning" next to "reasoning_content" */
} g4_oai_meta;

typedef struct {
    int prompt_tokens;
    int completion_tokens; /* reasoning included */
    int cached_tokens;     /* prompt tokens reused from the cache */
    int reasoning_tokens;
    /* speculative decoding (written only when on): OpenAI's predicted-output fields
     * completion_tokens_details.accepted/rejected_prediction_tokens, and llama-server's
     * "timings": {"draft_n", "draft_n_accepted"} */
    bool speculative;
    int draft_tokens, accepted_draft_tokens;
} g4_oai_usage;

/* One token's text (raw bytes, may be part of a UTF-8 character) and log-probability.
 * -inf (probability 0) is written as -9999. */
typedef struct {
    const char *text;
    size_t len;
    float logprob;
} g4_oai_logprob;

typedef struct {
    g4_oai_logprob tok;       /* the chosen token */
    const g4_oai_logprob *top; /* the most likely alternatives, best first */
    size_t n_top;
    size_t text_offset;       /* completions only: offset of the token in the text */
} g4_oai_token_logprobs;

typedef struct {
    const char *id;        /* "call_..." */
    const char *name;      /* NUL-terminated */
    const char *arguments; /* JSON object text (written as a JSON string) */
    size_t arguments_len;
} g4_oai_tool_call;

/* One choice of a non-streamed response. */
typedef struct {
    const char *content; /* chat: message.content; completions: text (NULL = "") */
    size_t content_len;
    const char *reasoning; /* NULL or empty = no reasoning fields */
    size_t reasoning_len;
    const g4_oai_tool_call *tool_calls;
    size_t n_tool_calls;
    g4_oai_finish finish;
    bool logprobs;         /* write logprobs (else null) */
    const g4_oai_token_logprobs *lp;
    size_t n_lp;
} g4_oai_choice;

/* chat.completion / text_completion body with choices[0..n) and usage. message.content
 * is null when the choice has tool calls and no content. */
void g4_oai_format_response(const g4_oai_meta *m, const g4_oai_choice *choices, size_t n,
                            const g4_oai_usage *u, g4_buf *out);

/* One streamed delta. Set the parts that are present; an all-empty delta with a finish
 * reason is the final chunk. */
typedef struct {
    int index;              /* choice */
    bool role;              /* first chunk: delta {"role":"assistant","content":""} */
    const char *content;    /* NULL = absent (completions: the text; NULL = "") */
    size_t content_len;
    const char *reasoning;  /* NULL = absent */
    size_t reasoning_len;
    /* tool call delta: tool_index >= 0. With tool_id/tool_name it is the call's first
     * delta (index, id, type, function {name, arguments ""+args}); without, an arguments
     * piece (index, function {arguments}). */
    int tool_index;         /* -1 = none */
    const char *tool_id;
    const char *tool_name;
    const char *tool_args;
    size_t tool_args_len;
    g4_oai_finish finish;
    const g4_oai_token_logprobs *lp; /* logprobs of the tokens in this delta */
    size_t n_lp;
    bool logprobs;          /* write a logprobs object (else null) */
} g4_oai_delta;

static inline g4_oai_delta g4_oai_delta_init(int index) {
    g4_oai_delta d = {0};
    d.index = index;
    d.tool_index = -1;
    return d;
}

/* "data: {chunk}\n\n" for one delta. */
void g4_oai_format_chunk(const g4_oai_meta *m, const g4_oai_delta *d, g4_buf *out);
/* "data: {... "choices":[],"usage":{...}}\n\n" (stream_options.include_usage). */
void g4_oai_format_usage_chunk(const g4_oai_meta *m, const g4_oai_usage *u, g4_buf *out);
/* "data: [DONE]\n\n" */
void g4_oai_format_done(g4_buf *out);
/* The usage object alone. */
void g4_oai_format_usage(const g4_oai_usage *u, g4_buf *out);

/* ---- GET /v1/models, GET /health ---- */
typedef struct {
    const char *id;       /* served model name */
    int64_t created;
    const char *owned_by; /* NULL = "gemma4c" */
    int n_ctx;            /* 0 = omitted from meta */
    int n_ctx_train;
    int n_vocab;
    int64_t n_params;
    int64_t size;         /* bytes */
} g4_oai_model_info;
/* {"object":"list","data":[{"id","object":"model","created","owned_by","meta":{...}}]} */
void g4_oai_format_models(const g4_oai_model_info *models, size_t n, g4_buf *out);
void g4_oai_format_health(g4_buf *out); /* {"status":"ok"} */

/* ---- POST /tokenize, POST /detokenize (llama-server's shapes) ---- */
typedef struct {
    char *content;      /* owned, NUL-terminated */
    size_t content_len;
    bool add_special;   /* prepend <bos> (default false) */
    bool parse_special; /* control-token texts become control tokens (default true) */
    bool with_pieces;   /* answer [{id, piece}] instead of ids */
} g4_oai_tokenize_req;
bool g4_oai_parse_tokenize(const char *body, size_t len, g4_oai_tokenize_req *r, g4_oai_error *err);
void g4_oai_tokenize_req_free(g4_oai_tokenize_req *r);

typedef struct {
    int32_t *tokens; /* owned */
    size_t n_tokens;
} g4_oai_detokenize_req;
bool g4_oai_parse_detokenize(const char *body, size_t len, g4_oai_detokenize_req *r,
                             g4_oai_error *err);
void g4_oai_detokenize_req_free(g4_oai_detokenize_req *r);

/* {"tokens":[ids]} or, with pieces (pieces[i] = bytes of token i, lens[i] its length),
 * {"tokens":[{"id":N,"piece":"text"}]} where a piece that is not valid UTF-8 is written
 * as an array of its bytes (as llama-server does). */
void g4_oai_format_tokens(const int32_t *ids, size_t n, const char *const *pieces,
                          const size_t *lens, g4_buf *out);
void g4_oai_format_detokenized(const char *text, size_t len, g4_buf *out); /* {"content":...} */

/* Appends s[0..len) as a JSON string literal, invalid UTF-8 replaced by U+FFFD. */
void g4_oai_put_str(g4_buf *out, const char *s, size_t len);

#endif
