/* bench_sample.c — microseconds per g4_sampler_sample on a 262144-token vocabulary.
 *
 * Cases: greedy; top-k 64 + top-p 0.95 (Gemma's defaults); top-p 0.95 alone; min-p 0.05
 * alone; llama.cpp's defaults (top-k 40, top-p 0.95, min-p 0.05, temperature 0.8); all
 * sampling cases at temperature 1 unless said. Logit distributions (fixed seed):
 *   lm      N(0, 2^2) plus a tail: 0.1% of tokens get +U(4, 16) (a peaked, LM-like shape)
 *   gauss3  N(0, 3^2)  (top-p 0.95 keeps ~1% of the vocabulary)
 *   gauss1  N(0, 1)    (flat: top-p 0.95 keeps ~75% of the vocabulary, the worst case)
 * Each case runs over 8 logit vectors x R rounds; prints the median microseconds per
 * sample (and the fastest) and the mean candidate-set size. Never asserts.
 *
 *   bench_sample [-r ROUNDS] [--dist lm,gauss3,gauss1] [--case NAME] [--portable]
 * --portable uses the baseline-ISA kernels even on an AVX2 CPU (kernels=portable).
 * Output: one line per case, e.g.
 *   case=topk64_topp0.95 dist=lm n_vocab=262144 kernels=best us=.. us_min=.. cands=.. commit=.. cpu=..
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sample/sample.h"

#ifndef G4_COMMIT
#define G4_COMMIT "unknown"
#endif

#define NV 262144
#define NVEC 8

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

static uint64_t rs = 0x12345678u;
static double urand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}
static double nrand(void) {
    double u = urand(), v = urand();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static void fill(float *l, const char *dist) {
    for (int i = 0; i < NV; i++) {
        if (!strcmp(dist, "gauss1")) l[i] = (float)nrand();
        else if (!strcmp(dist, "gauss3")) l[i] = (float)(3 * nrand());
        else {
            l[i] = (float)(2 * nrand());
            if (urand() < 0.001) l[i] += (float)(4 + 12 * urand());
        }
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void cpu_name(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p += 2;
                p[strcspn(p, "\n")] = 0;
                for (char *q = p; *q; q++)
                    if (*q == ' ') *q = '_';
                snprintf(buf, cap, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

typedef struct {
    const char *name;
    float temp, top_p, min_p;
    int top_k;
} bcase;

int main(int argc, char **argv) {
    int rounds = 25;
    const char *dists = "lm,gauss3,gauss1", *only = NULL;
    int portable = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dist") && i + 1 < argc) dists = argv[++i];
        else if (!strcmp(argv[i], "--case") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--portable")) portable = 1;
        else {
            fprintf(stderr, "usage: bench_sample [-r ROUNDS] [--dist lm,gauss3,gauss1] [--case NAME] [--portable]\n");
            return 2;
        }
    }
    if (rounds < 1) rounds = 1;
    static const bcase cases[] = {
        {"greedy", 0.0f, 1.0f, 0.0f, 0},
        {"topk64_topp0.95", 1.0f, 0.95f, 0.0f, 64},
        {"topp0.95", 1.0f, 0.95f, 0.0f, 0},
        {"minp0.05", 1.0f, 1.0f, 0.05f, 0},
        {"llamacpp_default_t0.8", 0.8f, 0.95f, 0.05f, 40},
        {"topp0.95_t0.7", 0.7f, 0.95f, 0.0f, 0},
        {"full_t1", 1.0f, 1.0f, 0.0f, 0},
    };
    char cpu[128];
    cpu_name(cpu, sizeof cpu);
    float *logits = malloc((size_t)NVEC * NV * sizeof *logits);
    double *t = malloc((size_t)NVEC * (size_t)rounds * sizeof *t);
    if (!logits || !t) return 1;
    char dl[256];
    snprintf(dl, sizeof dl, "%s", dists);
    for (char *d = strtok(dl, ","); d; d = strtok(NULL, ",")) {
        for (int v = 0; v < NVEC; v++) fill(logits + (size_t)v * NV, d);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            if (only && strcmp(only, cases[c].name)) continue;
            g4_sampler_params p = g4_sampler_defaults();
            p.temperature = cases[c].temp;
            p.top_k = cases[c].top_k;
            p.top_p = cases[c].top_p;
            p.min_p = cases[c].min_p;
            p.seed = 42;
            g4_sampler *s = NULL;
            g4_error err = {0};
            if (g4_sampler_new(&p, NV, &s, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            if (portable) g4_sampler_use_portable_kernels(s);
            g4_sampler_sample(s, logits); /* warm up */
            double cands = 0;
            size_t k = 0;
            for (int r = 0; r < rounds; r++)
                for (int v = 0; v < NVEC; v++) {
                    double t0 = now_us();
                    g4_sampler_sample(s, logits + (size_t)v * NV);
                    t[k++] = now_us() - t0;
                    cands += g4_sampler_last(s).n_candidates;
                }
            qsort(t, k, sizeof *t, cmp_d);
            printf("case=%s dist=%s n_vocab=%d kernels=%s us=%.1f us_min=%.1f cands=%.0f commit=%s cpu=%s\n",
                   cases[c].name, d, NV, portable ? "portable" : "best", t[k / 2], t[0], cands / (double)k,
                   G4_COMMIT, cpu);
            fflush(stdout);
            g4_sampler_free(s);
        }
    }
    free(logits);
    free(t);
    return 0;
}
