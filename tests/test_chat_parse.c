/* test_chat_parse.c — the streaming Gemma 4 output parser (src/chat/parse.c).
 *
 * Every case is fed whole, byte by byte, at every 2-split, at every 3-split (short
 * cases) or many random k-splits (long ones); each chunk lives in its own exact-size
 * allocation so ASan sees any read past it. The events are folded into a transcript
 * where consecutive deltas of one kind merge ("<C>content", "<R>reasoning",
 * "<T0>name {json}"), which must equal the expected one exactly for every chunking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/parse.h"
#include "core/buf.h"
#include "t.h"

#define Q "<|\"|>" /* the string delimiter token */

/* ---- transcript recorder ---- */

typedef struct {
    g4_buf tr;
    int last; /* -1 none, else g4_parse_kind */
    int next_index;
    int bad_events;
    int n_events;
    size_t content_len, reasoning_len; /* totals, for the delay checks */
} rec;

static void rec_init(rec *r) {
    memset(r, 0, sizeof *r);
    r->last = -1;
}

static void rec_cb(void *user, const g4_parse_event *ev) {
    rec *r = user;
    r->n_events++;
    if (ev->kind == G4_PARSE_TOOL_CALL) {
        if (ev->index != r->next_index || !ev->name || !ev->args || ev->text) r->bad_events++;
        r->next_index = ev->index + 1;
        g4_buf_printf(&r->tr, "<T%d>", ev->index);
        g4_buf_add(&r->tr, ev->name, ev->name_len);
        g4_buf_addc(&r->tr, ' ');
        g4_buf_add(&r->tr, ev->args, ev->args_len);
        r->last = G4_PARSE_TOOL_CALL;
        return;
    }
    if (ev->len == 0 || !ev->text || ev->name || ev->args) r->bad_events++;
    if (r->last != (int)ev->kind) g4_buf_adds(&r->tr, ev->kind == G4_PARSE_CONTENT ? "<C>" : "<R>");
    g4_buf_add(&r->tr, ev->text, ev->len);
    if (ev->kind == G4_PARSE_CONTENT) r->content_len += ev->len;
    else r->reasoning_len += ev->len;
    r->last = (int)ev->kind;
}

enum { F_THINK = 1, F_DONE = 2 };

typedef struct {
    const char *name;
    const char *in;
    const char *want;
    int flags;
} tcase;

/* Feeds in[0..n) cut at cuts[0..ncut) (ascending). Returns the transcript (malloc'd). */
static char *run_split(const tcase *c, const char *in, size_t n, const size_t *cuts, size_t ncut,
                       bool *done, bool *tools, int *bad) {
    rec r;
    rec_init(&r);
    g4_outparser *p = NULL;
    g4_error err = {0};
    if (g4_outparser_new(c->flags & F_THINK, &p, &err) != G4_OK) return NULL;
    size_t prev = 0;
    for (size_t k = 0; k <= ncut; k++) {
        size_t end = k < ncut ? cuts[k] : n;
        size_t len = end - prev;
        char *chunk = malloc(len ? len : 1);
        memcpy(chunk, in + prev, len);
        if (g4_outparser_feed(p, chunk, len, rec_cb, &r, &err) != G4_OK) (*bad)++;
        free(chunk);
        prev = end;
    }
    if (g4_outparser_finish(p, rec_cb, &r, &err) != G4_OK) (*bad)++;
    *done = g4_outparser_done(p);
    *tools = g4_outparser_wants_tools(p);
    *bad += r.bad_events;
    g4_outparser_free(p);
    return g4_buf_take(&r.tr, NULL);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int n_runs = 0;

/* Checks one split; reports the first mismatch of a case only. */
static bool check_split(const tcase *c, const size_t *cuts, size_t ncut, const char *mode) {
    size_t n = strlen(c->in);
    bool done = false, tools = false;
    int bad = 0;
    char *got = run_split(c, c->in, n, cuts, ncut, &done, &tools, &bad);
    n_runs++;
    bool want_done = (c->flags & F_DONE) != 0, want_tools = strstr(c->want, "<T0>") != NULL;
    bool ok = got && strcmp(got, c->want) == 0 && done == want_done && tools == want_tools && !bad;
    if (!ok) {
        fprintf(stderr, "case %s [%s", c->name, mode);
        for (size_t k = 0; k < ncut; k++) fprintf(stderr, " %zu", cuts[k]);
        fprintf(stderr, "]:\n  want %s (done=%d tools=%d)\n  got  %s (done=%d tools=%d bad=%d)\n",
                c->want, want_done, want_tools, got ? got : "(null)", done, tools, bad);
    }
    free(got);
    return ok;
}

static void check_case(const tcase *c) {
    size_t n = strlen(c->in);
    bool ok = check_split(c, NULL, 0, "whole");
    /* byte by byte */
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
    if (ok && n > 1) ok = check_split(c, cuts, n - 1, "bytes");
    /* every 2-split */
    for (size_t a = 1; ok && a < n; a++) ok = check_split(c, &a, 1, "2-split");
    if (n <= 160) {
        for (size_t a = 1; ok && a < n; a++)
            for (size_t b = a + 1; ok && b < n; b++) {
                size_t ab[2] = {a, b};
                ok = check_split(c, ab, 2, "3-split");
            }
    } else {
        for (int t = 0; ok && t < 400; t++) {
            size_t k = 2 + rnd() % 12, m = 0;
            for (size_t j = 0; j < k; j++) cuts[m++] = 1 + rnd() % (n - 1);
            /* sort, dedupe */
            for (size_t x = 1; x < m; x++)
                for (size_t y = x; y > 0 && cuts[y - 1] > cuts[y]; y--) {
                    size_t tmp = cuts[y];
                    cuts[y] = cuts[y - 1];
                    cuts[y - 1] = tmp;
                }
            size_t u = 0;
            for (size_t x = 0; x < m; x++)
                if (!u || cuts[u - 1] != cuts[x]) cuts[u++] = cuts[x];
            ok = check_split(c, cuts, u, "k-split");
        }
    }
    free(cuts);
    T_CHECKF(ok, "case %s", c->name);
}

/* ---- the cases ---- */

static const tcase k_cases[] = {
    /* plain text */
    {"plain", "Hello, world!", "<C>Hello, world!", 0},
    {"plain_end", "Paris.<turn|>", "<C>Paris.", F_DONE},
    {"leading_ws", "\n\n  Hello\n", "<C>Hello\n", 0},
    {"not_tags", "a < b and c <= d, x<y> <|not a tag|> <turn", "<C>a < b and c <= d, x<y> <|not a tag|> <turn", 0},
    {"partial_tag_at_end", "Done <|chan", "<C>Done <|chan", 0},
    {"eos", "Hi<eos>more text", "<C>Hi", F_DONE},
    {"turn_open_ends", "Hi<|turn>user\nmore", "<C>Hi", F_DONE},
    {"after_end_ignored", "Hi<turn|>junk<|tool_call>call:x{}<tool_call|>", "<C>Hi", F_DONE},
    {"str_delim_in_content", "say " Q "hi" Q "!", "<C>say hi!", 0},
    {"unicode_content", "Grüße, 東京 🚀 — ok", "<C>Grüße, 東京 🚀 — ok", 0},
    /* thinking */
    {"thinking", "<|channel>thought\nThe user asks about Italy.\n<channel|>Rome.<turn|>",
     "<R>The user asks about Italy.\n<C>Rome.", F_DONE},
    {"thinking_nl_after_close", "<|channel>thought\nLet me think<channel|>\n\nRome.",
     "<R>Let me think<C>Rome.", 0},
    {"empty_channel", "<|channel>thought\n<channel|>Hi", "<C>Hi", 0},
    {"empty_channel_no_nl", "<|channel>thought<channel|>Hi", "<C>Hi", 0},
    {"empty_channel_ws", "<|channel>thought\n\n \n<channel|>\nHi", "<C>Hi", 0},
    {"empty_unnamed_channel", "<|channel><channel|>Hi there", "<C>Hi there", 0},
    {"double_empty_channel", "<|channel>thought\n<channel|><|channel>thought\n<channel|>Answer", "<C>Answer", 0},
    {"stray_close_first", "<channel|>Answer", "<C>Answer", 0},
    {"lone_trailing_close", "Rome.<channel|>", "<C>Rome.", 0},
    {"stray_close_middle", "foo<channel|>bar", "<C>foobar", 0},
    {"stray_tool_call_close", "Text<tool_call|> more", "<C>Text more", 0},
    {"in_thinking", "I should add.\n<channel|>The answer is 4.<turn|>", "<R>I should add.\n<C>The answer is 4.", F_THINK | F_DONE},
    {"in_thinking_empty", "<channel|>\nDone.", "<C>Done.", F_THINK},
    {"channel_name_space", "<|channel>thought The user wants X.<channel|>Y", "<R>The user wants X.<C>Y", 0},
    {"channel_no_name", "<|channel>Okay, so the user<channel|>Z", "<R>Okay, so the user<C>Z", 0},
    {"channel_ws_before_name", "<|channel>\n thought\nX<channel|>Y", "<R>X<C>Y", 0},
    {"channel_crlf", "<|channel>thought\r\nhmm<channel|>ok", "<R>hmm<C>ok", 0},
    {"nested_channel_open", "<|channel>thought\nA<|channel>thought\nB<channel|>C", "<R>AB<C>C", 0},
    {"reasoning_unicode", "<|channel>thought\n¿Qué? 日本<channel|>Sí", "<R>¿Qué? 日本<C>Sí", 0},
    /* tool calls */
    {"spec_10_6",
     "<|tool_call>call:get_weather{city:" Q "Paris" Q ",unit:" Q "celsius" Q "}<tool_call|><|tool_response>",
     "<T0>get_weather {\"city\":\"Paris\",\"unit\":\"celsius\"}", F_DONE},
    {"parallel",
     "<|tool_call>call:a{x:1}<tool_call|><|tool_call>call:b{y:" Q "z" Q "}<tool_call|>\n<|tool_call>call:c{}<tool_call|><|tool_response>",
     "<T0>a {\"x\":1}<T1>b {\"y\":\"z\"}<T2>c {}", F_DONE},
    {"nested", "<|tool_call>call:f{a:{b:{c:1}},l:[1,2,[3]],o:[{x:" Q "y" Q "},{}],e:[]}<tool_call|>",
     "<T0>f {\"a\":{\"b\":{\"c\":1}},\"l\":[1,2,[3]],\"o\":[{\"x\":\"y\"},{}],\"e\":[]}", 0},
    {"numbers",
     "<|tool_call>call:n{i:42,n:-7,f:3.14,e:1e-05,E:2.5E+3,p:+1,h:.5,t:1.,z:007,zip:02139,zero:0,m:-.25,big:12345678901234567890}<tool_call|>",
     "<T0>n {\"i\":42,\"n\":-7,\"f\":3.14,\"e\":1e-05,\"E\":2.5E+3,\"p\":1,\"h\":0.5,\"t\":1.0,\"z\":\"007\",\"zip\":\"02139\",\"zero\":0,\"m\":-0.25,\"big\":12345678901234567890}", 0},
    {"literals", "<|tool_call>call:b{a:true,b:false,c:null,d:True,e:None,f:False}<tool_call|>",
     "<T0>b {\"a\":true,\"b\":false,\"c\":null,\"d\":true,\"e\":null,\"f\":false}", 0},
    {"bare_words", "<|tool_call>call:f{city:Paris,unit:celsius, note: hello world ,v:1.2.3,d:2024-01-01,h:0x1F,x:NaN}<tool_call|>",
     "<T0>f {\"city\":\"Paris\",\"unit\":\"celsius\",\"note\":\"hello world\",\"v\":\"1.2.3\",\"d\":\"2024-01-01\",\"h\":\"0x1F\",\"x\":\"NaN\"}", 0},
    {"unicode_args", "<|tool_call>call:f{city:" Q "São Paulo 東京 🚀" Q "}<tool_call|>",
     "<T0>f {\"city\":\"São Paulo 東京 🚀\"}", 0},
    {"special_chars", "<|tool_call>call:f{s:" Q "a{b}c:d,e\"f\\g\\nh\nline2\t[x]" Q ",k:1}<tool_call|>",
     "<T0>f {\"s\":\"a{b}c:d,e\\\"f\\\\g\\\\nh\\nline2\\t[x]\",\"k\":1}", 0},
    {"code_string", "<|tool_call>call:w{code:" Q "function(){ return {a:[1,2]}; }" Q ",path:" Q "/tmp/x.js" Q "}<tool_call|>",
     "<T0>w {\"code\":\"function(){ return {a:[1,2]}; }\",\"path\":\"/tmp/x.js\"}", 0},
    {"empty_string", "<|tool_call>call:f{a:" Q Q "}<tool_call|>", "<T0>f {\"a\":\"\"}", 0},
    {"content_around_call", "Let me check.\n<|tool_call>call:f{}<tool_call|>\nDone.",
     "<C>Let me check.\n<T0>f {}<C>Done.", 0},
    {"thinking_then_call",
     "<|channel>thought\nNeed weather.<channel|><|tool_call>call:get_weather{city:" Q "Paris" Q "}<tool_call|><|tool_response>",
     "<R>Need weather.<T0>get_weather {\"city\":\"Paris\"}", F_DONE},
    {"call_inside_thought", "<|channel>thought\nI'll call it<|tool_call>call:f{}<tool_call|>",
     "<R>I'll call it<T0>f {}", 0},
    {"call_in_thinking_prompt", "Tool said 4.<channel|><|tool_call>call:g{}<tool_call|><|tool_response>",
     "<R>Tool said 4.<T0>g {}", F_THINK | F_DONE},
    {"mcp_name", "<|tool_call>call:srv:search{q:" Q "x" Q "}<tool_call|>", "<T0>srv:search {\"q\":\"x\"}", 0},
    {"no_args", "<|tool_call>call:get_time<tool_call|>", "<T0>get_time {}", 0},
    {"no_call_prefix", "<|tool_call>get_time{tz:" Q "UTC" Q "}<tool_call|>", "<T0>get_time {\"tz\":\"UTC\"}", 0},
    {"escaped_keys", "<|tool_call>call:f{" Q "a b" Q ":1," Q "c" Q ":{" Q "d" Q ":2}}<tool_call|>",
     "<T0>f {\"a b\":1,\"c\":{\"d\":2}}", 0},
    /* leniency */
    {"unterminated_string", "<|tool_call>call:f{a:" Q "hello}<tool_call|>", "<T0>f {\"a\":\"hello\"}", 0},
    {"unterminated_nested", "<|tool_call>call:f{a:[" Q "x" Q "," Q "y ]\n}<tool_call|>Ok",
     "<T0>f {\"a\":[\"x\",\"y\"]}<C>Ok", 0},
    {"unterminated_at_finish", "<|tool_call>call:f{a:" Q "x" Q ",b:" Q "y", "<T0>f {\"a\":\"x\",\"b\":\"y\"}", 0},
    {"missing_brace", "<|tool_call>call:f{a:1,b:[1,2<tool_call|>", "<T0>f {\"a\":1,\"b\":[1,2]}", 0},
    {"missing_close_at_finish", "<|tool_call>call:f{a:1}", "<T0>f {\"a\":1}", 0},
    {"missing_close_then_text", "<|tool_call>call:f{a:1} ok then", "<T0>f {\"a\":1}<C>ok then", 0},
    {"missing_close_then_response", "<|tool_call>call:f{a:1}<|tool_response>", "<T0>f {\"a\":1}", F_DONE},
    {"missing_close_then_call", "<|tool_call>call:a{x:" Q "1<|tool_call>call:b{}<tool_call|>",
     "<T0>a {\"x\":\"1\"}<T1>b {}", 0},
    {"truncated_key", "<|tool_call>call:f{a:1,b", "<T0>f {\"a\":1}", 0},
    {"whitespace", "<|tool_call>call: f {\n  a : 1 ,\n  b :\n " Q "x" Q " \n}\n<tool_call|>",
     "<T0>f {\"a\":1,\"b\":\"x\"}", 0},
    {"json_keys_strings",
     "<|tool_call>call:f{\"a\":\"x\\\"y\\\\z\\u00e9\\ud83d\\ude80\\n\",\"b\":2}<tool_call|>",
     "<T0>f {\"a\":\"x\\\"y\\\\zé🚀\\n\",\"b\":2}", 0},
    {"json_string_braces", "<|tool_call>call:f{\"q\":\"a}b]c,d\"}<tool_call|>", "<T0>f {\"q\":\"a}b]c,d\"}", 0},
    {"single_quotes", "<|tool_call>call:f{'a':'it's fine','b': 'x' }<tool_call|>",
     "<T0>f {\"a\":\"it's fine\",\"b\":\"x\"}", 0},
    {"full_json_args", "<|tool_call>call:f{\"q\": \"a b\", \"n\": [1, 2.5], \"o\": {\"k\": null, \"t\": true}}<tool_call|>",
     "<T0>f {\"q\":\"a b\",\"n\":[1,2.5],\"o\":{\"k\":null,\"t\":true}}", 0},
    {"json_call_object", "<|tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}<tool_call|>", "<T0>f {\"a\":1}", 0},
    {"json_call_string_args", "<|tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":[1]}\"}<tool_call|>",
     "<T0>f {\"a\":[1]}", 0},
    {"commas", "<|tool_call>call:f{,a:1,,b:2,}<tool_call|>", "<T0>f {\"a\":1,\"b\":2}", 0},
    {"missing_comma", "<|tool_call>call:f{a:" Q "x" Q "\nb:" Q "y" Q "}<tool_call|>", "<T0>f {\"a\":\"x\",\"b\":\"y\"}", 0},
    {"empty_values", "<|tool_call>call:f{a:,b:}<tool_call|>", "<T0>f {\"a\":null,\"b\":null}", 0},
    {"second_tool_response", "<|tool_call>call:f{}<tool_call|><|tool_response><|tool_response>", "<T0>f {}", F_DONE},
    {"stray_close_after_call", "<|tool_call>call:f{}<tool_call|><tool_call|> After", "<T0>f {}<C>After", 0},
    {"end_inside_string", "<|tool_call>call:f{a:" Q "x<turn|>", "<T0>f {\"a\":\"x\"}", F_DONE},
    {"unparseable_call", "<|tool_call>call:f(a: " Q "x" Q ")<tool_call|>After", "<C>call:f(a: \"x\")After", 0},
    {"unparseable_garbage", "Hi <|tool_call>this is not a call", "<C>Hi this is not a call", 0},
    {"empty_call", "<|tool_call><tool_call|>Hi", "<C>Hi", 0},
    {"call_then_thinking", "<|tool_call>call:f{}<tool_call|><|channel>thought\nhm<channel|>ok",
     "<T0>f {}<R>hm<C>ok", 0},
    /* a long one, for random k-splits */
    {"long_mixed",
     "<|channel>thought\nThe user wants the weather in two cities and a unit conversion. I will call "
     "get_weather twice in parallel, then convert. Careful with <brackets> and {braces} here.\n<channel|>"
     "Sure — checking both cities now.\n"
     "<|tool_call>call:get_weather{city:" Q "Paris, France" Q ",days:3,opts:{unit:" Q "celsius" Q
     ",detail:[" Q "wind" Q "," Q "rain" Q "]}}<tool_call|>"
     "<|tool_call>call:get_weather{city:" Q "São Paulo" Q ",days:1,opts:{unit:" Q "fahrenheit" Q
     ",note:" Q "multi\nline {with} \"quotes\" and \\backslashes\\" Q "}}<tool_call|>"
     "<|tool_response>ignored",
     "<R>The user wants the weather in two cities and a unit conversion. I will call get_weather twice in "
     "parallel, then convert. Careful with <brackets> and {braces} here.\n"
     "<C>Sure — checking both cities now.\n"
     "<T0>get_weather {\"city\":\"Paris, France\",\"days\":3,\"opts\":{\"unit\":\"celsius\",\"detail\":[\"wind\",\"rain\"]}}"
     "<T1>get_weather {\"city\":\"São Paulo\",\"days\":1,\"opts\":{\"unit\":\"fahrenheit\",\"note\":\"multi\\nline "
     "{with} \\\"quotes\\\" and \\\\backslashes\\\\\"}}",
     F_DONE},
};

/* ---- streaming: nothing is delayed beyond a possible marker prefix ---- */

typedef struct {
    rec r;
    g4_outparser *p;
    g4_error err;
} live;

static void live_init(live *l, bool think) {
    rec_init(&l->r);
    memset(&l->err, 0, sizeof l->err);
    g4_outparser_new(think, &l->p, &l->err);
}

static void live_feed(live *l, const char *s) {
    g4_outparser_feed(l->p, s, strlen(s), rec_cb, &l->r, &l->err);
}

static void live_free(live *l) {
    g4_outparser_free(l->p);
    g4_buf_free(&l->r.tr);
}

static bool tr_is(const live *l, const char *want) { return strcmp(g4_buf_str(&l->r.tr), want) == 0; }

static void test_no_delay(void) {
    live l;
    live_init(&l, false);
    live_feed(&l, "Hello wor");
    T_CHECK(tr_is(&l, "<C>Hello wor"));
    live_feed(&l, "ld <");
    T_CHECK(tr_is(&l, "<C>Hello world ")); /* '<' may start a marker */
    live_feed(&l, "|chan");
    T_CHECK(tr_is(&l, "<C>Hello world "));
    live_feed(&l, "nel>thought\nabc");
    T_CHECK(tr_is(&l, "<C>Hello world <R>abc"));
    live_feed(&l, " def<chan");
    T_CHECK(tr_is(&l, "<C>Hello world <R>abc def"));
    live_feed(&l, "nel|>\n\nXY");
    T_CHECK(tr_is(&l, "<C>Hello world <R>abc def<C>XY"));
    live_feed(&l, "<b>");
    T_CHECK(tr_is(&l, "<C>Hello world <R>abc def<C>XY<b>"));
    live_feed(&l, "a<t");
    T_CHECK(tr_is(&l, "<C>Hello world <R>abc def<C>XY<b>a"));
    live_feed(&l, "x");
    T_CHECK(tr_is(&l, "<C>Hello world <R>abc def<C>XY<b>a<tx"));
    live_feed(&l, " <turn|");
    T_CHECK(tr_is(&l, "<C>Hello world <R>abc def<C>XY<b>a<tx "));
    T_CHECK(!g4_outparser_done(l.p));
    live_feed(&l, ">tail");
    T_CHECK(tr_is(&l, "<C>Hello world <R>abc def<C>XY<b>a<tx "));
    T_CHECK(g4_outparser_done(l.p));
    live_free(&l);

    /* reasoning streams too, and a call is reported as soon as its object closes */
    live_init(&l, true);
    live_feed(&l, "thinking about it");
    T_CHECK(tr_is(&l, "<R>thinking about it"));
    live_feed(&l, "<channel|><|tool_call>call:f{a:" Q "x}y" Q);
    T_CHECK(tr_is(&l, "<R>thinking about it"));
    live_feed(&l, "}");
    T_CHECK(tr_is(&l, "<R>thinking about it<T0>f {\"a\":\"x}y\"}"));
    T_CHECK(g4_outparser_wants_tools(l.p));
    live_feed(&l, "<tool_call|>");
    live_feed(&l, "<|tool_response>");
    T_CHECK(g4_outparser_done(l.p));
    T_CHECK(tr_is(&l, "<R>thinking about it<T0>f {\"a\":\"x}y\"}"));
    live_free(&l);

    /* byte-by-byte plain text: after every byte, all but a possible marker prefix is out */
    const char *txt = "Ein Satz mit <b>Tags</b>, a <| and <tool stuff> — fin.";
    live_init(&l, false);
    size_t n = strlen(txt);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        g4_outparser_feed(l.p, txt + i, 1, rec_cb, &l.r, &l.err);
        size_t fed = i + 1, held = fed - l.r.content_len;
        /* what is held must be a suffix starting with '<' and shorter than a marker */
        if (held > 0 && (held >= 16 || txt[fed - held] != '<')) ok = false;
        if (held == 0 && i + 1 < n && txt[i] == '<') ok = false;
    }
    g4_outparser_finish(l.p, rec_cb, &l.r, &l.err);
    T_CHECK(ok);
    T_CHECK(l.r.content_len == n);
    live_free(&l);

    /* coalescing: one feed with several pieces gives one content event */
    live_init(&l, false);
    live_feed(&l, "a<channel|>b<tool_call|>c" Q "d");
    T_CHECK(tr_is(&l, "<C>abcd"));
    T_CHECK(l.r.n_events == 1);
    live_feed(&l, "e");
    T_CHECK(l.r.n_events == 2); /* the next feed's text is its own, immediate delta */
    live_free(&l);
}

/* ---- API contract ---- */

static void test_api(void) {
    g4_error err = {0};
    g4_outparser *p = NULL;
    T_CHECK(g4_outparser_new(false, NULL, &err) == G4_ERR_ARG);
    T_CHECK(g4_outparser_new(false, &p, &err) == G4_OK);
    err = (g4_error){0};
    T_CHECK(g4_outparser_feed(p, NULL, 3, NULL, NULL, &err) == G4_ERR_ARG);
    T_CHECK(g4_outparser_feed(p, NULL, 0, NULL, NULL, &err) == G4_OK);
    T_CHECK(g4_outparser_feed(p, "x<|tool_call>call:f{}", 21, NULL, NULL, &err) == G4_OK); /* NULL cb */
    T_CHECK(g4_outparser_wants_tools(p));
    T_CHECK(!g4_outparser_done(p));
    T_CHECK(g4_outparser_finish(p, NULL, NULL, &err) == G4_OK);
    T_CHECK(g4_outparser_finish(p, NULL, NULL, &err) == G4_OK); /* idempotent */
    err = (g4_error){0};
    T_CHECK(g4_outparser_feed(p, "y", 1, NULL, NULL, &err) == G4_ERR_ARG);
    T_CHECK(strstr(err.msg, "after finish") != NULL);
    g4_outparser_free(p);
    g4_outparser_free(NULL);
    T_CHECK(!g4_outparser_done(NULL) && !g4_outparser_wants_tools(NULL));

    /* a tool call body over the limit is an error, and stays one */
    T_CHECK(g4_outparser_new(false, &p, &err) == G4_OK);
    const char *head = "<|tool_call>call:f{a:" Q;
    T_CHECK(g4_outparser_feed(p, head, strlen(head), NULL, NULL, &err) == G4_OK);
    size_t mb = 1u << 20;
    char *big = malloc(mb);
    memset(big, 'x', mb);
    g4_status st = G4_OK;
    for (int i = 0; i < 20 && st == G4_OK; i++) st = g4_outparser_feed(p, big, mb, NULL, NULL, &err);
    T_CHECK(st == G4_ERR_UNSUPPORTED);
    err = (g4_error){0};
    T_CHECK(g4_outparser_feed(p, "x", 1, NULL, NULL, &err) == G4_ERR_UNSUPPORTED);
    T_CHECK(g4_outparser_finish(p, NULL, NULL, &err) == G4_ERR_UNSUPPORTED);
    free(big);
    g4_outparser_free(p);
}

/* ---- one-shot converter ---- */

static void check_json(const char *in, const char *want) {
    g4_buf b = G4_BUF_INIT;
    g4_error err = {0};
    g4_buf_adds(&b, "pre:"); /* appends */
    g4_status st = g4_gemma_value_to_json(in, strlen(in), &b, &err);
    bool ok = st == G4_OK && strncmp(g4_buf_str(&b), "pre:", 4) == 0 && strcmp(g4_buf_str(&b) + 4, want) == 0;
    T_CHECKF(ok, "%s -> %s (want %s) %s", in, g4_buf_str(&b), want, err.msg);
    g4_buf_free(&b);
}

static void check_json_fails(const char *in, size_t n) {
    g4_buf b = G4_BUF_INIT;
    g4_error err = {0};
    g4_status st = g4_gemma_value_to_json(in, n, &b, &err);
    T_CHECKF(st == G4_ERR_FORMAT && b.n == 0 && err.msg[0], "%.60s should fail (%d)", in, st);
    g4_buf_free(&b);
}

static void test_value_to_json(void) {
    check_json("call:get_weather{city:" Q "Paris" Q ",unit:" Q "celsius" Q "}",
               "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"unit\":\"celsius\"}}");
    check_json("<|tool_call>call:f{a:[1,{b:null}]}<tool_call|>",
               "{\"name\":\"f\",\"arguments\":{\"a\":[1,{\"b\":null}]}}");
    check_json("  42 ", "42");
    check_json("-0.5e+3", "-0.5e+3");
    check_json("+.5", "0.5");
    check_json(Q "a\"b\\c" Q, "\"a\\\"b\\\\c\"");
    check_json("true", "true");
    check_json("[1, two, " Q "3" Q "]", "[1,\"two\",\"3\"]");
    check_json("{k:{j:[]}}", "{\"k\":{\"j\":[]}}");
    check_json("hello world", "\"hello world\"");
    check_json("{\"a\":\"\\u00\"}", "{\"a\":\"\\\\u00\"}"); /* a broken escape stays literal */
    check_json("{a:\"\\ud800x\"}", "{\"a\":\"\xEF\xBF\xBDx\"}"); /* lone surrogate -> U+FFFD */
    check_json_fails("", 0);
    check_json_fails("   ", 3);
    check_json_fails("{a:1}}", 6);
    check_json_fails("{:1}", 4);
    check_json_fails("call:bad name{a:1}", 18);
    check_json_fails("[1] x", 5);
    check_json("1 2", "\"1 2\"");

    /* nesting: exactly G4_PARSE_MAX_DEPTH levels parse, one more fails */
    g4_buf in = G4_BUF_INIT, want = G4_BUF_INIT;
    for (int i = 0; i < G4_PARSE_MAX_DEPTH; i++) g4_buf_adds(&in, "[");
    for (int i = 0; i < G4_PARSE_MAX_DEPTH; i++) g4_buf_adds(&in, "]");
    g4_buf_add(&want, in.p, in.n);
    check_json(g4_buf_str(&in), g4_buf_str(&want));
    g4_buf_clear(&in);
    for (int i = 0; i <= G4_PARSE_MAX_DEPTH; i++) g4_buf_adds(&in, "{a:");
    for (int i = 0; i <= G4_PARSE_MAX_DEPTH; i++) g4_buf_adds(&in, "}");
    check_json_fails(g4_buf_str(&in), in.n);
    g4_buf_free(&in);
    g4_buf_free(&want);
}

/* ---- hostile input ---- */

/* Transcript of s fed whole, then fed in random chunks: must agree. */
static bool invariant_under_chunking(const char *s, size_t n, bool think, int tries) {
    tcase c = {"hostile", s, "", think ? F_THINK : 0};
    bool d1, t1;
    int bad = 0;
    char *whole = run_split(&c, s, n, NULL, 0, &d1, &t1, &bad);
    bool ok = whole != NULL && bad == 0;
    size_t cuts[64];
    for (int t = 0; ok && t < tries && n > 1; t++) {
        size_t m = 1 + rnd() % 63, u = 0, pos = 0;
        for (size_t j = 0; j < m; j++) {
            pos += 1 + rnd() % (2 * n / m + 1);
            if (pos >= n) break;
            cuts[u++] = pos;
        }
        bool d2, t2;
        char *got = run_split(&c, s, n, cuts, u, &d2, &t2, &bad);
        ok = got && strcmp(got, whole) == 0 && d1 == d2 && t1 == t2 && bad == 0;
        free(got);
    }
    free(whole);
    return ok;
}

static void test_hostile(void) {
    static const char *frags[] = {
        "<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", Q, "<|tool_response>", "<turn|>",
        "<eos>", "<", "<|", "|>", ">", "{", "}", "[", "]", ",", ":", "\"", "'", "\\", "\n", " ", "call:",
        "thought\n", "a", "xyz", "1", "-2.5e3", "true", "é", "\xff", "<tool_", "<|tool", "<|\"",
    };
    size_t nf = sizeof frags / sizeof frags[0];
    /* the same without end markers, so the parser keeps going through the whole input */
    static const char *live_frags[] = {
        "<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", Q, "<", "<|", "|>", ">", "{",
        "}", "[", "]", ",", ":", "\"", "'", "\\", "\n", " ", "call:", "thought\n", "a", "xyz",
        "1", "-2.5e3", "true", "é", "\xff", "<tool_", "<|tool", "<|\"", "<tur", "<eo",
    };
    size_t nl = sizeof live_frags / sizeof live_frags[0];

    /* random marker soup: chunking never changes the result */
    bool ok = true;
    g4_buf s = G4_BUF_INIT;
    for (int t = 0; t < 300 && ok; t++) {
        g4_buf_clear(&s);
        size_t k = rnd() % 80;
        bool ends = t & 1;
        for (size_t j = 0; j < k; j++) g4_buf_adds(&s, ends ? frags[rnd() % nf] : live_frags[rnd() % nl]);
        ok = invariant_under_chunking(g4_buf_str(&s), s.n, rnd() & 1, 6);
        if (!ok) fprintf(stderr, "soup case: %s\n", g4_buf_str(&s));
    }
    T_CHECK(ok);

    /* random bytes (with a bias to '<' '|' '>' '{' and quotes) */
    ok = true;
    for (int t = 0; t < 200 && ok; t++) {
        size_t n = rnd() % 600;
        char *b = malloc(n + 1);
        for (size_t j = 0; j < n; j++) {
            uint64_t r = rnd();
            b[j] = (r & 3) ? (char)"<|>{}[]\":,'\\ \nabc"[(r >> 2) % 18] : (char)(r >> 8);
        }
        b[n] = 0;
        /* random bytes may hold NUL: the harness uses strlen, so cut there */
        n = strlen(b);
        ok = invariant_under_chunking(b, n, rnd() & 1, 4);
        g4_buf tmp = G4_BUF_INIT;
        g4_error err = {0};
        g4_gemma_value_to_json(b, n, &tmp, &err); /* must not crash */
        g4_buf_free(&tmp);
        free(b);
    }
    T_CHECK(ok);

    /* deep nesting in a streamed call: no crash, the call falls back to content */
    size_t depth = 100000;
    g4_buf_clear(&s);
    g4_buf_adds(&s, "<|tool_call>call:f{a:");
    for (size_t i = 0; i < depth; i++) g4_buf_addc(&s, '[');
    g4_buf_adds(&s, "<tool_call|>");
    {
        rec r;
        rec_init(&r);
        g4_outparser *p = NULL;
        g4_error err = {0};
        g4_outparser_new(false, &p, &err);
        T_CHECK(g4_outparser_feed(p, s.p, s.n, rec_cb, &r, &err) == G4_OK);
        T_CHECK(g4_outparser_finish(p, rec_cb, &r, &err) == G4_OK);
        T_CHECK(!g4_outparser_wants_tools(p));
        T_CHECK(r.content_len == strlen("call:f{a:") + depth);
        g4_outparser_free(p);
        g4_buf_free(&r.tr);
    }
    /* balanced deep nesting: the scanner closes it, the parser refuses the depth */
    g4_buf_clear(&s);
    g4_buf_adds(&s, "<|tool_call>call:f");
    for (size_t i = 0; i < depth; i++) g4_buf_adds(&s, "{a:");
    g4_buf_adds(&s, "1");
    for (size_t i = 0; i < depth; i++) g4_buf_addc(&s, '}');
    g4_buf_adds(&s, "<tool_call|>Next");
    {
        rec r;
        rec_init(&r);
        g4_outparser *p = NULL;
        g4_error err = {0};
        g4_outparser_new(false, &p, &err);
        T_CHECK(g4_outparser_feed(p, s.p, s.n, rec_cb, &r, &err) == G4_OK);
        T_CHECK(g4_outparser_finish(p, rec_cb, &r, &err) == G4_OK);
        T_CHECK(!g4_outparser_wants_tools(p));
        const char *tr = g4_buf_str(&r.tr);
        T_CHECK(strncmp(tr, "<C>call:f{a:{a:", 15) == 0);
        T_CHECK(r.content_len == strlen("call:f") + 3 * depth + 1 + depth + strlen("Next"));
        g4_outparser_free(p);
        g4_buf_free(&r.tr);
    }

    /* 1 MB of garbage: whole vs byte-by-byte vs 4 KiB chunks agree */
    g4_buf_clear(&s);
    while (s.n < (1u << 20)) g4_buf_adds(&s, live_frags[rnd() % nl]);
    {
        g4_buf outs[3] = {G4_BUF_INIT, G4_BUF_INIT, G4_BUF_INIT};
        for (int mode = 0; mode < 3; mode++) {
            rec r;
            rec_init(&r);
            g4_outparser *p = NULL;
            g4_error err = {0};
            g4_outparser_new(false, &p, &err);
            size_t step = mode == 0 ? s.n : mode == 1 ? 1 : 4096;
            g4_status st = G4_OK;
            for (size_t i = 0; i < s.n && st == G4_OK; i += step)
                st = g4_outparser_feed(p, s.p + i, s.n - i < step ? s.n - i : step, rec_cb, &r, &err);
            if (st == G4_OK) st = g4_outparser_finish(p, rec_cb, &r, &err);
            T_CHECK(st == G4_OK);
            outs[mode] = r.tr;
            g4_outparser_free(p);
        }
        T_CHECK(outs[0].n > s.n / 4); /* most of it came out as content / reasoning / calls */
        T_CHECK(outs[0].n == outs[1].n && memcmp(outs[0].p, outs[1].p, outs[0].n) == 0);
        T_CHECK(outs[0].n == outs[2].n && memcmp(outs[0].p, outs[2].p, outs[0].n) == 0);
        for (int mode = 0; mode < 3; mode++) g4_buf_free(&outs[mode]);
    }
    /* 1 MB of text without markers inside an open call string: parsed in one piece */
    g4_buf_clear(&s);
    g4_buf_adds(&s, "<|tool_call>call:w{text:" Q);
    for (size_t i = 0; i < (1u << 20); i++) g4_buf_addc(&s, (char)('a' + i % 26));
    g4_buf_adds(&s, Q "}<tool_call|>");
    {
        rec r;
        rec_init(&r);
        g4_outparser *p = NULL;
        g4_error err = {0};
        g4_outparser_new(false, &p, &err);
        for (size_t i = 0; i < s.n; i += 7)
            g4_outparser_feed(p, s.p + i, s.n - i < 7 ? s.n - i : 7, rec_cb, &r, &err);
        g4_outparser_finish(p, rec_cb, &r, &err);
        T_CHECK(g4_outparser_wants_tools(p));
        T_CHECK(r.tr.n == strlen("<T0>w {\"text\":\"\"}") + (1u << 20));
        g4_outparser_free(p);
        g4_buf_free(&r.tr);
    }
    g4_buf_free(&s);
}

int main(void) {
    size_t nc = sizeof k_cases / sizeof k_cases[0];
    for (size_t i = 0; i < nc; i++) check_case(&k_cases[i]);
    fprintf(stderr, "%zu cases, %d chunkings checked\n", nc, n_runs);
    test_no_delay();
    test_api();
    test_value_to_json();
    test_hostile();
    return T_DONE();
}
