/* x86_common.h — helpers shared by the AVX2 and AVX-512 kernel files (each file is
 * compiled with its own -m flags, so this header holds only macros and always-inline
 * functions that compile under either). */
#ifndef G4_KERNELS_X86_COMMON_H
#define G4_KERNELS_X86_COMMON_H
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define G4_AI static inline __attribute__((always_inline))
/* full unrolling of the small loops over rows / accumulators / chunks, so that the
 * accumulator arrays live in registers (gcc -O2 does not unroll them by itself) */
#define UNROLL _Pragma("GCC unroll 16")

/* The fp16 at byte offset off of a block (Q4_1/Q5_1 m, Q8_1 s: both at offset 2). */
G4_AI float fp16_at(const void *p, int off) {
    uint16_t h;
    memcpy(&h, (const char *)p + off, 2);
    return _cvtsh_ss(h);
}

#define XROW(T, base, j, xs) ((const T *)((const char *)(base) + (size_t)(j) * (xs)))

/* Prefill (NX > 1) streams several activation rows from L2 for each weight row: fetch
 * them ahead (decode, NX == 1, keeps its single row in L1 and skips this). */
#define PF_ROWS(x, NX, off, lines)                                                       \
    do {                                                                                 \
        if ((NX) > 1) {                                                                  \
            UNROLL                                                                       \
            for (int j_ = 0; j_ < (NX); j_++) {                                          \
                UNROLL                                                                   \
                for (int l_ = 0; l_ < (lines); l_++)                                     \
                    _mm_prefetch((const char *)(x)[j_] + (off) + 64 * l_, _MM_HINT_T0);  \
            }                                                                            \
        }                                                                                \
    } while (0)

#define DEFINE_DOTS(name, core)                                                          \
    static void name##_dot(int64_t n, float *out, const void *w, const void *x) {       \
        core(n, out, w, x, 0, 1);                                                        \
    }                                                                                    \
    static void name##_multi(int64_t n, float *out, const void *w, const void *x,       \
                             size_t xs, int nx) {                                        \
        while (nx > 0) {                                                                 \
            switch (nx) {                                                                \
            case 1: core(n, out, w, x, xs, 1); return;                                   \
            case 2: core(n, out, w, x, xs, 2); return;                                   \
            case 3: core(n, out, w, x, xs, 3); return;                                   \
            default: core(n, out, w, x, xs, 4); break;                                   \
            }                                                                            \
            out += 4; x = (const char *)x + 4 * xs; nx -= 4;                             \
        }                                                                                \
    }                                                                                    \
    static void name##_gemm(int64_t n, const void *w, size_t ws, int nw, const void *x, \
                            size_t xs, int nx, float *out, size_t os) {                 \
        for (int i = 0; i < nw; i++)                                                     \
            name##_multi(n, out + (size_t)i * os, (const char *)w + (size_t)i * ws, x, xs, nx); \
    }

#endif
