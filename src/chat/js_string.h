/* js_string.h — the JavaScript string semantics the chat renderer needs (render.c
 * reproduces the @huggingface/jinja engine, which runs on JavaScript strings), over UTF-8.
 *
 * Strings are s[0..n) in UTF-8. Bytes that are not well-formed UTF-8 (strict decoding,
 * core/utf8.h) count as one unit each: case mapping and trim copy them unchanged, the
 * UTF-16 functions count / compare them as U+FFFD. */
#ifndef G4_CHAT_JS_STRING_H
#define G4_CHAT_JS_STRING_H
#include <stddef.h>

#include "core/buf.h"

/* Append to out: String.prototype.toUpperCase / toLowerCase (full Unicode mapping of the
 * node/ICU the goldens were made with, final sigma included) and trim (the ECMAScript
 * white-space + line-terminator set) of s[0..n). */
void g4_chat_js_upper(const char *s, size_t n, g4_buf *out);
void g4_chat_js_lower(const char *s, size_t n, g4_buf *out);
void g4_chat_js_trim(const char *s, size_t n, g4_buf *out);

/* What trim keeps: s[*b .. *e). */
void g4_chat_js_trim_span(const char *s, size_t n, size_t *b, size_t *e);

/* JavaScript's a < b: by UTF-16 code units, so supplementary code points (surrogate pairs)
 * sort before U+E000..U+FFFF. Returns <0, 0 or >0. */
int g4_chat_js_utf16_cmp(const char *a, size_t na, const char *b, size_t nb);

/* str.length: the length in UTF-16 code units. */
size_t g4_chat_js_utf16_len(const char *s, size_t n);

/* ECMAScript StringToNumber (Number(str), used by loose equality of a number and a
 * string): trimmed; "" is 0; 0x / 0o / 0b integers; [+-]Infinity; decimal with optional
 * fraction and exponent; NaN for anything else. */
double g4_chat_js_to_number(const char *s, size_t n);

#endif
