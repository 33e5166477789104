/* tokenize.h — Gemma 4 text <-> token ids (llama.cpp "gemma4" tokenizer semantics).
 *
 * Encoding: special tokens are split out first (CONTROL and UNKNOWN only when
 * parse_special; USER_DEFINED always; longer texts take priority), then each plain
 * fragment gets ' ' -> U+2581, invalid UTF-8 bytes -> U+FFFD (as llama.cpp's code-point
 * pre-split does), is cut into runs of newlines / runs of everything else, and each run
 * is BPE-merged by rank (a newline run that is itself a token is emitted whole); pieces
 * not in the vocabulary fall back to <0xXX> byte tokens. add_special prepends <bos> when
 * the vocabulary says add_bos — always, even if the text starts with a parsed <bos>
 * (that is what llama.cpp does). */
#ifndef G4_TEXT_TOKENIZE_H
#define G4_TEXT_TOKENIZE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "g4.h"
#include "text/vocab.h"

/* *ids is malloc'd (free() it); it is non-NULL on success even when *n_ids == 0. */
g4_status g4_tokenize(const g4_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids, g4_error *err);

/* The bytes of one token: NORMAL / USER_DEFINED text with U+2581 -> ' ', BYTE tokens
 * their byte, CONTROL / UNKNOWN their text only when unparse_special (else nothing),
 * UNUSED / UNDEFINED nothing. Writes at most cap bytes (no NUL) and returns the full
 * length; an out-of-range id yields 0. */
size_t g4_token_piece(const g4_vocab *v, int32_t id, bool unparse_special, char *buf,
                      size_t cap);

/* Concatenated pieces. remove_special drops a leading <bos> when the vocabulary adds
 * one. *out is malloc'd and NUL-terminated (free() it). */
g4_status g4_detokenize(const g4_vocab *v, const int32_t *ids, size_t n_ids,
                        bool remove_special, bool unparse_special, char **out,
                        size_t *out_len, g4_error *err);

/* Streaming output that never splits a UTF-8 sequence: bytes of an incomplete trailing
 * sequence are held back until completed. Bytes that cannot start or continue a valid
 * sequence are passed through as they are. Zero-initialise before use. */
typedef struct {
    uint8_t pend[4];
    uint8_t n;
} g4_utf8_stream;

/* Appends in[0..n) and writes the bytes now safe to emit to out (room for n + 4 bytes
 * needed); returns how many were written. */
size_t g4_utf8_stream_feed(g4_utf8_stream *s, const char *in, size_t n, char *out);
/* End of stream: writes any held bytes (at most 4) to out and resets. */
size_t g4_utf8_stream_flush(g4_utf8_stream *s, char *out);

#endif
