/* render.c — the Gemma 4 chat template (large and small layouts) as C, with the value
 * semantics of the @huggingface/jinja engine (see render.h, docs/CHAT.md).
 *
 * The template is transcribed statement by statement; every expression goes through a
 * small model of the engine's runtime values (val) so that odd input behaves as in the
 * engine: JavaScript loose equality (`==`), member lookup that falls back to built-in
 * methods (obj['items'] is a function when absent), truthiness of empty containers,
 * JavaScript Number->String, JS property order (array-index keys first), dictsort's
 * case-insensitive, stable, UTF-16 order, and the engine's errors. Owns nothing else:
 * the JSON DOM is core/json, the JavaScript string functions (case mapping, trim, UTF-16
 * length and order, StringToNumber) are chat/js_string, tokenization of the result is
 * src/text.
 *
 * Sections: runtime values, template macros, the main template, the arguments
 * pre-pass. */
#include "chat/render.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/js_string.h"
#include "core/status.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ======================================================= runtime values */

/* The engine's runtime value kinds. JSON numbers are IntegerValue or FloatValue by
 * Number.isInteger; both print as JavaScript's Number->String for every value JSON
 * can produce, so one kind suffices. V_FUNC is a built-in method reached by a member
 * lookup (obj['items'] when obj has no 'items' key). */
typedef enum { V_UNDEF, V_NULL, V_BOOL, V_NUM, V_STR, V_ARR, V_OBJ, V_FUNC } vkind;

typedef struct {
    vkind k;
    bool b;
    double num;
    const char *s; /* V_STR bytes, V_FUNC name */
    size_t n;
    const g4_json *j; /* V_ARR, V_OBJ */
} val;

typedef struct arena_blk {
    struct arena_blk *next;
} arena_blk;

typedef struct {
    uintptr_t str; /* the arguments string node */
    g4_json *obj;  /* what it parsed to */
} arg_sub;

#define MAX_NEST 1100 /* recursion guard for hand-built DOMs (parsed ones stop at 512) */

typedef struct {
    const g4_chat_opts *o;
    g4_error *err;
    g4_status st;
    arena_blk *arena;
    arg_sub *subs;
    size_t n_subs;
    long msg;  /* index in messages of the message being rendered, -1 outside the loop */
    long tool; /* index in tools of the declaration being rendered, -1 otherwise */
    int depth;
} rctx;

#define TRY(x)                                                                           \
    do {                                                                                 \
        if (!(x)) return false;                                                          \
    } while (0)

static bool fail(rctx *c, const char *fmt, ...) G4_PRINTF(2, 3);

static bool fail(rctx *c, const char *fmt, ...) {
    if (c->st != G4_OK) return false;
    char m[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (c->tool >= 0) c->st = g4_fail(c->err, G4_ERR_ARG, "chat template: tools[%ld]: %s", c->tool, m);
    else if (c->msg >= 0) c->st = g4_fail(c->err, G4_ERR_ARG, "chat template: messages[%ld]: %s", c->msg, m);
    else c->st = g4_fail(c->err, G4_ERR_ARG, "chat template: %s", m);
    return false;
}

static bool nomem(rctx *c) {
    if (c->st == G4_OK) c->st = g4_fail(c->err, G4_ERR_NOMEM, "chat template: out of memory");
    return false;
}

static bool buf_ok(rctx *c, const g4_buf *b) { return g4_buf_ok(b) ? true : nomem(c); }

static val v_undef(void) { return (val){.k = V_UNDEF}; }
static val v_null(void) { return (val){.k = V_NULL}; }
static val v_num(double x) { return (val){.k = V_NUM, .num = x}; }
static val v_str(const char *s, size_t n) { return (val){.k = V_STR, .s = s, .n = n}; }
static val v_cstr(const char *s) { return v_str(s, strlen(s)); }
static val v_func(const char *name) { return (val){.k = V_FUNC, .s = name, .n = strlen(name)}; }

static const char *vtype(val v) {
    switch (v.k) {
    case V_UNDEF: return "UndefinedValue";
    case V_NULL: return "NullValue";
    case V_BOOL: return "BooleanValue";
    case V_NUM: return isfinite(v.num) && v.num == floor(v.num) ? "IntegerValue" : "FloatValue";
    case V_STR: return "StringValue";
    case V_ARR: return "ArrayValue";
    case V_OBJ: return "ObjectValue";
    case V_FUNC: return "FunctionValue";
    }
    return "?";
}

/* Copies s[0..n) into the render's arena. */
static bool keep(rctx *c, const char *s, size_t n, val *out) {
    arena_blk *b = malloc(sizeof *b + n + 1);
    if (!b) return nomem(c);
    b->next = c->arena;
    c->arena = b;
    char *p = (char *)(b + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    *out = v_str(p, n);
    return true;
}

static g4_json *find_sub(const rctx *c, const g4_json *j) {
    size_t lo = 0, hi = c->n_subs;
    uintptr_t key = (uintptr_t)j;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key < c->subs[mid].str) hi = mid;
        else if (key > c->subs[mid].str) lo = mid + 1;
        else return c->subs[mid].obj;
    }
    return NULL;
}

/* A JSON node as a runtime value (NULL = undefined). Arguments strings replaced by the
 * pre-pass read as their parsed object, wherever they are reached from. */
static val vj(const rctx *c, const g4_json *j) {
    val v = {0};
    switch (j ? g4_json_type_of(j) : G4_JSON_NULL) {
    case G4_JSON_NULL: v.k = j ? V_NULL : V_UNDEF; break;
    case G4_JSON_BOOL: v.k = V_BOOL, v.b = g4_json_bool(j); break;
    case G4_JSON_NUMBER: v.k = V_NUM, v.num = g4_json_number(j); break;
    case G4_JSON_STRING: {
        g4_json *sub = c->n_subs ? find_sub(c, j) : NULL;
        if (sub) v.k = V_OBJ, v.j = sub;
        else v.k = V_STR, v.s = g4_json_string(j, &v.n);
        break;
    }
    case G4_JSON_ARRAY: v.k = V_ARR, v.j = j; break;
    case G4_JSON_OBJECT: v.k = V_OBJ, v.j = j; break;
    }
    return v;
}

static bool truthy(val v) {
    switch (v.k) {
    case V_UNDEF: case V_NULL: return false;
    case V_BOOL: return v.b;
    case V_NUM: return v.num != 0 && !isnan(v.num);
    case V_STR: return v.n > 0;
    case V_ARR: case V_OBJ: return g4_json_len(v.j) > 0;
    case V_FUNC: return true;
    }
    return false;
}

static bool is_lit(val v, const char *lit) {
    size_t n = strlen(lit);
    return v.k == V_STR && v.n == n && memcmp(v.s, lit, n) == 0;
}

/* obj[key] / obj.key with a string key: own member first, then the built-ins. */
static val member(const rctx *c, val o, const char *key) {
    static const char *const obj_builtins[] = {"get", "items", "keys", "values", "dictsort"};
    static const char *const str_builtins[] = {"upper", "lower", "strip", "title", "capitalize",
                                               "rstrip", "lstrip", "startswith", "endswith",
                                               "split", "replace"};
    switch (o.k) {
    case V_OBJ: {
        const g4_json *v = g4_json_get(o.j, key);
        if (v) return vj(c, v);
        for (size_t i = 0; i < N_OF(obj_builtins); i++)
            if (strcmp(key, obj_builtins[i]) == 0) return v_func(obj_builtins[i]);
        return v_undef();
    }
    case V_ARR:
        return strcmp(key, "length") == 0 ? v_num((double)g4_json_len(o.j)) : v_undef();
    case V_STR:
        if (strcmp(key, "length") == 0) return v_num((double)g4_chat_js_utf16_len(o.s, o.n));
        for (size_t i = 0; i < N_OF(str_builtins); i++)
            if (strcmp(key, str_builtins[i]) == 0) return v_func(str_builtins[i]);
        return v_undef();
    default: return v_undef();
    }
}

/* obj.get(key): only an object without its own "get" member has the method; the
 * missing key gives null (not undefined). */
static bool call_get(rctx *c, val o, const char *key, val *out) {
    val f = member(c, o, "get");
    if (f.k != V_FUNC)
        return fail(c, "Cannot call something that is not a function: got %s (%s.get('%s'))", vtype(f),
                    vtype(o), key);
    const g4_json *v = g4_json_get(o.j, key);
    *out = v ? vj(c, v) : v_null();
    return true;
}

static void add_num(g4_buf *b, double x) {
    char t[32];
    g4_buf_add(b, t, g4_json_number_js(x, t));
}

static bool too_deep(rctx *c) { return fail(c, "nesting deeper than %d", MAX_NEST); }

/* toJSON(value, {}) as the engine prints arrays and objects: ", " and ": " separators,
 * JSON.stringify for scalars, JS key order. */
static bool to_json(rctx *c, g4_buf *b, val v) {
    switch (v.k) {
    case V_UNDEF: g4_buf_adds(b, "undefined"); return true;
    case V_NULL: g4_buf_adds(b, "null"); return true;
    case V_BOOL: g4_buf_adds(b, v.b ? "true" : "false"); return true;
    case V_NUM:
        if (isfinite(v.num)) add_num(b, v.num);
        else g4_buf_adds(b, "null");
        return true;
    case V_STR: g4_buf_add_json_str(b, v.s, v.n); return true;
    case V_FUNC: return fail(c, "Cannot convert to JSON: FunctionValue");
    default: break;
    }
    if (++c->depth > MAX_NEST) return too_deep(c);
    size_t n = g4_json_len(v.j);
    bool ok = true;
    if (v.k == V_ARR) {
        g4_buf_addc(b, '[');
        for (size_t i = 0; i < n && ok; i++) {
            if (i) g4_buf_adds(b, ", ");
            ok = to_json(c, b, vj(c, g4_json_at(v.j, i)));
        }
        g4_buf_addc(b, ']');
    } else {
        size_t *ord;
        if (!g4_json_js_order(v.j, &ord)) return nomem(c);
        g4_buf_addc(b, '{');
        for (size_t i = 0; i < n && ok; i++) {
            size_t m = ord ? ord[i] : i, kn;
            const char *k = g4_json_key_at(v.j, m, &kn);
            if (i) g4_buf_adds(b, ", ");
            g4_buf_add_json_str(b, k, kn);
            g4_buf_adds(b, ": ");
            ok = to_json(c, b, vj(c, g4_json_value_at(v.j, m)));
        }
        g4_buf_addc(b, '}');
        free(ord);
    }
    c->depth--;
    return ok;
}

/* {{ value }}: none and undefined print nothing. */
static bool print(rctx *c, g4_buf *b, val v) {
    switch (v.k) {
    case V_UNDEF: case V_NULL: return true;
    case V_BOOL: g4_buf_adds(b, v.b ? "true" : "false"); return true;
    case V_NUM: add_num(b, v.num); return true;
    case V_STR: g4_buf_add(b, v.s, v.n); return true;
    default: return to_json(c, b, v);
    }
}

/* RuntimeValue.toString() of an array element (Array.prototype.join calls it):
 * a JSON null inside an array is a NullValue whose value is undefined. */
static bool elem_to_string(rctx *c, g4_buf *b, val v) {
    if (v.k == V_UNDEF || v.k == V_NULL) {
        g4_buf_adds(b, "undefined");
        return true;
    }
    return print(c, b, v);
}

/* The right operand of `string + value`: value.toString() in JavaScript. */
static bool concat(rctx *c, g4_buf *b, val v) {
    switch (v.k) {
    case V_UNDEF: return fail(c, "Cannot perform operation + on undefined values");
    case V_NULL: return fail(c, "Cannot perform operation on null values");
    case V_OBJ: g4_buf_adds(b, "[object Map]"); return true;
    case V_FUNC: return fail(c, "cannot concatenate the built-in function %s", v.s);
    case V_ARR: {
        size_t n = g4_json_len(v.j);
        for (size_t i = 0; i < n; i++) {
            if (i) g4_buf_addc(b, ',');
            TRY(elem_to_string(c, b, vj(c, g4_json_at(v.j, i))));
        }
        return true;
    }
    default: return print(c, b, v);
    }
}

/* ToPrimitive of an array (join) or a Map ("[object Map]"), as a string. */
static bool to_primitive(rctx *c, val v, val *out) {
    g4_buf b = G4_BUF_INIT;
    bool ok = concat(c, &b, v) && buf_ok(c, &b) && keep(c, g4_buf_str(&b), b.n, out);
    g4_buf_free(&b);
    return ok;
}

/* JavaScript `a == b` on the engine's underlying values (the engine compares .value
 * with ==; a NullValue's .value is undefined). */
static bool loose_eq(rctx *c, val a, val b, bool *res) {
    bool an = a.k == V_UNDEF || a.k == V_NULL, bn = b.k == V_UNDEF || b.k == V_NULL;
    if (an || bn) {
        *res = an && bn;
        return true;
    }
    if (a.k == V_BOOL) a = v_num(a.b);
    if (b.k == V_BOOL) b = v_num(b.b);
    bool ao = a.k == V_ARR || a.k == V_OBJ || a.k == V_FUNC;
    bool bo = b.k == V_ARR || b.k == V_OBJ || b.k == V_FUNC;
    if (ao && bo) {
        *res = a.k == b.k && a.k != V_FUNC && a.j == b.j;
        return true;
    }
    if (a.k == V_FUNC || b.k == V_FUNC) {
        *res = false;
        return true;
    }
    if (ao) TRY(to_primitive(c, a, &a));
    if (bo) TRY(to_primitive(c, b, &b));
    if (a.k == V_STR && b.k == V_STR) *res = a.n == b.n && memcmp(a.s, b.s, a.n) == 0;
    else if (a.k == V_NUM && b.k == V_NUM) *res = a.num == b.num;
    else if (a.k == V_NUM) *res = a.num == g4_chat_js_to_number(b.s, b.n);
    else *res = b.num == g4_chat_js_to_number(a.s, a.n);
    return true;
}

static bool eq_lit(rctx *c, val a, const char *lit, bool *res) { return loose_eq(c, a, v_cstr(lit), res); }

/* `x in ['lit', ...]`: strict comparison with each literal. */
static bool in_list(rctx *c, val x, const char *const *lits, size_t n, bool *res) {
    if (x.k == V_UNDEF) return fail(c, "Cannot perform operation in on undefined values");
    if (x.k == V_NULL) return fail(c, "Cannot perform operation on null values");
    if (x.k == V_ARR) return fail(c, "Unknown operator \"in\" between ArrayValue and ArrayValue");
    *res = false;
    if (x.k == V_STR)
        for (size_t i = 0; i < n; i++) *res = *res || is_lit(x, lits[i]);
    return true;
}

/* `'lit' in x` */
static bool lit_in(rctx *c, const char *lit, val x, bool *res) {
    size_t n = strlen(lit);
    switch (x.k) {
    case V_UNDEF: *res = false; return true;
    case V_NULL: return fail(c, "Cannot perform operation on null values");
    case V_STR: *res = x.n >= n && memmem(x.s, x.n, lit, n) != NULL; return true;
    case V_OBJ: *res = g4_json_getn(x.j, lit, n) != NULL; return true;
    case V_ARR:
        *res = false;
        for (size_t i = 0; i < g4_json_len(x.j) && !*res; i++) *res = is_lit(vj(c, g4_json_at(x.j, i)), lit);
        return true;
    default: return fail(c, "Unknown operator \"in\" between StringValue and %s", vtype(x));
    }
}

/* The engine's error for a filter the operand's type does not have. */
static bool filter_fail(rctx *c, const char *filter, val v) {
    switch (v.k) {
    case V_ARR: return fail(c, "Unknown ArrayValue filter: %s", filter);
    case V_STR: return fail(c, "Unknown StringValue filter: %s", filter);
    case V_NUM: return fail(c, "Unknown NumericValue filter: %s", filter);
    case V_OBJ: return fail(c, "Unknown ObjectValue filter: %s", filter);
    case V_BOOL: return fail(c, "Unknown BooleanValue filter: %s", filter);
    default: return fail(c, "Cannot apply filter \"%s\" to type: %s", filter, vtype(v));
    }
}

static bool upper_v(rctx *c, val v, val *out) {
    if (v.k != V_STR) return filter_fail(c, "upper", v);
    g4_buf b = G4_BUF_INIT;
    g4_chat_js_upper(v.s, v.n, &b);
    bool ok = buf_ok(c, &b) && keep(c, g4_buf_str(&b), b.n, out);
    g4_buf_free(&b);
    return ok;
}

static bool trim_v(rctx *c, val v, val *out) {
    if (v.k != V_STR) return filter_fail(c, "trim", v);
    size_t b, e;
    g4_chat_js_trim_span(v.s, v.n, &b, &e);
    *out = v_str(v.s + b, e - b);
    return true;
}

/* ---- iteration: `for x in v` (arrays: elements; objects: keys in JS order) ---- */

typedef struct {
    val coll;
    size_t n;
    size_t *order;
} iter;

static bool iter_begin(rctx *c, val v, iter *it) {
    it->coll = v;
    it->order = NULL;
    if (v.k != V_ARR && v.k != V_OBJ)
        return fail(c, "Expected iterable or object type in for loop: got %s", vtype(v));
    it->n = g4_json_len(v.j);
    if (v.k == V_OBJ && !g4_json_js_order(v.j, &it->order)) return nomem(c);
    return true;
}

static val iter_get(const rctx *c, const iter *it, size_t i) {
    if (it->coll.k == V_ARR) return vj(c, g4_json_at(it->coll.j, i));
    size_t kn;
    const char *k = g4_json_key_at(it->coll.j, it->order ? it->order[i] : i, &kn);
    return v_str(k, kn);
}

static void iter_end(iter *it) {
    free(it->order);
    it->order = NULL;
}

/* ---- dictsort: items sorted by key, case-insensitively (toLowerCase), comparing
 * UTF-16 code units; the sort is stable over the JS key order. ---- */

typedef int (*idx_cmp)(const void *ctx, size_t a, size_t b);

/* Stable merge sort of the indices a[0..n) by cmp; tmp has room for n. */
static void msort_idx(size_t *a, size_t *tmp, size_t n, idx_cmp cmp, const void *ctx) {
    if (n < 2) return;
    if (n <= 8) { /* insertion sort: stable */
        for (size_t i = 1; i < n; i++) {
            size_t x = a[i], j = i;
            while (j > 0 && cmp(ctx, a[j - 1], x) > 0) a[j] = a[j - 1], j--;
            a[j] = x;
        }
        return;
    }
    size_t h = n / 2;
    msort_idx(a, tmp, h, cmp, ctx);
    msort_idx(a + h, tmp, n - h, cmp, ctx);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) tmp[o++] = cmp(ctx, a[j], a[i]) < 0 ? a[j++] : a[i++];
    while (i < h) tmp[o++] = a[i++];
    while (j < n) tmp[o++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

typedef struct {
    const char *buf;
    const size_t *off; /* lowered key i = buf[off[i] .. off[i+1]) */
} lkeys;

static int lkey_cmp(const void *ctx, size_t a, size_t b) {
    const lkeys *k = ctx;
    return g4_chat_js_utf16_cmp(k->buf + k->off[a], k->off[a + 1] - k->off[a],
                                k->buf + k->off[b], k->off[b + 1] - k->off[b]);
}

/* On success *order (malloc'd, g4_json_len(v) member indices) is the iteration order. */
static bool dictsort(rctx *c, val v, size_t **order) {
    *order = NULL;
    if (v.k != V_OBJ) return filter_fail(c, "dictsort", v);
    size_t n = g4_json_len(v.j);
    size_t *js = NULL;
    if (!g4_json_js_order(v.j, &js)) return nomem(c);
    size_t *ord = malloc((2 * n + 1) * sizeof *ord);
    size_t *off = malloc((n + 1) * sizeof *off);
    g4_buf lb = G4_BUF_INIT;
    bool ok = ord && off;
    for (size_t i = 0; ok && i < n; i++) {
        size_t kn;
        const char *key = g4_json_key_at(v.j, i, &kn);
        off[i] = lb.n;
        g4_chat_js_lower(key, kn, &lb);
        ord[i] = js ? js[i] : i;
    }
    if (ok) off[n] = lb.n;
    ok = ok && g4_buf_ok(&lb);
    if (ok) {
        lkeys k = {g4_buf_str(&lb), off};
        msort_idx(ord, ord + n, n, lkey_cmp, &k);
    }
    free(js);
    free(off);
    g4_buf_free(&lb);
    if (!ok) {
        free(ord);
        return nomem(c);
    }
    *order = ord;
    return true;
}

/* ======================================================= template macros */

#define Q "<|\"|>"

static bool comma(g4_buf *b, bool *add_comma) {
    if (*add_comma) g4_buf_addc(b, ',');
    else *add_comma = true;
    return true;
}

static bool format_argument(rctx *c, g4_buf *b, val a, bool esc);

static bool format_mapping(rctx *c, g4_buf *b, val a, bool esc) {
    size_t *ord;
    TRY(dictsort(c, a, &ord));
    bool ok = true;
    g4_buf_addc(b, '{');
    for (size_t i = 0; ok && i < g4_json_len(a.j); i++) {
        size_t kn;
        const char *k = g4_json_key_at(a.j, ord[i], &kn);
        if (i) g4_buf_addc(b, ',');
        if (esc) g4_buf_adds(b, Q);
        g4_buf_add(b, k, kn);
        if (esc) g4_buf_adds(b, Q);
        g4_buf_addc(b, ':');
        ok = format_argument(c, b, vj(c, g4_json_value_at(a.j, ord[i])), esc);
    }
    g4_buf_addc(b, '}');
    free(ord);
    return ok;
}

static bool format_argument(rctx *c, g4_buf *b, val a, bool esc) {
    if (++c->depth > MAX_NEST) return too_deep(c);
    bool ok = true;
    switch (a.k) {
    case V_NULL: g4_buf_adds(b, "null"); break;
    case V_STR:
        g4_buf_adds(b, Q);
        g4_buf_add(b, a.s, a.n);
        g4_buf_adds(b, Q);
        break;
    case V_BOOL: g4_buf_adds(b, a.b ? "true" : "false"); break;
    case V_OBJ: ok = format_mapping(c, b, a, esc); break;
    case V_ARR:
        g4_buf_addc(b, '[');
        for (size_t i = 0; ok && i < g4_json_len(a.j); i++) {
            if (i) g4_buf_addc(b, ',');
            ok = format_argument(c, b, vj(c, g4_json_at(a.j, i)), esc);
        }
        g4_buf_addc(b, ']');
        break;
    default: ok = print(c, b, a); break;
    }
    c->depth--;
    return ok;
}

/* `for item in v`: <|"|>item<|"|> joined by ',' (the required lists). */
static bool quoted_list(rctx *c, g4_buf *b, val v) {
    iter it;
    TRY(iter_begin(c, v, &it));
    bool ok = true;
    for (size_t i = 0; ok && i < it.n; i++) {
        g4_buf_adds(b, Q);
        ok = print(c, b, iter_get(c, &it, i));
        g4_buf_adds(b, Q);
        if (i + 1 < it.n) g4_buf_addc(b, ',');
    }
    iter_end(&it);
    return ok;
}

static bool format_parameters(rctx *c, g4_buf *b, val props, bool filter_keys);

/* The `items:{...}` block of an ARRAY property. */
static bool format_items(rctx *c, g4_buf *b, val items) {
    size_t *ord;
    TRY(dictsort(c, items, &ord));
    bool ok = true, found_first = false;
    for (size_t i = 0; ok && i < g4_json_len(items.j); i++) {
        size_t kn;
        const char *k = g4_json_key_at(items.j, ord[i], &kn);
        val iv = vj(c, g4_json_value_at(items.j, ord[i]));
        val ik = v_str(k, kn);
        if (iv.k == V_NULL) continue;
        if (found_first) g4_buf_addc(b, ',');
        found_first = true;
        if (is_lit(ik, "properties")) {
            g4_buf_adds(b, "properties:{");
            if (iv.k == V_OBJ) ok = format_parameters(c, b, iv, false);
            g4_buf_addc(b, '}');
        } else if (is_lit(ik, "required")) {
            g4_buf_adds(b, "required:[");
            ok = quoted_list(c, b, iv);
            g4_buf_addc(b, ']');
        } else if (is_lit(ik, "type")) {
            if (iv.k == V_STR) {
                val up;
                ok = upper_v(c, iv, &up);
                g4_buf_adds(b, "type:");
                ok = ok && format_argument(c, b, up, true);
            } else if (iv.k == V_ARR) {
                ok = fail(c, "`map` expressions without `attribute` set are not currently supported.");
            } else if (iv.k == V_OBJ) {
                ok = fail(c, "Unknown ObjectValue filter: map");
            } else
                ok = fail(c, "Cannot apply filter \"map\" to type: %s", vtype(iv));
        } else {
            g4_buf_add(b, k, kn);
            g4_buf_addc(b, ':');
            ok = format_argument(c, b, iv, true);
        }
    }
    free(ord);
    return ok;
}

/* One property `key:{description,enum|items,nullable,properties,required,type}`. */
static bool format_property(rctx *c, g4_buf *b, val key, val value) {
    bool add_comma = false;
    g4_buf_add(b, key.s, key.n);
    g4_buf_adds(b, ":{");
    val d = member(c, value, "description");
    if (truthy(d)) {
        g4_buf_adds(b, "description:" Q);
        TRY(print(c, b, d));
        g4_buf_adds(b, Q);
        add_comma = true;
    }
    val type;
    TRY(upper_v(c, member(c, value, "type"), &type));
    if (is_lit(type, "STRING")) {
        val en = member(c, value, "enum");
        if (truthy(en)) {
            comma(b, &add_comma);
            g4_buf_adds(b, "enum:");
            TRY(format_argument(c, b, en, true));
        }
    } else if (is_lit(type, "ARRAY")) {
        val items = member(c, value, "items");
        if (items.k == V_OBJ && truthy(items)) {
            comma(b, &add_comma);
            g4_buf_adds(b, "items:{");
            TRY(format_items(c, b, items));
            g4_buf_addc(b, '}');
        }
    }
    if (truthy(member(c, value, "nullable"))) {
        comma(b, &add_comma);
        g4_buf_adds(b, "nullable:true");
    }
    if (is_lit(type, "OBJECT")) {
        val vp = member(c, value, "properties");
        if (vp.k == V_OBJ) {
            comma(b, &add_comma);
            g4_buf_adds(b, "properties:{");
            TRY(format_parameters(c, b, vp, false));
            g4_buf_addc(b, '}');
        } else if (value.k == V_OBJ) {
            comma(b, &add_comma);
            g4_buf_adds(b, "properties:{");
            TRY(format_parameters(c, b, value, true));
            g4_buf_addc(b, '}');
        }
        val vr = member(c, value, "required");
        if (truthy(vr)) {
            comma(b, &add_comma);
            g4_buf_adds(b, "required:[");
            TRY(quoted_list(c, b, vr));
            g4_buf_addc(b, ']');
        }
    }
    comma(b, &add_comma);
    g4_buf_adds(b, "type:" Q);
    g4_buf_add(b, type.s, type.n);
    g4_buf_adds(b, Q "}");
    return true;
}

static bool format_parameters(rctx *c, g4_buf *b, val props, bool filter_keys) {
    static const char *const standard_keys[] = {"description", "type", "properties", "required", "nullable"};
    if (++c->depth > MAX_NEST) return too_deep(c);
    size_t *ord;
    if (!dictsort(c, props, &ord)) return false;
    bool ok = true, found_first = false;
    for (size_t i = 0; ok && i < g4_json_len(props.j); i++) {
        size_t kn;
        const char *k = g4_json_key_at(props.j, ord[i], &kn);
        val key = v_str(k, kn);
        bool std = false;
        for (size_t s = 0; s < N_OF(standard_keys); s++) std = std || is_lit(key, standard_keys[s]);
        if (filter_keys && std) continue;
        if (found_first) g4_buf_addc(b, ',');
        found_first = true;
        ok = format_property(c, b, key, vj(c, g4_json_value_at(props.j, ord[i])));
    }
    free(ord);
    c->depth--;
    return ok;
}

static bool format_function_declaration(rctx *c, g4_buf *b, val tool) {
    val fn = member(c, tool, "function");
    g4_buf_adds(b, "declaration:");
    TRY(print(c, b, member(c, fn, "name")));
    g4_buf_adds(b, "{description:" Q);
    TRY(print(c, b, member(c, fn, "description")));
    g4_buf_adds(b, Q);
    val params = member(c, fn, "parameters");
    if (truthy(params)) {
        g4_buf_adds(b, ",parameters:{");
        val props = member(c, params, "properties");
        if (truthy(props)) {
            g4_buf_adds(b, "properties:{");
            TRY(format_parameters(c, b, props, false));
            g4_buf_adds(b, "},");
        }
        val req = member(c, params, "required");
        if (truthy(req)) {
            g4_buf_adds(b, "required:[");
            TRY(quoted_list(c, b, req));
            g4_buf_adds(b, "],");
        }
        val type = member(c, params, "type");
        if (truthy(type)) {
            val up;
            TRY(upper_v(c, type, &up));
            g4_buf_adds(b, "type:" Q);
            g4_buf_add(b, up.s, up.n);
            g4_buf_adds(b, Q "}");
        }
    }
    bool has_response = false;
    TRY(lit_in(c, "response", fn, &has_response));
    if (has_response) {
        val rd = member(c, fn, "response");
        g4_buf_adds(b, ",response:{");
        val d = member(c, rd, "description");
        if (truthy(d)) {
            g4_buf_adds(b, "description:" Q);
            TRY(print(c, b, d));
            g4_buf_adds(b, Q ",");
        }
        val type;
        TRY(upper_v(c, member(c, rd, "type"), &type));
        if (is_lit(type, "OBJECT")) g4_buf_adds(b, "type:" Q "OBJECT" Q "}");
    }
    g4_buf_addc(b, '}');
    return true;
}

/* strip_thinking(text): drop every <|channel>...<channel|> span, then trim. */
static bool strip_thinking(rctx *c, g4_buf *b, val text) {
    static const char open[] = "<|channel>", close[] = "<channel|>";
    if (text.k != V_STR) {
        val f = member(c, text, "split");
        return fail(c, "Cannot call something that is not a function: got %s (%s.split)", vtype(f),
                    vtype(text));
    }
    g4_buf r = G4_BUF_INIT;
    const char *p = text.s, *end = text.s + text.n;
    for (;;) {
        const char *sep = memmem(p, (size_t)(end - p), close, sizeof close - 1);
        const char *part_end = sep ? sep : end;
        const char *o = memmem(p, (size_t)(part_end - p), open, sizeof open - 1);
        g4_buf_add(&r, p, (size_t)((o ? o : part_end) - p));
        if (!sep) break;
        p = sep + sizeof close - 1;
    }
    bool ok = buf_ok(c, &r);
    if (ok) g4_chat_js_trim(g4_buf_str(&r), r.n, b);
    g4_buf_free(&r);
    return ok;
}

static bool format_tool_response_block(rctx *c, g4_buf *b, val name, val response) {
    g4_buf_adds(b, "<|tool_response>response:");
    TRY(concat(c, b, name));
    if (response.k == V_OBJ) {
        size_t *ord;
        TRY(dictsort(c, response, &ord));
        bool ok = true;
        g4_buf_addc(b, '{');
        for (size_t i = 0; ok && i < g4_json_len(response.j); i++) {
            size_t kn;
            const char *k = g4_json_key_at(response.j, ord[i], &kn);
            g4_buf_add(b, k, kn);
            g4_buf_addc(b, ':');
            ok = format_argument(c, b, vj(c, g4_json_value_at(response.j, ord[i])), false);
            if (i + 1 < g4_json_len(response.j)) g4_buf_addc(b, ',');
        }
        free(ord);
        TRY(ok);
        g4_buf_addc(b, '}');
    } else {
        g4_buf_adds(b, "{value:");
        TRY(format_argument(c, b, response, false));
        g4_buf_addc(b, '}');
    }
    g4_buf_adds(b, "<tool_response|>");
    return true;
}

/* ======================================================= the template */

typedef enum { PT_NONE, PT_THINK, PT_TOOL, PT_TOOL_CALL, PT_TOOL_RESPONSE } prev_type;

static const char *const image_types[] = {"image", "image_url"};
static const char *const audio_types[] = {"audio", "input_audio"};

/* <|image|> / <|audio|> / <|video|> for a content part of type ty. */
static bool media_placeholder(rctx *c, g4_buf *b, val ty) {
    bool hit;
    TRY(in_list(c, ty, image_types, 2, &hit));
    if (hit) {
        g4_buf_adds(b, "<|image|>");
        return true;
    }
    TRY(in_list(c, ty, audio_types, 2, &hit));
    if (hit) {
        g4_buf_adds(b, "<|audio|>");
        return true;
    }
    TRY(eq_lit(c, ty, "video", &hit));
    if (hit) g4_buf_adds(b, "<|video|>");
    return true;
}

/* The system turn: <|think|>, the first system/developer message, tool declarations. */
static bool render_system(rctx *c, g4_buf *b, val m0, bool sys_first, val tools, prev_type *prev) {
    g4_buf_adds(b, "<|turn>system\n");
    if (c->o->enable_thinking) {
        g4_buf_adds(b, "<|think|>\n");
        *prev = PT_THINK;
    }
    if (sys_first) {
        c->msg = 0;
        val content = member(c, m0, "content");
        if (content.k == V_STR) {
            val t;
            TRY(trim_v(c, content, &t));
            g4_buf_add(b, t.s, t.n);
        } else if (content.k == V_ARR || content.k == V_OBJ) {
            iter it;
            TRY(iter_begin(c, content, &it));
            bool ok = true;
            for (size_t i = 0; ok && i < it.n; i++) {
                val t;
                ok = trim_v(c, member(c, iter_get(c, &it, i), "text"), &t);
                if (ok) {
                    g4_buf_add(b, t.s, t.n);
                    g4_buf_addc(b, ' ');
                }
            }
            iter_end(&it);
            TRY(ok);
        }
        c->msg = -1;
    }
    if (truthy(tools)) {
        iter it;
        TRY(iter_begin(c, tools, &it));
        bool ok = true;
        for (size_t i = 0; ok && i < it.n; i++) {
            c->tool = (long)i;
            g4_buf_adds(b, "<|tool>");
            /* the declaration starts with "declaration:" and ends with "}", so the
             * template's `| trim` never changes it */
            ok = format_function_declaration(c, b, iter_get(c, &it, i));
            g4_buf_adds(b, "<tool|>");
        }
        c->tool = -1;
        iter_end(&it);
        TRY(ok);
        *prev = PT_TOOL;
    }
    g4_buf_adds(b, "<turn|>\n");
    return true;
}

typedef struct {
    const g4_json *arr; /* messages */
    size_t off, n;      /* loop_messages = messages[off:], n of them */
} msg_list;

static val lm_at(const rctx *c, const msg_list *l, size_t i) { return vj(c, g4_json_at(l->arr, l->off + i)); }

/* The template names a tool result after the *last* call whose id == tool_call_id,
 * scanning all calls for every result. With many parallel calls that is quadratic, so
 * from ID_INDEX_MIN calls on, and when every id is a string or null/absent (where ==
 * is plain equality), the calls are indexed by id once instead. */
#define ID_INDEX_MIN 32

typedef struct {
    bool built, usable;
    const g4_json *calls;
    size_t *order;  /* call indices with string ids, sorted by (id, index) */
    size_t n_str;
    long last_null; /* last call whose id is null or absent, -1 if none */
} id_index;

static const char *call_id(const g4_json *calls, size_t t, size_t *n) {
    return g4_json_get_str(g4_json_at(calls, t), "id", n);
}

/* By id, then by index: a total order, so any sort gives the same result. */
static int id_cmp(const void *ctx, size_t a, size_t b) {
    const g4_json *calls = ctx;
    size_t na, nb;
    const char *sa = call_id(calls, a, &na), *sb = call_id(calls, b, &nb);
    int r = memcmp(sa, sb, na < nb ? na : nb);
    if (r == 0) r = na < nb ? -1 : na > nb;
    return r ? r : a < b ? -1 : a > b;
}

/* Builds the index; usable stays false when some call is not a plain object or has
 * an id of another type (the scan then runs as written, with its errors). */
static bool id_index_build(rctx *c, id_index *x, val tcs) {
    x->built = true;
    if (tcs.k != V_ARR || g4_json_len(tcs.j) < ID_INDEX_MIN) return true;
    size_t n = g4_json_len(tcs.j);
    x->calls = tcs.j;
    x->last_null = -1;
    for (size_t t = 0; t < n; t++) {
        const g4_json *tc = g4_json_at(tcs.j, t);
        if (!g4_json_is_object(tc) || g4_json_get(tc, "get")) return true;
        const g4_json *id = g4_json_get(tc, "id");
        if (id && !g4_json_is_null(id) && !g4_json_is_string(id)) return true;
    }
    x->order = malloc(2 * n * sizeof *x->order);
    if (!x->order) return nomem(c);
    for (size_t t = 0; t < n; t++) {
        const g4_json *id = g4_json_get(g4_json_at(tcs.j, t), "id");
        if (g4_json_is_string(id)) x->order[x->n_str++] = t;
        else x->last_null = (long)t;
    }
    msort_idx(x->order, x->order + n, x->n_str, id_cmp, tcs.j);
    x->usable = true;
    return true;
}

/* The last call whose id equals tcid (a string, or null/undefined), -1 if none. */
static long id_index_find(const id_index *x, val tcid) {
    if (tcid.k != V_STR) return x->last_null;
    size_t lo = 0, hi = x->n_str; /* first entry with id > tcid */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2, n;
        const char *s = call_id(x->calls, x->order[mid], &n);
        int r = memcmp(s, tcid.s, n < tcid.n ? n : tcid.n);
        if (r == 0) r = n < tcid.n ? -1 : n > tcid.n;
        if (r <= 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return -1;
    size_t n;
    const char *s = call_id(x->calls, x->order[lo - 1], &n);
    return n == tcid.n && memcmp(s, tcid.s, n) == 0 ? (long)x->order[lo - 1] : -1;
}

/* name = the `name` of the last call whose id == follow.tool_call_id, else unchanged. */
static bool resolve_tool_name(rctx *c, id_index *x, val tcs, val follow, val *name) {
    if (!x->built) TRY(id_index_build(c, x, tcs));
    val tcid;
    if (x->usable) {
        TRY(call_get(c, follow, "tool_call_id", &tcid));
        if (tcid.k == V_STR || tcid.k == V_NULL || tcid.k == V_UNDEF) {
            long t = id_index_find(x, tcid);
            if (t >= 0) *name = member(c, member(c, vj(c, g4_json_at(tcs.j, (size_t)t)), "function"), "name");
            return true;
        }
    }
    iter it;
    TRY(iter_begin(c, tcs, &it));
    bool ok = true;
    for (size_t t = 0; ok && t < it.n; t++) {
        val tc = iter_get(c, &it, t), id;
        bool same = false;
        ok = call_get(c, tc, "id", &id) && call_get(c, follow, "tool_call_id", &tcid) && loose_eq(c, id, tcid, &same);
        if (ok && same) *name = member(c, member(c, tc, "function"), "name");
    }
    iter_end(&it);
    return ok;
}

/* One tool message (loop_messages[k]) answering the calls tcs. */
static bool render_tool_result(rctx *c, g4_buf *b, val follow, val tcs, id_index *x) {
    val name;
    TRY(call_get(c, follow, "name", &name));
    if (!truthy(name)) name = v_cstr("unknown");
    TRY(resolve_tool_name(c, x, tcs, follow, &name));
    val body;
    TRY(call_get(c, follow, "content", &body));
    if (body.k != V_ARR && body.k != V_OBJ) return format_tool_response_block(c, b, name, body);
    /* content parts: the text parts joined into one response, then the media */
    iter it;
    TRY(iter_begin(c, body, &it));
    g4_buf txt = G4_BUF_INIT;
    bool ok = true;
    for (size_t p = 0; ok && p < it.n; p++) {
        val part = iter_get(c, &it, p), ty, t;
        bool is_text = false;
        ok = call_get(c, part, "type", &ty) && eq_lit(c, ty, "text", &is_text);
        if (ok && is_text) ok = call_get(c, part, "text", &t) && concat(c, &txt, t);
    }
    val s;
    ok = ok && buf_ok(c, &txt) && keep(c, g4_buf_str(&txt), txt.n, &s);
    g4_buf_free(&txt);
    ok = ok && format_tool_response_block(c, b, name, s);
    for (size_t p = 0; ok && p < it.n; p++) {
        val ty;
        ok = call_get(c, iter_get(c, &it, p), "type", &ty) && media_placeholder(c, b, ty);
    }
    iter_end(&it);
    return ok;
}

/* The tool messages following an assistant message with tool_calls (OpenAI layout). */
static bool render_tool_results(rctx *c, g4_buf *b, const msg_list *l, size_t i, val tcs, bool *tr_flag,
                                prev_type *prev) {
    id_index x = {0};
    bool ok = true;
    for (size_t k = i + 1; ok && k < l->n; k++) {
        val follow = lm_at(c, l, k);
        bool is_tool = false;
        ok = eq_lit(c, member(c, follow, "role"), "tool", &is_tool);
        if (!ok || !is_tool) break; /* the template's scan stops at the first non-tool message */
        c->msg = (long)(l->off + k);
        ok = render_tool_result(c, b, follow, tcs, &x);
        *tr_flag = true;
        *prev = PT_TOOL_RESPONSE;
    }
    free(x.order);
    return ok;
}

static const char raise_arguments_msg[] =
    "chat_template: tool_calls[].function.arguments must be a JSON object (mapping), not a string. "
    "Deserialize arguments before passing to the template.";

static bool render_tool_calls(rctx *c, g4_buf *b, val tcs) {
    iter it;
    TRY(iter_begin(c, tcs, &it));
    bool ok = true;
    for (size_t t = 0; ok && t < it.n; t++) {
        val fn = member(c, iter_get(c, &it, t), "function");
        g4_buf_adds(b, "<|tool_call>call:");
        ok = concat(c, b, member(c, fn, "name"));
        g4_buf_addc(b, '{');
        val args = member(c, fn, "arguments");
        if (ok && args.k == V_OBJ) {
            size_t *ord = NULL;
            ok = dictsort(c, args, &ord);
            for (size_t i = 0; ok && i < g4_json_len(args.j); i++) {
                size_t kn;
                const char *k = g4_json_key_at(args.j, ord[i], &kn);
                if (i) g4_buf_addc(b, ',');
                g4_buf_add(b, k, kn);
                g4_buf_addc(b, ':');
                ok = format_argument(c, b, vj(c, g4_json_value_at(args.j, ord[i])), false);
            }
            free(ord);
        } else if (ok && args.k != V_NULL)
            ok = fail(c, "%s", raise_arguments_msg);
        g4_buf_adds(b, "}<tool_call|>");
    }
    iter_end(&it);
    return ok;
}

/* The message's content: text (trimmed; thinking stripped for the model) and media. */
static bool render_content(rctx *c, g4_buf *cap, val msg, bool is_model) {
    val content;
    TRY(call_get(c, msg, "content", &content));
    if (content.k == V_STR) {
        if (is_model) return strip_thinking(c, cap, content);
        val t;
        TRY(trim_v(c, content, &t));
        g4_buf_add(cap, t.s, t.n);
        return true;
    }
    if (content.k != V_ARR && content.k != V_OBJ) return true;
    iter it;
    TRY(iter_begin(c, member(c, msg, "content"), &it));
    bool ok = true;
    for (size_t i = 0; ok && i < it.n; i++) {
        val item = iter_get(c, &it, i), ty, t;
        bool is_text = false;
        ok = call_get(c, item, "type", &ty) && eq_lit(c, ty, "text", &is_text);
        if (!ok) break;
        if (is_text) {
            val text = member(c, item, "text");
            if (is_model) ok = strip_thinking(c, cap, text);
            else if ((ok = trim_v(c, text, &t))) g4_buf_add(cap, t.s, t.n);
        } else
            ok = media_placeholder(c, cap, ty);
    }
    iter_end(&it);
    return ok;
}

typedef struct {
    prev_type prev;
    val prev_non_tool_role;
    long last_user;
} loop_state;

static bool render_message(rctx *c, g4_buf *b, const msg_list *l, size_t i, loop_state *st) {
    val msg = lm_at(c, l, i);
    val role_raw = member(c, msg, "role");
    bool flag;
    st->prev = PT_NONE;
    TRY(eq_lit(c, role_raw, "assistant", &flag));
    val role = flag ? v_cstr("model") : role_raw;
    bool is_model, prev_asst = false;
    TRY(eq_lit(c, role, "model", &is_model));
    if (is_model) TRY(eq_lit(c, st->prev_non_tool_role, "assistant", &prev_asst));
    if (!(is_model && prev_asst)) {
        g4_buf_adds(b, "<|turn>");
        TRY(concat(c, b, role));
        g4_buf_addc(b, '\n');
    }

    val thinking, tcs;
    TRY(call_get(c, msg, "reasoning", &thinking));
    if (!truthy(thinking)) TRY(call_get(c, msg, "reasoning_content", &thinking));
    TRY(call_get(c, msg, "tool_calls", &tcs));
    bool gate = (long)i > st->last_user || (c->o->preserve_thinking && truthy(tcs));
    if (truthy(thinking) && gate) {
        g4_buf_adds(b, "<|channel>thought\n");
        TRY(concat(c, b, thinking));
        g4_buf_adds(b, "\n<channel|>");
    }

    if (truthy(tcs)) {
        TRY(render_tool_calls(c, b, tcs));
        st->prev = PT_TOOL_CALL;
    }

    bool tr_flag = false;
    val trs;
    TRY(call_get(c, msg, "tool_responses", &trs));
    if (truthy(trs)) { /* legacy: responses embedded in the assistant message */
        iter it;
        TRY(iter_begin(c, trs, &it));
        bool ok = true;
        for (size_t t = 0; ok && t < it.n; t++) {
            val tr = iter_get(c, &it, t);
            val name = member(c, tr, "name");
            if (!truthy(name)) name = v_cstr("unknown");
            ok = format_tool_response_block(c, b, name, member(c, tr, "response"));
            tr_flag = true;
            st->prev = PT_TOOL_RESPONSE;
        }
        iter_end(&it);
        TRY(ok);
    } else if (truthy(tcs)) {
        TRY(render_tool_results(c, b, l, i, tcs, &tr_flag, &st->prev));
        c->msg = (long)(l->off + i);
    }

    g4_buf cap = G4_BUF_INIT;
    bool ok = render_content(c, &cap, msg, is_model) && buf_ok(c, &cap);
    size_t tb = 0, te = 0;
    if (ok) {
        g4_buf_add(b, cap.p, cap.n);
        g4_chat_js_trim_span(g4_buf_str(&cap), cap.n, &tb, &te);
    }
    g4_buf_free(&cap);
    TRY(ok);
    bool has_content = te > tb;

    /* the next non-tool message decides whether the model turn continues */
    val next_role = v_null();
    bool found = false;
    for (size_t k = i + 1; k < l->n && !found; k++) {
        val r = member(c, lm_at(c, l, k), "role");
        bool is_tool;
        TRY(eq_lit(c, r, "tool", &is_tool));
        if (!is_tool) next_role = r, found = true;
    }
    bool next_asst = false;
    if (is_model) TRY(eq_lit(c, next_role, "assistant", &next_asst));
    bool continues = is_model && next_asst && (!truthy(tcs) || tr_flag);

    if (st->prev == PT_TOOL_CALL && !tr_flag) g4_buf_adds(b, "<|tool_response>");
    else if (continues) {
    } else if (!(tr_flag && !has_content && !found))
        g4_buf_adds(b, "<turn|>\n");
    st->prev_non_tool_role = role_raw;
    return true;
}

static bool render(rctx *c, const g4_json *messages, const g4_json *tools, g4_buf *b) {
    const g4_chat_opts *o = c->o;
    size_t n = g4_json_len(messages);
    val m0 = n ? vj(c, g4_json_at(messages, 0)) : v_undef();
    val tv = tools ? vj(c, tools) : v_undef();
    static const char *const sys_roles[] = {"system", "developer"};
    bool sys_first = false;
    if (n) {
        c->msg = 0;
        TRY(in_list(c, member(c, m0, "role"), sys_roles, 2, &sys_first));
        c->msg = -1;
    }
    loop_state st = {PT_NONE, v_null(), -1};
    g4_buf_adds(b, o->bos_token ? o->bos_token : "<bos>");
    if (o->enable_thinking || truthy(tv) || sys_first) TRY(render_system(c, b, m0, sys_first, tv, &st.prev));

    msg_list l = {messages, sys_first ? 1u : 0u, sys_first ? n - 1 : n};
    for (size_t i = 0; i < l.n; i++) {
        bool is_user;
        c->msg = (long)(l.off + i);
        TRY(eq_lit(c, member(c, lm_at(c, &l, i), "role"), "user", &is_user));
        if (is_user) st.last_user = (long)i;
    }
    for (size_t i = 0; i < l.n; i++) {
        bool is_tool;
        c->msg = (long)(l.off + i);
        TRY(eq_lit(c, member(c, lm_at(c, &l, i), "role"), "tool", &is_tool));
        if (!is_tool) TRY(render_message(c, b, &l, i, &st));
    }
    c->msg = -1;

    if (o->add_generation_prompt) {
        if (st.prev != PT_TOOL_RESPONSE && st.prev != PT_TOOL_CALL) {
            g4_buf_adds(b, "<|turn>model\n");
            if (o->large_layout && !o->enable_thinking) g4_buf_adds(b, "<|channel>thought\n<channel|>");
        } else if (st.prev == PT_TOOL_RESPONSE && o->enable_thinking)
            g4_buf_adds(b, "<|channel>thought\n");
    }
    return buf_ok(c, b);
}

/* ======================================================= arguments pre-pass */

static int sub_cmp(const void *a, const void *b) {
    uintptr_t x = ((const arg_sub *)a)->str, y = ((const arg_sub *)b)->str;
    return x < y ? -1 : x > y;
}

static bool json_ws_only(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return false;
    return true;
}

/* OpenAI clients send tool_calls[].function.arguments as a JSON string; the template
 * needs a mapping. Parse every such string up front (so a bad one is an error even
 * where the template would never reach it, exactly like the reference script). */
static bool parse_arguments(rctx *c, const g4_json *messages) {
    size_t cap = 0;
    for (size_t i = 0; i < g4_json_len(messages); i++) {
        const g4_json *tcs = g4_json_get(g4_json_at(messages, i), "tool_calls");
        if (!g4_json_is_array(tcs)) continue;
        for (size_t t = 0; t < g4_json_len(tcs); t++) {
            const g4_json *fn = g4_json_get(g4_json_at(tcs, t), "function");
            const g4_json *args = g4_json_is_object(fn) ? g4_json_get(fn, "arguments") : NULL;
            if (!g4_json_is_string(args)) continue;
            size_t n;
            const char *s = g4_json_string(args, &n);
            g4_json *obj = NULL;
            if (json_ws_only(s, n)) {
                if (!(obj = g4_json_new_object())) return nomem(c);
            } else {
                g4_error perr = {0};
                g4_status pst = g4_json_parse(s, n, &obj, &perr);
                if (pst == G4_ERR_NOMEM) return nomem(c);
                if (pst != G4_OK)
                    return fail(c, "messages[%zu].tool_calls[%zu].function.arguments is not valid JSON (%s)", i,
                                t, perr.msg);
                if (!g4_json_is_object(obj)) {
                    const char *tn = g4_json_type_name(g4_json_type_of(obj));
                    g4_json_free(obj);
                    return fail(c, "messages[%zu].tool_calls[%zu].function.arguments must encode a JSON object, "
                                   "got %s", i, t, tn);
                }
            }
            if (c->n_subs == cap) {
                size_t nc = cap ? cap * 2 : 8;
                arg_sub *ns = realloc(c->subs, nc * sizeof *ns);
                if (!ns) {
                    g4_json_free(obj);
                    return nomem(c);
                }
                c->subs = ns, cap = nc;
            }
            c->subs[c->n_subs++] = (arg_sub){(uintptr_t)args, obj};
        }
    }
    if (c->n_subs > 1) qsort(c->subs, c->n_subs, sizeof *c->subs, sub_cmp);
    return true;
}

g4_status g4_chat_render(const g4_json *messages, const g4_json *tools, const g4_chat_opts *o, g4_buf *out,
                         g4_error *err) {
    if (!o || !out) return g4_fail(err, G4_ERR_ARG, "chat template: NULL options or output");
    if (!g4_json_is_array(messages))
        return g4_fail(err, G4_ERR_ARG, "chat template: messages must be a JSON array, got %s",
                       messages ? g4_json_type_name(g4_json_type_of(messages)) : "nothing");
    rctx c = {.o = o, .err = err, .st = G4_OK, .msg = -1, .tool = -1};
    g4_buf b = G4_BUF_INIT;
    if (parse_arguments(&c, messages)) render(&c, messages, g4_json_is_null(tools) ? NULL : tools, &b);
    if (c.st == G4_OK) {
        g4_buf_add(out, b.p, b.n);
        if (!g4_buf_ok(out)) c.st = g4_fail(err, G4_ERR_NOMEM, "chat template: out of memory");
    }
    g4_buf_free(&b);
    for (size_t i = 0; i < c.n_subs; i++) g4_json_free(c.subs[i].obj);
    free(c.subs);
    while (c.arena) {
        arena_blk *nx = c.arena->next;
        free(c.arena);
        c.arena = nx;
    }
    return c.st;
}
