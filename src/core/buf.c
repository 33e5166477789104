/* buf.c — growable byte buffer (see buf.h). */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool g4_buf_reserve(g4_buf *b, size_t extra) {
    if (b->oom) return false;
    if (extra > SIZE_MAX - b->n - 1) {
        b->oom = true;
        return false;
    }
    size_t need = b->n + extra + 1;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void g4_buf_add(g4_buf *b, const void *data, size_t len) {
    if (!g4_buf_reserve(b, len)) return;
    if (len) memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = 0;
}

void g4_buf_adds(g4_buf *b, const char *s) { g4_buf_add(b, s, strlen(s)); }

void g4_buf_addc(g4_buf *b, char c) { g4_buf_add(b, &c, 1); }

void g4_buf_vprintf(g4_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int k = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (k < 0) {
        b->oom = true;
        return;
    }
    if (!g4_buf_reserve(b, (size_t)k)) return;
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    b->n += (size_t)k;
}

void g4_buf_printf(g4_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g4_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void g4_buf_add_json_str(g4_buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    g4_buf_addc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0';
                u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = 0;
                esc = u;
            }
        }
        if (esc) {
            g4_buf_add(b, s + run, i - run);
            g4_buf_adds(b, esc);
            run = i + 1;
        }
    }
    g4_buf_add(b, s + run, len - run);
    g4_buf_addc(b, '"');
}

void g4_buf_clear(g4_buf *b) {
    b->n = 0;
    if (b->p) b->p[0] = 0;
}

void g4_buf_free(g4_buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->oom = false;
}

char *g4_buf_take(g4_buf *b, size_t *len) {
    if (!b->p && !b->oom) g4_buf_reserve(b, 0);
    if (b->oom) {
        g4_buf_free(b);
        if (len) *len = 0;
        return NULL;
    }
    b->p[b->n] = 0;
    char *p = b->p;
    if (len) *len = b->n;
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}
