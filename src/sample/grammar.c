/* grammar.c — the matcher: configuration sets over grammar nodes, the per-vocabulary
 * index (token trie and string tables), the logits mask.
 *
 * A state is a set of configurations (at most G_MAX_CONFIGS); a configuration is a stack
 * of frames linked through parent indices, so configurations share their lower frames
 * and a step only creates the frames it changes. Frames live in one arena: the current
 * state's frames at the bottom, scratch frames of a mask / accept above them (reset after
 * each). Every configuration in a state is "ready": its top frame consumes the next symbol;
 * a state also records whether the output may end here (complete).
 *
 * Masking walks the vocabulary's byte trie depth first, stepping the state one byte per
 * trie edge, so a prefix shared by many tokens is stepped once and a dead prefix prunes its
 * whole subtree. Inside string content (and free Gemma keys) nearly every token fits; there
 * the walk is replaced by tables built once per vocabulary: for each notation, the set of
 * tokens that stay inside a string started at a clean position (no escape, no partial
 * UTF-8 character), as bitsets by the number of characters they add, and the tokens that
 * end the string, grouped by the text after the end — that text is stepped through the real
 * state once per distinct text, and only where the state takes its first byte. After a
 * partial marker ("<", "<|" ...) the same tables apply minus the tokens that would complete
 * the marker. Only mid-escape / mid-character positions fall back to the trie walk. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "sample/grammar_int.h"

#define FAIL (UINT32_MAX - 1u)
#define NCP_BUCKETS 16
#define MAX_TOKEN_BYTES 255
#define WL_CAP 512
#define VIS_CAP 128
#define NORM_STEPS 4096

/* ---- markers the output parser reacts to (src/chat/parse.c) --------------------------- */

static const struct {
    const char *s;
    uint8_t len;
} k_markers[] = {
    {"<|\"|>", 5},     {"<|channel>", 10},     {"<channel|>", 10},    {"<|tool_call>", 12},
    {"<tool_call|>", 12}, {"<|tool_response>", 16}, {"<tool_response|>", 16}, {"<turn|>", 7},
    {"<|turn>", 7},    {"<eos>", 5},           {"<|think|>", 9},      {"<|tool>", 7},
    {"<tool|>", 7},
};
#define N_MARKERS (sizeof k_markers / sizeof k_markers[0])
#define MK_HIT 0xFFu

/* State: 0 = no partial marker; else (i << 4 | k): the text ends with markers[i][0..k).
 * Every marker starts with '<' and has no other '<', so a byte that does not extend the
 * partial match restarts from nothing (or from "<"). */
static uint32_t mk_step(uint32_t st, uint8_t b) {
    uint32_t k = st & 15u, i = st >> 4;
    if (k) {
        const char *pre = k_markers[i].s;
        for (uint32_t j = 0; j < N_MARKERS; j++) {
            if (k_markers[j].len > k && (uint8_t)k_markers[j].s[k] == b &&
                memcmp(k_markers[j].s, pre, k) == 0)
                return k + 1u == k_markers[j].len ? MK_HIT : (j << 4 | (k + 1u));
        }
    }
    return b == '<' ? 1u : 0u;
}

/* The texts that complete a marker from state st: markers[j][k..] for every marker j that
 * extends the partial match. Returns how many (<= N_MARKERS). */
static uint32_t mk_remainders(uint32_t st, const char **rest, uint32_t *len) {
    uint32_t k = st & 15u, i = st >> 4, n = 0;
    if (!k) return 0;
    for (uint32_t j = 0; j < N_MARKERS; j++)
        if (k_markers[j].len > k && memcmp(k_markers[j].s, k_markers[i].s, k) == 0) {
            rest[n] = k_markers[j].s + k;
            len[n++] = k_markers[j].len - k;
        }
    return n;
}

bool g4_gram_has_marker(const char *s, size_t n) {
    uint32_t st = 0;
    for (size_t i = 0; i < n; i++)
        if ((st = mk_step(st, (uint8_t)s[i])) == MK_HIT) return true;
    return false;
}

/* ---- string content automaton ------------------------------------------------------------
 * Frame st bits: 0-1 phase (0 before the opening delimiter, 1 content, 2 closed),
 * 2-4 escape (0 none, 1 after '\', 2 first \u hex digit, 3 second, 4 second after d/D
 * (0-7 only: no surrogates), 5 third, 6 fourth), 5-6 UTF-8 continuation bytes still due,
 * 7-9 range class of the next one, 10-17 marker state. v: code points (low 32), position
 * in the excluded-names trie (high 32, G_NONE when off). */

typedef struct {
    uint32_t st, count, excl;
} sstate;

#define S_PHASE(x) ((x) & 3u)
#define S_ESC(x) (((x) >> 2) & 7u)
#define S_NEED(x) (((x) >> 5) & 3u)
#define S_CLS(x) (((x) >> 7) & 7u)
#define S_MK(x) (((x) >> 10) & 0xFFu)
#define S_PACK(ph, esc, need, cls, mk) \
    ((ph) | (esc) << 2 | (need) << 5 | (cls) << 7 | (mk) << 10)

static const uint8_t k_esc_pend[7] = {0, 1, 4, 3, 3, 2, 1};

static bool is_hex(uint8_t b) {
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

static bool excl_ok(const g4_grammar *g, uint32_t excl) {
    return excl == G_NONE || !g->trie[excl].term;
}

static bool str_close_ok(const g4_grammar *g, const gstrp *p, const sstate *s) {
    return S_ESC(s->st) == 0 && S_NEED(s->st) == 0 && s->count >= p->min_len &&
           (!g || excl_ok(g, s->excl));
}

/* One content byte. Returns 0 (invalid), 1 (still content) or 2 (closed by '"'). g may be
 * NULL when no exclusion trie is in use (the vocabulary tables). */
static int str_byte(sstate *s, const gstrp *p, const g4_grammar *g, uint8_t b) {
    uint32_t st = s->st, esc = S_ESC(st), need = S_NEED(st), cls = S_CLS(st), mk = S_MK(st);
    if (p->mode == GSTR_BAREKEY) {
        bool alpha = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_';
        if (!(alpha || (s->count > 0 && b >= '0' && b <= '9')) || s->count >= p->max_len) return 0;
        s->count++;
    } else if (need) {
        static const uint8_t lo[5] = {0x80, 0xA0, 0x80, 0x90, 0x80}, hi[5] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
        if (b < lo[cls] || b > hi[cls]) return 0;
        need--;
        cls = 0;
    } else if (esc) {
        switch (esc) {
        case 1:
            if (b == 'u') esc = 2;
            else if (strchr("\"\\/bfnrt", b) && b) esc = 0;
            else return 0;
            break;
        case 2:
            if (!is_hex(b)) return 0;
            esc = (b == 'd' || b == 'D') ? 4 : 3;
            break;
        case 3: if (!is_hex(b)) return 0; esc = 5; break;
        case 4: if (b < '0' || b > '7') return 0; esc = 5; break;
        case 5: if (!is_hex(b)) return 0; esc = 6; break;
        default: if (!is_hex(b)) return 0; esc = 0; break;
        }
    } else {
        if (p->mode == GSTR_JSON) {
            if (b == '"') {
                sstate t = *s;
                if (!str_close_ok(g, p, &t)) return 0;
                s->st = S_PACK(2u, 0u, 0u, 0u, 0u);
                return 2;
            }
            if (b < 0x20) return 0;
            if (b == '\\' && (p->flags & GSTR_NO_BSLASH)) return 0;
        } else if (b == 0) {
            return 0;
        }
        if (s->count >= p->max_len) return 0;
        if (b < 0x80) {
            if (b == '\\' && p->mode == GSTR_JSON) esc = 1;
        } else if (b >= 0xC2 && b <= 0xDF) {
            need = 1, cls = 0;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2, cls = b == 0xE0 ? 1 : b == 0xED ? 2 : 0;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3, cls = b == 0xF0 ? 3 : b == 0xF4 ? 4 : 0;
        } else {
            return 0;
        }
        s->count++;
    }
    mk = mk_step(mk, b);
    if (mk == MK_HIT) return 0;
    if (s->excl != G_NONE && g) {
        uint32_t ch = g->trie[s->excl].child;
        while (ch != G_NONE && g->trie[ch].sym != b) ch = g->trie[ch].sibling;
        s->excl = ch;
    }
    s->st = S_PACK(1u, esc, need, cls, mk);
    return 1;
}

/* ---- the vocabulary index -------------------------------------------------------------- */

struct gclose {
    const char *rest; /* the text after the end of the string (in pool) */
    int32_t id;
    uint16_t ncp;  /* code points before it */
    uint8_t len;   /* length of rest */
    uint8_t digit; /* bare keys: the token starts with a digit */
};

typedef struct {
    struct gclose *e;
    uint32_t n;
    uint32_t first[257];
} gclist;

enum { K_JSON, K_GEMMA, K_JSON_NOBSL, K_BARE, K_BARE_FIRST, N_KINDS };

typedef struct {
    int32_t id;
    uint16_t ncp;  /* code points the token adds to string content */
    uint8_t first; /* its first byte */
    uint8_t kf;    /* bits 0-1 kind, bit 2 has '\', bits 4-6 bytes still due at its end */
} tsum;

enum { TS_INVALID = 0, TS_INSIDE = 1, TS_CLOSE = 2 };
#define TS_BSL 4u

struct g4_gvocab {
    int32_t n_vocab;
    uint32_t *poff; /* text tokens: piece bytes in pool (plen 0: not a text token) */
    uint8_t *plen;
    char *pool;
    uint8_t *eog; /* per token */
    int32_t sym_tok[GSYM_COUNT];
    /* trie in preorder: node i has byte nbyte[i] at depth ndepth[i] (1 = first byte); its
     * subtree ends before nskip[i]; tokens ending at it are toks[ntok[i] .. ntok[i + 1]) */
    uint32_t n_nodes;
    uint8_t *nbyte, *ndepth;
    uint32_t *nskip, *ntok;
    int32_t *toks;
    uint32_t n_text, max_len;
    uint32_t first[256]; /* depth-1 node of each byte, or G_NONE */
    tsum *sum[3]; /* per notation (JSON, Gemma, bare Gemma key), in toks order */
    /* bitsets of the tokens that stay inside a string, per kind (K_JSON, K_GEMMA,
     * K_JSON_NOBSL, K_BARE, K_BARE_FIRST): [k] those adding at most k code points
     * (k < NCP_BUCKETS), [NCP_BUCKETS] all; longs[kind] lists those adding more */
    uint64_t *inside[N_KINDS][NCP_BUCKETS + 1];
    struct glong {
        int32_t id;
        uint32_t ncp;
    } *longs[N_KINDS];
    uint32_t n_long[N_KINDS];
    uint32_t max_ncp;  /* largest ncp of such a token */
    uint32_t max_pend; /* largest number of bytes still due at its end */
    /* tokens that end a JSON string / a bare key from a clean position, sorted by the text
     * after the end (tokens with the same rest are adjacent; first[b] .. first[b + 1] is
     * where that text starts with byte b) */
    gclist close[2];
    uint32_t lanes[256][8]; /* byte of an allowed-mask -> 8 lane masks (all ones: keep) */
};

typedef struct {
    const char *p;
    uint32_t len;
    int32_t id;
} piece;

static int piece_cmp(const void *a, const void *b) {
    const piece *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int close_cmp(const void *a, const void *b) {
    const struct gclose *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->rest, y->rest, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool is_ident(uint8_t b) {
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_';
}

static void summarize(const char *s, uint32_t n, gstr_mode mode, tsum *out) {
    out->first = n ? (uint8_t)s[0] : 0;
    if (mode == GSTR_BAREKEY) { /* identifier bytes, then the key ends */
        uint32_t k = 0;
        while (k < n && is_ident((uint8_t)s[k])) k++;
        out->ncp = (uint16_t)k;
        out->kf = (uint8_t)((k == n ? TS_INSIDE : TS_CLOSE) | (n && s[0] >= '0' && s[0] <= '9' ? TS_BSL : 0));
        return;
    }
    gstrp p = {(uint8_t)mode, 0, 0, G_UNBOUNDED, G_NONE};
    sstate st = {S_PACK(1u, 0u, 0u, 0u, 0u), 0, G_NONE};
    uint8_t kind = TS_INSIDE, bsl = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (s[i] == '\\') bsl = TS_BSL;
        int r = str_byte(&st, &p, NULL, (uint8_t)s[i]);
        if (r == 0) {
            kind = TS_INVALID;
            break;
        }
        if (r == 2) {
            kind = TS_CLOSE;
            break;
        }
    }
    uint32_t pend = S_NEED(st.st) + k_esc_pend[S_ESC(st.st)];
    out->ncp = (uint16_t)st.count;
    out->kf = (uint8_t)(kind | bsl | (pend << 4));
}

static void index_close(gclist *cl) {
    qsort(cl->e, cl->n, sizeof *cl->e, close_cmp);
    uint32_t i = 0;
    while (i < cl->n && cl->e[i].len == 0) i++;
    for (int b = 0; b < 256; b++) {
        cl->first[b] = i;
        while (i < cl->n && (uint8_t)cl->e[i].rest[0] == b) i++;
    }
    cl->first[256] = cl->n;
}

g4_status g4_gvocab_build(const g4_gvocab_desc *d, g4_gvocab **out, g4_error *err) {
    if (!d || !out || !d->token_class || !d->piece || !d->find_special || d->n_tokens < 0)
        return g4_fail(err, G4_ERR_ARG, "gvocab: NULL argument");
    *out = NULL;
    int32_t n = d->n_tokens;
    g4_gvocab *gv = calloc(1, sizeof *gv);
    piece *pc = NULL;
    uint32_t *path = NULL;
    if (!gv) return g4_fail(err, G4_ERR_NOMEM, "gvocab: out of memory");
    gv->n_vocab = n;
    gv->poff = calloc((size_t)n + 1, sizeof *gv->poff);
    gv->plen = calloc((size_t)n + 1, 1);
    gv->eog = calloc((size_t)n + 1, 1);
    pc = malloc(((size_t)n + 1) * sizeof *pc);
    if (!gv->poff || !gv->plen || !gv->eog || !pc) goto oom;

    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        int cls = d->token_class(d->user, i);
        gv->eog[i] = cls == G4_GTOK_EOG;
        if (cls != G4_GTOK_TEXT) continue;
        size_t len = d->piece(d->user, i, NULL, 0);
        if (len == 0 || len > MAX_TOKEN_BYTES) continue;
        total += len;
    }
    gv->pool = malloc(total + 1);
    if (!gv->pool) goto oom;
    size_t pos = 0;
    uint32_t nt = 0;
    for (int32_t i = 0; i < n; i++) {
        if (gv->eog[i] || d->token_class(d->user, i) != G4_GTOK_TEXT) continue;
        size_t len = d->piece(d->user, i, NULL, 0);
        if (len == 0 || len > MAX_TOKEN_BYTES || pos + len > total) continue;
        d->piece(d->user, i, gv->pool + pos, len);
        gv->poff[i] = (uint32_t)pos;
        gv->plen[i] = (uint8_t)len;
        pc[nt++] = (piece){gv->pool + pos, (uint32_t)len, i};
        pos += len;
        if (len > gv->max_len) gv->max_len = (uint32_t)len;
    }
    static const char *const symtext[GSYM_COUNT] = {"<|\"|>", "<|tool_call>", "<tool_call|>"};
    for (int k = 0; k < GSYM_COUNT; k++) {
        int32_t id = d->find_special(d->user, symtext[k], strlen(symtext[k]));
        gv->sym_tok[k] = id >= 0 && id < n && !gv->plen[id] && !gv->eog[id] ? id : -1;
    }

    /* the trie, in preorder, from the pieces sorted bytewise */
    qsort(pc, nt, sizeof *pc, piece_cmp);
    gv->n_text = nt;
    gv->toks = malloc(((size_t)nt + 1) * sizeof *gv->toks);
    size_t cap = total + 1;
    gv->nbyte = malloc(cap);
    gv->ndepth = malloc(cap);
    gv->nskip = malloc(cap * sizeof *gv->nskip);
    gv->ntok = malloc((cap + 1) * sizeof *gv->ntok);
    path = malloc((MAX_TOKEN_BYTES + 1) * sizeof *path);
    if (!gv->toks || !gv->nbyte || !gv->ndepth || !gv->nskip || !gv->ntok || !path) goto oom;
    for (int b = 0; b < 256; b++) gv->first[b] = G_NONE;
    uint32_t depth = 0, nn = 0;
    const piece *prev = NULL;
    for (uint32_t t = 0; t < nt; t++) {
        const piece *cur = &pc[t];
        uint32_t l = 0;
        if (prev)
            while (l < prev->len && l < cur->len && prev->p[l] == cur->p[l]) l++;
        while (depth > l) gv->nskip[path[--depth]] = nn;
        for (uint32_t k = l; k < cur->len; k++) {
            gv->nbyte[nn] = (uint8_t)cur->p[k];
            gv->ndepth[nn] = (uint8_t)(k + 1);
            gv->ntok[nn] = t;
            if (k == 0) gv->first[(uint8_t)cur->p[0]] = nn;
            path[depth++] = nn++;
        }
        gv->toks[t] = cur->id;
        prev = cur;
    }
    while (depth > 0) gv->nskip[path[--depth]] = nn;
    gv->ntok[nn] = nt;
    gv->n_nodes = nn;

    /* string-content tables */
    size_t words = ((size_t)n + 63) / 64 + 1;
    for (int m = 0; m < 3; m++)
        if (!(gv->sum[m] = malloc(((size_t)nt + 1) * sizeof(tsum)))) goto oom;
    for (int m = 0; m < 2; m++)
        if (!(gv->close[m].e = malloc(((size_t)nt + 1) * sizeof(struct gclose)))) goto oom;
    for (int m = 0; m < N_KINDS; m++) {
        for (int k = 0; k <= NCP_BUCKETS; k++)
            if (!(gv->inside[m][k] = calloc(words, sizeof(uint64_t)))) goto oom;
        if (!(gv->longs[m] = malloc(((size_t)nt + 1) * sizeof *gv->longs[m]))) goto oom;
    }
    for (uint32_t t = 0; t < nt; t++) {
        int32_t id = gv->toks[t];
        const char *s = gv->pool + gv->poff[id];
        uint32_t len = gv->plen[id];
        for (int m = 0; m < 3; m++) {
            tsum *ts = &gv->sum[m][t];
            summarize(s, len, m == 0 ? GSTR_JSON : m == 1 ? GSTR_GEMMA : GSTR_BAREKEY, ts);
            ts->id = id;
            uint32_t kinds[2], nk = 0;
            if ((ts->kf & 3u) == TS_INSIDE) {
                if (m == 0) {
                    kinds[nk++] = K_JSON;
                    if (!(ts->kf & TS_BSL)) kinds[nk++] = K_JSON_NOBSL;
                } else if (m == 1) {
                    kinds[nk++] = K_GEMMA;
                } else {
                    kinds[nk++] = K_BARE;
                    if (!(ts->kf & TS_BSL)) kinds[nk++] = K_BARE_FIRST;
                }
                if (ts->ncp > gv->max_ncp) gv->max_ncp = ts->ncp;
                if ((ts->kf >> 4) > gv->max_pend) gv->max_pend = ts->kf >> 4;
            }
            uint64_t bit = 1ull << ((uint32_t)id & 63);
            for (uint32_t i = 0; i < nk; i++) {
                uint32_t kind = kinds[i];
                for (uint32_t k = ts->ncp < NCP_BUCKETS ? ts->ncp : NCP_BUCKETS; k <= NCP_BUCKETS; k++)
                    gv->inside[kind][k][(uint32_t)id >> 6] |= bit;
                if (ts->ncp >= NCP_BUCKETS) gv->longs[kind][gv->n_long[kind]++] = (struct glong){id, ts->ncp};
            }
            if ((ts->kf & 3u) != TS_CLOSE || m == 1) continue;
            uint32_t k = ts->ncp; /* bare keys: the identifier prefix */
            if (m == 0) { /* the closing quote: the first '"' that is not escaped */
                k = 0;
                for (bool esc = false; k < len; k++) {
                    if (esc) esc = false;
                    else if (s[k] == '\\') esc = true;
                    else if (s[k] == '"') break;
                }
                k++;
            }
            gclist *cl = &gv->close[m == 0 ? 0 : 1];
            cl->e[cl->n++] = (struct gclose){s + k, id, ts->ncp, (uint8_t)(len - k), (uint8_t)((ts->kf & TS_BSL) && m == 2)};
        }
    }
    index_close(&gv->close[0]);
    index_close(&gv->close[1]);
    for (int b = 0; b < 256; b++)
        for (int k = 0; k < 8; k++) gv->lanes[b][k] = (b >> k & 1) ? 0xFFFFFFFFu : 0;
    free(pc);
    free(path);
    *out = gv;
    return G4_OK;
oom:
    free(pc);
    free(path);
    g4_gvocab_free(gv);
    return g4_fail(err, G4_ERR_NOMEM, "gvocab: out of memory");
}

void g4_gvocab_free(g4_gvocab *gv) {
    if (!gv) return;
    free(gv->poff);
    free(gv->plen);
    free(gv->pool);
    free(gv->eog);
    free(gv->nbyte);
    free(gv->ndepth);
    free(gv->nskip);
    free(gv->ntok);
    free(gv->toks);
    for (int m = 0; m < 3; m++) free(gv->sum[m]);
    for (int m = 0; m < N_KINDS; m++) {
        for (int k = 0; k <= NCP_BUCKETS; k++) free(gv->inside[m][k]);
        free(gv->longs[m]);
    }
    free(gv->close[0].e);
    free(gv->close[1].e);
    free(gv);
}

/* ---- frames and states ------------------------------------------------------------------ */

typedef struct {
    uint32_t node, st;
    uint64_t v;
    uint32_t parent, cum; /* cum: shortest completion of this frame and all below it */
    uint32_t depth;
} gframe;

typedef struct {
    uint32_t n;
    bool complete;
    uint32_t cfg[G_MAX_CONFIGS]; /* top frames */
} gset;

struct g4_gstate {
    const g4_grammar *g;
    const g4_gvocab *gv;
    gframe *fr;
    uint32_t nfr, capfr, persist;
    gset cur;
    bool ended;
    int64_t budget;
    uint64_t *allowed; /* mask scratch: one bit per token */
    uint64_t *scratch; /* the same, for one configuration */
    gset *dset;        /* per trie depth */
    uint32_t *dmark;
    uint32_t *aux; /* compaction */
    gframe *tmp;
    uint32_t cap_aux;
};

static uint32_t sadd(uint32_t a, uint32_t b) {
    return a >= G_INF || b >= G_INF || a + b >= G_INF ? G_INF : a + b;
}

static uint32_t smul(uint32_t a, uint32_t k) {
    if (k == 0) return 0;
    if (a >= G_INF) return G_INF;
    uint64_t r = (uint64_t)a * k;
    return r >= G_INF ? G_INF : (uint32_t)r;
}

/* ---- numbers ------------------------------------------------------------------------------
 * st bits: 0-3 phase, 4-8 integer digits, 9-13 fraction digits, 14-16 exponent digits,
 * 17 negative, 18 last fraction digit non-zero. v: the integer part. */
enum { NP_START, NP_MINUS, NP_INT, NP_DOT, NP_FRAC, NP_E, NP_ESIGN, NP_EXP };
#define N_PH(x) ((x) & 15u)
#define N_ID(x) (((x) >> 4) & 31u)
#define N_FD(x) (((x) >> 9) & 31u)
#define N_ED(x) (((x) >> 14) & 7u)
#define N_NEG(x) (((x) >> 17) & 1u)
#define N_NZ(x) (((x) >> 18) & 1u)
#define N_PACK(ph, id, fd, ed, neg, nz) \
    ((ph) | (id) << 4 | (fd) << 9 | (ed) << 14 | (neg) << 17 | (nz) << 18)

static void num_range(const gnump *p, bool neg, bool *ok, uint64_t *lo, uint64_t *hi) {
    *ok = neg ? p->neg_ok : p->pos_ok;
    *lo = neg ? p->nlo : p->plo;
    *hi = neg ? p->nhi : p->phi;
}

/* Some number with integer part starting with the k digits of P lies in [lo, hi]. */
static bool num_feasible(const gnump *p, bool neg, uint64_t P, uint32_t k) {
    if (!(p->flags & GNUM_RANGED)) return true;
    bool ok;
    uint64_t lo, hi;
    num_range(p, neg, &ok, &lo, &hi);
    if (!ok) return false;
    if (P == 0) return lo == 0;
    uint64_t pw = 1;
    for (uint32_t j = 0; k + j <= p->max_int; j++, pw *= 10) {
        uint64_t a = P * pw;
        if (a > hi) break;
        if (a + pw - 1 >= lo) return true;
    }
    return false;
}

/* Extra integer digits needed before P can end (0 if it can). */
static uint32_t num_more_digits(const gnump *p, bool neg, uint64_t P, uint32_t k) {
    if (!(p->flags & GNUM_RANGED)) return 0;
    bool ok;
    uint64_t lo, hi;
    num_range(p, neg, &ok, &lo, &hi);
    if (P >= lo && P <= hi) return 0;
    uint64_t pw = 10;
    for (uint32_t j = 1; k + j <= p->max_int && P; j++, pw *= 10)
        if (P * pw <= hi && P * pw + pw - 1 >= lo) return j;
    return 1;
}

static bool num_int_in_range(const gnump *p, bool neg, uint64_t P) {
    if (!(p->flags & GNUM_RANGED)) return true;
    bool ok;
    uint64_t lo, hi;
    num_range(p, neg, &ok, &lo, &hi);
    return ok && P >= lo && P <= hi;
}

static bool num_finishable(const gnump *p, uint32_t st, uint64_t v) {
    switch (N_PH(st)) {
    case NP_INT: return !(p->flags & GNUM_NEED_FRAC) && num_int_in_range(p, N_NEG(st), v);
    case NP_FRAC: return N_FD(st) >= 1 && (!(p->flags & GNUM_NEED_FRAC) || N_NZ(st));
    case NP_EXP: return N_ED(st) >= 1;
    default: return false;
    }
}

static bool num_can_more(const gnump *p, uint32_t st, uint64_t v) {
    switch (N_PH(st)) {
    case NP_INT:
        return (v != 0 && N_ID(st) < p->max_int) || (p->flags & (GNUM_FRAC | GNUM_EXP));
    case NP_FRAC: return N_FD(st) < p->max_frac || (p->flags & GNUM_EXP);
    case NP_EXP: return N_ED(st) < p->max_exp;
    default: return true;
    }
}

static uint32_t num_rem(const gnump *p, uint32_t st, uint64_t v) {
    uint32_t frac = (p->flags & GNUM_NEED_FRAC) ? 2 : 0;
    switch (N_PH(st)) {
    case NP_START: return g4_gram_num_minlen(p);
    case NP_MINUS: {
        if (!(p->flags & GNUM_RANGED)) return 1;
        uint32_t d = 1;
        for (uint64_t x = p->nlo; x >= 10; x /= 10) d++;
        return d + frac;
    }
    case NP_INT:
        if (num_finishable(p, st, v)) return 0;
        return num_more_digits(p, N_NEG(st), v, N_ID(st)) + frac;
    case NP_FRAC: return num_finishable(p, st, v) ? 0 : 1;
    case NP_EXP: return N_ED(st) ? 0 : 1;
    default: return 1;
    }
}

static bool num_byte(const gnump *p, uint32_t *pst, uint64_t *pv, uint8_t b) {
    uint32_t st = *pst, ph = N_PH(st), id = N_ID(st), fd = N_FD(st), ed = N_ED(st), neg = N_NEG(st), nz = N_NZ(st);
    uint64_t v = *pv;
    bool digit = b >= '0' && b <= '9';
    uint32_t d = (uint32_t)(b - '0');
    bool ranged = p->flags & GNUM_RANGED;
    switch (ph) {
    case NP_START:
        if (b == '-') {
            if (ranged && !p->neg_ok) return false;
            ph = NP_MINUS, neg = 1;
            break;
        }
        /* fall through */
    case NP_MINUS:
        if (!digit || !num_feasible(p, neg, d, 1)) return false;
        ph = NP_INT, id = 1, v = d;
        break;
    case NP_INT:
        if (digit) {
            if (v == 0 || id + 1 > p->max_int || !num_feasible(p, neg, v * 10 + d, id + 1)) return false;
            v = v * 10 + d, id++;
        } else if (b == '.') {
            if (!(p->flags & GNUM_FRAC) || !num_int_in_range(p, neg, v)) return false;
            ph = NP_DOT;
        } else if (b == 'e' || b == 'E') {
            if (!(p->flags & GNUM_EXP)) return false;
            ph = NP_E;
        } else {
            return false;
        }
        break;
    case NP_DOT:
    case NP_FRAC:
        if (digit) {
            if (fd + 1 > p->max_frac) return false;
            fd++, nz = d != 0, ph = NP_FRAC;
        } else if ((b == 'e' || b == 'E') && ph == NP_FRAC && (p->flags & GNUM_EXP)) {
            ph = NP_E;
        } else {
            return false;
        }
        break;
    case NP_E:
        if (b == '+' || b == '-') {
            ph = NP_ESIGN;
            break;
        }
        /* fall through */
    case NP_ESIGN:
    case NP_EXP:
        if (!digit || ed + 1 > p->max_exp) return false;
        ed++, ph = NP_EXP;
        break;
    default: return false;
    }
    *pst = N_PACK(ph, id, fd, ed, neg, nz);
    *pv = v;
    return true;
}

/* ---- frame bookkeeping --------------------------------------------------------------------- */

/* Symbols still needed to end a string frame. Content equal to an excluded name needs one
 * more character before it may end. */
static uint32_t str_rem(const g4_grammar *g, const gstrp *p, uint32_t st, uint64_t v) {
    uint32_t count = (uint32_t)v, excl = (uint32_t)(v >> 32);
    uint32_t more = excl_ok(g, excl) ? 0 : 1;
    switch (S_PHASE(st)) {
    case 0: return p->mode == GSTR_BAREKEY ? 1 : sadd(2, p->min_len);
    case 1:
        if (p->mode == GSTR_BAREKEY) {
            uint32_t need = p->min_len ? p->min_len : 1;
            return count >= need ? more : need - count;
        }
        return 1 + (p->min_len > count ? p->min_len - count : more) + S_NEED(st) + k_esc_pend[S_ESC(st)];
    default: return 0;
    }
}

static uint32_t rem(const g4_grammar *g, uint32_t node, uint32_t st, uint64_t v) {
    const gnode *n = &g->nodes[node];
    switch (n->kind) {
    case GK_LIT: return n->b - st;
    case GK_TRIE: return g->trie[st].minrest;
    case GK_KEYSEL: {
        uint32_t best = G_INF;
        for (uint32_t k = 0; k < n->b; k++)
            if (v >> k & 1u) {
                uint32_t t = g->props[n->a + k].total;
                if (t < G_INF && t - st < best) best = t - st;
            }
        return best;
    }
    case GK_SEQ: return st < n->b ? g->kidsuf[n->a + st] : 0;
    case GK_REP: {
        uint32_t child = g->nodes[n->a].minlen, sep = n->b == G_NONE ? 0 : g->nodes[n->b].minlen;
        uint32_t count = (uint32_t)v, item = sadd(child, sep);
        switch (st) {
        case 0: return n->minlen;
        case 1: return n->min > count ? smul(item, n->min - count) : 0;
        default: return sadd(child, n->min > count + 1 ? smul(item, n->min - count - 1) : 0);
        }
    }
    case GK_STR: return str_rem(g, &g->strp[n->a], st, v);
    case GK_NUM: return num_rem(&g->nump[n->a], st, v);
    case GK_WS: return 0;
    default: return n->minlen;
    }
}

static bool fr_grow(g4_gstate *s) {
    uint32_t nc = s->capfr * 2;
    if (nc > (1u << 22)) return false; /* 128 MiB of frames: a runaway grammar */
    gframe *q = realloc(s->fr, (size_t)nc * sizeof *q);
    if (!q) return false;
    s->fr = q;
    s->capfr = nc;
    return true;
}

static uint32_t fr_new(g4_gstate *s, uint32_t node, uint32_t st, uint64_t v, uint32_t parent) {
    if (s->nfr == s->capfr && !fr_grow(s)) return FAIL;
    gframe *f = &s->fr[s->nfr];
    f->node = node;
    f->st = st;
    f->v = v;
    f->parent = parent;
    f->depth = parent == G_NONE ? 1 : s->fr[parent].depth + 1;
    f->cum = sadd(parent == G_NONE ? 0 : s->fr[parent].cum, rem(s->g, node, st, v));
    return s->nfr++;
}

/* A new frame for node on top of parent, in its initial state; FAIL when it could not be
 * finished within the stack limit. */
static uint32_t fr_enter(g4_gstate *s, uint32_t node, uint32_t parent) {
    const g4_grammar *g = s->g;
    const gnode *n = &g->nodes[node];
    uint32_t below = parent == G_NONE ? 0 : s->fr[parent].depth;
    if (n->minlen >= G_INF || below + n->mindepth > g->max_stack) return FAIL;
    uint32_t st = 0;
    uint64_t v = 0;
    switch (n->kind) {
    case GK_TRIE: st = n->a; break;
    case GK_KEYSEL: v = n->b >= 64 ? ~0ull : (1ull << n->b) - 1; break;
    case GK_STR: {
        const gstrp *p = &g->strp[n->a];
        st = p->mode == GSTR_BAREKEY ? S_PACK(1u, 0u, 0u, 0u, 0u) : 0;
        v = (uint64_t)p->excl << 32;
        break;
    }
    default: break;
    }
    return fr_new(s, node, st, v, parent);
}

static bool same_cfg(const g4_gstate *s, uint32_t a, uint32_t b) {
    while (a != b) {
        if (a == G_NONE || b == G_NONE) return false;
        const gframe *x = &s->fr[a], *y = &s->fr[b];
        if (x->node != y->node || x->st != y->st || x->v != y->v) return false;
        a = x->parent;
        b = y->parent;
    }
    return true;
}

static void emit(g4_gstate *s, gset *out, uint32_t t) {
    for (uint32_t i = 0; i < out->n; i++)
        if (same_cfg(s, out->cfg[i], t)) return;
    if (out->n < G_MAX_CONFIGS) out->cfg[out->n++] = t;
}

/* ---- normalization: expand a configuration until every top frame consumes ------------------ */

typedef struct {
    uint32_t node, parent;
} visit;

static void normalize(g4_gstate *s, uint32_t top, gset *out) {
    const g4_grammar *g = s->g;
    uint32_t wl[WL_CAP];
    visit vis[VIS_CAP];
    int nwl = 0, nvis = 0, steps = 0;
#define PUSH(x)                                            \
    do {                                                   \
        uint32_t x_ = (x);                                 \
        if (x_ != FAIL && nwl < WL_CAP) wl[nwl++] = x_;    \
    } while (0)
    PUSH(top);
    while (nwl > 0 && steps++ < NORM_STEPS) {
        uint32_t t = wl[--nwl];
        if (t == G_NONE) {
            out->complete = true;
            continue;
        }
        gframe f = s->fr[t];
        const gnode *n = &g->nodes[f.node];
        switch (n->kind) {
        case GK_LIT:
            if (f.st < n->b) emit(s, out, t);
            else PUSH(f.parent);
            break;
        case GK_TRIE: {
            const gtrie *tn = &g->trie[f.st];
            if (tn->child != G_NONE) emit(s, out, t);
            if (tn->term) PUSH(tn->cont == G_NONE ? f.parent : fr_enter(s, tn->cont, f.parent));
            break;
        }
        case GK_KEYSEL: {
            bool ready = false;
            for (uint32_t k = 0; k < n->b; k++) {
                if (!(f.v >> k & 1u)) continue;
                const gprop *p = &g->props[n->a + k];
                if (p->key_len > f.st) ready = true;
                else PUSH(fr_enter(s, p->cont, f.parent));
            }
            if (ready) emit(s, out, t);
            break;
        }
        case GK_SEQ:
            if (f.st >= n->b) {
                PUSH(f.parent);
            } else if (f.st + 1 == n->b) {
                PUSH(fr_enter(s, g->kids[n->a + f.st], f.parent));
            } else {
                uint32_t k = g->kids[n->a + f.st];
                uint32_t p2 = fr_new(s, f.node, f.st + 1, 0, f.parent);
                if (p2 != FAIL) PUSH(fr_enter(s, k, p2));
            }
            break;
        case GK_ALT:
        case GK_REF: {
            uint32_t cnt = n->kind == GK_ALT ? n->b : 1;
            for (uint32_t i = cnt; i-- > 0;) {
                uint32_t k = n->kind == GK_ALT ? g->kids[n->a + i] : n->a;
                if (k == G_NONE) continue;
                bool seen = false;
                for (int j = 0; j < nvis && !seen; j++) seen = vis[j].node == k && vis[j].parent == f.parent;
                if (seen) continue;
                if (nvis < VIS_CAP) vis[nvis++] = (visit){k, f.parent};
                PUSH(fr_enter(s, k, f.parent));
            }
            break;
        }
        case GK_REP: {
            uint32_t count = (uint32_t)f.v;
            if (f.st == 0 || f.st == 2) {
                if (f.st == 0 && n->min == 0) PUSH(f.parent);
                uint32_t p2 = fr_new(s, f.node, 1, count + 1, f.parent);
                if (p2 != FAIL) PUSH(fr_enter(s, n->a, p2));
            } else {
                if (count >= n->min) PUSH(f.parent);
                if (n->max == G_UNBOUNDED || count < n->max) {
                    uint32_t p2 = fr_new(s, f.node, n->b == G_NONE ? 1 : 2,
                                         n->b == G_NONE ? count + 1 : count, f.parent);
                    if (p2 != FAIL) PUSH(fr_enter(s, n->b == G_NONE ? n->a : n->b, p2));
                }
            }
            break;
        }
        case GK_STR: {
            const gstrp *p = &g->strp[n->a];
            if (S_PHASE(f.st) == 2) {
                PUSH(f.parent);
                break;
            }
            emit(s, out, t);
            if (p->mode == GSTR_BAREKEY) {
                uint32_t need = p->min_len ? p->min_len : 1;
                if ((uint32_t)f.v >= need && excl_ok(g, (uint32_t)(f.v >> 32))) PUSH(f.parent);
            }
            break;
        }
        case GK_NUM: {
            const gnump *p = &g->nump[n->a];
            if (num_can_more(p, f.st, f.v)) emit(s, out, t);
            if (num_finishable(p, f.st, f.v)) PUSH(f.parent);
            break;
        }
        case GK_WS:
            if (f.st == 0 || (f.st == 2 && f.v < n->a)) emit(s, out, t);
            PUSH(f.parent);
            break;
        }
    }
#undef PUSH
}

/* The top frame t consumes sym: the new top (not yet normalized) or FAIL. */
static uint32_t consume(g4_gstate *s, uint32_t t, uint32_t sym) {
    const g4_grammar *g = s->g;
    gframe f = s->fr[t];
    const gnode *n = &g->nodes[f.node];
    switch (n->kind) {
    case GK_LIT:
        if (f.st < n->b && g->syms[n->a + f.st] == sym) return fr_new(s, f.node, f.st + 1, 0, f.parent);
        return FAIL;
    case GK_TRIE:
        for (uint32_t ch = g->trie[f.st].child; ch != G_NONE; ch = g->trie[ch].sibling)
            if (g->trie[ch].sym == sym) return fr_new(s, f.node, ch, 0, f.parent);
        return FAIL;
    case GK_KEYSEL: {
        uint64_t live = 0;
        for (uint32_t k = 0; k < n->b; k++) {
            if (!(f.v >> k & 1u)) continue;
            const gprop *p = &g->props[n->a + k];
            if (p->key_len > f.st && g->syms[p->key + f.st] == sym) live |= 1ull << k;
        }
        return live ? fr_new(s, f.node, f.st + 1, live, f.parent) : FAIL;
    }
    case GK_STR: {
        const gstrp *p = &g->strp[n->a];
        sstate ss = {f.st, (uint32_t)f.v, (uint32_t)(f.v >> 32)};
        if (S_PHASE(f.st) == 0) {
            uint32_t open = p->mode == GSTR_GEMMA ? GSYM_STR : '"';
            if (sym != open) return FAIL;
            ss.st = S_PACK(1u, 0u, 0u, 0u, 0u);
        } else if (S_PHASE(f.st) != 1) {
            return FAIL;
        } else if (sym >= GSYM_FIRST) {
            if (sym != GSYM_STR || p->mode != GSTR_GEMMA || !str_close_ok(g, p, &ss)) return FAIL;
            ss.st = S_PACK(2u, 0u, 0u, 0u, 0u);
        } else if (!str_byte(&ss, p, g, (uint8_t)sym)) {
            return FAIL;
        }
        return fr_new(s, f.node, ss.st, (uint64_t)ss.count | (uint64_t)ss.excl << 32, f.parent);
    }
    case GK_NUM: {
        uint32_t st = f.st;
        uint64_t v = f.v;
        if (sym >= GSYM_FIRST || !num_byte(&g->nump[n->a], &st, &v, (uint8_t)sym)) return FAIL;
        return fr_new(s, f.node, st, v, f.parent);
    }
    case GK_WS:
        if (f.st == 0 && sym == ' ') return fr_new(s, f.node, 1, 0, f.parent);
        if (f.st == 0 && sym == '\n') return fr_new(s, f.node, 2, 0, f.parent);
        if (f.st == 2 && (sym == ' ' || sym == '\t') && f.v < n->a)
            return fr_new(s, f.node, 2, f.v + 1, f.parent);
        return FAIL;
    default: return FAIL;
    }
}

static void step_set(g4_gstate *s, const gset *in, uint32_t sym, gset *out) {
    out->n = 0;
    out->complete = false;
    for (uint32_t i = 0; i < in->n; i++) {
        uint32_t u = consume(s, in->cfg[i], sym);
        if (u != FAIL) normalize(s, u, out);
    }
}

static uint32_t set_dist(const g4_gstate *s, const gset *st) {
    if (st->complete) return 0;
    uint32_t best = G_INF;
    for (uint32_t i = 0; i < st->n; i++)
        if (s->fr[st->cfg[i]].cum < best) best = s->fr[st->cfg[i]].cum;
    return best;
}

/* Moves the frames the set uses to the bottom of the arena: they become the persistent
 * state, everything else is scratch again. */
static bool compact(g4_gstate *s, gset *st) {
    if (s->cap_aux < s->capfr) {
        uint32_t *a = realloc(s->aux, (size_t)s->capfr * sizeof *a);
        if (!a) return false;
        s->aux = a;
        gframe *t = realloc(s->tmp, (size_t)s->capfr * sizeof *t);
        if (!t) return false;
        s->tmp = t;
        s->cap_aux = s->capfr;
    }
    for (uint32_t i = 0; i < st->n; i++)
        for (uint32_t t = st->cfg[i]; t != G_NONE; t = s->fr[t].parent) s->aux[t] = G_NONE;
    uint32_t m = 0, path[G_MAX_STACK + 8];
    for (uint32_t i = 0; i < st->n; i++) {
        uint32_t np = 0;
        for (uint32_t t = st->cfg[i]; t != G_NONE && s->aux[t] == G_NONE && np < G_MAX_STACK + 8; t = s->fr[t].parent)
            path[np++] = t;
        while (np-- > 0) {
            uint32_t t = path[np];
            s->tmp[m] = s->fr[t];
            uint32_t par = s->fr[t].parent;
            s->tmp[m].parent = par == G_NONE ? G_NONE : s->aux[par];
            s->aux[t] = m++;
        }
        st->cfg[i] = s->aux[st->cfg[i]];
    }
    memcpy(s->fr, s->tmp, (size_t)m * sizeof *s->fr);
    s->nfr = s->persist = m;
    return true;
}

/* ---- public: state ------------------------------------------------------------------------- */

void g4_gstate_reset(g4_gstate *s) {
    if (!s) return;
    s->nfr = 0;
    s->ended = false;
    s->budget = -1;
    s->cur.n = 0;
    s->cur.complete = false;
    uint32_t t = fr_enter(s, s->g->root, G_NONE);
    if (t != FAIL) normalize(s, t, &s->cur);
    if (!compact(s, &s->cur)) s->cur.n = 0;
}

g4_status g4_gstate_new(const g4_grammar *g, const g4_gvocab *gv, g4_gstate **out, g4_error *err) {
    if (!g || !gv || !out) return g4_fail(err, G4_ERR_ARG, "gstate: NULL argument");
    *out = NULL;
    static const char *const symtext[GSYM_COUNT] = {"<|\"|>", "<|tool_call>", "<tool_call|>"};
    for (int k = 0; k < GSYM_COUNT; k++)
        if (g->uses_sym[k] && gv->sym_tok[k] < 0)
            return g4_fail(err, G4_ERR_UNSUPPORTED, "gstate: the vocabulary has no %s token", symtext[k]);
    g4_gstate *s = calloc(1, sizeof *s);
    if (!s) return g4_fail(err, G4_ERR_NOMEM, "gstate: out of memory");
    s->g = g;
    s->gv = gv;
    s->capfr = 4096;
    s->fr = malloc((size_t)s->capfr * sizeof *s->fr);
    s->allowed = malloc((((size_t)gv->n_vocab + 63) / 64 + 1) * sizeof *s->allowed);
    s->scratch = malloc((((size_t)gv->n_vocab + 63) / 64 + 1) * sizeof *s->scratch);
    s->dset = malloc(((size_t)gv->max_len + 2) * sizeof *s->dset);
    s->dmark = malloc(((size_t)gv->max_len + 3) * sizeof *s->dmark);
    if (!s->fr || !s->allowed || !s->scratch || !s->dset || !s->dmark) {
        g4_gstate_free(s);
        return g4_fail(err, G4_ERR_NOMEM, "gstate: out of memory");
    }
    g4_gstate_reset(s);
    if (s->cur.n == 0 && !s->cur.complete) {
        g4_gstate_free(s);
        return g4_fail(err, G4_ERR_NOMEM, "gstate: cannot start the grammar (out of memory)");
    }
    *out = s;
    return G4_OK;
}

void g4_gstate_free(g4_gstate *s) {
    if (!s) return;
    free(s->fr);
    free(s->allowed);
    free(s->scratch);
    free(s->dset);
    free(s->dmark);
    free(s->aux);
    free(s->tmp);
    free(s);
}

void g4_gstate_set_budget(g4_gstate *s, int64_t n_tokens) {
    if (s) s->budget = n_tokens < 0 ? -1 : n_tokens;
}

int64_t g4_gstate_min_tokens(const g4_gstate *s) {
    if (!s) return 0;
    uint32_t d = set_dist(s, &s->cur);
    return d >= G_INF ? INT64_MAX : (int64_t)d;
}

bool g4_gstate_complete(const g4_gstate *s) { return s && s->cur.complete; }

bool g4_gstate_finished(const g4_gstate *s) { return s && s->cur.complete && s->cur.n == 0; }

/* ---- mask ---------------------------------------------------------------------------------- */

typedef struct {
    int64_t thr;    /* allowed when the shortest completion after the token is <= thr */
    bool any;
    uint64_t *bits; /* where allow() writes: s->allowed, or s->scratch for one config */
} mctx;

static inline void allow(g4_gstate *s, mctx *m, int32_t id) {
    (void)s;
    m->bits[(uint32_t)id >> 6] |= 1ull << ((uint32_t)id & 63);
    m->any = true;
}

/* Walks trie nodes [begin, end) (whole subtrees of depth-1 nodes) from root. */
static void walk(g4_gstate *s, mctx *m, const gset *root, uint32_t begin, uint32_t end) {
    const g4_gvocab *gv = s->gv;
    uint32_t mark = s->nfr;
    s->dset[0] = *root;
    s->dmark[1] = mark;
    uint32_t i = begin;
    while (i < end) {
        uint32_t d = gv->ndepth[i];
        s->nfr = s->dmark[d];
        gset *cur = &s->dset[d];
        step_set(s, &s->dset[d - 1], gv->nbyte[i], cur);
        if (cur->n == 0 && !cur->complete) {
            i = gv->nskip[i];
            continue;
        }
        if (gv->ntok[i] < gv->ntok[i + 1] && (int64_t)set_dist(s, cur) <= m->thr)
            for (uint32_t k = gv->ntok[i]; k < gv->ntok[i + 1]; k++) allow(s, m, gv->toks[k]);
        if (cur->n == 0) {
            i = gv->nskip[i];
            continue;
        }
        s->dmark[d + 1] = s->nfr;
        i++;
    }
    s->nfr = mark;
}

/* Steps one text token through a set: allowed or not. */
static bool token_ok(g4_gstate *s, const mctx *m, const gset *root, int32_t id) {
    const g4_gvocab *gv = s->gv;
    uint32_t mark = s->nfr, len = gv->plen[id];
    const char *p = gv->pool + gv->poff[id];
    gset a = *root, b;
    bool ok = true;
    for (uint32_t i = 0; i < len && ok; i++) {
        step_set(s, &a, (uint8_t)p[i], &b);
        ok = b.n > 0 || (b.complete && i + 1 == len);
        a = b;
    }
    ok = ok && (int64_t)set_dist(s, &a) <= m->thr;
    s->nfr = mark;
    return ok;
}

/* The trie node of the text s[0..n) (every token starting with s lies in its subtree). */
static uint32_t trie_find(const g4_gvocab *gv, const char *s, uint32_t n) {
    if (n == 0 || gv->first[(uint8_t)s[0]] == G_NONE) return G_NONE;
    uint32_t node = gv->first[(uint8_t)s[0]];
    for (uint32_t d = 1; d < n; d++) {
        uint32_t end = gv->nskip[node], ch = node + 1; /* children follow in preorder */
        while (ch < end && gv->nbyte[ch] != (uint8_t)s[d]) ch = gv->nskip[ch];
        if (ch >= end) return G_NONE;
        node = ch;
    }
    return node;
}

static bool fast_string(const g4_gstate *s, uint32_t t) {
    const gframe *f = &s->fr[t];
    const gnode *n = &s->g->nodes[f->node];
    return n->kind == GK_STR && S_PHASE(f->st) == 1;
}

/* String content (or a bare key) at a token boundary: the table shortcut (file comment). */
static void mask_string(g4_gstate *s, mctx *m, uint32_t t) {
    const g4_gvocab *gv = s->gv;
    gframe f = s->fr[t];
    const gstrp *p = &s->g->strp[s->g->nodes[f.node].a];
    gset one = {1, false, {t}};
    if (S_ESC(f.st) || S_NEED(f.st)) { /* mid-escape / mid-character: few first bytes fit */
        walk(s, m, &one, 0, gv->n_nodes);
        return;
    }
    /* After a partial marker ("<", "<|" ...) a token is valid iff it is valid from a clean
     * position and does not start with the rest of a marker: work in scratch, then clear
     * the tokens under those rests. */
    uint32_t mk = S_MK(f.st);
    uint64_t *out = m->bits;
    size_t words = ((size_t)gv->n_vocab + 63) / 64;
    if (mk) {
        memset(s->scratch, 0, words * sizeof *s->scratch);
        m->bits = s->scratch;
    }
    bool bare = p->mode == GSTR_BAREKEY, nobsl = p->flags & GSTR_NO_BSLASH;
    bool budget = m->thr < (int64_t)G_INF;
    uint32_t count = (uint32_t)f.v, maxl = p->max_len;
    uint32_t minl = bare && p->min_len == 0 ? 1 : p->min_len, close_cost = bare ? 0 : 1;
    uint32_t below = f.parent == G_NONE ? 0 : s->fr[f.parent].cum;
    int mode = p->mode == GSTR_JSON ? 0 : bare ? 2 : 1;
    int kind = bare ? (count == 0 ? K_BARE_FIRST : K_BARE) : mode == 1 ? K_GEMMA : nobsl ? K_JSON_NOBSL : K_JSON;

    /* tokens that stay inside: one bitset when no per-token condition can bite */
    int64_t worst = (int64_t)below + close_cost + (minl > count ? minl - count : 0) + gv->max_pend + 1;
    bool excl = (uint32_t)(f.v >> 32) != G_NONE;
    if (budget && worst > m->thr && excl) { /* tight budget and excluded names: exactly */
        if (mk) m->bits = out;
        walk(s, m, &one, 0, gv->n_nodes);
        return;
    }
    if (!budget || worst <= m->thr) {
        uint32_t room = maxl == G_UNBOUNDED ? UINT32_MAX : maxl - count;
        const uint64_t *bits = gv->inside[kind][room >= gv->max_ncp ? NCP_BUCKETS
                                              : room < NCP_BUCKETS ? room : NCP_BUCKETS - 1];
        for (size_t w = 0; w < words; w++) m->bits[w] |= bits[w];
        m->any = true;
        if (room >= NCP_BUCKETS && room < gv->max_ncp)
            for (uint32_t i = 0; i < gv->n_long[kind]; i++)
                if (gv->longs[kind][i].ncp <= room) allow(s, m, gv->longs[kind][i].id);
    } else {
        const tsum *sum = gv->sum[mode];
        for (uint32_t i = 0; i < gv->n_text; i++) {
            tsum ts = sum[i];
            if ((ts.kf & 3u) != TS_INSIDE) continue;
            if ((nobsl || (bare && count == 0)) && (ts.kf & TS_BSL)) continue;
            if (maxl != G_UNBOUNDED && (uint64_t)count + ts.ncp > maxl) continue;
            if (budget) {
                uint32_t after = count + ts.ncp;
                int64_t d = (int64_t)below + close_cost + (minl > after ? minl - after : 0) + (ts.kf >> 4);
                if (d > m->thr) continue;
            }
            allow(s, m, ts.id);
        }
    }

    /* tokens that end the string / key: the text after the end is stepped from the state
     * after the string, once per distinct text, and only where that state takes its first
     * byte (Gemma strings end with the <|"|> token instead) */
    if (mode != 1) {
        const gclist *cl = &gv->close[bare ? 1 : 0];
        bool exact = nobsl || excl;
        uint32_t mark = s->nfr;
        gset closed = {0, false, {0}}, tmp;
        normalize(s, f.parent, &closed);
        uint32_t mark2 = s->nfr;
        for (int b = -1; b < 256; b++) {
            uint32_t lo = b < 0 ? 0 : cl->first[b], hi = b < 0 ? cl->first[0] : cl->first[b + 1];
            if (lo == hi) continue;
            if (b >= 0) { /* does anything after the string start with b? */
                step_set(s, &closed, (uint32_t)b, &tmp);
                s->nfr = mark2;
                if (!tmp.n && !tmp.complete) continue;
            }
            const char *prev = NULL;
            uint32_t prev_len = 0;
            bool prev_ok = false;
            for (uint32_t i = lo; i < hi; i++) {
                const struct gclose *e = &cl->e[i];
                if (exact) {
                    if (token_ok(s, m, &one, e->id)) allow(s, m, e->id);
                    continue;
                }
                uint32_t at = count + e->ncp;
                if (at < minl || (maxl != G_UNBOUNDED && at > maxl) || (bare && count == 0 && e->digit)) continue;
                if (!prev || prev_len != e->len || memcmp(prev, e->rest, e->len) != 0) {
                    gset a = closed, c2;
                    bool ok = true;
                    s->nfr = mark2;
                    for (uint32_t k = 0; k < e->len && ok; k++) {
                        step_set(s, &a, (uint8_t)e->rest[k], &c2);
                        ok = c2.n > 0 || (c2.complete && k + 1 == e->len);
                        a = c2;
                    }
                    prev_ok = ok && (a.n > 0 || a.complete) && (int64_t)set_dist(s, &a) <= m->thr;
                    prev = e->rest;
                    prev_len = e->len;
                }
                if (prev_ok) allow(s, m, e->id);
            }
        }
        s->nfr = mark;
    }
    if (mk) {
        const char *rest[N_MARKERS];
        uint32_t rlen[N_MARKERS], nr = mk_remainders(mk, rest, rlen);
        for (uint32_t r = 0; r < nr; r++) {
            /* in JSON a '"' ends the string before such a marker could complete */
            if (p->mode == GSTR_JSON && memchr(rest[r], '"', rlen[r])) continue;
            uint32_t node = trie_find(gv, rest[r], rlen[r]);
            if (node == G_NONE) continue;
            for (uint32_t k = gv->ntok[node]; k < gv->ntok[gv->nskip[node]]; k++) {
                uint32_t id = (uint32_t)gv->toks[k];
                s->scratch[id >> 6] &= ~(1ull << (id & 63));
            }
        }
        for (size_t w = 0; w < words; w++) out[w] |= s->scratch[w];
        m->bits = out;
    }
}

/* logits[t] = -inf where bit t of allowed is clear. Words mixing allowed and banned tokens
 * are common (identifier keys, number positions): those go 8 tokens at a time through a
 * table of lane masks, which compilers turn into vector selects. */
static void apply_mask(const g4_gvocab *gv, const uint64_t *allowed, float *logits) {
    size_t n = (size_t)gv->n_vocab, words = (n + 63) / 64;
    const uint32_t ninf = 0xFF800000u; /* -INFINITY */
    for (size_t w = 0; w < words; w++) {
        uint64_t a = allowed[w];
        size_t base = w * 64, lim = n - base < 64 ? n - base : 64;
        if (lim < 64) {
            for (size_t j = 0; j < lim; j++)
                if (!(a >> j & 1u)) logits[base + j] = -INFINITY;
            continue;
        }
        if (a == ~0ull) continue;
        float *l = logits + base;
        if (a == 0) {
            for (size_t j = 0; j < 64; j++) l[j] = -INFINITY;
            continue;
        }
        uint32_t v[64];
        memcpy(v, l, sizeof v);
        for (size_t g = 0; g < 8; g++) {
            const uint32_t *keep = gv->lanes[(a >> (8 * g)) & 0xFFu];
            uint32_t *x = v + 8 * g;
            for (size_t k = 0; k < 8; k++) x[k] = (x[k] & keep[k]) | (ninf & ~keep[k]);
        }
        memcpy(l, v, sizeof v);
    }
}

void g4_gstate_mask(g4_gstate *s, float *logits) {
    if (!s || !logits) return;
    const g4_gvocab *gv = s->gv;
    size_t words = ((size_t)gv->n_vocab + 63) / 64;
    memset(s->allowed, 0, words * sizeof *s->allowed);
    mctx m = {(int64_t)G_INF, false, s->allowed};
    if (s->budget >= 0) {
        int64_t d0 = set_dist(s, &s->cur);
        m.thr = s->budget - 1 > d0 - 1 ? s->budget - 1 : d0 - 1;
    }
    if (!s->ended) {
        gset rest = {0, false, {0}};
        for (uint32_t i = 0; i < s->cur.n; i++) {
            uint32_t t = s->cur.cfg[i];
            if (fast_string(s, t)) mask_string(s, &m, t);
            else rest.cfg[rest.n++] = t;
        }
        if (rest.n) walk(s, &m, &rest, 0, gv->n_nodes);
        for (int k = 0; k < GSYM_COUNT; k++) {
            if (!s->g->uses_sym[k] || gv->sym_tok[k] < 0) continue;
            uint32_t mark = s->nfr;
            gset out;
            step_set(s, &s->cur, GSYM_FIRST + (uint32_t)k, &out);
            if ((out.n || out.complete) && (int64_t)set_dist(s, &out) <= m.thr) allow(s, &m, gv->sym_tok[k]);
            s->nfr = mark;
        }
    }
    if (s->cur.complete || !m.any) /* the end; or, never reached, a way out of a dead end */
        for (int32_t t = 0; t < gv->n_vocab; t++)
            if (gv->eog[t]) allow(s, &m, t);
    apply_mask(gv, s->allowed, logits);
}

/* ---- accept ---------------------------------------------------------------------------------- */

/* Steps the current state through token into *out (scratch frames); false when the token
 * does not fit. End tokens are handled by the callers. */
static bool advance(g4_gstate *s, int32_t token, gset *out) {
    const g4_gvocab *gv = s->gv;
    int sym = -1;
    for (int k = 0; k < GSYM_COUNT; k++)
        if (s->g->uses_sym[k] && gv->sym_tok[k] == token) sym = GSYM_FIRST + k;
    gset a = s->cur, b;
    if (sym >= 0) {
        step_set(s, &a, (uint32_t)sym, &b);
        a = b;
    } else if (gv->plen[token]) {
        const char *p = gv->pool + gv->poff[token];
        for (uint32_t i = 0; i < gv->plen[token]; i++) {
            step_set(s, &a, (uint8_t)p[i], &b);
            a = b;
            if (a.n == 0 && !(a.complete && i + 1 == gv->plen[token])) return false;
        }
    } else {
        return false;
    }
    *out = a;
    return a.n > 0 || a.complete;
}

bool g4_gstate_can_accept(g4_gstate *s, int32_t token) {
    if (!s || s->ended || token < 0 || token >= s->gv->n_vocab) return false;
    if (s->gv->eog[token]) return s->cur.complete;
    gset a;
    bool ok = advance(s, token, &a);
    s->nfr = s->persist;
    return ok;
}

bool g4_gstate_accept(g4_gstate *s, int32_t token) {
    if (!s || s->ended || token < 0 || token >= s->gv->n_vocab) return false;
    if (s->gv->eog[token]) {
        if (!s->cur.complete) return false;
        s->ended = true;
        if (s->budget > 0) s->budget--;
        return true;
    }
    gset a;
    if (!advance(s, token, &a) || !compact(s, &a)) {
        s->nfr = s->persist;
        return false;
    }
    s->cur = a;
    if (s->budget > 0) s->budget--;
    return true;
}
