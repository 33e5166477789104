/* cmd_text.c — gemma4c tokenize / detokenize / template: text tools that need only the
 * model's tokenizer and layout, never its weights (the file is mapped, not read). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/render.h"
#include "cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/status.h"
#include "gguf/gguf.h"
#include "model/vocab_gguf.h"
#include "text/tokenize.h"

/* Only the GGUF metadata is read (the file is mapped, no weights are touched), so these
 * commands also work on vocab-only files and start at once on a 20 GB model. */
static int open_meta(const cli_opts *o, g4_gguf **g, g4_vocab **v) {
    g4_error err = {0};
    *v = NULL;
    if (g4_gguf_open(o->model_path, g, &err)) return cli_die("cannot read model", &err);
    if (!g4_gguf_find_kv(*g, "tokenizer.ggml.tokens")) {
        fprintf(stderr, "gemma4c %s: %s has no tokenizer (tokenizer.ggml.tokens is missing); "
                        "use a GGUF converted with its tokenizer\n", o->cmd, o->model_path);
        g4_gguf_close(*g);
        return 1;
    }
    if (g4_vocab_from_gguf(*g, v, &err)) {
        g4_error_prefix(&err, "%s: ", o->model_path);
        cli_die("cannot load the tokenizer", &err);
        g4_gguf_close(*g);
        return 1;
    }
    return 0;
}

int cmd_tokenize(const cli_opts *o) {
    size_t len;
    char *text = cli_text_arg(o, "TEXT", &len);
    if (!text) return 2;
    g4_gguf *g;
    g4_vocab *v;
    if (open_meta(o, &g, &v)) {
        free(text);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    g4_error err = {0};
    int rc = 0;
    if (g4_tokenize(v, text, len, o->bos, o->special, &ids, &n, &err)) {
        rc = cli_die("tokenize", &err);
    } else {
        /* one buffered write: outputs of a million ids stay fast */
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        puts("]");
        if (fflush(stdout)) rc = 1;
    }
    free(ids);
    free(text);
    g4_vocab_free(v);
    g4_gguf_close(g);
    return rc;
}

int cmd_detokenize(const cli_opts *o) {
    char *arg = cli_text_arg(o, "IDS", NULL);
    if (!arg) return 2;
    int32_t *ids;
    size_t n;
    int prc = cli_parse_ids(arg, "detokenize", &ids, &n);
    free(arg);
    if (prc) return 2;
    g4_gguf *g;
    g4_vocab *v;
    if (open_meta(o, &g, &v)) {
        free(ids);
        return 1;
    }
    int rc = 0;
    const int32_t nv = g4_vocab_n_tokens(v);
    for (size_t i = 0; i < n && !rc; i++)
        if (ids[i] >= nv) {
            fprintf(stderr, "gemma4c detokenize: token id %d is outside the vocabulary (0..%d)\n", ids[i], nv - 1);
            rc = 1;
        }
    char *text = NULL;
    size_t len = 0;
    g4_error err = {0};
    if (!rc && g4_detokenize(v, ids, n, false, o->special, &text, &len, &err)) rc = cli_die("detokenize", &err);
    if (!rc) {
        fwrite(text, 1, len, stdout);
        if (fflush(stdout)) rc = 1;
    }
    free(text);
    free(ids);
    g4_vocab_free(v);
    g4_gguf_close(g);
    return rc;
}

static g4_json *read_json_file(const char *path, const char *what) {
    size_t len;
    char *text = cli_read_file(path, &len);
    if (!text) return NULL;
    g4_json *j = NULL;
    g4_error err = {0};
    if (g4_json_parse(text, len, &j, &err)) {
        fprintf(stderr, "gemma4c template: %s %s is not valid JSON: %s\n", what, path, err.msg);
        j = NULL;
    } else if (g4_json_type_of(j) != G4_JSON_ARRAY) {
        fprintf(stderr, "gemma4c template: %s %s must hold a JSON array\n", what, path);
        g4_json_free(j);
        j = NULL;
    }
    free(text);
    return j;
}

int cmd_template(const cli_opts *o) {
    if (!o->messages) {
        fprintf(stderr, "gemma4c template: --messages FILE.json is required (a JSON array of messages)\n");
        return 2;
    }
    g4_json *msgs = read_json_file(o->messages, "--messages");
    if (!msgs) return 1;
    g4_json *tools = NULL;
    if (o->tools && !(tools = read_json_file(o->tools, "--tools"))) {
        g4_json_free(msgs);
        return 1;
    }
    int rc = 1;
    g4_buf out = G4_BUF_INIT;
    bool large = true;
    if (o->layout) {
        large = !strcmp(o->layout, "large");
    } else {
        /* E2B/E4B (per-layer embeddings) use the small template, the others the large */
        g4_gguf *g;
        g4_error gerr = {0};
        if (g4_gguf_open(o->model_path, &g, &gerr)) {
            cli_die("cannot read model", &gerr);
            goto done;
        }
        const g4_gguf_kv *kv = g4_gguf_find_kv(g, "gemma4.embedding_length_per_layer_input");
        int64_t ple = 0;
        if (kv && g4_gguf_kv_int(kv, &ple) && ple > 0) large = false;
        g4_gguf_close(g);
    }
    g4_chat_opts co = {0};
    co.large_layout = large;
    co.enable_thinking = o->think;
    co.add_generation_prompt = !o->no_gen_prompt;
    g4_error err = {0};
    if (g4_chat_render(msgs, tools, &co, &out, &err)) {
        cli_die("template", &err);
        goto done;
    }
    if (fwrite(g4_buf_str(&out), 1, out.n, stdout) != out.n || fflush(stdout)) goto done;
    rc = 0;
done:
    g4_buf_free(&out);
    g4_json_free(msgs);
    g4_json_free(tools);
    return rc;
}
