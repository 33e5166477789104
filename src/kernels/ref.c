/* ref.c — scalar reference of every kernel: the specification the ISA files are tested
 * against (tests/test_kernels.c).
 *
 * Dequantizers follow spec §1.5 with ggml's order of float operations (e.g. Q4_K:
 * (d*sc)*q - dmin*m), so an ISA version must reproduce them bit for bit.
 * Activation quantizers follow llama.cpp's x86 CPU backend bit for bit (Q8_0/Q8_1 round
 * half to even like _mm256_round_ps, Q8_K as quantize_row_q8_K_ref).
 * Dot products compute integer sums exactly and scale them in float:
 *   - 32-element types: per block, as ggml's generic vec_dot (same operand order);
 *   - K-quants and IQ4_XS: per 256-element super-block one integer sum of
 *     scale_j * (sum of q*qx over sub-block j) — the dequant formula distributed over the
 *     integer sums — times fp16(d) * d_x, minus fp16(dmin) * d_x * sum_j min_j * bsums;
 *     ggml's generic code splits the same sums over 8 float lanes, its AVX2 code (what
 *     llama.cpp runs on x86) keeps them integer per super-block as here;
 *   - F32: products and sum in f32, left to right;
 *   - F16 / BF16: the products are exact in f32 (11x11 / 8x8 significant bits) and are
 *     summed in double, rounded to f32 at the end (ggml's scalar fallback does the same).
 * Partial sums are accumulated in one f32 left to right over the blocks. */
#include "kernels/ref.h"

#include <math.h>
#include <string.h>

#include "core/fp16.h"
#include "kernels/kernels.h"
#include "kernels/quants.h"

/* No fused multiply-adds: the float operation order is part of the specification.
 * (gcc in ISO C mode already uses -ffp-contract=off; clang contracts by default.) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define FP16(h) g4_fp16_to_f32(h)

/* ------------------------------------------------------------------------------------
 * Dequantization
 * ---------------------------------------------------------------------------------- */

static void dequant_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void dequant_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *x = src;
    for (int64_t i = 0; i < n; i++) dst[i] = g4_fp16_to_f32(x[i]);
}

static void dequant_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *x = src;
    for (int64_t i = 0; i < n; i++) dst[i] = g4_bf16_to_f32(x[i]);
}

static void dequant_q4_0(const void *src, float *y, int64_t n) {
    const block_q4_0 *x = src;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_1(const void *src, float *y, int64_t n) {
    const block_q4_1 *x = src;
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0xF) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

static uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void dequant_q5_0(const void *src, float *y, int64_t n) {
    const block_q5_0 *x = src;
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = FP16(x[i].d);
        const uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(((x[i].qs[j] & 0xF) | h0) - 16) * d;
            y[j + 16] = (float)(((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void dequant_q5_1(const void *src, float *y, int64_t n) {
    const block_q5_1 *x = src;
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        const uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)((x[i].qs[j] & 0xF) | h0) * d + m;
            y[j + 16] = (float)((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void dequant_q8_0(const void *src, float *y, int64_t n) {
    const block_q8_0 *x = src;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* Activation type; s is not needed to reconstruct the values. */
static void dequant_q8_1(const void *src, float *y, int64_t n) {
    const block_q8_1 *x = src;
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

static void dequant_q8_k(const void *src, float *y, int64_t n) {
    const block_q8_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++) y[j] = x[i].d * (float)x[i].qs[j];
}

static void dequant_q2_k(const void *src, float *y, int64_t n) {
    const block_q2_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int h = 0; h < 2; h++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int g = 0; g < 2; g++) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (float)((q[16 * g + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

static void dequant_q3_k(const void *src, float *y, int64_t n) {
    const block_q3_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d);
        int8_t sc[16];
        g4_q3k_scales(x[i].scales, sc);
        const uint8_t *q = x[i].qs;
        int is = 0;
        uint8_t m = 1;
        for (int h = 0; h < 2; h++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int g = 0; g < 2; g++) {
                    const float dl = d * (float)sc[is++];
                    for (int l = 16 * g; l < 16 * g + 16; l++) {
                        const int v = ((q[l] >> shift) & 3) - ((x[i].hmask[l] & m) ? 0 : 4);
                        *y++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

static void dequant_q4_k(const void *src, float *y, int64_t n) {
    const block_q4_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, mn;
            g4_q4k_scale_min(2 * c, x[i].scales, &sc, &mn);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            g4_q4k_scale_min(2 * c + 1, x[i].scales, &sc, &mn);
            const float d2 = d * (float)sc, m2 = dmin * (float)mn;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dequant_q5_k(const void *src, float *y, int64_t n) {
    const block_q5_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, mn;
            g4_q4k_scale_min(2 * c, x[i].scales, &sc, &mn);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            g4_q4k_scale_min(2 * c + 1, x[i].scales, &sc, &mn);
            const float d2 = d * (float)sc, m2 = dmin * (float)mn;
            const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] & 0xF) + ((x[i].qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((q[l] >> 4) + ((x[i].qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

static void dequant_q6_k(const void *src, float *y, int64_t n) {
    const block_q6_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

static void dequant_iq4_nl(const void *src, float *y, int64_t n) {
    const block_iq4_nl *x = src;
    for (int64_t i = 0; i < n / QK4_NL; i++, y += QK4_NL) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[j] = d * (float)g4_kvalues_iq4nl[x[i].qs[j] & 0xF];
            y[j + 16] = d * (float)g4_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

static void dequant_iq4_xs(const void *src, float *y, int64_t n) {
    const block_iq4_xs *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d);
        for (int b = 0; b < QK_K / 32; b++, y += 32) {
            const float dl = d * (float)(g4_iq4xs_scale(&x[i], b) - 32);
            const uint8_t *q = x[i].qs + 16 * b;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)g4_kvalues_iq4nl[q[j] & 0xF];
                y[j + 16] = dl * (float)g4_kvalues_iq4nl[q[j] >> 4];
            }
        }
    }
}

static void dequant_mxfp4(const void *src, float *y, int64_t n) {
    const block_mxfp4 *x = src;
    for (int64_t i = 0; i < n / QK_MXFP4; i++, y += QK_MXFP4) {
        const float d = g4_e8m0_half(x[i].e);
        for (int j = 0; j < QK_MXFP4 / 2; j++) {
            y[j] = (float)g4_kvalues_mxfp4[x[i].qs[j] & 0xF] * d;
            y[j + 16] = (float)g4_kvalues_mxfp4[x[i].qs[j] >> 4] * d;
        }
    }
}

/* ------------------------------------------------------------------------------------
 * Activation quantizers
 * ---------------------------------------------------------------------------------- */

static void quant_f32(const float *x, void *dst, int64_t n) {
    memcpy(dst, x, (size_t)n * sizeof(float));
}

static void quant_f16(const float *x, void *dst, int64_t n) {
    uint16_t *y = dst;
    for (int64_t i = 0; i < n; i++) y[i] = g4_f32_to_fp16(x[i]);
}

static void quant_bf16(const float *x, void *dst, int64_t n) {
    uint16_t *y = dst;
    for (int64_t i = 0; i < n; i++) y[i] = g4_f32_to_bf16(x[i]);
}

/* Round half to even and convert to int8 the way x86's cvtps2dq + saturating packs do:
 * NaN, infinities and out-of-range values (e.g. 127/amax overflowing for a block of
 * denormals) become -128 instead of undefined behaviour. */
static inline int8_t round_i8(float v) {
    const float r = nearbyintf(v);
    return r >= -128.0f && r <= 127.0f ? (int8_t)r : (int8_t)-128;
}

/* One 32-block: d = amax/127 (f32), qs = round-half-even(x * 127/amax); returns d. */
static float q8_block(const float *x, int8_t *qs) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 32; j++) qs[j] = round_i8(x[j] * id);
    return d;
}

static void quant_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0)
        y[i].d = g4_f32_to_fp16(q8_block(x, y[i].qs));
}

static void quant_q8_1(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float d = q8_block(x, y[i].qs);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) sum += y[i].qs[j];
        y[i].d = g4_f32_to_fp16(d);
        y[i].s = g4_f32_to_fp16(d * (float)sum);
    }
}

static void quant_q8_k(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const float r = nearbyintf(iscale * x[j]); /* <= 127 by construction; NaN -> -128 */
            y[i].qs[j] = r >= -128.0f && r <= 127.0f ? (int8_t)r : (r > 127.0f ? 127 : -128);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------------------------------------
 * Dot products: weight row w (type t) . activation row x (vec_type[t])
 * ---------------------------------------------------------------------------------- */

static void dot_f32(int64_t n, float *out, const void *w, const void *x) {
    const float *a = w, *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += a[i] * b[i];
    *out = sum;
}

static void dot_f16(int64_t n, float *out, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(g4_fp16_to_f32(a[i]) * g4_fp16_to_f32(b[i]));
    *out = (float)sum;
}

static void dot_bf16(int64_t n, float *out, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(g4_bf16_to_f32(a[i]) * g4_bf16_to_f32(b[i]));
    *out = (float)sum;
}

static void dot_q4_0(int64_t n, float *out, const void *w, const void *xv) {
    const block_q4_0 *x = w;
    const block_q8_0 *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sumf += (float)sumi * FP16(x[i].d) * FP16(y[i].d);
    }
    *out = sumf;
}

static void dot_q4_1(int64_t n, float *out, const void *w, const void *xv) {
    const block_q4_1 *x = w;
    const block_q8_1 *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += (x[i].qs[j] & 0xF) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    *out = sumf;
}

static void dot_q5_0(int64_t n, float *out, const void *w, const void *xv) {
    const block_q5_0 *x = w;
    const block_q8_0 *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const uint32_t qh = load_u32le(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            sumi += (((x[i].qs[j] & 0xF) | h0) - 16) * y[i].qs[j];
            sumi += (((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + 16];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi;
    }
    *out = sumf;
}

static void dot_q5_1(int64_t n, float *out, const void *w, const void *xv) {
    const block_q5_1 *x = w;
    const block_q8_1 *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const uint32_t qh = load_u32le(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            sumi += ((x[i].qs[j] & 0xF) | h0) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + 16];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    *out = sumf;
}

static void dot_q8_0(int64_t n, float *out, const void *w, const void *xv) {
    const block_q8_0 *x = w;
    const block_q8_0 *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (float)sumi * (FP16(x[i].d) * FP16(y[i].d));
    }
    *out = sumf;
}

/* Σ table[nibble] * y over one 32-block of 4-bit codebook indices (low nibbles =
 * elements 0..15, high = 16..31): the integer part of the IQ4_NL and MXFP4 dots. */
static int codebook_dot32(const uint8_t *qs, const int8_t *table, const int8_t *y) {
    int sumi = 0;
    for (int j = 0; j < 16; j++) {
        sumi += table[qs[j] & 0xF] * y[j];
        sumi += table[qs[j] >> 4] * y[j + 16];
    }
    return sumi;
}

static void dot_iq4_nl(int64_t n, float *out, const void *w, const void *xv) {
    const block_iq4_nl *x = w;
    const block_q8_0 *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const float d = FP16(y[i].d) * FP16(x[i].d);
        sumf += d * (float)codebook_dot32(x[i].qs, g4_kvalues_iq4nl, y[i].qs);
    }
    *out = sumf;
}

static void dot_mxfp4(int64_t n, float *out, const void *w, const void *xv) {
    const block_mxfp4 *x = w;
    const block_q8_0 *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_MXFP4; i++) {
        const float d = FP16(y[i].d) * g4_e8m0_half(x[i].e);
        sumf += d * (float)codebook_dot32(x[i].qs, g4_kvalues_mxfp4, y[i].qs);
    }
    *out = sumf;
}

static void dot_q2_k(int64_t n, float *out, const void *w, const void *xv) {
    const block_q2_K *x = w;
    const block_q8_K *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int summs = 0, isum = 0, is = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        for (int h = 0; h < 2; h++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int g = 0; g < 2; g++, q8 += 16) {
                    int s = 0;
                    for (int l = 0; l < 16; l++) s += ((q[16 * g + l] >> shift) & 3) * q8[l];
                    isum += (x[i].scales[is++] & 0xF) * s;
                }
            }
        }
        const float dall = y[i].d * FP16(x[i].d), dmin = y[i].d * FP16(x[i].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    *out = sumf;
}

static void dot_q3_k(int64_t n, float *out, const void *w, const void *xv) {
    const block_q3_K *x = w;
    const block_q8_K *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        g4_q3k_scales(x[i].scales, sc);
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int isum = 0, is = 0;
        uint8_t m = 1;
        for (int h = 0; h < 2; h++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int g = 0; g < 2; g++, q8 += 16) {
                    int s = 0;
                    for (int l = 0; l < 16; l++) {
                        const int k = 16 * g + l;
                        const int v = ((q[k] >> shift) & 3) - ((x[i].hmask[k] & m) ? 0 : 4);
                        s += v * q8[l];
                    }
                    isum += sc[is++] * s;
                }
            }
        }
        const float d = FP16(x[i].d) * y[i].d;
        sumf += d * (float)isum;
    }
    *out = sumf;
}

static void dot_q4_k(int64_t n, float *out, const void *w, const void *xv) {
    const block_q4_K *x = w;
    const block_q8_K *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int isum = 0, summs = 0;
        for (int c = 0; c < 4; c++, q += 32, q8 += 64) {
            uint8_t sc1, mn1, sc2, mn2;
            g4_q4k_scale_min(2 * c, x[i].scales, &sc1, &mn1);
            g4_q4k_scale_min(2 * c + 1, x[i].scales, &sc2, &mn2);
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 0xF) * q8[l];
                s2 += (q[l] >> 4) * q8[l + 32];
            }
            isum += sc1 * s1 + sc2 * s2;
            summs += mn1 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) +
                     mn2 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        const float d = FP16(x[i].d) * y[i].d, dmin = FP16(x[i].dmin) * y[i].d;
        sumf += d * (float)isum - dmin * (float)summs;
    }
    *out = sumf;
}

static void dot_q5_k(int64_t n, float *out, const void *w, const void *xv) {
    const block_q5_K *x = w;
    const block_q8_K *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int isum = 0, summs = 0;
        for (int c = 0; c < 4; c++, q += 32, q8 += 64) {
            uint8_t sc1, mn1, sc2, mn2;
            g4_q4k_scale_min(2 * c, x[i].scales, &sc1, &mn1);
            g4_q4k_scale_min(2 * c + 1, x[i].scales, &sc2, &mn2);
            const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += ((q[l] & 0xF) + ((x[i].qh[l] & u1) ? 16 : 0)) * q8[l];
                s2 += ((q[l] >> 4) + ((x[i].qh[l] & u2) ? 16 : 0)) * q8[l + 32];
            }
            isum += sc1 * s1 + sc2 * s2;
            summs += mn1 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) +
                     mn2 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        const float d = FP16(x[i].d) * y[i].d, dmin = FP16(x[i].dmin) * y[i].d;
        sumf += d * (float)isum - dmin * (float)summs;
    }
    *out = sumf;
}

static void dot_q6_k(int64_t n, float *out, const void *w, const void *xv) {
    const block_q6_K *x = w;
    const block_q8_K *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h, *q8 = y[i].qs + 128 * h;
            for (int is = 0; is < 2; is++) {
                int s1 = 0, s2 = 0, s3 = 0, s4 = 0;
                for (int l = 16 * is; l < 16 * is + 16; l++) {
                    s1 += (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * q8[l];
                    s2 += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * q8[l + 32];
                    s3 += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * q8[l + 64];
                    s4 += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * q8[l + 96];
                }
                isum += sc[is] * s1 + sc[is + 2] * s2 + sc[is + 4] * s3 + sc[is + 6] * s4;
            }
        }
        const float d = FP16(x[i].d) * y[i].d;
        sumf += d * (float)isum;
    }
    *out = sumf;
}

static void dot_iq4_xs(int64_t n, float *out, const void *w, const void *xv) {
    const block_iq4_xs *x = w;
    const block_q8_K *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0;
        for (int b = 0; b < QK_K / 32; b++) {
            const int s = codebook_dot32(x[i].qs + 16 * b, g4_kvalues_iq4nl, y[i].qs + 32 * b);
            isum += (g4_iq4xs_scale(&x[i], b) - 32) * s;
        }
        const float d = FP16(x[i].d) * y[i].d;
        sumf += d * (float)isum;
    }
    *out = sumf;
}

/* dot_multi and gemm: plain loops over dot, bit-identical by construction. */
#define MULTI(name)                                                                        \
    static void name##_multi(int64_t n, float *out, const void *w, const void *x,          \
                             size_t x_stride, int nx) {                                    \
        for (int j = 0; j < nx; j++) name(n, &out[j], w, (const char *)x + (size_t)j * x_stride); \
    }                                                                                      \
    static void name##_gemm(int64_t n, const void *w, size_t w_stride, int nw, const void *x, \
                            size_t x_stride, int nx, float *out, size_t out_stride) {     \
        for (int i = 0; i < nw; i++)                                                       \
            for (int j = 0; j < nx; j++)                                                   \
                name(n, &out[(size_t)i * out_stride + (size_t)j],                          \
                     (const char *)w + (size_t)i * w_stride, (const char *)x + (size_t)j * x_stride); \
    }
MULTI(dot_f32)
MULTI(dot_f16)
MULTI(dot_bf16)
MULTI(dot_q4_0)
MULTI(dot_q4_1)
MULTI(dot_q5_0)
MULTI(dot_q5_1)
MULTI(dot_q8_0)
MULTI(dot_iq4_nl)
MULTI(dot_mxfp4)
MULTI(dot_q2_k)
MULTI(dot_q3_k)
MULTI(dot_q4_k)
MULTI(dot_q5_k)
MULTI(dot_q6_k)
MULTI(dot_iq4_xs)
#undef MULTI

void g4_kernels_ref(g4_kernels *k) {
    memset(k, 0, sizeof *k);
    k->isa = G4_ISA_SCALAR;

    k->dequant[G4_TYPE_F32] = dequant_f32;
    k->dequant[G4_TYPE_F16] = dequant_f16;
    k->dequant[G4_TYPE_BF16] = dequant_bf16;
    k->dequant[G4_TYPE_Q4_0] = dequant_q4_0;
    k->dequant[G4_TYPE_Q4_1] = dequant_q4_1;
    k->dequant[G4_TYPE_Q5_0] = dequant_q5_0;
    k->dequant[G4_TYPE_Q5_1] = dequant_q5_1;
    k->dequant[G4_TYPE_Q8_0] = dequant_q8_0;
    k->dequant[G4_TYPE_Q8_1] = dequant_q8_1;
    k->dequant[G4_TYPE_Q2_K] = dequant_q2_k;
    k->dequant[G4_TYPE_Q3_K] = dequant_q3_k;
    k->dequant[G4_TYPE_Q4_K] = dequant_q4_k;
    k->dequant[G4_TYPE_Q5_K] = dequant_q5_k;
    k->dequant[G4_TYPE_Q6_K] = dequant_q6_k;
    k->dequant[G4_TYPE_Q8_K] = dequant_q8_k;
    k->dequant[G4_TYPE_IQ4_NL] = dequant_iq4_nl;
    k->dequant[G4_TYPE_IQ4_XS] = dequant_iq4_xs;
    k->dequant[G4_TYPE_MXFP4] = dequant_mxfp4;

    k->quant[G4_TYPE_F32] = quant_f32;
    k->quant[G4_TYPE_F16] = quant_f16;
    k->quant[G4_TYPE_BF16] = quant_bf16;
    k->quant[G4_TYPE_Q8_0] = quant_q8_0;
    k->quant[G4_TYPE_Q8_1] = quant_q8_1;
    k->quant[G4_TYPE_Q8_K] = quant_q8_k;

#define SET(T, fn, V)                                                                      \
    do {                                                                                   \
        k->dot[G4_TYPE_##T] = fn;                                                          \
        k->dot_multi[G4_TYPE_##T] = fn##_multi;                                            \
        k->gemm[G4_TYPE_##T] = fn##_gemm;                                                  \
        k->vec_type[G4_TYPE_##T] = G4_TYPE_##V;                                            \
    } while (0)
    SET(F32, dot_f32, F32);
    SET(F16, dot_f16, F16);
    SET(BF16, dot_bf16, BF16);
    SET(Q4_0, dot_q4_0, Q8_0);
    SET(Q4_1, dot_q4_1, Q8_1);
    SET(Q5_0, dot_q5_0, Q8_0);
    SET(Q5_1, dot_q5_1, Q8_1);
    SET(Q8_0, dot_q8_0, Q8_0);
    SET(IQ4_NL, dot_iq4_nl, Q8_0);
    SET(MXFP4, dot_mxfp4, Q8_0);
    SET(Q2_K, dot_q2_k, Q8_K);
    SET(Q3_K, dot_q3_k, Q8_K);
    SET(Q4_K, dot_q4_k, Q8_K);
    SET(Q5_K, dot_q5_k, Q8_K);
    SET(Q6_K, dot_q6_k, Q8_K);
    SET(IQ4_XS, dot_iq4_xs, Q8_K);
#undef SET
}
