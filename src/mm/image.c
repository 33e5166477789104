/* image.c — image preprocessing for the 12B projector (gemma4uv): token-grid planning in
 * both modes (HF budget resize, llama.cpp letterbox), the two resamplers, normalisation
 * into the [3, H, W] projector input, and patchify into merged-patch vectors.
 * Decoding is src/mmio/image_io.c; the projection is helper code in src/mm/. See
 * docs/IMAGES.md for the exact steps. */
#include "mm/image.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* Input sides beyond this are refused before any arithmetic (the decoder's own limit is
 * 32768); it keeps every product below in range. */
#define MAX_SRC_SIDE (1 << 20)
#define MAX_SRC_PIXELS ((int64_t)1 << 30)
/* The canvas, whatever n_pos says: 64 Mpx. */
#define MAX_CANVAS_PIXELS ((int64_t)1 << 26)
#define MAX_MERGED_SIDE 1024
#define MAX_TOKENS_PARAM 65536

/* ==== modes and parameters ==== */

bool g4_image_mode_parse(const char *s, g4_image_mode *out) {
    if (!s) return false;
    if (!strcmp(s, "hf")) {
        *out = G4_IMAGE_MODE_HF;
        return true;
    }
    if (!strcmp(s, "llamacpp") || !strcmp(s, "llama.cpp")) {
        *out = G4_IMAGE_MODE_LLAMACPP;
        return true;
    }
    return false;
}

const char *g4_image_mode_name(g4_image_mode m) {
    return m == G4_IMAGE_MODE_LLAMACPP ? "llamacpp" : "hf";
}

g4_image_params g4_image_params_default(void) {
    g4_image_params p = {
        .patch_size = 16,
        .merge = 3,
        .mean = {0.0f, 0.0f, 0.0f},
        .std = {1.0f, 1.0f, 1.0f},
        .n_pos = 1120,
        .token_budget = 280,
        .min_tokens = 40,
        .max_tokens = 280,
    };
    return p;
}

g4_status g4_image_params_check(const g4_image_params *p, g4_error *err) {
    if (!p) return g4_fail(err, G4_ERR_ARG, "image: no parameters");
    if (p->patch_size < 1 || p->patch_size > MAX_MERGED_SIDE)
        return g4_fail(err, G4_ERR_ARG, "image: patch size %d out of range [1, %d]", p->patch_size,
                       MAX_MERGED_SIDE);
    if (p->merge < 1 || p->merge > MAX_MERGED_SIDE)
        return g4_fail(err, G4_ERR_ARG, "image: merge factor %d out of range [1, %d]", p->merge,
                       MAX_MERGED_SIDE);
    if (p->patch_size * p->merge > MAX_MERGED_SIDE)
        return g4_fail(err, G4_ERR_ARG, "image: merged patch %d x %d px is larger than %d px",
                       p->patch_size, p->merge, MAX_MERGED_SIDE);
    if (p->n_pos < 0) return g4_fail(err, G4_ERR_ARG, "image: negative position table size");
    if (p->token_budget < 1 || p->token_budget > MAX_TOKENS_PARAM)
        return g4_fail(err, G4_ERR_ARG, "image: token budget %d out of range [1, %d]",
                       p->token_budget, MAX_TOKENS_PARAM);
    if (p->min_tokens < 1 || p->max_tokens > MAX_TOKENS_PARAM || p->min_tokens > p->max_tokens)
        return g4_fail(err, G4_ERR_ARG, "image: token range [%d, %d] invalid", p->min_tokens,
                       p->max_tokens);
    for (int c = 0; c < 3; c++) {
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || p->std[c] == 0.0f)
            return g4_fail(err, G4_ERR_ARG, "image: mean/std of channel %d invalid (%g, %g)", c,
                           (double)p->mean[c], (double)p->std[c]);
    }
    return G4_OK;
}

/* ==== planning: where the image goes and how many tokens it becomes ==== */

/* llama.cpp mtmd (fixtures README, encoder steps V1-V2, computed in float32 as mtmd does):
 * sides rounded to multiples of the merged patch c; if the token count leaves
 * [min, max] the image is rescaled by b so that it fits; then the image is scaled by
 * min(W1/w, H1/h), rounded up, and centred on the W1 x H1 canvas. */
static void plan_llamacpp(const g4_image_params *p, int w, int h, g4_image_plan *pl) {
    const int c = pl->side;
    const float fc = (float)c;
    const int64_t max_px = (int64_t)p->max_tokens * c * c, min_px = (int64_t)p->min_tokens * c * c;
    const float fw = (float)w, fh = (float)h, area = (float)((int64_t)w * h);
    int64_t W1 = (int64_t)roundf(fw / fc) * c, H1 = (int64_t)roundf(fh / fc) * c;
    if (W1 < c) W1 = c;
    if (H1 < c) H1 = c;
    if (W1 * H1 > max_px) {
        float b = sqrtf(area / (float)max_px);
        W1 = (int64_t)floorf(fw / b / fc) * c;
        H1 = (int64_t)floorf(fh / b / fc) * c;
        if (W1 < c) W1 = c;
        if (H1 < c) H1 = c;
    } else if (W1 * H1 < min_px) {
        float b = sqrtf((float)min_px / area);
        W1 = (int64_t)ceilf(fw * b / fc) * c;
        H1 = (int64_t)ceilf(fh * b / fc) * c;
    }
    pl->width = (int)W1;
    pl->height = (int)H1;
    if (W1 == w && H1 == h) {
        pl->content_x = pl->content_y = 0;
        pl->content_w = w;
        pl->content_h = h;
        return;
    }
    float s = fminf((float)W1 / fw, (float)H1 / fh);
    int64_t w2 = (int64_t)ceilf(fw * s), h2 = (int64_t)ceilf(fh * s);
    if (w2 > W1) w2 = W1;
    if (h2 > H1) h2 = H1;
    if (w2 < 1) w2 = 1;
    if (h2 < 1) h2 = 1;
    pl->content_w = (int)w2;
    pl->content_h = (int)h2;
    pl->content_x = (int)((W1 - w2) / 2);
    pl->content_y = (int)((H1 - h2) / 2);
}

/* Hugging Face Gemma4(Unified)ImageProcessor.get_aspect_ratio_preserving_size, in double
 * exactly as Python evaluates it (int / int true division is correctly rounded, as is
 * IEEE division of the same exactly-representable values). */
static g4_status plan_hf(const g4_image_params *p, int w, int h, g4_image_plan *pl, g4_error *err) {
    const int64_t side = pl->side;
    const int64_t max_patches = (int64_t)p->token_budget * p->merge * p->merge;
    const int64_t target_px = max_patches * p->patch_size * p->patch_size;
    const int64_t total_px = (int64_t)w * h;
    double factor = sqrt((double)target_px / (double)total_px);
    double ideal_h = factor * (double)h, ideal_w = factor * (double)w;
    int64_t th = (int64_t)floor(ideal_h / (double)side) * side;
    int64_t tw = (int64_t)floor(ideal_w / (double)side) * side;
    if (th == 0 && tw == 0)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "image %dx%d: resizes to 0x0 with budget %d", w, h,
                       p->token_budget);
    const int64_t max_side = (max_patches / ((int64_t)p->merge * p->merge)) * side;
    if (th == 0) {
        th = side;
        tw = (int64_t)floor((double)w / (double)h) * side;
        if (tw > max_side) tw = max_side;
    } else if (tw == 0) {
        tw = side;
        th = (int64_t)floor((double)h / (double)w) * side;
        if (th > max_side) th = max_side;
    }
    if (th * tw > target_px)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "image %dx%d: resize to %lldx%lld exceeds the budget",
                       w, h, (long long)tw, (long long)th);
    pl->width = (int)tw;
    pl->height = (int)th;
    pl->content_x = pl->content_y = 0;
    pl->content_w = pl->width;
    pl->content_h = pl->height;
    return G4_OK;
}

g4_status g4_image_plan_make(const g4_image_params *p, g4_image_mode mode, int src_w, int src_h,
                             g4_image_plan *out, g4_error *err) {
    g4_status st = g4_image_params_check(p, err);
    if (st != G4_OK) return st;
    if (!out) return g4_fail(err, G4_ERR_ARG, "image: no plan output");
    memset(out, 0, sizeof *out);
    if (mode != G4_IMAGE_MODE_HF && mode != G4_IMAGE_MODE_LLAMACPP)
        return g4_fail(err, G4_ERR_ARG, "image: unknown mode %d", (int)mode);
    if (src_w < 1 || src_h < 1)
        return g4_fail(err, G4_ERR_ARG, "image: empty image (%dx%d)", src_w, src_h);
    if (src_w > MAX_SRC_SIDE || src_h > MAX_SRC_SIDE || (int64_t)src_w * src_h > MAX_SRC_PIXELS)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "image: %dx%d is too large", src_w, src_h);
    out->mode = mode;
    out->src_w = src_w;
    out->src_h = src_h;
    out->side = p->patch_size * p->merge;
    if (mode == G4_IMAGE_MODE_HF) {
        st = plan_hf(p, src_w, src_h, out, err);
        if (st != G4_OK) return st;
    } else {
        plan_llamacpp(p, src_w, src_h, out);
    }
    if ((int64_t)out->width * out->height > MAX_CANVAS_PIXELS)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "image %dx%d: %s canvas %dx%d is too large", src_w,
                       src_h, g4_image_mode_name(mode), out->width, out->height);
    out->n_x = out->width / out->side;
    out->n_y = out->height / out->side;
    out->n_tokens = out->n_x * out->n_y;
    if (p->n_pos > 0 && (out->n_x > p->n_pos || out->n_y > p->n_pos))
        return g4_fail(err, G4_ERR_UNSUPPORTED,
                       "image %dx%d: %s mode gives a %dx%d token grid, the projector has %d "
                       "positions per side (aspect ratio too extreme%s)",
                       src_w, src_h, g4_image_mode_name(mode), out->n_x, out->n_y, p->n_pos,
                       mode == G4_IMAGE_MODE_LLAMACPP ? "; try the hf mode" : "");
    return G4_OK;
}

/* ==== resamplers ==== */

static inline float lerpf(float a, float b, float t) { return a + (b - a) * t; }

void g4_image_resize_bilinear(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    const float xr = dw > 1 ? (float)(sw - 1) / (float)(dw - 1) : 0.0f;
    const float yr = dh > 1 ? (float)(sh - 1) / (float)(dh - 1) : 0.0f;
    for (int y = 0; y < dh; y++) {
        float py = (float)y * yr;
        int y0 = (int)py;
        if (y0 > sh - 1) y0 = sh - 1;
        float fy = py - (float)y0;
        int y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        const uint8_t *r0 = src + (size_t)y0 * sw * 3, *r1 = src + (size_t)y1 * sw * 3;
        uint8_t *o = dst + (size_t)y * dw * 3;
        for (int x = 0; x < dw; x++) {
            float px = (float)x * xr;
            int x0 = (int)px;
            if (x0 > sw - 1) x0 = sw - 1;
            float fx = px - (float)x0;
            int x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            for (int c = 0; c < 3; c++) {
                float top = lerpf(r0[x0 * 3 + c], r0[x1 * 3 + c], fx);
                float bot = lerpf(r1[x0 * 3 + c], r1[x1 * 3 + c], fx);
                float v = lerpf(top, bot, fy);
                o[x * 3 + c] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
            }
        }
    }
}

/* Keys' cubic convolution kernel with a = -0.5 (PIL's and torch's antialiased bicubic). */
static double cubic(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

typedef struct {
    int n_out, kmax;
    int *first, *count; /* [n_out] */
    int32_t *k;         /* [n_out, kmax], normalised weights in fixed point (PREC bits) */
} taps;

/* PIL's 8-bit resampler: weights are rounded to 22-bit fixed point and each output value
 * is (sum + 2^21) >> 22, clamped to [0, 255]. */
#define PREC 22

static void taps_free(taps *t) {
    free(t->first);
    free(t->count);
    free(t->k);
}

/* Output sample i covers source centre (i + 0.5) * scale; when downscaling, the kernel is
 * stretched by the scale (support 2 * scale), which is the antialiasing. */
static bool taps_make(int n_in, int n_out, taps *t) {
    memset(t, 0, sizeof *t);
    const double scale = (double)n_in / (double)n_out;
    const double fs = scale < 1.0 ? 1.0 : scale, support = 2.0 * fs, ss = 1.0 / fs;
    t->n_out = n_out;
    t->kmax = (int)ceil(support) * 2 + 1;
    t->first = malloc((size_t)n_out * sizeof *t->first);
    t->count = malloc((size_t)n_out * sizeof *t->count);
    t->k = malloc((size_t)n_out * (size_t)t->kmax * sizeof *t->k);
    double *w = malloc((size_t)t->kmax * sizeof *w);
    if (!t->first || !t->count || !t->k || !w) {
        free(w);
        taps_free(t);
        return false;
    }
    for (int i = 0; i < n_out; i++) {
        double center = ((double)i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        int n = hi - lo;
        if (n > t->kmax) n = t->kmax;
        if (n < 0) n = 0;
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            w[j] = cubic(((double)(j + lo) - center + 0.5) * ss);
            sum += w[j];
        }
        int32_t *k = t->k + (size_t)i * t->kmax;
        for (int j = 0; j < n; j++) {
            double v = sum != 0.0 ? w[j] / sum : w[j];
            v *= (double)(1 << PREC);
            k[j] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
        }
        t->first[i] = lo;
        t->count[i] = n;
    }
    free(w);
    return true;
}

static inline uint8_t clip8(int64_t v) {
    if (v <= 0) return 0;
    if (v >= (int64_t)255 << PREC) return 255;
    return (uint8_t)(v >> PREC);
}

g4_status g4_image_resize_bicubic(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                                  g4_error *err) {
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1)
        return g4_fail(err, G4_ERR_ARG, "resize: empty size %dx%d -> %dx%d", sw, sh, dw, dh);
    const int64_t half = (int64_t)1 << (PREC - 1);
    const uint8_t *mid = src; /* [sh][dw][3] after the horizontal pass */
    uint8_t *tmp = NULL;
    taps tx = {0}, ty = {0};
    g4_status st = G4_OK;
    if (dw != sw) {
        tmp = malloc((size_t)sh * dw * 3);
        if (!tmp || !taps_make(sw, dw, &tx)) {
            st = g4_fail(err, G4_ERR_NOMEM, "resize: out of memory");
            goto done;
        }
        for (int y = 0; y < sh; y++) {
            const uint8_t *row = src + (size_t)y * sw * 3;
            uint8_t *o = tmp + (size_t)y * dw * 3;
            for (int x = 0; x < dw; x++) {
                const int32_t *k = tx.k + (size_t)x * tx.kmax;
                const uint8_t *s = row + (size_t)tx.first[x] * 3;
                int64_t r = half, g = half, b = half;
                for (int j = 0; j < tx.count[x]; j++) {
                    r += (int64_t)k[j] * s[j * 3];
                    g += (int64_t)k[j] * s[j * 3 + 1];
                    b += (int64_t)k[j] * s[j * 3 + 2];
                }
                o[x * 3] = clip8(r);
                o[x * 3 + 1] = clip8(g);
                o[x * 3 + 2] = clip8(b);
            }
        }
        mid = tmp;
    }
    if (dh == sh) {
        memcpy(dst, mid, (size_t)dh * dw * 3);
        goto done;
    }
    if (!taps_make(sh, dh, &ty)) {
        st = g4_fail(err, G4_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    const size_t stride = (size_t)dw * 3;
    for (int y = 0; y < dh; y++) {
        const int32_t *k = ty.k + (size_t)y * ty.kmax;
        const uint8_t *s = mid + (size_t)ty.first[y] * stride;
        uint8_t *o = dst + (size_t)y * stride;
        for (size_t i = 0; i < stride; i++) {
            int64_t v = half;
            for (int j = 0; j < ty.count[y]; j++) v += (int64_t)k[j] * s[(size_t)j * stride + i];
            o[i] = clip8(v);
        }
    }
done:
    taps_free(&tx);
    taps_free(&ty);
    free(tmp);
    return st;
}

/* ==== the projector input ==== */

g4_status g4_image_preprocess(const g4_image_params *p, g4_image_mode mode, const uint8_t *rgb,
                              int src_w, int src_h, g4_image_plan *plan_out, float **out,
                              g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "image: no output");
    *out = NULL;
    if (!rgb) return g4_fail(err, G4_ERR_ARG, "image: no pixels");
    g4_image_plan pl;
    g4_status st = g4_image_plan_make(p, mode, src_w, src_h, &pl, err);
    if (st != G4_OK) return st;
    const size_t W = (size_t)pl.width, H = (size_t)pl.height, plane = W * H;
    uint8_t *canvas = calloc(plane, 3), *tmp = NULL;
    float *f = malloc(plane * 3 * sizeof *f);
    if (!canvas || !f) {
        st = g4_fail(err, G4_ERR_NOMEM, "image: out of memory for a %zux%zu canvas", W, H);
        goto done;
    }
    if (pl.content_w == src_w && pl.content_h == src_h) {
        for (int y = 0; y < src_h; y++)
            memcpy(canvas + ((size_t)(pl.content_y + y) * W + (size_t)pl.content_x) * 3,
                   rgb + (size_t)y * src_w * 3, (size_t)src_w * 3);
    } else if (mode == G4_IMAGE_MODE_HF) {
        st = g4_image_resize_bicubic(rgb, src_w, src_h, canvas, pl.width, pl.height, err);
        if (st != G4_OK) goto done;
    } else {
        tmp = malloc((size_t)pl.content_w * pl.content_h * 3);
        if (!tmp) {
            st = g4_fail(err, G4_ERR_NOMEM, "image: out of memory");
            goto done;
        }
        g4_image_resize_bilinear(rgb, src_w, src_h, tmp, pl.content_w, pl.content_h);
        for (int y = 0; y < pl.content_h; y++)
            memcpy(canvas + ((size_t)(pl.content_y + y) * W + (size_t)pl.content_x) * 3,
                   tmp + (size_t)y * pl.content_w * 3, (size_t)pl.content_w * 3);
    }
    for (int c = 0; c < 3; c++) {
        const float mean = p->mean[c], std = p->std[c];
        float *o = f + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++) o[i] = ((float)canvas[i * 3 + c] / 255.0f - mean) / std;
    }
    *out = f;
    f = NULL;
    if (plan_out) *plan_out = pl;
done:
    free(f);
    free(tmp);
    free(canvas);
    return st;
}

void g4_image_patchify(const g4_image_plan *pl, const float *chw, g4_patch_order order, float *out) {
    const size_t S = (size_t)pl->side, W = (size_t)pl->width, plane = W * (size_t)pl->height;
    const size_t dim = 3 * S * S;
    for (int by = 0; by < pl->n_y; by++) {
        for (int bx = 0; bx < pl->n_x; bx++) {
            float *v = out + ((size_t)by * pl->n_x + bx) * dim;
            for (size_t ch = 0; ch < 3; ch++) {
                for (size_t r = 0; r < S; r++) {
                    const float *s = chw + ch * plane + ((size_t)by * S + r) * W + (size_t)bx * S;
                    if (order == G4_PATCH_CHW) {
                        memcpy(v + ch * S * S + r * S, s, S * sizeof *s);
                    } else {
                        for (size_t c = 0; c < S; c++) v[(r * S + c) * 3 + ch] = s[c];
                    }
                }
            }
        }
    }
}
