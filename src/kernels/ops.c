/* ops.c — matmul driver and the f32 element-wise ops of the forward pass.
 *
 * The driver is written once for every type: it converts the activation rows into the
 * format the weight type's dot product expects (kernels.h), then splits the weight
 * rows over the pool. Rows are taken in small blocks so that a block of weights stays
 * in cache while all activation rows stream past it (prefill), and every output
 * element is produced by exactly one gemm tile, bit-identical to dot whatever the tile
 * (thread-count and batch-split independent results). */
#include "kernels/ops.h"

#include <math.h>
#include <string.h>

#include "core/fp16.h"

g4_tensor g4_tensor_slice(const g4_tensor *t, int64_t e) {
    g4_tensor s = *t;
    s.ne[2] = 1;
    s.data = (const uint8_t *)t->data + (size_t)e * (size_t)t->ne[1] * t->row_size;
    return s;
}

size_t g4_matmul_qbuf_size(int64_t n, int64_t n_in) {
    /* widest activation format is F32 (4 bytes per element) */
    return (size_t)n * (size_t)n_in * 4 + 64;
}

/* ---- matmul ------------------------------------------------------------------ */

typedef struct {
    const g4_compute *c;
    const g4_tensor *W;
    const float *X;
    int64_t x_stride;
    const uint8_t *xq;
    size_t xq_stride;
    int64_t n;
    float *Y;
    int64_t y_stride;
    g4_type vt;
} mm_job;

static void quant_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const mm_job *j = arg;
    (void)tid;
    g4_quant_fn q = j->c->k->quant[j->vt];
    for (int64_t t = r0; t < r1; t++)
        q(j->X + t * j->x_stride, (uint8_t *)j->xq + (size_t)t * j->xq_stride, j->W->ne[0]);
}

/* Prefill: a block of ROW_BLOCK weight rows stays in cache while all activation rows
 * stream past it, in tiles of G4_GEMM_MAX_W weight rows x G4_GEMM_MAX_X activations. */
#define ROW_BLOCK 32
_Static_assert(ROW_BLOCK % G4_GEMM_MAX_W == 0, "row blocks are made of whole tiles");

/* ref mode: rows [r0, r1) */
static void mm_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const mm_job *j = arg;
    const g4_tensor *W = j->W;
    const int64_t n_in = W->ne[0];
    const uint8_t *base = W->data;
    float *deq = j->c->deq + (size_t)tid * (size_t)j->c->deq_len;
    g4_dequant_fn dq = j->c->k->dequant[W->type];
    for (int64_t r = r0; r < r1; r++) {
        dq(base + (size_t)r * W->row_size, deq, n_in);
        for (int64_t t = 0; t < j->n; t++) {
            const float *x = j->X + t * j->x_stride;
            double s = 0;
            for (int64_t i = 0; i < n_in; i++) s += (double)deq[i] * (double)x[i];
            j->Y[t * j->y_stride + r] = (float)s;
        }
    }
}

/* Weight rows [u0 * G4_GEMM_MAX_W, u1 * G4_GEMM_MAX_W): the pool hands out whole tiles,
 * so the tiles start at absolute multiples of G4_GEMM_MAX_W whatever the chunking (each
 * element is bit-identical to dot[t] anyway, so this only keeps the tiles full). */
static void mm_tiles(void *arg, int64_t u0, int64_t u1, int tid) {
    const mm_job *j = arg;
    (void)tid;
    const g4_tensor *W = j->W;
    const int64_t n_in = W->ne[0], n_out = W->ne[1];
    const int64_t r0 = u0 * G4_GEMM_MAX_W, r1 = u1 * G4_GEMM_MAX_W < n_out ? u1 * G4_GEMM_MAX_W : n_out;
    const uint8_t *base = W->data;
    const g4_gemm_fn gemm = j->c->k->gemm[W->type];
    float out[G4_GEMM_MAX_W * G4_GEMM_MAX_X];
    for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {
        const int64_t re = rb + ROW_BLOCK < r1 ? rb + ROW_BLOCK : r1;
        for (int64_t t = 0; t < j->n; t += G4_GEMM_MAX_X) {
            const int nx = (int)(j->n - t < G4_GEMM_MAX_X ? j->n - t : G4_GEMM_MAX_X);
            const uint8_t *xq = j->xq + (size_t)t * j->xq_stride;
            for (int64_t r = rb; r < re; r += G4_GEMM_MAX_W) {
                const int nw = (int)(re - r < G4_GEMM_MAX_W ? re - r : G4_GEMM_MAX_W);
                gemm(n_in, base + (size_t)r * W->row_size, W->row_size, nw, xq, j->xq_stride, nx, out,
                     G4_GEMM_MAX_X);
                for (int i = 0; i < nw; i++)
                    for (int u = 0; u < nx; u++) j->Y[(t + u) * j->y_stride + r + i] = out[i * G4_GEMM_MAX_X + u];
            }
        }
    }
}

void g4_matmul(g4_compute *c, const g4_tensor *W, const float *X, int64_t n, int64_t x_stride,
               float *Y, int64_t y_stride) {
    mm_job j = {.c = c, .W = W, .X = X, .x_stride = x_stride, .n = n, .Y = Y, .y_stride = y_stride};
    const int64_t n_out = W->ne[1];
    if (n <= 0) return;
    if (c->ref_mode) {
        g4_pool_run(c->pool, n_out, n == 1 ? 32 : 16, mm_rows, &j);
        return;
    }
    j.vt = c->k->vec_type[W->type];
    j.xq_stride = g4_row_size(j.vt, W->ne[0]);
    j.xq = c->qbuf;
    /* callers size qbuf with g4_matmul_qbuf_size for their largest n x n_in */
    g4_pool_run(c->pool, n, 8, quant_rows, &j);
    /* in units of G4_GEMM_MAX_W rows; decode: small chunks (32 rows) so both threads
     * share even a short matrix */
    const int64_t n_units = (n_out + G4_GEMM_MAX_W - 1) / G4_GEMM_MAX_W;
    const int64_t min_rows = n == 1 ? 32 : ROW_BLOCK;
    g4_pool_run(c->pool, n_units, (min_rows + G4_GEMM_MAX_W - 1) / G4_GEMM_MAX_W, mm_tiles, &j);
}

/* ---- element-wise -------------------------------------------------------------- */

void g4_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
}

static inline float gelu_exact(float x) {
    const float k = 0.79788456080286535587989211986876f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * x * (1.0f + 0.044715f * x * x)));
}

void g4_gelu_table_init(float *table) {
    for (uint32_t i = 0; i < 65536; i++) {
        float f = g4_fp16_to_f32((uint16_t)i);
        table[i] = g4_fp16_to_f32(g4_f32_to_fp16(gelu_exact(f)));
    }
}

/* ggml's table path: exact outside (-10, 10), else the fp16-rounded input's entry. */
static inline float gelu_one(float x, const float *table) {
    if (!table) return gelu_exact(x);
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return table[g4_f32_to_fp16(x)];
}

void g4_gelu(float *y, const float *x, int64_t n, const float *table) {
    for (int64_t i = 0; i < n; i++) y[i] = gelu_one(x[i], table);
}

void g4_geglu(float *y, const float *g, const float *u, int64_t n, const float *table) {
    for (int64_t i = 0; i < n; i++) y[i] = gelu_one(g[i], table) * u[i];
}

void g4_softmax(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - mx);
        x[i] = e;
        sum += (double)e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void g4_rope_cache(float *cs, int32_t pos, int n_dims, float base, const float *ff) {
    const float theta_scale = powf(base, -2.0f / (float)n_dims);
    float theta = (float)pos;
    for (int i = 0; i < n_dims / 2; i++) {
        const float t = ff ? theta / ff[i] : theta;
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void g4_rope_apply(float *v, const float *cs, int n_dims) {
    const int h = n_dims / 2;
    for (int i = 0; i < h; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const float x0 = v[i], x1 = v[i + h];
        v[i] = x0 * c - x1 * s;
        v[i + h] = x0 * s + x1 * c;
    }
}
