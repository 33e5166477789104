/* oai.c — the OpenAI-compatible wire format (see oai.h, docs/API.md).
 *
 * Owns: request validation (every field, with OpenAI-style 400s naming the field),
 * normalisation of messages and tool schemas into what the Gemma 4 chat template
 * renders, and the exact bytes of every response body, stream chunk and error.
 * Leaves to others: HTTP (routes, limits, sockets), tokenizing, generation, output
 * parsing (src/chat/parse.c), grammar constraints for response_format. */
#include "server/oai.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/render.h"
#include "core/utf8.h"

/* ====================================================================================
 * UTF-8 and JSON output primitives
 * ==================================================================================== */

static bool utf8_valid(const char *s, size_t n) {
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = g4_utf8_decode(s + i, n - i, &cp);
        if (!k) return false;
        i += k;
    }
    return true;
}

void g4_oai_put_str(g4_buf *out, const char *s, size_t len) {
    if (!s) s = "", len = 0;
    if (utf8_valid(s, len)) {
        g4_buf_add_json_str(out, s, len);
        return;
    }
    /* Each byte that does not start a valid sequence becomes one U+FFFD. */
    g4_buf tmp = G4_BUF_INIT;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t k = g4_utf8_decode(s + i, len - i, &cp);
        if (k) {
            g4_buf_add(&tmp, s + i, k);
            i += k;
        } else {
            g4_buf_add(&tmp, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    if (tmp.oom) out->oom = true;
    else g4_buf_add_json_str(out, g4_buf_str(&tmp), tmp.n);
    g4_buf_free(&tmp);
}

static void put_cstr(g4_buf *o, const char *s) { g4_oai_put_str(o, s ? s : "", s ? strlen(s) : 0); }
static void put_i64(g4_buf *o, int64_t v) { g4_buf_printf(o, "%lld", (long long)v); }
static void put_key(g4_buf *o, const char *k) {
    g4_buf_addc(o, '"');
    g4_buf_adds(o, k);
    g4_buf_adds(o, "\":");
}

/* A float log-probability as the shortest decimal that reads back as the same float,
 * printed the way JSON.stringify prints that decimal. -inf / NaN -> -9999 (OpenAI's
 * value for "impossible"). */
static void put_logprob(g4_buf *o, float f) {
    if (!isfinite(f)) {
        g4_buf_adds(o, "-9999");
        return;
    }
    char tmp[48];
    double d = f;
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
        d = strtod(tmp, NULL);
        if ((float)d == f) break;
    }
    char js[32];
    g4_json_number_js(d, js);
    g4_buf_adds(o, js);
}

/* ====================================================================================
 * Errors
 * ==================================================================================== */

static void error_vset(g4_oai_error *e, int status, const char *type, const char *param,
                       const char *code, const char *fmt, va_list ap) {
    if (!e) return;
    memset(e, 0, sizeof *e);
    e->status = status;
    e->type = type ? type : "invalid_request_error";
    if (param) snprintf(e->param, sizeof e->param, "%s", param);
    if (code) snprintf(e->code, sizeof e->code, "%s", code);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
}

void g4_oai_error_set(g4_oai_error *e, int status, const char *type, const char *param,
                      const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_vset(e, status, type, param, code, fmt, ap);
    va_end(ap);
}

void g4_oai_error_invalid(g4_oai_error *e, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_vset(e, 400, "invalid_request_error", param, NULL, fmt, ap);
    va_end(ap);
}

void g4_oai_error_auth(g4_oai_error *e) {
    g4_oai_error_set(e, 401, "authentication_error", NULL, "invalid_api_key",
                     "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'.");
}

void g4_oai_error_not_found(g4_oai_error *e, const char *path) {
    g4_oai_error_set(e, 404, "not_found_error", NULL, "not_found", "Unknown request URL: %s",
                     path ? path : "");
}

void g4_oai_error_method(g4_oai_error *e, const char *method, const char *path) {
    g4_oai_error_set(e, 405, "invalid_request_error", NULL, "method_not_allowed",
                     "Method %s is not allowed for %s", method ? method : "", path ? path : "");
}

void g4_oai_error_too_large(g4_oai_error *e, size_t limit) {
    g4_oai_error_set(e, 413, "invalid_request_error", NULL, "request_too_large",
                     "The request body is larger than the server's limit of %zu bytes.", limit);
}

void g4_oai_error_unavailable(g4_oai_error *e, const char *reason) {
    g4_oai_error_set(e, 503, "unavailable_error", NULL, NULL, "%s", reason ? reason : "Server busy");
}

void g4_oai_error_server(g4_oai_error *e, const char *reason) {
    g4_oai_error_set(e, 500, "server_error", NULL, NULL, "%s", reason ? reason : "Internal error");
}

void g4_oai_error_context(g4_oai_error *e, bool chat, int n_prompt, int n_ctx) {
    long long k = (long long)n_prompt - n_ctx + 1;
    g4_oai_error_set(e, 400, "invalid_request_error", chat ? "messages" : "prompt",
                     "context_length_exceeded",
                     "This model's maximum context length is %d tokens. However, your %s "
                     "resulted in %d tokens (by %lld too many).",
                     n_ctx, chat ? "messages" : "prompt", n_prompt, k);
}

bool g4_oai_context_exceeded(bool chat, int n_prompt, int n_ctx, g4_oai_error *e) {
    if (n_prompt < n_ctx) return false;
    g4_oai_error_context(e, chat, n_prompt, n_ctx);
    return true;
}

static void put_error_obj(const g4_oai_error *e, g4_buf *out) {
    g4_buf_adds(out, "{\"error\":{\"message\":");
    put_cstr(out, e->message);
    g4_buf_adds(out, ",\"type\":");
    put_cstr(out, e->type ? e->type : "invalid_request_error");
    g4_buf_adds(out, ",\"param\":");
    if (e->param[0]) put_cstr(out, e->param);
    else g4_buf_adds(out, "null");
    g4_buf_adds(out, ",\"code\":");
    if (e->code[0]) put_cstr(out, e->code);
    else g4_buf_adds(out, "null");
    g4_buf_adds(out, "}}");
}

void g4_oai_error_json(const g4_oai_error *e, g4_buf *out) { put_error_obj(e, out); }

void g4_oai_error_sse(const g4_oai_error *e, g4_buf *out) {
    g4_buf_adds(out, "data: ");
    put_error_obj(e, out);
    g4_buf_adds(out, "\n\n");
}

static bool oom(g4_oai_error *err) {
    g4_oai_error_server(err, "out of memory");
    return false;
}

/* ====================================================================================
 * Typed field readers. Each returns 1 (set), 0 (absent or null) or -1 (*err filled).
 * ==================================================================================== */

enum { F_FAIL = -1, F_ABSENT = 0, F_SET = 1 };

static const char *a_type(const g4_json *v) {
    switch (g4_json_type_of(v)) {
    case G4_JSON_BOOL: return "a boolean";
    case G4_JSON_NUMBER: return "a number";
    case G4_JSON_STRING: return "a string";
    case G4_JSON_ARRAY: return "an array";
    case G4_JSON_OBJECT: return "an object";
    default: return "null";
    }
}

static int bad_type(g4_oai_error *err, const char *param, const char *want, const g4_json *v) {
    g4_oai_error_invalid(err, param, "Invalid type for '%s': expected %s, but got %s instead.",
                         param, want, a_type(v));
    return F_FAIL;
}

static int missing(g4_oai_error *err, const char *param) {
    g4_oai_error_invalid(err, param, "Missing required parameter: '%s'.", param);
    return F_FAIL;
}

/* An integral number (1, 1.0, 1e3) that fits in int64_t. */
static bool as_int(const g4_json *v, int64_t *out) {
    if (g4_json_int64(v, out)) return true;
    if (!g4_json_is_number(v)) return false;
    double d = g4_json_number(v);
    if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18) return false;
    *out = (int64_t)d;
    return true;
}

static int opt_bool(const g4_json *o, const char *key, const char *param, bool *out,
                    g4_oai_error *err) {
    const g4_json *v = g4_json_get(o, key);
    if (!v || g4_json_is_null(v)) return F_ABSENT;
    if (!g4_json_is_bool(v)) return bad_type(err, param ? param : key, "a boolean", v);
    *out = g4_json_bool(v);
    return F_SET;
}

static int opt_num(const g4_json *o, const char *key, const char *param, double *out,
                   g4_oai_error *err) {
    const g4_json *v = g4_json_get(o, key);
    if (!v || g4_json_is_null(v)) return F_ABSENT;
    param = param ? param : key;
    if (!g4_json_is_number(v)) return bad_type(err, param, "a number", v);
    double d = g4_json_number(v);
    if (!isfinite(d)) {
        g4_oai_error_invalid(err, param, "Invalid value for '%s': the number is out of range.", param);
        return F_FAIL;
    }
    *out = d;
    return F_SET;
}

static int opt_int(const g4_json *o, const char *key, const char *param, int64_t *out,
                   g4_oai_error *err) {
    const g4_json *v = g4_json_get(o, key);
    if (!v || g4_json_is_null(v)) return F_ABSENT;
    if (!as_int(v, out)) return bad_type(err, param ? param : key, "an integer", v);
    return F_SET;
}

static int opt_str(const g4_json *o, const char *key, const char *param, const char **s,
                   size_t *len, g4_oai_error *err) {
    const g4_json *v = g4_json_get(o, key);
    if (!v || g4_json_is_null(v)) return F_ABSENT;
    if (!g4_json_is_string(v)) return bad_type(err, param ? param : key, "a string", v);
    *s = g4_json_string(v, len);
    return F_SET;
}

static int range_err(g4_oai_error *err, const char *param, const char *what) {
    g4_oai_error_invalid(err, param, "Invalid value for '%s': %s.", param, what);
    return F_FAIL;
}

static bool str_eq(const char *s, size_t n, const char *lit) {
    return s && n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static char *dup_bytes(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static bool jset(g4_json *o, const char *k, g4_json *v, g4_oai_error *err) {
    return g4_json_set(o, k, v) || oom(err);
}

/* ====================================================================================
 * Messages
 * ==================================================================================== */

typedef struct {
    g4_oai_error *err;
    int n_images, n_audio;
} msgctx;

/* One content part -> a new part object; NULL with *err filled, or NULL with
 * *skip set for a part left out. */
static g4_json *norm_part(msgctx *c, const g4_json *part, const char *p, bool text_only, bool *skip) {
    char q[200];
    *skip = false;
    if (!g4_json_is_object(part)) return bad_type(c->err, p, "an object", part), NULL;
    const char *t;
    size_t tn;
    snprintf(q, sizeof q, "%s.type", p);
    int r = opt_str(part, "type", q, &t, &tn, c->err);
    if (r == F_ABSENT) missing(c->err, q);
    if (r != F_SET) return NULL;
    bool is_text = str_eq(t, tn, "text");
    if (str_eq(t, tn, "video") || str_eq(t, tn, "video_url") || str_eq(t, tn, "input_video")) {
        g4_oai_error_invalid(c->err, q, "Video input is not supported.");
        return NULL;
    }
    if (text_only && !is_text) {
        /* The template reads every part of the first system message as text, and media
         * cannot go in the system turn: other parts are left out. */
        *skip = true;
        return NULL;
    }
    g4_json *np = g4_json_new_object();
    if (!np || !g4_json_set(np, "type", g4_json_new_string(t, tn))) goto nomem;
    if (is_text) {
        const char *s;
        size_t sn;
        snprintf(q, sizeof q, "%s.text", p);
        r = opt_str(part, "text", q, &s, &sn, c->err);
        if (r == F_ABSENT) missing(c->err, q);
        if (r != F_SET) goto fail;
        if (!g4_json_set(np, "text", g4_json_new_string(s, sn))) goto nomem;
    } else if (str_eq(t, tn, "image_url")) {
        const g4_json *iu = g4_json_get(part, "image_url");
        snprintf(q, sizeof q, "%s.image_url", p);
        if (!iu) {
            missing(c->err, q);
            goto fail;
        }
        if (!g4_json_is_string(iu) && !g4_json_is_string(g4_json_get(iu, "url"))) {
            g4_oai_error_invalid(c->err, q, "Invalid '%s': expected an object with a string 'url'.", q);
            goto fail;
        }
        if (!g4_json_set(np, "image_url", g4_json_clone(iu))) goto nomem;
        c->n_images++;
    } else if (str_eq(t, tn, "input_audio")) {
        const g4_json *ia = g4_json_get(part, "input_audio");
        snprintf(q, sizeof q, "%s.input_audio", p);
        if (!ia) {
            missing(c->err, q);
            goto fail;
        }
        if (!g4_json_is_string(g4_json_get(ia, "data"))) {
            g4_oai_error_invalid(c->err, q, "Invalid '%s': expected an object with a string 'data'.", q);
            goto fail;
        }
        if (!g4_json_set(np, "input_audio", g4_json_clone(ia))) goto nomem;
        c->n_audio++;
    } else if (str_eq(t, tn, "image") || str_eq(t, tn, "audio")) {
        /* Hugging Face style parts: the payload stays under its own key. */
        const g4_json *pl = g4_json_get(part, t);
        if (pl && !g4_json_set(np, t, g4_json_clone(pl))) goto nomem;
        if (t[0] == 'i') c->n_images++;
        else c->n_audio++;
    }
    /* Other part types ("refusal", "file", ...) stay {type} and render as nothing, as
     * in the template. */
    return np;
nomem:
    oom(c->err);
fail:
    g4_json_free(np);
    return NULL;
}

static g4_json *norm_parts(msgctx *c, const g4_json *parts, const char *pm, bool text_only) {
    char p[160];
    g4_json *out = g4_json_new_array();
    if (!out) return oom(c->err), NULL;
    for (size_t j = 0; j < g4_json_len(parts); j++) {
        snprintf(p, sizeof p, "%s.content[%zu]", pm, j);
        bool skip;
        g4_json *np = norm_part(c, g4_json_at(parts, j), p, text_only, &skip);
        if (skip) continue;
        if (!np || !g4_json_append(out, np)) {
            if (np) oom(c->err);
            g4_json_free(out);
            return NULL;
        }
    }
    return out;
}

/* tool_calls[j].function.arguments: a JSON string (what OpenAI clients send) is parsed
 * here so that a bad one is a 400 naming it; the renderer takes the object. On failure
 * *out is NULL and *err is filled (400, or 500 when out of memory). */
static bool norm_arguments(const g4_json *a, const char *param, g4_json **out, g4_oai_error *err) {
    *out = NULL;
    if (!a || g4_json_is_null(a)) *out = g4_json_new_object();
    else if (g4_json_is_object(a)) *out = g4_json_clone(a);
    else if (!g4_json_is_string(a)) return bad_type(err, param, "a string", a), false;
    else {
        size_t n, i = 0;
        const char *s = g4_json_string(a, &n);
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        if (i == n) {
            *out = g4_json_new_object();
        } else {
            g4_error je = {0};
            g4_status st = g4_json_parse(s, n, out, &je);
            if (st == G4_ERR_NOMEM) return oom(err);
            if (st != G4_OK) {
                g4_oai_error_invalid(err, param, "Invalid '%s': not valid JSON (%s).", param, je.msg);
                return false;
            }
            if (!g4_json_is_object(*out)) {
                g4_oai_error_invalid(err, param, "Invalid '%s': must encode a JSON object, got %s.", param,
                                     a_type(*out));
                g4_json_free(*out);
                *out = NULL;
                return false;
            }
        }
    }
    return *out || oom(err);
}

static g4_json *norm_tool_call(const g4_json *tc, const char *p, g4_oai_error *err) {
    char q[220];
    if (!g4_json_is_object(tc)) return bad_type(err, p, "an object", tc), NULL;
    const char *s, *name, *id;
    size_t n, name_n, id_n;
    snprintf(q, sizeof q, "%s.type", p);
    int r = opt_str(tc, "type", q, &s, &n, err);
    if (r == F_FAIL) return NULL;
    if (r == F_SET && !str_eq(s, n, "function")) {
        g4_oai_error_invalid(err, q, "Invalid value for '%s': only 'function' is supported.", q);
        return NULL;
    }
    snprintf(q, sizeof q, "%s.id", p);
    int rid = opt_str(tc, "id", q, &id, &id_n, err);
    if (rid == F_FAIL) return NULL;
    const g4_json *fn = g4_json_get(tc, "function");
    snprintf(q, sizeof q, "%s.function", p);
    if (!fn || g4_json_is_null(fn)) return missing(err, q), NULL;
    if (!g4_json_is_object(fn)) return bad_type(err, q, "an object", fn), NULL;
    snprintf(q, sizeof q, "%s.function.name", p);
    r = opt_str(fn, "name", q, &name, &name_n, err);
    if (r == F_ABSENT) missing(err, q);
    if (r != F_SET) return NULL;
    if (name_n == 0) {
        g4_oai_error_invalid(err, q, "Invalid '%s': empty string.", q);
        return NULL;
    }
    snprintf(q, sizeof q, "%s.function.arguments", p);
    g4_json *args;
    if (!norm_arguments(g4_json_get(fn, "arguments"), q, &args, err)) return NULL;
    g4_json *ntc = g4_json_new_object(), *nfn = g4_json_new_object();
    if (!ntc || !nfn) {
        g4_json_free(ntc);
        g4_json_free(nfn);
        g4_json_free(args);
        return oom(err), NULL;
    }
    bool ok = g4_json_set(nfn, "name", g4_json_new_string(name, name_n));
    ok = g4_json_set(nfn, "arguments", args) && ok; /* takes args either way */
    ok = ok && (rid != F_SET || g4_json_set(ntc, "id", g4_json_new_string(id, id_n)));
    ok = ok && g4_json_set(ntc, "type", g4_json_new_cstr("function"));
    ok = g4_json_set(ntc, "function", nfn) && ok; /* takes nfn either way */
    if (!ok) {
        g4_json_free(ntc);
        return oom(err), NULL;
    }
    return ntc;
}

static g4_json *norm_tool_calls(const g4_json *tcs, const char *pm, g4_oai_error *err) {
    char p[160];
    g4_json *out = g4_json_new_array();
    if (!out) return oom(err), NULL;
    for (size_t j = 0; j < g4_json_len(tcs); j++) {
        snprintf(p, sizeof p, "%s.tool_calls[%zu]", pm, j);
        g4_json *tc = norm_tool_call(g4_json_at(tcs, j), p, err);
        if (!tc || !g4_json_append(out, tc)) {
            if (tc) oom(err);
            g4_json_free(out);
            return NULL;
        }
    }
    return out;
}

static const char *const ROLES[] = {"system", "developer", "user", "assistant", "tool", "function"};

static g4_json *norm_message(msgctx *c, const g4_json *m, size_t i) {
    g4_oai_error *err = c->err;
    char pm[48], q[96];
    snprintf(pm, sizeof pm, "messages[%zu]", i);
    if (!g4_json_is_object(m)) return bad_type(err, pm, "an object", m), NULL;

    const char *role;
    size_t rn;
    snprintf(q, sizeof q, "%s.role", pm);
    int r = opt_str(m, "role", q, &role, &rn, err);
    if (r == F_ABSENT) missing(err, q);
    if (r != F_SET) return NULL;
    size_t ri = 0;
    while (ri < sizeof ROLES / sizeof *ROLES && !str_eq(role, rn, ROLES[ri])) ri++;
    if (ri == sizeof ROLES / sizeof *ROLES) {
        g4_oai_error_invalid(err, q,
                             "Invalid value for '%s'. Supported values are: 'system', 'developer', "
                             "'user', 'assistant', 'tool', and 'function'.", q);
        return NULL;
    }
    /* developer is the newer name of system; function is the legacy tool result. */
    const char *nrole = ri == 1 ? "system" : ri == 5 ? "tool" : ROLES[ri];
    bool is_asst = ri == 3, is_tool = ri == 4 || ri == 5, is_sys = ri <= 1;

    g4_json *o = g4_json_new_object();
    if (!o) return oom(err), NULL;
    if (!jset(o, "role", g4_json_new_cstr(nrole), err)) goto fail;

    const g4_json *content = g4_json_get(m, "content");
    snprintf(q, sizeof q, "%s.content", pm);
    if (g4_json_is_string(content)) {
        if (!jset(o, "content", g4_json_clone(content), err)) goto fail;
    } else if (g4_json_is_array(content)) {
        bool text_only = i == 0 && is_sys;
        g4_json *parts = norm_parts(c, content, pm, text_only);
        if (!parts || !jset(o, "content", parts, err)) goto fail;
    } else if (content && !g4_json_is_null(content)) {
        bad_type(err, q, "a string, an array of content parts or null", content);
        goto fail;
    }

    const char *s;
    size_t n;
    snprintf(q, sizeof q, "%s.name", pm);
    r = opt_str(m, "name", q, &s, &n, err);
    if (r == F_FAIL || (r == F_SET && !jset(o, "name", g4_json_new_string(s, n), err))) goto fail;

    if (is_tool) {
        snprintf(q, sizeof q, "%s.tool_call_id", pm);
        r = opt_str(m, "tool_call_id", q, &s, &n, err);
        if (r == F_FAIL || (r == F_SET && !jset(o, "tool_call_id", g4_json_new_string(s, n), err)))
            goto fail;
    }
    if (is_asst) {
        /* The template shows `reasoning or reasoning_content`; both are accepted. */
        const char *rs = NULL, *rc = NULL;
        size_t rsn = 0, rcn = 0;
        snprintf(q, sizeof q, "%s.reasoning", pm);
        if (opt_str(m, "reasoning", q, &rs, &rsn, err) == F_FAIL) goto fail;
        snprintf(q, sizeof q, "%s.reasoning_content", pm);
        if (opt_str(m, "reasoning_content", q, &rc, &rcn, err) == F_FAIL) goto fail;
        if (rsn == 0) rs = rc, rsn = rcn;
        if (rsn && !jset(o, "reasoning_content", g4_json_new_string(rs, rsn), err)) goto fail;

        const g4_json *tcs = g4_json_get(m, "tool_calls");
        snprintf(q, sizeof q, "%s.tool_calls", pm);
        if (tcs && !g4_json_is_null(tcs) && !g4_json_is_array(tcs)) {
            bad_type(err, q, "an array", tcs);
            goto fail;
        }
        if (g4_json_len(tcs)) {
            g4_json *ntcs = norm_tool_calls(tcs, pm, err);
            if (!ntcs || !jset(o, "tool_calls", ntcs, err)) goto fail;
        }
    }
    return o;
fail:
    g4_json_free(o);
    return NULL;
}

static bool parse_messages(const g4_json *root, g4_oai_request *req, g4_oai_error *err) {
    const g4_json *msgs = g4_json_get(root, "messages");
    if (!msgs || g4_json_is_null(msgs)) return missing(err, "messages"), false;
    if (!g4_json_is_array(msgs)) return bad_type(err, "messages", "an array", msgs), false;
    if (g4_json_len(msgs) == 0) {
        g4_oai_error_invalid(err, "messages", "Invalid 'messages': empty array. Expected an array "
                                              "with at least one message.");
        return false;
    }
    msgctx c = {err, 0, 0};
    req->messages = g4_json_new_array();
    if (!req->messages) return oom(err);
    for (size_t i = 0; i < g4_json_len(msgs); i++) {
        g4_json *m = norm_message(&c, g4_json_at(msgs, i), i);
        if (!m) return false;
        if (!g4_json_append(req->messages, m)) return oom(err);
    }
    req->n_images = c.n_images;
    req->n_audio = c.n_audio;
    return true;
}

/* ====================================================================================
 * Tool schemas
 * ==================================================================================== */

#define MAX_LAYERS 16
#define MAX_REF_STACK 512

/* The normaliser writes JSON text and parses it once at the end: building the DOM with
 * g4_json_set would cost a linear key scan per member (quadratic for wide schemas). */
typedef struct {
    const g4_json *root; /* the schema $ref pointers resolve against */
    g4_buf *out;
    size_t nodes, max_nodes; /* schema nodes written (copied values included) */
    size_t max_bytes;        /* limit on out->n */
    const g4_json *stack[MAX_REF_STACK]; /* $ref targets being expanded (cycle check) */
    int n_stack;
    int fail; /* 1 = too deep / too large, 2 = out of memory */
} sctx;

/* One schema seen through its $ref target, allOf branches and chosen anyOf/oneOf branch:
 * lookups take the first layer that has the key. */
typedef struct {
    const g4_json *l[MAX_LAYERS];
    int n;
    bool nullable;   /* a null branch, or "null" in a type union */
    bool cut;        /* a recursive $ref was not expanded */
    bool unresolved; /* a $ref we could not resolve */
    int pushed;
} view;

static const g4_json *vget(const view *v, const char *key) {
    for (int i = 0; i < v->n; i++) {
        const g4_json *x = g4_json_get(v->l[i], key);
        if (x) return x;
    }
    return NULL;
}

/* A local JSON pointer ("#", "#/$defs/Name", "#/properties/a/items"); NULL otherwise. */
static const g4_json *resolve_ref(const g4_json *root, const char *ref, size_t len) {
    if (len == 0 || ref[0] != '#') return NULL;
    const g4_json *cur = root;
    size_t i = 1;
    if (i < len && ref[i] != '/') return NULL; /* "#anchor" */
    while (i < len && cur) {
        size_t j = ++i;
        char key[256];
        size_t kn = 0;
        while (j < len && ref[j] != '/') {
            char ch = ref[j++];
            if (ch == '~' && j < len && (ref[j] == '0' || ref[j] == '1')) ch = ref[j++] == '0' ? '~' : '/';
            if (kn == sizeof key) return NULL;
            key[kn++] = ch;
        }
        if (g4_json_is_object(cur)) {
            cur = g4_json_getn(cur, key, kn);
        } else if (g4_json_is_array(cur)) {
            size_t idx = 0;
            if (kn == 0 || kn > 9) return NULL;
            for (size_t k = 0; k < kn; k++) {
                if (key[k] < '0' || key[k] > '9') return NULL;
                idx = idx * 10 + (size_t)(key[k] - '0');
            }
            cur = g4_json_at(cur, idx);
        } else {
            return NULL;
        }
        i = j;
    }
    return cur;
}

static bool is_null_schema(const g4_json *b) {
    const g4_json *t = g4_json_get(b, "type");
    size_t n;
    const char *s = g4_json_string(t, &n);
    if (s) return str_eq(s, n, "null");
    if (g4_json_is_array(t) && g4_json_len(t) == 1) {
        s = g4_json_string(g4_json_at(t, 0), &n);
        return s && str_eq(s, n, "null");
    }
    const g4_json *c = g4_json_get(b, "const");
    if (c && g4_json_is_null(c) && g4_json_len(b) == 1) return true;
    return false;
}

static void collect(sctx *c, view *v, const g4_json *s, int hops) {
    if (!g4_json_is_object(s) || v->n == MAX_LAYERS || hops > 32) return;
    v->l[v->n++] = s;
    size_t rn;
    const char *ref = g4_json_get_str(s, "$ref", &rn);
    if (ref) {
        const g4_json *t = resolve_ref(c->root, ref, rn);
        bool on_stack = false;
        for (int k = 0; k < c->n_stack && t; k++) on_stack |= c->stack[k] == t;
        if (!t || !g4_json_is_object(t)) {
            v->unresolved = true;
        } else if (on_stack || t == s) {
            /* Recursive type: keep its type and description, do not expand. */
            v->cut = true;
            if (v->n < MAX_LAYERS) v->l[v->n++] = t;
        } else if (c->n_stack == MAX_REF_STACK) {
            c->fail = 1;
            return;
        } else {
            c->stack[c->n_stack++] = t;
            v->pushed++;
            collect(c, v, t, hops + 1);
        }
    }
    const g4_json *all = g4_json_get(s, "allOf");
    for (size_t k = 0; k < g4_json_len(all) && g4_json_is_array(all); k++)
        collect(c, v, g4_json_at(all, k), hops + 1);
    const char *const alts[] = {"anyOf", "oneOf"};
    for (int a = 0; a < 2; a++) {
        const g4_json *any = g4_json_get(s, alts[a]);
        if (!g4_json_is_array(any)) continue;
        const g4_json *pick = NULL;
        for (size_t k = 0; k < g4_json_len(any); k++) {
            const g4_json *b = g4_json_at(any, k);
            if (is_null_schema(b)) v->nullable = true;
            else if (!pick && g4_json_is_object(b)) pick = b;
        }
        if (pick) collect(c, v, pick, hops + 1);
    }
}

/* Keys that the normaliser writes itself or removes. */
static bool own_key(const char *k, size_t n) {
    if (n && k[0] == '$') return true; /* $ref, $schema, $id, $defs, $comment, $anchor ... */
    static const char *const keys[] = {"definitions", "anyOf", "oneOf", "allOf", "type",
                                       "nullable", "properties", "required", "items"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (str_eq(k, n, keys[i])) return true;
    return false;
}

/* Nodes and bytes (strings, keys, ~8 per node) of j, for the budgets. */
static void measure(const g4_json *j, size_t *nodes, size_t *bytes, int depth) {
    size_t n;
    (*nodes)++;
    *bytes += 8;
    if (g4_json_string(j, &n)) *bytes += n;
    if (depth > G4_JSON_MAX_DEPTH + 8) return;
    bool arr = g4_json_is_array(j);
    if (!arr && !g4_json_is_object(j)) return;
    for (size_t i = 0; i < g4_json_len(j); i++) {
        if (!arr && g4_json_key_at(j, i, &n)) *bytes += n;
        measure(arr ? g4_json_at(j, i) : g4_json_value_at(j, i), nodes, bytes, depth + 1);
    }
}

static bool over(sctx *c) {
    if (c->fail) return true;
    if (c->out->oom) c->fail = 2;
    else if (c->nodes > c->max_nodes || c->out->n > c->max_bytes) c->fail = 1;
    return c->fail != 0;
}

/* A value copied as it is. */
static void put_raw(sctx *c, const g4_json *v) {
    size_t nn = 0, nb = 0;
    measure(v, &nn, &nb, 0);
    c->nodes += nn;
    if (c->nodes > c->max_nodes || nb > c->max_bytes - c->out->n) {
        c->fail = 1;
        return;
    }
    g4_json_write(v, c->out);
}

static void put_jkey(g4_buf *o, const char *k, size_t n) {
    g4_oai_put_str(o, k, n);
    g4_buf_addc(o, ':');
}

static const char *type_of_value(const g4_json *x) {
    switch (g4_json_type_of(x)) {
    case G4_JSON_STRING: return "string";
    case G4_JSON_NUMBER: return g4_json_number_is_int(x) ? "integer" : "number";
    case G4_JSON_BOOL: return "boolean";
    case G4_JSON_OBJECT: return "object";
    case G4_JSON_ARRAY: return "array";
    default: return NULL;
    }
}

static bool ieq(const char *s, size_t n, const char *lit) {
    size_t m = strlen(lit);
    if (n != m) return false;
    for (size_t i = 0; i < n; i++) {
        char a = s[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != lit[i]) return false;
    }
    return true;
}

/* The schema's type as a string (the template upper-cases it); *nullable is set by a
 * "null" member of a type union. */
static const char *schema_type(const view *v, const char *deftype, size_t *tn, bool *nullable) {
    const g4_json *t = vget(v, "type");
    const char *type = NULL;
    if (g4_json_is_string(t)) return g4_json_string(t, tn);
    if (g4_json_is_array(t)) {
        for (size_t k = 0; k < g4_json_len(t); k++) {
            size_t n;
            const char *e = g4_json_string(g4_json_at(t, k), &n);
            if (!e) continue;
            if (str_eq(e, n, "null")) *nullable = true;
            else if (!type) type = e, *tn = n;
        }
        if (type) return type;
        if (*nullable) return *tn = 4, "null";
    }
    const g4_json *e = vget(v, "enum"), *cst = vget(v, "const");
    if (g4_json_is_object(vget(v, "properties"))) type = "object";
    else if (vget(v, "items") || vget(v, "prefixItems")) type = "array";
    for (size_t k = 0; !type && g4_json_is_array(e) && k < g4_json_len(e); k++)
        type = type_of_value(g4_json_at(e, k));
    if (!type && cst) type = type_of_value(cst);
    if (!type && v->unresolved) type = "object";
    if (!type) type = deftype;
    *tn = strlen(type);
    return type;
}

typedef struct {
    const char *s;
    size_t n, order;
} strent;

static int strent_cmp(const void *a, const void *b) {
    const strent *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int r = memcmp(x->s, y->s, m);
    if (r) return r;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* "required": the string entries of every layer's array, first occurrence kept. */
static void emit_required(sctx *c, const view *v) {
    size_t total = 0;
    int n_arr = 0;
    for (int li = 0; li < v->n; li++) {
        const g4_json *R = g4_json_get(v->l[li], "required");
        if (g4_json_is_array(R)) total += g4_json_len(R), n_arr++;
    }
    if (!n_arr) return;
    strent *e = total ? malloc(total * sizeof *e) : NULL;
    bool *dup = total ? calloc(total, 1) : NULL;
    if (total && (!e || !dup)) {
        free(e);
        free(dup);
        c->fail = 2;
        return;
    }
    size_t m = 0;
    for (int li = 0; li < v->n; li++) {
        const g4_json *R = g4_json_get(v->l[li], "required");
        for (size_t k = 0; g4_json_is_array(R) && k < g4_json_len(R); k++) {
            size_t n;
            const char *str = g4_json_string(g4_json_at(R, k), &n);
            if (str) e[m] = (strent){str, n, m}, m++;
        }
    }
    strent *sorted = m ? malloc(m * sizeof *sorted) : NULL;
    if (m && !sorted) {
        c->fail = 2;
    } else if (m) {
        memcpy(sorted, e, m * sizeof *e);
        qsort(sorted, m, sizeof *sorted, strent_cmp);
        for (size_t i = 1; i < m; i++)
            if (sorted[i].n == sorted[i - 1].n && memcmp(sorted[i].s, sorted[i - 1].s, sorted[i].n) == 0)
                dup[sorted[i].order] = true;
    }
    g4_buf_adds(c->out, ",\"required\":[");
    bool first = true;
    for (size_t i = 0; i < m && !c->fail; i++) {
        if (dup[i]) continue;
        if (!first) g4_buf_addc(c->out, ',');
        first = false;
        g4_oai_put_str(c->out, e[i].s, e[i].n);
        c->nodes++;
    }
    g4_buf_addc(c->out, ']');
    free(sorted);
    free(dup);
    free(e);
}

static void emit_schema(sctx *c, const g4_json *s, int depth, const char *deftype);

static void emit_body(sctx *c, const view *v, int depth, const char *deftype) {
    g4_buf *o = c->out;
    /* 1. type first (so every later member starts with a comma) */
    size_t tn = 0;
    bool nullable = v->nullable;
    const char *type = schema_type(v, deftype, &tn, &nullable);
    g4_buf_adds(o, "{\"type\":");
    g4_oai_put_str(o, type, tn);
    /* 2. every other key as it is; layers go last to first because the parser keeps the
     *    last duplicate, so the first layer wins */
    for (int li = v->n - 1; li >= 0 && !c->fail; li--) {
        const g4_json *L = v->l[li];
        for (size_t k = 0; k < g4_json_len(L) && !c->fail; k++) {
            size_t kn;
            const char *key = g4_json_key_at(L, k, &kn);
            if (own_key(key, kn)) continue;
            g4_buf_addc(o, ',');
            put_jkey(o, key, kn);
            put_raw(c, g4_json_value_at(L, k));
        }
    }
    /* 3. nullable */
    const g4_json *nl = vget(v, "nullable");
    if (nullable) {
        g4_buf_adds(o, ",\"nullable\":true");
    } else if (nl) {
        g4_buf_adds(o, ",\"nullable\":");
        put_raw(c, nl);
    }
    /* 4. properties, normalised wherever they appear (inside `items` the template renders
     *    them whatever the type); objects always get some */
    bool any = false;
    for (int li = 0; li < v->n && !v->cut; li++) any |= g4_json_is_object(g4_json_get(v->l[li], "properties"));
    if (any || ieq(type, tn, "object")) {
        g4_buf_adds(o, ",\"properties\":{");
        bool first = true;
        for (int li = v->n - 1; li >= 0 && !v->cut && !c->fail; li--) {
            const g4_json *P = g4_json_get(v->l[li], "properties");
            if (!g4_json_is_object(P)) continue;
            for (size_t k = 0; k < g4_json_len(P) && !c->fail; k++) {
                size_t kn;
                const char *key = g4_json_key_at(P, k, &kn);
                const g4_json *sub = g4_json_value_at(P, k);
                if (g4_json_is_bool(sub) && !g4_json_bool(sub)) continue; /* forbidden property */
                if (!first) g4_buf_addc(o, ',');
                first = false;
                put_jkey(o, key, kn);
                emit_schema(c, sub, depth + 1, "string");
            }
        }
        g4_buf_addc(o, '}');
    }
    /* 5. required */
    if (!v->cut && !c->fail) emit_required(c, v);
    /* 6. items: an object schema is normalised, a tuple array copied */
    const g4_json *it = vget(v, "items");
    if (it && !v->cut && !c->fail) {
        if (g4_json_is_object(it)) {
            g4_buf_adds(o, ",\"items\":");
            emit_schema(c, it, depth + 1, "string");
        } else if (g4_json_is_array(it)) {
            g4_buf_adds(o, ",\"items\":");
            put_raw(c, it);
        }
    }
    g4_buf_addc(o, '}');
}

static void emit_schema(sctx *c, const g4_json *s, int depth, const char *deftype) {
    c->nodes++;
    if (depth > G4_OAI_MAX_SCHEMA_DEPTH) c->fail = 1;
    if (over(c)) return;
    view v;
    memset(&v, 0, sizeof v);
    collect(c, &v, s, 0);
    if (!c->fail) emit_body(c, &v, depth, deftype);
    c->n_stack -= v.pushed;
    over(c);
}

/* *nodes_left / *bytes_left: what the whole tool list may still produce (shared, so that
 * many small tools cannot multiply the limits). */
static g4_json *norm_root_schema(const g4_json *schema, size_t *nodes_left, size_t *bytes_left,
                                 const char *param, g4_oai_error *err) {
    sctx *c = calloc(1, sizeof *c);
    if (!c) return oom(err), NULL;
    g4_buf out = G4_BUF_INIT;
    c->root = schema;
    c->out = &out;
    c->max_nodes = *nodes_left;
    c->max_bytes = *bytes_left;
    c->stack[c->n_stack++] = schema; /* "$ref": "#" is recursion too */
    emit_schema(c, schema, 0, "object");
    *nodes_left -= c->nodes < *nodes_left ? c->nodes : *nodes_left;
    *bytes_left -= out.n < *bytes_left ? out.n : *bytes_left;
    g4_json *o = NULL;
    if (!c->fail) {
        g4_error je = {0};
        g4_status st = g4_json_parse(g4_buf_str(&out), out.n, &o, &je);
        /* a $ref can move a deep subtree deeper than the JSON nesting limit */
        if (st != G4_OK) c->fail = st == G4_ERR_NOMEM ? 2 : 1;
    }
    if (c->fail == 1)
        g4_oai_error_invalid(err, param,
                             "Invalid '%s': the schema is nested too deeply, or the tools' schemas "
                             "expand ($ref) to too many nodes.", param);
    else if (c->fail)
        oom(err);
    free(c);
    g4_buf_free(&out);
    return o;
}

g4_json *g4_oai_normalize_tools(const g4_json *tools, g4_oai_error *err) {
    char p[64], q[128];
    g4_oai_error scratch;
    if (!err) err = &scratch;
    if (!g4_json_is_array(tools)) return bad_type(err, "tools", "an array", tools), NULL;
    /* $ref expansion may grow the schemas, but only linearly in the input */
    size_t in_nodes = 0, in_bytes = 0;
    measure(tools, &in_nodes, &in_bytes, 0);
    size_t nodes_left = G4_OAI_MAX_SCHEMA_NODES + 4 * in_nodes;
    size_t bytes_left = G4_OAI_MAX_SCHEMA_BYTES + 4 * in_bytes;
    g4_json *out = g4_json_new_array();
    if (!out) return oom(err), NULL;
    for (size_t i = 0; i < g4_json_len(tools); i++) {
        const g4_json *t = g4_json_at(tools, i);
        snprintf(p, sizeof p, "tools[%zu]", i);
        if (!g4_json_is_object(t)) {
            bad_type(err, p, "an object", t);
            goto fail;
        }
        const char *s;
        size_t n;
        snprintf(q, sizeof q, "%s.type", p);
        int r = opt_str(t, "type", q, &s, &n, err);
        if (r == F_FAIL) goto fail;
        if (r == F_SET && !str_eq(s, n, "function")) continue; /* built-in tools: not ours */
        const g4_json *fn = g4_json_get(t, "function");
        snprintf(q, sizeof q, "%s.function", p);
        if (!fn || g4_json_is_null(fn)) {
            missing(err, q);
            goto fail;
        }
        if (!g4_json_is_object(fn)) {
            bad_type(err, q, "an object", fn);
            goto fail;
        }
        snprintf(q, sizeof q, "%s.function.name", p);
        r = opt_str(fn, "name", q, &s, &n, err);
        if (r == F_ABSENT) missing(err, q);
        if (r != F_SET) goto fail;
        if (n == 0) {
            g4_oai_error_invalid(err, q, "Invalid '%s': empty string.", q);
            goto fail;
        }
        g4_json *nt = g4_json_new_object(), *nf = g4_json_new_object();
        if (!nt || !nf || !g4_json_append(out, nt)) {
            g4_json_free(nf);
            oom(err);
            goto fail;
        }
        if (!jset(nt, "type", g4_json_new_cstr("function"), err) || !jset(nt, "function", nf, err) ||
            !jset(nf, "name", g4_json_new_string(s, n), err))
            goto fail;
        snprintf(q, sizeof q, "%s.function.description", p);
        r = opt_str(fn, "description", q, &s, &n, err);
        if (r == F_FAIL || (r == F_SET && !jset(nf, "description", g4_json_new_string(s, n), err)))
            goto fail;
        const g4_json *params = g4_json_get(fn, "parameters");
        snprintf(q, sizeof q, "%s.function.parameters", p);
        if (params && !g4_json_is_null(params)) {
            if (!g4_json_is_object(params)) {
                bad_type(err, q, "an object", params);
                goto fail;
            }
            g4_json *np = norm_root_schema(params, &nodes_left, &bytes_left, q, err);
            if (!np || !jset(nf, "parameters", np, err)) goto fail;
        }
        /* `response` (a Gemma extension the template renders): only as an object */
        const g4_json *resp = g4_json_get(fn, "response");
        snprintf(q, sizeof q, "%s.function.response", p);
        if (g4_json_is_object(resp)) {
            g4_json *nr = norm_root_schema(resp, &nodes_left, &bytes_left, q, err);
            if (!nr || !jset(nf, "response", nr, err)) goto fail;
        }
    }
    return out;
fail:
    g4_json_free(out);
    return NULL;
}

/* ====================================================================================
 * Request fields
 * ==================================================================================== */

static bool parse_max_tokens(const g4_json *root, g4_oai_request *req, g4_oai_error *err) {
    const char *keys[2] = {"max_completion_tokens", "max_tokens"};
    req->max_tokens = -1;
    bool have = false;
    for (int k = 0; k < 2; k++) {
        int64_t v;
        int r = opt_int(root, keys[k], NULL, &v, err);
        if (r == F_FAIL) return false;
        if (r == F_ABSENT) continue;
        if (v < 1 && v != -1) {
            g4_oai_error_invalid(err, keys[k],
                                 "Invalid '%s': integer below minimum value. Expected a value >= 1, "
                                 "but got %lld instead.", keys[k], (long long)v);
            return false;
        }
        if (!have) req->max_tokens = v > INT_MAX ? INT_MAX : (int)v; /* max_completion_tokens wins */
        have = true;
    }
    return true;
}

static bool parse_sampling(const g4_json *root, const g4_oai_parse_opts *opts, g4_oai_request *req,
                           g4_oai_error *err) {
    g4_sampler_params *s = &req->sampling;
    *s = opts && opts->sampling ? *opts->sampling : g4_sampler_defaults();
    const g4_logit_bias *def_bias = s->bias;
    size_t n_def = def_bias ? s->n_bias : 0;
    s->bias = NULL;
    s->n_bias = 0;
    double d;
    int64_t v;
    int r;
    if ((r = opt_num(root, "temperature", NULL, &d, err)) == F_FAIL) return false;
    if (r == F_SET) {
        if (d < 0) return range_err(err, "temperature", "must be >= 0 (0 = greedy)"), false;
        s->temperature = (float)d;
    }
    if ((r = opt_num(root, "top_p", NULL, &d, err)) == F_FAIL) return false;
    if (r == F_SET) {
        if (d < 0 || d > 1) return range_err(err, "top_p", "must be between 0 and 1"), false;
        s->top_p = (float)d;
    }
    if ((r = opt_int(root, "top_k", NULL, &v, err)) == F_FAIL) return false;
    if (r == F_SET) s->top_k = v <= 0 ? 0 : v > INT32_MAX ? INT32_MAX : (int32_t)v;
    if ((r = opt_num(root, "min_p", NULL, &d, err)) == F_FAIL) return false;
    if (r == F_SET) {
        if (d < 0 || d > 1) return range_err(err, "min_p", "must be between 0 and 1"), false;
        s->min_p = (float)d;
    }
    if ((r = opt_num(root, "presence_penalty", NULL, &d, err)) == F_FAIL) return false;
    if (r == F_SET) s->presence_penalty = (float)d;
    if ((r = opt_num(root, "frequency_penalty", NULL, &d, err)) == F_FAIL) return false;
    if (r == F_SET) s->frequency_penalty = (float)d;
    const char *rp_keys[2] = {"repeat_penalty", "repetition_penalty"};
    for (int k = 0; k < 2; k++) {
        if ((r = opt_num(root, rp_keys[k], NULL, &d, err)) == F_FAIL) return false;
        if (r == F_SET) {
            if (d <= 0) return range_err(err, rp_keys[k], "must be > 0 (1 = off)"), false;
            s->repeat_penalty = (float)d;
        }
    }
    if ((r = opt_int(root, "repeat_last_n", NULL, &v, err)) == F_FAIL) return false;
    if (r == F_SET) {
        if (v < -1 || v > (1 << 20))
            return range_err(err, "repeat_last_n", "must be between -1 (all) and 1048576"), false;
        s->repeat_last_n = (int32_t)v;
    }
    if ((r = opt_int(root, "seed", NULL, &v, err)) == F_FAIL) return false;
    if (r == F_SET) s->seed = (uint64_t)v; /* -1 = G4_SEED_RANDOM, as in llama.cpp */

    /* logit_bias: {"token id": bias in [-100, 100]}; -100 bans the token */
    const g4_json *lb = g4_json_get(root, "logit_bias");
    size_t n_lb = 0;
    if (lb && !g4_json_is_null(lb)) {
        if (!g4_json_is_object(lb)) return bad_type(err, "logit_bias", "an object", lb), false;
        n_lb = g4_json_len(lb);
    }
    if (n_lb + n_def) {
        g4_logit_bias *b = calloc(n_lb + n_def, sizeof *b);
        if (!b) return oom(err);
        if (n_def) memcpy(b, def_bias, n_def * sizeof *b);
        s->bias = b;
        s->n_bias = n_def;
        for (size_t k = 0; k < n_lb; k++) {
            size_t kn;
            const char *key = g4_json_key_at(lb, k, &kn);
            const g4_json *val = g4_json_value_at(lb, k);
            int64_t id = 0;
            bool ok = kn > 0 && kn <= 10;
            for (size_t q = 0; ok && q < kn; q++) {
                ok = key[q] >= '0' && key[q] <= '9';
                id = id * 10 + (key[q] - '0');
            }
            if (!ok || id > INT32_MAX) {
                g4_oai_error_invalid(err, "logit_bias",
                                     "Invalid key in 'logit_bias': '%.*s' is not a token id.",
                                     (int)(kn > 64 ? 64 : kn), key);
                return false;
            }
            if (!g4_json_is_number(val)) {
                g4_oai_error_invalid(err, "logit_bias",
                                     "Invalid value in 'logit_bias' for token %lld: expected a number, "
                                     "but got %s.", (long long)id, a_type(val));
                return false;
            }
            double bv = g4_json_number(val);
            if (!(bv >= -100 && bv <= 100)) {
                g4_oai_error_invalid(err, "logit_bias",
                                     "Invalid value in 'logit_bias' for token %lld: %g is outside "
                                     "[-100, 100].", (long long)id, bv);
                return false;
            }
            b[s->n_bias].token = (int32_t)id;
            b[s->n_bias].bias = bv <= -100 ? -INFINITY : (float)bv;
            s->n_bias++;
        }
    }
    return true;
}

static bool parse_stop(const g4_json *root, g4_oai_request *req, g4_oai_error *err) {
    const g4_json *st = g4_json_get(root, "stop");
    if (!st || g4_json_is_null(st)) return true;
    size_t n = g4_json_is_array(st) ? g4_json_len(st) : 1;
    if (!g4_json_is_array(st) && !g4_json_is_string(st))
        return bad_type(err, "stop", "a string or an array of strings", st), false;
    if (n > G4_OAI_MAX_STOP) {
        g4_oai_error_invalid(err, "stop", "Invalid 'stop': at most %d stop sequences, got %zu.",
                             G4_OAI_MAX_STOP, n);
        return false;
    }
    if (n == 0) return true;
    req->stop = calloc(n, sizeof *req->stop);
    if (!req->stop) return oom(err);
    for (size_t i = 0; i < n; i++) {
        const g4_json *e = g4_json_is_array(st) ? g4_json_at(st, i) : st;
        char p[32];
        snprintf(p, sizeof p, "stop[%zu]", i);
        if (!g4_json_is_string(e)) return bad_type(err, g4_json_is_array(st) ? p : "stop", "a string", e), false;
        size_t len;
        const char *s = g4_json_string(e, &len);
        if (len == 0) continue;
        if (memchr(s, 0, len)) {
            g4_oai_error_invalid(err, g4_json_is_array(st) ? p : "stop",
                                 "Invalid 'stop': a stop sequence contains a NUL character.");
            return false;
        }
        if (!(req->stop[req->n_stop] = dup_bytes(s, len))) return oom(err);
        req->n_stop++;
    }
    return true;
}

static bool parse_tools(const g4_json *root, g4_oai_request *req, g4_oai_error *err) {
    const g4_json *tv = g4_json_get(root, "tools");
    if (tv && !g4_json_is_null(tv)) {
        if (!g4_json_is_array(tv)) return bad_type(err, "tools", "an array", tv), false;
        req->tools = g4_oai_normalize_tools(tv, err);
        if (!req->tools) return false;
        if (g4_json_len(req->tools) == 0) {
            g4_json_free(req->tools);
            req->tools = NULL;
        }
    }
    req->parallel_tool_calls = true;
    if (opt_bool(root, "parallel_tool_calls", NULL, &req->parallel_tool_calls, err) == F_FAIL) return false;

    req->tool_choice = G4_TOOL_AUTO;
    const g4_json *tc = g4_json_get(root, "tool_choice");
    const char *s = NULL, *name = NULL;
    size_t n = 0, name_n = 0;
    if (g4_json_is_string(tc)) {
        s = g4_json_string(tc, &n);
    } else if (g4_json_is_object(tc)) {
        /* {"type":"function","function":{"name":N}}; also {"type":"function","name":N}
         * (Responses API) and {"type":"auto"|"none"|"required"} */
        if (opt_str(tc, "type", "tool_choice.type", &s, &n, err) == F_FAIL) return false;
        if (!s) return missing(err, "tool_choice.type"), false;
        if (str_eq(s, n, "function")) {
            const g4_json *fn = g4_json_get(tc, "function");
            const g4_json *holder = fn ? fn : tc;
            const char *pn = fn ? "tool_choice.function.name" : "tool_choice.name";
            if (fn && !g4_json_is_object(fn)) return bad_type(err, "tool_choice.function", "an object", fn), false;
            int r = opt_str(holder, "name", pn, &name, &name_n, err);
            if (r == F_ABSENT) missing(err, pn);
            if (r != F_SET) return false;
        }
    } else if (tc && !g4_json_is_null(tc)) {
        return bad_type(err, "tool_choice", "a string or an object", tc), false;
    }
    if (name) {
        req->tool_choice = G4_TOOL_NAMED;
    } else if (s) {
        if (str_eq(s, n, "auto")) req->tool_choice = G4_TOOL_AUTO;
        else if (str_eq(s, n, "none")) req->tool_choice = G4_TOOL_NONE;
        else if (str_eq(s, n, "required")) req->tool_choice = G4_TOOL_REQUIRED;
        else {
            g4_oai_error_invalid(err, "tool_choice",
                                 "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' "
                                 "or a function.");
            return false;
        }
    }
    if ((req->tool_choice == G4_TOOL_REQUIRED || req->tool_choice == G4_TOOL_NAMED) && !req->tools) {
        g4_oai_error_invalid(err, "tool_choice",
                             "Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                             "'tools' are specified.");
        return false;
    }
    if (req->tool_choice == G4_TOOL_NAMED) {
        bool found = false;
        for (size_t i = 0; i < g4_json_len(req->tools) && !found; i++) {
            size_t m;
            const char *tn = g4_json_get_str(g4_json_get(g4_json_at(req->tools, i), "function"), "name", &m);
            found = tn && m == name_n && memcmp(tn, name, m) == 0;
        }
        if (!found) {
            g4_oai_error_invalid(err, "tool_choice",
                                 "Invalid value for 'tool_choice': no function named '%.*s' in 'tools'.",
                                 (int)(name_n > 100 ? 100 : name_n), name);
            return false;
        }
        if (!(req->tool_name = dup_bytes(name, name_n))) return oom(err);
    }
    if (!req->tools) req->tool_choice = G4_TOOL_NONE;
    return true;
}

static bool parse_response_format(const g4_json *root, g4_oai_request *req, g4_oai_error *err) {
    req->response_format = G4_RF_TEXT;
    const g4_json *rf = g4_json_get(root, "response_format");
    if (!rf || g4_json_is_null(rf)) return true;
    if (!g4_json_is_object(rf)) return bad_type(err, "response_format", "an object", rf), false;
    const char *t;
    size_t n;
    int r = opt_str(rf, "type", "response_format.type", &t, &n, err);
    if (r == F_ABSENT) missing(err, "response_format.type");
    if (r != F_SET) return false;
    const g4_json *schema = NULL;
    const char *sp = "response_format.schema";
    if (str_eq(t, n, "text")) {
        return true;
    } else if (str_eq(t, n, "json_object")) {
        req->response_format = G4_RF_JSON_OBJECT;
        schema = g4_json_get(rf, "schema"); /* llama.cpp extension */
    } else if (str_eq(t, n, "json_schema")) {
        req->response_format = G4_RF_JSON_OBJECT;
        const g4_json *js = g4_json_get(rf, "json_schema");
        if (!js || g4_json_is_null(js)) return missing(err, "response_format.json_schema"), false;
        if (!g4_json_is_object(js)) return bad_type(err, "response_format.json_schema", "an object", js), false;
        schema = g4_json_get(js, "schema");
        sp = "response_format.json_schema.schema";
    } else {
        g4_oai_error_invalid(err, "response_format.type",
                             "Invalid value for 'response_format.type': expected 'text', 'json_object' "
                             "or 'json_schema'.");
        return false;
    }
    if (schema && !g4_json_is_null(schema)) {
        if (!g4_json_is_object(schema)) return bad_type(err, sp, "an object", schema), false;
        if (!(req->schema = g4_json_clone(schema))) return oom(err);
        req->response_format = G4_RF_JSON_SCHEMA;
    }
    return true;
}

/* -1 unknown, 0 off, 1 on */
static int effort_level(const char *s, size_t n) {
    if (str_eq(s, n, "none") || str_eq(s, n, "minimal")) return 0;
    if (str_eq(s, n, "low") || str_eq(s, n, "medium") || str_eq(s, n, "high") || str_eq(s, n, "xhigh") ||
        str_eq(s, n, "max"))
        return 1;
    return -1;
}

/* Precedence: chat_template_kwargs.enable_thinking > reasoning_effort > reasoning.effort /
 * reasoning.enabled > think > the server default. */
static bool parse_thinking(const g4_json *root, const g4_oai_parse_opts *opts, g4_oai_request *req,
                           g4_oai_error *err) {
    int on = -1; /* not decided yet */
    bool b;
    const char *s;
    size_t n;
    int r;
    const g4_json *kw = g4_json_get(root, "chat_template_kwargs");
    if (kw && !g4_json_is_null(kw)) {
        if (!g4_json_is_object(kw)) return bad_type(err, "chat_template_kwargs", "an object", kw), false;
        if ((r = opt_bool(kw, "enable_thinking", "chat_template_kwargs.enable_thinking", &b, err)) == F_FAIL)
            return false;
        if (r == F_SET) on = b;
        if (opt_bool(kw, "preserve_thinking", "chat_template_kwargs.preserve_thinking",
                     &req->preserve_thinking, err) == F_FAIL)
            return false;
    }
    if ((r = opt_str(root, "reasoning_effort", NULL, &s, &n, err)) == F_FAIL) return false;
    if (r == F_SET) {
        int lv = effort_level(s, n);
        if (lv < 0) {
            g4_oai_error_invalid(err, "reasoning_effort",
                                 "Invalid value for 'reasoning_effort': expected 'none', 'minimal', "
                                 "'low', 'medium' or 'high'.");
            return false;
        }
        if (on < 0) on = lv;
    }
    const g4_json *rs = g4_json_get(root, "reasoning");
    if (rs && !g4_json_is_null(rs)) {
        if (!g4_json_is_object(rs)) return bad_type(err, "reasoning", "an object", rs), false;
        if ((r = opt_str(rs, "effort", "reasoning.effort", &s, &n, err)) == F_FAIL) return false;
        if (r == F_SET) {
            int lv = effort_level(s, n);
            if (lv < 0) {
                g4_oai_error_invalid(err, "reasoning.effort",
                                     "Invalid value for 'reasoning.effort': expected 'none', 'minimal', "
                                     "'low', 'medium' or 'high'.");
                return false;
            }
            if (on < 0) on = lv;
        }
        if ((r = opt_bool(rs, "enabled", "reasoning.enabled", &b, err)) == F_FAIL) return false;
        if (r == F_SET && on < 0) on = b;
    }
    const g4_json *th = g4_json_get(root, "think"); /* Ollama: true/false or a level */
    if (g4_json_is_bool(th)) {
        if (on < 0) on = g4_json_bool(th);
    } else if (g4_json_is_string(th)) {
        s = g4_json_string(th, &n);
        int lv = effort_level(s, n);
        if (lv < 0) {
            g4_oai_error_invalid(err, "think",
                                 "Invalid value for 'think': expected a boolean or 'low', 'medium', 'high'.");
            return false;
        }
        if (on < 0) on = lv;
    } else if (th && !g4_json_is_null(th)) {
        return bad_type(err, "think", "a boolean", th), false;
    }
    req->thinking_explicit = on >= 0;
    req->enable_thinking = on >= 0 ? on : opts ? opts->enable_thinking : false;
    return true;
}

static bool parse_prompt(const g4_json *root, g4_oai_request *req, g4_oai_error *err) {
    const g4_json *p = g4_json_get(root, "prompt");
    if (!p || g4_json_is_null(p)) return missing(err, "prompt"), false;
    const g4_json *ids = NULL;
    if (g4_json_is_array(p)) {
        size_t n = g4_json_len(p);
        if (n == 0) {
            g4_oai_error_invalid(err, "prompt", "Invalid 'prompt': empty array.");
            return false;
        }
        const g4_json *first = g4_json_at(p, 0);
        if (g4_json_is_string(first) || g4_json_is_array(first)) {
            if (n > 1) {
                g4_oai_error_invalid(err, "prompt", "Invalid 'prompt': only one prompt per request is "
                                                    "supported, got %zu.", n);
                return false;
            }
            if (g4_json_is_array(first)) ids = first;
            else p = first;
        } else {
            ids = p;
        }
    }
    if (ids) {
        size_t n = g4_json_len(ids);
        if (n == 0) {
            g4_oai_error_invalid(err, "prompt", "Invalid 'prompt': empty token array.");
            return false;
        }
        req->prompt_tokens = malloc(n * sizeof *req->prompt_tokens);
        if (!req->prompt_tokens) return oom(err);
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            if (!as_int(g4_json_at(ids, i), &v) || v < 0 || v > INT32_MAX) {
                char q[40];
                snprintf(q, sizeof q, "prompt[%zu]", i);
                g4_oai_error_invalid(err, q, "Invalid '%s': expected a token id (a non-negative integer).", q);
                return false;
            }
            req->prompt_tokens[i] = (int32_t)v;
        }
        req->n_prompt_tokens = n;
        return true;
    }
    if (!g4_json_is_string(p))
        return bad_type(err, "prompt", "a string, an array of one string or an array of token ids", p), false;
    size_t n;
    const char *s = g4_json_string(p, &n);
    if (!(req->prompt = dup_bytes(s, n))) return oom(err);
    req->prompt_len = n;
    return true;
}

static bool parse_completion_only(const g4_json *root, g4_oai_request *req, g4_oai_error *err) {
    if (!parse_prompt(root, req, err)) return false;
    bool b = false;
    if (opt_bool(root, "echo", NULL, &b, err) == F_FAIL) return false;
    if (b) {
        g4_oai_error_invalid(err, "echo", "'echo' is not supported.");
        return false;
    }
    const char *s;
    size_t n = 0;
    if (opt_str(root, "suffix", NULL, &s, &n, err) == F_FAIL) return false;
    if (n) {
        g4_oai_error_invalid(err, "suffix", "'suffix' is not supported.");
        return false;
    }
    int64_t v;
    int r = opt_int(root, "best_of", NULL, &v, err);
    if (r == F_FAIL) return false;
    if (r == F_SET && v != 1 && v != req->n) {
        g4_oai_error_invalid(err, "best_of", "'best_of' other than 1 (or n) is not supported.");
        return false;
    }
    /* logprobs: an integer number of alternatives (0..20); a boolean is accepted too */
    const g4_json *lp = g4_json_get(root, "logprobs");
    if (g4_json_is_bool(lp)) {
        req->logprobs = g4_json_bool(lp);
    } else if (lp && !g4_json_is_null(lp)) {
        if (!as_int(lp, &v)) return bad_type(err, "logprobs", "an integer", lp), false;
        if (v < 0 || v > G4_OAI_MAX_TOP_LOGPROBS)
            return range_err(err, "logprobs", "must be between 0 and 20"), false;
        req->logprobs = true;
        req->top_logprobs = (int)v;
    }
    return true;
}

static bool parse_fields(const g4_json *root, bool chat, const g4_oai_parse_opts *opts,
                         g4_oai_request *req, g4_oai_error *err) {
    const char *s;
    size_t n;
    int64_t v;
    int r = opt_str(root, "model", NULL, &s, &n, err);
    if (r == F_FAIL) return false;
    if (!(req->model = r == F_SET ? dup_bytes(s, strnlen(s, n)) : dup_bytes("", 0))) return oom(err);

    if ((r = opt_int(root, "n", NULL, &v, err)) == F_FAIL) return false;
    req->n = 1;
    if (r == F_SET) {
        if (v < 1 || v > G4_OAI_MAX_N) return range_err(err, "n", "must be between 1 and 16"), false;
        req->n = (int)v;
    }
    if (chat) {
        if (!parse_messages(root, req, err) || !parse_tools(root, req, err) ||
            !parse_response_format(root, req, err))
            return false;
        if (opt_bool(root, "logprobs", NULL, &req->logprobs, err) == F_FAIL) return false;
        if ((r = opt_int(root, "top_logprobs", NULL, &v, err)) == F_FAIL) return false;
        if (r == F_SET) {
            if (v < 0 || v > G4_OAI_MAX_TOP_LOGPROBS)
                return range_err(err, "top_logprobs", "must be between 0 and 20"), false;
            req->top_logprobs = (int)v;
        }
    } else {
        if (!parse_completion_only(root, req, err) || !parse_response_format(root, req, err)) return false;
        req->tool_choice = G4_TOOL_NONE;
        req->parallel_tool_calls = true;
    }
    if (!parse_thinking(root, opts, req, err) || !parse_max_tokens(root, req, err) ||
        !parse_sampling(root, opts, req, err) || !parse_stop(root, req, err))
        return false;
    if (opt_bool(root, "stream", NULL, &req->stream, err) == F_FAIL) return false;
    const g4_json *so = g4_json_get(root, "stream_options");
    if (so && !g4_json_is_null(so)) {
        if (!g4_json_is_object(so)) return bad_type(err, "stream_options", "an object", so), false;
        if (opt_bool(so, "include_usage", "stream_options.include_usage", &req->include_usage, err) == F_FAIL)
            return false;
    }
    if (opt_bool(root, "ignore_eos", NULL, &req->ignore_eos, err) == F_FAIL) return false;
    return true;
}

bool g4_oai_parse_request(const char *body, size_t len, bool chat, const g4_oai_parse_opts *opts,
                          g4_oai_request *req, g4_oai_error *err) {
    g4_oai_error scratch;
    if (!err) err = &scratch;
    memset(err, 0, sizeof *err);
    memset(req, 0, sizeof *req);
    req->chat = chat;
    g4_json *root = NULL;
    g4_error je = {0};
    g4_status st = g4_json_parse(body ? body : "", body ? len : 0, &root, &je);
    if (st == G4_ERR_NOMEM) return oom(err);
    if (st != G4_OK) {
        g4_oai_error_invalid(err, NULL, "We could not parse the JSON body of your request (%s).", je.msg);
        return false;
    }
    bool ok;
    if (!g4_json_is_object(root)) {
        g4_oai_error_invalid(err, NULL, "The request body must be a JSON object, got %s.", a_type(root));
        ok = false;
    } else {
        ok = parse_fields(root, chat, opts, req, err);
    }
    g4_json_free(root);
    if (!ok) {
        g4_oai_request_free(req);
        req->chat = chat;
    }
    return ok;
}

void g4_oai_request_free(g4_oai_request *req) {
    if (!req) return;
    free(req->model);
    g4_json_free(req->messages);
    g4_json_free(req->tools);
    free(req->prompt);
    free(req->prompt_tokens);
    free(req->tool_name);
    g4_json_free(req->schema);
    free((void *)req->sampling.bias);
    for (size_t i = 0; i < req->n_stop; i++) free(req->stop[i]);
    free(req->stop);
    memset(req, 0, sizeof *req);
}

bool g4_oai_check_token_ids(const int32_t *ids, size_t n, int32_t n_vocab, const char *param,
                            g4_oai_error *err) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= n_vocab) {
            g4_oai_error_invalid(err, param, "Invalid '%s': token id %d at position %zu is outside "
                                             "the vocabulary [0, %d).", param, ids[i], i, n_vocab);
            return false;
        }
    }
    return true;
}

bool g4_oai_check_vocab(const g4_oai_request *req, int32_t n_vocab, g4_oai_error *err) {
    for (size_t i = 0; i < req->sampling.n_bias; i++) {
        int32_t t = req->sampling.bias[i].token;
        if (t < 0 || t >= n_vocab) {
            g4_oai_error_invalid(err, "logit_bias", "Invalid key in 'logit_bias': token id %d is "
                                                    "outside the vocabulary [0, %d).", t, n_vocab);
            return false;
        }
    }
    return g4_oai_check_token_ids(req->prompt_tokens, req->n_prompt_tokens, n_vocab, "prompt", err);
}

/* ====================================================================================
 * Prompt, limits, ids
 * ==================================================================================== */

bool g4_oai_render_prompt(const g4_oai_request *req, bool large_layout, g4_buf *out,
                          bool *ends_in_thought, g4_oai_error *err) {
    if (ends_in_thought) *ends_in_thought = false;
    if (!req->chat) {
        if (!req->prompt) {
            g4_oai_error_invalid(err, "prompt", "The prompt is token ids; there is no text to render.");
            return false;
        }
        g4_buf_add(out, req->prompt, req->prompt_len);
        return g4_buf_ok(out) || oom(err);
    }
    g4_chat_opts o = {.large_layout = large_layout,
                      .enable_thinking = req->enable_thinking,
                      .add_generation_prompt = true,
                      .preserve_thinking = req->preserve_thinking,
                      .bos_token = NULL};
    size_t start = out->n;
    g4_error e = {0};
    g4_status st = g4_chat_render(req->messages, req->tools, &o, out, &e);
    if (st == G4_ERR_NOMEM) return oom(err);
    if (st != G4_OK) {
        /* name the message when the renderer did: "chat template: messages[3]: ..." */
        char param[64] = "messages";
        const char *m = strstr(e.msg, "messages[");
        if (m) {
            size_t k = 0;
            while (m[k] && m[k] != ']' && k < sizeof param - 2) k++;
            if (m[k] == ']') snprintf(param, sizeof param, "%.*s", (int)(k + 1), m);
        }
        g4_oai_error_invalid(err, param, "Invalid conversation: %s", e.msg);
        return false;
    }
    static const char open[] = "<|channel>thought\n";
    size_t ol = sizeof open - 1;
    if (ends_in_thought && out->n - start >= ol && memcmp(out->p + out->n - ol, open, ol) == 0)
        *ends_in_thought = true;
    return true;
}

int g4_oai_clamp_max_tokens(int requested, int n_prompt, int n_ctx) {
    long long free_ctx = (long long)n_ctx - n_prompt;
    if (free_ctx < 0) free_ctx = 0;
    if (requested < 0 || requested > free_ctx) return (int)free_ctx;
    return requested;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

size_t g4_oai_make_id(const char *prefix, uint64_t seed, uint64_t counter, char *buf, size_t cap) {
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char tail[25];
    uint64_t x = seed;
    x = splitmix64(&x) ^ counter;
    for (int i = 0; i < 24; i++) tail[i] = alnum[splitmix64(&x) % 62];
    tail[24] = 0;
    int n = snprintf(buf, cap, "%s%s", prefix ? prefix : "", tail);
    return n < 0 ? 0 : (size_t)n;
}

/* ====================================================================================
 * Responses
 * ==================================================================================== */

const char *g4_oai_finish_str(g4_oai_finish f) {
    switch (f) {
    case G4_OAI_FINISH_STOP: return "stop";
    case G4_OAI_FINISH_LENGTH: return "length";
    case G4_OAI_FINISH_TOOL_CALLS: return "tool_calls";
    default: return NULL;
    }
}

static void put_finish(g4_buf *o, g4_oai_finish f) {
    const char *s = g4_oai_finish_str(f);
    if (s) put_cstr(o, s);
    else g4_buf_adds(o, "null");
}

/* {"id":..,"object":..,"created":..,"model":..[,"system_fingerprint":..] (no closing brace) */
static void put_head(const g4_oai_meta *m, const char *object, g4_buf *o) {
    g4_buf_adds(o, "{\"id\":");
    put_cstr(o, m->id);
    g4_buf_adds(o, ",\"object\":");
    put_cstr(o, object);
    g4_buf_adds(o, ",\"created\":");
    put_i64(o, m->created);
    g4_buf_adds(o, ",\"model\":");
    put_cstr(o, m->model);
    if (m->system_fingerprint) {
        g4_buf_adds(o, ",\"system_fingerprint\":");
        put_cstr(o, m->system_fingerprint);
    }
}

void g4_oai_format_usage(const g4_oai_usage *u, g4_buf *o) {
    g4_buf_adds(o, "{\"prompt_tokens\":");
    put_i64(o, u->prompt_tokens);
    g4_buf_adds(o, ",\"completion_tokens\":");
    put_i64(o, u->completion_tokens);
    g4_buf_adds(o, ",\"total_tokens\":");
    put_i64(o, (int64_t)u->prompt_tokens + u->completion_tokens);
    g4_buf_adds(o, ",\"prompt_tokens_details\":{\"cached_tokens\":");
    put_i64(o, u->cached_tokens);
    g4_buf_adds(o, "},\"completion_tokens_details\":{\"reasoning_tokens\":");
    put_i64(o, u->reasoning_tokens);
    if (u->speculative) {
        g4_buf_adds(o, ",\"accepted_prediction_tokens\":");
        put_i64(o, u->accepted_draft_tokens);
        g4_buf_adds(o, ",\"rejected_prediction_tokens\":");
        put_i64(o, (int64_t)u->draft_tokens - u->accepted_draft_tokens);
    }
    g4_buf_adds(o, "}}");
}

/* llama-server's draft counters, next to "usage" */
static void put_timings(const g4_oai_usage *u, g4_buf *o) {
    if (!u->speculative) return;
    g4_buf_adds(o, ",\"timings\":{\"draft_n\":");
    put_i64(o, u->draft_tokens);
    g4_buf_adds(o, ",\"draft_n_accepted\":");
    put_i64(o, u->accepted_draft_tokens);
    g4_buf_addc(o, '}');
}

static void put_bytes(g4_buf *o, const char *s, size_t n) {
    g4_buf_addc(o, '[');
    for (size_t i = 0; i < n; i++) g4_buf_printf(o, i ? ",%u" : "%u", (unsigned)(unsigned char)s[i]);
    g4_buf_addc(o, ']');
}

static void put_lp_entry(g4_buf *o, const g4_oai_logprob *l) {
    g4_buf_adds(o, "{\"token\":");
    g4_oai_put_str(o, l->text, l->len);
    g4_buf_adds(o, ",\"logprob\":");
    put_logprob(o, l->logprob);
    g4_buf_adds(o, ",\"bytes\":");
    put_bytes(o, l->text, l->text ? l->len : 0);
}

/* chat: {"content":[{"token","logprob","bytes","top_logprobs":[{"token","logprob","bytes"}]}]} */
static void put_chat_logprobs(g4_buf *o, const g4_oai_token_logprobs *lp, size_t n) {
    g4_buf_adds(o, "{\"content\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) g4_buf_addc(o, ',');
        put_lp_entry(o, &lp[i].tok);
        g4_buf_adds(o, ",\"top_logprobs\":[");
        for (size_t k = 0; k < lp[i].n_top; k++) {
            if (k) g4_buf_addc(o, ',');
            put_lp_entry(o, &lp[i].top[k]);
            g4_buf_addc(o, '}');
        }
        g4_buf_adds(o, "]}");
    }
    g4_buf_adds(o, "]}");
}

/* completions (legacy): {"tokens":[..],"token_logprobs":[..],"top_logprobs":[{tok:lp}],
 * "text_offset":[..]} */
static void put_legacy_logprobs(g4_buf *o, const g4_oai_token_logprobs *lp, size_t n) {
    g4_buf_adds(o, "{\"tokens\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) g4_buf_addc(o, ',');
        g4_oai_put_str(o, lp[i].tok.text, lp[i].tok.len);
    }
    g4_buf_adds(o, "],\"token_logprobs\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) g4_buf_addc(o, ',');
        put_logprob(o, lp[i].tok.logprob);
    }
    g4_buf_adds(o, "],\"top_logprobs\":[");
    for (size_t i = 0; i < n; i++) {
        g4_buf_adds(o, i ? ",{" : "{");
        for (size_t k = 0; k < lp[i].n_top; k++) {
            if (k) g4_buf_addc(o, ',');
            g4_oai_put_str(o, lp[i].top[k].text, lp[i].top[k].len);
            g4_buf_addc(o, ':');
            put_logprob(o, lp[i].top[k].logprob);
        }
        g4_buf_addc(o, '}');
    }
    g4_buf_adds(o, "],\"text_offset\":[");
    for (size_t i = 0; i < n; i++) g4_buf_printf(o, i ? ",%zu" : "%zu", lp[i].text_offset);
    g4_buf_adds(o, "]}");
}

static void put_logprobs(g4_buf *o, bool chat, bool want, const g4_oai_token_logprobs *lp, size_t n) {
    g4_buf_adds(o, "\"logprobs\":");
    if (!want) g4_buf_adds(o, "null");
    else if (chat) put_chat_logprobs(o, lp, n);
    else put_legacy_logprobs(o, lp, n);
}

static void put_reasoning(g4_buf *o, const g4_oai_meta *m, const char *r, size_t n) {
    g4_buf_adds(o, ",\"reasoning_content\":");
    g4_oai_put_str(o, r, n);
    if (m->reasoning_alias) {
        g4_buf_adds(o, ",\"reasoning\":");
        g4_oai_put_str(o, r, n);
    }
}

static void put_message(g4_buf *o, const g4_oai_meta *m, const g4_oai_choice *c) {
    g4_buf_adds(o, "{\"role\":\"assistant\",\"content\":");
    if (c->n_tool_calls && (!c->content || c->content_len == 0)) g4_buf_adds(o, "null");
    else g4_oai_put_str(o, c->content, c->content ? c->content_len : 0);
    if (c->reasoning && c->reasoning_len) put_reasoning(o, m, c->reasoning, c->reasoning_len);
    if (c->n_tool_calls) {
        g4_buf_adds(o, ",\"tool_calls\":[");
        for (size_t k = 0; k < c->n_tool_calls; k++) {
            const g4_oai_tool_call *t = &c->tool_calls[k];
            if (k) g4_buf_addc(o, ',');
            g4_buf_adds(o, "{\"id\":");
            put_cstr(o, t->id);
            g4_buf_adds(o, ",\"type\":\"function\",\"function\":{\"name\":");
            put_cstr(o, t->name);
            g4_buf_adds(o, ",\"arguments\":");
            if (t->arguments) g4_oai_put_str(o, t->arguments, t->arguments_len);
            else g4_buf_adds(o, "\"{}\"");
            g4_buf_adds(o, "}}");
        }
        g4_buf_addc(o, ']');
    }
    g4_buf_addc(o, '}');
}

void g4_oai_format_response(const g4_oai_meta *m, const g4_oai_choice *choices, size_t n,
                            const g4_oai_usage *u, g4_buf *o) {
    put_head(m, m->chat ? "chat.completion" : "text_completion", o);
    g4_buf_adds(o, ",\"choices\":[");
    for (size_t i = 0; i < n; i++) {
        const g4_oai_choice *c = &choices[i];
        if (i) g4_buf_addc(o, ',');
        if (m->chat) {
            g4_buf_adds(o, "{\"index\":");
            put_i64(o, (int64_t)i);
            g4_buf_adds(o, ",\"message\":");
            put_message(o, m, c);
            g4_buf_addc(o, ',');
        } else {
            g4_buf_adds(o, "{\"text\":");
            g4_oai_put_str(o, c->content, c->content ? c->content_len : 0);
            g4_buf_adds(o, ",\"index\":");
            put_i64(o, (int64_t)i);
            g4_buf_addc(o, ',');
        }
        put_logprobs(o, m->chat, c->logprobs, c->lp, c->n_lp);
        g4_buf_adds(o, ",\"finish_reason\":");
        put_finish(o, c->finish);
        g4_buf_addc(o, '}');
    }
    g4_buf_addc(o, ']');
    if (u) {
        g4_buf_adds(o, ",\"usage\":");
        g4_oai_format_usage(u, o);
        put_timings(u, o);
    }
    g4_buf_addc(o, '}');
}

static void put_delta(g4_buf *o, const g4_oai_meta *m, const g4_oai_delta *d) {
    bool first = true;
#define SEP() (first ? (void)(first = false) : g4_buf_addc(o, ','))
    g4_buf_addc(o, '{');
    if (d->role) {
        SEP();
        g4_buf_adds(o, "\"role\":\"assistant\"");
    }
    if (d->content || d->role) {
        SEP();
        g4_buf_adds(o, "\"content\":");
        g4_oai_put_str(o, d->content, d->content ? d->content_len : 0);
    }
    if (d->reasoning) {
        SEP();
        g4_buf_adds(o, "\"reasoning_content\":");
        g4_oai_put_str(o, d->reasoning, d->reasoning_len);
        if (m->reasoning_alias) {
            g4_buf_adds(o, ",\"reasoning\":");
            g4_oai_put_str(o, d->reasoning, d->reasoning_len);
        }
    }
    if (d->tool_index >= 0) {
        SEP();
        g4_buf_adds(o, "\"tool_calls\":[{\"index\":");
        put_i64(o, d->tool_index);
        if (d->tool_id || d->tool_name) {
            g4_buf_adds(o, ",\"id\":");
            put_cstr(o, d->tool_id);
            g4_buf_adds(o, ",\"type\":\"function\",\"function\":{\"name\":");
            put_cstr(o, d->tool_name);
            g4_buf_adds(o, ",\"arguments\":");
        } else {
            g4_buf_adds(o, ",\"function\":{\"arguments\":");
        }
        g4_oai_put_str(o, d->tool_args, d->tool_args ? d->tool_args_len : 0);
        g4_buf_adds(o, "}}]");
    }
    g4_buf_addc(o, '}');
#undef SEP
}

void g4_oai_format_chunk(const g4_oai_meta *m, const g4_oai_delta *d, g4_buf *o) {
    g4_buf_adds(o, "data: ");
    put_head(m, m->chat ? "chat.completion.chunk" : "text_completion", o);
    g4_buf_adds(o, ",\"choices\":[{");
    if (m->chat) {
        g4_buf_adds(o, "\"index\":");
        put_i64(o, d->index);
        g4_buf_adds(o, ",\"delta\":");
        put_delta(o, m, d);
    } else {
        g4_buf_adds(o, "\"text\":");
        g4_oai_put_str(o, d->content, d->content ? d->content_len : 0);
        g4_buf_adds(o, ",\"index\":");
        put_i64(o, d->index);
    }
    g4_buf_addc(o, ',');
    put_logprobs(o, m->chat, d->logprobs && d->n_lp, d->lp, d->n_lp);
    g4_buf_adds(o, ",\"finish_reason\":");
    put_finish(o, d->finish);
    g4_buf_adds(o, "}]}\n\n");
}

void g4_oai_format_usage_chunk(const g4_oai_meta *m, const g4_oai_usage *u, g4_buf *o) {
    g4_buf_adds(o, "data: ");
    put_head(m, m->chat ? "chat.completion.chunk" : "text_completion", o);
    g4_buf_adds(o, ",\"choices\":[],\"usage\":");
    g4_oai_format_usage(u, o);
    put_timings(u, o);
    g4_buf_adds(o, "}\n\n");
}

void g4_oai_format_done(g4_buf *o) { g4_buf_adds(o, "data: [DONE]\n\n"); }

/* ---- models, health ---- */

void g4_oai_format_models(const g4_oai_model_info *models, size_t n, g4_buf *o) {
    g4_buf_adds(o, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        const g4_oai_model_info *mi = &models[i];
        if (i) g4_buf_addc(o, ',');
        g4_buf_adds(o, "{\"id\":");
        put_cstr(o, mi->id);
        g4_buf_adds(o, ",\"object\":\"model\",\"created\":");
        put_i64(o, mi->created);
        g4_buf_adds(o, ",\"owned_by\":");
        put_cstr(o, mi->owned_by ? mi->owned_by : "gemma4c");
        struct { const char *k; int64_t v; } meta[] = {
            {"n_ctx", mi->n_ctx},   {"n_ctx_train", mi->n_ctx_train}, {"n_vocab", mi->n_vocab},
            {"n_params", mi->n_params}, {"size", mi->size}};
        bool any = false;
        for (size_t k = 0; k < sizeof meta / sizeof *meta; k++) {
            if (!meta[k].v) continue;
            g4_buf_adds(o, any ? "," : ",\"meta\":{");
            any = true;
            put_key(o, meta[k].k);
            put_i64(o, meta[k].v);
        }
        if (any) g4_buf_addc(o, '}');
        g4_buf_addc(o, '}');
    }
    g4_buf_adds(o, "]}");
}

void g4_oai_format_health(g4_buf *o) { g4_buf_adds(o, "{\"status\":\"ok\"}"); }

/* ---- /tokenize, /detokenize ---- */

static bool parse_body_object(const char *body, size_t len, g4_json **root, g4_oai_error *err) {
    g4_error je = {0};
    g4_status st = g4_json_parse(body ? body : "", body ? len : 0, root, &je);
    if (st == G4_ERR_NOMEM) return oom(err);
    if (st != G4_OK) {
        g4_oai_error_invalid(err, NULL, "We could not parse the JSON body of your request (%s).", je.msg);
        return false;
    }
    if (!g4_json_is_object(*root)) {
        g4_oai_error_invalid(err, NULL, "The request body must be a JSON object, got %s.", a_type(*root));
        g4_json_free(*root);
        *root = NULL;
        return false;
    }
    return true;
}

bool g4_oai_parse_tokenize(const char *body, size_t len, g4_oai_tokenize_req *r, g4_oai_error *err) {
    g4_oai_error scratch;
    if (!err) err = &scratch;
    memset(r, 0, sizeof *r);
    g4_json *root = NULL;
    if (!parse_body_object(body, len, &root, err)) return false;
    const char *s;
    size_t n;
    r->parse_special = true;
    int rc = opt_str(root, "content", NULL, &s, &n, err);
    bool ok = rc == F_SET;
    if (rc == F_ABSENT) missing(err, "content");
    ok = ok && opt_bool(root, "add_special", NULL, &r->add_special, err) != F_FAIL &&
         opt_bool(root, "parse_special", NULL, &r->parse_special, err) != F_FAIL &&
         opt_bool(root, "with_pieces", NULL, &r->with_pieces, err) != F_FAIL;
    if (ok && !(r->content = dup_bytes(s, n))) ok = oom(err);
    r->content_len = ok ? n : 0;
    g4_json_free(root);
    if (!ok) g4_oai_tokenize_req_free(r);
    return ok;
}

void g4_oai_tokenize_req_free(g4_oai_tokenize_req *r) {
    if (!r) return;
    free(r->content);
    memset(r, 0, sizeof *r);
}

bool g4_oai_parse_detokenize(const char *body, size_t len, g4_oai_detokenize_req *r,
                             g4_oai_error *err) {
    g4_oai_error scratch;
    if (!err) err = &scratch;
    memset(r, 0, sizeof *r);
    g4_json *root = NULL;
    if (!parse_body_object(body, len, &root, err)) return false;
    bool ok = true;
    const g4_json *t = g4_json_get(root, "tokens");
    if (t && !g4_json_is_null(t)) {
        if (!g4_json_is_array(t)) {
            ok = bad_type(err, "tokens", "an array of token ids", t) != F_FAIL;
        } else if (g4_json_len(t)) {
            r->tokens = malloc(g4_json_len(t) * sizeof *r->tokens);
            if (!r->tokens) ok = oom(err);
            for (size_t i = 0; ok && i < g4_json_len(t); i++) {
                int64_t v;
                if (!as_int(g4_json_at(t, i), &v) || v < 0 || v > INT32_MAX) {
                    char q[40];
                    snprintf(q, sizeof q, "tokens[%zu]", i);
                    g4_oai_error_invalid(err, q, "Invalid '%s': expected a token id (a non-negative integer).", q);
                    ok = false;
                } else {
                    r->tokens[r->n_tokens++] = (int32_t)v;
                }
            }
        }
    }
    g4_json_free(root);
    if (!ok) g4_oai_detokenize_req_free(r);
    return ok;
}

void g4_oai_detokenize_req_free(g4_oai_detokenize_req *r) {
    if (!r) return;
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

void g4_oai_format_tokens(const int32_t *ids, size_t n, const char *const *pieces,
                          const size_t *lens, g4_buf *o) {
    g4_buf_adds(o, "{\"tokens\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) g4_buf_addc(o, ',');
        if (!pieces) {
            put_i64(o, ids[i]);
            continue;
        }
        g4_buf_adds(o, "{\"id\":");
        put_i64(o, ids[i]);
        g4_buf_adds(o, ",\"piece\":");
        const char *p = pieces[i] ? pieces[i] : "";
        size_t pl = pieces[i] ? lens[i] : 0;
        if (utf8_valid(p, pl)) g4_oai_put_str(o, p, pl);
        else put_bytes(o, p, pl);
        g4_buf_addc(o, '}');
    }
    g4_buf_adds(o, "]}");
}

void g4_oai_format_detokenized(const char *text, size_t len, g4_buf *o) {
    g4_buf_adds(o, "{\"content\":");
    g4_oai_put_str(o, text, len);
    g4_buf_addc(o, '}');
}
