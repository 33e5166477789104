/* bench_kernels.c — throughput of the matmul kernels per weight type and ISA.
 *
 * matvec (decode): one activation row, quantized once per run, dotted with every weight
 * row; rows split between threads. Reports weight GB/s (bytes of the weight matrix per
 * second). The weights are replicated so that the working set exceeds the caches and
 * every run streams from memory, as decode does.
 * prefill: 64 activation rows, dot_multi over groups of G4_DOT_MULTI_MAX; reports
 * GFLOP/s = 2*rows*cols*ntok / time.
 * Both are run twice: kernel=dot (dot / dot_multi, one weight row at a time) and
 * kernel=gemm (the tile kernel as the matmul driver uses it: tiles of G4_GEMM_MAX_W
 * weight rows x 1 activation for decode; for prefill blocks of 16 weight rows that stay
 * in cache while the activations pass in tiles of G4_GEMM_MAX_W x G4_GEMM_MAX_X).
 * Also prints the plain read bandwidth of the machine (same run), so the kernel numbers
 * can be read as a fraction of it. Never asserts.
 *
 *   bench_kernels [-t MAXTHREADS] [--type q4_0,q8_0,...] [--isa scalar,avx2,avx512]
 *                 [--kernel dot,gemm] [--shape ROWSxCOLS] [--quick] [--hot] [--no-prefill]
 *                 [--no-matvec]
 * --hot keeps one copy of the weights (use a small shape to measure in-cache speed).
 *
 * Output: one line per case, e.g.
 *   isa=avx512 type=q4_0 kernel=gemm rows=15360 cols=3840 ntok=1 threads=2 ms=.. gbps=.. gflops=.. commit=.. cpu=..
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fp16.h"
#include "core/types.h"
#include "kernels/kernels.h"
#include "kernels/quants.h"

#ifndef G4_COMMIT
#define G4_COMMIT "unknown"
#endif

#define MAX_THREADS 64
#define NTOK_PREFILL 64 /* default; --ntok N (1..64) measures small batches (speculative verification) */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float frand(void) { return (float)((rng() >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU model for the output lines ("model name" of /proc/cpuinfo, spaces as '_'). */
static char cpu_model[96] = "unknown";
static void read_cpu_model(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        size_t n = 0;
        for (; v[n] && v[n] != '\n' && n + 1 < sizeof cpu_model; n++) cpu_model[n] = v[n] == ' ' ? '_' : v[n];
        cpu_model[n] = 0;
        break;
    }
    fclose(f);
}

/* ---------------------------------------------------------------- thread pool ---- */

typedef void (*task_fn)(void *arg, int tid, int nth);

static struct {
    int nth;
    pthread_t th[MAX_THREADS];
    atomic_int gen;   /* bumped to start a task */
    atomic_int done;  /* workers finished with the current generation */
    atomic_int quit;
    task_fn fn;
    void *arg;
} pool;

/* Busy-wait step: pause, and after many spins let other processes run (a shared machine
 * with more runnable threads than cores would otherwise stall the spinning side). */
static void spin_wait(unsigned *spins) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
    if (++*spins > 20000) {
        *spins = 0;
        sched_yield();
    }
}

static void *worker(void *p) {
    const int tid = (int)(intptr_t)p;
    int seen = 0;
    for (;;) {
        int g;
        unsigned spins = 0;
        while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&pool.quit, memory_order_relaxed)) return NULL;
            spin_wait(&spins);
        }
        seen = g;
        if (atomic_load(&pool.quit)) return NULL;
        pool.fn(pool.arg, tid, pool.nth);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    }
}

static void pool_start(int nth) {
    pool.nth = nth;
    atomic_store(&pool.gen, 0);
    atomic_store(&pool.done, 0);
    atomic_store(&pool.quit, 0);
    for (int i = 1; i < nth; i++) {
        if (pthread_create(&pool.th[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            fprintf(stderr, "pthread_create failed: running with %d threads\n", i);
            pool.nth = i;
            break;
        }
    }
}

static void pool_run(task_fn fn, void *arg) {
    pool.fn = fn;
    pool.arg = arg;
    atomic_store(&pool.done, 0);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    fn(arg, 0, pool.nth);
    unsigned spins = 0;
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < pool.nth - 1) spin_wait(&spins);
}

static void pool_stop(void) {
    atomic_store(&pool.quit, 1);
    atomic_fetch_add(&pool.gen, 1);
    for (int i = 1; i < pool.nth; i++) pthread_join(pool.th[i], NULL);
    pool.nth = 1;
}

/* ---------------------------------------------------------------- test data ---- */

/* Random but valid weights: random bytes with sane fp16 / e8m0 scales. */
static void fill_weights(g4_type t, uint8_t *p, int64_t rows, int64_t cols) {
    const g4_type_info *ti = g4_type_get((uint32_t)t);
    const size_t rs = g4_row_size(t, cols);
    if (t == G4_TYPE_F32 || t == G4_TYPE_F16 || t == G4_TYPE_BF16) {
        for (int64_t i = 0; i < rows * cols; i++) {
            float v = frand() * 0.1f;
            if (t == G4_TYPE_F32) memcpy(p + 4 * i, &v, 4);
            else {
                uint16_t h = t == G4_TYPE_F16 ? g4_f32_to_fp16(v) : g4_f32_to_bf16(v);
                memcpy(p + 2 * i, &h, 2);
            }
        }
        return;
    }
    for (size_t i = 0; i < rs * (size_t)rows; i += 8) {
        uint64_t r = rng();
        memcpy(p + i, &r, (rs * (size_t)rows - i) < 8 ? (rs * (size_t)rows - i) : 8);
    }
    const int64_t nb = rows * (cols / ti->blck);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *B = p + (size_t)b * (size_t)ti->size;
        uint16_t d = g4_f32_to_fp16(0.001f + 0.01f * (frand() + 1.0f));
        uint16_t m = g4_f32_to_fp16(0.01f * frand());
        switch (t) {
        case G4_TYPE_Q4_1: case G4_TYPE_Q5_1: case G4_TYPE_Q4_K: case G4_TYPE_Q5_K:
            memcpy(B + 2, &m, 2); /* fall through */
        case G4_TYPE_Q4_0: case G4_TYPE_Q5_0: case G4_TYPE_Q8_0: case G4_TYPE_IQ4_NL:
        case G4_TYPE_IQ4_XS:
            memcpy(B, &d, 2);
            break;
        case G4_TYPE_Q6_K: memcpy(B + offsetof(block_q6_K, d), &d, 2); break;
        case G4_TYPE_Q2_K:
            memcpy(B + offsetof(block_q2_K, d), &d, 2);
            memcpy(B + offsetof(block_q2_K, dmin), &m, 2);
            break;
        case G4_TYPE_Q3_K: memcpy(B + offsetof(block_q3_K, d), &d, 2); break;
        case G4_TYPE_MXFP4: B[0] = (uint8_t)(120 + rng() % 8); break;
        default: break;
        }
    }
}

/* ----------------------------------------------------------------- kernels ---- */

typedef struct {
    const g4_kernels *k;
    g4_type t;
    const uint8_t *w; /* current weight copy */
    size_t row_bytes;
    int64_t rows, cols;
    const uint8_t *x; /* quantized activations */
    size_t x_stride;
    int ntok;
    float *out; /* [ntok][rows] */
} job;

static void range(int64_t n, int tid, int nth, int64_t *a, int64_t *b) {
    *a = n * tid / nth;
    *b = n * (tid + 1) / nth;
}

static void task_matvec(void *p, int tid, int nth) {
    const job *j = p;
    int64_t r0, r1;
    range(j->rows, tid, nth, &r0, &r1);
    g4_dot_fn dot = j->k->dot[j->t];
    for (int64_t r = r0; r < r1; r++) dot(j->cols, &j->out[r], j->w + (size_t)r * j->row_bytes, j->x);
}

static void task_prefill(void *p, int tid, int nth) {
    const job *j = p;
    int64_t r0, r1;
    range(j->rows, tid, nth, &r0, &r1);
    g4_dot_multi_fn multi = j->k->dot_multi[j->t];
    g4_dot_fn dot = j->k->dot[j->t];
    float tmp[G4_DOT_MULTI_MAX];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = j->w + (size_t)r * j->row_bytes;
        for (int t0 = 0; t0 < j->ntok; t0 += G4_DOT_MULTI_MAX) {
            int nx = j->ntok - t0 < G4_DOT_MULTI_MAX ? j->ntok - t0 : G4_DOT_MULTI_MAX;
            const uint8_t *xr = j->x + (size_t)t0 * j->x_stride;
            if (multi) multi(j->cols, tmp, wr, xr, j->x_stride, nx);
            else
                for (int q = 0; q < nx; q++) dot(j->cols, &tmp[q], wr, xr + (size_t)q * j->x_stride);
            for (int q = 0; q < nx; q++) j->out[(size_t)(t0 + q) * (size_t)j->rows + (size_t)r] = tmp[q];
        }
    }
}

/* The matmul driver's order (src/kernels/ops.c): threads take whole tiles of
 * G4_GEMM_MAX_W rows; within a block of GEMM_ROW_BLOCK rows every activation tile meets
 * every weight tile. */
#define GEMM_ROW_BLOCK 32

static void task_gemm(void *p, int tid, int nth) {
    const job *j = p;
    const int64_t units = (j->rows + G4_GEMM_MAX_W - 1) / G4_GEMM_MAX_W;
    int64_t u0, u1;
    range(units, tid, nth, &u0, &u1);
    const int64_t r0 = u0 * G4_GEMM_MAX_W, r1 = u1 * G4_GEMM_MAX_W < j->rows ? u1 * G4_GEMM_MAX_W : j->rows;
    g4_gemm_fn gemm = j->k->gemm[j->t];
    float tmp[G4_GEMM_MAX_W * G4_GEMM_MAX_X];
    for (int64_t rb = r0; rb < r1; rb += GEMM_ROW_BLOCK) {
        const int64_t re = rb + GEMM_ROW_BLOCK < r1 ? rb + GEMM_ROW_BLOCK : r1;
        for (int t0 = 0; t0 < j->ntok; t0 += G4_GEMM_MAX_X) {
            const int nx = j->ntok - t0 < G4_GEMM_MAX_X ? j->ntok - t0 : G4_GEMM_MAX_X;
            const uint8_t *xr = j->x + (size_t)t0 * j->x_stride;
            for (int64_t r = rb; r < re; r += G4_GEMM_MAX_W) {
                const int nw = re - r < G4_GEMM_MAX_W ? (int)(re - r) : G4_GEMM_MAX_W;
                gemm(j->cols, j->w + (size_t)r * j->row_bytes, j->row_bytes, nw, xr, j->x_stride, nx, tmp,
                     G4_GEMM_MAX_X);
                for (int i = 0; i < nw; i++)
                    for (int q = 0; q < nx; q++)
                        j->out[(size_t)(t0 + q) * (size_t)j->rows + (size_t)(r + i)] = tmp[i * G4_GEMM_MAX_X + q];
            }
        }
    }
}

/* --------------------------------------------------------------- bandwidth ---- */

typedef struct {
    const uint64_t *buf;
    size_t n;
    uint64_t sink[MAX_THREADS * 8];
} bw_job;

static void task_bw(void *p, int tid, int nth) {
    bw_job *j = p;
    size_t a = j->n * (size_t)tid / (size_t)nth, b = j->n * (size_t)(tid + 1) / (size_t)nth;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = a; i + 4 <= b; i += 4) {
        s0 ^= j->buf[i];
        s1 ^= j->buf[i + 1];
        s2 ^= j->buf[i + 2];
        s3 ^= j->buf[i + 3];
    }
    j->sink[tid * 8] = s0 ^ s1 ^ s2 ^ s3;
}

static void bench_bandwidth(int nth, int reps) {
    const size_t bytes = (size_t)512 << 20;
    uint64_t *buf = malloc(bytes);
    if (!buf) return;
    for (size_t i = 0; i < bytes / 8; i++) buf[i] = i * 0x9E3779B97F4A7C15ULL;
    static bw_job j;
    j.buf = buf;
    j.n = bytes / 8;
    double tm[32];
    pool_start(nth);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        pool_run(task_bw, &j);
        tm[r] = now_s() - t0;
    }
    pool_stop();
    double t = median(tm, reps);
    printf("isa=none type=read_bw rows=0 cols=0 ntok=0 threads=%d ms=%.3f gbps=%.2f gflops=0 commit=%s cpu=%s\n",
           nth, t * 1e3, (double)bytes / t / 1e9, G4_COMMIT, cpu_model);
    fflush(stdout);
    free(buf);
}

static bool in_list(const char *list, const char *name) {
    if (!list) return true;
    size_t ln = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == ln) {
            size_t i = 0;
            while (i < l && (p[i] | 32) == (name[i] | 32)) i++;
            if (i == l) return true;
        }
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* ------------------------------------------------------------ quantizers ---- */

/* Activation quantizers: time to convert one row of `cols` floats (single thread). */
static void bench_quant(const char *isa_list, const char *type_list, int64_t cols, int reps) {
    static const g4_type qt[] = {G4_TYPE_Q8_0, G4_TYPE_Q8_1, G4_TYPE_Q8_K, G4_TYPE_F16, G4_TYPE_BF16};
    const g4_isa isas[] = {G4_ISA_SCALAR, G4_ISA_AVX2, G4_ISA_AVX512, G4_ISA_NEON};
    float *x = malloc(sizeof(float) * (size_t)cols);
    uint8_t *y = malloc(g4_row_size(G4_TYPE_F32, cols));
    if (!x || !y) {
        free(x);
        free(y);
        return;
    }
    for (int64_t i = 0; i < cols; i++) x[i] = frand();
    for (size_t ti = 0; ti < sizeof qt / sizeof qt[0]; ti++) {
        char name[32];
        snprintf(name, sizeof name, "quant_%s", g4_type_name(qt[ti]));
        if (type_list && !in_list(type_list, name) && !in_list(type_list, "quant")) continue;
        for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
            g4_kernels k;
            if (!g4_isa_supported(isas[ii]) || !in_list(isa_list, g4_isa_name(isas[ii]))) continue;
            if (g4_kernels_init(&k, isas[ii]) != isas[ii] || !k.quant[qt[ti]] || !g4_row_size(qt[ti], cols)) continue;
            double tm[64];
            k.quant[qt[ti]](x, y, cols);
            for (int r = 0; r < reps; r++) {
                double t0 = now_s();
                for (int q = 0; q < 16; q++) k.quant[qt[ti]](x, y, cols);
                tm[r] = (now_s() - t0) / 16;
            }
            double t = median(tm, reps);
            printf("isa=%s type=%s rows=1 cols=%lld ntok=1 threads=1 ms=%.4f gbps=%.2f gflops=0 commit=%s cpu=%s\n",
                   g4_isa_name(isas[ii]), name, (long long)cols, t * 1e3, (double)cols * 4 / t / 1e9, G4_COMMIT, cpu_model);
        }
    }
    fflush(stdout);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------- main ---- */

static const g4_type all_types[] = {
    G4_TYPE_Q4_0, G4_TYPE_Q8_0, G4_TYPE_Q6_K, G4_TYPE_Q4_K, G4_TYPE_Q5_K, G4_TYPE_Q4_1,
    G4_TYPE_Q5_0, G4_TYPE_Q5_1, G4_TYPE_IQ4_NL, G4_TYPE_IQ4_XS, G4_TYPE_MXFP4, G4_TYPE_Q2_K,
    G4_TYPE_Q3_K, G4_TYPE_F16, G4_TYPE_BF16, G4_TYPE_F32,
};


int main(int argc, char **argv) {
    int max_threads = 2;
    bool quick = false, do_prefill = true, do_matvec = true, hot = false;
    int ntok_prefill = NTOK_PREFILL;
    const char *type_list = NULL, *isa_list = NULL, *kernel_list = NULL;
    int64_t shapes[8][2] = {{15360, 3840}, {3840, 15360}, {3840, 3840}};
    int nshapes = 3;
    bool custom_shape = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) max_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) type_list = argv[++i];
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa_list = argv[++i];
        else if (!strcmp(argv[i], "--kernel") && i + 1 < argc) kernel_list = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--hot")) hot = true;
        else if (!strcmp(argv[i], "--no-prefill")) do_prefill = false;
        else if (!strcmp(argv[i], "--ntok") && i + 1 < argc) {
            ntok_prefill = atoi(argv[++i]);
            if (ntok_prefill < 1 || ntok_prefill > NTOK_PREFILL) {
                fprintf(stderr, "bench_kernels: --ntok takes 1..%d\n", NTOK_PREFILL);
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--no-matvec")) do_matvec = false;
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            long long r, c;
            if (sscanf(argv[++i], "%lldx%lld", &r, &c) == 2 && r > 0 && c > 0) {
                if (!custom_shape) nshapes = 0;
                custom_shape = true;
                if (nshapes < 8) {
                    shapes[nshapes][0] = r;
                    shapes[nshapes][1] = c;
                    nshapes++;
                }
            }
        } else {
            fprintf(stderr,
                    "usage: %s [-t MAXTHREADS] [--type t1,t2] [--isa scalar,avx2,avx512] "
                    "[--kernel dot,gemm] [--shape RxC]... [--quick] [--hot] [--no-prefill] [--no-matvec] [--ntok N]\n",
                    argv[0]);
            return 2;
        }
    }
    read_cpu_model();
    if (max_threads < 1) max_threads = 1;
    if (max_threads > MAX_THREADS) max_threads = MAX_THREADS;
    if (quick && !custom_shape) nshapes = 1;
    const int reps = quick ? 5 : 11;

    for (int nth = 1; nth <= max_threads; nth *= 2) bench_bandwidth(nth, quick ? 3 : 7);
    if (max_threads > 1 && (max_threads & (max_threads - 1))) bench_bandwidth(max_threads, quick ? 3 : 7);

    bench_quant(isa_list, type_list, 15360, quick ? 5 : 15);

    const g4_isa isas[] = {G4_ISA_SCALAR, G4_ISA_AVX2, G4_ISA_AVX512, G4_ISA_NEON};
    int thread_counts[8], ntc = 0;
    for (int nth = 1; nth <= max_threads && ntc < 7; nth *= 2) thread_counts[ntc++] = nth;
    if (thread_counts[ntc - 1] != max_threads) thread_counts[ntc++] = max_threads;

    for (size_t ti = 0; ti < sizeof all_types / sizeof all_types[0]; ti++) {
        const g4_type t = all_types[ti];
        if (!in_list(type_list, g4_type_name(t))) continue;
        for (int s = 0; s < nshapes; s++) {
            const int64_t rows = shapes[s][0], cols = shapes[s][1];
            const size_t rs = g4_row_size(t, cols);
            if (!rs) continue;
            const size_t wbytes = rs * (size_t)rows;
            /* enough copies that the working set is well beyond the last-level cache */
            const size_t min_total = (size_t)256 << 20;
            int ncopy = (int)((min_total + wbytes - 1) / wbytes);
            if (ncopy < 2) ncopy = 2;
            if (hot) ncopy = 1; /* cache-resident: measures compute throughput */
            uint8_t *w = malloc(wbytes * (size_t)ncopy);
            float *xf = malloc(sizeof(float) * (size_t)cols * NTOK_PREFILL);
            float *out = malloc(sizeof(float) * (size_t)rows * NTOK_PREFILL);
            if (!w || !xf || !out) {
                fprintf(stderr, "out of memory for %s %lldx%lld\n", g4_type_name(t), (long long)rows,
                        (long long)cols);
                free(w); free(xf); free(out);
                continue;
            }
            fill_weights(t, w, rows, cols);
            for (int c = 1; c < ncopy; c++) memcpy(w + (size_t)c * wbytes, w, wbytes);
            for (int64_t i = 0; i < cols * NTOK_PREFILL; i++) xf[i] = frand();

            for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
                const g4_isa isa = isas[ii];
                if (!g4_isa_supported(isa) || !in_list(isa_list, g4_isa_name(isa))) continue;
                g4_kernels k;
                if (g4_kernels_init(&k, isa) != isa) continue;
                if (!k.dot[t]) continue;
                const g4_type vt = k.vec_type[t];
                const size_t xs = g4_row_size(vt, cols);
                if (!xs || !k.quant[vt]) continue;
                uint8_t *xq = malloc(xs * NTOK_PREFILL);
                if (!xq) continue;
                const bool slow = isa == G4_ISA_SCALAR;

                for (int tc = 0; tc < ntc; tc++) {
                    const int nth = thread_counts[tc];
                    job j = {&k, t, w, rs, rows, cols, xq, xs, 1, out};
                    pool_start(nth);
                    for (int kind = 0; kind < 2; kind++) {
                        const char *kname = kind ? "gemm" : "dot";
                        if ((kind && !k.gemm[t]) || !in_list(kernel_list, kname)) continue;
                        if (do_matvec) {
                            double tm[32];
                            int nrep = slow ? (quick ? 1 : 3) : reps;
                            if (hot) nrep = 31;
                            int c = 0;
                            const task_fn fn = kind ? task_gemm : task_matvec;
                            j.ntok = 1;
                            pool_run(fn, &j); /* warm-up */
                            for (int r = 0; r < nrep; r++) {
                                c = (c + 1) % ncopy;
                                j.w = w + (size_t)c * wbytes;
                                double t0 = now_s();
                                k.quant[vt](xf, xq, cols);
                                pool_run(fn, &j);
                                tm[r] = now_s() - t0;
                            }
                            double tmed = median(tm, nrep);
                            printf("isa=%s type=%s kernel=%s rows=%lld cols=%lld ntok=1 threads=%d ms=%.3f gbps=%.2f "
                                   "gflops=%.2f commit=%s cpu=%s\n",
                                   g4_isa_name(isa), g4_type_name(t), kname, (long long)rows, (long long)cols, pool.nth,
                                   tmed * 1e3, (double)wbytes / tmed / 1e9,
                                   2.0 * (double)rows * (double)cols / tmed / 1e9, G4_COMMIT, cpu_model);
                            fflush(stdout);
                        }
                        if (do_prefill) {
                            /* the scalar table is ~100x slower: fewer tokens keep the run short */
                            const int ntok = slow ? (ntok_prefill < 8 ? ntok_prefill : 8) : ntok_prefill;
                            j.ntok = ntok;
                            j.w = w;
                            double tm[32];
                            int nrep = slow ? 1 : (quick ? 2 : 5);
                            for (int r = 0; r < nrep; r++) {
                                double t0 = now_s();
                                for (int q = 0; q < ntok; q++)
                                    k.quant[vt](xf + (size_t)q * (size_t)cols, xq + (size_t)q * xs, cols);
                                pool_run(kind ? task_gemm : task_prefill, &j);
                                tm[r] = now_s() - t0;
                            }
                            double tmed = median(tm, nrep);
                            printf("isa=%s type=%s kernel=%s rows=%lld cols=%lld ntok=%d threads=%d ms=%.3f gbps=%.2f "
                                   "gflops=%.2f commit=%s cpu=%s\n",
                                   g4_isa_name(isa), g4_type_name(t), kname, (long long)rows, (long long)cols, ntok,
                                   pool.nth, tmed * 1e3, (double)wbytes / tmed / 1e9,
                                   2.0 * (double)rows * (double)cols * ntok / tmed / 1e9, G4_COMMIT, cpu_model);
                            fflush(stdout);
                        }
                    }
                    pool_stop();
                }
                free(xq);
            }
            free(w);
            free(xf);
            free(out);
        }
    }
    return 0;
}
