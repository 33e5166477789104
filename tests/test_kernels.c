/* test_kernels.c — the kernel tables.
 *
 * 1. The scalar reference against independent definitions:
 *    - fp16/bf16 conversions: every half, a structured sweep of f32 bit patterns (every
 *      exponent x every rounding position) and random patterns, against a definition
 *      through double arithmetic, and against F16C when the CPU has it;
 *    - activation quantizers on hand-made vectors (ties, zeros, negative max);
 *    - dequantizers on hand-made blocks, and on blocks built element by element from
 *      the spec's layout (random q values and scales, written by encoders in this file);
 *    - every dot product against sum(dequant(w)[i] * dequant(quant(x))[i]) in double.
 * 2. Every slot of every ISA table this CPU can run against the reference:
 *    dequantizers and quantizers bit-exact, dot within a summation-order tolerance,
 *    dot_multi bit-identical to the same table's dot for nx = 1..4, and gemm
 *    bit-identical to dot for every tile shape nw x nx up to G4_GEMM_MAX_W x
 *    G4_GEMM_MAX_X, with weight / activation / output strides that are not the row size.
 * Row lengths: 1 block, 3 blocks and real row lengths (2560, 3840, 8192+96); 32-element
 * blocks also 2 and 7 blocks (kernels that take 4 blocks per step see every tail). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "core/types.h"
#include "kernels/kernels.h"
#include "kernels/quants.h"
#include "t.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ------------------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }
static float rnd_unit(void) { return (float)(rnd() >> 40) * (1.0f / 16777216.0f); } /* [0,1) */
static float rnd_sym(void) { return 2.0f * rnd_unit() - 1.0f; }                       /* [-1,1) */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static bool same_bits_f(float a, float b) { return g4_f32_bits(a) == g4_f32_bits(b); }

static const g4_type weight_types[] = {
    G4_TYPE_F32,  G4_TYPE_F16,  G4_TYPE_BF16, G4_TYPE_Q4_0, G4_TYPE_Q4_1,   G4_TYPE_Q5_0,
    G4_TYPE_Q5_1, G4_TYPE_Q8_0, G4_TYPE_Q2_K, G4_TYPE_Q3_K, G4_TYPE_Q4_K,   G4_TYPE_Q5_K,
    G4_TYPE_Q6_K, G4_TYPE_IQ4_NL, G4_TYPE_IQ4_XS, G4_TYPE_MXFP4};
#define N_WEIGHT_TYPES (int)(sizeof weight_types / sizeof weight_types[0])
static const g4_type act_types[] = {G4_TYPE_F32,  G4_TYPE_F16,  G4_TYPE_BF16,
                                    G4_TYPE_Q8_0, G4_TYPE_Q8_1, G4_TYPE_Q8_K};
#define N_ACT_TYPES (int)(sizeof act_types / sizeof act_types[0])

static int blck(g4_type t) { return g4_type_get((uint32_t)t)->blck; }
static int blck_size(g4_type t) { return g4_type_get((uint32_t)t)->size; }

/* Row lengths: 1 block, 3 blocks, real rows; element types also get odd tails. */
static int row_lengths(g4_type t, int64_t *out) {
    int n = 0;
    const int b = blck(t);
    if (b == 1) {
        static const int64_t odd[] = {1, 3, 7, 15, 16, 17, 31, 33, 63, 65, 96, 129};
        for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) out[n++] = odd[i];
        out[n++] = 2560;
        out[n++] = 3840;
        out[n++] = 8192 + 96 + 5;
    } else if (b == 32) {
        out[n++] = 32;
        out[n++] = 64;
        out[n++] = 96;
        out[n++] = 224;
        out[n++] = 2560;
        out[n++] = 8192 + 96;
    } else {
        out[n++] = 256;
        out[n++] = 768;
        out[n++] = 2560;
        out[n++] = 3840;
    }
    return n;
}

/* ------------------------------------------------------------------------------------
 * Random data
 * ---------------------------------------------------------------------------------- */

/* fp16 scale +-[0.5,1) * 2^e, e in [emin, emax]; now and then zero or subnormal. */
static uint16_t rnd_scale16(int emin, int emax, bool neg_ok) {
    const uint32_t r = rnd_below(40);
    if (r == 0) return 0;
    if (r == 1) return (uint16_t)(1 + rnd_below(0x3ff)); /* subnormal half */
    float v = (0.5f + 0.5f * rnd_unit()) * ldexpf(1.0f, emin + (int)rnd_below((uint32_t)(emax - emin + 1)));
    if (neg_ok && (rnd() & 1)) v = -v;
    return g4_f32_to_fp16(v);
}

/* Any finite half (random bits, exponent != 31). */
static uint16_t rnd_finite16(void) {
    uint16_t h;
    do h = (uint16_t)rnd(); while (((h >> 10) & 0x1f) == 0x1f);
    return h;
}

static float rnd_value(void) { return rnd_sym() * ldexpf(1.0f, (int)rnd_below(9) - 4); }

/* Fill a weight row of type t. wild: every field random (finite fp16 fields, any MXFP4
 * exponent) — for the bit-exact dequant checks; otherwise scales in a sane range so that
 * the dots are meaningful. Q8_0 weights avoid -128, which llama.cpp's quantizer never
 * writes (|q| <= 127). */
static void gen_weights(g4_type t, int64_t n, uint8_t *buf, bool wild) {
    const size_t bytes = g4_row_size(t, n);
    for (size_t i = 0; i < bytes; i++) buf[i] = (uint8_t)rnd();
    const int64_t nb = n / blck(t);
#define SC16() (wild ? rnd_finite16() : rnd_scale16(-10, -3, true))
    switch (t) {
    case G4_TYPE_F32: {
        float *f = (float *)buf;
        for (int64_t i = 0; i < n; i++) f[i] = rnd_value();
        break;
    }
    case G4_TYPE_F16: {
        uint16_t *h = (uint16_t *)buf;
        for (int64_t i = 0; i < n; i++) h[i] = wild ? rnd_finite16() : g4_f32_to_fp16(rnd_value());
        break;
    }
    case G4_TYPE_BF16: {
        uint16_t *h = (uint16_t *)buf;
        for (int64_t i = 0; i < n; i++) {
            if (wild) {
                do h[i] = (uint16_t)rnd(); while (((h[i] >> 7) & 0xff) == 0xff);
            } else {
                h[i] = g4_f32_to_bf16(rnd_value());
            }
        }
        break;
    }
    case G4_TYPE_Q4_0: for (int64_t i = 0; i < nb; i++) ((block_q4_0 *)buf)[i].d = SC16(); break;
    case G4_TYPE_Q5_0: for (int64_t i = 0; i < nb; i++) ((block_q5_0 *)buf)[i].d = SC16(); break;
    case G4_TYPE_IQ4_NL: for (int64_t i = 0; i < nb; i++) ((block_iq4_nl *)buf)[i].d = SC16(); break;
    case G4_TYPE_Q4_1:
        for (int64_t i = 0; i < nb; i++) {
            ((block_q4_1 *)buf)[i].d = SC16();
            ((block_q4_1 *)buf)[i].m = SC16();
        }
        break;
    case G4_TYPE_Q5_1:
        for (int64_t i = 0; i < nb; i++) {
            ((block_q5_1 *)buf)[i].d = SC16();
            ((block_q5_1 *)buf)[i].m = SC16();
        }
        break;
    case G4_TYPE_Q8_0:
        for (int64_t i = 0; i < nb; i++) {
            block_q8_0 *b = &((block_q8_0 *)buf)[i];
            b->d = SC16();
            for (int j = 0; j < QK8_0; j++)
                if (b->qs[j] == -128) b->qs[j] = -127;
        }
        break;
    case G4_TYPE_Q8_1: /* activation types: dequant checks only */
        for (int64_t i = 0; i < nb; i++) {
            ((block_q8_1 *)buf)[i].d = SC16();
            ((block_q8_1 *)buf)[i].s = SC16();
        }
        break;
    case G4_TYPE_Q8_K:
        for (int64_t i = 0; i < nb; i++) ((block_q8_K *)buf)[i].d = rnd_value();
        break;
    case G4_TYPE_Q2_K:
        for (int64_t i = 0; i < nb; i++) {
            ((block_q2_K *)buf)[i].d = SC16();
            ((block_q2_K *)buf)[i].dmin = SC16();
        }
        break;
    case G4_TYPE_Q3_K: for (int64_t i = 0; i < nb; i++) ((block_q3_K *)buf)[i].d = SC16(); break;
    case G4_TYPE_Q4_K:
        for (int64_t i = 0; i < nb; i++) {
            ((block_q4_K *)buf)[i].d = SC16();
            ((block_q4_K *)buf)[i].dmin = SC16();
        }
        break;
    case G4_TYPE_Q5_K:
        for (int64_t i = 0; i < nb; i++) {
            ((block_q5_K *)buf)[i].d = SC16();
            ((block_q5_K *)buf)[i].dmin = SC16();
        }
        break;
    case G4_TYPE_Q6_K: for (int64_t i = 0; i < nb; i++) ((block_q6_K *)buf)[i].d = SC16(); break;
    case G4_TYPE_IQ4_XS: for (int64_t i = 0; i < nb; i++) ((block_iq4_xs *)buf)[i].d = SC16(); break;
    case G4_TYPE_MXFP4:
        for (int64_t i = 0; i < nb; i++) {
            block_mxfp4 *b = &((block_mxfp4 *)buf)[i];
            if (wild) b->e = (uint8_t)rnd();
            else b->e = (uint8_t)(i % 7 == 3 ? rnd_below(4) : 100 + rnd_below(40));
        }
        break;
    default:
        break;
    }
#undef SC16
}

/* Activations: per 32 elements a random magnitude 2^-6..2^6; the second 32-block of a
 * row is all zeros (the amax == 0 paths). */
static void gen_acts(int64_t n, float *x) {
    for (int64_t i = 0; i < n; i += 32) {
        const float mag = ldexpf(1.0f, (int)rnd_below(13) - 6);
        for (int64_t j = i; j < i + 32 && j < n; j++) x[j] = i == 32 ? 0.0f : rnd_sym() * mag;
    }
}

/* ------------------------------------------------------------------------------------
 * fp16 / bf16 conversions
 * ---------------------------------------------------------------------------------- */

/* Round |f| to a binary format with man_bits fraction bits, minimum normal exponent emin
 * and largest finite value fmax, ties to even; overflow gives inf. Done in double, where
 * a / q is exact and nearbyint rounds half to even. */
static double round_format(double f, int man_bits, int emin, double fmax) {
    const double a = fabs(f);
    if (a == 0.0 || isinf(a)) return f;
    int e = ilogb(a);
    if (e < emin) e = emin;
    const double q = ldexp(1.0, e - man_bits);
    double r = nearbyint(a / q) * q;
    if (r > fmax) r = INFINITY;
    return copysign(r, f);
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t f16c_from_f32(float f) {
    return (uint16_t)_cvtss_sh(f, 0); /* 0: round to nearest even */
}
__attribute__((target("f16c"))) static float f16c_to_f32(uint16_t h) { return _cvtsh_ss(h); }
#endif

static bool have_f16c(void) {
#if defined(__x86_64__)
    return g4_cpu_get()->f16c;
#else
    return false;
#endif
}

/* Checks g4_f32_to_fp16 / g4_f32_to_bf16 of one f32 bit pattern; returns 0 or 1 failure. */
static int check_f32_pattern(uint32_t u, bool f16c) {
    const float f = g4_bits_f32(u);
    int bad = 0;
    const uint16_t h = g4_f32_to_fp16(f), b = g4_f32_to_bf16(f);
    if (isnan(f)) {
        /* NaN stays a quiet NaN with its sign */
        if (((h & 0x7c00) != 0x7c00) || !(h & 0x0200) || ((h >> 15) != (u >> 31))) bad = 1;
        if (((b & 0x7f80) != 0x7f80) || !(b & 0x0040) || ((b >> 15) != (u >> 31))) bad = 1;
    } else {
        const double rh = round_format(f, 10, -14, 65504.0);
        const double rb = round_format(f, 7, -126, ldexp(2.0 - ldexp(1.0, -7), 127));
        const float gh = g4_fp16_to_f32(h), gb = g4_bf16_to_f32(b);
        if ((double)gh != rh || !signbit(gh) != !signbit(rh)) bad = 1;
        if ((double)gb != rb || !signbit(gb) != !signbit(rb)) bad = 1;
    }
#if defined(__x86_64__)
    if (f16c && f16c_from_f32(f) != h) bad = 1;
#else
    (void)f16c;
#endif
    static int printed = 0;
    if (bad && printed++ < 20)
        fprintf(stderr, "fp16/bf16: f32 0x%08x -> fp16 0x%04x bf16 0x%04x\n", u, h, b);
    return bad;
}

static void test_fp16_bf16(void) {
    const bool f16c = have_f16c();
    /* every half -> f32, against the definition and F16C */
    int bad = 0, nan_payload_diff = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        const uint16_t h = (uint16_t)i;
        const float f = g4_fp16_to_f32(h);
        const int e = (h >> 10) & 31, m = h & 1023;
        const double mag = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
        bool ok;
        if (e == 31) ok = m ? isnan(f) && (signbit(f) != 0) == ((h >> 15) != 0)
                            : isinf(f) && (signbit(f) != 0) == ((h >> 15) != 0);
        else ok = (double)f == ((h >> 15) ? -mag : mag) && (signbit(f) != 0) == ((h >> 15) != 0);
        /* round trip */
        const uint16_t back = g4_f32_to_fp16(f);
        if (e == 31 && m) ok = ok && (back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0;
        else ok = ok && back == h;
#if defined(__x86_64__)
        if (f16c) {
            const float g = f16c_to_f32(h);
            if (isnan(f)) {
                ok = ok && isnan(g);
                if (g4_f32_bits(g) != g4_f32_bits(f)) nan_payload_diff++;
            } else {
                ok = ok && same_bits_f(f, g);
            }
        }
#endif
        if (!ok && bad++ < 10)
            fprintf(stderr, "fp16 0x%04x -> %.9g (0x%08x)\n", h, (double)f, g4_f32_bits(f));
        /* bf16 -> f32 is the upper half of the f32 */
        if (g4_f32_bits(g4_bf16_to_f32(h)) != (uint32_t)h << 16) bad++;
    }
    T_CHECKF(bad == 0, "%d half/bf16 -> f32 conversions wrong", bad);
    if (nan_payload_diff)
        printf("note: g4_fp16_to_f32 keeps signaling-NaN halves signaling; F16C quiets them "
               "(%d NaN inputs differ in the quiet bit only)\n", nan_payload_diff);

    /* f32 -> fp16 / bf16: every sign x exponent x the 10 fraction bits kept by fp16
     * (bits 13..22) x a set of low-13-bit patterns. Rounding ties at every position (the
     * subnormal halves round at bits 14..23) and the values just around them are covered. */
    static const uint32_t low13[] = {0, 1, 2, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x0800};
    bad = 0;
    for (uint32_t s = 0; s < 2; s++)
        for (uint32_t e = 0; e < 256; e++)
            for (uint32_t top = 0; top < 1024; top++)
                for (size_t k = 0; k < sizeof low13 / sizeof low13[0]; k++)
                    bad += check_f32_pattern((s << 31) | (e << 23) | (top << 13) | low13[k], f16c);
    /* bf16 rounds at bit 16: its ties (low 16 bits == 0x8000) with each parity */
    for (uint32_t s = 0; s < 2; s++)
        for (uint32_t e = 0; e < 256; e++)
            for (uint32_t top = 0; top < 128; top++)
                for (uint32_t low = 0x7fff; low <= 0x8001; low++)
                    bad += check_f32_pattern((s << 31) | (e << 23) | (top << 16) | low, f16c);
    for (int i = 0; i < 2000000; i++) bad += check_f32_pattern((uint32_t)rnd(), f16c);
    static const float edges[] = {0.0f, -0.0f, FLT_MIN, FLT_TRUE_MIN, FLT_MAX, -FLT_MAX,
                                  5.9604644775390625e-8f /* 2^-24 */, 2.98023223876953125e-8f,
                                  65504.0f, 65519.99f, 65520.0f, 65536.0f, 1e10f, -1e-10f,
                                  6.103515625e-05f /* 2^-14 */, 6.0975552e-05f, 1.0009765625f,
                                  1.00048828125f, 1.00146484375f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        bad += check_f32_pattern(g4_f32_bits(edges[i]), f16c);
    bad += check_f32_pattern(0x7f800000u, f16c); /* inf */
    bad += check_f32_pattern(0xff800000u, f16c);
    bad += check_f32_pattern(0x7fc00000u, f16c); /* qNaN */
    bad += check_f32_pattern(0x7f800001u, f16c); /* sNaN, low payload */
    bad += check_f32_pattern(0xffa00000u, f16c); /* -sNaN */
    T_CHECKF(bad == 0, "%d f32 -> fp16/bf16 conversions wrong", bad);
    /* a few exact values */
    T_CHECK(g4_f32_to_fp16(1.0f) == 0x3c00);
    T_CHECK(g4_f32_to_fp16(-2.0f) == 0xc000);
    T_CHECK(g4_f32_to_fp16(65520.0f) == 0x7c00);
    T_CHECK(g4_f32_to_fp16(2.98023223876953125e-8f) == 0x0000); /* 2^-25: tie to even 0 */
    T_CHECK(g4_f32_to_fp16(8.94069671630859375e-8f) == 0x0002); /* 3*2^-25: tie to 2 */
    T_CHECK(g4_f32_to_fp16(1.00048828125f) == 0x3c00);          /* 1+2^-11: tie to even */
    T_CHECK(g4_f32_to_fp16(1.00146484375f) == 0x3c02);          /* 1+3*2^-11: to even */
    T_CHECK(g4_f32_to_bf16(1.00390625f) == 0x3f80);             /* 1+2^-8: tie to even */
    T_CHECK(g4_f32_to_bf16(1.01171875f) == 0x3f82);             /* 1+3*2^-8 */
    printf("fp16/bf16 conversions checked%s\n", f16c ? " (and against F16C)" : "");
}

/* ------------------------------------------------------------------------------------
 * Hand-made activation quantizer vectors
 * ---------------------------------------------------------------------------------- */

static void test_quant_hand(const g4_kernels *k) {
    float x[96];
    memset(x, 0, sizeof x);
    /* block 0: amax 127 -> d = 1, id = 1; ties round to even */
    const float b0[10] = {127.0f, 63.5f, -63.5f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, -127.0f, 126.5f};
    const int8_t q0[10] = {127, 64, -64, 0, 0, 2, 2, -2, -127, 126};
    memcpy(x, b0, sizeof b0);
    /* block 1: zeros. block 2: negative max -254 -> d = 2, id = 0.5 */
    x[64] = -254.0f;
    x[65] = 3.0f;  /* 1.5 -> 2 */
    x[66] = 5.0f;  /* 2.5 -> 2 */
    x[67] = -7.0f; /* -3.5 -> -4 */
    const int8_t q2[4] = {-127, 2, 2, -4};

    block_q8_0 y[3];
    memset(y, 0x5a, sizeof y);
    k->quant[G4_TYPE_Q8_0](x, y, 96);
    T_CHECK(y[0].d == 0x3c00 && y[1].d == 0 && y[2].d == 0x4000);
    int bad = 0;
    for (int j = 0; j < 32; j++) {
        bad += y[0].qs[j] != (j < 10 ? q0[j] : 0);
        bad += y[1].qs[j] != 0;
        bad += y[2].qs[j] != (j < 4 ? q2[j] : 0);
    }
    T_CHECKF(bad == 0, "q8_0 hand vector: %d wrong quants", bad);

    block_q8_1 z[3];
    memset(z, 0x5a, sizeof z);
    k->quant[G4_TYPE_Q8_1](x, z, 96);
    bad = 0;
    for (int b = 0; b < 3; b++) {
        bad += z[b].d != y[b].d;
        bad += memcmp(z[b].qs, y[b].qs, 32) != 0;
    }
    T_CHECKF(bad == 0, "q8_1 quants differ from q8_0");
    T_CHECKF(z[0].s == 0x5800 && z[1].s == 0 && z[2].s == 0xdbf0, "q8_1 s = %04x %04x %04x",
             z[0].s, z[1].s, z[2].s); /* fp16(1*128), 0, fp16(2*-127) */

    /* Q8_K: the first element of largest |x| sets the sign; ties to even */
    float xk[3 * QK_K];
    memset(xk, 0, sizeof xk);
    xk[0] = 0.5f;    /* 0 */
    xk[1] = 1.5f;    /* 2 */
    xk[2] = -2.5f;   /* -2 */
    xk[3] = -127.0f; /* max = -127 -> iscale = 1 */
    xk[10] = 127.0f; /* same |x|, later: does not win */
    xk[20] = 126.5f; /* 126 */
    xk[40] = 3.0f;
    xk[255] = -0.5f;
    /* block 1: zeros. block 2: positive max first -> iscale = -1, d = -1 */
    xk[512] = 127.0f;
    xk[513] = -127.0f;
    xk[514] = 0.5f;
    xk[515] = 1.5f; /* -1.5 -> -2 */
    block_q8_K yk[3];
    memset(yk, 0x5a, sizeof yk);
    k->quant[G4_TYPE_Q8_K](xk, yk, 3 * QK_K);
    T_CHECKF(yk[0].d == 1.0f && yk[1].d == 0.0f && yk[2].d == -1.0f, "q8_K d = %g %g %g",
             (double)yk[0].d, (double)yk[1].d, (double)yk[2].d);
    int8_t e0[QK_K] = {0}, e2[QK_K] = {0};
    e0[1] = 2, e0[2] = -2, e0[3] = -127, e0[10] = 127, e0[20] = 126, e0[40] = 3;
    e2[0] = -127, e2[1] = 127, e2[3] = -2;
    bad = 0;
    for (int j = 0; j < QK_K; j++) bad += yk[0].qs[j] != e0[j] || yk[1].qs[j] != 0 || yk[2].qs[j] != e2[j];
    for (int g = 0; g < 16; g++) {
        bad += yk[0].bsums[g] != (g == 0 ? 0 : g == 1 ? 126 : g == 2 ? 3 : 0);
        bad += yk[1].bsums[g] != 0;
        bad += yk[2].bsums[g] != (g == 0 ? -2 : 0);
    }
    T_CHECKF(bad == 0, "q8_K hand vector: %d wrong fields", bad);

    /* F32 / F16 / BF16 activations */
    const float xf[3] = {1.0f, -0.33333334f, 70000.0f};
    uint16_t h[3], b[3];
    float f[3];
    k->quant[G4_TYPE_F16](xf, h, 3);
    k->quant[G4_TYPE_BF16](xf, b, 3);
    k->quant[G4_TYPE_F32](xf, f, 3);
    T_CHECK(h[0] == 0x3c00 && h[1] == 0xb555 && h[2] == 0x7c00);
    T_CHECK(b[0] == 0x3f80 && b[1] == 0xbeab && b[2] == 0x4789);
    T_CHECK(memcmp(f, xf, sizeof xf) == 0);
}

/* ------------------------------------------------------------------------------------
 * Dequantizers on hand-made blocks and on blocks encoded from the spec's layout
 * ---------------------------------------------------------------------------------- */

static int count_diff(const float *a, const float *b, int n, int *first) {
    int bad = 0;
    *first = -1;
    for (int i = 0; i < n; i++)
        if (!same_bits_f(a[i], b[i]) && bad++ == 0) *first = i;
    return bad;
}

#define CHECK_DEQ(name, got, want, n)                                                      \
    do {                                                                                   \
        int first_;                                                                        \
        const int bad_ = count_diff(got, want, n, &first_);                                \
        T_CHECKF(bad_ == 0, "%s: %d wrong values, first [%d] = %.9g, want %.9g", name,     \
                 bad_, first_, first_ >= 0 ? (double)(got)[first_] : 0.0,                  \
                 first_ >= 0 ? (double)(want)[first_] : 0.0);                               \
    } while (0)

/* Explicit bytes, values worked out by hand from spec §1.5. */
static void test_dequant_hand(const g4_kernels *k) {
    float y[QK_K], want[QK_K];

    /* Q4_0: low nibbles are elements 0..15, high nibbles 16..31 */
    block_q4_0 b40;
    b40.d = 0x3c00;
    for (int j = 0; j < 16; j++) b40.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    k->dequant[G4_TYPE_Q4_0](&b40, y, 32);
    for (int j = 0; j < 16; j++) want[j] = (float)(j - 8), want[j + 16] = (float)(7 - j);
    CHECK_DEQ("q4_0 hand", y, want, 32);

    /* Q4_K scale/min unpacking: d = dmin = 1, every low nibble 1, high nibble 2 */
    block_q4_K b4k;
    static const uint8_t sc4[12] = {0xC1, 0x42, 0x83, 0x04, 0x45, 0x86,
                                    0xC7, 0x08, 0x9A, 0xBC, 0xDE, 0xF1};
    /* (sc, mn) of sub-blocks 0..7: (1,5) (2,6) (3,7) (4,8) (58,25) (28,43) (46,61) (1,15);
     * sub-block 2c uses the low nibble (1), 2c+1 the high one (2). */
    static const float sub4[8] = {1 - 5,   2 * 2 - 6,  3 - 7,   2 * 4 - 8,
                                  58 - 25, 2 * 28 - 43, 46 - 61, 2 * 1 - 15};
    b4k.d = b4k.dmin = 0x3c00;
    memcpy(b4k.scales, sc4, 12);
    memset(b4k.qs, 0x21, sizeof b4k.qs);
    k->dequant[G4_TYPE_Q4_K](&b4k, y, QK_K);
    for (int i = 0; i < QK_K; i++) want[i] = sub4[i / 32];
    CHECK_DEQ("q4_K hand", y, want, QK_K);

    /* Q6_K: d = 1, scales[s] = s+1 (last -3), ql = 0x21, qh = 0xE4 -> the four 32-groups of
     * each half hold q = 1|0<<4, 1|1<<4, 2|2<<4, 2|3<<4 = 1, 17, 34, 50 (minus 32). */
    block_q6_K b6k;
    b6k.d = 0x3c00;
    for (int s = 0; s < 16; s++) b6k.scales[s] = (int8_t)(s + 1);
    b6k.scales[15] = -3;
    memset(b6k.ql, 0x21, sizeof b6k.ql);
    memset(b6k.qh, 0xE4, sizeof b6k.qh);
    k->dequant[G4_TYPE_Q6_K](&b6k, y, QK_K);
    static const int g6[4] = {-31, -15, 2, 18};
    for (int i = 0; i < QK_K; i++) want[i] = (float)(b6k.scales[i / 16] * g6[(i % 128) / 32]);
    CHECK_DEQ("q6_K hand", y, want, QK_K);

    /* MXFP4: e = 128 -> scale 1; e = 0, 1 -> denormals 2^-128, 2^-127; e = 255 -> 2^127 */
    block_mxfp4 bm;
    for (int j = 0; j < 16; j++) bm.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    static const float F[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    static const uint8_t es[4] = {128, 0, 1, 255};
    for (int t = 0; t < 4; t++) {
        bm.e = es[t];
        k->dequant[G4_TYPE_MXFP4](&bm, y, 32);
        const float sc = ldexpf(1.0f, (int)es[t] - 128);
        for (int j = 0; j < 16; j++) want[j] = F[j] * sc, want[j + 16] = F[15 - j] * sc;
        CHECK_DEQ("mxfp4 hand", y, want, 32);
    }
    T_CHECK(g4_f32_bits(ldexpf(1.0f, -128)) == 0x00200000u);

    /* IQ4_NL: d = 2 */
    block_iq4_nl bn;
    bn.d = 0x4000;
    for (int j = 0; j < 16; j++) bn.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    static const float K[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    k->dequant[G4_TYPE_IQ4_NL](&bn, y, 32);
    for (int j = 0; j < 16; j++) want[j] = 2 * K[j], want[j + 16] = 2 * K[15 - j];
    CHECK_DEQ("iq4_nl hand", y, want, 32);
}

/* Encoders: write per-element q values and sub-block scales into a block following the
 * spec's element -> (byte, bits) mapping, the inverse of the dequant formulas. The
 * expected value uses the spec's formula with ggml's float operation order. */
static void test_dequant_encoded(const g4_kernels *k) {
    float y[QK_K], want[QK_K];
    int q[QK_K];
    for (int iter = 0; iter < 200; iter++) {
        const uint16_t dh = rnd_scale16(-8, 2, true), mh = rnd_scale16(-8, 2, true);
        const float d = g4_fp16_to_f32(dh), m = g4_fp16_to_f32(mh);

        /* Q4_0 / Q4_1 / IQ4_NL: element e<16 low nibble of qs[e], e>=16 high of qs[e-16] */
        for (int e = 0; e < 32; e++) q[e] = (int)rnd_below(16);
        block_q4_0 a;
        block_q4_1 a1;
        block_iq4_nl an;
        a.d = a1.d = an.d = dh;
        a1.m = mh;
        for (int j = 0; j < 16; j++)
            a.qs[j] = a1.qs[j] = an.qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
        k->dequant[G4_TYPE_Q4_0](&a, y, 32);
        for (int e = 0; e < 32; e++) want[e] = (float)(q[e] - 8) * d;
        CHECK_DEQ("q4_0 encoded", y, want, 32);
        k->dequant[G4_TYPE_Q4_1](&a1, y, 32);
        for (int e = 0; e < 32; e++) want[e] = (float)q[e] * d + m;
        CHECK_DEQ("q4_1 encoded", y, want, 32);
        k->dequant[G4_TYPE_IQ4_NL](&an, y, 32);
        for (int e = 0; e < 32; e++) want[e] = d * (float)g4_kvalues_iq4nl[q[e]];
        CHECK_DEQ("iq4_nl encoded", y, want, 32);

        /* Q5_0 / Q5_1: the fifth bit of element e is bit e of qh (little-endian u32) */
        for (int e = 0; e < 32; e++) q[e] = (int)rnd_below(32);
        block_q5_0 c;
        block_q5_1 c1;
        c.d = c1.d = dh;
        c1.m = mh;
        memset(c.qh, 0, 4);
        for (int j = 0; j < 16; j++) c.qs[j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
        for (int e = 0; e < 32; e++)
            if (q[e] & 16) c.qh[e / 8] = (uint8_t)(c.qh[e / 8] | (1u << (e % 8)));
        memcpy(c1.qh, c.qh, 4);
        memcpy(c1.qs, c.qs, 16);
        k->dequant[G4_TYPE_Q5_0](&c, y, 32);
        for (int e = 0; e < 32; e++) want[e] = (float)(q[e] - 16) * d;
        CHECK_DEQ("q5_0 encoded", y, want, 32);
        k->dequant[G4_TYPE_Q5_1](&c1, y, 32);
        for (int e = 0; e < 32; e++) want[e] = (float)q[e] * d + m;
        CHECK_DEQ("q5_1 encoded", y, want, 32);

        /* Q8_0 */
        block_q8_0 q8;
        q8.d = dh;
        for (int e = 0; e < 32; e++) q8.qs[e] = (int8_t)(rnd_below(255) - 127);
        k->dequant[G4_TYPE_Q8_0](&q8, y, 32);
        for (int e = 0; e < 32; e++) want[e] = (float)q8.qs[e] * d;
        CHECK_DEQ("q8_0 encoded", y, want, 32);

        /* Q2_K: element e = 128h + 32m + l (l < 32) sits in bits 2m..2m+1 of qs[32h + l];
         * scale byte e/16 = scale | min << 4. */
        {
            block_q2_K b;
            memset(&b, 0, sizeof b);
            b.d = dh, b.dmin = mh;
            int sc[16], mn[16];
            for (int s = 0; s < 16; s++) {
                sc[s] = (int)rnd_below(16), mn[s] = (int)rnd_below(16);
                b.scales[s] = (uint8_t)(sc[s] | (mn[s] << 4));
            }
            for (int e = 0; e < QK_K; e++) {
                q[e] = (int)rnd_below(4);
                const int h = e / 128, mm = (e % 128) / 32, l = e % 32;
                b.qs[32 * h + l] = (uint8_t)(b.qs[32 * h + l] | (q[e] << (2 * mm)));
            }
            k->dequant[G4_TYPE_Q2_K](&b, y, QK_K);
            for (int e = 0; e < QK_K; e++)
                want[e] = d * (float)sc[e / 16] * (float)q[e] - m * (float)mn[e / 16];
            CHECK_DEQ("q2_K encoded", y, want, QK_K);
        }
        /* Q3_K: as Q2_K for the low 2 bits; q >= 0 sets bit (4h + m) of hmask[l], q < 0 is
         * stored as q + 4 with the bit clear; 6-bit scales (minus 32) packed as the spec's
         * u32 formulas (written here per byte of a0/a1 = bytes 0-3/4-7, a2 = bytes 8-11). */
        {
            block_q3_K b;
            memset(&b, 0, sizeof b);
            b.d = dh;
            int sc[16];
            for (int s = 0; s < 16; s++) sc[s] = (int)rnd_below(64);
            for (int s = 0; s < 16; s++) {
                const int word = s / 4, byte = s % 4; /* result word (s0..3, s4..7, ...) */
                const int lo = sc[s] & 15, hi = sc[s] >> 4;
                if (word == 0) b.scales[byte] = (uint8_t)(b.scales[byte] | lo);
                if (word == 1) b.scales[4 + byte] = (uint8_t)(b.scales[4 + byte] | lo);
                if (word == 2) b.scales[byte] = (uint8_t)(b.scales[byte] | (lo << 4));
                if (word == 3) b.scales[4 + byte] = (uint8_t)(b.scales[4 + byte] | (lo << 4));
                b.scales[8 + byte] = (uint8_t)(b.scales[8 + byte] | (hi << (2 * word)));
            }
            for (int e = 0; e < QK_K; e++) {
                q[e] = (int)rnd_below(8) - 4;
                const int h = e / 128, mm = (e % 128) / 32, l = e % 32;
                const int low = q[e] >= 0 ? q[e] : q[e] + 4;
                b.qs[32 * h + l] = (uint8_t)(b.qs[32 * h + l] | (low << (2 * mm)));
                if (q[e] >= 0) b.hmask[l] = (uint8_t)(b.hmask[l] | (1u << (4 * h + mm)));
            }
            k->dequant[G4_TYPE_Q3_K](&b, y, QK_K);
            for (int e = 0; e < QK_K; e++) want[e] = d * (float)(sc[e / 16] - 32) * (float)q[e];
            CHECK_DEQ("q3_K encoded", y, want, QK_K);
        }
        /* Q4_K / Q5_K: element e is in sub-block e/32; chunk c = e/64 holds sub-block 2c in
         * the low nibbles of qs[32c..32c+31] and 2c+1 in the high ones; Q5_K's fifth bit
         * is bit (e/32) of qh[e%32]. 6-bit scales/mins packed inversely to get_scale_min. */
        for (int five = 0; five < 2; five++) {
            uint8_t scales[12];
            memset(scales, 0, 12);
            int sc[8], mn[8];
            for (int j = 0; j < 8; j++) {
                sc[j] = (int)rnd_below(64), mn[j] = (int)rnd_below(64);
                if (j < 4) {
                    scales[j] = (uint8_t)(scales[j] | sc[j]);
                    scales[j + 4] = (uint8_t)(scales[j + 4] | mn[j]);
                } else {
                    scales[j + 4] = (uint8_t)((sc[j] & 15) | ((mn[j] & 15) << 4));
                    scales[j - 4] = (uint8_t)(scales[j - 4] | ((sc[j] >> 4) << 6));
                    scales[j] = (uint8_t)(scales[j] | ((mn[j] >> 4) << 6));
                }
            }
            uint8_t qs[128], qh[32];
            memset(qs, 0, sizeof qs);
            memset(qh, 0, sizeof qh);
            for (int e = 0; e < QK_K; e++) {
                q[e] = (int)rnd_below(five ? 32 : 16);
                const int cidx = e / 64, r = e % 64;
                const int nib = q[e] & 15;
                if (r < 32) qs[32 * cidx + r] = (uint8_t)(qs[32 * cidx + r] | nib);
                else qs[32 * cidx + r - 32] = (uint8_t)(qs[32 * cidx + r - 32] | (nib << 4));
                if (q[e] & 16) qh[e % 32] = (uint8_t)(qh[e % 32] | (1u << (e / 32)));
            }
            if (five) {
                block_q5_K b;
                b.d = dh, b.dmin = mh;
                memcpy(b.scales, scales, 12);
                memcpy(b.qs, qs, 128);
                memcpy(b.qh, qh, 32);
                k->dequant[G4_TYPE_Q5_K](&b, y, QK_K);
            } else {
                block_q4_K b;
                b.d = dh, b.dmin = mh;
                memcpy(b.scales, scales, 12);
                memcpy(b.qs, qs, 128);
                k->dequant[G4_TYPE_Q4_K](&b, y, QK_K);
            }
            for (int e = 0; e < QK_K; e++)
                want[e] = d * (float)sc[e / 32] * (float)q[e] - m * (float)mn[e / 32];
            CHECK_DEQ(five ? "q5_K encoded" : "q4_K encoded", y, want, QK_K);
        }
        /* Q6_K: element e = 128h + 32g + l: g=0 low nibble of ql[64h+l], qh[32h+l] bits 0-1;
         * g=1 low nibble of ql[64h+l+32], bits 2-3; g=2 high nibble of ql[64h+l], bits 4-5;
         * g=3 high nibble of ql[64h+l+32], bits 6-7. Scale of element e: scales[e/16]. */
        {
            block_q6_K b;
            memset(&b, 0, sizeof b);
            b.d = dh;
            for (int s = 0; s < 16; s++) b.scales[s] = (int8_t)rnd();
            for (int e = 0; e < QK_K; e++) {
                q[e] = (int)rnd_below(64);
                const int h = e / 128, g = (e % 128) / 32, l = e % 32;
                const int qi = 64 * h + l + ((g & 1) ? 32 : 0);
                b.ql[qi] = (uint8_t)(b.ql[qi] | ((q[e] & 15) << ((g & 2) ? 4 : 0)));
                b.qh[32 * h + l] = (uint8_t)(b.qh[32 * h + l] | ((q[e] >> 4) << (2 * g)));
            }
            k->dequant[G4_TYPE_Q6_K](&b, y, QK_K);
            for (int e = 0; e < QK_K; e++) want[e] = d * (float)b.scales[e / 16] * (float)(q[e] - 32);
            CHECK_DEQ("q6_K encoded", y, want, QK_K);
        }
        /* IQ4_XS: sub-block b = e/32, r = e%32: r < 16 low nibble of qs[16b + r], else high
         * nibble of qs[16b + r - 16]; ls = scales_l nibble b%2 of byte b/2 | scales_h bits
         * 2b..2b+1 << 4. */
        {
            block_iq4_xs b;
            memset(&b, 0, sizeof b);
            b.d = dh;
            int ls[8];
            for (int s = 0; s < 8; s++) {
                ls[s] = (int)rnd_below(64);
                b.scales_l[s / 2] = (uint8_t)(b.scales_l[s / 2] | ((ls[s] & 15) << (4 * (s % 2))));
                b.scales_h = (uint16_t)(b.scales_h | ((ls[s] >> 4) << (2 * s)));
            }
            for (int e = 0; e < QK_K; e++) {
                q[e] = (int)rnd_below(16);
                const int s = e / 32, r = e % 32;
                if (r < 16) b.qs[16 * s + r] = (uint8_t)(b.qs[16 * s + r] | q[e]);
                else b.qs[16 * s + r - 16] = (uint8_t)(b.qs[16 * s + r - 16] | (q[e] << 4));
            }
            k->dequant[G4_TYPE_IQ4_XS](&b, y, QK_K);
            for (int e = 0; e < QK_K; e++)
                want[e] = d * (float)(ls[e / 32] - 32) * (float)g4_kvalues_iq4nl[q[e]];
            CHECK_DEQ("iq4_xs encoded", y, want, QK_K);
        }
        /* MXFP4 */
        {
            block_mxfp4 b;
            b.e = (uint8_t)rnd();
            for (int e = 0; e < 32; e++) q[e] = (int)rnd_below(16);
            for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
            k->dequant[G4_TYPE_MXFP4](&b, y, 32);
            const float sc = ldexpf(1.0f, (int)b.e - 128);
            for (int e = 0; e < 32; e++) want[e] = (float)g4_kvalues_mxfp4[q[e]] * sc;
            CHECK_DEQ("mxfp4 encoded", y, want, 32);
        }
    }
}

/* ------------------------------------------------------------------------------------
 * Dot products: magnitude, reference self-check, ISA comparisons
 * ---------------------------------------------------------------------------------- */

/* The exact value in double of what dot[t](w, xq) approximates, and the magnitude M used
 * for tolerances: sum |w_i * x_i| over the dequantized operands. Q4_1/Q5_1 use the
 * activation's s = fp16(d * sum(qs)) for the min term (as llama.cpp), so that term is
 * m * s per block instead of m * sum(x_i); both are accounted for. */
static double dot_expected(const g4_kernels *ref, g4_type t, int64_t n, const void *w,
                           const void *xq, double *mag) {
    const g4_type vt = ref->vec_type[t];
    float *dw = xmalloc((size_t)n * sizeof(float)), *dx = xmalloc((size_t)n * sizeof(float));
    ref->dequant[t](w, dw, n);
    ref->dequant[vt](xq, dx, n);
    double sum = 0.0, m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        sum += (double)dw[i] * (double)dx[i];
        m += fabs((double)dw[i] * (double)dx[i]);
    }
    if (t == G4_TYPE_Q4_1 || t == G4_TYPE_Q5_1) {
        const block_q8_1 *y = xq;
        for (int64_t b = 0; b < n / 32; b++) {
            const uint16_t mh = t == G4_TYPE_Q4_1 ? ((const block_q4_1 *)w)[b].m
                                                  : ((const block_q5_1 *)w)[b].m;
            const double mb = g4_fp16_to_f32(mh), s = g4_fp16_to_f32(y[b].s);
            double sx = 0.0, ax = 0.0;
            for (int j = 0; j < 32; j++) sx += dx[32 * b + j], ax += fabs(dx[32 * b + j]);
            sum += mb * (s - sx);
            m += fabs(mb) * (ax + fabs(s));
        }
    }
    free(dw);
    free(dx);
    *mag = m;
    return sum;
}

/* Tolerance for two evaluations of the same dot that differ only in float summation order
 * (the integer block sums are exact in every implementation): each evaluation adds at most
 * n (F32/F16/BF16) or n/32 block terms, each term carrying a few roundings, so the
 * difference is a sum of O(n) rounding errors of size <= u * |partial sum| (u = 2^-24),
 * and every partial sum is bounded by M = sum |w_i x_i|. For the random-sign data used
 * here these errors behave like a random walk, O(sqrt(n) u M) <= 91 u M ~ 5.4e-6 M at
 * n = 8293, below the 1e-5 M used (the worst case n u M is not reached by such data).
 * A single wrong element, about M/n ~ 1.2e-4 M at that length, is still caught. The
 * absolute 1e-30 covers MXFP4 blocks scaled by 2^-128 (f32 denormals). */
static double dot_tol(double mag) { return 1e-5 * mag + 1e-30; }

typedef struct {
    int n_deq, n_quant, n_dot, n_multi, n_gemm, n_over;
    double max_rel;
} isa_stats;

static uint8_t *alloc_weights(g4_type t, int64_t n, bool wild, uint8_t **base) {
    /* placed one block past an allocation start (as the second block of a tensor), so
     * the row is only as aligned as its blocks are; sized exactly for ASan */
    const size_t off = (size_t)blck_size(t), bytes = g4_row_size(t, n);
    *base = xmalloc(off + bytes);
    uint8_t *w = *base + off;
    gen_weights(t, n, w, wild);
    return w;
}

/* (a): every reference dot against the double-precision sum of its dequantized operands. */
static void test_ref_dots(const g4_kernels *ref) {
    double worst = 0.0;
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const g4_type t = weight_types[ti], vt = ref->vec_type[t];
        int64_t lens[20];
        const int nl = row_lengths(t, lens);
        for (int li = 0; li < nl; li++) {
            const int64_t n = lens[li];
            uint8_t *base;
            const uint8_t *w = alloc_weights(t, n, false, &base);
            float *x = xmalloc((size_t)n * sizeof(float));
            void *xq = xmalloc(g4_row_size(vt, n));
            for (int rep = 0; rep < 3; rep++) {
                gen_acts(n, x);
                ref->quant[vt](x, xq, n);
                double mag;
                const double want = dot_expected(ref, t, n, w, xq, &mag);
                float got;
                ref->dot[t](n, &got, w, xq);
                const double err = fabs((double)got - want);
                T_CHECKF(err <= dot_tol(mag), "ref dot %s n=%lld: got %.9g want %.9g (M %.3g)",
                         g4_type_name(t), (long long)n, (double)got, want, mag);
                if (mag > 0 && err / mag > worst) worst = err / mag;
            }
            free(x);
            free(xq);
            free(base);
        }
    }
    printf("reference dots vs double sums of dequantized operands: max |err| / M = %.2e\n", worst);
}

/* gemm[t] of table k against k's own dot[t], bit for bit, for every tile shape. The
 * G4_GEMM_MAX_W weight rows are one block apart (w_stride = row + 1 block, so the rows
 * keep the alignment of real tensors but are not contiguous), the activation rows one
 * activation block apart, and the output rows G4_GEMM_MAX_X + 3 floats apart; output
 * elements outside the tile must stay untouched. */
static void test_gemm(const g4_kernels *ref, const g4_kernels *k, const char *isa, g4_type t,
                      int64_t n) {
    const g4_type vt = ref->vec_type[t];
    enum { MW = G4_GEMM_MAX_W, MX = G4_GEMM_MAX_X, OS = G4_GEMM_MAX_X + 3 };
    const size_t wbytes = g4_row_size(t, n), ws = wbytes + (size_t)blck_size(t);
    const size_t xbytes = g4_row_size(vt, n), xs = xbytes + (size_t)blck_size(vt);
    uint8_t *wbase = xmalloc(ws * MW);
    uint8_t *xq = xmalloc(xs * MX);
    float *x = xmalloc((size_t)n * sizeof(float));
    memset(wbase, 0xEE, ws * MW); /* the gaps between rows: garbage */
    memset(xq, 0xEE, xs * MX);
    for (int i = 0; i < MW; i++) gen_weights(t, n, wbase + (size_t)i * ws, false);
    for (int j = 0; j < MX; j++) {
        gen_acts(n, x);
        ref->quant[vt](x, xq + (size_t)j * xs, n);
    }
    float single[MW][MX];
    for (int i = 0; i < MW; i++)
        for (int j = 0; j < MX; j++) k->dot[t](n, &single[i][j], wbase + (size_t)i * ws, xq + (size_t)j * xs);
    int bad_shapes = 0;
    for (int nw = 1; nw <= MW; nw++) {
        for (int nx = 1; nx <= MX; nx++) {
            float out[MW * OS];
            for (int e = 0; e < MW * OS; e++) out[e] = -12345.0f;
            k->gemm[t](n, wbase, ws, nw, xq, xs, nx, out, OS);
            int bad = 0, fi = -1, fj = -1;
            for (int i = 0; i < MW; i++)
                for (int j = 0; j < OS; j++) {
                    const float o = out[i * OS + j];
                    const bool ok = i < nw && j < nx ? same_bits_f(o, single[i][j]) : o == -12345.0f;
                    if (!ok && bad++ == 0) fi = i, fj = j;
                }
            if (bad && bad_shapes++ < 3)
                T_CHECKF(0, "%s gemm %s n=%lld %dx%d: %d elements wrong, first [%d][%d] = %.9g, dot %.9g",
                         isa, g4_type_name(t), (long long)n, nw, nx, bad, fi, fj, (double)out[fi * OS + fj],
                         fi < nw && fj < nx ? (double)single[fi][fj] : -12345.0);
            else if (bad)
                t_failures++;
            t_checks++;
        }
    }
    free(wbase);
    free(xq);
    free(x);
}

/* Dequantizer / quantizer / dot / dot_multi / gemm of table k against the reference. */
static void test_table(const g4_kernels *ref, const g4_kernels *k, const char *isa, isa_stats *st) {
    memset(st, 0, sizeof *st);
    /* vec_type must not change */
    for (int t = 0; t < G4_TYPE_COUNT; t++)
        if (ref->dot[t])
            T_CHECKF(k->vec_type[t] == ref->vec_type[t], "%s: vec_type[%s] changed", isa,
                     g4_type_name((uint32_t)t));

    /* dequantizers: bit-exact on wild and on sane blocks */
    for (int t = 0; t < G4_TYPE_COUNT; t++) {
        if (!ref->dequant[t]) continue;
        if (!k->dequant[t]) {
            T_CHECKF(0, "%s: dequant[%s] is NULL", isa, g4_type_name((uint32_t)t));
            continue;
        }
        st->n_deq++;
        st->n_over += k->dequant[t] != ref->dequant[t];
        int64_t lens[20];
        const int nl = row_lengths((g4_type)t, lens);
        for (int li = 0; li < nl; li++) {
            const int64_t n = lens[li];
            for (int wild = 0; wild < 2; wild++) {
                uint8_t *base;
                const uint8_t *w = alloc_weights((g4_type)t, n, wild, &base);
                float *a = xmalloc((size_t)n * sizeof(float)), *b = xmalloc((size_t)n * sizeof(float));
                for (int64_t i = 0; i < n; i++) b[i] = NAN; /* unwritten outputs show up */
                ref->dequant[t](w, a, n);
                k->dequant[t](w, b, n);
                int64_t first = -1, bad = 0;
                for (int64_t i = 0; i < n; i++)
                    if (!same_bits_f(a[i], b[i]) && bad++ == 0) first = i;
                T_CHECKF(bad == 0,
                         "%s dequant %s n=%lld%s: %lld values differ, first [%lld] %.9g vs ref %.9g",
                         isa, g4_type_name((uint32_t)t), (long long)n, wild ? " (wild)" : "",
                         (long long)bad, (long long)first, first >= 0 ? (double)b[first] : 0.0,
                         first >= 0 ? (double)a[first] : 0.0);
                free(a);
                free(b);
                free(base);
            }
        }
    }

    /* activation quantizers: bit-exact, every byte written */
    for (int ai = 0; ai < N_ACT_TYPES; ai++) {
        const g4_type t = act_types[ai];
        if (!k->quant[t]) {
            T_CHECKF(0, "%s: quant[%s] is NULL", isa, g4_type_name(t));
            continue;
        }
        st->n_quant++;
        st->n_over += k->quant[t] != ref->quant[t];
        int64_t lens[20];
        const int nl = row_lengths(t, lens);
        for (int li = 0; li < nl; li++) {
            const int64_t n = lens[li];
            const size_t bytes = g4_row_size(t, n);
            float *x = xmalloc((size_t)n * sizeof(float));
            uint8_t *a = xmalloc(bytes), *b = xmalloc(bytes);
            gen_acts(n, x);
            memset(a, 0x00, bytes);
            memset(b, 0xA5, bytes);
            ref->quant[t](x, a, n);
            k->quant[t](x, b, n);
            size_t first = bytes;
            for (size_t i = 0; i < bytes; i++)
                if (a[i] != b[i]) {
                    first = i;
                    break;
                }
            T_CHECKF(first == bytes, "%s quant %s n=%lld: byte %zu differs (block %zu): %02x vs ref %02x",
                     isa, g4_type_name(t), (long long)n, first, first / (size_t)blck_size(t),
                     first < bytes ? b[first] : 0, first < bytes ? a[first] : 0);
            free(x);
            free(a);
            free(b);
        }
    }

    /* dots and dot_multi */
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const g4_type t = weight_types[ti], vt = ref->vec_type[t];
        if (!k->dot[t] || !k->dot_multi[t] || !k->gemm[t]) {
            T_CHECKF(0, "%s: dot/dot_multi/gemm[%s] is NULL", isa, g4_type_name(t));
            continue;
        }
        st->n_dot++;
        st->n_multi++;
        st->n_gemm++;
        st->n_over += (k->dot[t] != ref->dot[t]) + (k->dot_multi[t] != ref->dot_multi[t]) +
                      (k->gemm[t] != ref->gemm[t]);
        int64_t lens[20];
        const int nl = row_lengths(t, lens);
        for (int li = 0; li < nl; li++) {
            const int64_t n = lens[li];
            uint8_t *base;
            const uint8_t *w = alloc_weights(t, n, false, &base);
            const size_t xbytes = g4_row_size(vt, n);
            const size_t stride = ((xbytes + 63) & ~(size_t)63) + 64;
            const size_t total = (G4_DOT_MULTI_MAX - 1) * stride + xbytes;
            uint8_t *xq = xmalloc(total);
            float *x = xmalloc((size_t)n * sizeof(float));
            memset(xq, 0, total);
            for (int r = 0; r < G4_DOT_MULTI_MAX; r++) {
                gen_acts(n, x);
                ref->quant[vt](x, xq + (size_t)r * stride, n);
            }
            float single[G4_DOT_MULTI_MAX];
            for (int r = 0; r < G4_DOT_MULTI_MAX; r++) {
                const void *xr = xq + (size_t)r * stride;
                float want, got;
                ref->dot[t](n, &want, w, xr);
                k->dot[t](n, &got, w, xr);
                single[r] = got;
                double mag;
                (void)dot_expected(ref, t, n, w, xr, &mag);
                const double err = fabs((double)got - (double)want);
                T_CHECKF(err <= dot_tol(mag),
                         "%s dot %s n=%lld row %d: %.9g vs ref %.9g (|diff| %.3g, M %.3g)",
                         isa, g4_type_name(t), (long long)n, r, (double)got, (double)want, err, mag);
                if (mag > 0 && err / mag > st->max_rel) st->max_rel = err / mag;
            }
            for (int nx = 1; nx <= G4_DOT_MULTI_MAX; nx++) {
                float out[G4_DOT_MULTI_MAX + 1];
                for (int j = 0; j <= G4_DOT_MULTI_MAX; j++) out[j] = -12345.0f;
                k->dot_multi[t](n, out, w, xq, stride, nx);
                int bad = 0;
                for (int j = 0; j < nx; j++) bad += !same_bits_f(out[j], single[j]);
                for (int j = nx; j <= G4_DOT_MULTI_MAX; j++) bad += out[j] != -12345.0f;
                T_CHECKF(bad == 0, "%s dot_multi %s n=%lld nx=%d: not bit-identical to dot (%.9g vs %.9g)",
                         isa, g4_type_name(t), (long long)n, nx, (double)out[0], (double)single[0]);
            }
            free(xq);
            free(x);
            free(base);
            test_gemm(ref, k, isa, t, n);
        }
    }
}

/* One line naming the slots an ISA table overrides. */
static void print_overrides(const g4_kernels *ref, const g4_kernels *k, const char *isa) {
    static const char *const kinds[] = {"dequant", "quant", "dot", "dot_multi", "gemm"};
    printf("isa %-6s: overrides", isa);
    const char *sep = " ";
    for (int kind = 0; kind < 5; kind++) {
        const char *tsep = " ";
        for (int t = 0; t < G4_TYPE_COUNT; t++) {
            const void *a, *b;
            if (kind == 0) a = (const void *)ref->dequant[t], b = (const void *)k->dequant[t];
            else if (kind == 1) a = (const void *)ref->quant[t], b = (const void *)k->quant[t];
            else if (kind == 2) a = (const void *)ref->dot[t], b = (const void *)k->dot[t];
            else if (kind == 3) a = (const void *)ref->dot_multi[t], b = (const void *)k->dot_multi[t];
            else a = (const void *)ref->gemm[t], b = (const void *)k->gemm[t];
            if (a == b) continue;
            if (*tsep == ' ') printf("%s%s", sep, kinds[kind]), sep = "; ";
            printf("%s%s", tsep, g4_type_name((uint32_t)t));
            tsep = ",";
        }
    }
    printf("\n");
}

/* Degenerate activation blocks: all denormal (127/amax overflows), zeros, NaN/inf.
 * Every ISA's quantizers must agree with the reference byte for byte (x86 semantics:
 * unrepresentable values become -128) and the reference must not hit undefined behaviour. */
static void test_quant_degenerate(const g4_kernels *ref, const g4_kernels *k, const char *isa) {
    float x[256];
    const g4_type qt[] = {G4_TYPE_Q8_0, G4_TYPE_Q8_1};
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < 256; i++) {
            if (c == 0) x[i] = (i % 3 - 1) * 1e-40f; /* denormals */
            else if (c == 1) x[i] = 0.0f;
            else x[i] = i == 5 ? NAN : (i == 9 ? INFINITY : (float)i * 0.01f);
        }
        for (size_t q = 0; q < sizeof qt / sizeof qt[0]; q++) {
            if (c == 2) continue; /* NaN/inf: only the reference must stay defined */
            uint8_t a[512], b[512];
            memset(a, 0x55, sizeof a);
            memset(b, 0x55, sizeof b);
            ref->quant[qt[q]](x, a, 256);
            k->quant[qt[q]](x, b, 256);
            bool same = !memcmp(a, b, g4_row_size(qt[q], 256));
            if (qt[q] == G4_TYPE_Q8_1) { /* compare d and qs; s = fp16(d * sum) may be +-0 here */
                same = true;
                for (int bl = 0; bl < 8; bl++) {
                    const block_q8_1 *ya = (const block_q8_1 *)a + bl, *yb = (const block_q8_1 *)b + bl;
                    same &= ya->d == yb->d && !memcmp(ya->qs, yb->qs, 32) &&
                            (ya->s & 0x7fff) == (yb->s & 0x7fff);
                }
            }
            T_CHECKF(same, "%s: %s quantizer differs on case %d", isa, g4_type_name(qt[q]), c);
        }
        uint8_t r[512];
        ref->quant[G4_TYPE_Q8_0](x, r, 256);
        ref->quant[G4_TYPE_Q8_K](x, r, 256);
    }
}

static void test_isa_names(void) {
    static const struct { const char *s; g4_isa isa; } cases[] = {
        {"ref", G4_ISA_REF},       {"scalar", G4_ISA_SCALAR}, {"avx2", G4_ISA_AVX2},
        {"avx512", G4_ISA_AVX512}, {"neon", G4_ISA_NEON},     {"best", G4_ISA_BEST},
        {"auto", G4_ISA_BEST},     {"AVX2", G4_ISA_AVX2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        g4_isa got = G4_ISA_REF;
        T_CHECKF(g4_isa_parse(cases[i].s, &got) && got == cases[i].isa, "g4_isa_parse(%s)", cases[i].s);
    }
    g4_isa junk = G4_ISA_AVX2;
    T_CHECK(!g4_isa_parse("avx3", &junk) && junk == G4_ISA_AVX2);
    T_CHECK(!g4_isa_parse("", &junk));
    for (int i = G4_ISA_REF; i <= G4_ISA_BEST; i++) {
        g4_isa back;
        T_CHECK(g4_isa_parse(g4_isa_name((g4_isa)i), &back) && back == (g4_isa)i);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    g4_kernels ref;
    g4_kernels_ref(&ref);
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++)
        T_CHECKF(ref.dequant[weight_types[ti]] && ref.dot[weight_types[ti]] &&
                     ref.dot_multi[weight_types[ti]] && ref.gemm[weight_types[ti]],
                 "ref slot missing for %s", g4_type_name(weight_types[ti]));
    for (int ai = 0; ai < N_ACT_TYPES; ai++)
        T_CHECKF(ref.quant[act_types[ai]] && ref.dequant[act_types[ai]], "ref quant/dequant missing for %s",
                 g4_type_name(act_types[ai]));
    if (t_failures) return T_DONE();

    const g4_cpu *c = g4_cpu_get();
    printf("cpu: avx2=%d fma=%d f16c=%d avx512f=%d bw=%d vl=%d vnni=%d bf16=%d neon=%d dotprod=%d\n",
           c->avx2, c->fma, c->f16c, c->avx512f, c->avx512bw, c->avx512vl, c->avx512vnni,
           c->avx512bf16, c->neon, c->dotprod);

    test_isa_names();
    test_fp16_bf16();
    test_quant_hand(&ref);
    test_dequant_hand(&ref);
    test_dequant_encoded(&ref);
    test_ref_dots(&ref);
    printf("reference checked against hand-made vectors, spec encodings and double sums\n");

    /* REF and SCALAR both give the reference table */
    g4_kernels k;
    T_CHECK(g4_kernels_init(&k, G4_ISA_REF) == G4_ISA_REF && k.isa == G4_ISA_REF);
    T_CHECK(memcmp(k.dot, ref.dot, sizeof ref.dot) == 0);

    static const g4_isa isas[] = {G4_ISA_SCALAR, G4_ISA_AVX2, G4_ISA_AVX512, G4_ISA_NEON};
    g4_isa best = G4_ISA_SCALAR;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        const g4_isa isa = isas[i];
        const char *name = g4_isa_name(isa);
        if (!g4_isa_supported(isa)) {
            printf("isa %-6s: not supported here, skipped\n", name);
            continue;
        }
        best = isa;
        const g4_isa got = g4_kernels_init(&k, isa);
        T_CHECKF(got == isa && k.isa == isa, "g4_kernels_init(%s) gave %s", name, g4_isa_name(got));
        const int before = t_failures;
        isa_stats st;
        test_table(&ref, &k, name, &st);
        test_quant_degenerate(&ref, &k, name);
        printf("isa %-6s: %d dequant, %d quant, %d dot, %d dot_multi, %d gemm slots checked (%d "
               "overridden), max |dot - ref| / M = %.2e: %s\n",
               name, st.n_deq, st.n_quant, st.n_dot, st.n_multi, st.n_gemm, st.n_over, st.max_rel,
               t_failures == before ? "ok" : "FAILED");
        if (st.n_over) print_overrides(&ref, &k, name);
    }
    T_CHECKF(g4_kernels_init(&k, G4_ISA_BEST) == best, "best isa is %s", g4_isa_name(best));
    return T_DONE();
}
