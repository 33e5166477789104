/* test_specpair.c — tools/mkgguf's speculative-decoding benchmark pairs: a --spec-target
 * model and *-assistant drafters with a chosen agreement (tools/mkgguf.c header).
 *
 * Builds, with the mkgguf of this build, a tiny spec target (f32) and tiny-assistant
 * drafters with --agree 1.0, 0.5 and 0.0 (f32: the head rows are byte copies of the
 * target's row prefixes), 1.0 with a q8_0 head and 0.5 in q4_0 (both requantized from
 * the f32 target), then checks:
 * - sigma (recovered from the file: output row sigma(s) = token_embd row s) is one cycle
 *   over [256, V) and the identity below 256; the target's greedy next token after every
 *   token s is sigma(s), whatever the context;
 * - tau (from the f32 drafters' heads) is a permutation fixing [0, 256) that agrees with
 *   sigma on exactly 100% / 50% / 0% of the cycle; every drafter's greedy draft after
 *   every token s is tau(s) (the requantized ones included);
 * - g4_spec_generate_greedy: the output walks the cycle; with agree 1.0 every draft is
 *   accepted, with 0.0 none; the accepted / drafted counts equal a simulation of the
 *   loop from sigma and tau; with 0.5 the per-token acceptance (accepted / (accepted +
 *   rejections), draft length 3) and accepted / drafted at draft length 1 are 0.5 +- 0.1;
 * - mkgguf refuses a non-spec target, --agree outside [0, 1] and a missing --target. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "g4.h"
#include "gguf/gguf.h"
#include "mtp/mtp.h"
#include "t.h"

static char dir[64];
static char paths[16][128];
static int n_paths;

static const char *tmp_path(const char *name) {
    char *p = paths[n_paths++];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

/* Runs mkgguf with args; returns its exit status (-1 when it did not run). */
static int mkgguf(const char *args) {
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "'%s/mkgguf' %s", G4_BUILD_DIR, args);
    int rc = system(cmd);
    return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* perm[s] = r where row r of tensor `rows` (ne0 = D) equals the first D elements of row
 * s of `src` (f32 both); -1 when not found. */
static void row_perm(const g4_gguf_tensor *src, const g4_gguf_tensor *rows, int32_t *perm) {
    const int64_t V = src->ne[1], H = src->ne[0], D = rows->ne[0];
    const float *S = src->data, *R = rows->data;
    for (int64_t s = 0; s < V; s++) {
        perm[s] = -1;
        for (int64_t r = 0; r < V && perm[s] < 0; r++)
            if (!memcmp(S + s * H, R + r * D, (size_t)D * sizeof(float))) perm[s] = (int32_t)r;
    }
}

static bool file_perm(const char *file, const char *tensor, const g4_gguf_tensor *src, int32_t *perm) {
    g4_gguf *g = NULL;
    g4_error err = {0};
    T_CHECKF(g4_gguf_open(file, &g, &err) == G4_OK, "%s", err.msg);
    if (!g) return false;
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, tensor);
    T_CHECK(t && t->type == G4_TYPE_F32 && t->n_dims == 2 && t->ne[1] == src->ne[1]);
    bool ok = t && t->type == G4_TYPE_F32 && t->ne[1] == src->ne[1];
    if (ok) row_perm(src, t, perm);
    g4_gguf_close(g);
    return ok;
}

typedef struct {
    int rounds, acc, rej, n_draft;
} round_log;

static void on_step(void *user, int n_draft, int n_accepted, const int32_t *ids, int n_ids) {
    (void)ids, (void)n_ids;
    round_log *l = user;
    if (n_draft == 0) return;
    l->rounds++;
    l->acc += n_accepted;
    l->rej += n_accepted < n_draft;
}

/* The speculative loop on sigma / tau alone (docs/MTP.md): drafted and accepted counts. */
static void simulate(const int32_t *sigma, const int32_t *tau, int32_t tok, int n_draft, int n_max, int *drafted,
                     int *accepted) {
    int n_gen = 0;
    *drafted = *accepted = 0;
    while (n_gen < n_max) {
        int32_t cur = tok, d = tok;
        int j = 0;
        bool agree = true;
        for (int k = 0; k < n_draft; k++) {
            d = tau[d];
            if (agree && d == sigma[cur]) {
                j++;
                cur = d;
            } else {
                agree = false;
            }
        }
        *drafted += n_draft;
        *accepted += j;
        n_gen += j + 1;
        tok = sigma[cur];
    }
}

typedef struct {
    const char *name;
    const char *path;
    double agree;
    const int32_t *tau; /* expected drafts */
} drafter_case;

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/g4specpairXXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char args[1024];
    const char *target = tmp_path("target.gguf"), *plain = tmp_path("plain.gguf");
    const char *d100 = tmp_path("a100.gguf"), *d50 = tmp_path("a50.gguf"), *d0 = tmp_path("a0.gguf");
    const char *d100q8 = tmp_path("a100-q8_0.gguf"), *d50q4 = tmp_path("a50-q4_0.gguf"), *bad = tmp_path("bad.gguf");

    snprintf(args, sizeof args, "--shape tiny --type f32 --spec-target --seed 7 -o '%s'", target);
    T_CHECK(mkgguf(args) == 0);
    snprintf(args, sizeof args, "--shape tiny --type f32 -o '%s'", plain);
    T_CHECK(mkgguf(args) == 0);
    const struct { const char *out, *type; double a; } mk[] = {
        {d100, "f32", 1.0}, {d50, "f32", 0.5}, {d0, "f32", 0.0}, {d100q8, "q8_0", 1.0}, {d50q4, "q4_0", 0.5}};
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        snprintf(args, sizeof args, "--shape tiny-assistant --type %s --target '%s' --agree %g --seed 11 -o '%s'",
                 mk[i].type, target, mk[i].a, mk[i].out);
        T_CHECKF(mkgguf(args) == 0, "%s", args);
    }
    /* refused: a target without the spec head, agreement out of range, no target */
    snprintf(args, sizeof args, "--shape tiny-assistant --type f32 --target '%s' --agree 0.5 -o '%s' 2>/dev/null",
             plain, bad);
    T_CHECK(mkgguf(args) == 1);
    snprintf(args, sizeof args, "--shape tiny-assistant --type f32 --target '%s' --agree 1.5 -o '%s' 2>/dev/null",
             target, bad);
    T_CHECK(mkgguf(args) == 2);
    snprintf(args, sizeof args, "--shape tiny-assistant --type f32 --agree 0.5 -o '%s' 2>/dev/null", bad);
    T_CHECK(mkgguf(args) == 2);
    T_CHECK(access(bad, F_OK) != 0);

    /* sigma and tau from the files */
    g4_gguf *tg = NULL;
    g4_error err = {0};
    T_CHECKF(g4_gguf_open(target, &tg, &err) == G4_OK, "%s", err.msg);
    if (!tg) goto out;
    const g4_gguf_tensor *te = g4_gguf_find_tensor(tg, "token_embd.weight");
    T_CHECK(te && te->type == G4_TYPE_F32 && te->n_dims == 2);
    if (!te || te->type != G4_TYPE_F32) goto out;
    const int V = (int)te->ne[1];
    int32_t *sigma = malloc((size_t)V * sizeof *sigma), *tau100 = malloc((size_t)V * sizeof *tau100);
    int32_t *tau50 = malloc((size_t)V * sizeof *tau50), *tau0 = malloc((size_t)V * sizeof *tau0);
    int32_t *seen = calloc((size_t)V, sizeof *seen);
    float *logits = malloc((size_t)64 * V * sizeof *logits);
    if (!sigma || !tau100 || !tau50 || !tau0 || !seen || !logits) return 1;
    T_CHECK(file_perm(target, "output.weight", te, sigma));
    T_CHECK(file_perm(d100, "token_embd.weight", te, tau100));
    T_CHECK(file_perm(d50, "token_embd.weight", te, tau50));
    T_CHECK(file_perm(d0, "token_embd.weight", te, tau0));

    bool ok = true;
    for (int s = 0; s < 256; s++) ok &= sigma[s] == s && tau100[s] == s && tau50[s] == s && tau0[s] == s;
    T_CHECKF(ok, "ids below 256 are fixed points");
    int len = 0;
    for (int32_t t = 256; len <= V && (len == 0 || t != 256); len++) {
        T_CHECK(t >= 256 && t < V && !seen[t]);
        if (t < 256 || t >= V || seen[t]) break;
        seen[t] = 1;
        t = sigma[t];
    }
    T_CHECKF(len == V - 256, "sigma's cycle through 256 has %d ids, expected %d", len, V - 256);
    const int32_t *taus[3] = {tau100, tau50, tau0};
    const int want_agree[3] = {V - 256, (V - 256) / 2, 0};
    for (int k = 0; k < 3; k++) {
        int agree = 0;
        memset(seen, 0, (size_t)V * sizeof *seen);
        ok = true;
        for (int s = 0; s < V; s++) {
            ok &= taus[k][s] >= 0 && !seen[taus[k][s]];
            if (taus[k][s] >= 0) seen[taus[k][s]] = 1;
            agree += s >= 256 && taus[k][s] == sigma[s];
        }
        T_CHECKF(ok, "tau %d is a permutation", k);
        T_CHECKF(agree == want_agree[k], "tau %d agrees with sigma on %d ids, expected %d", k, agree, want_agree[k]);
    }

    /* the target: greedy next token after every token is sigma(token), in any context */
    g4_engine_config cfg = g4_engine_config_default();
    cfg.model_path = target;
    cfg.n_threads = 2;
    g4_engine *e = NULL;
    T_CHECKF(g4_engine_open(&cfg, &e, &err) == G4_OK, "%s", err.msg);
    if (!e) goto free_all;
    g4_session_config sc = {V + 64, 1, 64, 0};
    g4_session *s = NULL;
    T_CHECKF(g4_session_create(e, &sc, &s, &err) == G4_OK, "%s", err.msg);
    int32_t toks[64];
    int n_bad = 0;
    for (int t0 = 0; s && t0 < V; t0 += 64) {
        for (int i = 0; i < 64; i++) toks[i] = (int32_t)((t0 + i * 37) % V); /* a scrambled order */
        T_CHECK(g4_session_eval(s, toks, 64, true, logits, &err) == G4_OK);
        for (int i = 0; i < 64; i++) n_bad += argmax(logits + (size_t)i * V, V) != sigma[toks[i]];
    }
    T_CHECKF(n_bad == 0, "the target's greedy token differs from sigma after %d tokens", n_bad);

    /* each drafter: the draft after every token s is tau(s) */
    const drafter_case dc[] = {{"a100", d100, 1.0, tau100}, {"a50", d50, 0.5, tau50}, {"a0", d0, 0.0, tau0},
                               {"a100-q8_0", d100q8, 1.0, tau100}, {"a50-q4_0", d50q4, 0.5, tau50}};
    const int H = (int)te->ne[0];
    float *h = malloc((size_t)H * sizeof *h), *dl = malloc((size_t)V * sizeof *dl);
    if (!h || !dl) return 1;
    for (size_t c = 0; s && c < sizeof dc / sizeof dc[0]; c++) {
        g4_drafter *d = NULL;
        T_CHECKF(g4_drafter_open(dc[c].path, e, &d, &err) == G4_OK, "%s", err.msg);
        if (!d) continue;
        T_CHECK(g4_drafter_n_embd(d) == 64 && g4_drafter_n_embd_out(d) == H && g4_drafter_n_vocab(d) == V);
        n_bad = 0;
        const int pos = g4_session_seq_len(s, 0);
        for (int t = 0; t < V; t++) {
            memcpy(h, g4_session_hidden_row(s, 0), (size_t)H * sizeof *h);
            T_CHECK(g4_drafter_step(d, s, 0, t, h, pos, dl, h, &err) == G4_OK);
            n_bad += argmax(dl, V) != dc[c].tau[t];
        }
        T_CHECKF(n_bad == 0, "%s: the draft differs from tau after %d tokens", dc[c].name, n_bad);

        /* speculative decoding: draft lengths 3 and 1 */
        for (int nd = 3; nd >= 1; nd -= 2) {
            g4_session *ss = NULL;
            g4_session_config sc2 = {512, 1, 8, 0};
            T_CHECK(g4_session_create(e, &sc2, &ss, &err) == G4_OK);
            if (!ss) break;
            const int n_max = nd == 3 ? 200 : 300;
            round_log lg = {0};
            g4_spec_params sp = {nd, n_max, true, on_step, &lg};
            int32_t out[320];
            const int32_t prompt[2] = {2, 300};
            g4_spec_stats st = {0};
            T_CHECKF(g4_spec_generate_greedy(d, ss, prompt, 2, &sp, out, 320, &st, &err) == G4_OK, "%s", err.msg);
            ok = st.n_gen >= n_max && out[0] == sigma[300];
            for (int i = 1; ok && i < st.n_gen; i++) ok = out[i] == sigma[out[i - 1]];
            T_CHECKF(ok, "%s: the output does not walk sigma", dc[c].name);
            int drafted, accepted;
            simulate(sigma, dc[c].tau, 300, nd, n_max, &drafted, &accepted);
            T_CHECKF(st.n_drafted == drafted && st.n_accepted == accepted,
                     "%s draft %d: %d/%d accepted, simulated %d/%d", dc[c].name, nd, st.n_accepted, st.n_drafted,
                     accepted, drafted);
            const double per_tok = lg.acc + lg.rej ? (double)lg.acc / (lg.acc + lg.rej) : 0;
            T_CHECK(lg.acc == st.n_accepted);
            if (dc[c].agree == 1.0) T_CHECK(st.n_accepted == st.n_drafted && st.n_drafted > 0);
            else if (dc[c].agree == 0.0) T_CHECK(st.n_accepted == 0 && st.n_drafted > 0);
            else
                T_CHECKF(fabs(per_tok - 0.5) <= 0.1 &&
                             (nd != 1 || fabs((double)st.n_accepted / st.n_drafted - 0.5) <= 0.1),
                         "%s draft %d: per-token acceptance %.3f", dc[c].name, nd, per_tok);
            fprintf(stderr, "%s draft %d: %d tokens, %d rounds, %d/%d drafts accepted, per-token acceptance %.3f\n",
                    dc[c].name, nd, st.n_gen, st.n_rounds, st.n_accepted, st.n_drafted, per_tok);
            g4_session_free(ss);
        }
        g4_drafter_free(d);
    }
    free(h);
    free(dl);
    g4_session_free(s);
    g4_engine_free(e);
free_all:
    free(sigma);
    free(tau100);
    free(tau50);
    free(tau0);
    free(seen);
    free(logits);
out:
    g4_gguf_close(tg);
    for (int i = 0; i < n_paths; i++) remove(paths[i]);
    rmdir(dir);
    return T_DONE();
}
