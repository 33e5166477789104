/* grammar_compile.c — JSON Schema (subset) and OpenAI tool lists -> grammar nodes.
 *
 * Owns: the schema walk ($ref, allOf merging, anyOf/oneOf, enum/const, per-type nodes),
 * the two notations (JSON text; Gemma object notation for tool-call arguments), the
 * shortest-completion and depth fixpoints. The matcher lives in grammar.c; the validator
 * with the same keyword semantics in grammar_validate.c. Choices are in docs/GRAMMAR.md. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/status.h"
#include "sample/grammar_int.h"

#define MAX_SCHEMA_DEPTH 64
#define MAX_NODES (1u << 20)
#define MAX_KIDS (1u << 22)
#define MAX_SYMS (1u << 24)
#define MAX_TRIE (1u << 22)
#define MAX_PROPS (1u << 20)
#define MAX_MIN_COUNT 4096u /* minItems / minLength */
#define ANY_LEVELS 12       /* nesting of free-form JSON values */
#define NUM_CAP 999999999999999ull /* 15 digits */

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64, T_ALL = 127 };

typedef struct {
    const g4_json *schema;
    uint32_t mask, node;
} memo_ent;

typedef struct {
    uint16_t *p;
    size_t n, cap;
    bool oom;
} symbuf;

typedef struct {
    g4_grammar *g;
    uint32_t cap_nodes, cap_kids, cap_syms, cap_trie, cap_strp, cap_nump, cap_props;
    bool gemma;
    const g4_json *root; /* $ref base */
    memo_ent *memo;
    uint32_t n_memo, cap_memo;
    g4_json **owned; /* schemas synthesized by allOf merging */
    uint32_t n_owned, cap_owned;
    int depth;
    g4_status st;
    g4_error *err;
    uint32_t ws;                   /* JSON whitespace node; G_NONE in Gemma notation */
    uint32_t any[ANY_LEVELS + 1];  /* free-form values by remaining nesting */
    uint32_t any_obj[ANY_LEVELS + 1];
} cc;

static uint32_t compile(cc *c, const g4_json *s, uint32_t tmask);

/* ---- errors and growth ---------------------------------------------------------------- */

static uint32_t fail(cc *c, g4_status st, const char *fmt, ...) G4_PRINTF(3, 4);
static uint32_t fail(cc *c, g4_status st, const char *fmt, ...) {
    if (c->st == G4_OK) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        c->st = g4_fail(c->err, st, "grammar: %s", msg);
    }
    return G_NONE;
}

static bool grow(cc *c, void **p, uint32_t *cap, uint32_t need, size_t elem, uint32_t limit,
                 const char *what) {
    if (need <= *cap) return true;
    if (need > limit) {
        fail(c, G4_ERR_UNSUPPORTED, "schema too large (more than %u %s)", limit, what);
        return false;
    }
    uint32_t nc = *cap ? *cap : 64;
    while (nc < need) nc = nc > limit / 2 ? limit : nc * 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) {
        fail(c, G4_ERR_NOMEM, "out of memory");
        return false;
    }
    *p = q;
    *cap = nc;
    return true;
}

static void sb_add(symbuf *b, uint16_t s) {
    if (b->oom) return;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        uint16_t *q = realloc(b->p, nc * sizeof *q);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    b->p[b->n++] = s;
}

static void sb_bytes(symbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) sb_add(b, (uint8_t)s[i]);
}

/* ---- node builders -------------------------------------------------------------------- */

static uint32_t node_new(cc *c, gkind kind, uint32_t a, uint32_t b) {
    g4_grammar *g = c->g;
    if (c->st || !grow(c, (void **)&g->nodes, &c->cap_nodes, g->n_nodes + 1, sizeof(gnode),
                       MAX_NODES, "grammar nodes"))
        return G_NONE;
    gnode *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->a = a;
    n->b = b;
    n->minlen = G_INF;
    n->mindepth = G_INF;
    return g->n_nodes++;
}

static uint32_t lit_syms(cc *c, const uint16_t *s, size_t n) {
    g4_grammar *g = c->g;
    if (c->st) return G_NONE;
    if (n > MAX_SYMS || !grow(c, (void **)&g->syms, &c->cap_syms, g->n_syms + (uint32_t)n,
                              sizeof(uint16_t), MAX_SYMS, "literal bytes"))
        return fail(c, G4_ERR_UNSUPPORTED, "schema too large (literals)");
    uint32_t off = g->n_syms;
    for (size_t i = 0; i < n; i++) {
        g->syms[off + i] = s[i];
        if (s[i] >= GSYM_FIRST) g->uses_sym[s[i] - GSYM_FIRST] = true;
    }
    g->n_syms += (uint32_t)n;
    return node_new(c, GK_LIT, off, (uint32_t)n);
}

static uint32_t lit(cc *c, const char *s) {
    uint16_t tmp[64];
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) tmp[i] = (uint8_t)s[i];
    return lit_syms(c, tmp, n);
}

static uint32_t lit_sym(cc *c, uint16_t sym) { return lit_syms(c, &sym, 1); }

/* SEQ / ALT over ids[0..n); G_NONE entries (absent whitespace) are skipped. A SEQ of one
 * is that one. */
static uint32_t group(cc *c, gkind kind, const uint32_t *ids, size_t n) {
    g4_grammar *g = c->g;
    if (c->st) return G_NONE;
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) m += ids[i] != G_NONE;
    if (m == 1 && kind == GK_SEQ)
        for (size_t i = 0; i < n; i++)
            if (ids[i] != G_NONE) return ids[i];
    if (!grow(c, (void **)&g->kids, &c->cap_kids, g->n_kids + m, sizeof(uint32_t), MAX_KIDS,
              "grammar edges"))
        return G_NONE;
    uint32_t off = g->n_kids;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != G_NONE) g->kids[g->n_kids++] = ids[i];
    return node_new(c, kind, off, m);
}

#define SEQ(c, ...) group((c), GK_SEQ, (const uint32_t[]){__VA_ARGS__}, \
                          sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))
#define ALT(c, ...) group((c), GK_ALT, (const uint32_t[]){__VA_ARGS__}, \
                          sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

static uint32_t epsilon(cc *c) { return group(c, GK_SEQ, NULL, 0); }
static uint32_t nothing(cc *c) { return group(c, GK_ALT, NULL, 0); } /* empty language */

static uint32_t rep(cc *c, uint32_t child, uint32_t sep, uint32_t min, uint32_t max) {
    uint32_t id = node_new(c, GK_REP, child, sep);
    if (id != G_NONE) {
        c->g->nodes[id].min = min;
        c->g->nodes[id].max = max;
    }
    return id;
}

static uint32_t str_node(cc *c, gstr_mode mode, uint8_t flags, uint32_t min, uint32_t max,
                         uint32_t excl) {
    g4_grammar *g = c->g;
    if (c->st || !grow(c, (void **)&g->strp, &c->cap_strp, g->n_strp + 1, sizeof(gstrp),
                       MAX_NODES, "string nodes"))
        return G_NONE;
    gstrp *p = &g->strp[g->n_strp];
    p->mode = (uint8_t)mode;
    p->flags = flags;
    p->min_len = min;
    p->max_len = max;
    p->excl = excl;
    if (mode == GSTR_GEMMA) g->uses_sym[GSYM_STR - GSYM_FIRST] = true;
    return node_new(c, GK_STR, g->n_strp++, 0);
}

static uint32_t num_node(cc *c, const gnump *np) {
    g4_grammar *g = c->g;
    if (c->st || !grow(c, (void **)&g->nump, &c->cap_nump, g->n_nump + 1, sizeof(gnump),
                       MAX_NODES, "number nodes"))
        return G_NONE;
    g->nump[g->n_nump] = *np;
    return node_new(c, GK_NUM, g->n_nump++, 0);
}

/* ---- literal tries -------------------------------------------------------------------- */

static uint32_t trie_node(cc *c, uint16_t sym) {
    g4_grammar *g = c->g;
    if (c->st || !grow(c, (void **)&g->trie, &c->cap_trie, g->n_trie + 1, sizeof(gtrie),
                       MAX_TRIE, "literal trie nodes"))
        return G_NONE;
    gtrie *t = &g->trie[g->n_trie];
    t->child = t->sibling = t->cont = G_NONE;
    t->minrest = G_INF;
    t->mindep = G_INF;
    t->sym = sym;
    t->term = 0;
    return g->n_trie++;
}

/* Adds s[0..n) ending in continuation cont (G_NONE: pop). A duplicate keeps the first. */
static void trie_add(cc *c, uint32_t root, const uint16_t *s, size_t n, uint32_t cont) {
    uint32_t cur = root;
    for (size_t i = 0; i < n && !c->st; i++) {
        uint32_t ch = c->g->trie[cur].child, prev = G_NONE;
        while (ch != G_NONE && c->g->trie[ch].sym != s[i]) {
            prev = ch;
            ch = c->g->trie[ch].sibling;
        }
        if (ch == G_NONE) {
            ch = trie_node(c, s[i]);
            if (ch == G_NONE) return;
            if (prev == G_NONE) c->g->trie[cur].child = ch;
            else c->g->trie[prev].sibling = ch;
        }
        if (s[i] >= GSYM_FIRST) c->g->uses_sym[s[i] - GSYM_FIRST] = true;
        cur = ch;
    }
    if (c->st) return;
    if (!c->g->trie[cur].term) {
        c->g->trie[cur].term = 1;
        c->g->trie[cur].cont = cont;
    }
}

static uint32_t trie_lits(cc *c, const char *const *words, size_t n) {
    uint32_t root = trie_node(c, 0);
    for (size_t i = 0; i < n && !c->st; i++) {
        uint16_t tmp[16];
        size_t k = strlen(words[i]);
        for (size_t j = 0; j < k; j++) tmp[j] = (uint8_t)words[i][j];
        trie_add(c, root, tmp, k, G_NONE);
    }
    return node_new(c, GK_TRIE, root, 0);
}

/* ---- text of literal values in the two notations --------------------------------------- */

static bool is_ws(char ch) { return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r'; }

/* JSON text of v, with '<' written as \u003c when the text would contain a marker the
 * output parser reacts to (only strings can hold '<', so this stays valid JSON). */
static void json_lit(const g4_json *v, symbuf *out) {
    g4_buf b = G4_BUF_INIT;
    g4_json_write(v, &b);
    if (!g4_buf_ok(&b)) {
        out->oom = true;
        g4_buf_free(&b);
        return;
    }
    bool esc = g4_gram_has_marker(g4_buf_str(&b), b.n);
    for (size_t i = 0; i < b.n; i++) {
        if (esc && b.p[i] == '<') sb_bytes(out, "\\u003c", 6);
        else sb_add(out, (uint8_t)b.p[i]);
    }
    g4_buf_free(&b);
}

static void json_key(const char *k, size_t n, symbuf *out) {
    g4_json *tmp = g4_json_new_string(k, n);
    if (!tmp) {
        out->oom = true;
        return;
    }
    json_lit(tmp, out);
    g4_json_free(tmp);
}

/* Gemma notation key including its ':' — bare when the parser reads it back unchanged,
 * else as a <|"|> string. False when not representable (a marker inside). */
static bool gemma_key(const char *k, size_t n, symbuf *out) {
    if (g4_gram_has_marker(k, n)) return false;
    if (memchr(k, 0, n)) return false;
    bool bare = n > 0 && k[0] != '"' && k[0] != '\'' && !is_ws(k[0]) && !is_ws(k[n - 1]);
    for (size_t i = 0; bare && i < n; i++) bare = !strchr(":{}[],", k[i]);
    if (bare) {
        sb_bytes(out, k, n);
    } else {
        sb_add(out, GSYM_STR);
        sb_bytes(out, k, n);
        sb_add(out, GSYM_STR);
    }
    sb_add(out, ':');
    return true;
}

static bool gemma_lit(const g4_json *v, symbuf *out, int depth) {
    if (depth > MAX_SCHEMA_DEPTH) return false;
    switch (g4_json_type_of(v)) {
    case G4_JSON_STRING: {
        size_t n;
        const char *s = g4_json_string(v, &n);
        if (g4_gram_has_marker(s, n) || memchr(s, 0, n)) return false;
        sb_add(out, GSYM_STR);
        sb_bytes(out, s, n);
        sb_add(out, GSYM_STR);
        return true;
    }
    case G4_JSON_ARRAY:
        sb_add(out, '[');
        for (size_t i = 0; i < g4_json_len(v); i++) {
            if (i) sb_add(out, ',');
            if (!gemma_lit(g4_json_at(v, i), out, depth + 1)) return false;
        }
        sb_add(out, ']');
        return true;
    case G4_JSON_OBJECT:
        sb_add(out, '{');
        for (size_t i = 0; i < g4_json_len(v); i++) {
            size_t kn;
            const char *k = g4_json_key_at(v, i, &kn);
            if (i) sb_add(out, ',');
            if (!gemma_key(k, kn, out) || !gemma_lit(g4_json_value_at(v, i), out, depth + 1))
                return false;
        }
        sb_add(out, '}');
        return true;
    default:
        json_lit(v, out);
        return true;
    }
}

static uint32_t type_bit(const g4_json *v) {
    switch (g4_json_type_of(v)) {
    case G4_JSON_NULL: return T_NULL;
    case G4_JSON_BOOL: return T_BOOL;
    case G4_JSON_NUMBER: {
        double x = g4_json_number(v);
        return (isfinite(x) && floor(x) == x) ? (T_INT | T_NUM) : T_NUM;
    }
    case G4_JSON_STRING: return T_STR;
    case G4_JSON_ARRAY: return T_ARR;
    default: return T_OBJ;
    }
}

/* enum / const: a trie of the allowed values' texts (values of other types dropped). */
static uint32_t c_literals(cc *c, const g4_json *const *vals, size_t n, uint32_t tmask) {
    uint32_t root = trie_node(c, 0);
    size_t used = 0;
    symbuf sb = {0};
    for (size_t i = 0; i < n && !c->st; i++) {
        if (!(type_bit(vals[i]) & tmask)) continue;
        sb.n = 0;
        bool ok = c->gemma ? gemma_lit(vals[i], &sb, 0) : (json_lit(vals[i], &sb), true);
        if (sb.oom) {
            fail(c, G4_ERR_NOMEM, "out of memory");
            break;
        }
        if (!ok || sb.n == 0) continue; /* not representable in Gemma notation */
        trie_add(c, root, sb.p, sb.n, G_NONE);
        used++;
    }
    free(sb.p);
    if (c->st) return G_NONE;
    if (!used) return nothing(c);
    return node_new(c, GK_TRIE, root, 0);
}

/* ---- free-form values ------------------------------------------------------------------- */

static uint32_t sep_node(cc *c) { return c->gemma ? lit(c, ",") : SEQ(c, c->ws, lit(c, ","), c->ws); }

static uint32_t any_value(cc *c, int level);

/* A free key and its ':' (JSON: any string; Gemma: an identifier). */
static uint32_t free_key(cc *c, uint32_t excl, uint8_t flags) {
    if (c->gemma) return SEQ(c, str_node(c, GSTR_BAREKEY, 0, 1, G_MAX_BAREKEY, excl), lit(c, ":"));
    return SEQ(c, str_node(c, GSTR_JSON, flags, 0, G_UNBOUNDED, excl), c->ws, lit(c, ":"), c->ws);
}

static uint32_t any_object(cc *c, int level) {
    if (c->any_obj[level] != G_NONE) return c->any_obj[level];
    uint32_t member = SEQ(c, free_key(c, G_NONE, 0), any_value(c, level));
    uint32_t list = rep(c, member, sep_node(c), 1, G_UNBOUNDED);
    uint32_t body = ALT(c, epsilon(c), SEQ(c, list, c->ws));
    uint32_t id = SEQ(c, lit(c, "{"), c->ws, body, lit(c, "}"));
    if (!c->st) c->any_obj[level] = id;
    return id;
}

static uint32_t any_array(cc *c, int level) {
    uint32_t list = rep(c, any_value(c, level), sep_node(c), 1, G_UNBOUNDED);
    uint32_t body = ALT(c, epsilon(c), SEQ(c, list, c->ws));
    return SEQ(c, lit(c, "["), c->ws, body, lit(c, "]"));
}

static uint32_t free_string(cc *c) {
    return str_node(c, c->gemma ? GSTR_GEMMA : GSTR_JSON, 0, 0, G_UNBOUNDED, G_NONE);
}

static uint32_t free_number(cc *c) {
    gnump np = {GNUM_FRAC | GNUM_EXP, 15, 15, 2, true, true, 0, NUM_CAP, 0, NUM_CAP};
    return num_node(c, &np);
}

/* A free value whose objects and arrays nest at most `level` more times. */
static uint32_t any_value(cc *c, int level) {
    if (level < 0) level = 0;
    if (level > ANY_LEVELS) level = ANY_LEVELS;
    if (c->any[level] != G_NONE) return c->any[level];
    static const char *const words[] = {"true", "false", "null"};
    uint32_t scal = ALT(c, free_string(c), free_number(c), trie_lits(c, words, 3));
    uint32_t id = level == 0 ? scal : ALT(c, scal, any_object(c, level - 1), any_array(c, level - 1));
    if (!c->st) c->any[level] = id;
    return id;
}

static uint32_t any_masked(cc *c, uint32_t tmask) {
    if ((tmask & T_ALL) == T_ALL) return any_value(c, ANY_LEVELS);
    uint32_t alts[7];
    size_t n = 0;
    if (tmask & T_NULL) alts[n++] = lit(c, "null");
    if (tmask & T_BOOL) {
        static const char *const tf[] = {"true", "false"};
        alts[n++] = trie_lits(c, tf, 2);
    }
    if (tmask & T_NUM) alts[n++] = free_number(c);
    else if (tmask & T_INT) {
        gnump np = {GNUM_RANGED, 15, 0, 0, true, true, 0, NUM_CAP, 1, NUM_CAP};
        alts[n++] = num_node(c, &np);
    }
    if (tmask & T_STR) alts[n++] = free_string(c);
    if (tmask & T_ARR) alts[n++] = any_array(c, ANY_LEVELS - 1);
    if (tmask & T_OBJ) alts[n++] = any_object(c, ANY_LEVELS - 1);
    return group(c, GK_ALT, alts, n);
}

/* ---- $ref ----------------------------------------------------------------------------- */

const g4_json *g4_gram_resolve_ref(const g4_json *root, const char *ref, size_t len) {
    if (!ref || len == 0 || ref[0] != '#') return NULL;
    const g4_json *cur = root;
    size_t i = 1;
    if (i < len && ref[i] != '/') return NULL; /* "#name" anchors are not supported */
    while (i < len && cur) {
        i++; /* skip '/' */
        char tok[256];
        size_t n = 0;
        while (i < len && ref[i] != '/') {
            char ch = ref[i++];
            if (ch == '~' && i < len && (ref[i] == '0' || ref[i] == '1')) ch = ref[i++] == '0' ? '~' : '/';
            else if (ch == '%' && i + 1 < len) { /* URI fragment escapes (%25, %22 ...) */
                int hi = ref[i], lo = ref[i + 1], v = 0, k;
                for (k = 0; k < 2; k++) {
                    int d = k ? lo : hi;
                    v = v * 16 + (d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10
                                  : d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1000);
                }
                if (v >= 0) {
                    ch = (char)v;
                    i += 2;
                }
            }
            if (n >= sizeof tok) return NULL;
            tok[n++] = ch;
        }
        if (g4_json_is_object(cur)) {
            cur = g4_json_getn(cur, tok, n);
        } else if (g4_json_is_array(cur)) {
            size_t idx = 0;
            if (n == 0 || n > 9) return NULL;
            for (size_t k = 0; k < n; k++) {
                if (tok[k] < '0' || tok[k] > '9') return NULL;
                idx = idx * 10 + (size_t)(tok[k] - '0');
            }
            cur = g4_json_at(cur, idx);
        } else {
            return NULL;
        }
    }
    return cur;
}

static const g4_json *deref(cc *c, const g4_json *s) {
    for (int hops = 0; hops < 32 && g4_json_is_object(s); hops++) {
        size_t n;
        const char *r = g4_json_get_str(s, "$ref", &n);
        if (!r) return s;
        const g4_json *t = g4_gram_resolve_ref(c->root, r, n);
        if (!t) {
            fail(c, G4_ERR_ARG, "$ref \"%.80s\" does not resolve (only local #/... pointers are supported)", r);
            return NULL;
        }
        s = t;
    }
    return s;
}

/* ---- allOf: merged into one schema ----------------------------------------------------- */

static bool own(cc *c, g4_json *j) {
    if (!j) return false;
    if (c->n_owned == c->cap_owned) {
        uint32_t nc = c->cap_owned ? c->cap_owned * 2 : 8;
        g4_json **q = realloc(c->owned, nc * sizeof *q);
        if (!q) {
            g4_json_free(j);
            return false;
        }
        c->owned = q;
        c->cap_owned = nc;
    }
    c->owned[c->n_owned++] = j;
    return true;
}

static bool merge_into(cc *c, g4_json *m, const g4_json *sub, int depth);

static bool merge_member(g4_json *m, const char *key, size_t kn, const g4_json *val) {
    if (kn == 10 && memcmp(key, "properties", 10) == 0 && g4_json_is_object(val)) {
        g4_json *props = g4_json_get(m, "properties");
        if (!g4_json_is_object(props)) return g4_json_set(m, "properties", g4_json_clone(val));
        for (size_t i = 0; i < g4_json_len(val); i++) {
            size_t pn;
            const char *pk = g4_json_key_at(val, i, &pn);
            const g4_json *pv = g4_json_value_at(val, i);
            g4_json *old = g4_json_getn(props, pk, pn), *nv;
            if (old) { /* both constrain the member: allOf of the two */
                g4_json *arr = g4_json_new_array();
                nv = g4_json_new_object();
                if (!arr || !nv || !g4_json_append(arr, g4_json_clone(old)) ||
                    !g4_json_append(arr, g4_json_clone(pv)) || !g4_json_set(nv, "allOf", arr)) {
                    g4_json_free(nv);
                    return false;
                }
            } else {
                nv = g4_json_clone(pv);
            }
            if (!g4_json_setn(props, pk, pn, nv)) return false;
        }
        return true;
    }
    if (kn == 8 && memcmp(key, "required", 8) == 0 && g4_json_is_array(val)) {
        g4_json *req = g4_json_get(m, "required");
        if (!g4_json_is_array(req)) return g4_json_set(m, "required", g4_json_clone(val));
        for (size_t i = 0; i < g4_json_len(val); i++) {
            size_t rn;
            const char *r = g4_json_string(g4_json_at(val, i), &rn);
            bool have = false;
            for (size_t k = 0; r && k < g4_json_len(req) && !have; k++) {
                size_t qn;
                const char *q = g4_json_string(g4_json_at(req, k), &qn);
                have = q && qn == rn && memcmp(q, r, rn) == 0;
            }
            if (r && !have && !g4_json_append(req, g4_json_new_string(r, rn))) return false;
        }
        return true;
    }
    if (g4_json_getn(m, key, kn)) return true; /* first one wins */
    return g4_json_setn(m, key, kn, g4_json_clone(val));
}

static bool merge_into(cc *c, g4_json *m, const g4_json *sub, int depth) {
    if (depth > MAX_SCHEMA_DEPTH) {
        fail(c, G4_ERR_UNSUPPORTED, "allOf nesting deeper than %d", MAX_SCHEMA_DEPTH);
        return false;
    }
    sub = deref(c, sub);
    if (!sub || c->st) return false;
    if (!g4_json_is_object(sub)) return true; /* true (or junk): no constraint */
    for (size_t i = 0; i < g4_json_len(sub); i++) {
        size_t kn;
        const char *k = g4_json_key_at(sub, i, &kn);
        const g4_json *v = g4_json_value_at(sub, i);
        if (kn == 5 && memcmp(k, "allOf", 5) == 0 && g4_json_is_array(v)) {
            for (size_t j = 0; j < g4_json_len(v); j++)
                if (!merge_into(c, m, g4_json_at(v, j), depth + 1)) return false;
            continue;
        }
        if (kn == 4 && memcmp(k, "$ref", 4) == 0) continue;
        if (!merge_member(m, k, kn, v)) {
            fail(c, G4_ERR_NOMEM, "out of memory");
            return false;
        }
    }
    return true;
}

static const g4_json *merge_allof(cc *c, const g4_json *s) {
    g4_json *m = g4_json_new_object();
    if (!own(c, m)) {
        fail(c, G4_ERR_NOMEM, "out of memory");
        return NULL;
    }
    const g4_json *all = g4_json_get(s, "allOf");
    for (size_t i = 0; i < g4_json_len(s); i++) { /* the schema's own keywords first */
        size_t kn;
        const char *k = g4_json_key_at(s, i, &kn);
        if ((kn == 5 && memcmp(k, "allOf", 5) == 0) || (kn == 4 && memcmp(k, "$ref", 4) == 0))
            continue;
        if (!merge_member(m, k, kn, g4_json_value_at(s, i))) {
            fail(c, G4_ERR_NOMEM, "out of memory");
            return NULL;
        }
    }
    for (size_t j = 0; j < g4_json_len(all); j++)
        if (!merge_into(c, m, g4_json_at(all, j), c->depth)) return NULL;
    for (size_t j = 0; j < g4_json_len(all); j++) { /* a `false` member: no instance */
        const g4_json *sub = g4_json_at(all, j);
        if (g4_json_is_bool(sub) && !g4_json_bool(sub)) return NULL;
    }
    return m;
}

/* ---- per-type nodes --------------------------------------------------------------------- */

static bool get_count(cc *c, const g4_json *s, const char *key, uint32_t dflt, uint32_t *out) {
    const g4_json *v = g4_json_get(s, key);
    *out = dflt;
    if (!g4_json_is_number(v)) return true;
    double x = g4_json_number(v);
    if (!(x >= 0)) return true; /* negative / NaN: ignored */
    *out = x >= 4294967295.0 ? G_UNBOUNDED : (uint32_t)ceil(x);
    if (strncmp(key, "min", 3) == 0 && *out > MAX_MIN_COUNT) {
        fail(c, G4_ERR_UNSUPPORTED, "%s %u is above the limit %u", key, *out, MAX_MIN_COUNT);
        return false;
    }
    return true;
}

static uint32_t c_string(cc *c, const g4_json *s) {
    uint32_t mn, mx;
    if (!get_count(c, s, "minLength", 0, &mn) || !get_count(c, s, "maxLength", G_UNBOUNDED, &mx))
        return G_NONE;
    if (mn > mx) return fail(c, G4_ERR_ARG, "minLength %u > maxLength %u", mn, mx);
    return str_node(c, c->gemma ? GSTR_GEMMA : GSTR_JSON, 0, mn, mx, G_NONE);
}

typedef struct {
    bool has_lo, lo_ex, has_hi, hi_ex;
    double lo, hi;
} bounds;

static bounds get_bounds(const g4_json *s) {
    bounds b = {0};
    const g4_json *v;
    if (g4_json_is_number(v = g4_json_get(s, "minimum"))) b.has_lo = true, b.lo = g4_json_number(v);
    if (g4_json_is_number(v = g4_json_get(s, "maximum"))) b.has_hi = true, b.hi = g4_json_number(v);
    v = g4_json_get(s, "exclusiveMinimum");
    if (g4_json_is_bool(v)) b.lo_ex = b.has_lo && g4_json_bool(v); /* draft 4 */
    else if (g4_json_is_number(v)) {
        double x = g4_json_number(v);
        if (!b.has_lo || x >= b.lo) b.has_lo = true, b.lo = x, b.lo_ex = true;
    }
    v = g4_json_get(s, "exclusiveMaximum");
    if (g4_json_is_bool(v)) b.hi_ex = b.has_hi && g4_json_bool(v);
    else if (g4_json_is_number(v)) {
        double x = g4_json_number(v);
        if (!b.has_hi || x <= b.hi) b.has_hi = true, b.hi = x, b.hi_ex = true;
    }
    if (b.has_lo && !isfinite(b.lo)) b.has_lo = b.lo > 0; /* -inf: none; +inf stays (empty) */
    if (b.has_hi && !isfinite(b.hi)) b.has_hi = b.hi < 0;
    return b;
}

static bool in_bounds(const bounds *b, double x) {
    if (b->has_lo && (b->lo_ex ? !(x > b->lo) : !(x >= b->lo))) return false;
    if (b->has_hi && (b->hi_ex ? !(x < b->hi) : !(x <= b->hi))) return false;
    return true;
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* magnitudes [a, b] (doubles holding integers) -> range; false when empty */
static bool mag_range(double a, double b, uint64_t *lo, uint64_t *hi) {
    if (!(a <= (double)NUM_CAP)) return false;
    a = clampd(a, 0, (double)NUM_CAP);
    if (b > (double)NUM_CAP) b = (double)NUM_CAP;
    if (!(a <= b)) return false;
    *lo = (uint64_t)a;
    *hi = (uint64_t)b;
    return true;
}

static uint32_t num_literal(cc *c, double x) {
    char buf[32];
    size_t n = g4_json_number_js(x, buf);
    uint16_t s[32];
    for (size_t i = 0; i < n; i++) s[i] = (uint8_t)buf[i];
    return lit_syms(c, s, n);
}

static uint32_t c_number(cc *c, const g4_json *s, bool integer) {
    bounds b = get_bounds(s);
    const double CAP = (double)NUM_CAP;
    if (!integer && !b.has_lo && !b.has_hi) return free_number(c);
    /* integers v in [L, H] */
    double L = b.has_lo ? (b.lo_ex ? floor(b.lo) + 1 : ceil(b.lo)) : -CAP;
    double H = b.has_hi ? (b.hi_ex ? ceil(b.hi) - 1 : floor(b.hi)) : CAP;
    gnump ni = {GNUM_RANGED, 15, 0, 0, false, false, 0, 0, 0, 0};
    ni.pos_ok = mag_range(L > 0 ? L : 0, H, &ni.plo, &ni.phi);
    ni.neg_ok = mag_range(-H > 1 ? -H : 1, -L, &ni.nlo, &ni.nhi);
    uint32_t alts[2];
    size_t n = 0;
    if (ni.pos_ok || ni.neg_ok) alts[n++] = num_node(c, &ni);
    if (!integer) { /* m.f with f in (0, 1): strictly between m and m + 1 */
        gnump nd = {GNUM_RANGED | GNUM_FRAC | GNUM_NEED_FRAC, 15, 15, 0, false, false, 0, 0, 0, 0};
        nd.pos_ok = mag_range(b.has_lo ? ceil(b.lo) : 0, b.has_hi ? floor(b.hi) - 1 : CAP, &nd.plo, &nd.phi);
        nd.neg_ok = mag_range(b.has_hi ? ceil(-b.hi) : 0, b.has_lo ? floor(-b.lo) - 1 : CAP, &nd.nlo, &nd.nhi);
        if (nd.pos_ok || nd.neg_ok) alts[n++] = num_node(c, &nd);
    }
    if (n) return group(c, GK_ALT, alts, n);
    /* nothing in the 15-digit grammar: one literal that satisfies the bounds, if any — the
     * shortest decimal at or above the minimum (or below the maximum) */
    for (int d = 0; d <= 15; d++) {
        double scale = pow(10, d), cand[2] = {NAN, NAN};
        if (b.has_lo) cand[0] = ceil(b.lo * scale) / scale;
        if (b.has_hi) cand[1] = floor(b.hi * scale) / scale;
        for (int i = 0; i < 2; i++) {
            double x = cand[i];
            if (b.has_lo && b.lo_ex && x == b.lo) x = (floor(b.lo * scale) + 1) / scale;
            if (b.has_hi && b.hi_ex && x == b.hi) x = (ceil(b.hi * scale) - 1) / scale;
            if (isfinite(x) && in_bounds(&b, x) && (!integer || floor(x) == x)) return num_literal(c, x);
        }
        if (integer) break;
    }
    return fail(c, G4_ERR_ARG, "no %s satisfies minimum/maximum", integer ? "integer" : "number");
}

static uint32_t c_array(cc *c, const g4_json *s) {
    const g4_json *prefix = g4_json_get(s, "prefixItems");
    const g4_json *items = g4_json_get(s, "items");
    if (!g4_json_is_array(prefix) && g4_json_is_array(items)) { /* draft 4 tuple form */
        prefix = items;
        items = g4_json_get(s, "additionalItems");
    }
    size_t k = g4_json_is_array(prefix) ? g4_json_len(prefix) : 0;
    uint32_t mn, mx;
    if (!get_count(c, s, "minItems", 0, &mn) || !get_count(c, s, "maxItems", G_UNBOUNDED, &mx))
        return G_NONE;
    if (k > MAX_MIN_COUNT) return fail(c, G4_ERR_UNSUPPORTED, "more than %u prefixItems", MAX_MIN_COUNT);
    uint32_t item = G_NONE;
    if (g4_json_is_bool(items) && !g4_json_bool(items)) {
        if (mx > k) mx = (uint32_t)k;
    } else {
        item = items ? compile(c, items, T_ALL) : any_value(c, ANY_LEVELS - 1);
    }
    if (mn > mx) return fail(c, G4_ERR_ARG, "minItems %u > maxItems %u", mn, mx);
    if (c->st) return G_NONE;
    uint32_t *p = calloc(k ? k : 1, sizeof *p);
    if (!p) return fail(c, G4_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < k && !c->st; j++) p[j] = compile(c, g4_json_at(prefix, j), T_ALL);
    uint32_t list = G_NONE;
    if (!c->st && mx > 0) {
        if (k == 0) {
            list = rep(c, item, sep_node(c), mn > 1 ? mn : 1, mx);
        } else {
            /* q = "j items so far": end here, or a separator and item j */
            uint32_t q = G_NONE;
            uint32_t tail = G_NONE;
            if (item != G_NONE && mx > k) {
                uint32_t need = mn > k ? mn - (uint32_t)k : 1;
                tail = SEQ(c, sep_node(c), rep(c, item, sep_node(c), need, mx == G_UNBOUNDED ? mx : mx - (uint32_t)k));
            }
            q = k >= mn ? (tail != G_NONE ? ALT(c, epsilon(c), tail) : epsilon(c)) : tail;
            if (q == G_NONE) q = nothing(c);
            for (size_t j = k - 1; j >= 1 && !c->st; j--) {
                uint32_t more = j < mx ? SEQ(c, sep_node(c), p[j], q) : G_NONE;
                q = j >= mn ? (more != G_NONE ? ALT(c, epsilon(c), more) : epsilon(c)) : more;
                if (q == G_NONE) q = nothing(c);
            }
            list = SEQ(c, p[0], q);
        }
    }
    free(p);
    uint32_t body;
    if (list == G_NONE) body = epsilon(c);
    else if (mn == 0) body = ALT(c, epsilon(c), SEQ(c, list, c->ws));
    else body = SEQ(c, list, c->ws);
    return SEQ(c, lit(c, "["), c->ws, body, lit(c, "]"));
}

typedef struct {
    const char *name;
    size_t len;
    const g4_json *schema; /* NULL: any value */
    bool required;
    uint32_t value;
} prop;

static bool name_in(const g4_json *arr, const char *k, size_t kn) {
    for (size_t i = 0; i < g4_json_len(arr); i++) {
        size_t n;
        const char *s = g4_json_string(g4_json_at(arr, i), &n);
        if (s && n == kn && memcmp(s, k, n) == 0) return true;
    }
    return false;
}

/* Members in schema order; each optional member may be left out. After `j` members have
 * been decided, KEYSEL offers the keys of members j..r (r = the next required one), each
 * followed by its value and the state after it. Extra members (additionalProperties)
 * come last, with keys that differ from every listed name. */
static uint32_t c_object(cc *c, const g4_json *s) {
    const g4_json *props = g4_json_get(s, "properties");
    const g4_json *req = g4_json_get(s, "required");
    const g4_json *addl = g4_json_get(s, "additionalProperties");
    size_t np = g4_json_is_object(props) ? g4_json_len(props) : 0;
    size_t nr = g4_json_is_array(req) ? g4_json_len(req) : 0;
    prop *P = calloc(np + nr + 1, sizeof *P);
    symbuf sb = {0};
    uint32_t result = G_NONE;
    if (!P) return fail(c, G4_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        P[n].name = g4_json_key_at(props, i, &P[n].len);
        P[n].schema = g4_json_value_at(props, i);
        P[n].required = name_in(req, P[n].name, P[n].len);
        n++;
    }
    for (size_t i = 0; i < nr; i++) {
        size_t kn;
        const char *k = g4_json_string(g4_json_at(req, i), &kn);
        if (!k || (g4_json_is_object(props) && g4_json_getn(props, k, kn))) continue;
        bool dup = false;
        for (size_t j = np; j < n && !dup; j++) dup = P[j].len == kn && memcmp(P[j].name, k, kn) == 0;
        if (dup) continue;
        P[n].name = k;
        P[n].len = kn;
        P[n].required = true;
        n++;
    }
    bool add = !g4_json_is_object(props);
    uint32_t addv = G_NONE;
    if (g4_json_is_bool(addl)) add = g4_json_bool(addl);
    else if (g4_json_is_object(addl)) add = true, addv = compile(c, addl, T_ALL);
    if (add && addv == G_NONE) addv = any_value(c, ANY_LEVELS - 1);

    /* keys, values */
    uint32_t *keyoff = calloc(n + 1, sizeof *keyoff), *keylen = calloc(n + 1, sizeof *keylen);
    if (!keyoff || !keylen) {
        fail(c, G4_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t m = 0; /* representable members, compacted */
    for (size_t i = 0; i < n && !c->st; i++) {
        sb.n = 0;
        bool ok = c->gemma ? gemma_key(P[i].name, P[i].len, &sb) : (json_key(P[i].name, P[i].len, &sb), true);
        if (sb.oom) {
            fail(c, G4_ERR_NOMEM, "out of memory");
            break;
        }
        if (!ok) {
            if (P[i].required)
                fail(c, G4_ERR_UNSUPPORTED, "required property \"%.60s\" cannot be written in a tool call", P[i].name);
            continue;
        }
        if (!grow(c, (void **)&c->g->syms, &c->cap_syms, c->g->n_syms + (uint32_t)sb.n,
                  sizeof(uint16_t), MAX_SYMS, "literal bytes"))
            break;
        keyoff[m] = c->g->n_syms;
        keylen[m] = (uint32_t)sb.n;
        for (size_t j = 0; j < sb.n; j++) c->g->syms[c->g->n_syms++] = sb.p[j];
        P[m] = P[i];
        /* a required name without a `properties` entry is an extra member: its value
         * follows additionalProperties (false: the object has no instance) */
        if (P[i].schema) P[m].value = compile(c, P[i].schema, T_ALL);
        else if (g4_json_is_bool(addl) && !g4_json_bool(addl)) P[m].value = nothing(c);
        else if (g4_json_is_object(addl)) P[m].value = compile(c, addl, T_ALL);
        else P[m].value = any_value(c, ANY_LEVELS - 1);
        m++;
    }
    if (c->st) goto out;
    n = m;

    /* the end: optional extra members, then the closing whitespace */
    uint32_t tend = c->ws, sempty = epsilon(c);
    if (add) {
        uint32_t excl = G_NONE;
        if (n) {
            excl = trie_node(c, 0);
            for (size_t i = 0; i < n && !c->st; i++) {
                sb.n = 0;
                sb_bytes(&sb, P[i].name, P[i].len);
                if (sb.oom) fail(c, G4_ERR_NOMEM, "out of memory");
                else trie_add(c, excl, sb.p, sb.n, G_NONE);
            }
        }
        uint32_t member = SEQ(c, free_key(c, excl, GSTR_NO_BSLASH), addv);
        uint32_t loop = node_new(c, GK_REF, G_NONE, 0);
        uint32_t more = SEQ(c, sep_node(c), member, loop);
        tend = c->ws != G_NONE ? ALT(c, more, c->ws) : ALT(c, more, epsilon(c));
        if (!c->st) c->g->nodes[loop].a = tend;
        sempty = ALT(c, epsilon(c), SEQ(c, member, tend));
    } else if (tend == G_NONE) {
        tend = epsilon(c);
    }
    if (c->st) goto out;

    /* T[j]: j members decided, at least one written; built from the end */
    uint32_t *T = calloc(n + 1, sizeof *T);
    bool *req_after = calloc(n + 1, sizeof *req_after); /* a required member in [j, n) */
    if (!T || !req_after) {
        free(T);
        free(req_after);
        fail(c, G4_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t j = n; j-- > 0;) req_after[j] = req_after[j + 1] || P[j].required;
    if (!grow(c, (void **)&c->g->props, &c->cap_props, c->g->n_props + (uint32_t)n,
              sizeof(gprop), MAX_PROPS, "properties")) {
        free(T);
        free(req_after);
        goto out;
    }
    uint32_t base = c->g->n_props;
    c->g->n_props += (uint32_t)n;
    T[n] = tend;
    for (size_t j = n; j-- > 0 && !c->st;) {
        uint32_t cont = c->gemma ? SEQ(c, P[j].value, T[j + 1])
                                 : SEQ(c, c->ws, lit(c, ":"), c->ws, P[j].value, T[j + 1]);
        gprop *gp = &c->g->props[base + j];
        gp->key = keyoff[j];
        gp->key_len = keylen[j];
        gp->cont = cont;
        gp->total = G_INF;
        if (j == 0) break;
        /* KEYSEL over members j .. first required at/after j */
        size_t r = j;
        while (r < n && !P[r].required && r - j < 63) r++;
        if (r == n) r = n - 1;
        uint32_t ks = node_new(c, GK_KEYSEL, base + (uint32_t)j, (uint32_t)(r - j + 1));
        uint32_t next = SEQ(c, sep_node(c), ks);
        T[j] = req_after[j] ? next : ALT(c, next, tend);
    }
    uint32_t s0;
    if (n) {
        size_t r = 0;
        while (r < n && !P[r].required && r < 63) r++;
        if (r == n) r = n - 1;
        uint32_t ks = node_new(c, GK_KEYSEL, base, (uint32_t)(r + 1));
        s0 = req_after[0] ? ks : ALT(c, ks, sempty);
    } else {
        s0 = sempty;
    }
    free(T);
    free(req_after);
    result = SEQ(c, lit(c, "{"), c->ws, s0, lit(c, "}"));
out:
    free(P);
    free(sb.p);
    free(keyoff);
    free(keylen);
    return c->st ? G_NONE : result;
}

/* ---- the schema walk ---------------------------------------------------------------------- */

static uint32_t type_mask(const g4_json *s) {
    const g4_json *t = g4_json_get(s, "type");
    uint32_t m = 0;
    size_t n = g4_json_is_array(t) ? g4_json_len(t) : 1;
    for (size_t i = 0; i < n; i++) {
        const char *name = g4_json_string(g4_json_is_array(t) ? g4_json_at(t, i) : t, NULL);
        if (!name) continue;
        if (!strcmp(name, "null")) m |= T_NULL;
        else if (!strcmp(name, "boolean")) m |= T_BOOL;
        else if (!strcmp(name, "integer")) m |= T_INT;
        else if (!strcmp(name, "number")) m |= T_NUM | T_INT;
        else if (!strcmp(name, "string")) m |= T_STR;
        else if (!strcmp(name, "array")) m |= T_ARR;
        else if (!strcmp(name, "object")) m |= T_OBJ;
    }
    if (m) return m;
    /* no (known) type: from the keywords present */
    static const char *const objk[] = {"properties", "required", "additionalProperties", NULL};
    static const char *const arrk[] = {"items", "prefixItems", "minItems", "maxItems", NULL};
    static const char *const strk[] = {"minLength", "maxLength", "pattern", "format", NULL};
    static const char *const numk[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", NULL};
    for (int i = 0; objk[i]; i++) if (g4_json_get(s, objk[i])) m |= T_OBJ;
    for (int i = 0; arrk[i]; i++) if (g4_json_get(s, arrk[i])) m |= T_ARR;
    for (int i = 0; strk[i]; i++) if (g4_json_get(s, strk[i])) m |= T_STR;
    for (int i = 0; numk[i]; i++) if (g4_json_get(s, numk[i])) m |= T_NUM | T_INT;
    return m ? m : T_ALL;
}

static uint32_t compile_body(cc *c, const g4_json *s, uint32_t tmask) {
    if (g4_json_is_bool(s)) return g4_json_bool(s) ? any_masked(c, tmask) : nothing(c);
    if (!g4_json_is_object(s)) return any_masked(c, tmask); /* lenient */

    size_t rn;
    const char *r = g4_json_get_str(s, "$ref", &rn);
    if (r) {
        const g4_json *t = g4_gram_resolve_ref(c->root, r, rn);
        if (!t) return fail(c, G4_ERR_ARG, "$ref \"%.80s\" does not resolve (only local #/... pointers are supported)", r);
        for (uint32_t i = 0; i < c->n_memo; i++)
            if (c->memo[i].schema == t && c->memo[i].mask == tmask) return c->memo[i].node;
        uint32_t ref = node_new(c, GK_REF, G_NONE, 0);
        if (c->n_memo == c->cap_memo) {
            uint32_t nc = c->cap_memo ? c->cap_memo * 2 : 16;
            memo_ent *q = realloc(c->memo, nc * sizeof *q);
            if (!q) return fail(c, G4_ERR_NOMEM, "out of memory");
            c->memo = q;
            c->cap_memo = nc;
        }
        c->memo[c->n_memo++] = (memo_ent){t, tmask, ref};
        uint32_t body = compile(c, t, tmask);
        if (!c->st) c->g->nodes[ref].a = body;
        return ref;
    }
    const g4_json *all = g4_json_get(s, "allOf");
    if (g4_json_is_array(all) && g4_json_len(all)) {
        const g4_json *m = merge_allof(c, s);
        if (c->st) return G_NONE;
        return m ? compile(c, m, tmask) : nothing(c);
    }
    bool nullable = g4_json_bool(g4_json_get(s, "nullable"));
    if (g4_json_get(s, "type")) tmask &= type_mask(s) | (nullable ? T_NULL : 0);
    const g4_json *any = g4_json_get(s, "anyOf");
    if (!g4_json_is_array(any)) any = g4_json_get(s, "oneOf");
    if (g4_json_is_array(any)) {
        size_t n = g4_json_len(any);
        uint32_t *alts = calloc(n + 1, sizeof *alts);
        if (!alts) return fail(c, G4_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n && !c->st; i++) alts[i] = compile(c, g4_json_at(any, i), tmask);
        if (nullable && (tmask & T_NULL)) alts[n++] = lit(c, "null");
        uint32_t id = group(c, GK_ALT, alts, n);
        free(alts);
        return id;
    }
    const g4_json *cst = g4_json_get(s, "const");
    if (cst) {
        const g4_json *vals[1] = {cst};
        uint32_t id = c_literals(c, vals, 1, tmask);
        bool add_null = nullable && !g4_json_is_null(cst) && (tmask & T_NULL);
        return add_null ? ALT(c, id, lit(c, "null")) : id;
    }
    const g4_json *en = g4_json_get(s, "enum");
    if (g4_json_is_array(en)) {
        size_t n = g4_json_len(en);
        const g4_json **vals = calloc(n + 1, sizeof *vals);
        if (!vals) return fail(c, G4_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) vals[i] = g4_json_at(en, i);
        uint32_t m = type_mask(s);
        if (!g4_json_get(s, "type")) m = T_ALL;
        if (nullable) m |= T_NULL;
        uint32_t id = c_literals(c, vals, n, tmask & m);
        free(vals);
        return id;
    }
    uint32_t types = type_mask(s) & tmask;
    if (nullable) types |= T_NULL & tmask;
    uint32_t alts[7];
    size_t n = 0;
    if (types & T_NULL) alts[n++] = lit(c, "null");
    if (types & T_BOOL) {
        static const char *const tf[] = {"true", "false"};
        alts[n++] = trie_lits(c, tf, 2);
    }
    if (types & T_NUM) alts[n++] = c_number(c, s, false);
    else if (types & T_INT) alts[n++] = c_number(c, s, true);
    if (types & T_STR) alts[n++] = c_string(c, s);
    if (types & T_ARR) alts[n++] = c_array(c, s);
    if (types & T_OBJ) alts[n++] = c_object(c, s);
    if (c->st) return G_NONE;
    return n == 1 ? alts[0] : group(c, GK_ALT, alts, n);
}

static uint32_t compile(cc *c, const g4_json *s, uint32_t tmask) {
    if (c->st) return G_NONE;
    if (c->depth >= MAX_SCHEMA_DEPTH)
        return fail(c, G4_ERR_UNSUPPORTED, "schema nested deeper than %d levels", MAX_SCHEMA_DEPTH);
    c->depth++;
    uint32_t id = compile_body(c, s, tmask);
    c->depth--;
    return c->st ? G_NONE : id;
}

/* ---- fixpoints ------------------------------------------------------------------------- */

static uint32_t sadd(uint32_t a, uint32_t b) { return a >= G_INF || b >= G_INF || a + b >= G_INF ? G_INF : a + b; }
static uint32_t smul(uint32_t a, uint32_t k) {
    if (k == 0) return 0;
    if (a >= G_INF) return G_INF;
    uint64_t r = (uint64_t)a * k;
    return r >= G_INF ? G_INF : (uint32_t)r;
}
static uint32_t umin(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t umax(uint32_t a, uint32_t b) { return a > b ? a : b; }

static uint32_t digits(uint64_t x) {
    uint32_t d = 1;
    while (x >= 10) x /= 10, d++;
    return d;
}

uint32_t g4_gram_num_minlen(const gnump *p) {
    if (!(p->flags & GNUM_RANGED)) return 1;
    uint32_t best = G_INF;
    if (p->pos_ok) best = digits(p->plo);
    if (p->neg_ok) best = umin(best, 1 + digits(p->nlo));
    if (p->flags & GNUM_NEED_FRAC) best = sadd(best, 2);
    return best;
}

static uint32_t str_minlen(const gstrp *p) {
    if (p->mode == GSTR_BAREKEY) return p->min_len ? p->min_len : 1;
    return sadd(2, p->min_len);
}

static void fixpoints(g4_grammar *g) {
    bool changed = true;
    for (uint32_t iter = 0; changed && iter < 100000; iter++) {
        changed = false;
        for (uint32_t t = g->n_trie; t-- > 0;) {
            gtrie *tn = &g->trie[t];
            uint32_t best = G_INF, dep = G_INF;
            if (tn->term) {
                best = tn->cont == G_NONE ? 0 : g->nodes[tn->cont].minlen;
                dep = tn->cont == G_NONE ? 1 : umax(1, g->nodes[tn->cont].mindepth);
            }
            for (uint32_t ch = tn->child; ch != G_NONE; ch = g->trie[ch].sibling) {
                best = umin(best, sadd(1, g->trie[ch].minrest));
                dep = umin(dep, g->trie[ch].mindep);
            }
            if (best < tn->minrest) tn->minrest = best, changed = true;
            if (dep < tn->mindep) tn->mindep = dep, changed = true;
        }
        for (uint32_t i = 0; i < g->n_props; i++) {
            gprop *p = &g->props[i];
            uint32_t t = sadd(p->key_len, g->nodes[p->cont].minlen);
            if (t < p->total) p->total = t, changed = true;
        }
        for (uint32_t i = 0; i < g->n_nodes; i++) {
            gnode *n = &g->nodes[i];
            uint32_t len = G_INF, dep = G_INF;
            switch (n->kind) {
            case GK_LIT: len = n->b; dep = 1; break;
            case GK_TRIE: len = g->trie[n->a].minrest; dep = g->trie[n->a].mindep; break;
            case GK_KEYSEL:
                for (uint32_t k = 0; k < n->b; k++) {
                    len = umin(len, g->props[n->a + k].total);
                    dep = umin(dep, g->nodes[g->props[n->a + k].cont].mindepth);
                }
                dep = umax(dep, 1);
                break;
            case GK_SEQ: {
                len = 0;
                uint32_t inner = 0;
                for (uint32_t k = 0; k < n->b; k++) {
                    const gnode *ch = &g->nodes[g->kids[n->a + k]];
                    len = sadd(len, ch->minlen);
                    if (k + 1 < n->b) inner = umax(inner, sadd(1, ch->mindepth));
                    else inner = umax(inner, ch->mindepth);
                }
                dep = umax(1, inner);
                break;
            }
            case GK_ALT:
                for (uint32_t k = 0; k < n->b; k++) {
                    const gnode *ch = &g->nodes[g->kids[n->a + k]];
                    len = umin(len, ch->minlen);
                    dep = umin(dep, ch->mindepth);
                }
                break;
            case GK_REF:
                if (n->a != G_NONE) len = g->nodes[n->a].minlen, dep = g->nodes[n->a].mindepth;
                break;
            case GK_REP: {
                uint32_t cl = g->nodes[n->a].minlen, sl = n->b == G_NONE ? 0 : g->nodes[n->b].minlen;
                len = n->min == 0 ? 0 : sadd(cl, smul(sadd(cl, sl), n->min - 1));
                dep = sadd(1, umax(g->nodes[n->a].mindepth, n->b == G_NONE ? 0 : g->nodes[n->b].mindepth));
                break;
            }
            case GK_STR: len = str_minlen(&g->strp[n->a]); dep = 1; break;
            case GK_NUM: len = g4_gram_num_minlen(&g->nump[n->a]); dep = 1; break;
            case GK_WS: len = 0; dep = 1; break;
            }
            if (len < n->minlen) n->minlen = len, changed = true;
            if (dep < n->mindepth) n->mindepth = dep, changed = true;
        }
    }
}

/* ---- entry points ------------------------------------------------------------------------ */

static void cc_init(cc *c, bool gemma, g4_error *err) {
    memset(c, 0, sizeof *c);
    c->gemma = gemma;
    c->err = err;
    for (int i = 0; i <= ANY_LEVELS; i++) c->any[i] = c->any_obj[i] = G_NONE;
    c->g = calloc(1, sizeof *c->g);
    if (!c->g) {
        fail(c, G4_ERR_NOMEM, "out of memory");
        return;
    }
    c->ws = gemma ? G_NONE : node_new(c, GK_WS, 32, 0);
}

static g4_status cc_finish(cc *c, uint32_t root, g4_grammar **out) {
    for (uint32_t i = 0; i < c->n_owned; i++) g4_json_free(c->owned[i]);
    free(c->owned);
    free(c->memo);
    g4_grammar *g = c->g;
    if (!c->st && g && root != G_NONE) {
        g->root = root;
        g->max_stack = c->gemma ? G_MAX_STACK_GEMMA : G_MAX_STACK;
        fixpoints(g);
        g->kidsuf = malloc((g->n_kids + 1) * sizeof *g->kidsuf);
        if (!g->kidsuf) {
            fail(c, G4_ERR_NOMEM, "out of memory");
        } else {
            for (uint32_t i = 0; i < g->n_nodes; i++) {
                const gnode *n = &g->nodes[i];
                if (n->kind != GK_SEQ) continue;
                uint32_t acc = 0;
                for (uint32_t k = n->b; k-- > 0;) {
                    acc = sadd(acc, g->nodes[g->kids[n->a + k]].minlen);
                    g->kidsuf[n->a + k] = acc;
                }
            }
            if (g->nodes[root].minlen >= G_INF)
                fail(c, G4_ERR_ARG, "the schema has no finite instance (e.g. a required "
                                    "recursive $ref, `false`, or an empty enum)");
        }
    }
    if (c->st) {
        g4_grammar_free(g);
        *out = NULL;
        return c->st;
    }
    *out = g;
    return G4_OK;
}

g4_status g4_grammar_json(const g4_json *schema, g4_grammar **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "grammar: NULL argument");
    *out = NULL;
    cc c;
    cc_init(&c, false, err);
    uint32_t root = G_NONE;
    if (!c.st) {
        if (!schema) {
            root = any_object(&c, ANY_LEVELS - 1);
        } else if (!g4_json_is_object(schema) && !g4_json_is_bool(schema)) {
            fail(&c, G4_ERR_ARG, "the schema must be an object or a boolean, not %s",
                 g4_json_type_name(g4_json_type_of(schema)));
        } else {
            c.root = schema;
            root = compile(&c, schema, T_ALL);
        }
    }
    return cc_finish(&c, root, out);
}

/* The function-name rule of the output parser (src/chat/parse.c valid_name). */
static bool valid_name(const char *s, size_t n) {
    if (n == 0 || n > 256) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch == 0x7F || strchr("{}[]()<>,;=\"'`\\", ch)) return false;
    }
    return !g4_gram_has_marker(s, n);
}

g4_status g4_grammar_tool_call(const g4_json *tools, const char *only, bool parallel,
                               g4_grammar **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "grammar: NULL argument");
    *out = NULL;
    if (!g4_json_is_array(tools)) return g4_fail(err, G4_ERR_ARG, "grammar: tools must be an array");
    cc c;
    cc_init(&c, true, err);
    uint32_t root = G_NONE, names = trie_node(&c, 0);
    size_t used = 0;
    symbuf sb = {0};
    for (size_t i = 0; i < g4_json_len(tools) && !c.st; i++) {
        const g4_json *t = g4_json_at(tools, i), *fn = g4_json_get(t, "function");
        const char *type = g4_json_get_str(t, "type", NULL);
        if (type && strcmp(type, "function") != 0) continue;
        if (!g4_json_is_object(fn)) fn = t;
        size_t nn;
        const char *name = g4_json_get_str(fn, "name", &nn);
        if (!name || (only && (strlen(only) != nn || memcmp(only, name, nn) != 0))) continue;
        if (!valid_name(name, nn)) {
            if (only) fail(&c, G4_ERR_ARG, "function name \"%.60s\" cannot be called (Gemma call syntax)", name);
            continue;
        }
        const g4_json *params = g4_json_get(fn, "parameters");
        uint32_t args;
        c.root = params;
        c.n_memo = 0; /* $refs resolve within each tool's parameters */
        if (params && !(g4_json_is_object(params) && g4_json_len(params) == 0))
            args = compile(&c, params, T_OBJ);
        else
            args = lit(&c, "{}");
        sb.n = 0;
        sb_bytes(&sb, name, nn);
        if (sb.oom) fail(&c, G4_ERR_NOMEM, "out of memory");
        else trie_add(&c, names, sb.p, sb.n, args);
        used++;
    }
    free(sb.p);
    if (!c.st && !used)
        fail(&c, G4_ERR_ARG, only ? "no tool named \"%.60s\"" : "no usable function tool%.0s", only ? only : "");
    for (int k = 0; k < GSYM_COUNT && c.g; k++) c.g->uses_sym[k] = true;
    if (!c.st) {
        uint32_t call = SEQ(&c, lit_sym(&c, GSYM_TC_OPEN), lit(&c, "call:"),
                            node_new(&c, GK_TRIE, names, 0), lit_sym(&c, GSYM_TC_CLOSE));
        root = rep(&c, call, G_NONE, 1, parallel ? G_UNBOUNDED : 1);
    }
    return cc_finish(&c, root, out);
}

void g4_grammar_free(g4_grammar *g) {
    if (!g) return;
    free(g->nodes);
    free(g->kids);
    free(g->kidsuf);
    free(g->syms);
    free(g->trie);
    free(g->strp);
    free(g->nump);
    free(g->props);
    free(g);
}
