/* status.c — error messages and status names. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *g4_status_str(g4_status st) {
    switch (st) {
    case G4_OK: return "ok";
    case G4_ERR_ARG: return "invalid argument";
    case G4_ERR_NOMEM: return "out of memory";
    case G4_ERR_IO: return "i/o error";
    case G4_ERR_FORMAT: return "malformed input";
    case G4_ERR_UNSUPPORTED: return "unsupported";
    case G4_ERR_CTX_FULL: return "context full";
    case G4_ERR_CANCELLED: return "cancelled";
    case G4_ERR_BUSY: return "busy";
    }
    return "unknown status";
}

g4_status g4_fail(g4_error *err, g4_status code, const char *fmt, ...) {
    if (err && err->code == G4_OK) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void g4_error_prefix(g4_error *err, const char *fmt, ...) {
    if (!err || err->code == G4_OK) return;
    char pre[256], old[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, pre, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3, m = strlen(old);
    if (m > room) m = room;
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = 0;
}

void g4_assert_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "gemma4c: internal error at %s:%d: %s\n", file, line, expr);
    abort();
}
