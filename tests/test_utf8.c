/* test_utf8.c — core/utf8.h: the encoder, the strict and the lenient decoder, the two
 * lead-byte lengths and the JSON \u escape. The decoders are checked exhaustively over
 * every 1-, 2- and 3-byte string with a non-ASCII lead byte (and a 4-byte grid) against
 * reference decoders written differently here (from the code-point ranges rather than
 * the second-byte table), plus the cases each call site depends on. */
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"
#include "t.h"

/* ---- references ---- */

/* The value and length a lead byte announces by bit pattern (k = 0: none). */
static uint32_t pattern(const uint8_t *p, size_t n, size_t *k) {
    static const struct {
        uint8_t mask, bits;
        size_t len;
    } leads[] = {{0x80, 0x00, 1}, {0xE0, 0xC0, 2}, {0xF0, 0xE0, 3}, {0xF8, 0xF0, 4}};
    *k = 0;
    for (size_t t = 0; t < 4; t++) {
        if ((p[0] & leads[t].mask) != leads[t].bits) continue;
        size_t len = leads[t].len;
        if (n < len) return 0;
        uint32_t v = p[0] & (uint8_t)~leads[t].mask;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            v = v << 6 | (p[i] & 0x3F);
        }
        *k = len;
        return v;
    }
    return 0;
}

/* Well-formed: the pattern decodes, the value is in the range of its length (not
 * overlong), not a surrogate, at most U+10FFFF. Returns the length or 0. */
static size_t ref_strict(const uint8_t *p, size_t n, uint32_t *cp) {
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t k;
    uint32_t v = pattern(p, n, &k);
    if (!k || v < min_of_len[k] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) return 0;
    *cp = v;
    return k;
}

/* llama.cpp's split: the pattern decodes whatever its value (above U+10FFFF -> U+FFFD),
 * else one byte of U+FFFD (ASCII is itself). */
static size_t ref_lenient(const uint8_t *p, size_t n, uint32_t *cp) {
    size_t k;
    uint32_t v = pattern(p, n, &k);
    if (!k) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v > 0x10FFFF ? 0xFFFD : v;
    return k;
}

/* ---- helpers ---- */

static bool enc_is(uint32_t cp, const char *want) {
    char o[4];
    size_t k = g4_utf8_encode(cp, o);
    return k == strlen(want) && memcmp(o, want, k) == 0;
}

static bool strict_is(const char *s, size_t n, size_t want_len, uint32_t want_cp) {
    uint32_t cp = 12345;
    size_t k = g4_utf8_decode(s, n, &cp);
    return k == want_len && cp == want_cp;
}

static bool lenient_is(const char *s, size_t n, size_t want_len, uint32_t want_cp) {
    uint32_t cp = 12345;
    size_t k = g4_utf8_decode_lenient(s, n, &cp);
    return k == want_len && cp == want_cp;
}

static bool esc_is(const char *s, size_t want_len, uint32_t want_cp) {
    uint32_t cp = 12345;
    size_t k = g4_utf8_u_escape(s, strlen(s), &cp);
    return k == want_len && (k == 0 || cp == want_cp);
}

/* ---- tests ---- */

static void test_encode(void) {
    char o[4];
    T_CHECK(g4_utf8_encode(0, o) == 1 && o[0] == 0);
    T_CHECK(enc_is(0x41, "A"));
    T_CHECK(enc_is(0x7F, "\x7F"));
    T_CHECK(enc_is(0x80, "\xC2\x80"));
    T_CHECK(enc_is(0x7FF, "\xDF\xBF"));
    T_CHECK(enc_is(0x800, "\xE0\xA0\x80"));
    T_CHECK(enc_is(0x2581, "\xE2\x96\x81")); /* the tokenizer's space */
    T_CHECK(enc_is(0xD7FF, "\xED\x9F\xBF"));
    T_CHECK(enc_is(0xD800, "\xED\xA0\x80")); /* surrogates: plain bit layout */
    T_CHECK(enc_is(0xDFFF, "\xED\xBF\xBF"));
    T_CHECK(enc_is(0xFFFD, "\xEF\xBF\xBD"));
    T_CHECK(enc_is(0xFFFF, "\xEF\xBF\xBF"));
    T_CHECK(enc_is(0x10000, "\xF0\x90\x80\x80"));
    T_CHECK(enc_is(0x1F600, "\xF0\x9F\x98\x80"));
    T_CHECK(enc_is(0x10FFFF, "\xF4\x8F\xBF\xBF"));
    T_CHECK(enc_is(0x110000, "\xEF\xBF\xBD")); /* out of range: U+FFFD */
    T_CHECK(enc_is(0x1FFFFF, "\xEF\xBF\xBD"));
    T_CHECK(enc_is(0xFFFFFFFFu, "\xEF\xBF\xBD"));

    /* every code point round-trips: strict for scalar values, lenient for all */
    size_t bad = 0;
    for (uint32_t c = 0; c <= 0x10FFFF; c++) {
        size_t k = g4_utf8_encode(c, o);
        size_t want = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        uint32_t a = 0, b = 0;
        size_t ka = g4_utf8_decode(o, k, &a), kb = g4_utf8_decode_lenient(o, k, &b);
        bool sur = c >= 0xD800 && c <= 0xDFFF;
        if (k != want || kb != k || b != c || (sur ? ka != 0 : ka != k || a != c)) bad++;
    }
    T_CHECKF(bad == 0, "%zu code points do not round-trip", bad);
}

static void test_lead_len(void) {
    size_t bad = 0, bad_strict = 0;
    for (int c = 0; c < 256; c++) {
        size_t want = c < 0x80 ? 1 : c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 1;
        size_t want_strict = (c >= 0xC2 && c <= 0xDF) ? 2
                             : (c >= 0xE0 && c <= 0xEF) ? 3
                             : (c >= 0xF0 && c <= 0xF4) ? 4
                                                        : 1;
        bad += g4_utf8_lead_len((uint8_t)c) != want;
        bad_strict += g4_utf8_lead_len_strict((uint8_t)c) != want_strict;
        T_CHECK(g4_utf8_is_cont((uint8_t)c) == (c >= 0x80 && c < 0xC0));
    }
    T_CHECK(bad == 0);
    T_CHECK(bad_strict == 0);
    T_CHECK(g4_utf8_lead_len(0xC0) == 2 && g4_utf8_lead_len_strict(0xC0) == 1);
    T_CHECK(g4_utf8_lead_len(0xF5) == 4 && g4_utf8_lead_len_strict(0xF5) == 1);
    T_CHECK(g4_utf8_char_len("\xE6\x97\xA5x", 4) == 3);
    T_CHECK(g4_utf8_char_len("\xE6\x97", 2) == 2); /* cut at n */
    T_CHECK(g4_utf8_char_len("\xF0\x9F\x98\x80", 4) == 4);
    T_CHECK(g4_utf8_char_len("\x80\x80", 2) == 1);
    T_CHECK(g4_utf8_char_len("ab", 2) == 1);
}

static void test_strict_cases(void) {
    T_CHECK(strict_is("", 0, 0, 0xFFFD));
    T_CHECK(strict_is("A", 1, 1, 'A'));
    T_CHECK(strict_is("\xC2\x80", 2, 2, 0x80));
    T_CHECK(strict_is("\xC1\xBF", 2, 0, 0xFFFD)); /* overlong 2-byte */
    T_CHECK(strict_is("\xC0\x80", 2, 0, 0xFFFD));
    T_CHECK(strict_is("\xE0\x9F\xBF", 3, 0, 0xFFFD)); /* overlong 3-byte */
    T_CHECK(strict_is("\xE0\xA0\x80", 3, 3, 0x800));
    T_CHECK(strict_is("\xED\x9F\xBF", 3, 3, 0xD7FF));
    T_CHECK(strict_is("\xED\xA0\x80", 3, 0, 0xFFFD)); /* surrogate */
    T_CHECK(strict_is("\xEE\x80\x80", 3, 3, 0xE000));
    T_CHECK(strict_is("\xF0\x8F\xBF\xBF", 4, 0, 0xFFFD)); /* overlong 4-byte */
    T_CHECK(strict_is("\xF0\x90\x80\x80", 4, 4, 0x10000));
    T_CHECK(strict_is("\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF));
    T_CHECK(strict_is("\xF4\x90\x80\x80", 4, 0, 0xFFFD)); /* above U+10FFFF */
    T_CHECK(strict_is("\xF5\x80\x80\x80", 4, 0, 0xFFFD));
    T_CHECK(strict_is("\x80", 1, 0, 0xFFFD));
    T_CHECK(strict_is("\xFF", 1, 0, 0xFFFD));
    T_CHECK(strict_is("\xE2\x82\xAC", 2, 0, 0xFFFD)); /* cut short by n */
    T_CHECK(strict_is("\xE2\x82\xAC", 3, 3, 0x20AC));
    T_CHECK(strict_is("\xE2\x82\x41", 3, 0, 0xFFFD)); /* not a continuation */
    T_CHECK(strict_is("\xE2\x41\xAC", 3, 0, 0xFFFD));
    T_CHECK(strict_is("\xF0\x9F\x98\x80xyz", 7, 4, 0x1F600)); /* only the first */
}

static void test_lenient_cases(void) {
    T_CHECK(lenient_is("A", 1, 1, 'A'));
    T_CHECK(lenient_is("\xC0\x80", 2, 2, 0)); /* overlong: decodes (llama.cpp) */
    T_CHECK(lenient_is("\xC1\xBF", 2, 2, 0x7F));
    T_CHECK(lenient_is("\xE0\x80\x80", 3, 3, 0));
    T_CHECK(lenient_is("\xED\xA0\x80", 3, 3, 0xD800)); /* surrogate: decodes */
    T_CHECK(lenient_is("\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF));
    T_CHECK(lenient_is("\xF4\x90\x80\x80", 4, 4, 0xFFFD)); /* above: U+FFFD, 4 bytes */
    T_CHECK(lenient_is("\xF7\xBF\xBF\xBF", 4, 4, 0xFFFD));
    T_CHECK(lenient_is("\xF8\x80\x80\x80", 4, 1, 0xFFFD)); /* no 5-byte forms */
    T_CHECK(lenient_is("\xFF", 1, 1, 0xFFFD));
    T_CHECK(lenient_is("\x80\x80", 2, 1, 0xFFFD)); /* stray continuation */
    T_CHECK(lenient_is("\xE2\x82", 2, 1, 0xFFFD)); /* cut short */
    T_CHECK(lenient_is("\xE2\x82\x41", 3, 1, 0xFFFD));
    T_CHECK(lenient_is("\xC3\xA9", 2, 2, 0xE9));
}

/* Every 1..3-byte string with a non-ASCII lead, and a 4-byte grid, against the
 * references, at every length n the call sites may pass. */
static void test_exhaustive(void) {
    static const uint8_t tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
                                    0x9F, 0xA0, 0xBF, 0xC0, 0xF4, 0xFF};
    size_t bad_s = 0, bad_l = 0, n_cases = 0;
    uint8_t p[4];
    for (unsigned a = 0x80; a < 0x100; a++)
        for (unsigned b = 0; b < 0x100; b++)
            for (unsigned c = 0; c < 0x100; c++) {
                p[0] = (uint8_t)a, p[1] = (uint8_t)b, p[2] = (uint8_t)c, p[3] = 0x80;
                for (size_t n = 1; n <= 4; n++) {
                    if (n < 3 && c) continue; /* shorter strings: once per (a, b) */
                    if (n < 2 && b) continue;
                    if (n == 4 && (a < 0xF0 || a > 0xF7)) continue;
                    uint32_t cs = 7, cr = 7, ls = 7, lr = 7;
                    size_t ks = g4_utf8_decode((const char *)p, n, &cs);
                    size_t kr = ref_strict(p, n, &cr);
                    bad_s += ks != kr || (kr && cs != cr) || (!kr && cs != 0xFFFD);
                    size_t kl = g4_utf8_decode_lenient((const char *)p, n, &ls);
                    size_t kq = ref_lenient(p, n, &lr);
                    bad_l += kl != kq || ls != lr;
                    n_cases++;
                }
            }
    for (unsigned a = 0xF0; a < 0x100; a++)
        for (unsigned b = 0; b < 0x100; b++)
            for (size_t t = 0; t < sizeof tails; t++)
                for (size_t u = 0; u < sizeof tails; u++) {
                    p[0] = (uint8_t)a, p[1] = (uint8_t)b, p[2] = tails[t], p[3] = tails[u];
                    uint32_t cs = 7, cr = 7, ls = 7, lr = 7;
                    size_t ks = g4_utf8_decode((const char *)p, 4, &cs);
                    size_t kr = ref_strict(p, 4, &cr);
                    bad_s += ks != kr || (kr && cs != cr);
                    size_t kl = g4_utf8_decode_lenient((const char *)p, 4, &ls);
                    bad_l += kl != ref_lenient(p, 4, &lr) || ls != lr;
                    n_cases++;
                }
    T_CHECKF(bad_s == 0, "strict: %zu of %zu differ from the reference", bad_s, n_cases);
    T_CHECKF(bad_l == 0, "lenient: %zu of %zu differ from the reference", bad_l, n_cases);
}

static void test_u_escape(void) {
    uint32_t v = 0;
    T_CHECK(g4_utf8_hex4("00e9", &v) && v == 0xE9);
    T_CHECK(g4_utf8_hex4("ABCD", &v) && v == 0xABCD);
    T_CHECK(g4_utf8_hex4("aBcD", &v) && v == 0xABCD);
    T_CHECK(!g4_utf8_hex4("12G4", &v));
    T_CHECK(!g4_utf8_hex4("12 4", &v));

    T_CHECK(esc_is("\\u0041", 6, 'A'));
    T_CHECK(esc_is("\\u00E9rest", 6, 0xE9));
    T_CHECK(esc_is("\\u0000", 6, 0));
    T_CHECK(esc_is("\\uD83D\\uDE00", 12, 0x1F600));
    T_CHECK(esc_is("\\ud83d\\ude00!", 12, 0x1F600));
    T_CHECK(esc_is("\\uD800\\uDC00", 12, 0x10000));
    T_CHECK(esc_is("\\uDBFF\\uDFFF", 12, 0x10FFFF));
    T_CHECK(esc_is("\\uD83D", 6, 0xFFFD));          /* lone high surrogate */
    T_CHECK(esc_is("\\uD83Dx", 6, 0xFFFD));
    T_CHECK(esc_is("\\uD83D\\u0041", 6, 0xFFFD));   /* not followed by a low one */
    T_CHECK(esc_is("\\uD83D\\uD83D", 6, 0xFFFD));   /* high, high */
    T_CHECK(esc_is("\\uD83D\\uDE0", 6, 0xFFFD));    /* second escape cut short */
    T_CHECK(esc_is("\\uD83D\\uDE0G", 6, 0xFFFD));
    T_CHECK(esc_is("\\uD83D\\nDE00", 6, 0xFFFD));
    T_CHECK(esc_is("\\uDE00", 6, 0xFFFD));          /* lone low surrogate */
    T_CHECK(esc_is("\\uDE00\\uD83D", 6, 0xFFFD));   /* low, high: no pairing */
    T_CHECK(esc_is("\\uDE00\\uDC00", 6, 0xFFFD));   /* low, low */
    T_CHECK(esc_is("\\u12", 0, 0));
    T_CHECK(esc_is("\\u12G4", 0, 0));
    T_CHECK(esc_is("\\x0041", 0, 0));
    T_CHECK(esc_is("u0041", 0, 0));
    T_CHECK(g4_utf8_u_escape("\\u0041", 5, &v) == 0); /* n counts, not the NUL */
    T_CHECK(g4_utf8_u_escape("\\uD83D\\uDE00", 11, &v) == 6 && v == 0xFFFD);
}

int main(void) {
    test_encode();
    test_lead_len();
    test_strict_cases();
    test_lenient_cases();
    test_exhaustive();
    test_u_escape();
    return T_DONE();
}
