/* test_spec.c — speculative decoding inside the generation pipeline (g4_gen_run with an
 * MTP drafter, src/mtp/spec.c, docs/MTP.md), on the fixture targets dense-f32 (sliding
 * window 16) and e-f32 (window 8, shared-KV layers) with their fixture drafters.
 *
 * - Greedy: the output (tokens, text, finish reason) equals plain greedy decoding for
 *   every draft length 1..6 and the adaptive controller, on several prompts, including
 *   prompts that end around the sliding-window boundary, with the tightest ring the
 *   session allows (n_batch = draft + 1: rejected drafts must roll back without losing
 *   a key the window still needs), with max_tokens, a stop string and an
 *   end-of-generation token falling inside a draft.
 * - Sampling (spec §8.5): at a prompt where the drafter is usually right, the joint
 *   distribution of the first three tokens under top-k 3 sampling (temperature 1) from
 *   6000 seeds (1500 under ASan), against the exact target distribution computed from
 *   the target's logits: Pearson chi-square at p = 0.001 (Wilson-Hilferty quantile; cells under 5 expected
 *   pooled). A distribution at temperature 1.6 must be rejected (the test has power), and
 *   both accepted and rejected drafts must occur. Every seed must also give exactly the
 *   tokens of plain sampling: sample-and-compare draws one uniform per committed token,
 *   as the plain loop does.
 * - The draft-length controller on synthetic costs and acceptance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/generate.h"
#include "g4.h"
#include "mtp/mtp.h"
#include "t.h"
#include "t_mtp.h"

#define DATA G4_TEST_DATA
#define MAXT 64

typedef struct {
    int32_t toks[MAXT];
    int n;
    char text[4096];
    size_t len;
} capture;

static void cap_token(void *user, int32_t tok, float lp, const g4_token_prob *top, int n_top) {
    (void)lp, (void)top, (void)n_top;
    capture *c = user;
    if (c->n < MAXT) c->toks[c->n] = tok;
    c->n++;
}

static void cap_text(void *user, g4_parse_kind kind, const char *s, size_t n) {
    (void)kind;
    capture *c = user;
    if (c->len + n < sizeof c->text) {
        memcpy(c->text + c->len, s, n);
        c->len += n;
        c->text[c->len] = 0;
    }
}

/* One run on a fresh g4_gen (no prefix cache between configurations). */
static g4_status run(g4_engine *e, int n_batch, const int32_t *prompt, int n_prompt, g4_gen_params p, capture *c,
                     g4_gen_result *res) {
    memset(c, 0, sizeof *c);
    p.parse = false;
    p.on_token = cap_token;
    p.on_text = cap_text;
    p.user = c;
    g4_gen *g = NULL;
    g4_error err = {0};
    g4_status st = g4_gen_create(e, 256, n_batch, &g, &err);
    T_CHECKF(st == G4_OK, "%s", err.msg);
    if (st) return st;
    st = g4_gen_run(g, prompt, (size_t)n_prompt, &p, res, &err);
    T_CHECKF(st == G4_OK, "%s", err.msg);
    g4_gen_free(g);
    return st;
}

/* p plainly into a, then with k fixed drafts into b */
static void run_both(g4_engine *e, g4_drafter *d, int k, const int32_t *prompt, int n, g4_gen_params p, capture *a,
                     g4_gen_result *ra, capture *b, g4_gen_result *rb) {
    run(e, 64, prompt, n, p, a, ra);
    p.draft = d;
    p.draft_max = k;
    p.draft_fixed = true;
    run(e, 64, prompt, n, p, b, rb);
}

static bool same(const capture *a, const g4_gen_result *ra, const capture *b, const g4_gen_result *rb) {
    return a->n == b->n && !memcmp(a->toks, b->toks, (size_t)(a->n < MAXT ? a->n : MAXT) * sizeof *a->toks) &&
           a->len == b->len && !memcmp(a->text, b->text, a->len) && ra->finish == rb->finish &&
           ra->n_gen == rb->n_gen;
}

static void make_prompt(int32_t *p, int n, unsigned seed, int V) {
    p[0] = 2; /* <bos> */
    for (int i = 1; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = 3 + (int32_t)((seed >> 8) % (unsigned)(V - 3));
    }
}

/* greedy equality over draft lengths, prompt lengths around the window, limits */
static void check_greedy(const char *target, const char *asst) {
    g4_engine *e;
    g4_drafter *d;
    if (!t_open_pair(target, asst, &e, &d)) return;
    const int V = g4_engine_n_vocab(e), W = g4_engine_model(e)->hp.n_swa;
    int lens[] = {3, W - 3, W - 1, W, W + 1, W + 2, 2 * W + 5, 40};
    int n_cases = 0, n_acc = 0, n_dr = 0, n_mid_stop = 0;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        int32_t prompt[64];
        make_prompt(prompt, lens[li], 1000u + (unsigned)li, V);
        g4_gen_params p = g4_gen_params_default();
        p.sampling.temperature = 0;
        p.n_predict = 40;
        capture plain;
        g4_gen_result rp;
        if (run(e, 64, prompt, lens[li], p, &plain, &rp)) continue;
        for (int k = 0; k <= 6; k++) { /* k = 0: adaptive, up to 4 */
            g4_gen_params q = p;
            q.draft = d;
            q.draft_max = k ? k : 4;
            q.draft_fixed = k != 0;
            capture sp;
            g4_gen_result rs;
            /* n_batch = k + 1: the sliding rings hold exactly window + draft + 1 cells */
            if (run(e, k ? k + 1 : 64, prompt, lens[li], q, &sp, &rs)) continue;
            T_CHECKF(same(&plain, &rp, &sp, &rs), "%s prompt %d, draft %d: speculative output differs from greedy",
                     target, lens[li], k);
            T_CHECKF(rs.n_accepted <= rs.n_drafted && (rs.n_passes >= 1 || rs.n_gen == 1) && rs.n_passes <= rs.n_gen,
                     "accepted %d drafted %d passes %d gen %d", rs.n_accepted, rs.n_drafted, rs.n_passes, rs.n_gen);
            if (k && rp.n_gen > 1) T_CHECKF(rs.n_passes < rp.n_passes || rs.n_accepted == 0, "%d passes vs %d plain", rs.n_passes, rp.n_passes);
            n_acc += rs.n_accepted;
            n_dr += rs.n_drafted;
            n_cases++;
        }
        /* limits inside a draft: max_tokens 1..7, a stop string from the middle of the text */
        for (int np = 1; np <= 7; np++) {
            g4_gen_params q = p;
            q.n_predict = np;
            capture a, b;
            g4_gen_result ra, rb;
            run_both(e, d, 4, prompt, lens[li], q, &a, &ra, &b, &rb);
            T_CHECKF(same(&a, &ra, &b, &rb) && rb.n_gen <= np, "max_tokens %d with drafts: %d/%d tokens, %zu/%zu bytes, finish %d/%d", np, a.n, b.n, a.len, b.len, ra.finish, rb.finish);
        }
        if (plain.len > 24) {
            char stop[8];
            memcpy(stop, plain.text + 15, 5);
            stop[5] = 0;
            const char *stops[] = {stop};
            g4_gen_params q = p;
            q.stop = stops;
            q.n_stop = 1;
            capture a, b;
            g4_gen_result ra, rb;
            run_both(e, d, 5, prompt, lens[li], q, &a, &ra, &b, &rb);
            T_CHECKF(same(&a, &ra, &b, &rb) && ra.finish == G4_FINISH_STOP && a.len <= 15,
                     "stop string \"%s\" with drafts (%zu bytes)", stop, a.len);
            n_mid_stop++;
        }
    }
    /* an end-of-generation token inside a draft: raise <turn|>'s logit until plain greedy
     * ends on it after a few tokens, then compare */
    {
        int32_t prompt[64];
        make_prompt(prompt, 20, 77u, V);
        const int32_t eog = 7; /* <turn|> in the fixture vocabulary */
        bool found = false;
        for (float b = 0; b <= 60 && !found; b += 0.5f) {
            g4_logit_bias bias = {eog, b};
            g4_gen_params p = g4_gen_params_default();
            p.sampling.temperature = 0;
            p.sampling.bias = &bias;
            p.sampling.n_bias = 1;
            p.n_predict = 40;
            capture a, c;
            g4_gen_result ra, rc;
            run(e, 64, prompt, 20, p, &a, &ra);
            if (ra.finish != G4_FINISH_STOP || ra.n_gen < 4) continue;
            found = true;
            T_CHECK(a.toks[ra.n_gen - 1] == eog);
            p.draft = d;
            p.draft_max = 6;
            p.draft_fixed = true;
            run(e, 64, prompt, 20, p, &c, &rc);
            T_CHECKF(same(&a, &ra, &c, &rc), "end-of-generation after %d tokens with drafts", ra.n_gen);
            fprintf(stderr, "%s: <turn|> bias %.1f ends greedy after %d tokens, speculative too\n", target, b, ra.n_gen);
        }
        T_CHECKF(found, "%s: no bias made <turn|> end the output", target);
    }
    fprintf(stderr, "%s + %s: %d greedy configurations equal, %d/%d drafts accepted, %d stop-string cases\n", target,
            asst, n_cases, n_acc, n_dr, n_mid_stop);
    T_CHECK(n_acc > 0 && n_acc < n_dr);
    g4_drafter_free(d);
    g4_engine_free(e);
}

/* ---- sampling: chi-square over the first three tokens ---- */

#define TOPK 3
#if defined(__SANITIZE_ADDRESS__)
#define NRUN 1500 /* the sanitizer build checks memory, not statistics: 4x fewer seeds */
#else
#define NRUN 6000
#endif
#define TEMP 1.0f

/* p(t) under top-k TOPK at temperature T from logits (the sampler's order: top-k, then
 * temperature; suppressed tokens are not among the fixture's top tokens) */
static void topk_probs(const float *lg, int V, float T, int32_t *ids, double *pr) {
    for (int j = 0; j < TOPK; j++) ids[j] = -1;
    for (int i = 0; i < V; i++) {
        int j = TOPK;
        while (j > 0 && (ids[j - 1] < 0 || lg[i] > lg[ids[j - 1]])) j--;
        if (j >= TOPK) continue;
        for (int m = TOPK - 1; m > j; m--) ids[m] = ids[m - 1];
        ids[j] = i;
    }
    double s = 0;
    for (int j = 0; j < TOPK; j++) s += pr[j] = exp(((double)lg[ids[j]] - lg[ids[0]]) / T);
    for (int j = 0; j < TOPK; j++) pr[j] /= s;
}

typedef struct {
    int32_t ids[TOPK][TOPK][TOPK][3];
    double pr[TOPK][TOPK][TOPK];
} joint;

/* exact joint distribution of (t1, t2, t3) from the target's logits */
static void exact_joint(g4_engine *e, const int32_t *prompt, int n, float T, joint *J) {
    const int V = g4_engine_n_vocab(e);
    float *lg = malloc((size_t)V * sizeof *lg);
    g4_session_config sc = g4_session_config_default();
    sc.n_ctx = 128;
    g4_session *s = NULL;
    g4_error err = {0};
    T_CHECK(g4_session_create(e, &sc, &s, &err) == G4_OK);
    int32_t seq[80];
    memcpy(seq, prompt, (size_t)n * sizeof *seq);
    int32_t i1[TOPK], i2[TOPK], i3[TOPK];
    double p1[TOPK], p2[TOPK], p3[TOPK];
    g4_session_eval(s, seq, n, false, lg, &err);
    topk_probs(lg, V, T, i1, p1);
    for (int a = 0; a < TOPK; a++) {
        g4_session_truncate(s, 0, n, &err);
        g4_session_eval(s, &i1[a], 1, false, lg, &err);
        topk_probs(lg, V, T, i2, p2);
        for (int b = 0; b < TOPK; b++) {
            g4_session_truncate(s, 0, n + 1, &err);
            g4_session_eval(s, &i2[b], 1, false, lg, &err);
            topk_probs(lg, V, T, i3, p3);
            for (int c = 0; c < TOPK; c++) {
                J->ids[a][b][c][0] = i1[a];
                J->ids[a][b][c][1] = i2[b];
                J->ids[a][b][c][2] = i3[c];
                J->pr[a][b][c] = p1[a] * p2[b] * p3[c];
            }
        }
    }
    g4_session_free(s);
    free(lg);
}

/* Pearson chi-square of counts against J (cells with expectation < 5 pooled); *df */
static double chi2(const joint *J, const int *counts, int n_other, int *df) {
    const double *pr = &J->pr[0][0][0];
    double x = 0, pool_e = 0, pool_o = n_other;
    int cells = 0;
    for (int i = 0; i < TOPK * TOPK * TOPK; i++) {
        const double ex = pr[i] * NRUN;
        if (ex < 5) {
            pool_e += ex;
            pool_o += counts[i];
            continue;
        }
        x += (counts[i] - ex) * (counts[i] - ex) / ex;
        cells++;
    }
    if (pool_e > 0) {
        x += (pool_o - pool_e) * (pool_o - pool_e) / (pool_e > 1e-9 ? pool_e : 1e-9);
        cells++;
    }
    *df = cells - 1;
    return x;
}

/* upper 0.001 quantile of chi-square(df), Wilson-Hilferty */
static double chi2_crit(int df) {
    const double z = 3.0902, a = 2.0 / (9.0 * df);
    const double c = 1 - a + z * sqrt(a);
    return df * c * c * c;
}

static int cell_of(const joint *J, const int32_t *t) {
    for (int i = 0; i < TOPK * TOPK * TOPK; i++)
        if (!memcmp(&J->ids[0][0][0][0] + 3 * i, t, 3 * sizeof *t)) return i;
    return -1;
}

/* A prompt (from seed upwards) whose first round's draft the target accepts greedily, so
 * that sampling accepts drafts often too (the fixture drafters agree with their targets
 * on 20-70 % of greedy tokens, not everywhere). */
static int find_prompt(g4_engine *e, g4_drafter *d, int len, unsigned seed, int32_t *prompt) {
    const int V = g4_engine_n_vocab(e);
    for (unsigned s = seed; s < seed + 200; s++) {
        make_prompt(prompt, len, s, V);
        g4_gen_params p = g4_gen_params_default();
        p.sampling.temperature = 0;
        p.n_predict = 3;
        p.draft = d;
        p.draft_max = 2;
        p.draft_fixed = true;
        capture c;
        g4_gen_result r;
        if (run(e, 64, prompt, len, p, &c, &r)) return 0;
        if (r.n_accepted == 1) return 1;
    }
    return 0;
}

static void check_sampling(const char *target, const char *asst, int prompt_len) {
    g4_engine *e;
    g4_drafter *d;
    if (!t_open_pair(target, asst, &e, &d)) return;
    g4_error err = {0};
    int32_t prompt[64];
    g4_gen *g = NULL, *g2 = NULL;
    T_CHECK(g4_gen_create(e, 128, 0, &g, &err) == G4_OK && g4_gen_create(e, 128, 0, &g2, &err) == G4_OK);
    if (!g || !g2 || !find_prompt(e, d, prompt_len, 4242u, prompt)) {
        T_CHECKF(0, "%s: no prompt whose first draft is accepted", target);
        goto out;
    }
    joint J, Jhot;
    exact_joint(e, prompt, prompt_len, TEMP, &J);
    exact_joint(e, prompt, prompt_len, TEMP * 1.6f, &Jhot);
    static int counts[TOPK * TOPK * TOPK];
    memset(counts, 0, sizeof counts);
    int other = 0, acc = 0, rej_rounds = 0, differ = 0;
    for (int r = 0; r < NRUN; r++) {
        capture c[2];
        for (int mode = 0; mode < 2; mode++) { /* plain, speculative */
            memset(&c[mode], 0, sizeof c[mode]);
            g4_gen_params p = g4_gen_params_default();
            p.parse = false;
            p.sampling.temperature = TEMP;
            p.sampling.top_k = TOPK;
            p.sampling.top_p = 1.0f;
            p.sampling.seed = 1000u + (unsigned)r;
            p.n_predict = 3;
            p.on_token = cap_token;
            p.user = &c[mode];
            if (mode) {
                p.draft = d;
                p.draft_max = 2;
                p.draft_fixed = true;
            }
            g4_gen_result res;
            if (g4_gen_run(mode ? g2 : g, prompt, (size_t)prompt_len, &p, &res, &err) != G4_OK) {
                T_CHECKF(0, "%s", err.msg);
                goto out;
            }
            if (mode) {
                acc += res.n_accepted;
                rej_rounds += res.n_drafted > res.n_accepted;
            }
        }
        /* one uniform draw per committed token either way: the same seed gives the same text */
        differ += c[0].n != c[1].n || memcmp(c[0].toks, c[1].toks, 3 * sizeof *c[0].toks);
        int cell = c[1].n == 3 ? cell_of(&J, c[1].toks) : -1;
        if (cell < 0) other++;
        else counts[cell]++;
    }
    int df, df_hot;
    const double x = chi2(&J, counts, other, &df), crit = chi2_crit(df);
    const double x_hot = chi2(&Jhot, counts, other, &df_hot);
    fprintf(stderr,
            "%s speculative sampling (top-k %d, T %.2f, %d seeds): chi2 %.1f (df %d, p=0.001 bound %.1f); vs T x 1.6: "
            "%.1f (bound %.1f); drafts accepted %d/%d; %d seeds differ from plain sampling\n",
            target, TOPK, TEMP, NRUN, x, df, crit, x_hot, chi2_crit(df_hot), acc, NRUN, differ);
    T_CHECKF(other == 0, "%d samples outside the top-%d tokens", other, TOPK);
    T_CHECKF(x < crit, "%s: chi2 %.1f >= %.1f", target, x, crit);
    T_CHECKF(x_hot > chi2_crit(df_hot), "the test cannot tell temperature x 1.6 (chi2 %.1f)", x_hot);
    T_CHECKF(acc > NRUN / 20 && rej_rounds > NRUN / 20, "accepted %d, rounds with a rejection %d", acc, rej_rounds);
    T_CHECKF(differ == 0, "%d seeds gave other tokens than plain sampling", differ);
out:
    g4_gen_free(g);
    g4_gen_free(g2);
    g4_drafter_free(d);
    g4_engine_free(e);
}

/* ---- the draft-length controller ---- */

static int run_ctl(g4_spec_ctl *c, double a, double base, double per_row, double t_d, int rounds, unsigned *rng,
                   int *hist) {
    int last = 0;
    for (int r = 0; r < rounds; r++) {
        int k = g4_spec_ctl_pick(c);
        hist[k]++;
        int acc = 0;
        while (acc < k) {
            *rng = *rng * 1664525u + 1013904223u;
            if ((*rng >> 8) / 16777216.0 >= a) break;
            acc++;
        }
        g4_spec_ctl_update(c, k, acc, acc < k, k * t_d, base + per_row * k + k * t_d);
        last = k;
    }
    return last;
}

static void check_controller(void) {
    unsigned rng = 7;
    int hist[G4_SPEC_KMAX + 1];
    g4_spec_ctl c;
    /* fixed length: always kmax */
    g4_spec_ctl_init(&c, 5, true);
    T_CHECK(g4_spec_ctl_pick(&c) == 5);
    /* memory-bound verification (5 % per extra row), high acceptance: long drafts */
    g4_spec_ctl_init(&c, 8, false);
    T_CHECK(g4_spec_ctl_pick(&c) == 0); /* measures a plain step first */
    memset(hist, 0, sizeof hist);
    run_ctl(&c, 0.9, 0.1, 0.005, 0.002, 400, &rng, hist);
    int longest = 0;
    for (int k = 0; k <= 8; k++)
        if (hist[k] > hist[longest]) longest = k;
    T_CHECKF(longest >= 5, "acceptance 0.9, cheap rows: most rounds drafted %d", longest);
    T_CHECKF(fabs(g4_spec_ctl_acceptance(&c) - 0.9) < 0.1, "acceptance estimate %.2f", g4_spec_ctl_acceptance(&c));
    /* compute-bound verification (each row +45 %), acceptance 0.7: short drafts */
    g4_spec_ctl_init(&c, 8, false);
    memset(hist, 0, sizeof hist);
    run_ctl(&c, 0.7, 0.1, 0.045, 0.004, 400, &rng, hist);
    longest = 0;
    for (int k = 0; k <= 8; k++)
        if (hist[k] > hist[longest]) longest = k;
    T_CHECKF(longest >= 1 && longest <= 2, "acceptance 0.7, rows +45%%: most rounds drafted %d", longest);
    /* low acceptance: mostly plain steps, with rare probes */
    g4_spec_ctl_init(&c, 4, false);
    memset(hist, 0, sizeof hist);
    run_ctl(&c, 0.05, 0.1, 0.01, 0.004, 400, &rng, hist);
    T_CHECKF(hist[0] > 340 && hist[2] + hist[3] + hist[4] < 10, "acceptance 0.05: %d plain rounds, %d probes", hist[0],
             hist[1]);
    /* acceptance comes back: drafting resumes */
    memset(hist, 0, sizeof hist);
    run_ctl(&c, 0.95, 0.1, 0.01, 0.004, 400, &rng, hist);
    T_CHECKF(hist[4] > 250, "acceptance back to 0.95: %d rounds at the longest draft", hist[4]);
}

/* a drafter opened for another engine is refused before anything is drafted */
static void check_wrong_engine(void) {
    g4_engine *e, *other = t_open_fixture("dense-f32", G4_LOAD_MMAP);
    g4_drafter *d;
    if (!other || !t_open_pair("dense-f32", "dense-assistant", &e, &d)) {
        g4_engine_free(other);
        return;
    }
    g4_gen *g = NULL;
    g4_error err = {0};
    T_CHECK(g4_gen_create(other, 64, 0, &g, &err) == G4_OK);
    g4_gen_params p = g4_gen_params_default();
    p.draft = d;
    p.n_predict = 4;
    const int32_t prompt[] = {2, 300, 301};
    g4_gen_result r;
    T_CHECKF(g && g4_gen_run(g, prompt, 3, &p, &r, &err) == G4_ERR_ARG && strstr(err.msg, "another model"), "%s",
             err.msg);
    g4_gen_free(g);
    g4_drafter_free(d);
    g4_engine_free(e);
    g4_engine_free(other);
}

int main(void) {
    check_wrong_engine();
    check_controller();
    check_greedy("dense-f32", "dense-assistant");
    check_greedy("e-f32", "e-assistant");
    check_sampling("dense-f32", "dense-assistant", 12);
    check_sampling("e-f32", "e-assistant", 20);
    return T_DONE();
}
