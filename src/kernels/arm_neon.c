/* arm_neon.c — AArch64 NEON (+dotprod) kernels: dots for F32, F16, Q8_0, Q4_0, Q4_K,
 * Q6_K and the Q8_0 activation quantizer.
 *
 * The quantized dots keep the reference's structure exactly: the integer sums of a
 * block (or super-block) are computed with vector instructions, then scaled and
 * accumulated in the same scalar float order as ref.c, so their results equal the
 * reference bit for bit. F32/F16 accumulate in four f32x4 vectors (fused multiply-add),
 * which differs from the reference only by summation order.
 *
 * Compile-checked freestanding on x86 hosts (ctest neon_compile_check): include only
 * <arm_neon.h>, <stdint.h>, <stddef.h> and project headers that include nothing else
 * (not core/fp16.h: it needs <string.h>); fp16 goes through the vcvt instructions. */
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kernels/quants.h"
#include "kernels/ref.h"

static inline float h2f(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* Round to nearest even (the default FPCR mode), like g4_f32_to_fp16. */
static inline uint16_t f2h(float f) {
    return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0);
}

/* acc += the 16 products a[i]*b[i] summed into 4 lanes (exact integer arithmetic). */
#if defined(__ARM_FEATURE_DOTPROD)
#define NEON_HAVE_DOTPROD 1
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}
#else
#define NEON_HAVE_DOTPROD 0
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b)); /* |p| <= 2^14 */
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}
#endif

/* ------------------------------------------------------------------------------------
 * Float dots
 * ---------------------------------------------------------------------------------- */

static void dot_f32(int64_t n, float *out, const void *w, const void *x) {
    const float *a = w, *b = x;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) sum += a[i] * b[i];
    *out = sum;
}

static void dot_f16(int64_t n, float *out, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const float16x8_t a0 = vreinterpretq_f16_u16(vld1q_u16(a + i));
        const float16x8_t a1 = vreinterpretq_f16_u16(vld1q_u16(a + i + 8));
        const float16x8_t b0 = vreinterpretq_f16_u16(vld1q_u16(b + i));
        const float16x8_t b1 = vreinterpretq_f16_u16(vld1q_u16(b + i + 8));
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(a0)), vcvt_f32_f16(vget_low_f16(b0)));
        s1 = vfmaq_f32(s1, vcvt_high_f32_f16(a0), vcvt_high_f32_f16(b0));
        s2 = vfmaq_f32(s2, vcvt_f32_f16(vget_low_f16(a1)), vcvt_f32_f16(vget_low_f16(b1)));
        s3 = vfmaq_f32(s3, vcvt_high_f32_f16(a1), vcvt_high_f32_f16(b1));
    }
    for (; i + 4 <= n; i += 4) {
        const float16x4_t a0 = vreinterpret_f16_u16(vld1_u16(a + i));
        const float16x4_t b0 = vreinterpret_f16_u16(vld1_u16(b + i));
        s0 = vfmaq_f32(s0, vcvt_f32_f16(a0), vcvt_f32_f16(b0));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) sum += h2f(a[i]) * h2f(b[i]); /* exact product */
    *out = sum;
}

/* ------------------------------------------------------------------------------------
 * Quantized dots (integer sums in vectors, float scaling as ref.c)
 * ---------------------------------------------------------------------------------- */

static void dot_q8_0(int64_t n, float *out, const void *w, const void *xv) {
    const block_q8_0 *x = w;
    const block_q8_0 *y = xv;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int32x4_t acc = dot16(vdupq_n_s32(0), vld1q_s8(x[i].qs), vld1q_s8(y[i].qs));
        acc = dot16(acc, vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs + 16));
        const int sumi = vaddvq_s32(acc);
        sumf += (float)sumi * (h2f(x[i].d) * h2f(y[i].d));
    }
    *out = sumf;
}

static void dot_q4_0(int64_t n, float *out, const void *w, const void *xv) {
    const block_q4_0 *x = w;
    const block_q8_0 *y = xv;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t s8 = vdupq_n_s8(8);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const uint8x16_t v = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m4)), s8);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), s8);
        int32x4_t acc = dot16(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs));
        acc = dot16(acc, hi, vld1q_s8(y[i].qs + 16));
        const int sumi = vaddvq_s32(acc);
        sumf += (float)sumi * h2f(x[i].d) * h2f(y[i].d);
    }
    *out = sumf;
}

static void dot_q4_k(int64_t n, float *out, const void *w, const void *xv) {
    const block_q4_K *x = w;
    const block_q8_K *y = xv;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        int summs = 0;
        for (int c = 0; c < 4; c++, q += 32, q8 += 64) {
            uint8_t sc1, mn1, sc2, mn2;
            g4_q4k_scale_min(2 * c, x[i].scales, &sc1, &mn1);
            g4_q4k_scale_min(2 * c + 1, x[i].scales, &sc2, &mn2);
            const uint8x16_t v0 = vld1q_u8(q), v1 = vld1q_u8(q + 16);
            const int8x16_t l0 = vreinterpretq_s8_u8(vandq_u8(v0, m4));
            const int8x16_t l1 = vreinterpretq_s8_u8(vandq_u8(v1, m4));
            const int8x16_t h0 = vreinterpretq_s8_u8(vshrq_n_u8(v0, 4));
            const int8x16_t h1 = vreinterpretq_s8_u8(vshrq_n_u8(v1, 4));
            int32x4_t a1 = dot16(vdupq_n_s32(0), l0, vld1q_s8(q8));
            a1 = dot16(a1, l1, vld1q_s8(q8 + 16));
            int32x4_t a2 = dot16(vdupq_n_s32(0), h0, vld1q_s8(q8 + 32));
            a2 = dot16(a2, h1, vld1q_s8(q8 + 48));
            acc = vmlaq_n_s32(acc, a1, sc1);
            acc = vmlaq_n_s32(acc, a2, sc2);
            summs += mn1 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) +
                     mn2 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        const int isum = vaddvq_s32(acc);
        const float d = h2f(x[i].d) * y[i].d, dmin = h2f(x[i].dmin) * y[i].d;
        sumf += d * (float)isum - dmin * (float)summs;
    }
    *out = sumf;
}

static void dot_q6_k(int64_t n, float *out, const void *w, const void *xv) {
    const block_q6_K *x = w;
    const block_q8_K *y = xv;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(0x03), m30 = vdupq_n_u8(0x30);
    const int8x16_t s32 = vdupq_n_s8(32);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h, *q8 = y[i].qs + 128 * h;
            for (int is = 0; is < 2; is++) {
                const int l = 16 * is;
                const uint8x16_t L0 = vld1q_u8(ql + l), L1 = vld1q_u8(ql + l + 32);
                const uint8x16_t H = vld1q_u8(qh + l);
                const uint8x16_t u1 = vorrq_u8(vandq_u8(L0, m4), vshlq_n_u8(vandq_u8(H, m3), 4));
                const uint8x16_t u2 = vorrq_u8(vandq_u8(L1, m4), vandq_u8(vshlq_n_u8(H, 2), m30));
                const uint8x16_t u3 = vorrq_u8(vshrq_n_u8(L0, 4), vandq_u8(H, m30));
                const uint8x16_t u4 = vorrq_u8(vshrq_n_u8(L1, 4), vandq_u8(vshrq_n_u8(H, 2), m30));
                const int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(u1), s32);
                const int8x16_t q2 = vsubq_s8(vreinterpretq_s8_u8(u2), s32);
                const int8x16_t q3 = vsubq_s8(vreinterpretq_s8_u8(u3), s32);
                const int8x16_t q4 = vsubq_s8(vreinterpretq_s8_u8(u4), s32);
                const int32x4_t z = vdupq_n_s32(0);
                acc = vmlaq_n_s32(acc, dot16(z, q1, vld1q_s8(q8 + l)), sc[is]);
                acc = vmlaq_n_s32(acc, dot16(z, q2, vld1q_s8(q8 + l + 32)), sc[is + 2]);
                acc = vmlaq_n_s32(acc, dot16(z, q3, vld1q_s8(q8 + l + 64)), sc[is + 4]);
                acc = vmlaq_n_s32(acc, dot16(z, q4, vld1q_s8(q8 + l + 96)), sc[is + 6]);
            }
        }
        const int isum = vaddvq_s32(acc);
        const float d = h2f(x[i].d) * y[i].d;
        sumf += d * (float)isum;
    }
    *out = sumf;
}

/* ------------------------------------------------------------------------------------
 * Q8_0 activation quantizer (bit-exact with ref: same d, id, round half to even)
 * ---------------------------------------------------------------------------------- */

static void quant_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float32x4_t v[8];
        float32x4_t amaxv = vdupq_n_f32(0.0f);
        for (int j = 0; j < 8; j++) {
            v[j] = vld1q_f32(x + 4 * j);
            amaxv = vmaxq_f32(amaxv, vabsq_f32(v[j]));
        }
        const float amax = vmaxvq_f32(amaxv);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        if (id > 3.4e38f) { /* all-denormal block: 127/amax overflowed; reference gives -128 */
            for (int j = 0; j < QK8_0; j++) y[i].qs[j] = -128;
            y[i].d = f2h(d);
            continue;
        }
        for (int j = 0; j < 4; j++) {
            const int32x4_t i0 = vcvtnq_s32_f32(vmulq_n_f32(v[2 * j], id));
            const int32x4_t i1 = vcvtnq_s32_f32(vmulq_n_f32(v[2 * j + 1], id));
            const int16x8_t s = vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1));
            vst1_s8(y[i].qs + 8 * j, vqmovn_s16(s));
        }
        y[i].d = f2h(d);
    }
}

/* dot_multi and gemm as loops over the NEON dot: bit-identical to it by construction */
#define MULTI(name)                                                                        \
    static void name##_multi(int64_t n, float *out, const void *w, const void *x,          \
                             size_t x_stride, int nx) {                                    \
        for (int j = 0; j < nx; j++)                                                       \
            name(n, &out[j], w, (const char *)x + (size_t)j * x_stride);                   \
    }                                                                                      \
    static void name##_gemm(int64_t n, const void *w, size_t ws, int nw, const void *x,    \
                            size_t xs, int nx, float *out, size_t os) {                    \
        for (int i = 0; i < nw; i++)                                                       \
            name##_multi(n, out + (size_t)i * os, (const char *)w + (size_t)i * ws, x, xs, nx); \
    }
MULTI(dot_f32)
MULTI(dot_f16)
MULTI(dot_q8_0)
MULTI(dot_q4_0)
MULTI(dot_q4_k)
MULTI(dot_q6_k)
#undef MULTI

void g4_kernels_neon(g4_kernels *k) {
#define SET(T, fn)                                                                         \
    do {                                                                                   \
        k->dot[G4_TYPE_##T] = fn;                                                          \
        k->dot_multi[G4_TYPE_##T] = fn##_multi;                                            \
        k->gemm[G4_TYPE_##T] = fn##_gemm;                                                  \
    } while (0)
    SET(F32, dot_f32);
    SET(F16, dot_f16);
    k->quant[G4_TYPE_Q8_0] = quant_q8_0;
    /* This file is built with +dotprod; without it on the CPU, the integer dots
     * (sdot) would fault, so those slots keep the reference. */
    if (NEON_HAVE_DOTPROD && !g4_cpu_get()->dotprod) return;
    SET(Q8_0, dot_q8_0);
    SET(Q4_0, dot_q4_0);
    SET(Q4_K, dot_q4_k);
    SET(Q6_K, dot_q6_k);
#undef SET
}
