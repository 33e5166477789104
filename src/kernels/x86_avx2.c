/* x86_avx2.c — AVX2 + FMA + F16C kernels (this file is compiled with -mavx2 -mfma -mf16c).
 *
 * Every quantized dot product follows the scalar reference exactly in its integer part
 * (per-block / per-sub-block integer sums) and differs only in the order of the float
 * additions. Each type has one always-inlined "core" that handles NX activation rows at
 * once (NX a compile-time constant 1..4): dot[t] is core(NX=1), dot_multi[t] is
 * core(NX=nx) and gemm[t] runs dot_multi over its weight rows, so the per-row sequence
 * of operations — and therefore every bit of the result — is the same whether a row goes
 * through dot, dot_multi or gemm.
 *
 * The activation quantizers are bit-exact with the reference (round half to even under
 * the default MXCSR, scales computed with the same f32 operations). */
#include <immintrin.h>
#include <string.h>

#include "core/fp16.h"
#include "kernels/kernels.h"
#include "kernels/quants.h"
#include "kernels/ref.h"

#include "kernels/x86_common.h"

/* ---------------------------------------------------------------- helpers ---- */

G4_AI float h2f(uint16_t h) { return _cvtsh_ss(h); }

G4_AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

G4_AI int hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

G4_AI float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

G4_AI __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
G4_AI __m128i loadu128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* 16 packed bytes -> 32 bytes: low nibbles (elements 0..15) then high nibbles (16..31). */
G4_AI __m256i nib32(const uint8_t *qs) {
    __m128i r = loadu128(qs);
    __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(r), _mm_srli_epi16(r, 4), 1);
    return _mm256_and_si256(t, _mm256_set1_epi8(0x0F));
}

/* byte k = 0xFF if bit k of b is set (k = 0..31). */
G4_AI __m256i bits_to_bytes(uint32_t b) {
    __m256i v = _mm256_set1_epi32((int)b);
    v = _mm256_shuffle_epi8(v, _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                                 0x0101010101010101LL, 0));
    const __m256i bm = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bm), bm);
}

/* Σ pairs of u8*s8 then pairs of i16 -> 8 x i32 (exact for our operand ranges). */
G4_AI __m256i dot_us8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
/* s8 x s8 via the sign trick (|a| is at most 128, fine for maddubs). */
G4_AI __m256i dot_ss8(__m256i a, __m256i b) {
    return dot_us8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

G4_AI uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* E8M0 "half" scale of MXFP4: 2^(e-128), denormal for e < 2. */
G4_AI float e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23);
    return g4_bits_f32(bits);
}

/* Q4_K / Q5_K 6-bit scales: sc[0..7], mn[0..7]. */
G4_AI void kscales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t a0 = rd32(s), a1 = rd32(s + 4), a2 = rd32(s + 8);
    uint32_t sl = a0 & 0x3f3f3f3fu, ml = a1 & 0x3f3f3f3fu;
    uint32_t sh = (a2 & 0x0f0f0f0fu) | ((a0 >> 2) & 0x30303030u);
    uint32_t mh = ((a2 >> 4) & 0x0f0f0f0fu) | ((a1 >> 2) & 0x30303030u);
    memcpy(sc, &sl, 4); memcpy(sc + 4, &sh, 4);
    memcpy(mn, &ml, 4); memcpy(mn + 4, &mh, 4);
}


/* ------------------------------------------------------------- quantizers ---- */

/* 4 x 8 int32 -> 32 int8 in element order. */
G4_AI __m256i pack32(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
    __m256i a = _mm256_packs_epi32(i0, i1), b = _mm256_packs_epi32(i2, i3);
    __m256i p = _mm256_packs_epi16(a, b);
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

G4_AI __m256i round_i32(__m256 v) {
    return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* One 32-element Q8_0/Q8_1 block: returns d, writes qs, *sum = Σ qs. */
G4_AI float q8_block(const float *x, int8_t *qs, int *sum) {
    const __m256 sgn = _mm256_set1_ps(-0.0f);
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sgn, v0), _mm256_andnot_ps(sgn, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sgn, v2), _mm256_andnot_ps(sgn, v3)));
    const float amax = hmax8(m);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i i0 = round_i32(_mm256_mul_ps(v0, vid)), i1 = round_i32(_mm256_mul_ps(v1, vid));
    __m256i i2 = round_i32(_mm256_mul_ps(v2, vid)), i3 = round_i32(_mm256_mul_ps(v3, vid));
    if (sum) *sum = hsum8i(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    _mm256_storeu_si256((__m256i *)qs, pack32(i0, i1, i2, i3));
    return d;
}

static void quant_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = q8_block(x + i * QK8_0, y[i].qs, NULL);
        y[i].d = g4_f32_to_fp16(d);
    }
}

static void quant_q8_1(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        int sum;
        float d = q8_block(x + i * QK8_1, y[i].qs, &sum);
        y[i].d = g4_f32_to_fp16(d);
        y[i].s = g4_f32_to_fp16(d * (float)sum);
    }
}

static void quant_q8_k(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    const __m256 sgn = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < QK_K; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sgn, _mm256_loadu_ps(x + k)));
        const float amax = hmax8(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const __m256 va = _mm256_set1_ps(amax);
        int idx = 0;
        for (int k = 0; k < QK_K; k += 8) {
            int mask = _mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_andnot_ps(sgn, _mm256_loadu_ps(x + k)), va, _CMP_EQ_OQ));
            if (mask) { idx = k + __builtin_ctz((unsigned)mask); break; }
        }
        const float iscale = -127.0f / x[idx];
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i c127 = _mm256_set1_epi32(127);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i q[4];
            UNROLL
            for (int u = 0; u < 4; u++)
                q[u] = _mm256_min_epi32(c127, round_i32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + k + 8 * u))));
            y[i].bsums[k / 16] = (int16_t)hsum8i(_mm256_add_epi32(q[0], q[1]));
            y[i].bsums[k / 16 + 1] = (int16_t)hsum8i(_mm256_add_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(y[i].qs + k), pack32(q[0], q[1], q[2], q[3]));
        }
        y[i].d = 1.0f / iscale;
    }
}

static void quant_f16(const float *x, void *dst, int64_t n) {
    uint16_t *y = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = g4_f32_to_fp16(x[i]);
}

static void quant_bf16(const float *x, void *dst, int64_t n) {
    uint16_t *y = dst;
    int64_t i = 0;
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i one = _mm256_set1_epi32(1), r = _mm256_set1_epi32(0x7fff), q = _mm256_set1_epi32(64);
    for (; i + 16 <= n; i += 16) {
        __m256i o[2];
        UNROLL
        for (int u = 0; u < 2; u++) {
            __m256i v = _mm256_castps_si256(_mm256_loadu_ps(x + i + 8 * u));
            __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, abs), inf);
            __m256i rn = _mm256_srli_epi32(
                _mm256_add_epi32(v, _mm256_add_epi32(r, _mm256_and_si256(_mm256_srli_epi32(v, 16), one))), 16);
            __m256i qn = _mm256_or_si256(_mm256_srli_epi32(v, 16), q);
            o[u] = _mm256_blendv_epi8(rn, qn, nan);
        }
        __m256i p = _mm256_packus_epi32(o[0], o[1]); /* values are <= 0xffff: no saturation */
        p = _mm256_permute4x64_epi64(p, 0xd8);
        _mm256_storeu_si256((__m256i *)(y + i), p);
    }
    for (; i < n; i++) y[i] = g4_f32_to_bf16(x[i]);
}

/* ------------------------------------------------------------ float dots ---- */

G4_AI void f32_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const float *w = vw;
    const float *x[4];
    __m256 acc[4][4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(float, vx, j, xs);
        UNROLL
        for (int u = 0; u < 4; u++) acc[j][u] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        UNROLL
        for (int u = 0; u < 4; u++) {
            __m256 a = _mm256_loadu_ps(w + i + 8 * u);
            UNROLL
            for (int j = 0; j < NX; j++)
                acc[j][u] = _mm256_fmadd_ps(a, _mm256_loadu_ps(x[j] + i + 8 * u), acc[j][u]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(w + i);
        UNROLL
        for (int j = 0; j < NX; j++) acc[j][0] = _mm256_fmadd_ps(a, _mm256_loadu_ps(x[j] + i), acc[j][0]);
    }
    UNROLL
    for (int j = 0; j < NX; j++) {
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]), _mm256_add_ps(acc[j][2], acc[j][3])));
        for (int64_t k = i; k < n; k++) s += w[k] * x[j][k];
        out[j] = s;
    }
}
DEFINE_DOTS(f32, f32_core)

G4_AI void f16_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const uint16_t *w = vw;
    const uint16_t *x[4];
    __m256 acc[4][4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(uint16_t, vx, j, xs);
        UNROLL
        for (int u = 0; u < 4; u++) acc[j][u] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        UNROLL
        for (int u = 0; u < 4; u++) {
            __m256 a = _mm256_cvtph_ps(loadu128(w + i + 8 * u));
            UNROLL
            for (int j = 0; j < NX; j++)
                acc[j][u] = _mm256_fmadd_ps(a, _mm256_cvtph_ps(loadu128(x[j] + i + 8 * u)), acc[j][u]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(loadu128(w + i));
        UNROLL
        for (int j = 0; j < NX; j++)
            acc[j][0] = _mm256_fmadd_ps(a, _mm256_cvtph_ps(loadu128(x[j] + i)), acc[j][0]);
    }
    UNROLL
    for (int j = 0; j < NX; j++) {
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]), _mm256_add_ps(acc[j][2], acc[j][3])));
        for (int64_t k = i; k < n; k++) s += h2f(w[k]) * h2f(x[j][k]);
        out[j] = s;
    }
}
DEFINE_DOTS(f16, f16_core)

G4_AI __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(p)), 16));
}

G4_AI void bf16_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const uint16_t *w = vw;
    const uint16_t *x[4];
    __m256 acc[4][4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(uint16_t, vx, j, xs);
        UNROLL
        for (int u = 0; u < 4; u++) acc[j][u] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        UNROLL
        for (int u = 0; u < 4; u++) {
            __m256 a = bf16x8(w + i + 8 * u);
            UNROLL
            for (int j = 0; j < NX; j++) acc[j][u] = _mm256_fmadd_ps(a, bf16x8(x[j] + i + 8 * u), acc[j][u]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = bf16x8(w + i);
        UNROLL
        for (int j = 0; j < NX; j++) acc[j][0] = _mm256_fmadd_ps(a, bf16x8(x[j] + i), acc[j][0]);
    }
    UNROLL
    for (int j = 0; j < NX; j++) {
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]), _mm256_add_ps(acc[j][2], acc[j][3])));
        for (int64_t k = i; k < n; k++) s += g4_bf16_to_f32(w[k]) * g4_bf16_to_f32(x[j][k]);
        out[j] = s;
    }
}
DEFINE_DOTS(bf16, bf16_core)

/* ------------------------------------------------------ 32-element blocks ---- */

/* Common skeleton for weight types with 32-element blocks: WDEC(wb) decodes block wb
 * into the per-block operand, BDOT(wq, xq) gives 8 x i32 whose sum is the block's
 * integer dot, WSCALE(wb) the weight scale; XT is the activation block (Q8_0 or Q8_1;
 * HAS_M adds m·s per block, summed in a scalar). Two accumulators per row (even / odd
 * blocks). */
#define BLOCK32_CORE(fn, WT, XT, WDEC, BDOT, WSCALE, HAS_M)                                \
    G4_AI void fn##_step(const WT *w, const XT *const *x, int64_t i, __m256 *acc, float *ms, \
                         const int NX) {                                                   \
        const __m256i wq = WDEC(&w[i]);                                                    \
        const float dw = WSCALE(&w[i]);                                                    \
        UNROLL                                                                             \
        for (int j = 0; j < NX; j++) {                                                     \
            const __m256i s = BDOT(wq, loadu256(x[j][i].qs));                              \
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * h2f(x[j][i].d)), \
                                     acc[j]);                                              \
            if (HAS_M) ms[j] += fp16_at(&w[i], 2) * fp16_at(&x[j][i], 2);                  \
        }                                                                                  \
    }                                                                                      \
    G4_AI void fn(int64_t n, float *out, const void *vw, const void *vx, size_t xs,       \
                  const int NX) {                                                          \
        const WT *w = vw;                                                                  \
        const XT *x[4];                                                                    \
        __m256 acc0[4], acc1[4];                                                           \
        float ms[4];                                                                       \
        UNROLL                                                                             \
        for (int j = 0; j < NX; j++) {                                                     \
            x[j] = XROW(XT, vx, j, xs);                                                    \
            acc0[j] = acc1[j] = _mm256_setzero_ps();                                       \
            ms[j] = 0.0f;                                                                  \
        }                                                                                  \
        const int64_t nb = n / 32;                                                         \
        int64_t i = 0;                                                                     \
        for (; i + 2 <= nb; i += 2) {                                                      \
            PF_ROWS(x, NX, (size_t)(i + 16) * sizeof(XT), 2);                              \
            fn##_step(w, x, i, acc0, ms, NX);                                              \
            fn##_step(w, x, i + 1, acc1, ms, NX);                                          \
        }                                                                                  \
        if (i < nb) fn##_step(w, x, i, acc0, ms, NX);                                      \
        UNROLL                                                                             \
        for (int j = 0; j < NX; j++) out[j] = hsum8(_mm256_add_ps(acc0[j], acc1[j])) + ms[j]; \
    }

/* Q4_0: unsigned nibbles, minus 8·Σx. */
G4_AI __m256i q4_0_dec(const block_q4_0 *b) { return nib32(b->qs); }
G4_AI __m256i q4_0_bdot(__m256i wq, __m256i xq) {
    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(wq, xq), _mm256_maddubs_epi16(_mm256_set1_epi8(8), xq));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}
G4_AI float q4_0_scale(const block_q4_0 *b) { return h2f(b->d); }
BLOCK32_CORE(q4_0_core, block_q4_0, block_q8_0, q4_0_dec, q4_0_bdot, q4_0_scale, 0)
DEFINE_DOTS(q4_0, q4_0_core)

/* Q5_0: 5-bit unsigned, minus 16·Σx. */
G4_AI __m256i q5_0_dec(const block_q5_0 *b) {
    __m256i hb = _mm256_and_si256(bits_to_bytes(rd32(b->qh)), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nib32(b->qs), hb);
}
G4_AI __m256i q5_0_bdot(__m256i wq, __m256i xq) {
    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(wq, xq), _mm256_maddubs_epi16(_mm256_set1_epi8(16), xq));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}
G4_AI float q5_0_scale(const block_q5_0 *b) { return h2f(b->d); }
BLOCK32_CORE(q5_0_core, block_q5_0, block_q8_0, q5_0_dec, q5_0_bdot, q5_0_scale, 0)
DEFINE_DOTS(q5_0, q5_0_core)

/* Q8_0 weights: s8 x s8. */
G4_AI __m256i q8_0_dec(const block_q8_0 *b) { return loadu256(b->qs); }
G4_AI float q8_0_scale(const block_q8_0 *b) { return h2f(b->d); }
BLOCK32_CORE(q8_0_core, block_q8_0, block_q8_0, q8_0_dec, dot_ss8, q8_0_scale, 0)
DEFINE_DOTS(q8_0, q8_0_core)

/* IQ4_NL: codebook lookup, then s8 x s8. */
G4_AI __m256i iq4nl_dec(const block_iq4_nl *b) {
    const __m256i tbl = _mm256_broadcastsi128_si256(loadu128(g4_kvalues_iq4nl));
    return _mm256_shuffle_epi8(tbl, nib32(b->qs));
}
G4_AI float iq4nl_scale(const block_iq4_nl *b) { return h2f(b->d); }
BLOCK32_CORE(iq4nl_core, block_iq4_nl, block_q8_0, iq4nl_dec, dot_ss8, iq4nl_scale, 0)
DEFINE_DOTS(iq4nl, iq4nl_core)

/* MXFP4: doubled e2m1 codebook, E8M0 half scale. */
G4_AI __m256i mxfp4_dec(const block_mxfp4 *b) {
    const __m256i tbl = _mm256_broadcastsi128_si256(loadu128(g4_kvalues_mxfp4));
    return _mm256_shuffle_epi8(tbl, nib32(b->qs));
}
G4_AI float mxfp4_scale(const block_mxfp4 *b) { return e8m0_half(b->e); }
BLOCK32_CORE(mxfp4_core, block_mxfp4, block_q8_0, mxfp4_dec, dot_ss8, mxfp4_scale, 0)
DEFINE_DOTS(mxfp4, mxfp4_core)

/* Q4_1 / Q5_1 against Q8_1: sumi·dw·dx + m·s. */
G4_AI __m256i q4_1_dec(const block_q4_1 *b) { return nib32(b->qs); }
G4_AI float q4_1_scale(const block_q4_1 *b) { return h2f(b->d); }
BLOCK32_CORE(q4_1_core, block_q4_1, block_q8_1, q4_1_dec, dot_us8, q4_1_scale, 1)
DEFINE_DOTS(q4_1, q4_1_core)

G4_AI __m256i q5_1_dec(const block_q5_1 *b) {
    __m256i hb = _mm256_and_si256(bits_to_bytes(rd32(b->qh)), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nib32(b->qs), hb);
}
G4_AI float q5_1_scale(const block_q5_1 *b) { return h2f(b->d); }
BLOCK32_CORE(q5_1_core, block_q5_1, block_q8_1, q5_1_dec, dot_us8, q5_1_scale, 1)
DEFINE_DOTS(q5_1, q5_1_core)

/* ---------------------------------------------------------------- K-quants ---- */

/* Broadcast int16 element k of both 128-bit lanes of v to its whole lane. */
G4_AI __m256i bcast16(__m256i v, int k) {
    const int lo = 2 * k, hi = 2 * k + 1;
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(lo | (hi << 8))));
}

G4_AI void q4_k_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const block_q4_K *w = vw;
    const block_q8_K *x[4];
    __m256 acc[4], accm[4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(block_q8_K, vx, j, xs);
        acc[j] = accm[j] = _mm256_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        PF_ROWS(x, NX, (size_t)(i + 2) * sizeof(block_q8_K), 5);
        uint8_t sc[8], mn[8];
        kscales(w[i].scales, sc, mn);
        const __m128i mn16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
        const __m256i mdup = _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        const float dw = h2f(w[i].d), mw = h2f(w[i].dmin);
        __m256i lo[4], hi[4];
        UNROLL
        for (int c = 0; c < 4; c++) {
            __m256i q = loadu256(w[i].qs + 32 * c);
            lo[c] = _mm256_and_si256(q, m4);
            hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        }
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            UNROLL
            for (int c = 0; c < 4; c++) {
                __m256i pl = _mm256_maddubs_epi16(lo[c], loadu256(q8 + 64 * c));
                __m256i ph = _mm256_maddubs_epi16(hi[c], loadu256(q8 + 64 * c + 32));
                s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(pl, bcast16(sc16, 2 * c)));
                s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(ph, bcast16(sc16, 2 * c + 1)));
            }
            __m256i ms = _mm256_madd_epi16(loadu256(x[j][i].bsums), mdup);
            const float dx = x[j][i].d;
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(dx * dw), acc[j]);
            accm[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(dx * mw), accm[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum8(acc[j]) - hsum8(accm[j]);
}
DEFINE_DOTS(q4_k, q4_k_core)

G4_AI void q5_k_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const block_q5_K *w = vw;
    const block_q8_K *x[4];
    __m256 acc[4], accm[4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(block_q8_K, vx, j, xs);
        acc[j] = accm[j] = _mm256_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        PF_ROWS(x, NX, (size_t)(i + 2) * sizeof(block_q8_K), 5);
        uint8_t sc[8], mn[8];
        kscales(w[i].scales, sc, mn);
        const __m128i mn16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
        const __m256i mdup = _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        const float dw = h2f(w[i].d), mw = h2f(w[i].dmin);
        __m256i lo[4], hi[4];
        __m256i qh = loadu256(w[i].qh);
        UNROLL
        for (int c = 0; c < 4; c++) {
            __m256i q = loadu256(w[i].qs + 32 * c);
            lo[c] = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4));
            hi[c] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                    _mm256_and_si256(_mm256_slli_epi16(qh, 3), b4));
            qh = _mm256_srli_epi16(qh, 2);
        }
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            UNROLL
            for (int c = 0; c < 4; c++) {
                __m256i pl = _mm256_maddubs_epi16(lo[c], loadu256(q8 + 64 * c));
                __m256i ph = _mm256_maddubs_epi16(hi[c], loadu256(q8 + 64 * c + 32));
                s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(pl, bcast16(sc16, 2 * c)));
                s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(ph, bcast16(sc16, 2 * c + 1)));
            }
            __m256i ms = _mm256_madd_epi16(loadu256(x[j][i].bsums), mdup);
            const float dx = x[j][i].d;
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(dx * dw), acc[j]);
            accm[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(dx * mw), accm[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum8(acc[j]) - hsum8(accm[j]);
}
DEFINE_DOTS(q5_k, q5_k_core)

/* Q6_K: unsigned 6-bit q times x, minus 32·Σ_j sc_j·bsum_j (all integer). */
G4_AI void q6_k_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const block_q6_K *w = vw;
    const block_q8_K *x[4];
    __m256 acc[4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(block_q8_K, vx, j, xs);
        acc[j] = _mm256_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        PF_ROWS(x, NX, (size_t)(i + 2) * sizeof(block_q8_K), 5);
        const __m256i sc16 = _mm256_cvtepi8_epi16(loadu128(w[i].scales));
        __m256i q[2][4], scv[2][4];
        UNROLL
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h, *qhp = w[i].qh + 32 * h;
            __m256i l0 = loadu256(ql), l1 = loadu256(ql + 32), hh = loadu256(qhp);
            q[h][0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 4), m30));
            q[h][1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 2), m30));
            q[h][2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hh, m30));
            q[h][3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                      _mm256_and_si256(_mm256_srli_epi16(hh, 2), m30));
            const __m256i s8 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(w[i].scales + 8 * h))));
            UNROLL
            for (int k = 0; k < 4; k++) {
                /* lane 0: scale 2k, lane 1: scale 2k+1 (of this half) */
                const short a = (short)((4 * k) | ((4 * k + 1) << 8)), b = (short)((4 * k + 2) | ((4 * k + 3) << 8));
                scv[h][k] = _mm256_shuffle_epi8(s8, _mm256_setr_epi16(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b));
            }
        }
        const float dw = h2f(w[i].d);
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            UNROLL
            for (int h = 0; h < 2; h++)
                UNROLL
                for (int k = 0; k < 4; k += 2) {
                    __m256i p0 = _mm256_maddubs_epi16(q[h][k], loadu256(q8 + 128 * h + 32 * k));
                    __m256i p1 = _mm256_maddubs_epi16(q[h][k + 1], loadu256(q8 + 128 * h + 32 * k + 32));
                    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, scv[h][k]));
                    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, scv[h][k + 1]));
                }
            __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(loadu256(x[j][i].bsums), sc16), 5);
            __m256i s = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), corr);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(x[j][i].d * dw), acc[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum8(acc[j]);
}
DEFINE_DOTS(q6_k, q6_k_core)

/* IQ4_XS: codebook values, signed 6-bit sub-block scales (ls - 32). */
G4_AI void iq4xs_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const block_iq4_xs *w = vw;
    const block_q8_K *x[4];
    __m256 acc[4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(block_q8_K, vx, j, xs);
        acc[j] = _mm256_setzero_ps();
    }
    const __m256i tbl = _mm256_broadcastsi128_si256(loadu128(g4_kvalues_iq4nl));
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        PF_ROWS(x, NX, (size_t)(i + 2) * sizeof(block_q8_K), 5);
        __m256i aw[8], sw[8], ls[8];
        UNROLL
        for (int b = 0; b < 8; b++) {
            __m256i v = _mm256_shuffle_epi8(tbl, nib32(w[i].qs + 16 * b));
            aw[b] = _mm256_sign_epi8(v, v);
            sw[b] = v;
            int l = ((w[i].scales_l[b / 2] >> (4 * (b % 2))) & 0xF) | (((w[i].scales_h >> (2 * b)) & 3) << 4);
            ls[b] = _mm256_set1_epi16((short)(l - 32));
        }
        const float dw = h2f(w[i].d);
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            UNROLL
            for (int b = 0; b < 8; b += 2) {
                __m256i p0 = _mm256_maddubs_epi16(aw[b], _mm256_sign_epi8(loadu256(q8 + 32 * b), sw[b]));
                __m256i p1 = _mm256_maddubs_epi16(aw[b + 1], _mm256_sign_epi8(loadu256(q8 + 32 * b + 32), sw[b + 1]));
                s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, ls[b]));
                s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, ls[b + 1]));
            }
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)),
                                     _mm256_set1_ps(x[j][i].d * dw), acc[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum8(acc[j]);
}
DEFINE_DOTS(iq4xs, iq4xs_core)

/* Q2_K: 2-bit q with 4-bit scale / min per 16 elements. For half h and shift 2m the 32
 * bytes qs[32h..] give elements 128h + 32m + 0..31, whose two 16-groups use scales
 * 8h + 2m and 8h + 2m + 1. isum = Σ sc·Σq·x, summs = Σ min·bsum. */
G4_AI void q2_k_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const block_q2_K *w = vw;
    const block_q8_K *x[4];
    __m256 acc[4], accm[4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(block_q8_K, vx, j, xs);
        acc[j] = accm[j] = _mm256_setzero_ps();
    }
    const __m256i m3 = _mm256_set1_epi8(3);
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        PF_ROWS(x, NX, (size_t)(i + 2) * sizeof(block_q8_K), 5);
        const __m128i sb = loadu128(w[i].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sb, 4), _mm_set1_epi8(0x0F)));
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sb, _mm_set1_epi8(0x0F)));
        __m256i q[2][4], scv[2][4];
        UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256i Q = loadu256(w[i].qs + 32 * h);
            const __m256i s8 = h ? _mm256_permute4x64_epi64(sc16, 0xEE) : _mm256_permute4x64_epi64(sc16, 0x44);
            UNROLL
            for (int m = 0; m < 4; m++) {
                q[h][m] = _mm256_and_si256(_mm256_srli_epi16(Q, 2 * m), m3);
                const short a = (short)((4 * m) | ((4 * m + 1) << 8)), b = (short)((4 * m + 2) | ((4 * m + 3) << 8));
                scv[h][m] = _mm256_shuffle_epi8(s8, _mm256_setr_epi16(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b));
            }
        }
        const float dw = h2f(w[i].d), mw = h2f(w[i].dmin);
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            UNROLL
            for (int h = 0; h < 2; h++) {
                UNROLL
                for (int m = 0; m < 4; m += 2) {
                    const __m256i p0 = _mm256_maddubs_epi16(q[h][m], loadu256(q8 + 128 * h + 32 * m));
                    const __m256i p1 = _mm256_maddubs_epi16(q[h][m + 1], loadu256(q8 + 128 * h + 32 * m + 32));
                    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, scv[h][m]));
                    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, scv[h][m + 1]));
                }
            }
            const __m256i ms = _mm256_madd_epi16(loadu256(x[j][i].bsums), mins);
            const float dx = x[j][i].d;
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(dx * dw), acc[j]);
            accm[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(dx * mw), accm[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum8(acc[j]) - hsum8(accm[j]);
}
DEFINE_DOTS(q2_k, q2_k_core)

/* Q3_K: q + 4 = (2 low bits) | (hmask bit << 2) in 0..7, so
 * Σ sc·Σ q·x = Σ sc·Σ (q+4)·x − 4·Σ sc·bsum (all integer). */
G4_AI void q3_k_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const block_q3_K *w = vw;
    const block_q8_K *x[4];
    __m256 acc[4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(block_q8_K, vx, j, xs);
        acc[j] = _mm256_setzero_ps();
    }
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        PF_ROWS(x, NX, (size_t)(i + 2) * sizeof(block_q8_K), 5);
        int8_t scs[16];
        g4_q3k_scales(w[i].scales, scs);
        const __m256i sc16 = _mm256_cvtepi8_epi16(loadu128(scs));
        const __m256i hm = loadu256(w[i].hmask);
        __m256i q[2][4], scv[2][4];
        UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256i Q = loadu256(w[i].qs + 32 * h);
            const __m256i s8 = h ? _mm256_permute4x64_epi64(sc16, 0xEE) : _mm256_permute4x64_epi64(sc16, 0x44);
            UNROLL
            for (int m = 0; m < 4; m++) {
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + m), one);
                q[h][m] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(Q, 2 * m), m3), _mm256_slli_epi16(hb, 2));
                const short a = (short)((4 * m) | ((4 * m + 1) << 8)), b = (short)((4 * m + 2) | ((4 * m + 3) << 8));
                scv[h][m] = _mm256_shuffle_epi8(s8, _mm256_setr_epi16(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b));
            }
        }
        const float dw = h2f(w[i].d);
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            UNROLL
            for (int h = 0; h < 2; h++) {
                UNROLL
                for (int m = 0; m < 4; m += 2) {
                    const __m256i p0 = _mm256_maddubs_epi16(q[h][m], loadu256(q8 + 128 * h + 32 * m));
                    const __m256i p1 = _mm256_maddubs_epi16(q[h][m + 1], loadu256(q8 + 128 * h + 32 * m + 32));
                    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, scv[h][m]));
                    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, scv[h][m + 1]));
                }
            }
            const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(loadu256(x[j][i].bsums), sc16), 2);
            const __m256i si = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), corr);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si), _mm256_set1_ps(dw * x[j][i].d), acc[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum8(acc[j]);
}
DEFINE_DOTS(q3_k, q3_k_core)

/* ------------------------------------------------------------ dequantizers ---- */

static void deq_f16(const void *src, float *y, int64_t n) {
    const uint16_t *x = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(loadu128(x + i)));
    for (; i < n; i++) y[i] = h2f(x[i]);
}

static void deq_q4_0(const void *src, float *y, int64_t n) {
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const __m256 d = _mm256_set1_ps(h2f(b[i].d));
        __m256i q = _mm256_sub_epi8(nib32(b[i].qs), _mm256_set1_epi8(8));
        __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
        _mm256_storeu_ps(y, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q0))));
        _mm256_storeu_ps(y + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q0, 8)))));
        _mm256_storeu_ps(y + 16, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q1))));
        _mm256_storeu_ps(y + 24, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q1, 8)))));
    }
}

static void deq_q8_0(const void *src, float *y, int64_t n) {
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const __m256 d = _mm256_set1_ps(h2f(b[i].d));
        UNROLL
        for (int k = 0; k < 32; k += 8)
            _mm256_storeu_ps(y + k, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                         _mm_loadl_epi64((const __m128i *)(b[i].qs + k))))));
    }
}

/* 8 bytes at p (unsigned or signed) -> 8 floats */
G4_AI __m256 u8x8_ps(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
G4_AI __m256 i8x8_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

/* Q4_K: (d·sc)·q − dmin·m, the reference's order (a mul then a sub, no fma). */
static void deq_q4_k(const void *src, float *y, int64_t n) {
    const block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        kscales(b[i].scales, sc, mn);
        const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        for (int c = 0; c < 4; c++, y += 64) {
            uint8_t lo[32], hi[32];
            const __m256i q = loadu256(b[i].qs + 32 * c);
            _mm256_storeu_si256((__m256i *)lo, _mm256_and_si256(q, _mm256_set1_epi8(0x0F)));
            _mm256_storeu_si256((__m256i *)hi, _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0F)));
            const __m256 d1 = _mm256_set1_ps(d * (float)sc[2 * c]), m1 = _mm256_set1_ps(dmin * (float)mn[2 * c]);
            const __m256 d2 = _mm256_set1_ps(d * (float)sc[2 * c + 1]), m2 = _mm256_set1_ps(dmin * (float)mn[2 * c + 1]);
            UNROLL
            for (int k = 0; k < 32; k += 8) {
                _mm256_storeu_ps(y + k, _mm256_sub_ps(_mm256_mul_ps(d1, u8x8_ps(lo + k)), m1));
                _mm256_storeu_ps(y + 32 + k, _mm256_sub_ps(_mm256_mul_ps(d2, u8x8_ps(hi + k)), m2));
            }
        }
    }
}

/* Q6_K: (d·sc)·(q − 32). */
static void deq_q6_k(const void *src, float *y, int64_t n) {
    const block_q6_K *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30), c32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = h2f(b[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = b[i].ql + 64 * h, *qhp = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            const __m256i l0 = loadu256(ql), l1 = loadu256(ql + 32), hh = loadu256(qhp);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hh, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(hh, 2), m30));
            UNROLL
            for (int k = 0; k < 4; k++) {
                const __m256i v = _mm256_sub_epi8(q[k], c32);
                const __m128i v0 = _mm256_castsi256_si128(v), v1 = _mm256_extracti128_si256(v, 1);
                const __m256 s0 = _mm256_set1_ps(d * (float)sc[2 * k]), s1 = _mm256_set1_ps(d * (float)sc[2 * k + 1]);
                _mm256_storeu_ps(y + 32 * k, _mm256_mul_ps(s0, i8x8_ps(v0)));
                _mm256_storeu_ps(y + 32 * k + 8, _mm256_mul_ps(s0, i8x8_ps(_mm_srli_si128(v0, 8))));
                _mm256_storeu_ps(y + 32 * k + 16, _mm256_mul_ps(s1, i8x8_ps(v1)));
                _mm256_storeu_ps(y + 32 * k + 24, _mm256_mul_ps(s1, i8x8_ps(_mm_srli_si128(v1, 8))));
            }
        }
    }
}

void g4_kernels_avx2(g4_kernels *k) {
#define SET(T, name) (k->dot[T] = name##_dot, k->dot_multi[T] = name##_multi, k->gemm[T] = name##_gemm)
    SET(G4_TYPE_F32, f32);
    SET(G4_TYPE_F16, f16);
    SET(G4_TYPE_BF16, bf16);
    SET(G4_TYPE_Q4_0, q4_0);
    SET(G4_TYPE_Q4_1, q4_1);
    SET(G4_TYPE_Q5_0, q5_0);
    SET(G4_TYPE_Q5_1, q5_1);
    SET(G4_TYPE_Q8_0, q8_0);
    SET(G4_TYPE_IQ4_NL, iq4nl);
    SET(G4_TYPE_MXFP4, mxfp4);
    SET(G4_TYPE_Q4_K, q4_k);
    SET(G4_TYPE_Q5_K, q5_k);
    SET(G4_TYPE_Q6_K, q6_k);
    SET(G4_TYPE_IQ4_XS, iq4xs);
    SET(G4_TYPE_Q2_K, q2_k);
    SET(G4_TYPE_Q3_K, q3_k);
#undef SET
    k->quant[G4_TYPE_Q8_0] = quant_q8_0;
    k->quant[G4_TYPE_Q8_1] = quant_q8_1;
    k->quant[G4_TYPE_Q8_K] = quant_q8_k;
    k->quant[G4_TYPE_F16] = quant_f16;
    k->quant[G4_TYPE_BF16] = quant_bf16;
    k->dequant[G4_TYPE_F16] = deq_f16;
    k->dequant[G4_TYPE_Q4_0] = deq_q4_0;
    k->dequant[G4_TYPE_Q8_0] = deq_q8_0;
    k->dequant[G4_TYPE_Q4_K] = deq_q4_k;
    k->dequant[G4_TYPE_Q6_K] = deq_q6_k;
}
