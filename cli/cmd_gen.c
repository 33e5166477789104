/* cmd_gen.c — gemma4c run (one answer) and chat (interactive REPL).
 *
 * Both keep the conversation as OpenAI-style messages, render it with the Gemma 4 chat
 * renderer, tokenize the prompt (special tokens parsed, the template's own <bos>), and
 * let the generation loop reuse the cached prefix from the previous turn. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat/render.h"
#include "cli.h"
#include "cli_media.h"
#include "core/buf.h"
#include "core/json.h"
#include "engine/engine.h"
#include "engine/generate.h"
#include "mm/layout.h"
#include "mtp/mtp.h"
#include "text/tokenize.h"

#define DIM "\x1b[2m"
#define BOLD "\x1b[1m"
#define RESET "\x1b[0m"

static volatile sig_atomic_t g_cancel, g_generating;

static void on_sigint(int sig) {
    (void)sig;
    if (g_generating) {
        g_cancel = 1;
    } else {
        static const char msg[] = "\n";
        ssize_t r = write(2, msg, sizeof msg - 1);
        (void)r;
        _exit(130);
    }
}

typedef struct {
    char *role, *content;
    cli_media *media; /* attached images / audio, in order (user messages) */
    int n_media;
} msg;

typedef struct {
    const cli_opts *o;
    g4_engine *e;
    const g4_vocab *v;
    g4_gen *gen;
    char *system;
    bool think, color, reasoning_to_stderr;
    msg *hist;
    int n_hist, cap_hist;
    /* the answer being generated */
    g4_buf content, reasoning;
    bool in_reasoning_style; /* the terminal is currently dim */
    bool saw_output;
    /* multimodal */
    g4_mmproj *proj;
    cli_media pending[CLI_MAX_MEDIA]; /* attached to the next user message */
    int n_pending;
    g4_media_span *spans;
    int n_spans;
    g4_drafter *draft; /* --draft, or NULL */
} chat;

static bool push_msg(chat *c, const char *role, const char *content) {
    if (c->n_hist == c->cap_hist) {
        int cap = c->cap_hist ? c->cap_hist * 2 : 8;
        msg *h = realloc(c->hist, (size_t)cap * sizeof *h);
        if (!h) return false;
        c->hist = h;
        c->cap_hist = cap;
    }
    c->hist[c->n_hist].role = strdup(role);
    c->hist[c->n_hist].content = strdup(content);
    c->hist[c->n_hist].media = NULL;
    c->hist[c->n_hist].n_media = 0;
    if (!c->hist[c->n_hist].role || !c->hist[c->n_hist].content) return false;
    c->n_hist++;
    return true;
}

static void pop_msg(chat *c) {
    if (!c->n_hist) return;
    c->n_hist--;
    msg *m = &c->hist[c->n_hist];
    free(m->role);
    free(m->content);
    for (int i = 0; i < m->n_media; i++) cli_media_free(&m->media[i]);
    free(m->media);
    m->media = NULL;
    m->n_media = 0;
}

/* Moves the pending media onto the last message (a user message just pushed). */
static bool attach_pending(chat *c) {
    if (!c->n_pending) return true;
    msg *m = &c->hist[c->n_hist - 1];
    m->media = malloc((size_t)c->n_pending * sizeof *m->media);
    if (!m->media) return false;
    memcpy(m->media, c->pending, (size_t)c->n_pending * sizeof *m->media);
    m->n_media = c->n_pending;
    c->n_pending = 0;
    return true;
}

static void clear_hist(chat *c) {
    while (c->n_hist) pop_msg(c);
}

/* The conversation as a JSON array of messages (also what /save writes). */
static void messages_json(const chat *c, g4_buf *b, bool pretty) {
    g4_buf_addc(b, '[');
    bool first = true;
    if (c->system && *c->system) {
        g4_buf_adds(b, pretty ? "\n  {\"role\": \"system\", \"content\": " : "{\"role\":\"system\",\"content\":");
        g4_buf_add_json_str(b, c->system, strlen(c->system));
        g4_buf_addc(b, '}');
        first = false;
    }
    for (int i = 0; i < c->n_hist; i++) {
        if (!first) g4_buf_addc(b, ',');
        first = false;
        g4_buf_adds(b, pretty ? "\n  {\"role\": " : "{\"role\":");
        g4_buf_add_json_str(b, c->hist[i].role, strlen(c->hist[i].role));
        g4_buf_adds(b, pretty ? ", \"content\": " : ",\"content\":");
        if (c->hist[i].n_media) { /* content parts: the media in order, then the text */
            g4_buf_addc(b, '[');
            for (int k = 0; k < c->hist[i].n_media; k++)
                g4_buf_adds(b, c->hist[i].media[k].image ? "{\"type\":\"image_url\",\"image_url\":{\"url\":\"\"}},"
                                                         : "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"\"}},");
            g4_buf_adds(b, "{\"type\":\"text\",\"text\":");
            g4_buf_add_json_str(b, c->hist[i].content, strlen(c->hist[i].content));
            g4_buf_adds(b, "}]");
        } else {
            g4_buf_add_json_str(b, c->hist[i].content, strlen(c->hist[i].content));
        }
        g4_buf_addc(b, '}');
    }
    g4_buf_adds(b, pretty ? "\n]\n" : "]");
}

/* Each <|image|> / <|audio|> placeholder of the rendered prompt becomes <|image> +
 * n soft tokens + <image|> (audio alike), with a media span over the soft tokens; the
 * media are taken in order of appearance in the history. */
static int expand_media(chat *c, int32_t **ids, size_t *n) {
    c->n_spans = 0;
    int total = 0;
    for (int i = 0; i < c->n_hist; i++) total += c->hist[i].n_media;
    if (!total) return 0;
    g4_mm_item *items = malloc((size_t)total * sizeof *items);
    g4_media_span *sp = realloc(c->spans, (size_t)total * sizeof *sp);
    if (!items || !sp) {
        free(items);
        return 1;
    }
    c->spans = sp;
    int k = 0;
    for (int i = 0; i < c->n_hist; i++)
        for (int j = 0; j < c->hist[i].n_media; j++) {
            const cli_media *m = &c->hist[i].media[j];
            items[k++] = (g4_mm_item){m->image, m->embd, m->n_tokens};
        }
    int32_t *out = NULL;
    size_t n_out = 0;
    g4_error err = {0};
    int rc = 0;
    if (g4_mm_expand(c->v, *ids, *n, items, total, &out, &n_out, sp, &err)) {
        rc = cli_die("media", &err);
    } else {
        free(*ids);
        *ids = out;
        *n = n_out;
        c->n_spans = total;
    }
    free(items);
    return rc;
}

/* Rendered and tokenized prompt for the whole conversation. */
static int build_prompt(chat *c, int32_t **ids, size_t *n) {
    g4_buf mj = G4_BUF_INIT, text = G4_BUF_INIT;
    g4_json *msgs = NULL;
    g4_error err = {0};
    int rc = 1;
    messages_json(c, &mj, false);
    if (!g4_buf_ok(&mj)) goto done;
    if (g4_json_parse(mj.p, mj.n, &msgs, &err)) {
        cli_die("internal: conversation JSON", &err);
        goto done;
    }
    g4_chat_opts co = {0};
    co.large_layout = !g4_engine_small_layout(c->e);
    co.enable_thinking = c->think;
    co.add_generation_prompt = true;
    if (g4_chat_render(msgs, NULL, &co, &text, &err)) {
        cli_die("cannot render the chat prompt", &err);
        goto done;
    }
    if (g4_tokenize(c->v, g4_buf_str(&text), text.n, false, true, ids, n, &err)) {
        cli_die("cannot tokenize the prompt", &err);
        goto done;
    }
    if (expand_media(c, ids, n)) goto done;
    if (c->o->verbose) fprintf(stderr, "%s[prompt: %zu tokens]%s\n", c->color ? DIM : "", *n, c->color ? RESET : "");
    rc = 0;
done:
    g4_json_free(msgs);
    g4_buf_free(&mj);
    g4_buf_free(&text);
    return rc;
}

static void style(chat *c, bool reasoning) {
    if (!c->color || c->in_reasoning_style == reasoning) return;
    fputs(reasoning ? DIM : RESET, stdout);
    c->in_reasoning_style = reasoning;
}

static void on_text(void *user, g4_parse_kind kind, const char *text, size_t len) {
    chat *c = user;
    if (kind == G4_PARSE_REASONING) {
        g4_buf_add(&c->reasoning, text, len);
        if (c->reasoning_to_stderr) {
            fwrite(text, 1, len, stderr);
        } else {
            style(c, true);
            fwrite(text, 1, len, stdout);
        }
    } else {
        g4_buf_add(&c->content, text, len);
        style(c, false);
        fwrite(text, 1, len, stdout);
    }
    c->saw_output = true;
    fflush(stdout);
}

static void on_tool_call(void *user, int index, const char *name, size_t name_len, const char *args,
                         size_t args_len) {
    chat *c = user;
    style(c, false);
    fprintf(stderr, "%s[tool call %d: %.*s(%.*s) — no tools are declared here]%s\n", c->color ? DIM : "", index,
            (int)name_len, name, (int)args_len, args, c->color ? RESET : "");
}

static bool should_stop(void *user) {
    (void)user;
    return g_cancel != 0;
}

static void sampling_from_opts(const cli_opts *o, g4_sampler_params *sp) {
    if (!isnan(o->temp)) sp->temperature = (float)o->temp;
    if (o->top_k != INT_MIN) sp->top_k = o->top_k;
    if (!isnan(o->top_p)) sp->top_p = (float)o->top_p;
    if (!isnan(o->min_p)) sp->min_p = (float)o->min_p;
    if (!isnan(o->repeat_penalty)) sp->repeat_penalty = (float)o->repeat_penalty;
    if (o->repeat_last_n != INT_MIN) sp->repeat_last_n = o->repeat_last_n;
    if (!isnan(o->presence_penalty)) sp->presence_penalty = (float)o->presence_penalty;
    if (!isnan(o->frequency_penalty)) sp->frequency_penalty = (float)o->frequency_penalty;
    if (o->seed >= 0) sp->seed = (uint64_t)o->seed;
    else sp->seed = G4_SEED_RANDOM;
}

/* One assistant answer to the conversation so far; appends it to the history. */
static int answer(chat *c, g4_gen_result *res) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (build_prompt(c, &ids, &n)) return 1;
    g4_gen_params gp = g4_gen_params_default();
    sampling_from_opts(c->o, &gp.sampling);
    gp.n_predict = c->o->n;
    gp.stop = c->o->stop;
    gp.n_stop = (size_t)c->o->n_stop;
    gp.parse = true;
    gp.in_thinking = false;
    gp.on_text = on_text;
    gp.on_tool_call = on_tool_call;
    gp.should_stop = should_stop;
    gp.media = c->spans;
    gp.n_media = c->n_spans;
    gp.mask = c->o->image_mode && !strcmp(c->o->image_mode, "llamacpp") ? G4_MASK_LLAMACPP : G4_MASK_HF;
    gp.user = c;
    gp.draft = c->draft;
    gp.draft_max = c->o->draft_max;
    gp.draft_fixed = c->o->draft_fixed;
    g4_buf_clear(&c->content);
    g4_buf_clear(&c->reasoning);
    c->saw_output = false;
    g4_error err = {0};
    g_cancel = 0;
    g_generating = 1;
    g4_status st = g4_gen_run(c->gen, ids, n, &gp, res, &err);
    g_generating = 0;
    style(c, false);
    free(ids);
    if (st) {
        if (c->saw_output) fputc('\n', stdout);
        return cli_die(st == G4_ERR_CTX_FULL ? "the conversation does not fit" : "generation failed", &err);
    }
    if (!push_msg(c, "assistant", g4_buf_str(&c->content))) {
        fprintf(stderr, "gemma4c: out of memory\n");
        return 1;
    }
    return 0;
}

static void print_stats(const chat *c, const g4_gen_result *r) {
    double tps = r->t_gen > 0 ? (r->n_gen > 0 ? r->n_gen - (r->finish == G4_FINISH_STOP || r->finish == G4_FINISH_TOOL_CALLS) : 0) / r->t_gen : 0;
    int ev = r->n_prompt - r->n_cached;
    char spec[96] = "";
    if (c->draft)
        snprintf(spec, sizeof spec, " | drafts %d/%d accepted, %.2f tokens per pass", r->n_accepted, r->n_drafted,
                 r->n_passes ? (double)r->n_gen / r->n_passes : 0.0);
    fprintf(stderr, "%s[%d tokens, %.1f tokens/s | prompt %d tokens (%d cached), %.1f tokens/s%s | %s]%s\n",
            c->color ? DIM : "", r->n_gen, tps, r->n_prompt, r->n_cached,
            r->t_prompt > 0 ? ev / r->t_prompt : 0.0, spec, g4_finish_name(r->finish), c->color ? RESET : "");
}

static int chat_open(chat *c, const cli_opts *o) {
    memset(c, 0, sizeof *c);
    c->o = o;
    c->think = o->think;
    c->color = o->color || (!o->no_color && isatty(1) && getenv("NO_COLOR") == NULL);
    c->reasoning_to_stderr = !c->color;
    if (o->system && !(c->system = strdup(o->system))) return 1;
    if (cli_open_engine(o, &c->e)) return 1;
    g4_error err = {0};
    c->v = g4_engine_vocab(c->e, &err);
    if (!c->v) return cli_die("no tokenizer", &err);
    int n_batch = 0;
    if (o->n_media) { /* the projector, and every file of the command line, up front */
        if (cli_media_open(o, c->e, &c->proj)) return 1;
        for (int i = 0; i < o->n_media; i++) {
            if (cli_media_embed(o, c->e, c->proj, &o->media[i], &c->pending[c->n_pending])) return 1;
            if (c->pending[c->n_pending].n_tokens + 2 > n_batch) n_batch = c->pending[c->n_pending].n_tokens + 2;
            c->n_pending++;
        }
        if (n_batch < 512) n_batch = 512;
    }
    if (cli_open_drafter(o, c->e, &c->draft)) return 1;
    if (g4_gen_create(c->e, o->ctx, n_batch, &c->gen, &err)) return cli_die("cannot create a session", &err);
    return 0;
}

static void chat_close(chat *c) {
    clear_hist(c);
    for (int i = 0; i < c->n_pending; i++) cli_media_free(&c->pending[i]);
    free(c->spans);
    g4_mmproj_close(c->proj);
    free(c->hist);
    free(c->system);
    g4_buf_free(&c->content);
    g4_buf_free(&c->reasoning);
    g4_gen_free(c->gen);
    g4_drafter_free(c->draft);
    g4_engine_free(c->e);
}

int cmd_run(const cli_opts *o) {
    size_t len;
    char *prompt = cli_text_arg(o, "prompt", &len);
    if (!prompt) return 2;
    if (strlen(prompt) != len) {
        fprintf(stderr, "gemma4c run: the prompt contains a NUL byte\n");
        free(prompt);
        return 2;
    }
    chat c;
    int rc = chat_open(&c, o);
    if (!rc && (!push_msg(&c, "user", prompt) || !attach_pending(&c))) rc = 1;
    free(prompt);
    signal(SIGINT, on_sigint);
    g4_gen_result r;
    if (!rc) rc = answer(&c, &r);
    if (!rc) {
        fputc('\n', stdout);
        fflush(stdout);
        if (o->verbose) print_stats(&c, &r);
    }
    chat_close(&c);
    return rc;
}

/* ---- chat REPL ---- */

static void chat_help(void) {
    fputs("commands:\n"
          "  /reset            forget the conversation\n"
          "  /system TEXT      set the system prompt (and forget the conversation)\n"
          "  /think on|off     let the model think before answering\n"
          "  /save FILE        write the conversation as JSON messages (for `gemma4c template`)\n"
          "  /image FILE, /audio FILE  attach media to the next message (needs the mmproj)\n"
          "  /quit, /exit      leave (Ctrl-D too); Ctrl-C stops an answer\n"
          "  end a line with \\ to continue it on the next line, or wrap a block in \"\"\"\n",
          stderr);
}

/* Reads one user message (possibly several lines). NULL at end of input. */
static char *read_message(bool tty, bool color) {
    g4_buf b = G4_BUF_INIT;
    char line[4096];
    bool block = false, cont = false;
    for (;;) {
        if (tty) fputs(block || cont ? (color ? DIM "... " RESET : "... ") : (color ? BOLD "> " RESET : "> "), stdout);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) {
            if (b.n) break; /* end of input: answer what was typed */
            g4_buf_free(&b);
            return NULL;
        }
        size_t n = strlen(line);
        bool eol = n && line[n - 1] == '\n';
        if (!eol) { /* a long line: keep reading it */
            g4_buf_add(&b, line, n);
            cont = true;
            continue;
        }
        line[--n] = 0;
        if (n && line[n - 1] == '\r') line[--n] = 0;
        if (!strcmp(line, "\"\"\"")) {
            if (block) break;
            block = true;
            continue;
        }
        if (block) {
            g4_buf_add(&b, line, n);
            g4_buf_addc(&b, '\n');
            continue;
        }
        if (n && line[n - 1] == '\\') {
            g4_buf_add(&b, line, n - 1);
            g4_buf_addc(&b, '\n');
            cont = true;
            continue;
        }
        g4_buf_add(&b, line, n);
        break;
    }
    if (block && b.n && b.p[b.n - 1] == '\n') b.p[--b.n] = 0;
    return g4_buf_take(&b, NULL);
}

static int save_conversation(const chat *c, const char *path) {
    g4_buf b = G4_BUF_INIT;
    messages_json(c, &b, true);
    FILE *f = fopen(path, "wb");
    bool ok = f && g4_buf_ok(&b) && fwrite(b.p, 1, b.n, f) == b.n;
    if (f) ok = fclose(f) == 0 && ok;
    g4_buf_free(&b);
    if (!ok) fprintf(stderr, "gemma4c: cannot write %s: %s\n", path, strerror(errno));
    else fprintf(stderr, "saved %d messages to %s\n", c->n_hist + (c->system ? 1 : 0), path);
    return ok ? 0 : 1;
}

int cmd_chat(const cli_opts *o) {
    chat c;
    if (chat_open(&c, o)) {
        chat_close(&c);
        return 1;
    }
    const bool tty = isatty(0);
    signal(SIGINT, on_sigint);
    if (tty) {
        g4_model_info mi;
        g4_engine_info(c.e, &mi);
        fprintf(stderr, "%s — %d layers, context %d, %s kernels, %d threads. /help for commands.\n",
                mi.name && *mi.name ? mi.name : o->model, mi.n_layer, g4_gen_n_ctx(c.gen), mi.isa, mi.n_threads);
    }
    int rc = 0;
    for (;;) {
        char *in = read_message(tty, c.color);
        if (!in) break;
        char *s = in;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '/') {
            char *arg = s + strcspn(s, " \t");
            if (*arg) *arg++ = 0;
            while (*arg == ' ' || *arg == '\t') arg++;
            if (!strcmp(s, "/quit") || !strcmp(s, "/exit") || !strcmp(s, "/bye")) {
                free(in);
                break;
            } else if (!strcmp(s, "/reset") || !strcmp(s, "/clear")) {
                clear_hist(&c);
                fprintf(stderr, "conversation cleared\n");
            } else if (!strcmp(s, "/system")) {
                free(c.system);
                c.system = *arg ? strdup(arg) : NULL;
                clear_hist(&c);
                fprintf(stderr, *arg ? "system prompt set; conversation cleared\n" : "system prompt removed; conversation cleared\n");
            } else if (!strcmp(s, "/think")) {
                if (!strcmp(arg, "on")) c.think = true;
                else if (!strcmp(arg, "off")) c.think = false;
                else if (!*arg) c.think = !c.think;
                else {
                    fprintf(stderr, "usage: /think on|off\n");
                    free(in);
                    continue;
                }
                fprintf(stderr, "thinking %s\n", c.think ? "on" : "off");
            } else if (!strcmp(s, "/save")) {
                if (!*arg) fprintf(stderr, "usage: /save FILE\n");
                else save_conversation(&c, arg);
            } else if (!strcmp(s, "/image") || !strcmp(s, "/audio")) {
                cli_media_arg ma = {arg, !strcmp(s, "/image")};
                if (!*arg) fprintf(stderr, "usage: %s FILE\n", s);
                else if (c.n_pending == CLI_MAX_MEDIA) fprintf(stderr, "at most %d files per message\n", CLI_MAX_MEDIA);
                else if (!c.proj && cli_media_open(o, c.e, &c.proj)) fprintf(stderr, "(no media without a projector)\n");
                else if (!cli_media_embed(o, c.e, c.proj, &ma, &c.pending[c.n_pending])) {
                    if (c.pending[c.n_pending].n_tokens + 2 > 512)
                        fprintf(stderr, "note: %d soft tokens; larger than one batch\n", c.pending[c.n_pending].n_tokens);
                    fprintf(stderr, "attached %s (%d tokens) to the next message\n", arg, c.pending[c.n_pending].n_tokens);
                    c.n_pending++;
                }
            } else if (!strcmp(s, "/help") || !strcmp(s, "/?")) {
                chat_help();
            } else {
                fprintf(stderr, "unknown command %s (/help lists them)\n", s);
            }
            free(in);
            continue;
        }
        if (!*s) {
            free(in);
            continue;
        }
        bool ok = push_msg(&c, "user", in) && attach_pending(&c);
        free(in);
        if (!ok) {
            rc = 1;
            break;
        }
        g4_gen_result r;
        if (answer(&c, &r)) {
            pop_msg(&c); /* keep the history consistent: drop the unanswered message */
            if (!tty) {
                rc = 1;
                break;
            }
            continue;
        }
        fputc('\n', stdout);
        fflush(stdout);
        print_stats(&c, &r);
    }
    chat_close(&c);
    return rc;
}
