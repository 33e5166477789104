/* test_oai.c — the OpenAI wire format (src/server/oai.c): request parsing and
 * validation of every field (wrong types -> 400 naming the field), hostile bodies, the
 * captured requests of real clients (tests/data/oai/ *.jsonl: parse + render in both
 * layouts), message and tool-schema normalisation (every accepted request renders;
 * well-formed schemas render unchanged), and the exact bytes of every response body,
 * stream chunk, usage chunk and error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/render.h"
#include "core/buf.h"
#include "core/json.h"
#include "server/oai.h"
#include "t.h"

/* ---- helpers ---- */

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

static g4_json *jparse(const char *s) {
    g4_json *j = NULL;
    g4_error e = {0};
    if (g4_json_parse(s, strlen(s), &j, &e) != G4_OK) {
        fprintf(stderr, "bad test JSON: %s\n", e.msg);
        return NULL;
    }
    return j;
}

static char *jwrite(const g4_json *j) {
    g4_buf b = G4_BUF_INIT;
    g4_json_write(j, &b);
    return g4_buf_take(&b, NULL);
}

static bool parse_ok(const char *body, bool chat, g4_oai_request *r) {
    g4_oai_error e;
    bool ok = g4_oai_parse_request(body, strlen(body), chat, NULL, r, &e);
    if (!ok) fprintf(stderr, "unexpected error for %.200s: [%s] %s\n", body, e.param, e.message);
    return ok;
}

/* The body must be rejected with status 400 and the given param ("" = null). */
static void expect_400(const char *body, bool chat, const char *param, int line) {
    g4_oai_request r;
    g4_oai_error e;
    bool ok = g4_oai_parse_request(body, strlen(body), chat, NULL, &r, &e);
    t_checks++;
    if (ok || e.status != 400 || strcmp(e.param, param) != 0 ||
        strcmp(e.type, "invalid_request_error") != 0 || !e.message[0]) {
        t_failures++;
        fprintf(stderr, "test_oai.c:%d: %s: want 400 param '%s', got %s status %d param '%s' (%s)\n",
                line, body, param, ok ? "ok" : "error", e.status, e.param, e.message);
    }
    /* a failed parse leaves nothing to free */
    T_CHECK(ok || (r.messages == NULL && r.tools == NULL && r.model == NULL && r.stop == NULL));
    if (ok) g4_oai_request_free(&r);
}
#define BAD(body, param) expect_400(body, true, param, __LINE__)
#define BADC(body, param) expect_400(body, false, param, __LINE__)

static bool render(const g4_oai_request *r, bool large, g4_buf *out) {
    g4_oai_error e;
    bool ok = g4_oai_render_prompt(r, large, out, NULL, &e);
    if (!ok) fprintf(stderr, "render failed: [%s] %s\n", e.param, e.message);
    return ok;
}

/* Every formatted body is strict JSON; SSE output is "data: JSON\n\n" events (or [DONE]). */
static bool json_valid(const char *s, size_t n) {
    g4_json *j = NULL;
    g4_error e = {0};
    bool ok = g4_json_parse(s, n, &j, &e) == G4_OK;
    g4_json_free(j);
    return ok;
}

static bool output_valid(const char *s) {
    if (s[0] == '{' || s[0] == '[') return json_valid(s, strlen(s));
    if (strncmp(s, "data: ", 6) != 0) return true; /* not JSON output (a prompt) */
    while (*s) {
        if (strncmp(s, "data: ", 6) != 0) return false;
        s += 6;
        const char *end = strstr(s, "\n\n");
        if (!end) return false;
        if (!(end - s == 6 && strncmp(s, "[DONE]", 6) == 0) && !json_valid(s, (size_t)(end - s))) return false;
        s = end + 2;
    }
    return true;
}

#define EQS(got, want)                                                                   \
    do {                                                                                 \
        T_CHECKF(strcmp((got), (want)) == 0, "\n got: %s\nwant: %s", (got), (want));   \
        T_CHECKF(output_valid(got), "not valid JSON / SSE: %s", (got));                 \
    } while (0)

/* ====================================================================================
 * parsing: values
 * ==================================================================================== */

static void test_minimal_defaults(void) {
    g4_oai_request r;
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", true, &r));
    g4_sampler_params d = g4_sampler_defaults();
    T_CHECK(r.chat && strcmp(r.model, "") == 0);
    T_CHECK(r.max_tokens == -1 && r.n == 1 && !r.stream && !r.include_usage && !r.logprobs);
    T_CHECK(r.top_logprobs == 0 && r.n_stop == 0 && !r.tools && r.tool_choice == G4_TOOL_NONE);
    T_CHECK(r.parallel_tool_calls && r.response_format == G4_RF_TEXT && !r.schema);
    T_CHECK(!r.enable_thinking && !r.thinking_explicit && !r.preserve_thinking && !r.ignore_eos);
    T_CHECK(r.sampling.temperature == d.temperature && r.sampling.top_k == d.top_k);
    T_CHECK(r.sampling.top_p == d.top_p && r.sampling.seed == G4_SEED_RANDOM && r.sampling.n_bias == 0);
    T_CHECK(r.n_images == 0 && r.n_audio == 0);
    g4_buf p = G4_BUF_INIT;
    T_CHECK(render(&r, false, &p));
    EQS(g4_buf_str(&p), "<bos><|turn>user\nHi<turn|>\n<|turn>model\n");
    g4_buf_clear(&p);
    T_CHECK(render(&r, true, &p));
    EQS(g4_buf_str(&p), "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
    g4_buf_free(&p);
    g4_oai_request_free(&r);
    g4_oai_request_free(&r); /* zeroed: a second free is a no-op */
    g4_oai_request_free(NULL);

    /* null counts as absent everywhere */
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":null}],\"model\":null,\"max_tokens\":null,"
                     "\"temperature\":null,\"top_p\":null,\"top_k\":null,\"min_p\":null,\"seed\":null,"
                     "\"stop\":null,\"presence_penalty\":null,\"frequency_penalty\":null,"
                     "\"logit_bias\":null,\"logprobs\":null,\"top_logprobs\":null,\"n\":null,"
                     "\"stream\":null,\"stream_options\":null,\"tools\":null,\"tool_choice\":null,"
                     "\"parallel_tool_calls\":null,\"response_format\":null,\"reasoning_effort\":null,"
                     "\"chat_template_kwargs\":null,\"think\":null,\"user\":null}", true, &r));
    T_CHECK(r.max_tokens == -1 && r.sampling.temperature == d.temperature && r.n == 1);
    g4_oai_request_free(&r);

    /* server defaults come from the options */
    g4_sampler_params sd = g4_sampler_defaults();
    sd.temperature = 0.25f;
    sd.top_k = 7;
    g4_logit_bias db = {3, -1.0f};
    sd.bias = &db;
    sd.n_bias = 1;
    g4_oai_parse_opts o = {&sd, true};
    g4_oai_error e;
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_k\":9,\"logit_bias\":{\"4\":1}}";
    T_CHECK(g4_oai_parse_request(b, strlen(b), true, &o, &r, &e));
    T_CHECK(r.sampling.temperature == 0.25f && r.sampling.top_k == 9 && r.enable_thinking &&
            !r.thinking_explicit);
    T_CHECK(r.sampling.n_bias == 2 && r.sampling.bias != &db && r.sampling.bias[0].token == 3 &&
            r.sampling.bias[1].token == 4 && r.sampling.bias[1].bias == 1.0f);
    g4_oai_request_free(&r);
}

static void test_all_fields(void) {
    g4_oai_request r;
    const char *body =
        "{\"model\":\"gemma4:e2b\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
        "\"max_tokens\":100,\"max_completion_tokens\":50,\"temperature\":0.5,\"top_p\":0.9,"
        "\"top_k\":40,\"min_p\":0.05,\"seed\":42,\"stop\":[\"END\",\"\",\"\\n\\n\"],"
        "\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"repetition_penalty\":1.1,"
        "\"repeat_last_n\":128,\"logit_bias\":{\"5\":-100,\"17\":2.5,\"0\":100},"
        "\"logprobs\":true,\"top_logprobs\":5,\"n\":2,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"w\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
        "\"required\":[\"city\"]},\"strict\":true}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
        "\"parallel_tool_calls\":false,"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"strict\":true,"
        "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}},"
        "\"reasoning_effort\":\"high\",\"ignore_eos\":true,\"user\":\"u1\",\"metadata\":{\"k\":1},"
        "\"service_tier\":\"auto\",\"verbosity\":\"low\",\"store\":false,\"unknown_field\":[1,{}]}";
    T_CHECK(parse_ok(body, true, &r));
    T_CHECK(strcmp(r.model, "gemma4:e2b") == 0);
    T_CHECK(r.max_tokens == 50); /* max_completion_tokens wins */
    T_CHECK(r.sampling.temperature == 0.5f && r.sampling.top_p == 0.9f && r.sampling.top_k == 40);
    T_CHECK(r.sampling.min_p == 0.05f && r.sampling.seed == 42);
    T_CHECK(r.sampling.presence_penalty == 0.5f && r.sampling.frequency_penalty == -0.5f);
    T_CHECK(r.sampling.repeat_penalty == 1.1f && r.sampling.repeat_last_n == 128);
    T_CHECK(r.n_stop == 2 && strcmp(r.stop[0], "END") == 0 && strcmp(r.stop[1], "\n\n") == 0);
    T_CHECK(r.sampling.n_bias == 3);
    T_CHECK(r.sampling.bias[0].token == 5 && isinf(r.sampling.bias[0].bias) && r.sampling.bias[0].bias < 0);
    T_CHECK(r.sampling.bias[1].token == 17 && r.sampling.bias[1].bias == 2.5f);
    T_CHECK(r.sampling.bias[2].token == 0 && r.sampling.bias[2].bias == 100.0f);
    T_CHECK(r.logprobs && r.top_logprobs == 5 && r.n == 2 && r.stream && r.include_usage);
    T_CHECK(r.tools && g4_json_len(r.tools) == 1);
    T_CHECK(r.tool_choice == G4_TOOL_NAMED && r.tool_name && strcmp(r.tool_name, "get_weather") == 0);
    T_CHECK(!r.parallel_tool_calls);
    T_CHECK(r.response_format == G4_RF_JSON_SCHEMA && r.schema);
    char *sj = jwrite(r.schema);
    EQS(sj, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}");
    free(sj);
    T_CHECK(r.enable_thinking && r.thinking_explicit && r.ignore_eos);
    char *tj = jwrite(r.tools);
    EQS(tj, "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"w\","
            "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
            "\"required\":[\"city\"]}}}]");
    free(tj);
    g4_oai_request_free(&r);

    /* alternatives */
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":7,\"stop\":\"STOP\","
                     "\"repeat_penalty\":1.3,\"seed\":-1,\"top_k\":-5,\"tools\":[{\"type\":\"function\","
                     "\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"required\","
                     "\"response_format\":{\"type\":\"json_object\"},\"max_tokens_extra\":1}", true, &r));
    T_CHECK(r.max_tokens == 7 && r.n_stop == 1 && strcmp(r.stop[0], "STOP") == 0);
    T_CHECK(r.sampling.repeat_penalty == 1.3f && r.sampling.seed == G4_SEED_RANDOM && r.sampling.top_k == 0);
    T_CHECK(r.tool_choice == G4_TOOL_REQUIRED && r.response_format == G4_RF_JSON_OBJECT && !r.schema);
    g4_oai_request_free(&r);

    /* integral numbers written as floats; huge max_tokens is clamped to INT_MAX, -1 = unlimited */
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1e3,\"n\":1.0,"
                     "\"top_k\":64.0}", true, &r));
    T_CHECK(r.max_tokens == 1000 && r.n == 1 && r.sampling.top_k == 64);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":99999999999}", true, &r));
    T_CHECK(r.max_tokens == 2147483647);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-1}", true, &r));
    T_CHECK(r.max_tokens == -1);
    g4_oai_request_free(&r);

    /* tool_choice forms; "none" keeps the tools; no tools -> NONE */
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\","
                     "\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"none\"}", true, &r));
    T_CHECK(r.tool_choice == G4_TOOL_NONE && r.tools);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\","
                     "\"function\":{\"name\":\"f\"}}]}", true, &r));
    T_CHECK(r.tool_choice == G4_TOOL_AUTO);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\","
                     "\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"name\":\"f\"}}",
                     true, &r));
    T_CHECK(r.tool_choice == G4_TOOL_NAMED && strcmp(r.tool_name, "f") == 0);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"auto\"}", true, &r));
    T_CHECK(r.tool_choice == G4_TOOL_NONE && !r.tools);
    g4_oai_request_free(&r);
    /* built-in (non-function) tools are dropped */
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"web_search\"}],"
                     "\"tool_choice\":\"auto\"}", true, &r));
    T_CHECK(!r.tools && r.tool_choice == G4_TOOL_NONE);
    g4_oai_request_free(&r);
    /* llama.cpp's json_object + schema */
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":"
                     "\"json_object\",\"schema\":{\"type\":\"object\"}}}", true, &r));
    T_CHECK(r.response_format == G4_RF_JSON_SCHEMA && r.schema);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":"
                     "\"json_schema\",\"json_schema\":{\"name\":\"n\"}}}", true, &r));
    T_CHECK(r.response_format == G4_RF_JSON_OBJECT && !r.schema);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":"
                     "\"text\"}}", true, &r));
    T_CHECK(r.response_format == G4_RF_TEXT);
    g4_oai_request_free(&r);
}

static void test_thinking(void) {
    struct {
        const char *fields;
        bool on, expl;
    } cases[] = {
        {"", false, false},
        {",\"reasoning_effort\":\"none\"", false, true},
        {",\"reasoning_effort\":\"minimal\"", false, true},
        {",\"reasoning_effort\":\"low\"", true, true},
        {",\"reasoning_effort\":\"medium\"", true, true},
        {",\"reasoning_effort\":\"high\"", true, true},
        {",\"chat_template_kwargs\":{\"enable_thinking\":true}", true, true},
        {",\"chat_template_kwargs\":{\"enable_thinking\":false}", false, true},
        {",\"chat_template_kwargs\":{\"other\":1}", false, false},
        {",\"think\":true", true, true},
        {",\"think\":false", false, true},
        {",\"think\":\"high\"", true, true},
        {",\"reasoning\":{\"effort\":\"low\"}", true, true},
        {",\"reasoning\":{\"enabled\":true}", true, true},
        /* precedence: chat_template_kwargs > reasoning_effort > reasoning > think */
        {",\"think\":true,\"reasoning_effort\":\"none\"", false, true},
        {",\"think\":false,\"reasoning_effort\":\"high\"", true, true},
        {",\"reasoning_effort\":\"high\",\"chat_template_kwargs\":{\"enable_thinking\":false}", false, true},
        {",\"reasoning_effort\":\"none\",\"chat_template_kwargs\":{\"enable_thinking\":true}", true, true},
        {",\"reasoning\":{\"effort\":\"none\"},\"think\":true", false, true},
        {",\"reasoning_effort\":\"low\",\"reasoning\":{\"effort\":\"none\"}", true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]%s}", cases[i].fields);
        g4_oai_request r;
        T_CHECKF(parse_ok(body, true, &r) && r.enable_thinking == cases[i].on &&
                     r.thinking_explicit == cases[i].expl, "%s", body);
        g4_oai_request_free(&r);
    }
    g4_oai_request r;
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"reasoning_effort\":\"high\","
                     "\"chat_template_kwargs\":{\"preserve_thinking\":true}}", true, &r));
    T_CHECK(r.preserve_thinking);
    g4_buf p = G4_BUF_INIT;
    T_CHECK(render(&r, true, &p));
    EQS(g4_buf_str(&p), "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n");
    g4_buf_free(&p);
    g4_oai_request_free(&r);
}

static void test_completions(void) {
    g4_oai_request r;
    T_CHECK(parse_ok("{\"model\":\"m\",\"prompt\":\"Once upon\",\"max_tokens\":16,\"logprobs\":3,"
                     "\"echo\":false,\"suffix\":\"\",\"best_of\":1,\"stream\":true}", false, &r));
    T_CHECK(!r.chat && r.prompt && strcmp(r.prompt, "Once upon") == 0 && r.prompt_len == 9);
    T_CHECK(!r.prompt_tokens && r.max_tokens == 16 && r.logprobs && r.top_logprobs == 3 && r.stream);
    T_CHECK(!r.messages && !r.tools && r.tool_choice == G4_TOOL_NONE);
    g4_buf p = G4_BUF_INIT;
    T_CHECK(render(&r, true, &p));
    EQS(g4_buf_str(&p), "Once upon");
    g4_buf_free(&p);
    g4_oai_request_free(&r);

    T_CHECK(parse_ok("{\"prompt\":[\"one \\u0000 two\"]}", false, &r));
    T_CHECK(r.prompt_len == 9 && memcmp(r.prompt, "one \0 two", 9) == 0);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"prompt\":[2,105,9259]}", false, &r));
    T_CHECK(!r.prompt && r.n_prompt_tokens == 3 && r.prompt_tokens[1] == 105);
    g4_oai_error e;
    T_CHECK(g4_oai_check_vocab(&r, 262144, &e));
    T_CHECK(!g4_oai_check_vocab(&r, 200, &e) && e.status == 400 && strcmp(e.param, "prompt") == 0);
    g4_buf q = G4_BUF_INIT;
    T_CHECK(!g4_oai_render_prompt(&r, true, &q, NULL, &e) && e.status == 400);
    g4_buf_free(&q);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"prompt\":[[7,8]],\"logprobs\":true}", false, &r));
    T_CHECK(r.n_prompt_tokens == 2 && r.prompt_tokens[0] == 7 && r.logprobs && r.top_logprobs == 0);
    g4_oai_request_free(&r);
    T_CHECK(parse_ok("{\"prompt\":\"\"}", false, &r));
    T_CHECK(r.prompt && r.prompt_len == 0);
    g4_oai_request_free(&r);
    /* logit_bias ids are checked against the vocabulary once it is known */
    T_CHECK(parse_ok("{\"prompt\":\"x\",\"logit_bias\":{\"999\":1}}", false, &r));
    T_CHECK(g4_oai_check_vocab(&r, 1000, &e));
    T_CHECK(!g4_oai_check_vocab(&r, 999, &e) && strcmp(e.param, "logit_bias") == 0);
    g4_oai_request_free(&r);
}

/* ====================================================================================
 * parsing: wrong types and values -> 400 with param
 * ==================================================================================== */

#define M "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]"
#define T1 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"

static void test_errors_top(void) {
    /* not a request */
    BAD("", "");
    BAD("hello", "");
    BAD("{\"messages\":[", "");
    BAD("[]", "");
    BAD("null", "");
    BAD("{\"a\":1,}", "");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", ""); /* not UTF-8 */
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"\xc0\xaf\"}]}", ""); /* overlong */
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"\xed\xa0\x80\"}]}", ""); /* surrogate */

    BAD("{\"model\":5," M "}", "model");
    BAD("{\"max_tokens\":\"10\"," M "}", "max_tokens");
    BAD("{\"max_tokens\":1.5," M "}", "max_tokens");
    BAD("{\"max_tokens\":0," M "}", "max_tokens");
    BAD("{\"max_tokens\":-2," M "}", "max_tokens");
    BAD("{\"max_completion_tokens\":true," M "}", "max_completion_tokens");
    BAD("{\"temperature\":\"1\"," M "}", "temperature");
    BAD("{\"temperature\":-0.5," M "}", "temperature");
    BAD("{\"temperature\":1e400," M "}", "temperature");
    BAD("{\"top_p\":2," M "}", "top_p");
    BAD("{\"top_p\":\"x\"," M "}", "top_p");
    BAD("{\"top_k\":1.5," M "}", "top_k");
    BAD("{\"min_p\":-0.1," M "}", "min_p");
    BAD("{\"seed\":\"x\"," M "}", "seed");
    BAD("{\"seed\":0.5," M "}", "seed");
    BAD("{\"stop\":5," M "}", "stop");
    BAD("{\"stop\":{}," M "}", "stop");
    BAD("{\"stop\":[\"a\",5]," M "}", "stop[1]");
    BAD("{\"stop\":\"a\\u0000b\"," M "}", "stop");
    BAD("{\"presence_penalty\":\"x\"," M "}", "presence_penalty");
    BAD("{\"frequency_penalty\":true," M "}", "frequency_penalty");
    BAD("{\"repetition_penalty\":0," M "}", "repetition_penalty");
    BAD("{\"repeat_penalty\":\"x\"," M "}", "repeat_penalty");
    BAD("{\"repeat_last_n\":-2," M "}", "repeat_last_n");
    BAD("{\"logit_bias\":[]," M "}", "logit_bias");
    BAD("{\"logit_bias\":{\"abc\":1}," M "}", "logit_bias");
    BAD("{\"logit_bias\":{\"-1\":1}," M "}", "logit_bias");
    BAD("{\"logit_bias\":{\"\":1}," M "}", "logit_bias");
    BAD("{\"logit_bias\":{\"99999999999\":1}," M "}", "logit_bias");
    BAD("{\"logit_bias\":{\"5\":\"x\"}," M "}", "logit_bias");
    BAD("{\"logit_bias\":{\"5\":101}," M "}", "logit_bias");
    BAD("{\"logit_bias\":{\"5\":-100.5}," M "}", "logit_bias");
    BAD("{\"logprobs\":1," M "}", "logprobs");
    BAD("{\"top_logprobs\":21," M "}", "top_logprobs");
    BAD("{\"top_logprobs\":-1," M "}", "top_logprobs");
    BAD("{\"top_logprobs\":\"x\"," M "}", "top_logprobs");
    BAD("{\"n\":0," M "}", "n");
    BAD("{\"n\":17," M "}", "n");
    BAD("{\"n\":\"2\"," M "}", "n");
    BAD("{\"stream\":\"true\"," M "}", "stream");
    BAD("{\"stream_options\":5," M "}", "stream_options");
    BAD("{\"stream_options\":{\"include_usage\":1}," M "}", "stream_options.include_usage");
    BAD("{\"ignore_eos\":\"x\"," M "}", "ignore_eos");
    BAD("{\"parallel_tool_calls\":\"x\"," M "}", "parallel_tool_calls");
    BAD("{\"reasoning_effort\":\"extreme\"," M "}", "reasoning_effort");
    BAD("{\"reasoning_effort\":5," M "}", "reasoning_effort");
    BAD("{\"chat_template_kwargs\":5," M "}", "chat_template_kwargs");
    BAD("{\"chat_template_kwargs\":{\"enable_thinking\":\"yes\"}," M "}", "chat_template_kwargs.enable_thinking");
    BAD("{\"chat_template_kwargs\":{\"preserve_thinking\":1}," M "}", "chat_template_kwargs.preserve_thinking");
    BAD("{\"think\":5," M "}", "think");
    BAD("{\"think\":\"very\"," M "}", "think");
    BAD("{\"reasoning\":5," M "}", "reasoning");
    BAD("{\"reasoning\":{\"effort\":\"x\"}," M "}", "reasoning.effort");
    BAD("{\"reasoning\":{\"enabled\":\"x\"}," M "}", "reasoning.enabled");
    BAD("{\"response_format\":\"json\"," M "}", "response_format");
    BAD("{\"response_format\":{}," M "}", "response_format.type");
    BAD("{\"response_format\":{\"type\":\"xml\"}," M "}", "response_format.type");
    BAD("{\"response_format\":{\"type\":\"json_schema\"}," M "}", "response_format.json_schema");
    BAD("{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":5}," M "}", "response_format.json_schema");
    BAD("{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":5}}," M "}",
        "response_format.json_schema.schema");
    BAD("{\"response_format\":{\"type\":\"json_object\",\"schema\":[]}," M "}", "response_format.schema");
    /* tools */
    BAD("{\"tools\":{}," M "}", "tools");
    BAD("{\"tools\":[5]," M "}", "tools[0]");
    BAD("{\"tools\":[{\"type\":5}]," M "}", "tools[0].type");
    BAD("{\"tools\":[{\"type\":\"function\"}]," M "}", "tools[0].function");
    BAD("{\"tools\":[{\"type\":\"function\",\"function\":[]}]," M "}", "tools[0].function");
    BAD("{\"tools\":[{\"type\":\"function\",\"function\":{}}]," M "}", "tools[0].function.name");
    BAD("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"\"}}]," M "}", "tools[0].function.name");
    BAD("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":5}}]," M "}",
        "tools[0].function.description");
    BAD("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},{\"type\":\"function\",\"function\":"
        "{\"name\":\"g\",\"parameters\":\"x\"}}]," M "}", "tools[1].function.parameters");
    BAD("{\"tool_choice\":5," T1 "," M "}", "tool_choice");
    BAD("{\"tool_choice\":\"maybe\"," T1 "," M "}", "tool_choice");
    BAD("{\"tool_choice\":{}," T1 "," M "}", "tool_choice.type");
    BAD("{\"tool_choice\":{\"type\":\"function\"}," T1 "," M "}", "tool_choice.name");
    BAD("{\"tool_choice\":{\"type\":\"function\",\"function\":5}," T1 "," M "}", "tool_choice.function");
    BAD("{\"tool_choice\":{\"type\":\"function\",\"function\":{}}," T1 "," M "}", "tool_choice.function.name");
    BAD("{\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}," T1 "," M "}", "tool_choice");
    BAD("{\"tool_choice\":\"required\"," M "}", "tool_choice");
    BAD("{\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}," M "}", "tool_choice");
}

static void test_errors_messages(void) {
    BAD("{}", "messages");
    BAD("{\"messages\":null}", "messages");
    BAD("{\"messages\":\"hi\"}", "messages");
    BAD("{\"messages\":{}}", "messages");
    BAD("{\"messages\":[]}", "messages");
    BAD("{\"messages\":[1]}", "messages[0]");
    BAD("{\"messages\":[{\"content\":\"x\"}]}", "messages[0].role");
    BAD("{\"messages\":[{\"role\":1}]}", "messages[0].role");
    BAD("{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role");
    BAD("{\"messages\":[{\"role\":\"User\",\"content\":\"x\"}]}", "messages[0].role");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"},"
        "{\"role\":\"user\",\"content\":5}]}", "messages[2].content");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":{\"text\":\"x\"}}]}", "messages[0].content");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":true}]}", "messages[0].content");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]}", "messages[0].content[0]");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}", "messages[0].content[0].type");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":7}]}]}", "messages[0].content[0].type");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\"}]}]}",
        "messages[0].content[1].text");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":3}]}]}",
        "messages[0].content[0].text");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
        "messages[0].content[0].image_url");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}",
        "messages[0].content[0].image_url");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{}}]}]}",
        "messages[0].content[0].input_audio");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video_url\",\"video_url\":{}}]}]}",
        "messages[0].content[0].type");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"name\":5}]}", "messages[0].name");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"content\":\"r\","
        "\"tool_call_id\":5}]}", "messages[1].tool_call_id");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"r\","
        "\"reasoning_content\":5}]}", "messages[1].reasoning_content");
    BAD("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"r\","
        "\"reasoning\":[]}]}", "messages[1].reasoning");
#define A(tc) "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":" tc "}]}"
    BAD(A("\"x\""), "messages[1].tool_calls");
    BAD(A("{}"), "messages[1].tool_calls");
    BAD(A("[5]"), "messages[1].tool_calls[0]");
    BAD(A("[{\"type\":\"function\"}]"), "messages[1].tool_calls[0].function");
    BAD(A("[{\"type\":\"function\",\"function\":\"f\"}]"), "messages[1].tool_calls[0].function");
    BAD(A("[{\"type\":\"custom\",\"function\":{\"name\":\"f\"}}]"), "messages[1].tool_calls[0].type");
    BAD(A("[{\"id\":5,\"function\":{\"name\":\"f\"}}]"), "messages[1].tool_calls[0].id");
    BAD(A("[{\"function\":{\"arguments\":\"{}\"}}]"), "messages[1].tool_calls[0].function.name");
    BAD(A("[{\"function\":{\"name\":\"\"}}]"), "messages[1].tool_calls[0].function.name");
    BAD(A("[{\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\"}}]"),
        "messages[1].tool_calls[0].function.arguments");
    BAD(A("[{\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]"), "messages[1].tool_calls[0].function.arguments");
    BAD(A("[{\"function\":{\"name\":\"f\",\"arguments\":\"\\\"s\\\"\"}}]"),
        "messages[1].tool_calls[0].function.arguments");
    BAD(A("[{\"function\":{\"name\":\"f\",\"arguments\":5}}]"), "messages[1].tool_calls[0].function.arguments");
    BAD(A("[{\"function\":{\"name\":\"f\"}},{\"function\":{\"name\":\"g\",\"arguments\":[]}}]"),
        "messages[1].tool_calls[1].function.arguments");
#undef A
    /* completions */
    BADC("{}", "prompt");
    BADC("{\"prompt\":5}", "prompt");
    BADC("{\"prompt\":{}}", "prompt");
    BADC("{\"prompt\":[]}", "prompt");
    BADC("{\"prompt\":[\"a\",\"b\"]}", "prompt");
    BADC("{\"prompt\":[[1],[2]]}", "prompt");
    BADC("{\"prompt\":[[]]}", "prompt");
    BADC("{\"prompt\":[1,-2]}", "prompt[1]");
    BADC("{\"prompt\":[1.5]}", "prompt[0]");
    BADC("{\"prompt\":[1,\"a\"]}", "prompt[1]");
    BADC("{\"prompt\":[3000000000]}", "prompt[0]");
    BADC("{\"prompt\":\"x\",\"echo\":true}", "echo");
    BADC("{\"prompt\":\"x\",\"echo\":\"no\"}", "echo");
    BADC("{\"prompt\":\"x\",\"suffix\":\"end\"}", "suffix");
    BADC("{\"prompt\":\"x\",\"suffix\":5}", "suffix");
    BADC("{\"prompt\":\"x\",\"best_of\":3}", "best_of");
    BADC("{\"prompt\":\"x\",\"logprobs\":21}", "logprobs");
    BADC("{\"prompt\":\"x\",\"logprobs\":\"x\"}", "logprobs");
    BADC("{\"prompt\":\"x\",\"max_tokens\":\"x\"}", "max_tokens");
}

/* ====================================================================================
 * hostile input
 * ==================================================================================== */

static void test_hostile(void) {
    /* deep nesting */
    size_t n = 200000;
    char *deep = malloc(n + 64);
    strcpy(deep, "{\"messages\":");
    size_t p = strlen(deep);
    memset(deep + p, '[', n);
    deep[p + n] = 0;
    g4_oai_request r;
    g4_oai_error e;
    T_CHECK(!g4_oai_parse_request(deep, strlen(deep), true, NULL, &r, &e) && e.status == 400);
    free(deep);
    /* deep but valid JSON inside a content part is rejected by the type check, not a crash */
    g4_buf b = G4_BUF_INIT;
    g4_buf_adds(&b, "{\"messages\":[{\"role\":\"user\",\"content\":[");
    for (int i = 0; i < 500; i++) g4_buf_addc(&b, '[');
    for (int i = 0; i < 500; i++) g4_buf_addc(&b, ']');
    g4_buf_adds(&b, "]}]}");
    T_CHECK(!g4_oai_parse_request(b.p, b.n, true, NULL, &r, &e) && e.status == 400);
    g4_buf_free(&b);
    /* a body with a NUL byte in the middle */
    const char nul[] = "{\"messages\":[]}\0garbage";
    T_CHECK(!g4_oai_parse_request(nul, sizeof nul - 1, true, NULL, &r, &e) && e.status == 400);
    T_CHECK(!g4_oai_parse_request(NULL, 0, true, NULL, &r, &e) && e.status == 400);
    /* huge arrays */
    g4_buf_adds(&b, "{\"stop\":[");
    for (int i = 0; i < 100000; i++) g4_buf_adds(&b, i ? ",\"s\"" : "\"s\"");
    g4_buf_adds(&b, "]," M "}");
    T_CHECK(!g4_oai_parse_request(b.p, b.n, true, NULL, &r, &e) && strcmp(e.param, "stop") == 0);
    g4_buf_free(&b);
    g4_buf_adds(&b, "{\"messages\":[");
    for (int i = 0; i < 20000; i++)
        g4_buf_adds(&b, i ? ",{\"role\":\"user\",\"content\":\"hi\"}" : "{\"role\":\"user\",\"content\":\"hi\"}");
    g4_buf_adds(&b, "],\"logit_bias\":{");
    for (int i = 0; i < 20000; i++) g4_buf_printf(&b, i ? ",\"%d\":-1" : "\"%d\":-1", i);
    g4_buf_adds(&b, "}}");
    clock_t t0 = clock();
    T_CHECK(g4_oai_parse_request(b.p, b.n, true, NULL, &r, &e));
    double ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
    T_CHECK(g4_json_len(r.messages) == 20000 && r.sampling.n_bias == 20000);
    fprintf(stderr, "  20000 messages + 20000 logit_bias entries (%zu bytes): %.1f ms\n", b.n, ms);
    g4_oai_request_free(&r);
    g4_buf_free(&b);
}

/* ====================================================================================
 * tool schemas
 * ==================================================================================== */

/* Normalises {"type":"function","function":{"name":"f","parameters":PARAMS}} and compares
 * the normalised parameters with want; then renders the tool in both layouts. */
static void check_norm(const char *params, const char *want, int line) {
    g4_buf b = G4_BUF_INIT;
    g4_buf_printf(&b, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":%s}}]", params);
    g4_json *tools = jparse(g4_buf_str(&b));
    g4_oai_error e;
    g4_json *nt = g4_oai_normalize_tools(tools, &e);
    t_checks++;
    if (!nt) {
        t_failures++;
        fprintf(stderr, "test_oai.c:%d: normalize failed: %s\n", line, e.message);
    } else {
        char *got = jwrite(g4_json_get(g4_json_get(g4_json_at(nt, 0), "function"), "parameters"));
        if (strcmp(got, want) != 0) {
            t_failures++;
            fprintf(stderr, "test_oai.c:%d: normalised\n got: %s\nwant: %s\n", line, got, want);
        }
        free(got);
        g4_json *msgs = jparse("[{\"role\":\"user\",\"content\":\"x\"}]");
        for (int large = 0; large < 2; large++) {
            g4_chat_opts o = {.large_layout = large, .add_generation_prompt = true};
            g4_buf out = G4_BUF_INIT;
            g4_error re = {0};
            T_CHECKF(g4_chat_render(msgs, nt, &o, &out, &re) == G4_OK, "line %d: %s", line, re.msg);
            g4_buf_free(&out);
        }
        g4_json_free(msgs);
    }
    g4_json_free(nt);
    g4_json_free(tools);
    g4_buf_free(&b);
}
#define NORM(params, want) check_norm(params, want, __LINE__)

/* The raw tools must fail to render (showing the rule is needed). */
static void check_raw_fails(const char *params) {
    g4_buf b = G4_BUF_INIT;
    g4_buf_printf(&b, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":%s}}]", params);
    g4_json *tools = jparse(g4_buf_str(&b));
    g4_json *msgs = jparse("[{\"role\":\"user\",\"content\":\"x\"}]");
    g4_chat_opts o = {.large_layout = true, .add_generation_prompt = true};
    g4_buf out = G4_BUF_INIT;
    g4_error re = {0};
    T_CHECKF(g4_chat_render(msgs, tools, &o, &out, &re) != G4_OK, "%s renders raw", params);
    g4_buf_free(&out);
    g4_json_free(msgs);
    g4_json_free(tools);
    g4_buf_free(&b);
}

static void test_schemas(void) {
    /* union type -> first non-null + nullable */
    const char *s1 = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"],\"description\":\"d\"}}}";
    check_raw_fails(s1);
    NORM(s1, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"description\":\"d\",\"nullable\":true}}}");
    NORM("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"null\",\"integer\",\"string\"]},\"b\":{\"type\":[\"null\"]},"
         "\"c\":{\"type\":[]}}}",
         "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"nullable\":true},"
         "\"b\":{\"type\":\"null\",\"nullable\":true},\"c\":{\"type\":\"string\"}}}");
    /* missing type: inferred */
    const char *s2 = "{\"properties\":{\"x\":{\"enum\":[\"a\",\"b\"]},\"y\":{\"items\":{\"type\":\"integer\"}},"
                     "\"z\":{\"properties\":{}},\"w\":{},\"v\":{\"enum\":[null,1,2]},\"u\":{\"const\":true},\"t\":true}}";
    check_raw_fails(s2);
    NORM(s2, "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},\"y\":{\"type\":"
             "\"array\",\"items\":{\"type\":\"integer\"}},\"z\":{\"type\":\"object\",\"properties\":{}},\"w\":"
             "{\"type\":\"string\"},\"v\":{\"type\":\"integer\",\"enum\":[null,1,2]},\"u\":{\"type\":\"boolean\","
             "\"const\":true},\"t\":{\"type\":\"string\"}}}");
    /* anyOf / oneOf: first non-null branch + nullable; the outer description wins */
    const char *s3 = "{\"type\":\"object\",\"properties\":{\"a\":{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"integer\","
                     "\"minimum\":0,\"description\":\"inner\"}],\"description\":\"n\",\"default\":null},"
                     "\"b\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"number\"}]}}}";
    check_raw_fails(s3);
    NORM(s3, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"n\","
             "\"default\":null,\"nullable\":true},\"b\":{\"type\":\"string\"}}}");
    /* allOf: merged properties and required */
    NORM("{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]},"
         "{\"properties\":{\"b\":{\"type\":\"number\"},\"a\":{\"type\":\"integer\"}},\"required\":[\"b\",\"a\"]}]}",
         "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"number\"},\"a\":{\"type\":\"string\"}},\"required\":"
         "[\"a\",\"b\"]}");
    /* local $ref with $defs (pydantic / MCP style); $schema and $defs removed */
    const char *s5 = "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$defs\":{\"P\":{\"type\":\"object\","
                     "\"properties\":{\"x\":{\"type\":\"string\"}},\"required\":[\"x\"]}},\"type\":\"object\","
                     "\"properties\":{\"p\":{\"$ref\":\"#/$defs/P\",\"description\":\"pt\"},"
                     "\"q\":{\"$ref\":\"#/definitions/Missing\"},\"r\":{\"$ref\":\"#/$defs/P/properties/x\"}}}";
    check_raw_fails(s5);
    NORM(s5, "{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"object\",\"description\":\"pt\",\"properties\":"
             "{\"x\":{\"type\":\"string\"}},\"required\":[\"x\"]},\"q\":{\"type\":\"object\",\"properties\":{}"
             "},\"r\":{\"type\":\"string\"}}}");
    /* recursive $ref: expanded once, then cut to its type */
    NORM("{\"$defs\":{\"N\":{\"type\":\"object\",\"description\":\"node\",\"properties\":{\"v\":{\"type\":\"integer\"},"
         "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/N\"}}}}},\"type\":\"object\","
         "\"properties\":{\"root\":{\"$ref\":\"#/$defs/N\"}}}",
         "{\"type\":\"object\",\"properties\":{\"root\":{\"type\":\"object\",\"description\":\"node\",\"properties\":"
         "{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"description\":"
         "\"node\",\"properties\":{}}}}}}}");
    NORM("{\"type\":\"object\",\"properties\":{\"self\":{\"$ref\":\"#\"}}}",
         "{\"type\":\"object\",\"properties\":{\"self\":{\"type\":\"object\",\"properties\":{}}}}");
    /* object without properties (additionalProperties false) -> properties {} */
    const char *s7 = "{\"type\":\"object\",\"properties\":{\"m\":{\"type\":\"object\",\"additionalProperties\":false},"
                     "\"n\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}}}";
    check_raw_fails(s7);
    NORM(s7, "{\"type\":\"object\",\"properties\":{\"m\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":"
             "{}},\"n\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},\"properties\":{}}"
             "}}");
    /* items: union types and untyped properties inside items */
    const char *s8 = "{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"items\":{\"type\":[\"string\","
                     "\"number\"]}},\"o\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"
                     "{\"k\":{\"description\":\"no type\"}},\"required\":\"k\"}},\"t\":{\"type\":\"array\","
                     "\"items\":[{\"type\":\"string\"}]}}}";
    check_raw_fails(s8);
    NORM(s8, "{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
             "\"o\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"string\","
             "\"description\":\"no type\"}}}},\"t\":{\"type\":\"array\",\"items\":[{\"type\":\"string\"}]}}}");
    /* forbidden property (false) dropped; non-object properties replaced */
    NORM("{\"type\":\"object\",\"properties\":{\"a\":false,\"b\":{\"type\":\"object\",\"properties\":[1]}}}",
         "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"object\",\"properties\":{}}}}");
    /* a well-formed schema comes out as it went in (minus $-keys) */
    NORM("{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"enum\":[\"a\"],\"description\":\"d\","
         "\"minLength\":1},\"n\":{\"type\":\"number\",\"nullable\":false}},\"required\":[\"s\"]}",
         "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"enum\":[\"a\"],\"description\":"
         "\"d\",\"minLength\":1},\"n\":{\"type\":\"number\",\"nullable\":false}},\"required\":[\"s\"]}");

    /* response without type; non-function tools dropped; description kept */
    g4_json *tools = jparse("[{\"type\":\"web_search\"},{\"function\":{\"name\":\"f\",\"description\":\"d\","
                            "\"response\":{\"description\":\"r\"}}},{\"type\":\"function\",\"function\":{\"name\":\"g\","
                            "\"parameters\":{},\"response\":5}}]");
    g4_oai_error e;
    g4_json *nt = g4_oai_normalize_tools(tools, &e);
    T_CHECK(nt != NULL);
    char *got = jwrite(nt);
    EQS(got, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\",\"response\":{\"type\":"
             "\"object\",\"description\":\"r\",\"properties\":{}}}},{\"type\":\"function\",\"function\":{\"name\":"
             "\"g\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]");
    free(got);
    g4_json *msgs = jparse("[{\"role\":\"user\",\"content\":\"x\"}]");
    g4_chat_opts o = {.large_layout = true, .add_generation_prompt = true};
    g4_buf out = G4_BUF_INIT;
    g4_error re = {0};
    T_CHECK(g4_chat_render(msgs, nt, &o, &out, &re) == G4_OK);
    EQS(g4_buf_str(&out), "<bos><|turn>system\n<|tool>declaration:f{description:<|\"|>d<|\"|>,response:{description:"
                          "<|\"|>r<|\"|>,type:<|\"|>OBJECT<|\"|>}}<tool|><|tool>declaration:g{description:<|\"|><|\"|>"
                          ",parameters:{type:<|\"|>OBJECT<|\"|>}}<tool|><turn|>\n<|turn>user\nx<turn|>\n<|turn>model\n"
                          "<|channel>thought\n<channel|>");
    g4_buf_free(&out);
    g4_json_free(msgs);
    g4_json_free(nt);
    g4_json_free(tools);

    /* exponential $ref fan-out: refused with a 400, quickly */
    g4_buf b = G4_BUF_INIT;
    g4_buf_adds(&b, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"$defs\":{");
    for (int i = 0; i < 40; i++)
        g4_buf_printf(&b, "%s\"D%d\":{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/D%d\"},"
                          "\"b\":{\"$ref\":\"#/$defs/D%d\"}}}", i ? "," : "", i, i + 1, i + 1);
    g4_buf_adds(&b, ",\"D40\":{\"type\":\"string\"}},\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/D0\"}}}}}]");
    tools = jparse(g4_buf_str(&b));
    clock_t t0 = clock();
    nt = g4_oai_normalize_tools(tools, &e);
    double ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
    T_CHECK(!nt && e.status == 400 && strcmp(e.param, "tools[0].function.parameters") == 0);
    T_CHECKF(ms < 2000, "%.0f ms", ms);
    g4_json_free(tools);
    g4_buf_free(&b);
    /* many small fan-outs (2^14 each): the budget is shared by the whole tool list */
    g4_buf_addc(&b, '[');
    for (int t = 0; t < 300; t++) {
        g4_buf_printf(&b, "%s{\"type\":\"function\",\"function\":{\"name\":\"f%d\",\"parameters\":{\"$defs\":{",
                      t ? "," : "", t);
        for (int i = 0; i < 14; i++)
            g4_buf_printf(&b, "%s\"D%d\":{\"properties\":{\"a\":{\"$ref\":\"#/$defs/D%d\"},"
                              "\"b\":{\"$ref\":\"#/$defs/D%d\"}}}", i ? "," : "", i, i + 1, i + 1);
        g4_buf_adds(&b, ",\"D14\":{}},\"properties\":{\"x\":{\"$ref\":\"#/$defs/D0\"}}}}}");
    }
    g4_buf_addc(&b, ']');
    tools = jparse(g4_buf_str(&b));
    t0 = clock();
    nt = g4_oai_normalize_tools(tools, &e);
    ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
    T_CHECK(!nt && e.status == 400 && strncmp(e.param, "tools[", 6) == 0);
    T_CHECKF(ms < 2000, "%.0f ms", ms);
    fprintf(stderr, "  $ref fan-out 2^40 and 300 x 2^14: refused in %.1f ms (second case)\n", ms);
    g4_json_free(tools);
    g4_buf_free(&b);
    /* a $ref to a 1 MB string from 200 properties: refused by the byte budget */
    g4_buf_adds(&b, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"$defs\":{\"S\":"
                    "{\"type\":\"string\",\"description\":\"");
    for (int i = 0; i < (1 << 20); i++) g4_buf_addc(&b, 'x');
    g4_buf_adds(&b, "\"}},\"properties\":{");
    for (int i = 0; i < 200; i++) g4_buf_printf(&b, "%s\"p%d\":{\"$ref\":\"#/$defs/S\"}", i ? "," : "", i);
    g4_buf_adds(&b, "}}}}]");
    tools = jparse(g4_buf_str(&b));
    nt = g4_oai_normalize_tools(tools, &e);
    T_CHECK(!nt && e.status == 400 && strcmp(e.param, "tools[0].function.parameters") == 0);
    g4_json_free(tools);
    g4_buf_free(&b);
    /* wide schemas cost linear time: 40,000 properties */
    g4_buf_adds(&b, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"properties\":{");
    for (int i = 0; i < 40000; i++) g4_buf_printf(&b, "%s\"p%d\":{\"type\":[\"string\",\"null\"]}", i ? "," : "", i);
    g4_buf_adds(&b, "}}}}]");
    tools = jparse(g4_buf_str(&b));
    t0 = clock();
    nt = g4_oai_normalize_tools(tools, &e);
    ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
    T_CHECK(nt && g4_json_len(g4_json_get(g4_json_get(g4_json_get(g4_json_at(nt, 0), "function"), "parameters"),
                                          "properties")) == 40000);
    T_CHECKF(ms < 1000, "%.0f ms", ms);
    fprintf(stderr, "  40,000-property schema (%zu bytes) normalised in %.1f ms\n", b.n, ms);
    g4_json_free(nt);
    g4_json_free(tools);
    g4_buf_free(&b);
    /* nesting deeper than G4_OAI_MAX_SCHEMA_DEPTH */
    g4_buf_adds(&b, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":");
    for (int i = 0; i < 200; i++) g4_buf_adds(&b, "{\"type\":\"object\",\"properties\":{\"a\":");
    g4_buf_adds(&b, "{}");
    for (int i = 0; i < 200; i++) g4_buf_adds(&b, "}}");
    g4_buf_adds(&b, "}}]");
    tools = jparse(g4_buf_str(&b));
    nt = g4_oai_normalize_tools(tools, &e);
    T_CHECK(!nt && e.status == 400 && strcmp(e.param, "tools[0].function.parameters") == 0);
    g4_json_free(tools);
    g4_buf_free(&b);
    /* 100 levels is fine */
    g4_buf_adds(&b, "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":");
    for (int i = 0; i < 100; i++) g4_buf_adds(&b, "{\"type\":\"object\",\"properties\":{\"a\":");
    g4_buf_adds(&b, "{}");
    for (int i = 0; i < 100; i++) g4_buf_adds(&b, "}}");
    g4_buf_adds(&b, "}}]");
    tools = jparse(g4_buf_str(&b));
    nt = g4_oai_normalize_tools(tools, &e);
    T_CHECK(nt != NULL);
    g4_json_free(nt);
    g4_json_free(tools);
    g4_buf_free(&b);
    T_CHECK(g4_oai_normalize_tools(NULL, &e) == NULL && e.status == 400);
}

/* ====================================================================================
 * messages
 * ==================================================================================== */

static void test_messages(void) {
    g4_oai_request r;
    const char *body =
        "{\"messages\":["
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Be brief.\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}],\"get\":1},"
        "{\"role\":\"user\",\"content\":\"a\",\"name\":\"bob\"},"
        "{\"role\":\"user\",\"content\":\"\"},"
        "{\"role\":\"system\",\"content\":\"late system\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}},{\"id\":\"c2\",\"function\":{\"name\":\"g\","
        "\"arguments\":\" \"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"},"
        "{\"role\":\"function\",\"name\":\"g\",\"content\":[{\"type\":\"text\",\"text\":\"{}\"}]},"
        "{\"role\":\"assistant\",\"content\":\"done\",\"reasoning_content\":\"thought\",\"tool_calls\":[],"
        "\"refusal\":null},"
        "{\"role\":\"assistant\",\"content\":\"more\",\"reasoning\":\"r2\",\"reasoning_content\":\"r3\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"http://x\"}},{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AAAA\","
        "\"format\":\"wav\"}},{\"type\":\"image_url\",\"image_url\":\"http://y\"},{\"type\":\"refusal\","
        "\"refusal\":\"no\"}],\"tool_calls\":[{\"function\":{\"name\":\"ignored\"}}]}]}";
    T_CHECK(parse_ok(body, true, &r));
    char *got = jwrite(r.messages);
    EQS(got, "[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"Be brief.\"}]},"
             "{\"role\":\"user\",\"content\":\"a\",\"name\":\"bob\"},{\"role\":\"user\",\"content\":\"\"},"
             "{\"role\":\"system\",\"content\":\"late system\"},{\"role\":\"assistant\",\"tool_calls\":["
             "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"x\":1}}},"
             "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":{}}}]},"
             "{\"role\":\"tool\",\"content\":\"ok\",\"tool_call_id\":\"c1\"},"
             "{\"role\":\"tool\",\"content\":[{\"type\":\"text\",\"text\":\"{}\"}],\"name\":\"g\"},"
             "{\"role\":\"assistant\",\"content\":\"done\",\"reasoning_content\":\"thought\"},"
             "{\"role\":\"assistant\",\"content\":\"more\",\"reasoning_content\":\"r2\"},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\","
             "\"image_url\":{\"url\":\"http://x\"}},{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AAAA\","
             "\"format\":\"wav\"}},{\"type\":\"image_url\",\"image_url\":\"http://y\"},{\"type\":\"refusal\"}]}]");
    free(got);
    T_CHECK(r.n_images == 2 && r.n_audio == 1);
    for (int large = 0; large < 2; large++)
        for (int think = 0; think < 2; think++) {
            r.enable_thinking = think;
            g4_buf p = G4_BUF_INIT;
            T_CHECK(render(&r, large, &p));
            T_CHECK(strstr(g4_buf_str(&p), "<|turn>system\nBe brief. <turn|>") ||
                    strstr(g4_buf_str(&p), "<|turn>system\n<|think|>\nBe brief. <turn|>"));
            T_CHECK(strstr(g4_buf_str(&p), "<|tool_call>call:f{x:1}<tool_call|><|tool_call>call:g{}<tool_call|>"));
            T_CHECK(strstr(g4_buf_str(&p), "<|turn>user\nlook<|image|><|audio|><|image|><turn|>"));
            g4_buf_free(&p);
        }
    g4_oai_request_free(&r);

    /* conversation ending in a tool result, thinking on: the prompt ends in the thought channel */
    T_CHECK(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},{\"role\":\"assistant\",\"tool_calls\":"
                     "[{\"id\":\"1\",\"function\":{\"name\":\"w\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\","
                     "\"tool_call_id\":\"1\",\"content\":\"sunny\"}],\"think\":true}", true, &r));
    g4_buf p = G4_BUF_INIT;
    bool in_thought = false;
    g4_oai_error e;
    T_CHECK(g4_oai_render_prompt(&r, true, &p, &in_thought, &e) && in_thought);
    T_CHECK(p.n > 18 && strcmp(p.p + p.n - 18, "<|channel>thought\n") == 0);
    r.enable_thinking = false;
    g4_buf_clear(&p);
    T_CHECK(g4_oai_render_prompt(&r, true, &p, &in_thought, &e) && !in_thought);
    g4_buf_free(&p);
    g4_oai_request_free(&r);

    /* a renderer error (hand-built request, unreachable through the parser) -> 400 on messages[i] */
    memset(&r, 0, sizeof r);
    r.chat = true;
    r.messages = jparse("[{\"role\":\"user\",\"content\":\"x\"},{\"content\":\"no role\"}]");
    T_CHECK(!g4_oai_render_prompt(&r, true, &p, NULL, &e) && e.status == 400);
    T_CHECKF(strcmp(e.param, "messages[1]") == 0, "%s / %s", e.param, e.message);
    T_CHECK(p.n == 0);
    g4_buf_free(&p);
    g4_oai_request_free(&r);
}

/* ====================================================================================
 * captured client requests
 * ==================================================================================== */

static void check_capture(const char *file, int want_requests) {
    char path[512];
    snprintf(path, sizeof path, "%s/oai/%s", G4_TEST_DATA, file);
    size_t len;
    char *text = read_file(path, &len);
    T_CHECKF(text != NULL, "%s", path);
    if (!text) return;
    int count = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        if (ll == 0) {
            line = nl ? nl + 1 : line + ll;
            continue;
        }
        g4_json *rec = NULL;
        g4_error je = {0};
        T_CHECK(g4_json_parse(line, ll, &rec, &je) == G4_OK);
        const g4_json *body = g4_json_get(rec, "body");
        size_t pn;
        const char *pth = g4_json_get_str(rec, "path", &pn);
        bool chat = pth && strstr(pth, "chat/completions") != NULL;
        char *bt = jwrite(body);
        g4_oai_request r;
        g4_oai_error e;
        clock_t t0 = clock();
        bool ok = g4_oai_parse_request(bt, strlen(bt), chat, NULL, &r, &e);
        double ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
        T_CHECKF(ok, "%s #%d: [%s] %s", file, count, e.param, e.message);
        if (ok) {
            fprintf(stderr, "  %s #%d: %zu-byte body, %zu messages, %zu tools: parsed in %.2f ms\n", file,
                    count, strlen(bt), g4_json_len(r.messages), g4_json_len(r.tools), ms);
            T_CHECK(r.stream && r.include_usage && strcmp(r.model, "gemma4") == 0);
            const g4_json *mt = g4_json_get(body, "max_tokens");
            T_CHECK(r.max_tokens == (mt ? (int)g4_json_number(mt) : -1));
            const g4_json *raw_tools = g4_json_get(body, "tools");
            T_CHECK(g4_json_len(r.tools) == g4_json_len(raw_tools));
            T_CHECK(r.tool_choice == (raw_tools ? G4_TOOL_AUTO : G4_TOOL_NONE));
            for (int large = 0; large < 2; large++)
                for (int think = 0; think < 2; think++) {
                    r.enable_thinking = think;
                    g4_buf p = G4_BUF_INIT, raw = G4_BUF_INIT;
                    T_CHECK(render(&r, large, &p));
                    /* these schemas are well-formed: normalisation changes nothing rendered */
                    g4_chat_opts o = {.large_layout = large, .enable_thinking = think,
                                      .add_generation_prompt = true};
                    g4_error re = {0};
                    T_CHECK(g4_chat_render(g4_json_get(body, "messages"), raw_tools, &o, &raw, &re) == G4_OK);
                    T_CHECK(p.n > 0 && p.n == raw.n && memcmp(p.p, raw.p, p.n) == 0);
                    g4_buf_free(&p);
                    g4_buf_free(&raw);
                }
            g4_oai_request_free(&r);
        }
        free(bt);
        g4_json_free(rec);
        count++;
        line = nl ? nl + 1 : line + ll;
    }
    T_CHECK(count == want_requests);
    free(text);
}

static void test_captures(void) {
    check_capture("opencode-1.18.33.jsonl", 2);
    check_capture("continue-cli-1.5.47.jsonl", 1);
}

/* ====================================================================================
 * property: whatever the parser accepts, the renderer renders
 * ==================================================================================== */

static uint64_t rng_state = 0x1234567;
static unsigned rnd(unsigned n) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((rng_state >> 33) % n);
}

static const char *const ATOMS[] = {
    "string", "null", "object", "array", "integer", "number", "boolean", "type", "properties", "items",
    "anyOf", "oneOf", "allOf", "$ref", "#", "#/$defs/A", "#/properties", "required", "enum", "nullable",
    "description", "additionalProperties", "get", "text", "image_url", "$defs", "A", "const", "Object", "url"};

static void rand_value(g4_buf *b, int depth);

static void rand_key(g4_buf *b) {
    g4_buf_printf(b, "\"%s\"", ATOMS[rnd(sizeof ATOMS / sizeof *ATOMS)]);
}

static void rand_object(g4_buf *b, int depth) {
    unsigned n = rnd(5);
    g4_buf_addc(b, '{');
    for (unsigned i = 0; i < n; i++) {
        if (i) g4_buf_addc(b, ',');
        rand_key(b);
        g4_buf_addc(b, ':');
        rand_value(b, depth + 1);
    }
    g4_buf_addc(b, '}');
}

static void rand_value(g4_buf *b, int depth) {
    unsigned k = rnd(depth > 5 ? 6 : 10);
    switch (k) {
    case 0: g4_buf_adds(b, "null"); break;
    case 1: g4_buf_adds(b, rnd(2) ? "true" : "false"); break;
    case 2: g4_buf_printf(b, "%d", (int)rnd(5) - 1); break;
    case 3: g4_buf_adds(b, "1.5"); break;
    case 4:
    case 5: rand_key(b); break;
    case 6:
    case 7: {
        unsigned n = rnd(4);
        g4_buf_addc(b, '[');
        for (unsigned i = 0; i < n; i++) {
            if (i) g4_buf_addc(b, ',');
            rand_value(b, depth + 1);
        }
        g4_buf_addc(b, ']');
        break;
    }
    default: rand_object(b, depth); break;
    }
}

static void test_accepted_renders(void) {
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    int accepted = 0, total = 3000;
    for (int it = 0; it < total; it++) {
        g4_buf b = G4_BUF_INIT;
        g4_buf_adds(&b, "{\"messages\":[");
        unsigned nm = 1 + rnd(4);
        for (unsigned i = 0; i < nm; i++) {
            if (i) g4_buf_addc(&b, ',');
            g4_buf_printf(&b, "{\"role\":\"%s\"", roles[rnd(6)]);
            switch (rnd(4)) {
            case 0: g4_buf_adds(&b, ",\"content\":\"hi\""); break;
            case 1: g4_buf_adds(&b, ",\"content\":[{\"type\":\"text\",\"text\":\"t\"},{\"type\":\"image_url\","
                                    "\"image_url\":\"u\"},{\"type\":\"zzz\"}]"); break;
            case 2: g4_buf_adds(&b, ",\"content\":"); rand_value(&b, 3); break;
            default: break;
            }
            if (rnd(3) == 0) {
                g4_buf_adds(&b, ",\"tool_calls\":[{\"id\":\"1\",\"function\":{\"name\":\"f\",\"arguments\":");
                if (rnd(2)) rand_object(&b, 2);
                else g4_buf_adds(&b, "\"{\\\"a\\\":[1,{\\\"b\\\":null}]}\"");
                g4_buf_adds(&b, "}}]");
            }
            if (rnd(4) == 0) g4_buf_adds(&b, ",\"tool_call_id\":\"1\",\"name\":\"n\"");
            if (rnd(4) == 0) g4_buf_adds(&b, ",\"reasoning_content\":\"r\"");
            g4_buf_addc(&b, '}');
        }
        g4_buf_adds(&b, "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":");
        rand_object(&b, 0);
        g4_buf_adds(&b, ",\"response\":");
        rand_value(&b, 1);
        g4_buf_adds(&b, "}}]}");
        g4_oai_request r;
        g4_oai_error e;
        if (g4_oai_parse_request(b.p, b.n, true, NULL, &r, &e)) {
            accepted++;
            for (int large = 0; large < 2; large++) {
                r.enable_thinking = rnd(2);
                g4_buf p = G4_BUF_INIT;
                bool ok = g4_oai_render_prompt(&r, large, &p, NULL, &e);
                T_CHECKF(ok, "accepted but does not render: %s\n  -> %s", b.p, e.message);
                g4_buf_free(&p);
            }
            g4_oai_request_free(&r);
        } else {
            T_CHECK(e.status == 400 && e.message[0]);
        }
        g4_buf_free(&b);
    }
    fprintf(stderr, "  random requests: %d of %d accepted, all rendered\n", accepted, total);
    T_CHECK(accepted > total / 4);
}

/* ====================================================================================
 * formatting: exact bytes
 * ==================================================================================== */

#define HEAD "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"gemma4\","
#define CHEAD "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gemma4\","
#define USAGE "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,\"total_tokens\":13,\"prompt_tokens_details\":" \
              "{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":1}}"

static const g4_oai_meta META = {true, "chatcmpl-abc", 1700000000, "gemma4", NULL, true};
static const g4_oai_usage USE = {10, 3, 4, 1, false, 0, 0};

static void test_format_response(void) {
    g4_buf b = G4_BUF_INIT;
    /* speculative decoding: accepted / rejected drafts and llama-server's timings */
    {
        const g4_oai_usage su = {10, 3, 4, 1, true, 7, 5};
        g4_oai_choice c = {0};
        c.content = "Hi";
        c.content_len = 2;
        c.finish = G4_OAI_FINISH_LENGTH;
        g4_oai_format_response(&META, &c, 1, &su, &b);
        EQS(g4_buf_str(&b), HEAD "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
                            "\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":10,"
                            "\"completion_tokens\":3,\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":4},"
                            "\"completion_tokens_details\":{\"reasoning_tokens\":1,\"accepted_prediction_tokens\":5,"
                            "\"rejected_prediction_tokens\":2}},\"timings\":{\"draft_n\":7,\"draft_n_accepted\":5}}");
        g4_buf_clear(&b);
        g4_oai_format_usage_chunk(&META, &su, &b);
        T_CHECK(strstr(g4_buf_str(&b), "\"rejected_prediction_tokens\":2}},\"timings\":{\"draft_n\":7,\"draft_n_accepted\":5}}\n\n") != NULL);
        g4_buf_clear(&b);
    }
    /* plain answer */
    g4_oai_choice c = {0};
    c.content = "Hello there.";
    c.content_len = 12;
    c.finish = G4_OAI_FINISH_STOP;
    g4_oai_format_response(&META, &c, 1, &USE, &b);
    EQS(g4_buf_str(&b), HEAD "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there.\"},"
                        "\"logprobs\":null,\"finish_reason\":\"stop\"}]," USAGE "}");
    /* reasoning + content, with a fingerprint; escapes; length finish */
    g4_buf_clear(&b);
    g4_oai_meta m = META;
    m.system_fingerprint = "fp_g4";
    c.content = "4";
    c.content_len = 1;
    c.reasoning = "2+2 is \"4\".\n\t\\";
    c.reasoning_len = strlen(c.reasoning);
    c.finish = G4_OAI_FINISH_LENGTH;
    g4_oai_format_response(&m, &c, 1, &USE, &b);
    EQS(g4_buf_str(&b), HEAD "\"system_fingerprint\":\"fp_g4\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":\"4\",\"reasoning_content\":\"2+2 is \\\"4\\\".\\n\\t\\\\\",\"reasoning\":"
                        "\"2+2 is \\\"4\\\".\\n\\t\\\\\"},\"logprobs\":null,\"finish_reason\":\"length\"}]," USAGE "}");
    /* without the alias; empty content */
    g4_buf_clear(&b);
    m.reasoning_alias = false;
    m.system_fingerprint = NULL;
    c.content = NULL;
    c.finish = G4_OAI_FINISH_STOP;
    g4_oai_format_response(&m, &c, 1, NULL, &b);
    EQS(g4_buf_str(&b), HEAD "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\","
                        "\"reasoning_content\":\"2+2 is \\\"4\\\".\\n\\t\\\\\"},\"logprobs\":null,\"finish_reason\":\"stop\"}]}");
    /* tool calls: content null, arguments as a JSON string */
    g4_buf_clear(&b);
    g4_oai_tool_call calls[2] = {{"call_1", "get_weather", "{\"city\":\"Paris\"}", 16}, {"call_2", "noop", NULL, 0}};
    g4_oai_choice tc = {0};
    tc.tool_calls = calls;
    tc.n_tool_calls = 2;
    tc.finish = G4_OAI_FINISH_TOOL_CALLS;
    g4_oai_format_response(&META, &tc, 1, &USE, &b);
    EQS(g4_buf_str(&b), HEAD "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
                        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
                        "\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"call_2\",\"type\":\"function\",\"function\":"
                        "{\"name\":\"noop\",\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],"
                        USAGE "}");
    /* content next to tool calls stays a string; two choices */
    g4_buf_clear(&b);
    g4_oai_choice two[2] = {tc, c};
    two[0].content = "Let me check.";
    two[0].content_len = 13;
    two[0].n_tool_calls = 1;
    two[1].reasoning = NULL;
    two[1].content = "x";
    two[1].content_len = 1;
    g4_oai_format_response(&META, two, 2, NULL, &b);
    EQS(g4_buf_str(&b), HEAD "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Let me check.\","
                        "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":"
                        "\"tool_calls\"},{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"x\"},"
                        "\"logprobs\":null,\"finish_reason\":\"stop\"}]}");
    /* text completion, length */
    g4_buf_clear(&b);
    g4_oai_meta cm = {false, "cmpl-xyz", 1700000000, "gemma4", NULL, true};
    g4_oai_choice cc = {0};
    cc.content = "Once upon a";
    cc.content_len = 11;
    cc.finish = G4_OAI_FINISH_LENGTH;
    g4_oai_format_response(&cm, &cc, 1, &USE, &b);
    EQS(g4_buf_str(&b), "{\"id\":\"cmpl-xyz\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"gemma4\","
                        "\"choices\":[{\"text\":\"Once upon a\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"length\"}],"
                        USAGE "}");
    /* invalid UTF-8 in content becomes U+FFFD; control characters are escaped */
    g4_buf_clear(&b);
    c.content = "a\xff\xe2\x82" "b\x01";
    c.content_len = 6;
    c.reasoning = NULL;
    g4_oai_format_response(&META, &c, 1, NULL, &b);
    EQS(g4_buf_str(&b), HEAD "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                        "\"a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b\\u0001\"},\"logprobs\":null,\"finish_reason\":\"stop\"}]}");
    g4_buf_free(&b);
}

static void test_format_logprobs(void) {
    g4_oai_logprob top0[2] = {{"Hi", 2, -0.25f}, {"Hello", 5, -1.5f}};
    g4_oai_token_logprobs lp[2] = {{{"Hi", 2, -0.25f}, top0, 2, 0}, {{"\xc3", 1, -0.1f}, NULL, 0, 2}};
    g4_buf b = G4_BUF_INIT;
    g4_oai_choice c = {0};
    c.content = "Hi\xc3";
    c.content_len = 3;
    c.finish = G4_OAI_FINISH_LENGTH;
    c.logprobs = true;
    c.lp = lp;
    c.n_lp = 2;
    g4_oai_format_response(&META, &c, 1, NULL, &b);
    const char *chat_lp =
        "{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.25,\"bytes\":[72,105],\"top_logprobs\":[{\"token\":\"Hi\","
        "\"logprob\":-0.25,\"bytes\":[72,105]},{\"token\":\"Hello\",\"logprob\":-1.5,\"bytes\":[72,101,108,108,111]}]},"
        "{\"token\":\"\xef\xbf\xbd\",\"logprob\":-0.1,\"bytes\":[195],\"top_logprobs\":[]}]}";
    g4_buf want = G4_BUF_INIT;
    g4_buf_printf(&want, HEAD "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\xef\xbf\xbd\"},"
                              "\"logprobs\":%s,\"finish_reason\":\"length\"}]}", chat_lp);
    EQS(g4_buf_str(&b), g4_buf_str(&want));
    /* legacy completions shape */
    g4_buf_clear(&b);
    g4_buf_clear(&want);
    g4_oai_meta cm = {false, "cmpl-xyz", 1700000000, "gemma4", NULL, true};
    g4_oai_format_response(&cm, &c, 1, NULL, &b);
    EQS(g4_buf_str(&b), "{\"id\":\"cmpl-xyz\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"gemma4\","
                        "\"choices\":[{\"text\":\"Hi\xef\xbf\xbd\",\"index\":0,\"logprobs\":{\"tokens\":[\"Hi\","
                        "\"\xef\xbf\xbd\"],\"token_logprobs\":[-0.25,-0.1],\"top_logprobs\":[{\"Hi\":-0.25,"
                        "\"Hello\":-1.5},{}],\"text_offset\":[0,2]},\"finish_reason\":\"length\"}]}");
    /* streamed content delta with logprobs; -inf -> -9999; shortest float text */
    g4_buf_clear(&b);
    g4_oai_token_logprobs one = {{"x", 1, -INFINITY}, NULL, 0, 0};
    g4_oai_token_logprobs two = {{"y", 1, -1.0f / 3.0f}, NULL, 0, 0};
    g4_oai_token_logprobs both[2] = {one, two};
    g4_oai_delta d = g4_oai_delta_init(0);
    d.content = "xy";
    d.content_len = 2;
    d.logprobs = true;
    d.lp = both;
    d.n_lp = 2;
    g4_oai_format_chunk(&META, &d, &b);
    EQS(g4_buf_str(&b), CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"xy\"},\"logprobs\":{\"content\":["
                        "{\"token\":\"x\",\"logprob\":-9999,\"bytes\":[120],\"top_logprobs\":[]},{\"token\":\"y\","
                        "\"logprob\":-0.33333334,\"bytes\":[121],\"top_logprobs\":[]}]},\"finish_reason\":null}]}\n\n");
    /* logprobs requested, but the delta has no tokens (role chunk): null */
    g4_buf_clear(&b);
    d = g4_oai_delta_init(0);
    d.role = true;
    d.logprobs = true;
    g4_oai_format_chunk(&META, &d, &b);
    EQS(g4_buf_str(&b), CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                        "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    g4_buf_free(&b);
    g4_buf_free(&want);
}

static void test_format_stream(void) {
    g4_buf b = G4_BUF_INIT;
    /* the sequence a streamed tool-calling answer produces */
    g4_oai_delta d = g4_oai_delta_init(0);
    d.role = true;
    g4_oai_format_chunk(&META, &d, &b);
    d = g4_oai_delta_init(0);
    d.reasoning = "Need weather.";
    d.reasoning_len = 13;
    g4_oai_format_chunk(&META, &d, &b);
    d = g4_oai_delta_init(0);
    d.content = "Checking.";
    d.content_len = 9;
    g4_oai_format_chunk(&META, &d, &b);
    d = g4_oai_delta_init(0);
    d.tool_index = 0;
    d.tool_id = "call_1";
    d.tool_name = "get_weather";
    g4_oai_format_chunk(&META, &d, &b);
    d = g4_oai_delta_init(0);
    d.tool_index = 0;
    d.tool_args = "{\"city\":";
    d.tool_args_len = 8;
    g4_oai_format_chunk(&META, &d, &b);
    d.tool_args = "\"Paris\"}";
    d.tool_args_len = 8;
    g4_oai_format_chunk(&META, &d, &b);
    d = g4_oai_delta_init(0);
    d.tool_index = 1;
    d.tool_id = "call_2";
    d.tool_name = "noop";
    d.tool_args = "{}";
    d.tool_args_len = 2;
    g4_oai_format_chunk(&META, &d, &b);
    d = g4_oai_delta_init(0);
    d.finish = G4_OAI_FINISH_TOOL_CALLS;
    g4_oai_format_chunk(&META, &d, &b);
    g4_oai_format_usage_chunk(&META, &USE, &b);
    g4_oai_format_done(&b);
    const char *want =
        CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
        "\"finish_reason\":null}]}\n\n"
        CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Need weather.\",\"reasoning\":"
        "\"Need weather.\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Checking.\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
        "\"{\\\"city\\\":\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
        "\"\\\"Paris\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        CHEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":\"function\","
        "\"function\":{\"name\":\"noop\",\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        CHEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n"
        CHEAD "\"choices\":[]," USAGE "}\n\n"
        "data: [DONE]\n\n";
    EQS(g4_buf_str(&b), want);

    /* plain content stream ending at the length limit, choice 1, with a fingerprint */
    g4_buf_clear(&b);
    g4_oai_meta m = META;
    m.system_fingerprint = "fp";
    d = g4_oai_delta_init(1);
    d.content = "Hel";
    d.content_len = 3;
    g4_oai_format_chunk(&m, &d, &b);
    d = g4_oai_delta_init(1);
    d.finish = G4_OAI_FINISH_LENGTH;
    g4_oai_format_chunk(&m, &d, &b);
    EQS(g4_buf_str(&b), CHEAD "\"system_fingerprint\":\"fp\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"Hel\"},"
                        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
                        CHEAD "\"system_fingerprint\":\"fp\",\"choices\":[{\"index\":1,\"delta\":{},\"logprobs\":null,"
                        "\"finish_reason\":\"length\"}]}\n\n");

    /* text completions stream */
    g4_buf_clear(&b);
    g4_oai_meta cm = {false, "cmpl-xyz", 1700000000, "gemma4", NULL, true};
    d = g4_oai_delta_init(0);
    d.content = "Once";
    d.content_len = 4;
    g4_oai_format_chunk(&cm, &d, &b);
    d = g4_oai_delta_init(0);
    d.finish = G4_OAI_FINISH_STOP;
    g4_oai_format_chunk(&cm, &d, &b);
    g4_oai_format_usage_chunk(&cm, &USE, &b);
    EQS(g4_buf_str(&b), "data: {\"id\":\"cmpl-xyz\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":"
                        "\"gemma4\",\"choices\":[{\"text\":\"Once\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n"
                        "data: {\"id\":\"cmpl-xyz\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":"
                        "\"gemma4\",\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
                        "data: {\"id\":\"cmpl-xyz\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":"
                        "\"gemma4\",\"choices\":[]," USAGE "}\n\n");
    g4_buf_free(&b);
}

static void test_format_errors(void) {
    g4_buf b = G4_BUF_INIT;
    g4_oai_request r;
    g4_oai_error e;
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"},"
                       "{\"role\":\"user\",\"content\":5}]}";
    T_CHECK(!g4_oai_parse_request(body, strlen(body), true, NULL, &r, &e));
    g4_oai_error_json(&e, &b);
    EQS(g4_buf_str(&b), "{\"error\":{\"message\":\"Invalid type for 'messages[2].content': expected a string, an array "
                        "of content parts or null, but got a number instead.\",\"type\":\"invalid_request_error\","
                        "\"param\":\"messages[2].content\",\"code\":null}}");
    g4_buf_clear(&b);
    T_CHECK(!g4_oai_parse_request("{\"messages\":", 12, true, NULL, &r, &e) && e.status == 400);
    T_CHECK(strstr(e.message, "We could not parse the JSON body of your request") == e.message);
    g4_oai_error_json(&e, &b);
    T_CHECK(strstr(g4_buf_str(&b), "\"param\":null,\"code\":null}}") != NULL);

    g4_buf_clear(&b);
    g4_oai_error_context(&e, true, 5000, 4096);
    g4_oai_error_json(&e, &b);
    EQS(g4_buf_str(&b), "{\"error\":{\"message\":\"This model's maximum context length is 4096 tokens. However, your "
                        "messages resulted in 5000 tokens (by 905 too many).\",\"type\":\"invalid_request_error\","
                        "\"param\":\"messages\",\"code\":\"context_length_exceeded\"}}");
    T_CHECK(e.status == 400);
    T_CHECK(!g4_oai_context_exceeded(true, 4095, 4096, &e));
    T_CHECK(g4_oai_context_exceeded(false, 4096, 4096, &e) && strcmp(e.param, "prompt") == 0);
    T_CHECK(strstr(e.message, "your prompt resulted in 4096 tokens (by 1 too many)") != NULL);

    g4_buf_clear(&b);
    g4_oai_error_auth(&e);
    g4_oai_error_json(&e, &b);
    EQS(g4_buf_str(&b), "{\"error\":{\"message\":\"Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'.\","
                        "\"type\":\"authentication_error\",\"param\":null,\"code\":\"invalid_api_key\"}}");
    T_CHECK(e.status == 401);
    g4_buf_clear(&b);
    g4_oai_error_not_found(&e, "/v2/nothing");
    g4_oai_error_json(&e, &b);
    EQS(g4_buf_str(&b), "{\"error\":{\"message\":\"Unknown request URL: /v2/nothing\",\"type\":\"not_found_error\","
                        "\"param\":null,\"code\":\"not_found\"}}");
    T_CHECK(e.status == 404);
    g4_oai_error_method(&e, "GET", "/v1/chat/completions");
    T_CHECK(e.status == 405 && strcmp(e.message, "Method GET is not allowed for /v1/chat/completions") == 0);
    g4_oai_error_too_large(&e, 1000);
    T_CHECK(e.status == 413 && strcmp(e.code, "request_too_large") == 0);
    g4_buf_clear(&b);
    g4_oai_error_unavailable(&e, "Loading model");
    g4_oai_error_sse(&e, &b);
    EQS(g4_buf_str(&b), "data: {\"error\":{\"message\":\"Loading model\",\"type\":\"unavailable_error\",\"param\":null,"
                        "\"code\":null}}\n\n");
    T_CHECK(e.status == 503);
    g4_oai_error_server(&e, NULL);
    T_CHECK(e.status == 500 && strcmp(e.type, "server_error") == 0);
    /* messages are truncated, never overflow; invalid UTF-8 from a cut stays valid JSON */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    g4_oai_error_not_found(&e, big);
    T_CHECK(strlen(e.message) == sizeof e.message - 1);
    g4_buf_free(&b);
}

static void test_format_misc(void) {
    g4_buf b = G4_BUF_INIT;
    g4_oai_model_info mi = {"gemma4", 1700000000, NULL, 8192, 131072, 262144, 0, 0};
    g4_oai_format_models(&mi, 1, &b);
    EQS(g4_buf_str(&b), "{\"object\":\"list\",\"data\":[{\"id\":\"gemma4\",\"object\":\"model\",\"created\":1700000000,"
                        "\"owned_by\":\"gemma4c\",\"meta\":{\"n_ctx\":8192,\"n_ctx_train\":131072,\"n_vocab\":262144}}]}");
    g4_buf_clear(&b);
    g4_oai_model_info m2[2] = {{"a", 1, "me", 0, 0, 0, 0, 0}, {"b", 2, NULL, 0, 0, 0, 12, 34}};
    g4_oai_format_models(m2, 2, &b);
    EQS(g4_buf_str(&b), "{\"object\":\"list\",\"data\":[{\"id\":\"a\",\"object\":\"model\",\"created\":1,\"owned_by\":\"me\"},"
                        "{\"id\":\"b\",\"object\":\"model\",\"created\":2,\"owned_by\":\"gemma4c\",\"meta\":{\"n_params\":12,"
                        "\"size\":34}}]}");
    g4_buf_clear(&b);
    g4_oai_format_health(&b);
    EQS(g4_buf_str(&b), "{\"status\":\"ok\"}");

    /* /tokenize and /detokenize */
    g4_oai_tokenize_req tr;
    g4_oai_error e;
    const char *tb = "{\"content\":\"Hello world\",\"add_special\":true,\"with_pieces\":true}";
    T_CHECK(g4_oai_parse_tokenize(tb, strlen(tb), &tr, &e));
    T_CHECK(strcmp(tr.content, "Hello world") == 0 && tr.content_len == 11 && tr.add_special &&
            tr.parse_special && tr.with_pieces);
    g4_oai_tokenize_req_free(&tr);
    T_CHECK(!g4_oai_parse_tokenize("{}", 2, &tr, &e) && strcmp(e.param, "content") == 0 && !tr.content);
    T_CHECK(!g4_oai_parse_tokenize("{\"content\":1}", 13, &tr, &e) && strcmp(e.param, "content") == 0);
    T_CHECK(!g4_oai_parse_tokenize("{\"content\":\"x\",\"add_special\":1}", 31, &tr, &e) &&
            strcmp(e.param, "add_special") == 0 && !tr.content);
    T_CHECK(!g4_oai_parse_tokenize("[", 1, &tr, &e) && e.status == 400);
    g4_oai_detokenize_req dr;
    const char *db = "{\"tokens\":[2,105,9259]}";
    T_CHECK(g4_oai_parse_detokenize(db, strlen(db), &dr, &e) && dr.n_tokens == 3 && dr.tokens[2] == 9259);
    T_CHECK(g4_oai_check_token_ids(dr.tokens, dr.n_tokens, 262144, "tokens", &e));
    T_CHECK(!g4_oai_check_token_ids(dr.tokens, dr.n_tokens, 9259, "tokens", &e) && strcmp(e.param, "tokens") == 0);
    g4_oai_detokenize_req_free(&dr);
    T_CHECK(g4_oai_parse_detokenize("{}", 2, &dr, &e) && dr.n_tokens == 0);
    g4_oai_detokenize_req_free(&dr);
    T_CHECK(!g4_oai_parse_detokenize("{\"tokens\":[1,\"a\"]}", 18, &dr, &e) && strcmp(e.param, "tokens[1]") == 0);
    T_CHECK(!g4_oai_parse_detokenize("{\"tokens\":5}", 12, &dr, &e) && strcmp(e.param, "tokens") == 0);

    g4_buf_clear(&b);
    int32_t ids[3] = {2, 9259, 236743};
    g4_oai_format_tokens(ids, 3, NULL, NULL, &b);
    EQS(g4_buf_str(&b), "{\"tokens\":[2,9259,236743]}");
    g4_buf_clear(&b);
    const char *pieces[3] = {"<bos>", "Hello", "\xe2\x96"};
    size_t lens[3] = {5, 5, 2};
    g4_oai_format_tokens(ids, 3, pieces, lens, &b);
    EQS(g4_buf_str(&b), "{\"tokens\":[{\"id\":2,\"piece\":\"<bos>\"},{\"id\":9259,\"piece\":\"Hello\"},"
                        "{\"id\":236743,\"piece\":[226,150]}]}");
    g4_buf_clear(&b);
    g4_oai_format_tokens(ids, 0, NULL, NULL, &b);
    EQS(g4_buf_str(&b), "{\"tokens\":[]}");
    g4_buf_clear(&b);
    g4_oai_format_detokenized("Hi \"x\"\n\xe2", 8, &b);
    EQS(g4_buf_str(&b), "{\"content\":\"Hi \\\"x\\\"\\n\xef\xbf\xbd\"}");
    g4_buf_free(&b);

    /* clamp policy: never an error, the free context when absent or too large */
    T_CHECK(g4_oai_clamp_max_tokens(32000, 1000, 4096) == 3096);
    T_CHECK(g4_oai_clamp_max_tokens(-1, 1000, 4096) == 3096);
    T_CHECK(g4_oai_clamp_max_tokens(100, 1000, 4096) == 100);
    T_CHECK(g4_oai_clamp_max_tokens(3096, 1000, 4096) == 3096);
    T_CHECK(g4_oai_clamp_max_tokens(100, 5000, 4096) == 0);
    T_CHECK(g4_oai_clamp_max_tokens(2147483647, 0, 2147483647) == 2147483647);

    /* ids: deterministic, prefix + 24 alphanumerics, distinct per counter and seed */
    char id1[64], id2[64], id3[64], id4[64];
    T_CHECK(g4_oai_make_id("call_", 42, 0, id1, sizeof id1) == 29);
    g4_oai_make_id("call_", 42, 0, id2, sizeof id2);
    g4_oai_make_id("call_", 42, 1, id3, sizeof id3);
    g4_oai_make_id("call_", 43, 0, id4, sizeof id4);
    T_CHECK(strcmp(id1, id2) == 0 && strcmp(id1, id3) != 0 && strcmp(id1, id4) != 0);
    T_CHECK(strncmp(id1, "call_", 5) == 0 && strlen(id1) == 29);
    bool alnum = true;
    for (int i = 5; i < 29; i++)
        alnum &= (id1[i] >= '0' && id1[i] <= '9') || (id1[i] >= 'a' && id1[i] <= 'z') || (id1[i] >= 'A' && id1[i] <= 'Z');
    T_CHECK(alnum);
    char small[8];
    T_CHECK(g4_oai_make_id("chatcmpl-", 1, 2, small, sizeof small) == 33 && strlen(small) == 7);
    /* 10000 counters: no collision */
    static char many[10000][32];
    int dup = 0;
    for (int i = 0; i < 10000; i++) g4_oai_make_id("", 7, (uint64_t)i, many[i], 32);
    for (int i = 0; i < 10000; i++)
        for (int j = i + 1; j < 10000 && j < i + 50; j++) dup += strcmp(many[i], many[j]) == 0;
    T_CHECK(dup == 0);
    T_CHECK(strcmp(g4_oai_finish_str(G4_OAI_FINISH_TOOL_CALLS), "tool_calls") == 0 && !g4_oai_finish_str(G4_OAI_FINISH_NONE));
}

int main(void) {
    test_minimal_defaults();
    test_all_fields();
    test_thinking();
    test_completions();
    test_errors_top();
    test_errors_messages();
    test_hostile();
    test_schemas();
    test_messages();
    test_captures();
    test_accepted_renders();
    test_format_response();
    test_format_logprobs();
    test_format_stream();
    test_format_errors();
    test_format_misc();
    return T_DONE();
}
