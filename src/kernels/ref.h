/* ref.h — small decoding helpers shared by the scalar reference (ref.c) and the ISA
 * files, so every implementation unpacks scales the same way. Only <stdint.h> and
 * quants.h are included: arm_neon.c is compile-checked freestanding. */
#ifndef G4_KERNELS_REF_H
#define G4_KERNELS_REF_H
#include <stdint.h>

#include "kernels/quants.h"

/* Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes
 * (spec §1.5 get_scale_min). */
static inline void g4_q4k_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = (uint8_t)(s[j] & 63);
        *mn = (uint8_t)(s[j + 4] & 63);
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *mn = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Q3_K: the 16 signed scales (already minus 32) from the 12 packed bytes. Written per
 * byte, so it is independent of the host byte order; equal to the spec's u32 form. */
static inline void g4_q3k_scales(const uint8_t *s, int8_t out[16]) {
    for (int k = 0; k < 4; k++) {
        out[k] = (int8_t)(((s[k] & 0xF) | ((s[8 + k] & 3) << 4)) - 32);
        out[k + 4] = (int8_t)(((s[4 + k] & 0xF) | (((s[8 + k] >> 2) & 3) << 4)) - 32);
        out[k + 8] = (int8_t)(((s[k] >> 4) | (((s[8 + k] >> 4) & 3) << 4)) - 32);
        out[k + 12] = (int8_t)(((s[4 + k] >> 4) | (((s[8 + k] >> 6) & 3) << 4)) - 32);
    }
}

/* IQ4_XS: 6-bit scale of sub-block b (0..7), before the -32. */
static inline int g4_iq4xs_scale(const block_iq4_xs *x, int b) {
    return ((x->scales_l[b / 2] >> (4 * (b % 2))) & 0xF) | (((x->scales_h >> (2 * b)) & 3) << 4);
}

/* MXFP4: 2^(e-128) as an f32 (half the OCP E8M0 value; e < 2 gives the denormals
 * 2^-128 and 2^-127, e = 255 gives 2^127). */
static inline float g4_e8m0_half(uint8_t e) {
    union { uint32_t u; float f; } v;
    v.u = e < 2 ? (uint32_t)0x00200000u << e : (uint32_t)(e - 1) << 23;
    return v.f;
}

#endif
