/* gguf.c — bounds-checked GGUF v2/v3 reader.
 *
 * The whole file is mapped read-only (or a caller buffer is borrowed) and parsed in one
 * pass. Every count, length and offset is checked against the bytes that remain before
 * it is used; sizes are computed with explicit overflow checks. Keys and tensor names
 * are copied (NUL-terminated) into one arena; values and tensor data stay in the file.
 *
 * Layout (little endian):
 *   magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x (string key, u32 type, value), n_tensors x tensor_info, padding, data.
 * v2 and v3 share this layout (v1 used u32 counts and is rejected). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

#define GGUF_MAX_NAME 65536u        /* longest key / tensor name we accept */
#define GGUF_MAX_DEPTH 8            /* deepest array nesting (top-level array = 1) */
#define GGUF_MAX_ITEMS (1ull << 24) /* n_kv / n_tensors sanity cap */
#define GGUF_DEFAULT_ALIGN 32u

struct g4_gguf {
    const uint8_t *base;
    size_t size;
    void *map;
    size_t map_len;
    uint32_t version;
    size_t alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    g4_gguf_kv *kv;
    g4_gguf_tensor *t;
    uint32_t *kv_len, *t_len; /* name lengths */
    char *names;              /* arena of NUL-terminated names */
    uint32_t *kv_hash, *t_hash; /* open addressing: index + 1, 0 = empty */
    size_t kv_mask, t_mask;
};

/* ---- little-endian loads ---- */

static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

size_t g4_gguf_vtype_size(uint32_t t) {
    switch (t) {
    case G4_GGUF_UINT8: case G4_GGUF_INT8: case G4_GGUF_BOOL: return 1;
    case G4_GGUF_UINT16: case G4_GGUF_INT16: return 2;
    case G4_GGUF_UINT32: case G4_GGUF_INT32: case G4_GGUF_FLOAT32: return 4;
    case G4_GGUF_UINT64: case G4_GGUF_INT64: case G4_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *g4_gguf_vtype_name(uint32_t t) {
    static const char *const names[G4_GGUF_VTYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
    return t < G4_GGUF_VTYPE_COUNT ? names[t] : "?";
}

/* ---- name hash (FNV-1a) ---- */

static uint64_t hash_bytes(const void *s, size_t n) {
    const uint8_t *p = s;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* ---- parser state ---- */

enum { CTX_HEADER, CTX_KV, CTX_TENSOR };

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    g4_error *err;
    int ctx_kind;
    int64_t ctx_index;
    const uint8_t *ctx_name; /* validated name of the current item, or NULL */
    size_t ctx_name_len;
} ps_t;

static size_t left(const ps_t *s) { return s->n - s->pos; }

/* Formats "gguf: <context>: <message>" and records it. */
static g4_status pfail(ps_t *s, g4_status code, const char *fmt, ...) G4_PRINTF(3, 4);
static g4_status pfail(ps_t *s, g4_status code, const char *fmt, ...) {
    char msg[224], pre[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pre[0] = 0;
    if (s->ctx_kind != CTX_HEADER) {
        const char *what = s->ctx_kind == CTX_KV ? "key" : "tensor";
        if (s->ctx_name) {
            char name[64];
            size_t k = s->ctx_name_len < sizeof name - 1 ? s->ctx_name_len : sizeof name - 1;
            for (size_t i = 0; i < k; i++) {
                uint8_t c = s->ctx_name[i];
                name[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
            }
            name[k] = 0;
            snprintf(pre, sizeof pre, "%s '%s'%s: ", what, name, s->ctx_name_len > k ? "..." : "");
        } else {
            snprintf(pre, sizeof pre, "%s #%lld: ", what, (long long)s->ctx_index);
        }
    }
    return g4_fail(s->err, code, "gguf: %s%s", pre, msg);
}

/* Reads a key or tensor name: u64 length + bytes, non-empty, <= GGUF_MAX_NAME, no NUL. */
static g4_status rd_name(ps_t *s, const char *what, const uint8_t **name, uint32_t *len) {
    size_t at = s->pos;
    if (left(s) < 8)
        return pfail(s, G4_ERR_FORMAT, "truncated %s length at byte %zu (file is %zu bytes)", what, at, s->n);
    uint64_t n = le64(s->p + at);
    if (n == 0) return pfail(s, G4_ERR_FORMAT, "empty %s at byte %zu", what, at);
    if (n > GGUF_MAX_NAME)
        return pfail(s, G4_ERR_FORMAT, "%s length %llu at byte %zu exceeds the limit of %u bytes", what,
                     (unsigned long long)n, at, GGUF_MAX_NAME);
    s->pos += 8;
    if (n > left(s))
        return pfail(s, G4_ERR_FORMAT, "truncated %s at byte %zu (length %llu, %zu bytes left)", what, at,
                     (unsigned long long)n, left(s));
    const uint8_t *p = s->p + s->pos;
    const uint8_t *z = memchr(p, 0, (size_t)n);
    if (z) return pfail(s, G4_ERR_FORMAT, "%s at byte %zu contains a NUL byte at byte %zu", what, at, (size_t)(z - s->p));
    s->pos += (size_t)n;
    *name = p;
    *len = (uint32_t)n;
    return G4_OK;
}

/* Reads a string value (u64 length + bytes, any content). */
static g4_status rd_string(ps_t *s, const char *what) {
    size_t at = s->pos;
    if (left(s) < 8)
        return pfail(s, G4_ERR_FORMAT, "truncated %s length at byte %zu (file is %zu bytes)", what, at, s->n);
    uint64_t n = le64(s->p + at);
    s->pos += 8;
    if (n > left(s)) {
        if (n > s->n)
            return pfail(s, G4_ERR_FORMAT, "absurd %s length %llu at byte %zu (file is %zu bytes)", what,
                         (unsigned long long)n, at, s->n);
        return pfail(s, G4_ERR_FORMAT, "truncated %s at byte %zu (length %llu, %zu bytes left)", what, at,
                     (unsigned long long)n, left(s));
    }
    s->pos += (size_t)n;
    return G4_OK;
}

/* Parses an array value starting at its header (u32 element type, u64 count). depth is
 * the nesting level of this array (1 = a key's value). When tab is not NULL and the
 * elements are strings or arrays, *tab receives a malloc'd table of each element's offset
 * relative to the first element (set before the elements are scanned, so the caller
 * owns it even on failure). */
static g4_status parse_array(ps_t *s, int depth, uint32_t *etype, uint64_t *count, size_t *data_pos,
                             uint64_t **tab) {
    size_t at = s->pos;
    if (depth > GGUF_MAX_DEPTH)
        return pfail(s, G4_ERR_FORMAT, "arrays nested deeper than %d levels at byte %zu", GGUF_MAX_DEPTH, at);
    if (left(s) < 12)
        return pfail(s, G4_ERR_FORMAT, "truncated array header at byte %zu (%zu bytes left)", at, left(s));
    uint32_t et = le32(s->p + at);
    uint64_t n = le64(s->p + at + 4);
    s->pos += 12;
    if (et >= G4_GGUF_VTYPE_COUNT)
        return pfail(s, G4_ERR_FORMAT, "invalid array element type %u at byte %zu", et, at);
    size_t esz = g4_gguf_vtype_size(et);
    size_t minsz = et == G4_GGUF_STRING ? 8 : et == G4_GGUF_ARRAY ? 12 : esz;
    if (n > left(s) / minsz)
        return pfail(s, G4_ERR_FORMAT,
                     "array of %llu %s elements at byte %zu does not fit in the %zu bytes left",
                     (unsigned long long)n, g4_gguf_vtype_name(et), at, left(s));
    *etype = et;
    *count = n;
    size_t start = s->pos;
    *data_pos = start;
    if (esz) {
        s->pos += (size_t)n * esz;
        return G4_OK;
    }
    uint64_t *t = NULL;
    if (tab) {
        t = malloc(n ? (size_t)n * sizeof *t : 1); /* n <= left / 8: no overflow */
        if (!t) return pfail(s, G4_ERR_NOMEM, "out of memory for a %llu-element table", (unsigned long long)n);
        *tab = t;
    }
    const uint8_t *p = s->p;
    const size_t end = s->n;
    if (et == G4_GGUF_STRING) {
        size_t pos = s->pos;
        for (uint64_t i = 0; i < n; i++) {
            if (t) t[i] = pos - start;
            if (end - pos < 8) {
                s->pos = pos;
                return pfail(s, G4_ERR_FORMAT, "truncated string length of element %llu of the array at byte %zu (at byte %zu)",
                             (unsigned long long)i, at, pos);
            }
            uint64_t len = le64(p + pos);
            pos += 8;
            if (len > end - pos) {
                s->pos = pos;
                return pfail(s, G4_ERR_FORMAT, "%s string at byte %zu (element %llu of the array at byte %zu, length %llu, %zu bytes left)",
                             len > end ? "absurd length of" : "truncated", pos - 8, (unsigned long long)i, at,
                             (unsigned long long)len, end - pos);
            }
            pos += (size_t)len;
        }
        s->pos = pos;
        return G4_OK;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (t) t[i] = s->pos - start;
        uint32_t e2;
        uint64_t n2;
        size_t d2 = 0;
        g4_status st = parse_array(s, depth + 1, &e2, &n2, &d2, NULL);
        if (st) return st;
    }
    return G4_OK;
}

/* ---- hash tables over names ---- */

static g4_status hash_alloc(uint64_t n, uint32_t **tab, size_t *mask) {
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    *tab = calloc(cap, sizeof **tab);
    if (!*tab) return G4_ERR_NOMEM;
    *mask = cap - 1;
    return G4_OK;
}

/* Name of item idx: the arena copy once finalized, else the file bytes. */
typedef struct {
    const char *const *ptrs; /* pointer to the item's name pointer, stride bytes apart */
    size_t stride;
    const uint32_t *lens;
} name_view;

static const char *view_name(const name_view *v, size_t idx) {
    return *(const char *const *)((const char *)v->ptrs + idx * v->stride);
}

/* Returns the index of name in the table, or -1. */
static int64_t hash_find(const uint32_t *tab, size_t mask, const name_view *v, const void *name, size_t len) {
    if (!tab) return -1;
    size_t h = (size_t)hash_bytes(name, len) & mask;
    for (;;) {
        uint32_t e = tab[h];
        if (!e) return -1;
        size_t idx = e - 1;
        if (v->lens[idx] == len && memcmp(view_name(v, idx), name, len) == 0) return (int64_t)idx;
        h = (h + 1) & mask;
    }
}

/* Inserts item idx; returns false if an equal name is already present. */
static bool hash_insert(uint32_t *tab, size_t mask, const name_view *v, size_t idx) {
    const char *name = view_name(v, idx);
    size_t len = v->lens[idx];
    size_t h = (size_t)hash_bytes(name, len) & mask;
    for (;;) {
        uint32_t e = tab[h];
        if (!e) {
            tab[h] = (uint32_t)(idx + 1);
            return true;
        }
        if (v->lens[e - 1] == len && memcmp(view_name(v, e - 1), name, len) == 0) return false;
        h = (h + 1) & mask;
    }
}

static name_view kv_view(const g4_gguf *g) {
    name_view v = {&g->kv[0].key, sizeof(g4_gguf_kv), g->kv_len};
    return v;
}
static name_view t_view(const g4_gguf *g) {
    name_view v = {&g->t[0].name, sizeof(g4_gguf_tensor), g->t_len};
    return v;
}

/* ---- value decoding ---- */

static bool is_int_vtype(uint32_t t) {
    return t <= G4_GGUF_INT32 || t == G4_GGUF_BOOL || t == G4_GGUF_UINT64 || t == G4_GGUF_INT64;
}

static bool decode_int(uint32_t t, const uint8_t *p, int64_t *out) {
    switch (t) {
    case G4_GGUF_UINT8: *out = p[0]; return true;
    case G4_GGUF_INT8: *out = (int8_t)p[0]; return true;
    case G4_GGUF_BOOL: *out = p[0] != 0; return true;
    case G4_GGUF_UINT16: *out = le16(p); return true;
    case G4_GGUF_INT16: *out = (int16_t)le16(p); return true;
    case G4_GGUF_UINT32: *out = le32(p); return true;
    case G4_GGUF_INT32: *out = (int32_t)le32(p); return true;
    case G4_GGUF_UINT64: {
        uint64_t v = le64(p);
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
        return true;
    }
    case G4_GGUF_INT64: *out = (int64_t)le64(p); return true;
    default: return false;
    }
}

static bool decode_float(uint32_t t, const uint8_t *p, double *out) {
    if (t == G4_GGUF_FLOAT32) {
        uint32_t u = le32(p);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return true;
    }
    if (t == G4_GGUF_FLOAT64) {
        uint64_t u = le64(p);
        memcpy(out, &u, 8);
        return true;
    }
    if (t == G4_GGUF_UINT64) {
        *out = (double)le64(p);
        return true;
    }
    if (t == G4_GGUF_BOOL || !is_int_vtype(t)) return false;
    int64_t v;
    if (!decode_int(t, p, &v)) return false;
    *out = (double)v;
    return true;
}

/* ---- open / close ---- */

static g4_status parse(g4_gguf *g, g4_error *err) {
    ps_t s = {g->base, g->size, 0, err, CTX_HEADER, 0, NULL, 0};
    g4_status st;

    if (s.n < 4) return pfail(&s, G4_ERR_FORMAT, "truncated header: file is %zu bytes", s.n);
    if (memcmp(s.p, "GGUF", 4) != 0)
        return pfail(&s, G4_ERR_FORMAT, "bad magic %02x %02x %02x %02x at byte 0 (expected \"GGUF\")", s.p[0], s.p[1],
                     s.p[2], s.p[3]);
    if (s.n < 24) return pfail(&s, G4_ERR_FORMAT, "truncated header: file is %zu bytes, the header needs 24", s.n);
    uint32_t ver = le32(s.p + 4);
    if (ver == 1) return pfail(&s, G4_ERR_UNSUPPORTED, "GGUF version 1 (32-bit counts) is not supported");
    if (ver != 2 && ver != 3) {
        if (ver && (ver & 0xffff) == 0 && (ver >> 24) >= 1 && (ver >> 24) <= 3 && ((ver >> 16) & 0xff) == 0)
            return pfail(&s, G4_ERR_UNSUPPORTED, "big-endian GGUF (version bytes %08x) is not supported", ver);
        if (ver == 0) return pfail(&s, G4_ERR_FORMAT, "invalid GGUF version 0 at byte 4");
        return pfail(&s, G4_ERR_UNSUPPORTED, "GGUF version %u is not supported (only 2 and 3)", ver);
    }
    g->version = ver;
    uint64_t n_tensors = le64(s.p + 8), n_kv = le64(s.p + 16);
    s.pos = 24;
    /* Counts are checked against the bytes left before anything is allocated: a kv takes
     * >= 14 bytes (u64 key length, 1-byte key, u32 type, 1-byte value), a tensor info
     * >= 33 (name length, 1-byte name, n_dims, one dim, type, offset). */
    if (n_kv > left(&s) || n_kv > GGUF_MAX_ITEMS)
        return pfail(&s, G4_ERR_FORMAT, "absurd n_kv %llu at byte 16 (%zu bytes left)", (unsigned long long)n_kv,
                     left(&s));
    if (n_tensors > left(&s) || n_tensors > GGUF_MAX_ITEMS)
        return pfail(&s, G4_ERR_FORMAT, "absurd n_tensors %llu at byte 8 (%zu bytes left)",
                     (unsigned long long)n_tensors, left(&s));
    if (n_kv * 14 + n_tensors * 33 > left(&s))
        return pfail(&s, G4_ERR_FORMAT,
                     "n_kv %llu and n_tensors %llu need at least %llu bytes, only %zu are left (truncated or corrupt file)",
                     (unsigned long long)n_kv, (unsigned long long)n_tensors,
                     (unsigned long long)(n_kv * 14 + n_tensors * 33), left(&s));

    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->kv_len = calloc(n_kv ? n_kv : 1, sizeof *g->kv_len);
    g->t = calloc(n_tensors ? n_tensors : 1, sizeof *g->t);
    g->t_len = calloc(n_tensors ? n_tensors : 1, sizeof *g->t_len);
    if (!g->kv || !g->kv_len || !g->t || !g->t_len || hash_alloc(n_kv, &g->kv_hash, &g->kv_mask) ||
        hash_alloc(n_tensors, &g->t_hash, &g->t_mask))
        return pfail(&s, G4_ERR_NOMEM, "out of memory for %llu keys and %llu tensors", (unsigned long long)n_kv,
                     (unsigned long long)n_tensors);

    /* ---- key/value pairs ---- */
    name_view kvv = kv_view(g);
    for (uint64_t i = 0; i < n_kv; i++) {
        g4_gguf_kv *kv = &g->kv[i];
        s.ctx_kind = CTX_KV;
        s.ctx_index = (int64_t)i;
        s.ctx_name = NULL;
        const uint8_t *name;
        size_t key_at = s.pos;
        if ((st = rd_name(&s, "key", &name, &g->kv_len[i]))) return st;
        s.ctx_name = name;
        s.ctx_name_len = g->kv_len[i];
        kv->key = (const char *)name; /* replaced by the arena copy below */
        if (!hash_insert(g->kv_hash, g->kv_mask, &kvv, i))
            return pfail(&s, G4_ERR_FORMAT, "duplicate key at byte %zu", key_at);
        size_t at = s.pos;
        if (left(&s) < 4) return pfail(&s, G4_ERR_FORMAT, "truncated value type at byte %zu", at);
        uint32_t type = le32(s.p + at);
        s.pos += 4;
        if (type >= G4_GGUF_VTYPE_COUNT)
            return pfail(&s, G4_ERR_FORMAT, "invalid value type %u at byte %zu", type, at);
        kv->type = type;
        at = s.pos;
        if (type == G4_GGUF_STRING) {
            if ((st = rd_string(&s, "string"))) return st;
            kv->data = s.p + at;
            kv->size = s.pos - at;
        } else if (type == G4_GGUF_ARRAY) {
            size_t dp = 0;
            uint64_t *tab = NULL;
            st = parse_array(&s, 1, &kv->arr_type, &kv->arr_n, &dp, &tab);
            kv->str_off = tab;
            if (st) return st;
            kv->data = s.p + dp;
            kv->size = s.pos - dp;
        } else {
            size_t sz = g4_gguf_vtype_size(type);
            if (left(&s) < sz)
                return pfail(&s, G4_ERR_FORMAT, "truncated %s value at byte %zu", g4_gguf_vtype_name(type), at);
            kv->data = s.p + at;
            kv->size = sz;
            s.pos += sz;
        }
    }

    /* ---- alignment ---- */
    s.ctx_kind = CTX_HEADER;
    g->alignment = GGUF_DEFAULT_ALIGN;
    int64_t ai = hash_find(g->kv_hash, g->kv_mask, &kvv, "general.alignment", strlen("general.alignment"));
    if (ai >= 0) {
        const g4_gguf_kv *kv = &g->kv[ai];
        int64_t a;
        if (kv->type == G4_GGUF_BOOL || !g4_gguf_kv_int(kv, &a))
            return pfail(&s, G4_ERR_FORMAT, "general.alignment has type %s (expected u32) at byte %zu",
                         g4_gguf_vtype_name(kv->type), (size_t)(kv->data - s.p));
        if (a <= 0 || a > (int64_t)1 << 31 || (a & (a - 1)))
            return pfail(&s, G4_ERR_FORMAT, "general.alignment %lld at byte %zu is not a power of two in [1, 2^31]",
                         (long long)a, (size_t)(kv->data - s.p));
        g->alignment = (size_t)a;
    }
    const uint64_t align = g->alignment;

    /* ---- tensor infos ---- */
    name_view tv = t_view(g);
    for (uint64_t i = 0; i < n_tensors; i++) {
        g4_gguf_tensor *t = &g->t[i];
        s.ctx_kind = CTX_TENSOR;
        s.ctx_index = (int64_t)i;
        s.ctx_name = NULL;
        const uint8_t *name;
        size_t name_at = s.pos;
        if ((st = rd_name(&s, "tensor name", &name, &g->t_len[i]))) return st;
        s.ctx_name = name;
        s.ctx_name_len = g->t_len[i];
        t->name = (const char *)name;
        if (!hash_insert(g->t_hash, g->t_mask, &tv, i))
            return pfail(&s, G4_ERR_FORMAT, "duplicate tensor name at byte %zu", name_at);
        size_t at = s.pos;
        if (left(&s) < 4) return pfail(&s, G4_ERR_FORMAT, "truncated n_dims at byte %zu", at);
        uint32_t nd = le32(s.p + at);
        s.pos += 4;
        if (nd < 1 || nd > 4) return pfail(&s, G4_ERR_FORMAT, "n_dims %u at byte %zu is not in 1..4", nd, at);
        t->n_dims = nd;
        at = s.pos;
        if (left(&s) < 8 * (size_t)nd) return pfail(&s, G4_ERR_FORMAT, "truncated shape at byte %zu", at);
        for (uint32_t d = 0; d < 4; d++) {
            if (d < nd) {
                uint64_t v = le64(s.p + at + 8 * d);
                if (v > (uint64_t)INT64_MAX)
                    return pfail(&s, G4_ERR_FORMAT, "dimension %u is negative (%lld) at byte %zu", d,
                                 (long long)v, at + 8 * d);
                t->ne[d] = (int64_t)v;
            } else {
                t->ne[d] = 1;
            }
        }
        s.pos += 8 * (size_t)nd;
        at = s.pos;
        if (left(&s) < 4) return pfail(&s, G4_ERR_FORMAT, "truncated type at byte %zu", at);
        uint32_t ty = le32(s.p + at);
        s.pos += 4;
        const g4_type_info *ti = g4_type_get(ty);
        if (!ti) {
            bool removed = ty == 4 || ty == 5 || (ty >= 31 && ty <= 33) || (ty >= 36 && ty <= 38);
            if (removed) return pfail(&s, G4_ERR_FORMAT, "removed ggml type id %u at byte %zu", ty, at);
            return pfail(&s, G4_ERR_UNSUPPORTED, "unknown ggml type id %u at byte %zu", ty, at);
        }
        t->type = ty;
        if (t->ne[0] % ti->blck)
            return pfail(&s, G4_ERR_FORMAT, "ne[0] = %lld is not a multiple of the %s block size %d",
                         (long long)t->ne[0], ti->name, ti->blck);
        /* element count and byte size, overflow-checked */
        uint64_t nel = 1;
        bool ovf = false;
        for (int d = 0; d < 4; d++) {
            uint64_t v = (uint64_t)t->ne[d];
            if (v && nel > (uint64_t)INT64_MAX / v) ovf = true;
            else nel *= v;
        }
        if (ovf)
            return pfail(&s, G4_ERR_FORMAT, "element count of shape [%lld, %lld, %lld, %lld] overflows",
                         (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        uint64_t nbytes = 0;
        if (nel) {
            uint64_t row = (uint64_t)t->ne[0] / (uint64_t)ti->blck, rows = nel / (uint64_t)t->ne[0];
            uint64_t lim = (uint64_t)INT64_MAX < (uint64_t)SIZE_MAX ? (uint64_t)INT64_MAX : (uint64_t)SIZE_MAX;
            if (row > lim / (uint64_t)ti->size) ovf = true;
            else {
                row *= (uint64_t)ti->size;
                if (rows > lim / row) ovf = true;
                else nbytes = row * rows;
            }
        }
        if (ovf)
            return pfail(&s, G4_ERR_FORMAT, "byte size of shape [%lld, %lld, %lld, %lld] x %s overflows",
                         (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], ti->name);
        t->n_elements = (int64_t)nel;
        t->nbytes = (size_t)nbytes;
        at = s.pos;
        if (left(&s) < 8) return pfail(&s, G4_ERR_FORMAT, "truncated data offset at byte %zu", at);
        t->offset = le64(s.p + at);
        s.pos += 8;
        if (t->offset % align)
            return pfail(&s, G4_ERR_FORMAT, "data offset %llu at byte %zu is not a multiple of the alignment %llu",
                         (unsigned long long)t->offset, at, (unsigned long long)align);
    }

    /* ---- data section ---- */
    s.ctx_kind = CTX_HEADER;
    uint64_t end = s.pos;
    uint64_t pad = (align - end % align) % align;
    g->data_offset = end + pad; /* end <= SIZE_MAX, pad < 2^31: no overflow on 64-bit */
    uint64_t data_size = g->data_offset <= s.n ? s.n - g->data_offset : 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        g4_gguf_tensor *t = &g->t[i];
        s.ctx_kind = CTX_TENSOR;
        s.ctx_index = (int64_t)i;
        s.ctx_name = (const uint8_t *)t->name;
        s.ctx_name_len = g->t_len[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            uint64_t a = g->data_offset + t->offset; /* may wrap only for hostile offsets: saturate */
            if (a < t->offset) a = UINT64_MAX;
            uint64_t b = a + t->nbytes;
            if (b < a) b = UINT64_MAX;
            return pfail(&s, G4_ERR_FORMAT, "data [%llu, %llu) exceeds file size %zu", (unsigned long long)a,
                         (unsigned long long)b, s.n);
        }
        t->data = g->data_offset + t->offset <= s.n ? s.p + g->data_offset + t->offset : NULL;
    }

    /* ---- name arena ---- */
    size_t total = 1;
    for (uint64_t i = 0; i < n_kv; i++) total += (size_t)g->kv_len[i] + 1;
    for (uint64_t i = 0; i < n_tensors; i++) total += (size_t)g->t_len[i] + 1;
    g->names = malloc(total);
    if (!g->names) return pfail(&s, G4_ERR_NOMEM, "out of memory for %zu bytes of names", total);
    char *w = g->names;
    for (uint64_t i = 0; i < n_kv; i++) {
        memcpy(w, g->kv[i].key, g->kv_len[i]);
        w[g->kv_len[i]] = 0;
        g->kv[i].key = w;
        w += g->kv_len[i] + 1;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        memcpy(w, g->t[i].name, g->t_len[i]);
        w[g->t_len[i]] = 0;
        g->t[i].name = w;
        w += g->t_len[i] + 1;
    }
    return G4_OK;
}

void g4_gguf_close(g4_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free((void *)(uintptr_t)g->kv[i].str_off);
    free(g->kv);
    free(g->kv_len);
    free(g->t);
    free(g->t_len);
    free(g->names);
    free(g->kv_hash);
    free(g->t_hash);
    if (g->map) munmap(g->map, g->map_len);
    free(g);
}

static g4_status open_common(g4_gguf *g, g4_gguf **out, g4_error *err) {
    g4_status st = parse(g, err);
    if (st) {
        g4_gguf_close(g);
        return st;
    }
    *out = g;
    return G4_OK;
}

g4_status g4_gguf_open_memory(const void *data, size_t size, g4_gguf **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "gguf: NULL output pointer");
    *out = NULL;
    if (!data && size) return g4_fail(err, G4_ERR_ARG, "gguf: NULL buffer of %zu bytes", size);
    g4_gguf *g = calloc(1, sizeof *g);
    if (!g) return g4_fail(err, G4_ERR_NOMEM, "gguf: out of memory");
    g->base = data;
    g->size = size;
    return open_common(g, out, err);
}

/* Copies the file into anonymous memory backed by transparent huge pages: the weights
 * stream with far fewer TLB misses and the hardware prefetchers cross 2 MiB instead of
 * 4 KiB boundaries (decode is a pure streaming read of every weight). */
static g4_status read_into_anon(int fd, size_t size, void **out, size_t *map_len, const char *path,
                                g4_progress_fn progress, void *user, g4_error *err) {
    const size_t huge = (size_t)2 << 20;
    size_t len = (size + huge - 1) / huge * huge;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return g4_fail(err, G4_ERR_NOMEM, "%s: cannot allocate %zu bytes to load the model: %s", path,
                       len, strerror(errno));
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE);
#endif
    size_t done = 0;
    while (done < size) {
        size_t chunk = size - done < ((size_t)64 << 20) ? size - done : ((size_t)64 << 20);
        ssize_t r = pread(fd, (uint8_t *)p + done, chunk, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            g4_status st = g4_fail(err, G4_ERR_IO, "%s: read failed at byte %zu: %s", path, done,
                                   r < 0 ? strerror(errno) : "unexpected end of file");
            munmap(p, len);
            return st;
        }
        done += (size_t)r;
        if (progress && !progress(user, done, size)) {
            munmap(p, len);
            return g4_fail(err, G4_ERR_CANCELLED, "%s: loading cancelled", path);
        }
    }
    mprotect(p, len, PROT_READ);
    *out = p;
    *map_len = len;
    return G4_OK;
}

g4_status g4_gguf_open(const char *path, g4_gguf **out, g4_error *err) {
    return g4_gguf_open_ex(path, false, NULL, NULL, out, err);
}

g4_status g4_gguf_open_ex(const char *path, bool copy_to_ram, g4_progress_fn progress, void *user,
                          g4_gguf **out, g4_error *err) {
    if (!out || !path) return g4_fail(err, G4_ERR_ARG, "gguf: NULL path or output pointer");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return g4_fail(err, G4_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return g4_fail(err, G4_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return g4_fail(err, G4_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return g4_fail(err, G4_ERR_IO, "%s: file too large to map", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    size_t map_len = size;
    if (size && copy_to_ram) {
        g4_status st = read_into_anon(fd, size, &map, &map_len, path, progress, user, err);
        if (st) {
            close(fd);
            return st;
        }
    } else if (size) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return g4_fail(err, G4_ERR_IO, "%s: mmap of %zu bytes failed: %s", path, size, strerror(e));
        }
    }
    close(fd);
    g4_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        if (map) munmap(map, map_len);
        return g4_fail(err, G4_ERR_NOMEM, "%s: out of memory", path);
    }
    g->base = map;
    g->size = size;
    g->map = map;
    g->map_len = map_len;
    g4_status st = open_common(g, out, err);
    if (st) g4_error_prefix(err, "%s", path);
    return st;
}

/* ---- accessors ---- */

uint32_t g4_gguf_version(const g4_gguf *g) { return g->version; }
size_t g4_gguf_alignment(const g4_gguf *g) { return g->alignment; }
uint64_t g4_gguf_file_size(const g4_gguf *g) { return g->size; }
uint64_t g4_gguf_data_offset(const g4_gguf *g) { return g->data_offset; }
int64_t g4_gguf_n_kv(const g4_gguf *g) { return g->n_kv; }
int64_t g4_gguf_n_tensors(const g4_gguf *g) { return g->n_tensors; }

const g4_gguf_kv *g4_gguf_kv_at(const g4_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_kv) ? &g->kv[i] : NULL;
}

const g4_gguf_tensor *g4_gguf_tensor_at(const g4_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_tensors) ? &g->t[i] : NULL;
}

const g4_gguf_kv *g4_gguf_find_kv(const g4_gguf *g, const char *key) {
    if (!g || !key || !g->n_kv) return NULL;
    name_view v = kv_view(g);
    int64_t i = hash_find(g->kv_hash, g->kv_mask, &v, key, strlen(key));
    return i >= 0 ? &g->kv[i] : NULL;
}

const g4_gguf_tensor *g4_gguf_find_tensor(const g4_gguf *g, const char *name) {
    if (!g || !name || !g->n_tensors) return NULL;
    name_view v = t_view(g);
    int64_t i = hash_find(g->t_hash, g->t_mask, &v, name, strlen(name));
    return i >= 0 ? &g->t[i] : NULL;
}

bool g4_gguf_kv_int(const g4_gguf_kv *kv, int64_t *out) {
    if (!kv || !is_int_vtype(kv->type)) return false;
    return decode_int(kv->type, kv->data, out);
}

bool g4_gguf_kv_float(const g4_gguf_kv *kv, double *out) {
    if (!kv || kv->type >= G4_GGUF_VTYPE_COUNT || !g4_gguf_vtype_size(kv->type)) return false;
    return decode_float(kv->type, kv->data, out);
}

bool g4_gguf_kv_bool(const g4_gguf_kv *kv, bool *out) {
    if (!kv || kv->type != G4_GGUF_BOOL) return false;
    *out = kv->data[0] != 0;
    return true;
}

bool g4_gguf_kv_str(const g4_gguf_kv *kv, const char **s, size_t *len) {
    if (!kv || kv->type != G4_GGUF_STRING || kv->size < 8) return false;
    uint64_t n = le64(kv->data);
    if (n > kv->size - 8) return false;
    *s = (const char *)kv->data + 8;
    *len = (size_t)n;
    return true;
}

/* Bounded skip of one element of type t at data[*pos], data[0..size). */
static bool skip_elem(const uint8_t *data, size_t size, size_t *pos, uint32_t t, int depth) {
    size_t p = *pos;
    size_t esz = g4_gguf_vtype_size(t);
    if (esz) {
        if (size - p < esz) return false;
        *pos = p + esz;
        return true;
    }
    if (t == G4_GGUF_STRING) {
        if (size - p < 8) return false;
        uint64_t n = le64(data + p);
        if (n > size - p - 8) return false;
        *pos = p + 8 + (size_t)n;
        return true;
    }
    if (t != G4_GGUF_ARRAY || depth > GGUF_MAX_DEPTH || size - p < 12) return false;
    uint32_t et = le32(data + p);
    uint64_t n = le64(data + p + 4);
    p += 12;
    size_t e2 = g4_gguf_vtype_size(et);
    if (e2) {
        if (n > (size - p) / e2) return false;
        *pos = p + (size_t)n * e2;
        return true;
    }
    if (et != G4_GGUF_STRING && et != G4_GGUF_ARRAY) return false;
    for (uint64_t i = 0; i < n; i++)
        if (!skip_elem(data, size, &p, et, depth + 1)) return false;
    *pos = p;
    return true;
}

/* Offset of element i of a string/array array, relative to kv->data. */
static bool elem_off(const g4_gguf_kv *kv, uint64_t i, size_t *off) {
    if (kv->str_off) {
        *off = (size_t)kv->str_off[i];
        return *off <= kv->size;
    }
    size_t p = 0;
    for (uint64_t k = 0; k < i; k++)
        if (!skip_elem(kv->data, kv->size, &p, kv->arr_type, 2)) return false;
    *off = p;
    return true;
}

static const uint8_t *fixed_elem(const g4_gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != G4_GGUF_ARRAY || i >= kv->arr_n) return NULL;
    size_t esz = g4_gguf_vtype_size(kv->arr_type);
    if (!esz || kv->size / esz < kv->arr_n) return NULL;
    return kv->data + (size_t)i * esz;
}

bool g4_gguf_arr_int(const g4_gguf_kv *kv, uint64_t i, int64_t *out) {
    const uint8_t *p = fixed_elem(kv, i);
    if (!p || !is_int_vtype(kv->arr_type)) return false;
    return decode_int(kv->arr_type, p, out);
}

bool g4_gguf_arr_float(const g4_gguf_kv *kv, uint64_t i, double *out) {
    const uint8_t *p = fixed_elem(kv, i);
    if (!p) return false;
    return decode_float(kv->arr_type, p, out);
}

bool g4_gguf_arr_bool(const g4_gguf_kv *kv, uint64_t i, bool *out) {
    const uint8_t *p = fixed_elem(kv, i);
    if (!p || kv->arr_type != G4_GGUF_BOOL) return false;
    *out = p[0] != 0;
    return true;
}

bool g4_gguf_arr_str(const g4_gguf_kv *kv, uint64_t i, const char **s, size_t *len) {
    if (!kv || kv->type != G4_GGUF_ARRAY || kv->arr_type != G4_GGUF_STRING || i >= kv->arr_n) return false;
    size_t off;
    if (!elem_off(kv, i, &off) || kv->size - off < 8) return false;
    uint64_t n = le64(kv->data + off);
    if (n > kv->size - off - 8) return false;
    *s = (const char *)kv->data + off + 8;
    *len = (size_t)n;
    return true;
}

bool g4_gguf_arr_sub(const g4_gguf_kv *kv, uint64_t i, g4_gguf_kv *out) {
    if (!kv || !out || kv->type != G4_GGUF_ARRAY || kv->arr_type != G4_GGUF_ARRAY || i >= kv->arr_n) return false;
    size_t off;
    if (!elem_off(kv, i, &off)) return false;
    size_t end = off;
    if (!skip_elem(kv->data, kv->size, &end, G4_GGUF_ARRAY, 2)) return false;
    memset(out, 0, sizeof *out);
    out->key = kv->key;
    out->type = G4_GGUF_ARRAY;
    out->arr_type = le32(kv->data + off);
    out->arr_n = le64(kv->data + off + 4);
    out->data = kv->data + off + 12;
    out->size = end - off - 12;
    out->str_off = NULL;
    return true;
}
