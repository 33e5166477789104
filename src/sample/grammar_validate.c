/* grammar_validate.c — g4_schema_validate: a JSON value against the JSON Schema subset the
 * grammars implement (docs/GRAMMAR.md). Standard semantics for every keyword it knows,
 * except oneOf, which counts as anyOf (the grammars cannot exclude the other branches);
 * keywords it does not know are ignored, as the grammar compiler ignores them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/status.h"
#include "sample/grammar_int.h"

#define MAX_VDEPTH 64

typedef struct {
    const g4_json *root;
    char path[256];
    size_t plen;
    int depth;
    g4_status st;
    g4_error *err;
} vctx;

static bool bad(vctx *c, const char *fmt, const char *arg) {
    if (c->st == G4_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, fmt, arg ? arg : "");
        c->st = g4_fail(c->err, G4_ERR_FORMAT, "%.*s: %s", (int)c->plen, c->path, msg);
    }
    return false;
}

static size_t path_push(vctx *c, const char *fmt, const char *s, size_t n, size_t idx) {
    size_t old = c->plen;
    char tmp[96];
    int k;
    if (s) k = snprintf(tmp, sizeof tmp, fmt, (int)(n > 60 ? 60 : n), s);
    else k = snprintf(tmp, sizeof tmp, fmt, idx);
    if (k > 0 && c->plen + (size_t)k < sizeof c->path) {
        memcpy(c->path + c->plen, tmp, (size_t)k);
        c->plen += (size_t)k;
    }
    return old;
}

static bool json_equal(const g4_json *a, const g4_json *b, int depth) {
    if (depth > G4_JSON_MAX_DEPTH) return false;
    g4_json_type ta = g4_json_type_of(a), tb = g4_json_type_of(b);
    if (ta != tb) return false;
    switch (ta) {
    case G4_JSON_NULL: return true;
    case G4_JSON_BOOL: return g4_json_bool(a) == g4_json_bool(b);
    case G4_JSON_NUMBER: return g4_json_number(a) == g4_json_number(b);
    case G4_JSON_STRING: {
        size_t na, nb;
        const char *sa = g4_json_string(a, &na), *sb = g4_json_string(b, &nb);
        return na == nb && memcmp(sa, sb, na) == 0;
    }
    case G4_JSON_ARRAY:
        if (g4_json_len(a) != g4_json_len(b)) return false;
        for (size_t i = 0; i < g4_json_len(a); i++)
            if (!json_equal(g4_json_at(a, i), g4_json_at(b, i), depth + 1)) return false;
        return true;
    case G4_JSON_OBJECT:
        if (g4_json_len(a) != g4_json_len(b)) return false;
        for (size_t i = 0; i < g4_json_len(a); i++) {
            size_t kn;
            const char *k = g4_json_key_at(a, i, &kn);
            const g4_json *o = g4_json_getn(b, k, kn);
            if (!o || !json_equal(g4_json_value_at(a, i), o, depth + 1)) return false;
        }
        return true;
    }
    return false;
}

static bool type_is(const g4_json *v, const char *t) {
    if (!strcmp(t, "null")) return g4_json_is_null(v);
    if (!strcmp(t, "boolean")) return g4_json_is_bool(v);
    if (!strcmp(t, "number")) return g4_json_is_number(v);
    if (!strcmp(t, "integer")) {
        double x = g4_json_number(v);
        return g4_json_is_number(v) && isfinite(x) && floor(x) == x;
    }
    if (!strcmp(t, "string")) return g4_json_is_string(v);
    if (!strcmp(t, "array")) return g4_json_is_array(v);
    if (!strcmp(t, "object")) return g4_json_is_object(v);
    return true; /* unknown type names constrain nothing */
}

static bool check(vctx *c, const g4_json *s, const g4_json *v);

static bool check_object(vctx *c, const g4_json *s, const g4_json *v) {
    const g4_json *props = g4_json_get(s, "properties"), *req = g4_json_get(s, "required");
    const g4_json *addl = g4_json_get(s, "additionalProperties");
    for (size_t i = 0; i < g4_json_len(req); i++) {
        size_t n;
        const char *k = g4_json_string(g4_json_at(req, i), &n);
        if (k && !g4_json_getn(v, k, n)) {
            char name[80];
            snprintf(name, sizeof name, "%.*s", (int)(n > 60 ? 60 : n), k);
            return bad(c, "missing required member \"%s\"", name);
        }
    }
    for (size_t i = 0; i < g4_json_len(v); i++) {
        size_t kn;
        const char *k = g4_json_key_at(v, i, &kn);
        const g4_json *ps = g4_json_is_object(props) ? g4_json_getn(props, k, kn) : NULL;
        size_t old = path_push(c, ".%.*s", k, kn, 0);
        bool ok = true;
        if (ps) ok = check(c, ps, g4_json_value_at(v, i));
        else if (g4_json_is_bool(addl) && !g4_json_bool(addl)) ok = bad(c, "member not allowed (additionalProperties: false)", NULL);
        else if (g4_json_is_object(addl)) ok = check(c, addl, g4_json_value_at(v, i));
        c->plen = old;
        if (!ok) return false;
    }
    return true;
}

static bool check_array(vctx *c, const g4_json *s, const g4_json *v) {
    const g4_json *prefix = g4_json_get(s, "prefixItems"), *items = g4_json_get(s, "items");
    if (!g4_json_is_array(prefix) && g4_json_is_array(items)) {
        prefix = items;
        items = g4_json_get(s, "additionalItems");
    }
    size_t n = g4_json_len(v), k = g4_json_is_array(prefix) ? g4_json_len(prefix) : 0;
    const g4_json *mn = g4_json_get(s, "minItems"), *mx = g4_json_get(s, "maxItems");
    if (g4_json_is_number(mn) && (double)n < g4_json_number(mn)) return bad(c, "fewer items than minItems%s", NULL);
    if (g4_json_is_number(mx) && (double)n > g4_json_number(mx)) return bad(c, "more items than maxItems%s", NULL);
    for (size_t i = 0; i < n; i++) {
        const g4_json *is = i < k ? g4_json_at(prefix, i) : items;
        if (!is) continue;
        size_t old = path_push(c, "[%zu]", NULL, 0, i);
        bool ok = check(c, is, g4_json_at(v, i));
        c->plen = old;
        if (!ok) return false;
    }
    return true;
}

static bool check_number(vctx *c, const g4_json *s, double x) {
    const g4_json *mn = g4_json_get(s, "minimum"), *mx = g4_json_get(s, "maximum");
    const g4_json *emn = g4_json_get(s, "exclusiveMinimum"), *emx = g4_json_get(s, "exclusiveMaximum");
    if (g4_json_is_number(mn)) {
        bool ex = g4_json_is_bool(emn) && g4_json_bool(emn);
        if (ex ? !(x > g4_json_number(mn)) : !(x >= g4_json_number(mn))) return bad(c, "below minimum%s", NULL);
    }
    if (g4_json_is_number(mx)) {
        bool ex = g4_json_is_bool(emx) && g4_json_bool(emx);
        if (ex ? !(x < g4_json_number(mx)) : !(x <= g4_json_number(mx))) return bad(c, "above maximum%s", NULL);
    }
    if (g4_json_is_number(emn) && !(x > g4_json_number(emn))) return bad(c, "not above exclusiveMinimum%s", NULL);
    if (g4_json_is_number(emx) && !(x < g4_json_number(emx))) return bad(c, "not below exclusiveMaximum%s", NULL);
    return true;
}

static bool check_body(vctx *c, const g4_json *s, const g4_json *v) {
    if (g4_json_is_bool(s)) return g4_json_bool(s) ? true : bad(c, "the schema is false%s", NULL);
    if (!g4_json_is_object(s)) return true;
    if (g4_json_bool(g4_json_get(s, "nullable")) && g4_json_is_null(v)) return true;
    size_t rn;
    const char *r = g4_json_get_str(s, "$ref", &rn);
    if (r) {
        const g4_json *t = g4_gram_resolve_ref(c->root, r, rn);
        if (!t) return bad(c, "$ref \"%s\" does not resolve", r);
        return check(c, t, v);
    }
    const g4_json *all = g4_json_get(s, "allOf");
    for (size_t i = 0; i < g4_json_len(all); i++)
        if (!check(c, g4_json_at(all, i), v)) return false;
    const g4_json *any = g4_json_get(s, "anyOf");
    if (!g4_json_is_array(any)) any = g4_json_get(s, "oneOf");
    if (g4_json_is_array(any)) {
        /* an alternative that recurses too deeply (left recursion) just does not match */
        bool ok = false, deep = false;
        for (size_t i = 0; i < g4_json_len(any) && !ok; i++) {
            vctx sub = *c;
            sub.st = G4_OK;
            sub.err = NULL;
            ok = check(&sub, g4_json_at(any, i), v);
            deep |= sub.st == G4_ERR_UNSUPPORTED;
        }
        if (!ok && deep) {
            c->st = g4_fail(c->err, G4_ERR_UNSUPPORTED, "schema validation: nesting deeper than %d", MAX_VDEPTH);
            return false;
        }
        if (!ok) return bad(c, "matches no anyOf/oneOf alternative%s", NULL);
    }
    const g4_json *cst = g4_json_get(s, "const");
    if (cst && !json_equal(cst, v, 0)) return bad(c, "not the const value%s", NULL);
    const g4_json *en = g4_json_get(s, "enum");
    if (g4_json_is_array(en)) {
        bool ok = false;
        for (size_t i = 0; i < g4_json_len(en) && !ok; i++) ok = json_equal(g4_json_at(en, i), v, 0);
        if (!ok) return bad(c, "not one of the enum values%s", NULL);
    }
    const g4_json *t = g4_json_get(s, "type");
    if (t) {
        bool ok = false;
        if (g4_json_is_string(t)) ok = type_is(v, g4_json_string(t, NULL));
        else if (g4_json_is_array(t)) {
            for (size_t i = 0; i < g4_json_len(t) && !ok; i++) {
                const char *name = g4_json_string(g4_json_at(t, i), NULL);
                ok = name && type_is(v, name);
            }
            if (g4_json_len(t) == 0) ok = true;
        } else {
            ok = true;
        }
        if (!ok) {
            char want[64] = "";
            if (g4_json_is_string(t)) snprintf(want, sizeof want, "%s", g4_json_string(t, NULL));
            else snprintf(want, sizeof want, "one of the listed types");
            return bad(c, "expected %s", want);
        }
    }
    if (g4_json_is_object(v)) return check_object(c, s, v);
    if (g4_json_is_array(v)) return check_array(c, s, v);
    if (g4_json_is_number(v)) return check_number(c, s, g4_json_number(v));
    if (g4_json_is_string(v)) {
        size_t n, cp = 0;
        const char *p = g4_json_string(v, &n);
        for (size_t i = 0; i < n; i++) cp += ((uint8_t)p[i] & 0xC0) != 0x80;
        const g4_json *mn = g4_json_get(s, "minLength"), *mx = g4_json_get(s, "maxLength");
        if (g4_json_is_number(mn) && (double)cp < g4_json_number(mn)) return bad(c, "shorter than minLength%s", NULL);
        if (g4_json_is_number(mx) && (double)cp > g4_json_number(mx)) return bad(c, "longer than maxLength%s", NULL);
    }
    return true;
}

static bool check(vctx *c, const g4_json *s, const g4_json *v) {
    if (c->st != G4_OK) return false;
    if (c->depth >= MAX_VDEPTH) {
        c->st = g4_fail(c->err, G4_ERR_UNSUPPORTED, "schema validation: nesting deeper than %d", MAX_VDEPTH);
        return false;
    }
    c->depth++;
    bool ok = check_body(c, s, v);
    c->depth--;
    return ok;
}

g4_status g4_schema_validate(const g4_json *schema, const g4_json *value, g4_error *err) {
    vctx c;
    memset(&c, 0, sizeof c);
    c.root = schema;
    c.err = err;
    c.path[0] = '$';
    c.plen = 1;
    if (!check(&c, schema, value) && c.st == G4_OK)
        c.st = g4_fail(err, G4_ERR_FORMAT, "schema validation failed");
    return c.st;
}
