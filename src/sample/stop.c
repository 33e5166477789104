/* stop.c — stop strings over streamed text (see stop.h).
 *
 * One Knuth-Morris-Pratt automaton per stop string gives, after each byte, the longest
 * suffix of the text that is a prefix of that stop: the earliest place a future
 * occurrence could start. Held-back text starts at the earliest such place over all
 * stops. A completed occurrence at start c is final once no partial match starts before
 * c; until then it waits, because a longer stop starting earlier takes precedence. */
#include "sample/stop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct {
    char *str;
    size_t len;
    size_t *fail; /* fail[i]: longest proper border of str[0..i] */
    size_t state; /* bytes of str matched by the end of the text */
} stop_str;

struct g4_stopper {
    stop_str *st;
    size_t n;
    g4_buf held;       /* text [held_at, pos) not yet emitted */
    uint64_t pos;      /* bytes fed so far */
    uint64_t held_at;
    bool found;        /* a completed occurrence, starting at found_at, is waiting */
    uint64_t found_at;
    bool done;
};

g4_status g4_stopper_new(const char *const *stops, size_t n, g4_stopper **out, g4_error *err) {
    if (out) *out = NULL;
    if (!out || (n && !stops)) return g4_fail(err, G4_ERR_ARG, "stop strings: missing argument");
    for (size_t i = 0; i < n; i++)
        if (!stops[i]) return g4_fail(err, G4_ERR_ARG, "stop string %zu is NULL", i);
    g4_stopper *s = calloc(1, sizeof *s);
    if (!s || (n && !(s->st = calloc(n, sizeof *s->st)))) {
        free(s);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(stops[i]);
        if (!len) continue;
        stop_str *t = &s->st[s->n++];
        t->len = len;
        t->str = malloc(len);
        t->fail = malloc(len * sizeof *t->fail);
        if (!t->str || !t->fail) {
            g4_stopper_free(s);
            return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        }
        memcpy(t->str, stops[i], len);
        t->fail[0] = 0;
        for (size_t q = 1, k = 0; q < len; q++) {
            while (k > 0 && t->str[q] != t->str[k]) k = t->fail[k - 1];
            if (t->str[q] == t->str[k]) k++;
            t->fail[q] = k;
        }
    }
    *out = s;
    return G4_OK;
}

void g4_stopper_free(g4_stopper *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->st[i].str);
        free(s->st[i].fail);
    }
    free(s->st);
    g4_buf_free(&s->held);
    free(s);
}

void g4_stopper_reset(g4_stopper *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) s->st[i].state = 0;
    g4_buf_clear(&s->held);
    s->pos = s->held_at = s->found_at = 0;
    s->found = s->done = false;
}

size_t g4_stopper_held(const g4_stopper *s) { return s ? s->held.n : 0; }

/* Where the earliest possible future occurrence starts (pos when none). */
static uint64_t partial_start(const g4_stopper *s) {
    size_t longest = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->st[i].state > longest) longest = s->st[i].state;
    return s->pos - longest;
}

/* Emits held text up to the absolute position `to` and drops it from the buffer. */
static void release(g4_stopper *s, uint64_t to, g4_buf *emit) {
    size_t k = (size_t)(to - s->held_at);
    if (!k) return;
    g4_buf_add(emit, s->held.p, k);
    memmove(s->held.p, s->held.p + k, s->held.n - k);
    s->held.n -= k;
    s->held.p[s->held.n] = 0;
    s->held_at = to;
}

static void finish(g4_stopper *s, g4_buf *emit) {
    release(s, s->found_at, emit);
    g4_buf_clear(&s->held);
    s->done = true;
}

bool g4_stopper_feed(g4_stopper *s, const char *piece, size_t len, g4_buf *emit) {
    if (!s) return false;
    if (s->done) return true;
    if (!len) return false;
    g4_buf_add(&s->held, piece, len);
    if (!g4_buf_ok(&s->held)) { /* report it through the caller's buffer */
        emit->oom = true;
        s->done = true;
        return true;
    }
    for (size_t j = 0; j < len; j++) {
        const char c = piece[j];
        s->pos++;
        for (size_t i = 0; i < s->n; i++) {
            stop_str *t = &s->st[i];
            size_t k = t->state;
            while (k > 0 && t->str[k] != c) k = t->fail[k - 1];
            if (t->str[k] == c) k++;
            if (k == t->len) {
                uint64_t at = s->pos - t->len;
                if (!s->found || at < s->found_at) {
                    s->found = true;
                    s->found_at = at;
                }
                k = t->fail[k - 1];
            }
            t->state = k;
        }
        if (s->found && partial_start(s) >= s->found_at) {
            finish(s, emit);
            return true;
        }
    }
    uint64_t keep = partial_start(s);
    if (s->found && s->found_at < keep) keep = s->found_at; /* not reached: it would be final */
    release(s, keep, emit);
    return false;
}

bool g4_stopper_flush(g4_stopper *s, g4_buf *emit) {
    if (!s || s->done) return s != NULL;
    if (s->found) {
        finish(s, emit);
        return true;
    }
    release(s, s->pos, emit);
    for (size_t i = 0; i < s->n; i++) s->st[i].state = 0;
    return false;
}
