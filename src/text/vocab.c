/* vocab.c — token table, text -> id and merge -> rank hash maps, special-token trie. */
#include "text/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct {
    int32_t child;   /* first child node, -1 */
    int32_t sibling; /* next sibling node, -1 */
    int32_t tok;     /* special token ending here, -1 */
    uint8_t byte;
} trie_node;

struct g4_vocab {
    int32_t n;
    char *blob;     /* all token texts back to back */
    size_t *off;    /* n */
    size_t *len;    /* n */
    uint8_t *type;  /* n, effective type */
    uint8_t *eog;   /* n */
    uint32_t *tok_slots; /* id + 1, 0 = empty */
    size_t tok_mask;

    size_t n_merges;
    char *mblob;     /* merge texts (left, right) back to back */
    size_t *moff;    /* n_merges: left starts at moff, right at moff + mllen */
    size_t *mllen;
    size_t *mrlen;
    uint32_t *merge_slots; /* rank + 1, 0 = empty */
    size_t merge_mask;

    int32_t bos, eos, unk;
    bool add_bos;
    int32_t byte_tok[256];

    int32_t *special; /* ordered special ids */
    size_t n_special, max_special_len;
    int32_t *special_rank; /* n, -1 when not special */
    trie_node *nodes;
    size_t n_nodes, cap_nodes;
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_pair(const char *a, size_t alen, const char *b, size_t blen) {
    uint64_t ha = hash_bytes(a, alen), hb = hash_bytes(b, blen);
    uint64_t h = ha * 0x9e3779b97f4a7c15ull ^ (hb + 0x632be59bd9b4e019ull + (ha << 6));
    return h ^ (h >> 31);
}

static size_t table_cap(size_t n) {
    size_t c = 16;
    while (c < n * 2 + 1) c <<= 1;
    return c;
}

int32_t g4_vocab_find(const g4_vocab *v, const char *s, size_t len) {
    if (!v || (!s && len)) return -1;
    size_t i = (size_t)hash_bytes(s, len) & v->tok_mask;
    for (;;) {
        uint32_t e = v->tok_slots[i];
        if (!e) return -1;
        int32_t id = (int32_t)(e - 1);
        if (v->len[id] == len && memcmp(v->blob + v->off[id], s, len) == 0) return id;
        i = (i + 1) & v->tok_mask;
    }
}

int32_t g4_vocab_merge_rank(const g4_vocab *v, const char *a, size_t alen, const char *b,
                            size_t blen) {
    if (!v || !v->n_merges) return -1;
    size_t i = (size_t)hash_pair(a, alen, b, blen) & v->merge_mask;
    for (;;) {
        uint32_t e = v->merge_slots[i];
        if (!e) return -1;
        size_t r = e - 1;
        const char *m = v->mblob + v->moff[r];
        if (v->mllen[r] == alen && v->mrlen[r] == blen && memcmp(m, a, alen) == 0 &&
            memcmp(m + alen, b, blen) == 0)
            return (int32_t)r;
        i = (i + 1) & v->merge_mask;
    }
}

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

static const g4_vocab *sort_vocab; /* qsort has no context argument; build is single-threaded */

static int cmp_special(const void *pa, const void *pb) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    size_t la = sort_vocab->len[a], lb = sort_vocab->len[b];
    if (la != lb) return la > lb ? -1 : 1;
    return (a > b) - (a < b);
}

static bool is_text(const g4_vocab *v, int32_t id, const char *s) {
    size_t n = strlen(s);
    return v->len[id] == n && memcmp(v->blob + v->off[id], s, n) == 0;
}

void g4_vocab_free(g4_vocab *v) {
    if (!v) return;
    free(v->blob);
    free(v->off);
    free(v->len);
    free(v->type);
    free(v->eog);
    free(v->tok_slots);
    free(v->mblob);
    free(v->moff);
    free(v->mllen);
    free(v->mrlen);
    free(v->merge_slots);
    free(v->special);
    free(v->special_rank);
    free(v->nodes);
    free(v);
}

static size_t desc_tok_len(const g4_vocab_desc *d, size_t i) {
    return d->token_lens ? d->token_lens[i] : (d->tokens[i] ? strlen(d->tokens[i]) : 0);
}

static g4_status build_merges(g4_vocab *v, const g4_vocab_desc *d, g4_error *err) {
    size_t total = 0;
    for (size_t i = 0; i < d->n_merges; i++) {
        if (!d->merges[i]) return g4_fail(err, G4_ERR_ARG, "vocab: merge %zu is NULL", i);
        total += d->merge_lens ? d->merge_lens[i] : strlen(d->merges[i]);
    }
    v->n_merges = d->n_merges;
    v->mblob = malloc(total ? total : 1);
    v->moff = malloc(d->n_merges * sizeof *v->moff);
    v->mllen = malloc(d->n_merges * sizeof *v->mllen);
    v->mrlen = malloc(d->n_merges * sizeof *v->mrlen);
    size_t cap = table_cap(d->n_merges);
    v->merge_slots = calloc(cap, sizeof *v->merge_slots);
    v->merge_mask = cap - 1;
    if (!v->mblob || !v->moff || !v->mllen || !v->mrlen || !v->merge_slots)
        return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (%zu merges)", d->n_merges);
    size_t pos = 0;
    for (size_t r = 0; r < d->n_merges; r++) {
        const char *m = d->merges[r];
        size_t ml = d->merge_lens ? d->merge_lens[r] : strlen(m);
        size_t sp = 0;
        for (size_t k = 1; k < ml; k++)
            if (m[k] == ' ') {
                sp = k;
                break;
            }
        if (!sp) return g4_fail(err, G4_ERR_FORMAT, "vocab: merge %zu has no separating space", r);
        memcpy(v->mblob + pos, m, sp);
        memcpy(v->mblob + pos + sp, m + sp + 1, ml - sp - 1);
        v->moff[r] = pos;
        v->mllen[r] = sp;
        v->mrlen[r] = ml - sp - 1;
        pos += ml - 1;
        /* duplicates: the first (lowest) rank wins */
        const char *a = v->mblob + v->moff[r];
        if (g4_vocab_merge_rank(v, a, sp, a + sp, ml - sp - 1) >= 0) continue;
        size_t i = (size_t)hash_pair(a, sp, a + sp, ml - sp - 1) & v->merge_mask;
        while (v->merge_slots[i]) i = (i + 1) & v->merge_mask;
        v->merge_slots[i] = (uint32_t)(r + 1);
    }
    return G4_OK;
}

static g4_status build_special(g4_vocab *v, g4_error *err) {
    size_t n_sp = 0;
    v->special_rank = malloc((size_t)v->n * sizeof *v->special_rank);
    if (!v->special_rank) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory");
    for (int32_t i = 0; i < v->n; i++) {
        v->special_rank[i] = -1;
        uint8_t t = v->type[i];
        if ((t == G4_TOKEN_CONTROL || t == G4_TOKEN_USER_DEFINED || t == G4_TOKEN_UNKNOWN) &&
            v->len[i] > 0)
            n_sp++;
    }
    v->special = malloc((n_sp ? n_sp : 1) * sizeof *v->special);
    v->cap_nodes = 64;
    v->nodes = malloc(v->cap_nodes * sizeof *v->nodes);
    if (!v->special || !v->nodes) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory");
    v->n_nodes = 1;
    v->nodes[0] = (trie_node){-1, -1, -1, 0};
    for (int32_t i = 0; i < v->n; i++) {
        uint8_t t = v->type[i];
        if ((t == G4_TOKEN_CONTROL || t == G4_TOKEN_USER_DEFINED || t == G4_TOKEN_UNKNOWN) &&
            v->len[i] > 0)
            v->special[v->n_special++] = i;
    }
    sort_vocab = v;
    qsort(v->special, v->n_special, sizeof *v->special, cmp_special);
    sort_vocab = NULL;
    /* Insert in priority order so a duplicate text keeps its highest-priority id. */
    for (size_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        v->special_rank[id] = (int32_t)k;
        if (v->len[id] > v->max_special_len) v->max_special_len = v->len[id];
        g4_status st = trie_add(v, v->blob + v->off[id], v->len[id], id, err);
        if (st) return st;
    }
    return G4_OK;
}

g4_status g4_vocab_create(const g4_vocab_desc *d, g4_vocab **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "vocab: out is NULL");
    *out = NULL;
    if (!d || !d->tokens || d->n_tokens == 0)
        return g4_fail(err, G4_ERR_ARG, "vocab: no tokens");
    if (d->n_tokens >= (size_t)INT32_MAX || d->n_merges >= (size_t)UINT32_MAX)
        return g4_fail(err, G4_ERR_ARG, "vocab: too many tokens or merges");
    if (d->n_merges && !d->merges) return g4_fail(err, G4_ERR_ARG, "vocab: merges is NULL");
    g4_vocab *v = calloc(1, sizeof *v);
    if (!v) return g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory");
    v->n = (int32_t)d->n_tokens;
    size_t total = 0;
    for (size_t i = 0; i < d->n_tokens; i++) total += desc_tok_len(d, i);
    v->blob = malloc(total ? total : 1);
    v->off = malloc(d->n_tokens * sizeof *v->off);
    v->len = malloc(d->n_tokens * sizeof *v->len);
    v->type = malloc(d->n_tokens);
    v->eog = calloc(d->n_tokens, 1);
    size_t cap = table_cap(d->n_tokens);
    v->tok_slots = calloc(cap, sizeof *v->tok_slots);
    v->tok_mask = cap - 1;
    g4_status st = G4_OK;
    if (!v->blob || !v->off || !v->len || !v->type || !v->eog || !v->tok_slots) {
        st = g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory (%zu tokens)", d->n_tokens);
        goto fail;
    }
    size_t pos = 0;
    for (size_t i = 0; i < d->n_tokens; i++) {
        size_t l = desc_tok_len(d, i);
        if (l && !d->tokens[i]) {
            st = g4_fail(err, G4_ERR_ARG, "vocab: token %zu is NULL", i);
            goto fail;
        }
        if (l) memcpy(v->blob + pos, d->tokens[i], l);
        v->off[i] = pos;
        v->len[i] = l;
        pos += l;
        int32_t t = d->token_types ? d->token_types[i] : G4_TOKEN_NORMAL;
        v->type[i] = (uint8_t)((t >= 0 && t <= G4_TOKEN_BYTE) ? t : G4_TOKEN_UNDEFINED);
        /* a repeated text maps to the last id */
        const char *s = v->blob + v->off[i];
        size_t h = (size_t)hash_bytes(s, l) & v->tok_mask;
        for (;;) {
            uint32_t e = v->tok_slots[h];
            if (!e) {
                v->tok_slots[h] = (uint32_t)(i + 1);
                break;
            }
            if (v->len[e - 1] == l && memcmp(v->blob + v->off[e - 1], s, l) == 0) {
                v->tok_slots[h] = (uint32_t)(i + 1);
                break;
            }
            h = (h + 1) & v->tok_mask;
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
    st = build_special(v, err);
    if (st) goto fail;
    *out = v;
    return G4_OK;
fail:
    g4_vocab_free(v);
    return st;
}

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
    if (len) *len = v->len[id];
    return v->blob + v->off[id];
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
