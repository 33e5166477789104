/* test_golden.c — every fixture model against the reference goldens
 * (tests/data/golden, computed with llama.cpp; see tests/data/FIXTURES-README.md).
 *
 * Tolerances (max |Δ logit|, logits reach about ±20), from the measured spread of the
 * reference itself (golden/tolerance.json) — README "Numerical agreement":
 *   F32 models, fp16 GELU table (like llama.cpp) ........ 0.05  (we measure <= 0.009)
 *   F32 models, exact GELU ................................ 0.25  (issue / fixture README)
 *   quantized models, --isa ref vs the -dequant goldens ... 0.05  (we measure <= 0.015)
 *   quantized models, fast path vs quantized goldens ...... top-1 equal wherever the golden
 *       margin > 2, and max |Δ| below llama.cpp's own "exact GELU" spread for that file
 *       (activation quantization makes results discontinuous: one flipped Q8 rounding
 *       moves a logit by ~0.5 on these chaotic random models).
 * Greedy continuations must equal the golden up to the first step whose golden margin is
 * below 2x the tolerance (2.0 for the quantized fast path).
 * Also: thread-count and batch-split invariance (bit-identical), several sequences in
 * one batch, KV truncation, and per-layer activations of the F32 models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "g4.h"
#include "gld.h"
#include "t.h"

#define DATA G4_TEST_DATA
#define NGEN 24

/* ---- fixture readers ---- */

static int prompts[4][128], prompt_len[4];

static void load_prompts(void) {
    char *s = gld_slurp(DATA "/golden/prompts.txt", NULL);
    T_CHECK(s != NULL);
    if (!s) exit(1);
    int k = 0;
    for (char *line = strtok(s, "\n"); line && k < 4; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        int n = 0;
        for (char *p = line; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            prompts[k][n++] = (int)v;
            p = end;
        }
        prompt_len[k++] = n;
    }
    free(s);
}

/* ---- helpers ---- */

static g4_engine *open_model(const char *model, g4_isa isa, g4_gelu_mode gelu, int threads) {
    char path[512];
    snprintf(path, sizeof path, DATA "/%s.gguf", model);
    g4_engine_config cfg = g4_engine_config_default();
    cfg.model_path = path;
    cfg.max_isa = isa;
    cfg.gelu = gelu;
    cfg.n_threads = threads;
    g4_engine *e = NULL;
    g4_error err = {0};
    g4_status st = g4_engine_open(&cfg, &e, &err);
    T_CHECKF(st == G4_OK, "%s: %s", path, err.msg);
    return e;
}

static g4_session *new_session(g4_engine *e, int n_ctx, int n_seq, int n_batch) {
    g4_session_config sc = {n_ctx, n_seq, n_batch, 0};
    g4_session *s = NULL;
    g4_error err = {0};
    T_CHECKF(g4_session_create(e, &sc, &s, &err) == G4_OK, "%s", err.msg);
    return s;
}

static float *prompt_logits(g4_engine *e, int pi, int n_batch) {
    const int n = prompt_len[pi], V = g4_engine_n_vocab(e);
    g4_session *s = new_session(e, n + 1, 1, n_batch);
    float *lg = malloc((size_t)n * V * sizeof *lg);
    g4_error err = {0};
    if (s && lg) {
        int32_t toks[128];
        for (int i = 0; i < n; i++) toks[i] = prompts[pi][i];
        T_CHECKF(g4_session_eval(s, toks, n, true, lg, &err) == G4_OK, "%s", err.msg);
    }
    g4_session_free(s);
    return lg;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* top-1 disagreements on rows whose golden margin exceeds `margin` */
static int top1_mismatches(const float *got, const float *gold, int rows, int V, double margin) {
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        const float *g = gold + (size_t)r * V;
        int b = argmax(g, V);
        float second = -INFINITY;
        for (int i = 0; i < V; i++)
            if (i != b && g[i] > second) second = g[i];
        if (g[b] - second > margin && argmax(got + (size_t)r * V, V) != b) bad++;
    }
    return bad;
}

/* ---- the checks ---- */

typedef struct {
    const char *model;
    const char *golden;  /* golden file prefix */
    g4_isa isa;
    g4_gelu_mode gelu;
    double atol;         /* < 0: quantized fast path (top-1 + bound) */
    double bound;        /* max |Δ| for the quantized fast path */
    bool f32;            /* has gen.gld */
} golden_case;

static double worst[32];

static void check_prompts_and_greedy(const golden_case *c, int ci) {
    g4_engine *e = open_model(c->model, c->isa, c->gelu, 2);
    if (!e) return;
    const int V = g4_engine_n_vocab(e);
    for (int pi = 0; pi < 4; pi++) {
        const int n = prompt_len[pi];
        char path[512];
        gld g;
        snprintf(path, sizeof path, DATA "/golden/%s.p%d.prompt.gld", c->golden, pi);
        if (!gld_read(path, &g)) {
            T_CHECKF(0, "cannot read %s", path);
            continue;
        }
        T_CHECK(g.dims[0] == n && g.dims[1] == V);
        float *lg = prompt_logits(e, pi, n);
        double d = max_abs_diff(lg, g.data, (size_t)n * V);
        if (d > worst[ci]) worst[ci] = d;
        if (c->atol >= 0) {
            T_CHECKF(d <= c->atol, "%s p%d: max |dlogit| %.4g > %.3g", c->golden, pi, d, c->atol);
        } else {
            int bad = top1_mismatches(lg, g.data, n, V, 2.0);
            T_CHECKF(bad == 0, "%s p%d: %d top-1 mismatches on rows with margin > 2", c->golden, pi, bad);
            T_CHECKF(d <= c->bound, "%s p%d: max |dlogit| %.4g > %.3g", c->golden, pi, d, c->bound);
        }
        free(lg);
        free(g.data);

        /* greedy continuation, one token per decode after the batched prompt */
        snprintf(path, sizeof path, DATA "/golden/%s.p%d.json", c->golden, pi);
        char *js = gld_slurp(path, NULL);
        double gen[NGEN], margin[NGEN];
        T_CHECKF(js && gld_json_nums(js, "generated", gen, NGEN) == NGEN &&
                     gld_json_nums(js, "top1_minus_top2", margin, NGEN) == NGEN,
                 "bad %s", path);
        free(js);
        gld gg = {0};
        if (c->f32) {
            snprintf(path, sizeof path, DATA "/golden/%s.p%d.gen.gld", c->golden, pi);
            T_CHECK(gld_read(path, &gg));
        }
        const double thr = c->atol >= 0 ? 2 * c->atol : 2.0;
        g4_session *s = new_session(e, n + NGEN + 1, 1, n);
        float *row = malloc((size_t)V * sizeof *row);
        int32_t toks[128];
        for (int i = 0; i < n; i++) toks[i] = prompts[pi][i];
        g4_error err = {0};
        T_CHECK(g4_session_eval(s, toks, n, false, row, &err) == G4_OK);
        for (int k = 0; k < NGEN; k++) {
            if (margin[k] < thr) break; /* later tokens may legitimately diverge */
            if (gg.data) {
                double dd = max_abs_diff(row, gg.data + (size_t)k * V, (size_t)V);
                T_CHECKF(dd <= c->atol, "%s p%d gen step %d: max |dlogit| %.4g", c->golden, pi, k, dd);
            }
            int32_t t = argmax(row, V);
            T_CHECKF(t == (int32_t)gen[k], "%s p%d greedy step %d: got %d, golden %d (margin %.3f)",
                     c->golden, pi, k, t, (int)gen[k], margin[k]);
            if (t != (int32_t)gen[k]) break;
            T_CHECK(g4_session_eval(s, &t, 1, false, row, &err) == G4_OK);
        }
        free(row);
        free(gg.data);
        g4_session_free(s);
    }
    g4_engine_free(e);
}

/* Layer-by-layer activations of the F32 models (localises errors). */
typedef struct {
    const char *prefix; /* "dense-f32.p0" */
    int n_checked;
    double worst_rel;
    char worst_name[64];
} act_ctx;

static void on_act(void *user, const char *name, const float *d, int rows, int cols) {
    act_ctx *a = user;
    char path[512];
    snprintf(path, sizeof path, DATA "/golden/activations/%s.act.%s.gld", a->prefix, name);
    gld g;
    if (!gld_read(path, &g)) return; /* not every name has a golden */
    T_CHECKF(g.n == (size_t)rows * cols, "%s: %zu values, we have %d x %d", path, g.n, rows, cols);
    if (g.n == (size_t)rows * cols) {
        double mx = 0;
        for (size_t i = 0; i < g.n; i++) mx = fmax(mx, fabs(g.data[i]));
        double rel = max_abs_diff(d, g.data, g.n) / (mx > 0 ? mx : 1);
        /* random-weight models amplify 1e-7 roundings ~3-5x per layer (fixture README):
         * 1e-3 of the largest value still flags any real formula error (those are O(1)) */
        T_CHECKF(rel <= 1e-3, "%s: relative error %.3g", path, rel);
        if (rel > a->worst_rel) {
            a->worst_rel = rel;
            snprintf(a->worst_name, sizeof a->worst_name, "%s", name);
        }
        a->n_checked++;
    }
    free(g.data);
}

static void check_activations(const char *model) {
    g4_engine *e = open_model(model, G4_ISA_BEST, G4_GELU_TABLE, 2);
    if (!e) return;
    for (int pi = 0; pi < 2; pi++) {
        const int n = prompt_len[pi];
        act_ctx a = {0};
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s.p%d", model, pi);
        a.prefix = prefix;
        g4_session *s = new_session(e, n + 1, 1, n);
        g4_session_set_act_cb(s, on_act, &a);
        int32_t toks[128];
        for (int i = 0; i < n; i++) toks[i] = prompts[pi][i];
        bool want[128];
        int32_t pos[128];
        for (int i = 0; i < n; i++) {
            want[i] = true;
            pos[i] = i;
        }
        float *lg = malloc((size_t)n * g4_engine_n_vocab(e) * sizeof *lg);
        g4_batch b = {.n = n, .tokens = toks, .pos = pos, .want = want};
        g4_error err = {0};
        T_CHECK(g4_session_decode(s, &b, lg, &err) == G4_OK);
        T_CHECKF(a.n_checked >= 12, "%s: only %d activations compared", prefix, a.n_checked);
        fprintf(stderr, "  activations %s: %d tensors, worst relative error %.2e (%s)\n", prefix,
                a.n_checked, a.worst_rel, a.worst_name);
        free(lg);
        g4_session_free(s);
    }
    g4_engine_free(e);
}

/* Same logits for 1, 2 and 3 threads, and for batched vs token-by-token prefill. */
static void check_invariance(const char *model) {
    const int pi = 2, n = prompt_len[pi];
    float *ref = NULL;
    for (int th = 1; th <= 3; th++) {
        g4_engine *e = open_model(model, G4_ISA_BEST, G4_GELU_TABLE, th);
        if (!e) return;
        const int V = g4_engine_n_vocab(e);
        float *lg = prompt_logits(e, pi, n);
        if (!ref) {
            ref = lg;
            /* batch split: one token per decode */
            float *lg1 = prompt_logits(e, pi, 1);
            T_CHECKF(!memcmp(lg1, ref, (size_t)n * V * sizeof(float)),
                     "%s: token-by-token prefill differs from one batch (max %.3g)", model,
                     max_abs_diff(lg1, ref, (size_t)n * V));
            float *lg7 = prompt_logits(e, pi, 7);
            T_CHECKF(!memcmp(lg7, ref, (size_t)n * V * sizeof(float)), "%s: n_batch 7 differs", model);
            free(lg1);
            free(lg7);
        } else {
            T_CHECKF(!memcmp(lg, ref, (size_t)n * V * sizeof(float)),
                     "%s: %d threads differ from 1 thread (max %.3g)", model, th,
                     max_abs_diff(lg, ref, (size_t)n * V));
            free(lg);
        }
        g4_engine_free(e);
    }
    free(ref);
}

/* Two sequences in one batch give the logits of separate runs; truncation rolls back. */
static void check_sequences_and_truncate(const char *model) {
    g4_engine *e = open_model(model, G4_ISA_BEST, G4_GELU_TABLE, 2);
    if (!e) return;
    const int V = g4_engine_n_vocab(e);
    const int na = prompt_len[1], nb = prompt_len[3];
    float *ra = prompt_logits(e, 1, na), *rb = prompt_logits(e, 3, nb);

    /* interleave rows of both prompts in one batch */
    const int n = na + nb;
    int32_t toks[256], pos[256], seq[256];
    bool want[256];
    int ia = 0, ib = 0, k = 0;
    while (ia < na || ib < nb) {
        if (ia < na) {
            toks[k] = prompts[1][ia];
            pos[k] = ia++;
            seq[k++] = 0;
        }
        if (ib < nb) {
            toks[k] = prompts[3][ib];
            pos[k] = ib++;
            seq[k++] = 1;
        }
    }
    for (int i = 0; i < n; i++) want[i] = true;
    g4_session *s = new_session(e, 64, 2, n);
    float *lg = malloc((size_t)n * V * sizeof *lg);
    g4_batch b = {.n = n, .tokens = toks, .pos = pos, .seq = seq, .want = want};
    g4_error err = {0};
    T_CHECKF(g4_session_decode(s, &b, lg, &err) == G4_OK, "%s", err.msg);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const float *want_row = seq[i] == 0 ? ra + (size_t)pos[i] * V : rb + (size_t)pos[i] * V;
        bad += memcmp(lg + (size_t)i * V, want_row, (size_t)V * sizeof(float)) != 0;
    }
    T_CHECKF(bad == 0, "%s: %d rows of the 2-sequence batch differ from single runs", model, bad);
    T_CHECK(g4_session_seq_len(s, 0) == na && g4_session_seq_len(s, 1) == nb);
    /* position that does not continue a sequence is rejected */
    int32_t t0 = 2, p_bad = 5, s0 = 0;
    g4_batch bb = {.n = 1, .tokens = &t0, .pos = &p_bad, .seq = &s0};
    err = (g4_error){0};
    T_CHECK(g4_session_decode(s, &bb, NULL, &err) == G4_ERR_ARG && strstr(err.msg, "position"));
    g4_session_free(s);

    /* truncate and re-evaluate: same logits as the first time */
    const int n2 = prompt_len[2], cut = 40;
    float *full = prompt_logits(e, 2, n2);
    s = new_session(e, n2 + 1, 1, n2);
    int32_t t2[128];
    for (int i = 0; i < n2; i++) t2[i] = prompts[2][i];
    float *tmp = malloc((size_t)n2 * V * sizeof *tmp);
    T_CHECK(g4_session_eval(s, t2, n2, true, tmp, &err) == G4_OK);
    err = (g4_error){0};
    T_CHECKF(g4_session_truncate(s, 0, cut, &err) == G4_OK, "%s", err.msg);
    T_CHECK(g4_session_seq_len(s, 0) == cut);
    T_CHECK(g4_session_eval(s, t2 + cut, n2 - cut, true, tmp, &err) == G4_OK);
    T_CHECKF(!memcmp(tmp, full + (size_t)cut * V, (size_t)(n2 - cut) * V * sizeof(float)),
             "%s: logits after truncate + re-eval differ", model);
    g4_session_free(s);
    /* a ring too small for the rollback refuses instead of returning wrong results */
    s = new_session(e, n2 + 1, 1, 1);
    for (int i = 0; i < n2; i++) T_CHECK(g4_session_eval(s, &t2[i], 1, false, tmp, &err) == G4_OK);
    err = (g4_error){0};
    T_CHECK(g4_session_truncate(s, 0, cut, &err) == G4_ERR_ARG && strstr(err.msg, "sliding"));
    T_CHECK(g4_session_truncate(s, 0, n2 - 1, &err) == G4_OK); /* one step back always works */
    /* context full is an error, not a crash */
    g4_session_free(s);
    s = new_session(e, 4, 1, 4);
    err = (g4_error){0};
    T_CHECK(g4_session_eval(s, t2, 5, false, tmp, &err) == G4_ERR_CTX_FULL);
    g4_session_free(s);
    free(tmp);
    free(full);
    free(lg);
    free(ra);
    free(rb);
    g4_engine_free(e);
}

int main(void) {
    load_prompts();
    /* quantized fast-path bounds: llama.cpp's own "exact GELU" spread for each file
     * (golden/tolerance.json) */
    const golden_case cases[] = {
        {"dense-f32", "dense-f32", G4_ISA_BEST, G4_GELU_TABLE, 0.05, 0, true},
        {"e-f32", "e-f32", G4_ISA_BEST, G4_GELU_TABLE, 0.05, 0, true},
        {"moe-f32", "moe-f32", G4_ISA_BEST, G4_GELU_TABLE, 0.05, 0, true},
        {"dense-f32", "dense-f32", G4_ISA_BEST, G4_GELU_EXACT, 0.25, 0, true},
        {"e-f32", "e-f32", G4_ISA_BEST, G4_GELU_EXACT, 0.25, 0, true},
        {"dense-f32", "dense-f32", G4_ISA_REF, G4_GELU_TABLE, 0.05, 0, true},
        {"dense-q8_0", "dense-q8_0-dequant", G4_ISA_REF, G4_GELU_TABLE, 0.05, 0, false},
        {"dense-q4_0", "dense-q4_0-dequant", G4_ISA_REF, G4_GELU_TABLE, 0.05, 0, false},
        {"dense-q4_k_m", "dense-q4_k_m-dequant", G4_ISA_REF, G4_GELU_TABLE, 0.05, 0, false},
        {"e-q8_0", "e-q8_0-dequant", G4_ISA_REF, G4_GELU_TABLE, 0.05, 0, false},
        {"e-q4_0", "e-q4_0-dequant", G4_ISA_REF, G4_GELU_TABLE, 0.05, 0, false},
        {"moe-q8_0", "moe-q8_0-dequant", G4_ISA_REF, G4_GELU_TABLE, 0.05, 0, false},
        {"moe-q4_0", "moe-q4_0-dequant", G4_ISA_REF, G4_GELU_TABLE, 0.05, 0, false},
        {"dense-q8_0", "dense-q8_0", G4_ISA_BEST, G4_GELU_TABLE, -1, 1.78, false},
        {"dense-q4_0", "dense-q4_0", G4_ISA_BEST, G4_GELU_TABLE, -1, 1.82, false},
        {"dense-q4_k_m", "dense-q4_k_m", G4_ISA_BEST, G4_GELU_TABLE, -1, 2.43, false},
        {"e-q8_0", "e-q8_0", G4_ISA_BEST, G4_GELU_TABLE, -1, 0.89, false},
        {"e-q4_0", "e-q4_0", G4_ISA_BEST, G4_GELU_TABLE, -1, 0.81, false},
        {"moe-q8_0", "moe-q8_0", G4_ISA_BEST, G4_GELU_TABLE, -1, 3.60, false},
        {"moe-q4_0", "moe-q4_0", G4_ISA_BEST, G4_GELU_TABLE, -1, 3.69, false},
        {"dense-q4_0", "dense-q4_0", G4_ISA_SCALAR, G4_GELU_TABLE, -1, 1.82, false},
        {"dense-q4_k_m", "dense-q4_k_m", G4_ISA_SCALAR, G4_GELU_TABLE, -1, 2.43, false},
    };
    const int nc = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < nc; i++) {
        check_prompts_and_greedy(&cases[i], i);
        fprintf(stderr, "  %-22s isa=%-6s gelu=%-5s max |dlogit| over 4 prompts = %.4g\n",
                cases[i].golden, g4_isa_name(cases[i].isa),
                cases[i].gelu == G4_GELU_TABLE ? "table" : "exact", worst[i]);
    }
    check_activations("dense-f32");
    check_activations("e-f32");
    check_activations("moe-f32");
    const char *inv[] = {"dense-q4_0", "dense-q4_k_m", "e-q4_0", "moe-q8_0", "dense-f32"};
    for (size_t i = 0; i < sizeof inv / sizeof inv[0]; i++) check_invariance(inv[i]);
    check_sequences_and_truncate("dense-q4_0");
    check_sequences_and_truncate("e-q8_0");
    return T_DONE();
}
