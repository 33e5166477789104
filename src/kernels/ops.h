/* ops.h — the compute primitives of the forward pass: the threaded matmul driver
 * (activation conversion + per-type dot products from the kernel table) and the small
 * f32 ops (RMS norm, GELU, softmax, RoPE) written to reproduce llama.cpp's CPU numerics:
 * RMS norm sums squares in double; GELU can go through ggml's fp16 lookup table;
 * softmax sums in double; RoPE angles use the iterated theta product. */
#ifndef G4_KERNELS_OPS_H
#define G4_KERNELS_OPS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"
#include "kernels/kernels.h"

/* A weight matrix (or 3-D expert stack) as stored: ne[0] contiguous. */
typedef struct {
    const char *name;
    g4_type type;
    int64_t ne[4];
    const void *data; /* borrowed from the mapping; NULL when absent */
    size_t row_size;  /* bytes per row of ne[0] elements */
} g4_tensor;

static inline bool g4_tensor_ok(const g4_tensor *t) { return t->data != NULL; }

/* 2-D slice e of a 3-D tensor [ne0, ne1, ne2] (expert e). */
g4_tensor g4_tensor_slice(const g4_tensor *t, int64_t e);

/* Everything a matmul needs; owned by a session (scratch) and engine (kernels, pool). */
typedef struct {
    const g4_kernels *k;
    g4_pool *pool;
    int n_threads;
    bool ref_mode;      /* dequantize weights to f32 and use f32 activations */
    uint8_t *qbuf;      /* converted activation rows */
    size_t qbuf_size;
    float *deq;         /* ref mode: [n_threads][deq_len] dequantized weight rows */
    int64_t deq_len;
} g4_compute;

/* Y[t][0..n_out) = W · X[t] for t < n. X rows are W->ne[0] floats apart by x_stride,
 * Y rows y_stride apart. Bit-identical for any thread count. */
void g4_matmul(g4_compute *c, const g4_tensor *W, const float *X, int64_t n, int64_t x_stride,
               float *Y, int64_t y_stride);

/* Bytes of activation scratch a matmul with n rows of n_in needs (all vec types). */
size_t g4_matmul_qbuf_size(int64_t n, int64_t n_in);

/* y = x / rms(x) (* w if w); sum of squares in double like ggml. y may alias x. */
void g4_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);

/* GELU (tanh form). table: 65536 entries indexed by fp16 bits, or NULL = exact. */
void g4_gelu_table_init(float *table);
void g4_gelu(float *y, const float *x, int64_t n, const float *table);
/* y = gelu(g) * u */
void g4_geglu(float *y, const float *g, const float *u, int64_t n, const float *table);

/* In-place softmax; sum in double, like ggml. */
void g4_softmax(float *x, int64_t n);

/* cos/sin for the n_dims/2 rotary pairs at position pos (NEOX pairing i, i + n_dims/2).
 * ff: per-pair frequency divisors (rope_freqs) or NULL. */
void g4_rope_cache(float *cs, int32_t pos, int n_dims, float base, const float *ff);
/* Rotate one head vector in place with a cache from g4_rope_cache. */
void g4_rope_apply(float *v, const float *cs, int n_dims);

#endif
