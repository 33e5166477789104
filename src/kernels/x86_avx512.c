/* x86_avx512.c — AVX-512 (F/BW/VL/DQ) + VNNI kernels. Compiled with the AVX-512 flags;
 * g4_kernels_avx512 runs only on CPUs with AVX-512 F/BW/VL/DQ. It starts from the AVX2
 * table and replaces the dot products that VNNI makes faster (only when the CPU has
 * AVX512_VNNI); quantizers, dequantizers and the float dots stay AVX2 (on Zen 4 the
 * 512-bit versions were not faster when the weights stream from memory).
 *
 * Whenever this file overrides dot[t] it also overrides dot_multi[t] and gemm[t], and
 * the three are bit-identical. Integer block sums are exact; only the float summation
 * order differs from the reference.
 *
 * Q4_0, IQ4_NL, MXFP4 and Q8_0 weights (32-element blocks against Q8_0 activations) are
 * tile kernels: several weight rows x several activation rows (see "tiled" below). They
 * use a "lane = block" layout: four consecutive blocks are gathered with one two-source
 * word permute (vpermt2w) into a zmm whose 128-bit lane b holds the 16 packed bytes of
 * block b; the low and high nibbles then face the first and second halves of the four
 * Q8_0 activation blocks, gathered the same way. The loads never reach past the four
 * blocks being processed. The K-quants and the remaining 32-element types keep one
 * always-inlined core over NX activation rows per weight row (dot = core(NX = 1),
 * dot_multi and gemm loop over it); they use 512- or 256-bit maddubs + dpwssd / dpbusd.
 * (A 512-bit dpbusd + packs + dpwssd Q4_K / Q5_K core was tried for the tile work: no
 * faster on Zen 4, the float part per pair and the scale unpacking weigh as much.) */
#include <immintrin.h>
#include <string.h>

#include "core/fp16.h"
#include "kernels/kernels.h"
#include "kernels/quants.h"

#include "kernels/x86_common.h"

G4_AI float h2f(uint16_t h) { return _cvtsh_ss(h); }
G4_AI __m512i ld512(const void *p) { return _mm512_loadu_si512(p); }
G4_AI __m256i ld256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
G4_AI __m128i ld128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

G4_AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
G4_AI float hsum16(__m512 v) {
    return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

/* ------------------------------------------------ permute index tables ---- */

/* 18-byte blocks (Q4_0, IQ4_NL), sources A = w[0..63] and T = w[64..71] (an 8-byte
 * load): lane b = qs of block b (bytes 18b+2 .. 18b+17). */
static const int16_t k_idx_w18q[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12,
                                       13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24,
                                       25, 26, 28, 29, 30, 31, 32, 33, 34, 35};
/* 34-byte blocks (Q8_0) from L0 = p[0..63], L1 = p[64..127]: first halves qs[0..15]
 * (bytes 34b+2..) and second halves qs[16..31] (bytes 34b+18..); the last 8 bytes of
 * block 3 (p[128..135]) are not in L0/L1 and are put in by the caller. */
static const int16_t k_idx_x34l[32] = {1,  2,  3,  4,  5,  6,  7,  8,  18, 19, 20,
                                       21, 22, 23, 24, 25, 35, 36, 37, 38, 39, 40,
                                       41, 42, 52, 53, 54, 55, 56, 57, 58, 59};
static const int16_t k_idx_x34h[32] = {9,  10, 11, 12, 13, 14, 15, 16, 26, 27, 28,
                                       29, 30, 31, 32, 33, 43, 44, 45, 46, 47, 48,
                                       49, 50, 60, 61, 62, 63, 0,  0,  0,  0};
/* d of the 4 blocks, each four times in words 0..15 (cvtph then gives the 16 lane
 * scales): 18-byte blocks from A, 34-byte blocks from L0/L1. */
static const int16_t k_idx_w18d[32] = {0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27};
static const int16_t k_idx_x34d[32] = {0, 0, 0, 0, 17, 17, 17, 17, 34, 34, 34, 34, 51, 51, 51, 51};

G4_AI __m512i idx(const int16_t *t) { return _mm512_loadu_si512(t); }
G4_AI __m512 ph16_ps(__m512i v) { return _mm512_cvtph_ps(_mm512_castsi512_si256(v)); }
/* the first nbytes (0..64) bytes */
G4_AI __mmask64 first_bytes(int nbytes) {
    return nbytes <= 0 ? 0 : nbytes >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << nbytes) - 1);
}

/* Four Q8_0 blocks at p (136 bytes), or the first r < 4 of them (masked loads, the
 * missing blocks read as zeros): lo/hi halves in lane = block layout, and the fp16 d of
 * block b in words 4b..4b+3 (ph16_ps of them: the 16 lane scales). */
G4_AI void q8_0_x4(const uint8_t *p, int r, __m512i *lo, __m512i *hi, __m512i *d) {
    __m512i L0, L1;
    __m128i T;
    if (r == 4) {
        L0 = ld512(p);
        L1 = ld512(p + 64);
        T = _mm_loadl_epi64((const __m128i *)(p + 128));
    } else {
        L0 = _mm512_maskz_loadu_epi8(first_bytes(34 * r), p);
        L1 = _mm512_maskz_loadu_epi8(first_bytes(34 * r - 64), p + 64);
        T = _mm_setzero_si128();
    }
    *lo = _mm512_permutex2var_epi16(L0, idx(k_idx_x34l), L1);
    *hi = _mm512_mask_broadcastq_epi64(_mm512_permutex2var_epi16(L0, idx(k_idx_x34h), L1), 0x80, T);
    *d = _mm512_permutex2var_epi16(L0, idx(k_idx_x34d), L1);
}

/* Four 18-byte blocks at p (72 bytes; r < 4: the first r, masked): the 4 x 16 packed
 * nibble bytes, and the fp16 d of block b in words 4b..4b+3. */
G4_AI void w18_x4(const uint8_t *p, int r, __m512i *q, __m512i *d) {
    __m512i A, T;
    if (r == 4) {
        A = ld512(p);
        T = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(p + 64)));
    } else {
        A = _mm512_maskz_loadu_epi8(first_bytes(18 * r), p);
        T = _mm512_setzero_si512();
    }
    *q = _mm512_permutex2var_epi16(A, idx(k_idx_w18q), T);
    *d = _mm512_permutexvar_epi16(idx(k_idx_w18d), A);
}

/* Four 17-byte MXFP4 blocks at p (68 bytes; r < 4: the first r, masked). qs of block b
 * is at 17b+1, an odd offset for even b, so the word permute reads S0 = p[1..64] (blocks
 * 0, 2) and S1 = p[4..67] (blocks 1, 3). The E8M0 bytes e_b (at 17b) are the low bytes
 * of words of E = p[0..63] and S0, gathered into dwords 4b..4b+3 (e8m0_ps: the lane
 * scales 2^(e-128), denormal for e < 2). */
static const int16_t k_idx_w17q[32] = {0,  1,  2,  3,  4,  5,  6,  7,  39, 40, 41,
                                       42, 43, 44, 45, 46, 17, 18, 19, 20, 21, 22,
                                       23, 24, 56, 57, 58, 59, 60, 61, 62, 63};
static const int16_t k_idx_w17e[32] = {0,  0, 0,  0, 0,  0, 0,  0, 40, 0, 40, 0, 40, 0, 40, 0,
                                       17, 0, 17, 0, 17, 0, 17, 0, 57, 0, 57, 0, 57, 0, 57, 0};

G4_AI void w17_x4(const uint8_t *p, int r, __m512i *q, __m512i *e) {
    __m512i E, S0, S1;
    if (r == 4) {
        E = ld512(p);
        S0 = ld512(p + 1);
        S1 = ld512(p + 4);
    } else {
        E = _mm512_maskz_loadu_epi8(first_bytes(17 * r), p);
        S0 = _mm512_maskz_loadu_epi8(first_bytes(17 * r - 1), p + 1);
        S1 = _mm512_maskz_loadu_epi8(first_bytes(17 * r - 4), p + 4);
    }
    *q = _mm512_permutex2var_epi16(S0, idx(k_idx_w17q), S1);
    *e = _mm512_and_si512(_mm512_permutex2var_epi16(E, idx(k_idx_w17e), S0), _mm512_set1_epi32(0xFF));
}
G4_AI __m512 e8m0_ps(__m512i e) {
    const __m512i nrm = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
    const __m512i den = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e);
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(e, _mm512_set1_epi32(2)), nrm, den));
}

/* --------------------- Q4_0 / IQ4_NL / MXFP4 / Q8_0 (32-element blocks), tiled ---- */

/* 16 packed bytes -> 32 bytes: low nibbles (elements 0..15) then high nibbles (16..31);
 * used by the 256-bit kernels of the other 32-element types. */
G4_AI __m256i nib32(const uint8_t *qs) {
    __m128i r = ld128(qs);
    __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(r), _mm_srli_epi16(r, 4), 1);
    return _mm256_and_si256(t, _mm256_set1_epi8(0x0F));
}

/* Block kinds against Q8_0 activations: operand = unsigned byte u, value = u - OFF.
 * Q4_0: the nibble, OFF 8; IQ4_NL / MXFP4: codebook + 128 looked up from the nibble,
 * OFF 128; Q8_0: q + 128 (q ^ 0x80), OFF 128. Blocks: Q4_0 / IQ4_NL 18 bytes (fp16 d,
 * qs), MXFP4 17 (e8m0 e, qs), Q8_0 34 (fp16 d, qs). */
#define KIND_Q4_0 0
#define KIND_IQ4NL 1
#define KIND_MXFP4 2
#define KIND_Q8_0 3
#define KIND_BSZ(K) ((K) == KIND_MXFP4 ? 17 : (K) == KIND_Q8_0 ? 34 : 18)
#define KIND_OFF(K) ((K) == KIND_Q4_0 ? 8 : 128)

static const int8_t k_iq4nl_u8[16] = {1, 24, 45, 63, 79, 93, 106, 118, -127, -115, -103, -90, -75, -59, -39, -15};
static const int8_t k_mxfp4_u8[16] = {-128, -127, -126, -125, -124, -122, -120, -116,
                                      -128, 127,  126,  125,  124,  122,  120,  116};

G4_AI __m512i b4_operand(__m512i nib, const int KIND) {
    if (KIND == KIND_Q4_0) return nib;
    const __m512i tbl = _mm512_broadcast_i32x4(ld128(KIND == KIND_IQ4NL ? k_iq4nl_u8 : k_mxfp4_u8));
    return _mm512_shuffle_epi8(tbl, nib);
}

/* Sums of the four 32-bit lanes of each 128-bit lane (block) of p0..p3, as dword k of
 * that lane for p_k (exact integer adds). */
G4_AI __m512i reduce4(__m512i p0, __m512i p1, __m512i p2, __m512i p3) {
    const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
    const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

/* dword e of every 128-bit lane of v, over the whole lane (e a constant 0..3) */
G4_AI __m512 lane_dword(__m512 v, int e) {
    switch (e) {
    case 0: return _mm512_permute_ps(v, 0x00);
    case 1: return _mm512_permute_ps(v, 0x55);
    case 2: return _mm512_permute_ps(v, 0xAA);
    default: return _mm512_permute_ps(v, 0xFF);
    }
}

/* The computation, per step of 4 blocks (r < 4 at the row end; the missing blocks are
 * zeros and add exactly 0):
 * - integer part, per 32-bit lane: Σ (u - OFF)·x = dpbusd(u, x) - OFF·Σx; the
 *   activation row gives nc = -OFF·Σx, so a pair's p = dpbusd(dpbusd(nc, lo, xl), hi, xh),
 *   and the four lanes of a block are summed (reduce4) into the block's exact dot;
 * - float part: weight rows go in groups of four; dword e of lane b of a group's
 *   accumulator belongs to row e of the group and blocks b (mod 4): acc += f32(dot) ·
 *   (d_w · d_x), one cvt / mul / fma for four pairs. At the end row e's result is
 *   (lane 0 + lane 2) + (lane 1 + lane 3).
 * A pair thus goes through the same operations whatever its position in the group, the
 * group size (missing rows are zeros) or the tile, so dot / dot_multi / gemm agree bit
 * for bit. The activation side of a step (xl, xh, nc and the lane scales) is unpacked
 * once and shared by all weight rows. */
typedef struct {
    __m512i xl, xh, nc;
    __m512 sx; /* lane b: d_x of block b */
} b4_xblk;

/* Activation side of step i for NX rows. */
G4_AI void b4_xdecode(const uint8_t *x, size_t xs, int64_t i, int r, b4_xblk *xb, const int NX, const int KIND) {
    const __m512i off = _mm512_set1_epi8((char)KIND_OFF(KIND));
    __m512i xd = _mm512_setzero_si512();
    UNROLL
    for (int j = 0; j < NX; j++) {
        __m512i d;
        q8_0_x4(x + (size_t)j * xs + 34 * (size_t)i, r, &xb[j].xl, &xb[j].xh, &d);
        xd = j == 0 ? d : _mm512_mask_mov_epi16(xd, (__mmask32)(0x1111u << j), d);
        const __m512i c = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), off, xb[j].xl), off, xb[j].xh);
        xb[j].nc = _mm512_sub_epi32(_mm512_setzero_si512(), c);
    }
    /* one conversion for all rows: lane b holds d_x of block b of rows 0..NX-1 */
    const __m512 sxt = ph16_ps(xd);
    UNROLL
    for (int j = 0; j < NX; j++) xb[j].sx = NX == 1 ? sxt : lane_dword(sxt, j);
}

/* Step i of a group of GW <= 4 weight rows (at w, ws apart) against NX decoded
 * activation rows: acc[j] of activation row j. pf: prefetch distance (bytes). */
G4_AI void b4_gstep(const uint8_t *w, size_t ws, int64_t i, int r, const b4_xblk *xb, __m512 *acc, size_t pf,
                    const int GW, const int NX, const int KIND) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i lo[4], hi[4], wd = _mm512_setzero_si512();
    UNROLL
    for (int e = 0; e < GW; e++) {
        const uint8_t *wp = w + (size_t)e * ws + KIND_BSZ(KIND) * (size_t)i;
        _mm_prefetch((const char *)wp + pf, _MM_HINT_T1);
        _mm_prefetch((const char *)wp + pf + 64, _MM_HINT_T1);
        if (KIND == KIND_Q8_0) _mm_prefetch((const char *)wp + pf + 128, _MM_HINT_T1);
        __m512i q, d;
        if (KIND == KIND_Q8_0) {
            const __m512i s80 = _mm512_set1_epi8((char)0x80);
            q8_0_x4(wp, r, &lo[e], &hi[e], &d);
            lo[e] = _mm512_xor_si512(lo[e], s80);
            hi[e] = _mm512_xor_si512(hi[e], s80);
        } else {
            if (KIND == KIND_MXFP4) w17_x4(wp, r, &q, &d);
            else w18_x4(wp, r, &q, &d);
            lo[e] = b4_operand(_mm512_and_si512(q, m4), KIND);
            hi[e] = b4_operand(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), KIND);
        }
        if (KIND == KIND_MXFP4) wd = e == 0 ? d : _mm512_mask_mov_epi32(wd, (__mmask16)(0x1111u << e), d);
        else wd = e == 0 ? d : _mm512_mask_mov_epi16(wd, (__mmask32)(0x1111u << e), d);
    }
    /* lane b: d_w of block b of the group's rows, one conversion */
    const __m512 swt = KIND == KIND_MXFP4 ? e8m0_ps(wd) : ph16_ps(wd);
    UNROLL
    for (int j = 0; j < NX; j++) {
        __m512i p[4];
        UNROLL
        for (int e = 0; e < 4; e++)
            p[e] = e < GW ? _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(xb[j].nc, lo[e], xb[j].xl), hi[e], xb[j].xh)
                          : _mm512_setzero_si512();
        const __m512i dot = reduce4(p[0], p[1], p[2], p[3]);
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(swt, xb[j].sx), acc[j]);
    }
}

/* out[e * os + j] for the GW rows of a group from its accumulators */
G4_AI void b4_store(const __m512 *acc, float *out, size_t os, const int GW, const int NX) {
    UNROLL
    for (int j = 0; j < NX; j++) {
        const __m256 t = _mm256_add_ps(_mm512_castps512_ps256(acc[j]), _mm512_extractf32x8_ps(acc[j], 1));
        float s[4];
        _mm_storeu_ps(s, _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
        UNROLL
        for (int e = 0; e < GW; e++) out[(size_t)e * os + j] = s[e];
    }
}

/* Decode: NW <= 8 weight rows x 1 activation row, step by step (the activation blocks
 * stay in registers). Weights are prefetched from the same place of the next tile's rows
 * into L2: the NW rows are read side by side as NW short streams, which the hardware
 * prefetcher follows badly (Q4_0 decode at 1 thread on Zen 4: 22 GB/s this way, 12-13
 * with the fetch ahead within each row, 9 without software prefetch). */
G4_AI void b4_tile1(int64_t n, const uint8_t *w, size_t ws, const uint8_t *x, float *out, size_t os,
                    const int NW, const int KIND) {
    const int NG = (NW + 3) / 4;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    const int64_t nb = n / 32;
    const size_t pf = (size_t)NW * ws;
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        b4_xblk xb[1];
        b4_xdecode(x, 0, i, 4, xb, 1, KIND);
        UNROLL
        for (int g = 0; g < NG; g++)
            b4_gstep(w + (size_t)(4 * g) * ws, ws, i, 4, xb, &acc[g], pf, NW - 4 * g < 4 ? NW - 4 * g : 4, 1, KIND);
    }
    if (i < nb) {
        b4_xblk xb[1];
        b4_xdecode(x, 0, i, (int)(nb - i), xb, 1, KIND);
        UNROLL
        for (int g = 0; g < NG; g++)
            b4_gstep(w + (size_t)(4 * g) * ws, ws, i, (int)(nb - i), xb, &acc[g], pf, NW - 4 * g < 4 ? NW - 4 * g : 4, 1,
                     KIND);
    }
    UNROLL
    for (int g = 0; g < NG; g++) b4_store(&acc[g], out + (size_t)(4 * g) * os, os, NW - 4 * g < 4 ? NW - 4 * g : 4, 1);
}

/* Small batches (a speculative verification pass: 2-4 activation rows): the decode
 * tile with NX activation rows. The activation blocks of a step are decoded once for
 * the tile's 8 weight rows, which stream as in decode (the next tile's rows prefetched),
 * where the prefill tile below decodes them once for 32 rows but reads the rows chunk
 * by chunk. On 2 Zen 4 cores (15360x3840, bench_kernels --ntok): Q4_0 2 rows 0.88 ms
 * against 1.02 with the prefill tile (3-4 rows: the prefill tile is faster); Q8_0 2 rows
 * 1.15 against 1.47, 3 rows 1.43 against 1.56-1.76, 4 rows 1.86-1.99 against 2.12-2.15.
 * Same operations per pair as every other tile, so bit-identical. */
G4_AI void b4_tilen(int64_t n, const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, float *out, size_t os,
                    const int NX, const int KIND) {
    __m512 acc0[4], acc1[4];
    UNROLL
    for (int j = 0; j < NX; j++) acc0[j] = acc1[j] = _mm512_setzero_ps();
    const int64_t nb = n / 32;
    const size_t pf = 8 * ws;
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) { /* whole steps: r = 4 is a constant (no masked loads) */
        b4_xblk xb[4];
        b4_xdecode(x, xs, i, 4, xb, NX, KIND);
        b4_gstep(w, ws, i, 4, xb, acc0, pf, 4, NX, KIND);
        b4_gstep(w + 4 * ws, ws, i, 4, xb, acc1, pf, 4, NX, KIND);
    }
    if (i < nb) {
        b4_xblk xb[4];
        b4_xdecode(x, xs, i, (int)(nb - i), xb, NX, KIND);
        b4_gstep(w, ws, i, (int)(nb - i), xb, acc0, pf, 4, NX, KIND);
        b4_gstep(w + 4 * ws, ws, i, (int)(nb - i), xb, acc1, pf, 4, NX, KIND);
    }
    b4_store(acc0, out, os, 4, NX);
    b4_store(acc1, out + 4 * os, os, 4, NX);
}

/* Prefill: NX <= 4 activation rows x any number of weight rows. The activation side of
 * B4_CHUNK steps is unpacked into a buffer (16 KiB, in L1) once for all the weight rows;
 * then each group of four weight rows runs over those steps with its accumulators in
 * registers (kept in acc[] between chunks). */
#define B4_CHUNK 16

G4_AI void b4_gpass(const uint8_t *w, size_t ws, int64_t s0, int ns, int64_t nb, const b4_xblk (*xb)[4],
                    __m512 *acc, const int GW, const int NX, const int KIND) {
    __m512 a[4];
    UNROLL
    for (int j = 0; j < NX; j++) a[j] = acc[j];
    const size_t pf = 4 * ws; /* the next group's rows */
    for (int s = 0; s < ns; s++) {
        const int64_t i = 4 * (s0 + s);
        if (nb - i >= 4) b4_gstep(w, ws, i, 4, xb[s], a, pf, GW, NX, KIND);
        else b4_gstep(w, ws, i, (int)(nb - i), xb[s], a, pf, GW, NX, KIND);
    }
    UNROLL
    for (int j = 0; j < NX; j++) acc[j] = a[j];
}

G4_AI void b4_tilex(int64_t n, const uint8_t *w, size_t ws, int nw, const uint8_t *x, size_t xs, float *out,
                    size_t os, const int NX, const int KIND) {
    b4_xblk xb[B4_CHUNK][4];
    __m512 acc[G4_GEMM_MAX_W / 4][4];
    const int ng = (nw + 3) / 4;
    for (int g = 0; g < ng; g++)
        for (int j = 0; j < NX; j++) acc[g][j] = _mm512_setzero_ps();
    const int64_t nb = n / 32, nsteps = (nb + 3) / 4;
    for (int64_t s0 = 0; s0 < nsteps; s0 += B4_CHUNK) {
        const int ns = nsteps - s0 < B4_CHUNK ? (int)(nsteps - s0) : B4_CHUNK;
        for (int s = 0; s < ns; s++) {
            const int64_t i = 4 * (s0 + s);
            for (int j = 0; j < NX; j++)
                for (int l = 0; l < 3; l++)
                    _mm_prefetch((const char *)x + (size_t)j * xs + 34 * (size_t)(i + 4 * B4_CHUNK) + 64 * l, _MM_HINT_T0);
            if (nb - i >= 4) b4_xdecode(x, xs, i, 4, xb[s], NX, KIND);
            else b4_xdecode(x, xs, i, (int)(nb - i), xb[s], NX, KIND);
        }
        for (int g = 0; g < ng; g++) {
            const uint8_t *wg = w + (size_t)(4 * g) * ws;
            switch (nw - 4 * g) {
            case 1: b4_gpass(wg, ws, s0, ns, nb, (const b4_xblk(*)[4])xb, acc[g], 1, NX, KIND); break;
            case 2: b4_gpass(wg, ws, s0, ns, nb, (const b4_xblk(*)[4])xb, acc[g], 2, NX, KIND); break;
            case 3: b4_gpass(wg, ws, s0, ns, nb, (const b4_xblk(*)[4])xb, acc[g], 3, NX, KIND); break;
            default: b4_gpass(wg, ws, s0, ns, nb, (const b4_xblk(*)[4])xb, acc[g], 4, NX, KIND); break;
            }
        }
    }
    for (int g = 0; g < ng; g++) {
        const int gw = nw - 4 * g < 4 ? nw - 4 * g : 4;
        float *o = out + (size_t)(4 * g) * os;
        switch (gw) {
        case 1: b4_store(acc[g], o, os, 1, NX); break;
        case 2: b4_store(acc[g], o, os, 2, NX); break;
        case 3: b4_store(acc[g], o, os, 3, NX); break;
        default: b4_store(acc[g], o, os, 4, NX); break;
        }
    }
}

/* gemm: decode in tiles of up to 8 rows; 2 activation rows (Q8_0: 2-4) in 8-row small-
 * batch tiles; otherwise the prefill tile (up to G4_GEMM_MAX_W rows) 4 activation rows at
 * a time. dot = the 1 x 1 tile, dot_multi = gemm with one row. */
#define DEFINE_B4(name, KIND)                                                            \
    static void name##_gemm(int64_t n, const void *vw, size_t ws, int nw, const void *vx, \
                            size_t xs, int nx, float *out, size_t os) {                 \
        const uint8_t *w = vw, *x = vx;                                                  \
        if (nx == 1) {                                                                   \
            for (int i = 0; i < nw; i += 8) {                                            \
                const uint8_t *wi = w + (size_t)i * ws;                                  \
                float *oi = out + (size_t)i * os;                                        \
                switch (nw - i) {                                                        \
                case 1: b4_tile1(n, wi, ws, x, oi, os, 1, KIND); break;                  \
                case 2: b4_tile1(n, wi, ws, x, oi, os, 2, KIND); break;                  \
                case 3: b4_tile1(n, wi, ws, x, oi, os, 3, KIND); break;                  \
                case 4: b4_tile1(n, wi, ws, x, oi, os, 4, KIND); break;                  \
                case 5: b4_tile1(n, wi, ws, x, oi, os, 5, KIND); break;                  \
                case 6: b4_tile1(n, wi, ws, x, oi, os, 6, KIND); break;                  \
                case 7: b4_tile1(n, wi, ws, x, oi, os, 7, KIND); break;                  \
                default: b4_tile1(n, wi, ws, x, oi, os, 8, KIND); break;                 \
                }                                                                        \
            }                                                                            \
            return;                                                                      \
        }                                                                                \
        if (nx == 2 || (KIND == KIND_Q8_0 && nx <= 4)) { /* whole 8-row tiles */       \
            int i = 0;                                                                   \
            for (; i + 8 <= nw; i += 8) {                                                \
                const uint8_t *wi = w + (size_t)i * ws;                                  \
                float *oi = out + (size_t)i * os;                                        \
                switch (nx) {                                                            \
                case 2: b4_tilen(n, wi, ws, x, xs, oi, os, 2, KIND); break;              \
                case 3: b4_tilen(n, wi, ws, x, xs, oi, os, 3, KIND); break;              \
                default: b4_tilen(n, wi, ws, x, xs, oi, os, 4, KIND); break;             \
                }                                                                        \
            }                                                                            \
            w += (size_t)i * ws;                                                         \
            out += (size_t)i * os;                                                       \
            nw -= i;                                                                     \
        }                                                                                \
        for (int i = 0; i < nw; i += G4_GEMM_MAX_W) {                                    \
            const int gw = nw - i < G4_GEMM_MAX_W ? nw - i : G4_GEMM_MAX_W;              \
            const uint8_t *wi = w + (size_t)i * ws;                                      \
            for (int j = 0; j < nx; j += 4) {                                            \
                const uint8_t *xj = x + (size_t)j * xs;                                  \
                float *o = out + (size_t)i * os + j;                                     \
                switch (nx - j) {                                                        \
                case 1: b4_tilex(n, wi, ws, gw, xj, xs, o, os, 1, KIND); break;          \
                case 2: b4_tilex(n, wi, ws, gw, xj, xs, o, os, 2, KIND); break;          \
                case 3: b4_tilex(n, wi, ws, gw, xj, xs, o, os, 3, KIND); break;          \
                default: b4_tilex(n, wi, ws, gw, xj, xs, o, os, 4, KIND); break;         \
                }                                                                        \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    static void name##_dot(int64_t n, float *out, const void *w, const void *x) {       \
        b4_tile1(n, w, 0, x, out, 0, 1, KIND);                                           \
    }                                                                                    \
    static void name##_multi(int64_t n, float *out, const void *w, const void *x,       \
                             size_t xs, int nx) {                                        \
        name##_gemm(n, w, 0, 1, x, xs, nx, out, 0);                                      \
    }

DEFINE_B4(q4_0, KIND_Q4_0)
DEFINE_B4(iq4nl, KIND_IQ4NL)
DEFINE_B4(mxfp4, KIND_MXFP4)
DEFINE_B4(q8_0, KIND_Q8_0)




/* --------------------------------------------------------------- K-quants ---- */

/* zmm of 32 int16 whose 128-bit lane k holds element e[k] of the 16 x int16 v. */
G4_AI __m512i lane_bcast16(__m256i v, int e0, int e1, int e2, int e3) {
    const int p0 = e0 * 0x10001, p1 = e1 * 0x10001, p2 = e2 * 0x10001, p3 = e3 * 0x10001;
    const __m512i ix = _mm512_setr_epi32(p0, p0, p0, p0, p1, p1, p1, p1, p2, p2, p2, p2, p3, p3, p3, p3);
    return _mm512_permutexvar_epi16(ix, _mm512_castsi256_si512(v));
}

/* Q6_K: per half, [q1|q2] and [q3|q4] are 64 contiguous elements each; maddubs with the
 * unsigned 6-bit q, dpwssd with the per-16 scales, minus 32·Σ sc_j·bsum_j. */
G4_AI void q6_k_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const block_q6_K *w = vw;
    const block_q8_K *x[4];
    __m512 acc[4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(block_q8_K, vx, j, xs);
        acc[j] = _mm512_setzero_ps();
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
    const __m512i shr = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        PF_ROWS(x, NX, (size_t)(i + 2) * sizeof(block_q8_K), 5);
        const __m256i sc16 = _mm256_cvtepi8_epi16(ld128(w[i].scales));
        __m512i q[4], s[4];
        UNROLL
        for (int h = 0; h < 2; h++) {
            const __m512i QL = ld512(w[i].ql + 64 * h);
            const __m512i QH = _mm512_broadcast_i64x4(ld256(w[i].qh + 32 * h));
            q[2 * h] = _mm512_or_si512(_mm512_and_si512(QL, m4), _mm512_and_si512(_mm512_sllv_epi64(QH, shl), m30));
            q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(QL, 4), m4),
                                           _mm512_and_si512(_mm512_srlv_epi64(QH, shr), m30));
            s[2 * h] = lane_bcast16(sc16, 8 * h, 8 * h + 1, 8 * h + 2, 8 * h + 3);
            s[2 * h + 1] = lane_bcast16(sc16, 8 * h + 4, 8 * h + 5, 8 * h + 6, 8 * h + 7);
        }
        const float dw = h2f(w[i].d);
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(ld256(x[j][i].bsums), sc16), 5);
            __m512i s0 = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr));
            __m512i s1 = _mm512_setzero_si512();
            s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(q[0], ld512(q8)), s[0]);
            s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(q[1], ld512(q8 + 64)), s[1]);
            s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(q[2], ld512(q8 + 128)), s[2]);
            s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(q[3], ld512(q8 + 192)), s[3]);
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                                     _mm512_set1_ps(x[j][i].d * dw), acc[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum16(acc[j]);
}
DEFINE_DOTS(q6_k, q6_k_core)

G4_AI uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* Q4_K / Q5_K scales and mins as 8 bytes each. */
G4_AI void kscales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t a0 = rd32(s), a1 = rd32(s + 4), a2 = rd32(s + 8);
    uint32_t sl = a0 & 0x3f3f3f3fu, ml = a1 & 0x3f3f3f3fu;
    uint32_t sh = (a2 & 0x0f0f0f0fu) | ((a0 >> 2) & 0x30303030u);
    uint32_t mh = ((a2 >> 4) & 0x0f0f0f0fu) | ((a1 >> 2) & 0x30303030u);
    memcpy(sc, &sl, 4); memcpy(sc + 4, &sh, 4);
    memcpy(mn, &ml, 4); memcpy(mn + 4, &mh, 4);
}

/* Broadcast int16 element k of each 128-bit lane of v to the whole lane. */
G4_AI __m256i bcast16(__m256i v, int k) {
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)((2 * k) | ((2 * k + 1) << 8))));
}

/* Q4_K (HAS_QH = 0) / Q5_K (HAS_QH = 1), 256-bit: per 32-element sub-block one maddubs
 * (u8 q x s8 x -> i16 pairs) and one dpwssd with the sub-block scale. */
G4_AI void q45_k_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX,
                      const int HAS_QH) {
    const uint8_t *w = vw;
    const size_t bsz = HAS_QH ? sizeof(block_q5_K) : sizeof(block_q4_K);
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
        const uint8_t *bp = w + (size_t)i * bsz;
        const uint16_t d16 = HAS_QH ? ((const block_q5_K *)bp)->d : ((const block_q4_K *)bp)->d;
        const uint16_t m16 = HAS_QH ? ((const block_q5_K *)bp)->dmin : ((const block_q4_K *)bp)->dmin;
        const uint8_t *scales = HAS_QH ? ((const block_q5_K *)bp)->scales : ((const block_q4_K *)bp)->scales;
        const uint8_t *qs = HAS_QH ? ((const block_q5_K *)bp)->qs : ((const block_q4_K *)bp)->qs;
        uint8_t sc[8], mn[8];
        kscales(scales, sc, mn);
        const __m128i mn16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
        const __m256i mdup = _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        __m256i lo[4], hi[4];
        __m256i qh = _mm256_setzero_si256();
        if (HAS_QH) qh = ld256(((const block_q5_K *)bp)->qh);
        UNROLL
        for (int c = 0; c < 4; c++) {
            const __m256i q = ld256(qs + 32 * c);
            lo[c] = _mm256_and_si256(q, m4);
            hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (HAS_QH) {
                lo[c] = _mm256_or_si256(lo[c], _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4));
                hi[c] = _mm256_or_si256(hi[c], _mm256_and_si256(_mm256_slli_epi16(qh, 3), b4));
                qh = _mm256_srli_epi16(qh, 2);
            }
        }
        const float dw = h2f(d16), mw = h2f(m16);
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            UNROLL
            for (int c = 0; c < 4; c++) {
                s0 = _mm256_dpwssd_epi32(s0, _mm256_maddubs_epi16(lo[c], ld256(q8 + 64 * c)), bcast16(sc16, 2 * c));
                s1 = _mm256_dpwssd_epi32(s1, _mm256_maddubs_epi16(hi[c], ld256(q8 + 64 * c + 32)),
                                         bcast16(sc16, 2 * c + 1));
            }
            const __m256i ms = _mm256_madd_epi16(ld256(x[j][i].bsums), mdup);
            const float dx = x[j][i].d;
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(dx * dw), acc[j]);
            accm[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(dx * mw), accm[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum8(acc[j]) - hsum8(accm[j]);
}

G4_AI void q4_k_core(int64_t n, float *out, const void *w, const void *x, size_t xs, const int NX) {
    q45_k_core(n, out, w, x, xs, NX, 0);
}
DEFINE_DOTS(q4_k, q4_k_core)
G4_AI void q5_k_core(int64_t n, float *out, const void *w, const void *x, size_t xs, const int NX) {
    q45_k_core(n, out, w, x, xs, NX, 1);
}
DEFINE_DOTS(q5_k, q5_k_core)

/* IQ4_XS: codebook values through the sign trick (|v| u8 x sign-adjusted x), then
 * dpwssd with the signed sub-block scale ls - 32. */
G4_AI void iq4xs_core(int64_t n, float *out, const void *vw, const void *vx, size_t xs, const int NX) {
    const block_iq4_xs *w = vw;
    const block_q8_K *x[4];
    __m256 acc[4];
    UNROLL
    for (int j = 0; j < NX; j++) {
        x[j] = XROW(block_q8_K, vx, j, xs);
        acc[j] = _mm256_setzero_ps();
    }
    const __m256i tbl = _mm256_broadcastsi128_si256(ld128(g4_kvalues_iq4nl));
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        PF_ROWS(x, NX, (size_t)(i + 2) * sizeof(block_q8_K), 5);
        __m256i aw[8], sw[8], ls[8];
        UNROLL
        for (int b = 0; b < 8; b++) {
            const __m256i v = _mm256_shuffle_epi8(tbl, nib32(w[i].qs + 16 * b));
            aw[b] = _mm256_abs_epi8(v);
            sw[b] = v;
            const int l = ((w[i].scales_l[b / 2] >> (4 * (b % 2))) & 0xF) | (((w[i].scales_h >> (2 * b)) & 3) << 4);
            ls[b] = _mm256_set1_epi16((short)(l - 32));
        }
        const float dw = h2f(w[i].d);
        UNROLL
        for (int j = 0; j < NX; j++) {
            const int8_t *q8 = x[j][i].qs;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            UNROLL
            for (int b = 0; b < 8; b += 2) {
                s0 = _mm256_dpwssd_epi32(s0, _mm256_maddubs_epi16(aw[b], _mm256_sign_epi8(ld256(q8 + 32 * b), sw[b])), ls[b]);
                s1 = _mm256_dpwssd_epi32(
                    s1, _mm256_maddubs_epi16(aw[b + 1], _mm256_sign_epi8(ld256(q8 + 32 * b + 32), sw[b + 1])), ls[b + 1]);
            }
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(x[j][i].d * dw),
                                     acc[j]);
        }
    }
    UNROLL
    for (int j = 0; j < NX; j++) out[j] = hsum8(acc[j]);
}
DEFINE_DOTS(iq4xs, iq4xs_core)

/* ------------------------------------ other 32-element blocks, 256-bit VNNI ---- */

/* byte k = 0xFF if bit k of b is set (k = 0..31). */
G4_AI __m256i bits_to_bytes(uint32_t b) {
    __m256i v = _mm256_set1_epi32((int)b);
    v = _mm256_shuffle_epi8(v, _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                                 0x0101010101010101LL, 0));
    const __m256i bm = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bm), bm);
}


/* Per block: u = unsigned operand (32 bytes, element order), value = u - OFF; Q8_0 or
 * Q8_1 activations (HAS_M: + m·s per block, summed in a scalar as in x86_avx2.c). */
#define BLOCK32V_CORE(fn, WT, XT, WDEC, OFF, WSCALE, HAS_M)                                \
    G4_AI void fn##_step(const WT *w, const XT *const *x, int64_t i, __m256 *acc, float *ms, \
                         const int NX) {                                                   \
        const __m256i wq = WDEC(&w[i]);                                                    \
        const float dw = WSCALE(&w[i]);                                                    \
        UNROLL                                                                             \
        for (int j = 0; j < NX; j++) {                                                     \
            const __m256i xq = ld256(x[j][i].qs);                                          \
            __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wq, xq);               \
            if (OFF)                                                                       \
                s = _mm256_sub_epi32(                                                      \
                    s, _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)(OFF)), xq)); \
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

G4_AI __m256i q4_1_dec(const block_q4_1 *b) { return nib32(b->qs); }
G4_AI float q4_1_scale(const block_q4_1 *b) { return h2f(b->d); }
BLOCK32V_CORE(q4_1_core, block_q4_1, block_q8_1, q4_1_dec, 0, q4_1_scale, 1)
DEFINE_DOTS(q4_1, q4_1_core)

G4_AI __m256i q5_0_dec(const block_q5_0 *b) {
    return _mm256_or_si256(nib32(b->qs), _mm256_and_si256(bits_to_bytes(rd32(b->qh)), _mm256_set1_epi8(0x10)));
}
G4_AI float q5_0_scale(const block_q5_0 *b) { return h2f(b->d); }
BLOCK32V_CORE(q5_0_core, block_q5_0, block_q8_0, q5_0_dec, 16, q5_0_scale, 0)
DEFINE_DOTS(q5_0, q5_0_core)

G4_AI __m256i q5_1_dec(const block_q5_1 *b) {
    return _mm256_or_si256(nib32(b->qs), _mm256_and_si256(bits_to_bytes(rd32(b->qh)), _mm256_set1_epi8(0x10)));
}
G4_AI float q5_1_scale(const block_q5_1 *b) { return h2f(b->d); }
BLOCK32V_CORE(q5_1_core, block_q5_1, block_q8_1, q5_1_dec, 0, q5_1_scale, 1)
DEFINE_DOTS(q5_1, q5_1_core)


/* ------------------------------------------------------------------ setup ---- */

void g4_kernels_avx512(g4_kernels *k) {
    /* Every AVX-512 CPU has AVX2/FMA/F16C: start from those kernels, then replace. */
    g4_kernels_avx2(k);
    const g4_cpu *cpu = g4_cpu_get();
    if (!cpu->avx512vnni) return;
#define SET(T, name) (k->dot[T] = name##_dot, k->dot_multi[T] = name##_multi, k->gemm[T] = name##_gemm)
    SET(G4_TYPE_Q4_0, q4_0);
    SET(G4_TYPE_Q8_0, q8_0);
    SET(G4_TYPE_IQ4_NL, iq4nl);
    SET(G4_TYPE_Q4_K, q4_k);
    SET(G4_TYPE_Q5_K, q5_k);
    SET(G4_TYPE_Q6_K, q6_k);
    SET(G4_TYPE_IQ4_XS, iq4xs);
    SET(G4_TYPE_Q4_1, q4_1);
    SET(G4_TYPE_Q5_0, q5_0);
    SET(G4_TYPE_Q5_1, q5_1);
    SET(G4_TYPE_MXFP4, mxfp4);
#undef SET
}
