/* gguf_write.c — GGUF v3 writer: keys are encoded as they are added; the tensor
 * directory and data are laid out and streamed at write time. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gguf/gguf_write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/types.h"
#include "gguf/gguf.h"

#define W_CHUNK (4u << 20) /* streaming chunk for fill callbacks */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} wbuf;

typedef struct {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
    uint64_t nbytes;
    const void *data;
    g4_gguf_fill_fn fill;
    void *user;
} wtensor;

struct g4_gguf_writer {
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv;
    wbuf kvs; /* encoded key/value pairs */
    wtensor *t;
    int64_t n_t, cap_t;
    g4_error err; /* sticky */
};

static g4_status wfail(g4_gguf_writer *w, g4_status code, const char *fmt, ...) G4_PRINTF(3, 4);
static g4_status wfail(g4_gguf_writer *w, g4_status code, const char *fmt, ...) {
    if (w->err.code == G4_OK) {
        va_list ap;
        va_start(ap, fmt);
        w->err.code = code;
        vsnprintf(w->err.msg, sizeof w->err.msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static bool wb_reserve(wbuf *b, size_t extra) {
    if (extra <= b->cap - b->n) return true;
    if (extra > SIZE_MAX - b->n) return false;
    size_t need = b->n + extra, cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Callers reserve first. */
static void wb_put(wbuf *b, const void *src, size_t n) {
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void wb_u32(wbuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wb_put(b, x, 4);
}
static void wb_u64(wbuf *b, uint64_t v) {
    wb_u32(b, (uint32_t)v);
    wb_u32(b, (uint32_t)(v >> 32));
}

/* Little-endian encode of one fixed-size value from host memory. */
static void enc_le(uint8_t *dst, const void *src, size_t size) {
    uint64_t v = 0;
    switch (size) {
    case 1: { uint8_t x; memcpy(&x, src, 1); v = x; break; }
    case 2: { uint16_t x; memcpy(&x, src, 2); v = x; break; }
    case 4: { uint32_t x; memcpy(&x, src, 4); v = x; break; }
    default: memcpy(&v, src, 8); break;
    }
    for (size_t i = 0; i < size; i++) dst[i] = (uint8_t)(v >> (8 * i));
}

g4_gguf_writer *g4_gguf_writer_new(void) {
    g4_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->version = 3;
    w->alignment = 32;
    return w;
}

void g4_gguf_writer_free(g4_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w->kvs.p);
    free(w);
}

void g4_gguf_w_version(g4_gguf_writer *w, uint32_t version) { w->version = version; }

/* Starts a kv: key string + type, reserving `extra` more bytes for the value. */
static g4_status kv_begin(g4_gguf_writer *w, const char *key, uint32_t type, size_t extra) {
    if (w->err.code) return w->err.code;
    if (!key) return wfail(w, G4_ERR_ARG, "gguf writer: NULL key");
    size_t kl = strlen(key);
    if (kl > SIZE_MAX - 12 - extra || !wb_reserve(&w->kvs, 12 + kl + extra))
        return wfail(w, G4_ERR_NOMEM, "gguf writer: out of memory for key '%.64s'", key);
    wb_u64(&w->kvs, kl);
    wb_put(&w->kvs, key, kl);
    wb_u32(&w->kvs, type);
    w->n_kv++;
    return G4_OK;
}

static g4_status kv_scalar(g4_gguf_writer *w, const char *key, uint32_t type, const void *v) {
    size_t sz = g4_gguf_vtype_size(type);
    g4_status st = kv_begin(w, key, type, sz);
    if (st) return st;
    enc_le(w->kvs.p + w->kvs.n, v, sz);
    w->kvs.n += sz;
    return G4_OK;
}

g4_status g4_gguf_w_alignment(g4_gguf_writer *w, uint32_t alignment) {
    if (w->err.code) return w->err.code;
    if (!alignment || (alignment & (alignment - 1)))
        return wfail(w, G4_ERR_ARG, "gguf writer: alignment %u is not a power of two", alignment);
    w->alignment = alignment;
    return kv_scalar(w, "general.alignment", G4_GGUF_UINT32, &alignment);
}

g4_status g4_gguf_w_u8(g4_gguf_writer *w, const char *key, uint8_t v) { return kv_scalar(w, key, G4_GGUF_UINT8, &v); }
g4_status g4_gguf_w_i8(g4_gguf_writer *w, const char *key, int8_t v) { return kv_scalar(w, key, G4_GGUF_INT8, &v); }
g4_status g4_gguf_w_u16(g4_gguf_writer *w, const char *key, uint16_t v) { return kv_scalar(w, key, G4_GGUF_UINT16, &v); }
g4_status g4_gguf_w_i16(g4_gguf_writer *w, const char *key, int16_t v) { return kv_scalar(w, key, G4_GGUF_INT16, &v); }
g4_status g4_gguf_w_u32(g4_gguf_writer *w, const char *key, uint32_t v) { return kv_scalar(w, key, G4_GGUF_UINT32, &v); }
g4_status g4_gguf_w_i32(g4_gguf_writer *w, const char *key, int32_t v) { return kv_scalar(w, key, G4_GGUF_INT32, &v); }
g4_status g4_gguf_w_u64(g4_gguf_writer *w, const char *key, uint64_t v) { return kv_scalar(w, key, G4_GGUF_UINT64, &v); }
g4_status g4_gguf_w_i64(g4_gguf_writer *w, const char *key, int64_t v) { return kv_scalar(w, key, G4_GGUF_INT64, &v); }
g4_status g4_gguf_w_f32(g4_gguf_writer *w, const char *key, float v) { return kv_scalar(w, key, G4_GGUF_FLOAT32, &v); }
g4_status g4_gguf_w_f64(g4_gguf_writer *w, const char *key, double v) { return kv_scalar(w, key, G4_GGUF_FLOAT64, &v); }
g4_status g4_gguf_w_bool(g4_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return kv_scalar(w, key, G4_GGUF_BOOL, &b);
}

g4_status g4_gguf_w_str_n(g4_gguf_writer *w, const char *key, const char *s, size_t len) {
    if (!s && len) return wfail(w, G4_ERR_ARG, "gguf writer: NULL string for key '%.64s'", key ? key : "");
    if (len > SIZE_MAX - 64) return wfail(w, G4_ERR_NOMEM, "gguf writer: string too long");
    g4_status st = kv_begin(w, key, G4_GGUF_STRING, 8 + len);
    if (st) return st;
    wb_u64(&w->kvs, len);
    wb_put(&w->kvs, s, len);
    return G4_OK;
}

g4_status g4_gguf_w_str(g4_gguf_writer *w, const char *key, const char *s) {
    return g4_gguf_w_str_n(w, key, s, s ? strlen(s) : 0);
}

g4_status g4_gguf_w_arr(g4_gguf_writer *w, const char *key, uint32_t elem_type, const void *elems, uint64_t n) {
    size_t esz = g4_gguf_vtype_size(elem_type);
    if (!esz) return wfail(w, G4_ERR_ARG, "gguf writer: array element type %u is not fixed-size", elem_type);
    if (!elems && n) return wfail(w, G4_ERR_ARG, "gguf writer: NULL array for key '%.64s'", key ? key : "");
    if (n > (SIZE_MAX - 64) / esz) return wfail(w, G4_ERR_NOMEM, "gguf writer: array too long");
    size_t bytes = (size_t)n * esz;
    g4_status st = kv_begin(w, key, G4_GGUF_ARRAY, 12 + bytes);
    if (st) return st;
    wb_u32(&w->kvs, elem_type);
    wb_u64(&w->kvs, n);
    const uint8_t *src = elems;
    uint8_t *dst = w->kvs.p + w->kvs.n;
    for (uint64_t i = 0; i < n; i++) enc_le(dst + i * esz, src + i * esz, esz);
    w->kvs.n += bytes;
    return G4_OK;
}

g4_status g4_gguf_w_arr_i32(g4_gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    return g4_gguf_w_arr(w, key, G4_GGUF_INT32, v, n);
}
g4_status g4_gguf_w_arr_f32(g4_gguf_writer *w, const char *key, const float *v, uint64_t n) {
    return g4_gguf_w_arr(w, key, G4_GGUF_FLOAT32, v, n);
}
g4_status g4_gguf_w_arr_bool(g4_gguf_writer *w, const char *key, const bool *v, uint64_t n) {
    if (w->err.code) return w->err.code;
    if (!v && n) return wfail(w, G4_ERR_ARG, "gguf writer: NULL array for key '%.64s'", key ? key : "");
    if (n > SIZE_MAX - 64) return wfail(w, G4_ERR_NOMEM, "gguf writer: array too long");
    g4_status st = kv_begin(w, key, G4_GGUF_ARRAY, 12 + (size_t)n);
    if (st) return st;
    wb_u32(&w->kvs, G4_GGUF_BOOL);
    wb_u64(&w->kvs, n);
    for (uint64_t i = 0; i < n; i++) w->kvs.p[w->kvs.n++] = v[i] ? 1 : 0;
    return G4_OK;
}

g4_status g4_gguf_w_arr_str(g4_gguf_writer *w, const char *key, const char *const *s, const size_t *lens,
                            uint64_t n) {
    if (w->err.code) return w->err.code;
    if (!s && n) return wfail(w, G4_ERR_ARG, "gguf writer: NULL string array for key '%.64s'", key ? key : "");
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!s[i] && (!lens || lens[i]))
            return wfail(w, G4_ERR_ARG, "gguf writer: NULL string %llu in key '%.64s'", (unsigned long long)i,
                         key ? key : "");
        size_t l = lens ? lens[i] : strlen(s[i]);
        if (l > SIZE_MAX - 64 - total) return wfail(w, G4_ERR_NOMEM, "gguf writer: string array too long");
        total += 8 + l;
    }
    g4_status st = kv_begin(w, key, G4_GGUF_ARRAY, total);
    if (st) return st;
    wb_u32(&w->kvs, G4_GGUF_STRING);
    wb_u64(&w->kvs, n);
    for (uint64_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(s[i]);
        wb_u64(&w->kvs, l);
        wb_put(&w->kvs, s[i], l);
    }
    return G4_OK;
}

g4_status g4_gguf_w_raw(g4_gguf_writer *w, const char *key, uint32_t type, const void *bytes, size_t n) {
    if (!bytes && n) return wfail(w, G4_ERR_ARG, "gguf writer: NULL raw value for key '%.64s'", key ? key : "");
    g4_status st = kv_begin(w, key, type, n);
    if (st) return st;
    wb_put(&w->kvs, bytes, n);
    return G4_OK;
}

static int64_t add_tensor(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                          const void *data, g4_gguf_fill_fn fill, void *user) {
    if (w->err.code) return -1;
    if (!name || !*name) {
        wfail(w, G4_ERR_ARG, "gguf writer: empty tensor name");
        return -1;
    }
    const g4_type_info *ti = g4_type_get(type);
    if (!ti) {
        wfail(w, G4_ERR_ARG, "gguf writer: tensor '%.64s': unknown type %u", name, type);
        return -1;
    }
    if (n_dims < 1 || n_dims > 4 || !ne) {
        wfail(w, G4_ERR_ARG, "gguf writer: tensor '%.64s': n_dims %u not in 1..4", name, n_dims);
        return -1;
    }
    wtensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    uint64_t nel = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0) {
            wfail(w, G4_ERR_ARG, "gguf writer: tensor '%.64s': negative dimension", name);
            return -1;
        }
        if (t.ne[d] && nel > (uint64_t)INT64_MAX / (uint64_t)t.ne[d]) {
            wfail(w, G4_ERR_ARG, "gguf writer: tensor '%.64s': element count overflows", name);
            return -1;
        }
        nel *= (uint64_t)t.ne[d];
    }
    if (t.ne[0] % ti->blck) {
        wfail(w, G4_ERR_ARG, "gguf writer: tensor '%.64s': ne[0] = %lld is not a multiple of %d", name,
              (long long)t.ne[0], ti->blck);
        return -1;
    }
    if (nel) {
        uint64_t blocks = (uint64_t)t.ne[0] / (uint64_t)ti->blck;
        uint64_t rows = nel / (uint64_t)t.ne[0];
        uint64_t row = blocks * (uint64_t)ti->size;
        if (blocks > (uint64_t)INT64_MAX / (uint64_t)ti->size || row > (uint64_t)INT64_MAX / rows) {
            wfail(w, G4_ERR_ARG, "gguf writer: tensor '%.64s': byte size overflows", name);
            return -1;
        }
        t.nbytes = row * rows;
    }
    if (t.nbytes && !data && !fill) {
        wfail(w, G4_ERR_ARG, "gguf writer: tensor '%.64s': no data", name);
        return -1;
    }
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) {
            wfail(w, G4_ERR_NOMEM, "gguf writer: out of memory");
            return -1;
        }
        w->t = nt;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (!t.name) {
        wfail(w, G4_ERR_NOMEM, "gguf writer: out of memory");
        return -1;
    }
    t.data = data;
    t.fill = fill;
    t.user = user;
    w->t[w->n_t] = t;
    return w->n_t++;
}

int64_t g4_gguf_w_tensor(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                         const void *data) {
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL);
}

int64_t g4_gguf_w_tensor_fill(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const int64_t *ne, g4_gguf_fill_fn fill, void *user) {
    if (!fill) {
        wfail(w, G4_ERR_ARG, "gguf writer: tensor '%.64s': NULL fill callback", name ? name : "");
        return -1;
    }
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, user);
}

/* ---- layout ---- */

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

typedef struct {
    uint64_t header;     /* bytes before the data section (incl. padding) */
    uint64_t total;      /* file size */
    uint64_t data_bytes; /* sum of tensor sizes */
} layout;

/* Offsets of tensor i relative to the data section are computed on the fly. */
static bool compute_layout(const g4_gguf_writer *w, layout *l) {
    uint64_t h = 24 + (uint64_t)w->kvs.n;
    for (int64_t i = 0; i < w->n_t; i++) h += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
    const uint64_t lim = (uint64_t)1 << 62;
    if (h > lim) return false;
    l->header = align_up(h, w->alignment);
    uint64_t off = 0, sum = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        if (w->t[i].nbytes > lim || off > lim) return false;
        off = align_up(off, w->alignment) + w->t[i].nbytes;
        sum += w->t[i].nbytes;
    }
    if (off > lim) return false;
    l->total = l->header + off;
    l->data_bytes = sum;
    return true;
}

uint64_t g4_gguf_writer_size(const g4_gguf_writer *w) {
    layout l;
    if (w->err.code || !compute_layout(w, &l)) return 0;
    return l.total;
}

uint64_t g4_gguf_writer_data_bytes(const g4_gguf_writer *w) {
    layout l;
    if (w->err.code || !compute_layout(w, &l)) return 0;
    return l.data_bytes;
}

g4_status g4_gguf_writer_status(const g4_gguf_writer *w, g4_error *err) {
    if (w->err.code && err && err->code == G4_OK) *err = w->err;
    return w->err.code;
}

/* ---- output sinks ---- */

typedef struct {
    FILE *f;
    uint8_t *mem;
    uint64_t pos;
    const char *path;
    g4_error *err;
    g4_status st;
} sink;

static void sk_write(sink *s, const void *p, size_t n) {
    if (s->st || !n) return;
    if (s->mem) {
        memcpy(s->mem + s->pos, p, n);
    } else if (fwrite(p, 1, n, s->f) != n) {
        s->st = g4_fail(s->err, G4_ERR_IO, "%s: write failed: %s", s->path, strerror(errno));
        return;
    }
    s->pos += n;
}

static void sk_zeros(sink *s, uint64_t n) {
    static const uint8_t z[256];
    while (n && !s->st) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        sk_write(s, z, k);
        n -= k;
    }
}

static g4_status emit(g4_gguf_writer *w, sink *s, const layout *l) {
    /* header + kvs + tensor infos */
    wbuf h = {0};
    uint64_t infos = l->header - 24 - w->kvs.n;
    if (!wb_reserve(&h, (size_t)(24 + infos)))
        return s->st = g4_fail(s->err, G4_ERR_NOMEM, "gguf writer: out of memory for the header");
    wb_put(&h, "GGUF", 4);
    wb_u32(&h, w->version);
    wb_u64(&h, (uint64_t)w->n_t);
    wb_u64(&h, w->n_kv);
    sk_write(s, h.p, h.n);
    sk_write(s, w->kvs.p, w->kvs.n);
    h.n = 0;
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        off = align_up(off, w->alignment);
        wb_u64(&h, nl);
        wb_put(&h, t->name, nl);
        wb_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) wb_u64(&h, (uint64_t)t->ne[d]);
        wb_u32(&h, t->type);
        wb_u64(&h, off);
        off += t->nbytes;
    }
    sk_write(s, h.p, h.n);
    free(h.p);
    sk_zeros(s, l->header - s->pos);
    if (s->st) return s->st;

    /* data */
    uint8_t *chunk = NULL;
    uint64_t data_pos = 0;
    for (int64_t i = 0; i < w->n_t && !s->st; i++) {
        const wtensor *t = &w->t[i];
        uint64_t a = align_up(data_pos, w->alignment);
        sk_zeros(s, a - data_pos);
        data_pos = a;
        if (!t->nbytes) continue;
        if (t->data) {
            sk_write(s, t->data, (size_t)t->nbytes);
        } else if (s->mem) {
            /* fill in place, still chunked so callbacks see bounded requests */
            const g4_type_info *ti = g4_type_get(t->type);
            uint64_t step = (W_CHUNK / (uint64_t)ti->size) * (uint64_t)ti->size;
            for (uint64_t o = 0; o < t->nbytes; o += step) {
                uint64_t n = t->nbytes - o < step ? t->nbytes - o : step;
                t->fill(t->user, i, o, s->mem + s->pos + o, (size_t)n);
            }
            s->pos += t->nbytes;
        } else {
            const g4_type_info *ti = g4_type_get(t->type);
            uint64_t step = (W_CHUNK / (uint64_t)ti->size) * (uint64_t)ti->size;
            if (!chunk && !(chunk = malloc(W_CHUNK))) {
                s->st = g4_fail(s->err, G4_ERR_NOMEM, "gguf writer: out of memory");
                break;
            }
            for (uint64_t o = 0; o < t->nbytes && !s->st; o += step) {
                uint64_t n = t->nbytes - o < step ? t->nbytes - o : step;
                t->fill(t->user, i, o, chunk, (size_t)n);
                sk_write(s, chunk, (size_t)n);
            }
        }
        data_pos += t->nbytes;
    }
    free(chunk);
    if (!s->st) sk_zeros(s, l->total - s->pos);
    return s->st;
}

g4_status g4_gguf_writer_write_file(g4_gguf_writer *w, const char *path, g4_error *err) {
    if (!w || !path) return g4_fail(err, G4_ERR_ARG, "gguf writer: NULL writer or path");
    if (w->err.code) return g4_gguf_writer_status(w, err);
    layout l;
    if (!compute_layout(w, &l)) return g4_fail(err, G4_ERR_ARG, "gguf writer: file would be too large");
    FILE *f = fopen(path, "wb");
    if (!f) return g4_fail(err, G4_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    setvbuf(f, NULL, _IOFBF, 1u << 20);
    sink s = {f, NULL, 0, path, err, G4_OK};
    g4_status st = emit(w, &s, &l);
    if (fclose(f) != 0 && !st) st = g4_fail(err, G4_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (st) remove(path);
    return st;
}

g4_status g4_gguf_writer_write_mem(g4_gguf_writer *w, void **buf, size_t *size, g4_error *err) {
    if (!w || !buf || !size) return g4_fail(err, G4_ERR_ARG, "gguf writer: NULL argument");
    *buf = NULL;
    *size = 0;
    if (w->err.code) return g4_gguf_writer_status(w, err);
    layout l;
    if (!compute_layout(w, &l) || l.total > SIZE_MAX)
        return g4_fail(err, G4_ERR_ARG, "gguf writer: file would be too large");
    uint8_t *mem = malloc(l.total ? (size_t)l.total : 1);
    if (!mem) return g4_fail(err, G4_ERR_NOMEM, "gguf writer: out of memory for %llu bytes", (unsigned long long)l.total);
    sink s = {NULL, mem, 0, "memory", err, G4_OK};
    g4_status st = emit(w, &s, &l);
    if (st) {
        free(mem);
        return st;
    }
    *buf = mem;
    *size = (size_t)l.total;
    return G4_OK;
}
