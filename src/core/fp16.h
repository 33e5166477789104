/* fp16.h — IEEE half and bfloat16 conversions (portable C, bit-exact with F16C and
 * with ggml's reference converters: round to nearest even, NaN kept quiet). */
#ifndef G4_CORE_FP16_H
#define G4_CORE_FP16_H
#include <stdint.h>
#include <string.h>

static inline float g4_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t g4_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float g4_fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return g4_bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    if (exp == 31) /* inf, or NaN made quiet as F16C does */
        return g4_bits_f32(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0));
    return g4_bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static inline uint16_t g4_f32_to_fp16(float f) {
    uint32_t x = g4_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff)); /* NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {
        /* result is subnormal or zero: round ax * 2^24 to an integer, nearest even */
        if (ax < 0x33000000u) return (uint16_t)sign; /* < 2^-25: rounds to 0 */
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = ax + 0xfff + ((ax >> 13) & 1); /* round to nearest even on bit 13 */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static inline float g4_bf16_to_f32(uint16_t h) { return g4_bits_f32((uint32_t)h << 16); }

static inline uint16_t g4_f32_to_bf16(float f) {
    uint32_t u = g4_f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000u) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

#endif
