/* dispatch.c — CPU feature detection and the choice of kernel table: start from the
 * scalar reference and let each ISA file the CPU can run overwrite the slots it speeds
 * up (avx2 then avx512 on x86-64, neon on aarch64). */
#include <pthread.h>
#include <string.h>

#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static g4_cpu cpu_caps;
#if defined(__x86_64__)
static bool cpu_avx512dq; /* x86_avx512.c is compiled with -mavx512dq too */
#endif
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static void cpu_detect(void) {
    g4_cpu c;
    memset(&c, 0, sizeof c);
#if defined(__x86_64__)
    unsigned a, b, cx, d;
    if (__get_cpuid(1, &a, &b, &cx, &d)) {
        const bool osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1;
        /* The OS must save the YMM state (XCR0 bits 1-2), and for AVX-512 also the
         * opmask and ZMM state (bits 5-7), or the registers are unusable. */
        const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
        const bool os_ymm = (xcr0 & 0x6) == 0x6, os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
        const bool ymm = avx && os_ymm;
        c.fma = ymm && ((cx >> 12) & 1);
        c.f16c = ymm && ((cx >> 29) & 1);
        unsigned max_leaf = __get_cpuid_max(0, NULL);
        if (max_leaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
            const unsigned leaf7_max_sub = a;
            c.avx2 = ymm && ((b >> 5) & 1);
            c.avx512f = os_zmm && ((b >> 16) & 1);
            cpu_avx512dq = c.avx512f && ((b >> 17) & 1);
            c.avx512bw = c.avx512f && ((b >> 30) & 1);
            c.avx512vl = c.avx512f && ((b >> 31) & 1);
            c.avx512vnni = c.avx512f && ((cx >> 11) & 1);
            if (leaf7_max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &cx, &d))
                c.avx512bf16 = c.avx512f && ((a >> 5) & 1);
        }
    }
#elif defined(__aarch64__)
    c.neon = true; /* Advanced SIMD is mandatory in AArch64 */
#if defined(__linux__)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
    c.dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__) || defined(__ARM_FEATURE_DOTPROD)
    c.dotprod = true; /* every Apple silicon Mac has it; or the whole build targets it */
#endif
#endif
    cpu_caps = c;
}

const g4_cpu *g4_cpu_get(void) {
    pthread_once(&cpu_once, cpu_detect);
    return &cpu_caps;
}

bool g4_isa_supported(g4_isa isa) {
    const g4_cpu *c = g4_cpu_get();
    (void)c; /* unused on other architectures */
    switch (isa) {
    case G4_ISA_REF:
    case G4_ISA_SCALAR:
        return true;
#if defined(__x86_64__)
    case G4_ISA_AVX2:
        return c->avx2 && c->fma && c->f16c;
    case G4_ISA_AVX512:
        return c->avx2 && c->fma && c->f16c && c->avx512f && c->avx512bw && c->avx512vl &&
               cpu_avx512dq;
#endif
#if defined(__aarch64__)
    case G4_ISA_NEON:
        return c->neon;
#endif
    default:
        return false;
    }
}

g4_isa g4_kernels_init(g4_kernels *k, g4_isa cap) {
    g4_kernels_ref(k);
    k->isa = cap == G4_ISA_REF ? G4_ISA_REF : G4_ISA_SCALAR;
    if (cap == G4_ISA_REF || cap == G4_ISA_SCALAR) return k->isa;
#if defined(__x86_64__)
    if ((cap == G4_ISA_AVX2 || cap == G4_ISA_AVX512 || cap == G4_ISA_BEST) &&
        g4_isa_supported(G4_ISA_AVX2)) {
        g4_kernels_avx2(k);
        k->isa = G4_ISA_AVX2;
        if ((cap == G4_ISA_AVX512 || cap == G4_ISA_BEST) && g4_isa_supported(G4_ISA_AVX512)) {
            g4_kernels_avx512(k);
            k->isa = G4_ISA_AVX512;
        }
    }
#elif defined(__aarch64__)
    if ((cap == G4_ISA_NEON || cap == G4_ISA_BEST) && g4_isa_supported(G4_ISA_NEON)) {
        g4_kernels_neon(k);
        k->isa = G4_ISA_NEON;
    }
#endif
    return k->isa;
}

static const char *const isa_names[] = {
    [G4_ISA_REF] = "ref",       [G4_ISA_SCALAR] = "scalar", [G4_ISA_AVX2] = "avx2",
    [G4_ISA_AVX512] = "avx512", [G4_ISA_NEON] = "neon",     [G4_ISA_BEST] = "best",
};

const char *g4_isa_name(g4_isa isa) {
    if ((unsigned)isa < sizeof isa_names / sizeof isa_names[0]) return isa_names[isa];
    return "?";
}

static bool eq_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char ca = *a, cb = *b;
        if (ca >= 'A' && ca <= 'Z') ca = (char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z') cb = (char)(cb - 'A' + 'a');
        if (ca != cb) return false;
    }
    return *a == *b;
}

bool g4_isa_parse(const char *s, g4_isa *out) {
    if (!s) return false;
    if (eq_nocase(s, "auto")) {
        *out = G4_ISA_BEST;
        return true;
    }
    for (unsigned i = 0; i < sizeof isa_names / sizeof isa_names[0]; i++) {
        if (eq_nocase(s, isa_names[i])) {
            *out = (g4_isa)i;
            return true;
        }
    }
    return false;
}
