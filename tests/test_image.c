/* test_image.c — image decoding (src/mmio/image_io) and preprocessing (src/mm/image):
 * the llama.cpp-mode projector input against the goldens, the HF-mode token grid against
 * values worked out from spec §6.2, the HF resize against Pillow's output (bit-exact) and
 * an independent double-precision resampler, decoders on files generated here (PNG, JPEG + EXIF orientation, BMP, GIF, WebP) and
 * hostile inputs (truncation at many lengths, zero/huge sizes, garbage, bit flips). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "mm/image.h"
#include "mmio/image_io.h"
#include "gld.h"
#include "t.h"

#if defined(__has_include)
#if __has_include(<stb/stb_image_write.h>)
#define HAVE_STB_WRITE 1
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_write.h>
#endif
#endif

#if defined(G4_HAVE_WEBP)
#include <webp/encode.h>
#endif

#define DATA G4_TEST_DATA

/* ==== small helpers ==== */




/* An integer found after "key": in a JSON text (first occurrence). */
static int json_int(const char *js, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(js, pat);
    return p ? atoi(p + strlen(pat)) : -1;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put8(bytes *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}
static void put16le(bytes *b, unsigned v) {
    put8(b, v & 255);
    put8(b, (v >> 8) & 255);
}
static void put32le(bytes *b, uint32_t v) {
    put16le(b, v & 0xFFFF);
    put16le(b, v >> 16);
}
static void put16be(bytes *b, unsigned v) {
    put8(b, (v >> 8) & 255);
    put8(b, v & 255);
}
static void put32be(bytes *b, uint32_t v) {
    put16be(b, v >> 16);
    put16be(b, v & 0xFFFF);
}

/* A test picture: smooth gradients plus a few hard edges and some noise. */
static uint8_t *make_picture(int w, int h, uint32_t seed) {
    uint8_t *p = malloc((size_t)w * h * 3);
    rng_state = seed * 2654435761u + 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(255 * x / (w > 1 ? w - 1 : 1));
            q[1] = (uint8_t)(255 * y / (h > 1 ? h - 1 : 1));
            q[2] = (uint8_t)(((x / 7 + y / 5) & 1) ? 230 : 20);
            if ((x * 3 + y) % 11 == 0) q[1] = (uint8_t)(rnd() & 255);
        }
    return p;
}

/* Random bit flips / byte changes of a valid file: decoding must end cleanly (never a
 * crash; ASan/UBSan builds check memory and undefined behaviour). */
static void flip_test(const bytes *file, int iters) {
    for (int it = 0; it < iters; it++) {
        bytes b = {0};
        put(&b, file->p, file->n);
        int flips = 1 + (int)(rnd() % 4);
        for (int k = 0; k < flips; k++) b.p[8 + rnd() % (b.n - 8)] ^= (uint8_t)(1u << (rnd() % 8));
        g4_image img;
        g4_error e = {0};
        g4_status st = g4_image_decode(b.p, b.n, &img, &e);
        T_CHECK(st == G4_OK ? img.rgb != NULL && img.w > 0 : img.rgb == NULL && e.msg[0]);
        g4_image_free(&img);
        free(b.p);
    }
}

/* ==== the goldens: llama.cpp mode ==== */

/* The tiny test projector's parameters: patch 4, merge 3 (12 px tokens), 48 positions
 * (tests/data/dense-mmproj-f32.gguf; the file's own keys are checked here). */
static g4_image_params tiny_params(void) {
    g4_image_params p = g4_image_params_default();
    p.patch_size = 4;
    p.n_pos = 48;
    g4_gguf *g = NULL;
    g4_error err = {0};
    if (g4_gguf_open(DATA "/dense-mmproj-f32.gguf", &g, &err) != G4_OK) {
        T_CHECKF(0, "mmproj: %s", err.msg);
        return p;
    }
    int64_t ps = 0, sf = 0;
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, "clip.vision.patch_size");
    T_CHECK(kv && g4_gguf_kv_int(kv, &ps) && ps == p.patch_size);
    kv = g4_gguf_find_kv(g, "clip.vision.projector.scale_factor");
    T_CHECK(kv && g4_gguf_kv_int(kv, &sf) && sf == p.merge);
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "v.position_embd.weight");
    T_CHECK(t && t->ne[1] == p.n_pos);
    g4_gguf_close(g);
    return p;
}

static void test_llamacpp_goldens(void) {
    const g4_image_params prm = tiny_params();
    static const char *cases[] = {"img_gradient_96x64", "img_shapes_200x120"};
    for (int ci = 0; ci < 2; ci++) {
        char path[512];
        snprintf(path, sizeof path, DATA "/media/%s.png", cases[ci]);
        g4_image img;
        g4_error err = {0};
        if (g4_image_load(path, &img, &err) != G4_OK) {
            T_CHECKF(0, "%s", err.msg);
            continue;
        }
        gld g;
        snprintf(path, sizeof path, DATA "/golden/mtmd/dense-f32.%s.media0.input.gld", cases[ci]);
        if (!gld_read(path, &g)) {
            T_CHECKF(0, "cannot read %s", path);
            g4_image_free(&img);
            continue;
        }
        snprintf(path, sizeof path, DATA "/golden/mtmd/dense-f32.%s.json", cases[ci]);
        char *js = gld_slurp(path, NULL); /* NUL-terminated */
        int n_tok = js ? json_int(js, "n_tokens") : -1;
        free(js);

        g4_image_plan pl;
        float *x = NULL;
        g4_status st = g4_image_preprocess(&prm, G4_IMAGE_MODE_LLAMACPP, img.rgb, img.w, img.h, &pl,
                                           &x, &err);
        T_CHECKF(st == G4_OK, "%s: %s", cases[ci], err.msg);
        if (st == G4_OK) {
            T_CHECK(g.ndim == 3 && g.dims[0] == 3 && g.dims[1] == pl.height && g.dims[2] == pl.width);
            T_CHECKF(pl.n_tokens == n_tok, "%s: %d tokens, golden %d", cases[ci], pl.n_tokens, n_tok);
            T_CHECK(pl.n_x * pl.side == pl.width && pl.n_y * pl.side == pl.height && pl.side == 12);
            double worst = 0;
            size_t n_bad = 0;
            if (g.n == (size_t)3 * pl.width * pl.height) {
                for (size_t i = 0; i < g.n; i++) {
                    double d = fabs((double)x[i] - g.data[i]);
                    double rel = d / fmax(fabs(g.data[i]), 1e-3);
                    if (rel > worst) worst = rel;
                    if (rel > 1e-6) n_bad++;
                }
            }
            T_CHECKF(n_bad == 0, "%s: %zu values off, worst rel %.3g", cases[ci], n_bad, worst);

            /* patchify: token t = by*n_x + bx, vector [ch][r][c] of its side x side square */
            const int S = pl.side, dim = 3 * S * S;
            float *v = malloc((size_t)pl.n_tokens * dim * sizeof *v);
            float *vh = malloc((size_t)pl.n_tokens * dim * sizeof *vh);
            g4_image_patchify(&pl, x, G4_PATCH_CHW, v);
            g4_image_patchify(&pl, x, G4_PATCH_HWC, vh);
            size_t bad = 0;
            for (int t = 0; t < pl.n_tokens; t++) {
                int bx = t % pl.n_x, by = t / pl.n_x;
                for (int ch = 0; ch < 3; ch++)
                    for (int r = 0; r < S; r++)
                        for (int c = 0; c < S; c++) {
                            float want = g.data[((size_t)ch * pl.height + by * S + r) * pl.width +
                                                bx * S + c];
                            bad += v[(size_t)t * dim + ch * S * S + r * S + c] != want;
                            bad += vh[(size_t)t * dim + (r * S + c) * 3 + ch] != want;
                        }
            }
            T_CHECKF(bad == 0, "%s: %zu patch elements misplaced", cases[ci], bad);
            free(v);
            free(vh);
        }
        free(x);
        free(g.data);
        g4_image_free(&img);
    }
}

/* ==== token grids ==== */

typedef struct {
    int w, h, budget;  /* input (W x H), budget */
    int tw, th;        /* expected canvas */
    int n_tokens;
} grid_case;

static void test_hf_grid(void) {
    /* 12B parameters (patch 16, merge 3: 48 px per token). The first five are spec §6.2's
     * examples; the others were worked out by hand from the same formula:
     * f = sqrt(B*48^2/(W*H)), side = floor(f*side/48)*48, a zero side becomes 48 with the
     * other floor(ratio)*48 capped at B*48. */
    static const grid_case cases[] = {
        {1024, 768, 280, 912, 672, 266},   {1920, 1080, 280, 1056, 576, 264},
        {512, 512, 280, 768, 768, 256},    {224, 224, 280, 768, 768, 256},
        {1024, 768, 1120, 1824, 1344, 1064}, {1024, 768, 70, 432, 336, 63},
        {1024, 768, 140, 624, 480, 130},   {1024, 768, 560, 1296, 960, 540},
        {768, 1024, 280, 672, 912, 266},   {896, 896, 280, 768, 768, 256},
        {4032, 3024, 560, 1296, 960, 540}, {3000, 100, 280, 4368, 144, 273},
        {100, 3000, 70, 48, 2160, 45},     {2000, 10, 280, 11328, 48, 236},
        {10000, 10, 280, 13440, 48, 280},  {10, 10000, 280, 48, 13440, 280},
        {1, 1, 280, 768, 768, 256},
    };
    g4_image_params p = g4_image_params_default();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const grid_case *c = &cases[i];
        p.token_budget = c->budget;
        g4_image_plan pl;
        g4_error err = {0};
        g4_status st = g4_image_plan_make(&p, G4_IMAGE_MODE_HF, c->w, c->h, &pl, &err);
        T_CHECKF(st == G4_OK, "%dx%d: %s", c->w, c->h, err.msg);
        T_CHECKF(pl.width == c->tw && pl.height == c->th && pl.n_tokens == c->n_tokens &&
                     pl.n_x * 48 == pl.width && pl.n_y * 48 == pl.height &&
                     pl.n_tokens <= c->budget,
                 "%dx%d B=%d: got %dx%d (%d tokens), want %dx%d (%d)", c->w, c->h, c->budget,
                 pl.width, pl.height, pl.n_tokens, c->tw, c->th, c->n_tokens);
        T_CHECK(pl.content_x == 0 && pl.content_y == 0 && pl.content_w == pl.width &&
                pl.content_h == pl.height);
    }
    /* the tiny test projector (patch 4: 12 px per token; the addendum's "260 vs 40") */
    g4_image_params t = g4_image_params_default();
    t.patch_size = 4;
    t.n_pos = 48;
    g4_image_plan pl;
    T_CHECK(g4_image_plan_make(&t, G4_IMAGE_MODE_HF, 96, 64, &pl, NULL) == G4_OK &&
            pl.width == 240 && pl.height == 156 && pl.n_tokens == 260);
    T_CHECK(g4_image_plan_make(&t, G4_IMAGE_MODE_HF, 200, 120, &pl, NULL) == G4_OK &&
            pl.width == 252 && pl.height == 144 && pl.n_tokens == 252);
    /* a grid wider than the position table is refused, naming the problem */
    g4_error err = {0};
    T_CHECK(g4_image_plan_make(&t, G4_IMAGE_MODE_HF, 1000, 100, &pl, &err) == G4_ERR_UNSUPPORTED &&
            strstr(err.msg, "positions"));
}

typedef struct {
    int w, h, side;
    int W, H, cx, cy, cw, ch, n_tokens;
} lc_case;

static void test_llamacpp_grid(void) {
    /* fixtures README steps V1-V2 (float32), worked by hand */
    static const lc_case cases[] = {
        {96, 64, 12, 96, 60, 3, 0, 90, 60, 40},        /* golden: rounded, letterboxed */
        {200, 120, 12, 204, 120, 2, 0, 200, 120, 170}, /* golden */
        {512, 512, 48, 528, 528, 0, 0, 528, 528, 121}, /* spec §6.2: 121 tokens */
        {1024, 768, 48, 912, 672, 8, 0, 896, 672, 266},
        {1920, 1080, 48, 1056, 576, 16, 0, 1024, 576, 264},
        {100, 100, 48, 336, 336, 0, 0, 336, 336, 49},  /* upscaled to >= 40 tokens */
        {1, 1, 48, 336, 336, 0, 0, 336, 336, 49},
        {896, 896, 48, 768, 768, 0, 0, 768, 768, 256},
        {2000, 10, 48, 2016, 48, 0, 18, 2016, 11, 42},
        {300, 1000, 48, 288, 1008, 0, 24, 288, 960, 126},
        {48, 480, 48, 96, 960, 0, 0, 96, 960, 40},     /* 10 tokens: scaled by 2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const lc_case *c = &cases[i];
        g4_image_params p = g4_image_params_default();
        p.patch_size = c->side / 3;
        g4_image_plan pl;
        g4_error err = {0};
        g4_status st = g4_image_plan_make(&p, G4_IMAGE_MODE_LLAMACPP, c->w, c->h, &pl, &err);
        T_CHECKF(st == G4_OK, "%dx%d: %s", c->w, c->h, err.msg);
        T_CHECKF(pl.width == c->W && pl.height == c->H && pl.content_x == c->cx &&
                     pl.content_y == c->cy && pl.content_w == c->cw && pl.content_h == c->ch &&
                     pl.n_tokens == c->n_tokens,
                 "%dx%d: got %dx%d at (%d,%d) %dx%d, %d tokens", c->w, c->h, pl.width, pl.height,
                 pl.content_x, pl.content_y, pl.content_w, pl.content_h, pl.n_tokens);
    }
    /* an aspect ratio llama.cpp cannot represent within the 1120-row table */
    g4_image_params p = g4_image_params_default();
    g4_image_plan pl;
    g4_error err = {0};
    T_CHECK(g4_image_plan_make(&p, G4_IMAGE_MODE_LLAMACPP, 1, 100000, &pl, &err) ==
                G4_ERR_UNSUPPORTED &&
            strstr(err.msg, "hf"));
}

static void test_params_and_args(void) {
    g4_image_params p = g4_image_params_default();
    g4_image_plan pl;
    g4_error err = {0};
    T_CHECK(g4_image_plan_make(&p, G4_IMAGE_MODE_HF, 0, 10, &pl, &err) == G4_ERR_ARG);
    T_CHECK(g4_image_plan_make(&p, G4_IMAGE_MODE_HF, 10, -1, &pl, NULL) == G4_ERR_ARG);
    T_CHECK(g4_image_plan_make(&p, (g4_image_mode)7, 10, 10, &pl, NULL) == G4_ERR_ARG);
    T_CHECK(g4_image_plan_make(&p, G4_IMAGE_MODE_HF, 1 << 21, 10, &pl, NULL) == G4_ERR_UNSUPPORTED);
    g4_image_params q = p;
    q.std[1] = 0.0f;
    T_CHECK(g4_image_params_check(&q, NULL) == G4_ERR_ARG);
    q = p;
    q.patch_size = 0;
    T_CHECK(g4_image_params_check(&q, NULL) == G4_ERR_ARG);
    q = p;
    q.token_budget = 0;
    T_CHECK(g4_image_params_check(&q, NULL) == G4_ERR_ARG);
    q = p;
    q.min_tokens = 300;
    T_CHECK(g4_image_params_check(&q, NULL) == G4_ERR_ARG);
    q = p;
    q.mean[0] = NAN;
    T_CHECK(g4_image_params_check(&q, NULL) == G4_ERR_ARG);
    T_CHECK(g4_image_params_check(&p, NULL) == G4_OK);
    g4_image_mode m;
    T_CHECK(g4_image_mode_parse("hf", &m) && m == G4_IMAGE_MODE_HF);
    T_CHECK(g4_image_mode_parse("llamacpp", &m) && m == G4_IMAGE_MODE_LLAMACPP);
    T_CHECK(!g4_image_mode_parse("bilinear", &m) && !g4_image_mode_parse(NULL, &m));
    T_CHECK(!strcmp(g4_image_mode_name(G4_IMAGE_MODE_LLAMACPP), "llamacpp"));
    float *x = (float *)1;
    T_CHECK(g4_image_preprocess(&p, G4_IMAGE_MODE_HF, NULL, 4, 4, NULL, &x, NULL) == G4_ERR_ARG &&
            x == NULL);
    /* normalisation uses mean/std */
    uint8_t px[48 * 48 * 3];
    memset(px, 255, sizeof px);
    q = p;
    q.mean[0] = 0.5f;
    q.std[0] = 0.5f;
    q.token_budget = 1;
    T_CHECK(g4_image_preprocess(&q, G4_IMAGE_MODE_HF, px, 48, 48, &pl, &x, NULL) == G4_OK &&
            pl.n_tokens == 1 && x[0] == 1.0f && x[48 * 48] == 1.0f);
    free(x);
}

/* ==== the HF resize against an independent resampler ==== */

/* Straight from the definition, in double: for output sample i of n_out over n_in, the
 * weight of source j is k(((j + 0.5) - (i + 0.5) * n_in / n_out) / max(1, n_in / n_out))
 * with Keys' cubic a = -0.5, normalised over j; rows first (rounded to u8), then columns.
 * The library uses PIL's 22-bit fixed-point weights, so a value may differ by 1 where
 * the exact result is within ~1e-6 of a rounding tie. */
static double keys(double t) {
    t = fabs(t);
    if (t < 1) return 1.5 * t * t * t - 2.5 * t * t + 1;
    if (t < 2) return -0.5 * t * t * t + 2.5 * t * t - 4 * t + 2;
    return 0;
}

static uint8_t to_u8(double v) {
    long r = lround(floor(v + 0.5));
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

static void ref_pass(const uint8_t *src, int n_in, int n_out, int n_lines, size_t step_in,
                     size_t line_in, size_t step_out, size_t line_out, uint8_t *dst) {
    double scale = (double)n_in / n_out, stretch = scale > 1 ? scale : 1;
    double *w = malloc((size_t)n_in * sizeof *w);
    for (int i = 0; i < n_out; i++) {
        double centre = (i + 0.5) * scale, sum = 0;
        for (int j = 0; j < n_in; j++) sum += w[j] = keys(((j + 0.5) - centre) / stretch);
        for (int l = 0; l < n_lines; l++)
            for (int c = 0; c < 3; c++) {
                double v = 0;
                for (int j = 0; j < n_in; j++)
                    if (w[j] != 0) v += w[j] * src[l * line_in + j * step_in + c];
                dst[l * line_out + i * step_out + c] = to_u8(v / sum);
            }
    }
    free(w);
}

static uint8_t *ref_resize(const uint8_t *src, int sw, int sh, int dw, int dh) {
    uint8_t *mid = malloc((size_t)sh * dw * 3), *out = malloc((size_t)dh * dw * 3);
    if (dw == sw) memcpy(mid, src, (size_t)sh * sw * 3);
    else ref_pass(src, sw, dw, sh, 3, (size_t)sw * 3, 3, (size_t)dw * 3, mid);
    if (dh == sh) memcpy(out, mid, (size_t)dh * dw * 3);
    else ref_pass(mid, sh, dh, dw, (size_t)dw * 3, 3, (size_t)dw * 3, 3, out);
    free(mid);
    return out;
}

/* Binary PPM (P6, maxval 255) as written by PIL: "P6\n<w> <h>\n255\n" + RGB. */
static uint8_t *read_ppm(const char *path, int *w, int *h) {
    size_t n = 0;
    uint8_t *f = (uint8_t *)gld_slurp(path, &n), *px = NULL;
    int maxv = 0, off = 0;
    if (f && n > 16 && sscanf((const char *)f, "P6 %d %d %d%n", w, h, &maxv, &off) == 3 &&
        maxv == 255 && *w > 0 && *h > 0 && (size_t)off + 1 + (size_t)*w * *h * 3 == n) {
        px = malloc((size_t)*w * *h * 3);
        memcpy(px, f + off + 1, (size_t)*w * *h * 3);
    }
    free(f);
    return px;
}

/* PIL 9.4 Image.resize(BICUBIC) outputs (tests/data/golden/mtmd/img_pil_*.ppm, made once
 * with python3-pil): the HF PIL backend's resize, bit for bit. */
static void test_bicubic_vs_pil(void) {
    int sw, sh;
    uint8_t *src = read_ppm(DATA "/golden/mtmd/img_pil_src_61x37.ppm", &sw, &sh);
    T_CHECKF(src && sw == 61 && sh == 37, "cannot read the PIL source image");
    static const int sizes[][2] = {{48, 24}, {120, 72}, {96, 30}};
    for (int k = 0; src && k < 3; k++) {
        char path[512];
        snprintf(path, sizeof path, DATA "/golden/mtmd/img_pil_bicubic_%dx%d.ppm", sizes[k][0],
                 sizes[k][1]);
        int w, h;
        uint8_t *want = read_ppm(path, &w, &h);
        T_CHECKF(want && w == sizes[k][0] && h == sizes[k][1], "cannot read %s", path);
        if (!want) continue;
        uint8_t *got = malloc((size_t)w * h * 3);
        T_CHECK(g4_image_resize_bicubic(src, sw, sh, got, w, h, NULL) == G4_OK);
        size_t diff = 0;
        for (size_t i = 0; i < (size_t)w * h * 3; i++) diff += got[i] != want[i];
        T_CHECKF(diff == 0, "bicubic %dx%d: %zu values differ from PIL", w, h, diff);
        free(got);
        free(want);
    }
    free(src);
}

static void test_hf_pixels(void) {
    /* downscale, upscale, mixed, tall */
    static const struct { int w, h, budget, patch; } cases[] = {
        {157, 93, 20, 4}, {61, 37, 280, 4}, {300, 40, 140, 4}, {33, 250, 70, 4}, {640, 480, 70, 16},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        g4_image_params p = g4_image_params_default();
        p.patch_size = cases[ci].patch;
        p.token_budget = cases[ci].budget;
        p.n_pos = 0;
        int w = cases[ci].w, h = cases[ci].h;
        uint8_t *src = make_picture(w, h, (uint32_t)ci + 1);
        g4_image_plan pl;
        float *x = NULL;
        g4_error err = {0};
        if (g4_image_preprocess(&p, G4_IMAGE_MODE_HF, src, w, h, &pl, &x, &err) != G4_OK) {
            T_CHECKF(0, "%dx%d: %s", w, h, err.msg);
            free(src);
            continue;
        }
        T_CHECK(pl.width != w || pl.height != h);
        uint8_t *ref = ref_resize(src, w, h, pl.width, pl.height);
        size_t plane = (size_t)pl.width * pl.height, diff = 0, off = 0;
        int worst = 0;
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) {
                float v = x[c * plane + i] * 255.0f;
                int u = (int)lroundf(v);
                off += fabsf(v - (float)u) > 1e-3f; /* values are exactly u8 / 255 */
                int d = abs(u - ref[i * 3 + c]);
                if (d > worst) worst = d;
                diff += d != 0;
            }
        T_CHECKF(off == 0, "%dx%d: %zu values are not u8/255", w, h, off);
        T_CHECKF(worst <= 1 && diff * 1000 <= plane * 3, "%dx%d -> %dx%d: %zu of %zu differ, worst %d",
                 w, h, pl.width, pl.height, diff, plane * 3, worst);
        free(ref);
        free(x);
        free(src);
    }
    /* a constant image stays constant, upscaled or downscaled */
    uint8_t c[50 * 30 * 3];
    for (size_t i = 0; i < sizeof c; i += 3) {
        c[i] = 200;
        c[i + 1] = 7;
        c[i + 2] = 128;
    }
    static const int sizes[][2] = {{120, 72}, {20, 12}, {50, 31}, {1, 1}};
    for (int k = 0; k < 4; k++) {
        int dw = sizes[k][0], dh = sizes[k][1];
        uint8_t *o = malloc((size_t)dw * dh * 3);
        T_CHECK(g4_image_resize_bicubic(c, 50, 30, o, dw, dh, NULL) == G4_OK);
        size_t bad = 0;
        for (size_t i = 0; i < (size_t)dw * dh * 3; i += 3)
            bad += o[i] != 200 || o[i + 1] != 7 || o[i + 2] != 128;
        T_CHECKF(bad == 0, "constant image changed at %dx%d", dw, dh);
        free(o);
    }
    /* the llama.cpp bilinear at equal size is the identity; at 2x-1 it interpolates */
    uint8_t *pic = make_picture(9, 5, 3), *o = malloc(17 * 9 * 3);
    g4_image_resize_bilinear(pic, 9, 5, o, 9, 5);
    T_CHECK(!memcmp(o, pic, 9 * 5 * 3));
    g4_image_resize_bilinear(pic, 9, 5, o, 17, 9);
    T_CHECK(o[(2 * 17 + 2) * 3] == pic[(1 * 9 + 1) * 3]);
    T_CHECK(o[(0 * 17 + 1) * 3] == (uint8_t)((pic[0] + pic[3]) / 2.0f));
    free(pic);
    free(o);
}

/* ==== decoders ==== */

/* 24-bit bottom-up BMP with padded rows */
static bytes make_bmp(const uint8_t *rgb, int w, int h, int declared_w, int declared_h) {
    bytes b = {0};
    size_t row = ((size_t)w * 3 + 3) & ~(size_t)3;
    put(&b, "BM", 2);
    put32le(&b, (uint32_t)(54 + row * h));
    put32le(&b, 0);
    put32le(&b, 54);
    put32le(&b, 40);
    put32le(&b, (uint32_t)declared_w);
    put32le(&b, (uint32_t)declared_h);
    put16le(&b, 1);
    put16le(&b, 24);
    put32le(&b, 0);
    put32le(&b, (uint32_t)(row * h));
    put32le(&b, 2835);
    put32le(&b, 2835);
    put32le(&b, 0);
    put32le(&b, 0);
    for (int y = h - 1; y >= 0; y--) {
        for (int x = 0; x < w; x++) {
            const uint8_t *q = rgb + ((size_t)y * w + x) * 3;
            put8(&b, q[2]);
            put8(&b, q[1]);
            put8(&b, q[0]);
        }
        for (size_t k = (size_t)w * 3; k < row; k++) put8(&b, 0);
    }
    return b;
}

/* GIF with a 4-colour table. LZW stays at 3-bit codes by sending a clear code before every
 * pair of pixels (the table then never grows past 7 entries). frames: 1 or 2 (the second
 * frame paints everything colour 3); transparent: index 2 is transparent. */
static bytes make_gif(const uint8_t *idx, int w, int h, int frames, bool transparent,
                      const uint8_t pal[4][3]) {
    bytes b = {0};
    put(&b, "GIF89a", 6);
    put16le(&b, (unsigned)w);
    put16le(&b, (unsigned)h);
    put8(&b, 0x80 | 0x01); /* global table, 2^(1+1) = 4 entries */
    put8(&b, 0);
    put8(&b, 0);
    for (int i = 0; i < 4; i++) put(&b, pal[i], 3);
    for (int f = 0; f < frames; f++) {
        if (transparent) {
            static const uint8_t gce[] = {0x21, 0xF9, 4, 0x01, 0, 0, 2, 0};
            put(&b, gce, sizeof gce);
        }
        put8(&b, 0x2C);
        put16le(&b, 0);
        put16le(&b, 0);
        put16le(&b, (unsigned)w);
        put16le(&b, (unsigned)h);
        put8(&b, 0);
        put8(&b, 2); /* LZW minimum code size */
        /* bit-pack 3-bit codes */
        bytes data = {0};
        uint32_t acc = 0;
        int nbits = 0;
#define EMIT(code)                                                                               \
    do {                                                                                         \
        acc |= (uint32_t)(code) << nbits;                                                        \
        nbits += 3;                                                                              \
        while (nbits >= 8) {                                                                     \
            put8(&data, acc & 255);                                                              \
            acc >>= 8;                                                                           \
            nbits -= 8;                                                                          \
        }                                                                                        \
    } while (0)
        for (int i = 0; i < w * h; i++) {
            if (i % 2 == 0) EMIT(4);
            EMIT(f == 0 ? idx[i] : 3);
        }
        EMIT(5);
#undef EMIT
        if (nbits > 0) put8(&data, acc & 255);
        for (size_t o = 0; o < data.n; o += 255) {
            size_t k = data.n - o < 255 ? data.n - o : 255;
            put8(&b, (unsigned)k);
            put(&b, data.p + o, k);
        }
        put8(&b, 0);
        free(data.p);
    }
    put8(&b, 0x3B);
    return b;
}

static void test_bmp_gif(void) {
    uint8_t *pic = make_picture(5, 3, 11);
    bytes bmp = make_bmp(pic, 5, 3, 5, 3);
    g4_image img;
    g4_error err = {0};
    T_CHECK(!strcmp(g4_image_sniff(bmp.p, bmp.n), "bmp"));
    T_CHECKF(g4_image_decode(bmp.p, bmp.n, &img, &err) == G4_OK, "bmp: %s", err.msg);
    T_CHECK(img.w == 5 && img.h == 3 && img.rgb && !memcmp(img.rgb, pic, 5 * 3 * 3));
    g4_image_free(&img);
    T_CHECK(img.rgb == NULL && img.w == 0);
    /* truncated at every length: a clean error (or, for stb's lenient BMP reader, an image) */
    size_t n_clean = 0, n_refused = 0;
    for (size_t n = 0; n < bmp.n; n++) {
        g4_error e = {0};
        g4_status st = g4_image_decode(bmp.p, n, &img, &e);
        n_clean += st == G4_OK ? img.rgb != NULL : (img.rgb == NULL && e.msg[0] != 0);
        n_refused += st != G4_OK;
        g4_image_free(&img);
    }
    T_CHECK(n_clean == bmp.n && n_refused >= 54);
    flip_test(&bmp, 200);
    free(bmp.p);
    /* zero width, huge declared size (within the side limit but 900 Mpx), beyond the side limit */
    static const int dims[][2] = {{0, 3}, {5, 0}, {30000, 30000}, {100000, 1}, {40000, 2}};
    for (int k = 0; k < 5; k++) {
        bytes b = make_bmp(pic, 5, 3, dims[k][0], dims[k][1]);
        g4_error e = {0};
        T_CHECKF(g4_image_decode(b.p, b.n, &img, &e) != G4_OK && img.rgb == NULL && e.msg[0],
                 "bmp %dx%d accepted", dims[k][0], dims[k][1]);
        free(b.p);
    }
    free(pic);

    /* GIF: first frame, palette, transparency on white */
    static const uint8_t pal[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    uint8_t idx[7 * 4];
    for (int i = 0; i < 7 * 4; i++) idx[i] = (uint8_t)((i * 5 + i / 7) % 3);
    for (int variant = 0; variant < 2; variant++) {
        bytes gif = make_gif(idx, 7, 4, 2, variant == 1, pal);
        T_CHECK(!strcmp(g4_image_sniff(gif.p, gif.n), "gif"));
        g4_error e = {0};
        g4_status st = g4_image_decode(gif.p, gif.n, &img, &e);
        T_CHECKF(st == G4_OK, "gif: %s", e.msg);
        if (st == G4_OK) {
            T_CHECK(img.w == 7 && img.h == 4);
            size_t bad = 0;
            for (int i = 0; i < 7 * 4; i++) {
                const uint8_t *want = pal[idx[i]];
                static const uint8_t white[3] = {255, 255, 255};
                if (variant == 1 && idx[i] == 2) want = white;
                bad += memcmp(img.rgb + i * 3, want, 3) != 0;
            }
            T_CHECKF(bad == 0, "gif variant %d: %zu pixels wrong", variant, bad);
        }
        g4_image_free(&img);
        size_t g_clean = 0, g_refused = 0;
        for (size_t n = 0; n < gif.n; n++) {
            g4_error e2 = {0};
            g4_status st2 = g4_image_decode(gif.p, n, &img, &e2);
            g_clean += st2 == G4_OK ? img.rgb != NULL : (img.rgb == NULL && e2.msg[0] != 0);
            g_refused += st2 != G4_OK;
            g4_image_free(&img);
        }
        T_CHECKF(g_clean == gif.n && g_refused >= 25, "truncated gifs: %zu clean, %zu refused of %zu",
                 g_clean, g_refused, gif.n);
        flip_test(&gif, 200);
        free(gif.p);
    }
    /* huge declared GIF screen */
    bytes gif = make_gif(idx, 7, 4, 1, false, pal);
    gif.p[6] = 0x30;
    gif.p[7] = 0x75; /* 30000 */
    gif.p[8] = 0x30;
    gif.p[9] = 0x75;
    err.code = G4_OK;
    err.msg[0] = 0;
    T_CHECK(g4_image_decode(gif.p, gif.n, &img, &err) != G4_OK && img.rgb == NULL);
    free(gif.p);
}

#if defined(HAVE_STB_WRITE)
static void bytes_writer(void *ctx, void *data, int size) { put(ctx, data, (size_t)size); }

static bytes png_of(const uint8_t *px, int w, int h, int comp) {
    bytes b = {0};
    stbi_write_png_to_func(bytes_writer, &b, w, h, comp, px, w * comp);
    return b;
}

#endif

/* A baseline JPEG written by hand (stb_image_write's JPEG writer shifts signed ints out of
 * range, which UBSan rejects): 4:4:4 YCbCr, quantisation 1, every 8x8 block one flat
 * colour so only DC coefficients are needed. Huffman tables: DC categories 0..11 as 4-bit
 * codes, AC only EOB as the 1-bit code "0". blk: [ceil(h/8)][ceil(w/8)] RGB colours. */
typedef struct {
    bytes *b;
    uint32_t acc;
    int n;
} bitw;

static void bits_put(bitw *w, uint32_t v, int n) {
    for (int i = n - 1; i >= 0; i--) {
        w->acc = w->acc << 1 | ((v >> i) & 1);
        if (++w->n == 8) {
            put8(w->b, w->acc & 255);
            if ((w->acc & 255) == 255) put8(w->b, 0);
            w->acc = 0;
            w->n = 0;
        }
    }
}

static bytes jpeg_blocks(const uint8_t *blk, int w, int h) {
    bytes b = {0};
    const int bw = (w + 7) / 8, bh = (h + 7) / 8;
    static const uint8_t soi[] = {0xFF, 0xD8};
    put(&b, soi, 2);
    put8(&b, 0xFF); /* DQT */
    put8(&b, 0xDB);
    put16be(&b, 67);
    put8(&b, 0);
    for (int i = 0; i < 64; i++) put8(&b, 1);
    put8(&b, 0xFF); /* SOF0 */
    put8(&b, 0xC0);
    put16be(&b, 17);
    put8(&b, 8);
    put16be(&b, (unsigned)h);
    put16be(&b, (unsigned)w);
    put8(&b, 3);
    for (int c = 1; c <= 3; c++) {
        put8(&b, (unsigned)c);
        put8(&b, 0x11);
        put8(&b, 0);
    }
    put8(&b, 0xFF); /* DHT: DC table 0, then AC table 0 */
    put8(&b, 0xC4);
    put16be(&b, 2 + 17 + 12 + 17 + 1);
    put8(&b, 0x00);
    for (int l = 1; l <= 16; l++) put8(&b, l == 4 ? 12 : 0);
    for (int v = 0; v < 12; v++) put8(&b, (unsigned)v);
    put8(&b, 0x10);
    for (int l = 1; l <= 16; l++) put8(&b, l == 1 ? 1 : 0);
    put8(&b, 0x00);
    put8(&b, 0xFF); /* SOS */
    put8(&b, 0xDA);
    put16be(&b, 12);
    put8(&b, 3);
    for (int c = 1; c <= 3; c++) {
        put8(&b, (unsigned)c);
        put8(&b, 0x00);
    }
    put8(&b, 0);
    put8(&b, 63);
    put8(&b, 0);
    bitw bw8 = {&b, 0, 0};
    int pred[3] = {0, 0, 0};
    for (int by = 0; by < bh; by++)
        for (int bx = 0; bx < bw; bx++) {
            const uint8_t *rgb = blk + ((size_t)by * bw + bx) * 3;
            double r = rgb[0], g = rgb[1], bl = rgb[2];
            double ycc[3] = {0.299 * r + 0.587 * g + 0.114 * bl,
                             -0.168736 * r - 0.331264 * g + 0.5 * bl + 128,
                             0.5 * r - 0.418688 * g - 0.081312 * bl + 128};
            for (int c = 0; c < 3; c++) {
                int v = (int)lround(ycc[c]);
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                int dc = 8 * (v - 128), diff = dc - pred[c];
                pred[c] = dc;
                int mag = abs(diff), cat = 0;
                while (mag >> cat) cat++;
                bits_put(&bw8, (uint32_t)cat, 4);
                if (cat) bits_put(&bw8, (uint32_t)(diff < 0 ? diff - 1 : diff) & ((1u << cat) - 1), cat);
                bits_put(&bw8, 0, 1); /* EOB */
            }
        }
    if (bw8.n) bits_put(&bw8, 0x7F, 8 - bw8.n);
    put8(&b, 0xFF);
    put8(&b, 0xD9);
    return b;
}

/* An APP1 Exif segment with IFD0 = {Orientation = o}, inserted after SOI. */
static bytes with_exif(const bytes *jpg, int o, bool big_endian) {
    bytes t = {0}; /* TIFF */
    if (big_endian) {
        put(&t, "MM", 2);
        put16be(&t, 42);
        put32be(&t, 8);
        put16be(&t, 2);
        put16be(&t, 0x010F); /* Make, ASCII, 4 bytes inline */
        put16be(&t, 2);
        put32be(&t, 4);
        put(&t, "abc", 4);
        put16be(&t, 0x0112);
        put16be(&t, 3);
        put32be(&t, 1);
        put16be(&t, (unsigned)o);
        put16be(&t, 0);
        put32be(&t, 0);
    } else {
        put(&t, "II", 2);
        put16le(&t, 42);
        put32le(&t, 8);
        put16le(&t, 1);
        put16le(&t, 0x0112);
        put16le(&t, 3);
        put32le(&t, 1);
        put16le(&t, (unsigned)o);
        put16le(&t, 0);
        put32le(&t, 0);
    }
    bytes b = {0};
    put(&b, jpg->p, 2);
    put8(&b, 0xFF);
    put8(&b, 0xE1);
    put16be(&b, (unsigned)(2 + 6 + t.n));
    put(&b, "Exif\0\0", 6);
    put(&b, t.p, t.n);
    put(&b, jpg->p + 2, jpg->n - 2);
    free(t.p);
    return b;
}


#if defined(HAVE_STB_WRITE)
static void test_png(void) {
    const int w = 13, h = 7;
    uint8_t *pic = make_picture(w, h, 5);
    g4_image img;
    g4_error err = {0};

    /* PNG RGB: exact */
    bytes png = png_of(pic, w, h, 3);
    T_CHECK(png.n > 8 && !strcmp(g4_image_sniff(png.p, png.n), "png"));
    T_CHECKF(g4_image_decode(png.p, png.n, &img, &err) == G4_OK, "png: %s", err.msg);
    T_CHECK(img.w == w && img.h == h && img.rgb && !memcmp(img.rgb, pic, (size_t)w * h * 3));
    g4_image_free(&img);

    /* PNG RGBA: composited on white */
    uint8_t rgba[4 * 4 * 4];
    for (int i = 0; i < 16; i++) {
        rgba[i * 4] = 200;
        rgba[i * 4 + 1] = 100;
        rgba[i * 4 + 2] = 0;
        rgba[i * 4 + 3] = (uint8_t)(i * 17); /* 0 .. 255 */
    }
    bytes pa = png_of(rgba, 4, 4, 4);
    T_CHECK(g4_image_decode(pa.p, pa.n, &img, &err) == G4_OK && img.w == 4);
    if (img.rgb) {
        T_CHECK(img.rgb[0] == 255 && img.rgb[1] == 255 && img.rgb[2] == 255); /* alpha 0 */
        T_CHECK(img.rgb[15 * 3] == 200 && img.rgb[15 * 3 + 1] == 100 && img.rgb[15 * 3 + 2] == 0);
        /* alpha 119: 200*119/255 + 255*136/255 = 93.33 + 136 -> 229 */
        T_CHECK(img.rgb[7 * 3] == 229 && img.rgb[7 * 3 + 2] == 136);
    }
    g4_image_free(&img);
    /* ... or, as HF's convert("RGB") and llama.cpp do, alpha dropped */
    T_CHECK(g4_image_decode_ex(pa.p, pa.n, G4_DECODE_DROP_ALPHA, &img, &err) == G4_OK && img.rgb &&
            img.rgb[0] == 200 && img.rgb[1] == 100 && img.rgb[2] == 0 && img.rgb[7 * 3] == 200);
    g4_image_free(&img);
    free(pa.p);

    /* grey PNG */
    uint8_t grey[6] = {0, 50, 100, 150, 200, 250};
    bytes pg = png_of(grey, 3, 2, 1);
    T_CHECK(g4_image_decode(pg.p, pg.n, &img, &err) == G4_OK && img.w == 3 && img.h == 2 &&
            img.rgb[4 * 3] == 200 && img.rgb[4 * 3 + 1] == 200 && img.rgb[4 * 3 + 2] == 200);
    g4_image_free(&img);
    free(pg.p);

    /* PNG with an eXIf chunk (orientation 6) inserted after IHDR */
    {
        bytes p6 = {0};
        put(&p6, png.p, 33); /* signature + IHDR chunk */
        static const uint8_t tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0,
                                       1,   0,   0,  0, 6, 0, 0, 0, 0, 0, 0,    0};
        put32be(&p6, sizeof tiff);
        put(&p6, "eXIf", 4);
        put(&p6, tiff, sizeof tiff);
        put32be(&p6, 0); /* CRC (stb does not check it) */
        put(&p6, png.p + 33, png.n - 33);
        g4_error e = {0};
        T_CHECKF(g4_image_decode(p6.p, p6.n, &img, &e) == G4_OK, "png exif: %s", e.msg);
        T_CHECK(img.w == h && img.h == w);
        /* rotated 90 CW: upright (x, y) = source (y, h-1-x) */
        if (img.rgb) T_CHECK(!memcmp(img.rgb + (0 * img.w + 0) * 3, pic + ((size_t)(h - 1) * w) * 3, 3));
        g4_image_free(&img);
        free(p6.p);
    }

    /* truncated PNG at every length: a clean error, except when only (part of) the IEND
     * chunk is missing (stb stops at IEND's header and never reads its CRC) */
    size_t refused = 0, clean = 0;
    for (size_t n = 0; n < png.n; n++) {
        g4_error e = {0};
        g4_status st = g4_image_decode(png.p, n, &img, &e);
        clean += st == G4_OK ? img.rgb != NULL : (img.rgb == NULL && e.msg[0] != 0);
        if (n < png.n - 12) refused += st != G4_OK;
        g4_image_free(&img);
    }
    T_CHECKF(clean == png.n && refused == png.n - 12, "truncated png: %zu clean, %zu of %zu refused",
             clean, refused, png.n - 12);

    /* PNG IHDR with 0 x 7, 100000 x 1, 30000 x 30000 */
    static const uint32_t dims[][2] = {{0, 7}, {100000, 1}, {30000, 30000}, {1, 0}};
    for (int k = 0; k < 4; k++) {
        bytes b = {0};
        put(&b, png.p, png.n);
        for (int i = 0; i < 4; i++) {
            b.p[16 + i] = (uint8_t)(dims[k][0] >> (24 - 8 * i));
            b.p[20 + i] = (uint8_t)(dims[k][1] >> (24 - 8 * i));
        }
        g4_error e = {0};
        g4_status st = g4_image_decode(b.p, b.n, &img, &e);
        T_CHECKF(st != G4_OK && !img.rgb && e.msg[0], "png %ux%u accepted", dims[k][0], dims[k][1]);
        if (k == 1 || k == 2) T_CHECKF(st == G4_ERR_UNSUPPORTED && strstr(e.msg, "too large"),
                                       "png %ux%u: %s", dims[k][0], dims[k][1], e.msg);
        free(b.p);
    }

    /* random bit flips: must never crash (ASan/UBSan) */
    flip_test(&png, 300);
    free(png.p);
    free(pic);
}
#endif

static void test_jpeg(void) {
    g4_image img;
    g4_error err = {0};
    /* JPEG: flat 8x8 blocks, decoded within YCbCr rounding of the source */
    const int jw = 32, jh = 16;
    uint8_t *jp = malloc((size_t)jw * jh * 3), blk[2][4][3];
    for (int by = 0; by < 2; by++)
        for (int bx = 0; bx < 4; bx++)
            for (int c = 0; c < 3; c++) blk[by][bx][c] = (uint8_t)(40 + 50 * bx + 30 * by + 60 * c);
    static const uint8_t blue[3] = {10, 10, 250}, green[3] = {10, 250, 10};
    memcpy(blk[1][0], blue, 3);  /* stored bottom-left */
    memcpy(blk[0][3], green, 3); /* stored top-right */
    for (int y = 0; y < jh; y++)
        for (int x = 0; x < jw; x++) memcpy(jp + ((size_t)y * jw + x) * 3, blk[y / 8][x / 8], 3);
    bytes jpg = jpeg_blocks(&blk[0][0][0], jw, jh);
    T_CHECK(!strcmp(g4_image_sniff(jpg.p, jpg.n), "jpeg"));
    g4_image base;
    T_CHECKF(g4_image_decode(jpg.p, jpg.n, &base, &err) == G4_OK, "jpeg: %s", err.msg);
    if (base.rgb) {
        T_CHECK(base.w == jw && base.h == jh);
        int worst = 0;
        for (size_t i = 0; i < (size_t)jw * jh * 3; i++)
            if (abs(base.rgb[i] - jp[i]) > worst) worst = abs(base.rgb[i] - jp[i]);
        T_CHECKF(worst <= 3, "jpeg: worst error %d", worst);
        /* EXIF orientations 1..8 (little and big endian TIFF) */
        for (int o = 1; o <= 8; o++) {
            bytes ex = with_exif(&jpg, o, o % 2 == 0);
            g4_error e = {0};
            g4_status st = g4_image_decode(ex.p, ex.n, &img, &e);
            T_CHECKF(st == G4_OK, "exif %d: %s", o, e.msg);
            if (st == G4_OK) {
                bool swap = o >= 5;
                T_CHECK(img.w == (swap ? jh : jw) && img.h == (swap ? jw : jh));
                size_t bad = 0;
                for (int y = 0; y < img.h; y++)
                    for (int x = 0; x < img.w; x++) {
                        int sx, sy, W = jw, H = jh;
                        switch (o) {
                        case 1: sx = x; sy = y; break;
                        case 2: sx = W - 1 - x; sy = y; break;
                        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
                        case 4: sx = x; sy = H - 1 - y; break;
                        case 5: sx = y; sy = x; break;
                        case 6: sx = y; sy = H - 1 - x; break;
                        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
                        default: sx = W - 1 - y; sy = x; break;
                        }
                        bad += memcmp(img.rgb + ((size_t)y * img.w + x) * 3,
                                      base.rgb + ((size_t)sy * W + sx) * 3, 3) != 0;
                    }
                T_CHECKF(bad == 0, "exif %d: %zu pixels misplaced", o, bad);
            }
            g4_image raw;
            T_CHECK(g4_image_decode_ex(ex.p, ex.n, G4_DECODE_IGNORE_EXIF, &raw, &e) == G4_OK &&
                    raw.w == jw && raw.h == jh && !memcmp(raw.rgb, base.rgb, (size_t)jw * jh * 3));
            g4_image_free(&raw);
            /* orientation 6 means "rotate 90 CW to view": the top-left of the upright
             * image is the stored bottom-left quadrant (blue) */
            if (o == 6 && img.rgb) T_CHECK(img.rgb[2] > 200 && img.rgb[0] < 60);
            if (o == 8 && img.rgb) T_CHECK(img.rgb[1] > 200 && img.rgb[2] < 60); /* top-right: green */
            g4_image_free(&img);
            /* hostile EXIF: truncate the segment's TIFF data, bad offsets, huge counts */
            for (int k = 0; k < 24; k++) {
                bytes bad = {0};
                put(&bad, ex.p, ex.n);
                if (k < 12) bad.p[12 + k % 8] ^= 0xFF;      /* header / IFD offset */
                else bad.p[20 + (k % 10)] = (uint8_t)rnd(); /* entry count/fields */
                g4_error e2 = {0};
                T_CHECK(g4_image_decode(bad.p, bad.n, &img, &e2) == G4_OK || e2.msg[0]);
                g4_image_free(&img);
                free(bad.p);
            }
            free(ex.p);
        }
        g4_image_free(&base);
    }
    /* truncated JPEGs: no crash; a clean error or (stb pads missing scan data) an image */
    for (size_t n = 0; n < jpg.n; n += 3) {
        g4_error e = {0};
        g4_status st = g4_image_decode(jpg.p, n, &img, &e);
        T_CHECK(st == G4_OK ? img.rgb != NULL : (img.rgb == NULL && e.msg[0] != 0));
        g4_image_free(&img);
    }
    /* JPEG SOF declaring 30000 x 30000 */
    {
        bytes b = {0};
        put(&b, jpg.p, jpg.n);
        for (size_t i = 2; i + 9 < b.n; i++)
            if (b.p[i] == 0xFF && b.p[i + 1] == 0xC0) {
                b.p[i + 5] = 0x75;
                b.p[i + 6] = 0x30;
                b.p[i + 7] = 0x75;
                b.p[i + 8] = 0x30;
                break;
            }
        g4_error e = {0};
        T_CHECK(g4_image_decode(b.p, b.n, &img, &e) == G4_ERR_UNSUPPORTED && !img.rgb &&
                strstr(e.msg, "too large"));
        free(b.p);
    }

    flip_test(&jpg, 300);
    /* a partial-block size (13 x 7) */
    {
        uint8_t two[6] = {200, 20, 20, 90, 160, 30}; /* 2 x 1 blocks */
        bytes small = jpeg_blocks(two, 13, 7);
        T_CHECK(g4_image_decode(small.p, small.n, &img, &err) == G4_OK && img.w == 13 && img.h == 7 &&
                abs(img.rgb[(6 * 13 + 12) * 3 + 1] - 160) <= 3);
        g4_image_free(&img);
        free(small.p);
    }
    free(jp);
    free(jpg.p);
}

#if defined(G4_HAVE_WEBP)
static void test_webp(void) {
    const int w = 11, h = 6;
    uint8_t *pic = make_picture(w, h, 9);
    uint8_t *out = NULL;
    size_t n = WebPEncodeLosslessRGB(pic, w, h, w * 3, &out);
    T_CHECK(n > 12);
    g4_image img;
    g4_error err = {0};
    T_CHECK(!strcmp(g4_image_sniff(out, n), "webp"));
    T_CHECKF(g4_image_decode(out, n, &img, &err) == G4_OK, "webp: %s", err.msg);
    T_CHECK(img.w == w && img.h == h && img.rgb && !memcmp(img.rgb, pic, (size_t)w * h * 3));
    g4_image_free(&img);
    size_t refused = 0;
    for (size_t k = 0; k < n; k++) {
        g4_error e = {0};
        refused += g4_image_decode(out, k, &img, &e) != G4_OK && e.msg[0] && !img.rgb;
        g4_image_free(&img);
    }
    T_CHECKF(refused == n, "truncated webp: %zu of %zu refused", refused, n);
    bytes wb = {out, n, n};
    flip_test(&wb, 200);
    WebPFree(out);
    free(pic);
}
#endif

static void test_garbage(void) {
    g4_image img;
    g4_error err = {0};
    T_CHECK(g4_image_decode(NULL, 10, &img, &err) == G4_ERR_FORMAT && img.rgb == NULL);
    T_CHECK(g4_image_decode("x", 0, &img, NULL) == G4_ERR_FORMAT);
    T_CHECK(g4_image_decode("x", 1, NULL, NULL) == G4_ERR_ARG);
    err.code = G4_OK;
    T_CHECK(g4_image_decode("hello world, not an image", 25, &img, &err) == G4_ERR_UNSUPPORTED &&
            strstr(err.msg, "unknown format"));
    T_CHECK(g4_image_sniff("GIF8", 4) == NULL);
    /* random bytes behind each signature */
    static const char *sigs[] = {"\x89PNG\r\n\x1a\n", "\xFF\xD8\xFF", "BM", "GIF89a", "RIFF\x10\0\0\0WEBP"};
    static const size_t sig_len[] = {8, 3, 2, 6, 12};
    uint8_t buf[600];
    for (int s = 0; s < 5; s++)
        for (int it = 0; it < 200; it++) {
            size_t n = sig_len[s] + rnd() % (sizeof buf - sig_len[s]);
            for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
            memcpy(buf, sigs[s], sig_len[s]);
            g4_error e = {0};
            g4_status st = g4_image_decode(buf, n, &img, &e);
            T_CHECK(st == G4_OK ? img.rgb != NULL : img.rgb == NULL && e.msg[0]);
            g4_image_free(&img);
        }
    /* files */
    err.code = G4_OK;
    T_CHECK(g4_image_load(DATA "/media/no-such-file.png", &img, &err) == G4_ERR_IO &&
            strstr(err.msg, "no-such-file"));
    err.code = G4_OK;
    T_CHECK(g4_image_load(DATA "/media", &img, &err) != G4_OK && img.rgb == NULL);
    err.code = G4_OK;
    T_CHECK(g4_image_load(DATA "/golden/prompts.txt", &img, &err) == G4_ERR_UNSUPPORTED &&
            strstr(err.msg, "prompts.txt"));
    g4_image_free(NULL);
}

/* ==== timing (reported, not asserted) ==== */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void report_timing(void) {
    const int w = 896, h = 896;
    uint8_t *pic = make_picture(w, h, 17);
    g4_image_params p = g4_image_params_default();
    for (int m = 0; m < 2; m++) {
        g4_image_mode mode = m ? G4_IMAGE_MODE_LLAMACPP : G4_IMAGE_MODE_HF;
        double best = 1e30;
        g4_image_plan pl = {0};
        for (int r = 0; r < 3; r++) {
            double t0 = now_ms();
            float *x = NULL;
            T_CHECK(g4_image_preprocess(&p, mode, pic, w, h, &pl, &x, NULL) == G4_OK);
            float *v = malloc((size_t)pl.n_tokens * 3 * pl.side * pl.side * sizeof *v);
            if (x && v) g4_image_patchify(&pl, x, G4_PATCH_CHW, v);
            double t = now_ms() - t0;
            if (t < best) best = t;
            free(v);
            free(x);
        }
        fprintf(stderr, "preprocess+patchify 896x896 %s: %dx%d canvas, %d tokens, %.2f ms\n",
                g4_image_mode_name(mode), pl.width, pl.height, pl.n_tokens, best);
    }
    free(pic);
}

int main(void) {
    test_params_and_args();
    test_llamacpp_goldens();
    test_hf_grid();
    test_llamacpp_grid();
    test_hf_pixels();
    test_bicubic_vs_pil();
    test_bmp_gif();
#if defined(HAVE_STB_WRITE)
    test_png();
#else
    fprintf(stderr, "stb_image_write.h not found: PNG writer tests skipped\n");
#endif
    test_jpeg();
#if defined(G4_HAVE_WEBP)
    test_webp();
#endif
    test_garbage();
    report_timing();
    return T_DONE();
}
