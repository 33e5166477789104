/* mkgguf — writes a random-weight Gemma 4 GGUF with the real tensor shapes and keys of
 * E2B, E4B or 12B (or a tiny 5-layer model), for load / memory / speed tests; and
 * speculative-decoding benchmark pairs (a target and MTP drafters with a chosen rate of
 * agreement) with the real shapes.
 *
 *   mkgguf --shape e2b|e4b|12b|tiny --type TYPE [--embd-type TYPE] [--seed N] [--spec-target] -o FILE
 *   mkgguf --shape 12b-assistant|tiny-assistant --type TYPE [--embd-type TYPE] [--seed N]
 *          --target TARGET.gguf --agree A -o FILE
 *
 * Matrices use --type (token_embd and per_layer_token_embd use --embd-type, default the
 * same), per_layer_model_proj stays F16, norms / rope_freqs / layer_output_scale are F32.
 * Values are sane (no NaN/Inf): weights ~ N(0, 1/sqrt(n_in)), quantized blocks get a
 * small random fp16 scale and random quant bytes, norms ~ 1 +- 0.05. Data is produced by
 * a xorshift generator in chunks through the writer's fill callback, never held whole.
 *
 * --spec-target: the same model, but every layer adds nothing to the residual stream
 * (post_attention_norm, post_ffw_norm and, for E shapes, the per-layer-embedding
 * post_norm are 0; layer_output_scale and output_norm are 1), so the final hidden state
 * is the normalised token embedding e_s / rms(e_s) whatever the context, at the full
 * compute cost. The file gets an untied output.weight (type of token_embd) whose row
 * sigma(s) is a byte copy of token_embd row s, where sigma is a random single cycle over
 * the ids [256, V) (minus tokenizer.ggml.suppress_tokens) and the identity elsewhere:
 * the logit of sigma(s) after token s is |e_s|^2 / rms(e_s), every other one a dot
 * product of two independent random rows, so greedy decoding from a token >= 256 walks
 * the cycle and never emits a control / end-of-generation token (the soft-cap is
 * monotonic). sigma is not stored: it is the row permutation between the two tensors.
 *
 * --shape *-assistant: a gemma4-assistant drafter for TARGET (a --spec-target file;
 * head dims, RoPE, window and epsilon are read from it). nextn.pre_projection is the
 * identity on the first D coordinates of the embedding half (the hidden-state half and
 * the other coordinates get weight 0): x = e_tok[0:D] * sqrt(H_t). Every drafter layer
 * adds nothing (post norms 0, layer_output_scale 1; its other weights are random, so
 * the cost is real), output_norm is 1, and the LM head row tau(s) is the first D
 * coordinates of the target's embedding row s (a byte copy of the row prefix when the
 * types match, else dequantized and requantized), so the drafter's greedy draft after s
 * is tau(s). tau is a permutation: recovered sigma on a random fraction A of the cycle's
 * ids (chosen with --seed), on the others B a cyclic shift of sigma over B (tau(b_i) =
 * sigma(b_(i+1)) in a random order of B, never sigma(b_i)); identity on the fixed ids.
 * Every draft is thus accepted by a greedy target exactly when it is made from a token
 * of the agreeing set: per-token acceptance ~ A. The achieved fraction is printed.
 * Drafter types: f32 f16 bf16 q8_0 q4_0 (the identity and the requantized head are
 * quantized here); the head may use any type when it equals the target's embedding type. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fp16.h"
#include "core/types.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "kernels/kernels.h"

/* ---- model shapes (spec §11.1) ---- */

typedef struct {
    const char *name;
    int n_layer, n_embd, n_head;
    int n_kv_swa, n_kv_full;  /* KV heads on SWA / FULL layers */
    int hd_swa, hd_full;      /* head dims */
    int ff_lo, ff_hi, ff_split; /* n_ff[l] = l < ff_split ? ff_lo : ff_hi */
    int window, period;       /* FULL when l % period == period - 1, and the last layer */
    int shared_kv;            /* trailing layers without their own K/V */
    int ple;                  /* per-layer-embedding width */
    int vocab, ctx;
    int k_eq_v_full;          /* FULL layers have no attn_v */
    int ff_array, hkv_array;  /* write these keys as per-layer arrays */
} shape;

static const shape k_shapes[] = {
    {"e2b", 35, 1536, 8, 1, 1, 256, 512, 6144, 12288, 15, 512, 5, 20, 256, 262144, 131072, 0, 1, 0},
    {"e4b", 42, 2560, 8, 2, 2, 256, 512, 10240, 10240, 42, 512, 6, 18, 256, 262144, 131072, 0, 0, 0},
    {"12b", 48, 3840, 16, 8, 1, 256, 512, 15360, 15360, 48, 1024, 6, 0, 0, 262144, 262144, 1, 0, 1},
    /* like the fixture dense model: S S F S F */
    {"tiny", 5, 256, 4, 2, 1, 64, 128, 256, 256, 5, 16, 3, 0, 0, 640, 4096, 1, 1, 1},
};

/* MTP drafters (spec §8.1): width D, layers (sliding but the last, full), query heads,
 * feed-forward width; everything else comes from the target. */
typedef struct {
    const char *name;
    int D, n_layer, n_head, ff;
} ashape;

static const ashape k_ashapes[] = {
    {"12b-assistant", 1024, 4, 16, 8192},
    {"tiny-assistant", 64, 2, 4, 128}, /* for the tiny target */
};

static int is_full(const shape *s, int l) { return l == s->n_layer - 1 || l % s->period == s->period - 1; }

/* ---- random numbers ---- */

static uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t xs(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static inline float unif(uint64_t *s) { return (float)(xs(s) >> 40) * (1.0f / 16777216.0f); } /* [0,1) */

/* uniform in [0, n) */
static inline uint32_t below(uint64_t *s, uint32_t n) { return (uint32_t)(((xs(s) >> 32) * n) >> 32); }

static void shuffle(int32_t *a, int64_t n, uint64_t *s) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = below(s, (uint32_t)(i + 1));
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* ~N(0,1): sum of four 16-bit uniforms (Irwin-Hall), cheap and bounded (|x| < 3.5). */
static inline float gauss(uint64_t *s) {
    uint64_t r = xs(s);
    float sum = (float)((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48));
    return (sum - 131070.0f) * (1.0f / 37837.2f); /* sqrt(4/12) * 65536 */
}

/* ---- tensor generators ---- */

enum {
    GEN_MATRIX, GEN_NORM, GEN_ROPE, GEN_SCALE, GEN_ZERO, GEN_ONE,
    /* generated row by row (rows do not depend on the writer's chunking): */
    GEN_EMBD,     /* random row, seeded by the row id */
    GEN_OUTPUT,   /* row r = GEN_EMBD row src_row[r] (sigma^-1(r)), byte for byte */
    GEN_IDENTITY, /* row r = unit vector r */
    GEN_HEAD      /* row r = first n_in coordinates of the target's token_embd row src_row[r] */
};

typedef struct {
    int kind;
    uint32_t type;
    int64_t n_in; /* ne[0] */
    int64_t n_ones; /* GEN_ROPE: leading 1.0 entries */
} gen;

typedef struct {
    gen *g;
    int64_t n, cap;
    uint64_t seed;
    /* row generators */
    const int32_t *src_row;         /* GEN_OUTPUT: sigma^-1; GEN_HEAD: tau^-1 */
    const g4_gguf_tensor *tgt_embd; /* GEN_HEAD: the target's token_embd */
    g4_kernels k;                   /* dequantizers */
    uint8_t *row;                   /* scratch: one row of the widest row tensor */
    float *frow;                    /* scratch: frow_n floats */
    int64_t frow_n;
} genset;

/* Quantized block layouts: where the fp16 scale (and min) live, and the std of the
 * integer codes so that d * code has roughly the requested std. */
typedef struct {
    uint32_t type;
    int d_off, m_off; /* m_off < 0: no min */
    float code_std;
    float m_mult; /* min field = m_mult * d (centres the codes: negative for q4_1/q5_1,
                   * positive dmin for the K-quants, whose min is subtracted) */
} qlayout;

static const qlayout k_q[] = {
    {G4_TYPE_Q4_0, 0, -1, 4.6f, 0},        {G4_TYPE_Q4_1, 0, 2, 4.6f, -7.5f},
    {G4_TYPE_Q5_0, 0, -1, 9.2f, 0},        {G4_TYPE_Q5_1, 0, 2, 9.2f, -15.5f},
    {G4_TYPE_Q8_0, 0, -1, 73.9f, 0},       {G4_TYPE_Q4_K, 0, 2, 145.0f, 7.5f},
    {G4_TYPE_Q5_K, 0, 2, 290.0f, 15.5f},   {G4_TYPE_Q6_K, 208, -1, 1370.0f, 0},
};

static const qlayout *qlayout_of(uint32_t t) {
    for (size_t i = 0; i < sizeof k_q / sizeof k_q[0]; i++)
        if (k_q[i].type == t) return &k_q[i];
    return NULL;
}

static int type_supported(uint32_t t) {
    return t == G4_TYPE_F32 || t == G4_TYPE_F16 || t == G4_TYPE_BF16 || qlayout_of(t) != NULL;
}

static void put_fp16(uint8_t *p, float v) {
    uint16_t h = g4_f32_to_fp16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* Random matrix data of g's type: n bytes starting at a block boundary. */
static void fill_random(const gen *g, uint64_t st, void *buf, size_t n) {
    uint8_t *b = buf;
    const float std = 1.0f / sqrtf((float)g->n_in);
    switch (g->type) {
    case G4_TYPE_F32: {
        float *f = buf;
        for (size_t i = 0; i < n / 4; i++) f[i] = std * gauss(&st);
        return;
    }
    case G4_TYPE_F16:
    case G4_TYPE_BF16: {
        int bf = g->type == G4_TYPE_BF16;
        for (size_t i = 0; i < n / 2; i++) {
            float v = std * gauss(&st);
            uint16_t h = bf ? g4_f32_to_bf16(v) : g4_f32_to_fp16(v);
            b[2 * i] = (uint8_t)h;
            b[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return;
    }
    default: break;
    }
    /* quantized: random code bytes, then a small scale (and min) per block */
    const qlayout *q = qlayout_of(g->type);
    const g4_type_info *ti_ = g4_type_get(g->type);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t r = xs(&st);
        memcpy(b + i, &r, 8);
    }
    for (; i < n; i++) b[i] = (uint8_t)xs(&st);
    const size_t bs = (size_t)ti_->size;
    const float dbase = std / q->code_std;
    for (size_t o = 0; o + bs <= n; o += bs) {
        float d = dbase * (0.75f + 0.5f * unif(&st));
        put_fp16(b + o + q->d_off, d);
        if (q->m_off >= 0) put_fp16(b + o + q->m_off, q->m_mult * d);
    }
}

/* The types quant_row writes. */
static bool can_quant(uint32_t t) {
    return t == G4_TYPE_F32 || t == G4_TYPE_F16 || t == G4_TYPE_BF16 || t == G4_TYPE_Q8_0 || t == G4_TYPE_Q4_0;
}

/* One row of n floats into type t (ggml's reference rounding for Q8_0 / Q4_0; both
 * represent a unit vector exactly up to a common scale). */
static void quant_row(uint32_t t, const float *x, uint8_t *dst, int64_t n) {
    switch (t) {
    case G4_TYPE_F32: memcpy(dst, x, (size_t)n * sizeof *x); return;
    case G4_TYPE_F16:
    case G4_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = t == G4_TYPE_BF16 ? g4_f32_to_bf16(x[i]) : g4_f32_to_fp16(x[i]);
            dst[2 * i] = (uint8_t)h;
            dst[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return;
    case G4_TYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; b++, x += 32, dst += 34) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
            put_fp16(dst, d);
            for (int j = 0; j < 32; j++) dst[2 + j] = (uint8_t)(int8_t)lrintf(x[j] * id);
        }
        return;
    case G4_TYPE_Q4_0:
        for (int64_t b = 0; b < n / 32; b++, x += 32, dst += 18) {
            float amax = 0, mx = 0;
            for (int j = 0; j < 32; j++)
                if (fabsf(x[j]) > amax) amax = fabsf(x[j]), mx = x[j];
            const float d = mx / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
            put_fp16(dst, d);
            for (int j = 0; j < 16; j++) {
                int a = (int)(x[j] * id + 8.5f), c = (int)(x[j + 16] * id + 8.5f);
                a = a < 0 ? 0 : a > 15 ? 15 : a;
                c = c < 0 ? 0 : c > 15 ? 15 : c;
                dst[2 + j] = (uint8_t)(a | c << 4);
            }
        }
        return;
    default: return; /* excluded by can_quant */
    }
}

static uint64_t row_seed(const genset *gs, int64_t row) {
    uint64_t st = splitmix(gs->seed ^ splitmix(0x5eed0e3bdull ^ (uint64_t)row * 0x9e3779b97f4a7c15ull));
    return st ? st : 1;
}

/* Row r (rb bytes) of a row-generated tensor. */
static void make_row(genset *gs, const gen *g, int64_t r, uint8_t *dst, size_t rb) {
    switch (g->kind) {
    case GEN_EMBD: fill_random(g, row_seed(gs, r), dst, rb); return;
    case GEN_OUTPUT: fill_random(g, row_seed(gs, gs->src_row[r]), dst, rb); return;
    case GEN_IDENTITY:
        memset(gs->frow, 0, (size_t)g->n_in * sizeof *gs->frow);
        gs->frow[r] = 1.0f;
        quant_row(g->type, gs->frow, dst, g->n_in);
        return;
    case GEN_HEAD: {
        const g4_gguf_tensor *t = gs->tgt_embd;
        const size_t trb = g4_row_size((g4_type)t->type, t->ne[0]);
        const uint8_t *src = (const uint8_t *)t->data + (size_t)gs->src_row[r] * trb;
        if (t->type == g->type) {
            memcpy(dst, src, rb); /* the row's first n_in elements are its first rb bytes */
        } else {
            gs->k.dequant[t->type](src, gs->frow, t->ne[0]);
            quant_row(g->type, gs->frow, dst, g->n_in);
        }
        return;
    }
    default: return;
    }
}

static void fill(void *user, int64_t ti, uint64_t off, void *buf, size_t n) {
    genset *gs = user;
    const gen *g = &gs->g[ti];
    if (g->kind >= GEN_EMBD) {
        const size_t rb = g4_row_size((g4_type)g->type, g->n_in);
        uint8_t *b = buf;
        while (n) {
            const int64_t r = (int64_t)(off / rb);
            const size_t in = (size_t)(off % rb), take = rb - in < n ? rb - in : n;
            if (in == 0 && take == rb) {
                make_row(gs, g, r, b, rb);
            } else {
                make_row(gs, g, r, gs->row, rb);
                memcpy(b, gs->row + in, take);
            }
            b += take;
            off += take;
            n -= take;
        }
        return;
    }
    uint64_t st = splitmix(gs->seed ^ splitmix((uint64_t)ti * 0x100000001b3ull ^ off));
    if (!st) st = 1;
    if (g->kind != GEN_MATRIX) { /* F32 small tensors */
        float *f = buf;
        size_t cnt = n / 4;
        uint64_t e0 = off / 4;
        for (size_t i = 0; i < cnt; i++) {
            float v;
            if (g->kind == GEN_ROPE) v = (int64_t)(e0 + i) < g->n_ones ? 1.0f : 1e30f;
            else if (g->kind == GEN_SCALE) v = 0.5f + 0.5f * unif(&st);
            else if (g->kind == GEN_ZERO) v = 0.0f;
            else if (g->kind == GEN_ONE) v = 1.0f;
            else v = 1.0f + 0.1f * (unif(&st) - 0.5f);
            f[i] = v;
        }
        return;
    }
    fill_random(g, st, buf, n);
}

/* ---- model description ---- */

typedef struct {
    g4_gguf_writer *w;
    genset gs;
    uint64_t params;
    int failed;
} builder;

static void add(builder *bd, const char *name, uint32_t type, int kind, int n_dims, int64_t ne0, int64_t ne1,
                int64_t n_ones) {
    int64_t ne[2] = {ne0, ne1};
    int64_t idx = g4_gguf_w_tensor_fill(bd->w, name, type, (uint32_t)n_dims, ne, fill, &bd->gs);
    if (idx < 0) {
        bd->failed = 1;
        return;
    }
    if (idx >= bd->gs.cap) {
        int64_t cap = bd->gs.cap ? bd->gs.cap * 2 : 1024;
        gen *ng = realloc(bd->gs.g, (size_t)cap * sizeof *ng);
        if (!ng) {
            bd->failed = 1;
            return;
        }
        bd->gs.g = ng;
        bd->gs.cap = cap;
    }
    gen g = {kind, type, ne0, n_ones};
    bd->gs.g[idx] = g;
    bd->gs.n = idx + 1;
    bd->params += (uint64_t)ne0 * (uint64_t)(n_dims > 1 ? ne1 : 1);
}

static void addf(builder *bd, uint32_t type, int kind, int n_dims, int64_t ne0, int64_t ne1, const char *fmt,
                 int l) {
    char name[96];
    snprintf(name, sizeof name, fmt, l);
    add(bd, name, type, kind, n_dims, ne0, ne1, 0);
}

static int ftype_of(uint32_t t) {
    switch (t) {
    case G4_TYPE_F32: return 0;
    case G4_TYPE_F16: return 1;
    case G4_TYPE_Q4_0: return 2;
    case G4_TYPE_Q4_1: return 3;
    case G4_TYPE_Q8_0: return 7;
    case G4_TYPE_Q5_0: return 8;
    case G4_TYPE_Q5_1: return 9;
    case G4_TYPE_Q4_K: return 15;
    case G4_TYPE_Q5_K: return 17;
    case G4_TYPE_Q6_K: return 18;
    case G4_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* The 12B vocabulary's tokenizer.ggml.suppress_tokens (never sampled). */
static const int32_t k_suppress[2] = {258883, 258882};
static int has_suppress(const shape *s) { return s->vocab == 262144 && s->ple == 0; }

/* Tokenizer: specials at 0..4, 105, 106; printable ASCII singles at 200..293, "\u2581" at
 * 294; merge results at 300..304; byte tokens <0x00>..<0xFF> at 320..575; "tokN" else. */
static void add_tokenizer(g4_gguf_writer *w, const shape *s) {
    const int V = s->vocab;
    char **tok = calloc((size_t)V, sizeof *tok);
    int32_t *ttype = calloc((size_t)V, sizeof *ttype);
    float *score = calloc((size_t)V, sizeof *score);
    char *pool = malloc((size_t)V * 16);
    if (!tok || !ttype || !score || !pool) {
        fprintf(stderr, "mkgguf: out of memory\n");
        exit(1);
    }
    static const char *const merges_res[5] = {"\xe2\x96\x81t", "he", "th", "in", "the"};
    static const char *const merges[5] = {"\xe2\x96\x81 t", "h e", "t h", "i n", "th e"};
    char *p = pool;
    for (int i = 0; i < V; i++) {
        tok[i] = p;
        ttype[i] = 1;
        if (i == 0) strcpy(p, "<pad>");
        else if (i == 1) strcpy(p, "<eos>");
        else if (i == 2) strcpy(p, "<bos>");
        else if (i == 3) strcpy(p, "<unk>");
        else if (i == 4) strcpy(p, "<mask>");
        else if (i == 105) strcpy(p, "<|turn>");
        else if (i == 106) strcpy(p, "<turn|>");
        else if (i >= 200 && i < 294) p[0] = (char)('!' + (i - 200)), p[1] = 0;
        else if (i == 294) strcpy(p, "\xe2\x96\x81");
        else if (i >= 300 && i < 305) strcpy(p, merges_res[i - 300]);
        else if (i >= 320 && i < 576) snprintf(p, 16, "<0x%02X>", i - 320), ttype[i] = 6;
        else snprintf(p, 16, "tok%d", i);
        if (i <= 4 || i == 105 || i == 106) {
            ttype[i] = i == 3 ? 2 : 3;
            score[i] = -1000.0f;
        }
        p += strlen(p) + 1;
    }
    g4_gguf_w_str(w, "tokenizer.ggml.model", "gemma4");
    g4_gguf_w_str(w, "tokenizer.ggml.pre", "gemma4");
    g4_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, (uint64_t)V);
    g4_gguf_w_arr_f32(w, "tokenizer.ggml.scores", score, (uint64_t)V);
    g4_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", ttype, (uint64_t)V);
    g4_gguf_w_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 5);
    g4_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 2);
    g4_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 1);
    g4_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 3);
    g4_gguf_w_u32(w, "tokenizer.ggml.padding_token_id", 0);
    g4_gguf_w_u32(w, "tokenizer.ggml.mask_token_id", 4);
    g4_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", true);
    g4_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", false);
    g4_gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", false);
    if (has_suppress(s)) g4_gguf_w_arr_i32(w, "tokenizer.ggml.suppress_tokens", k_suppress, 2);
    free(tok);
    free(ttype);
    free(score);
    free(pool);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: mkgguf --shape e2b|e4b|12b|tiny --type TYPE [--embd-type TYPE] [--seed N] [--spec-target] -o FILE\n"
            "       mkgguf --shape 12b-assistant|tiny-assistant --type TYPE [--embd-type TYPE] [--seed N]\n"
            "              --target TARGET.gguf --agree A -o FILE\n"
            "  TYPE: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_K q5_K q6_K (drafters: f32 f16 bf16 q8_0 q4_0)\n"
            "  --spec-target  layers add nothing, untied output.weight: greedy decoding walks a\n"
            "                 random cycle sigma over the ids >= 256 (a benchmark target)\n"
            "  --target, --agree  the drafter's greedy draft after s is tau(s), tau = sigma on a\n"
            "                 fraction A in [0, 1] of the ids (TARGET: a --spec-target file)\n");
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Writes the described file, reports, frees the builder. */
static int finish(builder *bd, const char *what, const char *out) {
    g4_gguf_writer *w = bd->w;
    g4_error err = {0};
    int rc = 0;
    if (bd->failed || g4_gguf_writer_status(w, &err)) {
        fprintf(stderr, "mkgguf: %s\n", err.msg[0] ? err.msg : "out of memory");
        rc = 1;
        goto done;
    }
    const uint64_t size = g4_gguf_writer_size(w);
    fprintf(stderr, "mkgguf: %s: %lld tensors, %.3f G params, %.3f GiB -> %s\n", what, (long long)bd->gs.n,
            (double)bd->params * 1e-9, (double)size / 1073741824.0, out);
    double t0 = now();
    if (g4_gguf_writer_write_file(w, out, &err)) {
        fprintf(stderr, "mkgguf: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    double dt = now() - t0;
    fprintf(stderr, "mkgguf: wrote %llu bytes in %.1f s (%.0f MB/s)\n", (unsigned long long)size, dt,
            (double)size / 1e6 / (dt > 0 ? dt : 1));
done:
    g4_gguf_writer_free(w);
    free(bd->gs.g);
    free(bd->gs.row);
    free(bd->gs.frow);
    return rc;
}

/* ---- target models ---- */

static int write_model(const shape *s, uint32_t wt, uint32_t et, uint64_t seed, bool spec, const char *out) {
    const uint32_t pt = wt == G4_TYPE_F32 ? G4_TYPE_F32 : G4_TYPE_F16; /* per_layer_model_proj */
    const uint32_t F32 = G4_TYPE_F32;
    const int L = s->n_layer, H = s->n_embd, P = s->ple, V = s->vocab;
    /* spec target: the residual branches' output norms are 0, the output scales 1 */
    const int post = spec ? GEN_ZERO : GEN_NORM, lscale = spec ? GEN_ONE : GEN_SCALE;

    builder bd = {0};
    bd.w = g4_gguf_writer_new();
    bd.gs.seed = splitmix(seed);
    g4_gguf_writer *w = bd.w;
    if (!w) return 1;

    int32_t *sigma_inv = NULL;
    if (spec) {
        /* sigma: one random cycle over the ids >= 256 that may be sampled */
        int32_t *cyc = malloc((size_t)V * sizeof *cyc);
        sigma_inv = malloc((size_t)V * sizeof *sigma_inv);
        bd.gs.row = malloc(g4_row_size((g4_type)et, H));
        if (!cyc || !sigma_inv || !bd.gs.row) {
            fprintf(stderr, "mkgguf: out of memory\n");
            return 1;
        }
        int64_t n = 0;
        for (int i = 0; i < V; i++) {
            sigma_inv[i] = i;
            if (i >= 256 && !(has_suppress(s) && (i == k_suppress[0] || i == k_suppress[1]))) cyc[n++] = i;
        }
        uint64_t st = splitmix(seed ^ 0x51c3a0ull);
        shuffle(cyc, n, &st);
        for (int64_t i = 0; i < n; i++) sigma_inv[cyc[(i + 1) % n]] = cyc[i]; /* sigma(cyc[i]) = cyc[i+1] */
        free(cyc);
        bd.gs.src_row = sigma_inv;
    }

    /* ---- keys ---- */
    char buf[512];
    g4_gguf_w_str(w, "general.architecture", "gemma4");
    snprintf(buf, sizeof buf, "mkgguf-gemma4-%s-%s%s", s->name, g4_type_name(wt), spec ? "-spec" : "");
    g4_gguf_w_str(w, "general.name", buf);
    if (spec)
        snprintf(buf, sizeof buf, "speculative-decoding benchmark target written by tools/mkgguf (seed %llu): "
                 "%s shapes, random weights, layers that add nothing, and an output head that makes greedy "
                 "decoding walk a random cycle over the ids >= 256; not a trained model",
                 (unsigned long long)seed, s->name);
    else
        snprintf(buf, sizeof buf, "random-weight %s-shaped model written by tools/mkgguf (seed %llu); not a "
                 "trained model", s->name, (unsigned long long)seed);
    g4_gguf_w_str(w, "general.description", buf);
    g4_gguf_w_u32(w, "general.file_type", (uint32_t)ftype_of(wt));
    if (qlayout_of(wt) || qlayout_of(et)) g4_gguf_w_u32(w, "general.quantization_version", 2);
    g4_gguf_w_u32(w, "gemma4.context_length", (uint32_t)s->ctx);
    g4_gguf_w_u32(w, "gemma4.embedding_length", (uint32_t)H);
    g4_gguf_w_u32(w, "gemma4.block_count", (uint32_t)L);
    int32_t *ffa = malloc((size_t)L * sizeof *ffa), *hkv = malloc((size_t)L * sizeof *hkv);
    bool *swa = malloc((size_t)L * sizeof *swa);
    if (!ffa || !hkv || !swa) return 1;
    for (int l = 0; l < L; l++) {
        ffa[l] = l < s->ff_split ? s->ff_lo : s->ff_hi;
        swa[l] = !is_full(s, l);
        hkv[l] = swa[l] ? s->n_kv_swa : s->n_kv_full;
    }
    if (s->ff_array) g4_gguf_w_arr_i32(w, "gemma4.feed_forward_length", ffa, (uint64_t)L);
    else g4_gguf_w_u32(w, "gemma4.feed_forward_length", (uint32_t)s->ff_lo);
    g4_gguf_w_u32(w, "gemma4.attention.head_count", (uint32_t)s->n_head);
    if (s->hkv_array) g4_gguf_w_arr_i32(w, "gemma4.attention.head_count_kv", hkv, (uint64_t)L);
    else g4_gguf_w_u32(w, "gemma4.attention.head_count_kv", (uint32_t)s->n_kv_swa);
    g4_gguf_w_u32(w, "gemma4.attention.key_length", (uint32_t)s->hd_full);
    g4_gguf_w_u32(w, "gemma4.attention.value_length", (uint32_t)s->hd_full);
    g4_gguf_w_u32(w, "gemma4.attention.key_length_swa", (uint32_t)s->hd_swa);
    g4_gguf_w_u32(w, "gemma4.attention.value_length_swa", (uint32_t)s->hd_swa);
    g4_gguf_w_u32(w, "gemma4.rope.dimension_count", (uint32_t)s->hd_full);
    g4_gguf_w_u32(w, "gemma4.rope.dimension_count_swa", (uint32_t)s->hd_swa);
    g4_gguf_w_f32(w, "gemma4.rope.freq_base", 1000000.0f);
    g4_gguf_w_f32(w, "gemma4.rope.freq_base_swa", 10000.0f);
    g4_gguf_w_f32(w, "gemma4.attention.layer_norm_rms_epsilon", 1e-6f);
    g4_gguf_w_u32(w, "gemma4.attention.sliding_window", (uint32_t)s->window);
    g4_gguf_w_arr_bool(w, "gemma4.attention.sliding_window_pattern", swa, (uint64_t)L);
    g4_gguf_w_u32(w, "gemma4.attention.shared_kv_layers", (uint32_t)s->shared_kv);
    g4_gguf_w_u32(w, "gemma4.embedding_length_per_layer_input", (uint32_t)P);
    g4_gguf_w_f32(w, "gemma4.final_logit_softcapping", 30.0f);
    add_tokenizer(w, s);

    /* ---- tensors (spec §4) ---- */
    add(&bd, "token_embd.weight", et, spec ? GEN_EMBD : GEN_MATRIX, 2, H, V, 0);
    if (spec) add(&bd, "output.weight", et, GEN_OUTPUT, 2, H, V, 0);
    if (P) {
        add(&bd, "per_layer_token_embd.weight", et, GEN_MATRIX, 2, (int64_t)L * P, V, 0);
        add(&bd, "per_layer_model_proj.weight", pt, GEN_MATRIX, 2, H, (int64_t)L * P, 0);
        add(&bd, "per_layer_proj_norm.weight", F32, GEN_NORM, 1, P, 1, 0);
    }
    add(&bd, "output_norm.weight", F32, spec ? GEN_ONE : GEN_NORM, 1, H, 1, 0);
    add(&bd, "rope_freqs.weight", F32, GEN_ROPE, 1, s->hd_full / 2, 1, s->hd_full / 8);
    const int first_shared = L - s->shared_kv;
    for (int l = 0; l < L; l++) {
        const int full = is_full(s, l), hd = full ? s->hd_full : s->hd_swa, kv = hkv[l], ff = ffa[l];
        const int qd = s->n_head * hd;
        addf(&bd, F32, GEN_NORM, 1, H, 1, "blk.%d.attn_norm.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, H, qd, "blk.%d.attn_q.weight", l);
        addf(&bd, F32, GEN_NORM, 1, hd, 1, "blk.%d.attn_q_norm.weight", l);
        if (l < first_shared) {
            addf(&bd, wt, GEN_MATRIX, 2, H, (int64_t)kv * hd, "blk.%d.attn_k.weight", l);
            addf(&bd, F32, GEN_NORM, 1, hd, 1, "blk.%d.attn_k_norm.weight", l);
            if (!(full && s->k_eq_v_full)) addf(&bd, wt, GEN_MATRIX, 2, H, (int64_t)kv * hd, "blk.%d.attn_v.weight", l);
        }
        addf(&bd, wt, GEN_MATRIX, 2, qd, H, "blk.%d.attn_output.weight", l);
        addf(&bd, F32, post, 1, H, 1, "blk.%d.post_attention_norm.weight", l);
        addf(&bd, F32, GEN_NORM, 1, H, 1, "blk.%d.ffn_norm.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, H, ff, "blk.%d.ffn_gate.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, H, ff, "blk.%d.ffn_up.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, ff, H, "blk.%d.ffn_down.weight", l);
        addf(&bd, F32, post, 1, H, 1, "blk.%d.post_ffw_norm.weight", l);
        addf(&bd, F32, lscale, 1, 1, 1, "blk.%d.layer_output_scale.weight", l);
        if (P) {
            addf(&bd, wt, GEN_MATRIX, 2, H, P, "blk.%d.inp_gate.weight", l);
            addf(&bd, wt, GEN_MATRIX, 2, P, H, "blk.%d.proj.weight", l);
            addf(&bd, F32, post, 1, H, 1, "blk.%d.post_norm.weight", l);
        }
    }
    free(ffa);
    free(hkv);
    free(swa);
    snprintf(buf, sizeof buf, "%s %s (embd %s)%s", s->name, g4_type_name(wt), g4_type_name(et),
             spec ? ", spec target" : "");
    int rc = finish(&bd, buf, out);
    free(sigma_inv);
    return rc;
}

/* ---- drafters ---- */

static const g4_gguf_kv *tkey(const g4_gguf *g, const char *suffix) {
    char name[128];
    snprintf(name, sizeof name, "gemma4.%s", suffix);
    return g4_gguf_find_kv(g, name);
}

/* An integer key of the target (the first element of a per-layer array); def when absent
 * (def < 0: required). */
static bool tkey_int(const g4_gguf *g, const char *path, const char *suffix, int64_t def, int64_t *out) {
    const g4_gguf_kv *kv = tkey(g, suffix);
    if (kv && (g4_gguf_kv_int(kv, out) || (kv->type == G4_GGUF_ARRAY && kv->arr_n > 0 && g4_gguf_arr_int(kv, 0, out))))
        return true;
    if (!kv && def >= 0) {
        *out = def;
        return true;
    }
    fprintf(stderr, "mkgguf: %s: missing or invalid key gemma4.%s\n", path, suffix);
    return false;
}

static bool tkey_float(const g4_gguf *g, const char *path, const char *suffix, double def, double *out) {
    const g4_gguf_kv *kv = tkey(g, suffix);
    if (!kv) {
        *out = def;
        return true;
    }
    if (g4_gguf_kv_float(kv, out) && isfinite(*out)) return true;
    fprintf(stderr, "mkgguf: %s: invalid key gemma4.%s\n", path, suffix);
    return false;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x243f6a8885a308d3ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = (h ^ v) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return splitmix(h);
}

typedef struct {
    uint64_t h;
    int32_t i;
} hrow;

static int hrow_cmp(const void *a, const void *b) {
    const hrow *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* sigma of a --spec-target file: output row sigma(s) is a byte copy of token_embd row s.
 * Rows are matched by hash, then compared byte for byte. */
static int32_t *recover_sigma(const g4_gguf_tensor *te, const g4_gguf_tensor *to, const char *path) {
    const int64_t V = te->ne[1];
    const size_t rb = g4_row_size((g4_type)te->type, te->ne[0]);
    const uint8_t *E = te->data, *O = to->data;
    hrow *hs = malloc((size_t)V * sizeof *hs);
    int32_t *sigma = malloc((size_t)V * sizeof *sigma);
    if (!hs || !sigma) {
        fprintf(stderr, "mkgguf: out of memory\n");
        goto fail;
    }
    for (int64_t s = 0; s < V; s++) {
        hs[s].h = hash_bytes(E + (size_t)s * rb, rb);
        hs[s].i = (int32_t)s;
        sigma[s] = -1;
    }
    qsort(hs, (size_t)V, sizeof *hs, hrow_cmp);
    for (int64_t r = 0; r < V; r++) {
        const uint8_t *row = O + (size_t)r * rb;
        const uint64_t h = hash_bytes(row, rb);
        int64_t lo = 0, hi = V; /* first entry with hash >= h */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (hs[mid].h < h) lo = mid + 1;
            else hi = mid;
        }
        int32_t s = -1;
        for (int64_t k = lo; k < V && hs[k].h == h && s < 0; k++)
            if (sigma[hs[k].i] < 0 && !memcmp(E + (size_t)hs[k].i * rb, row, rb)) s = hs[k].i;
        if (s < 0) {
            fprintf(stderr, "mkgguf: %s: output.weight row %lld is not a row of token_embd: not a --spec-target "
                    "file\n", path, (long long)r);
            goto fail;
        }
        sigma[s] = (int32_t)r;
    }
    free(hs);
    return sigma;
fail:
    free(hs);
    free(sigma);
    return NULL;
}

static int write_drafter(const ashape *a, uint32_t wt, uint32_t et, uint64_t seed, const char *tpath, double agree,
                         const char *out) {
    const uint32_t F32 = G4_TYPE_F32;
    g4_gguf *tg = NULL;
    g4_error err = {0};
    int32_t *sigma = NULL, *tau_inv = NULL, *cyc = NULL;
    int rc = 1;
    builder bd = {0};
    if (g4_gguf_open(tpath, &tg, &err)) {
        fprintf(stderr, "mkgguf: %s\n", err.msg);
        return 1;
    }
    const g4_gguf_kv *arch = g4_gguf_find_kv(tg, "general.architecture");
    const char *as;
    size_t an;
    if (!arch || !g4_gguf_kv_str(arch, &as, &an) || an != 6 || memcmp(as, "gemma4", 6)) {
        fprintf(stderr, "mkgguf: %s: not a gemma4 model\n", tpath);
        goto done;
    }
    const g4_gguf_tensor *te = g4_gguf_find_tensor(tg, "token_embd.weight");
    const g4_gguf_tensor *to = g4_gguf_find_tensor(tg, "output.weight");
    if (!te || te->n_dims != 2 || te->ne[1] < 257 || te->ne[1] > INT32_MAX) {
        fprintf(stderr, "mkgguf: %s: no usable token_embd.weight\n", tpath);
        goto done;
    }
    if (!to || to->type != te->type || to->n_dims != 2 || to->ne[0] != te->ne[0] || to->ne[1] != te->ne[1]) {
        fprintf(stderr, "mkgguf: %s: no output.weight of token_embd's type and shape: not a --spec-target file\n",
                tpath);
        goto done;
    }
    int64_t Ht, hd_full, hd_swa, rd_full, rd_swa, win, ctx, kv_heads;
    double eps, base_full, base_swa;
    if (!tkey_int(tg, tpath, "embedding_length", -1, &Ht) ||
        !tkey_int(tg, tpath, "attention.key_length", -1, &hd_full) ||
        !tkey_int(tg, tpath, "attention.key_length_swa", hd_full, &hd_swa) ||
        !tkey_int(tg, tpath, "rope.dimension_count", hd_full, &rd_full) ||
        !tkey_int(tg, tpath, "rope.dimension_count_swa", hd_swa, &rd_swa) ||
        !tkey_int(tg, tpath, "attention.sliding_window", -1, &win) ||
        !tkey_int(tg, tpath, "context_length", 4096, &ctx) ||
        !tkey_int(tg, tpath, "attention.head_count_kv", 1, &kv_heads) ||
        !tkey_float(tg, tpath, "attention.layer_norm_rms_epsilon", 1e-6, &eps) ||
        !tkey_float(tg, tpath, "rope.freq_base", 1e6, &base_full) ||
        !tkey_float(tg, tpath, "rope.freq_base_swa", 1e4, &base_swa))
        goto done;
    const int D = a->D, NL = a->n_layer, V = (int)te->ne[1];
    if (Ht != te->ne[0] || Ht < D || Ht > (1 << 16)) {
        fprintf(stderr, "mkgguf: %s: target width %lld (token_embd %lld) cannot feed a drafter of width %d\n", tpath,
                (long long)Ht, (long long)te->ne[0], D);
        goto done;
    }
    if (et != te->type && !can_quant(et)) {
        fprintf(stderr, "mkgguf: the drafter head type %s must be f32 f16 bf16 q8_0 q4_0 or the target's "
                "embedding type (%s)\n", g4_type_name(et), g4_type_name(te->type));
        goto done;
    }
    if (!can_quant(wt)) {
        fprintf(stderr, "mkgguf: drafter --type %s: use f32 f16 bf16 q8_0 or q4_0\n", g4_type_name(wt));
        goto done;
    }
    const double t0 = now();
    if (!(sigma = recover_sigma(te, to, tpath))) goto done;

    /* tau: sigma on a random fraction `agree` of the cycle, a cyclic shift of sigma on the rest */
    cyc = malloc((size_t)V * sizeof *cyc);
    tau_inv = malloc((size_t)V * sizeof *tau_inv);
    if (!cyc || !tau_inv) {
        fprintf(stderr, "mkgguf: out of memory\n");
        goto done;
    }
    int64_t n = 0;
    for (int s = 0; s < V; s++) {
        tau_inv[s] = s;
        if (sigma[s] != s) cyc[n++] = s;
    }
    if (n < 2) {
        fprintf(stderr, "mkgguf: %s: the output head has no cycle\n", tpath);
        goto done;
    }
    uint64_t st = splitmix(seed ^ 0x7a0a6eull);
    shuffle(cyc, n, &st);
    int64_t k = llround(agree * (double)n);
    if (n - k == 1) k = n; /* one id cannot disagree alone */
    for (int64_t i = 0; i < k; i++) tau_inv[sigma[cyc[i]]] = cyc[i];
    for (int64_t i = k; i < n; i++) { /* tau(b_i) = sigma(b_{i+1}) over B = cyc[k..n) */
        const int32_t b = cyc[i], next = cyc[i + 1 < n ? i + 1 : k];
        tau_inv[sigma[next]] = b;
    }
    fprintf(stderr, "mkgguf: %s: cycle of %lld ids; the drafter agrees on %lld of them (%.4f, asked %.4f) [%.1f s]\n",
            tpath, (long long)n, (long long)k, (double)k / (double)n, agree, now() - t0);

    bd.w = g4_gguf_writer_new();
    bd.gs.seed = splitmix(seed ^ 0xd4af7e4ull);
    bd.gs.src_row = tau_inv;
    bd.gs.tgt_embd = te;
    g4_kernels_ref(&bd.gs.k);
    bd.gs.frow_n = 2 * Ht;
    bd.gs.frow = malloc((size_t)bd.gs.frow_n * sizeof *bd.gs.frow);
    bd.gs.row = malloc(g4_row_size((g4_type)F32, 2 * Ht) + 64); /* >= any row below */
    g4_gguf_writer *w = bd.w;
    if (!w || !bd.gs.frow || !bd.gs.row || !bd.gs.k.dequant[te->type]) {
        fprintf(stderr, "mkgguf: out of memory\n");
        goto done;
    }

    /* ---- keys (spec §8.1; the drafter loader's set, docs/MTP.md) ---- */
    char buf[512];
    bool *swa = malloc((size_t)NL * sizeof *swa);
    if (!swa) goto done;
    for (int l = 0; l < NL; l++) swa[l] = l < NL - 1;
#define AK(s) "gemma4-assistant." s
    g4_gguf_w_str(w, "general.architecture", "gemma4-assistant");
    snprintf(buf, sizeof buf, "mkgguf-gemma4-%s-%s-agree%.2f", a->name, g4_type_name(wt), agree);
    g4_gguf_w_str(w, "general.name", buf);
    snprintf(buf, sizeof buf, "speculative-decoding benchmark drafter written by tools/mkgguf (seed %llu) for a "
             "--spec-target model: its greedy draft equals the target's next token on %.4f of the ids; "
             "not a trained model", (unsigned long long)seed, (double)k / (double)n);
    g4_gguf_w_str(w, "general.description", buf);
    g4_gguf_w_u32(w, "general.file_type", (uint32_t)ftype_of(wt));
    if (qlayout_of(wt) || qlayout_of(et)) g4_gguf_w_u32(w, "general.quantization_version", 2);
    g4_gguf_w_u32(w, AK("context_length"), (uint32_t)ctx);
    g4_gguf_w_u32(w, AK("embedding_length"), (uint32_t)D);
    g4_gguf_w_u32(w, AK("embedding_length_out"), (uint32_t)Ht);
    g4_gguf_w_u32(w, AK("block_count"), (uint32_t)NL);
    g4_gguf_w_u32(w, AK("nextn_predict_layers"), (uint32_t)NL);
    g4_gguf_w_u32(w, AK("feed_forward_length"), (uint32_t)a->ff);
    g4_gguf_w_u32(w, AK("attention.head_count"), (uint32_t)a->n_head);
    g4_gguf_w_u32(w, AK("attention.head_count_kv"), (uint32_t)kv_heads); /* unused by the drafter */
    g4_gguf_w_u32(w, AK("attention.key_length"), (uint32_t)hd_full);
    g4_gguf_w_u32(w, AK("attention.value_length"), (uint32_t)hd_full);
    g4_gguf_w_u32(w, AK("attention.key_length_swa"), (uint32_t)hd_swa);
    g4_gguf_w_u32(w, AK("attention.value_length_swa"), (uint32_t)hd_swa);
    g4_gguf_w_u32(w, AK("rope.dimension_count"), (uint32_t)rd_full);
    g4_gguf_w_u32(w, AK("rope.dimension_count_swa"), (uint32_t)rd_swa);
    g4_gguf_w_f32(w, AK("rope.freq_base"), (float)base_full);
    g4_gguf_w_f32(w, AK("rope.freq_base_swa"), (float)base_swa);
    g4_gguf_w_f32(w, AK("attention.layer_norm_rms_epsilon"), (float)eps);
    g4_gguf_w_u32(w, AK("attention.sliding_window"), (uint32_t)win);
    g4_gguf_w_arr_bool(w, AK("attention.sliding_window_pattern"), swa, (uint64_t)NL);
    g4_gguf_w_u32(w, AK("attention.shared_kv_layers"), (uint32_t)NL);
    g4_gguf_w_u32(w, AK("embedding_length_per_layer_input"), 0);
#undef AK

    /* ---- tensors (spec §8.2) ---- */
    add(&bd, "token_embd.weight", et, GEN_HEAD, 2, D, V, 0);
    add(&bd, "output_norm.weight", F32, GEN_ONE, 1, D, 1, 0);
    add(&bd, "nextn.pre_projection.weight", wt, GEN_IDENTITY, 2, 2 * Ht, D, 0);
    add(&bd, "nextn.post_projection.weight", wt, GEN_MATRIX, 2, D, Ht, 0);
    const g4_gguf_tensor *rf = g4_gguf_find_tensor(tg, "rope_freqs.weight");
    if (rf && rf->type == F32 && rf->n_dims == 1 && rf->ne[0] == rd_full / 2) { /* the target's factors */
        int64_t ne[1] = {rf->ne[0]};
        if (g4_gguf_w_tensor(w, "rope_freqs.weight", F32, 1, ne, rf->data) < 0) bd.failed = 1;
    } else {
        add(&bd, "rope_freqs.weight", F32, GEN_ROPE, 1, rd_full / 2, 1, rd_full / 8);
    }
    for (int l = 0; l < NL; l++) {
        const int hd = (int)(swa[l] ? hd_swa : hd_full), qd = a->n_head * hd;
        addf(&bd, F32, GEN_NORM, 1, D, 1, "blk.%d.attn_norm.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, D, qd, "blk.%d.attn_q.weight", l);
        addf(&bd, F32, GEN_NORM, 1, hd, 1, "blk.%d.attn_q_norm.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, qd, D, "blk.%d.attn_output.weight", l);
        addf(&bd, F32, GEN_ZERO, 1, D, 1, "blk.%d.post_attention_norm.weight", l);
        addf(&bd, F32, GEN_NORM, 1, D, 1, "blk.%d.ffn_norm.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, D, a->ff, "blk.%d.ffn_gate.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, D, a->ff, "blk.%d.ffn_up.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, a->ff, D, "blk.%d.ffn_down.weight", l);
        addf(&bd, F32, GEN_ZERO, 1, D, 1, "blk.%d.post_ffw_norm.weight", l);
        addf(&bd, F32, GEN_ONE, 1, 1, 1, "blk.%d.layer_output_scale.weight", l);
    }
    free(swa);
    snprintf(buf, sizeof buf, "%s %s (head %s) for %s, agreement %.4f", a->name, g4_type_name(wt),
             g4_type_name(et), tpath, (double)k / (double)n);
    rc = finish(&bd, buf, out);
    bd.w = NULL;
done:
    if (bd.w) {
        g4_gguf_writer_free(bd.w);
        free(bd.gs.g);
        free(bd.gs.row);
        free(bd.gs.frow);
    }
    free(sigma);
    free(tau_inv);
    free(cyc);
    g4_gguf_close(tg);
    return rc;
}

int main(int argc, char **argv) {
    const char *shape_name = NULL, *type_name = NULL, *embd_name = NULL, *out = NULL, *target = NULL;
    const char *agree_s = NULL;
    uint64_t seed = 42;
    bool spec = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--spec-target")) {
            spec = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, "mkgguf: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--shape")) shape_name = v;
        else if (!strcmp(a, "--type")) type_name = v;
        else if (!strcmp(a, "--embd-type")) embd_name = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--target")) target = v;
        else if (!strcmp(a, "--agree")) agree_s = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else {
            fprintf(stderr, "mkgguf: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!shape_name || !type_name || !out) {
        usage(stderr);
        return 2;
    }
    const shape *s = NULL;
    const ashape *as = NULL;
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        if (!strcmp(k_shapes[i].name, shape_name)) s = &k_shapes[i];
    for (size_t i = 0; i < sizeof k_ashapes / sizeof k_ashapes[0]; i++)
        if (!strcmp(k_ashapes[i].name, shape_name)) as = &k_ashapes[i];
    if (!s && !as) {
        fprintf(stderr, "mkgguf: unknown shape '%s'\n", shape_name);
        return 2;
    }
    int t = g4_type_from_name(type_name), te = embd_name ? g4_type_from_name(embd_name) : t;
    if (t < 0 || te < 0 || !type_supported((uint32_t)t) || !type_supported((uint32_t)te)) {
        fprintf(stderr, "mkgguf: unsupported type '%s'\n", t < 0 || !type_supported((uint32_t)t) ? type_name : embd_name);
        usage(stderr);
        return 2;
    }
    if (s) {
        if (target || agree_s) {
            fprintf(stderr, "mkgguf: --target and --agree are for the *-assistant shapes\n");
            return 2;
        }
        return write_model(s, (uint32_t)t, (uint32_t)te, seed, spec, out);
    }
    char *end = NULL;
    const double agree = agree_s ? strtod(agree_s, &end) : -1;
    if (spec || !target || !agree_s || !end || *end || !(agree >= 0 && agree <= 1)) {
        fprintf(stderr, "mkgguf: --shape %s needs --target FILE and --agree A with 0 <= A <= 1 (no --spec-target)\n",
                shape_name);
        return 2;
    }
    return write_drafter(as, (uint32_t)t, (uint32_t)te, seed, target, agree, out);
}
