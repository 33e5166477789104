/* test_chat_render.c — the C Gemma 4 chat renderer against the reference engine's
 * goldens (tests/data/chat/goldens/, rendered from tests/chat/conversations/ by
 * @huggingface/jinja with the official templates), the spec's rendered examples
 * (GEMMA4.md §10.5, §10.6 stages A and C), errors, and hostile DOMs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/js_string.h"
#include "chat/render.h"
#include "core/json.h"
#include "t.h"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    g4_buf b = G4_BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) g4_buf_add(&b, tmp, n);
    fclose(f);
    return g4_buf_take(&b, len);
}

static g4_json *load_json(const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    T_CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return NULL;
    g4_json *j = NULL;
    g4_error err = {0};
    T_CHECKF(g4_json_parse(text, len, &j, &err) == G4_OK, "%s: %s", path, err.msg);
    free(text);
    return j;
}

static g4_json *parse(const char *s) {
    g4_json *j = NULL;
    g4_error err = {0};
    T_CHECKF(g4_json_parse(s, strlen(s), &j, &err) == G4_OK, "%s", err.msg);
    return j;
}

/* Renders a {"messages", "tools"} document; returns the status, output in out. */
static g4_status render_doc(const char *doc_text, g4_chat_opts o, g4_buf *out, g4_error *err) {
    g4_json *doc = parse(doc_text);
    g4_status st = g4_chat_render(g4_json_get(doc, "messages"), g4_json_get(doc, "tools"), &o, out, err);
    g4_json_free(doc);
    return st;
}

static bool renders_as(const char *doc_text, g4_chat_opts o, const char *want) {
    g4_buf out = G4_BUF_INIT;
    g4_error err = {0};
    g4_status st = render_doc(doc_text, o, &out, &err);
    bool ok = st == G4_OK && strcmp(g4_buf_str(&out), want) == 0;
    if (!ok) fprintf(stderr, "status %d (%s)\n got: [%s]\nwant: [%s]\n", st, err.msg, g4_buf_str(&out), want);
    g4_buf_free(&out);
    return ok;
}

static bool fails_with(const char *doc_text, g4_chat_opts o, const char *want_in_msg) {
    g4_buf out = G4_BUF_INIT;
    g4_buf_adds(&out, "keep");
    g4_error err = {0};
    g4_status st = render_doc(doc_text, o, &out, &err);
    bool ok = st == G4_ERR_ARG && strstr(err.msg, want_in_msg) != NULL && strcmp(g4_buf_str(&out), "keep") == 0;
    if (!ok) fprintf(stderr, "status %d, message '%s', out '%s' (want '%s')\n", st, err.msg, g4_buf_str(&out),
                     want_in_msg);
    g4_buf_free(&out);
    return ok;
}

/* ---- every golden case, byte for byte ---- */

static void test_goldens(void) {
    g4_json *index = load_json(G4_TEST_DATA "/chat/goldens/index.json");
    const g4_json *names = g4_json_get(index, "conversations");
    size_t n_cases = 0, n_errors = 0;
    T_CHECK(g4_json_len(names) >= 40);
    for (size_t i = 0; i < g4_json_len(names); i++) {
        const char *name = g4_json_string(g4_json_at(names, i), NULL);
        char path[512];
        snprintf(path, sizeof path, "%s/../chat/conversations/%s.json", G4_TEST_DATA, name);
        g4_json *conv = load_json(path);
        snprintf(path, sizeof path, "%s/chat/goldens/%s.json", G4_TEST_DATA, name);
        g4_json *gold = load_json(path);
        const g4_json *cases = g4_json_get(gold, "cases");
        for (size_t k = 0; k < g4_json_len(cases); k++) {
            const g4_json *cs = g4_json_at(cases, k);
            g4_chat_opts o = {
                .large_layout = g4_json_bool(g4_json_get(cs, "large")),
                .enable_thinking = g4_json_bool(g4_json_get(cs, "enable_thinking")),
                .add_generation_prompt = g4_json_bool(g4_json_get(cs, "add_generation_prompt")),
                .preserve_thinking = g4_json_bool(g4_json_get(cs, "preserve_thinking")),
                .bos_token = g4_json_get_str(conv, "bos_token", NULL),
            };
            g4_buf out = G4_BUF_INIT;
            g4_error err = {0};
            g4_status st = g4_chat_render(g4_json_get(conv, "messages"), g4_json_get(conv, "tools"), &o, &out, &err);
            size_t wn;
            const char *want = g4_json_get_str(cs, "output", &wn);
            n_cases++;
            if (!want) {
                n_errors++;
                T_CHECKF(st == G4_ERR_ARG && out.n == 0, "%s case %zu: engine throws (%s), C gives status %d",
                         name, k, g4_json_get_str(cs, "error", NULL), st);
            } else {
                bool same = st == G4_OK && out.n == wn && memcmp(out.p, want, wn) == 0;
                if (!same && st == G4_OK) {
                    size_t d = 0;
                    while (d < wn && d < out.n && out.p[d] == want[d]) d++;
                    fprintf(stderr, "%s case %zu differs at byte %zu:\n got: %.80s\nwant: %.80s\n", name, k, d,
                            out.p + d, want + d);
                }
                T_CHECKF(same, "%s case %zu (status %d: %s)", name, k, st, err.msg);
            }
            g4_buf_free(&out);
        }
        g4_json_free(gold);
        g4_json_free(conv);
    }
    T_CHECK(n_cases >= 400 && n_errors > 0);
    fprintf(stderr, "goldens: %zu conversations, %zu cases (%zu expected errors)\n", g4_json_len(names), n_cases,
            n_errors);
    g4_json_free(index);
}

/* ---- the spec's rendered examples (made with Python jinja2; identical here) ---- */

static const char spec_plain[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a concise assistant.\"},"
    "{\"role\":\"user\",\"content\":\"What is the capital of France?\"},"
    "{\"role\":\"assistant\",\"content\":\"Paris.\"},{\"role\":\"user\",\"content\":\"And of Italy?\"}]}";

static void test_spec_10_5(void) {
    const char *hist = "<bos><|turn>system\nYou are a concise assistant.<turn|>\n"
                       "<|turn>user\nWhat is the capital of France?<turn|>\n"
                       "<|turn>model\nParis.<turn|>\n"
                       "<|turn>user\nAnd of Italy?<turn|>\n"
                       "<|turn>model\n";
    char want[1024];
    snprintf(want, sizeof want, "%s<|channel>thought\n<channel|>", hist);
    T_CHECK(renders_as(spec_plain, (g4_chat_opts){.large_layout = true, .add_generation_prompt = true}, want));
    /* E2B/E4B: the same text ending at <|turn>model\n */
    T_CHECK(renders_as(spec_plain, (g4_chat_opts){.large_layout = false, .add_generation_prompt = true}, hist));
    /* thinking on (any size): <|think|> on top of the system turn, no empty channel */
    const char *think = "<bos><|turn>system\n<|think|>\nYou are a concise assistant.<turn|>\n"
                        "<|turn>user\nWhat is the capital of France?<turn|>\n"
                        "<|turn>model\nParis.<turn|>\n"
                        "<|turn>user\nAnd of Italy?<turn|>\n"
                        "<|turn>model\n";
    T_CHECK(renders_as(spec_plain,
                       (g4_chat_opts){.large_layout = true, .enable_thinking = true, .add_generation_prompt = true},
                       think));
    T_CHECK(renders_as(spec_plain,
                       (g4_chat_opts){.large_layout = false, .enable_thinking = true, .add_generation_prompt = true},
                       think));
}

#define WEATHER_TOOL                                                                                 \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Get the current " \
    "weather for a city.\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"     \
    "\"string\",\"description\":\"City name\"},\"unit\":{\"type\":\"string\",\"description\":"          \
    "\"Temperature unit\",\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"city\"]}}}"

#define WEATHER_DECL                                                                                       \
    "<|tool>declaration:get_weather{description:<|\"|>Get the current weather for a city.<|\"|>,parameters:{" \
    "properties:{city:{description:<|\"|>City name<|\"|>,type:<|\"|>STRING<|\"|>},unit:{description:<|\"|>"  \
    "Temperature unit<|\"|>,enum:[<|\"|>celsius<|\"|>,<|\"|>fahrenheit<|\"|>],type:<|\"|>STRING<|\"|>}},"     \
    "required:[<|\"|>city<|\"|>],type:<|\"|>OBJECT<|\"|>}}<tool|>"

static void test_spec_10_6(void) {
    g4_chat_opts large = {.large_layout = true, .add_generation_prompt = true};
    /* stage A: the prompt sent to the model */
    T_CHECK(renders_as("{\"tools\":[" WEATHER_TOOL "],\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"What's the weather in Paris?\"}]}",
                       large,
                       "<bos><|turn>system\n" WEATHER_DECL "<turn|>\n"
                       "<|turn>user\nWhat's the weather in Paris?<turn|>\n"
                       "<|turn>model\n<|channel>thought\n<channel|>"));
    /* stage C: history with the call (arguments as an OpenAI JSON string) and the result;
     * no generation-prompt suffix after a tool response with thinking off */
    const char *stage_c =
        "{\"tools\":[" WEATHER_TOOL "],\"messages\":[{\"role\":\"user\",\"content\":\"What's the weather in "
        "Paris?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\", "
        "\\\"unit\\\": \\\"celsius\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":"
        "\"{\\\"temperature\\\": 18, \\\"condition\\\": \\\"cloudy\\\"}\"}]}";
#define STAGE_C_TURNS                                                                              \
    "<|turn>user\nWhat's the weather in Paris?<turn|>\n"                                             \
    "<|turn>model\n<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,unit:<|\"|>celsius<|\"|>}"      \
    "<tool_call|><|tool_response>response:get_weather{value:<|\"|>{\"temperature\": 18, "              \
    "\"condition\": \"cloudy\"}<|\"|>}<tool_response|>"
    T_CHECK(renders_as(stage_c, large, "<bos><|turn>system\n" WEATHER_DECL "<turn|>\n" STAGE_C_TURNS));
    /* thinking on: <|think|> first in the system turn; after a tool response the
     * generation prompt is <|channel>thought\n */
    T_CHECK(renders_as(stage_c,
                       (g4_chat_opts){.large_layout = true, .enable_thinking = true, .add_generation_prompt = true},
                       "<bos><|turn>system\n<|think|>\n" WEATHER_DECL "<turn|>\n" STAGE_C_TURNS
                       "<|channel>thought\n"));
    /* an unanswered call: the prompt already ends with <|tool_response>, nothing added */
    T_CHECK(renders_as("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
                       "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{\"b\":1,\"A\":[true,null]}}}]}]}",
                       large,
                       "<bos><|turn>user\nx<turn|>\n<|turn>model\n<|tool_call>call:f{A:[true,null],b:1}"
                       "<tool_call|><|tool_response>"));
}

/* ---- errors and API behaviour ---- */

static void test_errors(void) {
    g4_chat_opts o = {.large_layout = true, .add_generation_prompt = true};
    g4_buf out = G4_BUF_INIT;
    g4_error err = {0};
    g4_json *obj = parse("{\"role\":\"user\"}");
    T_CHECK(g4_chat_render(obj, NULL, &o, &out, &err) == G4_ERR_ARG && strstr(err.msg, "must be a JSON array"));
    T_CHECK(g4_chat_render(NULL, NULL, &o, &out, NULL) == G4_ERR_ARG);
    T_CHECK(g4_chat_render(obj, NULL, NULL, &out, NULL) == G4_ERR_ARG);
    T_CHECK(out.n == 0);
    g4_json_free(obj);

    /* the arguments pre-pass names the message and the call */
    T_CHECK(fails_with("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":"
                       "[{\"function\":{\"name\":\"f\",\"arguments\":\"{bad\"}}]}]}",
                       o, "messages[1].tool_calls[0].function.arguments is not valid JSON"));
    T_CHECK(fails_with("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":"
                       "[{\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"function\":{\"name\":\"g\","
                       "\"arguments\":\"[1]\"}}]}]}",
                       o, "messages[1].tool_calls[1].function.arguments must encode a JSON object, got array"));
    /* even on a message the template never renders (a tool message) */
    T_CHECK(fails_with("{\"messages\":[{\"role\":\"tool\",\"tool_calls\":[{\"function\":{\"arguments\":\"5\"}}]}]}",
                       o, "must encode a JSON object, got number"));
    /* the template's raise_exception, with the message index */
    T_CHECK(fails_with("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":"
                       "[{\"function\":{\"name\":\"f\",\"arguments\":[1]}}]}]}",
                       o, "messages[1]: chat_template: tool_calls[].function.arguments must be a JSON object"));
    /* engine type errors */
    T_CHECK(fails_with("{\"messages\":[{\"content\":\"no role\"}]}", o, "messages[0]: Cannot perform operation in"));
    T_CHECK(fails_with("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"function\":{\"name\":"
                       "\"f\",\"parameters\":{\"properties\":{\"p\":{\"type\":[\"string\",\"null\"]}}}}}]}",
                       o, "tools[0]: Unknown ArrayValue filter: upper"));
    T_CHECK(fails_with("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"no type\"}]}]}", o,
                       "messages[0]: Cannot perform operation on null values"));
    T_CHECK(fails_with("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},7]}", o,
                       "messages[1]: Cannot perform operation + on undefined values"));
    T_CHECK(fails_with("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":5}", o,
                       "Expected iterable or object type in for loop: got IntegerValue"));

    /* output is appended; tools = JSON null is no tools; custom BOS */
    g4_buf_adds(&out, "prefix|");
    g4_json *msgs = parse("[{\"role\":\"user\",\"content\":\" hi \"}]");
    g4_json *null_tools = parse("null");
    g4_chat_opts small = {.bos_token = "[B]", .add_generation_prompt = false};
    T_CHECK(g4_chat_render(msgs, null_tools, &small, &out, &err) == G4_OK);
    T_CHECK(strcmp(g4_buf_str(&out), "prefix|[B]<|turn>user\nhi<turn|>\n") == 0);
    g4_json_free(msgs);
    g4_json_free(null_tools);
    g4_buf_free(&out);
}

/* ---- DOMs built by hand: invalid UTF-8 passes through, deep nesting is an error ---- */

static void test_hostile_dom(void) {
    g4_chat_opts o = {.large_layout = true};
    g4_json *msgs = g4_json_new_array();
    g4_json *m = g4_json_new_object();
    g4_json_set(m, "role", g4_json_new_cstr("user"));
    static const char bad[] = "\xff\xfe a \xe2\x82 \xc0";
    g4_json_set(m, "content", g4_json_new_string(bad, sizeof bad - 1));
    g4_json_append(msgs, m);
    g4_buf out = G4_BUF_INIT;
    g4_error err = {0};
    T_CHECK(g4_chat_render(msgs, NULL, &o, &out, &err) == G4_OK);
    T_CHECK(out.n == strlen("<bos><|turn>user\n<turn|>\n") + sizeof bad - 1);
    T_CHECK(memmem(out.p, out.n, bad, sizeof bad - 1) != NULL);

    /* arguments nested 5000 deep (possible only with the builders) */
    g4_json *a = g4_json_new_object();
    g4_json_set(a, "role", g4_json_new_cstr("assistant"));
    g4_json *deep = g4_json_new_array(), *cur = deep;
    for (int i = 0; i < 5000; i++) {
        g4_json *nx = g4_json_new_array();
        g4_json_append(cur, nx);
        cur = nx;
    }
    g4_json *args = g4_json_new_object();
    g4_json_set(args, "x", deep);
    g4_json *fn = g4_json_new_object();
    g4_json_set(fn, "name", g4_json_new_cstr("f"));
    g4_json_set(fn, "arguments", args);
    g4_json *tc = g4_json_new_object();
    g4_json_set(tc, "function", fn);
    g4_json *tcs = g4_json_new_array();
    g4_json_append(tcs, tc);
    g4_json_set(a, "tool_calls", tcs);
    g4_json_append(msgs, a);
    g4_buf_clear(&out);
    T_CHECK(g4_chat_render(msgs, NULL, &o, &out, &err) == G4_ERR_ARG && strstr(err.msg, "nesting deeper"));
    g4_buf_free(&out);
    g4_json_free(msgs);
}

/* ---- the JavaScript string functions ---- */

static bool js_fn_is(void (*fn)(const char *, size_t, g4_buf *), const char *in, const char *want) {
    g4_buf b = G4_BUF_INIT;
    fn(in, strlen(in), &b);
    bool ok = strcmp(g4_buf_str(&b), want) == 0;
    if (!ok) fprintf(stderr, "'%s' -> '%s', want '%s'\n", in, g4_buf_str(&b), want);
    g4_buf_free(&b);
    return ok;
}

static void test_js_strings(void) {
    T_CHECK(js_fn_is(g4_chat_js_upper, "straße ǆ ŉ ſtring", "STRASSE Ǆ ʼN STRING"));
    T_CHECK(js_fn_is(g4_chat_js_upper, "object", "OBJECT"));
    T_CHECK(js_fn_is(g4_chat_js_upper, "ﬃ ᾳ", "FFI ΑΙ"));
    T_CHECK(js_fn_is(g4_chat_js_lower, "ΑΣ Σ ΑΣΑ Α.Σ İ", "ας σ ασα α.ς i\xcc\x87"));
    T_CHECK(js_fn_is(g4_chat_js_lower, "Zeta_X\xe2\x84\xaa", "zeta_xk")); /* Kelvin sign */
    T_CHECK(js_fn_is(g4_chat_js_trim, "\xe3\x80\x80\xc2\xa0 x y \xef\xbb\xbf\xe2\x80\xa8\t", "x y"));
    T_CHECK(js_fn_is(g4_chat_js_trim, "\xc2\x85x\xc2\x85", "\xc2\x85x\xc2\x85")); /* NEL is not JS space */
    T_CHECK(js_fn_is(g4_chat_js_trim, "\xe2\x80\x8bx", "\xe2\x80\x8bx"));         /* nor U+200B */
    T_CHECK(js_fn_is(g4_chat_js_upper, "a\xff" "b", "A\xff" "B"));               /* bad bytes pass */
}

int main(void) {
    test_goldens();
    test_spec_10_5();
    test_spec_10_6();
    test_errors();
    test_hostile_dom();
    test_js_strings();
    return T_DONE();
}
