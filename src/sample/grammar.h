/* grammar.h — constrained decoding: JSON (any object, or a JSON Schema subset) and Gemma 4
 * tool calls, enforced by masking logits token by token (docs/GRAMMAR.md).
 *
 * Three objects:
 *   g4_grammar  a compiled schema / tool set. Immutable; share it between threads.
 *   g4_gvocab   the per-vocabulary index the matcher needs (a byte trie of every text token,
 *               per-token summaries for string content, the special-token ids). Building
 *               it walks the whole vocabulary (~0.1 s for 262144 tokens), so build it once
 *               per vocabulary and share it (immutable, thread-safe).
 *   g4_gstate   the matcher of one generation: where in the grammar the output is. One
 *               thread at a time. Allocates only when a state needs more room than ever
 *               before (its arenas grow and are kept).
 *
 * Loop:
 *     g4_gstate_mask(st, logits);          // disallowed tokens -> -INFINITY
 *     tok = g4_sampler_sample(smp, logits);
 *     g4_gstate_accept(st, tok);           // false: tok was not allowed
 *     if (g4_vocab_is_eog(v, tok)) break;
 *
 * End-of-generation tokens (g4_vocab_is_eog) are allowed exactly when the output so far
 * is complete; once nothing but an end can follow, only they are allowed. Output shapes:
 *   g4_grammar_json       a JSON value (text, as the model writes it) that g4_json_parse
 *                         accepts and g4_schema_validate accepts against the schema;
 *   g4_grammar_tool_call  `<|tool_call>call:NAME{args}<tool_call|>` one or more times
 *                         (Gemma object notation, strings as `<|"|>`...`<|"|>` tokens),
 *                         which src/chat/parse.h turns into {name, arguments JSON} with
 *                         arguments valid against the tool's `parameters`.
 * Neither grammar allows a leading thought channel: the grammar starts at the first
 * generated token (start the matcher after `<channel|>` to allow thinking first). */
#ifndef G4_SAMPLE_GRAMMAR_H
#define G4_SAMPLE_GRAMMAR_H
#include <stdbool.h>
#include <stdint.h>

#include "core/json.h"
#include "g4.h"
#include "text/tokenize.h"
#include "text/vocab.h"

typedef struct g4_grammar g4_grammar;
typedef struct g4_gvocab g4_gvocab;
typedef struct g4_gstate g4_gstate;

/* A JSON value for response_format. schema NULL: any JSON object (json_object mode).
 * Otherwise a JSON Schema (the subset in docs/GRAMMAR.md; unknown keywords are ignored).
 * Errors: G4_ERR_ARG (schema is not an object/boolean, `false`, a $ref that does not
 * resolve, bounds that no value satisfies), G4_ERR_UNSUPPORTED (limits: nesting deeper
 * than 64 schema levels, more than 2^20 grammar nodes / literal bytes, minItems or
 * minLength above 4096 ...), G4_ERR_NOMEM. The schema is not kept (copy what you need). */
g4_status g4_grammar_json(const g4_json *schema, g4_grammar **out, g4_error *err);

/* Gemma 4 tool call(s). tools: an OpenAI `tools` array (`{"type":"function","function":
 * {"name","parameters"}}`, or the flat `{"type":"function","name","parameters"}` form;
 * entries of other types are skipped). only: the function that must be called (NULL:
 * any of the tools). parallel: one or more calls, else exactly one. A tool without
 * `parameters` takes `{}`. Errors as above, plus G4_ERR_ARG when no usable tool is left or
 * `only` names no tool. */
g4_status g4_grammar_tool_call(const g4_json *tools, const char *only, bool parallel,
                               g4_grammar **out, g4_error *err);

void g4_grammar_free(g4_grammar *g); /* NULL is a no-op */

/* What the index needs to know about the vocabulary. (The grammar engine itself does not
 * depend on src/text; g4_gvocab_new below fills this from a g4_vocab.) */
typedef struct {
    int32_t n_tokens;
    const void *user;
    /* G4_GTOK_TEXT: generated as the bytes piece() gives; G4_GTOK_EOG: ends generation;
     * G4_GTOK_NEVER: never allowed under a grammar (control tokens, markers, unused). */
    int (*token_class)(const void *user, int32_t id);
    /* The bytes of a text token (g4_token_piece semantics); returns the full length. */
    size_t (*piece)(const void *user, int32_t id, char *buf, size_t cap);
    /* The id of the special token whose text is s[0..len) (`<|"|>` ...), or -1. */
    int32_t (*find_special)(const void *user, const char *s, size_t len);
} g4_gvocab_desc;
enum { G4_GTOK_NEVER = 0, G4_GTOK_TEXT = 1, G4_GTOK_EOG = 2 };

g4_status g4_gvocab_build(const g4_gvocab_desc *d, g4_gvocab **out, g4_error *err);
void g4_gvocab_free(g4_gvocab *gv); /* NULL is a no-op */

/* The index of a Gemma vocabulary: text tokens are NORMAL / BYTE / UNDEFINED ones with a
 * non-empty piece; end tokens are g4_vocab_is_eog; USER_DEFINED tokens (Gemma's markers)
 * and CONTROL tokens are never text — the three the tool grammar uses are matched by id. */
static inline int g4_gvocab_class_(const void *u, int32_t id) {
    const g4_vocab *v = (const g4_vocab *)u;
    if (g4_vocab_is_eog(v, id)) return G4_GTOK_EOG;
    g4_token_type t = g4_vocab_type(v, id);
    return t == G4_TOKEN_NORMAL || t == G4_TOKEN_BYTE || t == G4_TOKEN_UNDEFINED ? G4_GTOK_TEXT
                                                                                : G4_GTOK_NEVER;
}
static inline size_t g4_gvocab_piece_(const void *u, int32_t id, char *buf, size_t cap) {
    return g4_token_piece((const g4_vocab *)u, id, false, buf, cap);
}
static inline int32_t g4_gvocab_special_(const void *u, const char *s, size_t len) {
    const g4_vocab *v = (const g4_vocab *)u;
    int32_t id = g4_vocab_find(v, s, len);
    g4_token_type t = g4_vocab_type(v, id);
    return id >= 0 && (t == G4_TOKEN_USER_DEFINED || t == G4_TOKEN_CONTROL) ? id : -1;
}
static inline g4_status g4_gvocab_new(const g4_vocab *v, g4_gvocab **out, g4_error *err) {
    g4_gvocab_desc d = {v ? g4_vocab_n_tokens(v) : 0, v, g4_gvocab_class_, g4_gvocab_piece_,
                        g4_gvocab_special_};
    return g4_gvocab_build(v ? &d : NULL, out, err);
}

/* g and gv must outlive the state. Fails with G4_ERR_UNSUPPORTED when the grammar needs a
 * special token the vocabulary lacks (`<|"|>`, `<|tool_call>`, `<tool_call|>`). */
g4_status g4_gstate_new(const g4_grammar *g, const g4_gvocab *gv, g4_gstate **out,
                        g4_error *err);
void g4_gstate_free(g4_gstate *s);   /* NULL is a no-op */
void g4_gstate_reset(g4_gstate *s);  /* back to the start; the budget is turned off */

/* At most n_tokens more tokens will be generated (e.g. the request's max_tokens; < 0 turns
 * this off, the default). From now on the mask also keeps the output completable within
 * the tokens that remain, counting one token per byte (and per special token) of the
 * shortest completion, so with a budget of at least g4_gstate_min_tokens() the output is
 * complete before the budget runs out — for any model. When the budget is already too
 * small, the mask only allows tokens that shorten the shortest completion. */
void g4_gstate_set_budget(g4_gstate *s, int64_t n_tokens);
/* Bytes (special tokens count 1) of the shortest completion from here; 0 when complete. */
int64_t g4_gstate_min_tokens(const g4_gstate *s);

/* Sets logits[t] = -INFINITY for every token t of the vocabulary that cannot continue the
 * output (logits has g4_vocab_n_tokens() entries; the others are left alone). */
void g4_gstate_mask(g4_gstate *s, float *logits);
/* Advances by token; returns false (and changes nothing) when the mask would have banned
 * it (budget aside). An end-of-generation token is accepted only when complete. */
bool g4_gstate_accept(g4_gstate *s, int32_t token);
/* Whether g4_gstate_accept would take token (budget aside); changes nothing visible. */
bool g4_gstate_can_accept(g4_gstate *s, int32_t token);
/* The output so far is a complete value / call sequence (an end token may come now). */
bool g4_gstate_complete(const g4_gstate *s);
/* Complete and nothing but an end token can follow (stop without sampling, if you like). */
bool g4_gstate_finished(const g4_gstate *s);

/* ---- validation ----------------------------------------------------------------------
 * Checks value against schema with the keyword subset the grammars implement (the same
 * semantics: see docs/GRAMMAR.md; oneOf counts as anyOf, absent additionalProperties allows
 * any extra member as JSON Schema says). G4_OK when valid; G4_ERR_FORMAT with the path and
 * the reason ("$.items[2].id: expected integer") when not; G4_ERR_UNSUPPORTED when $ref
 * nesting exceeds 64. */
g4_status g4_schema_validate(const g4_json *schema, const g4_json *value, g4_error *err);

#endif
