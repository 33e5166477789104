/* test_tokenizer_real.c — the tokenizer at real scale: the 262144-token / 514906-merge
 * Gemma 4 vocabulary (tests/data/vocab/gemma4-vocab.gguf.gz, built by tools/hf_vocab from
 * the Gemma 3 tokenizer.json with the Gemma 4 special texts; see docs/TOKENIZER.md).
 *
 *   spec      every worked example of spec §9.5 and the full chat-prompt vector
 *   diff      885 texts against the JS reference BPE (tests/data/vocab/tokenize_diff.jsonl)
 *   special   the real special tokens with parse_special on / off, one BOS
 *   roundtrip decode(encode(s)) for thousands of random strings, invalid UTF-8 documented
 *   pieces    every token id 0..262143 detokenizes; byte tokens stream as whole characters
 *   load      load time of the real vocabulary */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/vocab_gguf.h"
#include "core/json.h"
#include "core/utf8.h"
#include "gld.h"
#include "t.h"
#include "text/tokenize.h"
#include "text/vocab.h"

#define N_VOCAB 262144
#define REAL_VOCAB G4_BUILD_DIR "/gemma4-vocab.gguf"
#define REAL_VOCAB_GZ G4_TEST_DATA "/vocab/gemma4-vocab.gguf.gz"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ctest unpacks the vocabulary first (tests/cmake/tokenizer.cmake); when the binary runs
 * on its own it unpacks it itself. */
static bool ensure_vocab(void) {
    if (access(REAL_VOCAB, R_OK) == 0) return true;
    const char *cmd = "gzip -dc '" REAL_VOCAB_GZ "' > '" REAL_VOCAB ".tmp' && mv '" REAL_VOCAB
                      ".tmp' '" REAL_VOCAB "'";
    return system(cmd) == 0 && access(REAL_VOCAB, R_OK) == 0;
}

static bool ids_eq(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_ids(const char *what, const int32_t *a, size_t n) {
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 64; i++) fprintf(stderr, " %d", (int)a[i]);
    fputs(n > 64 ? " ...\n" : "\n", stderr);
}

/* Tokenizes and compares; prints both on a mismatch. */
static bool tok_is(const g4_vocab *v, const char *s, size_t n, bool add, bool parse,
                   const int32_t *want, size_t nwant) {
    int32_t *ids = NULL;
    size_t nid = 0;
    g4_error err = {0};
    g4_status st = g4_tokenize(v, s, n, add, parse, &ids, &nid, &err);
    bool ok = st == G4_OK && ids_eq(ids, nid, want, nwant);
    if (!ok) {
        fprintf(stderr, "tokenize '%.*s' (add %d parse %d): %s\n", (int)(n > 80 ? 80 : n), s,
                add, parse, st ? err.msg : "mismatch");
        print_ids("got", ids, nid);
        print_ids("want", want, nwant);
    }
    free(ids);
    return ok;
}

static int32_t *tok(const g4_vocab *v, const char *s, size_t n, bool add, bool parse,
                    size_t *nid) {
    int32_t *ids = NULL;
    g4_error err = {0};
    if (g4_tokenize(v, s, n, add, parse, &ids, nid, &err) != G4_OK) {
        fprintf(stderr, "tokenize failed: %s\n", err.msg);
        *nid = 0;
        return NULL;
    }
    return ids;
}

static size_t count_id(const int32_t *ids, size_t n, int32_t id) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ids[i] == id;
    return k;
}

/* Strict UTF-8 validity (no overlongs, surrogates or code points above U+10FFFF). */
static bool utf8_valid(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t k;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            k = 2;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            k = 3;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            k = 4;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (n - i < k) return false;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += k;
    }
    return true;
}

/* s with every U+2581 replaced by ' ' (a literal U+2581 in the input is indistinguishable
 * from an escaped space: it decodes as a space, in llama.cpp as in HF). */
static size_t unescape_2581(const char *s, size_t n, char *o) {
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        if (i + 2 < n && (uint8_t)s[i] == 0xE2 && (uint8_t)s[i + 1] == 0x96 &&
            (uint8_t)s[i + 2] == 0x81) {
            o[j++] = ' ';
            i += 3;
        } else {
            o[j++] = s[i++];
        }
    }
    return j;
}

/* ---- (a) spec §9.5 ---- */

static void test_spec(const g4_vocab *v) {
    static const struct {
        const char *s;
        int32_t ids[12];
        size_t n;
    } E[] = {
        {"hello", {23391}, 1},
        {"hello world", {23391, 1902}, 2},
        {" hello", {29104}, 1},
        {"  hello", {138, 23391}, 2},
        {"hello  world", {23391, 138, 12392}, 3},
        {"   ", {139}, 1},
        {"      ", {142}, 1},
        {" leading spaces", {5830, 9952}, 2},
        {"multiple    spaces", {43819, 140, 35220}, 3},
        {"Hello, World!", {9259, 236764, 4109, 236888}, 4},
        {"12345", {236770, 236778, 236800, 236812, 236810}, 5},
        {"3.14159", {236800, 236761, 236770, 236812, 236770, 236810, 236819}, 7},
        {"def foo(x): return x + 1",
         {2063, 46293, 236769, 236781, 1473, 994, 1123, 900, 236743, 236770}, 10},
        {"{\"key\": \"value\"}", {14937, 2478, 1083, 623, 2394, 25938}, 6},
        {"aaaaaa", {50354, 9236}, 2},
        {"café résumé naïve", {123125, 236859, 118515, 120362}, 4},
        {"über Straße Größe", {28223, 80176, 112880}, 3},
        {"你好世界", {144626, 12811}, 2},
        {"こんにちは", {85141}, 1},
        {"hello 👋 world", {23391, 155818, 1902}, 3},
        {"\n\n", {108}, 1},
        {"\t\t", {255969}, 1},
    };
    int ok = 0;
    const int NE = (int)(sizeof E / sizeof E[0]);
    for (int i = 0; i < NE; i++) {
        size_t n = strlen(E[i].s);
        bool a = tok_is(v, E[i].s, n, false, false, E[i].ids, E[i].n);
        bool b = tok_is(v, E[i].s, n, false, true, E[i].ids, E[i].n);
        /* with add_bos: 2 first */
        int32_t wb[13] = {2};
        memcpy(wb + 1, E[i].ids, E[i].n * sizeof(int32_t));
        bool c = tok_is(v, E[i].s, n, true, true, wb, E[i].n + 1);
        T_CHECKF(a && b && c, "spec §9.5 example %d", i);
        ok += a && b && c;
    }
    /* the full chat prompt: <bos> written in the text, parsed, no BOS added */
    const char *chat = "<bos><|turn>user\nHello<turn|>\n<|turn>model\n";
    const int32_t want[] = {2, 105, 2364, 107, 9259, 106, 107, 105, 4368, 107};
    T_CHECK(tok_is(v, chat, strlen(chat), false, true, want, 10));
    /* the same prompt without <bos> in the text, BOS added by the tokenizer */
    T_CHECK(tok_is(v, chat + 5, strlen(chat) - 5, true, true, want, 10));
    /* words the spec names */
    T_CHECK(g4_vocab_find(v, "user", 4) == 2364 && g4_vocab_find(v, "model", 5) == 4368 &&
            g4_vocab_find(v, "thought", 7) == 45518 && g4_vocab_find(v, "\n", 1) == 107 &&
            g4_vocab_find(v, "\xE2\x96\x81", 3) == 236743);
    fprintf(stderr, "spec §9.5: %d/%d worked examples exact in 3 modes, chat prompt checked\n", ok,
            NE);
}

/* ---- (b) differential goldens ---- */

/* A JSON string member as a malloc'd copy (may contain NUL), or NULL. */
static char *jstr(const g4_json *o, const char *key, size_t *len) {
    size_t n = 0;
    const char *v = g4_json_get_str(o, key, &n);
    char *c = v ? malloc(n + 1) : NULL;
    if (c) {
        memcpy(c, v, n);
        c[n] = 0;
        *len = n;
    }
    return c;
}

/* A JSON array of integers as a malloc'd int32 array, or NULL. */
static int32_t *jints(const g4_json *o, const char *key, size_t *n) {
    const g4_json *a = g4_json_get(o, key);
    if (!g4_json_is_array(a)) return NULL;
    int32_t *v = malloc((g4_json_len(a) + 1) * sizeof *v);
    for (size_t i = 0; v && i < g4_json_len(a); i++) {
        int64_t x;
        if (!g4_json_int64(g4_json_at(a, i), &x) || x < 0 || x > INT32_MAX) {
            free(v);
            return NULL;
        }
        v[i] = (int32_t)x;
    }
    *n = g4_json_len(a);
    return v;
}

static bool has_control_text(const g4_vocab *v, const char *s, size_t n) {
    for (size_t k = 0; k < g4_vocab_n_special(v); k++) {
        int32_t id = g4_vocab_special_at(v, k);
        if (g4_vocab_type(v, id) != G4_TOKEN_CONTROL) continue;
        size_t tl;
        const char *t = g4_vocab_text(v, id, &tl);
        if (tl <= n && memmem(s, n, t, tl)) return true;
    }
    return false;
}

/* Feeds the pieces of ids one token at a time through the streaming helper: every chunk
 * it emits must be whole valid UTF-8 (when the text is valid) and the chunks must add up
 * to want. */
static bool stream_ok(const g4_vocab *v, const int32_t *ids, size_t n, const char *want,
                      size_t wn) {
    g4_utf8_stream st = {0};
    char piece[256], out[256 + 8];
    size_t pos = 0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        size_t pl = g4_token_piece(v, ids[i], false, piece, sizeof piece);
        if (pl > sizeof piece) return false;
        size_t k = g4_utf8_stream_feed(&st, piece, pl, out);
        if (!utf8_valid((const uint8_t *)out, k)) ok = false;
        if (pos + k > wn || memcmp(want + pos, out, k) != 0) return false;
        pos += k;
    }
    size_t k = g4_utf8_stream_flush(&st, out);
    if (pos + k != wn || memcmp(want + pos, out, k) != 0) return false;
    return ok && k == 0;
}

static void test_diff(const g4_vocab *v) {
    size_t flen;
    char *buf = gld_slurp(G4_TEST_DATA "/vocab/tokenize_diff.jsonl", &flen);
    T_CHECK(buf != NULL);
    if (!buf) return;
    int n = 0, n_ok = 0, n_parse_ok = 0, n_parse_checked = 0, n_detok_ok = 0, n_stream_ok = 0;
    int n_hf_differs = 0, n_bytefb = 0;
    char *line = buf, *bend = buf + flen;
    while (line < bend) {
        char *nl = memchr(line, '\n', (size_t)(bend - line));
        if (!nl) nl = bend;
        if (nl == line) {
            line++;
            continue;
        }
        g4_json *obj = NULL;
        bool bad = g4_json_parse(line, (size_t)(nl - line), &obj, NULL) != G4_OK || !g4_json_is_object(obj);
        char *cat = NULL, *text = NULL;
        size_t cat_len = 0, text_len = 0, nwant = 0, nhf = 0;
        int32_t *want = NULL, *hf = NULL;
        if (!bad) {
            cat = jstr(obj, "cat", &cat_len);
            text = jstr(obj, "text", &text_len);
            want = jints(obj, "ids", &nwant);
            hf = jints(obj, "hf", &nhf); /* only where HF differs */
            for (size_t k = 0; k < g4_json_len(obj); k++) { /* no other members */
                size_t kl;
                const char *key = g4_json_key_at(obj, k, &kl);
                bad |= !((kl == 3 && !memcmp(key, "cat", 3)) || (kl == 4 && !memcmp(key, "text", 4)) ||
                         (kl == 3 && !memcmp(key, "ids", 3)) || (kl == 2 && !memcmp(key, "hf", 2)));
            }
            bad |= g4_json_get(obj, "hf") && !hf;
        }
        g4_json_free(obj);
        T_CHECKF(!bad && text && want && cat, "bad golden line %d", n + 1);
        if (bad || !text || !want || !cat) {
            free(cat); free(text); free(want); free(hf);
            break;
        }
        n++;
        n_hf_differs += hf != NULL;
        /* parse_special off, no BOS: exactly the llama.cpp-semantics ids */
        bool ok = tok_is(v, text, text_len, false, false, want, nwant);
        if (!ok) fprintf(stderr, "  (golden line %d, cat %s)\n", n, cat);
        n_ok += ok;
        /* parse_special on changes nothing unless a CONTROL token's text occurs */
        if (!has_control_text(v, text, text_len)) {
            n_parse_checked++;
            n_parse_ok += tok_is(v, text, text_len, false, true, want, nwant);
        }
        /* decode gives the text back (U+2581 -> ' ') */
        char *d = NULL, *w = malloc(text_len + 1);
        size_t dn = 0, wn = unescape_2581(text, text_len, w);
        g4_error err = {0};
        bool dok = g4_detokenize(v, want, nwant, false, false, &d, &dn, &err) == G4_OK &&
                   dn == wn && memcmp(d, w, wn) == 0;
        n_detok_ok += dok;
        if (!dok) fprintf(stderr, "detokenize mismatch on golden line %d\n", n);
        /* streamed token by token: never a split character */
        bool sok = stream_ok(v, want, nwant, w, wn);
        n_stream_ok += sok;
        if (!sok) fprintf(stderr, "stream mismatch on golden line %d\n", n);
        for (size_t i = 0; i < nwant; i++)
            if (g4_vocab_type(v, want[i]) == G4_TOKEN_BYTE) {
                n_bytefb++;
                break;
            }
        free(d); free(w); free(cat); free(text); free(want); free(hf);
        line = nl + 1;
    }
    T_CHECKF(n >= 500, "only %d golden texts", n);
    T_CHECKF(n_ok == n, "%d/%d differential texts exact", n_ok, n);
    T_CHECKF(n_parse_ok == n_parse_checked, "parse_special on: %d/%d", n_parse_ok,
             n_parse_checked);
    T_CHECKF(n_detok_ok == n, "%d/%d detokenize", n_detok_ok, n);
    T_CHECKF(n_stream_ok == n, "%d/%d streamed", n_stream_ok, n);
    fprintf(stderr,
            "differential: %d/%d texts exact vs the JS reference (llama.cpp semantics), %d/%d "
            "also with parse_special, %d decode and stream back exactly, %d use byte fallback, "
            "%d where HF's added-token split gives other ids\n",
            n_ok, n, n_parse_ok, n_parse_checked, n_detok_ok, n_bytefb, n_hf_differs);
    free(buf);
}

/* ---- (c) special tokens ---- */

static void test_special(const g4_vocab *v) {
    static const struct {
        int32_t id;
        const char *text;
        g4_token_type type;
        bool eog;
    } S[] = {
        {0, "<pad>", G4_TOKEN_CONTROL, false},
        {1, "<eos>", G4_TOKEN_CONTROL, true},
        {2, "<bos>", G4_TOKEN_CONTROL, false},
        {3, "<unk>", G4_TOKEN_CONTROL, false},
        {4, "<mask>", G4_TOKEN_CONTROL, false},
        {46, "<|tool>", G4_TOKEN_CONTROL, false},
        {47, "<tool|>", G4_TOKEN_CONTROL, false},
        {48, "<|tool_call>", G4_TOKEN_USER_DEFINED, false},
        {49, "<tool_call|>", G4_TOKEN_USER_DEFINED, false},
        {50, "<|tool_response>", G4_TOKEN_CONTROL, true}, /* USER_DEFINED in the file, EOG */
        {51, "<tool_response|>", G4_TOKEN_USER_DEFINED, false},
        {52, "<|\"|>", G4_TOKEN_USER_DEFINED, false},
        {98, "<|think|>", G4_TOKEN_CONTROL, false},
        {100, "<|channel>", G4_TOKEN_USER_DEFINED, false},
        {101, "<channel|>", G4_TOKEN_USER_DEFINED, false},
        {105, "<|turn>", G4_TOKEN_CONTROL, false},
        {106, "<turn|>", G4_TOKEN_CONTROL, true},
        {107, "\n", G4_TOKEN_NORMAL, false},
        {108, "\n\n", G4_TOKEN_NORMAL, false},
        {212, "</s>", G4_TOKEN_CONTROL, false}, /* not EOG for Gemma 4 */
        {238, "<0x00>", G4_TOKEN_BYTE, false},
        {255999, "<|image>", G4_TOKEN_CONTROL, false},
        {256000, "<|audio>", G4_TOKEN_CONTROL, false},
        {258880, "<|image|>", G4_TOKEN_CONTROL, false},
        {258881, "<|audio|>", G4_TOKEN_CONTROL, false},
        {258882, "<image|>", G4_TOKEN_CONTROL, false},
        {258883, "<audio|>", G4_TOKEN_CONTROL, false},
        {258884, "<|video|>", G4_TOKEN_CONTROL, false},
    };
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        size_t tl;
        const char *t = g4_vocab_text(v, S[i].id, &tl);
        T_CHECKF(t && tl == strlen(S[i].text) && memcmp(t, S[i].text, tl) == 0, "text of %d",
                 (int)S[i].id);
        T_CHECKF(g4_vocab_type(v, S[i].id) == S[i].type, "type of %d is %d", (int)S[i].id,
                 (int)g4_vocab_type(v, S[i].id));
        T_CHECKF(g4_vocab_is_eog(v, S[i].id) == S[i].eog, "eog of %d", (int)S[i].id);
        T_CHECK(g4_vocab_find(v, S[i].text, strlen(S[i].text)) == S[i].id);
        /* parse_special on: every special text is one token; off: only USER_DEFINED */
        int32_t one = S[i].id;
        if (S[i].type == G4_TOKEN_CONTROL || S[i].type == G4_TOKEN_USER_DEFINED) {
            T_CHECK(tok_is(v, S[i].text, strlen(S[i].text), false, true, &one, 1));
            size_t n = 0;
            int32_t *ids = tok(v, S[i].text, strlen(S[i].text), false, false, &n);
            bool single = n == 1 && ids && ids[0] == S[i].id;
            T_CHECKF(single == (S[i].type == G4_TOKEN_USER_DEFINED),
                     "%s with parse_special off", S[i].text);
            free(ids);
        }
    }
    T_CHECK(g4_vocab_n_special(v) == 25); /* 18 CONTROL + 7 USER_DEFINED in the file */
    T_CHECK(g4_vocab_max_special_len(v) == strlen("<|tool_response>"));

    /* a turn with parse_special on / off */
    const char *turn = "<|turn>user\nWhat is 2+2?<turn|>\n";
    size_t n = 0;
    int32_t *on = tok(v, turn, strlen(turn), false, true, &n);
    T_CHECK(on && n >= 5 && on[0] == 105 && on[1] == 2364 && on[2] == 107 && on[n - 2] == 106 &&
            on[n - 1] == 107);
    free(on);
    int32_t *off = tok(v, turn, strlen(turn), false, false, &n);
    T_CHECK(off && count_id(off, n, 105) == 0 && count_id(off, n, 106) == 0 && n > 8);
    char *d = NULL;
    size_t dn = 0;
    g4_error err = {0};
    T_CHECK(g4_detokenize(v, off, n, false, false, &d, &dn, &err) == G4_OK &&
            dn == strlen(turn) && memcmp(d, turn, dn) == 0);
    free(d);
    free(off);

    /* <|"|> and <|tool_call> always matched, <|tool_response> only with parse_special */
    const char *call = "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|>";
    for (int parse = 0; parse < 2; parse++) {
        int32_t *ids = tok(v, call, strlen(call), false, parse, &n);
        T_CHECK(ids && n > 4 && ids[0] == 48 && ids[n - 1] == 49 && count_id(ids, n, 52) == 2);
        T_CHECK(g4_detokenize(v, ids, n, false, false, &d, &dn, &err) == G4_OK &&
                dn == strlen(call) && memcmp(d, call, dn) == 0); /* USER_DEFINED render */
        free(d);
        free(ids);
    }
    const char *resp = "<|tool_response>response:f{value:<|\"|>ok<|\"|>}<tool_response|>";
    int32_t *r0 = tok(v, resp, strlen(resp), false, false, &n);
    T_CHECK(r0 && count_id(r0, n, 50) == 0 && count_id(r0, n, 52) == 2 && r0[n - 1] == 51);
    free(r0);
    int32_t *r1 = tok(v, resp, strlen(resp), false, true, &n);
    T_CHECK(r1 && r1[0] == 50 && count_id(r1, n, 52) == 2 && r1[n - 1] == 51);
    /* CONTROL <|tool_response> renders only with unparse_special */
    T_CHECK(g4_detokenize(v, r1, n, false, false, &d, &dn, &err) == G4_OK &&
            dn == strlen(resp) - 16 && memcmp(d, resp + 16, dn) == 0);
    free(d);
    T_CHECK(g4_detokenize(v, r1, n, false, true, &d, &dn, &err) == G4_OK &&
            dn == strlen(resp) && memcmp(d, resp, dn) == 0);
    free(d);
    free(r1);

    /* overlapping texts: the longer token wins, adjacent ones split cleanly */
    const int32_t w1[] = {255999, 258880, 258882, 258884, 256000, 258881, 258883};
    const char *media = "<|image><|image|><image|><|video|><|audio><|audio|><audio|>";
    T_CHECK(tok_is(v, media, strlen(media), false, true, w1, 7));
    const char *th = "<|channel>thought\n<channel|>";
    const int32_t w2[] = {100, 45518, 107, 101};
    T_CHECK(tok_is(v, th, strlen(th), false, false, w2, 4));
    const char *nest = "<<|turn>>";
    int32_t *ni = tok(v, nest, strlen(nest), false, true, &n);
    T_CHECK(ni && n == 3 && ni[1] == 105 && ni[0] != 105 && ni[2] != 105);
    free(ni);

    /* exactly one BOS: added once, or written once in the text (llama.cpp adds a second
     * one when both are asked for; the engine must not do both) */
    const char *p = "<|turn>user\nHi<turn|>\n<|turn>model\n";
    int32_t *b1 = tok(v, p, strlen(p), true, true, &n);
    T_CHECK(b1 && b1[0] == 2 && count_id(b1, n, 2) == 1);
    free(b1);
    const char *pb = "<bos><|turn>user\nHi<turn|>\n<|turn>model\n";
    int32_t *b2 = tok(v, pb, strlen(pb), false, true, &n);
    T_CHECK(b2 && b2[0] == 2 && count_id(b2, n, 2) == 1);
    free(b2);
    int32_t *b3 = tok(v, pb, strlen(pb), true, true, &n);
    T_CHECK(b3 && n > 2 && b3[0] == 2 && b3[1] == 2 && count_id(b3, n, 2) == 2);
    free(b3);
    int32_t *b4 = tok(v, pb, strlen(pb), true, false, &n); /* <bos> text not parsed */
    T_CHECK(b4 && b4[0] == 2 && count_id(b4, n, 2) == 1);
    free(b4);
    /* remove_special drops the added BOS only */
    int32_t seq[] = {2, 105, 9259};
    T_CHECK(g4_detokenize(v, seq, 3, true, true, &d, &dn, &err) == G4_OK && dn == 12 &&
            memcmp(d, "<|turn>Hello", 12) == 0);
    free(d);
}

/* ---- (d) round trips ---- */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static uint32_t rand_cp(void) {
    static const uint32_t R[][2] = {
        {0x20, 0x7E},     {0x20, 0x7E},     {0x20, 0x7E},       {0x0, 0x1F},
        {0xA0, 0x24F},    {0x370, 0x52F},   {0x590, 0x6FF},     {0x900, 0xDFF},
        {0xE00, 0xFFF},   {0x1100, 0x11FF}, {0x2000, 0x2BFF},   {0x3000, 0x30FF},
        {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xE000, 0xFFFF},   {0x10000, 0x1FFFF},
        {0x1F300, 0x1FAFF}, {0x20000, 0x3FFFF}, {0xE0000, 0x10FFFF},
    };
    for (;;) {
        const uint32_t *r = R[rnd() % (sizeof R / sizeof R[0])];
        uint32_t c = r[0] + rnd() % (r[1] - r[0] + 1);
        if ((c >= 0xD800 && c <= 0xDFFF) || c == 0x2581) continue;
        return c;
    }
}

/* Random valid UTF-8 (any code point but surrogates and U+2581), whitespace runs and the
 * texts of special tokens, parse_special on or off: decoding (unparse_special = parse)
 * returns the input exactly. Then invalid UTF-8: each byte that cannot start or continue
 * a sequence comes back as U+FFFD, as llama.cpp's code-point split produces it. */
static void test_roundtrip(const g4_vocab *v) {
    static const char *pieces[] = {
        " ", "  ", "\n", "\n\n\n", "\t", "\r\n", "<|turn>", "<turn|>", "<|\"|>", "<|tool_call>",
        "<|tool_response>", "<bos>", "<eos>", "<|image|>", "<unused7>", "<table>", "</s>",
        "<", "|>", "<|", "hello", "The", "ing", "123", "\xE2\x80\x8D", "\xEF\xB8\x8F"};
    const int NP = (int)(sizeof pieces / sizeof pieces[0]);
    char *s = malloc(1 << 14), *w = malloc(1 << 15);
    int fails = 0, total = 0;
    size_t bytes = 0;
    for (int it = 0; it < 4000; it++) {
        size_t sn = 0;
        int k = 1 + (int)(rnd() % 60);
        for (int j = 0; j < k; j++) {
            if (rnd() % 4 == 0) {
                const char *p = pieces[rnd() % (uint32_t)NP];
                memcpy(s + sn, p, strlen(p));
                sn += strlen(p);
            } else {
                sn += g4_utf8_encode(rand_cp(), s + sn);
            }
        }
        bool parse = it & 1;
        size_t n = 0;
        int32_t *ids = tok(v, s, sn, false, parse, &n);
        char *d = NULL;
        size_t dn = 0;
        g4_error err = {0};
        bool ok = ids && g4_detokenize(v, ids, n, false, parse, &d, &dn, &err) == G4_OK &&
                  dn == sn && memcmp(d, s, sn) == 0;
        if (!ok && fails++ < 5) fprintf(stderr, "valid round trip failed (iteration %d)\n", it);
        total++;
        bytes += sn;
        free(ids);
        free(d);
    }
    T_CHECKF(fails == 0, "%d/%d valid round trips failed", fails, total);

    /* invalid bytes: stray continuation bytes, bytes that never occur in UTF-8, lead bytes
     * cut short by ASCII. Expected: each such byte -> EF BF BD. */
    static const struct {
        const char *s, *want;
    } bad[] = {
        {"\x80", "\xEF\xBF\xBD"},
        {"\xBF", "\xEF\xBF\xBD"},
        {"\xFF", "\xEF\xBF\xBD"},
        {"\xFE", "\xEF\xBF\xBD"},
        {"\xF8", "\xEF\xBF\xBD"},
        {"\xC3!", "\xEF\xBF\xBD!"},
        {"\xE4\xB8.", "\xEF\xBF\xBD\xEF\xBF\xBD."},
        {"\xF0\x9F\x98 ", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "},
    };
    const int NB = (int)(sizeof bad / sizeof bad[0]);
    int bfails = 0;
    for (int it = 0; it < 3000; it++) {
        size_t sn = 0, wn = 0;
        int k = 1 + (int)(rnd() % 40);
        for (int j = 0; j < k; j++) {
            if (rnd() % 3 == 0) {
                int b = (int)(rnd() % (uint32_t)NB);
                size_t a = strlen(bad[b].s), c = strlen(bad[b].want);
                memcpy(s + sn, bad[b].s, a);
                memcpy(w + wn, bad[b].want, c);
                sn += a;
                wn += c;
            } else {
                size_t l = g4_utf8_encode(rand_cp(), s + sn);
                memcpy(w + wn, s + sn, l);
                sn += l;
                wn += l;
            }
        }
        bool parse = it & 1;
        size_t n = 0;
        int32_t *ids = tok(v, s, sn, it & 2, parse, &n);
        char *d = NULL;
        size_t dn = 0;
        g4_error err = {0};
        bool ok = ids && g4_detokenize(v, ids, n, true, parse, &d, &dn, &err) == G4_OK &&
                  dn == wn && memcmp(d, w, wn) == 0 && utf8_valid((const uint8_t *)d, dn);
        if (!ok && bfails++ < 5) fprintf(stderr, "invalid round trip failed (iteration %d)\n", it);
        free(ids);
        free(d);
    }
    T_CHECKF(bfails == 0, "%d invalid-UTF-8 round trips failed", bfails);

    /* llama.cpp decodes lead bytes without overlong / surrogate checks: an overlong form
     * becomes the code point it spells, a surrogate passes through (as byte tokens), a
     * 4-byte form above U+10FFFF becomes U+FFFD. Documented, not "fixed". */
    static const struct {
        const char *s;
        size_t n;
        const char *want;
        size_t wn;
    } odd[] = {
        {"\xC0\x80", 2, "\0", 1},
        {"\xC1\xBF", 2, "\x7F", 1},
        {"\xE0\x80\xAF", 3, "/", 1},
        {"\xED\xA0\x80", 3, "\xED\xA0\x80", 3},
        {"\xF4\x90\x80\x80", 4, "\xEF\xBF\xBD", 3},
        {"\xF5\x80\x80\x80", 4, "\xEF\xBF\xBD", 3},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t n = 0, dn = 0;
        int32_t *ids = tok(v, odd[i].s, odd[i].n, false, false, &n);
        char *d = NULL;
        g4_error err = {0};
        T_CHECKF(ids && g4_detokenize(v, ids, n, false, false, &d, &dn, &err) == G4_OK &&
                     dn == odd[i].wn && memcmp(d, odd[i].want, dn) == 0,
                 "odd UTF-8 case %zu", i);
        free(ids);
        free(d);
    }
    fprintf(stderr, "round trips: %d valid strings (%zu bytes) exact, 3000 with invalid bytes "
                    "-> U+FFFD as specified\n", total, bytes);
    free(s);
    free(w);
}

/* ---- (d) every token ---- */

static void test_pieces(const g4_vocab *v) {
    T_CHECK(g4_vocab_n_tokens(v) == N_VOCAB);
    char buf[512], esc[512];
    int bad = 0, n_ctrl = 0, n_byte = 0, n_user = 0;
    size_t total_on = 0, total_off = 0;
    for (int32_t id = 0; id < N_VOCAB; id++) {
        size_t tl;
        const char *t = g4_vocab_text(v, id, &tl);
        g4_token_type ty = g4_vocab_type(v, id);
        size_t on = g4_token_piece(v, id, true, buf, sizeof buf);
        size_t off = g4_token_piece(v, id, false, buf, sizeof buf);
        total_on += on;
        total_off += off;
        bool ok = t != NULL && tl < sizeof esc;
        if (!ok) {
            bad++;
            continue;
        }
        switch (ty) {
        case G4_TOKEN_BYTE:
            n_byte++;
            ok = on == 1 && off == 1;
            break;
        case G4_TOKEN_CONTROL:
            n_ctrl++;
            ok = off == 0 && on == tl;
            break;
        case G4_TOKEN_USER_DEFINED:
            n_user++;
            /* fallthrough */
        case G4_TOKEN_NORMAL:
            ok = on == off && off == unescape_2581(t, tl, esc) && memcmp(buf, esc, off) == 0;
            break;
        default:
            ok = false;
        }
        if (!ok && bad++ < 5) fprintf(stderr, "piece of token %d (type %d) wrong\n", id, ty);
    }
    T_CHECKF(bad == 0, "%d tokens detokenize wrongly", bad);
    T_CHECK(n_byte == 256 && n_ctrl == 19 && n_user == 6); /* <|tool_response> retyped */
    T_CHECK(g4_token_piece(v, -1, true, buf, sizeof buf) == 0);
    T_CHECK(g4_token_piece(v, N_VOCAB, true, buf, sizeof buf) == 0);
    /* a small cap never overruns: the full length is still reported */
    char small[2] = {'x', 'y'};
    size_t tl;
    g4_vocab_text(v, 137, &tl); /* 31 newlines */
    T_CHECK(g4_token_piece(v, 137, false, small, 1) == tl && small[0] == '\n' && small[1] == 'y');

    /* all ids at once, both modes */
    int32_t *all = malloc(N_VOCAB * sizeof *all);
    for (int32_t i = 0; i < N_VOCAB; i++) all[i] = i;
    char *d = NULL;
    size_t dn = 0;
    g4_error err = {0};
    T_CHECK(g4_detokenize(v, all, N_VOCAB, false, true, &d, &dn, &err) == G4_OK &&
            dn == total_on);
    free(d);
    T_CHECK(g4_detokenize(v, all, N_VOCAB, true, false, &d, &dn, &err) == G4_OK &&
            dn == total_off);
    free(d);
    free(all);

    /* byte tokens: <0xXX> at ids 238..493, each yields its byte */
    int bytes_ok = 0;
    for (int b = 0; b < 256; b++) {
        int32_t id = g4_vocab_byte_token(v, (uint8_t)b);
        char c = 0;
        bytes_ok += id == 238 + b && g4_token_piece(v, id, false, &c, 1) == 1 && (uint8_t)c == b;
    }
    T_CHECK(bytes_ok == 256);
    /* every code point that has no token falls back to its bytes, and streaming them one
     * token at a time emits the character only once it is complete */
    int fb_chars = 0, fb_ok = 0;
    for (uint32_t c = 0x10000; c < 0x30000; c += 97) {
        char s[4];
        size_t sl = g4_utf8_encode(c, s);
        if (g4_vocab_find(v, s, sl) >= 0) continue;
        size_t n = 0;
        int32_t *ids = tok(v, s, sl, false, false, &n);
        fb_chars++;
        bool ok = ids && n == sl;
        for (size_t i = 0; ok && i < n; i++) ok = ids[i] == 238 + (uint8_t)s[i];
        g4_utf8_stream st = {0};
        char out[16];
        for (size_t i = 0; ok && i < n; i++) {
            char p;
            g4_token_piece(v, ids[i], false, &p, 1);
            size_t k = g4_utf8_stream_feed(&st, &p, 1, out);
            ok = (i + 1 < n) ? k == 0 : (k == sl && memcmp(out, s, sl) == 0);
        }
        fb_ok += ok && g4_utf8_stream_flush(&st, out) == 0;
        free(ids);
    }
    T_CHECKF(fb_ok == fb_chars && fb_chars > 100, "byte fallback streaming %d/%d", fb_ok,
             fb_chars);
    fprintf(stderr, "pieces: all %d ids detokenize (%d byte, %d control, %d user-defined), "
                    "%d code points stream through byte fallback\n",
            N_VOCAB, n_byte, n_ctrl, n_user, fb_chars);
}

/* ---- (e) load ---- */

static void test_vocab_basics(const g4_vocab *v) {
    T_CHECK(g4_vocab_bos(v) == 2 && g4_vocab_eos(v) == 1 && g4_vocab_unk(v) == 3);
    T_CHECK(g4_vocab_add_bos(v));
    T_CHECK(g4_vocab_merge_rank(v, "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
                                30, "\n", 1) == 0);
    T_CHECK(g4_vocab_merge_rank(v, "\xE2\x96\x81", 3, "\xE2\x96\x81", 3) >= 0);
    T_CHECK(g4_vocab_merge_rank(v, "\n", 1, "a", 1) < 0);
    /* the BPE pre-split: no merge puts a letter before '▁'; '▁' + letter does join */
    uint32_t e = g4_vocab_pack_char("e", 1), sp = g4_vocab_pack_char("\xE2\x96\x81", 3);
    T_CHECK(!g4_vocab_may_join(v, e, sp) && g4_vocab_may_join(v, sp, e));
    T_CHECK(g4_vocab_symbol(v, "e", 1) == g4_vocab_find(v, "e", 1) &&
            g4_vocab_symbol(v, "\xE4\xBD\xA0", 3) == g4_vocab_find(v, "\xE4\xBD\xA0", 3) &&
            g4_vocab_symbol(v, "\xC3\xA9", 2) == g4_vocab_find(v, "\xC3\xA9", 2));
    g4_vocab *bad = NULL;
    g4_error err = {0};
    T_CHECK(g4_vocab_load_gguf(G4_TEST_DATA "/no/such/file.gguf", &bad, &err) == G4_ERR_IO &&
            !bad && err.msg[0]);
    T_CHECK(g4_vocab_load_gguf(NULL, &bad, &err) == G4_ERR_ARG);
    T_CHECK(g4_vocab_load_gguf(REAL_VOCAB, NULL, &err) == G4_ERR_ARG);
    /* not a GGUF: the compressed file */
    T_CHECK(g4_vocab_load_gguf(REAL_VOCAB_GZ, &bad, &err) != G4_OK && !bad);
    /* a whole model file works too */
    T_CHECK(g4_vocab_load_gguf(G4_TEST_DATA "/dense-f32.gguf", &bad, &err) == G4_OK && bad &&
            g4_vocab_n_tokens(bad) == 640);
    g4_vocab_free(bad);
}

/* ---- merges that name non-tokens (the symbol table beyond the tokens) ---- */

static void test_irregular_merges(void) {
    const char *toks[] = {"<unk>", "a", "b", "c", "abc", "<0x61>", "<0x62>", "<0x63>", "x", "xy"};
    int32_t types[] = {2, 1, 1, 1, 1, 6, 6, 6, 1, 1};
    enum { NSYN = 3000 };
    const char **merges = malloc((5 + NSYN) * sizeof *merges);
    char (*syn)[32] = malloc(NSYN * sizeof *syn);
    merges[0] = "a b";  /* -> "ab": not a token */
    merges[1] = "ab c"; /* -> "abc" */
    merges[2] = "x y";  /* "y" is no token, "xy" is */
    merges[3] = "q r";  /* nothing here is a token */
    merges[4] = "qr s";
    for (int i = 0; i < NSYN; i++) { /* many merge-only strings: the symbol table grows */
        snprintf(syn[i], sizeof syn[i], "m%d n%d", i, i);
        merges[5 + i] = syn[i];
    }
    g4_vocab_desc d = {.n_tokens = 10, .tokens = toks, .token_types = types,
                       .n_merges = 5 + NSYN, .merges = merges, .bos_id = -1, .eos_id = -1,
                       .unk_id = 0};
    g4_vocab *v = NULL;
    g4_error err = {0};
    T_CHECK(g4_vocab_create(&d, &v, &err) == G4_OK && v);
    free(merges);
    free(syn);
    if (!v) return;
    T_CHECK(g4_vocab_n_tokens(v) == 10 && g4_vocab_n_symbols(v) > 10 + 2 * NSYN);
    T_CHECK(g4_vocab_find(v, "ab", 2) == -1 && g4_vocab_symbol(v, "ab", 2) >= 10);
    T_CHECK(g4_vocab_merge_rank(v, "ab", 2, "c", 1) == 1);
    T_CHECK(g4_vocab_merge_rank(v, "q", 1, "r", 1) == 3);
    T_CHECK(g4_vocab_merge_rank(v, "m2999", 5, "n2999", 5) == 5 + 2999);
    T_CHECK(g4_vocab_merge_rank(v, "m1", 2, "n2", 2) < 0);
    static const struct {
        const char *in;
        int32_t want[4];
        size_t n;
    } C[] = {
        {"abc", {4}, 1},
        {"ab", {5, 6}, 2},    /* merged to a non-token: its bytes */
        {"xy", {9}, 1},       /* through a part that is no token */
        {"y", {0}, 1},        /* no token, no byte token: <unk> */
        {"qrs", {0, 0, 0}, 3}, /* merged to a non-token without byte tokens: <unk> per byte */
        {"cab", {3, 5, 6}, 3},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++)
        T_CHECKF(tok_is(v, C[i].in, strlen(C[i].in), false, false, C[i].want, C[i].n),
                 "irregular case '%s'", C[i].in);
    g4_vocab_free(v);
}

int main(void) {
    if (!ensure_vocab()) {
        fprintf(stderr, "cannot unpack %s\n", REAL_VOCAB_GZ);
        T_CHECK(false);
        return T_DONE();
    }
    g4_vocab *v = NULL;
    g4_error err = {0};
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        g4_vocab *x = NULL;
        double t0 = now_s();
        g4_status st = g4_vocab_load_gguf(REAL_VOCAB, &x, &err);
        double dt = now_s() - t0;
        T_CHECKF(st == G4_OK, "%s", err.msg);
        if (st) return T_DONE();
        if (dt < best) best = dt;
        if (v) g4_vocab_free(v);
        v = x;
    }
    fprintf(stderr, "load: %d tokens in %.3f s (best of 3)\n", g4_vocab_n_tokens(v), best);
    T_CHECKF(best < 10.0, "loading took %.2f s", best); /* generous: ASan builds are slower */
    test_vocab_basics(v);
    test_irregular_merges();
    test_spec(v);
    test_diff(v);
    test_special(v);
    test_roundtrip(v);
    test_pieces(v);
    g4_vocab_free(v);
    return T_DONE();
}
