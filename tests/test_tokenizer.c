/* test_tokenizer.c — the Gemma 4 tokenizer against llama.cpp goldens, plus round trips,
 * hostile input, a 1 MB scale check and the streaming UTF-8 helper. */
#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"
#include "model/vocab_gguf.h"
#include "t.h"
#include "text/tokenize.h"
#include "text/vocab.h"

/* ---- a tiny JSON reader: just enough for tokenize.json ---- */

typedef struct {
    const char *p, *end;
    bool bad;
} jr;

static void j_ws(jr *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static bool j_eat(jr *r, char c) {
    j_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static void j_expect(jr *r, char c) {
    if (!j_eat(r, c)) r->bad = true;
}

static int j_hex4(jr *r) {
    if (r->end - r->p < 4) {
        r->bad = true;
        return 0;
    }
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else r->bad = true;
    }
    r->p += 4;
    return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Decodes a JSON string into a malloc'd buffer (may contain NUL). */
static char *j_string(jr *r, size_t *len) {
    j_ws(r);
    if (r->p >= r->end || *r->p != '"') {
        r->bad = true;
        return NULL;
    }
    r->p++;
    char *out = malloc((size_t)(r->end - r->p) + 1);
    size_t n = 0;
    while (r->p < r->end && *r->p != '"') {
        char c = *r->p++;
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        if (r->p >= r->end) break;
        c = *r->p++;
        switch (c) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'u': {
            uint32_t cp = (uint32_t)j_hex4(r);
            if (cp >= 0xD800 && cp < 0xDC00 && r->end - r->p >= 6 && r->p[0] == '\\' &&
                r->p[1] == 'u') {
                r->p += 2;
                uint32_t lo = (uint32_t)j_hex4(r);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default: out[n++] = c; break;
        }
    }
    if (!j_eat(r, '"')) r->bad = true;
    out[n] = '\0';
    *len = n;
    return out;
}

static int32_t *j_int_array(jr *r, size_t *n) {
    size_t cap = 16;
    int32_t *a = malloc(cap * sizeof *a);
    *n = 0;
    j_expect(r, '[');
    if (j_eat(r, ']')) return a;
    do {
        j_ws(r);
        char *e;
        long v = strtol(r->p, &e, 10);
        if (e == r->p) {
            r->bad = true;
            break;
        }
        r->p = e;
        if (*n == cap) a = realloc(a, (cap *= 2) * sizeof *a);
        a[(*n)++] = (int32_t)v;
    } while (j_eat(r, ','));
    j_expect(r, ']');
    return a;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    *len = fread(b, 1, (size_t)sz, f);
    b[*len] = '\0';
    fclose(f);
    return b;
}

static bool ids_eq(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_ids(const char *what, const int32_t *a, size_t n) {
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)a[i]);
    fputc('\n', stderr);
}

static const char *MODES[4] = {"ids_add0_parse0", "ids_add1_parse0", "ids_add0_parse1",
                               "ids_add1_parse1"};

static void test_golden(const g4_vocab *v) {
    size_t flen;
    char *buf = read_file(G4_TEST_DATA "/golden/tokenize.json", &flen);
    T_CHECK(buf != NULL);
    if (!buf) return;
    jr r = {buf, buf + flen, false};
    int n_entries = 0, n_mode_ok = 0, n_detok_ok = 0;
    j_expect(&r, '[');
    do {
        j_expect(&r, '{');
        char *text = NULL;
        size_t text_len = 0;
        int32_t *exp[4] = {0};
        size_t nexp[4] = {0};
        char *detok = NULL;
        size_t detok_len = 0;
        do {
            size_t kl;
            char *key = j_string(&r, &kl);
            j_expect(&r, ':');
            if (!key || r.bad) {
                free(key);
                break;
            }
            if (!strcmp(key, "text")) {
                text = j_string(&r, &text_len);
            } else if (!strcmp(key, "detok_add1_parse1")) {
                detok = j_string(&r, &detok_len);
            } else {
                int m = -1;
                for (int k = 0; k < 4; k++)
                    if (!strcmp(key, MODES[k])) m = k;
                T_CHECKF(m >= 0, "unknown key %s", key);
                if (m < 0) r.bad = true;
                else exp[m] = j_int_array(&r, &nexp[m]);
            }
            free(key);
        } while (!r.bad && j_eat(&r, ','));
        j_expect(&r, '}');
        T_CHECK(!r.bad);
        if (r.bad || !text || !detok) {
            free(text);
            free(detok);
            for (int k = 0; k < 4; k++) free(exp[k]);
            break;
        }
        n_entries++;
        for (int k = 0; k < 4; k++) {
            T_CHECKF(exp[k] != NULL, "entry %d lacks %s", n_entries, MODES[k]);
            if (!exp[k]) continue;
            bool add = k == 1 || k == 3, parse = k >= 2;
            int32_t *ids = NULL;
            size_t n = 0;
            g4_error err = {0};
            g4_status st = g4_tokenize(v, text, text_len, add, parse, &ids, &n, &err);
            T_CHECKF(st == G4_OK, "%s", err.msg);
            bool ok = st == G4_OK && ids_eq(ids, n, exp[k], nexp[k]);
            T_CHECKF(ok, "text '%s' %s mismatch", text, MODES[k]);
            if (!ok) {
                print_ids("got", ids, n);
                print_ids("want", exp[k], nexp[k]);
            }
            n_mode_ok += ok;
            free(ids);
        }
        if (exp[3]) {
            char *s = NULL;
            size_t sl = 0;
            g4_error err = {0};
            g4_status st = g4_detokenize(v, exp[3], nexp[3], false, true, &s, &sl, &err);
            bool ok = st == G4_OK && sl == detok_len && memcmp(s, detok, sl) == 0;
            T_CHECKF(ok, "detok of '%s': got '%s' want '%s'", text, s ? s : "(null)", detok);
            n_detok_ok += ok;
            free(s);
        }
        free(text);
        free(detok);
        for (int k = 0; k < 4; k++) free(exp[k]);
    } while (j_eat(&r, ','));
    j_expect(&r, ']');
    T_CHECK(!r.bad);
    T_CHECKF(n_entries == 59, "%d entries", n_entries);
    fprintf(stderr, "golden: %d strings, %d/%d encodings and %d/%d detokenizations exact\n",
             n_entries, n_mode_ok, 4 * n_entries, n_detok_ok, n_entries);
    free(buf);
}

/* ---- helpers ---- */

static bool roundtrip(const g4_vocab *v, const char *s, size_t n, bool parse, const char *want,
                      size_t want_n) {
    int32_t *ids = NULL;
    size_t nid = 0;
    g4_error err = {0};
    if (g4_tokenize(v, s, n, false, parse, &ids, &nid, &err) != G4_OK) {
        fprintf(stderr, "tokenize failed: %s\n", err.msg);
        return false;
    }
    char *d = NULL;
    size_t dn = 0;
    bool ok = g4_detokenize(v, ids, nid, false, parse, &d, &dn, &err) == G4_OK && dn == want_n &&
              memcmp(d, want, dn) == 0;
    free(ids);
    free(d);
    return ok;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Random strings built from pieces whose llama.cpp cleaning is known: 'want' is what
 * decoding must give back (▁ -> ' ', undecodable bytes -> U+FFFD). */
static void test_roundtrip(const g4_vocab *v) {
    static const struct {
        const char *s, *want;
    } P[] = {
        {"a", "a"},       {"e", "e"},         {"th", "th"},       {"the", "the"},
        {"Hello", "Hello"}, {" ", " "},       {"  ", "  "},       {"\n", "\n"},
        {"\n\n", "\n\n"}, {"\t", "\t"},       {"\r", "\r"},       {"1", "1"},
        {"é", "é"},       {"ß", "ß"},         {"中", "中"},       {"テ", "テ"},
        {"😀", "😀"},     {"🦙", "🦙"},       {"▁", " "},         {"<", "<"},
        {"|>", "|>"},     {"<|\"|>", "<|\"|>"}, {"<bos>", "<bos>"}, {"<|turn>", "<|turn>"},
        {"\x80", "\xEF\xBF\xBD"}, {"\xBF", "\xEF\xBF\xBD"}, {"\xFF", "\xEF\xBF\xBD"},
        {"\xF8", "\xEF\xBF\xBD"}, {"\xC3x", "\xEF\xBF\xBDx"},
        {"\xE4\xB8x", "\xEF\xBF\xBD\xEF\xBF\xBDx"}, {"\xF0\x9F\x98x", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx"},
    };
    const int NP = (int)(sizeof P / sizeof P[0]);
    char s[4096], w[8192];
    int fails = 0;
    for (int it = 0; it < 3000; it++) {
        size_t sn = 0, wn = 0;
        int k = (int)(rnd() % 40);
        bool with_nul = rnd() % 4 == 0;
        for (int j = 0; j < k; j++) {
            if (with_nul && rnd() % 10 == 0) {
                s[sn++] = '\0';
                w[wn++] = '\0';
                continue;
            }
            int p = (int)(rnd() % (uint32_t)NP);
            size_t a = strlen(P[p].s), b = strlen(P[p].want);
            memcpy(s + sn, P[p].s, a);
            memcpy(w + wn, P[p].want, b);
            sn += a;
            wn += b;
        }
        bool parse = it & 1;
        if (!roundtrip(v, s, sn, parse, w, wn)) {
            if (fails++ < 5) fprintf(stderr, "round trip failed (iteration %d)\n", it);
        }
    }
    T_CHECKF(fails == 0, "%d round-trip failures", fails);
}

static void test_hostile(const g4_vocab *v) {
    int32_t *ids = NULL;
    size_t n = 99;
    g4_error err = {0};
    T_CHECK(g4_tokenize(v, NULL, 0, false, true, &ids, &n, &err) == G4_OK && n == 0 && ids);
    free(ids);
    T_CHECK(g4_tokenize(v, NULL, 5, false, true, &ids, &n, &err) == G4_ERR_ARG);
    T_CHECK(g4_tokenize(NULL, "a", 1, false, true, &ids, &n, &err) == G4_ERR_ARG);
    T_CHECK(g4_tokenize(v, "a", 1, false, true, NULL, &n, &err) == G4_ERR_ARG);
    char *d = NULL;
    int32_t badid[2] = {5, 100000};
    T_CHECK(g4_detokenize(v, badid, 2, false, true, &d, NULL, &err) == G4_ERR_ARG && !d);
    int32_t neg = -1;
    T_CHECK(g4_detokenize(v, &neg, 1, false, true, &d, NULL, &err) == G4_ERR_ARG);
    char piece[8];
    T_CHECK(g4_token_piece(v, -3, true, piece, sizeof piece) == 0);
    T_CHECK(g4_token_piece(v, 1 << 30, true, piece, sizeof piece) == 0);

    const size_t N = 200000;
    char *buf = malloc(N);
    const unsigned char fills[] = {0xFF, 0x80, '\n', ' ', '<', 0, 'a', 0xE4};
    for (size_t f = 0; f < sizeof fills; f++) {
        memset(buf, fills[f], N);
        ids = NULL;
        g4_status st = g4_tokenize(v, buf, N, true, true, &ids, &n, &err);
        T_CHECKF(st == G4_OK && n > 0, "fill 0x%02X", fills[f]);
        free(ids);
    }
    /* repeated special tokens and their fragments */
    size_t pos = 0;
    const char *parts[] = {"<|turn>", "<|turn", "<turn|>", "<|image|>", "<|\"|>", "|>", "<"};
    while (pos + 16 < N) {
        const char *p = parts[rnd() % 7];
        memcpy(buf + pos, p, strlen(p));
        pos += strlen(p);
    }
    ids = NULL;
    T_CHECK(g4_tokenize(v, buf, pos, true, true, &ids, &n, &err) == G4_OK && n > 0);
    free(ids);
    for (int it = 0; it < 2000; it++) {
        size_t len = rnd() % 64;
        for (size_t i = 0; i < len; i++) buf[i] = (char)(rnd() & 0xFF);
        ids = NULL;
        g4_status st = g4_tokenize(v, buf, len, it & 1, it & 2, &ids, &n, &err);
        T_CHECK(st == G4_OK);
        char *out = NULL;
        if (st == G4_OK) T_CHECK(g4_detokenize(v, ids, n, true, true, &out, NULL, &err) == G4_OK);
        free(out);
        free(ids);
    }
    free(buf);
}

static void test_scale(const g4_vocab *v) {
    static const char *words[] = {"the ",  "quick ", "brown ", "fox ",    "jumps\n",
                                  "über ", "中文 ",  "😀 ",    "\n\n",    "naïve ",
                                  "x",     "<|turn>", "  ",    "1234 ",   "résumé "};
    const size_t N = 1 << 20;
    char *buf = malloc(N + 32);
    size_t n = 0;
    while (n < N) {
        const char *w = words[rnd() % 15];
        size_t l = strlen(w);
        memcpy(buf + n, w, l);
        n += l;
    }
    int32_t *ids = NULL;
    size_t nid = 0;
    g4_error err = {0};
    T_CHECK(g4_tokenize(v, buf, n, true, true, &ids, &nid, &err) == G4_OK && nid > 1000);
    char *d = NULL;
    size_t dn = 0;
    T_CHECK(g4_detokenize(v, ids, nid, true, true, &d, &dn, &err) == G4_OK && dn == n &&
            memcmp(d, buf, n) == 0);
    free(d);
    free(ids);
    /* one 1 MB word: the merge loop must not be quadratic */
    for (size_t i = 0; i < N; i++) buf[i] = "abcdefghij"[(i * 7 + i / 3) % 10];
    ids = NULL;
    T_CHECK(g4_tokenize(v, buf, N, false, false, &ids, &nid, &err) == G4_OK && nid > 0);
    free(ids);
    free(buf);
}

static void test_stream(const g4_vocab *v) {
    /* 😀 has no token in the fixture vocab: four byte tokens */
    int32_t *ids = NULL;
    size_t n = 0;
    g4_error err = {0};
    T_CHECK(g4_tokenize(v, "a😀b", strlen("a😀b"), false, false, &ids, &n, &err) == G4_OK);
    T_CHECK(n == 6);
    g4_utf8_stream st = {0};
    char out[64], piece[16];
    size_t total = 0;
    size_t emitted[8] = {0};
    for (size_t i = 0; i < n && i < 8; i++) {
        size_t pl = g4_token_piece(v, ids[i], false, piece, sizeof piece);
        emitted[i] = g4_utf8_stream_feed(&st, piece, pl, out + total);
        total += emitted[i];
    }
    total += g4_utf8_stream_flush(&st, out + total);
    T_CHECK(emitted[0] == 1 && emitted[1] == 0 && emitted[2] == 0 && emitted[3] == 0 &&
            emitted[4] == 4 && emitted[5] == 1);
    T_CHECK(total == strlen("a😀b") && memcmp(out, "a😀b", total) == 0);
    free(ids);
    /* broken sequences pass through; a trailing incomplete one comes out on flush */
    g4_utf8_stream s2 = {0};
    size_t k = g4_utf8_stream_feed(&s2, "\xE4x\x80\xF0\x9F", 5, out);
    T_CHECK(k == 3 && memcmp(out, "\xE4x\x80", 3) == 0);
    k = g4_utf8_stream_flush(&s2, out);
    T_CHECK(k == 2 && memcmp(out, "\xF0\x9F", 2) == 0);
    /* byte at a time over mixed text gives the same bytes back */
    const char *txt = "héllo 中文 😀\xFF\x80 end";
    size_t tl = strlen(txt), o = 0;
    char big[128];
    g4_utf8_stream s3 = {0};
    for (size_t i = 0; i < tl; i++) o += g4_utf8_stream_feed(&s3, txt + i, 1, big + o);
    o += g4_utf8_stream_flush(&s3, big + o);
    T_CHECK(o == tl && memcmp(big, txt, tl) == 0);
}

static void test_vocab_basics(const g4_vocab *v) {
    T_CHECK(g4_vocab_n_tokens(v) == 640);
    T_CHECK(g4_vocab_bos(v) == 2 && g4_vocab_eos(v) == 1 && g4_vocab_unk(v) == 3);
    T_CHECK(g4_vocab_add_bos(v));
    T_CHECK(g4_vocab_is_eog(v, 1) && g4_vocab_is_eog(v, 7) && g4_vocab_is_eog(v, 20));
    T_CHECK(!g4_vocab_is_eog(v, 2) && !g4_vocab_is_eog(v, 6) && !g4_vocab_is_eog(v, 21));
    T_CHECK(g4_vocab_type(v, 20) == G4_TOKEN_CONTROL); /* <|tool_response> forced */
    T_CHECK(g4_vocab_type(v, 18) == G4_TOKEN_USER_DEFINED);
    T_CHECK(g4_vocab_type(v, 27) == G4_TOKEN_BYTE);
    T_CHECK(g4_vocab_find(v, "\n\n", 2) == 284);
    T_CHECK(g4_vocab_byte_token(v, 0) == 27 && g4_vocab_byte_token(v, 255) == 282);
    T_CHECK(g4_vocab_merge_rank(v, "h", 1, "e", 1) == 0);
    T_CHECK(g4_vocab_merge_rank(v, "\xE2\x96\x81t", 4, "he", 2) == 4);
    T_CHECK(g4_vocab_merge_rank(v, "e", 1, "h", 1) < 0);
    /* <|tool_response> is CONTROL now: plain text unless parse_special */
    int32_t *ids = NULL;
    size_t n = 0;
    g4_error err = {0};
    const char *tr = "<|tool_response>";
    T_CHECK(g4_tokenize(v, tr, strlen(tr), false, true, &ids, &n, &err) == G4_OK && n == 1 &&
            ids[0] == 20);
    free(ids);
    T_CHECK(g4_tokenize(v, tr, strlen(tr), false, false, &ids, &n, &err) == G4_OK && n > 1);
    free(ids);
    /* spec §9.5 with the fixture vocabulary: only the structural cases carry over */
    T_CHECK(g4_tokenize(v, "\n\n", 2, false, false, &ids, &n, &err) == G4_OK && n == 1 &&
            ids[0] == 284);
    free(ids);
    T_CHECK(g4_tokenize(v, "\t", 1, false, false, &ids, &n, &err) == G4_OK && n == 1 &&
            ids[0] == 285);
    free(ids);
    /* detokenize modes */
    int32_t seq[] = {2, 6, 99, 7, 18, 362};
    char *s = NULL;
    size_t sl = 0;
    T_CHECK(g4_detokenize(v, seq, 6, true, false, &s, &sl, &err) == G4_OK);
    /* 99 is the byte token <0x48>: 'H' */
    const char *want = "H<|tool_call> ";
    size_t wl = strlen(want);
    T_CHECK(s && sl == wl && memcmp(s, want, wl) == 0);
    free(s);
}

/* A vocabulary built directly from arrays: merge parsing, rank order, ties, errors. */
static void test_arrays(void) {
    const char *toks[] = {"<unk>", "a", "b", "c", "aa", "ab", "bc", "abc", " ", " x", "x",
                          "<s>", "<0x7A>"};
    int32_t types[] = {2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 6};
    const char *merges[] = {"b c", "a b", "a a", "ab c", "  x", "a a"};
    g4_vocab_desc d = {.n_tokens = 13, .tokens = toks, .token_types = types,
                       .n_merges = 6, .merges = merges, .bos_id = 11, .eos_id = -1,
                       .unk_id = 0, .add_bos = true};
    g4_vocab *v = NULL;
    g4_error err = {0};
    T_CHECK(g4_vocab_create(&d, &v, &err) == G4_OK);
    if (!v) return;
    T_CHECK(g4_vocab_merge_rank(v, " ", 1, "x", 1) == 4); /* split at first space >= 1 */
    T_CHECK(g4_vocab_merge_rank(v, "a", 1, "a", 1) == 2); /* duplicate: first rank wins */
    struct {
        const char *in;
        int32_t want[8];
        size_t n;
    } cases[] = {
        {"abc", {1, 6}, 2}, /* "b c" (rank 0) before "a b" (rank 1): a + bc */
        {"aaa", {4, 1}, 2}, /* equal ranks: the leftmost pair merges first */
        {"aab", {1, 5}, 2}, /* "a b" (rank 1) beats "a a" (rank 2): a + ab */
        {"z", {12}, 1},               /* byte fallback */
        {"q", {0}, 1},                /* no byte token: <unk> */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        T_CHECK(g4_tokenize(v, cases[i].in, strlen(cases[i].in), false, true, &ids, &n, &err) ==
                G4_OK);
        bool ok = ids_eq(ids, n, cases[i].want, cases[i].n);
        T_CHECKF(ok, "arrays case '%s'", cases[i].in);
        if (!ok) print_ids("got", ids, n);
        free(ids);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    T_CHECK(g4_tokenize(v, "<s>a", 4, true, true, &ids, &n, &err) == G4_OK && n == 3 &&
            ids[0] == 11 && ids[1] == 11 && ids[2] == 1);
    free(ids);
    g4_vocab_free(v);

    const char *bad_merges[] = {"ab"};
    d.merges = bad_merges;
    d.n_merges = 1;
    v = NULL;
    err = (g4_error){0};
    T_CHECK(g4_vocab_create(&d, &v, &err) == G4_ERR_FORMAT && v == NULL && err.msg[0]);
    T_CHECK(g4_vocab_create(NULL, &v, &err) != G4_OK);
    g4_vocab_free(NULL);
}

int main(void) {
    g4_gguf *g = NULL;
    g4_error err = {0};
    g4_status st = g4_gguf_open(G4_TEST_DATA "/dense-f32.gguf", &g, &err);
    T_CHECKF(st == G4_OK, "%s", err.msg);
    g4_vocab *v = NULL;
    if (g) {
        st = g4_vocab_from_gguf(g, &v, &err);
        T_CHECKF(st == G4_OK, "%s", err.msg);
    }
    g4_gguf_close(g); /* the vocabulary keeps its own copy */
    if (v) {
        test_vocab_basics(v);
        test_golden(v);
        test_roundtrip(v);
        test_hostile(v);
        test_scale(v);
        test_stream(v);
    }
    g4_vocab_free(v);
    test_arrays();
    return T_DONE();
}
