/* test_mm.c — the 12B multimodal core: mmproj loading (clip.* keys, gemma4uv / gemma4ua),
 * projection of the projector inputs against the goldens, and media embeddings inside
 * the forward pass (both mask modes) against the llama.cpp and HF goldens
 * (tests/data/golden/mtmd, model dense-f32 + dense-mmproj-f32; fixtures README
 * "Multimodal" and its addendum).
 *
 * Tolerances (fixtures README "Tolerances"):
 *   projected embeddings ........ f32 rounding: max |Δ| <= 1e-5 * max |golden|
 *     (F16 / BF16 / Q8_0 copies of the projector: 2e-3 / 1e-2 / 2e-2 relative, we measure
 *      4e-4 / 3e-3 / 8e-3: the activations are rounded to the weight's vec_type as in
 *      llama.cpp)
 *   logits, llama.cpp mask ...... 0.05 (F32 text model with the fp16 GELU table)
 *   logits, HF mask ............. 0.25 with the fp16 GELU table (the reference is float64
 *                                 without it: the README's "exact GELU" column), 0.01 with
 *                                 the exact GELU (we measure ~3e-4)
 *   greedy ids .................. the golden ids are fed back (teacher forcing), so every
 *                                 step whose golden margin is >= 2x the tolerance must agree
 * Splitting a prompt into several decode calls (media whole in one) is bit-identical.
 *
 * `test_mm --bench [f32|f16|bf16|q8_0] [MODEL.gguf]` (not run by ctest) writes a
 * random projector shaped like the 12B's (patch 16, merge 3, 3840 wide, 1120 positions)
 * and times a 896x896 image (256 tokens at the HF budget 280) and a 30 s clip (750). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fp16.h"
#include "core/json.h"
#include "core/types.h"
#include "engine/engine.h"
#include "g4.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "gld.h"
#include "kernels/kernels.h"
#include "mm/mm.h"
#include "t.h"

#define DATA G4_TEST_DATA
#define MTMD DATA "/golden/mtmd/dense-f32."
#define MMPROJ DATA "/dense-mmproj-f32.gguf"

static const char *CASES[] = {"img_gradient_96x64", "img_shapes_200x120", "aud_chirp_16k_mono_1p5s",
                              "aud_chirp_44k1_stereo_1s"};
#define N_CASES 4

static double worst_embd = 0, worst_llama = 0, worst_hf = 0, worst_hf_table = 0;

/* ---- helpers ---------------------------------------------------------------------- */

static g4_engine *open_engine(const char *path, g4_gelu_mode gelu, int threads) {
    g4_engine_config cfg = g4_engine_config_default();
    cfg.model_path = path;
    cfg.gelu = gelu;
    cfg.n_threads = threads;
    cfg.load = G4_LOAD_MMAP;
    g4_engine *e = NULL;
    g4_error err = {0};
    T_CHECKF(g4_engine_open(&cfg, &e, &err) == G4_OK, "%s: %s", path, err.msg);
    return e;
}

static g4_session *new_session(g4_engine *e, int n_ctx, int n_batch) {
    g4_session_config sc = {n_ctx, 1, n_batch, 0};
    g4_session *s = NULL;
    g4_error err = {0};
    T_CHECKF(g4_session_create(e, &sc, &s, &err) == G4_OK, "%s", err.msg);
    return s;
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
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

static bool has(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

/* ---- a case: its chunk list as batch rows ------------------------------------------------ */

typedef struct {
    const char *name;
    bool audio;
    int n;              /* prompt rows */
    int32_t tok[512];   /* token ids (media rows: the placeholder id, ignored) */
    int32_t grp[512];   /* 1 on image rows */
    const float *emb[512];
    int media0, n_media; /* rows [media0, media0 + n_media) */
    int grid_w, grid_h;  /* projector input size (images) */
    int gen[16], n_gen;
    double margin[16];
    gld embd;            /* golden projected embeddings [n_media, 256] */
} mcase;

static bool load_case(const char *name, mcase *c) {
    memset(c, 0, sizeof *c);
    c->name = name;
    char path[512];
    snprintf(path, sizeof path, MTMD "%s.json", name);
    size_t len = 0;
    char *txt = gld_slurp(path, &len);
    g4_json *js = NULL;
    g4_error err = {0};
    T_CHECKF(txt && g4_json_parse(txt, len, &js, &err) == G4_OK, "%s: %s", path, err.msg);
    free(txt);
    if (!js) return false;
    snprintf(path, sizeof path, MTMD "%s.media0.embd.gld", name);
    T_CHECKF(gld_read(path, &c->embd), "%s", path);
    c->audio = g4_json_bool(g4_json_get(js, "is_audio"));
    const g4_json *chunks = g4_json_get(js, "chunks");
    for (size_t i = 0; i < g4_json_len(chunks); i++) {
        const g4_json *ch = g4_json_at(chunks, i);
        const char *type = g4_json_get_str(ch, "type", NULL);
        if (type && !strcmp(type, "text")) {
            const g4_json *t = g4_json_get(ch, "tokens");
            for (size_t k = 0; k < g4_json_len(t) && c->n < 512; k++) c->tok[c->n++] = (int32_t)g4_json_number(g4_json_at(t, k));
        } else {
            const int nm = (int)g4_json_number(g4_json_get(ch, "n_tokens"));
            const g4_json *dims = g4_json_get(ch, "input_dims");
            if (!c->audio) {
                c->grid_h = (int)g4_json_number(g4_json_at(dims, 1));
                c->grid_w = (int)g4_json_number(g4_json_at(dims, 2));
            }
            T_CHECK(c->embd.data && c->embd.dims[0] == nm && c->embd.dims[1] == 256 && c->n + nm <= 512);
            if (!c->embd.data || c->embd.dims[0] != nm || c->n + nm > 512) break;
            c->media0 = c->n;
            c->n_media = nm;
            for (int k = 0; k < nm; k++) {
                c->tok[c->n] = c->audio ? 13 : 12; /* <|audio|> / <|image|> in the test vocab */
                c->grp[c->n] = c->audio ? 0 : 1;  /* audio is causal in both definitions */
                c->emb[c->n++] = c->embd.data + (size_t)k * 256;
            }
        }
    }
    const g4_json *gen = g4_json_get(js, "generated"), *mg = g4_json_get(js, "top1_minus_top2");
    c->n_gen = (int)g4_json_len(gen) < 16 ? (int)g4_json_len(gen) : 16;
    for (int k = 0; k < c->n_gen; k++) {
        c->gen[k] = (int)g4_json_number(g4_json_at(gen, (size_t)k));
        c->margin[k] = g4_json_number(g4_json_at(mg, (size_t)k));
    }
    T_CHECKF((int)g4_json_number(g4_json_get(js, "n_past_after_prompt")) == c->n, "%s: %d prompt rows", name, c->n);
    g4_json_free(js);
    return c->n_media > 0;
}

/* Decodes rows [r0, r1) of the case's prompt into s (positions continue the session). */
static g4_status decode_rows(g4_session *s, const mcase *c, int r0, int r1, g4_mask_mode mask, const bool *want,
                             float *logits, g4_error *err) {
    int32_t pos[512];
    for (int i = r0; i < r1; i++) pos[i - r0] = i;
    g4_batch b = {.n = r1 - r0, .tokens = c->tok + r0, .pos = pos, .want = want, .embd = c->emb + r0,
                  .n_embd = 256, .group = c->grp + r0, .mask = mask};
    return g4_session_decode(s, &b, logits, err);
}

/* ---- 1. loading ------------------------------------------------------------------------- */

static void test_load(void) {
    g4_mmproj *p = NULL;
    g4_error err = {0};
    T_CHECKF(g4_mmproj_open(MMPROJ, 256, &p, &err) == G4_OK, "%s", err.msg);
    if (!p) return;
    const g4_mmproj_info *in = g4_mmproj_get_info(p);
    T_CHECK(in->has_vision && in->has_audio);
    T_CHECK(!strcmp(in->vision_type, "gemma4uv") && !strcmp(in->audio_type, "gemma4ua"));
    T_CHECK(in->n_embd == 256 && in->patch_size == 4 && in->merge == 3 && in->side == 12);
    T_CHECK(in->patch_dim == 432 && in->mm_embd == 128 && in->n_pos == 48 && in->frame_size == 640);
    T_CHECK(in->image_mean[0] == 0 && in->image_std[2] == 1 && fabsf(in->vision_eps - 1e-6f) < 1e-9f);
    T_CHECK(g4_mm_image_tokens(p, 60, 96) == 40 && g4_mm_image_tokens(p, 120, 204) == 170);
    T_CHECK(g4_mm_image_tokens(p, 61, 96) == -1 && g4_mm_image_tokens(p, 12, 49 * 12) == -1);
    T_CHECK(g4_mm_image_tokens(p, 12, 48 * 12) == 48);

    g4_image_params ip;
    memset(&ip, 0, sizeof ip);
    ip.token_budget = 280;
    T_CHECK(g4_mmproj_image_params(p, &ip, &err) == G4_OK);
    T_CHECK(ip.patch_size == 4 && ip.merge == 3 && ip.n_pos == 48 && ip.std[1] == 1 && ip.token_budget == 280);
    g4_audio_params ap;
    memset(&ap, 0, sizeof ap);
    ap.sample_rate = 16000;
    T_CHECK(g4_mmproj_audio_params(p, &ap, &err) == G4_OK);
    T_CHECK(ap.frame_size == 640 && ap.sample_rate == 16000 && fabsf(ap.rms_eps - 1e-6f) < 1e-9f);
    g4_mmproj_close(p);

    /* any width: taken from the file */
    T_CHECK(g4_mmproj_open(MMPROJ, 0, &p, &err) == G4_OK && p && g4_mmproj_get_info(p)->n_embd == 256);
    g4_mmproj_close(p);
    /* the text model's width must match */
    g4_error e2 = {0};
    T_CHECK(g4_mmproj_open(MMPROJ, 512, &p, &e2) == G4_ERR_FORMAT && !p);
    T_CHECKF(has(e2.msg, "projection_dim") && has(e2.msg, "512"), "%s", e2.msg);
    /* a text model is not a projector */
    g4_error e3 = {0};
    T_CHECK(g4_mmproj_open(DATA "/dense-f32.gguf", 256, &p, &e3) == G4_ERR_FORMAT);
    T_CHECKF(has(e3.msg, "clip"), "%s", e3.msg);
    g4_error e4 = {0};
    T_CHECK(g4_mmproj_open(DATA "/no-such-mmproj.gguf", 256, &p, &e4) == G4_ERR_IO);
    g4_mmproj_close(NULL);
}

/* ---- 2. projection against the goldens ---------------------------------------------------- */

static void check_embd(const char *what, const float *got, int n_got, const gld *gold, double rel_tol) {
    T_CHECKF(n_got == gold->dims[0], "%s: %d tokens, golden %d", what, n_got, gold->dims[0]);
    if (n_got != gold->dims[0]) return;
    const double d = max_abs_diff(got, gold->data, gold->n), scale = max_abs(gold->data, gold->n);
    if (rel_tol < 1e-4 && d > worst_embd) worst_embd = d;
    fprintf(stderr, "  %-40s max |d| %.3g (%.3g of max |golden| %.3g)\n", what, d, d / scale, scale);
    T_CHECKF(d <= rel_tol * scale, "%s: max |d| %g > %g", what, d, rel_tol * scale);
}

/* Projects case `name` with projector p, returns the embeddings (malloc'd) and the count. */
static float *project_case(const g4_mmproj *p, g4_engine *e, const char *name, int *n_tok) {
    char path[512];
    snprintf(path, sizeof path, MTMD "%s.media0.input.gld", name);
    gld in;
    float *embd = NULL;
    *n_tok = 0;
    if (!gld_read(path, &in)) {
        T_CHECKF(0, "cannot read %s", path);
        return NULL;
    }
    g4_error err = {0};
    if (in.ndim == 3) {
        T_CHECKF(g4_mm_project_image(p, e, in.data, in.dims[1], in.dims[2], &embd, n_tok, &err) == G4_OK, "%s: %s",
                 name, err.msg);
    } else {
        /* the golden stores [640, n_frames] (time contiguous); the projector takes frames */
        const int F = in.dims[0], T = in.dims[1];
        float *fr = malloc(in.n * sizeof *fr);
        for (int t = 0; fr && t < T; t++)
            for (int f = 0; f < F; f++) fr[(size_t)t * F + f] = in.data[(size_t)f * T + t];
        T_CHECKF(fr && g4_mm_project_audio(p, e, fr, T, &embd, n_tok, &err) == G4_OK, "%s: %s", name, err.msg);
        free(fr);
    }
    gld_free(&in);
    return embd;
}

static void test_project(g4_engine *e) {
    g4_mmproj *p = NULL;
    g4_error err = {0};
    T_CHECKF(g4_mmproj_open(MMPROJ, 256, &p, &err) == G4_OK, "%s", err.msg);
    if (!p) return;
    for (int i = 0; i < N_CASES; i++) {
        char path[512];
        snprintf(path, sizeof path, MTMD "%s.media0.embd.gld", CASES[i]);
        gld gold;
        if (!gld_read(path, &gold)) {
            T_CHECKF(0, "cannot read %s", path);
            continue;
        }
        int n = 0;
        float *embd = project_case(p, e, CASES[i], &n);
        if (embd) check_embd(CASES[i], embd, n, &gold, 1e-5);
        free(embd);
        gld_free(&gold);
    }
    g4_mmproj_close(p);
}

/* ---- 3. the forward pass with media rows --------------------------------------------------- */

/* Prompt logits (last row) of a case decoded in one call. */
static float *prompt_last(g4_engine *e, const mcase *c, g4_mask_mode mask) {
    const int V = g4_engine_n_vocab(e);
    g4_session *s = new_session(e, 512, 512);
    float *lg = malloc((size_t)V * sizeof *lg);
    g4_error err = {0};
    if (s && lg) T_CHECKF(decode_rows(s, c, 0, c->n, mask, NULL, lg, &err) == G4_OK, "%s: %s", c->name, err.msg);
    g4_session_free(s);
    return lg;
}

/* llama.cpp mask: last prompt logits and the 16 greedy steps (teacher-forced with the
 * golden ids, every row compared); the same prompt in several calls is bit-identical. */
static void test_llamacpp(g4_engine *e, const mcase *c) {
    const int V = g4_engine_n_vocab(e);
    const double tol = 0.05;
    char path[512];
    gld last, gen;
    snprintf(path, sizeof path, MTMD "%s.logits_last.gld", c->name);
    T_CHECKF(gld_read(path, &last) && last.n == (size_t)V, "%s", path);
    snprintf(path, sizeof path, MTMD "%s.gen.gld", c->name);
    T_CHECKF(gld_read(path, &gen) && gen.n == (size_t)16 * V, "%s", path);
    g4_session *s = new_session(e, 512, 512);
    float *lg = malloc((size_t)V * sizeof *lg);
    g4_error err = {0};
    if (!s || !lg || !last.data || !gen.data) goto done;
    T_CHECKF(decode_rows(s, c, 0, c->n, G4_MASK_LLAMACPP, NULL, lg, &err) == G4_OK, "%s: %s", c->name, err.msg);
    double d = max_abs_diff(lg, last.data, (size_t)V), dg = 0;
    int ok_ids = 0, checked = 0;
    for (int k = 0; k < c->n_gen; k++) {
        dg = fmax(dg, max_abs_diff(lg, gen.data + (size_t)k * V, (size_t)V));
        /* teacher-forced: every step whose golden margin is clear must agree */
        if (c->margin[k] >= 2 * tol) {
            checked++;
            ok_ids += argmax(lg, V) == c->gen[k];
        }
        const int32_t t = c->gen[k], p = c->n + k;
        g4_batch b = {.n = 1, .tokens = &t, .pos = &p};
        if (k + 1 < c->n_gen) T_CHECKF(g4_session_decode(s, &b, lg, &err) == G4_OK, "%s", err.msg);
    }
    fprintf(stderr, "  %-28s llama.cpp mask: last-prompt max |d| %.3g, greedy rows %.3g, ids %d/%d\n", c->name, d,
            dg, ok_ids, checked);
    worst_llama = fmax(worst_llama, fmax(d, dg));
    T_CHECKF(d <= tol && dg <= tol, "%s: %g %g", c->name, d, dg);
    T_CHECK(ok_ids == checked && checked >= 1);

    /* the same prompt in several calls (each group whole in one): bit-identical */
    float *ref = prompt_last(e, c, G4_MASK_LLAMACPP);
    const int m0 = c->media0, m1 = c->media0 + c->n_media;
    const int splits[3][3] = {{m0, m1, c->n}, {m0, c->n, c->n}, {m1, c->n, c->n}};
    for (int v = 0; v < 3 && ref; v++) {
        g4_session *s2 = new_session(e, 512, 512);
        int r = 0;
        for (int k = 0; k < 3 && s2; k++) {
            if (splits[v][k] == r) continue;
            T_CHECKF(decode_rows(s2, c, r, splits[v][k], G4_MASK_LLAMACPP, NULL, lg, &err) == G4_OK, "%s", err.msg);
            r = splits[v][k];
        }
        T_CHECKF(!memcmp(lg, ref, (size_t)V * sizeof *lg), "%s: split %d differs", c->name, v);
        g4_session_free(s2);
    }
    /* audio rows are causal in both definitions: the modes agree bit for bit */
    if (c->audio) {
        float *hf = prompt_last(e, c, G4_MASK_HF);
        T_CHECK(hf && ref && !memcmp(hf, ref, (size_t)V * sizeof *hf));
        free(hf);
    }
    free(ref);
done:
    free(lg);
    g4_session_free(s);
    gld_free(&last);
    gld_free(&gen);
}

/* HF mask: every prompt row and the greedy steps against the float64 reference. */
static double hf_run(g4_engine *e, const mcase *c, const gld *ref, const double *margins, const int *ids, int n_gen,
                     double tol, int *ok_ids, int *checked) {
    const int V = g4_engine_n_vocab(e);
    g4_session *s = new_session(e, 512, 512);
    float *lg = malloc((size_t)c->n * V * sizeof *lg);
    bool want[512];
    g4_error err = {0};
    double d = INFINITY;
    *ok_ids = *checked = 0;
    if (!s || !lg) goto done;
    for (int i = 0; i < c->n; i++) want[i] = true;
    T_CHECKF(decode_rows(s, c, 0, c->n, G4_MASK_HF, want, lg, &err) == G4_OK, "%s: %s", c->name, err.msg);
    d = max_abs_diff(lg, ref->data, (size_t)c->n * V);
    const float *cur = lg + (size_t)(c->n - 1) * V;
    for (int k = 0; k < n_gen; k++) {
        if (k > 0) d = fmax(d, max_abs_diff(cur, ref->data + (size_t)(c->n - 1 + k) * V, (size_t)V));
        if (margins[k] >= 2 * tol) { /* teacher-forced: every clear step */
            (*checked)++;
            *ok_ids += argmax(cur, V) == ids[k];
        }
        if (k + 1 == n_gen) break;
        const int32_t t = ids[k], p = c->n + k;
        g4_batch b = {.n = 1, .tokens = &t, .pos = &p};
        T_CHECKF(g4_session_decode(s, &b, lg, &err) == G4_OK, "%s", err.msg);
        cur = lg;
    }
done:
    free(lg);
    g4_session_free(s);
    return d;
}

static void test_hf(g4_engine *e_exact, g4_engine *e_table, const mcase *c) {
    const int V = g4_engine_n_vocab(e_exact);
    char path[512];
    snprintf(path, sizeof path, MTMD "%s.hf_generate.json", c->name);
    size_t len = 0;
    char *txt = gld_slurp(path, &len);
    g4_json *js = NULL;
    T_CHECKF(txt && g4_json_parse(txt, len, &js, NULL) == G4_OK, "%s", path);
    free(txt);
    gld ref;
    snprintf(path, sizeof path, MTMD "%s.hf_generate.logits.gld", c->name);
    const bool have = gld_read(path, &ref);
    T_CHECKF(have, "%s", path);
    if (!js || !have) {
        g4_json_free(js);
        return;
    }
    const g4_json *gen = g4_json_get(js, "generated"), *mg = g4_json_get(js, "top1_minus_top2"),
                  *rows = g4_json_get(js, "media_rows");
    int ids[16], n_gen = (int)g4_json_len(gen) < 16 ? (int)g4_json_len(gen) : 16;
    double margins[16];
    for (int k = 0; k < n_gen; k++) {
        ids[k] = (int)g4_json_number(g4_json_at(gen, (size_t)k));
        margins[k] = g4_json_number(g4_json_at(mg, (size_t)k));
    }
    T_CHECK((int)g4_json_number(g4_json_get(js, "n_prompt")) == c->n);
    T_CHECK((int)g4_json_number(g4_json_at(rows, 0)) == c->media0 &&
            (int)g4_json_number(g4_json_at(rows, 1)) == c->media0 + c->n_media);
    T_CHECK(ref.dims[0] == c->n + n_gen - 1 && ref.dims[1] == V);
    const double tol = 0.01, tol_table = 0.25;
    int ok = 0, chk = 0, ok2 = 0, chk2 = 0;
    const double d = hf_run(e_exact, c, &ref, margins, ids, n_gen, tol, &ok, &chk);
    const double d2 = hf_run(e_table, c, &ref, margins, ids, n_gen, tol_table, &ok2, &chk2);
    fprintf(stderr, "  %-28s HF mask: all rows max |d| %.3g exact GELU, %.3g GELU table; ids %d/%d\n", c->name, d, d2,
            ok, chk);
    worst_hf = fmax(worst_hf, d);
    worst_hf_table = fmax(worst_hf_table, d2);
    T_CHECKF(d <= tol && d2 <= tol_table, "%s: %g %g", c->name, d, d2);
    T_CHECK(ok == chk && chk >= 1 && ok2 == chk2);

    /* the two definitions really differ (README: by 2.6-6.7 on these models) */
    float *a = prompt_last(e_table, c, G4_MASK_HF), *b = prompt_last(e_table, c, G4_MASK_LLAMACPP);
    if (a && b) T_CHECKF(max_abs_diff(a, b, (size_t)V) > 1.0, "%s: masks agree", c->name);
    free(a);
    free(b);
    gld_free(&ref);
    g4_json_free(js);
}

/* ---- 4. batch rules and errors ------------------------------------------------------------ */

static void test_batch_errors(g4_engine *e, const mcase *c) {
    const int V = g4_engine_n_vocab(e);
    const int m0 = c->media0, m1 = c->media0 + c->n_media;
    float *ref = prompt_last(e, c, G4_MASK_LLAMACPP), *lg = malloc((size_t)V * sizeof *lg);
    g4_session *s = new_session(e, 512, 512);
    if (!ref || !lg || !s) goto done;
    g4_error err = {0};

    /* a group continued by the next call is refused ... */
    const int mid = m0 + c->n_media / 2;
    T_CHECK(decode_rows(s, c, 0, mid, G4_MASK_LLAMACPP, NULL, NULL, &err) == G4_OK);
    memset(&err, 0, sizeof err);
    T_CHECK(decode_rows(s, c, mid, c->n, G4_MASK_LLAMACPP, NULL, lg, &err) == G4_ERR_ARG);
    T_CHECKF(has(err.msg, "continues from the previous decode call"), "%s", err.msg);
    T_CHECK(g4_session_seq_len(s, 0) == mid); /* nothing was written */
    /* ... also after cutting back into the group */
    memset(&err, 0, sizeof err);
    T_CHECK(g4_session_truncate(s, 0, m0 + 3, &err) == G4_OK);
    T_CHECK(decode_rows(s, c, m0 + 3, c->n, G4_MASK_LLAMACPP, NULL, lg, &err) == G4_ERR_ARG);
    /* cut back before the group: decoding it whole again is fine, and exact */
    memset(&err, 0, sizeof err);
    T_CHECK(g4_session_truncate(s, 0, m0, &err) == G4_OK);
    T_CHECKF(decode_rows(s, c, m0, c->n, G4_MASK_LLAMACPP, NULL, lg, &err) == G4_OK, "%s", err.msg);
    T_CHECK(!memcmp(lg, ref, (size_t)V * sizeof *lg));
    /* and text may follow the group in the next call (the group ended there) */
    memset(&err, 0, sizeof err);
    T_CHECK(g4_session_truncate(s, 0, m1, &err) == G4_OK);
    T_CHECKF(decode_rows(s, c, m1, c->n, G4_MASK_LLAMACPP, NULL, lg, &err) == G4_OK, "%s", err.msg);
    T_CHECK(!memcmp(lg, ref, (size_t)V * sizeof *lg));

    /* a group interrupted inside one batch */
    int32_t grp[512], pos[512];
    memcpy(grp, c->grp, sizeof grp);
    grp[m0 + 2] = 0;
    for (int i = 0; i < c->n; i++) pos[i] = i;
    g4_session *s2 = new_session(e, 512, 512);
    g4_batch b = {.n = c->n, .tokens = c->tok, .pos = pos, .embd = c->emb, .n_embd = 256, .group = grp};
    memset(&err, 0, sizeof err);
    T_CHECK(g4_session_decode(s2, &b, lg, &err) == G4_ERR_ARG);
    T_CHECKF(has(err.msg, "not contiguous"), "%s", err.msg);
    grp[m0 + 2] = -1;
    memset(&err, 0, sizeof err);
    T_CHECK(g4_session_decode(s2, &b, lg, &err) == G4_ERR_ARG && has(err.msg, "negative"));
    /* two adjacent groups with distinct ids are two images */
    grp[m0 + 2] = 2;
    for (int i = m0 + 2; i < m1; i++) grp[i] = 2;
    memset(&err, 0, sizeof err);
    T_CHECKF(g4_session_decode(s2, &b, lg, &err) == G4_OK, "%s", err.msg);
    T_CHECK(memcmp(lg, ref, (size_t)V * sizeof *lg) != 0);
    g4_session_free(s2);

    /* embedding rows of the wrong width, unknown mask, rows with no input */
    s2 = new_session(e, 512, 512);
    b.group = c->grp;
    b.n_embd = 128;
    memset(&err, 0, sizeof err);
    T_CHECK(g4_session_decode(s2, &b, lg, &err) == G4_ERR_ARG);
    T_CHECKF(has(err.msg, "width 128") && has(err.msg, "256"), "%s", err.msg);
    b.n_embd = 256;
    b.mask = (g4_mask_mode)7;
    memset(&err, 0, sizeof err);
    T_CHECK(g4_session_decode(s2, &b, lg, &err) == G4_ERR_ARG && has(err.msg, "mask"));
    b.mask = G4_MASK_LLAMACPP;
    b.tokens = NULL;
    memset(&err, 0, sizeof err);
    T_CHECK(g4_session_decode(s2, &b, lg, &err) == G4_ERR_ARG && has(err.msg, "neither"));
    T_CHECK(g4_session_seq_len(s2, 0) == 0);
    /* tokens may be NULL when every row is an embedding */
    b.n = c->n_media;
    b.embd = c->emb + m0;
    b.group = c->grp + m0;
    memset(&err, 0, sizeof err);
    T_CHECKF(g4_session_decode(s2, &b, lg, &err) == G4_OK, "%s", err.msg);
    g4_session_free(s2);

    /* two sequences with an image each (same group id) interleaved in one batch: each
     * gets exactly its single-sequence result */
    {
        g4_session_config sc = {512, 2, 1024, 0};
        g4_session *s4 = NULL;
        T_CHECK(g4_session_create(e, &sc, &s4, &err) == G4_OK);
        int32_t tk[1024], ps[1024], sq[1024], gp[1024];
        const float *em[1024];
        bool want[1024];
        int m = 0;
        for (int i = 0; i < c->n; i++)
            for (int q = 0; q < 2; q++, m++) {
                tk[m] = c->tok[i], ps[m] = i, sq[m] = q, gp[m] = c->grp[i], em[m] = c->emb[i];
                want[m] = i == c->n - 1;
            }
        float *two = malloc(2 * (size_t)V * sizeof *two);
        g4_batch bb = {.n = m, .tokens = tk, .pos = ps, .seq = sq, .want = want, .embd = em, .n_embd = 256,
                       .group = gp, .mask = G4_MASK_LLAMACPP};
        T_CHECKF(s4 && two && g4_session_decode(s4, &bb, two, &err) == G4_OK, "%s", err.msg);
        T_CHECK(two && !memcmp(two, ref, (size_t)V * sizeof *two) && !memcmp(two + V, ref, (size_t)V * sizeof *two));
        free(two);
        g4_session_free(s4);
    }

    /* text-only: empty multimodal fields change nothing, bit for bit */
    const float *none[16] = {0};
    int32_t zeros[16] = {0};
    g4_batch t1 = {.n = 6, .tokens = c->tok, .pos = pos};
    g4_batch t2 = {.n = 6, .tokens = c->tok, .pos = pos, .embd = none, .n_embd = 256, .group = zeros,
                   .mask = G4_MASK_LLAMACPP};
    float *l2 = malloc((size_t)V * sizeof *l2);
    s2 = new_session(e, 64, 64);
    g4_session *s3 = new_session(e, 64, 64);
    T_CHECK(l2 && g4_session_decode(s2, &t1, lg, &err) == G4_OK && g4_session_decode(s3, &t2, l2, &err) == G4_OK);
    T_CHECK(l2 && !memcmp(lg, l2, (size_t)V * sizeof *lg));
    free(l2);
    g4_session_free(s2);
    g4_session_free(s3);
done:
    free(ref);
    free(lg);
    g4_session_free(s);
}

/* E2B/E4B (per-layer embeddings): the HF definition keeps images causal, and media rows
 * take the per-layer embedding of token 0 whatever their token id. */
static void test_e_model(void) {
    g4_engine *e = open_engine(DATA "/e-f32.gguf", G4_GELU_TABLE, 2);
    if (!e) return;
    g4_model_info mi;
    g4_engine_info(e, &mi);
    const int V = mi.n_vocab, H = mi.n_embd, n = 20;
    float *emb = malloc((size_t)n * H * sizeof *emb), *out[4];
    const float *rows[20];
    int32_t tok[20], tok2[20], pos[20], grp[20];
    for (int i = 0; i < n; i++) {
        const bool media = i >= 4 && i < 16;
        tok[i] = media ? 12 : 300 + i;
        tok2[i] = media ? 77 : tok[i];
        pos[i] = i;
        grp[i] = media;
        rows[i] = media ? emb + (size_t)i * H : NULL;
        for (int k = 0; k < H; k++) emb[(size_t)i * H + k] = (float)sin(0.37 * i + 0.11 * k);
    }
    const struct {
        const int32_t *tok, *grp;
        g4_mask_mode mask;
    } runs[4] = {{tok, grp, G4_MASK_HF}, {tok, NULL, G4_MASK_HF}, {tok, grp, G4_MASK_LLAMACPP}, {tok2, grp, G4_MASK_HF}};
    for (int r = 0; r < 4; r++) {
        out[r] = malloc((size_t)V * sizeof(float));
        g4_session *s = new_session(e, 64, 64);
        g4_batch b = {.n = n, .tokens = runs[r].tok, .pos = pos, .embd = rows, .n_embd = H, .group = runs[r].grp,
                      .mask = runs[r].mask};
        g4_error err = {0};
        T_CHECKF(s && out[r] && g4_session_decode(s, &b, out[r], &err) == G4_OK, "%s", err.msg);
        g4_session_free(s);
    }
    T_CHECK(!memcmp(out[0], out[1], (size_t)V * sizeof(float)));  /* HF: causal */
    T_CHECK(memcmp(out[0], out[2], (size_t)V * sizeof(float)) != 0); /* llama.cpp: open */
    T_CHECK(!memcmp(out[0], out[3], (size_t)V * sizeof(float)));  /* ids ignored */
    for (int r = 0; r < 4; r++) free(out[r]);
    free(emb);
    g4_engine_free(e);
}

/* ---- 5. hand-made projector files ------------------------------------------------------- */

/* What to write: the fixture's keys and tensors (or a 12B-shaped random projector), with
 * the matrices stored as `mat` and optional breakage. */
typedef struct {
    const char *vtype, *atype, *common; /* projector type keys; NULL = key absent */
    bool has_v, has_a;                  /* clip.has_*_encoder */
    g4_type mat;                        /* type of the matrices (Q8_0 falls back to F16 on odd rows) */
    int patch, merge, mm_embd, n_embd, n_pos, frame;
    int bad_ln1;                        /* patch_norm.1 one element short */
    const g4_gguf *src;                 /* NULL: random values */
} spec;

static spec fixture_spec(const g4_gguf *src, g4_type mat) {
    spec sp = {"gemma4uv", "gemma4ua", NULL, true, true, mat, 4, 3, 128, 256, 48, 640, 0, src};
    return sp;
}

typedef struct {
    void *bufs[32];
    int n;
} keep;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* One tensor: values from the source file (F32) or random, stored as `type`. */
static void add_tensor(g4_gguf_writer *w, keep *k, const spec *sp, const char *name, int nd, int64_t ne0, int64_t ne1,
                       int64_t ne2, g4_type type, float base, float scale) {
    const int64_t ne[3] = {ne0, ne1, ne2}, n = ne0 * ne1 * ne2;
    if (type == G4_TYPE_Q8_0 && ne0 % 32) type = G4_TYPE_F16;
    float *f = malloc((size_t)n * sizeof *f);
    if (!f || k->n >= 31) return;
    const g4_gguf_tensor *t = sp->src ? g4_gguf_find_tensor(sp->src, name) : NULL;
    if (sp->src) {
        T_CHECKF(t && t->type == G4_TYPE_F32 && t->n_elements >= n, "fixture tensor %s", name);
        if (t) memcpy(f, t->data, (size_t)n * sizeof *f);
    } else
        for (int64_t i = 0; i < n; i++) f[i] = base + scale * frand();
    void *out = f;
    if (type == G4_TYPE_F16 || type == G4_TYPE_BF16) {
        uint16_t *h = malloc((size_t)n * 2);
        for (int64_t i = 0; h && i < n; i++) h[i] = type == G4_TYPE_F16 ? g4_f32_to_fp16(f[i]) : g4_f32_to_bf16(f[i]);
        free(f);
        out = h;
    } else if (type == G4_TYPE_Q8_0) {
        g4_kernels ref;
        g4_kernels_ref(&ref);
        const size_t rs = g4_row_size(type, ne0);
        uint8_t *q = malloc(rs * (size_t)(n / ne0));
        for (int64_t r = 0; q && r < n / ne0; r++) ref.quant[G4_TYPE_Q8_0](f + r * ne0, q + (size_t)r * rs, ne0);
        free(f);
        out = q;
    }
    k->bufs[k->n++] = out;
    g4_gguf_w_tensor(w, name, type, (uint32_t)nd, ne, out);
}

static g4_gguf_writer *build(const spec *sp, keep *k) {
    g4_gguf_writer *w = g4_gguf_writer_new();
    memset(k, 0, sizeof *k);
    if (!w) return NULL;
    const float zero3[3] = {0, 0, 0}, one3[3] = {1, 1, 1};
    g4_gguf_w_str(w, "general.architecture", "clip");
    if (sp->common) g4_gguf_w_str(w, "clip.projector_type", sp->common);
    g4_gguf_w_bool(w, "clip.has_vision_encoder", sp->has_v);
    g4_gguf_w_bool(w, "clip.has_audio_encoder", sp->has_a);
    if (sp->vtype) g4_gguf_w_str(w, "clip.vision.projector_type", sp->vtype);
    if (sp->atype) g4_gguf_w_str(w, "clip.audio.projector_type", sp->atype);
    g4_gguf_w_u32(w, "clip.vision.embedding_length", (uint32_t)sp->mm_embd);
    g4_gguf_w_u32(w, "clip.vision.block_count", 0);
    g4_gguf_w_u32(w, "clip.vision.attention.head_count", 0);
    g4_gguf_w_u32(w, "clip.vision.projection_dim", (uint32_t)sp->n_embd);
    g4_gguf_w_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-6f);
    g4_gguf_w_u32(w, "clip.vision.image_size", 224);
    g4_gguf_w_u32(w, "clip.vision.patch_size", (uint32_t)sp->patch);
    g4_gguf_w_u32(w, "clip.vision.projector.scale_factor", (uint32_t)sp->merge);
    g4_gguf_w_arr_f32(w, "clip.vision.image_mean", zero3, 3);
    g4_gguf_w_arr_f32(w, "clip.vision.image_std", one3, 3);
    g4_gguf_w_u32(w, "clip.audio.embedding_length", (uint32_t)sp->frame);
    g4_gguf_w_u32(w, "clip.audio.projection_dim", (uint32_t)sp->n_embd);
    g4_gguf_w_f32(w, "clip.audio.attention.layer_norm_epsilon", 1e-6f);
    g4_gguf_w_u32(w, "clip.audio.num_mel_bins", 128);
    const int side = sp->patch * sp->merge, P = 3 * side * side, E = sp->mm_embd;
    const g4_type F = G4_TYPE_F32;
    add_tensor(w, k, sp, "v.patch_norm.1.weight", 1, P - sp->bad_ln1, 1, 1, F, 1.0f, 0.2f);
    add_tensor(w, k, sp, "v.patch_norm.1.bias", 1, P, 1, 1, F, 0.0f, 0.2f);
    add_tensor(w, k, sp, "v.patch_embd.weight", 2, P, E, 1, sp->mat, 0.0f, 0.03f);
    add_tensor(w, k, sp, "v.patch_embd.bias", 1, E, 1, 1, F, 0.0f, 0.1f);
    add_tensor(w, k, sp, "v.patch_norm.2.weight", 1, E, 1, 1, F, 1.0f, 0.2f);
    add_tensor(w, k, sp, "v.patch_norm.2.bias", 1, E, 1, 1, F, 0.0f, 0.2f);
    add_tensor(w, k, sp, "v.position_embd.weight", 3, E, sp->n_pos, 2, sp->src ? F : sp->mat, 0.0f, 0.5f);
    add_tensor(w, k, sp, "v.patch_norm.3.weight", 1, E, 1, 1, F, 1.0f, 0.2f);
    add_tensor(w, k, sp, "v.patch_norm.3.bias", 1, E, 1, 1, F, 0.0f, 0.2f);
    add_tensor(w, k, sp, "mm.input_projection.weight", 2, E, sp->n_embd, 1, sp->mat, 0.0f, 0.03f);
    add_tensor(w, k, sp, "mm.a.input_projection.weight", 2, sp->frame, sp->n_embd, 1, sp->mat, 0.0f, 0.05f);
    return w;
}

static void keep_free(keep *k) {
    for (int i = 0; i < k->n; i++) free(k->bufs[i]);
}

/* Opens the projector sp describes from memory; *buf must be freed after closing. */
static g4_status open_spec(const spec *sp, int n_embd, g4_mmproj **p, void **buf, g4_error *err) {
    keep k;
    size_t size = 0;
    *buf = NULL;
    *p = NULL;
    g4_gguf_writer *w = build(sp, &k);
    g4_status st = w ? g4_gguf_writer_write_mem(w, buf, &size, err) : G4_ERR_NOMEM;
    g4_gguf_writer_free(w);
    keep_free(&k);
    if (st) return st;
    return g4_mmproj_open_memory(*buf, size, n_embd, p, err);
}

/* F16 / BF16 / Q8_0 matrices (norms stay F32, as converters write them). */
static void test_types(g4_engine *e, const g4_gguf *src) {
    const struct {
        g4_type t;
        double tol;
    } types[] = {{G4_TYPE_F32, 1e-5}, {G4_TYPE_F16, 2e-3}, {G4_TYPE_BF16, 1e-2}, {G4_TYPE_Q8_0, 2e-2}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        spec sp = fixture_spec(src, types[i].t);
        g4_mmproj *p = NULL;
        void *buf = NULL;
        g4_error err = {0};
        T_CHECKF(open_spec(&sp, 256, &p, &buf, &err) == G4_OK, "%s: %s", g4_type_name(types[i].t), err.msg);
        for (int c = 0; p && c < N_CASES; c += 2) { /* one image, one audio case */
            char path[512], what[96];
            snprintf(path, sizeof path, MTMD "%s.media0.embd.gld", CASES[c]);
            gld gold;
            int n = 0;
            float *embd = project_case(p, e, CASES[c], &n);
            snprintf(what, sizeof what, "%s projector: %s", g4_type_name(types[i].t), CASES[c]);
            if (embd && gld_read(path, &gold)) {
                check_embd(what, embd, n, &gold, types[i].tol);
                gld_free(&gold);
            }
            free(embd);
        }
        g4_mmproj_close(p);
        free(buf);
    }
}

static void expect_open_fail(const spec *sp, int n_embd, g4_status want, const char *needle) {
    g4_mmproj *p = NULL;
    void *buf = NULL;
    g4_error err = {0};
    const g4_status st = open_spec(sp, n_embd, &p, &buf, &err);
    T_CHECKF(st == want && !p, "want %s, got %s: %s", g4_status_str(want), g4_status_str(st), err.msg);
    T_CHECKF(has(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
    g4_mmproj_close(p);
    free(buf);
}

static void test_bad_files(g4_engine *e, const g4_gguf *src) {
    spec sp = fixture_spec(src, G4_TYPE_F32);
    sp.vtype = "gemma4v"; /* the E2B/E4B/26B/31B vision encoder */
    expect_open_fail(&sp, 256, G4_ERR_UNSUPPORTED, "gemma4v");
    sp = fixture_spec(src, G4_TYPE_F32);
    sp.atype = "gemma4a";
    expect_open_fail(&sp, 256, G4_ERR_UNSUPPORTED, "gemma4a");
    sp = fixture_spec(src, G4_TYPE_F32);
    sp.vtype = sp.atype = NULL;
    sp.common = "ldpv2"; /* one type for the whole file, as older files write it */
    expect_open_fail(&sp, 256, G4_ERR_UNSUPPORTED, "'ldpv2'");
    sp = fixture_spec(src, G4_TYPE_F32);
    sp.has_v = sp.has_a = false;
    sp.vtype = sp.atype = NULL;
    expect_open_fail(&sp, 256, G4_ERR_FORMAT, "neither");
    sp = fixture_spec(src, G4_TYPE_F32);
    sp.bad_ln1 = 1;
    expect_open_fail(&sp, 256, G4_ERR_FORMAT, "v.patch_norm.1.weight");
    sp = fixture_spec(src, G4_TYPE_F32);
    expect_open_fail(&sp, 384, G4_ERR_FORMAT, "n_embd is 384");

    /* audio only: images are refused at projection, audio works */
    sp = fixture_spec(src, G4_TYPE_F32);
    sp.has_v = false;
    sp.vtype = NULL;
    g4_mmproj *p = NULL;
    void *buf = NULL;
    g4_error err = {0};
    T_CHECKF(open_spec(&sp, 256, &p, &buf, &err) == G4_OK, "%s", err.msg);
    if (p) {
        float px[3 * 12 * 12] = {0}, fr[640] = {0}, *out = NULL;
        int n = 0;
        T_CHECK(!g4_mmproj_get_info(p)->has_vision && g4_mmproj_get_info(p)->has_audio);
        T_CHECK(g4_mm_project_image(p, e, px, 12, 12, &out, &n, &err) == G4_ERR_UNSUPPORTED && !out && n == 0);
        T_CHECK(g4_mm_image_tokens(p, 12, 12) == -1);
        g4_image_params ip;
        T_CHECK(g4_mmproj_image_params(p, &ip, &err) == G4_ERR_UNSUPPORTED);
        T_CHECK(g4_mm_project_audio(p, e, fr, 1, &out, &n, &err) == G4_OK && out && n == 1);
        for (int i = 0; out && i < 256; i++) T_CHECK(out[i] == 0); /* a silent frame stays zero */
        free(out);
    }
    g4_mmproj_close(p);
    free(buf);

    /* argument checks */
    T_CHECKF(g4_mmproj_open(MMPROJ, 256, &p, &err) == G4_OK, "%s", err.msg);
    if (p) {
        float px[3 * 24 * 24] = {0}, *out = NULL;
        int n = 0;
        g4_error e2 = {0};
        T_CHECK(g4_mm_project_image(p, e, px, 24, 20, &out, &n, &e2) == G4_ERR_ARG && !out);
        T_CHECKF(has(e2.msg, "multiples of 12"), "%s", e2.msg);
        T_CHECK(g4_mm_project_image(p, e, NULL, 24, 24, &out, &n, &err) == G4_ERR_ARG);
        T_CHECK(g4_mm_project_audio(p, e, px, 0, &out, &n, &err) == G4_ERR_ARG);
        /* a flat (constant) patch: LayerNorm of zero variance stays finite */
        T_CHECK(g4_mm_project_image(p, e, px, 24, 24, &out, &n, &err) == G4_OK && n == 4);
        for (int i = 0; out && i < 4 * 256; i++) T_CHECK(isfinite(out[i]));
        free(out);
        g4_mmproj_close(p);
    }

    /* every truncation of the real file fails cleanly */
    size_t len = 0;
    char *bytes = gld_slurp(MMPROJ, &len);
    T_CHECK(bytes != NULL);
    int failed = 0, tried = 0;
    for (size_t cut = 0; bytes && cut < len; cut += cut < 2048 ? 7 : 4093) {
        g4_error e3 = {0};
        tried++;
        if (g4_mmproj_open_memory(bytes, cut, 256, &p, &e3) != G4_OK && !p && e3.msg[0]) failed++;
        g4_mmproj_close(p);
        p = NULL;
    }
    T_CHECKF(failed == tried, "%d of %d truncations failed", failed, tried);
    free(bytes);
}

/* Projection is bit-identical for 1 and 2 threads. */
static void test_threads(g4_engine *e2) {
    g4_engine *e1 = open_engine(DATA "/dense-f32.gguf", G4_GELU_TABLE, 1);
    g4_mmproj *p = NULL;
    g4_error err = {0};
    T_CHECKF(g4_mmproj_open(MMPROJ, 256, &p, &err) == G4_OK, "%s", err.msg);
    for (int c = 0; e1 && p && c < N_CASES; c += 3) {
        int n1 = 0, n2 = 0;
        float *a = project_case(p, e1, CASES[c], &n1), *b = project_case(p, e2, CASES[c], &n2);
        T_CHECK(a && b && n1 == n2 && !memcmp(a, b, (size_t)n1 * 256 * sizeof *a));
        free(a);
        free(b);
    }
    /* --isa ref (weights dequantized, f32 activations, double sums) agrees too */
    g4_engine_config cfg = g4_engine_config_default();
    cfg.model_path = DATA "/dense-f32.gguf";
    cfg.max_isa = G4_ISA_REF;
    cfg.n_threads = 2;
    g4_engine *er = NULL;
    T_CHECKF(g4_engine_open(&cfg, &er, &err) == G4_OK, "%s", err.msg);
    for (int c = 0; er && p && c < N_CASES; c += 3) {
        char path[512];
        gld gold;
        int n = 0;
        snprintf(path, sizeof path, MTMD "%s.media0.embd.gld", CASES[c]);
        float *a = project_case(p, er, CASES[c], &n);
        if (a && gld_read(path, &gold)) {
            check_embd("isa ref", a, n, &gold, 1e-5);
            gld_free(&gold);
        }
        free(a);
    }
    g4_engine_free(er);
    g4_mmproj_close(p);
    g4_engine_free(e1);
}

/* End to end: our own projection of the golden input, inserted, gives the golden logits. */
static void test_end_to_end(g4_engine *e, const mcase *c0) {
    g4_mmproj *p = NULL;
    g4_error err = {0};
    T_CHECKF(g4_mmproj_open(MMPROJ, 256, &p, &err) == G4_OK, "%s", err.msg);
    int n = 0;
    float *embd = p ? project_case(p, e, c0->name, &n) : NULL;
    mcase *c = malloc(sizeof *c);
    char path[512];
    gld last;
    snprintf(path, sizeof path, MTMD "%s.logits_last.gld", c0->name);
    if (embd && c && n == c0->n_media && gld_read(path, &last)) {
        memcpy(c, c0, sizeof *c);
        for (int k = 0; k < n; k++) c->emb[c->media0 + k] = embd + (size_t)k * 256;
        float *lg = prompt_last(e, c, G4_MASK_LLAMACPP);
        const double d = lg ? max_abs_diff(lg, last.data, last.n) : INFINITY;
        fprintf(stderr, "  %-28s projected here + decoded: max |d| %.3g\n", c0->name, d);
        T_CHECK(d <= 0.05);
        free(lg);
        gld_free(&last);
    }
    free(c);
    free(embd);
    g4_mmproj_close(p);
}

/* ---- bench (manual) -------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench(const char *type_name, const char *model, int threads) {
    const int ti = g4_type_from_name(type_name);
    if (ti < 0) {
        fprintf(stderr, "unknown type %s\n", type_name);
        return 2;
    }
    g4_engine *e = open_engine(model, G4_GELU_TABLE, threads);
    if (!e) return 1;
    g4_model_info mi;
    g4_engine_info(e, &mi);
    spec sp = {"gemma4uv", "gemma4ua", NULL, true, true, (g4_type)ti, 16, 3, 3840, 3840, 1120, 640, 0, NULL};
    char path[512];
    snprintf(path, sizeof path, "%s/mmproj-12b-shape-%s.gguf", G4_BUILD_DIR, type_name);
    keep k;
    g4_error err = {0};
    g4_gguf_writer *w = build(&sp, &k);
    g4_status st = w ? g4_gguf_writer_write_file(w, path, &err) : G4_ERR_NOMEM;
    g4_gguf_writer_free(w);
    keep_free(&k);
    g4_mmproj *p = NULL;
    if (st || (st = g4_mmproj_open(path, mi.n_embd == 3840 ? 3840 : 0, &p, &err))) {
        fprintf(stderr, "bench: %s\n", err.msg);
        g4_engine_free(e);
        return 1;
    }
    /* 896 x 896: 256 tokens at the HF budget of 280 (768 x 768) and in llama.cpp's mode */
    const int side = 768;
    float *px = malloc((size_t)3 * side * side * sizeof *px), *fr = malloc((size_t)750 * 640 * sizeof *fr), *out = NULL;
    for (size_t i = 0; px && i < (size_t)3 * side * side; i++) px[i] = 0.5f + 0.5f * frand();
    for (size_t i = 0; fr && i < (size_t)750 * 640; i++) fr[i] = 0.3f * frand();
    int n = 0;
    for (int rep = 0; rep < 3 && px && fr; rep++) {
        double t0 = now_s();
        st = g4_mm_project_image(p, e, px, side, side, &out, &n, &err);
        double t1 = now_s();
        free(out);
        st = st ? st : g4_mm_project_audio(p, e, fr, 750, &out, &n, &err);
        double t2 = now_s();
        free(out);
        printf("mmproj=%s threads=%d isa=%s image_896x896_tokens=256 image_ms=%.1f audio_30s_tokens=750 "
               "audio_ms=%.1f %s\n",
               type_name, mi.n_threads, mi.isa, 1e3 * (t1 - t0), 1e3 * (t2 - t1), st ? err.msg : "");
    }
    free(px);
    free(fr);
    g4_mmproj_close(p);
    g4_engine_free(e);
    remove(path);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "--bench"))
        return bench(argc >= 3 ? argv[2] : "bf16", argc >= 4 ? argv[3] : DATA "/dense-f32.gguf",
                     argc >= 5 ? atoi(argv[4]) : 0);
    g4_engine *e = open_engine(DATA "/dense-f32.gguf", G4_GELU_TABLE, 2);
    g4_engine *ex = open_engine(DATA "/dense-f32.gguf", G4_GELU_EXACT, 2);
    if (!e || !ex) return T_DONE();
    test_load();
    test_project(e);
    for (int i = 0; i < N_CASES; i++) {
        mcase *c = malloc(sizeof *c);
        if (c && load_case(CASES[i], c)) {
            test_llamacpp(e, c);
            if (!c->audio) test_hf(ex, e, c);
            if (i == 0) test_batch_errors(e, c);
            if (i == 0 || i == 2) test_end_to_end(e, c);
        }
        if (c) gld_free(&c->embd);
        free(c);
    }
    test_e_model();
    test_threads(e);
    g4_gguf *src = NULL;
    g4_error err = {0};
    T_CHECKF(g4_gguf_open(MMPROJ, &src, &err) == G4_OK, "%s", err.msg);
    if (src) {
        test_types(e, src);
        test_bad_files(e, src);
    }
    g4_gguf_close(src);
    g4_engine_free(e);
    g4_engine_free(ex);
    fprintf(stderr, "worst: embd %.3g, logits llama.cpp mask %.3g, HF mask %.3g (table GELU %.3g)\n", worst_embd,
            worst_llama, worst_hf, worst_hf_table);
    return T_DONE();
}
