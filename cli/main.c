/* cli/main.c — the gemma4c command line: option parsing, dispatch, info, logits, bench.
 * Argument parsing and output formatting only; everything else goes through g4.h
 * (plus the engine's internal header for the model facts `info`/`bench` print). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "cli.h"
#include "engine/engine.h"
#include "engine/generate.h"
#include "g4.h"
#include "mtp/mtp.h"

#ifndef G4_COMMIT
#define G4_COMMIT "unknown"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "gemma4c — run Google Gemma 4 GGUF models on the CPU, offline\n"
            "\n"
            "usage:\n"
            "  gemma4c run -m MODEL [options] \"PROMPT\"\n"
            "      one answer to PROMPT (\"-\" reads it from stdin), streamed to stdout\n"
            "  gemma4c chat -m MODEL [options]\n"
            "      interactive chat; type /help inside for commands\n"
            "  gemma4c serve -m MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [--ctx N]\n"
            "                [--draft DRAFTER [--draft-max N]]\n"
            "                [--api-key KEY] [--cors ORIGIN] [--alias NAME] [--max-body BYTES]\n"
            "      OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions,\n"
            "      /v1/models, /health, /tokenize, /detokenize); --parallel slots are decoded\n"
            "      together, --ctx is each slot's context, --max-body defaults to 64 MiB\n"
            "  gemma4c media -m MODEL [--mmproj PROJ] (--image FILE | --audio FILE)\n"
            "                [--image-mode hf|llamacpp] --out FILE.gld\n"
            "      the projected media embeddings [n_tokens, n_embd] as a GLD1 file (12B)\n"
            "  gemma4c tokenize -m MODEL [--special] [--bos] TEXT\n"
            "      token ids of TEXT (\"-\" = stdin) as a JSON array; --special parses special\n"
            "      tokens such as <|turn>; --bos prepends <bos>\n"
            "  gemma4c detokenize -m MODEL [--special] IDS\n"
            "      text of the ids (\"2,105,9259\" or a JSON array; \"-\" = stdin); --special\n"
            "      also renders control tokens such as <bos>\n"
            "  gemma4c template -m MODEL --messages FILE.json [--tools FILE.json] [--think]\n"
            "      the rendered Gemma 4 chat prompt (exact bytes) for OpenAI-style messages;\n"
            "      --no-gen-prompt omits the model-turn opener; --layout small|large overrides\n"
            "      the template chosen from the model (E2B/E4B = small, 12B/26B/31B = large)\n"
            "  gemma4c info MODEL [--ctx N]\n"
            "      architecture, sizes, layer pattern, tensor types, weight and KV memory\n"
            "  gemma4c logits -m MODEL --tokens 2,105,... [--out FILE] [--gen N] [--draft D]\n"
            "      evaluate the tokens as one prompt; write the logits of every position as a\n"
            "      GLD1 file [n_tokens, n_vocab] (f32); --gen N prints N greedy tokens as JSON;\n"
            "      with --draft, greedy speculative decoding as llama.cpp's loop: the ids and\n"
            "      every verification step's drafted/accepted counts (the last step may\n"
            "      commit up to --draft-max tokens past N)\n"
            "  gemma4c bench -m MODEL [-p 512] [-n 128] [-r 3] [--draft D [--draft-max K]]\n"
            "      prefill (pp) and decode (tg) speed in tokens/s, one line per case; with\n"
            "      --draft also the cost of verifying 1..K+1 rows and speculative decoding\n"
            "      (fixed lengths 1..K and adaptive): acceptance, tokens per pass, speedup\n"
            "\n"
            "MODEL is a GGUF path, an Ollama model name from the local Ollama store\n"
            "(gemma4:12b; honours OLLAMA_MODELS) or a Hugging Face cache reference\n"
            "(hf:org/repo/file.gguf or hf:org/repo:Q4_K_M, under ~/.cache/huggingface).\n"
            "\n"
            "generation options (run, chat):\n"
            "  --system TEXT     system prompt\n"
            "  --think           let the model think first (reasoning shown dimmed on a tty)\n"
            "  -n N              at most N new tokens (default: until the model stops)\n"
            "  --temp X          temperature (default 1.0; 0 = greedy)\n"
            "  --top-k N         keep the N most likely tokens (default 64; 0 = off)\n"
            "  --top-p X         nucleus sampling (default 0.95; 1 = off)\n"
            "  --min-p X         drop tokens below X * p(best) (default 0 = off)\n"
            "  --repeat-penalty X, --presence-penalty X, --frequency-penalty X\n"
            "  --seed N          random seed (default: random)\n"
            "  --stop STR        stop when STR is generated (repeatable)\n"
            "  --image FILE, --audio FILE  attach media to the prompt (repeatable, in order;\n"
            "                    12B: needs the mmproj file, found next to the model or in\n"
            "                    the Ollama store, or given with --mmproj FILE)\n"
            "  --image-mode M    hf (default: the model's definition) or llamacpp\n"
            "  --draft MODEL     speculative decoding with the model's MTP drafter (the\n"
            "                    gemma-4-*-it-assistant GGUF; also for serve, bench, logits):\n"
            "                    same output, fewer passes of the big model\n"
            "  --draft-max N     longest draft per step (default 3, at most 16); the length\n"
            "                    adapts to the acceptance rate unless --draft-fixed\n"
            "  -v, --verbose     print prompt/generation statistics to stderr\n"
            "  --color, --no-color  force or disable colours (default: on a tty)\n"
            "\n"
            "common options:\n"
            "  -t, --threads N   worker threads (default: all CPUs)\n"
            "  --ctx N           context size (default: min(4096, trained))\n"
            "  --isa NAME        kernels: best (default), avx512, avx2, neon, scalar, or ref\n"
            "                    (ref = weights dequantized to f32, f32 activations)\n"
            "  --gelu MODE       table (default, fp16 lookup like llama.cpp) or exact\n"
            "  --mmap, --no-mmap map the file, or copy the weights into RAM with huge pages\n"
            "                    (faster decode); default: copy when it fits in free RAM\n"
            "  -h, --help        this text\n");
}

int cli_die(const char *what, const g4_error *err) {
    fprintf(stderr, "gemma4c: %s: %s\n", what, err->msg[0] ? err->msg : g4_status_str(err->code));
    return 1;
}
#define die cli_die

typedef cli_opts opts;

static bool parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static bool parse_dbl(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

static bool takes_text(const char *cmd) {
    return !strcmp(cmd, "run") || !strcmp(cmd, "tokenize") || !strcmp(cmd, "detokenize");
}

static int parse_args(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->isa = G4_ISA_BEST;
    o->gelu = G4_GELU_TABLE;
    o->pp = 512;
    o->n = -1;
    o->reps = 3;
    o->temp = o->top_p = o->min_p = o->repeat_penalty = NAN;
    o->presence_penalty = o->frequency_penalty = NAN;
    o->top_k = o->repeat_last_n = INT_MIN;
    o->seed = -1;
    o->draft_max = 3;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    o->cmd = argv[1];
    if (!strcmp(o->cmd, "-h") || !strcmp(o->cmd, "--help") || !strcmp(o->cmd, "help")) {
        usage(stdout);
        return -1;
    }
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    bool opts_done = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (opts_done || a[0] != '-' || !strcmp(a, "-")) {
            if (n_pos == 2) {
                fprintf(stderr, "gemma4c %s: unexpected argument '%s' (quote a prompt with spaces)\n", o->cmd, a);
                return 2;
            }
            pos[n_pos++] = a;
            continue;
        }
#define NEED()                                                                   \
    do {                                                                         \
        if (!v) {                                                                \
            fprintf(stderr, "gemma4c: option %s needs a value\n", a);            \
            return 2;                                                            \
        }                                                                        \
        i++;                                                                     \
    } while (0)
#define INT(dst, lo, hi)                                                         \
    do {                                                                         \
        NEED();                                                                  \
        if (!parse_int(v, lo, hi, &(dst))) {                                     \
            fprintf(stderr, "gemma4c: %s: '%s' is not a number in [%d, %d]\n", a, v, lo, hi); \
            return 2;                                                            \
        }                                                                        \
    } while (0)
#define DBL(dst, lo, hi)                                                         \
    do {                                                                         \
        NEED();                                                                  \
        if (!parse_dbl(v, lo, hi, &(dst))) {                                     \
            fprintf(stderr, "gemma4c: %s: '%s' is not a number in [%g, %g]\n", a, v, (double)(lo), (double)(hi)); \
            return 2;                                                            \
        }                                                                        \
    } while (0)
        if (!strcmp(a, "--")) {
            opts_done = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEED();
            o->model = v;
        } else if (!strcmp(a, "--tokens")) {
            NEED();
            o->tokens = v;
        } else if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            NEED();
            o->out = v;
        } else if (!strcmp(a, "--messages")) {
            NEED();
            o->messages = v;
        } else if (!strcmp(a, "--tools")) {
            NEED();
            o->tools = v;
        } else if (!strcmp(a, "--system") || !strcmp(a, "-s")) {
            NEED();
            o->system = v;
        } else if (!strcmp(a, "--layout")) {
            NEED();
            if (strcmp(v, "small") && strcmp(v, "large")) {
                fprintf(stderr, "gemma4c: --layout: expected 'small' or 'large', got '%s'\n", v);
                return 2;
            }
            o->layout = v;
        } else if (!strcmp(a, "--stop")) {
            NEED();
            if (o->n_stop == CLI_MAX_STOP) {
                fprintf(stderr, "gemma4c: at most %d --stop strings\n", CLI_MAX_STOP);
                return 2;
            }
            if (!*v) {
                fprintf(stderr, "gemma4c: --stop: empty string\n");
                return 2;
            }
            o->stop[o->n_stop++] = v;
        } else if (!strcmp(a, "--mmproj")) {
            NEED();
            o->mmproj = v;
        } else if (!strcmp(a, "--image") || !strcmp(a, "--audio")) {
            NEED();
            if (o->n_media == CLI_MAX_MEDIA) {
                fprintf(stderr, "gemma4c: at most %d --image/--audio files\n", CLI_MAX_MEDIA);
                return 2;
            }
            o->media[o->n_media].path = v;
            o->media[o->n_media++].image = !strcmp(a, "--image");
        } else if (!strcmp(a, "--image-mode")) {
            NEED();
            if (strcmp(v, "hf") && strcmp(v, "llamacpp")) {
                fprintf(stderr, "gemma4c: --image-mode: expected 'hf' (default) or 'llamacpp', got '%s'\n", v);
                return 2;
            }
            o->image_mode = v;
        } else if (!strcmp(a, "--draft") || !strcmp(a, "--model-draft") || !strcmp(a, "-md")) {
            NEED();
            o->draft = v;
        } else if (!strcmp(a, "--draft-max") || !strcmp(a, "--draft-n")) {
            INT(o->draft_max, 1, G4_SPEC_KMAX);
        } else if (!strcmp(a, "--draft-fixed")) {
            o->draft_fixed = true;
        } else if (!strcmp(a, "--host")) {
            NEED();
            o->host = v;
        } else if (!strcmp(a, "--port")) {
            INT(o->port, 1, 65535);
        } else if (!strcmp(a, "--parallel") || !strcmp(a, "-np")) {
            INT(o->parallel, 1, 256);
        } else if (!strcmp(a, "--api-key")) {
            NEED();
            if (!*v) {
                fprintf(stderr, "gemma4c: --api-key: empty key\n");
                return 2;
            }
            o->api_key = v;
        } else if (!strcmp(a, "--cors")) {
            NEED();
            o->cors = v;
        } else if (!strcmp(a, "--alias")) {
            NEED();
            o->alias = v;
        } else if (!strcmp(a, "--max-body")) {
            int mb;
            INT(mb, 1024, 2000000000);
            o->max_body = mb;
        } else if (!strcmp(a, "--think")) {
            o->think = true;
        } else if (!strcmp(a, "--no-think")) {
            o->think = false;
        } else if (!strcmp(a, "--special")) {
            o->special = true;
        } else if (!strcmp(a, "--bos")) {
            o->bos = true;
        } else if (!strcmp(a, "--no-gen-prompt")) {
            o->no_gen_prompt = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = true;
        } else if (!strcmp(a, "--color")) {
            o->color = true;
        } else if (!strcmp(a, "--no-color")) {
            o->no_color = true;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            INT(o->threads, 1, 256);
        } else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) {
            INT(o->ctx, 1, 1 << 24);
        } else if (!strcmp(a, "--gen")) {
            INT(o->gen, 0, 1 << 20);
        } else if (!strcmp(a, "-p")) {
            INT(o->pp, 0, 1 << 20);
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            INT(o->n, -1, 1 << 24);
        } else if (!strcmp(a, "-r")) {
            INT(o->reps, 1, 1000);
        } else if (!strcmp(a, "--temp") || !strcmp(a, "--temperature")) {
            DBL(o->temp, 0, 100);
        } else if (!strcmp(a, "--top-k")) {
            INT(o->top_k, 0, 1 << 24);
        } else if (!strcmp(a, "--top-p")) {
            DBL(o->top_p, 0, 1);
        } else if (!strcmp(a, "--min-p")) {
            DBL(o->min_p, 0, 1);
        } else if (!strcmp(a, "--repeat-penalty")) {
            DBL(o->repeat_penalty, 0, 100);
        } else if (!strcmp(a, "--repeat-last-n")) {
            INT(o->repeat_last_n, -1, 1 << 24);
        } else if (!strcmp(a, "--presence-penalty")) {
            DBL(o->presence_penalty, -2, 2);
        } else if (!strcmp(a, "--frequency-penalty")) {
            DBL(o->frequency_penalty, -2, 2);
        } else if (!strcmp(a, "--seed")) {
            NEED();
            char *end;
            errno = 0;
            long long sv = strtoll(v, &end, 10);
            if (errno || end == v || *end || sv < -1) {
                fprintf(stderr, "gemma4c: --seed: '%s' is not a number >= -1\n", v);
                return 2;
            }
            o->seed = sv;
        } else if (!strcmp(a, "--no-mmap")) {
            o->load = G4_LOAD_COPY;
        } else if (!strcmp(a, "--mmap")) {
            o->load = G4_LOAD_MMAP;
        } else if (!strcmp(a, "--isa")) {
            NEED();
            if (!g4_isa_parse(v, &o->isa)) {
                fprintf(stderr, "gemma4c: --isa: unknown '%s' (best, avx512, avx2, neon, scalar, ref)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--gelu")) {
            NEED();
            if (!strcmp(v, "table")) o->gelu = G4_GELU_TABLE;
            else if (!strcmp(v, "exact")) o->gelu = G4_GELU_EXACT;
            else {
                fprintf(stderr, "gemma4c: --gelu: expected 'table' or 'exact', got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "gemma4c: unknown option '%s' (see gemma4c --help)\n", a);
            return 2;
        }
#undef INT
#undef DBL
#undef NEED
    }
    /* positionals: [MODEL] [TEXT] — the model comes first when -m is not given */
    int k = 0;
    if (!o->model && k < n_pos && (n_pos == 2 || !takes_text(o->cmd))) o->model = pos[k++];
    if (k < n_pos) {
        if (!takes_text(o->cmd)) {
            fprintf(stderr, "gemma4c %s: unexpected argument '%s'\n", o->cmd, pos[k]);
            return 2;
        }
        o->text = pos[k++];
    }
    if (!o->model) {
        fprintf(stderr, "gemma4c %s: no model given (-m FILE.gguf, an Ollama name such as gemma4:12b, "
                        "or hf:org/repo/file.gguf)\n", o->cmd);
        return 2;
    }
    return 0;
}

static bool show_progress(void *user, uint64_t done, uint64_t total) {
    int *last = user;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    if (pct != *last) {
        fprintf(stderr, "\rloading %3d%%", pct);
        if (pct == 100) fputc('\n', stderr);
        *last = pct;
    }
    return true;
}

int cli_open_engine(const opts *o, g4_engine **e) {
    g4_engine_config cfg = g4_engine_config_default();
    static int last = -1;
    cfg.model_path = o->model_path;
    cfg.n_threads = o->threads;
    cfg.max_isa = o->isa;
    cfg.gelu = o->gelu;
    cfg.load = o->load;
    struct stat st;
    if (stat(o->model_path, &st) == 0 && st.st_size > (256L << 20) && isatty(2)) {
        cfg.progress = show_progress;
        cfg.progress_user = &last;
    }
    g4_error err = {0};
    if (g4_engine_open(&cfg, e, &err)) return die("cannot load model", &err);
    return 0;
}
#define open_engine cli_open_engine

int cli_open_drafter(const opts *o, g4_engine *e, g4_drafter **d) {
    *d = NULL;
    if (!o->draft) return 0;
    g4_error err = {0};
    if (g4_drafter_open(o->draft_path, e, d, &err)) {
        fprintf(stderr,
                "gemma4c: cannot use %s as the drafter: %s\n"
                "  (--draft takes the MTP assistant GGUF made for this model, e.g. gemma-4-12b-it-assistant "
                "for gemma-4-12b-it)\n",
                o->draft_path, err.msg[0] ? err.msg : g4_status_str(err.code));
        return 1;
    }
    return 0;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "gemma4c: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = cap > ((size_t)1 << 31) ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                fprintf(stderr, "gemma4c: %s is too large\n", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - 1 - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) {
                fprintf(stderr, "gemma4c: read error on %s\n", strcmp(path, "-") ? path : "stdin");
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin) fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

char *cli_text_arg(const opts *o, const char *what, size_t *len) {
    if (!o->text) {
        fprintf(stderr, "gemma4c %s: no %s given (pass it as an argument, or - to read stdin)\n", o->cmd, what);
        return NULL;
    }
    if (!strcmp(o->text, "-")) return cli_read_file("-", len);
    char *s = strdup(o->text);
    if (s && len) *len = strlen(s);
    return s;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- info ---- */

static int cmd_info(const opts *o) {
    g4_engine *e;
    opts oi = *o;
    oi.load = G4_LOAD_MMAP; /* only metadata is read: no reason to copy the weights */
    if (open_engine(&oi, &e)) return 1;
    size_t n = g4_engine_describe(e, o->ctx, NULL, 0);
    char *buf = malloc(n + 1);
    if (!buf) return 1;
    g4_engine_describe(e, o->ctx, buf, n + 1);
    printf("file              %s\n%s", o->model_path, buf);
    g4_model_info mi;
    g4_engine_info(e, &mi);
    printf("kernels           %s, %d threads\n", mi.isa, mi.n_threads);
    free(buf);
    g4_engine_free(e);
    return 0;
}

/* ---- logits ---- */

/* "2,105,9259", "2 105 9259" or "[2, 105, 9259]". */
int cli_parse_ids(const char *s, const char *what, int32_t **out, size_t *n) {
    size_t cap = 64, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t' || *p == '\r' || *p == '[' || *p == ']') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long t = strtol(p, &end, 10);
        if (end == p || errno || t < 0 || t > INT32_MAX) {
            fprintf(stderr, "gemma4c %s: bad token id at '%.20s' (expected e.g. 2,105,9259 or [2, 105])\n", what, p);
            free(v);
            return -1;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return -1;
            }
            v = nv;
        }
        v[k++] = (int32_t)t;
        p = end;
    }
    *out = v;
    *n = k;
    return 0;
}


int cli_write_gld(const char *path, const float *data, int rows, int cols) {
    FILE *f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "gemma4c: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    uint32_t hdr[5] = {0, 0, 2, (uint32_t)rows, (uint32_t)cols};
    memcpy(hdr, "GLD1", 4);
    bool ok = fwrite(hdr, 4, 5, f) == 5 && fwrite(data, sizeof(float), (size_t)rows * cols, f) == (size_t)rows * cols;
    if (f != stdout) ok = fclose(f) == 0 && ok;
    if (!ok) fprintf(stderr, "gemma4c: write error on %s\n", path);
    return ok ? 0 : 1;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void json_piece(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!strncmp(s, "\xe2\x96\x81", 3)) { /* ▁ -> space */
            putchar(' ');
            s += 2;
        } else if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
}

/* logits --draft: greedy speculative decoding as llama.cpp's loop (mtp.h), one JSON object
 * with the generated ids and every verification step's drafted / accepted counts. */
typedef struct {
    int n_steps;
} spec_log;

static void on_spec_step(void *user, int n_draft, int n_accepted, const int32_t *ids, int n_ids) {
    spec_log *l = user;
    printf("%s\n  {\"drafted\": %d, \"accepted\": %d, \"ids\": [", l->n_steps++ ? "," : "", n_draft, n_accepted);
    for (int i = 0; i < n_ids; i++) printf("%s%d", i ? ", " : "", ids[i]);
    printf("]}");
}

static int logits_spec(const opts *o, g4_engine *e, g4_session *s, const int32_t *toks, int n) {
    g4_drafter *d;
    if (cli_open_drafter(o, e, &d)) return 1;
    const int cap = o->gen + o->draft_max;
    int32_t *out = malloc((size_t)cap * sizeof *out);
    if (!out) {
        g4_drafter_free(d);
        return 1;
    }
    spec_log log = {0};
    g4_spec_params sp = {.n_draft = o->draft_max, .n_max = o->gen, .stop_eos = false, .on_step = on_spec_step, .user = &log};
    g4_spec_stats st;
    g4_error err = {0};
    printf("{\"prompt_tokens\": %d, \"draft_max\": %d, \"steps\": [", n, o->draft_max);
    int rc = 0;
    if (g4_spec_generate_greedy(d, s, toks, n, &sp, out, cap, &st, &err)) {
        printf("]}\n");
        rc = die("speculative decoding failed", &err);
    } else {
        printf("\n], \"generated\": [");
        for (int i = 0; i < st.n_gen; i++) printf("%s%d", i ? ", " : "", out[i]);
        const g4_model *m = g4_engine_model(e);
        printf("], \"n_drafted\": %d, \"n_accepted\": %d, \"n_rounds\": %d, \"text\": \"", st.n_drafted,
               st.n_accepted, st.n_rounds);
        for (int i = 0; i < st.n_gen; i++)
            if (m->vocab) json_piece(m->vocab[out[i]]);
        printf("\"}\n");
    }
    free(out);
    g4_drafter_free(d);
    return rc;
}

static int cmd_logits(const opts *o) {
    if (!o->tokens) {
        fprintf(stderr, "gemma4c logits: --tokens is required (comma-separated ids)\n");
        return 2;
    }
    int32_t *toks;
    int n;
    size_t n_ids = 0;
    if (cli_parse_ids(o->tokens, "logits --tokens", &toks, &n_ids)) return 2;
    if (!n_ids || n_ids > INT32_MAX) {
        fprintf(stderr, "gemma4c: --tokens: no token ids\n");
        free(toks);
        return 2;
    }
    n = (int)n_ids;
    g4_engine *e;
    if (open_engine(o, &e)) {
        free(toks);
        return 1;
    }
    const int V = g4_engine_n_vocab(e);
    int rc = 1;
    float *logits = NULL;
    g4_session *s = NULL;
    g4_error err = {0};
    g4_session_config sc = g4_session_config_default();
    sc.n_ctx = o->ctx ? o->ctx : n + o->gen + 1 + (o->draft ? o->draft_max : 0);
    sc.n_batch = n > o->draft_max + 1 ? n : o->draft_max + 1;
    if (g4_session_create(e, &sc, &s, &err)) {
        die("cannot create session", &err);
        goto done;
    }
    logits = malloc((size_t)n * V * sizeof *logits);
    if (!logits) goto done;
    for (int i = 0; i < n; i++)
        if (toks[i] >= V) {
            fprintf(stderr, "gemma4c: token id %d is outside the vocabulary (%d)\n", toks[i], V);
            goto done;
        }
    if (o->draft && o->gen > 0) {
        if (o->out) { /* the logits file first, then decode afresh */
            if (g4_session_eval(s, toks, n, true, logits, &err)) {
                die("evaluation failed", &err);
                goto done;
            }
            if (cli_write_gld(o->out, logits, n, V) || g4_session_truncate(s, 0, 0, &err)) goto done;
        }
        rc = logits_spec(o, e, s, toks, n);
        goto done;
    }
    if (g4_session_eval(s, toks, n, true, logits, &err)) {
        die("evaluation failed", &err);
        goto done;
    }
    if (o->out && cli_write_gld(o->out, logits, n, V)) goto done;
    if (o->gen > 0) {
        const g4_model *m = g4_engine_model(e);
        int32_t tok = argmax(logits + (size_t)(n - 1) * V, V);
        printf("{\"prompt_tokens\": %d, \"generated\": [", n);
        int32_t *gen = malloc((size_t)o->gen * sizeof *gen);
        if (!gen) goto done;
        for (int i = 0; i < o->gen; i++) {
            gen[i] = tok;
            printf("%s%d", i ? ", " : "", tok);
            if (i + 1 == o->gen) break;
            if (g4_session_eval(s, &tok, 1, false, logits, &err)) {
                printf("]}\n");
                free(gen);
                die("evaluation failed", &err);
                goto done;
            }
            tok = argmax(logits, V);
        }
        printf("], \"text\": \"");
        for (int i = 0; i < o->gen; i++)
            if (m->vocab) json_piece(m->vocab[gen[i]]);
        printf("\"}\n");
        free(gen);
    }
    rc = 0;
done:
    free(logits);
    free(toks);
    g4_session_free(s);
    g4_engine_free(e);
    return rc;
}

/* ---- bench ---- */

#define now_s cli_now

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* bench --draft: the cost of a verification pass of k+1 rows relative to one decode step
 * (k = 0..draft-max), then greedy decoding of tg tokens plain, with every fixed draft
 * length and with the adaptive one: tokens/s, acceptance, tokens per target pass and
 * the speedup over plain. Prompt: 32 random ids >= 256 (below that the real vocabulary
 * has its control tokens), the end-of-generation tokens ignored. */
static int bench_spec(const opts *o, g4_engine *e, const char *base, int tg) {
    g4_drafter *d;
    if (cli_open_drafter(o, e, &d)) return 1;
    const int V = g4_engine_n_vocab(e), K = o->draft_max, NP = 32;
    int rc = 0;
    int32_t prompt[32];
    unsigned rng = 777;
    for (int i = 0; i < NP; i++) {
        rng = rng * 1103515245u + 12345u;
        prompt[i] = V > 1024 ? 256 + (int32_t)((rng >> 8) % (unsigned)(V - 256)) : 2 + (int32_t)((rng >> 8) % (unsigned)(V - 2));
    }
    /* verification pass cost */
    g4_session_config sc = g4_session_config_default();
    sc.n_ctx = NP + K + 2;
    sc.n_batch = NP;
    g4_session *s = NULL;
    g4_error err = {0};
    float *lg = malloc((size_t)(K + 1) * (size_t)V * sizeof *lg);
    double t_pass[G4_SPEC_KMAX + 1];
    if (!lg || g4_session_create(e, &sc, &s, &err) || g4_session_eval(s, prompt, NP, false, NULL, &err)) {
        rc = die("bench --draft", &err);
        goto out;
    }
    for (int k = 0; k <= K && !rc; k++) {
        int32_t toks[G4_SPEC_KMAX + 1], pos[G4_SPEC_KMAX + 1];
        bool want[G4_SPEC_KMAX + 1];
        for (int i = 0; i <= k; i++) {
            toks[i] = prompt[i];
            pos[i] = NP + i;
            want[i] = true;
        }
        double ts[16];
        const int reps = o->reps < 16 ? o->reps : 16;
        for (int r = 0; r <= reps && !rc; r++) { /* the first pass warms up */
            g4_batch b = {.n = k + 1, .tokens = toks, .pos = pos, .want = want};
            const double t0 = now_s();
            if (g4_session_decode(s, &b, lg, &err) || g4_session_truncate(s, 0, NP, &err)) rc = die("bench --draft", &err);
            if (r) ts[r - 1] = now_s() - t0;
        }
        if (rc) break;
        qsort(ts, (size_t)reps, sizeof *ts, cmp_d);
        t_pass[k] = ts[reps / 2];
        printf("model=%s test=verify rows=%d ms=%.1f vs_decode=%.2f\n", base, k + 1, t_pass[k] * 1e3,
               t_pass[k] / t_pass[0]);
        fflush(stdout);
    }
    /* generation: plain, fixed lengths 1..K, adaptive; the modes take turns within each
     * repetition and the speedup is the median over repetitions of t/s(mode) / t/s(plain
     * of the same repetition), so that this machine's bandwidth drift (+-20 % between
     * minutes) hits both sides of a ratio alike */
    g4_gen *g = NULL;
    if (!rc && g4_gen_create(e, NP + tg + K + 2, NP > K + 1 ? NP : K + 1, &g, &err)) rc = die("bench --draft", &err);
    enum { MAXR = 16 };
    const int reps = o->reps < MAXR ? o->reps : MAXR, n_modes = K + 2; /* 0 plain, 1..K fixed, K+1 adaptive */
    double tps[G4_SPEC_KMAX + 2][MAXR], ratio[G4_SPEC_KMAX + 2][MAXR];
    g4_gen_result res[G4_SPEC_KMAX + 2];
    memset(res, 0, sizeof res);
    for (int r = 0; r < reps && !rc; r++) {
        for (int mode = 0; mode < n_modes && !rc; mode++) {
            g4_gen_params p = g4_gen_params_default();
            p.parse = false;
            p.ignore_eos = true;
            p.sampling.temperature = 0;
            p.n_predict = tg;
            if (mode > 0) {
                p.draft = d;
                p.draft_max = mode <= K ? mode : K;
                p.draft_fixed = mode <= K;
            }
            g4_gen_result r1;
            g4_gen_reset(g);
            if (g4_gen_run(g, prompt, NP, &p, &r1, &err)) {
                rc = die("bench --draft", &err);
                break;
            }
            tps[mode][r] = r1.t_gen > 0 ? (r1.n_gen - 1) / r1.t_gen : 0; /* the first token comes from the prompt */
            ratio[mode][r] = tps[0][r] > 0 ? tps[mode][r] / tps[0][r] : 0;
            res[mode].n_gen += r1.n_gen - 1;
            res[mode].n_drafted += r1.n_drafted;
            res[mode].n_accepted += r1.n_accepted;
            res[mode].n_passes += r1.n_passes;
        }
    }
    for (int mode = 0; mode < n_modes && !rc; mode++) {
        qsort(tps[mode], (size_t)reps, sizeof(double), cmp_d);
        qsort(ratio[mode], (size_t)reps, sizeof(double), cmp_d);
        if (mode == 0) {
            printf("model=%s test=tg%d draft=none t/s=%.2f reps=%d\n", base, tg, tps[0][reps / 2], reps);
        } else {
            char what[32];
            if (mode <= K) snprintf(what, sizeof what, "fixed%d", mode);
            else snprintf(what, sizeof what, "adaptive%d", K);
            const g4_gen_result *q = &res[mode];
            printf("model=%s test=tg%d draft=%s t/s=%.2f acceptance=%.3f tokens_per_pass=%.2f speedup=%.2f "
                   "(min %.2f max %.2f)\n",
                   base, tg, what, tps[mode][reps / 2], q->n_drafted ? (double)q->n_accepted / q->n_drafted : 0.0,
                   q->n_passes ? (double)q->n_gen / q->n_passes : 0.0, ratio[mode][reps / 2], ratio[mode][0],
                   ratio[mode][reps - 1]);
        }
        fflush(stdout);
    }
    g4_gen_free(g);
out:
    free(lg);
    g4_session_free(s);
    g4_drafter_free(d);
    return rc;
}

static int cmd_bench(const opts *o) {
    g4_engine *e;
    if (open_engine(o, &e)) return 1;
    g4_model_info mi;
    g4_engine_info(e, &mi);
    const int V = mi.n_vocab;
    const char *base = strrchr(o->model, '/') ? strrchr(o->model, '/') + 1 : o->model; /* as given */
    const double gb_tok = (double)g4_engine_decode_bytes(e) / 1e9;
    float *logits = malloc((size_t)V * sizeof *logits);
    int rc = 0;
    const int tg = o->n < 0 ? 128 : o->n;
    int cases[2] = {o->pp, tg};
    const int max_tok = o->pp > tg ? o->pp : tg;
    int32_t *toks = malloc((size_t)(max_tok > 0 ? max_tok : 1) * sizeof *toks);
    if (!logits || !toks) return 1;
    unsigned rng = 12345;
    for (int i = 0; i < max_tok; i++) {
        rng = rng * 1103515245u + 12345u;
        toks[i] = 2 + (int32_t)((rng >> 8) % (unsigned)(V - 2));
    }
    for (int c = 0; c < 2; c++) {
        const int nt = cases[c];
        if (nt <= 0 || (c == 1 && o->draft)) continue; /* --draft: bench_spec measures plain decoding too */
        double *ts = calloc((size_t)o->reps, sizeof *ts);
        for (int r = 0; r < o->reps + 1; r++) { /* first run warms up */
            g4_session_config sc = g4_session_config_default();
            sc.n_ctx = nt + 1;
            sc.n_batch = c == 0 ? nt : 1;
            g4_session *s;
            g4_error err = {0};
            if (g4_session_create(e, &sc, &s, &err)) {
                rc = die("cannot create session", &err);
                break;
            }
            double t0 = now_s();
            if (c == 0) {
                if (g4_session_eval(s, toks, nt, false, logits, &err)) rc = die("prefill failed", &err);
            } else {
                for (int i = 0; i < nt && !rc; i++)
                    if (g4_session_eval(s, &toks[i], 1, false, logits, &err)) rc = die("decode failed", &err);
            }
            double dt = now_s() - t0;
            g4_session_free(s);
            if (rc) break;
            if (r > 0) ts[r - 1] = dt;
        }
        if (rc) {
            free(ts);
            break;
        }
        qsort(ts, (size_t)o->reps, sizeof *ts, cmp_d);
        double med = ts[o->reps / 2], tps = nt / med, best = nt / ts[0];
        printf("model=%s type=%s isa=%s threads=%d test=%s%d t/s=%.2f best_t/s=%.2f", base,
               g4_engine_main_type(e), mi.isa, mi.n_threads, c == 0 ? "pp" : "tg", nt, tps, best);
        if (c == 1) printf(" weight_gb_per_tok=%.3f eff_gbps=%.2f", gb_tok, gb_tok * tps);
        printf(" commit=%s\n", G4_COMMIT);
        fflush(stdout);
        free(ts);
    }
    if (!rc && o->draft) rc = bench_spec(o, e, base, tg > 0 ? tg : 128);
    free(toks);
    free(logits);
    g4_engine_free(e);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    int r = parse_args(argc, argv, &o);
    if (r < 0) return 0;
    if (r) return r;
    static const char *const known[] = {"info", "logits", "bench", "run", "chat", "tokenize",
                                        "detokenize", "template", "serve", "media"};
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= !strcmp(o.cmd, known[i]);
    if (!ok) {
        fprintf(stderr, "gemma4c: unknown command '%s' (see gemma4c --help)\n", o.cmd);
        return 2;
    }
    char *resolved = NULL;
    g4_error err = {0};
    if (g4_model_resolve(o.model, &resolved, &err)) return die("model not found", &err);
    o.model_path = resolved;
    char *resolved_draft = NULL;
    if (o.draft) {
        if (g4_model_resolve(o.draft, &resolved_draft, &err)) {
            free(resolved);
            return die("drafter not found", &err);
        }
        o.draft_path = resolved_draft;
    }
    int rc = 2;
    if (!strcmp(o.cmd, "info")) rc = cmd_info(&o);
    else if (!strcmp(o.cmd, "logits")) rc = cmd_logits(&o);
    else if (!strcmp(o.cmd, "bench")) rc = cmd_bench(&o);
    else if (!strcmp(o.cmd, "run")) rc = cmd_run(&o);
    else if (!strcmp(o.cmd, "chat")) rc = cmd_chat(&o);
    else if (!strcmp(o.cmd, "tokenize")) rc = cmd_tokenize(&o);
    else if (!strcmp(o.cmd, "detokenize")) rc = cmd_detokenize(&o);
    else if (!strcmp(o.cmd, "template")) rc = cmd_template(&o);
    else if (!strcmp(o.cmd, "serve")) rc = cmd_serve(&o);
    else if (!strcmp(o.cmd, "media")) rc = cmd_media(&o);
    free(resolved);
    free(resolved_draft);
    return rc;
}
