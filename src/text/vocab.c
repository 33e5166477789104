/* vocab.c — token table, text -> symbol hash map, merge table keyed by symbol ids,
 * junction set for the BPE pre-split, special-token trie.
 *
 * Symbols: ids 0..n-1 are the tokens; ids n..n_sym-1 are strings that occur in the merge
 * list (as a part or a result) without being tokens. The tokenizer's BPE state is a list
 * of symbol ids, so a merge lookup is one probe of an integer-keyed table that also gives
 * the merged symbol; no string is hashed while merging. */
#include "text/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"

typedef struct {
    int32_t child;   /* first child node, -1 */
    int32_t sibling; /* next sibling node, -1 */
    int32_t tok;     /* special token ending here, -1 */
    uint8_t byte;
} trie_node;

typedef struct {
    uint32_t off, len;
} span;

/* text -> symbol; the text's place is copied in so a probe touches the slot and the
 * text only. */
typedef struct {
    uint32_t id1; /* symbol id + 1, 0 = empty */
    uint32_t tag; /* high hash bits */
    uint32_t off, len;
} text_slot;

/* Merge (a, b) -> rank, merged symbol. */
typedef struct {
    int32_t a, b; /* a < 0: empty slot */
    int32_t rank;
    int32_t result;
} merge_slot;

#define JUNCTION_EMPTY UINT64_MAX

struct g4_vocab {
    int32_t n, n_sym;
    char *blob; /* all symbol texts back to back */
    size_t blob_len, blob_cap;
    span *sym; /* n_sym */
    size_t sym_cap;
    uint8_t *type; /* n, effective type */
    uint8_t *eog;  /* n */
    text_slot *slots;
    size_t slot_mask;
    int32_t *bmp_sym; /* 0x10000: symbol of each BMP code point's UTF-8, -1 */

    size_t n_merges;
    merge_slot *merges;
    size_t merge_mask;
    uint64_t *junctions; /* char pairs joined by some merge (see g4_vocab_may_join) */
    size_t junction_mask, n_junctions;

    int32_t bos, eos, unk;
    bool add_bos;
    int32_t byte_tok[256];

    int32_t *special; /* ordered special ids */
    size_t n_special, max_special_len;
    int32_t *special_rank; /* n, -1 when not special */
    trie_node *nodes;
    size_t n_nodes, cap_nodes;
};

/* ---- hashing ---- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    return x ^ (x >> 32);
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9fb21c651e98df25ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n) memcpy(&w, s, n);
    return mix64(h ^ w);
}

static uint64_t hash_ids(int32_t a, int32_t b) {
    return mix64(((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
}

static size_t table_cap(size_t n) {
    size_t c = 16;
    while (c < n * 2 + 1) c <<= 1;
    return c;
}

/* ---- text -> symbol ---- */

static bool sym_is(const g4_vocab *v, int32_t id, const char *s, size_t len) {
    return v->sym[id].len == len && (!len || memcmp(v->blob + v->sym[id].off, s, len) == 0);
}

/* Slot of the string (its symbol, or the empty slot where it would go). */
static size_t slot_find(const g4_vocab *v, const char *s, size_t len, uint64_t h) {
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & v->slot_mask;
    for (;;) {
        const text_slot *e = &v->slots[i];
        if (!e->id1) return i;
        if (e->tag == tag && e->len == len && (!len || memcmp(v->blob + e->off, s, len) == 0))
            return i;
        i = (i + 1) & v->slot_mask;
    }
}

static int32_t sym_lookup(const g4_vocab *v, const char *s, size_t len) {
    return (int32_t)v->slots[slot_find(v, s, len, hash_bytes(s, len))].id1 - 1;
}

static text_slot make_slot(const g4_vocab *v, int32_t id, uint64_t h) {
    return (text_slot){(uint32_t)id + 1, (uint32_t)(h >> 32), v->sym[id].off, v->sym[id].len};
}

/* Load factor <= 0.7. */
static size_t slot_cap(size_t n) {
    size_t c = 16;
    while (c * 7 < n * 10 + 10) c <<= 1;
    return c;
}

int32_t g4_vocab_find(const g4_vocab *v, const char *s, size_t len) {
    if (!v || (!s && len)) return -1;
    int32_t id = sym_lookup(v, s, len);
    return id < v->n ? id : -1;
}

int32_t g4_vocab_n_symbols(const g4_vocab *v) { return v ? v->n_sym : 0; }

int32_t g4_vocab_symbol(const g4_vocab *v, const char *s, size_t len) {
    if (!v || !s || !len) return -1;
    /* one canonical BMP character (surrogates included): the direct table. Decoded by
     * hand: this is BPE's inner loop, and g4_utf8_decode here cost ~4% of encode time. */
    const uint8_t *u = (const uint8_t *)s;
    if (len == 1 && u[0] < 0x80) return v->bmp_sym[u[0]];
    if (len == 2 && u[0] >= 0xC2 && u[0] <= 0xDF && (u[1] & 0xC0) == 0x80)
        return v->bmp_sym[((u[0] & 0x1F) << 6) | (u[1] & 0x3F)];
    if (len == 3 && (u[0] & 0xF0) == 0xE0 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80) {
        uint32_t cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) |
                      (u[2] & 0x3F);
        if (cp >= 0x800) return v->bmp_sym[cp]; /* canonical (not overlong) */
    }
    return sym_lookup(v, s, len);
}

/* ---- merges ---- */

bool g4_vocab_merge_ids(const g4_vocab *v, int32_t a, int32_t b, int32_t *rank,
                        int32_t *result) {
    if (!v || !v->n_merges || a < 0 || b < 0) return false;
    size_t i = (size_t)hash_ids(a, b) & v->merge_mask;
    for (;;) {
        const merge_slot *m = &v->merges[i];
        if (m->a < 0) return false;
        if (m->a == a && m->b == b) {
            *rank = m->rank;
            *result = m->result;
            return true;
        }
        i = (i + 1) & v->merge_mask;
    }
}

int32_t g4_vocab_merge_rank(const g4_vocab *v, const char *a, size_t alen, const char *b,
                            size_t blen) {
    if (!v || !v->n_merges || (!a && alen) || (!b && blen)) return -1;
    int32_t ia = sym_lookup(v, a, alen), ib = sym_lookup(v, b, blen), rank, res;
    if (ia < 0 || ib < 0 || !g4_vocab_merge_ids(v, ia, ib, &rank, &res)) return -1;
    return rank;
}

uint32_t g4_vocab_pack_char(const char *s, size_t len) {
    uint32_t c = 0;
    for (size_t i = 0; i < len && i < 4; i++) c |= (uint32_t)(uint8_t)s[i] << (8 * i);
    return c;
}

static uint64_t junction_key(uint32_t left, uint32_t right) {
    return ((uint64_t)left << 32) | right; /* never JUNCTION_EMPTY: 0xFF packs to 0xFF */
}

bool g4_vocab_may_join(const g4_vocab *v, uint32_t left, uint32_t right) {
    if (!v || !v->n_junctions) return false;
    uint64_t k = junction_key(left, right);
    size_t i = (size_t)mix64(k) & v->junction_mask;
    for (;;) {
        uint64_t e = v->junctions[i];
        if (e == k) return true;
        if (e == JUNCTION_EMPTY) return false;
        i = (i + 1) & v->junction_mask;
    }
}

static g4_status junction_add(g4_vocab *v, uint64_t k, g4_error *err) {
    if ((v->n_junctions + 1) * 2 > v->junction_mask + 1) {
        size_t nc = (v->junction_mask + 1) * 2;
        uint64_t *nj = malloc(nc * sizeof *nj);
        if (!nj) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (merge junctions)");
        for (size_t i = 0; i < nc; i++) nj[i] = JUNCTION_EMPTY;
        for (size_t i = 0; i <= v->junction_mask; i++) {
            if (v->junctions[i] == JUNCTION_EMPTY) continue;
            size_t j = (size_t)mix64(v->junctions[i]) & (nc - 1);
            while (nj[j] != JUNCTION_EMPTY) j = (j + 1) & (nc - 1);
            nj[j] = v->junctions[i];
        }
        free(v->junctions);
        v->junctions = nj;
        v->junction_mask = nc - 1;
    }
    size_t i = (size_t)mix64(k) & v->junction_mask;
    while (v->junctions[i] != JUNCTION_EMPTY) {
        if (v->junctions[i] == k) return G4_OK;
        i = (i + 1) & v->junction_mask;
    }
    v->junctions[i] = k;
    v->n_junctions++;
    return G4_OK;
}

/* Symbol id of s (whose hash_bytes is h) in *id, adding s as a merge-only symbol when it
 * is not known yet. */
static g4_status intern(g4_vocab *v, const char *s, size_t len, uint64_t h, int32_t *id,
                        g4_error *err) {
    size_t at = slot_find(v, s, len, h);
    if (v->slots[at].id1) {
        *id = (int32_t)v->slots[at].id1 - 1;
        return G4_OK;
    }
    if (v->n_sym >= INT32_MAX - 1 || v->blob_len + len > UINT32_MAX)
        return g4_fail(err, G4_ERR_FORMAT, "vocab: merge strings too large");
    if ((size_t)v->n_sym == v->sym_cap) {
        size_t nc = v->sym_cap * 2;
        span *ns = realloc(v->sym, nc * sizeof *ns);
        if (!ns) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (merge strings)");
        v->sym = ns;
        v->sym_cap = nc;
    }
    if (v->blob_len + len > v->blob_cap) {
        size_t nc = v->blob_cap * 2 + len;
        char *nb = realloc(v->blob, nc);
        if (!nb) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (merge strings)");
        v->blob = nb;
        v->blob_cap = nc;
    }
    int32_t nid = v->n_sym++;
    memcpy(v->blob + v->blob_len, s, len);
    v->sym[nid] = (span){(uint32_t)v->blob_len, (uint32_t)len};
    v->blob_len += len;
    v->slots[at] = make_slot(v, nid, h);
    if (slot_cap((size_t)v->n_sym) > v->slot_mask + 1) {
        size_t nc = (v->slot_mask + 1) * 2;
        text_slot *ns = calloc(nc, sizeof *ns);
        if (!ns) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (merge strings)");
        text_slot *old = v->slots;
        size_t old_mask = v->slot_mask;
        v->slots = ns;
        v->slot_mask = nc - 1;
        for (size_t i = 0; i <= old_mask; i++) {
            if (!old[i].id1) continue;
            uint64_t th = hash_bytes(v->blob + old[i].off, old[i].len);
            size_t j = (size_t)th & v->slot_mask;
            while (ns[j].id1) j = (j + 1) & v->slot_mask;
            ns[j] = old[i];
        }
        free(old);
    }
    *id = nid;
    return G4_OK;
}

static size_t desc_tok_len(const g4_vocab_desc *d, size_t i) {
    return d->token_lens ? d->token_lens[i] : (d->tokens[i] ? strlen(d->tokens[i]) : 0);
}

static size_t desc_merge_len(const g4_vocab_desc *d, size_t i) {
    return d->merge_lens ? d->merge_lens[i] : strlen(d->merges[i]);
}

/* One merge being built: its parts, its result, their hashes and symbols. */
typedef struct {
    const char *str[3]; /* left, right, result (in the batch buffer) */
    size_t len[3];
    uint64_t h[3];
    int32_t sym[3];
} merge_job;

#define MERGE_BATCH 32

static void prefetch(const void *p) { __builtin_prefetch(p); }

/* Registers merge r (its symbols known): merge table and junction set. */
static g4_status add_merge(g4_vocab *v, const merge_job *j, size_t r, g4_error *err) {
    int32_t a = j->sym[0], b = j->sym[1];
    size_t i = (size_t)hash_ids(a, b) & v->merge_mask;
    while (v->merges[i].a >= 0 && !(v->merges[i].a == a && v->merges[i].b == b))
        i = (i + 1) & v->merge_mask;
    if (v->merges[i].a >= 0) return G4_OK; /* duplicate: the first (lowest) rank wins */
    v->merges[i] = (merge_slot){a, b, (int32_t)r, j->sym[2]};
    if (!j->len[1]) return G4_OK; /* an empty part never occurs in a BPE state */
    /* the character pair this merge joins: the last char of left (split from its start,
     * as the tokenizer splits a word) and the first char of right */
    const char *m = j->str[0], *rt = j->str[1];
    size_t sp = j->len[0], rl = j->len[1], last = 0;
    for (size_t k = 0; k < sp;) {
        size_t l = g4_utf8_char_len(m + k, sp - k);
        last = k;
        k += l;
    }
    size_t fl = g4_utf8_char_len(rt, rl);
    return junction_add(v, junction_key(g4_vocab_pack_char(m + last, sp - last),
                                        g4_vocab_pack_char(rt, fl)), err);
}

static g4_status build_merges(g4_vocab *v, const g4_vocab_desc *d, g4_error *err) {
    size_t maxl = 0;
    for (size_t i = 0; i < d->n_merges; i++) {
        if (!d->merges[i]) return g4_fail(err, G4_ERR_ARG, "vocab: merge %zu is NULL", i);
        size_t l = desc_merge_len(d, i);
        if (l > maxl) maxl = l;
    }
    v->n_merges = d->n_merges;
    size_t cap = table_cap(d->n_merges);
    v->merges = malloc(cap * sizeof *v->merges);
    v->merge_mask = cap - 1;
    v->junctions = malloc(1024 * sizeof *v->junctions);
    v->junction_mask = 1023;
    merge_job *jobs = malloc(MERGE_BATCH * sizeof *jobs);
    char *cat = malloc(MERGE_BATCH * (maxl + 1));
    if (!v->merges || !v->junctions || !jobs || !cat) {
        free(jobs);
        free(cat);
        return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (%zu merges)", d->n_merges);
    }
    for (size_t i = 0; i < cap; i++) v->merges[i] = (merge_slot){-1, -1, -1, -1};
    for (size_t i = 0; i < 1024; i++) v->junctions[i] = JUNCTION_EMPTY;
    g4_status st = G4_OK;
    /* In batches: hash everything and prefetch the hash slots, then the texts they point
     * to, then resolve (the table is far larger than the caches: this hides the misses). */
    for (size_t r0 = 0; r0 < d->n_merges && !st; r0 += MERGE_BATCH) {
        size_t nb = d->n_merges - r0 < MERGE_BATCH ? d->n_merges - r0 : MERGE_BATCH;
        for (size_t q = 0; q < nb; q++) {
            size_t r = r0 + q;
            const char *m = d->merges[r];
            size_t ml = desc_merge_len(d, r), sp = 0;
            for (size_t k = 1; k < ml; k++)
                if (m[k] == ' ') {
                    sp = k;
                    break;
                }
            if (!sp) {
                st = g4_fail(err, G4_ERR_FORMAT, "vocab: merge %zu has no separating space", r);
                break;
            }
            /* left = m[0..sp), right = m[sp+1..ml), result = left + right */
            merge_job *j = &jobs[q];
            char *c = cat + q * (maxl + 1);
            memcpy(c, m, sp);
            memcpy(c + sp, m + sp + 1, ml - sp - 1);
            j->str[0] = m;
            j->len[0] = sp;
            j->str[1] = m + sp + 1;
            j->len[1] = ml - sp - 1;
            j->str[2] = c;
            j->len[2] = ml - 1;
            for (int k = 0; k < 3; k++) {
                j->h[k] = hash_bytes(j->str[k], j->len[k]);
                prefetch(&v->slots[(size_t)j->h[k] & v->slot_mask]);
            }
        }
        if (st) break;
        for (size_t q = 0; q < nb; q++)
            for (int k = 0; k < 3; k++) {
                const text_slot *e = &v->slots[(size_t)jobs[q].h[k] & v->slot_mask];
                if (e->id1) prefetch(v->blob + e->off);
            }
        for (size_t q = 0; q < nb && !st; q++) {
            merge_job *j = &jobs[q];
            for (int k = 0; k < 3 && !st; k++)
                st = intern(v, j->str[k], j->len[k], j->h[k], &j->sym[k], err);
            if (!st) prefetch(&v->merges[(size_t)hash_ids(j->sym[0], j->sym[1]) & v->merge_mask]);
        }
        for (size_t q = 0; q < nb && !st; q++) st = add_merge(v, &jobs[q], r0 + q, err);
    }
    free(jobs);
    free(cat);
    return st;
}

/* ---- special tokens ---- */

static g4_status trie_add(g4_vocab *v, const char *s, size_t len, int32_t tok, g4_error *err) {
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        int32_t ch = v->nodes[node].child;
        while (ch >= 0 && v->nodes[ch].byte != c) ch = v->nodes[ch].sibling;
        if (ch < 0) {
            if (v->n_nodes == v->cap_nodes) {
                size_t nc = v->cap_nodes * 2;
                trie_node *nn = realloc(v->nodes, nc * sizeof *nn);
                if (!nn) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (special trie)");
                v->nodes = nn;
                v->cap_nodes = nc;
            }
            ch = (int32_t)v->n_nodes++;
            v->nodes[ch].child = -1;
            v->nodes[ch].tok = -1;
            v->nodes[ch].byte = c;
            v->nodes[ch].sibling = v->nodes[node].child;
            v->nodes[node].child = ch;
        }
        node = ch;
    }
    if (v->nodes[node].tok < 0) v->nodes[node].tok = tok;
    return G4_OK;
}

typedef struct {
    uint32_t len;
    int32_t id;
} special_key;

static int cmp_special(const void *pa, const void *pb) {
    const special_key *a = pa, *b = pb;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static bool is_special_type(uint8_t t) {
    return t == G4_TOKEN_CONTROL || t == G4_TOKEN_USER_DEFINED || t == G4_TOKEN_UNKNOWN;
}

static g4_status build_special(g4_vocab *v, g4_error *err) {
    size_t n_sp = 0;
    v->special_rank = malloc((size_t)v->n * sizeof *v->special_rank);
    if (!v->special_rank) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory");
    for (int32_t i = 0; i < v->n; i++) {
        v->special_rank[i] = -1;
        if (is_special_type(v->type[i]) && v->sym[i].len > 0) n_sp++;
    }
    special_key *keys = malloc((n_sp ? n_sp : 1) * sizeof *keys);
    v->special = malloc((n_sp ? n_sp : 1) * sizeof *v->special);
    v->cap_nodes = 64;
    v->nodes = malloc(v->cap_nodes * sizeof *v->nodes);
    if (!keys || !v->special || !v->nodes) {
        free(keys);
        return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory");
    }
    v->n_nodes = 1;
    v->nodes[0] = (trie_node){-1, -1, -1, 0};
    size_t k = 0;
    for (int32_t i = 0; i < v->n; i++)
        if (is_special_type(v->type[i]) && v->sym[i].len > 0)
            keys[k++] = (special_key){v->sym[i].len, i};
    qsort(keys, n_sp, sizeof *keys, cmp_special); /* longest first, ties by id */
    v->n_special = n_sp;
    g4_status st = G4_OK;
    /* Insert in priority order so a duplicate text keeps its highest-priority id. */
    for (k = 0; k < n_sp && !st; k++) {
        int32_t id = keys[k].id;
        v->special[k] = id;
        v->special_rank[id] = (int32_t)k;
        if (v->sym[id].len > v->max_special_len) v->max_special_len = v->sym[id].len;
        st = trie_add(v, v->blob + v->sym[id].off, v->sym[id].len, id, err);
    }
    free(keys);
    return st;
}

/* ---- create / free ---- */

void g4_vocab_free(g4_vocab *v) {
    if (!v) return;
    free(v->blob);
    free(v->sym);
    free(v->type);
    free(v->eog);
    free(v->slots);
    free(v->bmp_sym);
    free(v->merges);
    free(v->junctions);
    free(v->special);
    free(v->special_rank);
    free(v->nodes);
    free(v);
}

static bool is_text(const g4_vocab *v, int32_t id, const char *s) {
    return sym_is(v, id, s, strlen(s));
}

g4_status g4_vocab_create(const g4_vocab_desc *d, g4_vocab **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "vocab: out is NULL");
    *out = NULL;
    if (!d || !d->tokens || d->n_tokens == 0)
        return g4_fail(err, G4_ERR_ARG, "vocab: no tokens");
    if (d->n_tokens >= (size_t)INT32_MAX / 2 || d->n_merges >= (size_t)INT32_MAX)
        return g4_fail(err, G4_ERR_ARG, "vocab: too many tokens or merges");
    if (d->n_merges && !d->merges) return g4_fail(err, G4_ERR_ARG, "vocab: merges is NULL");
    size_t total = 0;
    for (size_t i = 0; i < d->n_tokens; i++) {
        size_t l = desc_tok_len(d, i);
        if (l && !d->tokens[i]) return g4_fail(err, G4_ERR_ARG, "vocab: token %zu is NULL", i);
        if (l > UINT32_MAX - total)
            return g4_fail(err, G4_ERR_ARG, "vocab: token texts exceed 4 GiB");
        total += l;
    }
    g4_vocab *v = calloc(1, sizeof *v);
    if (!v) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory");
    v->n = v->n_sym = (int32_t)d->n_tokens;
    v->sym_cap = d->n_tokens;
    v->blob_len = total;
    v->blob_cap = total ? total : 1;
    v->blob = malloc(v->blob_cap);
    v->sym = malloc(d->n_tokens * sizeof *v->sym);
    v->type = malloc(d->n_tokens);
    v->eog = calloc(d->n_tokens, 1);
    size_t cap = slot_cap(d->n_tokens);
    v->slots = calloc(cap, sizeof *v->slots);
    v->slot_mask = cap - 1;
    v->bmp_sym = malloc(0x10000 * sizeof *v->bmp_sym);
    g4_status st = G4_OK;
    if (!v->blob || !v->sym || !v->type || !v->eog || !v->slots || !v->bmp_sym) {
        st = g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (%zu tokens)", d->n_tokens);
        goto fail;
    }
    size_t pos = 0;
    for (size_t i = 0; i < d->n_tokens; i++) {
        size_t l = desc_tok_len(d, i);
        if (l) memcpy(v->blob + pos, d->tokens[i], l);
        v->sym[i] = (span){(uint32_t)pos, (uint32_t)l};
        pos += l;
        int32_t t = d->token_types ? d->token_types[i] : G4_TOKEN_NORMAL;
        v->type[i] = (uint8_t)((t >= 0 && t <= G4_TOKEN_BYTE) ? t : G4_TOKEN_UNDEFINED);
    }
    /* text -> id, in batches with the slots prefetched; a repeated text maps to the last id */
    for (size_t i0 = 0; i0 < d->n_tokens; i0 += MERGE_BATCH) {
        uint64_t h[MERGE_BATCH];
        size_t nb = d->n_tokens - i0 < MERGE_BATCH ? d->n_tokens - i0 : MERGE_BATCH;
        for (size_t q = 0; q < nb; q++) {
            h[q] = hash_bytes(v->blob + v->sym[i0 + q].off, v->sym[i0 + q].len);
            prefetch(&v->slots[(size_t)h[q] & v->slot_mask]);
        }
        for (size_t q = 0; q < nb; q++) {
            int32_t id = (int32_t)(i0 + q);
            size_t at = slot_find(v, v->blob + v->sym[id].off, v->sym[id].len, h[q]);
            v->slots[at] = make_slot(v, id, h[q]);
        }
    }
    int32_t n = v->n;
    v->bos = (d->bos_id >= 0 && d->bos_id < n) ? d->bos_id : -1;
    v->eos = (d->eos_id >= 0 && d->eos_id < n) ? d->eos_id : -1;
    v->unk = (d->unk_id >= 0 && d->unk_id < n) ? d->unk_id : -1;
    v->add_bos = d->add_bos && v->bos >= 0;
    /* end-of-generation tokens; llama.cpp forces them to CONTROL */
    for (int32_t i = 0; i < n; i++) {
        if (i == v->eos || is_text(v, i, "<eos>") || is_text(v, i, "<turn|>") ||
            is_text(v, i, "<|tool_response>")) {
            v->eog[i] = 1;
            v->type[i] = G4_TOKEN_CONTROL;
        }
    }
    for (int b = 0; b < 256; b++) {
        static const char hex[] = "0123456789ABCDEF";
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        v->byte_tok[b] = g4_vocab_find(v, name, 6);
    }
    st = build_merges(v, d, err);
    if (st) goto fail;
    for (uint32_t c = 0; c < 0x10000; c++) {
        char u[4];
        v->bmp_sym[c] = sym_lookup(v, u, g4_utf8_encode(c, u));
    }
    st = build_special(v, err);
    if (st) goto fail;
    *out = v;
    return G4_OK;
fail:
    g4_vocab_free(v);
    return st;
}

/* ---- accessors ---- */

int32_t g4_vocab_n_tokens(const g4_vocab *v) { return v ? v->n : 0; }
int32_t g4_vocab_bos(const g4_vocab *v) { return v ? v->bos : -1; }
int32_t g4_vocab_eos(const g4_vocab *v) { return v ? v->eos : -1; }
int32_t g4_vocab_unk(const g4_vocab *v) { return v ? v->unk : -1; }
bool g4_vocab_add_bos(const g4_vocab *v) { return v && v->add_bos; }

const char *g4_vocab_text(const g4_vocab *v, int32_t id, size_t *len) {
    if (!v || id < 0 || id >= v->n) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->sym[id].len;
    return v->blob + v->sym[id].off;
}

g4_token_type g4_vocab_type(const g4_vocab *v, int32_t id) {
    if (!v || id < 0 || id >= v->n) return G4_TOKEN_UNDEFINED;
    return (g4_token_type)v->type[id];
}

int32_t g4_vocab_byte_token(const g4_vocab *v, uint8_t b) { return v ? v->byte_tok[b] : -1; }

bool g4_vocab_is_eog(const g4_vocab *v, int32_t id) {
    return v && id >= 0 && id < v->n && v->eog[id];
}

size_t g4_vocab_n_special(const g4_vocab *v) { return v ? v->n_special : 0; }

int32_t g4_vocab_special_at(const g4_vocab *v, size_t i) {
    return (v && i < v->n_special) ? v->special[i] : -1;
}

size_t g4_vocab_max_special_len(const g4_vocab *v) { return v ? v->max_special_len : 0; }

int32_t g4_vocab_special_rank(const g4_vocab *v, int32_t id) {
    if (!v || id < 0 || id >= v->n) return -1;
    return v->special_rank[id];
}

size_t g4_vocab_special_prefixes(const g4_vocab *v, const char *s, size_t len, int32_t *ids,
                                 size_t cap) {
    if (!v || !v->nodes) return 0;
    size_t n = 0;
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        int32_t ch = v->nodes[node].child;
        while (ch >= 0 && v->nodes[ch].byte != c) ch = v->nodes[ch].sibling;
        if (ch < 0) break;
        node = ch;
        if (v->nodes[node].tok >= 0 && n < cap) ids[n++] = v->nodes[node].tok;
    }
    return n;
}
