/* bandwidth — memory read-bandwidth probe.
 *
 *   bandwidth [-s MiB] [-t THREADS] [-r REPS]
 *
 * Allocates a buffer (default 1024 MiB), writes every page, then times full passes that
 * read and sum the whole buffer: once with 1 thread and once with THREADS threads
 * (default 2), each thread reading its own contiguous slice. Prints one line per case:
 *   bandwidth threads=N size_mib=S best_gbps=B median_gbps=M commit=C
 * (GB/s = 1e9 bytes per second). Uses 256-bit AVX2 loads when the CPU has them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BW_X86 1
#endif

#ifndef G4_COMMIT
#define G4_COMMIT "unknown"
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sums n bytes (n a multiple of 128) as 64-bit words, 8 independent accumulators. */
static uint64_t sum_scalar(const uint8_t *p, size_t n) {
    const uint64_t *w = (const uint64_t *)(const void *)p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (size_t i = 0; i < n / 8; i += 16) {
        a0 += w[i] + w[i + 8];
        a1 += w[i + 1] + w[i + 9];
        a2 += w[i + 2] + w[i + 10];
        a3 += w[i + 3] + w[i + 11];
        a4 += w[i + 4] + w[i + 12];
        a5 += w[i + 5] + w[i + 13];
        a6 += w[i + 6] + w[i + 14];
        a7 += w[i + 7] + w[i + 15];
    }
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

#ifdef BW_X86
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(const void *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(const void *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(const void *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(const void *)(p + i + 96)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t r[4];
    _mm256_storeu_si256((__m256i *)(void *)r, a0);
    return r[0] + r[1] + r[2] + r[3];
}
#endif

static int g_avx2 = 0;

static uint64_t sum_bytes(const uint8_t *p, size_t n) {
#ifdef BW_X86
    if (g_avx2) return sum_avx2(p, n);
#endif
    return sum_scalar(p, n);
}

typedef struct {
    const uint8_t *p;
    size_t n;
    uint64_t result;
    pthread_barrier_t *start;
} job;

static void *worker(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->result = sum_bytes(j->p, j->n);
    return NULL;
}

static volatile uint64_t g_sink;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times `reps` full passes over buf with nt threads; fills gbps[reps]. */
static int run(const uint8_t *buf, size_t size, int nt, int reps, double *gbps) {
    job *jobs = calloc((size_t)nt, sizeof *jobs);
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    if (!jobs || !th) return -1;
    size_t slice = size / (size_t)nt / 128 * 128;
    for (int r = 0; r < reps; r++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)nt + 1);
        for (int t = 0; t < nt; t++) {
            jobs[t].p = buf + (size_t)t * slice;
            jobs[t].n = t == nt - 1 ? (size - (size_t)t * slice) / 128 * 128 : slice;
            jobs[t].start = &bar;
            if (pthread_create(&th[t], NULL, worker, &jobs[t]) != 0) return -1;
        }
        pthread_barrier_wait(&bar); /* all threads created: start the clock */
        double t0 = now();
        uint64_t s = 0;
        for (int t = 0; t < nt; t++) {
            pthread_join(th[t], NULL);
            s += jobs[t].result;
        }
        double dt = now() - t0;
        g_sink += s;
        pthread_barrier_destroy(&bar);
        gbps[r] = (double)size / dt * 1e-9;
    }
    free(jobs);
    free(th);
    return 0;
}

static void report(int nt, size_t mib, double *gbps, int reps) {
    qsort(gbps, (size_t)reps, sizeof *gbps, cmp_double);
    double med = reps % 2 ? gbps[reps / 2] : 0.5 * (gbps[reps / 2 - 1] + gbps[reps / 2]);
    printf("bandwidth threads=%d size_mib=%zu best_gbps=%.2f median_gbps=%.2f commit=%s\n", nt, mib, gbps[reps - 1],
           med, G4_COMMIT);
    fflush(stdout);
}

int main(int argc, char **argv) {
    size_t mib = 1024;
    int nt = 2, reps = 10;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: bandwidth [-s MiB] [-t THREADS] [-r REPS]\n");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bandwidth: %s needs a value\n", argv[i]);
            return 2;
        }
        long v = strtol(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "-s")) mib = v > 0 ? (size_t)v : 0;
        else if (!strcmp(argv[i], "-t")) nt = (int)v;
        else if (!strcmp(argv[i], "-r")) reps = (int)v;
        else {
            fprintf(stderr, "bandwidth: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (mib == 0 || nt < 1 || nt > 1024 || reps < 1 || reps > 10000) {
        fprintf(stderr, "bandwidth: bad arguments\n");
        return 2;
    }
#ifdef BW_X86
    __builtin_cpu_init();
    g_avx2 = __builtin_cpu_supports("avx2");
#endif
    size_t size = mib << 20;
    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, 2u << 20, size) != 0) {
        fprintf(stderr, "bandwidth: cannot allocate %zu MiB\n", mib);
        return 1;
    }
#ifdef MADV_HUGEPAGE
    madvise(buf, size, MADV_HUGEPAGE);
#endif
    for (size_t i = 0; i < size; i += 4096) buf[i] = (uint8_t)(i >> 12); /* touch every page */
    memset(buf, 1, size);
    double *gbps = calloc((size_t)reps, sizeof *gbps);
    if (!gbps) return 1;
    fprintf(stderr, "bandwidth: %zu MiB, %d reps, %s loads\n", mib, reps, g_avx2 ? "avx2" : "scalar");
    double warm;
    run(buf, size, 1, 1, &warm); /* warm-up pass */
    if (run(buf, size, 1, reps, gbps)) return 1;
    report(1, mib, gbps, reps);
    if (nt > 1) {
        if (run(buf, size, nt, reps, gbps)) return 1;
        report(nt, mib, gbps, reps);
    }
    free(gbps);
    free(buf);
    return 0;
}
