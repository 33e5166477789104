/* buf.h — a growable byte buffer with a sticky out-of-memory flag.
 *
 * Appends never fail loudly: on allocation failure the buffer keeps what it had, sets
 * oom, and ignores further appends; check g4_buf_ok() once at the end. The content is
 * always NUL-terminated (when p != NULL) so it can be used as a C string. */
#ifndef G4_CORE_BUF_H
#define G4_CORE_BUF_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;    /* NULL until the first append */
    size_t n;   /* bytes used (excluding the terminating NUL) */
    size_t cap; /* bytes allocated */
    bool oom;
} g4_buf;

#define G4_BUF_INIT {NULL, 0, 0, false}

bool g4_buf_reserve(g4_buf *b, size_t extra);
void g4_buf_add(g4_buf *b, const void *data, size_t len);
void g4_buf_adds(g4_buf *b, const char *s);
void g4_buf_addc(g4_buf *b, char c);
void g4_buf_printf(g4_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void g4_buf_vprintf(g4_buf *b, const char *fmt, va_list ap);
/* Appends s[0..len) as a JSON string literal (with the quotes): escapes ", \, control
 * characters (\n \t \r \b \f, else \u00XX); other bytes (UTF-8) pass through. */
void g4_buf_add_json_str(g4_buf *b, const char *s, size_t len);
void g4_buf_clear(g4_buf *b); /* n = 0, keeps the allocation */
void g4_buf_free(g4_buf *b);
/* Hands the NUL-terminated content to the caller (free() it) and resets b. Never NULL
 * unless out of memory. */
char *g4_buf_take(g4_buf *b, size_t *len);
static inline bool g4_buf_ok(const g4_buf *b) { return !b->oom; }
static inline const char *g4_buf_str(const g4_buf *b) { return b->p ? b->p : ""; }

#endif
