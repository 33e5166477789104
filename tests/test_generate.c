/* test_generate.c — the generation loop on the tiny dense fixture: greedy output equals
 * llama.cpp's golden continuation, the cached prefix is reused (and reuse changes
 * nothing), stop strings, n_predict, context limits, cancellation, end-of-generation
 * tokens, seeded sampling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/generate.h"
#include "text/tokenize.h"
#include "engine/engine.h"
#include "t.h"
#include "t_model.h"

#define DATA G4_TEST_DATA

/* dense-f32 golden p3: the chat prompt, and llama.cpp's 24 greedy tokens */
static const int32_t P3[] = {2, 6, 461, 394, 283, 318, 336, 403, 323, 395, 391, 326, 333, 336, 338, 391, 338,
                             333, 336, 343, 395, 320, 333, 339, 338, 388, 477, 292, 7, 283, 6, 331, 412, 283};
static const int32_t GEN3[] = {283, 283, 105, 105, 105, 105, 470, 298, 283, 569, 569, 569,
                               569, 569, 510, 602, 602, 602, 602, 111, 111, 111, 111, 111};
#define NP3 ((int)(sizeof P3 / sizeof *P3))
#define NG3 ((int)(sizeof GEN3 / sizeof *GEN3))

typedef struct {
    int32_t toks[4096];
    int n;
    g4_buf text;
    int cancel_after; /* 0 = never */
} rec;

static void on_tok(void *u, int32_t t, float lp, const g4_token_prob *top, int n_top) {
    rec *r = u;
    (void)lp, (void)top, (void)n_top;
    if (r->n < 4096) r->toks[r->n++] = t;
}
static void on_text(void *u, g4_parse_kind k, const char *s, size_t n) {
    rec *r = u;
    (void)k;
    g4_buf_add(&r->text, s, n);
}
static bool stop_cb(void *u) {
    rec *r = u;
    return r->cancel_after && r->n >= r->cancel_after;
}

static g4_gen_params greedy(rec *r, int n_predict) {
    g4_gen_params p = g4_gen_params_default();
    p.sampling.temperature = 0;
    p.n_predict = n_predict;
    p.parse = false;
    p.on_token = on_tok;
    p.on_text = on_text;
    p.should_stop = stop_cb;
    p.user = r;
    r->n = 0;
    g4_buf_clear(&r->text);
    return p;
}

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int L = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!L || i + (size_t)L > n) return false;
        for (int k = 1; k < L; k++)
            if (((unsigned char)s[i + (size_t)k] & 0xC0) != 0x80) return false;
        i += (size_t)L;
    }
    return true;
}

int main(void) {
    g4_engine *e = t_open_fixture("dense-f32", G4_LOAD_MMAP);
    if (!e) return T_DONE();
    g4_error err = {0};
    const g4_vocab *v = g4_engine_vocab(e, &err);
    T_CHECK(v != NULL);
    rec r = {.text = G4_BUF_INIT};
    g4_gen_result res;
    g4_gen *g = NULL, *g2 = NULL;
    T_CHECK(g4_gen_create(e, 256, 16, &g, &err) == G4_OK);
    T_CHECK(g4_gen_create(e, 256, 16, &g2, &err) == G4_OK);

    /* 1. greedy = llama.cpp's golden continuation; raw text = detokenized tokens */
    g4_gen_params p = greedy(&r, NG3);
    T_CHECKF(g4_gen_run(g, P3, NP3, &p, &res, &err) == G4_OK, "%s", err.msg);
    T_CHECK(r.n == NG3 && res.n_gen == NG3 && res.n_prompt == NP3 && res.n_cached == 0);
    T_CHECK(res.finish == G4_FINISH_LENGTH);
    T_CHECK(memcmp(r.toks, GEN3, sizeof GEN3) == 0);
    char *det = NULL;
    size_t dl = 0;
    T_CHECK(g4_detokenize(v, GEN3, NG3, false, false, &det, &dl, &err) == G4_OK);
    T_CHECK(valid_utf8(r.text.p, r.text.n));
    if (valid_utf8(det, dl)) T_CHECKF(r.text.n == dl && !memcmp(r.text.p, det, dl), "text '%s' vs '%s'", r.text.p, det);

    /* 2. prefix reuse: prompt = P3 + 10 generated + one different token */
    int32_t p2[NP3 + 11];
    memcpy(p2, P3, sizeof P3);
    memcpy(p2 + NP3, GEN3, 10 * sizeof *GEN3);
    p2[NP3 + 10] = 283;
    p = greedy(&r, 12);
    T_CHECKF(g4_gen_run(g, p2, NP3 + 11, &p, &res, &err) == G4_OK, "%s", err.msg);
    T_CHECKF(res.n_cached == NP3 + 10, "cached %d, want %d", res.n_cached, NP3 + 10);
    int32_t with_cache[12];
    memcpy(with_cache, r.toks, sizeof with_cache);
    p = greedy(&r, 12);
    T_CHECK(g4_gen_run(g2, p2, NP3 + 11, &p, &res, &err) == G4_OK && res.n_cached == 0);
    T_CHECK(memcmp(with_cache, r.toks, sizeof with_cache) == 0);
    /* the same prompt again: everything but the last token comes from the cache */
    p = greedy(&r, 12);
    T_CHECK(g4_gen_run(g2, p2, NP3 + 11, &p, &res, &err) == G4_OK);
    T_CHECKF(res.n_cached == NP3 + 10, "cached %d", res.n_cached);
    T_CHECK(memcmp(with_cache, r.toks, sizeof with_cache) == 0);
    /* a shorter prompt cuts the cache back (within the sliding-window ring: window 16 +
     * batch 16 positions) ... */
    p = greedy(&r, 5);
    T_CHECK(g4_gen_run(g2, p2, NP3 + 10, &p, &res, &err) == G4_OK);
    T_CHECKF(res.n_cached == NP3 + 9, "cached %d", res.n_cached);
    T_CHECK(memcmp(r.toks, GEN3 + 10, 5 * sizeof *GEN3) == 0);
    /* ... but not further back than the ring holds: then the prompt is evaluated afresh */
    p = greedy(&r, 5);
    T_CHECK(g4_gen_run(g2, P3, 20, &p, &res, &err) == G4_OK && res.n_cached == 0);
    g4_gen_reset(g2);
    p = greedy(&r, 5);
    T_CHECK(g4_gen_run(g2, P3, 20, &p, &res, &err) == G4_OK && res.n_cached == 0);

    /* 3. n_predict 0, cancellation */
    p = greedy(&r, 0);
    T_CHECK(g4_gen_run(g, P3, NP3, &p, &res, &err) == G4_OK && res.n_gen == 0 && r.n == 0);
    p = greedy(&r, -1);
    r.cancel_after = 3;
    T_CHECK(g4_gen_run(g, P3, NP3, &p, &res, &err) == G4_OK);
    T_CHECK(res.finish == G4_FINISH_CANCELLED && res.n_gen == 3);
    r.cancel_after = 0;

    /* 4. stop strings: output ends right before the first occurrence */
    if (valid_utf8(det, dl) && dl > 8) {
        char stop[8];
        size_t at = dl / 2;
        while (at < dl && ((unsigned char)det[at] & 0xC0) == 0x80) at++;
        size_t sl = 1;
        while (at + sl < dl && ((unsigned char)det[at + sl] & 0xC0) == 0x80) sl++;
        memcpy(stop, det + at, sl);
        stop[sl] = 0;
        const char *first = strstr(det, stop);
        const char *stops[2] = {"never appears in this text", stop};
        p = greedy(&r, NG3);
        p.stop = stops;
        p.n_stop = 2;
        T_CHECK(g4_gen_run(g, P3, NP3, &p, &res, &err) == G4_OK);
        T_CHECK(res.finish == G4_FINISH_STOP);
        T_CHECKF(r.text.n == (size_t)(first - det) && !memcmp(r.text.p, det, r.text.n), "stop '%s': got '%s'", stop,
                 g4_buf_str(&r.text));
    }

    /* 5. end-of-generation: force <turn|> */
    int32_t eot = g4_vocab_find(v, "<turn|>", 7);
    T_CHECK(eot >= 0 && g4_vocab_is_eog(v, eot));
    g4_logit_bias b = {eot, 1e4f};
    p = greedy(&r, 10);
    p.sampling.bias = &b;
    p.sampling.n_bias = 1;
    T_CHECK(g4_gen_run(g, P3, NP3, &p, &res, &err) == G4_OK);
    T_CHECK(res.finish == G4_FINISH_STOP && res.n_gen == 1 && r.text.n == 0);

    /* 6. context limits */
    g4_gen *small = NULL;
    T_CHECK(g4_gen_create(e, 40, 16, &small, &err) == G4_OK);
    p = greedy(&r, -1);
    T_CHECK(g4_gen_run(small, P3, NP3, &p, &res, &err) == G4_OK);
    T_CHECKF(res.finish == G4_FINISH_LENGTH && res.n_gen == 40 - NP3 + 1, "finish %d n_gen %d", res.finish, res.n_gen);
    T_CHECK(memcmp(r.toks, GEN3, (size_t)r.n * sizeof *GEN3) == 0);
    int32_t longp[41];
    for (int i = 0; i < 41; i++) longp[i] = P3[i % NP3];
    p = greedy(&r, 4);
    T_CHECK(g4_gen_run(small, longp, 41, &p, &res, &err) == G4_ERR_CTX_FULL);
    T_CHECK(strstr(err.msg, "41 tokens") && strstr(err.msg, "context holds 40"));
    int32_t badp[2] = {2, 1 << 20};
    T_CHECK(g4_gen_run(small, badp, 2, &p, &res, &err) == G4_ERR_ARG);
    g4_gen_free(small);

    /* 7. seeded sampling is reproducible, also through the cache */
    int32_t s1[16];
    for (int rep = 0; rep < 2; rep++) {
        p = greedy(&r, 16);
        p.sampling.temperature = 1.5f;
        p.sampling.top_k = 0;
        p.sampling.top_p = 1;
        p.sampling.seed = 1234;
        T_CHECK(g4_gen_run(rep ? g2 : g, P3, NP3, &p, &res, &err) == G4_OK && r.n == 16);
        if (!rep) memcpy(s1, r.toks, sizeof s1);
        else T_CHECK(memcmp(s1, r.toks, sizeof s1) == 0);
    }

    free(det);
    g4_buf_free(&r.text);
    g4_gen_free(g);
    g4_gen_free(g2);
    g4_engine_free(e);
    return T_DONE();
}
