/* tokenize.c — special-token partition, newline pre-split, heap-driven BPE, byte
 * fallback; detokenization and a UTF-8-safe streaming helper.
 *
 * BPE works on symbol ids (see vocab.h): a word is first cut where no merge can ever
 * join the two neighbouring characters (g4_vocab_may_join; for Gemma that is before
 * almost every '▁'), then each segment is merged with a 4-ary heap of candidate pairs
 * keyed (rank, position). Cost O(n log n) in the segment length; docs/TOKENIZER.md has
 * the measured numbers. */
#include "text/tokenize.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"

typedef struct {
    int32_t *p;
    size_t n, cap;
} ivec;

typedef struct {
    int32_t prev, next;
    int32_t id;          /* symbol id of the text, -1 when none (cannot merge) */
    uint32_t start, len; /* len 0: absorbed into its left neighbour */
} sym;

/* A candidate merge of symbol `left` with its right neighbour. key = rank << 32 | left:
 * the lowest rank first, the leftmost on ties. Stale when either symbol has changed
 * since (a symbol's text only grows, so its id never returns to an earlier value). */
typedef struct {
    uint64_t key;
    int32_t lid, rid;
} bigram;

typedef struct {
    size_t pos, len;
    int32_t tok, rank;
} smatch;

typedef struct {
    const g4_vocab *v;
    ivec out;
    char *clean;
    size_t clean_cap;
    sym *syms;
    size_t syms_cap;
    bigram *heap;
    size_t heap_n, heap_cap;
    g4_error *err;
} tctx;

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > ((size_t)-1) / 2 / elem) return false;
        nc *= 2;
    }
    void *np = realloc(*p, nc * elem);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}

static g4_status push_id(tctx *c, int32_t id) {
    if (!grow((void **)&c->out.p, &c->out.cap, c->out.n + 1, sizeof(int32_t)))
        return g4_fail(c->err, G4_ERR_NOMEM, "tokenize: out of memory");
    c->out.p[c->out.n++] = id;
    return G4_OK;
}

/* ---- BPE ---- */

/* A 4-ary min-heap on key: half the depth of a binary one, and the four children of a
 * node sit next to each other in memory. */
static void sift_down(bigram *h, size_t n, size_t i) {
    bigram x = h[i];
    for (;;) {
        size_t l = 4 * i + 1;
        if (l >= n) break;
        size_t m = l, e = l + 4 < n ? l + 4 : n;
        for (size_t k = l + 1; k < e; k++)
            if (h[k].key < h[m].key) m = k;
        if (h[m].key >= x.key) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

static g4_status heap_push(tctx *c, bigram b) {
    if (!grow((void **)&c->heap, &c->heap_cap, c->heap_n + 1, sizeof(bigram)))
        return g4_fail(c->err, G4_ERR_NOMEM, "tokenize: out of memory");
    size_t i = c->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (b.key >= c->heap[parent].key) break;
        c->heap[i] = c->heap[parent];
        i = parent;
    }
    c->heap[i] = b;
    return G4_OK;
}

static bigram heap_pop(tctx *c) {
    bigram top = c->heap[0];
    c->heap[0] = c->heap[--c->heap_n];
    if (c->heap_n) sift_down(c->heap, c->heap_n, 0);
    return top;
}

/* The candidate for symbols a and b = next(a), or false when they do not merge. */
static bool pair_of(const tctx *c, int32_t a, int32_t b, bigram *out) {
    if (a < 0 || b < 0) return false;
    int32_t la = c->syms[a].id, lb = c->syms[b].id, rank, res;
    if (!g4_vocab_merge_ids(c->v, la, lb, &rank, &res)) return false;
    *out = (bigram){((uint64_t)(uint32_t)rank << 32) | (uint32_t)a, la, lb};
    return true;
}

static g4_status try_pair(tctx *c, int32_t a, int32_t b) {
    bigram bg;
    return pair_of(c, a, b, &bg) ? heap_push(c, bg) : G4_OK;
}

static g4_status emit_bytes(tctx *c, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int32_t bt = g4_vocab_byte_token(c->v, (uint8_t)s[i]);
        if (bt < 0) bt = g4_vocab_unk(c->v);
        if (bt < 0)
            return g4_fail(c->err, G4_ERR_UNSUPPORTED,
                           "tokenize: no byte token <0x%02X> and no <unk> in the vocabulary",
                           (unsigned)(uint8_t)s[i]);
        g4_status st = push_id(c, bt);
        if (st) return st;
    }
    return G4_OK;
}

/* BPE over the characters of w[0..n) (n < 2^32): merge the lowest-ranked adjacent pair,
 * leftmost first, until none is left; each final piece is its token, or its bytes. */
static g4_status bpe_segment(tctx *c, const char *w, size_t n) {
    size_t ns = 0;
    for (size_t i = 0; i < n; ns++) {
        size_t l = g4_utf8_char_len(w + i, n - i);
        i += l;
    }
    if (ns == 1) { /* a single character: no merge possible */
        int32_t id = g4_vocab_symbol(c->v, w, n);
        return (id >= 0 && id < g4_vocab_n_tokens(c->v)) ? push_id(c, id) : emit_bytes(c, w, n);
    }
    if (!grow((void **)&c->syms, &c->syms_cap, ns, sizeof(sym)) ||
        !grow((void **)&c->heap, &c->heap_cap, ns, sizeof(bigram)))
        return g4_fail(c->err, G4_ERR_NOMEM, "tokenize: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; k++) {
        size_t l = g4_utf8_char_len(w + i, n - i);
        sym *y = &c->syms[k];
        y->prev = (int32_t)k - 1;
        y->next = (k + 1 < ns) ? (int32_t)(k + 1) : -1;
        y->id = g4_vocab_symbol(c->v, w + i, l);
        y->start = (uint32_t)i;
        y->len = (uint32_t)l;
        i += l;
    }
    /* all adjacent pairs at once, then heapify (O(n)) */
    c->heap_n = 0;
    for (size_t i = 0; i + 1 < ns; i++)
        if (pair_of(c, (int32_t)i, (int32_t)(i + 1), &c->heap[c->heap_n])) c->heap_n++;
    for (size_t i = c->heap_n / 4 + 1; i-- > 0;) sift_down(c->heap, c->heap_n, i);
    g4_status st;
    while (c->heap_n) {
        bigram b = heap_pop(c);
        int32_t li = (int32_t)(uint32_t)b.key;
        sym *L = &c->syms[li];
        if (L->len == 0 || L->id != b.lid || L->next < 0) continue;
        sym *R = &c->syms[L->next];
        if (R->id != b.rid) continue;
        int32_t rank, res;
        g4_vocab_merge_ids(c->v, L->id, R->id, &rank, &res);
        L->id = res;
        L->len += R->len;
        L->next = R->next;
        if (R->next >= 0) c->syms[R->next].prev = li;
        R->len = 0;
        R->id = -1;
        if ((st = try_pair(c, L->prev, li))) return st;
        if ((st = try_pair(c, li, L->next))) return st;
    }
    int32_t nt = g4_vocab_n_tokens(c->v);
    for (int32_t i = 0; i >= 0; i = c->syms[i].next) {
        const sym *y = &c->syms[i];
        if (y->id >= 0 && y->id < nt) st = push_id(c, y->id);
        else st = emit_bytes(c, w + y->start, y->len);
        if (st) return st;
    }
    return G4_OK;
}

/* Cuts the word where no merge can ever join the characters on both sides (most word
 * boundaries: no Gemma token has a letter before '▁'), then runs BPE on each segment:
 * the result is the same as BPE on the whole word, with small heaps. */
static g4_status bpe_word(tctx *c, const char *w, size_t n) {
    size_t seg = 0;
    uint32_t prev = 0;
    for (size_t i = 0; i < n;) {
        size_t l = g4_utf8_char_len(w + i, n - i);
        uint32_t ch = g4_vocab_pack_char(w + i, l);
        if (i > seg && !g4_vocab_may_join(c->v, prev, ch)) {
            g4_status st = bpe_segment(c, w + seg, i - seg);
            if (st) return st;
            seg = i;
        }
        prev = ch;
        i += l;
    }
    return n > seg ? bpe_segment(c, w + seg, n - seg) : G4_OK;
}

/* ---- plain fragments ---- */

/* ' ' -> U+2581; code points decoded as llama.cpp does (no overlong / surrogate checks),
 * undecodable bytes -> U+FFFD; re-encoded canonically. Returns the cleaned length. */
static size_t clean_text(const char *s, size_t n, char *o) {
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = (uint8_t)s[i];
        if (b == ' ') {
            o[j++] = (char)0xE2;
            o[j++] = (char)0x96;
            o[j++] = (char)0x81;
            i++;
        } else if (b < 0x80) {
            o[j++] = (char)b;
            i++;
        } else {
            uint32_t cp;
            i += g4_utf8_decode_lenient(s + i, n - i, &cp);
            j += g4_utf8_encode(cp, o + j);
        }
    }
    return j;
}

static g4_status encode_plain(tctx *c, const char *s, size_t n) {
    if (!n) return G4_OK;
    if (n > ((size_t)-1) / 4 ||
        !grow((void **)&c->clean, &c->clean_cap, n * 3 + 4, 1))
        return g4_fail(c->err, G4_ERR_NOMEM, "tokenize: out of memory");
    size_t m = clean_text(s, n, c->clean);
    const char *t = c->clean;
    g4_status st;
    for (size_t i = 0; i < m;) {
        bool nl = t[i] == '\n';
        size_t j = i;
        while (j < m && (t[j] == '\n') == nl) j++;
        int32_t id = nl ? g4_vocab_find(c->v, t + i, j - i) : -1;
        if (id >= 0)
            st = push_id(c, id);
        else
            st = bpe_word(c, t + i, j - i);
        if (st) return st;
        i = j;
    }
    return G4_OK;
}

/* ---- special-token partition ---- */

static int cmp_rank_pos(const void *pa, const void *pb) {
    const smatch *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

static int cmp_pos(const void *pa, const void *pb) {
    const smatch *a = pa, *b = pb;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

static g4_status encode_all(tctx *c, const char *text, size_t len, bool parse_special) {
    size_t maxl = g4_vocab_max_special_len(c->v);
    if (!maxl || !len) return encode_plain(c, text, len);
    int32_t *cand = malloc(maxl * sizeof *cand);
    smatch *m = NULL;
    uint8_t *taken = NULL;
    size_t nm = 0, mcap = 0;
    g4_status st = G4_OK;
    if (!cand) return g4_fail(c->err, G4_ERR_NOMEM, "tokenize: out of memory");
    for (size_t i = 0; i < len; i++) {
        size_t k = g4_vocab_special_prefixes(c->v, text + i, len - i, cand, maxl);
        for (size_t q = 0; q < k; q++) {
            g4_token_type ty = g4_vocab_type(c->v, cand[q]);
            if (!parse_special && (ty == G4_TOKEN_CONTROL || ty == G4_TOKEN_UNKNOWN)) continue;
            if (!grow((void **)&m, &mcap, nm + 1, sizeof *m)) {
                st = g4_fail(c->err, G4_ERR_NOMEM, "tokenize: out of memory");
                goto done;
            }
            size_t tl;
            g4_vocab_text(c->v, cand[q], &tl);
            m[nm++] = (smatch){i, tl, cand[q], g4_vocab_special_rank(c->v, cand[q])};
        }
    }
    if (!nm) {
        st = encode_plain(c, text, len);
        goto done;
    }
    /* Higher priority (longer) tokens claim their occurrences first, each scanning left
     * to right; an occurrence survives only if no claimed byte lies inside it. Claimed
     * ranges are never shorter than the candidate, so checking its two ends suffices. */
    qsort(m, nm, sizeof *m, cmp_rank_pos);
    taken = calloc(len, 1);
    if (!taken) {
        st = g4_fail(c->err, G4_ERR_NOMEM, "tokenize: out of memory");
        goto done;
    }
    size_t nk = 0;
    for (size_t q = 0; q < nm; q++) {
        if (taken[m[q].pos] || taken[m[q].pos + m[q].len - 1]) continue;
        memset(taken + m[q].pos, 1, m[q].len);
        m[nk++] = m[q];
    }
    qsort(m, nk, sizeof *m, cmp_pos);
    size_t at = 0;
    for (size_t q = 0; q < nk; q++) {
        if ((st = encode_plain(c, text + at, m[q].pos - at))) goto done;
        if ((st = push_id(c, m[q].tok))) goto done;
        at = m[q].pos + m[q].len;
    }
    st = encode_plain(c, text + at, len - at);
done:
    free(cand);
    free(m);
    free(taken);
    return st;
}

g4_status g4_tokenize(const g4_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids, g4_error *err) {
    if (!ids || !n_ids) return g4_fail(err, G4_ERR_ARG, "tokenize: ids/n_ids is NULL");
    *ids = NULL;
    *n_ids = 0;
    if (!v) return g4_fail(err, G4_ERR_ARG, "tokenize: vocab is NULL");
    if (!text && len) return g4_fail(err, G4_ERR_ARG, "tokenize: text is NULL");
    if (len > (size_t)INT32_MAX / 4)
        return g4_fail(err, G4_ERR_ARG, "tokenize: text too long (%zu bytes)", len);
    tctx c;
    memset(&c, 0, sizeof c);
    c.v = v;
    c.err = err;
    g4_status st = G4_OK;
    if (!grow((void **)&c.out.p, &c.out.cap, len / 2 + 8, sizeof(int32_t))) {
        st = g4_fail(err, G4_ERR_NOMEM, "tokenize: out of memory");
        goto done;
    }
    if (add_special && g4_vocab_add_bos(v)) {
        if ((st = push_id(&c, g4_vocab_bos(v)))) goto done;
    }
    st = encode_all(&c, text, len, parse_special);
done:
    free(c.clean);
    free(c.syms);
    free(c.heap);
    if (st) {
        free(c.out.p);
        return st;
    }
    *ids = c.out.p;
    *n_ids = c.out.n;
    return G4_OK;
}

/* ---- decoding ---- */

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

size_t g4_token_piece(const g4_vocab *v, int32_t id, bool unparse_special, char *buf,
                      size_t cap) {
    size_t tl;
    const char *t = g4_vocab_text(v, id, &tl);
    if (!t) return 0;
    size_t n = 0;
    switch (g4_vocab_type(v, id)) {
    case G4_TOKEN_BYTE:
        if (tl == 6 && t[0] == '<' && t[1] == '0' && t[2] == 'x' && t[5] == '>' &&
            hexval(t[3]) >= 0 && hexval(t[4]) >= 0) {
            if (cap) buf[0] = (char)(hexval(t[3]) * 16 + hexval(t[4]));
            return 1;
        }
        break; /* malformed byte token: render its text */
    case G4_TOKEN_CONTROL:
    case G4_TOKEN_UNKNOWN:
        if (!unparse_special) return 0;
        break;
    case G4_TOKEN_UNUSED:
        return 0;
    default: /* NORMAL, USER_DEFINED, UNDEFINED: unescape U+2581 */
        for (size_t i = 0; i < tl;) {
            if (i + 2 < tl && (uint8_t)t[i] == 0xE2 && (uint8_t)t[i + 1] == 0x96 &&
                (uint8_t)t[i + 2] == 0x81) {
                if (n < cap) buf[n] = ' ';
                n++;
                i += 3;
            } else {
                if (n < cap) buf[n] = t[i];
                n++;
                i++;
            }
        }
        return n;
    }
    if (cap) memcpy(buf, t, tl < cap ? tl : cap);
    return tl;
}

g4_status g4_detokenize(const g4_vocab *v, const int32_t *ids, size_t n_ids,
                        bool remove_special, bool unparse_special, char **out,
                        size_t *out_len, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "detokenize: out is NULL");
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!v || (!ids && n_ids)) return g4_fail(err, G4_ERR_ARG, "detokenize: NULL argument");
    size_t first = 0;
    if (remove_special && n_ids && g4_vocab_add_bos(v) && ids[0] == g4_vocab_bos(v)) first = 1;
    size_t total = 0;
    for (size_t i = first; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= g4_vocab_n_tokens(v))
            return g4_fail(err, G4_ERR_ARG, "detokenize: token id %d at %zu out of range",
                           (int)ids[i], i);
        total += g4_token_piece(v, ids[i], unparse_special, NULL, 0);
    }
    char *s = malloc(total + 1);
    if (!s) return g4_fail(err, G4_ERR_NOMEM, "detokenize: out of memory");
    size_t pos = 0;
    for (size_t i = first; i < n_ids; i++)
        pos += g4_token_piece(v, ids[i], unparse_special, s + pos, total - pos);
    s[pos] = '\0';
    *out = s;
    if (out_len) *out_len = pos;
    return G4_OK;
}

/* ---- streaming UTF-8 ---- */

static void shift(g4_utf8_stream *s, size_t k) {
    memmove(s->pend, s->pend + k, (size_t)s->n - k);
    s->n = (uint8_t)(s->n - k);
}

size_t g4_utf8_stream_feed(g4_utf8_stream *s, const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        s->pend[s->n++] = (uint8_t)in[i];
        while (s->n) {
            /* ASCII or a byte that cannot start a sequence: 1, passed through */
            size_t need = g4_utf8_lead_len_strict(s->pend[0]);
            size_t k = 1;
            while (k < s->n && k < need && g4_utf8_is_cont(s->pend[k])) k++;
            if (k < need && k < s->n) { /* broken sequence: pass its bytes through */
                memcpy(out + o, s->pend, k);
                o += k;
                shift(s, k);
                continue;
            }
            if (k < need) break; /* incomplete: wait for more */
            memcpy(out + o, s->pend, need);
            o += need;
            shift(s, need);
        }
    }
    return o;
}

size_t g4_utf8_stream_flush(g4_utf8_stream *s, char *out) {
    size_t k = s->n;
    memcpy(out, s->pend, k);
    s->n = 0;
    return k;
}
