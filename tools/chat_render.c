/* chat_render — renders Gemma 4 chat prompts with the C renderer (src/chat/render.h).
 *
 *   chat_render [--small] [--think] [--no-gen] [--preserve] [--bos TEXT] [FILE|-]
 *       FILE holds {"messages": [...], "tools": [...]} or a bare messages array;
 *       prints the prompt (large layout, thinking off, generation prompt by default).
 *   chat_render --batch FILE
 *       FILE holds {"cases": [{"messages", "tools", "large", "enable_thinking",
 *       "add_generation_prompt", "preserve_thinking", "bos_token"}, ...]}, where a case
 *       may name a conversation file ("file") to take messages/tools/bos_token from, so
 *       that its raw text (key order, duplicate keys, number literals) is parsed; prints
 *       {"results": [{"output": "..."} or {"error": "..."}, ...]} (used by the
 *       differential tests in tests/chat/ against the @huggingface/jinja engine).
 *   chat_render --js-strings FILE
 *       FILE holds a JSON array of strings; prints [[upper, lower, trim], ...] as the
 *       renderer computes JavaScript's toUpperCase / toLowerCase / trim. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/js_string.h"
#include "chat/render.h"
#include "core/json.h"

static char *read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    g4_buf b = G4_BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) g4_buf_add(&b, tmp, n);
    if (f != stdin) fclose(f);
    return g4_buf_take(&b, len);
}

static g4_json *load(const char *path) {
    size_t len;
    char *text = read_all(path, &len);
    if (!text) {
        fprintf(stderr, "chat_render: cannot read %s\n", path);
        return NULL;
    }
    g4_json *j = NULL;
    g4_error err = {0};
    if (g4_json_parse(text, len, &j, &err) != G4_OK) fprintf(stderr, "chat_render: %s: %s\n", path, err.msg);
    free(text);
    return j;
}

static bool flag(const g4_json *o, const char *key, bool def) {
    const g4_json *v = g4_json_get(o, key);
    return g4_json_is_bool(v) ? g4_json_bool(v) : def;
}

static int batch(const char *path) {
    g4_json *root = load(path);
    if (!root) return 1;
    const g4_json *cases = g4_json_get(root, "cases");
    g4_json *results = g4_json_new_array();
    for (size_t i = 0; i < g4_json_len(cases); i++) {
        const g4_json *cs = g4_json_at(cases, i);
        const char *file = g4_json_get_str(cs, "file", NULL);
        g4_json *conv = file ? load(file) : NULL;
        const g4_json *src = conv ? conv : cs;
        g4_chat_opts o = {
            .large_layout = flag(cs, "large", true),
            .enable_thinking = flag(cs, "enable_thinking", false),
            .add_generation_prompt = flag(cs, "add_generation_prompt", true),
            .preserve_thinking = flag(cs, "preserve_thinking", false),
            .bos_token = g4_json_get_str(src, "bos_token", NULL),
        };
        g4_buf out = G4_BUF_INIT;
        g4_error err = {0};
        g4_json *r = g4_json_new_object();
        if (g4_chat_render(g4_json_get(src, "messages"), g4_json_get(src, "tools"), &o, &out, &err) == G4_OK)
            g4_json_set(r, "output", g4_json_new_string(g4_buf_str(&out), out.n));
        else
            g4_json_set(r, "error", g4_json_new_cstr(err.msg));
        g4_json_append(results, r);
        g4_buf_free(&out);
        g4_json_free(conv);
    }
    g4_json *doc = g4_json_new_object();
    g4_json_set(doc, "results", results);
    g4_buf w = G4_BUF_INIT;
    g4_json_write(doc, &w);
    fwrite(w.p, 1, w.n, stdout);
    fputc('\n', stdout);
    g4_buf_free(&w);
    g4_json_free(doc);
    g4_json_free(root);
    return 0;
}

static int js_strings(const char *path) {
    g4_json *root = load(path);
    if (!root) return 1;
    g4_json *res = g4_json_new_array();
    for (size_t i = 0; i < g4_json_len(root); i++) {
        size_t n;
        const char *s = g4_json_string(g4_json_at(root, i), &n);
        g4_buf u = G4_BUF_INIT, l = G4_BUF_INIT, t = G4_BUF_INIT;
        g4_chat_js_upper(s ? s : "", n, &u);
        g4_chat_js_lower(s ? s : "", n, &l);
        g4_chat_js_trim(s ? s : "", n, &t);
        g4_json *row = g4_json_new_array();
        g4_json_append(row, g4_json_new_string(g4_buf_str(&u), u.n));
        g4_json_append(row, g4_json_new_string(g4_buf_str(&l), l.n));
        g4_json_append(row, g4_json_new_string(g4_buf_str(&t), t.n));
        g4_json_append(res, row);
        g4_buf_free(&u), g4_buf_free(&l), g4_buf_free(&t);
    }
    g4_buf w = G4_BUF_INIT;
    g4_json_write(res, &w);
    fwrite(w.p, 1, w.n, stdout);
    fputc('\n', stdout);
    g4_buf_free(&w);
    g4_json_free(res);
    g4_json_free(root);
    return 0;
}

int main(int argc, char **argv) {
    g4_chat_opts o = {.large_layout = true, .add_generation_prompt = true};
    const char *path = "-";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--batch") == 0 && i + 1 < argc) return batch(argv[i + 1]);
        if (strcmp(a, "--js-strings") == 0 && i + 1 < argc) return js_strings(argv[i + 1]);
        if (strcmp(a, "--small") == 0) o.large_layout = false;
        else if (strcmp(a, "--think") == 0) o.enable_thinking = true;
        else if (strcmp(a, "--no-gen") == 0) o.add_generation_prompt = false;
        else if (strcmp(a, "--preserve") == 0) o.preserve_thinking = true;
        else if (strcmp(a, "--bos") == 0 && i + 1 < argc) o.bos_token = argv[++i];
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "usage: chat_render [--small] [--think] [--no-gen] [--preserve] [--bos TEXT] [FILE|-]\n"
                            "       chat_render --batch FILE | --js-strings FILE\n");
            return 2;
        } else
            path = a;
    }
    g4_json *doc = load(path);
    if (!doc) return 1;
    const g4_json *messages = g4_json_is_array(doc) ? doc : g4_json_get(doc, "messages");
    const g4_json *tools = g4_json_is_array(doc) ? NULL : g4_json_get(doc, "tools");
    g4_buf out = G4_BUF_INIT;
    g4_error err = {0};
    int rc = 0;
    if (g4_chat_render(messages, tools, &o, &out, &err) == G4_OK) fwrite(out.p, 1, out.n, stdout);
    else {
        fprintf(stderr, "chat_render: %s\n", err.msg);
        rc = 1;
    }
    g4_buf_free(&out);
    g4_json_free(doc);
    return rc;
}
