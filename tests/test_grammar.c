/* test_grammar.c — constrained decoding (src/sample/grammar.h): random walks over many JSON
 * schemas and tool sets on the 640-token fixture vocabulary and the real 262144-token one
 * (every completed output must parse and validate; every walk must finish within its
 * budget), mask/accept agreement, token-level details (multi-element tokens, special
 * tokens, byte tokens, markers), hostile schemas, the validator, and mask timings. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat/parse.h"
#include "core/json.h"
#include "model/vocab_gguf.h"
#include "sample/grammar.h"
#include "t.h"
#include "text/tokenize.h"
#include "text/vocab.h"

#define FIXTURE G4_TEST_DATA "/dense-f32.gguf"
#define REAL_VOCAB G4_BUILD_DIR "/gemma4-vocab.gguf"
#define REAL_VOCAB_GZ G4_TEST_DATA "/vocab/gemma4-vocab.gguf.gz"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rndf(void) { return (float)(rnd() & 0xFFFFFF) / 16777216.0f; }

static g4_json *parse_or_die(const char *text) {
    g4_json *j = NULL;
    g4_error err = {0};
    if (g4_json_parse(text, strlen(text), &j, &err) != G4_OK) {
        fprintf(stderr, "bad test JSON: %s\n%s\n", err.msg, text);
        exit(2);
    }
    return j;
}

typedef struct {
    const char *name;
    g4_vocab *v;
    g4_gvocab *gv;
    int32_t n;
    float *logits;
} vctx;

static bool vctx_load(vctx *c, const char *name, const char *path) {
    g4_error err = {0};
    memset(c, 0, sizeof *c);
    c->name = name;
    if (g4_vocab_load_gguf(path, &c->v, &err) != G4_OK) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return false;
    }
    double t0 = now_s();
    if (g4_gvocab_new(c->v, &c->gv, &err) != G4_OK) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return false;
    }
    fprintf(stderr, "grammar: %s vocabulary index built in %.1f ms\n", name, (now_s() - t0) * 1e3);
    c->n = g4_vocab_n_tokens(c->v);
    c->logits = malloc((size_t)c->n * sizeof *c->logits);
    return c->logits != NULL;
}

static void vctx_free(vctx *c) {
    g4_gvocab_free(c->gv);
    g4_vocab_free(c->v);
    free(c->logits);
}

static int32_t tok_of(const vctx *c, const char *text) {
    return g4_vocab_find(c->v, text, strlen(text));
}

/* ---- one random walk ----------------------------------------------------------------------
 * Random logits -> mask -> a random allowed token -> accept, until an end token. Checks on
 * the way: something is always allowed, end tokens exactly when complete, a few banned
 * tokens are refused by accept, and (check_all) mask and can_accept agree on every token. */

typedef struct {
    int32_t *ids;
    size_t n, cap;
    bool completed;
} walk_out;

static void walk_push(walk_out *w, int32_t id) {
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->ids = realloc(w->ids, w->cap * sizeof *w->ids);
    }
    w->ids[w->n++] = id;
}

static bool random_walk(vctx *c, g4_gstate *s, int budget, int cap, bool check_all, walk_out *w) {
    w->n = 0;
    w->completed = false;
    g4_gstate_reset(s);
    if (budget >= 0) g4_gstate_set_budget(s, budget);
    bool ok = true;
    int32_t *allowed = malloc((size_t)c->n * sizeof *allowed);
    for (int step = 0; step < cap && ok; step++) {
        for (int32_t i = 0; i < c->n; i++) c->logits[i] = rndf() * 4.0f - 2.0f;
        g4_gstate_mask(s, c->logits);
        int32_t na = 0;
        bool eog_ok = false, other = false;
        for (int32_t i = 0; i < c->n; i++) {
            if (isinf(c->logits[i])) continue;
            allowed[na++] = i;
            if (g4_vocab_is_eog(c->v, i)) eog_ok = true;
            else other = true;
        }
        bool complete = g4_gstate_complete(s);
        T_CHECKF(na > 0, "%s: nothing allowed at step %d", c->name, step);
        T_CHECKF(eog_ok == complete, "%s: end allowed %d but complete %d", c->name, eog_ok, complete);
        T_CHECKF(complete || other, "%s: incomplete and only end tokens allowed", c->name);
        if (g4_gstate_finished(s)) T_CHECK(!other);
        if (!na) {
            ok = false;
            break;
        }
        if (check_all) {
            int bad = 0;
            for (int32_t i = 0; i < c->n; i++)
                if (isinf(c->logits[i]) == g4_gstate_can_accept(s, i)) {
                    if (bad++ < 3)
                        fprintf(stderr, "%s: token %d: mask %s but can_accept %d\n", c->name, i,
                                isinf(c->logits[i]) ? "bans" : "allows", g4_gstate_can_accept(s, i));
                }
            T_CHECKF(bad == 0, "%s: mask and can_accept disagree on %d tokens at step %d", c->name, bad, step);
        } else if (budget < 0) { /* (with a budget, banned tokens may still be grammatical) */
            for (int k = 0; k < 4; k++) {
                int32_t t = (int32_t)(rnd() % (uint32_t)c->n);
                if (isinf(c->logits[t])) T_CHECK(!g4_gstate_can_accept(s, t) && !g4_gstate_accept(s, t));
            }
        }
        int32_t tok = allowed[rnd() % (uint32_t)na];
        if (!g4_gstate_accept(s, tok)) {
            T_CHECKF(false, "%s: accept refused allowed token %d at step %d", c->name, tok, step);
            ok = false;
            break;
        }
        if (g4_vocab_is_eog(c->v, tok)) {
            w->completed = true;
            break;
        }
        walk_push(w, tok);
    }
    free(allowed);
    return ok;
}

static char *detok(vctx *c, const walk_out *w, size_t *len) {
    char *s = NULL;
    g4_error err = {0};
    if (g4_detokenize(c->v, w->ids, w->n, false, false, &s, len, &err) != G4_OK) return NULL;
    return s;
}

/* ---- JSON schema walks ------------------------------------------------------------------------ */

static const char *const k_schemas[] = {
    /* 0 */ "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"]}",
    /* 1 nested objects */
    "{\"type\":\"object\",\"properties\":{\"user\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":1},"
    "\"email\":{\"type\":\"string\",\"maxLength\":30}},\"required\":[\"id\"]},\"active\":{\"type\":\"boolean\"}},"
    "\"required\":[\"user\",\"active\"],\"additionalProperties\":false}",
    /* 2 enums */
    "{\"type\":\"object\",\"properties\":{\"color\":{\"enum\":[\"red\",\"green\",\"blue\",\"light blue\"]},"
    "\"size\":{\"type\":\"string\",\"enum\":[\"S\",\"M\",\"L\",\"XL\"]}},\"required\":[\"color\",\"size\"]}",
    /* 3 arrays, nested arrays */
    "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":8},\"minItems\":1,\"maxItems\":4},"
    "\"matrix\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"number\"},\"maxItems\":3},\"maxItems\":3}},"
    "\"required\":[\"tags\",\"matrix\"]}",
    /* 4 anyOf */
    "{\"type\":\"object\",\"properties\":{\"value\":{\"anyOf\":[{\"type\":\"string\",\"maxLength\":5},{\"type\":\"integer\"},"
    "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"}},\"required\":[\"x\"]}]}},\"required\":[\"value\"]}",
    /* 5 nullable, type arrays */
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]},\"b\":{\"type\":\"integer\",\"nullable\":true},"
    "\"c\":{\"anyOf\":[{\"type\":\"boolean\"},{\"type\":\"null\"}]}},\"required\":[\"a\",\"b\",\"c\"]}",
    /* 6 $ref into $defs */
    "{\"$defs\":{\"point\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"},\"y\":{\"type\":\"number\"}},"
    "\"required\":[\"x\",\"y\"],\"additionalProperties\":false}},\"type\":\"object\",\"properties\":{\"from\":{\"$ref\":\"#/$defs/point\"},"
    "\"to\":{\"$ref\":\"#/$defs/point\"}},\"required\":[\"from\",\"to\"]}",
    /* 7 definitions, top-level array */
    "{\"definitions\":{\"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":10}},\"type\":\"array\","
    "\"items\":{\"$ref\":\"#/definitions/name\"},\"minItems\":2,\"maxItems\":3}",
    /* 8 recursive tree */
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\","
    "\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":2}},\"required\":[\"v\"]}},\"$ref\":\"#/$defs/node\"}",
    /* 9 const, free-form object */
    "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"event\"},\"version\":{\"const\":2},\"payload\":{\"type\":\"object\"}},"
    "\"required\":[\"kind\",\"version\",\"payload\"]}",
    /* 10 integer ranges */
    "{\"type\":\"object\",\"properties\":{\"pct\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":100},"
    "\"neg\":{\"type\":\"integer\",\"minimum\":-50,\"maximum\":-10},\"big\":{\"type\":\"integer\",\"exclusiveMinimum\":1000}},"
    "\"required\":[\"pct\",\"neg\",\"big\"]}",
    /* 11 number ranges */
    "{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
    "\"t\":{\"type\":\"number\",\"exclusiveMinimum\":-1.5,\"exclusiveMaximum\":2.25},\"q\":{\"type\":\"number\",\"minimum\":0.1,\"maximum\":0.2}},"
    "\"required\":[\"p\",\"t\",\"q\"]}",
    /* 12 many optional members */
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\",\"maxLength\":3},\"c\":{\"type\":\"boolean\"},"
    "\"d\":{\"type\":\"null\"},\"e\":{\"type\":\"number\"},\"f\":{\"enum\":[1,2,3]},\"g\":{\"type\":\"array\",\"maxItems\":1},"
    "\"h\":{\"type\":\"object\",\"properties\":{\"z\":{\"type\":\"integer\"}}},\"i\":{\"type\":\"integer\"},\"j\":{\"type\":\"integer\"}}}",
    /* 13 additionalProperties schema */
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},\"required\":[\"id\"],\"additionalProperties\":{\"type\":\"integer\"}}",
    /* 14 map of short strings */
    "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"maxLength\":4}}",
    /* 15 prefixItems tuple */
    "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"},{\"type\":\"boolean\"}],\"items\":false,\"minItems\":2}",
    /* 16 string lengths */
    "{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":3},"
    "\"note\":{\"type\":\"string\",\"minLength\":1}},\"required\":[\"code\",\"note\"]}",
    /* 17 allOf */
    "{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},"
    "{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}",
    /* 18 oneOf with discriminators */
    "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"type\":{\"const\":\"circle\"},\"r\":{\"type\":\"number\",\"minimum\":0}},"
    "\"required\":[\"type\",\"r\"],\"additionalProperties\":false},{\"type\":\"object\",\"properties\":{\"type\":{\"const\":\"rect\"},"
    "\"w\":{\"type\":\"number\"},\"h\":{\"type\":\"number\"}},\"required\":[\"type\",\"w\",\"h\"],\"additionalProperties\":false}]}",
    /* 19 array of small integers */
    "{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},\"minItems\":1,\"maxItems\":5}",
    /* 20 enum of mixed values */
    "{\"enum\":[\"a\",1,2.5,true,null,{\"k\":\"v\"},[1,2]]}",
    /* 21 format / pattern are ignored */
    "{\"type\":\"object\",\"properties\":{\"date\":{\"type\":\"string\",\"format\":\"date-time\",\"pattern\":\"^\\\\d+$\"},"
    "\"uri\":{\"type\":\"string\",\"format\":\"uri\"}},\"required\":[\"date\"]}",
    /* 22 keys that need escapes, and a marker */
    "{\"type\":\"object\",\"properties\":{\"a \\\"quoted\\\" key\":{\"type\":\"integer\"},\"\\u00fcn\\u00ef\":{\"type\":\"boolean\"},"
    "\"<eos>\":{\"type\":\"string\",\"maxLength\":3}},\"required\":[\"a \\\"quoted\\\" key\",\"\\u00fcn\\u00ef\",\"<eos>\"]}",
    /* 23 OpenAI strict style */
    "{\"type\":\"object\",\"properties\":{\"steps\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"explanation\":{\"type\":\"string\"},\"output\":{\"type\":\"string\"}},\"required\":[\"explanation\",\"output\"],"
    "\"additionalProperties\":false}},\"final_answer\":{\"type\":\"string\"}},\"required\":[\"steps\",\"final_answer\"],"
    "\"additionalProperties\":false}",
    /* 24 the boolean schema true */
    "true",
    /* 25 left-recursive anyOf through $ref */
    "{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"},{\"type\":\"string\",\"maxLength\":4}]}},\"$ref\":\"#/$defs/a\"}",
};
#define N_SCHEMAS (sizeof k_schemas / sizeof k_schemas[0])

static int g_walks_done, g_walks_valid;

static void json_walks(vctx *c, const char *schema_text, int n_walks, int budget, int check_all_walks) {
    g4_json *schema = schema_text ? parse_or_die(schema_text) : NULL;
    g4_grammar *g = NULL;
    g4_gstate *s = NULL;
    g4_error err = {0};
    g4_status st = g4_grammar_json(schema, &g, &err);
    T_CHECKF(st == G4_OK, "compile %s: %s", schema_text ? schema_text : "(json_object)", err.msg);
    if (st == G4_OK) {
        st = g4_gstate_new(g, c->gv, &s, &err);
        T_CHECKF(st == G4_OK, "gstate: %s", err.msg);
    }
    walk_out w = {0};
    for (int k = 0; s && k < n_walks; k++) {
        g4_gstate_reset(s);
        int64_t need = g4_gstate_min_tokens(s);
        T_CHECKF(need > 0 && need < budget, "min tokens %lld, budget %d", (long long)need, budget);
        if (k < check_all_walks) { /* mask == can_accept on every token; no budget */
            if (!random_walk(c, s, -1, 60, true, &w)) break;
        }
        if (!random_walk(c, s, budget, budget + 2, false, &w)) break;
        g_walks_done++;
        T_CHECKF(w.completed, "%s: walk did not finish within its budget of %d tokens (%s)", c->name, budget,
                 schema_text ? schema_text : "json_object");
        if (!w.completed) continue;
        T_CHECK((int)w.n <= budget);
        size_t len = 0;
        char *text = detok(c, &w, &len);
        g4_json *val = NULL;
        st = g4_json_parse(text, len, &val, &err);
        T_CHECKF(st == G4_OK, "%s: output does not parse: %s\n  %s\n  schema %s", c->name, err.msg, text,
                 schema_text ? schema_text : "-");
        if (st == G4_OK) {
            if (schema) {
                st = g4_schema_validate(schema, val, &err);
                T_CHECKF(st == G4_OK, "%s: output invalid: %s\n  %s\n  schema %s", c->name, err.msg, text, schema_text);
            } else {
                T_CHECK(g4_json_is_object(val));
            }
            if (st == G4_OK) g_walks_valid++;
        }
        g4_json_free(val);
        free(text);
    }
    free(w.ids);
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(schema);
}

static void test_json_walks(vctx *c, int walks, bool real) {
    int before = g_walks_valid;
    for (size_t i = 0; i < N_SCHEMAS; i++) {
        rng_state = 0x9E3779B97F4A7C15ull ^ (i * 7919u) ^ (real ? 1 : 0);
        json_walks(c, k_schemas[i], walks, real ? 160 : 220, real ? 0 : 1);
    }
    json_walks(c, NULL, walks, 160, real ? 0 : 1);
    fprintf(stderr, "grammar: %s: %d valid JSON walks over %zu schemas\n", c->name, g_walks_valid - before, N_SCHEMAS + 1);
}

/* Without a budget the walk may wander; it must never get stuck and whatever completes
 * must be valid. */
static void test_unbudgeted(vctx *c) {
    const char *schemas[] = {k_schemas[1], k_schemas[3], k_schemas[8], k_schemas[12], k_schemas[19]};
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        rng_state = 77 + i;
        g4_json *schema = parse_or_die(schemas[i]);
        g4_grammar *g = NULL;
        g4_gstate *s = NULL;
        g4_error err = {0};
        T_CHECK(g4_grammar_json(schema, &g, &err) == G4_OK);
        T_CHECK(g && g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
        walk_out w = {0};
        for (int k = 0; s && k < 3; k++) {
            if (!random_walk(c, s, -1, 600, false, &w) || !w.completed) continue;
            size_t len;
            char *text = detok(c, &w, &len);
            g4_json *val = NULL;
            T_CHECKF(g4_json_parse(text, len, &val, &err) == G4_OK, "unbudgeted output: %s", text);
            if (val) T_CHECKF(g4_schema_validate(schema, val, &err) == G4_OK, "%s: %s", err.msg, text);
            g4_json_free(val);
            free(text);
        }
        free(w.ids);
        g4_gstate_free(s);
        g4_grammar_free(g);
        g4_json_free(schema);
    }
}

/* ---- tool-call walks -------------------------------------------------------------------------- */

#define WEATHER                                                                                       \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters\":{"    \
    "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\","  \
    "\"fahrenheit\"]},\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":14}},\"required\":[\"city\"]}}}"
#define TIME_TOOL                                                                                     \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{\"type\":\"object\",\"properties\":{"       \
    "\"tz\":{\"type\":\"string\",\"maxLength\":12}}}}}"
#define NOARGS "{\"type\":\"function\",\"function\":{\"name\":\"ping\"}}"
#define COMPLEX                                                                                       \
    "{\"type\":\"function\",\"function\":{\"name\":\"srv:create_event\",\"parameters\":{\"$defs\":{\"person\":{"            \
    "\"type\":\"object\",\"properties\":{\"first name\":{\"type\":\"string\",\"maxLength\":10},\"age\":{\"type\":[\"integer\",\"null\"]}},"  \
    "\"required\":[\"first name\",\"age\"]}},\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"minLength\":1},"          \
    "\"attendees\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/person\"},\"maxItems\":3},\"when\":{\"anyOf\":["                  \
    "{\"type\":\"string\",\"maxLength\":20},{\"type\":\"object\",\"properties\":{\"ts\":{\"type\":\"number\"}},\"required\":[\"ts\"]}]},"   \
    "\"a:b\":{\"type\":\"boolean\"},\"prio\":{\"enum\":[\"low\",\"high\",3]},\"meta\":{\"type\":\"object\"},"                          \
    "\"flags\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}}},\"required\":[\"title\",\"when\",\"a:b\"]}}}"
#define FLAT "{\"type\":\"function\",\"name\":\"flat_tool\",\"parameters\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"number\"}},\"required\":[\"n\"]}}"
#define OTHER "{\"type\":\"web_search\"}"

typedef struct {
    int n_calls;
    bool bad;
    const g4_json *tools;
    const char *only;
    char last_name[300];
} call_check;

static const g4_json *find_params(const g4_json *tools, const char *name, size_t n, bool *found) {
    *found = false;
    for (size_t i = 0; i < g4_json_len(tools); i++) {
        const g4_json *t = g4_json_at(tools, i), *fn = g4_json_get(t, "function");
        if (!g4_json_is_object(fn)) fn = t;
        size_t nn;
        const char *nm = g4_json_get_str(fn, "name", &nn);
        if (nm && nn == n && memcmp(nm, name, n) == 0) {
            *found = true;
            return g4_json_get(fn, "parameters");
        }
    }
    return NULL;
}

static void on_event(void *user, const g4_parse_event *ev) {
    call_check *cc = user;
    if (ev->kind != G4_PARSE_TOOL_CALL) {
        cc->bad = true; /* no content or reasoning may appear */
        fprintf(stderr, "unexpected %s text: %.*s\n", ev->kind == G4_PARSE_CONTENT ? "content" : "reasoning",
                (int)ev->len, ev->text);
        return;
    }
    cc->n_calls++;
    snprintf(cc->last_name, sizeof cc->last_name, "%.*s", (int)ev->name_len, ev->name);
    bool found;
    const g4_json *params = find_params(cc->tools, ev->name, ev->name_len, &found);
    T_CHECKF(found, "call of unknown function %s", cc->last_name);
    if (cc->only) T_CHECK(strcmp(cc->only, cc->last_name) == 0);
    g4_json *args = NULL;
    g4_error err = {0};
    g4_status st = g4_json_parse(ev->args, ev->args_len, &args, &err);
    T_CHECKF(st == G4_OK, "arguments do not parse: %s: %.*s", err.msg, (int)ev->args_len, ev->args);
    if (st == G4_OK) {
        T_CHECK(g4_json_is_object(args));
        if (params) {
            st = g4_schema_validate(params, args, &err);
            T_CHECKF(st == G4_OK, "arguments invalid: %s: %.*s", err.msg, (int)ev->args_len, ev->args);
        }
    }
    if (st != G4_OK) cc->bad = true;
    g4_json_free(args);
}

static int g_calls_valid;

static void tool_walks(vctx *c, const char *tools_text, const char *only, bool parallel, int n_walks, int budget,
                       bool check_all) {
    g4_json *tools = parse_or_die(tools_text);
    g4_grammar *g = NULL;
    g4_gstate *s = NULL;
    g4_error err = {0};
    g4_status st = g4_grammar_tool_call(tools, only, parallel, &g, &err);
    T_CHECKF(st == G4_OK, "tool grammar: %s", err.msg);
    if (st == G4_OK) T_CHECKF(g4_gstate_new(g, c->gv, &s, &err) == G4_OK, "%s", err.msg);
    walk_out w = {0};
    for (int k = 0; s && k < n_walks; k++) {
        if (check_all && k == 0 && !random_walk(c, s, -1, 80, true, &w)) break;
        if (!random_walk(c, s, budget, budget + 2, false, &w)) break;
        T_CHECKF(w.completed, "%s: tool walk did not finish within %d tokens", c->name, budget);
        if (!w.completed) continue;
        T_CHECK(w.n >= 1 && w.ids[0] == tok_of(c, "<|tool_call>"));
        size_t len;
        char *text = detok(c, &w, &len);
        call_check cc = {0, false, tools, only, ""};
        g4_outparser *p = NULL;
        T_CHECK(g4_outparser_new(false, &p, &err) == G4_OK);
        for (size_t i = 0; p && i < w.n; i++) { /* streamed token by token, as a server does */
            char piece[256];
            size_t pn = g4_token_piece(c->v, w.ids[i], false, piece, sizeof piece);
            T_CHECK(g4_outparser_feed(p, piece, pn < sizeof piece ? pn : sizeof piece, on_event, &cc, &err) == G4_OK);
        }
        if (p) T_CHECK(g4_outparser_finish(p, on_event, &cc, &err) == G4_OK);
        g4_outparser_free(p);
        T_CHECKF(!cc.bad && (parallel ? cc.n_calls >= 1 : cc.n_calls == 1), "%s: %d calls in %s", c->name, cc.n_calls, text);
        g4_buf b = G4_BUF_INIT;
        if (!parallel) { /* the one-shot converter agrees */
            T_CHECKF(g4_gemma_value_to_json(text, len, &b, &err) == G4_OK, "%s: %s", err.msg, text);
        }
        if (!cc.bad) g_calls_valid += cc.n_calls;
        g4_buf_free(&b);
        free(text);
    }
    free(w.ids);
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(tools);
}

static void test_tool_walks(vctx *c, int walks, bool real) {
    int before = g_calls_valid, budget = real ? 140 : 200;
    rng_state = real ? 4242 : 2424;
    tool_walks(c, "[" WEATHER "]", "get_weather", false, walks, budget, !real);
    tool_walks(c, "[" WEATHER "," TIME_TOOL "," NOARGS "," OTHER "]", NULL, false, walks, budget, !real);
    tool_walks(c, "[" WEATHER "," TIME_TOOL "," NOARGS "]", NULL, true, walks, budget, !real);
    tool_walks(c, "[" COMPLEX "," FLAT "]", NULL, false, walks * 2, budget + 60, !real);
    tool_walks(c, "[" COMPLEX "]", "srv:create_event", true, walks, budget + 60, !real);
    tool_walks(c, "[" NOARGS "]", NULL, false, 2, 20, false);
    fprintf(stderr, "grammar: %s: %d valid tool calls\n", c->name, g_calls_valid - before);
}

/* ---- fixed texts: tokens that span several grammar elements ------------------------------------ */

static bool accept_text(vctx *c, g4_gstate *s, const char *text) {
    int32_t *ids = NULL;
    size_t n = 0;
    g4_error err = {0};
    if (g4_tokenize(c->v, text, strlen(text), false, false, &ids, &n, &err) != G4_OK) return false;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        float *lg = c->logits;
        for (int32_t t = 0; t < c->n; t++) lg[t] = 0;
        g4_gstate_mask(s, lg);
        if (isinf(lg[ids[i]])) {
            char piece[64];
            size_t pn = g4_token_piece(c->v, ids[i], false, piece, sizeof piece);
            fprintf(stderr, "%s: token %zu (%d '%.*s') of '%s' masked\n", c->name, i, ids[i], (int)pn, piece, text);
            ok = false;
        }
        ok = ok && g4_gstate_accept(s, ids[i]);
    }
    free(ids);
    return ok;
}

static void test_fixed_texts(vctx *c) {
    static const struct {
        const char *schema, *text;
    } cases[] = {
        {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\","
         "\"items\":{\"type\":\"string\"}},\"score\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1}},\"required\":[\"name\",\"age\"]}",
         "{\"name\": \"Paris, \\\"the\\\" city \\u00e9t\\u00e9\", \"age\": 42, \"tags\": [\"a\", \"bb\"], \"score\": 0.5}"},
        {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}", "{\n  \"name\": \"caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\x8b\"\n}"},
        {NULL, "{\"a\": [1, 2.5, -3e10, true, false, null, {\"b\": {}}], \"c\": \"\"}"},
        {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", "[1, 22, 333]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        g4_json *schema = cases[i].schema ? parse_or_die(cases[i].schema) : NULL;
        g4_grammar *g = NULL;
        g4_gstate *s = NULL;
        g4_error err = {0};
        T_CHECK(g4_grammar_json(schema, &g, &err) == G4_OK);
        T_CHECK(g && g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
        if (s) {
            T_CHECKF(accept_text(c, s, cases[i].text), "%s: text %s", c->name, cases[i].text);
            T_CHECK(g4_gstate_complete(s));
        }
        g4_gstate_free(s);
        g4_grammar_free(g);
        g4_json_free(schema);
    }
    /* a tool call typed as text: the markers are single USER_DEFINED tokens */
    g4_json *tools = parse_or_die("[" WEATHER "]");
    g4_grammar *g = NULL;
    g4_gstate *s = NULL;
    g4_error err = {0};
    T_CHECK(g4_grammar_tool_call(tools, NULL, true, &g, &err) == G4_OK);
    T_CHECK(g && g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    if (s) {
        T_CHECK(accept_text(c, s, "<|tool_call>call:get_weather{city:<|\"|>S\xc3\xa3o Paulo, \"SP\" {x}<|\"|>,unit:<|\"|>celsius<|\"|>,days:3}<tool_call|>"));
        T_CHECK(g4_gstate_complete(s) && !g4_gstate_finished(s)); /* parallel: another may follow */
        T_CHECK(accept_text(c, s, "<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>}<tool_call|>"));
        T_CHECK(g4_gstate_accept(s, tok_of(c, "<|tool_response>")));
    }
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(tools);
}

/* ---- negative checks --------------------------------------------------------------------------- */

static bool allowed_now(vctx *c, g4_gstate *s, int32_t tok) {
    for (int32_t t = 0; t < c->n; t++) c->logits[t] = 1.0f;
    g4_gstate_mask(s, c->logits);
    return !isinf(c->logits[tok]);
}

static int32_t byte_tok(vctx *c, uint8_t b) { return g4_vocab_byte_token(c->v, b); }

static void test_negative(vctx *c) {
    g4_error err = {0};
    g4_json *schema = parse_or_die("{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"maxLength\":4},"
                                   "\"n\":{\"type\":\"integer\"},\"e\":{\"enum\":[\"abc\",\"abd\"]}},\"required\":[\"s\",\"n\",\"e\"],"
                                   "\"additionalProperties\":false}");
    g4_grammar *g = NULL;
    g4_gstate *s = NULL;
    T_CHECK(g4_grammar_json(schema, &g, &err) == G4_OK);
    T_CHECK(g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    int32_t eos = g4_vocab_eos(c->v), lb = byte_tok(c, '{');
    T_CHECK(!allowed_now(c, s, eos) && !g4_gstate_accept(s, eos));
    T_CHECK(!allowed_now(c, s, byte_tok(c, '[')) && !g4_gstate_accept(s, byte_tok(c, '[')));
    T_CHECK(!allowed_now(c, s, byte_tok(c, 'a')) && !g4_gstate_accept(s, byte_tok(c, 'a')));
    T_CHECK(!allowed_now(c, s, byte_tok(c, ' '))); /* no leading whitespace */
    T_CHECK(!allowed_now(c, s, tok_of(c, "<|\"|>")) && !g4_gstate_accept(s, tok_of(c, "<|\"|>")));
    T_CHECK(!g4_gstate_accept(s, -1) && !g4_gstate_accept(s, c->n));
    T_CHECK(allowed_now(c, s, lb) && g4_gstate_accept(s, lb));
    /* the first member is "s" (schema order, required) */
    T_CHECK(accept_text(c, s, "\"s\":\""));
    T_CHECK(!allowed_now(c, s, byte_tok(c, 0x01)));  /* raw control character */
    T_CHECK(!allowed_now(c, s, byte_tok(c, 0xFF)));  /* never valid UTF-8 */
    T_CHECK(!allowed_now(c, s, byte_tok(c, 0x80)));  /* stray continuation byte */
    T_CHECK(allowed_now(c, s, byte_tok(c, 0xC3)) && g4_gstate_accept(s, byte_tok(c, 0xC3)));
    T_CHECK(!allowed_now(c, s, byte_tok(c, '(')));   /* 0xC3 needs a continuation byte */
    T_CHECK(!allowed_now(c, s, byte_tok(c, '"')));
    T_CHECK(g4_gstate_accept(s, byte_tok(c, 0xA9))); /* é */
    T_CHECK(g4_gstate_accept(s, byte_tok(c, '\\')));
    T_CHECK(!allowed_now(c, s, byte_tok(c, 'x')) && !g4_gstate_accept(s, byte_tok(c, 'x')));
    T_CHECK(g4_gstate_accept(s, byte_tok(c, 'u')));
    T_CHECK(!allowed_now(c, s, byte_tok(c, 'g')));
    T_CHECK(accept_text(c, s, "d"));
    T_CHECK(!allowed_now(c, s, byte_tok(c, '8'))); /* \uD8xx: surrogates are refused */
    T_CHECK(accept_text(c, s, "7ff"));             /* é\uD7FF: 2 characters */
    /* <turn|> typed out byte by byte would end the output for the server's parser */
    T_CHECK(g4_gstate_accept(s, byte_tok(c, '<')));  /* 3 characters */
    T_CHECK(allowed_now(c, s, byte_tok(c, 't')) && g4_gstate_accept(s, byte_tok(c, 't'))); /* 4 */
    T_CHECK(!allowed_now(c, s, byte_tok(c, 'u')));   /* maxLength 4 reached */
    T_CHECK(allowed_now(c, s, byte_tok(c, '"')) && g4_gstate_accept(s, byte_tok(c, '"')));
    T_CHECK(!allowed_now(c, s, byte_tok(c, '}')));   /* "n" and "e" are required */
    T_CHECK(accept_text(c, s, ", \"n\": "));
    T_CHECK(allowed_now(c, s, byte_tok(c, '0')) && g4_gstate_accept(s, byte_tok(c, '0')));
    T_CHECK(!allowed_now(c, s, byte_tok(c, '1')));   /* no leading zeros */
    T_CHECK(!allowed_now(c, s, byte_tok(c, '.')));   /* integer */
    T_CHECK(accept_text(c, s, ",\"e\":\"ab"));
    T_CHECK(!allowed_now(c, s, byte_tok(c, 'x')) && allowed_now(c, s, byte_tok(c, 'd')));
    T_CHECK(accept_text(c, s, "c\""));
    T_CHECK(!g4_gstate_complete(s) && !allowed_now(c, s, eos));
    T_CHECK(!allowed_now(c, s, byte_tok(c, ','))); /* nothing else is allowed */
    int32_t tail = tok_of(c, "},"); /* a token running past the end of the value */
    if (tail >= 0) T_CHECK(!allowed_now(c, s, tail) && !g4_gstate_can_accept(s, tail) && !g4_gstate_accept(s, tail));
    T_CHECK(g4_gstate_accept(s, byte_tok(c, '}')));
    T_CHECK(g4_gstate_complete(s) && g4_gstate_finished(s) && g4_gstate_min_tokens(s) == 0);
    for (int32_t t = 0; t < c->n; t++) c->logits[t] = 0;
    g4_gstate_mask(s, c->logits);
    int n_ok = 0;
    for (int32_t t = 0; t < c->n; t++)
        if (!isinf(c->logits[t])) {
            n_ok++;
            T_CHECK(g4_vocab_is_eog(c->v, t));
        }
    T_CHECK(n_ok >= 3); /* <eos>, <turn|>, <|tool_response> */
    T_CHECK(g4_gstate_accept(s, eos) && !g4_gstate_accept(s, eos));
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(schema);

    /* a JSON string must not spell a marker: <turn|> up to the last byte */
    g = NULL;
    T_CHECK(g4_grammar_json(NULL, &g, &err) == G4_OK);
    T_CHECK(g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    T_CHECK(accept_text(c, s, "{\"<turn|"));
    T_CHECK(!allowed_now(c, s, byte_tok(c, '>')) && !g4_gstate_accept(s, byte_tok(c, '>')));
    T_CHECK(allowed_now(c, s, byte_tok(c, '"')));
    g4_gstate_free(s);
    g4_grammar_free(g);

    /* tool calls: the first token is <|tool_call>, strings are <|"|> tokens, and the
     * delimiter spelled with ordinary tokens is refused inside a string */
    g4_json *tools = parse_or_die("[" WEATHER "]");
    T_CHECK(g4_grammar_tool_call(tools, NULL, false, &g, &err) == G4_OK);
    T_CHECK(g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    for (int32_t t = 0; t < c->n; t++) c->logits[t] = 0;
    g4_gstate_mask(s, c->logits);
    int n_allowed = 0;
    for (int32_t t = 0; t < c->n; t++) n_allowed += !isinf(c->logits[t]);
    T_CHECK(n_allowed == 1 && !isinf(c->logits[tok_of(c, "<|tool_call>")]));
    T_CHECK(accept_text(c, s, "<|tool_call>call:get_weather{city:"));
    T_CHECK(!allowed_now(c, s, byte_tok(c, '"')));  /* JSON quotes are not Gemma strings */
    T_CHECK(allowed_now(c, s, tok_of(c, "<|\"|>")) && g4_gstate_accept(s, tok_of(c, "<|\"|>")));
    T_CHECK(g4_gstate_accept(s, byte_tok(c, '<')) && g4_gstate_accept(s, byte_tok(c, '|')));
    T_CHECK(g4_gstate_accept(s, byte_tok(c, '"')) && g4_gstate_accept(s, byte_tok(c, '|')));
    T_CHECK(!allowed_now(c, s, byte_tok(c, '>')) && !g4_gstate_accept(s, byte_tok(c, '>')));
    T_CHECK(allowed_now(c, s, byte_tok(c, 'x')));
    T_CHECK(allowed_now(c, s, tok_of(c, "<|\"|>")) && g4_gstate_accept(s, tok_of(c, "<|\"|>")));
    T_CHECK(!allowed_now(c, s, tok_of(c, "<tool_call|>"))); /* the object is still open */
    T_CHECK(!allowed_now(c, s, byte_tok(c, ' ')));          /* no whitespace in the notation */
    T_CHECK(accept_text(c, s, "}"));
    T_CHECK(!g4_gstate_complete(s) && allowed_now(c, s, tok_of(c, "<tool_call|>")));
    T_CHECK(g4_gstate_accept(s, tok_of(c, "<tool_call|>")));
    T_CHECK(g4_gstate_finished(s) && !allowed_now(c, s, tok_of(c, "<|tool_call>"))); /* not parallel */
    T_CHECK(allowed_now(c, s, tok_of(c, "<|tool_response>")));
    g4_gstate_free(s);
    g4_grammar_free(g);
    /* only: another function's name is refused */
    T_CHECK(g4_grammar_tool_call(tools, "get_weather", false, &g, &err) == G4_OK);
    T_CHECK(g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    T_CHECK(accept_text(c, s, "<|tool_call>call:get_"));
    T_CHECK(!allowed_now(c, s, byte_tok(c, 't')) && allowed_now(c, s, byte_tok(c, 'w')));
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(tools);
}

/* ---- mask == can_accept on every token at chosen positions ------------------------------------
 * prefix: text to accept (tokenized), then raw byte tokens (0 ends the list). */

static void agree_at(vctx *c, const g4_grammar *g, const char *prefix, const uint8_t *bytes) {
    g4_gstate *s = NULL;
    g4_error err = {0};
    T_CHECK(g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    if (!s) return;
    bool ok = accept_text(c, s, prefix);
    for (size_t i = 0; ok && bytes && bytes[i]; i++) ok = g4_gstate_accept(s, byte_tok(c, bytes[i]));
    T_CHECKF(ok, "%s: prefix %s", c->name, prefix);
    for (int32_t t = 0; ok && t < c->n; t++) c->logits[t] = 0;
    if (ok) g4_gstate_mask(s, c->logits);
    int bad = 0, n_ok = 0;
    for (int32_t t = 0; ok && t < c->n; t++) {
        bool m = !isinf(c->logits[t]), a = g4_gstate_can_accept(s, t);
        n_ok += m;
        if (m != a && bad++ < 3) {
            char piece[64];
            size_t pn = g4_token_piece(c->v, t, false, piece, sizeof piece);
            fprintf(stderr, "%s: after '%s': token %d '%.*s': mask %d can_accept %d\n", c->name, prefix, t,
                    (int)(pn < 64 ? pn : 64), piece, m, a);
        }
    }
    T_CHECKF(bad == 0 && (!ok || n_ok > 0), "%s: %d disagreements after '%s'", c->name, bad, prefix);
    g4_gstate_free(s);
}

static void test_agreement(vctx *c) {
    g4_json *schema = parse_or_die("{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"string\",\"maxLength\":6}},"
                                   "\"additionalProperties\":{\"type\":\"number\",\"minimum\":-2,\"maximum\":40}}");
    g4_json *tools = parse_or_die("[" WEATHER "," COMPLEX "]");
    g4_grammar *ga = NULL, *gs = NULL, *gt = NULL;
    g4_error err = {0};
    T_CHECK(g4_grammar_json(NULL, &ga, &err) == G4_OK);
    T_CHECK(g4_grammar_json(schema, &gs, &err) == G4_OK);
    T_CHECK(g4_grammar_tool_call(tools, NULL, true, &gt, &err) == G4_OK);
    static const uint8_t e4[] = {0xE4, 0}, e4b8[] = {0xE4, 0xB8, 0}, f0[] = {0xF0, 0}, ed[] = {0xED, 0};
    if (ga && gs && gt) {
        agree_at(c, ga, "", NULL);
        agree_at(c, ga, "{", NULL);
        agree_at(c, ga, "{\"", NULL);
        agree_at(c, ga, "{\"a\"", NULL);
        agree_at(c, ga, "{\"a\": ", NULL);
        agree_at(c, ga, "{\"a\": \"x", NULL);
        agree_at(c, ga, "{\"a\": \"x<", NULL);
        agree_at(c, ga, "{\"a\": \"x<|", NULL);
        agree_at(c, ga, "{\"a\": \"x<tool_call|", NULL);
        agree_at(c, ga, "{\"a\": \"x\\", NULL);
        agree_at(c, ga, "{\"a\": \"x\\u0", NULL);
        agree_at(c, ga, "{\"a\": \"x", e4);
        agree_at(c, ga, "{\"a\": \"x", e4b8);
        agree_at(c, ga, "{\"a\": \"x", ed);
        agree_at(c, ga, "{\"a\": 1", NULL);
        agree_at(c, ga, "{\"a\": -0.", NULL);
        agree_at(c, ga, "{\"a\": 1e", NULL);
        agree_at(c, ga, "{\"a\": [tr", NULL);
        agree_at(c, ga, "{\"a\": [1, {\"b\": null}", NULL);
        agree_at(c, gs, "{\"k\": \"abcd", NULL);
        agree_at(c, gs, "{\"k\": \"ab<t", NULL);
        agree_at(c, gs, "{\"k\": \"\", \"", NULL);
        agree_at(c, gs, "{\"k\": \"\", \"k", NULL);
        agree_at(c, gs, "{\"k\": \"\", \"x\": 3", NULL);
        agree_at(c, gs, "{\"k\": \"\", \"x\": -1.", NULL);
        agree_at(c, gt, "", NULL);
        agree_at(c, gt, "<|tool_call>call:", NULL);
        agree_at(c, gt, "<|tool_call>call:get_weather{", NULL);
        agree_at(c, gt, "<|tool_call>call:get_weather{city:<|\"|>x", NULL);
        agree_at(c, gt, "<|tool_call>call:get_weather{city:<|\"|>x<", NULL);
        agree_at(c, gt, "<|tool_call>call:get_weather{city:<|\"|>x<|", NULL);
        agree_at(c, gt, "<|tool_call>call:get_weather{city:<|\"|>x", f0);
        agree_at(c, gt, "<|tool_call>call:get_weather{city:<|\"|>x<|\"|>", NULL);
        agree_at(c, gt, "<|tool_call>call:get_weather{city:<|\"|>x<|\"|>,", NULL);
        agree_at(c, gt, "<|tool_call>call:get_weather{city:<|\"|>x<|\"|>,days:1", NULL);
        agree_at(c, gt, "<|tool_call>call:srv:create_event{title:<|\"|>t<|\"|>,attendees:[{", NULL);
        agree_at(c, gt, "<|tool_call>call:srv:create_event{title:<|\"|>t<|\"|>,when:{ts:1.5}", NULL);
        agree_at(c, gt, "<|tool_call>call:srv:create_event{title:<|\"|>t<|\"|>,when:<|\"|><|\"|>,<|\"|>a:b<|\"|>:true,meta:{", NULL);
        agree_at(c, gt, "<|tool_call>call:get_weather{city:<|\"|>x<|\"|>}<tool_call|>", NULL);
    }
    g4_grammar_free(ga);
    g4_grammar_free(gs);
    g4_grammar_free(gt);
    g4_json_free(schema);
    g4_json_free(tools);
}

/* ---- the budget --------------------------------------------------------------------------------- */

static void test_budget(vctx *c) {
    g4_json *schema = parse_or_die(k_schemas[23]);
    g4_grammar *g = NULL;
    g4_gstate *s = NULL;
    g4_error err = {0};
    T_CHECK(g4_grammar_json(schema, &g, &err) == G4_OK);
    T_CHECK(g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    int64_t need = g4_gstate_min_tokens(s); /* {"steps":[],"final_answer":""} */
    T_CHECKF(need == 30, "min tokens %lld", (long long)need);
    walk_out w = {0};
    rng_state = 99;
    for (int b = (int)need; b < need + 40; b += 13) { /* just enough, then a little more */
        T_CHECK(random_walk(c, s, b, b + 1, false, &w));
        T_CHECKF(w.completed && (int)w.n <= b, "budget %d: %zu tokens, completed %d", b, w.n, w.completed);
    }
    /* a budget too small: only tokens that shorten the completion; it still terminates */
    T_CHECK(random_walk(c, s, 5, (int)need + 2, false, &w) && w.completed);
    free(w.ids);
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(schema);

    /* an extra member's key that equals a listed name needs one more character: the
     * shortest completion counts it, so an exact budget still completes */
    schema = parse_or_die("{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},"
                          "\"additionalProperties\":{\"type\":\"integer\"}}");
    T_CHECK(g4_grammar_json(schema, &g, &err) == G4_OK);
    T_CHECK(g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    for (int rep = 0; s && rep < 8; rep++) {
        g4_gstate_reset(s);
        T_CHECK(accept_text(c, s, "{\"ab\": 1, \"ab"));
        int64_t left = g4_gstate_min_tokens(s);
        T_CHECKF(left == 5, "min tokens %lld", (long long)left); /* x " : 0 } */
        g4_gstate_set_budget(s, left);
        int steps = 0;
        while (steps <= left && !g4_gstate_finished(s)) {
            for (int32_t t = 0; t < c->n; t++) c->logits[t] = rndf();
            g4_gstate_mask(s, c->logits);
            int32_t best = -1;
            for (int32_t t = 0; t < c->n; t++)
                if (!isinf(c->logits[t]) && !g4_vocab_is_eog(c->v, t) && (best < 0 || c->logits[t] > c->logits[best])) best = t;
            if (best < 0 || !g4_gstate_accept(s, best)) break;
            steps++;
        }
        T_CHECKF(g4_gstate_finished(s) && steps <= left, "exact budget: finished %d after %d", g4_gstate_finished(s), steps);
    }
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(schema);
}

/* ---- hostile schemas ---------------------------------------------------------------------------- */

static void expect_compile(const char *what, const char *text, g4_status want) {
    g4_json *schema = parse_or_die(text);
    g4_grammar *g = NULL;
    g4_error err = {0};
    g4_status st = g4_grammar_json(schema, &g, &err);
    T_CHECKF(st == want, "%s: status %d (%s), want %d", what, st, err.msg, want);
    if (st != G4_OK) T_CHECK(g == NULL && err.msg[0] != '\0');
    g4_grammar_free(g);
    g4_json_free(schema);
}

static char *nested(int depth, const char *leaf) {
    g4_buf b = G4_BUF_INIT;
    for (int i = 0; i < depth; i++) g4_buf_adds(&b, "{\"type\":\"object\",\"properties\":{\"x\":");
    g4_buf_adds(&b, leaf);
    for (int i = 0; i < depth; i++) g4_buf_adds(&b, "},\"required\":[\"x\"]}");
    return g4_buf_take(&b, NULL);
}

static void deep_recursion(vctx *c, bool tool);

static void test_hostile(vctx *c) {
    char *deep = nested(200, "{\"type\":\"integer\"}");
    expect_compile("200 nested objects", deep, G4_ERR_UNSUPPORTED);
    free(deep);
    deep = nested(40, "{\"type\":\"integer\"}");
    json_walks(c, deep, 1, 400, 0); /* 40 levels: fine */
    free(deep);
    expect_compile("self $ref", "{\"$ref\":\"#\"}", G4_ERR_ARG);
    expect_compile("required recursion", "{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"}},\"required\":[\"next\"]}", G4_ERR_ARG);
    expect_compile("dangling $ref", "{\"$ref\":\"#/$defs/nope\"}", G4_ERR_ARG);
    expect_compile("remote $ref", "{\"$ref\":\"https://example.com/s.json\"}", G4_ERR_ARG);
    expect_compile("false", "false", G4_ERR_ARG);
    expect_compile("number", "5", G4_ERR_ARG);
    expect_compile("empty enum", "{\"enum\":[]}", G4_ERR_ARG);
    expect_compile("huge minItems", "{\"type\":\"array\",\"minItems\":1000000000}", G4_ERR_UNSUPPORTED);
    expect_compile("min > max", "{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}", G4_ERR_ARG);
    expect_compile("empty range", "{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", G4_ERR_ARG);
    expect_compile("huge integer bound", "{\"type\":\"integer\",\"minimum\":1e18}", G4_OK);
    expect_compile("unknown keywords", "{\"type\":\"object\",\"if\":{},\"then\":5,\"x-foo\":[1],\"properties\":{\"a\":{\"not\":{}}}}", G4_OK);
    /* recursive but bounded: a linked list with an optional tail, walked without budget */
    const char *list = "{\"$defs\":{\"l\":{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#/$defs/l\"}}}},\"$ref\":\"#/$defs/l\"}";
    json_walks(c, list, 3, 400, 0);
    deep_recursion(c, false);
    deep_recursion(c, true);
    /* a huge enum, many optional members, a wide anyOf */
    g4_buf b = G4_BUF_INIT;
    g4_buf_adds(&b, "{\"enum\":[");
    for (int i = 0; i < 20000; i++) g4_buf_printf(&b, "%s\"v%d_%x\"", i ? "," : "", i, i * 2654435761u);
    g4_buf_adds(&b, "]}");
    double t0 = now_s();
    json_walks(c, g4_buf_str(&b), 3, 60, 0);
    fprintf(stderr, "grammar: 20000-value enum: 3 walks in %.0f ms\n", (now_s() - t0) * 1e3);
    g4_buf_clear(&b);
    g4_buf_adds(&b, "{\"type\":\"object\",\"properties\":{");
    for (int i = 0; i < 300; i++) g4_buf_printf(&b, "%s\"p%d\":{\"type\":\"integer\"}", i ? "," : "", i);
    g4_buf_adds(&b, "},\"required\":[\"p299\"]}");
    json_walks(c, g4_buf_str(&b), 3, 500, 0);
    g4_buf_clear(&b);
    g4_buf_adds(&b, "{\"anyOf\":[");
    for (int i = 0; i < 300; i++)
        g4_buf_printf(&b, "%s{\"type\":\"object\",\"properties\":{\"k%d\":{\"type\":\"integer\"}},\"required\":[\"k%d\"]}", i ? "," : "", i, i);
    g4_buf_adds(&b, "]}");
    json_walks(c, g4_buf_str(&b), 3, 80, 0);
    g4_buf_free(&b);

    /* tool lists */
    g4_grammar *g = NULL;
    g4_error err = {0};
    g4_json *j = parse_or_die("{\"a\":1}");
    T_CHECK(g4_grammar_tool_call(j, NULL, false, &g, &err) == G4_ERR_ARG && !g);
    g4_json_free(j);
    j = parse_or_die("[" WEATHER "]");
    T_CHECK(g4_grammar_tool_call(j, "nope", false, &g, &err) == G4_ERR_ARG && !g);
    g4_json_free(j);
    j = parse_or_die("[" OTHER ",{\"type\":\"function\",\"function\":{\"name\":\"bad name\"}}]");
    T_CHECK(g4_grammar_tool_call(j, NULL, false, &g, &err) == G4_ERR_ARG && !g);
    g4_json_free(j);
    j = parse_or_die("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":"
                     "{\"<|\\\"|>\":{\"type\":\"string\"}},\"required\":[\"<|\\\"|>\"]}}}]");
    T_CHECK(g4_grammar_tool_call(j, NULL, false, &g, &err) == G4_ERR_UNSUPPORTED && !g);
    g4_json_free(j);
    T_CHECK(g4_grammar_json(NULL, NULL, &err) == G4_ERR_ARG);
}

/* Nest a recursive schema as deep as the grammar lets it, then finish under an exact
 * budget: the output parser must still read it (tool calls: at most 64 levels). */
static void deep_recursion(vctx *c, bool tool) {
    g4_json *j = parse_or_die(tool ? "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                                     "\"properties\":{\"next\":{\"$ref\":\"#\"}}}}}]"
                                   : "{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"}}}");
    g4_grammar *g = NULL;
    g4_gstate *s = NULL;
    g4_error err = {0};
    T_CHECK((tool ? g4_grammar_tool_call(j, NULL, false, &g, &err) : g4_grammar_json(j, &g, &err)) == G4_OK);
    T_CHECK(g && g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    if (!s) goto out;
    walk_out w = {0};
    const char *start = tool ? "<|tool_call>call:f{" : "{", *step = tool ? "next:{" : "\"next\":{";
    int32_t *ids = NULL;
    size_t n = 0;
    g4_tokenize(c->v, start, strlen(start), false, false, &ids, &n, &err);
    for (size_t i = 0; i < n; i++) {
        T_CHECK(g4_gstate_accept(s, ids[i]));
        walk_push(&w, ids[i]);
    }
    free(ids);
    g4_tokenize(c->v, step, strlen(step), false, false, &ids, &n, &err);
    int depth = 0;
    for (bool ok = true; ok && depth < 500; depth += ok) {
        for (size_t i = 0; i < n && ok; i++)
            if ((ok = g4_gstate_accept(s, ids[i]))) walk_push(&w, ids[i]);
    }
    free(ids);
    int64_t left = g4_gstate_min_tokens(s);
    g4_gstate_set_budget(s, left);
    for (int k = 0; k <= left && !g4_gstate_finished(s); k++) {
        for (int32_t t = 0; t < c->n; t++) c->logits[t] = rndf();
        g4_gstate_mask(s, c->logits);
        int32_t best = -1;
        for (int32_t t = 0; t < c->n; t++)
            if (!isinf(c->logits[t]) && !g4_vocab_is_eog(c->v, t) && (best < 0 || c->logits[t] > c->logits[best])) best = t;
        if (best < 0 || !g4_gstate_accept(s, best)) break;
        walk_push(&w, best);
    }
    T_CHECKF(g4_gstate_finished(s), "%s recursion: not finished after %d levels", tool ? "tool" : "json", depth);
    size_t len;
    char *text = detok(c, &w, &len);
    g4_buf b = G4_BUF_INIT;
    g4_json *val = NULL;
    if (tool) {
        T_CHECKF(g4_gemma_value_to_json(text, len, &b, &err) == G4_OK, "%d levels: %s", depth, err.msg);
        T_CHECK(depth > 20 && depth < 63);
    } else {
        T_CHECKF(g4_json_parse(text, len, &val, &err) == G4_OK, "%d levels: %s", depth, err.msg);
        T_CHECK(depth > 20 && depth < 200);
    }
    fprintf(stderr, "grammar: %s: a recursive $ref nests %d levels before the stack limit\n", tool ? "tool call" : "json", depth);
    g4_json_free(val);
    g4_buf_free(&b);
    free(text);
    free(w.ids);
out:
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(j);
}

/* ---- random schemas: whatever mix of keywords (and junk) compiles must produce valid output */

static const char *const k_names[] = {"a", "b", "id", "x y", "\\u00e9", "a:b", "<eos>", "", "k\\\"q"};
#define N_NAMES (sizeof k_names / sizeof k_names[0])

static void gen_schema(g4_buf *b, int depth) {
    uint32_t r = rnd() % (depth >= 3 ? 6 : 16);
    switch (r) {
    case 0: g4_buf_adds(b, rnd() % 2 ? "{\"type\":\"string\"}" : "{\"type\":\"string\",\"maxLength\":3,\"minLength\":1}"); break;
    case 1: g4_buf_printf(b, "{\"type\":\"integer\",\"minimum\":%d,\"maximum\":%d}", (int)(rnd() % 40) - 20, (int)(rnd() % 40)); break;
    case 2: g4_buf_printf(b, "{\"type\":\"number\"%s}", rnd() % 2 ? ",\"exclusiveMinimum\":-2.5,\"maximum\":7.75" : ""); break;
    case 3: g4_buf_adds(b, rnd() % 3 ? "{\"enum\":[\"p\",\"q r\",3,null,[1],{\"z\":true}]}" : "{\"const\":\"<|\\\"|>\"}"); break;
    case 4: g4_buf_adds(b, rnd() % 2 ? "true" : "{}"); break;
    case 5: g4_buf_adds(b, rnd() % 2 ? "{\"type\":[\"boolean\",\"null\"]}" : "{\"type\":\"string\",\"nullable\":true}"); break;
    case 6: case 7: case 8: { /* object */
        int np = (int)(rnd() % 4);
        g4_buf_adds(b, "{\"type\":\"object\",\"properties\":{");
        for (int i = 0; i < np; i++) {
            g4_buf_printf(b, "%s\"%s%d\":", i ? "," : "", k_names[rnd() % N_NAMES], i);
            gen_schema(b, depth + 1);
        }
        g4_buf_adds(b, "}");
        if (rnd() % 2) {
            g4_buf_adds(b, ",\"required\":[");
            for (int i = 0, first = 1; i < np + 1; i++)
                if (rnd() % 2) {
                    g4_buf_printf(b, "%s\"%s%d\"", first ? "" : ",", k_names[rnd() % N_NAMES], i);
                    first = 0;
                }
            g4_buf_adds(b, "]");
        }
        uint32_t a = rnd() % 4;
        if (a == 1) g4_buf_adds(b, ",\"additionalProperties\":false");
        if (a == 2) g4_buf_adds(b, ",\"additionalProperties\":true");
        if (a == 3) {
            g4_buf_adds(b, ",\"additionalProperties\":");
            gen_schema(b, depth + 1);
        }
        g4_buf_adds(b, "}");
        break;
    }
    case 9: case 10: /* array */
        g4_buf_adds(b, "{\"type\":\"array\"");
        if (rnd() % 3 == 0) {
            g4_buf_adds(b, ",\"prefixItems\":[");
            gen_schema(b, depth + 1);
            g4_buf_adds(b, "]");
        }
        if (rnd() % 4) {
            g4_buf_adds(b, ",\"items\":");
            if (rnd() % 5 == 0) g4_buf_adds(b, "false");
            else gen_schema(b, depth + 1);
        }
        g4_buf_printf(b, ",\"minItems\":%d,\"maxItems\":%d}", (int)(rnd() % 3), 2 + (int)(rnd() % 3));
        break;
    case 11: case 12: { /* anyOf / oneOf */
        int n = 1 + (int)(rnd() % 3);
        g4_buf_printf(b, "{\"%s\":[", rnd() % 2 ? "anyOf" : "oneOf");
        for (int i = 0; i < n; i++) {
            if (i) g4_buf_addc(b, ',');
            gen_schema(b, depth + 1);
        }
        g4_buf_adds(b, "]}");
        break;
    }
    case 13: /* allOf of objects */
        g4_buf_adds(b, "{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},"
                       "{\"properties\":{\"b\":");
        gen_schema(b, depth + 1);
        g4_buf_adds(b, "},\"required\":[\"b\"]}]}");
        break;
    case 14: g4_buf_adds(b, rnd() % 2 ? "{\"$ref\":\"#/$defs/leaf\"}" : "{\"type\":\"object\",\"properties\":{\"up\":{\"$ref\":\"#\"}}}"); break;
    default: /* junk values for known keywords */
        g4_buf_adds(b, rnd() % 2 ? "{\"properties\":5,\"items\":\"x\",\"minItems\":-3,\"required\":{\"a\":1},\"type\":7}"
                                 : "{\"type\":\"object\",\"additionalProperties\":\"no\",\"enum\":\"x\",\"anyOf\":{}}");
        break;
    }
}

static void test_random_schemas(vctx *c, int n, bool tool) {
    int compiled = 0, valid = 0;
    rng_state = tool ? 31337 : 1337;
    for (int i = 0; i < n; i++) {
        g4_buf b = G4_BUF_INIT;
        if (tool) g4_buf_adds(&b, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":");
        g4_buf_adds(&b, "{\"$defs\":{\"leaf\":{\"type\":\"string\",\"maxLength\":2}},\"allOf\":[");
        gen_schema(&b, 0);
        g4_buf_adds(&b, "]}");
        if (tool) g4_buf_adds(&b, "}}]");
        g4_json *j = parse_or_die(g4_buf_str(&b));
        g4_grammar *g = NULL;
        g4_gstate *s = NULL;
        g4_error err = {0};
        g4_status st = tool ? g4_grammar_tool_call(j, NULL, false, &g, &err) : g4_grammar_json(j, &g, &err);
        T_CHECKF(st == G4_OK || (g == NULL && err.msg[0]), "random schema: status %d without message", st);
        if (st == G4_OK && g4_gstate_new(g, c->gv, &s, &err) == G4_OK) {
            compiled++;
            int64_t need = g4_gstate_min_tokens(s);
            walk_out w = {0};
            if (need < 300 && random_walk(c, s, (int)need + 40, (int)need + 42, false, &w)) {
                T_CHECKF(w.completed, "random schema did not finish: %s", g4_buf_str(&b));
                size_t len;
                char *text = detok(c, &w, &len);
                g4_json *val = NULL;
                g4_buf out = G4_BUF_INIT;
                if (tool) {
                    st = g4_gemma_value_to_json(text, len, &out, &err);
                    if (st == G4_OK) st = g4_json_parse(g4_buf_str(&out), out.n, &val, &err);
                    const g4_json *args = g4_json_get(val, "arguments");
                    const g4_json *params = g4_json_get(g4_json_get(g4_json_at(j, 0), "function"), "parameters");
                    if (st == G4_OK) st = g4_schema_validate(params, args, &err);
                } else {
                    st = g4_json_parse(text, len, &val, &err);
                    if (st == G4_OK) st = g4_schema_validate(j, val, &err);
                }
                T_CHECKF(st == G4_OK, "random schema: %s\n  output %s\n  schema %s", err.msg, text, g4_buf_str(&b));
                valid += st == G4_OK;
                g4_buf_free(&out);
                g4_json_free(val);
                free(text);
            }
            free(w.ids);
        }
        g4_gstate_free(s);
        g4_grammar_free(g);
        g4_json_free(j);
        g4_buf_free(&b);
    }
    fprintf(stderr, "grammar: %d random %s schemas: %d compiled, %d valid outputs\n", n, tool ? "tool" : "json", compiled, valid);
}

/* A vocabulary without Gemma's markers (and without byte tokens): the JSON grammar still
 * works, the tool grammar reports what is missing. */
static void test_small_vocab(void) {
    static const char *toks[] = {"<pad>", "<eos>", "{", "}", "\"", "a", "b", ":", ",", "1", "\"a\"", "{\"", "\":", "\xe2\x96\x81"};
    g4_vocab_desc d = {0};
    d.n_tokens = sizeof toks / sizeof toks[0];
    d.tokens = toks;
    int32_t types[sizeof toks / sizeof toks[0]];
    for (size_t i = 0; i < d.n_tokens; i++) types[i] = i < 2 ? G4_TOKEN_CONTROL : G4_TOKEN_NORMAL;
    d.token_types = types;
    d.bos_id = -1;
    d.eos_id = 1;
    d.unk_id = -1;
    g4_vocab *v = NULL;
    g4_gvocab *gv = NULL;
    g4_error err = {0};
    T_CHECK(g4_vocab_create(&d, &v, &err) == G4_OK);
    T_CHECK(v && g4_gvocab_new(v, &gv, &err) == G4_OK);
    g4_json *tools = parse_or_die("[" WEATHER "]");
    g4_grammar *g = NULL;
    g4_gstate *s = NULL;
    T_CHECK(g4_grammar_tool_call(tools, NULL, false, &g, &err) == G4_OK);
    T_CHECK(g4_gstate_new(g, gv, &s, &err) == G4_ERR_UNSUPPORTED && !s);
    T_CHECK(strstr(err.msg, "<|\"|>") || strstr(err.msg, "tool_call"));
    g4_grammar_free(g);
    g4_json_free(tools);
    g4_json *schema = parse_or_die("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}");
    T_CHECK(g4_grammar_json(schema, &g, &err) == G4_OK);
    T_CHECK(g4_gstate_new(g, gv, &s, &err) == G4_OK);
    float lg[sizeof toks / sizeof toks[0]];
    for (size_t i = 0; i < d.n_tokens; i++) lg[i] = 0;
    g4_gstate_mask(s, lg);
    T_CHECK(!isinf(lg[2]) && !isinf(lg[11]) && isinf(lg[3]) && isinf(lg[1]) && isinf(lg[13]));
    T_CHECK(g4_gstate_accept(s, 11) && g4_gstate_accept(s, 5) && g4_gstate_accept(s, 12));
    T_CHECK(g4_gstate_accept(s, 9) && !g4_gstate_complete(s) && g4_gstate_accept(s, 3));
    T_CHECK(g4_gstate_complete(s) && g4_gstate_accept(s, 1));
    g4_gstate_free(s);
    g4_grammar_free(g);
    g4_json_free(schema);
    g4_gvocab_free(gv);
    g4_vocab_free(v);
}

/* ---- the validator ------------------------------------------------------------------------------ */

static void expect_valid(const char *schema_text, const char *value_text, bool want) {
    g4_json *s = parse_or_die(schema_text), *v = parse_or_die(value_text);
    g4_error err = {0};
    g4_status st = g4_schema_validate(s, v, &err);
    T_CHECKF((st == G4_OK) == want, "validate %s against %s: %s", value_text, schema_text, st ? err.msg : "valid");
    g4_json_free(s);
    g4_json_free(v);
}

static void test_validator(void) {
    expect_valid("{\"type\":\"integer\"}", "3", true);
    expect_valid("{\"type\":\"integer\"}", "3.5", false);
    expect_valid("{\"type\":\"integer\"}", "3.0", true);
    expect_valid("{\"type\":[\"string\",\"null\"]}", "null", true);
    expect_valid("{\"type\":\"string\",\"nullable\":true}", "null", true);
    expect_valid("{\"type\":\"string\",\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\"", true);
    expect_valid("{\"type\":\"string\",\"maxLength\":2}", "\"abc\"", false);
    expect_valid("{\"type\":\"object\",\"required\":[\"a\"]}", "{}", false);
    expect_valid("{\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"a\":1,\"b\":2}", false);
    expect_valid("{\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{\"a\":1,\"b\":2}", true);
    expect_valid("{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"b\":\"x\"}", false);
    expect_valid("{\"enum\":[1,\"a\",{\"k\":[true]}]}", "{\"k\":[true]}", true);
    expect_valid("{\"enum\":[1,\"a\"]}", "1.0", true);
    expect_valid("{\"enum\":[1,\"a\"]}", "\"b\"", false);
    expect_valid("{\"const\":null}", "null", true);
    expect_valid("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "true", false);
    expect_valid("{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}", "1", true); /* oneOf as anyOf */
    expect_valid("{\"allOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", "{\"a\":1}", false);
    expect_valid("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"}],\"items\":{\"type\":\"integer\"}}", "[\"a\",1,2]", true);
    expect_valid("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"}],\"items\":{\"type\":\"integer\"}}", "[1]", false);
    expect_valid("{\"type\":\"array\",\"minItems\":2}", "[1]", false);
    expect_valid("{\"minimum\":0,\"exclusiveMaximum\":1}", "1", false);
    expect_valid("{\"minimum\":0,\"maximum\":1,\"exclusiveMinimum\":true}", "0", false);
    expect_valid("{\"$defs\":{\"p\":{\"type\":\"integer\"}},\"properties\":{\"x\":{\"$ref\":\"#/$defs/p\"}}}", "{\"x\":\"s\"}", false);
    expect_valid("false", "1", false);
    g4_json *s = parse_or_die("{\"$ref\":\"#\"}"), *v = parse_or_die("1");
    g4_error err = {0};
    T_CHECK(g4_schema_validate(s, v, &err) == G4_ERR_UNSUPPORTED); /* endless $ref: bounded */
    g4_json_free(s);
    g4_json_free(v);
    s = parse_or_die("{\"properties\":{\"a\":{\"items\":{\"type\":\"integer\"}}}}");
    v = parse_or_die("{\"a\":[1,\"x\"]}");
    memset(&err, 0, sizeof err);
    T_CHECK(g4_schema_validate(s, v, &err) == G4_ERR_FORMAT && strstr(err.msg, "$.a[1]"));
    g4_json_free(s);
    g4_json_free(v);
}

/* ---- timings on the real vocabulary --------------------------------------------------------------- */

static double median_mask_us(vctx *c, g4_gstate *s, int reps) {
    double t[64];
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        for (int32_t i = 0; i < c->n; i++) c->logits[i] = 0;
        double t0 = now_s();
        g4_gstate_mask(s, c->logits);
        t[r] = (now_s() - t0) * 1e6;
    }
    for (int i = 1; i < reps; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[reps / 2];
}

static void time_at(vctx *c, const g4_grammar *g, const char *what, const char *prefix, const uint8_t *bytes) {
    g4_gstate *s = NULL;
    g4_error err = {0};
    T_CHECK(g4_gstate_new(g, c->gv, &s, &err) == G4_OK);
    if (!s) return;
    T_CHECKF(accept_text(c, s, prefix), "prefix %s", prefix);
    for (size_t i = 0; bytes && bytes[i]; i++) T_CHECK(g4_gstate_accept(s, byte_tok(c, bytes[i])));
    double us = median_mask_us(c, s, SANITIZED ? 5 : 31);
    fprintf(stderr, "grammar: mask on %d tokens, %-38s %8.0f us (median)\n", c->n, what, us);
    if (!SANITIZED) T_CHECKF(us < 20000, "%s: %.0f us", what, us); /* target: well under 5 ms */
    g4_gstate_free(s);
}

static void test_timing(vctx *c) {
    g4_json *schema = parse_or_die(k_schemas[1]);
    g4_json *tools = parse_or_die("[" WEATHER "," TIME_TOOL "]");
    g4_grammar *gj = NULL, *gt = NULL, *ga = NULL;
    g4_error err = {0};
    T_CHECK(g4_grammar_json(schema, &gj, &err) == G4_OK);
    T_CHECK(g4_grammar_json(NULL, &ga, &err) == G4_OK);
    T_CHECK(g4_grammar_tool_call(tools, NULL, true, &gt, &err) == G4_OK);
    g4_json *extra = parse_or_die(k_schemas[13]);
    g4_json *tools2 = parse_or_die("[" COMPLEX "]");
    g4_grammar *gx = NULL, *gc = NULL;
    T_CHECK(g4_grammar_json(extra, &gx, &err) == G4_OK);
    T_CHECK(g4_grammar_tool_call(tools2, NULL, false, &gc, &err) == G4_OK);
    static const uint8_t e4[] = {0xE4, 0};
    if (gj && gt && ga && gx && gc) {
        time_at(c, gj, "json schema: start", "", NULL);
        time_at(c, gj, "json schema: mid-string (maxLength)", "{\"user\": {\"id\": 7, \"email\": \"ab", NULL);
        time_at(c, gj, "json schema: between values", "{\"user\": {\"id\": 7", NULL);
        time_at(c, gj, "json schema: after a string", "{\"user\": {\"id\": 7, \"email\": \"ab\"", NULL);
        time_at(c, ga, "json_object: mid-string", "{\"text\": \"Once upon a time", NULL);
        time_at(c, ga, "json_object: key position", "{\"text\": \"x\", ", NULL);
        time_at(c, ga, "json_object: value position", "{\"text\": ", NULL);
        time_at(c, ga, "json_object: after a backslash", "{\"text\": \"a\\", NULL);
        time_at(c, ga, "json_object: mid-UTF-8 character", "{\"text\": \"a", e4);
        time_at(c, ga, "json_object: after '<' in a string", "{\"text\": \"a<", NULL);
        time_at(c, gx, "extra member key (exclusions)", "{\"id\": 1, \"ab", NULL);
        time_at(c, gt, "tool call: start", "", NULL);
        time_at(c, gt, "tool call: mid-string", "<|tool_call>call:get_weather{city:<|\"|>New York", NULL);
        time_at(c, gt, "tool call: between values", "<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>", NULL);
        time_at(c, gt, "tool call: number", "<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>,days:1", NULL);
        time_at(c, gc, "tool call: free-form object key", "<|tool_call>call:srv:create_event{title:<|\"|>t<|\"|>,"
                "when:<|\"|><|\"|>,<|\"|>a:b<|\"|>:true,meta:{", NULL);
    }
    g4_grammar_free(gx);
    g4_grammar_free(gc);
    g4_json_free(extra);
    g4_json_free(tools2);
    g4_grammar_free(gj);
    g4_grammar_free(ga);
    g4_grammar_free(gt);
    g4_json_free(schema);
    g4_json_free(tools);
}

/* ------------------------------------------------------------------------------------------------ */

static bool ensure_real_vocab(void) {
    if (access(REAL_VOCAB, R_OK) == 0) return true;
    const char *cmd = "gzip -dc '" REAL_VOCAB_GZ "' > '" REAL_VOCAB ".grammar.tmp' && mv '" REAL_VOCAB
                      ".grammar.tmp' '" REAL_VOCAB "'";
    return system(cmd) == 0 && access(REAL_VOCAB, R_OK) == 0;
}

int main(void) {
    test_validator();
    test_small_vocab();

    vctx fx;
    T_CHECK(vctx_load(&fx, "fixture", FIXTURE));
    if (fx.gv) {
        double t0 = now_s();
#define STAGE(x) do { x; fprintf(stderr, "grammar: %-28s %.2f s\n", #x, now_s() - t0); t0 = now_s(); } while (0)
        STAGE(test_negative(&fx));
        STAGE(test_fixed_texts(&fx));
        STAGE(test_agreement(&fx));
        STAGE(test_budget(&fx));
        STAGE(test_json_walks(&fx, 4, false));
        STAGE(test_tool_walks(&fx, 4, false));
        STAGE(test_unbudgeted(&fx));
        STAGE(test_hostile(&fx));
        STAGE(test_random_schemas(&fx, 1500, false));
        STAGE(test_random_schemas(&fx, 1000, true));
    }
    vctx_free(&fx);

    vctx rv;
    T_CHECKF(ensure_real_vocab(), "cannot unpack %s", REAL_VOCAB_GZ);
    T_CHECK(vctx_load(&rv, "real", REAL_VOCAB));
    if (rv.gv) {
        double t0 = now_s();
        STAGE(test_negative(&rv));
        STAGE(test_fixed_texts(&rv));
        STAGE(test_agreement(&rv));
        STAGE(test_json_walks(&rv, SANITIZED ? 1 : 2, true));
        STAGE(test_tool_walks(&rv, SANITIZED ? 1 : 2, true));
        /* mask and can_accept agree on all 262144 tokens along one walk */
        rng_state = 5;
        STAGE(json_walks(&rv, k_schemas[4], 1, 40, 1));
        STAGE(test_timing(&rv));
    }
    vctx_free(&rv);
    fprintf(stderr, "grammar: %d walks, %d valid outputs, %d valid tool calls\n", g_walks_done, g_walks_valid, g_calls_valid);
    return T_DONE();
}
