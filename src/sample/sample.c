/* sample.c — the token sampler (see sample.h and docs/SAMPLING.md).
 *
 * Every filter keeps a prefix of the tokens ordered by logit (descending, ties: lowest
 * id first), so the candidate set is described by a cut point (cv, ci): token i is in
 * when w[i] > cv, or w[i] == cv and i <= ci. Small top-k builds an explicit sorted list
 * with a heap; everything else finds the cut over the whole vocabulary without sorting
 * it: one histogram pass over the logit distance to the maximum, then repeated
 * bucketing of the one bucket the cut falls into until it is small enough to sort.
 * Hot loops work on blocks of LANES elements with a fixed summation order, so the
 * compiler vectorizes them and results do not depend on the vector width. */
#include "sample/sample.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "kernels/kernels.h"

#define LANES 16
#define K_HEAP 256            /* top-k up to this uses a heap and an explicit list */
#define D_SCALE 32.0f         /* level-1 buckets per unit of logit distance to the max */
#define D_BUCKETS 2049        /* distances >= 64 share the last bucket */
#define SUB_BUCKETS 256       /* later levels split [vmin, vmax] of one bucket */
#define SMALL_SORT 48         /* a bucket this small is sorted */
#define MAX_DEPTH 24          /* then sort whatever is left (cannot happen with floats) */
#define MAX_LAST_N (1 << 20)  /* penalty window limit (memory is allocated up front) */
#define TAU_MAX 256           /* top_list's block-maximum bar is used up to this k */
#define TOP_P_TRY 256         /* top-p first looks for its cut among this many best tokens */
#define LIST_MAX 4096         /* final sets up to this size are drawn from a list */

typedef struct {
    float w;
    int32_t id;
} wid;

struct g4_sample_kernels;
static const struct g4_sample_kernels *pick_kernels(void);

struct g4_sampler {
    g4_sampler_params p; /* p.bias = NULL: see bias_tok / bias_val */
    const struct g4_sample_kernels *k;
    int32_t n;
    uint64_t seed;
    uint64_t rng[4];
    /* logit bias, merged per token, sorted by token */
    int32_t *bias_tok;
    float *bias_val;
    size_t n_bias;
    /* penalties: counts of the tokens in the window, the distinct ones in present[] */
    bool pen;
    int32_t *ring; /* window of the last repeat_last_n accepted tokens (NULL for -1) */
    size_t ring_cap, ring_head, ring_len;
    int32_t *count, *present, *present_pos;
    size_t n_present;
    /* work memory, all allocated by g4_sampler_new */
    float *w;     /* adjusted logits */
    float *e;     /* exp values / final weights */
    double *bsum; /* per-block weight sums for the draw */
    float *bmax;  /* per-block maxima for the top-k scan */
    float tau_heap[TAU_MAX];
    int32_t *ids; /* one bucket's members */
    uint16_t *bk; /* level-1 bucket of every token */
    wid *list;    /* sorted candidates / heap */
    g4_sample_info last;
};

/* ---- random numbers: splitmix64 seeds xoshiro256** ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t r = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return r;
}

static double rng_uniform(uint64_t s[4]) { /* [0, 1) with 53 random bits */
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void rng_seed(g4_sampler *s) {
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

static uint64_t clock_seed(const void *salt) {
    static atomic_uint_fast64_t counter;
    struct timespec a = {0, 0}, b = {0, 0};
    clock_gettime(CLOCK_REALTIME, &a);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t x = (uint64_t)a.tv_sec * 1000000007ull ^ (uint64_t)a.tv_nsec ^
                 ((uint64_t)b.tv_nsec << 32) ^ (uint64_t)(uintptr_t)salt ^
                 (atomic_fetch_add(&counter, 1) * 0xD1B54A32D192ED03ull);
    uint64_t seed = splitmix64(&x);
    return seed == G4_SEED_RANDOM ? 0 : seed;
}

/* ---- exp for x <= 0 ---- */

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

ALWAYS_INLINE float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2; exp(r) ~ 1 + r P(r) with P a
 * degree-4 Chebyshev fit of (exp(r) - 1) / r (relative error 2e-7, exp(0) = 1 exactly);
 * then 2^n added to the exponent bits. The range test works on the bit pattern
 * (x < -86.5, -inf or a negative NaN <=> bits above those of -86.5), which keeps the
 * function branch-free so that loops over it vectorize; below -86.5 the result would be
 * denormal and is 0. */
ALWAYS_INLINE float fexp(float x) {
    const uint32_t lim = 0xC2AD0000u; /* -86.5f */
    uint32_t u = f2u(x);
    uint32_t zero = (uint32_t)(u > lim) & (u >> 31);
    uint32_t keep = zero - 1u; /* ~0 when the result is not 0 */
    float xc = u2f((u & keep) | (lim & ~keep));
    float n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f; /* round(x / ln2) */
    float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    float q = 8.36317307e-3f;
    q = q * r + 4.18756445e-2f;
    q = q * r + 1.66665770e-1f;
    q = q * r + 4.99993721e-1f;
    q = q * r + 1.0f;
    q = q * r + 1.0f; /* exp(0) = 1 exactly */
    uint32_t bits = f2u(q) + ((uint32_t)(int32_t)n << 23);
    return u2f(bits & keep);
}

float g4_sample_expf(float x) { return fexp(x); }

/* ---- parameters ---- */

g4_sampler_params g4_sampler_defaults(void) {
    g4_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 1.0f;
    p.top_k = 64;
    p.top_p = 0.95f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = G4_SEED_RANDOM;
    return p;
}

static g4_status check_params(const g4_sampler_params *p, int32_t n_vocab, g4_error *err) {
    if (n_vocab <= 0) return g4_fail(err, G4_ERR_ARG, "sampler: vocabulary size %d", (int)n_vocab);
    if (!isfinite(p->temperature))
        return g4_fail(err, G4_ERR_ARG, "sampler: temperature must be a finite number (<= 0 = greedy)");
    if (isnan(p->top_p) || p->top_p < 0)
        return g4_fail(err, G4_ERR_ARG, "sampler: top_p must be >= 0 (>= 1 = off), got %g",
                       (double)p->top_p);
    if (isnan(p->min_p) || p->min_p < 0 || p->min_p > 1)
        return g4_fail(err, G4_ERR_ARG, "sampler: min_p must be in [0, 1] (0 = off), got %g",
                       (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0)
        return g4_fail(err, G4_ERR_ARG, "sampler: repeat_penalty must be > 0 (1 = off), got %g",
                       (double)p->repeat_penalty);
    if (!isfinite(p->presence_penalty))
        return g4_fail(err, G4_ERR_ARG, "sampler: presence_penalty must be a finite number");
    if (!isfinite(p->frequency_penalty))
        return g4_fail(err, G4_ERR_ARG, "sampler: frequency_penalty must be a finite number");
    if (p->repeat_last_n < -1)
        return g4_fail(err, G4_ERR_ARG, "sampler: repeat_last_n must be >= -1 (-1 = all, 0 = off), got %d",
                       (int)p->repeat_last_n);
    if (p->repeat_last_n > MAX_LAST_N)
        return g4_fail(err, G4_ERR_ARG, "sampler: repeat_last_n %d is above %d (use -1 for the whole history)",
                       (int)p->repeat_last_n, MAX_LAST_N);
    if (p->n_bias && !p->bias) return g4_fail(err, G4_ERR_ARG, "sampler: n_bias > 0 but bias is NULL");
    for (size_t i = 0; i < p->n_bias; i++) {
        if (p->bias[i].token < 0 || p->bias[i].token >= n_vocab)
            return g4_fail(err, G4_ERR_ARG, "sampler: logit bias for token %d, outside the vocabulary [0, %d)",
                           (int)p->bias[i].token, (int)n_vocab);
        if (isnan(p->bias[i].bias))
            return g4_fail(err, G4_ERR_ARG, "sampler: logit bias for token %d is NaN",
                           (int)p->bias[i].token);
    }
    return G4_OK;
}

static int cmp_bias(const void *a, const void *b) {
    int32_t x = ((const g4_logit_bias *)a)->token, y = ((const g4_logit_bias *)b)->token;
    return (x > y) - (x < y);
}

/* Sorted by token, repeated tokens summed; a -inf anywhere bans the token. */
static g4_status merge_bias(g4_sampler *s, const g4_sampler_params *p, g4_error *err) {
    if (!p->n_bias) return G4_OK;
    g4_logit_bias *tmp = malloc(p->n_bias * sizeof *tmp);
    s->bias_tok = malloc(p->n_bias * sizeof *s->bias_tok);
    s->bias_val = malloc(p->n_bias * sizeof *s->bias_val);
    if (!tmp || !s->bias_tok || !s->bias_val) {
        free(tmp);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    memcpy(tmp, p->bias, p->n_bias * sizeof *tmp);
    qsort(tmp, p->n_bias, sizeof *tmp, cmp_bias);
    size_t m = 0;
    for (size_t i = 0; i < p->n_bias;) {
        int32_t t = tmp[i].token;
        double sum = 0;
        bool ban = false;
        for (; i < p->n_bias && tmp[i].token == t; i++) {
            if (tmp[i].bias == -INFINITY) ban = true;
            else sum += tmp[i].bias;
        }
        s->bias_tok[m] = t;
        s->bias_val[m] = ban ? -INFINITY : (float)sum;
        m++;
    }
    s->n_bias = m;
    free(tmp);
    return G4_OK;
}

g4_status g4_sampler_new(const g4_sampler_params *p, int32_t n_vocab, g4_sampler **out,
                         g4_error *err) {
    if (out) *out = NULL;
    if (!p || !out) return g4_fail(err, G4_ERR_ARG, "sampler: missing argument");
    g4_status st = check_params(p, n_vocab, err);
    if (st) return st;
    g4_sampler *s = calloc(1, sizeof *s);
    if (!s) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->p.bias = NULL;
    s->p.n_bias = 0;
    s->n = n_vocab;
    size_t n = (size_t)n_vocab, nb = n / LANES + 1;
    s->pen = p->repeat_last_n != 0 && (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f ||
                                       p->frequency_penalty != 0.0f);
    s->w = malloc(n * sizeof *s->w);
    s->e = malloc(n * sizeof *s->e);
    s->bsum = malloc(nb * sizeof *s->bsum);
    s->ids = malloc(n * sizeof *s->ids);
    s->list = malloc(n * sizeof *s->list);
    s->bk = malloc(n * sizeof *s->bk);
    s->bmax = malloc(nb * sizeof *s->bmax);
    bool ok = s->w && s->e && s->bsum && s->ids && s->list && s->bk && s->bmax;
    if (ok && s->pen) {
        s->count = calloc(n, sizeof *s->count);
        s->present = malloc(n * sizeof *s->present);
        s->present_pos = malloc(n * sizeof *s->present_pos);
        ok = s->count && s->present && s->present_pos;
        if (ok && p->repeat_last_n > 0) {
            s->ring_cap = (size_t)p->repeat_last_n;
            s->ring = malloc(s->ring_cap * sizeof *s->ring);
            ok = s->ring != NULL;
        }
    }
    if (!ok) {
        g4_sampler_free(s);
        return g4_fail(err, G4_ERR_NOMEM, "sampler: out of memory (vocabulary of %d)", (int)n_vocab);
    }
    if ((st = merge_bias(s, p, err))) {
        g4_sampler_free(s);
        return st;
    }
    s->k = pick_kernels();
    s->seed = p->seed == G4_SEED_RANDOM ? clock_seed(s) : p->seed;
    rng_seed(s);
    s->last.token = G4_TOKEN_NONE;
    *out = s;
    return G4_OK;
}

void g4_sampler_free(g4_sampler *s) {
    if (!s) return;
    free(s->bias_tok);
    free(s->bias_val);
    free(s->ring);
    free(s->count);
    free(s->present);
    free(s->present_pos);
    free(s->w);
    free(s->e);
    free(s->bsum);
    free(s->ids);
    free(s->list);
    free(s->bk);
    free(s->bmax);
    free(s);
}

uint64_t g4_sampler_seed(const g4_sampler *s) { return s ? s->seed : 0; }

g4_sample_info g4_sampler_last(const g4_sampler *s) {
    g4_sample_info none = {G4_TOKEN_NONE, 0.0f, 0};
    return s ? s->last : none;
}

/* ---- penalties: token counts over the window ---- */

static void count_add(g4_sampler *s, int32_t t) {
    if (s->count[t]++ == 0) {
        s->present_pos[t] = (int32_t)s->n_present;
        s->present[s->n_present++] = t;
    }
}

static void count_sub(g4_sampler *s, int32_t t) {
    if (--s->count[t] == 0) {
        int32_t pos = s->present_pos[t], last = s->present[--s->n_present];
        s->present[pos] = last;
        s->present_pos[last] = pos;
    }
}

void g4_sampler_accept(g4_sampler *s, int32_t token) {
    if (!s || !s->pen || token < 0 || token >= s->n) return;
    if (s->ring) {
        if (s->ring_len == s->ring_cap) {
            count_sub(s, s->ring[s->ring_head]);
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % s->ring_cap;
        } else {
            s->ring[(s->ring_head + s->ring_len++) % s->ring_cap] = token;
        }
    }
    count_add(s, token);
}

void g4_sampler_reset(g4_sampler *s) {
    if (!s) return;
    if (s->pen) {
        for (size_t i = 0; i < s->n_present; i++) s->count[s->present[i]] = 0;
        s->n_present = 0;
        s->ring_head = s->ring_len = 0;
    }
    rng_seed(s);
    s->last = (g4_sample_info){G4_TOKEN_NONE, 0.0f, 0};
}

/* ---- whole-vocabulary kernels ----
 * Blocks of LANES, branch-free, so that the compiler vectorizes them. Each is written
 * once and instantiated twice: for the baseline ISA and, on x86-64, with AVX2 enabled
 * (chosen at g4_sampler_new from the CPU). Both give the same bits: element-wise float
 * operations, no FMA, sums in LANES fixed accumulators. */

#define KBODY ALWAYS_INLINE

/* membership in the cut (cv, ci) and above the min-p floor; no branches (vector loops) */
ALWAYS_INLINE uint32_t in_cut(float x, int32_t i, float cv, int32_t ci, float fl) {
    return ((uint32_t)(x > cv) | ((uint32_t)(x == cv) & (uint32_t)(i <= ci))) & (uint32_t)(x >= fl);
}

KBODY void copy_logits_impl(const float *restrict in, float *restrict w, size_t n) {
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float x = in[i + j];
            w[i + j] = x == x ? x : -INFINITY;
        }
    for (; i < n; i++) w[i] = in[i] == in[i] ? in[i] : -INFINITY;
}

KBODY float vmax_impl(const float *w, size_t n) {
    float m[LANES];
    for (int j = 0; j < LANES; j++) m[j] = -INFINITY;
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) m[j] = w[i + j] > m[j] ? w[i + j] : m[j];
    float r = -INFINITY;
    for (int j = 0; j < LANES; j++) r = m[j] > r ? m[j] : r;
    for (; i < n; i++) r = w[i] > r ? w[i] : r;
    return r;
}

/* e[i] = exp((w[i] - M) * it), it = 1 / temperature */
KBODY void k_exp_impl(const float *restrict w, float *restrict e, size_t n, float M, float it) {
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) e[i + j] = fexp((w[i + j] - M) * it);
    for (; i < n; i++) e[i] = fexp((w[i] - M) * it);
}

/* e[i] = exp(w[i] - M); returns the sum */
KBODY double k_exp_sum_impl(const float *restrict w, float *restrict e, size_t n, float M) {
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int j = 0; j < LANES; j++) e[i + j] = fexp(w[i + j] - M);
        for (int j = 0; j < LANES; j++) acc[j] += (double)e[i + j];
    }
    double z = 0;
    for (int j = 0; j < LANES; j++) z += acc[j];
    for (; i < n; i++) z += (e[i] = fexp(w[i] - M));
    return z;
}

/* the sum of e[] over the members of (cv, ci, fl), in a fixed order */
KBODY double k_sum_impl(const float *restrict w, const float *restrict e, size_t n, float cv, int32_t ci,
                    float fl) {
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            uint32_t mk = 0u - in_cut(w[i + j], (int32_t)(i + j), cv, ci, fl);
            acc[j] += (double)u2f(f2u(e[i + j]) & mk);
        }
    double z = 0;
    for (int j = 0; j < LANES; j++) z += acc[j];
    for (; i < n; i++)
        if (in_cut(w[i], (int32_t)i, cv, ci, fl)) z += e[i];
    return z;
}

KBODY size_t k_count_impl(const float *restrict w, size_t n, float cv, int32_t ci, float fl) {
    uint32_t acc[LANES] = {0};
    size_t i = 0, c = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int j = 0; j < LANES; j++) acc[j] += in_cut(w[i + j], (int32_t)(i + j), cv, ci, fl);
        if ((i & 0xFFFFF) == 0) /* flush before 32-bit lanes could overflow */
            for (int j = 0; j < LANES; j++) c += acc[j], acc[j] = 0;
    }
    for (int j = 0; j < LANES; j++) c += acc[j];
    for (; i < n; i++) c += in_cut(w[i], (int32_t)i, cv, ci, fl);
    return c;
}

/* The members of (cv, ci, fl) in id order; blocks without one are skipped. */
KBODY size_t k_collect_impl(const float *restrict w, size_t n, float cv, int32_t ci, float fl,
                        int32_t *restrict out) {
    size_t i = 0, m = 0;
    for (; i + LANES <= n; i += LANES) {
        uint32_t any = 0;
        for (int j = 0; j < LANES; j++) any |= in_cut(w[i + j], (int32_t)(i + j), cv, ci, fl);
        if (!any) continue;
        for (int j = 0; j < LANES; j++)
            if (in_cut(w[i + j], (int32_t)(i + j), cv, ci, fl)) out[m++] = (int32_t)(i + j);
    }
    for (; i < n; i++)
        if (in_cut(w[i], (int32_t)i, cv, ci, fl)) out[m++] = (int32_t)i;
    return m;
}

/* e[i] = 0 for non-members; bsum[b] = the sum of block b (a fixed float tree); returns
 * the total. */
KBODY double k_mask_blocks_impl(const float *restrict w, float *restrict e, double *restrict bsum, size_t n,
                            float cv, int32_t ci, float fl) {
    double z = 0;
    size_t i = 0, b = 0;
    for (; i + LANES <= n; i += LANES, b++) {
        float t[LANES / 2];
        for (int j = 0; j < LANES; j++) {
            uint32_t mk = 0u - in_cut(w[i + j], (int32_t)(i + j), cv, ci, fl);
            e[i + j] = u2f(f2u(e[i + j]) & mk);
        }
        for (int j = 0; j < LANES / 2; j++) t[j] = e[i + j] + e[i + j + LANES / 2];
        for (int j = 0; j < LANES / 4; j++) t[j] += t[j + LANES / 4];
        for (int j = 0; j < LANES / 8; j++) t[j] += t[j + LANES / 8];
        bsum[b] = (double)t[0] + (double)t[1];
        z += bsum[b];
    }
    if (i < n) {
        double r = 0;
        for (; i < n; i++) {
            if (!in_cut(w[i], (int32_t)i, cv, ci, fl)) e[i] = 0;
            r += e[i];
        }
        bsum[b] = r;
        z += r;
    }
    return z;
}

/* bmax[b] = the maximum of block b (LANES tokens; the last block may be shorter) */
KBODY void k_block_max_impl(const float *restrict w, float *restrict bmax, size_t n) {
    size_t i = 0, b = 0;
    for (; i + LANES <= n; i += LANES, b++) {
        float t[LANES / 2];
        for (int j = 0; j < LANES / 2; j++) {
            float a = w[i + j], c = w[i + j + LANES / 2];
            t[j] = a > c ? a : c;
        }
        for (int j = 0; j < LANES / 4; j++) t[j] = t[j] > t[j + LANES / 4] ? t[j] : t[j + LANES / 4];
        for (int j = 0; j < LANES / 8; j++) t[j] = t[j] > t[j + LANES / 8] ? t[j] : t[j + LANES / 8];
        bmax[b] = t[0] > t[1] ? t[0] : t[1];
    }
    if (i < n) {
        float m = -INFINITY;
        for (; i < n; i++) m = w[i] > m ? w[i] : m;
        bmax[b] = m;
    }
}

/* Level-1 buckets: distance to the maximum in steps of 1/D_SCALE, distances from
 * (D_BUCKETS-1)/D_SCALE on in the last bucket, non-members of (cv, ci) in D_BUCKETS. The
 * clamp compares bit patterns (d >= 0), which is monotone and cannot trap. */
KBODY void k_buckets_impl(const float *restrict w, uint16_t *restrict bk, size_t n, float M, float cv,
                      int32_t ci) {
    const uint32_t top = 0x45000000u; /* 2048.0f = D_BUCKETS - 1 */
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float x = w[i + j];
            uint32_t d = f2u((M - x) * D_SCALE);
            d = d < top ? d : top;
            uint32_t b = (uint32_t)(int32_t)u2f(d);
            uint32_t mk = 0u - in_cut(x, (int32_t)(i + j), cv, ci, -INFINITY);
            bk[i + j] = (uint16_t)((b & mk) | (D_BUCKETS & ~mk));
        }
    for (; i < n; i++) {
        float x = w[i];
        uint32_t d = f2u((M - x) * D_SCALE);
        d = d < top ? d : top;
        bk[i] = in_cut(x, (int32_t)i, cv, ci, -INFINITY) ? (uint16_t)(int32_t)u2f(d) : D_BUCKETS;
    }
}


typedef struct g4_sample_kernels {
    void (*copy_logits)(const float *restrict, float *restrict, size_t);
    float (*vmax)(const float *, size_t);
    void (*exp)(const float *restrict, float *restrict, size_t, float, float);
    double (*exp_sum)(const float *restrict, float *restrict, size_t, float);
    double (*sum)(const float *restrict, const float *restrict, size_t, float, int32_t, float);
    size_t (*count)(const float *restrict, size_t, float, int32_t, float);
    size_t (*collect)(const float *restrict, size_t, float, int32_t, float, int32_t *restrict);
    double (*mask_blocks)(const float *restrict, float *restrict, double *restrict, size_t, float, int32_t,
                          float);
    void (*buckets)(const float *restrict, uint16_t *restrict, size_t, float, float, int32_t);
    void (*block_max)(const float *restrict, float *restrict, size_t);
} g4_sample_kernels;

#define DEFINE_KERNELS(sfx, attr)                                                                   \
    attr static void copy_logits_##sfx(const float *restrict a, float *restrict b, size_t n) {       \
        copy_logits_impl(a, b, n);                                                                   \
    }                                                                                                \
    attr static float vmax_##sfx(const float *a, size_t n) { return vmax_impl(a, n); }               \
    attr static void exp_##sfx(const float *restrict a, float *restrict b, size_t n, float m, float t) { \
        k_exp_impl(a, b, n, m, t);                                                                   \
    }                                                                                                \
    attr static double exp_sum_##sfx(const float *restrict a, float *restrict b, size_t n, float m) {  \
        return k_exp_sum_impl(a, b, n, m);                                                           \
    }                                                                                                \
    attr static double sum_##sfx(const float *restrict a, const float *restrict b, size_t n, float cv,  \
                                 int32_t ci, float fl) {                                             \
        return k_sum_impl(a, b, n, cv, ci, fl);                                                      \
    }                                                                                                \
    attr static size_t count_##sfx(const float *restrict a, size_t n, float cv, int32_t ci, float fl) { \
        return k_count_impl(a, n, cv, ci, fl);                                                       \
    }                                                                                                \
    attr static size_t collect_##sfx(const float *restrict a, size_t n, float cv, int32_t ci, float fl, \
                                     int32_t *restrict o) {                                          \
        return k_collect_impl(a, n, cv, ci, fl, o);                                                  \
    }                                                                                                \
    attr static double mask_blocks_##sfx(const float *restrict a, float *restrict b, double *restrict c, \
                                         size_t n, float cv, int32_t ci, float fl) {                 \
        return k_mask_blocks_impl(a, b, c, n, cv, ci, fl);                                           \
    }                                                                                                \
    attr static void buckets_##sfx(const float *restrict a, uint16_t *restrict b, size_t n, float m,  \
                                   float cv, int32_t ci) {                                           \
        k_buckets_impl(a, b, n, m, cv, ci);                                                          \
    }                                                                                                \
    attr static void block_max_##sfx(const float *restrict a, float *restrict b, size_t n) {          \
        k_block_max_impl(a, b, n);                                                                   \
    }                                                                                                \
    static const g4_sample_kernels kernels_##sfx = {copy_logits_##sfx, vmax_##sfx,   exp_##sfx,      \
                                                    exp_sum_##sfx,     sum_##sfx,    count_##sfx,    \
                                                    collect_##sfx,     mask_blocks_##sfx, buckets_##sfx, \
                                                    block_max_##sfx};

DEFINE_KERNELS(base, )
#if defined(__GNUC__) && defined(__x86_64__)
#define G4_SAMPLE_AVX2 1
DEFINE_KERNELS(avx2, __attribute__((target("avx2"))))
#endif

static const g4_sample_kernels *pick_kernels(void) {
#ifdef G4_SAMPLE_AVX2
    if (g4_cpu_get()->avx2) return &kernels_avx2;
#endif
    return &kernels_base;
}

void g4_sampler_use_portable_kernels(g4_sampler *s) {
    if (s) s->k = &kernels_base;
}

/* ---- adjusted logits ---- */

static void adjust(const g4_sampler *s, const float *logits, float *w) {
    s->k->copy_logits(logits, w, (size_t)s->n);
    for (size_t j = 0; j < s->n_bias; j++) {
        int32_t t = s->bias_tok[j];
        float x = s->bias_val[j] == -INFINITY ? -INFINITY : w[t] + s->bias_val[j];
        w[t] = isnan(x) ? -INFINITY : x; /* -inf logit + inf bias stays banned */
    }
    if (!s->pen) return;
    const float rp = s->p.repeat_penalty, fp = s->p.frequency_penalty, pp = s->p.presence_penalty;
    for (size_t j = 0; j < s->n_present; j++) {
        int32_t t = s->present[j];
        float x = w[t];
        if (rp != 1.0f) x = x <= 0 ? x * rp : x / rp;
        x -= (float)s->count[t] * fp + pp; /* count > 0 for every present token */
        w[t] = isnan(x) ? -INFINITY : x;
    }
}

void g4_sampler_adjust(const g4_sampler *s, const float *logits, float *out) {
    if (s && logits && out) adjust(s, logits, out);
}

/* ---- candidate sets ---- */

/* a is ranked before b: higher logit, or the same logit and a lower id */
static inline bool before(float wa, int32_t ia, float wb, int32_t ib) {
    return wa > wb || (wa == wb && ia < ib);
}

static int cmp_wid(const void *pa, const void *pb) {
    const wid *a = pa, *b = pb;
    return before(a->w, a->id, b->w, b->id) ? -1 : before(b->w, b->id, a->w, a->id) ? 1 : 0;
}

static void heap_down(wid *h, size_t n, size_t i) {
    for (;;) { /* root = the worst entry */
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && before(h[m].w, h[m].id, h[l].w, h[l].id)) m = l;
        if (r < n && before(h[m].w, h[m].id, h[r].w, h[r].id)) m = r;
        if (m == i) return;
        wid t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(wid *h, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(h[p].w, h[p].id, h[i].w, h[i].id)) return;
        wid t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* The k best members of the cut (cv, ci, fl), sorted best first, into out; returns how
 * many (fewer when there are fewer members). Ids are scanned in increasing order, so an
 * equal logit later in the scan ranks lower and never replaces the root. Blocks whose
 * maximum (bmax, from the block_max kernel) cannot enter the full heap are skipped. When
 * every finite token is a member and k <= TAU_MAX, the k-th largest block maximum tau is
 * found first: k blocks each hold a token >= tau, so nothing below tau can make the top
 * k and the scan starts with that bar instead of an empty heap. */
static size_t top_list(g4_sampler *s, size_t k, float cv, int32_t ci, float fl, wid *out) {
    const float *w = s->w, *bmax = s->bmax;
    const size_t n = (size_t)s->n, nb = (n + LANES - 1) / LANES;
    s->k->block_max(w, s->bmax, n);
    float tau = -INFINITY;
    if (k <= TAU_MAX && k <= nb && cv == -INFINITY && ci < 0 && fl == -INFINITY) {
        float *h = s->tau_heap; /* min-heap of the k largest block maxima */
        for (size_t b = 0; b < nb; b++) {
            float x = bmax[b];
            if (b < k) {
                size_t i = b;
                h[i] = x;
                while (i > 0 && h[(i - 1) / 2] > h[i]) {
                    float t = h[i];
                    h[i] = h[(i - 1) / 2];
                    h[(i - 1) / 2] = t;
                    i = (i - 1) / 2;
                }
            } else if (x > h[0]) {
                size_t i = 0;
                h[0] = x;
                for (;;) {
                    size_t l = 2 * i + 1, r = l + 1, m = i;
                    if (l < k && h[l] < h[m]) m = l;
                    if (r < k && h[r] < h[m]) m = r;
                    if (m == i) break;
                    float t = h[i];
                    h[i] = h[m];
                    h[m] = t;
                    i = m;
                }
            }
        }
        tau = h[0];
    }
    size_t h = 0;
    for (size_t i0 = 0, b = 0; i0 < n; i0 += LANES, b++) {
        if (!(bmax[b] >= tau) || (h == k && !(bmax[b] > out[0].w))) continue;
        size_t i1 = i0 + LANES < n ? i0 + LANES : n;
        for (size_t i = i0; i < i1; i++) {
            float x = w[i];
            if (!in_cut(x, (int32_t)i, cv, ci, fl) || !(x >= tau)) continue;
            if (h < k) {
                out[h] = (wid){x, (int32_t)i};
                heap_up(out, h++);
            } else if (x > out[0].w) {
                out[0] = (wid){x, (int32_t)i};
                heap_down(out, h, 0);
            }
        }
    }
    for (size_t m = h; m > 1; m--) { /* heap sort: the worst goes to the end */
        wid t = out[0];
        out[0] = out[m - 1];
        out[m - 1] = t;
        heap_down(out, m - 1, 0);
    }
    return h;
}

enum { CUT_COUNT, CUT_MASS };

static inline int sub_bucket(double hi, double scale, float x) {
    double d = (hi - (double)x) * scale; /* monotone in x: 0 for hi, SUB_BUCKETS for lo */
    return d < SUB_BUCKETS - 1 ? (int)d : SUB_BUCKETS - 1;
}

/* The first of the n buckets, skipping those with occ[b] == 0, at which the running sum
 * *acc + val[b] reaches target; -1 when none does. *acc ends as the sum of the buckets
 * before it (all of them on -1). */
static int bucket_reaching(const double *val, const double *occ, int n, double target,
                           double *acc) {
    for (int b = 0; b < n; b++) {
        if (occ[b] == 0) continue;
        if (*acc + val[b] >= target) return b;
        *acc += val[b];
    }
    return -1;
}

/* The cut inside one bucket: ids[0..m) in increasing id order, all ranked below the
 * tokens already counted and above the ones excluded. Adds each token's value (1, or its
 * weight e[]) in rank order until acc reaches target and sets (*cv, *ci) to the token
 * that reached it, or to the last one when rounding keeps the target out of reach.
 * Buckets are split by value into SUB_BUCKETS (stable, so ids stay increasing) until
 * they are small or hold one value. */
static void cut_ids(g4_sampler *s, int32_t *ids, size_t m, int mode, double target, float *cv,
                    int32_t *ci) {
    const float *w = s->w, *e = s->e;
    double acc = 0;
    for (int depth = 0;; depth++) {
        float lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < m; j++) {
            float x = w[ids[j]];
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
        if (m <= SMALL_SORT || depth >= MAX_DEPTH || lo == hi) {
            wid *l = s->list;
            for (size_t j = 0; j < m; j++) l[j] = (wid){w[ids[j]], ids[j]};
            if (lo != hi) qsort(l, m, sizeof *l, cmp_wid); /* one value: already by id */
            for (size_t j = 0; j < m; j++) {
                acc += mode == CUT_MASS ? (double)e[l[j].id] : 1.0;
                if (acc >= target || j + 1 == m) {
                    *cv = l[j].w;
                    *ci = l[j].id;
                    return;
                }
            }
            return;
        }
        double cnt[SUB_BUCKETS], mass[SUB_BUCKETS];
        memset(cnt, 0, sizeof cnt);
        memset(mass, 0, sizeof mass);
        const double scale = SUB_BUCKETS / ((double)hi - (double)lo);
        for (size_t j = 0; j < m; j++) {
            int b = sub_bucket(hi, scale, w[ids[j]]);
            cnt[b] += 1.0;
            if (mode == CUT_MASS) mass[b] += e[ids[j]];
        }
        int bs = bucket_reaching(mode == CUT_MASS ? mass : cnt, cnt, SUB_BUCKETS, target, &acc);
        if (bs < 0) { /* rounding: out of reach, every token stays; the last is at lo */
            int32_t last = -1;
            for (size_t j = 0; j < m; j++)
                if (w[ids[j]] == lo) last = ids[j];
            *cv = lo;
            *ci = last;
            return;
        }
        size_t k = 0;
        for (size_t j = 0; j < m; j++)
            if (sub_bucket(hi, scale, w[ids[j]]) == bs) ids[k++] = ids[j];
        m = k; /* smaller: lo and hi fall in different buckets */
    }
}

/* The cut over the whole vocabulary among the members of (*cv, *ci) (updated in place):
 * the first tokens in rank order whose count reaches target (CUT_COUNT) or whose
 * weights e[] sum to target (CUT_MASS). One pass buckets the members by distance to the
 * maximum M; the bucket where the target is reached goes to cut_ids. */
static void cut_vocab(g4_sampler *s, float M, int mode, double target, float *cv, int32_t *ci) {
    const size_t n = (size_t)s->n;
    const float *e = s->e;
    uint16_t *bk = s->bk;
    s->k->buckets(s->w, bk, n, M, *cv, *ci);
    double val[D_BUCKETS + 1];
    memset(val, 0, sizeof val);
    if (mode == CUT_MASS)
        for (size_t i = 0; i < n; i++) val[bk[i]] += (double)e[i];
    else
        for (size_t i = 0; i < n; i++) val[bk[i]] += 1.0;
    double acc = 0;
    int bs = bucket_reaching(val, val, D_BUCKETS, target, &acc);
    if (bs < 0) return; /* the target is not reached: every member stays */
    size_t m = 0, i = 0;
    const uint16_t want = (uint16_t)bs;
    for (; i + LANES <= n; i += LANES) {
        uint32_t any = 0;
        for (int j = 0; j < LANES; j++) any |= bk[i + j] == want;
        if (!any) continue;
        for (int j = 0; j < LANES; j++)
            if (bk[i + j] == want) s->ids[m++] = (int32_t)(i + j);
    }
    for (; i < n; i++)
        if (bk[i] == want) s->ids[m++] = (int32_t)i;
    cut_ids(s, s->ids, m, mode, target - acc, cv, ci);
}

typedef enum { PLAN_NONE, PLAN_ONE, PLAN_INF, PLAN_LIST, PLAN_CUT } plan_kind;

typedef struct {
    plan_kind kind;
    float M;      /* the maximum adjusted logit */
    int32_t one;  /* PLAN_ONE: the token */
    size_t m;     /* PLAN_LIST: s->list[0..m); PLAN_INF: the first m tokens at +inf;
                     PLAN_CUT: the number of members */
    bool sorted;  /* PLAN_LIST: in rank order (else in id order) */
    bool e_t1;    /* PLAN_CUT: e[] already holds exp(w - M) for every token */
    float cv;     /* PLAN_CUT: members are in_cut(w, i, cv, ci, fl) */
    int32_t ci;
    float fl;
} plan;

/* A sorted list of m candidates, cut at the min-p floor. */
static void list_plan(plan *pl, const wid *l, size_t m, float fl) {
    size_t k = 1; /* the first token is the maximum and always passes min-p */
    while (k < m && l[k].w >= fl) k++;
    pl->kind = PLAN_LIST;
    pl->m = k;
    pl->sorted = true;
}

static void make_plan(g4_sampler *s, const float *logits, plan *pl) {
    const g4_sampler_params *p = &s->p;
    const size_t n = (size_t)s->n;
    float *w = s->w;
    adjust(s, logits, w);
    memset(pl, 0, sizeof *pl);
    const float M = s->k->vmax(w, n);
    pl->M = M;
    if (M == -INFINITY) {
        pl->kind = PLAN_NONE;
        return;
    }
    if (p->temperature <= 0) {
        size_t i = 0;
        while (w[i] != M) i++;
        pl->kind = PLAN_ONE;
        pl->one = (int32_t)i;
        return;
    }
    if (M == INFINITY) { /* the +inf tokens share the probability equally */
        size_t m = 0;
        for (size_t i = 0; i < n; i++) m += w[i] == INFINITY;
        if (p->top_k > 0 && (size_t)p->top_k < m) m = (size_t)p->top_k;
        if (p->top_p < 1) {
            double keep = ceil((double)p->top_p * (double)m);
            m = keep < 1 ? 1 : keep < (double)m ? (size_t)keep : m;
        }
        pl->kind = PLAN_INF;
        pl->m = m;
        return;
    }
    const bool top_k = p->top_k > 0 && (size_t)p->top_k < n;
    const float fl = p->min_p > 0 ? M + logf(p->min_p) : -INFINITY;
    wid *l = s->list;
    if (top_k && p->top_k <= K_HEAP) {
        size_t m = top_list(s, (size_t)p->top_k, -INFINITY, -1, -INFINITY, l);
        if (p->top_p < 1) {
            double z = 0, c = 0;
            for (size_t j = 0; j < m; j++) z += (s->e[j] = fexp(l[j].w - M));
            const double target = (double)p->top_p * z;
            for (size_t j = 0; j < m; j++) {
                c += s->e[j];
                if (c >= target) {
                    m = j + 1;
                    break;
                }
            }
        }
        list_plan(pl, l, m, fl);
        return;
    }
    float cv = -INFINITY;
    int32_t ci = -1;
    if (top_k) cut_vocab(s, M, CUT_COUNT, (double)p->top_k, &cv, &ci);
    if (p->top_p < 1) {
        double z = top_k ? (s->k->exp(w, s->e, n, M, 1.0f), s->k->sum(w, s->e, n, cv, ci, -INFINITY))
                         : s->k->exp_sum(w, s->e, n, M);
        const double target = (double)p->top_p * z;
        if (!top_k) { /* usually the top few tokens already hold the mass: try them first */
            size_t m = top_list(s, TOP_P_TRY, -INFINITY, -1, -INFINITY, l);
            double c = 0;
            for (size_t j = 0; j < m; j++) {
                c += s->e[l[j].id];
                if (c >= target) {
                    list_plan(pl, l, j + 1, fl);
                    return;
                }
            }
        }
        cut_vocab(s, M, CUT_MASS, target, &cv, &ci);
        pl->e_t1 = true;
    }
    size_t m = s->k->count(w, n, cv, ci, fl);
    if (m <= LIST_MAX) { /* few members: an explicit list is cheaper to draw from */
        m = s->k->collect(w, n, cv, ci, fl, s->ids);
        for (size_t j = 0; j < m; j++) s->list[j] = (wid){w[s->ids[j]], s->ids[j]};
        pl->kind = PLAN_LIST;
        pl->m = m;
        return;
    }
    pl->kind = PLAN_CUT;
    pl->m = m;
    pl->cv = cv;
    pl->ci = ci;
    pl->fl = fl;
}

/* PLAN_CUT: e[i] = the final weight of token i (0 for non-members), bsum[] the sums of
 * blocks of LANES weights; returns the total. */
static double cut_weights(g4_sampler *s, const plan *pl) {
    const size_t n = (size_t)s->n;
    const float T = s->p.temperature;
    if (!(pl->e_t1 && T == 1.0f)) s->k->exp(s->w, s->e, n, pl->M, 1.0f / T);
    return s->k->mask_blocks(s->w, s->e, s->bsum, n, pl->cv, pl->ci, pl->fl);
}

/* PLAN_LIST: e[j] = the final weight of list entry j; returns the total. */
static double list_weights(g4_sampler *s, const plan *pl) {
    const float it = 1.0f / s->p.temperature;
    double z = 0;
    for (size_t j = 0; j < pl->m; j++) z += (s->e[j] = fexp((s->list[j].w - pl->M) * it));
    return z;
}

/* The k-th token at +inf, in id order. */
static int32_t inf_token(const g4_sampler *s, size_t k) {
    for (int32_t i = 0; i < s->n; i++)
        if (s->w[i] == INFINITY && k-- == 0) return i;
    return G4_TOKEN_NONE; /* not reached */
}

int32_t g4_sampler_sample(g4_sampler *s, const float *logits) {
    if (!s || !logits) return G4_TOKEN_NONE;
    plan pl;
    make_plan(s, logits, &pl);
    g4_sample_info *li = &s->last;
    switch (pl.kind) {
    case PLAN_NONE:
        *li = (g4_sample_info){G4_TOKEN_NONE, 0.0f, 0};
        return G4_TOKEN_NONE;
    case PLAN_ONE:
        *li = (g4_sample_info){pl.one, 1.0f, 1};
        return pl.one;
    case PLAN_INF: {
        size_t k = (size_t)(rng_uniform(s->rng) * (double)pl.m);
        if (k >= pl.m) k = pl.m - 1;
        int32_t t = inf_token(s, k);
        *li = (g4_sample_info){t, (float)(1.0 / (double)pl.m), (int32_t)pl.m};
        return t;
    }
    case PLAN_LIST: {
        const double z = list_weights(s, &pl);
        const double u = rng_uniform(s->rng) * z;
        double c = 0;
        size_t k = 0;
        for (; k + 1 < pl.m; k++) {
            c += s->e[k];
            if (c > u) break;
        }
        while (k > 0 && s->e[k] == 0) k--; /* rounding ran past the last weight */
        *li = (g4_sample_info){s->list[k].id, (float)(s->e[k] / z), (int32_t)pl.m};
        return s->list[k].id;
    }
    case PLAN_CUT: {
        const double z = cut_weights(s, &pl);
        const double u = rng_uniform(s->rng) * z;
        const float *e = s->e;
        const size_t n = (size_t)s->n, nblk = (n + LANES - 1) / LANES;
        double c = 0;
        size_t b = 0;
        for (; b + 1 < nblk; b++) {
            if (c + s->bsum[b] > u) break;
            c += s->bsum[b];
        }
        size_t i = b * LANES, end = i + LANES < n ? i + LANES : n, pick = n;
        for (; i < end; i++) {
            if (e[i] == 0) continue;
            pick = i;
            c += e[i];
            if (c > u) break;
        }
        if (pick == n) /* rounding: the last token with a weight */
            for (pick = n - 1; pick > 0 && e[pick] == 0; pick--) {}
        *li = (g4_sample_info){(int32_t)pick, (float)(e[pick] / z), (int32_t)pl.m};
        return (int32_t)pick;
    }
    }
    return G4_TOKEN_NONE;
}

size_t g4_sampler_candidates(g4_sampler *s, const float *logits, g4_token_prob *out, size_t cap) {
    if (!s || !logits) return 0;
    if (!out) cap = 0;
    plan pl;
    make_plan(s, logits, &pl);
    switch (pl.kind) {
    case PLAN_NONE: return 0;
    case PLAN_ONE:
        if (cap) out[0] = (g4_token_prob){pl.one, 1.0f};
        return 1;
    case PLAN_INF: {
        size_t k = 0;
        for (int32_t i = 0; i < s->n && k < pl.m && k < cap; i++)
            if (s->w[i] == INFINITY) out[k++] = (g4_token_prob){i, (float)(1.0 / (double)pl.m)};
        return pl.m;
    }
    case PLAN_LIST: {
        if (!pl.sorted) qsort(s->list, pl.m, sizeof *s->list, cmp_wid);
        const double z = list_weights(s, &pl);
        for (size_t j = 0; j < pl.m && j < cap; j++)
            out[j] = (g4_token_prob){s->list[j].id, (float)(s->e[j] / z)};
        return pl.m;
    }
    case PLAN_CUT: {
        const double z = cut_weights(s, &pl);
        size_t k = cap < pl.m ? cap : pl.m;
        if (k) {
            k = top_list(s, k, pl.cv, pl.ci, pl.fl, s->list);
            for (size_t j = 0; j < k; j++)
                out[j] = (g4_token_prob){s->list[j].id, (float)(s->e[s->list[j].id] / z)};
        }
        return pl.m;
    }
    }
    return 0;
}
