/* gld.h — readers for the fixture files used by tests: GLD1 arrays (README "File
 * formats": magic "GLD1", u32 dtype 0 = f32 / 1 = i32, u32 ndim, u32 dims[ndim]
 * outermost first, then the data, little endian) and whole text files. Header-only,
 * static inline functions. */
#ifndef G4_TESTS_GLD_H
#define G4_TESTS_GLD_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

typedef struct {
    int ndim, dims[4];
    float *data; /* malloc'd; int32 files are converted to float */
    size_t n;
} gld;

static inline bool gld_read(const char *path, gld *g) {
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4];
    uint32_t hdr[2];
    bool ok = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GLD1", 4) && fread(hdr, 4, 2, f) == 2 &&
              hdr[0] <= 1 && hdr[1] >= 1 && hdr[1] <= 4;
    if (ok) {
        g->ndim = (int)hdr[1];
        uint32_t d[4];
        ok = fread(d, 4, (size_t)g->ndim, f) == (size_t)g->ndim;
        g->n = 1;
        for (int i = 0; ok && i < g->ndim; i++) {
            g->dims[i] = (int)d[i];
            g->n *= d[i];
            ok = d[i] > 0 && g->n < ((size_t)1 << 32);
        }
        g->data = ok ? malloc(g->n * sizeof(float)) : NULL;
        ok = g->data && fread(g->data, sizeof(float), g->n, f) == g->n;
        if (ok && hdr[0] == 1)
            for (size_t i = 0; i < g->n; i++) {
                int32_t v;
                memcpy(&v, &g->data[i], 4);
                g->data[i] = (float)v;
            }
    }
    fclose(f);
    if (!ok) {
        free(g->data);
        g->data = NULL;
    }
    return ok;
}

static inline void gld_free(gld *g) {
    free(g->data);
    memset(g, 0, sizeof *g);
}

/* Whole file, NUL-terminated (malloc'd); *len may be NULL. */
static inline char *gld_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) {
        s[n] = 0;
        if (len) *len = (size_t)n;
    }
    fclose(f);
    return s;
}

/* The numbers under top-level key `key` of the JSON object text js (parsed with the
 * library's parser): an array's first cap elements (non-numbers skipped), or a single
 * number. Returns how many were stored, -1 when js is not an object holding the key. */
static inline int gld_json_nums(const char *js, const char *key, double *out, int cap) {
    g4_json *root = NULL;
    if (!js || g4_json_parse(js, strlen(js), &root, NULL)) return -1;
    const g4_json *v = g4_json_get(root, key);
    int n = -1;
    if (g4_json_is_number(v) && cap >= 1) {
        out[0] = g4_json_number(v);
        n = 1;
    } else if (g4_json_is_array(v)) {
        n = 0;
        for (size_t i = 0; i < g4_json_len(v) && n < cap; i++)
            if (g4_json_is_number(g4_json_at(v, i))) out[n++] = g4_json_number(g4_json_at(v, i));
    }
    g4_json_free(root);
    return n;
}

#endif
