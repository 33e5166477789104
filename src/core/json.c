/* json.c — strict JSON parser, DOM, builders and a JSON.stringify-exact writer (see
 * json.h for the contract). Number formatting follows ECMAScript Number::toString. */
#include "core/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"

typedef struct {
    char *key;
    size_t klen;
    g4_json *val;
} member;

struct g4_json {
    g4_json_type type;
    bool b;
    bool is_int;   /* integer literal / g4_json_new_int */
    bool has_i64;  /* i64 holds the exact value (g4_json_new_int) */
    double num;
    int64_t i64;
    char *s;       /* string bytes, or a number's literal text (NULL for built numbers) */
    size_t n;
    g4_json **items; /* array */
    member *mem;     /* object */
    size_t len, cap;
};

/* ================================================================== nodes */

static g4_json *node_new(g4_json_type t) {
    g4_json *j = calloc(1, sizeof *j);
    if (j) j->type = t;
    return j;
}

void g4_json_free(g4_json *root) {
    /* Iterative, so that deep trees built by hand cannot exhaust the stack. */
    g4_json *stack_small[64];
    g4_json **stack = stack_small;
    size_t sp = 0, cap = 64;
    if (!root) return;
    stack[sp++] = root;
    while (sp) {
        g4_json *j = stack[--sp];
        size_t nchild = j->type == G4_JSON_ARRAY || j->type == G4_JSON_OBJECT ? j->len : 0;
        if (sp + nchild > cap) {
            size_t ncap = cap;
            while (ncap < sp + nchild) ncap *= 2;
            g4_json **ns = stack == stack_small ? malloc(ncap * sizeof *ns)
                                                : realloc(stack, ncap * sizeof *ns);
            if (!ns) {
                /* Cannot grow: fall back to recursion for this node's children. */
                for (size_t i = 0; i < nchild; i++)
                    g4_json_free(j->type == G4_JSON_ARRAY ? j->items[i] : j->mem[i].val);
                nchild = 0;
            } else {
                if (stack == stack_small) memcpy(ns, stack_small, sp * sizeof *ns);
                stack = ns;
                cap = ncap;
            }
        }
        for (size_t i = 0; i < nchild; i++) {
            if (j->type == G4_JSON_ARRAY) stack[sp++] = j->items[i];
            else stack[sp++] = j->mem[i].val;
        }
        if (j->type == G4_JSON_OBJECT)
            for (size_t i = 0; i < j->len; i++) free(j->mem[i].key);
        free(j->items);
        free(j->mem);
        free(j->s);
        free(j);
    }
    if (stack != stack_small) free(stack);
}

/* ================================================================== parser */

typedef struct {
    const char *beg, *p, *end;
    g4_error *err;
    g4_status st;
} parser;

static bool p_fail(parser *ps, const char *at, const char *fmt, ...) G4_PRINTF(3, 4);

static bool p_fail(parser *ps, const char *at, const char *fmt, ...) {
    if (ps->st != G4_OK) return false;
    int line = 1, col = 1;
    for (const char *q = ps->beg; q < at && q < ps->end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '\n') line++, col = 1;
        else if (!g4_utf8_is_cont(c)) col++;
    }
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ps->st = g4_fail(ps->err, G4_ERR_FORMAT, "json: line %d, column %d: %s", line, col, msg);
    return false;
}

static bool p_oom(parser *ps) {
    if (ps->st == G4_OK) ps->st = g4_fail(ps->err, G4_ERR_NOMEM, "json: out of memory");
    return false;
}

static void p_ws(parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool p_unexpected(parser *ps, const char *what) {
    if (ps->p >= ps->end) return p_fail(ps, ps->p, "unexpected end of input, expected %s", what);
    unsigned char c = (unsigned char)*ps->p;
    if (c >= 0x21 && c < 0x7F)
        return p_fail(ps, ps->p, "unexpected character '%c', expected %s", c, what);
    return p_fail(ps, ps->p, "unexpected byte 0x%02X, expected %s", c, what);
}

/* Parses a string literal at ps->p (on the opening quote) into out. */
static bool p_string(parser *ps, g4_buf *out) {
    const char *q = ps->p + 1;
    const char *open = ps->p;
    g4_buf_clear(out);
    for (;;) {
        const char *run = q;
        while (q < ps->end) {
            unsigned char c = (unsigned char)*q;
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
            q++;
        }
        g4_buf_add(out, run, (size_t)(q - run));
        if (q >= ps->end) return p_fail(ps, open, "unterminated string");
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            ps->p = q + 1;
            if (!g4_buf_ok(out)) return p_oom(ps);
            return true;
        }
        if (c < 0x20) return p_fail(ps, q, "control character 0x%02X in string (must be escaped)", c);
        if (c >= 0x80) {
            uint32_t cp;
            size_t n = g4_utf8_decode(q, (size_t)(ps->end - q), &cp);
            if (!n) return p_fail(ps, q, "invalid UTF-8 byte 0x%02X in string", c);
            g4_buf_add(out, q, n);
            q += n;
            continue;
        }
        /* backslash */
        if (q + 1 >= ps->end) return p_fail(ps, open, "unterminated string");
        char e = q[1];
        switch (e) {
        case '"': g4_buf_addc(out, '"'); q += 2; break;
        case '\\': g4_buf_addc(out, '\\'); q += 2; break;
        case '/': g4_buf_addc(out, '/'); q += 2; break;
        case 'b': g4_buf_addc(out, '\b'); q += 2; break;
        case 'f': g4_buf_addc(out, '\f'); q += 2; break;
        case 'n': g4_buf_addc(out, '\n'); q += 2; break;
        case 'r': g4_buf_addc(out, '\r'); q += 2; break;
        case 't': g4_buf_addc(out, '\t'); q += 2; break;
        case 'u': { /* surrogate pairs combine; a lone surrogate becomes U+FFFD */
            uint32_t cp;
            size_t k = g4_utf8_u_escape(q, (size_t)(ps->end - q), &cp);
            if (!k) return p_fail(ps, q, "invalid \\u escape");
            char u[4];
            g4_buf_add(out, u, g4_utf8_encode(cp, u));
            q += k;
            break;
        }
        default:
            if ((unsigned char)e >= 0x21 && (unsigned char)e < 0x7F)
                return p_fail(ps, q, "invalid escape '\\%c'", e);
            return p_fail(ps, q, "invalid escape");
        }
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Converts the validated literal s[0..n) to the nearest double without depending on the
 * C locale's decimal point: the mantissa digits and a combined exponent are handed to
 * strtod as "DIGITSeEXP". */
static bool literal_to_double(const char *s, size_t n, double *out) {
    size_t i = 0;
    bool neg = false;
    if (s[i] == '-') neg = true, i++;
    char small[128];
    char *tmp = n + 32 <= sizeof small ? small : malloc(n + 32);
    if (!tmp) return false;
    size_t t = 0;
    long long frac_digits = 0;
    for (; i < n && is_digit(s[i]); i++) tmp[t++] = s[i];
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++) tmp[t++] = s[i], frac_digits++;
    }
    long long ex = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        i++;
        if (s[i] == '+') i++;
        else if (s[i] == '-') eneg = true, i++;
        for (; i < n && is_digit(s[i]); i++)
            if (ex < 1000000000LL) ex = ex * 10 + (s[i] - '0'); /* saturate: far past any double */
        if (eneg) ex = -ex;
    }
    ex -= frac_digits;
    /* strip leading zeros of the mantissa */
    size_t z = 0;
    while (z + 1 < t && tmp[z] == '0') z++;
    memmove(tmp, tmp + z, t - z);
    t -= z;
    snprintf(tmp + t, 32, "e%lld", ex);
    double v = strtod(tmp, NULL);
    if (tmp != small) free(tmp);
    *out = neg ? -v : v;
    return true;
}

static bool p_number(parser *ps, g4_json *j) {
    const char *s = ps->p, *q = ps->p;
    bool is_int = true;
    if (q < ps->end && *q == '-') q++;
    if (q >= ps->end || !is_digit(*q)) {
        ps->p = q;
        return p_unexpected(ps, "a digit");
    }
    if (*q == '0') {
        q++;
        if (q < ps->end && is_digit(*q)) return p_fail(ps, q, "leading zero in number");
    } else
        while (q < ps->end && is_digit(*q)) q++;
    if (q < ps->end && *q == '.') {
        is_int = false;
        q++;
        if (q >= ps->end || !is_digit(*q)) {
            ps->p = q;
            return p_unexpected(ps, "a digit after the decimal point");
        }
        while (q < ps->end && is_digit(*q)) q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        is_int = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || !is_digit(*q)) {
            ps->p = q;
            return p_unexpected(ps, "a digit in the exponent");
        }
        while (q < ps->end && is_digit(*q)) q++;
    }
    size_t n = (size_t)(q - s);
    j->s = malloc(n + 1);
    if (!j->s) return p_oom(ps);
    memcpy(j->s, s, n);
    j->s[n] = 0;
    j->n = n;
    j->is_int = is_int;
    if (!literal_to_double(s, n, &j->num)) return p_oom(ps);
    ps->p = q;
    return true;
}

static bool p_value(parser *ps, g4_json **out, int depth, g4_buf *sb);

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 4;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return false;
        nc *= 2;
    }
    void *np = realloc(*p, nc * elem);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}

/* ---- stable merge sort of an index array (used for duplicate keys and the writer) */

typedef int (*idx_cmp)(const void *ctx, size_t a, size_t b);

static void msort(size_t *a, size_t *tmp, size_t n, idx_cmp cmp, const void *ctx) {
    if (n < 2) return;
    if (n <= 8) { /* insertion sort: stable */
        for (size_t i = 1; i < n; i++) {
            size_t x = a[i], k = i;
            while (k > 0 && cmp(ctx, a[k - 1], x) > 0) a[k] = a[k - 1], k--;
            a[k] = x;
        }
        return;
    }
    size_t h = n / 2;
    msort(a, tmp, h, cmp, ctx);
    msort(a + h, tmp, n - h, cmp, ctx);
    size_t i = 0, k = h, o = 0;
    while (i < h && k < n) tmp[o++] = cmp(ctx, a[k], a[i]) < 0 ? a[k++] : a[i++];
    while (i < h) tmp[o++] = a[i++];
    while (k < n) tmp[o++] = a[k++];
    memcpy(a, tmp, n * sizeof *a);
}

static int key_cmp(const void *ctx, size_t a, size_t b) {
    const member *m = ctx;
    size_t n = m[a].klen < m[b].klen ? m[a].klen : m[b].klen;
    int c = memcmp(m[a].key, m[b].key, n);
    if (c) return c;
    return m[a].klen < m[b].klen ? -1 : m[a].klen > m[b].klen;
}

/* JSON.parse semantics for repeated keys: the member stays where the key first
 * appeared and takes the last value. O(n log n) so hostile objects stay cheap. */
static bool dedupe_members(g4_json *o) {
    size_t n = o->len;
    if (n < 2) return true;
    size_t *idx = malloc(2 * n * sizeof *idx);
    if (!idx) return false;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    msort(idx, idx + n, n, key_cmp, o->mem);
    bool any = false;
    for (size_t i = 0; i + 1 < n;) {
        size_t k = i + 1;
        while (k < n && key_cmp(o->mem, idx[i], idx[k]) == 0) k++;
        if (k - i > 1) {
            any = true;
            member *first = &o->mem[idx[i]];
            member *last = &o->mem[idx[k - 1]];
            g4_json *v = last->val;
            for (size_t r = i; r < k - 1; r++) g4_json_free(o->mem[idx[r]].val);
            first->val = v;
            for (size_t r = i + 1; r < k; r++) {
                free(o->mem[idx[r]].key);
                o->mem[idx[r]].key = NULL;
                o->mem[idx[r]].val = NULL;
            }
        }
        i = k;
    }
    free(idx);
    if (any) {
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            if (o->mem[i].key) o->mem[w++] = o->mem[i];
        o->len = w;
    }
    return true;
}

/* After a member of an array (close ']') or object ('}'): 1 after a ',' (another member
 * follows), 0 after consuming the closer, -1 on failure (a trailing comma, or anything
 * else). */
static int p_next(parser *ps, char close) {
    bool arr = close == ']';
    p_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        p_ws(ps);
        if (ps->p >= ps->end || *ps->p != close) return 1;
        p_fail(ps, ps->p, "trailing comma in %s", arr ? "array" : "object");
        return -1;
    }
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    p_unexpected(ps, arr ? "',' or ']'" : "',' or '}'");
    return -1;
}

static bool p_array(parser *ps, g4_json *a, int depth, g4_buf *sb) {
    ps->p++; /* [ */
    p_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return true;
    }
    for (;;) {
        g4_json *v = NULL;
        if (!p_value(ps, &v, depth + 1, sb)) return false;
        if (!grow((void **)&a->items, &a->cap, a->len + 1, sizeof *a->items)) {
            g4_json_free(v);
            return p_oom(ps);
        }
        a->items[a->len++] = v;
        int more = p_next(ps, ']');
        if (more <= 0) return more == 0;
    }
}

static bool p_object(parser *ps, g4_json *o, int depth, g4_buf *sb) {
    ps->p++; /* { */
    p_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return true;
    }
    for (;;) {
        if (ps->p >= ps->end || *ps->p != '"') return p_unexpected(ps, "a string key");
        if (!p_string(ps, sb)) return false;
        size_t klen;
        char *key = g4_buf_take(sb, &klen);
        if (!key) return p_oom(ps);
        p_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            free(key);
            return p_unexpected(ps, "':'");
        }
        ps->p++;
        g4_json *v = NULL;
        if (!p_value(ps, &v, depth + 1, sb)) {
            free(key);
            return false;
        }
        if (!grow((void **)&o->mem, &o->cap, o->len + 1, sizeof *o->mem)) {
            free(key);
            g4_json_free(v);
            return p_oom(ps);
        }
        o->mem[o->len].key = key;
        o->mem[o->len].klen = klen;
        o->mem[o->len].val = v;
        o->len++;
        int more = p_next(ps, '}');
        if (more < 0) return false;
        if (!more) return dedupe_members(o) || p_oom(ps);
    }
}

static bool p_lit(parser *ps, const char *lit) {
    size_t n = strlen(lit);
    for (size_t i = 0; i < n; i++) {
        if (ps->p + i >= ps->end || ps->p[i] != lit[i]) {
            ps->p += i;
            return p_unexpected(ps, "a JSON value");
        }
    }
    ps->p += n;
    return true;
}

static bool p_value(parser *ps, g4_json **out, int depth, g4_buf *sb) {
    p_ws(ps);
    if (ps->p >= ps->end) return p_unexpected(ps, "a JSON value");
    char c = *ps->p;
    g4_json_type t;
    switch (c) {
    case '{': t = G4_JSON_OBJECT; break;
    case '[': t = G4_JSON_ARRAY; break;
    case '"': t = G4_JSON_STRING; break;
    case 't': case 'f': t = G4_JSON_BOOL; break;
    case 'n': t = G4_JSON_NULL; break;
    default:
        if (c == '-' || is_digit(c)) t = G4_JSON_NUMBER;
        else return p_unexpected(ps, "a JSON value");
    }
    if ((t == G4_JSON_OBJECT || t == G4_JSON_ARRAY) && depth >= G4_JSON_MAX_DEPTH)
        return p_fail(ps, ps->p, "nesting deeper than %d", G4_JSON_MAX_DEPTH);
    g4_json *j = node_new(t);
    if (!j) return p_oom(ps);
    bool ok;
    switch (t) {
    case G4_JSON_OBJECT: ok = p_object(ps, j, depth, sb); break;
    case G4_JSON_ARRAY: ok = p_array(ps, j, depth, sb); break;
    case G4_JSON_STRING:
        ok = p_string(ps, sb);
        if (ok) {
            j->s = g4_buf_take(sb, &j->n);
            if (!j->s) ok = p_oom(ps);
        }
        break;
    case G4_JSON_BOOL:
        j->b = c == 't';
        ok = p_lit(ps, j->b ? "true" : "false");
        break;
    case G4_JSON_NULL: ok = p_lit(ps, "null"); break;
    default: ok = p_number(ps, j); break;
    }
    if (!ok) {
        g4_json_free(j);
        return false;
    }
    *out = j;
    return true;
}

g4_status g4_json_parse(const char *text, size_t len, g4_json **out, g4_error *err) {
    *out = NULL;
    if (!text && len) return g4_fail(err, G4_ERR_ARG, "json: NULL text");
    if (!text) text = "";
    parser ps = {text, text, text + len, err, G4_OK};
    g4_buf sb = G4_BUF_INIT;
    g4_json *root = NULL;
    if (p_value(&ps, &root, 0, &sb)) {
        p_ws(&ps);
        if (ps.p < ps.end) {
            p_unexpected(&ps, "end of input");
            g4_json_free(root);
            root = NULL;
        }
    }
    g4_buf_free(&sb);
    if (ps.st != G4_OK) return ps.st;
    *out = root;
    return G4_OK;
}

/* ================================================================== accessors */

g4_json_type g4_json_type_of(const g4_json *j) { return j ? j->type : G4_JSON_NULL; }

const char *g4_json_type_name(g4_json_type t) {
    switch (t) {
    case G4_JSON_NULL: return "null";
    case G4_JSON_BOOL: return "boolean";
    case G4_JSON_NUMBER: return "number";
    case G4_JSON_STRING: return "string";
    case G4_JSON_ARRAY: return "array";
    case G4_JSON_OBJECT: return "object";
    }
    return "?";
}

bool g4_json_is_null(const g4_json *j) { return j && j->type == G4_JSON_NULL; }
bool g4_json_is_bool(const g4_json *j) { return j && j->type == G4_JSON_BOOL; }
bool g4_json_is_number(const g4_json *j) { return j && j->type == G4_JSON_NUMBER; }
bool g4_json_is_string(const g4_json *j) { return j && j->type == G4_JSON_STRING; }
bool g4_json_is_array(const g4_json *j) { return j && j->type == G4_JSON_ARRAY; }
bool g4_json_is_object(const g4_json *j) { return j && j->type == G4_JSON_OBJECT; }
bool g4_json_bool(const g4_json *j) { return j && j->type == G4_JSON_BOOL && j->b; }
double g4_json_number(const g4_json *j) { return j && j->type == G4_JSON_NUMBER ? j->num : 0; }
bool g4_json_number_is_int(const g4_json *j) { return j && j->type == G4_JSON_NUMBER && j->is_int; }

const char *g4_json_number_text(const g4_json *j, size_t *len) {
    if (!j || j->type != G4_JSON_NUMBER || !j->s) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = j->n;
    return j->s;
}

bool g4_json_int64(const g4_json *j, int64_t *out) {
    if (!j || j->type != G4_JSON_NUMBER) return false;
    if (j->has_i64) {
        *out = j->i64;
        return true;
    }
    if (j->is_int && j->s) { /* exact from the literal */
        const char *s = j->s;
        bool neg = *s == '-';
        if (neg) s++;
        uint64_t v = 0;
        for (; *s; s++) {
            unsigned d = (unsigned)(*s - '0');
            if (v > (UINT64_MAX - d) / 10) return false;
            v = v * 10 + d;
        }
        if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
        return true;
    }
    double v = j->num; /* 1.0, 1e3: integral values up to 2^53 */
    if (!(fabs(v) <= 9007199254740992.0) || v != floor(v)) return false;
    *out = (int64_t)v;
    return true;
}

const char *g4_json_string(const g4_json *j, size_t *len) {
    if (!j || j->type != G4_JSON_STRING) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = j->n;
    return j->s ? j->s : "";
}

size_t g4_json_len(const g4_json *j) {
    return j && (j->type == G4_JSON_ARRAY || j->type == G4_JSON_OBJECT) ? j->len : 0;
}

g4_json *g4_json_at(const g4_json *a, size_t i) {
    return a && a->type == G4_JSON_ARRAY && i < a->len ? a->items[i] : NULL;
}

const char *g4_json_key_at(const g4_json *o, size_t i, size_t *len) {
    if (!o || o->type != G4_JSON_OBJECT || i >= o->len) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = o->mem[i].klen;
    return o->mem[i].key;
}

g4_json *g4_json_value_at(const g4_json *o, size_t i) {
    return o && o->type == G4_JSON_OBJECT && i < o->len ? o->mem[i].val : NULL;
}

g4_json *g4_json_getn(const g4_json *o, const char *key, size_t klen) {
    if (!o || o->type != G4_JSON_OBJECT || !key) return NULL;
    for (size_t i = 0; i < o->len; i++)
        if (o->mem[i].klen == klen && memcmp(o->mem[i].key, key, klen) == 0) return o->mem[i].val;
    return NULL;
}

g4_json *g4_json_get(const g4_json *o, const char *key) {
    return key ? g4_json_getn(o, key, strlen(key)) : NULL;
}

const char *g4_json_get_str(const g4_json *o, const char *key, size_t *len) {
    return g4_json_string(g4_json_get(o, key), len);
}

/* ================================================================== builders */

g4_json *g4_json_new_null(void) { return node_new(G4_JSON_NULL); }

g4_json *g4_json_new_bool(bool v) {
    g4_json *j = node_new(G4_JSON_BOOL);
    if (j) j->b = v;
    return j;
}

g4_json *g4_json_new_number(double v) {
    g4_json *j = node_new(G4_JSON_NUMBER);
    if (j) j->num = v;
    return j;
}

g4_json *g4_json_new_int(int64_t v) {
    g4_json *j = node_new(G4_JSON_NUMBER);
    if (j) {
        j->num = (double)v;
        j->i64 = v;
        j->is_int = j->has_i64 = true;
    }
    return j;
}

g4_json *g4_json_new_string(const char *s, size_t len) {
    if (!s && len) return NULL;
    g4_json *j = node_new(G4_JSON_STRING);
    if (!j) return NULL;
    j->s = malloc(len + 1);
    if (!j->s) {
        free(j);
        return NULL;
    }
    if (len) memcpy(j->s, s, len);
    j->s[len] = 0;
    j->n = len;
    return j;
}

g4_json *g4_json_new_cstr(const char *s) { return s ? g4_json_new_string(s, strlen(s)) : NULL; }
g4_json *g4_json_new_array(void) { return node_new(G4_JSON_ARRAY); }
g4_json *g4_json_new_object(void) { return node_new(G4_JSON_OBJECT); }

bool g4_json_append(g4_json *a, g4_json *item) {
    if (!a || !item || a->type != G4_JSON_ARRAY ||
        !grow((void **)&a->items, &a->cap, a->len + 1, sizeof *a->items)) {
        g4_json_free(item);
        return false;
    }
    a->items[a->len++] = item;
    return true;
}

bool g4_json_setn(g4_json *o, const char *key, size_t klen, g4_json *val) {
    if (!o || !val || !key || o->type != G4_JSON_OBJECT) {
        g4_json_free(val);
        return false;
    }
    for (size_t i = 0; i < o->len; i++) {
        if (o->mem[i].klen == klen && memcmp(o->mem[i].key, key, klen) == 0) {
            g4_json_free(o->mem[i].val);
            o->mem[i].val = val;
            return true;
        }
    }
    char *k = malloc(klen + 1);
    if (!k || !grow((void **)&o->mem, &o->cap, o->len + 1, sizeof *o->mem)) {
        free(k);
        g4_json_free(val);
        return false;
    }
    memcpy(k, key, klen);
    k[klen] = 0;
    o->mem[o->len].key = k;
    o->mem[o->len].klen = klen;
    o->mem[o->len].val = val;
    o->len++;
    return true;
}

bool g4_json_set(g4_json *o, const char *key, g4_json *val) {
    if (!key) {
        g4_json_free(val);
        return false;
    }
    return g4_json_setn(o, key, strlen(key), val);
}

static g4_json *clone_rec(const g4_json *j, int depth) {
    if (depth > 100000) return NULL;
    g4_json *c = node_new(j->type);
    if (!c) return NULL;
    c->b = j->b;
    c->is_int = j->is_int;
    c->has_i64 = j->has_i64;
    c->num = j->num;
    c->i64 = j->i64;
    if (j->s) {
        c->s = malloc(j->n + 1);
        if (!c->s) goto fail;
        memcpy(c->s, j->s, j->n + 1);
        c->n = j->n;
    }
    if (j->type == G4_JSON_ARRAY) {
        for (size_t i = 0; i < j->len; i++)
            if (!g4_json_append(c, clone_rec(j->items[i], depth + 1))) goto fail;
    } else if (j->type == G4_JSON_OBJECT) {
        for (size_t i = 0; i < j->len; i++)
            if (!g4_json_setn(c, j->mem[i].key, j->mem[i].klen, clone_rec(j->mem[i].val, depth + 1)))
                goto fail;
    }
    return c;
fail:
    g4_json_free(c);
    return NULL;
}

g4_json *g4_json_clone(const g4_json *j) { return j ? clone_rec(j, 0) : NULL; }

/* ================================================================== numbers */

/* Shortest decimal digits that read back as a (> 0, finite): digits into d (no
 * trailing zeros), returns their count k; *n is the decimal exponent such that
 * a = 0.d * 10^n. ECMAScript picks the fewest digits, then the candidate closest to a.
 * For each precision p the correctly rounded p-digit value is the closest candidate;
 * when it does not read back, only its neighbour on the other side of a can. */
static bool reads_back(const char *d, int k, int e, double a) {
    char s[48];
    memcpy(s, d, (size_t)k);
    snprintf(s + k, sizeof s - (size_t)k, "e%d", e - (k - 1));
    return strtod(s, NULL) == a;
}

/* The p-digit decimal that reads back as a, if there is one: the correctly rounded
 * p-digit value, else its neighbour on the other side of a. d gets the p digits, *e the
 * exponent (a ~ d[0].d[1..] * 10^e). */
static bool digits_at(double a, int p, char d[20], int *e) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, a);
    /* "D.DDDDe+XX" (the decimal point may be locale-specific: skip non-digits) */
    int k = 0;
    const char *q = tmp;
    while (*q && *q != 'e') {
        if (is_digit(*q) && k < p) d[k++] = *q;
        q++;
    }
    *e = atoi(q + 1);
    if (reads_back(d, k, *e, a)) return true;
    char s[48];
    memcpy(s, d, (size_t)k);
    snprintf(s + k, sizeof s - (size_t)k, "e%d", *e - (k - 1));
    bool up = strtod(s, NULL) < a;
    int i = k - 1;
    if (up) {
        while (i >= 0 && d[i] == '9') d[i--] = '0';
        if (i < 0) { /* 999 -> 1000: one more order of magnitude */
            d[0] = '1';
            ++*e;
        } else
            d[i]++;
    } else {
        while (i >= 0 && d[i] == '0') d[i--] = '9';
        if (i >= 0) d[i]--;
        if (d[0] == '0') { /* 1000 -> 0999 -> 9999 with a smaller exponent */
            if (k == 1) return false;
            memmove(d, d + 1, (size_t)k - 1);
            d[k - 1] = '9';
            --*e;
        }
    }
    return reads_back(d, k, *e, a);
}

/* Shortest decimal digits that read back as a (> 0, finite): digits into d (no
 * trailing zeros), returns their count k; *n is the decimal exponent such that
 * a = 0.d * 10^n. ECMAScript picks the fewest digits, then the candidate closest to a:
 * for each precision p the correctly rounded p-digit value is the closest candidate,
 * and when it does not read back only its neighbour on the other side of a can.
 * Whether some p-digit value reads back is monotone in p (a p-digit value is also a
 * (p+1)-digit one), so p is found by bisection; 17 digits always read back. */
static int shortest_digits(double a, char d[20], int *n) {
    int lo = 1, hi = 17, e;
    char t[20];
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (digits_at(a, mid, t, &e)) hi = mid;
        else lo = mid + 1;
    }
    if (!digits_at(a, lo, d, &e)) { /* cannot happen: keep the 17 rounded digits */
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.16e", a);
        int k = 0;
        for (const char *q = tmp; *q && *q != 'e'; q++)
            if (is_digit(*q)) d[k++] = *q;
        e = atoi(strchr(tmp, 'e') + 1);
        lo = k;
    }
    int k = lo;
    while (k > 1 && d[k - 1] == '0') k--;
    *n = e + 1;
    return k;
}

size_t g4_json_number_js(double v, char buf[32]) {
    if (isnan(v)) return (size_t)snprintf(buf, 32, "NaN");
    if (isinf(v)) return (size_t)snprintf(buf, 32, v < 0 ? "-Infinity" : "Infinity");
    if (v == 0) return (size_t)snprintf(buf, 32, "0");
    size_t o = 0;
    if (v < 0) buf[o++] = '-', v = -v;
    if (v < 9007199254740992.0 && v == floor(v)) { /* integers below 2^53 print as themselves */
        o += (size_t)snprintf(buf + o, 32 - o, "%.0f", v);
        return o;
    }
    char d[20];
    int n;
    int k = shortest_digits(v, d, &n);
    if (k <= n && n <= 21) { /* integer: digits then n-k zeros */
        memcpy(buf + o, d, (size_t)k), o += (size_t)k;
        for (int i = 0; i < n - k; i++) buf[o++] = '0';
    } else if (0 < n && n <= 21) { /* 123.45 */
        memcpy(buf + o, d, (size_t)n), o += (size_t)n;
        buf[o++] = '.';
        memcpy(buf + o, d + n, (size_t)(k - n)), o += (size_t)(k - n);
    } else if (-6 < n && n <= 0) { /* 0.000123 */
        buf[o++] = '0', buf[o++] = '.';
        for (int i = 0; i < -n; i++) buf[o++] = '0';
        memcpy(buf + o, d, (size_t)k), o += (size_t)k;
    } else { /* 1.5e+21, 1e-7 */
        buf[o++] = d[0];
        if (k > 1) {
            buf[o++] = '.';
            memcpy(buf + o, d + 1, (size_t)(k - 1)), o += (size_t)(k - 1);
        }
        o += (size_t)snprintf(buf + o, 32 - o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    buf[o] = 0;
    return o;
}

/* ================================================================== writer */

/* Array index in canonical form: "0" or [1-9][0-9]* up to 4294967294. */
static bool array_index_key(const char *k, size_t n, uint64_t *v) {
    if (n == 0 || n > 10) return false;
    if (k[0] == '0' && n > 1) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(k[i])) return false;
        x = x * 10 + (uint64_t)(k[i] - '0');
    }
    if (x > 4294967294ULL) return false;
    *v = x;
    return true;
}

static int index_key_cmp(const void *ctx, size_t a, size_t b) {
    const uint64_t *ix = ctx;
    return ix[a] < ix[b] ? -1 : ix[a] > ix[b];
}

bool g4_json_js_order(const g4_json *j, size_t **order) {
    *order = NULL;
    if (!j || j->type != G4_JSON_OBJECT) return true;
    size_t n = j->len, n_ix = 0;
    uint64_t v;
    for (size_t i = 0; i < n; i++)
        if (array_index_key(j->mem[i].key, j->mem[i].klen, &v)) n_ix++;
    if (!n_ix) return true;
    size_t *o = malloc(n * (2 * sizeof(size_t) + sizeof(uint64_t)));
    if (!o) return false;
    uint64_t *ix = (uint64_t *)(o + 2 * n);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (array_index_key(j->mem[i].key, j->mem[i].klen, &ix[i])) o[w++] = i;
    msort(o, o + n, w, index_key_cmp, ix);
    for (size_t i = 0; i < n; i++)
        if (!array_index_key(j->mem[i].key, j->mem[i].klen, &v)) o[w++] = i;
    *order = o;
    return true;
}

static void write_rec(const g4_json *j, g4_buf *b) {
    char num[32];
    switch (j->type) {
    case G4_JSON_NULL: g4_buf_adds(b, "null"); return;
    case G4_JSON_BOOL: g4_buf_adds(b, j->b ? "true" : "false"); return;
    case G4_JSON_NUMBER:
        if (!isfinite(j->num)) g4_buf_adds(b, "null");
        else g4_buf_add(b, num, g4_json_number_js(j->num, num));
        return;
    case G4_JSON_STRING: g4_buf_add_json_str(b, j->s ? j->s : "", j->n); return;
    case G4_JSON_ARRAY:
        g4_buf_addc(b, '[');
        for (size_t i = 0; i < j->len; i++) {
            if (i) g4_buf_addc(b, ',');
            write_rec(j->items[i], b);
        }
        g4_buf_addc(b, ']');
        return;
    case G4_JSON_OBJECT: {
        size_t n = j->len;
        size_t *order = NULL;
        if (!g4_json_js_order(j, &order)) {
            b->oom = true;
            return;
        }
        g4_buf_addc(b, '{');
        for (size_t i = 0; i < n; i++) {
            const member *m = &j->mem[order ? order[i] : i];
            if (i) g4_buf_addc(b, ',');
            g4_buf_add_json_str(b, m->key, m->klen);
            g4_buf_addc(b, ':');
            write_rec(m->val, b);
        }
        g4_buf_addc(b, '}');
        free(order);
        return;
    }
    }
}

void g4_json_write(const g4_json *j, g4_buf *b) {
    if (!j) {
        g4_buf_adds(b, "null");
        return;
    }
    write_rec(j, b);
}
