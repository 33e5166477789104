/* mkgguf — writes a random-weight Gemma 4 GGUF with the real tensor shapes and keys of
 * E2B, E4B or 12B (or a tiny 5-layer model), for load / memory / speed tests.
 *
 *   mkgguf --shape e2b|e4b|12b|tiny --type f16|q8_0|q4_0|... [--embd-type TYPE] [--seed N] -o FILE
 *
 * Matrices use --type (token_embd and per_layer_token_embd use --embd-type, default the
 * same), per_layer_model_proj stays F16, norms / rope_freqs / layer_output_scale are F32.
 * Values are sane (no NaN/Inf): weights ~ N(0, 1/sqrt(n_in)), quantized blocks get a
 * small random fp16 scale and random quant bytes, norms ~ 1 +- 0.05. Data is produced by
 * a xorshift generator in chunks through the writer's fill callback, never held whole. */
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

/* ~N(0,1): sum of four 16-bit uniforms (Irwin-Hall), cheap and bounded (|x| < 3.5). */
static inline float gauss(uint64_t *s) {
    uint64_t r = xs(s);
    float sum = (float)((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48));
    return (sum - 131070.0f) * (1.0f / 37837.2f); /* sqrt(4/12) * 65536 */
}

/* ---- tensor generators ---- */

enum { GEN_MATRIX, GEN_NORM, GEN_ROPE, GEN_SCALE };

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

static void fill(void *user, int64_t ti, uint64_t off, void *buf, size_t n) {
    const genset *gs = user;
    const gen *g = &gs->g[ti];
    uint64_t st = splitmix(gs->seed ^ splitmix((uint64_t)ti * 0x100000001b3ull ^ off));
    if (!st) st = 1;
    uint8_t *b = buf;
    const float std = 1.0f / sqrtf((float)g->n_in);

    if (g->kind != GEN_MATRIX) { /* F32 small tensors */
        float *f = buf;
        size_t cnt = n / 4;
        uint64_t e0 = off / 4;
        for (size_t i = 0; i < cnt; i++) {
            float v;
            if (g->kind == GEN_ROPE) v = (int64_t)(e0 + i) < g->n_ones ? 1.0f : 1e30f;
            else if (g->kind == GEN_SCALE) v = 0.5f + 0.5f * unif(&st);
            else v = 1.0f + 0.1f * (unif(&st) - 0.5f);
            f[i] = v;
        }
        return;
    }
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
    if (V == 262144 && s->ple == 0) {
        int32_t sup[2] = {258883, 258882};
        g4_gguf_w_arr_i32(w, "tokenizer.ggml.suppress_tokens", sup, 2);
    }
    free(tok);
    free(ttype);
    free(score);
    free(pool);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: mkgguf --shape e2b|e4b|12b|tiny --type TYPE [--embd-type TYPE] [--seed N] -o FILE\n"
            "  TYPE: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_K q5_K q6_K\n");
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *shape_name = NULL, *type_name = NULL, *embd_name = NULL, *out = NULL;
    uint64_t seed = 42;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "mkgguf: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--shape")) shape_name = v;
        else if (!strcmp(a, "--type")) type_name = v;
        else if (!strcmp(a, "--embd-type")) embd_name = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 0);
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
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        if (!strcmp(k_shapes[i].name, shape_name)) s = &k_shapes[i];
    if (!s) {
        fprintf(stderr, "mkgguf: unknown shape '%s'\n", shape_name);
        return 2;
    }
    int t = g4_type_from_name(type_name), te = embd_name ? g4_type_from_name(embd_name) : t;
    if (t < 0 || te < 0 || !type_supported((uint32_t)t) || !type_supported((uint32_t)te)) {
        fprintf(stderr, "mkgguf: unsupported type '%s'\n", t < 0 || !type_supported((uint32_t)t) ? type_name : embd_name);
        usage(stderr);
        return 2;
    }
    const uint32_t wt = (uint32_t)t, et = (uint32_t)te;
    const uint32_t pt = wt == G4_TYPE_F32 ? G4_TYPE_F32 : G4_TYPE_F16; /* per_layer_model_proj */
    const uint32_t F32 = G4_TYPE_F32;
    const int L = s->n_layer, H = s->n_embd, P = s->ple;

    builder bd = {0};
    bd.w = g4_gguf_writer_new();
    bd.gs.seed = splitmix(seed);
    g4_gguf_writer *w = bd.w;
    if (!w) return 1;

    /* ---- keys ---- */
    char buf[256];
    g4_gguf_w_str(w, "general.architecture", "gemma4");
    snprintf(buf, sizeof buf, "mkgguf-gemma4-%s-%s", s->name, g4_type_name(wt));
    g4_gguf_w_str(w, "general.name", buf);
    snprintf(buf, sizeof buf, "random-weight %s-shaped model written by tools/mkgguf (seed %llu); not a trained model",
             s->name, (unsigned long long)seed);
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
    add(&bd, "token_embd.weight", et, GEN_MATRIX, 2, H, s->vocab, 0);
    if (P) {
        add(&bd, "per_layer_token_embd.weight", et, GEN_MATRIX, 2, (int64_t)L * P, s->vocab, 0);
        add(&bd, "per_layer_model_proj.weight", pt, GEN_MATRIX, 2, H, (int64_t)L * P, 0);
        add(&bd, "per_layer_proj_norm.weight", F32, GEN_NORM, 1, P, 1, 0);
    }
    add(&bd, "output_norm.weight", F32, GEN_NORM, 1, H, 1, 0);
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
        addf(&bd, F32, GEN_NORM, 1, H, 1, "blk.%d.post_attention_norm.weight", l);
        addf(&bd, F32, GEN_NORM, 1, H, 1, "blk.%d.ffn_norm.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, H, ff, "blk.%d.ffn_gate.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, H, ff, "blk.%d.ffn_up.weight", l);
        addf(&bd, wt, GEN_MATRIX, 2, ff, H, "blk.%d.ffn_down.weight", l);
        addf(&bd, F32, GEN_NORM, 1, H, 1, "blk.%d.post_ffw_norm.weight", l);
        addf(&bd, F32, GEN_SCALE, 1, 1, 1, "blk.%d.layer_output_scale.weight", l);
        if (P) {
            addf(&bd, wt, GEN_MATRIX, 2, H, P, "blk.%d.inp_gate.weight", l);
            addf(&bd, wt, GEN_MATRIX, 2, P, H, "blk.%d.proj.weight", l);
            addf(&bd, F32, GEN_NORM, 1, H, 1, "blk.%d.post_norm.weight", l);
        }
    }
    free(ffa);
    free(hkv);
    free(swa);

    g4_error err = {0};
    if (bd.failed || g4_gguf_writer_status(w, &err)) {
        fprintf(stderr, "mkgguf: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    const uint64_t size = g4_gguf_writer_size(w);
    fprintf(stderr, "mkgguf: %s %s (embd %s): %lld tensors, %.3f G params, %.3f GiB -> %s\n", s->name,
            g4_type_name(wt), g4_type_name(et), (long long)bd.gs.n, (double)bd.params * 1e-9,
            (double)size / 1073741824.0, out);
    double t0 = now();
    if (g4_gguf_writer_write_file(w, out, &err)) {
        fprintf(stderr, "mkgguf: %s\n", err.msg);
        return 1;
    }
    double dt = now() - t0;
    fprintf(stderr, "mkgguf: wrote %llu bytes in %.1f s (%.0f MB/s)\n", (unsigned long long)size, dt,
            (double)size / 1e6 / (dt > 0 ? dt : 1));
    g4_gguf_writer_free(w);
    free(bd.gs.g);
    return 0;
}
