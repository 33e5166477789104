/* kernels.h — the per-type kernel table: dequantizers, activation quantizers and
 * dot products, filled from the scalar reference (ref.c) and overridden per ISA
 * (x86_avx2.c, x86_avx512.c, arm_neon.c) by dispatch.c at run time.
 *
 * Conventions (ggml's, so that results match llama.cpp):
 *   - A weight row of n elements of type t is g4_row_size(t, n) bytes of blocks.
 *   - A matmul with a weight of type t first converts the f32 activation row into
 *     vec_type[t] (Q8_0 for *_0 / IQ4_NL / MXFP4, Q8_1 for *_1, Q8_K for K-quants and
 *     IQ4_XS, F16 for F16, BF16 for BF16, F32 for F32) with quant[vec_type[t]],
 *     then dot[t] multiplies one weight row by one converted activation row
 *     (dot_multi[t] and gemm[t]: several at once, bit-identical to dot[t]).
 *   - Every slot of the reference table is filled; an ISA file only overwrites the
 *     slots it speeds up, and must give results equal to the reference up to float
 *     summation order (integer parts exactly). An ISA file that overrides dot[t] must
 *     also override dot_multi[t] and gemm[t] (the reference ones call the reference
 *     dot, which would not be bit-identical to the new dot). */
#ifndef G4_KERNELS_H
#define G4_KERNELS_H
#include <stddef.h>
#include <stdint.h>

#include "core/types.h"
#include "g4.h"

/* dst[0..n) = dequantized src row; n is a multiple of the type's block size. */
typedef void (*g4_dequant_fn)(const void *src, float *dst, int64_t n);
/* Convert an f32 activation row into an activation type (Q8_0, Q8_1, Q8_K, F16, BF16, F32). */
typedef void (*g4_quant_fn)(const float *src, void *dst, int64_t n);
/* *out = dot(weight row w, activation row x) over n elements; x is in vec_type[t]. */
typedef void (*g4_dot_fn)(int64_t n, float *out, const void *w, const void *x);

/* out[j] = dot(w, x + j * x_stride) for j < nx (1 <= nx <= G4_DOT_MULTI_MAX): one weight
 * row against several activation rows, decoding the weights once (prefill). Each out[j]
 * must be bit-identical to dot[t](n, &out[j], w, x + j * x_stride), so batched prefill
 * and token-by-token decode agree exactly. */
#define G4_DOT_MULTI_MAX 4
typedef void (*g4_dot_multi_fn)(int64_t n, float *out, const void *w, const void *x,
                                size_t x_stride, int nx);

/* Tile: out[i * out_stride + j] = dot(w + i * w_stride, x + j * x_stride) for i < nw,
 * j < nx (1 <= nw <= G4_GEMM_MAX_W, 1 <= nx <= G4_GEMM_MAX_X). Several weight rows meet
 * several activation rows, so an activation block is loaded / unpacked once for all the
 * weight rows (decode, nx = 1) and a weight block is decoded once for all the activation
 * rows (prefill). Every out element must be bit-identical to dot[t] of its (row,
 * activation) pair whatever nw and nx are, so results never depend on the tiling, the
 * thread count or the batch split. The driver (ops.c) passes the largest tiles and the
 * kernels split them as suits them: the AVX-512 Q4_0 / Q8_0 kernels take decode tiles
 * of 8 rows, and for prefill unpack the activation blocks once for all nw rows, so a
 * tall tile pays (Q4_0 prefill on Zen 4: nw = 32 ~10% faster than 16, ~30% than 8). */
#define G4_GEMM_MAX_W 32
#define G4_GEMM_MAX_X 4
typedef void (*g4_gemm_fn)(int64_t n, const void *w, size_t w_stride, int nw, const void *x,
                           size_t x_stride, int nx, float *out, size_t out_stride);

typedef struct {
    g4_dequant_fn dequant[G4_TYPE_COUNT]; /* NULL = type not supported */
    g4_quant_fn quant[G4_TYPE_COUNT];     /* indexed by activation type */
    g4_dot_fn dot[G4_TYPE_COUNT];         /* indexed by weight type; NULL = unsupported */
    g4_dot_multi_fn dot_multi[G4_TYPE_COUNT]; /* same, several activation rows */
    g4_gemm_fn gemm[G4_TYPE_COUNT];       /* same, several weight x activation rows */
    g4_type vec_type[G4_TYPE_COUNT];      /* activation format expected by dot[t] */
    g4_isa isa;
} g4_kernels;

/* Scalar reference: fills every slot. */
void g4_kernels_ref(g4_kernels *k);
/* ISA overrides (each compiled with its own flags; call only if the CPU has the ISA). */
void g4_kernels_avx2(g4_kernels *k);
void g4_kernels_avx512(g4_kernels *k);
void g4_kernels_neon(g4_kernels *k);

/* CPU feature detection (cached). */
typedef struct {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, neon, dotprod;
} g4_cpu;
const g4_cpu *g4_cpu_get(void);

/* Fill k with the best kernels allowed by cap and supported by this CPU.
 * G4_ISA_REF and G4_ISA_SCALAR both give the scalar table (the model decides what REF
 * means: dequantized weights with f32 activations). Returns the ISA chosen. */
g4_isa g4_kernels_init(g4_kernels *k, g4_isa cap);
/* True if this CPU can run the given ISA's kernels (REF/SCALAR always). */
bool g4_isa_supported(g4_isa isa);

#endif
