/* parse.c — streaming Gemma 4 output parser (see parse.h and docs/PARSER.md).
 *
 * Three layers:
 *   lexer    splits the text into plain runs and markers, holding back a suffix that
 *            may still become a marker;
 *   states   CONTENT / CHNAME / THINK / CALL / DONE route the runs (spec §10.4);
 *   scanner  follows a tool-call body byte by byte just far enough to see where its
 *            argument object closes; the recursive-descent value parser (jp_*) then
 *            converts the finished body to JSON. */
#include "chat/parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"

/* ---- markers ---------------------------------------------------------------------- */

enum { MK_CH_OPEN, MK_CH_CLOSE, MK_TC_OPEN, MK_TC_CLOSE, MK_STR, MK_END, MK_DROP };

typedef struct {
    const char *s;
    unsigned char len, kind;
} marker;

#define MARK(str, k) {str, (unsigned char)(sizeof(str) - 1), k}
/* No marker is a prefix of another, so at most one matches at a position. */
static const marker k_markers[] = {
    MARK("<|channel>", MK_CH_OPEN),        MARK("<channel|>", MK_CH_CLOSE),
    MARK("<|tool_call>", MK_TC_OPEN),      MARK("<tool_call|>", MK_TC_CLOSE),
    MARK("<|\"|>", MK_STR),                MARK("<|tool_response>", MK_END),
    MARK("<turn|>", MK_END),               MARK("<eos>", MK_END),
    MARK("<|turn>", MK_END),               MARK("<tool_response|>", MK_DROP),
    MARK("<|think|>", MK_DROP),            MARK("<|tool>", MK_DROP),
    MARK("<tool|>", MK_DROP),
};
#define N_MARKERS (sizeof k_markers / sizeof k_markers[0])

#define STRDELIM "<|\"|>"
#define STRDELIM_LEN 5

/* s[0] == '<'. 1: a whole marker (*m); 0: the avail bytes are a proper prefix of a
 * marker (undecided); -1: no marker starts here. */
static int match_marker(const char *s, size_t avail, const marker **m) {
    int r = -1;
    for (size_t k = 0; k < N_MARKERS; k++) {
        const marker *mk = &k_markers[k];
        if (avail >= mk->len) {
            if (memcmp(s, mk->s, mk->len) == 0) {
                *m = mk;
                return 1;
            }
        } else if (memcmp(s, mk->s, avail) == 0) {
            r = 0;
        }
    }
    return r;
}

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* ---- value parser (Gemma object notation, leniently, to JSON) ---------------------- */

typedef struct {
    const char *s;
    size_t n, i;
    int depth;
    char open[G4_PARSE_MAX_DEPTH]; /* '{' or '[' per open level */
    bool too_deep;
    g4_buf *tmp; /* decoded key / string scratch */
} jp;

static void jp_init(jp *p, const char *s, size_t n, g4_buf *tmp) {
    memset(p, 0, sizeof *p);
    p->s = s;
    p->n = n;
    p->tmp = tmp;
}

static bool jp_delim_at(const jp *p, size_t i) {
    return i <= p->n && p->n - i >= STRDELIM_LEN && memcmp(p->s + i, STRDELIM, STRDELIM_LEN) == 0;
}

static void jp_ws(jp *p) {
    while (p->i < p->n && is_ws(p->s[p->i])) p->i++;
}

/* An unterminated string runs to the end of the input. Its tail may hold the closers
 * the model meant for the open containers ("x}" in `{a:<|"|>x}`, "y]}" in
 * `{a:[<|"|>y]}`): strip the longest trailing run of closers (spaces allowed around
 * them) that closes the innermost containers in order. */
static size_t trim_closers(const jp *p, size_t start, size_t end) {
    size_t pos[G4_PARSE_MAX_DEPTH]; /* pos[0] = last closer, pos[1] the one before ... */
    int cnt = 0;
    size_t t = end;
    while (cnt < p->depth) {
        while (t > start && is_ws(p->s[t - 1])) t--;
        if (t == start || (p->s[t - 1] != '}' && p->s[t - 1] != ']')) break;
        pos[cnt++] = --t;
    }
    for (int m = cnt; m > 0; m--) {
        bool match = true;
        for (int j = 0; j < m && match; j++) {
            char want = p->open[p->depth - 1 - j] == '{' ? '}' : ']';
            match = p->s[pos[m - 1 - j]] == want;
        }
        if (match) {
            size_t e = pos[m - 1];
            while (e > start && is_ws(p->s[e - 1])) e--;
            return e;
        }
    }
    return end;
}

/* JSON escapes (plus \'); an unknown escape keeps its backslash; \u surrogate pairs
 * combine, lone surrogates become U+FFFD. */
static void decode_escapes(const char *s, size_t n, g4_buf *out) {
    size_t run = 0, i = 0;
    while (i < n) {
        if (s[i] != '\\' || i + 1 >= n) {
            i++;
            continue;
        }
        g4_buf_add(out, s + run, i - run);
        char e = s[i + 1], c = 0;
        uint32_t cp;
        size_t k;
        switch (e) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case '"': case '\\': case '/': case '\'': c = e; break;
        default: break;
        }
        if (c) {
            g4_buf_addc(out, c);
            i += 2;
        } else if (e == 'u' && (k = g4_utf8_u_escape(s + i, n - i, &cp)) != 0) {
            char u[4];
            g4_buf_add(out, u, g4_utf8_encode(cp, u));
            i += k;
        } else {
            g4_buf_addc(out, '\\'); /* not an escape: keep it, the next byte is plain */
            i += 1;
        }
        run = i;
    }
    g4_buf_add(out, s + run, n - run);
}

/* `<|"|>text<|"|>` at p->i: the raw text range (no escapes inside). */
static void jp_gemma_str(jp *p, size_t *a, size_t *b) {
    size_t start = p->i + STRDELIM_LEN;
    for (size_t j = start; j < p->n; j++) {
        if (p->s[j] == '<' && jp_delim_at(p, j)) {
            *a = start;
            *b = j;
            p->i = j + STRDELIM_LEN;
            return;
        }
    }
    *a = start;
    *b = trim_closers(p, start, p->n);
    p->i = p->n;
}

/* A single-quoted string ends at a quote followed by optional spaces and , } ] : or
 * the end, so apostrophes inside ('it's') survive. */
static bool sq_closes(const jp *p, size_t k) {
    while (k < p->n && is_ws(p->s[k])) k++;
    return k == p->n || p->s[k] == ',' || p->s[k] == '}' || p->s[k] == ']' || p->s[k] == ':';
}

/* "..." or '...' at p->i, decoded into out. A `<|"|>` inside counts as literal text. */
static void jp_quoted_str(jp *p, g4_buf *out) {
    char q = p->s[p->i];
    size_t start = p->i + 1, j = start;
    bool closed = false;
    while (j < p->n) {
        if (jp_delim_at(p, j)) {
            j += STRDELIM_LEN;
            continue;
        }
        char c = p->s[j];
        if (c == '\\') {
            j++;
            if (j < p->n) j += jp_delim_at(p, j) ? STRDELIM_LEN : 1;
            continue;
        }
        if (c == q && (q == '"' || sq_closes(p, j + 1))) {
            closed = true;
            break;
        }
        j++;
    }
    size_t end = closed ? j : trim_closers(p, start, p->n);
    if (end > p->n) end = p->n; /* an escape at the very end */
    decode_escapes(p->s + start, end - start, out);
    p->i = closed ? j + 1 : p->n;
}

/* A bare value runs to the first , } ] outside brackets it opened itself, or to a
 * string delimiter. */
static size_t bare_end(const jp *p, size_t i) {
    size_t bal = 0;
    while (i < p->n) {
        char c = p->s[i];
        if (c == '<' && jp_delim_at(p, i)) break;
        if (c == '{' || c == '[') {
            bal++;
        } else if (c == '}' || c == ']') {
            if (!bal) break;
            bal--;
        } else if (c == ',' && !bal) {
            break;
        }
        i++;
    }
    return i;
}

/* Writes the JSON form of a number literal, lenient about a leading '+', ".5" and "1.";
 * false (nothing written) if s is not a number. A valid JSON number is written
 * unchanged. Leading zeros ("007", "02139") are not a number: such a word stays a
 * string, which loses nothing. */
static bool number_json(const char *s, size_t n, g4_buf *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    size_t is = i;
    while (i < n && is_digit(s[i])) i++;
    size_t ie = i, fs = i, fe = i;
    bool dot = false;
    if (i < n && s[i] == '.') {
        dot = true;
        fs = ++i;
        while (i < n && is_digit(s[i])) i++;
        fe = i;
    }
    if (ie == is && fe == fs) return false;
    if (ie - is > 1 && s[is] == '0') return false;
    size_t es = i, ee = i;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d0 = i;
        while (i < n && is_digit(s[i])) i++;
        if (i == d0) return false;
        ee = i;
    }
    if (i != n) return false;
    if (neg) g4_buf_addc(out, '-');
    if (ie == is) g4_buf_addc(out, '0');
    else g4_buf_add(out, s + is, ie - is);
    if (dot) {
        g4_buf_addc(out, '.');
        if (fe > fs) g4_buf_add(out, s + fs, fe - fs);
        else g4_buf_addc(out, '0');
    }
    g4_buf_add(out, s + es, ee - es);
    return true;
}

static bool word_is(const char *s, size_t n, const char *w) {
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

static bool jp_value(jp *p, g4_buf *out);

static bool jp_push(jp *p, char kind) {
    if (p->depth >= G4_PARSE_MAX_DEPTH) {
        p->too_deep = true;
        return false;
    }
    p->open[p->depth++] = kind;
    p->i++;
    return true;
}

/* Key at p->i, decoded into p->tmp, and its ':'. 1 ok, 0 malformed, -1 the input ends
 * inside the key (a truncated call: the key is dropped). */
static int jp_key(jp *p) {
    g4_buf_clear(p->tmp);
    char c = p->s[p->i];
    if (c == '<' && jp_delim_at(p, p->i)) {
        size_t a, b;
        jp_gemma_str(p, &a, &b);
        g4_buf_add(p->tmp, p->s + a, b - a);
    } else if (c == '"' || c == '\'') {
        jp_quoted_str(p, p->tmp);
    } else {
        size_t j = p->i;
        while (j < p->n) {
            char d = p->s[j];
            if (d == ':' || d == '{' || d == '}' || d == '[' || d == ']' || d == ',') break;
            if (d == '<' && jp_delim_at(p, j)) break;
            j++;
        }
        size_t e = j;
        while (e > p->i && is_ws(p->s[e - 1])) e--;
        if (e == p->i) return 0;
        g4_buf_add(p->tmp, p->s + p->i, e - p->i);
        p->i = j;
    }
    jp_ws(p);
    if (p->i >= p->n) return -1;
    if (p->s[p->i] != ':') return 0;
    p->i++;
    return 1;
}

/* The head of a lenient container's loop: skips white space and commas; true before the
 * next member, false at the end of the input (a missing closer is tolerated) or after
 * consuming a closing '}' or ']' (either one closes either container). */
static bool jp_more(jp *p) {
    for (;;) {
        jp_ws(p);
        if (p->i >= p->n) return false;
        char c = p->s[p->i];
        if (c == '}' || c == ']') {
            p->i++;
            return false;
        }
        if (c != ',') return true;
        p->i++;
    }
}

static bool jp_object(jp *p, g4_buf *out) {
    if (!jp_push(p, '{')) return false;
    g4_buf_addc(out, '{');
    bool first = true;
    while (jp_more(p)) {
        int k = jp_key(p);
        if (k < 0) break;
        if (k == 0) return false;
        if (!first) g4_buf_addc(out, ',');
        first = false;
        g4_buf_add_json_str(out, g4_buf_str(p->tmp), p->tmp->n);
        g4_buf_addc(out, ':');
        if (!jp_value(p, out)) return false;
        /* a missing ',' between members is tolerated: the loop just goes on */
    }
    p->depth--;
    g4_buf_addc(out, '}');
    return true;
}

static bool jp_array(jp *p, g4_buf *out) {
    if (!jp_push(p, '[')) return false;
    g4_buf_addc(out, '[');
    bool first = true;
    while (jp_more(p)) {
        if (!first) g4_buf_addc(out, ',');
        first = false;
        if (!jp_value(p, out)) return false;
    }
    p->depth--;
    g4_buf_addc(out, ']');
    return true;
}

/* Every branch consumes at least one byte unless the value is empty (then "null"). */
static bool jp_value(jp *p, g4_buf *out) {
    jp_ws(p);
    if (p->i >= p->n) {
        g4_buf_adds(out, "null");
        return true;
    }
    char c = p->s[p->i];
    if (c == '<' && jp_delim_at(p, p->i)) {
        size_t a, b;
        jp_gemma_str(p, &a, &b);
        g4_buf_add_json_str(out, p->s + a, b - a);
        return true;
    }
    if (c == '"' || c == '\'') {
        g4_buf_clear(p->tmp);
        jp_quoted_str(p, p->tmp);
        g4_buf_add_json_str(out, g4_buf_str(p->tmp), p->tmp->n);
        return true;
    }
    if (c == '{') return jp_object(p, out);
    if (c == '[') return jp_array(p, out);
    size_t e = bare_end(p, p->i), t = e;
    while (t > p->i && is_ws(p->s[t - 1])) t--;
    const char *w = p->s + p->i;
    size_t wn = t - p->i;
    p->i = e;
    if (wn == 0 || word_is(w, wn, "null") || word_is(w, wn, "None")) g4_buf_adds(out, "null");
    else if (word_is(w, wn, "true") || word_is(w, wn, "True")) g4_buf_adds(out, "true");
    else if (word_is(w, wn, "false") || word_is(w, wn, "False")) g4_buf_adds(out, "false");
    else if (!number_json(w, wn, out)) g4_buf_add_json_str(out, w, wn);
    return true;
}

/* Function names: 1..256 bytes, no spaces, controls, brackets, quotes or '<' '>' ','
 * ';' '='; ':' '.' '-' '/' '@' and UTF-8 are fine (MCP names like "srv:tool"). */
static bool valid_name(const char *s, size_t n) {
    if (n == 0 || n > 256) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7F || strchr("{}[]()<>,;=\"'`\\", c)) return false;
    }
    return true;
}

/* `{"name":"f","arguments":{...}}` — a JSON tool-call object instead of call:NAME{...}.
 * "arguments" may also be "parameters"/"args", and may be a JSON string holding the
 * object. */
static bool jp_call_json(jp *p, g4_buf *name, g4_buf *args) {
    g4_buf junk = G4_BUF_INIT, str = G4_BUF_INIT, tmp2 = G4_BUF_INIT;
    bool ok = false, have_args = false;
    if (!jp_push(p, '{')) goto out;
    while (jp_more(p)) {
        int k = jp_key(p);
        if (k < 0) break;
        if (k == 0) goto out;
        const char *key = g4_buf_str(p->tmp);
        size_t kn = p->tmp->n;
        bool is_name = word_is(key, kn, "name");
        bool is_args = word_is(key, kn, "arguments") || word_is(key, kn, "parameters") ||
                       word_is(key, kn, "args");
        jp_ws(p);
        char v = p->i < p->n ? p->s[p->i] : 0;
        bool v_str = v == '"' || v == '\'' || (v == '<' && jp_delim_at(p, p->i));
        if (is_name && v_str) {
            g4_buf_clear(name);
            if (v == '<') {
                size_t a, b;
                jp_gemma_str(p, &a, &b);
                g4_buf_add(name, p->s + a, b - a);
            } else {
                jp_quoted_str(p, name);
            }
        } else if (is_args && v == '{') {
            g4_buf_clear(args);
            if (!jp_object(p, args)) goto out;
            have_args = true;
        } else if (is_args && v_str && v != '<') {
            g4_buf_clear(&str);
            jp_quoted_str(p, &str);
            jp q;
            jp_init(&q, g4_buf_str(&str), str.n, &tmp2);
            jp_ws(&q);
            if (q.i < q.n && q.s[q.i] == '{') {
                g4_buf_clear(args);
                if (!jp_object(&q, args)) {
                    p->too_deep = q.too_deep;
                    goto out;
                }
                have_args = true;
            }
        } else {
            g4_buf_clear(&junk);
            if (!jp_value(p, &junk)) goto out;
        }
    }
    p->depth--;
    if (!valid_name(g4_buf_str(name), name->n)) goto out;
    if (!have_args) {
        g4_buf_clear(args);
        g4_buf_adds(args, "{}");
    }
    ok = true;
out:
    g4_buf_free(&junk);
    g4_buf_free(&str);
    g4_buf_free(&tmp2);
    return ok;
}

/* True when s[i..) starts with "call" [spaces] ":"; *after = the index after ':'. */
static bool call_prefix(const char *s, size_t n, size_t i, size_t *after) {
    if (n - i < 4 || memcmp(s + i, "call", 4) != 0) return false;
    i += 4;
    while (i < n && is_ws(s[i])) i++;
    if (i >= n || s[i] != ':') return false;
    *after = i + 1;
    return true;
}

/* A call body: `call:NAME{args}`, `NAME{args}`, `call:NAME` (no arguments) or a JSON
 * tool-call object. Leaves p->i after the arguments. */
static bool jp_call(jp *p, g4_buf *name, g4_buf *args) {
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == '{') return jp_call_json(p, name, args);
    size_t after;
    if (call_prefix(p->s, p->n, p->i, &after)) p->i = after;
    size_t a = p->i, b = a;
    while (b < p->n && p->s[b] != '{') b++;
    size_t e = b;
    while (a < e && is_ws(p->s[a])) a++;
    while (e > a && is_ws(p->s[e - 1])) e--;
    if (!valid_name(p->s + a, e - a)) return false;
    g4_buf_add(name, p->s + a, e - a);
    p->i = b;
    if (b >= p->n) {
        g4_buf_adds(args, "{}");
        return true;
    }
    return jp_object(p, args);
}

g4_status g4_gemma_value_to_json(const char *s, size_t len, g4_buf *json, g4_error *err) {
    if (!json || (!s && len)) return g4_fail(err, G4_ERR_ARG, "gemma value: NULL argument");
    static const char open[] = "<|tool_call>", close[] = "<tool_call|>";
    size_t a = 0, b = len;
    while (a < b && is_ws(s[a])) a++;
    while (b > a && is_ws(s[b - 1])) b--;
    if (b - a >= sizeof open - 1 && memcmp(s + a, open, sizeof open - 1) == 0) {
        a += sizeof open - 1;
        if (b - a >= sizeof close - 1 && memcmp(s + b - (sizeof close - 1), close, sizeof close - 1) == 0)
            b -= sizeof close - 1;
    }
    while (a < b && is_ws(s[a])) a++;
    if (a == b) return g4_fail(err, G4_ERR_FORMAT, "gemma value: empty input");

    g4_buf tmp = G4_BUF_INIT, name = G4_BUF_INIT, args = G4_BUF_INIT, res = G4_BUF_INIT;
    jp p;
    jp_init(&p, s + a, b - a, &tmp);
    size_t after;
    bool is_call = call_prefix(p.s, p.n, 0, &after);
    bool ok = is_call ? jp_call(&p, &name, &args) : jp_value(&p, &res);
    g4_status st = G4_OK;
    if (ok) jp_ws(&p);
    if (!ok) {
        st = p.too_deep ? g4_fail(err, G4_ERR_FORMAT, "gemma value: nesting deeper than %d",
                                  G4_PARSE_MAX_DEPTH)
                        : g4_fail(err, G4_ERR_FORMAT, "gemma value: cannot parse at byte %zu",
                                  a + p.i);
    } else if (p.i < p.n) {
        st = g4_fail(err, G4_ERR_FORMAT, "gemma value: unexpected text at byte %zu", a + p.i);
    } else if (is_call) {
        g4_buf_adds(&res, "{\"name\":");
        g4_buf_add_json_str(&res, g4_buf_str(&name), name.n);
        g4_buf_adds(&res, ",\"arguments\":");
        g4_buf_add(&res, g4_buf_str(&args), args.n);
        g4_buf_addc(&res, '}');
    }
    if (st == G4_OK) {
        if (!g4_buf_ok(&tmp) || !g4_buf_ok(&name) || !g4_buf_ok(&args) || !g4_buf_ok(&res))
            st = g4_fail(err, G4_ERR_NOMEM, "gemma value: out of memory");
        else
            g4_buf_add(json, g4_buf_str(&res), res.n);
    }
    g4_buf_free(&tmp);
    g4_buf_free(&name);
    g4_buf_free(&args);
    g4_buf_free(&res);
    return st;
}

/* ---- call-body scanner ---------------------------------------------------------------
 * Mirrors the value parser's notion of strings and brackets so it can tell, while the
 * body streams in, when the argument object has closed. */

enum { SC_PRE, SC_NORM, SC_GSTR, SC_JSTR, SC_JESC, SC_SQ, SC_SQESC, SC_SQEND };

typedef struct {
    unsigned char mode;
    bool at_start; /* at the start of a key or value: a quote opens a string */
    size_t depth;
} scanner;

/* true when c closes the argument object */
static bool scan_byte(scanner *sc, char c) {
    switch (sc->mode) {
    case SC_PRE:
        if (c == '{') {
            sc->mode = SC_NORM;
            sc->depth = 1;
            sc->at_start = true;
        }
        return false;
    case SC_GSTR: return false;
    case SC_JSTR:
        if (c == '\\') sc->mode = SC_JESC;
        else if (c == '"') sc->mode = SC_NORM;
        return false;
    case SC_JESC: sc->mode = SC_JSTR; return false;
    case SC_SQESC: sc->mode = SC_SQ; return false;
    case SC_SQEND:
        if (is_ws(c)) return false;
        if (c != ',' && c != '}' && c != ']' && c != ':') {
            sc->mode = SC_SQ; /* the quote was an apostrophe */
            if (c == '\\') sc->mode = SC_SQESC;
            else if (c == '\'') sc->mode = SC_SQEND;
            return false;
        }
        sc->mode = SC_NORM;
        break; /* handle c below */
    case SC_SQ:
        if (c == '\\') sc->mode = SC_SQESC;
        else if (c == '\'') sc->mode = SC_SQEND;
        return false;
    default: break;
    }
    switch (c) {
    case '{':
    case '[': sc->depth++; sc->at_start = true; return false;
    case '}':
    case ']': sc->at_start = false; return --sc->depth == 0;
    case ',':
    case ':': sc->at_start = true; return false;
    case '"':
        if (sc->at_start) sc->mode = SC_JSTR;
        sc->at_start = false;
        return false;
    case '\'':
        if (sc->at_start) sc->mode = SC_SQ;
        sc->at_start = false;
        return false;
    default:
        if (!is_ws(c)) sc->at_start = false;
        return false;
    }
}

static void scan_delim(scanner *sc) {
    switch (sc->mode) {
    case SC_NORM: sc->mode = SC_GSTR; sc->at_start = false; break;
    case SC_GSTR: sc->mode = SC_NORM; break;
    case SC_JESC: sc->mode = SC_JSTR; break;
    case SC_SQESC:
    case SC_SQEND: sc->mode = SC_SQ; break;
    default: break; /* before the object, or literal inside a quoted string */
    }
}

/* ---- the streaming parser ------------------------------------------------------------ */

typedef enum { ST_CONTENT, ST_CHNAME, ST_THINK, ST_CALL, ST_DONE } pstate;

#define CHNAME_MAX 32

struct g4_outparser {
    pstate state;
    bool strip_ws; /* drop leading whitespace of the next content / reasoning */
    bool done, finished, wants_tools;
    int n_calls;
    g4_status status; /* sticky error */
    const char *errmsg;
    char chname[CHNAME_MAX];
    size_t chname_len;
    scanner sc;
    g4_buf in;   /* unconsumed input: between feeds, at most a marker prefix */
    g4_buf body; /* the tool call being read */
    g4_buf out;  /* pending coalesced delta */
    g4_parse_kind out_kind;
    g4_buf name, args, tmp;
    g4_parse_cb cb; /* during a feed / finish */
    void *user;
};

static void flush_out(g4_outparser *p) {
    if (p->out.n == 0) return;
    if (p->cb && g4_buf_ok(&p->out)) {
        g4_parse_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = p->out_kind;
        ev.text = p->out.p;
        ev.len = p->out.n;
        p->cb(p->user, &ev);
    }
    g4_buf_clear(&p->out);
}

static void emit_text(g4_outparser *p, g4_parse_kind kind, const char *s, size_t n) {
    if (p->strip_ws) {
        while (n && is_ws(*s)) s++, n--;
        if (!n) return;
        p->strip_ws = false;
    }
    if (!n) return;
    if (p->out.n && p->out_kind != kind) flush_out(p);
    p->out_kind = kind;
    g4_buf_add(&p->out, s, n);
}

/* Content that was meant as a call but cannot be parsed: the text without markers,
 * string delimiters shown as '"'. */
static void emit_raw(g4_outparser *p, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i + STRDELIM_LEN <= n; i++) {
        if (s[i] == '<' && memcmp(s + i, STRDELIM, STRDELIM_LEN) == 0) {
            emit_text(p, G4_PARSE_CONTENT, s + run, i - run);
            emit_text(p, G4_PARSE_CONTENT, "\"", 1);
            i += STRDELIM_LEN - 1;
            run = i + 1;
        }
    }
    emit_text(p, G4_PARSE_CONTENT, s + run, n - run);
}

static void fail_sticky(g4_outparser *p, g4_status st, const char *msg) {
    if (p->status == G4_OK) {
        p->status = st;
        p->errmsg = msg;
    }
}

static void finish_call(g4_outparser *p) {
    g4_buf_clear(&p->name);
    g4_buf_clear(&p->args);
    jp q;
    jp_init(&q, g4_buf_str(&p->body), p->body.n, &p->tmp);
    if (jp_call(&q, &p->name, &p->args)) {
        flush_out(p);
        if (!g4_buf_ok(&p->name) || !g4_buf_ok(&p->args) || !g4_buf_ok(&p->tmp)) {
            fail_sticky(p, G4_ERR_NOMEM, "out of memory");
        } else if (p->cb) {
            g4_parse_event ev;
            memset(&ev, 0, sizeof ev);
            ev.kind = G4_PARSE_TOOL_CALL;
            ev.name = p->name.p;
            ev.name_len = p->name.n;
            ev.args = p->args.p;
            ev.args_len = p->args.n;
            ev.index = p->n_calls;
            p->cb(p->user, &ev);
        }
        p->n_calls++;
        p->wants_tools = true;
        /* text after the arguments that the scanner did not cut off (only possible
         * for malformed bodies) stays visible */
        p->strip_ws = true;
        emit_raw(p, q.s + q.i, q.n - q.i);
    } else {
        emit_raw(p, g4_buf_str(&p->body), p->body.n);
    }
    g4_buf_clear(&p->body);
}

static void to_content(g4_outparser *p) {
    p->state = ST_CONTENT;
    p->strip_ws = true;
}

static void enter_chname(g4_outparser *p) {
    p->state = ST_CHNAME;
    p->chname_len = 0;
}

static void enter_think(g4_outparser *p) {
    p->state = ST_THINK;
    p->strip_ws = true;
}

static void enter_call(g4_outparser *p) {
    p->state = ST_CALL;
    g4_buf_clear(&p->body);
    memset(&p->sc, 0, sizeof p->sc);
}

static void end_output(g4_outparser *p) {
    p->state = ST_DONE;
    p->done = true;
}

static void body_add(g4_outparser *p, const char *s, size_t n) {
    if (n > G4_PARSE_MAX_CALL - p->body.n) {
        fail_sticky(p, G4_ERR_UNSUPPORTED, "tool call longer than G4_PARSE_MAX_CALL bytes");
        return;
    }
    g4_buf_add(&p->body, s, n);
}

/* The channel-name line after <|channel>: a word of up to CHNAME_MAX name characters
 * ended by '\n' (or a marker) is the name and is dropped. Anything else means the model
 * started its reasoning right away: the word is reasoning, except "thought". */
static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
}

static size_t chname_text(g4_outparser *p, const char *s, size_t n) {
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (p->chname_len == 0 && is_ws(c)) continue;
        if (c == '\n') {
            enter_think(p);
            return k + 1;
        }
        if (is_name_char(c) && p->chname_len < CHNAME_MAX) {
            p->chname[p->chname_len++] = c;
            continue;
        }
        enter_think(p);
        if (!word_is(p->chname, p->chname_len, "thought"))
            emit_text(p, G4_PARSE_REASONING, p->chname, p->chname_len);
        return k;
    }
    return n;
}

static size_t call_text(g4_outparser *p, const char *s, size_t n) {
    for (size_t k = 0; k < n; k++) {
        if (scan_byte(&p->sc, s[k])) {
            body_add(p, s, k + 1);
            finish_call(p);
            to_content(p);
            return k + 1;
        }
    }
    body_add(p, s, n);
    return n;
}

static void on_text(g4_outparser *p, const char *s, size_t n) {
    while (n && p->status == G4_OK) {
        size_t k = n;
        switch (p->state) {
        case ST_CONTENT: emit_text(p, G4_PARSE_CONTENT, s, n); break;
        case ST_THINK: emit_text(p, G4_PARSE_REASONING, s, n); break;
        case ST_CHNAME: k = chname_text(p, s, n); break;
        case ST_CALL: k = call_text(p, s, n); break;
        case ST_DONE: break;
        }
        s += k;
        n -= k;
    }
}

static void on_marker(g4_outparser *p, int kind) {
    if (p->state == ST_CALL) {
        switch (kind) {
        case MK_STR:
            body_add(p, STRDELIM, STRDELIM_LEN);
            scan_delim(&p->sc);
            return;
        case MK_TC_CLOSE: finish_call(p); to_content(p); return;
        case MK_TC_OPEN: finish_call(p); enter_call(p); return;
        case MK_CH_OPEN: finish_call(p); enter_chname(p); return;
        case MK_END: finish_call(p); end_output(p); return;
        default: return; /* <channel|>, <tool_response|> ... inside a call: dropped */
        }
    }
    if (p->state == ST_DONE) return;
    switch (kind) {
    case MK_CH_OPEN: enter_chname(p); break;
    case MK_TC_OPEN: enter_call(p); break;
    case MK_END: end_output(p); break;
    case MK_CH_CLOSE:
        if (p->state != ST_CONTENT) to_content(p); /* in CONTENT: a stray close, dropped */
        break;
    default: break; /* stray <tool_call|>, <|"|>, <tool_response|> ...: dropped */
    }
}

/* Splits p->in into runs and markers. Unless final, a suffix that may still become a
 * marker stays in p->in. */
static void lex(g4_outparser *p, bool final) {
    const char *s = g4_buf_str(&p->in);
    size_t n = p->in.n, i = 0, start = 0, keep = n;
    while (i < n && p->state != ST_DONE && p->status == G4_OK) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt) break;
        i = (size_t)(lt - s);
        const marker *m = NULL;
        int r = match_marker(s + i, n - i, &m);
        if (r < 0 || (r == 0 && final)) {
            i++;
            continue;
        }
        if (r == 0) {
            keep = i;
            break;
        }
        if (i > start) on_text(p, s + start, i - start);
        i += m->len;
        start = i;
        on_marker(p, m->kind);
    }
    if (p->state == ST_DONE || p->status != G4_OK) {
        g4_buf_clear(&p->in);
        return;
    }
    if (keep > start) on_text(p, s + start, keep - start);
    if (keep < n) memmove(p->in.p, p->in.p + keep, n - keep);
    p->in.n = n - keep;
    if (p->in.p) p->in.p[p->in.n] = 0;
}

static g4_status check(g4_outparser *p, g4_error *err) {
    if (p->status == G4_OK &&
        (!g4_buf_ok(&p->in) || !g4_buf_ok(&p->body) || !g4_buf_ok(&p->out) ||
         !g4_buf_ok(&p->name) || !g4_buf_ok(&p->args) || !g4_buf_ok(&p->tmp)))
        fail_sticky(p, G4_ERR_NOMEM, "out of memory");
    if (p->status != G4_OK) return g4_fail(err, p->status, "output parser: %s", p->errmsg);
    return G4_OK;
}

g4_status g4_outparser_new(bool in_thinking, g4_outparser **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "output parser: NULL out");
    *out = NULL;
    g4_outparser *p = calloc(1, sizeof *p);
    if (!p) return g4_fail(err, G4_ERR_NOMEM, "output parser: out of memory");
    p->strip_ws = true;
    p->state = in_thinking ? ST_THINK : ST_CONTENT;
    *out = p;
    return G4_OK;
}

g4_status g4_outparser_feed(g4_outparser *p, const char *text, size_t len, g4_parse_cb cb,
                            void *user, g4_error *err) {
    if (!p || (!text && len)) return g4_fail(err, G4_ERR_ARG, "output parser: NULL argument");
    if (p->status != G4_OK) return check(p, err);
    if (p->finished) return g4_fail(err, G4_ERR_ARG, "output parser: feed after finish");
    if (p->state == ST_DONE || len == 0) return G4_OK;
    p->cb = cb;
    p->user = user;
    g4_buf_add(&p->in, text, len);
    if (g4_buf_ok(&p->in)) lex(p, false);
    flush_out(p);
    p->cb = NULL;
    p->user = NULL;
    return check(p, err);
}

g4_status g4_outparser_finish(g4_outparser *p, g4_parse_cb cb, void *user, g4_error *err) {
    if (!p) return g4_fail(err, G4_ERR_ARG, "output parser: NULL argument");
    if (p->status != G4_OK) return check(p, err);
    if (p->finished) return G4_OK;
    p->cb = cb;
    p->user = user;
    if (p->state != ST_DONE) lex(p, true);
    g4_buf_clear(&p->in);
    if (p->state == ST_CALL && p->status == G4_OK) {
        finish_call(p);
        p->state = ST_CONTENT;
    }
    flush_out(p);
    p->cb = NULL;
    p->user = NULL;
    p->finished = true;
    return check(p, err);
}

bool g4_outparser_done(const g4_outparser *p) { return p && p->done; }

bool g4_outparser_wants_tools(const g4_outparser *p) { return p && p->wants_tools; }

void g4_outparser_free(g4_outparser *p) {
    if (!p) return;
    g4_buf_free(&p->in);
    g4_buf_free(&p->body);
    g4_buf_free(&p->out);
    g4_buf_free(&p->name);
    g4_buf_free(&p->args);
    g4_buf_free(&p->tmp);
    free(p);
}
