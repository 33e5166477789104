/* vocab.h — the Gemma 4 token table built from plain arrays (no GGUF dependency).
 *
 * Holds a copy of every token text, its type, a hash map text -> symbol id and a hash
 * map merge pair (left symbol, right symbol) -> (rank, merged symbol). Immutable after
 * g4_vocab_create; share freely between threads. The loader that reads these arrays from
 * a GGUF file lives in src/model/vocab_gguf.h so that src/text depends on src/core only. */
#ifndef G4_TEXT_VOCAB_H
#define G4_TEXT_VOCAB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "g4.h"

/* GGUF / llama.cpp token types (tokenizer.ggml.token_type). */
typedef enum {
    G4_TOKEN_UNDEFINED = 0,
    G4_TOKEN_NORMAL = 1,
    G4_TOKEN_UNKNOWN = 2,
    G4_TOKEN_CONTROL = 3,
    G4_TOKEN_USER_DEFINED = 4,
    G4_TOKEN_UNUSED = 5,
    G4_TOKEN_BYTE = 6
} g4_token_type;

typedef struct {
    size_t n_tokens;
    const char *const *tokens;  /* n_tokens texts (need not be NUL-terminated if lens given) */
    const size_t *token_lens;   /* NULL: strlen of each text */
    const int32_t *token_types; /* NULL: every token NORMAL */
    size_t n_merges;
    const char *const *merges;  /* "left right", split at the first space at offset >= 1 */
    const size_t *merge_lens;   /* NULL: strlen */
    int32_t bos_id, eos_id, unk_id; /* -1 when absent */
    bool add_bos;
} g4_vocab_desc;

typedef struct g4_vocab g4_vocab;

g4_status g4_vocab_create(const g4_vocab_desc *d, g4_vocab **out, g4_error *err);
void g4_vocab_free(g4_vocab *v);

int32_t g4_vocab_n_tokens(const g4_vocab *v);
int32_t g4_vocab_bos(const g4_vocab *v);
int32_t g4_vocab_eos(const g4_vocab *v);
int32_t g4_vocab_unk(const g4_vocab *v);
bool g4_vocab_add_bos(const g4_vocab *v);
/* Token text (not NUL-terminated) or NULL for an out-of-range id. */
const char *g4_vocab_text(const g4_vocab *v, int32_t id, size_t *len);
/* Effective type (end-of-generation tokens are forced to CONTROL, as llama.cpp does);
 * G4_TOKEN_UNDEFINED for an out-of-range id. */
g4_token_type g4_vocab_type(const g4_vocab *v, int32_t id);
/* Id of the token whose text is exactly s[0..len), or -1. */
int32_t g4_vocab_find(const g4_vocab *v, const char *s, size_t len);
/* Rank of the merge (a, b), or -1. */
int32_t g4_vocab_merge_rank(const g4_vocab *v, const char *a, size_t alen, const char *b,
                            size_t blen);
/* BPE symbols, for the tokenizer: every token is a symbol (same id), and so is every
 * string that occurs in the merge list as a part or a result without being a token (ids
 * n_tokens .. n_symbols-1; never emitted, they fall back to bytes). */
int32_t g4_vocab_n_symbols(const g4_vocab *v);
/* Symbol id of the string s[0..len) (a token id when it is a token), or -1. */
int32_t g4_vocab_symbol(const g4_vocab *v, const char *s, size_t len);
/* The merge of symbols (a, b): its rank and the symbol id of the merged string. */
bool g4_vocab_merge_ids(const g4_vocab *v, int32_t a, int32_t b, int32_t *rank,
                        int32_t *result);
/* Pre-split for BPE: characters (UTF-8 sequences as the tokenizer cuts a word, packed by
 * g4_vocab_pack_char) a and b, adjacent in a word, can end up in one piece only when some
 * merge joins a piece ending in a to a piece starting with b. When this returns false,
 * BPE on the two sides of the boundary is independent. */
uint32_t g4_vocab_pack_char(const char *s, size_t len); /* len 1..4 */
bool g4_vocab_may_join(const g4_vocab *v, uint32_t a, uint32_t b);
/* The token for byte value b (<0xXX>), or -1 when the vocabulary lacks it. */
int32_t g4_vocab_byte_token(const g4_vocab *v, uint8_t b);
/* End of generation: <eos> (and eos_id), <turn|>, <|tool_response>. Never </s>. */
bool g4_vocab_is_eog(const g4_vocab *v, int32_t id);

/* Special tokens (CONTROL, USER_DEFINED, UNKNOWN) ordered as matched in text: longest
 * text first, ties by id. */
size_t g4_vocab_n_special(const g4_vocab *v);
int32_t g4_vocab_special_at(const g4_vocab *v, size_t i);
/* Length in bytes of the longest special token text (bounds the matches at one place). */
size_t g4_vocab_max_special_len(const g4_vocab *v);
/* Position of token id in that order, or -1 when id is not special. */
int32_t g4_vocab_special_rank(const g4_vocab *v, int32_t id);
/* Special tokens whose text occurs at s[0..): writes up to cap ids (shortest first) and
 * returns how many matched. */
size_t g4_vocab_special_prefixes(const g4_vocab *v, const char *s, size_t len, int32_t *ids,
                                 size_t cap);

#endif
