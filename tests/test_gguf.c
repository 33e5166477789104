/* test_gguf.c — GGUF reader and writer.
 *   (a) every tests/data/NAME.gguf: opened, every value touched, compared against
 *       tests/data/INVENTORY.txt (when present) and against known fixture values;
 *   (b) writer -> reader round trips of every value type (nested arrays too), v2 headers,
 *       custom alignments, tensors from pointers and from chunked fill callbacks;
 *   (c) one case per kind of malformed file: status and message;
 *   (d) truncation at every length and random corruption: never a crash, always a status
 *       with a message. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/types.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "t.h"

#ifndef G4_TEST_DATA
#define G4_TEST_DATA "tests/data"
#endif

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A growable byte buffer for hand-encoded values. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} bbuf;
static void bb_put(bbuf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void bb_u32(bbuf *b, uint32_t v) {
    uint8_t x[4];
    put32(x, v);
    bb_put(b, x, 4);
}
static void bb_u64(bbuf *b, uint64_t v) {
    uint8_t x[8];
    put64(x, v);
    bb_put(b, x, 8);
}
static void bb_str(bbuf *b, const char *s) {
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}

/* Offset just past the bytes of `u64 len + name` in buf (the first occurrence), or 0. */
static size_t after_name(const uint8_t *buf, size_t n, const char *name) {
    size_t l = strlen(name);
    uint8_t pat[8 + 256];
    put64(pat, l);
    memcpy(pat + 8, name, l);
    for (size_t i = 0; i + 8 + l <= n; i++)
        if (memcmp(buf + i, pat, 8 + l) == 0) return i + 8 + l;
    return 0;
}

/* Touches every value and every tensor byte range; returns a checksum. */
static uint64_t touch_arr(const g4_gguf_kv *kv, int depth) {
    uint64_t h = kv->arr_n;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        int64_t iv;
        double dv;
        bool bv;
        const char *s;
        size_t len;
        g4_gguf_kv sub;
        if (g4_gguf_arr_int(kv, i, &iv)) h += (uint64_t)iv;
        if (g4_gguf_arr_float(kv, i, &dv)) h += dv == dv;
        if (g4_gguf_arr_bool(kv, i, &bv)) h += bv;
        if (g4_gguf_arr_str(kv, i, &s, &len)) h += len ? (uint8_t)s[0] + (uint8_t)s[len - 1] : 1;
        if (g4_gguf_arr_sub(kv, i, &sub) && depth < 12) h += touch_arr(&sub, depth + 1);
        if (i > 4096 && kv->arr_type != G4_GGUF_STRING) break; /* fixed-size arrays: enough */
    }
    return h;
}

static uint64_t touch_all(const g4_gguf *g) {
    uint64_t h = g4_gguf_version(g) + g4_gguf_alignment(g) + g4_gguf_data_offset(g);
    for (int64_t i = 0; i < g4_gguf_n_kv(g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        int64_t iv;
        double dv;
        bool bv;
        const char *s;
        size_t len;
        h += strlen(kv->key);
        if (g4_gguf_find_kv(g, kv->key) != kv) h += 1000000; /* lookups must find the same kv */
        if (g4_gguf_kv_int(kv, &iv)) h += (uint64_t)iv;
        if (g4_gguf_kv_float(kv, &dv)) h += dv == dv;
        if (g4_gguf_kv_bool(kv, &bv)) h += bv;
        if (g4_gguf_kv_str(kv, &s, &len)) h += len ? (uint8_t)s[0] + (uint8_t)s[len - 1] : 1;
        if (kv->type == G4_GGUF_ARRAY) h += touch_arr(kv, 1);
        (void)g4_gguf_vtype_name(kv->type);
    }
    for (int64_t i = 0; i < g4_gguf_n_tensors(g); i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        h += strlen(t->name) + t->n_dims + (uint64_t)t->n_elements;
        if (g4_gguf_find_tensor(g, t->name) != t) h += 1000000;
        if (t->nbytes) {
            const uint8_t *d = t->data;
            h += d[0] + d[t->nbytes - 1];
        }
    }
    return h;
}

/* Opens a private exact-size copy (so ASan sees any overread) and checks the outcome. */
static void expect_err_(const void *buf, size_t n, g4_status code, const char *needle, const char *label,
                        int line) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, buf, n);
    g4_error e = {0};
    g4_gguf *g = (g4_gguf *)(uintptr_t)1;
    g4_status st = g4_gguf_open_memory(copy, n, &g, &e);
    T_CHECKF(st == code && g == NULL && e.code == code && strstr(e.msg, needle) != NULL,
             "[%s, line %d] status %d (%s), msg '%s'; want status %d with '%s'", label, line, (int)st,
             g4_status_str(st), e.msg, (int)code, needle);
    if (st == G4_OK && g) g4_gguf_close(g);
    free(copy);
}
#define EXPECT_ERR(buf, n, code, needle, label) expect_err_(buf, n, code, needle, label, __LINE__)

static g4_gguf *open_ok_(const void *buf, size_t n, int line) {
    g4_error e = {0};
    g4_gguf *g = NULL;
    g4_status st = g4_gguf_open_memory(buf, n, &g, &e);
    T_CHECKF(st == G4_OK && g, "line %d: open failed: %s", line, e.msg);
    return st == G4_OK ? g : NULL;
}
#define OPEN_OK(buf, n) open_ok_(buf, n, __LINE__)

static void write_mem_ok(g4_gguf_writer *w, uint8_t **buf, size_t *n) {
    g4_error e = {0};
    void *p = NULL;
    g4_status st = g4_gguf_writer_write_mem(w, &p, n, &e);
    T_CHECKF(st == G4_OK, "write_mem: %s", e.msg);
    *buf = p;
    g4_gguf_writer_free(w);
}

/* ---------------------------------------------------------------- (a) fixtures */

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        fclose(f);
        return NULL;
    }
    b[sz] = 0;
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static int g_inventory_files = 0, g_inventory_keys = 0, g_inventory_tensors = 0;

/* Compares one file against its INVENTORY.txt section [sec, end). */
static void check_inventory(const g4_gguf *g, const char *fname, char *sec) {
    int n_keys = 0, n_tensors = 0;
    char *line = sec;
    /* first line: "<file>  (<size> bytes)" */
    char *nl = strchr(line, '\n');
    if (!nl) return;
    *nl = 0;
    unsigned long long fsize = 0;
    const char *paren = strchr(line, '(');
    if (paren) fsize = strtoull(paren + 1, NULL, 10);
    T_CHECKF(fsize == g4_gguf_file_size(g), "%s: size %llu vs inventory %llu", fname,
             (unsigned long long)g4_gguf_file_size(g), fsize);
    for (line = nl + 1; *line && strncmp(line, "=====", 5) != 0; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = 0;
        char *val = sp + 1;
        while (*val == ' ') val++;
        /* tensor line: "<name> <TYPE> [d0, d1...]" */
        char tname[32] = {0};
        int tl = 0;
        while (val[tl] && val[tl] != ' ' && tl < 31) {
            tname[tl] = val[tl];
            tl++;
        }
        const char *rest = val + tl;
        while (*rest == ' ') rest++;
        int ty = g4_type_from_name(tname);
        if (ty >= 0 && *rest == '[') {
            n_tensors++;
            const g4_gguf_tensor *t = g4_gguf_find_tensor(g, line);
            T_CHECKF(t != NULL, "%s: tensor %s missing", fname, line);
            if (!t) continue;
            T_CHECKF((int)t->type == ty, "%s: tensor %s type %s vs %s", fname, line, g4_type_name(t->type), tname);
            const char *q = rest + 1;
            uint32_t d = 0;
            bool ok = true;
            while (*q && *q != ']') {
                char *e;
                long long v = strtoll(q, &e, 10);
                if (e == q) break;
                if (d >= 4 || t->ne[d] != v) ok = false;
                d++;
                q = e;
                while (*q == ',' || *q == ' ') q++;
            }
            T_CHECKF(ok && d == t->n_dims, "%s: tensor %s shape mismatch", fname, line);
            continue;
        }
        n_keys++;
        const g4_gguf_kv *kv = g4_gguf_find_kv(g, line);
        T_CHECKF(kv != NULL, "%s: key %s missing", fname, line);
        if (!kv) continue;
        int64_t iv;
        double dv;
        bool bv;
        const char *s;
        size_t len;
        if (kv->type == G4_GGUF_STRING) {
            T_CHECK(g4_gguf_kv_str(kv, &s, &len));
            if (!memchr(s, '\n', len))
                T_CHECKF(len == strlen(val) && memcmp(s, val, len) == 0, "%s: key %s = '%.*s' vs '%s'", fname, line,
                         (int)len, s, val);
        } else if (kv->type == G4_GGUF_BOOL) {
            T_CHECK(g4_gguf_kv_bool(kv, &bv));
            T_CHECKF(bv == (strcmp(val, "True") == 0), "%s: key %s", fname, line);
        } else if (kv->type == G4_GGUF_FLOAT32 || kv->type == G4_GGUF_FLOAT64) {
            T_CHECK(g4_gguf_kv_float(kv, &dv));
            double want = strtod(val, NULL);
            T_CHECKF(fabs(dv - want) <= 1e-6 * fabs(want), "%s: key %s = %g vs %s", fname, line, dv, val);
        } else if (kv->type == G4_GGUF_ARRAY) {
            if (strstr(val, " items]")) {
                unsigned long long n = strtoull(val + 1, NULL, 10);
                T_CHECKF(kv->arr_n == n, "%s: key %s has %llu items, inventory %llu", fname, line,
                         (unsigned long long)kv->arr_n, n);
            } else if (kv->arr_type != G4_GGUF_STRING) {
                const char *q = val + 1;
                uint64_t i = 0;
                bool ok = true;
                while (*q && *q != ']') {
                    char *e;
                    double want;
                    if (strncmp(q, "True", 4) == 0) want = 1, e = (char *)q + 4;
                    else if (strncmp(q, "False", 5) == 0) want = 0, e = (char *)q + 5;
                    else want = strtod(q, &e);
                    if (e == q) break;
                    if (kv->arr_type == G4_GGUF_BOOL) ok &= g4_gguf_arr_bool(kv, i, &bv) && bv == (want != 0);
                    else ok &= g4_gguf_arr_float(kv, i, &dv) && fabs(dv - want) <= 1e-6 * fabs(want);
                    i++;
                    q = e;
                    while (*q == ',' || *q == ' ') q++;
                }
                T_CHECKF(ok && i == kv->arr_n, "%s: key %s array mismatch", fname, line);
            }
        } else {
            T_CHECK(g4_gguf_kv_int(kv, &iv));
            T_CHECKF(iv == strtoll(val, NULL, 10), "%s: key %s = %lld vs %s", fname, line, (long long)iv, val);
        }
    }
    T_CHECKF(n_keys == g4_gguf_n_kv(g), "%s: %d keys in inventory, %lld in file", fname, n_keys,
             (long long)g4_gguf_n_kv(g));
    T_CHECKF(n_tensors == g4_gguf_n_tensors(g), "%s: %d tensors in inventory, %lld in file", fname, n_tensors,
             (long long)g4_gguf_n_tensors(g));
    g_inventory_files++;
    g_inventory_keys += n_keys;
    g_inventory_tensors += n_tensors;
}

static void inventory_lookup(const g4_gguf *g, const char *fname) {
    size_t n;
    char *inv = slurp(G4_TEST_DATA "/INVENTORY.txt", &n);
    if (!inv) return;
    char hdr[512];
    snprintf(hdr, sizeof hdr, "\n%s  (", fname);
    char *sec = strstr(inv, hdr);
    if (sec) check_inventory(g, fname, sec + 1);
    free(inv);
}

static bool arr_str_eq(const g4_gguf_kv *kv, uint64_t i, const char *want) {
    const char *s;
    size_t len;
    return g4_gguf_arr_str(kv, i, &s, &len) && len == strlen(want) && memcmp(s, want, len) == 0;
}

static int64_t key_int(const g4_gguf *g, const char *key) {
    int64_t v = -12345;
    if (!g4_gguf_kv_int(g4_gguf_find_kv(g, key), &v)) return -12345;
    return v;
}

static void check_dense_f32(const g4_gguf *g) {
    T_CHECK(g4_gguf_version(g) == 3);
    T_CHECK(g4_gguf_alignment(g) == 32);
    T_CHECK(key_int(g, "gemma4.block_count") == 5);
    T_CHECK(key_int(g, "gemma4.embedding_length") == 256);
    T_CHECK(key_int(g, "tokenizer.ggml.bos_token_id") == 2);
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, "gemma4.attention.head_count_kv");
    T_CHECK(kv && kv->type == G4_GGUF_ARRAY && kv->arr_n == 5);
    static const int hkv[5] = {2, 2, 1, 2, 1};
    for (int i = 0; kv && i < 5; i++) {
        int64_t v = -1;
        T_CHECK(g4_gguf_arr_int(kv, (uint64_t)i, &v) && v == hkv[i]);
    }
    int64_t dummy;
    T_CHECK(kv && !g4_gguf_arr_int(kv, 5, &dummy)); /* bounds */
    kv = g4_gguf_find_kv(g, "gemma4.attention.sliding_window_pattern");
    static const bool swa[5] = {true, true, false, true, false};
    for (int i = 0; kv && i < 5; i++) {
        bool b = !swa[i];
        T_CHECK(g4_gguf_arr_bool(kv, (uint64_t)i, &b) && b == swa[i]);
    }
    kv = g4_gguf_find_kv(g, "tokenizer.ggml.tokens");
    T_CHECK(kv && kv->arr_type == G4_GGUF_STRING && kv->arr_n == 640 && kv->str_off);
    T_CHECK(kv && arr_str_eq(kv, 2, "<bos>") && arr_str_eq(kv, 0, "<pad>") && arr_str_eq(kv, 7, "<turn|>"));
    kv = g4_gguf_find_kv(g, "tokenizer.ggml.merges");
    T_CHECK(kv && kv->arr_n == 256 && arr_str_eq(kv, 0, "h e") && arr_str_eq(kv, 1, "\xe2\x96\x81 t"));
    double d = 0;
    T_CHECK(g4_gguf_kv_float(g4_gguf_find_kv(g, "gemma4.rope.freq_base"), &d) && d == 1000000.0);
    const char *s;
    size_t len;
    T_CHECK(g4_gguf_kv_str(g4_gguf_find_kv(g, "general.architecture"), &s, &len) && len == 6 &&
            memcmp(s, "gemma4", 6) == 0);
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "token_embd.weight");
    T_CHECK(t && t->type == G4_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 256 && t->ne[1] == 640 &&
            t->nbytes == 256 * 640 * 4 && t->n_elements == 256 * 640);
    t = g4_gguf_find_tensor(g, "rope_freqs.weight");
    T_CHECK(t && t->ne[0] == 64 && t->n_dims == 1 && t->ne[1] == 1);
    if (t) {
        float f[64];
        memcpy(f, t->data, sizeof f);
        T_CHECK(f[0] == 1.0f && f[63] > 1e29f); /* partial rotary: 1.0 then 1e30 */
    }
    T_CHECK(g4_gguf_find_tensor(g, "blk.2.attn_v.weight") == NULL); /* K=V layer */
    T_CHECK(g4_gguf_find_tensor(g, "blk.4.ffn_down.weight") != NULL);
    T_CHECK(g4_gguf_find_tensor(g, "blk.5.ffn_down.weight") == NULL);
    T_CHECK(g4_gguf_find_kv(g, "no.such.key") == NULL);
}

static void check_e_q4_0(const g4_gguf *g) {
    T_CHECK(key_int(g, "gemma4.embedding_length_per_layer_input") == 32);
    T_CHECK(key_int(g, "gemma4.attention.shared_kv_layers") == 2);
    T_CHECK(key_int(g, "general.file_type") == 2);
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "per_layer_token_embd.weight");
    T_CHECK(t && t->type == G4_TYPE_Q8_0 && t->ne[0] == 160 && t->ne[1] == 640 && t->nbytes == 160 / 32 * 34 * 640);
    t = g4_gguf_find_tensor(g, "blk.3.ffn_down.weight");
    T_CHECK(t && t->type == G4_TYPE_Q4_0 && t->ne[0] == 256 && t->ne[1] == 128 && t->nbytes == 8 * 18 * 128);
    T_CHECK(g4_gguf_find_tensor(g, "blk.3.attn_k.weight") == NULL);
    for (int64_t i = 0; i < g4_gguf_n_tensors(g); i++) {
        t = g4_gguf_tensor_at(g, i);
        T_CHECK(t->offset % 32 == 0);
        T_CHECK(t->data != NULL || t->nbytes == 0);
    }
}

static void test_fixtures(void) {
    DIR *d = opendir(G4_TEST_DATA);
    if (!d) {
        fprintf(stderr, "test_gguf: no %s, skipping fixture tests\n", G4_TEST_DATA);
        return;
    }
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 5, ".gguf") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", G4_TEST_DATA, de->d_name);
        g4_error e = {0};
        g4_gguf *g = NULL;
        g4_status st = g4_gguf_open(path, &g, &e);
        T_CHECKF(st == G4_OK, "%s: %s", path, e.msg);
        if (st) continue;
        n++;
        (void)touch_all(g);
        inventory_lookup(g, de->d_name);
        if (strcmp(de->d_name, "dense-f32.gguf") == 0) check_dense_f32(g);
        if (strcmp(de->d_name, "e-q4_0.gguf") == 0) check_e_q4_0(g);
        g4_gguf_close(g);
    }
    closedir(d);
    fprintf(stderr, "test_gguf: %d fixture files (%d checked against INVENTORY.txt: %d keys, %d tensors)\n", n,
            g_inventory_files, g_inventory_keys, g_inventory_tensors);
}

/* ---------------------------------------------------------------- (b) round trip */

static int g_fill_calls = 0, g_fill_bad = 0;

static uint8_t pattern(int64_t t, uint64_t off) { return (uint8_t)((uint64_t)t * 131u + off * 7u + (off >> 9)); }

static void fill_pattern(void *user, int64_t t, uint64_t off, void *buf, size_t n) {
    const int *blk_bytes = user;
    if (off % (uint64_t)*blk_bytes) g_fill_bad++;
    if (n > (4u << 20)) g_fill_bad++;
    g_fill_calls++;
    uint8_t *b = buf;
    for (size_t i = 0; i < n; i++) b[i] = pattern(t, off + i);
}

/* Nested array values, hand-encoded. */
static void enc_nested_i32(bbuf *b) { /* [[1, 2], [3], []] */
    bb_u32(b, G4_GGUF_ARRAY);
    bb_u64(b, 3);
    bb_u32(b, G4_GGUF_INT32), bb_u64(b, 2), bb_u32(b, 1), bb_u32(b, 2);
    bb_u32(b, G4_GGUF_INT32), bb_u64(b, 1), bb_u32(b, 3);
    bb_u32(b, G4_GGUF_INT32), bb_u64(b, 0);
}
static void enc_nested_str(bbuf *b) { /* [["a", "bc"], ["def"]] */
    bb_u32(b, G4_GGUF_ARRAY);
    bb_u64(b, 2);
    bb_u32(b, G4_GGUF_STRING), bb_u64(b, 2), bb_str(b, "a"), bb_str(b, "bc");
    bb_u32(b, G4_GGUF_STRING), bb_u64(b, 1), bb_str(b, "def");
}
static void enc_nested3(bbuf *b) { /* [[[7.5]], [[], [8.5, 9.5]]] as f64 */
    double v[3] = {7.5, 8.5, 9.5};
    uint64_t u[3];
    memcpy(u, v, sizeof u);
    bb_u32(b, G4_GGUF_ARRAY), bb_u64(b, 2);
    bb_u32(b, G4_GGUF_ARRAY), bb_u64(b, 1);
    bb_u32(b, G4_GGUF_FLOAT64), bb_u64(b, 1), bb_u64(b, u[0]);
    bb_u32(b, G4_GGUF_ARRAY), bb_u64(b, 2);
    bb_u32(b, G4_GGUF_FLOAT64), bb_u64(b, 0);
    bb_u32(b, G4_GGUF_FLOAT64), bb_u64(b, 2), bb_u64(b, u[1]), bb_u64(b, u[2]);
}

typedef struct {
    float f32[12];
    uint16_t f16[8];
    int32_t i32[5];
    uint16_t bf16[16];
    int blk_q4, blk_q8, blk_f32;
} rt_data;

/* Builds the round-trip file. big: add a > 4 MiB fill tensor. */
static g4_gguf_writer *build_rt(uint32_t version, uint32_t align, bool big, rt_data *rd) {
    g4_gguf_writer *w = g4_gguf_writer_new();
    g4_gguf_w_version(w, version);
    if (align) g4_gguf_w_alignment(w, align);
    g4_gguf_w_u8(w, "v.u8", 200);
    g4_gguf_w_i8(w, "v.i8", -100);
    g4_gguf_w_u16(w, "v.u16", 60000);
    g4_gguf_w_i16(w, "v.i16", -30000);
    g4_gguf_w_u32(w, "v.u32", 4000000000u);
    g4_gguf_w_i32(w, "v.i32", -2000000000);
    g4_gguf_w_u64(w, "v.u64max", UINT64_MAX);
    g4_gguf_w_u64(w, "v.u64", 5);
    g4_gguf_w_i64(w, "v.i64min", INT64_MIN);
    g4_gguf_w_f32(w, "v.f32", 1.5f);
    g4_gguf_w_f64(w, "v.f64", -2.25e300);
    g4_gguf_w_bool(w, "v.true", true);
    g4_gguf_w_bool(w, "v.false", false);
    g4_gguf_w_str(w, "v.str", "h\xc3\xa9llo \xe2\x96\x81world");
    g4_gguf_w_str_n(w, "v.strnul", "a\0b", 3);
    g4_gguf_w_str(w, "v.empty", "");
    uint8_t au8[3] = {0, 128, 255};
    int8_t ai8[3] = {-128, 0, 127};
    uint16_t au16[2] = {0, 65535};
    int16_t ai16[2] = {-32768, 32767};
    uint32_t au32[2] = {0, 4294967295u};
    int32_t ai32[4] = {2, 2, 1, -7};
    uint64_t au64[2] = {1, UINT64_MAX};
    int64_t ai64[2] = {INT64_MIN, INT64_MAX};
    float af32[3] = {0.5f, -1e30f, 3.0f};
    double af64[2] = {1e-300, -0.0};
    bool abool[5] = {true, true, false, true, false};
    g4_gguf_w_arr(w, "a.u8", G4_GGUF_UINT8, au8, 3);
    g4_gguf_w_arr(w, "a.i8", G4_GGUF_INT8, ai8, 3);
    g4_gguf_w_arr(w, "a.u16", G4_GGUF_UINT16, au16, 2);
    g4_gguf_w_arr(w, "a.i16", G4_GGUF_INT16, ai16, 2);
    g4_gguf_w_arr(w, "a.u32", G4_GGUF_UINT32, au32, 2);
    g4_gguf_w_arr_i32(w, "a.i32", ai32, 4);
    g4_gguf_w_arr(w, "a.u64", G4_GGUF_UINT64, au64, 2);
    g4_gguf_w_arr(w, "a.i64", G4_GGUF_INT64, ai64, 2);
    g4_gguf_w_arr_f32(w, "a.f32", af32, 3);
    g4_gguf_w_arr(w, "a.f64", G4_GGUF_FLOAT64, af64, 2);
    g4_gguf_w_arr_bool(w, "a.bool", abool, 5);
    g4_gguf_w_arr_i32(w, "a.empty", NULL, 0);
    const char *strs[4] = {"<pad>", "", "x\0y", "\xe2\x96\x81the"};
    size_t lens[4] = {5, 0, 3, 6};
    g4_gguf_w_arr_str(w, "a.str", strs, lens, 4);
    g4_gguf_w_arr_str(w, "a.str_empty", NULL, NULL, 0);
    bbuf b = {0};
    enc_nested_i32(&b);
    g4_gguf_w_raw(w, "n.i32", G4_GGUF_ARRAY, b.p, b.n);
    b.n = 0;
    enc_nested_str(&b);
    g4_gguf_w_raw(w, "n.str", G4_GGUF_ARRAY, b.p, b.n);
    b.n = 0;
    enc_nested3(&b);
    g4_gguf_w_raw(w, "n.f64", G4_GGUF_ARRAY, b.p, b.n);
    free(b.p);

    for (int i = 0; i < 12; i++) rd->f32[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 8; i++) rd->f16[i] = (uint16_t)(0x3c00 + i);
    for (int i = 0; i < 5; i++) rd->i32[i] = -i * 1000;
    for (int i = 0; i < 16; i++) rd->bf16[i] = (uint16_t)(0x3f80 + i);
    rd->blk_q4 = 18;
    rd->blk_q8 = 34;
    rd->blk_f32 = 4;
    int64_t ne_f32[2] = {4, 3}, ne_f16[1] = {8}, ne_q4[2] = {64, 3}, ne_q8[3] = {32, 2, 2}, ne_i32[1] = {5};
    int64_t ne_bf16[4] = {2, 2, 2, 2}, ne_zero[2] = {0, 4}, ne_big[2] = {1024, 1100};
    T_CHECK(g4_gguf_w_tensor(w, "t.f32", G4_TYPE_F32, 2, ne_f32, rd->f32) == 0);
    T_CHECK(g4_gguf_w_tensor(w, "t.f16", G4_TYPE_F16, 1, ne_f16, rd->f16) == 1);
    T_CHECK(g4_gguf_w_tensor_fill(w, "t.q4_0", G4_TYPE_Q4_0, 2, ne_q4, fill_pattern, &rd->blk_q4) == 2);
    T_CHECK(g4_gguf_w_tensor(w, "t.zero", G4_TYPE_F32, 2, ne_zero, NULL) == 3);
    T_CHECK(g4_gguf_w_tensor_fill(w, "t.q8_0", G4_TYPE_Q8_0, 3, ne_q8, fill_pattern, &rd->blk_q8) == 4);
    T_CHECK(g4_gguf_w_tensor(w, "t.i32", G4_TYPE_I32, 1, ne_i32, rd->i32) == 5);
    if (big) T_CHECK(g4_gguf_w_tensor_fill(w, "t.big", G4_TYPE_F32, 2, ne_big, fill_pattern, &rd->blk_f32) == 6);
    g4_gguf_w_tensor(w, "t.bf16", G4_TYPE_BF16, 4, ne_bf16, rd->bf16); /* last: non-empty */
    g4_error e = {0};
    T_CHECKF(g4_gguf_writer_status(w, &e) == G4_OK, "writer: %s", e.msg);
    return w;
}

static void check_rt(const g4_gguf *g, uint32_t version, uint32_t align, bool big, const rt_data *rd) {
    int64_t iv;
    double dv;
    bool bv;
    const char *s;
    size_t len;
    T_CHECK(g4_gguf_version(g) == version);
    T_CHECK(g4_gguf_alignment(g) == (align ? align : 32));
    T_CHECK(g4_gguf_n_kv(g) == 33 + (align ? 1 : 0));
    T_CHECK(g4_gguf_data_offset(g) % g4_gguf_alignment(g) == 0);
#define KI(k, want) T_CHECKF(g4_gguf_kv_int(g4_gguf_find_kv(g, k), &iv) && iv == (want), "%s", k)
    KI("v.u8", 200);
    KI("v.i8", -100);
    KI("v.u16", 60000);
    KI("v.i16", -30000);
    KI("v.u32", 4000000000ll);
    KI("v.i32", -2000000000);
    KI("v.u64", 5);
    KI("v.i64min", INT64_MIN);
    KI("v.true", 1); /* integer getters accept bool */
    KI("v.false", 0);
    if (align) KI("general.alignment", align);
#undef KI
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, "v.u64max");
    T_CHECK(kv && !g4_gguf_kv_int(kv, &iv)); /* does not fit int64 */
    T_CHECK(kv && g4_gguf_kv_float(kv, &dv) && dv > 1.8e19);
    T_CHECK(g4_gguf_kv_float(g4_gguf_find_kv(g, "v.f32"), &dv) && dv == 1.5);
    T_CHECK(g4_gguf_kv_float(g4_gguf_find_kv(g, "v.f64"), &dv) && dv == -2.25e300);
    T_CHECK(g4_gguf_kv_float(g4_gguf_find_kv(g, "v.i16"), &dv) && dv == -30000.0); /* any numeric */
    T_CHECK(!g4_gguf_kv_int(g4_gguf_find_kv(g, "v.f32"), &iv));
    T_CHECK(!g4_gguf_kv_float(g4_gguf_find_kv(g, "v.true"), &dv));
    T_CHECK(!g4_gguf_kv_float(g4_gguf_find_kv(g, "v.str"), &dv));
    T_CHECK(g4_gguf_kv_bool(g4_gguf_find_kv(g, "v.true"), &bv) && bv);
    T_CHECK(g4_gguf_kv_bool(g4_gguf_find_kv(g, "v.false"), &bv) && !bv);
    T_CHECK(!g4_gguf_kv_bool(g4_gguf_find_kv(g, "v.u8"), &bv));
    T_CHECK(!g4_gguf_kv_str(g4_gguf_find_kv(g, "v.u8"), &s, &len));
    T_CHECK(!g4_gguf_kv_int(NULL, &iv));
    T_CHECK(g4_gguf_kv_str(g4_gguf_find_kv(g, "v.str"), &s, &len) && len == 15 &&
            memcmp(s, "h\xc3\xa9llo \xe2\x96\x81world", 15) == 0);
    T_CHECK(g4_gguf_kv_str(g4_gguf_find_kv(g, "v.strnul"), &s, &len) && len == 3 && memcmp(s, "a\0b", 3) == 0);
    T_CHECK(g4_gguf_kv_str(g4_gguf_find_kv(g, "v.empty"), &s, &len) && len == 0);
    kv = g4_gguf_find_kv(g, "v.u8");
    T_CHECK(kv && kv->type == G4_GGUF_UINT8 && kv->size == 1);

    /* arrays */
    static const int64_t want_u8[3] = {0, 128, 255}, want_i8[3] = {-128, 0, 127}, want_i32[4] = {2, 2, 1, -7};
    kv = g4_gguf_find_kv(g, "a.u8");
    for (int i = 0; i < 3; i++) T_CHECK(g4_gguf_arr_int(kv, (uint64_t)i, &iv) && iv == want_u8[i]);
    kv = g4_gguf_find_kv(g, "a.i8");
    for (int i = 0; i < 3; i++) T_CHECK(g4_gguf_arr_int(kv, (uint64_t)i, &iv) && iv == want_i8[i]);
    kv = g4_gguf_find_kv(g, "a.u16");
    T_CHECK(g4_gguf_arr_int(kv, 1, &iv) && iv == 65535);
    kv = g4_gguf_find_kv(g, "a.i16");
    T_CHECK(g4_gguf_arr_int(kv, 0, &iv) && iv == -32768);
    kv = g4_gguf_find_kv(g, "a.u32");
    T_CHECK(g4_gguf_arr_int(kv, 1, &iv) && iv == 4294967295ll);
    kv = g4_gguf_find_kv(g, "a.i32");
    T_CHECK(kv && kv->arr_type == G4_GGUF_INT32 && kv->arr_n == 4 && kv->size == 16 && kv->str_off == NULL);
    for (int i = 0; i < 4; i++) T_CHECK(g4_gguf_arr_int(kv, (uint64_t)i, &iv) && iv == want_i32[i]);
    T_CHECK(!g4_gguf_arr_int(kv, 4, &iv) && !g4_gguf_arr_int(kv, UINT64_MAX, &iv));
    T_CHECK(g4_gguf_arr_float(kv, 3, &dv) && dv == -7.0);
    T_CHECK(!g4_gguf_arr_str(kv, 0, &s, &len) && !g4_gguf_arr_bool(kv, 0, &bv));
    T_CHECK(!g4_gguf_kv_int(kv, &iv));
    kv = g4_gguf_find_kv(g, "a.u64");
    T_CHECK(g4_gguf_arr_int(kv, 0, &iv) && iv == 1 && !g4_gguf_arr_int(kv, 1, &iv));
    kv = g4_gguf_find_kv(g, "a.i64");
    T_CHECK(g4_gguf_arr_int(kv, 0, &iv) && iv == INT64_MIN && g4_gguf_arr_int(kv, 1, &iv) && iv == INT64_MAX);
    kv = g4_gguf_find_kv(g, "a.f32");
    T_CHECK(g4_gguf_arr_float(kv, 1, &dv) && dv == (double)-1e30f && !g4_gguf_arr_int(kv, 1, &iv));
    kv = g4_gguf_find_kv(g, "a.f64");
    T_CHECK(g4_gguf_arr_float(kv, 0, &dv) && dv == 1e-300);
    kv = g4_gguf_find_kv(g, "a.bool");
    static const bool want_b[5] = {true, true, false, true, false};
    for (int i = 0; i < 5; i++) T_CHECK(g4_gguf_arr_bool(kv, (uint64_t)i, &bv) && bv == want_b[i]);
    T_CHECK(!g4_gguf_arr_bool(kv, 5, &bv));
    kv = g4_gguf_find_kv(g, "a.empty");
    T_CHECK(kv && kv->arr_n == 0 && kv->size == 0 && !g4_gguf_arr_int(kv, 0, &iv));
    kv = g4_gguf_find_kv(g, "a.str");
    T_CHECK(kv && kv->arr_type == G4_GGUF_STRING && kv->arr_n == 4 && kv->str_off);
    T_CHECK(arr_str_eq(kv, 0, "<pad>") && arr_str_eq(kv, 1, "") && arr_str_eq(kv, 3, "\xe2\x96\x81the"));
    T_CHECK(g4_gguf_arr_str(kv, 2, &s, &len) && len == 3 && memcmp(s, "x\0y", 3) == 0);
    T_CHECK(!g4_gguf_arr_str(kv, 4, &s, &len) && !g4_gguf_arr_int(kv, 0, &iv));
    kv = g4_gguf_find_kv(g, "a.str_empty");
    T_CHECK(kv && kv->arr_n == 0 && !g4_gguf_arr_str(kv, 0, &s, &len));

    /* nested */
    g4_gguf_kv sub, sub2;
    kv = g4_gguf_find_kv(g, "n.i32");
    T_CHECK(kv && kv->arr_type == G4_GGUF_ARRAY && kv->arr_n == 3);
    T_CHECK(g4_gguf_arr_sub(kv, 0, &sub) && sub.arr_type == G4_GGUF_INT32 && sub.arr_n == 2 &&
            g4_gguf_arr_int(&sub, 1, &iv) && iv == 2);
    T_CHECK(g4_gguf_arr_sub(kv, 1, &sub) && sub.arr_n == 1 && g4_gguf_arr_int(&sub, 0, &iv) && iv == 3);
    T_CHECK(g4_gguf_arr_sub(kv, 2, &sub) && sub.arr_n == 0 && !g4_gguf_arr_int(&sub, 0, &iv));
    T_CHECK(!g4_gguf_arr_sub(kv, 3, &sub) && !g4_gguf_arr_int(kv, 0, &iv));
    kv = g4_gguf_find_kv(g, "n.str");
    T_CHECK(g4_gguf_arr_sub(kv, 0, &sub) && arr_str_eq(&sub, 0, "a") && arr_str_eq(&sub, 1, "bc") &&
            !g4_gguf_arr_str(&sub, 2, &s, &len));
    T_CHECK(g4_gguf_arr_sub(kv, 1, &sub) && arr_str_eq(&sub, 0, "def"));
    kv = g4_gguf_find_kv(g, "n.f64");
    T_CHECK(g4_gguf_arr_sub(kv, 0, &sub) && g4_gguf_arr_sub(&sub, 0, &sub2) && g4_gguf_arr_float(&sub2, 0, &dv) &&
            dv == 7.5);
    T_CHECK(g4_gguf_arr_sub(kv, 1, &sub) && sub.arr_n == 2 && g4_gguf_arr_sub(&sub, 1, &sub2) &&
            g4_gguf_arr_float(&sub2, 1, &dv) && dv == 9.5);
    T_CHECK(g4_gguf_arr_sub(&sub, 0, &sub2) && sub2.arr_n == 0);

    /* tensors */
    T_CHECK(g4_gguf_n_tensors(g) == (big ? 8 : 7));
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "t.f32");
    T_CHECK(t && t->type == G4_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 4 && t->ne[1] == 3 && t->ne[2] == 1 &&
            t->nbytes == 48 && memcmp(t->data, rd->f32, 48) == 0 && t->offset == 0);
    t = g4_gguf_find_tensor(g, "t.f16");
    T_CHECK(t && t->nbytes == 16 && memcmp(t->data, rd->f16, 16) == 0);
    t = g4_gguf_find_tensor(g, "t.i32");
    T_CHECK(t && t->type == G4_TYPE_I32 && t->nbytes == 20 && memcmp(t->data, rd->i32, 20) == 0);
    t = g4_gguf_find_tensor(g, "t.bf16");
    T_CHECK(t && t->n_dims == 4 && t->ne[3] == 2 && t->n_elements == 16 && memcmp(t->data, rd->bf16, 32) == 0);
    t = g4_gguf_find_tensor(g, "t.zero");
    T_CHECK(t && t->nbytes == 0 && t->n_elements == 0);
    for (int64_t i = 0; i < g4_gguf_n_tensors(g); i++) {
        t = g4_gguf_tensor_at(g, i);
        T_CHECK(t->offset % g4_gguf_alignment(g) == 0);
        if (strcmp(t->name, "t.q4_0") && strcmp(t->name, "t.q8_0") && strcmp(t->name, "t.big")) continue;
        const uint8_t *d = t->data;
        bool ok = true;
        for (size_t k = 0; k < t->nbytes; k++) ok &= d[k] == pattern(i, k);
        T_CHECKF(ok, "fill data of %s", t->name);
    }
    t = g4_gguf_find_tensor(g, "t.q4_0");
    T_CHECK(t && t->nbytes == 2 * 18 * 3);
    t = g4_gguf_find_tensor(g, "t.q8_0");
    T_CHECK(t && t->nbytes == 34 * 4 && t->n_elements == 128);
    if (big) {
        t = g4_gguf_find_tensor(g, "t.big");
        T_CHECK(t && t->nbytes == 1024 * 1100 * 4);
    }
    T_CHECK(g4_gguf_find_tensor(g, "t.none") == NULL && g4_gguf_find_tensor(g, "t") == NULL);
    T_CHECK(g4_gguf_tensor_at(g, -1) == NULL && g4_gguf_tensor_at(g, 100) == NULL && g4_gguf_kv_at(g, -1) == NULL);
    (void)touch_all(g);
}

static void test_round_trip(void) {
    static const struct {
        uint32_t version, align;
        bool big;
    } cfg[] = {{3, 0, true}, {2, 0, false}, {3, 64, false}, {3, 1, false}, {3, 4096, false}, {2, 8, false}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        rt_data rd;
        g_fill_calls = g_fill_bad = 0;
        g4_gguf_writer *w = build_rt(cfg[c].version, cfg[c].align, cfg[c].big, &rd);
        uint64_t want_size = g4_gguf_writer_size(w);
        uint8_t *buf = NULL;
        size_t n = 0;
        g4_error e = {0};
        void *vb = NULL;
        T_CHECKF(g4_gguf_writer_write_mem(w, &vb, &n, &e) == G4_OK, "%s", e.msg);
        buf = vb;
        T_CHECK(n == want_size);
        T_CHECK(g_fill_bad == 0 && g_fill_calls >= (cfg[c].big ? 4 : 2));
        g4_gguf *g = OPEN_OK(buf, n);
        if (g) {
            check_rt(g, cfg[c].version, cfg[c].align, cfg[c].big, &rd);
            T_CHECK(g4_gguf_file_size(g) == n);
            g4_gguf_close(g);
        }
        /* the same through a file and mmap; bytes must be identical */
        char path[] = "/tmp/test_gguf_XXXXXX";
        int fd = mkstemp(path);
        T_CHECK(fd >= 0);
        if (fd >= 0) close(fd);
        e.code = G4_OK;
        T_CHECKF(g4_gguf_writer_write_file(w, path, &e) == G4_OK, "%s", e.msg);
        size_t fn = 0;
        char *fb = slurp(path, &fn);
        T_CHECK(fb && fn == n && memcmp(fb, buf, n) == 0);
        free(fb);
        g = NULL;
        e.code = G4_OK;
        T_CHECKF(g4_gguf_open(path, &g, &e) == G4_OK, "%s", e.msg);
        if (g) {
            check_rt(g, cfg[c].version, cfg[c].align, cfg[c].big, &rd);
            g4_gguf_close(g);
        }
        if (c == 0) {
            /* a truncated file on disk: the message names the path */
            T_CHECK(truncate(path, (off_t)(n - 1)) == 0);
            g = NULL;
            memset(&e, 0, sizeof e);
            T_CHECK(g4_gguf_open(path, &g, &e) == G4_ERR_FORMAT && g == NULL);
            T_CHECKF(strstr(e.msg, path) == e.msg && strstr(e.msg, "exceeds file size"), "%s", e.msg);
        }
        unlink(path);
        g4_gguf_writer_free(w);
        free(buf);
    }
    /* I/O errors */
    g4_error e = {0};
    g4_gguf *g = NULL;
    T_CHECK(g4_gguf_open("/nonexistent/dir/x.gguf", &g, &e) == G4_ERR_IO && g == NULL &&
            strstr(e.msg, "/nonexistent/dir/x.gguf"));
    memset(&e, 0, sizeof e);
    T_CHECK(g4_gguf_open("/tmp", &g, &e) == G4_ERR_IO && strstr(e.msg, "regular"));
    /* an empty file on disk */
    char path[] = "/tmp/test_gguf_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    memset(&e, 0, sizeof e);
    T_CHECK(g4_gguf_open(path, &g, &e) == G4_ERR_FORMAT && strstr(e.msg, "truncated header"));
    unlink(path);
    /* a file without tensors and without keys */
    g4_gguf_writer *w = g4_gguf_writer_new();
    uint8_t *buf;
    size_t n;
    write_mem_ok(w, &buf, &n);
    T_CHECK(n == 32);
    g = OPEN_OK(buf, n);
    if (g) {
        T_CHECK(g4_gguf_n_kv(g) == 0 && g4_gguf_n_tensors(g) == 0 && g4_gguf_find_kv(g, "x") == NULL &&
                g4_gguf_find_tensor(g, "x") == NULL);
        g4_gguf_close(g);
    }
    g = OPEN_OK(buf, 24); /* unpadded: fine, there is no data */
    g4_gguf_close(g);
    free(buf);
    /* writer argument checks */
    w = g4_gguf_writer_new();
    int64_t ne[2] = {33, 2};
    T_CHECK(g4_gguf_w_tensor_fill(w, "x", G4_TYPE_Q4_0, 2, ne, fill_pattern, NULL) == -1);
    memset(&e, 0, sizeof e);
    T_CHECK(g4_gguf_writer_status(w, &e) == G4_ERR_ARG && strstr(e.msg, "multiple"));
    T_CHECK(g4_gguf_w_u32(w, "k", 1) == G4_ERR_ARG); /* sticky */
    void *vb;
    T_CHECK(g4_gguf_writer_write_mem(w, &vb, &n, NULL) == G4_ERR_ARG);
    g4_gguf_writer_free(w);
    w = g4_gguf_writer_new();
    T_CHECK(g4_gguf_w_alignment(w, 3) == G4_ERR_ARG);
    g4_gguf_writer_free(w);
    w = g4_gguf_writer_new();
    int64_t ne1[1] = {4};
    static const float four[4] = {1, 2, 3, 4};
    T_CHECK(g4_gguf_w_tensor(w, "t", 4, 1, ne1, four) == -1); /* removed type id */
    g4_gguf_writer_free(w);
}

/* ---------------------------------------------------------------- (c) malformed files */

static float g_base_f32[64];
static uint8_t g_base_q4[2 * 2 * 18];

/* A small valid file: 5 keys, tensors "T" (f32 [32, 2]) and "Q" (q4_0 [64, 2]). */
static void build_base(uint8_t **buf, size_t *n) {
    g4_gguf_writer *w = g4_gguf_writer_new();
    g4_gguf_w_str(w, "general.architecture", "gemma4");
    g4_gguf_w_u32(w, "test.count", 7);
    g4_gguf_w_str(w, "general.name", "base model");
    int32_t arr[3] = {1, 2, 3};
    g4_gguf_w_arr_i32(w, "test.arr", arr, 3);
    const char *toks[3] = {"<pad>", "<eos>", "<bos>"};
    g4_gguf_w_arr_str(w, "test.toks", toks, NULL, 3);
    int64_t ne_t[2] = {32, 2}, ne_q[2] = {64, 2};
    for (int i = 0; i < 64; i++) g_base_f32[i] = (float)i;
    g4_gguf_w_tensor(w, "T", G4_TYPE_F32, 2, ne_t, g_base_f32);
    g4_gguf_w_tensor(w, "Q", G4_TYPE_Q4_0, 2, ne_q, g_base_q4);
    write_mem_ok(w, buf, n);
}

/* A copy of the base file to patch. */
static uint8_t *base_copy(const uint8_t *base, size_t n) {
    uint8_t *c = malloc(n);
    memcpy(c, base, n);
    return c;
}

/* Tensor info fields of "T" (2 dims) in the base file. */
enum { TI_NDIMS = 0, TI_NE0 = 4, TI_NE1 = 12, TI_TYPE = 20, TI_OFF = 24 };

static void test_malformed(void) {
    uint8_t *base;
    size_t n;
    build_base(&base, &n);
    g4_gguf *g = OPEN_OK(base, n);
    if (!g) return;
    T_CHECK(g4_gguf_n_kv(g) == 5 && g4_gguf_n_tensors(g) == 2);
    g4_gguf_close(g);
    const size_t ti_t = after_name(base, n, "T"), ti_q = after_name(base, n, "Q");
    g4_gguf_writer *w1;
    T_CHECK(ti_t && ti_q);
    uint8_t *c;

    /* magic and version */
    c = base_copy(base, n);
    c[0] = 'X';
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "bad magic", "bad magic");
    static const struct {
        uint32_t v;
        g4_status st;
        const char *needle;
    } vers[] = {{0, G4_ERR_FORMAT, "version 0"},
                {1, G4_ERR_UNSUPPORTED, "version 1"},
                {4, G4_ERR_UNSUPPORTED, "version 4"},
                {0xffffffffu, G4_ERR_UNSUPPORTED, "version"},
                {0x03000000u, G4_ERR_UNSUPPORTED, "big-endian"}};
    for (size_t i = 0; i < sizeof vers / sizeof vers[0]; i++) {
        memcpy(c, base, n);
        put32(c + 4, vers[i].v);
        EXPECT_ERR(c, n, vers[i].st, vers[i].needle, "version");
    }

    /* truncated header */
    EXPECT_ERR(base, 0, G4_ERR_FORMAT, "truncated header", "empty");
    EXPECT_ERR(base, 3, G4_ERR_FORMAT, "truncated header", "3 bytes");
    EXPECT_ERR(base, 10, G4_ERR_FORMAT, "truncated header", "10 bytes");
    EXPECT_ERR(base, 23, G4_ERR_FORMAT, "truncated header", "23 bytes");

    /* absurd counts */
    memcpy(c, base, n);
    put64(c + 16, 1ull << 62);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "absurd n_kv", "n_kv 2^62");
    memcpy(c, base, n);
    put64(c + 16, UINT64_MAX);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "absurd n_kv", "n_kv max");
    memcpy(c, base, n);
    put64(c + 8, 1ull << 62);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "absurd n_tensors", "n_tensors 2^62");
    memcpy(c, base, n);
    put64(c + 8, 1000);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "n_tensors", "n_tensors 1000");

    /* keys */
    size_t k = after_name(base, n, "test.count"); /* -> type u32, value */
    memcpy(c, base, n);
    put64(c + k - 10 - 8, 1ull << 62);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "key length", "key length 2^62");
    memcpy(c, base, n);
    put64(c + k - 10 - 8, 0);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "empty key", "empty key");
    memcpy(c, base, n);
    put32(c + k, 13);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "invalid value type 13", "value type 13");
    memcpy(c, base, n);
    c[k - 6] = 0; /* "test\0count" */
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "NUL", "NUL in key");
    k = after_name(base, n, "general.name"); /* -> type string, u64 length, bytes */
    memcpy(c, base, n);
    put64(c + k + 4, 1ull << 62);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "absurd string length", "string length 2^62");
    memcpy(c, base, n);
    put64(c + k + 4, n - (k + 12) + 1);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "truncated string", "string one past the end");
    k = after_name(base, n, "test.arr"); /* -> type array, u32 elem type, u64 count */
    memcpy(c, base, n);
    put64(c + k + 8, 1ull << 62);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "does not fit", "array count 2^62");
    memcpy(c, base, n);
    put32(c + k + 4, 13);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "invalid array element type", "array elem type 13");
    memcpy(c, base, n);
    put32(c + k + 4, G4_GGUF_ARRAY); /* elements reinterpreted as array headers */
    put64(c + k + 8, 1);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "array of 12884901890 i8 elements", "array of array of junk");
    k = after_name(base, n, "test.toks");
    memcpy(c, base, n);
    put64(c + k + 8, UINT64_MAX);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "does not fit", "string array count max");
    memcpy(c, base, n);
    put64(c + k + 12 + 2 * 13, 1ull << 62); /* length of element 2 ("<bos>") */
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "element 2", "string element length 2^62");

    /* tensor infos */
    struct {
        size_t field;
        uint64_t v;
        int width;
        g4_status st;
        const char *needle;
        const char *label;
    } tp[] = {
        {TI_NDIMS, 0, 4, G4_ERR_FORMAT, "n_dims 0", "n_dims 0"},
        {TI_NDIMS, 5, 4, G4_ERR_FORMAT, "n_dims 5", "n_dims 5"},
        {TI_NE0, 1ull << 63, 8, G4_ERR_FORMAT, "negative", "ne0 negative"},
        {TI_NE1, UINT64_MAX, 8, G4_ERR_FORMAT, "negative", "ne1 -1"},
        {TI_TYPE, 4, 4, G4_ERR_FORMAT, "removed ggml type id 4", "type 4"},
        {TI_TYPE, 5, 4, G4_ERR_FORMAT, "removed ggml type id 5", "type 5"},
        {TI_TYPE, 99, 4, G4_ERR_UNSUPPORTED, "unknown ggml type id 99", "type 99"},
        {TI_TYPE, 0xffffffffu, 4, G4_ERR_UNSUPPORTED, "unknown ggml type id", "type max"},
        {TI_TYPE, G4_TYPE_Q4_0, 4, G4_ERR_FORMAT, "block size", "f32 shape as q4_0 (ne0 32 ok) -> range"},
        {TI_OFF, 1, 8, G4_ERR_FORMAT, "not a multiple of the alignment", "offset 1"},
        {TI_OFF, 1 << 20, 8, G4_ERR_FORMAT, "exceeds file size", "offset 1 MiB"},
        {TI_OFF, 1ull << 63, 8, G4_ERR_FORMAT, "exceeds file size", "offset 2^63"},
        {TI_OFF, UINT64_MAX & ~31ull, 8, G4_ERR_FORMAT, "exceeds file size", "offset max"},
    };
    for (size_t i = 0; i < sizeof tp / sizeof tp[0]; i++) {
        memcpy(c, base, n);
        if (tp[i].width == 4) put32(c + ti_t + tp[i].field, (uint32_t)tp[i].v);
        else put64(c + ti_t + tp[i].field, tp[i].v);
        if (tp[i].field == TI_TYPE && tp[i].v == G4_TYPE_Q4_0) {
            /* [32, 2] q4_0 is 72 bytes < 256: valid; make ne0 = 48 instead */
            put64(c + ti_t + TI_NE0, 48);
        }
        EXPECT_ERR(c, n, tp[i].st, tp[i].needle, tp[i].label);
    }
    /* the tensor name is in the message */
    memcpy(c, base, n);
    put64(c + ti_q + TI_OFF, 1 << 20);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "tensor 'Q': data [", "Q out of range");
    /* q4_0 ne0 not a multiple of 32 */
    memcpy(c, base, n);
    put64(c + ti_q + TI_NE0, 48);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "not a multiple of the q4_0 block size 32", "q4_0 ne0 48");
    /* element-count and byte-size overflow */
    memcpy(c, base, n);
    put64(c + ti_t + TI_NE0, 1ull << 40);
    put64(c + ti_t + TI_NE1, 1ull << 40);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "element count", "ne 2^40 x 2^40");
    memcpy(c, base, n);
    put64(c + ti_t + TI_NE0, 1ull << 32);
    put64(c + ti_t + TI_NE1, 1ull << 30);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "byte size", "2^62 f32 elements");
    memcpy(c, base, n);
    put32(c + ti_t + TI_TYPE, G4_TYPE_I64);
    put64(c + ti_t + TI_NE0, 1ull << 31);
    put64(c + ti_t + TI_NE1, 1ull << 31);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "byte size", "2^62 i64 elements");
    memcpy(c, base, n);
    put64(c + ti_q + TI_NE0, 1ull << 62);
    put64(c + ti_q + TI_NE1, 4);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "element count", "2^64 q4_0 elements");
    memcpy(c, base, n);
    put64(c + ti_t + TI_NE0, 1ull << 20);
    put64(c + ti_t + TI_NE1, 1ull << 20);
    EXPECT_ERR(c, n, G4_ERR_FORMAT, "exceeds file size", "4 TiB tensor");
    /* zero-sized dims are allowed */
    memcpy(c, base, n);
    put64(c + ti_t + TI_NE1, 0);
    g = OPEN_OK(c, n);
    if (g) {
        const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "T");
        T_CHECK(t && t->nbytes == 0 && t->n_elements == 0);
        g4_gguf_close(g);
    }

    /* truncations inside specific fields */
    EXPECT_ERR(base, ti_t - 1, G4_ERR_FORMAT, "truncated tensor name", "tensor name");
    EXPECT_ERR(base, ti_t + 2, G4_ERR_FORMAT, "truncated n_dims", "n_dims");
    EXPECT_ERR(base, ti_t + 9, G4_ERR_FORMAT, "truncated shape", "shape");
    EXPECT_ERR(base, ti_t + 21, G4_ERR_FORMAT, "truncated type", "type");
    EXPECT_ERR(base, ti_t + 30, G4_ERR_FORMAT, "truncated data offset", "offset");
    EXPECT_ERR(base, 100, G4_ERR_FORMAT, "truncated or corrupt", "counts vs bytes left");
    /* keys and values: single-key files cut inside the key */
    {
        uint8_t *kb;
        size_t kn;
        w1 = g4_gguf_writer_new();
        g4_gguf_w_str(w1, "s", "0123456789012345678901234567890123456789"); /* 61 bytes */
        g4_gguf_w_u32(w1, "k", 7);
        write_mem_ok(w1, &kb, &kn); /* then 8 + 1 + 4 + 4 */
        EXPECT_ERR(kb, 24 + 61 + 7, G4_ERR_FORMAT, "key #1: truncated key length at byte 85", "key length");
        EXPECT_ERR(kb, 24 + 61 + 8 + 1 + 2, G4_ERR_FORMAT, "truncated value type", "value type");
        EXPECT_ERR(kb, 24 + 61 + 8 + 1 + 4 + 2, G4_ERR_FORMAT, "key 'k': truncated u32 value", "u32 value");
        free(kb);
        w1 = g4_gguf_writer_new();
        g4_gguf_w_u32(w1, "general.key", 7);
        write_mem_ok(w1, &kb, &kn);
        EXPECT_ERR(kb, 24 + 8 + 8, G4_ERR_FORMAT, "truncated key at byte 24", "key string");
        free(kb);
        w1 = g4_gguf_writer_new();
        g4_gguf_w_str(w1, "k", "hello world");
        write_mem_ok(w1, &kb, &kn);
        EXPECT_ERR(kb, 24 + 13 + 5, G4_ERR_FORMAT, "truncated string length", "value string length");
        EXPECT_ERR(kb, 24 + 13 + 8 + 10, G4_ERR_FORMAT, "key 'k': truncated string at byte 37", "value string");
        free(kb);
        int32_t a100[100] = {0};
        w1 = g4_gguf_writer_new();
        g4_gguf_w_arr_i32(w1, "k", a100, 100);
        write_mem_ok(w1, &kb, &kn);
        EXPECT_ERR(kb, 24 + 13 + 10, G4_ERR_FORMAT, "truncated array header", "array header");
        EXPECT_ERR(kb, 24 + 13 + 12 + 396, G4_ERR_FORMAT, "array of 100 i32 elements at byte 37 does not fit",
                   "array elements");
        free(kb);
        const char *toks[3] = {"<pad>", "<eos>", "<bos>"};
        w1 = g4_gguf_writer_new();
        g4_gguf_w_arr_str(w1, "k", toks, NULL, 3);
        write_mem_ok(w1, &kb, &kn);
        EXPECT_ERR(kb, 24 + 13 + 12 + 13 + 13 + 4, G4_ERR_FORMAT, "truncated string length of element 2", "str len");
        EXPECT_ERR(kb, 24 + 13 + 12 + 13 + 13 + 8 + 2, G4_ERR_FORMAT, "truncated string at byte 75 (element 2",
                   "str elem");
        free(kb);
    }
    EXPECT_ERR(base, n - 1, G4_ERR_FORMAT, "exceeds file size", "data");
    free(c);

    /* a truncated key string, hand-made */
    bbuf b = {0};
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 0);
    bb_u64(&b, 1);
    bb_u64(&b, 100);
    bb_put(&b, "general.", 8);
    EXPECT_ERR(b.p, b.n, G4_ERR_FORMAT, "truncated key at byte 24", "key runs past the end");
    bb_put(&b, "0123456789", 10); /* room for one kv, but the key runs past the end */
    EXPECT_ERR(b.p, b.n, G4_ERR_FORMAT, "truncated key at byte 24", "truncated key");

    /* duplicates */
    g4_gguf_writer *w = g4_gguf_writer_new();
    g4_gguf_w_u32(w, "a.b", 1);
    g4_gguf_w_u32(w, "c", 2);
    g4_gguf_w_str(w, "a.b", "again");
    uint8_t *buf;
    size_t bn;
    write_mem_ok(w, &buf, &bn);
    EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "key 'a.b': duplicate key", "duplicate key");
    free(buf);
    w = g4_gguf_writer_new();
    int64_t ne[1] = {8};
    g4_gguf_w_tensor(w, "x", G4_TYPE_F32, 1, ne, g_base_f32);
    g4_gguf_w_tensor(w, "blk.0.attn_q.weight", G4_TYPE_F32, 1, ne, g_base_f32);
    g4_gguf_w_tensor(w, "blk.0.attn_q.weight", G4_TYPE_F32, 1, ne, g_base_f32);
    write_mem_ok(w, &buf, &bn);
    EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "tensor 'blk.0.attn_q.weight': duplicate tensor name", "duplicate tensor");
    free(buf);
    /* NUL in a tensor name */
    w = g4_gguf_writer_new();
    g4_gguf_w_tensor(w, "ab", G4_TYPE_F32, 1, ne, g_base_f32);
    write_mem_ok(w, &buf, &bn);
    k = after_name(buf, bn, "ab");
    buf[k - 1] = 0;
    EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "contains a NUL", "NUL in tensor name");
    free(buf);

    /* alignment */
    static const uint64_t bad_align[] = {0, 3, 48, 1ull << 32, 1ull << 40};
    for (size_t i = 0; i < sizeof bad_align / sizeof bad_align[0]; i++) {
        w = g4_gguf_writer_new();
        if (bad_align[i] >> 32) g4_gguf_w_u64(w, "general.alignment", bad_align[i]);
        else g4_gguf_w_u32(w, "general.alignment", (uint32_t)bad_align[i]);
        g4_gguf_w_tensor(w, "x", G4_TYPE_F32, 1, ne, g_base_f32);
        write_mem_ok(w, &buf, &bn);
        EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "general.alignment", "bad alignment");
        free(buf);
    }
    w = g4_gguf_writer_new();
    g4_gguf_w_str(w, "general.alignment", "32");
    write_mem_ok(w, &buf, &bn);
    EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "general.alignment has type string", "alignment string");
    free(buf);
    w = g4_gguf_writer_new();
    g4_gguf_w_i32(w, "general.alignment", -32);
    write_mem_ok(w, &buf, &bn);
    EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "general.alignment -32", "alignment negative");
    free(buf);

    /* nested-array depth: 8 levels are fine, 9 and 1000 are not */
    for (int depth = 8; depth <= 1000; depth = depth == 8 ? 9 : 1000) {
        b.n = 0;
        for (int i = 0; i < depth - 1; i++) bb_u32(&b, G4_GGUF_ARRAY), bb_u64(&b, 1);
        bb_u32(&b, G4_GGUF_INT32), bb_u64(&b, 1), bb_u32(&b, 42);
        w = g4_gguf_writer_new();
        g4_gguf_w_raw(w, "deep", G4_GGUF_ARRAY, b.p, b.n);
        write_mem_ok(w, &buf, &bn);
        if (depth == 8) {
            g = OPEN_OK(buf, bn);
            if (g) {
                g4_gguf_kv cur = *g4_gguf_find_kv(g, "deep"), nx;
                int levels = 1;
                while (g4_gguf_arr_sub(&cur, 0, &nx)) cur = nx, levels++;
                int64_t iv = 0;
                T_CHECK(levels == 8 && g4_gguf_arr_int(&cur, 0, &iv) && iv == 42);
                g4_gguf_close(g);
            }
        } else {
            EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "nested deeper than 8", "depth bomb");
        }
        free(buf);
        if (depth == 1000) break;
    }
    /* a wide nest: 100000 empty arrays is fine and linear */
    b.n = 0;
    bb_u32(&b, G4_GGUF_ARRAY), bb_u64(&b, 100000);
    for (int i = 0; i < 100000; i++) bb_u32(&b, G4_GGUF_STRING), bb_u64(&b, 0);
    w = g4_gguf_writer_new();
    g4_gguf_w_raw(w, "wide", G4_GGUF_ARRAY, b.p, b.n);
    write_mem_ok(w, &buf, &bn);
    g = OPEN_OK(buf, bn);
    if (g) {
        const g4_gguf_kv *kv = g4_gguf_find_kv(g, "wide");
        g4_gguf_kv sub;
        T_CHECK(kv && kv->arr_n == 100000 && kv->str_off && g4_gguf_arr_sub(kv, 99999, &sub) && sub.arr_n == 0);
        g4_gguf_close(g);
    }
    free(buf);
    free(b.p);

    /* over-long names */
    char *longname = malloc(70001);
    memset(longname, 'k', 70000);
    longname[70000] = 0;
    w = g4_gguf_writer_new();
    g4_gguf_w_u32(w, longname, 1);
    write_mem_ok(w, &buf, &bn);
    EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "key length 70000", "long key");
    free(buf);
    w = g4_gguf_writer_new();
    g4_gguf_w_tensor(w, longname, G4_TYPE_F32, 1, ne, g_base_f32);
    write_mem_ok(w, &buf, &bn);
    EXPECT_ERR(buf, bn, G4_ERR_FORMAT, "tensor name length 70000", "long tensor name");
    free(buf);
    free(longname);

    /* open_memory argument checks */
    g4_error e = {0};
    T_CHECK(g4_gguf_open_memory(NULL, 10, &g, &e) == G4_ERR_ARG);
    free(base);
}

/* ---------------------------------------------------------------- (d) truncation / corruption */

static int g_any_opens = 0, g_any_ok = 0;

static void open_any(const uint8_t *src, size_t n, bool must_fail, const char *label, size_t at) {
    g_any_opens++;
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, src, n);
    g4_error e = {0};
    g4_gguf *g = NULL;
    g4_status st = g4_gguf_open_memory(copy, n, &g, &e);
    if (st == G4_OK) {
        g_any_ok++;
        T_CHECKF(!must_fail, "%s: %zu bytes opened", label, at);
        T_CHECK(g != NULL);
        (void)touch_all(g);
        g4_gguf_close(g);
    } else {
        if (!(g == NULL && e.code == st && e.msg[0] && strncmp(e.msg, "gguf: ", 6) == 0)) {
            T_CHECKF(0, "%s at %zu: status %d msg '%s'", label, at, (int)st, e.msg);
        }
    }
    free(copy);
}

static void test_truncation(void) {
    rt_data rd;
    g4_gguf_writer *w = build_rt(3, 0, false, &rd);
    uint8_t *buf;
    size_t n;
    write_mem_ok(w, &buf, &n);
    for (size_t len = 0; len < n; len++) open_any(buf, len, true, "rt truncated", len);
    open_any(buf, n, false, "rt full", n);
    free(buf);

    size_t fn;
    char *fx = slurp(G4_TEST_DATA "/e-q4_0.gguf", &fn);
    if (fx) {
        g4_gguf *g = OPEN_OK(fx, fn);
        size_t hdr = g ? (size_t)g4_gguf_data_offset(g) : 0;
        g4_gguf_close(g);
        for (size_t len = 0; len < fn; len += len < hdr + 256 ? 1 : 4099)
            open_any((const uint8_t *)fx, len, len < hdr, "e-q4_0 truncated", len);
        free(fx);
    }
}

static void corrupt_loop(const uint8_t *src, size_t n, size_t hdr, int iters, const char *label) {
    static const uint64_t interesting[] = {0, 1, 2, 3, 4, 5, 8, 12, 13, 31, 32, 255, 65535, 65536, 0x7fffffffu,
                                           0x80000000u, 0xffffffffu, 1ull << 32, 1ull << 40, 1ull << 62,
                                           1ull << 63, UINT64_MAX, UINT64_MAX - 7};
    uint8_t *copy = malloc(n);
    for (int it = 0; it < iters; it++) {
        memcpy(copy, src, n);
        int nflip = 1 + (int)(rnd() % 4);
        for (int f = 0; f < nflip; f++) {
            size_t pos = (size_t)(rnd() % hdr);
            uint64_t r = rnd();
            if (r % 3 == 0 && pos + 8 <= n) {
                put64(copy + pos, interesting[(r >> 8) % (sizeof interesting / sizeof interesting[0])]);
            } else if (r % 3 == 1 && pos + 4 <= n) {
                put32(copy + pos, (uint32_t)interesting[(r >> 8) % (sizeof interesting / sizeof interesting[0])]);
            } else {
                copy[pos] ^= (uint8_t)(1u << ((r >> 8) % 8));
            }
        }
        /* also sometimes cut the corrupted file */
        size_t len = (rnd() % 4 == 0) ? (size_t)(rnd() % n) : n;
        open_any(copy, len, false, label, (size_t)it);
    }
    free(copy);
}

static void test_corruption(void) {
    rng_state = 0x1234567887654321ull;
    rt_data rd;
    g4_gguf_writer *w = build_rt(3, 0, false, &rd);
    uint8_t *buf;
    size_t n;
    write_mem_ok(w, &buf, &n);
    g4_gguf *g = OPEN_OK(buf, n);
    size_t hdr = g ? (size_t)g4_gguf_data_offset(g) : n;
    g4_gguf_close(g);
    corrupt_loop(buf, n, hdr, 4000, "rt corrupted");
    free(buf);
    char *fx = slurp(G4_TEST_DATA "/e-q4_0.gguf", &n);
    if (fx) {
        g = OPEN_OK(fx, n);
        hdr = g ? (size_t)g4_gguf_data_offset(g) : n;
        g4_gguf_close(g);
        corrupt_loop((const uint8_t *)fx, n, hdr, 1000, "e-q4_0 corrupted");
        free(fx);
    }
}

int main(void) {
    test_fixtures();
    test_round_trip();
    test_malformed();
    test_truncation();
    fprintf(stderr, "test_gguf: truncation: %d opens, %d ok\n", g_any_opens, g_any_ok);
    g_any_opens = g_any_ok = 0;
    test_corruption();
    fprintf(stderr, "test_gguf: corruption: %d opens, %d ok\n", g_any_opens, g_any_ok);
    return T_DONE();
}
