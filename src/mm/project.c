/* project.c — the 12B encoder-free projection (spec §6.4 vision, §6.5 audio; fixtures
 * README "Multimodal"): preprocessed pixels / audio frames -> text-model embeddings.
 *
 * Tokens are processed in chunks of CHUNK rows, so memory stays bounded for any image
 * while the matmuls still see many rows at once (the matmul driver's results do not
 * depend on how rows are grouped, so chunking changes nothing). Element-wise work runs
 * per token on the engine's pool; every row is computed by one thread, so results are
 * identical for any thread count. Numerics follow ggml: LayerNorm and RMS norm sum in
 * double; the matmuls convert activations to the weight type's vec_type like every
 * other matmul (F32 weights: f32 throughout). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "engine/engine.h"
#include "mm/mmproj_int.h"

#define CHUNK 256
/* PyTorch's LayerNorm default, used by HF's Gemma4UnifiedVisionEmbedder and written by
 * llama.cpp's gemma4uv graph (the file's layer_norm_epsilon is for the RMS norm). */
#define LN_EPS 1e-5f

/* y = (x - mean) / sqrt(var + eps) * w + b, biased variance; sums in double (ggml_norm). */
static void layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    double sum2 = 0;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i] - mean;
        y[i] = v;
        sum2 += (double)(v * v);
    }
    const float scale = 1.0f / sqrtf((float)(sum2 / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (y[i] * scale) * w[i] + b[i];
}

/* ---- compute context ------------------------------------------------------------------ */

typedef struct {
    g4_compute c;
    float *a;   /* [CHUNK][max_in] */
    float *b;   /* [CHUNK][mm_embd] */
    float *tmp; /* [n_threads][2 * mm_embd] position rows */
} work;

static void work_free(work *w) {
    free(w->c.qbuf);
    free(w->c.deq);
    free(w->a);
    free(w->b);
    free(w->tmp);
}

static g4_status work_init(work *w, g4_engine *e, int64_t max_in, int64_t mid, g4_error *err) {
    memset(w, 0, sizeof *w);
    w->c.k = &e->k;
    w->c.pool = e->pool;
    w->c.n_threads = g4_pool_size(e->pool);
    w->c.ref_mode = e->ref_mode;
    w->c.qbuf_size = g4_matmul_qbuf_size(CHUNK, max_in);
    w->c.qbuf = malloc(w->c.qbuf_size);
    w->a = malloc((size_t)CHUNK * (size_t)max_in * sizeof(float));
    w->b = malloc((size_t)CHUNK * (size_t)(mid > 0 ? mid : 1) * sizeof(float));
    w->tmp = malloc((size_t)w->c.n_threads * 2 * (size_t)(mid > 0 ? mid : 1) * sizeof(float));
    bool ok = w->c.qbuf && w->a && w->b && w->tmp;
    if (ok && e->ref_mode) {
        w->c.deq_len = max_in;
        w->c.deq = malloc((size_t)w->c.n_threads * (size_t)max_in * sizeof(float));
        ok = w->c.deq != NULL;
    }
    if (!ok) {
        work_free(w);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory for the projector's scratch");
    }
    return G4_OK;
}

static g4_status alloc_out(int64_t n_tok, int n_embd, float **embd, g4_error *err) {
    *embd = NULL;
    if (n_tok <= 0 || n_tok > (1 << 24)) return g4_fail(err, G4_ERR_ARG, "%lld soft tokens", (long long)n_tok);
    *embd = malloc((size_t)n_tok * (size_t)n_embd * sizeof(float));
    if (!*embd) return g4_fail(err, G4_ERR_NOMEM, "out of memory for %lld embeddings", (long long)n_tok);
    return G4_OK;
}

/* ---- vision ---------------------------------------------------------------------------- */

int64_t g4_mm_image_tokens(const g4_mmproj *p, int H, int W) {
    if (!p || !p->info.has_vision) return -1;
    const int s = p->info.side;
    if (H <= 0 || W <= 0 || H % s || W % s) return -1;
    if (H / s > p->info.n_pos || W / s > p->info.n_pos) return -1;
    return (int64_t)(H / s) * (int64_t)(W / s);
}

typedef struct {
    const g4_mmproj *p;
    const g4_engine *e;
    work *w;
    const float *pix;
    int H, W, nx;
    int64_t t0; /* first token of the chunk */
} vjob;

/* patch gather (channel-major, the GGUF's column order) + LayerNorm 1 */
static void v_patch_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const vjob *j = arg;
    const g4_mmproj_info *in = &j->p->info;
    const int s = in->side, P = in->patch_dim;
    (void)tid;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t t = j->t0 + r;
        const int bx = (int)(t % j->nx), by = (int)(t / j->nx);
        float *v = j->w->a + (size_t)r * (size_t)P;
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < s; y++) {
                const float *src = j->pix + ((size_t)ch * j->H + (size_t)(by * s + y)) * (size_t)j->W + (size_t)bx * s;
                memcpy(v + (size_t)ch * s * s + (size_t)y * s, src, (size_t)s * sizeof(float));
            }
        layernorm(v, v, j->p->ln1_w, j->p->ln1_b, P, LN_EPS);
    }
}

/* + bias, LayerNorm 2, + position rows, LayerNorm 3, RMS norm */
static void v_embd_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const vjob *j = arg;
    const g4_mmproj *p = j->p;
    const int E = p->info.mm_embd;
    const g4_tensor *pt = &p->pos_embd;
    float *px = j->w->tmp + (size_t)tid * 2 * (size_t)E, *py = px + E;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t t = j->t0 + r;
        const int bx = (int)(t % j->nx), by = (int)(t / j->nx);
        float *h = j->w->b + (size_t)r * (size_t)E;
        for (int i = 0; i < E; i++) h[i] = h[i] + p->patch_b[i];
        layernorm(h, h, p->ln2_w, p->ln2_b, E, LN_EPS);
        j->e->k.dequant[pt->type]((const uint8_t *)pt->data + (size_t)bx * pt->row_size, px, E);
        j->e->k.dequant[pt->type]((const uint8_t *)pt->data + (size_t)(p->info.n_pos + by) * pt->row_size, py, E);
        for (int i = 0; i < E; i++) h[i] = h[i] + (px[i] + py[i]);
        layernorm(h, h, p->ln3_w, p->ln3_b, E, LN_EPS);
        g4_rmsnorm(h, h, NULL, E, p->info.vision_eps);
    }
}

g4_status g4_mm_project_image(const g4_mmproj *p, g4_engine *e, const float *pixels, int H, int W,
                              float **embd, int *n_tokens, g4_error *err) {
    if (!embd || !n_tokens) return g4_fail(err, G4_ERR_ARG, "NULL output");
    *embd = NULL;
    *n_tokens = 0;
    if (!p || !e || !pixels) return g4_fail(err, G4_ERR_ARG, "NULL argument");
    const g4_mmproj_info *in = &p->info;
    if (!in->has_vision) return g4_fail(err, G4_ERR_UNSUPPORTED, "the mmproj file has no vision projector");
    const int64_t n_tok = g4_mm_image_tokens(p, H, W);
    if (n_tok < 0)
        return g4_fail(err, G4_ERR_ARG,
                       "image input %d x %d (W x H): sides must be positive multiples of %d pixels, at most "
                       "%d tokens each",
                       W, H, in->side, in->n_pos);
    g4_status st = alloc_out(n_tok, in->n_embd, embd, err);
    if (st) return st;
    work w;
    if ((st = work_init(&w, e, in->patch_dim > in->mm_embd ? in->patch_dim : in->mm_embd, in->mm_embd, err))) {
        free(*embd);
        *embd = NULL;
        return st;
    }
    vjob j = {p, e, &w, pixels, H, W, W / in->side, 0};
    for (int64_t t0 = 0; t0 < n_tok; t0 += CHUNK) {
        const int64_t n = n_tok - t0 < CHUNK ? n_tok - t0 : CHUNK;
        j.t0 = t0;
        g4_pool_run(e->pool, n, 1, v_patch_rows, &j);
        g4_matmul(&w.c, &p->patch_embd, w.a, n, in->patch_dim, w.b, in->mm_embd);
        g4_pool_run(e->pool, n, 1, v_embd_rows, &j);
        g4_matmul(&w.c, &p->v_proj, w.b, n, in->mm_embd, *embd + (size_t)t0 * in->n_embd, in->n_embd);
    }
    work_free(&w);
    *n_tokens = (int)n_tok;
    return G4_OK;
}

/* ---- audio ----------------------------------------------------------------------------- */

typedef struct {
    const g4_mmproj *p;
    work *w;
    const float *frames;
    int64_t t0;
} ajob;

static void a_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const ajob *j = arg;
    const int F = j->p->info.frame_size;
    (void)tid;
    for (int64_t r = r0; r < r1; r++)
        g4_rmsnorm(j->w->a + (size_t)r * F, j->frames + (size_t)(j->t0 + r) * F, NULL, F, j->p->info.audio_eps);
}

g4_status g4_mm_project_audio(const g4_mmproj *p, g4_engine *e, const float *frames, int n_frames,
                              float **embd, int *n_tokens, g4_error *err) {
    if (!embd || !n_tokens) return g4_fail(err, G4_ERR_ARG, "NULL output");
    *embd = NULL;
    *n_tokens = 0;
    if (!p || !e || !frames) return g4_fail(err, G4_ERR_ARG, "NULL argument");
    const g4_mmproj_info *in = &p->info;
    if (!in->has_audio) return g4_fail(err, G4_ERR_UNSUPPORTED, "the mmproj file has no audio projector");
    if (n_frames <= 0) return g4_fail(err, G4_ERR_ARG, "no audio frames");
    g4_status st = alloc_out(n_frames, in->n_embd, embd, err);
    if (st) return st;
    work w;
    if ((st = work_init(&w, e, in->frame_size, 0, err))) {
        free(*embd);
        *embd = NULL;
        return st;
    }
    ajob j = {p, &w, frames, 0};
    for (int64_t t0 = 0; t0 < n_frames; t0 += CHUNK) {
        const int64_t n = n_frames - t0 < CHUNK ? n_frames - t0 : CHUNK;
        j.t0 = t0;
        g4_pool_run(e->pool, n, 8, a_rows, &j);
        g4_matmul(&w.c, &p->a_proj, w.a, n, in->frame_size, *embd + (size_t)t0 * in->n_embd, in->n_embd);
    }
    work_free(&w);
    *n_tokens = n_frames;
    return G4_OK;
}
