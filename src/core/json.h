/* json.h — a strict RFC 8259 JSON parser, a small DOM, builders and a compact writer
 * whose output is byte-identical to JavaScript's JSON.stringify.
 *
 * Parsing (g4_json_parse) is strict: no comments, no trailing commas, no leading zeros,
 * no leading '+', no NaN/Infinity literals, no byte-order mark, no raw control characters
 * in strings, only the JSON escapes, nesting at most G4_JSON_MAX_DEPTH. Choices (the
 * reference semantics are JavaScript's JSON.parse):
 *   - The input must be valid UTF-8 (no overlong forms, no encoded surrogates, nothing
 *     above U+10FFFF); invalid bytes are rejected with their line:column.
 *   - \uXXXX escapes, including surrogate pairs, become UTF-8. A lone surrogate escape
 *     (\uD800 not followed by a low surrogate, or a lone \uDC00) becomes U+FFFD, so every
 *     string in the DOM is valid UTF-8 (JavaScript would keep the lone UTF-16 unit).
 *   - Strings may contain U+0000 (\u0000); every string carries its byte length.
 *   - Duplicate object keys: the last value wins and the member keeps the position of
 *     the first occurrence (exactly what JSON.parse does).
 *   - Numbers are parsed to the nearest double; literals too large for a double become
 *     +-infinity (JSON.parse gives Infinity), tiny ones become 0 or a subnormal. The
 *     literal text is kept (g4_json_number_text).
 *   - Error messages give line:column (1-based; columns count Unicode code points).
 *
 * Objects keep their members in insertion order (key_at/value_at). JavaScript orders
 * the keys of a parsed object differently in one case: keys that are array indices
 * ("0".."4294967294" in canonical form) come first, in ascending numeric order.
 * g4_json_write follows JavaScript there (it must equal JSON.stringify); the accessors
 * do not reorder.
 *
 * Ownership: every node returned by a parse or a builder belongs to its root; free the
 * root with g4_json_free. Accessors return borrowed pointers, valid until the root is
 * freed or the container is modified. */
#ifndef G4_CORE_JSON_H
#define G4_CORE_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "g4.h"

#define G4_JSON_MAX_DEPTH 512

typedef enum {
    G4_JSON_NULL = 0,
    G4_JSON_BOOL,
    G4_JSON_NUMBER,
    G4_JSON_STRING,
    G4_JSON_ARRAY,
    G4_JSON_OBJECT
} g4_json_type;

typedef struct g4_json g4_json;

/* Parses text[0..len). On success *out is the root (free with g4_json_free). On failure
 * *out is NULL and the status is G4_ERR_FORMAT (bad JSON) or G4_ERR_NOMEM. */
g4_status g4_json_parse(const char *text, size_t len, g4_json **out, g4_error *err);
void g4_json_free(g4_json *j); /* NULL is a no-op; frees the whole subtree */

/* ---- reading (every accessor accepts NULL and returns the "empty" answer) ---- */
g4_json_type g4_json_type_of(const g4_json *j); /* G4_JSON_NULL for NULL */
const char *g4_json_type_name(g4_json_type t);  /* "null", "boolean", "number", ... */
bool g4_json_is_null(const g4_json *j);         /* true for a JSON null (not for NULL) */
bool g4_json_is_bool(const g4_json *j);
bool g4_json_is_number(const g4_json *j);
bool g4_json_is_string(const g4_json *j);
bool g4_json_is_array(const g4_json *j);
bool g4_json_is_object(const g4_json *j);
bool g4_json_bool(const g4_json *j);     /* false unless a JSON true */
double g4_json_number(const g4_json *j); /* 0 unless a number */
/* True when the number was written as an integer literal (no fraction, no exponent),
 * or built with g4_json_new_int. */
bool g4_json_number_is_int(const g4_json *j);
/* The literal as written in the parsed text (e.g. "1.0", "1e21", "-0"); NULL for
 * numbers made by the builders or non-numbers. */
const char *g4_json_number_text(const g4_json *j, size_t *len);
/* An integer literal (or g4_json_new_int) whose exact value fits in int64_t. Values
 * above 2^53 are taken from the literal text, not the rounded double. */
bool g4_json_int64(const g4_json *j, int64_t *out);
/* String bytes (NUL-terminated for convenience; may contain NULs, so use *len). NULL
 * unless a string. len may be NULL. */
const char *g4_json_string(const g4_json *j, size_t *len);
size_t g4_json_len(const g4_json *j);            /* array elements / object members */
g4_json *g4_json_at(const g4_json *arr, size_t i); /* NULL when out of range / not array */
const char *g4_json_key_at(const g4_json *obj, size_t i, size_t *len);
g4_json *g4_json_value_at(const g4_json *obj, size_t i);
/* Member lookup; NULL if absent or obj is not an object. */
g4_json *g4_json_get(const g4_json *obj, const char *key);
g4_json *g4_json_getn(const g4_json *obj, const char *key, size_t key_len);
/* Convenience: the member's string (NULL unless it is a string). */
const char *g4_json_get_str(const g4_json *obj, const char *key, size_t *len);

/* The order in which JavaScript enumerates the members of obj (Object.keys of the value
 * JSON.parse would build): array-index keys ("0".."4294967294", canonical form) first in
 * ascending numeric order, then the other keys in insertion order. On success *order is
 * NULL when that is simply insertion order, else a malloc'd permutation of
 * [0, g4_json_len(obj)) the caller frees. Returns false only when out of memory. */
bool g4_json_js_order(const g4_json *obj, size_t **order);

/* ---- building (return NULL when out of memory) ---- */
g4_json *g4_json_new_null(void);
g4_json *g4_json_new_bool(bool v);
g4_json *g4_json_new_number(double v);
g4_json *g4_json_new_int(int64_t v);
g4_json *g4_json_new_string(const char *s, size_t len); /* copies s[0..len) */
g4_json *g4_json_new_cstr(const char *s);              /* copies a C string */
g4_json *g4_json_new_array(void);
g4_json *g4_json_new_object(void);
g4_json *g4_json_clone(const g4_json *j); /* deep copy; NULL on OOM or NULL input */
/* Appends item to arr, taking ownership of item. On failure (arr not an array, item
 * NULL, out of memory) item is freed and false is returned. */
bool g4_json_append(g4_json *arr, g4_json *item);
/* Sets obj[key] = val, taking ownership of val: an existing member keeps its position
 * and gets the new value (the old one is freed), otherwise the member is appended.
 * On failure val is freed and false is returned. */
bool g4_json_set(g4_json *obj, const char *key, g4_json *val);
bool g4_json_setn(g4_json *obj, const char *key, size_t key_len, g4_json *val);

/* ---- writing ---- */
/* Appends the compact serialization of j, exactly as JavaScript's JSON.stringify would
 * print the equivalent value: numbers in Number-to-String form (1e+21, 1e-7, 0.1, 100;
 * -0 -> 0; non-finite -> null), strings escaped like JSON.stringify (", \, control
 * characters; everything else as UTF-8), array-index keys first in ascending order then
 * the other keys in insertion order. Out of memory sets b->oom. */
void g4_json_write(const g4_json *j, g4_buf *b);
/* JavaScript's Number.prototype.toString() (radix 10) of v: shortest round-trip
 * digits, "1e+21", "1e-7", "0.000001", "-1.5", "NaN", "Infinity", and -0 -> "0".
 * Writes a NUL-terminated string (at most 25 bytes) and returns its length. */
size_t g4_json_number_js(double v, char buf[32]);

#endif
