/* utf8.h — UTF-8 encoding and decoding shared by the tokenizer, the JSON parser, the
 * chat renderer and the output parser. Header-only (small and on hot paths).
 *
 * There are two decoders on purpose, because the call sites must reproduce two different
 * references byte for byte:
 *
 *   g4_utf8_decode          strict (Unicode "well-formed", RFC 3629): JSON input, and the
 *                           JavaScript string functions of the chat renderer.
 *   g4_utf8_decode_lenient  llama.cpp's code-point split, which the tokenizer follows
 *                           (docs/TOKENIZER.md): only the bit pattern counts, so overlong
 *                           forms and surrogates decode; C0 80 is U+0000, ED A0 80 is
 *                           U+D800.
 *
 * and two lead-byte lengths to match: g4_utf8_lead_len (bit pattern) and
 * g4_utf8_lead_len_strict (only bytes that can start a well-formed sequence). One encoder
 * serves all. g4_utf8_u_escape reads JSON's \uXXXX (surrogate pairs), the same in the
 * strict JSON parser and the lenient output parser. tests/test_utf8.c checks the decoders
 * exhaustively against independently written references. */
#ifndef G4_CORE_UTF8_H
#define G4_CORE_UTF8_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define G4_UTF8_REPLACEMENT 0xFFFDu /* U+FFFD REPLACEMENT CHARACTER */

/* A continuation byte, 10xxxxxx. */
static inline bool g4_utf8_is_cont(uint8_t c) { return (c & 0xC0) == 0x80; }

/* The length the lead byte c announces by its bit pattern alone: 0xxxxxxx 1, 110xxxxx 2,
 * 1110xxxx 3, 11110xxx 4; 1 for a continuation byte and for F8..FF. C0/C1 give 2 and
 * F5..F7 give 4 (they cannot start a well-formed sequence). */
static inline size_t g4_utf8_lead_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

/* The length of the character at s[0..n), n > 0, by its lead byte alone, cut at n: how
 * the tokenizer steps through text it has already cleaned. */
static inline size_t g4_utf8_char_len(const char *s, size_t n) {
    size_t k = g4_utf8_lead_len((uint8_t)s[0]);
    return k < n ? k : n;
}

/* The length of the well-formed sequence c can start: C2..DF 2, E0..EF 3, F0..F4 4;
 * 1 for ASCII and for every byte that starts none (80..C1, F5..FF). */
static inline size_t g4_utf8_lead_len_strict(uint8_t c) {
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 1;
}

/* Writes cp as UTF-8 to out (1..4 bytes, no NUL) and returns the length. Every value up
 * to U+10FFFF uses the plain bit layout, surrogates included (U+D800 -> ED A0 80, which
 * the lenient tokenizer round-trips); a value above U+10FFFF writes U+FFFD. */
static inline size_t g4_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp > 0x10FFFF) cp = G4_UTF8_REPLACEMENT;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Strict decoding of the sequence at s[0..n): returns its length (1..4) and the code
 * point in *cp, or 0 with *cp = U+FFFD when s does not start with a well-formed
 * sequence: n == 0, a continuation or C0/C1/F5..FF lead byte, a sequence cut short by
 * n or by a byte that is not a continuation, an overlong form (E0 80..9F, F0 80..8F), a
 * surrogate (ED A0..BF) or a value above U+10FFFF (F4 90..BF). */
static inline size_t g4_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const uint8_t *p = (const uint8_t *)s;
    *cp = G4_UTF8_REPLACEMENT;
    if (!n) return 0;
    uint8_t c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t k = g4_utf8_lead_len_strict(c);
    if (k == 1 || n < k) return 0;
    uint8_t lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (p[1] < lo || p[1] > hi) return 0;
    uint32_t v = c & (0x7Fu >> k);
    for (size_t i = 1; i < k; i++) {
        if (!g4_utf8_is_cont(p[i])) return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    *cp = v;
    return k;
}

/* Lenient decoding of the sequence at s[0..n), n > 0, as llama.cpp splits text into code
 * points: a lead byte of g4_utf8_lead_len() k > 1 followed by k-1 continuation bytes
 * decodes by the bit pattern alone (overlong forms and surrogates included); a 4-byte
 * form above U+10FFFF gives U+FFFD and still takes its 4 bytes. Anything else (a stray
 * continuation byte, F8..FF, a lead byte without its continuations) gives U+FFFD for
 * that one byte. Returns the bytes taken (1..4), never 0. */
static inline size_t g4_utf8_decode_lenient(const char *s, size_t n, uint32_t *cp) {
    const uint8_t *p = (const uint8_t *)s;
    uint8_t c = p[0];
    *cp = G4_UTF8_REPLACEMENT;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    /* written out per length: this runs on every non-ASCII character the tokenizer sees */
    if ((c & 0xE0) == 0xC0) {
        if (n < 2 || !g4_utf8_is_cont(p[1])) return 1;
        *cp = (uint32_t)(c & 0x1F) << 6 | (p[1] & 0x3Fu);
        return 2;
    }
    if ((c & 0xF0) == 0xE0) {
        if (n < 3 || !g4_utf8_is_cont(p[1]) || !g4_utf8_is_cont(p[2])) return 1;
        *cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3Fu);
        return 3;
    }
    if ((c & 0xF8) == 0xF0) {
        if (n < 4 || !g4_utf8_is_cont(p[1]) || !g4_utf8_is_cont(p[2]) || !g4_utf8_is_cont(p[3]))
            return 1;
        uint32_t v = (uint32_t)(c & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                     (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3Fu);
        if (v <= 0x10FFFF) *cp = v;
        return 4;
    }
    return 1; /* a continuation byte or F8..FF */
}

/* The four hex digits at s[0..4) (either case) as a number in *v; false if one is not
 * a hex digit. */
static inline bool g4_utf8_hex4(const char *s, uint32_t *v) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char h = s[i];
        x <<= 4;
        if (h >= '0' && h <= '9') x |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f') x |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') x |= (uint32_t)(h - 'A' + 10);
        else return false;
    }
    *v = x;
    return true;
}

/* The JSON escape \uXXXX at s[0..n): a high surrogate directly followed by a \uXXXX low
 * surrogate combines with it into one code point; a lone surrogate (high or low) gives
 * U+FFFD and leaves what follows alone. Returns the bytes taken (6, or 12 for a pair)
 * with the code point in *cp, or 0 when s does not start with a backslash, 'u' and four
 * hex digits. */
static inline size_t g4_utf8_u_escape(const char *s, size_t n, uint32_t *cp) {
    uint32_t hi, lo;
    if (n < 6 || s[0] != '\\' || s[1] != 'u' || !g4_utf8_hex4(s + 2, &hi)) return 0;
    *cp = hi;
    if (hi < 0xD800 || hi > 0xDFFF) return 6;
    *cp = G4_UTF8_REPLACEMENT;
    if (hi <= 0xDBFF && n >= 12 && s[6] == '\\' && s[7] == 'u' && g4_utf8_hex4(s + 8, &lo) &&
        lo >= 0xDC00 && lo <= 0xDFFF) {
        *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        return 12;
    }
    return 6;
}

#endif
