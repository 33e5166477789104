/* cli/main.c — the gemma4c command line: info, logits, bench.
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

#include "engine/engine.h"
#include "g4.h"

#ifndef G4_COMMIT
#define G4_COMMIT "unknown"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "gemma4c — run Google Gemma 4 GGUF models on the CPU\n"
            "\n"
            "usage:\n"
            "  gemma4c info MODEL [--ctx N]\n"
            "      architecture, sizes, layer pattern, tensor types, weight and KV memory\n"
            "  gemma4c logits -m MODEL --tokens 2,105,... [--out FILE] [--gen N]\n"
            "      evaluate the tokens as one prompt; write the logits of every position as a\n"
            "      GLD1 file [n_tokens, n_vocab] (f32); --gen N prints N greedy tokens as JSON\n"
            "  gemma4c bench -m MODEL [-p 512] [-n 128] [-r 3]\n"
            "      prefill (pp) and decode (tg) speed in tokens/s, one line per case\n"
            "\n"
            "common options:\n"
            "  -t, --threads N   worker threads (default: all CPUs)\n"
            "  --isa NAME        kernels: best (default), avx512, avx2, scalar, or ref\n"
            "                    (ref = weights dequantized to f32, f32 activations)\n"
            "  --gelu MODE       table (default, fp16 lookup like llama.cpp) or exact\n"
            "  --ctx N           context size (default: min(4096, trained))\n"
            "  --mmap, --no-mmap map the file, or copy the weights into RAM with huge pages\n"
            "                    (faster decode); default: copy when it fits in free RAM\n"
            "  -h, --help        this text\n");
}

static int die(const char *what, const g4_error *err) {
    fprintf(stderr, "gemma4c: %s: %s\n", what, err->msg[0] ? err->msg : g4_status_str(err->code));
    return 1;
}

typedef struct {
    const char *cmd, *model, *tokens, *out;
    int threads, ctx, gen, pp, tg, reps;
    g4_isa isa;
    g4_gelu_mode gelu;
    g4_load_mode load;
} opts;

static bool parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static int parse_args(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->isa = G4_ISA_BEST;
    o->gelu = G4_GELU_TABLE;
    o->pp = 512;
    o->tg = 128;
    o->reps = 3;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    o->cmd = argv[1];
    if (!strcmp(o->cmd, "-h") || !strcmp(o->cmd, "--help") || !strcmp(o->cmd, "help")) {
        usage(stdout);
        return -1;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
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
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
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
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            INT(o->threads, 1, 256);
        } else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) {
            INT(o->ctx, 1, 1 << 24);
        } else if (!strcmp(a, "--gen")) {
            INT(o->gen, 0, 1 << 20);
        } else if (!strcmp(a, "-p")) {
            INT(o->pp, 0, 1 << 20);
        } else if (!strcmp(a, "-n")) {
            INT(o->tg, 0, 1 << 20);
        } else if (!strcmp(a, "-r")) {
            INT(o->reps, 1, 1000);
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
        } else if (a[0] != '-' && !o->model) {
            o->model = a;
        } else {
            fprintf(stderr, "gemma4c: unknown option '%s' (see gemma4c --help)\n", a);
            return 2;
        }
#undef INT
#undef NEED
    }
    if (!o->model) {
        fprintf(stderr, "gemma4c %s: no model given (-m FILE.gguf)\n", o->cmd);
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

static int open_engine(const opts *o, g4_engine **e) {
    g4_engine_config cfg = g4_engine_config_default();
    static int last = -1;
    cfg.model_path = o->model;
    cfg.n_threads = o->threads;
    cfg.max_isa = o->isa;
    cfg.gelu = o->gelu;
    cfg.load = o->load;
    FILE *f = fopen(o->model, "rb");
    if (f) {
        if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (256L << 20) && isatty(2)) {
            cfg.progress = show_progress;
            cfg.progress_user = &last;
        }
        fclose(f);
    }
    g4_error err = {0};
    if (g4_engine_open(&cfg, e, &err)) return die("cannot load model", &err);
    return 0;
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
    printf("file              %s\n%s", o->model, buf);
    g4_model_info mi;
    g4_engine_info(e, &mi);
    printf("kernels           %s, %d threads\n", mi.isa, mi.n_threads);
    free(buf);
    g4_engine_free(e);
    return 0;
}

/* ---- logits ---- */

static int parse_tokens(const char *s, int32_t **out, int *n) {
    int cap = 16, k = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (!v) return -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long t = strtol(p, &end, 10);
        if (end == p || errno || t < 0 || t > INT32_MAX) {
            fprintf(stderr, "gemma4c: --tokens: bad token id at '%.20s' (expected e.g. 2,105,1234)\n", p);
            free(v);
            return -1;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return -1;
            }
            v = nv;
        }
        v[k++] = (int32_t)t;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    if (!k) {
        fprintf(stderr, "gemma4c: --tokens: no token ids\n");
        free(v);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

static int write_gld(const char *path, const float *data, int rows, int cols) {
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

static int cmd_logits(const opts *o) {
    if (!o->tokens) {
        fprintf(stderr, "gemma4c logits: --tokens is required (comma-separated ids)\n");
        return 2;
    }
    int32_t *toks;
    int n;
    if (parse_tokens(o->tokens, &toks, &n)) return 2;
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
    sc.n_ctx = o->ctx ? o->ctx : n + o->gen + 1;
    sc.n_batch = n;
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
    if (g4_session_eval(s, toks, n, true, logits, &err)) {
        die("evaluation failed", &err);
        goto done;
    }
    if (o->out && write_gld(o->out, logits, n, V)) goto done;
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

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmd_bench(const opts *o) {
    g4_engine *e;
    if (open_engine(o, &e)) return 1;
    g4_model_info mi;
    g4_engine_info(e, &mi);
    const int V = mi.n_vocab;
    const char *base = strrchr(o->model, '/') ? strrchr(o->model, '/') + 1 : o->model;
    const double gb_tok = (double)g4_engine_decode_bytes(e) / 1e9;
    float *logits = malloc((size_t)V * sizeof *logits);
    int rc = 0;
    int cases[2] = {o->pp, o->tg};
    const int max_tok = o->pp > o->tg ? o->pp : o->tg;
    int32_t *toks = malloc((size_t)(max_tok > 0 ? max_tok : 1) * sizeof *toks);
    if (!logits || !toks) return 1;
    unsigned rng = 12345;
    for (int i = 0; i < max_tok; i++) {
        rng = rng * 1103515245u + 12345u;
        toks[i] = 2 + (int32_t)((rng >> 8) % (unsigned)(V - 2));
    }
    for (int c = 0; c < 2; c++) {
        const int nt = cases[c];
        if (nt <= 0) continue;
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
    if (!strcmp(o.cmd, "info")) return cmd_info(&o);
    if (!strcmp(o.cmd, "logits")) return cmd_logits(&o);
    if (!strcmp(o.cmd, "bench")) return cmd_bench(&o);
    fprintf(stderr, "gemma4c: unknown command '%s' (see gemma4c --help)\n", o.cmd);
    return 2;
}
