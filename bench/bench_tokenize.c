/* bench_tokenize.c — the tokenizer at real scale: load time of the 262144-token Gemma 4
 * vocabulary and encode / decode throughput on ~1 MB inputs of different shapes.
 *
 *   bench_tokenize [VOCAB.gguf] [--mb N] [--min-time SECONDS] [--case NAME]
 *
 * Without VOCAB it uses the test vocabulary (tests/data/vocab/gemma4-vocab.gguf.gz,
 * unpacked into the build directory; see docs/TOKENIZER.md). Inputs are generated
 * deterministically: English prose, C source, mixed CJK / emoji, one 1 MB word without
 * spaces (worst case for the merge loop), 1 MB of spaces, 1 MB of newlines, a chat
 * transcript full of special tokens, and random bytes (mostly invalid UTF-8).
 *
 * Output: one line per case, e.g.
 *   case=prose bytes=1048576 tokens=230000 encode_ms=.. encode_mbps=.. decode_mbps=.. commit=..
 * Never asserts (the tests do); exits non-zero only when the vocabulary cannot be loaded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/vocab_gguf.h"
#include "text/tokenize.h"
#include "text/vocab.h"

#ifndef G4_COMMIT
#define G4_COMMIT "unknown"
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 1 << 16;
        while (nc < b->n + n) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static const char *pick(const char *const *a, size_t n) { return a[rnd() % n]; }
#define PICK(a) pick(a, sizeof(a) / sizeof((a)[0]))

static void gen_prose(sbuf *b, size_t target) {
    static const char *const W[] = {
        "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with",
        "be", "by", "on", "not", "he", "I", "this", "are", "or", "his", "from", "at", "which",
        "but", "have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can",
        "her", "has", "there", "been", "if", "more", "when", "will", "would", "who", "so",
        "no", "government", "understanding", "remarkable", "particularly", "experience",
        "thousands", "development", "information", "considered", "throughout", "Mr.", "London",
        "October", "however", "nevertheless", "significant", "approximately", "opportunity"};
    static const char *const P[] = {" ", " ", " ", " ", " ", " ", ", ", ". ", "; ", ".\n", ".\n\n",
                                    " (", ") ", "? ", "! ", " — ", "'s "};
    while (b->n < target) {
        const char *w = PICK(W);
        if (rnd() % 12 == 0) {
            char cap[32];
            snprintf(cap, sizeof cap, "%s", w);
            if (cap[0] >= 'a' && cap[0] <= 'z') cap[0] = (char)(cap[0] - 32);
            puts_(b, cap);
        } else {
            puts_(b, w);
        }
        puts_(b, PICK(P));
    }
}

static void gen_code(sbuf *b, size_t target) {
    static const char *const T[] = {"int", "size_t", "float", "uint8_t", "const char *",
                                    "g4_status", "double", "int32_t"};
    static const char *const N[] = {"count", "buf", "len", "ctx", "node", "value", "result",
                                    "offset", "i", "j", "tmp", "head", "next_ptr", "n_items"};
    int fn = 0;
    while (b->n < target) {
        char line[512];
        snprintf(line, sizeof line,
                 "/* %s: compute the %s of %s */\n"
                 "static %s fn_%d(%s %s, %s %s) {\n"
                 "    if (%s == NULL || %s <= 0) return -1;\n"
                 "    for (size_t %s = 0; %s < %s; %s++) {\n"
                 "        %s += (%s[%s] * 31u) ^ 0x%04X;\n"
                 "\t\tif (%s > %d) break;\n"
                 "    }\n"
                 "    return (%s)%s;\n"
                 "}\n\n",
                 PICK(N), PICK(N), PICK(N), PICK(T), fn++, PICK(T), PICK(N), PICK(T), PICK(N),
                 PICK(N), PICK(N), PICK(N), PICK(N), PICK(N), PICK(N), PICK(N), PICK(N), PICK(N),
                 rnd() & 0xFFFF, PICK(N), (int)(rnd() % 1000), PICK(T), PICK(N));
        puts_(b, line);
    }
}

static void gen_cjk_emoji(sbuf *b, size_t target) {
    static const char *const S[] = {
        "我爱北京天安门。", "今天天气很好，我们去公园散步吧！", "机器学习是人工智能的一个分支。",
        "東京は日本の首都です。", "カタカナとひらがなと漢字", "안녕하세요, 만나서 반갑습니다.",
        "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "❤️", "🤖🧠💡", " ", "\n", "，", "。"};
    while (b->n < target) {
        if (rnd() % 3 == 0) { /* a random CJK ideograph */
            uint32_t c = 0x4E00 + rnd() % (0x9FFF - 0x4E00);
            char u[3] = {(char)(0xE0 | (c >> 12)), (char)(0x80 | ((c >> 6) & 63)),
                         (char)(0x80 | (c & 63))};
            put(b, u, 3);
        } else {
            puts_(b, PICK(S));
        }
    }
}

static void gen_word(sbuf *b, size_t target) {
    while (b->n < target) {
        char c = (char)('a' + rnd() % 26);
        put(b, &c, 1);
    }
}

static void gen_fill(sbuf *b, size_t target, char c) {
    while (b->n < target) put(b, &c, 1);
}

static void gen_chat(sbuf *b, size_t target) {
    static const char *const M[] = {
        "<|turn>user\nWhat's the weather in Paris?<turn|>\n",
        "<|turn>model\n<|channel>thought\nThe user asks about weather.<channel|>"
        "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|><|tool_response>",
        "response:get_weather{value:<|\"|>Sunny, 21 C<|\"|>}<tool_response|>",
        "It is sunny and 21 degrees in Paris.<turn|>\n",
        "<|turn>user\n<|image|>Describe this image.<turn|>\n"};
    puts_(b, "<bos>");
    while (b->n < target) puts_(b, PICK(M));
}

static void gen_random_bytes(sbuf *b, size_t target) {
    while (b->n < target) {
        char c = (char)(rnd() & 0xFF);
        put(b, &c, 1);
    }
}

static bool file_ok(const char *p) { return access(p, R_OK) == 0; }

static const char *find_vocab(const char *arg) {
    if (arg) return arg;
#if defined(G4_BUILD_DIR) && defined(G4_TEST_DATA)
    static const char *p = G4_BUILD_DIR "/gemma4-vocab.gguf";
    if (file_ok(p)) return p;
    const char *cmd = "gzip -dc '" G4_TEST_DATA "/vocab/gemma4-vocab.gguf.gz' > '" G4_BUILD_DIR
                      "/gemma4-vocab.gguf.tmp' && mv '" G4_BUILD_DIR "/gemma4-vocab.gguf.tmp' '"
                      G4_BUILD_DIR "/gemma4-vocab.gguf'";
    if (system(cmd) == 0 && file_ok(p)) return p;
#endif
    return NULL;
}

int main(int argc, char **argv) {
    const char *vpath = NULL;
    double mb = 1.0, min_time = 0.5;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--case") && i + 1 < argc) only = argv[++i];
        else if (argv[i][0] != '-') vpath = argv[i];
        else {
            fprintf(stderr, "usage: %s [VOCAB.gguf] [--mb N] [--min-time SECONDS] [--case NAME]\n",
                    argv[0]);
            return 2;
        }
    }
    vpath = find_vocab(vpath);
    if (!vpath) {
        fprintf(stderr, "no vocabulary: pass a GGUF path\n");
        return 1;
    }

    g4_vocab *v = NULL;
    g4_error err = {0};
    double best_load = 1e9;
    for (int i = 0; i < 5; i++) {
        g4_vocab *x = NULL;
        double t0 = now_s();
        if (g4_vocab_load_gguf(vpath, &x, &err) != G4_OK) {
            fprintf(stderr, "%s\n", err.msg);
            g4_vocab_free(v);
            return 1;
        }
        double dt = now_s() - t0;
        if (dt < best_load) best_load = dt;
        g4_vocab_free(v);
        v = x;
    }
    printf("case=load path=%s tokens=%d load_ms=%.1f commit=%s\n", vpath, g4_vocab_n_tokens(v),
           best_load * 1e3, G4_COMMIT);

    const size_t target = (size_t)(mb * 1048576.0);
    static const char *const names[] = {"prose", "code", "cjk_emoji", "one_word", "spaces",
                                        "newlines", "chat_specials", "random_bytes"};
    for (int c = 0; c < 8; c++) {
        if (only && strcmp(only, names[c])) continue;
        sbuf b = {0};
        switch (c) {
        case 0: gen_prose(&b, target); break;
        case 1: gen_code(&b, target); break;
        case 2: gen_cjk_emoji(&b, target); break;
        case 3: gen_word(&b, target); break;
        case 4: gen_fill(&b, target, ' '); break;
        case 5: gen_fill(&b, target, '\n'); break;
        case 6: gen_chat(&b, target); break;
        default: gen_random_bytes(&b, target); break;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        int reps = 0;
        double t_enc = 0;
        do {
            free(ids);
            ids = NULL;
            double t0 = now_s();
            if (g4_tokenize(v, b.p, b.n, false, true, &ids, &n, &err) != G4_OK) {
                fprintf(stderr, "%s: %s\n", names[c], err.msg);
                break;
            }
            double dt = now_s() - t0;
            t_enc = reps ? (dt < t_enc ? dt : t_enc) : dt;
            reps++;
        } while (t_enc * reps < min_time && reps < 50);
        double t_dec = 1e9;
        for (int r = 0; r < 3 && ids; r++) {
            char *d = NULL;
            size_t dn = 0;
            double t0 = now_s();
            if (g4_detokenize(v, ids, n, false, true, &d, &dn, &err) != G4_OK) break;
            double dt = now_s() - t0;
            if (dt < t_dec) t_dec = dt;
            free(d);
        }
        printf("case=%s bytes=%zu tokens=%zu encode_ms=%.2f encode_mbps=%.2f "
               "tokens_per_s=%.0f decode_mbps=%.1f reps=%d commit=%s\n",
               names[c], b.n, n, t_enc * 1e3, (double)b.n / 1048576.0 / t_enc,
               (double)n / t_enc, (double)b.n / 1048576.0 / t_dec, reps, G4_COMMIT);
        fflush(stdout);
        free(ids);
        free(b.p);
    }
    g4_vocab_free(v);
    return 0;
}
