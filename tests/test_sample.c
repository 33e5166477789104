/* test_sample.c — the sampler (src/sample/sample.h) and the stop-string matcher
 * (src/sample/stop.h).
 *
 * Sampler: parameter checks; greedy, ties, NaN and -inf/+inf logits; penalties and logit
 * bias against hand-computed logits; seeded determinism; chi-square checks of the
 * drawn distribution; exact exclusion by top-k / top-p / min-p on small vocabularies;
 * and a straightforward reference (full sort, then the filters in llama.cpp's order)
 * that must give the identical candidate set as the fast path on random 262144-token
 * logits for many parameter combinations, with both kernel sets.
 * Stops: a brute-force reference over every 1-, 2- and 3-piece split and byte by byte,
 * including the exact byte at which the stop is decided and the held-back text. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "sample/sample.h"
#include "sample/stop.h"
#include "t.h"

/* ---- helpers ---- */

static uint64_t trng = 0x9E3779B97F4A7C15ull;
static uint64_t tnext(void) {
    trng ^= trng << 13;
    trng ^= trng >> 7;
    trng ^= trng << 17;
    return trng;
}
static double tunif(void) { return (double)(tnext() >> 11) / 9007199254740992.0; }
static double tnorm(void) {
    double u = tunif(), v = tunif();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static g4_sampler *mk(const g4_sampler_params *p, int32_t n) {
    g4_sampler *s = NULL;
    g4_error err = {0};
    g4_status st = g4_sampler_new(p, n, &s, &err);
    T_CHECKF(st == G4_OK && s, "g4_sampler_new: %s", err.msg);
    return s;
}

static g4_sampler_params base_params(void) {
    g4_sampler_params p = g4_sampler_defaults();
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 1234;
    return p;
}

/* ---- parameter checks ---- */

static void expect_bad(g4_sampler_params p, int32_t n, const char *word) {
    g4_sampler *s = (g4_sampler *)1;
    g4_error err = {0};
    g4_status st = g4_sampler_new(&p, n, &s, &err);
    T_CHECKF(st == G4_ERR_ARG && s == NULL, "expected G4_ERR_ARG for %s, got %d", word, (int)st);
    T_CHECKF(strstr(err.msg, word) != NULL, "message '%s' should name '%s'", err.msg, word);
    g4_sampler_free(st == G4_OK ? s : NULL);
}

static void test_params(void) {
    g4_sampler_params d = g4_sampler_defaults();
    T_CHECK(d.temperature == 1.0f && d.top_k == 64 && d.top_p == 0.95f && d.min_p == 0.0f);
    T_CHECK(d.repeat_penalty == 1.0f && d.presence_penalty == 0 && d.frequency_penalty == 0);
    T_CHECK(d.seed == G4_SEED_RANDOM && d.bias == NULL && d.n_bias == 0);

    g4_sampler_params p = base_params();
    p.temperature = NAN;
    expect_bad(p, 10, "temperature");
    p = base_params();
    p.temperature = INFINITY;
    expect_bad(p, 10, "temperature");
    p = base_params();
    p.top_p = -0.1f;
    expect_bad(p, 10, "top_p");
    p.top_p = NAN;
    expect_bad(p, 10, "top_p");
    p = base_params();
    p.min_p = -0.5f;
    expect_bad(p, 10, "min_p");
    p.min_p = 1.5f;
    expect_bad(p, 10, "min_p");
    p.min_p = NAN;
    expect_bad(p, 10, "min_p");
    p = base_params();
    p.repeat_penalty = 0;
    expect_bad(p, 10, "repeat_penalty");
    p.repeat_penalty = -1;
    expect_bad(p, 10, "repeat_penalty");
    p.repeat_penalty = NAN;
    expect_bad(p, 10, "repeat_penalty");
    p = base_params();
    p.presence_penalty = NAN;
    expect_bad(p, 10, "presence_penalty");
    p = base_params();
    p.frequency_penalty = INFINITY;
    expect_bad(p, 10, "frequency_penalty");
    p = base_params();
    p.repeat_last_n = -2;
    expect_bad(p, 10, "repeat_last_n");
    p.repeat_last_n = 1 << 30;
    expect_bad(p, 10, "repeat_last_n");
    p = base_params();
    g4_logit_bias b1[] = {{3, 1.0f}, {10, -INFINITY}};
    p.bias = b1;
    p.n_bias = 2;
    expect_bad(p, 10, "token 10");
    g4_logit_bias b2[] = {{-1, 1.0f}};
    p.bias = b2;
    p.n_bias = 1;
    expect_bad(p, 10, "token -1");
    g4_logit_bias b3[] = {{2, NAN}};
    p.bias = b3;
    expect_bad(p, 10, "NaN");
    p.bias = NULL;
    expect_bad(p, 10, "bias");
    p = base_params();
    expect_bad(p, 0, "vocabulary");

    /* accepted edge values */
    p = base_params();
    p.temperature = -1;
    p.top_k = -5;
    p.top_p = 7;
    p.min_p = 1;
    p.presence_penalty = -2;
    p.frequency_penalty = -2;
    p.repeat_last_n = -1;
    g4_sampler *s = mk(&p, 10);
    g4_sampler_free(s);
    g4_sampler_free(NULL);
    T_CHECK(g4_sampler_new(NULL, 10, &s, NULL) == G4_ERR_ARG);
}

/* ---- greedy and special values ---- */

static void test_greedy(void) {
    g4_sampler_params p = base_params();
    p.temperature = 0;
    g4_sampler *s = mk(&p, 8);
    float l1[8] = {0.1f, 2.0f, -1.0f, 3.5f, 3.4f, 0, 0, 1};
    T_CHECK(g4_sampler_sample(s, l1) == 3);
    g4_sample_info li = g4_sampler_last(s);
    T_CHECK(li.token == 3 && li.prob == 1.0f && li.n_candidates == 1);
    float l2[8] = {1, 5, 2, 5, 5, -1, 0, 4}; /* ties -> lowest id */
    T_CHECK(g4_sampler_sample(s, l2) == 1);
    float l3[8] = {NAN, 1, NAN, 2, NAN, -INFINITY, 0, NAN}; /* NaN is never chosen */
    T_CHECK(g4_sampler_sample(s, l3) == 3);
    float l4[8] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    T_CHECK(g4_sampler_sample(s, l4) == G4_TOKEN_NONE);
    T_CHECK(g4_sampler_last(s).token == G4_TOKEN_NONE && g4_sampler_last(s).n_candidates == 0);
    float l5[8];
    for (int i = 0; i < 8; i++) l5[i] = -INFINITY;
    T_CHECK(g4_sampler_sample(s, l5) == G4_TOKEN_NONE);
    l5[6] = -1e30f;
    T_CHECK(g4_sampler_sample(s, l5) == 6);
    float l6[8] = {1, INFINITY, 2, INFINITY, 0, 0, 0, 0};
    T_CHECK(g4_sampler_sample(s, l6) == 1);
    /* logits are not modified */
    float l7[8] = {0.5f, NAN, -INFINITY, 1, 2, 3, 4, 5};
    float c7[8];
    memcpy(c7, l7, sizeof c7);
    g4_sampler_sample(s, l7);
    T_CHECK(memcmp(c7, l7, sizeof c7) == 0);
    T_CHECK(g4_sampler_sample(NULL, l7) == G4_TOKEN_NONE && g4_sampler_sample(s, NULL) == G4_TOKEN_NONE);
    g4_sampler_free(s);

    /* sampling: NaN and -inf are never drawn, all-banned gives G4_TOKEN_NONE */
    p = base_params();
    s = mk(&p, 8);
    int seen[8] = {0};
    for (int i = 0; i < 2000; i++) {
        int32_t t = g4_sampler_sample(s, l3);
        T_CHECK(t >= 0 && t < 8);
        if (t >= 0 && t < 8) seen[t]++;
    }
    T_CHECK(seen[0] == 0 && seen[2] == 0 && seen[4] == 0 && seen[5] == 0 && seen[7] == 0);
    T_CHECK(seen[1] > 0 && seen[3] > 0 && seen[6] > 0);
    T_CHECK(g4_sampler_sample(s, l4) == G4_TOKEN_NONE);
    T_CHECK(g4_sampler_sample(s, l5) == 6); /* the only finite one */
    /* +inf logits share the probability equally; the rest get none */
    int inf_seen[8] = {0};
    for (int i = 0; i < 3000; i++) {
        int32_t t = g4_sampler_sample(s, l6);
        if (t >= 0 && t < 8) inf_seen[t]++;
    }
    T_CHECKF(inf_seen[1] + inf_seen[3] == 3000 && inf_seen[1] > 1300 && inf_seen[3] > 1300, "+inf: %d %d",
             inf_seen[1], inf_seen[3]);
    g4_token_prob cp[8];
    T_CHECK(g4_sampler_candidates(s, l6, cp, 8) == 2 && cp[0].token == 1 && cp[1].token == 3 &&
            cp[0].prob == 0.5f);
    g4_sampler_free(s);
    /* +inf and the filters: top-k keeps the lowest ids, top-p a share of them */
    float l8[8] = {INFINITY, 0, INFINITY, INFINITY, 5, INFINITY, 0, 0};
    p.top_k = 3;
    s = mk(&p, 8);
    T_CHECK(g4_sampler_candidates(s, l8, cp, 8) == 3 && cp[0].token == 0 && cp[1].token == 2 &&
            cp[2].token == 3);
    g4_sampler_free(s);
    p.top_k = 0;
    p.top_p = 0.5f; /* ceil(0.5 * 4) = 2 */
    s = mk(&p, 8);
    T_CHECK(g4_sampler_candidates(s, l8, cp, 8) == 2 && cp[0].token == 0 && cp[1].token == 2);
    int drawn_ok = 1;
    for (int i = 0; i < 200; i++) {
        int32_t t = g4_sampler_sample(s, l8);
        drawn_ok &= t == 0 || t == 2;
    }
    T_CHECK(drawn_ok);
    g4_sampler_free(s);
}

/* ---- top-k = 1 is greedy; determinism ---- */

static void fill_gauss(float *l, int n, double sigma) {
    for (int i = 0; i < n; i++) l[i] = (float)(sigma * tnorm());
}

static void test_topk1_and_seeds(void) {
    enum { N = 1000 };
    static float l[N];
    g4_sampler_params pg = base_params(), p1 = base_params();
    pg.temperature = 0;
    p1.top_k = 1;
    p1.temperature = 1.3f;
    g4_sampler *g = mk(&pg, N), *s = mk(&p1, N);
    for (int r = 0; r < 200; r++) {
        fill_gauss(l, N, 2);
        if (r % 3 == 0) l[r] = l[(r + 7) % N] = 50; /* ties at the top */
        T_CHECK(g4_sampler_sample(g, l) == g4_sampler_sample(s, l));
    }
    g4_sampler_free(g);
    g4_sampler_free(s);

    /* same seed -> same sequence, another seed -> another, reset -> replay */
    enum { NV = 262144, STEPS = 40 };
    float *big = malloc((size_t)NV * sizeof *big);
    fill_gauss(big, NV, 1.0);
    struct {
        int top_k;
        float top_p, min_p, temp;
    } cfg[] = {{0, 1, 0, 1}, {64, 0.95f, 0, 1}, {0, 0.95f, 0, 0.8f}, {0, 1, 0.05f, 1},
               {5000, 0.99f, 0, 1.2f}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        g4_sampler_params p = base_params();
        p.top_k = cfg[c].top_k;
        p.top_p = cfg[c].top_p;
        p.min_p = cfg[c].min_p;
        p.temperature = cfg[c].temp;
        p.seed = 77;
        g4_sampler *a = mk(&p, NV), *b = mk(&p, NV);
        p.seed = 78;
        g4_sampler *o = mk(&p, NV);
        g4_sampler_use_portable_kernels(b);
        int32_t seq[STEPS];
        int same_b = 1, diff_o = 0;
        for (int i = 0; i < STEPS; i++) {
            seq[i] = g4_sampler_sample(a, big);
            same_b &= g4_sampler_sample(b, big) == seq[i];
            diff_o |= g4_sampler_sample(o, big) != seq[i];
        }
        T_CHECKF(same_b, "config %zu: same seed, different sequence", c);
        T_CHECKF(diff_o, "config %zu: another seed, same sequence", c);
        g4_sampler_reset(a);
        int replay = 1;
        for (int i = 0; i < STEPS; i++) replay &= g4_sampler_sample(a, big) == seq[i];
        T_CHECKF(replay, "config %zu: reset does not replay", c);
        g4_sampler_free(a);
        g4_sampler_free(b);
        g4_sampler_free(o);
    }
    free(big);

    /* a random seed is reported and reproduces the run */
    g4_sampler_params p = base_params();
    p.seed = G4_SEED_RANDOM;
    g4_sampler *r1 = mk(&p, N), *r2 = mk(&p, N);
    T_CHECK(g4_sampler_seed(r1) != G4_SEED_RANDOM && g4_sampler_seed(r1) != g4_sampler_seed(r2));
    p.seed = g4_sampler_seed(r1);
    g4_sampler *r3 = mk(&p, N);
    fill_gauss(l, N, 1);
    int same = 1;
    for (int i = 0; i < 50; i++) same &= g4_sampler_sample(r1, l) == g4_sampler_sample(r3, l);
    T_CHECK(same);
    g4_sampler_free(r1);
    g4_sampler_free(r2);
    g4_sampler_free(r3);
}

/* ---- the drawn distribution ---- */

/* 20000 draws; chi-square against softmax(logits / T) over the expected support, which
 * must contain every draw. 0.001 critical values for 1..6 degrees of freedom. */
static void chi_square(const char *name, const g4_sampler_params *p, const float *l, int n,
                       const int *support) {
    static const double crit[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46};
    enum { DRAWS = 20000 };
    g4_sampler *s = mk(p, n);
    int cnt[16] = {0}, out = 0;
    for (int i = 0; i < DRAWS; i++) {
        int32_t t = g4_sampler_sample(s, l);
        if (t < 0 || t >= n || !support[t]) out++;
        else cnt[t]++;
    }
    T_CHECKF(out == 0, "%s: %d draws outside the expected set", name, out);
    double mx = -INFINITY, z = 0, prob[16];
    for (int i = 0; i < n; i++)
        if (support[i] && l[i] > mx) mx = l[i];
    for (int i = 0; i < n; i++) z += (prob[i] = support[i] ? exp(((double)l[i] - mx) / p->temperature) : 0);
    double chi = 0;
    int df = -1;
    for (int i = 0; i < n; i++) {
        if (!support[i]) continue;
        double e = DRAWS * prob[i] / z;
        chi += (cnt[i] - e) * (cnt[i] - e) / e;
        df++;
    }
    if (df >= 1) T_CHECKF(chi < crit[df], "%s: chi-square %.2f >= %.2f (df %d)", name, chi, crit[df], df);
    /* the reported probability of a draw matches the candidate list */
    g4_token_prob c[16];
    size_t nc = g4_sampler_candidates(s, l, c, 16);
    int32_t t = g4_sampler_sample(s, l);
    g4_sample_info li = g4_sampler_last(s);
    float pr = -1;
    for (size_t j = 0; j < nc; j++)
        if (c[j].token == t) pr = c[j].prob;
    T_CHECK(li.token == t && li.n_candidates == (int32_t)nc && fabsf(pr - li.prob) < 1e-6f);
    g4_sampler_free(s);
}

static void test_distribution(void) {
    const float l5[5] = {1.0f, 0.5f, 0.0f, -0.5f, -3.0f};
    const int all[5] = {1, 1, 1, 1, 1};
    g4_sampler_params p = base_params();
    p.temperature = 0.7f;
    chi_square("T=0.7", &p, l5, 5, all);
    p.temperature = 1.0f;
    chi_square("T=1", &p, l5, 5, all);
    p.temperature = 2.5f;
    chi_square("T=2.5", &p, l5, 5, all);
    p.seed = 99;
    p.temperature = 1.0f;
    p.top_k = 3;
    const int k3[5] = {1, 1, 1, 0, 0};
    chi_square("top_k=3", &p, l5, 5, k3);

    /* softmax = {0.5, 0.25, 0.15, 0.1}: the filters by hand */
    const float q[4] = {logf(0.5f), logf(0.25f), logf(0.15f), logf(0.1f)};
    struct {
        const char *name;
        int top_k;
        float top_p, min_p;
        int keep[4];
    } f[] = {
        {"top_p=0.7", 0, 0.7f, 0, {1, 1, 0, 0}},   {"top_p=0.8", 0, 0.8f, 0, {1, 1, 1, 0}},
        {"top_p=0.45", 0, 0.45f, 0, {1, 0, 0, 0}}, {"top_p=0", 0, 0.0f, 0, {1, 0, 0, 0}},
        {"top_p=0.95", 0, 0.95f, 0, {1, 1, 1, 1}}, {"min_p=0.25", 0, 1, 0.25f, {1, 1, 1, 0}},
        {"min_p=0.31", 0, 1, 0.31f, {1, 1, 0, 0}}, {"min_p=0.19", 0, 1, 0.19f, {1, 1, 1, 1}},
        {"top_k=2", 2, 1, 0, {1, 1, 0, 0}},        {"top_k=3+top_p=0.6", 3, 0.6f, 0, {1, 1, 0, 0}},
        {"top_k=3+min_p=0.4", 3, 1, 0.4f, {1, 1, 0, 0}},
        /* top-p renormalises within top-k: {0.5, 0.25, 0.15} / 0.9, cum 0.556 0.833 1 */
        {"top_k=3+top_p=0.85", 3, 0.85f, 0, {1, 1, 1, 0}},
        {"top_k=3+top_p=0.8", 3, 0.8f, 0, {1, 1, 0, 0}},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        p = base_params();
        p.top_k = f[i].top_k;
        p.top_p = f[i].top_p;
        p.min_p = f[i].min_p;
        p.seed = 1000 + i;
        chi_square(f[i].name, &p, q, 4, f[i].keep);
        /* the temperature comes last: it reweights but does not change the set */
        p.temperature = 3.0f;
        chi_square(f[i].name, &p, q, 4, f[i].keep);
        g4_sampler *s = mk(&p, 4);
        g4_token_prob c[4];
        size_t nc = g4_sampler_candidates(s, q, c, 4);
        size_t want = 0;
        for (int j = 0; j < 4; j++) want += (size_t)f[i].keep[j];
        T_CHECKF(nc == want, "%s: %zu candidates, want %zu", f[i].name, nc, want);
        double sum = 0;
        for (size_t j = 0; j < nc && j < 4; j++) {
            T_CHECK(c[j].token == (int32_t)j); /* most probable first */
            sum += c[j].prob;
        }
        T_CHECK(fabs(sum - 1) < 1e-6);
        g4_sampler_free(s);
    }
}

/* ---- penalties and bias ---- */

static void test_penalties(void) {
    const float l[6] = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f};
    g4_sampler_params p = base_params();
    p.repeat_penalty = 1.5f;
    p.presence_penalty = 0.2f;
    p.frequency_penalty = 0.1f;
    p.repeat_last_n = -1;
    g4_sampler *s = mk(&p, 6);
    const int32_t hist[] = {0, 1, 1, 3, 3, 3, 5, 5};
    for (size_t i = 0; i < sizeof hist / sizeof hist[0]; i++) g4_sampler_accept(s, hist[i]);
    g4_sampler_accept(s, -1); /* ignored */
    g4_sampler_accept(s, 6);
    float out[6];
    g4_sampler_adjust(s, l, out);
    /* by hand: positive logits divided, non-positive multiplied, then
     * -= count * frequency + presence */
    const double want[6] = {2.0 / 1.5 - (1 * 0.1 + 0.2), -1.0 * 1.5 - (2 * 0.1 + 0.2), 0.5,
                            3.0 / 1.5 - (3 * 0.1 + 0.2), -2.0, 0.0 * 1.5 - (2 * 0.1 + 0.2)};
    for (int i = 0; i < 6; i++)
        T_CHECKF(fabs(out[i] - want[i]) < 1e-6, "token %d: %g vs %g", i, out[i], want[i]);
    T_CHECK(out[2] == 0.5f && out[4] == -2.0f); /* untouched tokens keep their exact bits */
    g4_sampler_reset(s);
    g4_sampler_adjust(s, l, out);
    T_CHECK(memcmp(out, l, sizeof out) == 0);
    g4_sampler_free(s);

    /* the window: only the last repeat_last_n accepted tokens count */
    p.repeat_last_n = 3;
    s = mk(&p, 6);
    const int32_t h2[] = {0, 1, 1, 3, 3, 3};
    for (size_t i = 0; i < 6; i++) g4_sampler_accept(s, h2[i]);
    g4_sampler_adjust(s, l, out);
    T_CHECK(out[0] == l[0] && out[1] == l[1]);
    T_CHECK(fabs(out[3] - (3.0 / 1.5 - 0.5)) < 1e-6);
    g4_sampler_free(s);
    p.repeat_last_n = 0; /* off */
    s = mk(&p, 6);
    for (size_t i = 0; i < 6; i++) g4_sampler_accept(s, h2[i]);
    g4_sampler_adjust(s, l, out);
    T_CHECK(memcmp(out, l, sizeof out) == 0);
    g4_sampler_free(s);

    /* a long history through the ring, against counts done here */
    enum { NV = 50, LAST = 7, HIST = 1000 };
    float lz[NV];
    for (int i = 0; i < NV; i++) lz[i] = (float)(i % 5) - 2.0f;
    p.repeat_last_n = LAST;
    p.repeat_penalty = 1.3f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    s = mk(&p, NV);
    int32_t h[HIST];
    int ok = 1;
    for (int t = 0; t < HIST; t++) {
        h[t] = (int32_t)(tnext() % 12); /* few distinct tokens: repeats in the window */
        g4_sampler_accept(s, h[t]);
        if (t % 37 != 0 && t != HIST - 1) continue;
        float o[NV];
        g4_sampler_adjust(s, lz, o);
        for (int v = 0; v < NV; v++) {
            int c = 0;
            for (int j = t; j >= 0 && j > t - LAST; j--) c += h[j] == v;
            float x = lz[v];
            if (c) {
                x = x <= 0 ? x * p.repeat_penalty : x / p.repeat_penalty;
                x -= (float)c * p.frequency_penalty + p.presence_penalty;
            }
            ok &= o[v] == x;
        }
    }
    T_CHECK(ok);
    g4_sampler_free(s);

    /* greedy sees the penalties: repeated argmax loses to the runner-up */
    p = base_params();
    p.temperature = 0;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 64;
    s = mk(&p, 6);
    T_CHECK(g4_sampler_sample(s, l) == 3);
    g4_sampler_accept(s, 3);
    T_CHECK(g4_sampler_sample(s, l) == 0); /* 3/2 = 1.5 < 2 */
    g4_sampler_free(s);
}

static void test_bias(void) {
    const float l[6] = {2.0f, -1.0f, 0.5f, 3.0f, -INFINITY, 0.0f};
    g4_logit_bias b[] = {{3, -INFINITY}, {1, 0.5f}, {1, 0.25f}, {5, 1.0f}, {5, -INFINITY},
                         {5, INFINITY}, {4, INFINITY}, {2, -0.5f}};
    g4_sampler_params p = base_params();
    p.temperature = 0;
    p.bias = b;
    p.n_bias = sizeof b / sizeof b[0];
    g4_sampler *s = mk(&p, 6);
    b[0].token = 0; /* the sampler keeps its own copy */
    float out[6];
    g4_sampler_adjust(s, l, out);
    T_CHECK(out[3] == -INFINITY);  /* banned */
    T_CHECK(out[1] == -0.25f);     /* repeated ids add up */
    T_CHECK(out[5] == -INFINITY);  /* -inf wins over +inf */
    T_CHECK(out[4] == -INFINITY);  /* a -inf logit stays banned */
    T_CHECK(out[2] == 0.0f && out[0] == 2.0f);
    T_CHECK(g4_sampler_sample(s, l) == 0); /* the argmax 3 is banned */
    g4_sampler_free(s);

    /* +large forces, -inf bans, while sampling */
    g4_logit_bias force[] = {{4, 0.0f}, {2, 100.0f}};
    float lf[6] = {2.0f, -1.0f, 0.5f, 3.0f, 1.0f, 0.0f};
    p = base_params();
    p.bias = force;
    p.n_bias = 2;
    s = mk(&p, 6);
    int all2 = 1;
    for (int i = 0; i < 500; i++) all2 &= g4_sampler_sample(s, lf) == 2;
    T_CHECK(all2);
    g4_sampler_free(s);
    g4_logit_bias ban[] = {{3, -INFINITY}, {0, -INFINITY}};
    p.bias = ban;
    s = mk(&p, 6);
    int never = 1;
    for (int i = 0; i < 2000; i++) {
        int32_t t = g4_sampler_sample(s, lf);
        never &= t != 3 && t != 0 && t >= 0;
    }
    T_CHECK(never);
    g4_sampler_free(s);
    /* everything banned */
    g4_logit_bias ban_all[6];
    for (int i = 0; i < 6; i++) ban_all[i] = (g4_logit_bias){i, -INFINITY};
    p.bias = ban_all;
    p.n_bias = 6;
    s = mk(&p, 6);
    T_CHECK(g4_sampler_sample(s, lf) == G4_TOKEN_NONE);
    T_CHECK(g4_sampler_candidates(s, lf, NULL, 0) == 0);
    g4_sampler_free(s);
}

/* ---- the reference: full sort, then the filters one after another ---- */

typedef struct {
    float w;
    int32_t id;
} rw;

static int cmp_rw(const void *a, const void *b) {
    const rw *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Candidates (rank order) and their probabilities for logits already sorted into r
 * (NaN -> -inf done by the caller); returns the count. */
static size_t ref_candidates(const g4_sampler_params *p, const rw *r, size_t n, int32_t *ids, double *prob) {
    const float M = r[0].w;
    if (M == -INFINITY) return 0;
    if (p->temperature <= 0) {
        ids[0] = r[0].id;
        prob[0] = 1;
        return 1;
    }
    size_t L = 0;
    while (L < n && r[L].w > -INFINITY) L++; /* zero probability */
    if (p->top_k > 0 && (size_t)p->top_k < L) L = (size_t)p->top_k;
    if (p->top_p < 1) {
        double z = 0, c = 0;
        for (size_t j = 0; j < L; j++) z += g4_sample_expf(r[j].w - M);
        for (size_t j = 0; j < L; j++) {
            c += g4_sample_expf(r[j].w - M);
            if (c >= (double)p->top_p * z) {
                L = j + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        const float fl = M + logf(p->min_p);
        size_t k = 1;
        while (k < L && r[k].w >= fl) k++;
        L = k;
    }
    const float it = 1.0f / p->temperature;
    double z = 0;
    for (size_t j = 0; j < L; j++) z += (prob[j] = g4_sample_expf((r[j].w - M) * it));
    for (size_t j = 0; j < L; j++) {
        ids[j] = r[j].id;
        prob[j] /= z;
    }
    return L;
}

static void test_reference(void) {
    enum { NV = 262144 };
    float *l = malloc(NV * sizeof *l);
    rw *r = malloc(NV * sizeof *r);
    int32_t *ids = malloc(NV * sizeof *ids);
    double *prob = malloc(NV * sizeof *prob);
    g4_token_prob *c = malloc(NV * sizeof *c), *c2 = malloc(NV * sizeof *c2);
    const int ks[] = {0, 0, 1, 7, 64, 256, 257, 1000, 20000, NV - 1, NV};
    const float ps[] = {1, 1, 0, 0.3f, 0.9f, 0.95f, 0.999f};
    const float mps[] = {0, 0, 0, 0.01f, 0.05f, 0.5f, 1};
    const float ts[] = {1, 1, 0.7f, 1.5f, 0};
    int cases = 0, bad = 0;
    for (int d = 0; d < 7; d++) {
        /* 0: N(0,1) flat; 1: N(0,3); 2: LM-like tail; 3: quantized (many ties);
         * 4: few finite tokens; 5: a 2-value plateau with NaN; 6: uniform over 300 units
         * (cuts far below the maximum). Odd sizes for 3 and 5 (partial last blocks). */
        const int n = d == 3 ? 100003 : d == 5 ? 65537 : NV;
        for (int i = 0; i < n; i++) {
            double x;
            switch (d) {
            case 0: x = tnorm(); break;
            case 1: x = 3 * tnorm(); break;
            case 2: x = 2 * tnorm() + (tunif() < 0.001 ? 4 + 12 * tunif() : 0); break;
            case 3: x = floor(4 * tnorm()) / 4; break;
            case 4: x = tunif() < 0.002 ? tnorm() : -INFINITY; break;
            case 6: x = -300 * tunif(); break;
            default: x = tunif() < 0.3 ? 1.0 : tunif() < 0.01 ? NAN : 0.0; break;
            }
            l[i] = (float)x;
        }
        for (int i = 0; i < n; i++) r[i] = (rw){isnan(l[i]) ? -INFINITY : l[i], i};
        qsort(r, (size_t)n, sizeof *r, cmp_rw);
        for (int k = 0; k < 28; k++) {
            g4_sampler_params p = base_params();
            p.top_k = ks[tnext() % (sizeof ks / sizeof ks[0])];
            if (p.top_k == NV - 1) p.top_k = n - 1;
            p.top_p = ps[tnext() % (sizeof ps / sizeof ps[0])];
            p.min_p = mps[tnext() % (sizeof mps / sizeof mps[0])];
            p.temperature = ts[tnext() % (sizeof ts / sizeof ts[0])];
            if (k >= 24) { /* always: large top-k cuts by count, alone and with top-p */
                static const int big[] = {200000, 5000, 30000, 250000};
                p.top_k = big[k - 24] < n ? big[k - 24] : n / 2;
                p.top_p = k == 25 ? 0.9f : 1.0f;
                p.min_p = 0;
                p.temperature = 1;
            }
            size_t want = ref_candidates(&p, r, (size_t)n, ids, prob);
            g4_sampler *s = mk(&p, n);
            size_t got = g4_sampler_candidates(s, l, c, (size_t)n);
            g4_sampler_use_portable_kernels(s);
            size_t got2 = g4_sampler_candidates(s, l, c2, (size_t)n);
            int same = got == want && got2 == got;
            for (size_t j = 0; same && j < got; j++) {
                same &= c[j].token == ids[j] && fabs(c[j].prob - prob[j]) <= 1e-5 * prob[j] + 1e-12;
                same &= c2[j].token == c[j].token && c2[j].prob == c[j].prob;
            }
            /* a draw comes from the set, with the reported probability */
            int32_t t = g4_sampler_sample(s, l);
            g4_sample_info li = g4_sampler_last(s);
            size_t at = 0;
            while (at < want && ids[at] != t) at++;
            same &= at < want && li.n_candidates == (int32_t)want;
            same &= at < want && fabs(li.prob - prob[at]) <= 1e-5 * prob[at] + 1e-12;
            cases++;
            if (!same) {
                bad++;
                fprintf(stderr, "reference mismatch: dist %d top_k %d top_p %g min_p %g T %g: %zu/%zu vs %zu\n",
                        d, p.top_k, (double)p.top_p, (double)p.min_p, (double)p.temperature, got, got2, want);
            }
            g4_sampler_free(s);
        }
    }
    T_CHECKF(bad == 0, "%d of %d parameter combinations differ from the reference", bad, cases);
    free(l);
    free(r);
    free(ids);
    free(prob);
    free(c);
    free(c2);
}

/* Small vocabularies (partial blocks, fewer tokens than k or than the heap tries). */
static void test_reference_small(void) {
    enum { MAXN = 70 };
    float l[MAXN];
    rw r[MAXN];
    int32_t ids[MAXN];
    double prob[MAXN];
    g4_token_prob c[MAXN];
    int bad = 0;
    for (int it = 0; it < 1500; it++) {
        int n = 1 + (int)(tnext() % MAXN);
        for (int i = 0; i < n; i++) {
            double u = tunif();
            l[i] = u < 0.05 ? NAN : u < 0.1 ? -INFINITY : u < 0.4 ? (float)(tnext() % 4) : (float)tnorm();
        }
        for (int i = 0; i < n; i++) r[i] = (rw){isnan(l[i]) ? -INFINITY : l[i], i};
        qsort(r, (size_t)n, sizeof *r, cmp_rw);
        g4_sampler_params p = base_params();
        p.top_k = (int)(tnext() % 80) - 5;
        p.top_p = tunif() < 0.3 ? 1.0f : (float)tunif();
        p.min_p = tunif() < 0.5 ? 0.0f : (float)tunif();
        p.temperature = tunif() < 0.1 ? 0.0f : (float)(0.2 + 2 * tunif());
        size_t want = ref_candidates(&p, r, (size_t)n, ids, prob);
        g4_sampler *s = mk(&p, n);
        size_t got = g4_sampler_candidates(s, l, c, MAXN);
        int same = got == want;
        for (size_t j = 0; same && j < got; j++)
            same &= c[j].token == ids[j] && fabs(c[j].prob - prob[j]) <= 1e-5 * prob[j] + 1e-12;
        int32_t t = g4_sampler_sample(s, l);
        size_t at = 0;
        while (at < want && ids[at] != t) at++;
        same &= want ? at < want : t == G4_TOKEN_NONE;
        if (!same && bad++ < 5)
            fprintf(stderr, "small reference mismatch: n %d top_k %d top_p %g min_p %g T %g: %zu vs %zu\n", n,
                    p.top_k, (double)p.top_p, (double)p.min_p, (double)p.temperature, got, want);
        g4_sampler_free(s);
    }
    T_CHECKF(bad == 0, "%d small-vocabulary cases differ from the reference", bad);
}

static void test_expf(void) {
    double worst = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -86.5f * (float)i / 2000000.0f;
        double want = exp((double)x), rel = fabs(g4_sample_expf(x) - want) / want;
        if (rel > worst) worst = rel;
    }
    T_CHECKF(worst < 4e-7, "g4_sample_expf relative error %g", worst);
    T_CHECK(g4_sample_expf(0) == 1.0f && g4_sample_expf(-0.0f) == 1.0f);
    T_CHECK(g4_sample_expf(-INFINITY) == 0 && g4_sample_expf(-87) == 0 && g4_sample_expf(-1e30f) == 0);
    T_CHECK(g4_sample_expf(-86.0f) > 0);
}

/* ---- stop strings ---- */

typedef struct {
    const char *const *stops;
    size_t n;
} stopset;

static size_t longest(const stopset *ss) {
    size_t m = 0;
    for (size_t i = 0; i < ss->n; i++)
        if (strlen(ss->stops[i]) > m) m = strlen(ss->stops[i]);
    return m;
}

/* Earliest start of a complete occurrence inside t[0..P) (P+1 if none) and earliest
 * start of a suffix of t[0..P) that is a proper prefix of a stop (P if none). */
static size_t ref_complete(const stopset *ss, const char *t, size_t P) {
    size_t best = P + 1;
    for (size_t i = 0; i < ss->n; i++) {
        size_t k = strlen(ss->stops[i]);
        if (!k) continue;
        for (size_t q = 0; q + k <= P; q++)
            if (memcmp(t + q, ss->stops[i], k) == 0 && q < best) {
                best = q;
                break;
            }
    }
    return best;
}

static size_t ref_partial(const stopset *ss, const char *t, size_t P) {
    for (size_t q = 0; q < P; q++)
        for (size_t i = 0; i < ss->n; i++) {
            size_t k = strlen(ss->stops[i]);
            if (P - q < k && memcmp(t + q, ss->stops[i], P - q) == 0) return q;
        }
    return P;
}

/* Feeds t split at the cut points and checks everything against the reference. */
static int check_split(const stopset *ss, const char *t, size_t len, const size_t *cuts, size_t ncut) {
    g4_stopper *s = NULL;
    g4_error err = {0};
    if (g4_stopper_new(ss->stops, ss->n, &s, &err)) return 0;
    /* the decision byte: the first prefix length at which the stop is certain */
    size_t decide = 0, out_len = len;
    for (size_t P = 1; P <= len; P++) {
        size_t c = ref_complete(ss, t, P);
        if (c <= P && ref_partial(ss, t, P) >= c) {
            decide = P;
            out_len = c;
            break;
        }
    }
    size_t full = ref_complete(ss, t, len); /* the answer on the whole text */
    if (!decide && full <= len) out_len = full;  /* decided by flush */
    size_t maxhold = longest(ss) ? longest(ss) - 1 : 0;
    g4_buf emit = G4_BUF_INIT;
    int ok = 1;
    size_t at = 0;
    bool stopped = false;
    for (size_t c = 0; c <= ncut; c++) {
        size_t end = c < ncut ? cuts[c] : len;
        bool r = g4_stopper_feed(s, t + at, end - at, &emit);
        if (stopped) {
            ok &= r && emit.n == out_len;
        } else if (r) { /* decided by a byte of this piece */
            stopped = true;
            ok &= decide > at && decide <= end && emit.n == out_len;
        } else {
            ok &= !(decide && decide <= end);
            /* released exactly what is safe: up to the earliest partial or waiting stop */
            size_t safe = ref_partial(ss, t, end), comp = ref_complete(ss, t, end);
            if (comp < safe) safe = comp;
            ok &= emit.n == safe && end - emit.n <= maxhold && g4_stopper_held(s) == end - emit.n;
        }
        ok &= emit.n <= out_len && memcmp(emit.p ? emit.p : "", t, emit.n) == 0;
        at = end;
    }
    bool fl = g4_stopper_flush(s, &emit);
    ok &= fl == (full <= len);
    ok &= emit.n == out_len && memcmp(emit.p ? emit.p : "", t, out_len) == 0 && g4_buf_ok(&emit);
    g4_buf_free(&emit);
    g4_stopper_free(s);
    return ok;
}

static int check_all_splits(const stopset *ss, const char *t) {
    size_t len = strlen(t), cuts[3];
    int ok = check_split(ss, t, len, NULL, 0);
    for (size_t a = 0; a <= len; a++) {
        cuts[0] = a;
        ok &= check_split(ss, t, len, cuts, 1);
        for (size_t b = a; b <= len; b++) {
            cuts[1] = b;
            ok &= check_split(ss, t, len, cuts, 2);
        }
    }
    size_t *bytes = malloc((len + 1) * sizeof *bytes);
    for (size_t i = 0; i < len; i++) bytes[i] = i + 1;
    ok &= check_split(ss, t, len, bytes, len ? len - 1 : 0);
    free(bytes);
    return ok;
}

static void test_stops(void) {
    static const char *const s1[] = {"ab", "b"};
    static const char *const s2[] = {"abcd", "bc"};
    static const char *const s3[] = {"ab", "abc"};
    static const char *const s4[] = {"abc", "ab"};
    static const char *const s5[] = {"世界", "é", "\xF0\x9F\x91\x8B"};
    static const char *const s6[] = {"\n\n", "<turn|>"};
    static const char *const s7[] = {"aab", "abab", "ababc"};
    static const char *const s8[] = {"", "xyz"};
    static const char *const s9[] = {"a"};
    struct {
        stopset ss;
        const char *texts[8];
    } cases[] = {
        {{s1, 2}, {"xxab", "xab yy", "b", "ab", "aab", "a", "xa", "bab"}},
        {{s2, 2}, {"abcx", "abcd", "zabcdz", "bcd", "abc", "abbcd", "aabcd", "ab"}},
        {{s3, 2}, {"xxabcx", "xab", "abab", "a", "xabc", NULL}},
        {{s4, 2}, {"xxabcx", "xab", "abab", "a", "xabc", NULL}},
        {{s5, 3},
         {"你好世界!", "café au lait", "世 界", "世", "hello \xF0\x9F\x91\x8B world", "\xF0\x9F\x91", NULL}},
        {{s6, 2}, {"line1\nline2\n\nrest", "Hello<turn|>bye", "Hello<tur", "a\n<turn|>\n\n", NULL}},
        {{s7, 3}, {"aaaab", "abababx", "abababc", "aabab", "ababab", NULL}},
        {{s8, 2}, {"wxyz!", "xy", "", NULL}},
        {{s9, 1}, {"bbba", "", "abc", NULL}},
        {{NULL, 0}, {"no stops at all", "", NULL}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t i = 0; i < 8 && cases[c].texts[i]; i++)
            T_CHECKF(check_all_splits(&cases[c].ss, cases[c].texts[i]), "stops case %zu, text '%s'", c,
                     cases[c].texts[i]);

    /* random stops and texts over a tiny alphabet, random splits */
    int bad = 0;
    for (int it = 0; it < 3000; it++) {
        char stops_buf[3][6], text[16];
        const char *sp[3];
        size_t ns = 1 + tnext() % 3;
        for (size_t i = 0; i < ns; i++) {
            size_t k = 1 + tnext() % 4;
            for (size_t j = 0; j < k; j++) stops_buf[i][j] = (char)('a' + tnext() % 3);
            stops_buf[i][k] = 0;
            sp[i] = stops_buf[i];
        }
        size_t len = tnext() % 14;
        for (size_t j = 0; j < len; j++) text[j] = (char)('a' + tnext() % 3);
        text[len] = 0;
        stopset ss = {sp, ns};
        size_t cuts[4], nc = tnext() % 4;
        for (size_t j = 0; j < nc; j++) cuts[j] = len ? tnext() % (len + 1) : 0;
        for (size_t a = 0; a < nc; a++) /* sort the cut points */
            for (size_t b = a + 1; b < nc; b++)
                if (cuts[b] < cuts[a]) {
                    size_t tmp = cuts[a];
                    cuts[a] = cuts[b];
                    cuts[b] = tmp;
                }
        if (!check_split(&ss, text, len, cuts, nc)) {
            bad++;
            if (bad < 5) fprintf(stderr, "random stop case: text '%s' stops '%s' ...\n", text, sp[0]);
        }
    }
    T_CHECKF(bad == 0, "%d random stop cases differ from the reference", bad);

    /* API details: NULL entries, feeding after the stop, reset, flush twice */
    g4_stopper *s = NULL;
    g4_error err = {0};
    const char *nul[] = {"a", NULL};
    T_CHECK(g4_stopper_new(nul, 2, &s, &err) == G4_ERR_ARG && s == NULL && err.msg[0]);
    T_CHECK(g4_stopper_new(NULL, 1, &s, NULL) == G4_ERR_ARG);
    T_CHECK(g4_stopper_new(s6, 2, &s, &err) == G4_OK);
    g4_buf e = G4_BUF_INIT;
    T_CHECK(!g4_stopper_feed(s, "Hi<tu", 5, &e) && e.n == 2 && g4_stopper_held(s) == 3);
    T_CHECK(g4_stopper_feed(s, "rn|>more", 8, &e) && e.n == 2 && g4_stopper_held(s) == 0);
    T_CHECK(g4_stopper_feed(s, "x", 1, &e) && e.n == 2);
    T_CHECK(g4_stopper_flush(s, &e) && e.n == 2);
    g4_stopper_reset(s);
    g4_buf_clear(&e);
    T_CHECK(!g4_stopper_feed(s, "a\n", 2, &e) && e.n == 1);
    T_CHECK(!g4_stopper_flush(s, &e) && e.n == 2 && memcmp(e.p, "a\n", 2) == 0);
    g4_buf_free(&e);
    g4_stopper_free(s);
    g4_stopper_free(NULL);
}

int main(void) {
    test_params();
    test_greedy();
    test_topk1_and_seeds();
    test_distribution();
    test_penalties();
    test_bias();
    test_expf();
    test_reference();
    test_reference_small();
    test_stops();
    return T_DONE();
}
