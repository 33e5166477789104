/* gemma4.c — Gemma 4 text decoder forward pass (spec §5; fixtures README "The
 * computation llama.cpp performs").
 *
 *   x = token_embd[tok] * sqrt(H), or a media row's embedding as is (docs/MULTIMODAL.md)
 *       (+ per-layer inputs, E models)
 *   per layer: attention block (q/k/v norms, NEOX RoPE, scale 1, SWA ring or full cache,
 *              KV sharing), sandwich norms, GeGLU FFN (+ routed experts on MoE layers),
 *              per-layer-embedding block (E models), layer_output_scale
 *   logits = softcap(token_embd · (rmsnorm(x) * output_norm))
 *
 * The batch rows may belong to different sequences; matmuls run over all rows at once,
 * attention reads each row's own sequence. Rows of a non-causal group (an image's soft
 * tokens) also see the later rows of their group on the layers the mask mode opens. Element-wise ops follow llama.cpp's order of
 * operations so that rounding matches its CPU backend as closely as possible. */
#include "model/gemma4.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* ---- setup ------------------------------------------------------------------------ */

static float *falloc(size_t n, bool *ok) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *ok = false;
    return p;
}

g4_status g4_fwd_init(g4_fwd *f, const g4_model *m, const g4_kernels *k, g4_pool *pool,
                      bool ref_mode, const float *gelu_table, int n_ctx, int n_seq, int n_batch,
                      int swa_keep, g4_error *err) {
    memset(f, 0, sizeof *f);
    const g4_hparams *hp = &m->hp;
    f->m = m;
    f->gelu_table = gelu_table;
    f->n_ctx = n_ctx;
    f->n_seq = n_seq;
    f->n_batch = n_batch;
    f->comp.k = k;
    f->comp.pool = pool;
    f->comp.n_threads = g4_pool_size(pool);
    f->comp.ref_mode = ref_mode;

    const size_t B = (size_t)n_batch, H = (size_t)hp->n_embd;
    const size_t LP = (size_t)hp->n_layer * (size_t)hp->n_embd_per_layer;
    size_t max_in = H;
    if ((size_t)hp->n_ff_max > max_in) max_in = (size_t)hp->n_ff_max;
    if ((size_t)hp->n_head_max_dim > max_in) max_in = (size_t)hp->n_head_max_dim;
    if (LP > max_in) max_in = LP;
    bool ok = true;
    f->x = falloc(B * H, &ok);
    f->h = falloc(B * H, &ok);
    f->o = falloc(B * H, &ok);
    /* q and att double as [n][H] scratch in MoE layers */
    const size_t qw = (size_t)hp->n_head_max_dim > H ? (size_t)hp->n_head_max_dim : H;
    f->q = falloc(B * qw, &ok);
    f->att = falloc(B * qw, &ok);
    f->k = falloc(B * (size_t)hp->n_kv_dim_max, &ok);
    f->v = falloc(B * (size_t)hp->n_kv_dim_max, &ok);
    size_t ffw = (size_t)hp->n_ff_max > H ? (size_t)hp->n_ff_max : H;
    if ((size_t)hp->n_embd_per_layer > ffw) ffw = (size_t)hp->n_embd_per_layer;
    f->g = falloc(B * ffw, &ok);
    f->u = falloc(B * ffw, &ok);
    if (LP) {
        f->ple = falloc(B * LP, &ok);
        f->ple_tmp = falloc(B * LP, &ok);
    }
    f->rope_swa = falloc(B * (size_t)hp->rope_dims_swa, &ok);
    f->rope_full = falloc(B * (size_t)hp->rope_dims_full, &ok);
    f->scores = falloc((size_t)f->comp.n_threads * (size_t)n_ctx, &ok);
    if (hp->n_expert > 0) {
        const size_t E = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used, F = (size_t)hp->n_ff_exp;
        f->moe_logits = falloc(B * E, &ok);
        f->moe_w = falloc(B * K, &ok);
        f->moe_out = falloc(B * K * H, &ok);
        f->ex_x = falloc(B * H, &ok);
        f->ex_gu = falloc(B * 2 * F, &ok);
        f->ex_act = falloc(B * F, &ok);
        f->ex_out = falloc(B * H, &ok);
        f->moe_sel = calloc(B * K, sizeof(int32_t));
        f->ex_rows = calloc(B, sizeof(int32_t));
        if (!f->moe_sel || !f->ex_rows) ok = false;
    }
    f->seq_tmp = calloc(B > (size_t)n_seq ? B : (size_t)n_seq, sizeof(int32_t));
    f->seq_zero = calloc(B, sizeof(int32_t));
    f->grp_end = calloc(B, sizeof(int32_t));
    f->grp_tmp = calloc(2 * (size_t)n_seq, sizeof(int32_t));
    if (!f->seq_tmp || !f->seq_zero || !f->grp_end || !f->grp_tmp) ok = false;
    f->comp.qbuf_size = g4_matmul_qbuf_size((int64_t)B, (int64_t)max_in);
    f->comp.qbuf = malloc(f->comp.qbuf_size);
    if (!f->comp.qbuf) ok = false;
    if (ref_mode) {
        f->comp.deq_len = (int64_t)max_in;
        f->comp.deq = falloc((size_t)f->comp.n_threads * max_in, &ok);
    }
    if (!ok) {
        g4_fwd_free(f);
        return g4_fail(err, G4_ERR_NOMEM, "out of memory for scratch buffers (n_batch %d)", n_batch);
    }
    g4_status st = g4_kv_init(&f->kv, m, n_ctx, n_seq, n_batch + (swa_keep > 0 ? swa_keep : 0), err);
    if (st) g4_fwd_free(f);
    return st;
}

void g4_fwd_free(g4_fwd *f) {
    void *ps[] = {f->x, f->h, f->o, f->q, f->att, f->k, f->v, f->g, f->u, f->ple, f->ple_tmp,
                  f->rope_swa, f->rope_full, f->scores, f->moe_logits, f->moe_w, f->moe_out,
                  f->ex_x, f->ex_gu, f->ex_act, f->ex_out, f->moe_sel, f->ex_rows, f->seq_tmp, f->seq_zero,
                  f->grp_end, f->grp_tmp, f->comp.qbuf, f->comp.deq};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    g4_kv_free(&f->kv);
    memset(f, 0, sizeof *f);
}

/* ---- helpers ------------------------------------------------------------------------ */

static void emit(g4_fwd *f, const char *name, const float *d, int rows, int cols) {
    if (f->act_cb) f->act_cb(f->act_user, name, d, rows, cols);
}

static void emit_l(g4_fwd *f, const char *base, int il, const float *d, int rows, int cols) {
    if (!f->act_cb) return;
    char name[64];
    snprintf(name, sizeof name, "%s-%d", base, il);
    f->act_cb(f->act_user, name, d, rows, cols);
}

static void mm(g4_fwd *f, const g4_tensor *W, const float *X, int n, int64_t xs, float *Y, int64_t ys) {
    g4_matmul(&f->comp, W, X, n, xs, Y, ys);
}

/* x[t] += rmsnorm(y[t]) * w */
static void add_normed(float *x, float *y, const float *w, int n, int H, float eps) {
    for (int t = 0; t < n; t++) {
        float *yt = y + (size_t)t * H, *xt = x + (size_t)t * H;
        g4_rmsnorm(yt, yt, w, H, eps);
        for (int i = 0; i < H; i++) xt[i] = yt[i] + xt[i];
    }
}

/* ---- attention ------------------------------------------------------------------------ */

typedef struct {
    g4_fwd *f;
    const g4_layer *L;
    const int32_t *pos, *seq;
    const int32_t *gend; /* NULL, or per row the last key position it may see (group end) */
    int q_stride;
} att_job;

static void att_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const att_job *j = arg;
    g4_fwd *f = j->f;
    const g4_layer *L = j->L;
    const int nq = f->m->hp.n_head, hd = L->head_dim, src = L->kv_src;
    const int group = nq / L->n_head_kv;
    const g4_dot_fn dot = f->comp.k->dot[G4_TYPE_F32];
    float *sc = f->scores + (size_t)tid * (size_t)f->n_ctx;
    for (int64_t task = r0; task < r1; task++) {
        const int t = (int)(task / nq), h = (int)(task % nq), g = h / group;
        const int32_t p = j->pos[t], s = j->seq[t];
        /* keys [j0, j1]: causal, window-bounded on past keys only; a row of a non-causal
         * group also sees the later rows of its group (all written by this batch) */
        const int32_t j0 = L->is_swa && p - f->m->hp.n_swa + 1 > 0 ? p - f->m->hp.n_swa + 1 : 0;
        const int32_t j1 = j->gend && j->gend[t] > p ? j->gend[t] : p;
        const float *q = f->q + (size_t)t * j->q_stride + (size_t)h * hd;
        const int nk = j1 - j0 + 1;
        for (int i = 0; i < nk; i++) {
            const float *kk = g4_kv_k(&f->kv, src, s, j0 + i) + (size_t)g * hd;
            dot(hd, &sc[i], kk, q);
        }
        g4_softmax(sc, nk);
        float *out = f->att + (size_t)t * j->q_stride + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int i = 0; i < nk; i++) {
            const float *vv = g4_kv_v(&f->kv, src, s, j0 + i) + (size_t)g * hd;
            const float w = sc[i];
            for (int d = 0; d < hd; d++) out[d] += w * vv[d];
        }
    }
}

static void attention_block(g4_fwd *f, int il, int n, const int32_t *pos, const int32_t *seq) {
    const g4_model *m = f->m;
    const g4_hparams *hp = &m->hp;
    const g4_layer *L = &m->layers[il];
    const int H = hp->n_embd, hd = L->head_dim, nq = hp->n_head;
    const int qd = nq * hd, kd = L->n_head_kv * hd;
    const float *rope = L->is_swa ? f->rope_swa : f->rope_full;
    const int rd = L->rope_dims;

    for (int t = 0; t < n; t++)
        g4_rmsnorm(f->h + (size_t)t * H, f->x + (size_t)t * H, L->attn_norm, H, hp->eps);

    mm(f, &L->attn_q, f->h, n, H, f->q, qd);
    for (int t = 0; t < n; t++)
        for (int h = 0; h < nq; h++) {
            float *qh = f->q + (size_t)t * qd + (size_t)h * hd;
            g4_rmsnorm(qh, qh, L->attn_q_norm, hd, hp->eps);
            g4_rope_apply(qh, rope + (size_t)t * rd, rd);
        }

    if (L->has_kv) {
        mm(f, &L->attn_k, f->h, n, H, f->k, kd);
        if (L->has_v) mm(f, &L->attn_v, f->h, n, H, f->v, kd);
        else memcpy(f->v, f->k, (size_t)n * kd * sizeof(float)); /* V = raw K projection */
        for (int t = 0; t < n; t++) {
            for (int g = 0; g < L->n_head_kv; g++) {
                float *kh = f->k + (size_t)t * kd + (size_t)g * hd;
                float *vh = f->v + (size_t)t * kd + (size_t)g * hd;
                g4_rmsnorm(kh, kh, L->attn_k_norm, hd, hp->eps);
                g4_rope_apply(kh, rope + (size_t)t * rd, rd);
                g4_rmsnorm(vh, vh, NULL, hd, hp->eps);
            }
            memcpy(g4_kv_k(&f->kv, il, seq[t], pos[t]), f->k + (size_t)t * kd, (size_t)kd * sizeof(float));
            memcpy(g4_kv_v(&f->kv, il, seq[t], pos[t]), f->v + (size_t)t * kd, (size_t)kd * sizeof(float));
        }
    }

    const bool open = L->is_swa ? f->grp_swa : f->grp_full;
    att_job j = {f, L, pos, seq, open ? f->grp_end : NULL, qd};
    g4_pool_run(f->comp.pool, (int64_t)n * nq, 1, att_rows, &j);

    mm(f, &L->attn_output, f->att, n, qd, f->o, H);
    add_normed(f->x, f->o, L->post_attention_norm, n, H, hp->eps);
}

/* ---- feed-forward ------------------------------------------------------------------------ */

/* out[t] = ffn_down · geglu(gate · in[t], up · in[t]) */
static void dense_mlp(g4_fwd *f, const g4_layer *L, const float *in, int n, float *out) {
    const int H = f->m->hp.n_embd, F = L->n_ff;
    mm(f, &L->ffn_gate, in, n, H, f->g, F);
    mm(f, &L->ffn_up, in, n, H, f->u, F);
    for (int t = 0; t < n; t++)
        g4_geglu(f->g + (size_t)t * F, f->g + (size_t)t * F, f->u + (size_t)t * F, F, f->gelu_table);
    mm(f, &L->ffn_down, f->g, n, F, out, H);
}

/* Routed experts of a MoE layer (spec §5.5.2); writes out[t] = Σ_k w_k · expert_k(in2[t]). */
static void moe_block(g4_fwd *f, int il, const g4_layer *L, const float *resid, const float *in2,
                      int n, float *out) {
    const g4_hparams *hp = &f->m->hp;
    const int H = hp->n_embd, E = hp->n_expert, K = hp->n_expert_used, F = hp->n_ff_exp;

    /* router: ffn_gate_inp · (rmsnorm(x) / sqrt(H) * scale) */
    const float inv_sqrt_h = 1.0f / sqrtf((float)H);
    for (int t = 0; t < n; t++) {
        float *r = f->h + (size_t)t * H;
        g4_rmsnorm(r, resid + (size_t)t * H, NULL, H, hp->eps);
        for (int i = 0; i < H; i++) r[i] = (r[i] * inv_sqrt_h) * L->ffn_gate_inp_scale[i];
    }
    mm(f, &L->ffn_gate_inp, f->h, n, H, f->moe_logits, E);
    emit_l(f, "ffn_moe_logits", il, f->moe_logits, n, E);

    for (int t = 0; t < n; t++) {
        float *p = f->moe_logits + (size_t)t * E;
        g4_softmax(p, E);
        int32_t *sel = f->moe_sel + (size_t)t * K;
        float *w = f->moe_w + (size_t)t * K;
        for (int k = 0; k < K; k++) { /* top-k by probability, lower id first on ties */
            int best = -1;
            for (int e = 0; e < E; e++) {
                bool taken = false;
                for (int kk = 0; kk < k; kk++) taken |= sel[kk] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            sel[k] = best;
            w[k] = p[best];
        }
        double sum = 0;
        for (int k = 0; k < K; k++) sum += (double)w[k];
        float s = (float)sum;
        if (s < 6.103515625e-5f) s = 6.103515625e-5f;
        for (int k = 0; k < K; k++) w[k] = w[k] / s;
    }

    /* run each expert once over the rows routed to it */
    for (int e = 0; e < E; e++) {
        int m = 0;
        for (int t = 0; t < n; t++)
            for (int k = 0; k < K; k++)
                if (f->moe_sel[(size_t)t * K + k] == e) {
                    f->ex_rows[m] = t * K + k; /* row t, slot k */
                    memcpy(f->ex_x + (size_t)m * H, in2 + (size_t)t * H, (size_t)H * sizeof(float));
                    m++;
                }
        if (!m) continue;
        if (g4_tensor_ok(&L->ffn_gate_up_exps)) {
            g4_tensor gu = g4_tensor_slice(&L->ffn_gate_up_exps, e);
            mm(f, &gu, f->ex_x, m, H, f->ex_gu, 2 * F);
        } else {
            g4_tensor gt = g4_tensor_slice(&L->ffn_gate_exps, e), ut = g4_tensor_slice(&L->ffn_up_exps, e);
            /* lay gate and up side by side as the fused form does */
            mm(f, &gt, f->ex_x, m, H, f->ex_gu, 2 * F);
            mm(f, &ut, f->ex_x, m, H, f->ex_gu + F, 2 * F);
        }
        for (int r = 0; r < m; r++) {
            const float *gu = f->ex_gu + (size_t)r * 2 * F;
            g4_geglu(f->ex_act + (size_t)r * F, gu, gu + F, F, f->gelu_table);
        }
        g4_tensor dn = g4_tensor_slice(&L->ffn_down_exps, e);
        mm(f, &dn, f->ex_act, m, F, f->ex_out, H);
        const float sc = L->ffn_down_exps_scale ? L->ffn_down_exps_scale[e] : 1.0f;
        for (int r = 0; r < m; r++) {
            const int slot = f->ex_rows[r];
            const float w = f->moe_w[slot];
            float *dst = f->moe_out + (size_t)slot * H;
            const float *src = f->ex_out + (size_t)r * H;
            for (int i = 0; i < H; i++) dst[i] = (src[i] * sc) * w;
        }
    }
    /* sum the slots in selection order */
    for (int t = 0; t < n; t++) {
        float *o = out + (size_t)t * H;
        const float *s0 = f->moe_out + (size_t)t * K * H;
        memcpy(o, s0, (size_t)H * sizeof(float));
        for (int k = 1; k < K; k++)
            for (int i = 0; i < H; i++) o[i] += s0[(size_t)k * H + i];
    }
}

static void ffn_block(g4_fwd *f, int il, int n) {
    const g4_hparams *hp = &f->m->hp;
    const g4_layer *L = &f->m->layers[il];
    const int H = hp->n_embd;
    for (int t = 0; t < n; t++)
        g4_rmsnorm(f->h + (size_t)t * H, f->x + (size_t)t * H, L->ffn_norm, H, hp->eps);
    dense_mlp(f, L, f->h, n, f->o);
    if (L->is_moe) {
        for (int t = 0; t < n; t++) {
            float *ot = f->o + (size_t)t * H;
            g4_rmsnorm(ot, ot, L->post_ffw_norm_1, H, hp->eps);
        }
        /* f->att is free here: use it for the expert input rmsnorm(x) * pre_ffw_norm_2 */
        float *in2 = f->att;
        for (int t = 0; t < n; t++)
            g4_rmsnorm(in2 + (size_t)t * H, f->x + (size_t)t * H, L->pre_ffw_norm_2, H, hp->eps);
        float *mo = f->q; /* free too (sized >= H per row) */
        moe_block(f, il, L, f->x, in2, n, mo);
        for (int t = 0; t < n; t++) {
            float *mt = mo + (size_t)t * H, *ot = f->o + (size_t)t * H;
            g4_rmsnorm(mt, mt, L->post_ffw_norm_2, H, hp->eps);
            for (int i = 0; i < H; i++) ot[i] = ot[i] + mt[i];
        }
    }
    add_normed(f->x, f->o, L->post_ffw_norm, n, H, hp->eps);
}

/* ---- per-layer embeddings (E models, spec §5.3) ------------------------------------------ */

static void ple_inputs(g4_fwd *f, const g4_batch *b) {
    const g4_model *m = f->m;
    const g4_hparams *hp = &m->hp;
    const int n = b->n, H = hp->n_embd, P = hp->n_embd_per_layer, NL = hp->n_layer;
    const int64_t LP = (int64_t)NL * P;
    const g4_tensor *pt = &m->per_layer_token_embd;
    const float tok_scale = sqrtf((float)P);
    for (int t = 0; t < n; t++) {
        float *row = f->ple_tmp + (size_t)t * LP;
        /* media rows take the row of token 0 (llama.cpp; HF: the pad id, also 0) */
        const int32_t tok = b->embd && b->embd[t] ? 0 : b->tokens[t];
        f->comp.k->dequant[pt->type]((const uint8_t *)pt->data + (size_t)tok * pt->row_size, row, LP);
        for (int64_t i = 0; i < LP; i++) row[i] *= tok_scale;
    }
    mm(f, &m->per_layer_model_proj, f->x, n, H, f->ple, LP);
    const float proj_scale = 1.0f / sqrtf((float)H), comb = 1.0f / sqrtf(2.0f);
    for (int t = 0; t < n; t++) {
        float *pr = f->ple + (size_t)t * LP;
        const float *tk = f->ple_tmp + (size_t)t * LP;
        for (int64_t i = 0; i < LP; i++) pr[i] *= proj_scale;
        for (int l = 0; l < NL; l++) g4_rmsnorm(pr + (size_t)l * P, pr + (size_t)l * P, m->per_layer_proj_norm, P, hp->eps);
        for (int64_t i = 0; i < LP; i++) pr[i] = (pr[i] + tk[i]) * comb;
    }
    emit(f, "inp_per_layer", f->ple, n, (int)LP);
}

static void ple_block(g4_fwd *f, int il, int n) {
    const g4_hparams *hp = &f->m->hp;
    const g4_layer *L = &f->m->layers[il];
    const int H = hp->n_embd, P = hp->n_embd_per_layer;
    const int64_t LP = (int64_t)hp->n_layer * P;
    mm(f, &L->inp_gate, f->x, n, H, f->g, P);
    for (int t = 0; t < n; t++) {
        float *gt = f->g + (size_t)t * P;
        const float *pl = f->ple + (size_t)t * LP + (size_t)il * P;
        g4_gelu(gt, gt, P, f->gelu_table);
        for (int i = 0; i < P; i++) gt[i] = gt[i] * pl[i];
    }
    mm(f, &L->proj, f->g, n, P, f->o, H);
    add_normed(f->x, f->o, L->post_norm, n, H, hp->eps);
}

/* ---- batch ---------------------------------------------------------------------------------- */

/* Non-causal groups: each (sequence, id) is one run of consecutive rows of its sequence,
 * wholly inside this call. Fills grp_end[] (the run's last position, -1 outside groups). */
static g4_status check_groups(g4_fwd *f, const g4_batch *b, g4_error *err) {
    const int n = b->n;
    int32_t *cur = f->grp_tmp, *first = f->grp_tmp + f->n_seq; /* per sequence */
    for (int s = 0; s < f->n_seq; s++) cur[s] = 0, first[s] = 1;
    for (int i = 0; i < n; i++) {
        const int32_t s = b->seq ? b->seq[i] : 0, g = b->group[i], p = b->pos[i];
        if (g < 0) return g4_fail(err, G4_ERR_ARG, "row %d: group id %d is negative (0 = no group)", i, g);
        if (g > 0 && g != cur[s]) { /* a run starts */
            if (first[s] && f->kv.grp_id[s] == g && f->kv.grp_end[s] == p - 1)
                return g4_fail(err, G4_ERR_ARG,
                               "row %d: non-causal group %d of sequence %d continues from the previous "
                               "decode call; all rows of a group (image) must be in one call (raise "
                               "n_batch to at least the group size)", i, g, s);
            for (int k = 0; k < i; k++)
                if ((b->seq ? b->seq[k] : 0) == s && b->group[k] == g)
                    return g4_fail(err, G4_ERR_ARG,
                                   "row %d: non-causal group %d of sequence %d is not contiguous", i, g, s);
        }
        cur[s] = g;
        first[s] = 0;
    }
    /* backwards: each row learns the end of its run */
    int32_t *end = first;
    for (int s = 0; s < f->n_seq; s++) cur[s] = 0, end[s] = -1;
    for (int i = n - 1; i >= 0; i--) {
        const int32_t s = b->seq ? b->seq[i] : 0, g = b->group[i];
        if (g > 0 && g != cur[s]) end[s] = b->pos[i];
        cur[s] = g;
        f->grp_end[i] = g > 0 ? end[s] : -1;
    }
    return G4_OK;
}

static g4_status check_batch(g4_fwd *f, const g4_batch *b, g4_error *err) {
    if (!b || b->n <= 0 || !b->pos) return g4_fail(err, G4_ERR_ARG, "empty batch");
    if (b->n > f->n_batch)
        return g4_fail(err, G4_ERR_ARG, "batch of %d tokens exceeds n_batch %d", b->n, f->n_batch);
    if (b->embd && b->n_embd != f->m->hp.n_embd)
        return g4_fail(err, G4_ERR_ARG, "embedding rows have width %d, the model needs %d", b->n_embd,
                       f->m->hp.n_embd);
    if (b->mask != G4_MASK_HF && b->mask != G4_MASK_LLAMACPP)
        return g4_fail(err, G4_ERR_ARG, "unknown mask mode %d", (int)b->mask);
    int32_t *next = f->seq_tmp; /* expected position per sequence (n_seq <= n_batch, see init) */
    for (int s = 0; s < f->n_seq; s++) next[s] = f->kv.n_pos[s];
    for (int i = 0; i < b->n; i++) {
        const int32_t s = b->seq ? b->seq[i] : 0;
        if (s < 0 || s >= f->n_seq) return g4_fail(err, G4_ERR_ARG, "row %d: sequence %d out of range", i, s);
        if (!(b->embd && b->embd[i])) {
            if (!b->tokens) return g4_fail(err, G4_ERR_ARG, "row %d has neither a token nor an embedding", i);
            if (b->tokens[i] < 0 || b->tokens[i] >= f->m->hp.n_vocab)
                return g4_fail(err, G4_ERR_ARG, "row %d: token id %d outside the vocabulary (%d)", i,
                               b->tokens[i], f->m->hp.n_vocab);
        }
        if (b->pos[i] != next[s])
            return g4_fail(err, G4_ERR_ARG, "row %d: position %d does not continue sequence %d (length %d)",
                           i, b->pos[i], s, next[s]);
        if (b->pos[i] >= f->n_ctx)
            return g4_fail(err, G4_ERR_CTX_FULL, "sequence %d is full: context size %d", s, f->n_ctx);
        next[s]++;
    }
    return b->group ? check_groups(f, b, err) : G4_OK;
}

g4_status g4_fwd_decode(g4_fwd *f, const g4_batch *b, float *logits, g4_error *err) {
    g4_status st = check_batch(f, b, err);
    if (st) return st;
    const g4_model *m = f->m;
    const g4_hparams *hp = &m->hp;
    const int n = b->n, H = hp->n_embd;

    const int32_t *seq = b->seq ? b->seq : f->seq_zero;

    /* 1. input embeddings */
    const g4_tensor *te = &m->token_embd;
    const float emb_scale = sqrtf((float)H);
    for (int t = 0; t < n; t++) {
        float *xt = f->x + (size_t)t * H;
        if (b->embd && b->embd[t]) { /* media soft token: inserted unscaled (spec §6.6) */
            memcpy(xt, b->embd[t], (size_t)H * sizeof(float));
            continue;
        }
        f->comp.k->dequant[te->type]((const uint8_t *)te->data + (size_t)b->tokens[t] * te->row_size, xt, H);
        for (int i = 0; i < H; i++) xt[i] *= emb_scale;
    }
    /* HF opens groups on sliding layers only and not at all for E2B/E4B (their images
     * are causal); llama.cpp opens them everywhere */
    const bool groups = b->group != NULL;
    f->grp_swa = groups && (b->mask == G4_MASK_LLAMACPP || hp->n_embd_per_layer == 0);
    f->grp_full = groups && b->mask == G4_MASK_LLAMACPP;
    emit(f, "inp_scaled", f->x, n, H);
    if (hp->n_embd_per_layer > 0) ple_inputs(f, b);

    /* rotary tables per row */
    for (int t = 0; t < n; t++) {
        g4_rope_cache(f->rope_swa + (size_t)t * hp->rope_dims_swa, b->pos[t], hp->rope_dims_swa,
                      hp->rope_base_swa, NULL);
        g4_rope_cache(f->rope_full + (size_t)t * hp->rope_dims_full, b->pos[t], hp->rope_dims_full,
                      hp->rope_base_full, m->rope_freqs);
    }

    /* 2. layers */
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(f, il, n, b->pos, seq);
        emit_l(f, "attn_out", il, f->x, n, H);
        ffn_block(f, il, n);
        if (hp->n_embd_per_layer > 0) ple_block(f, il, n);
        const float os = m->layers[il].out_scale;
        if (os != 1.0f)
            for (size_t i = 0; i < (size_t)n * H; i++) f->x[i] *= os;
        emit_l(f, "l_out", il, f->x, n, H);
    }
    for (int t = 0; t < n; t++) {
        g4_kv_mark(&f->kv, seq[t], b->pos[t], b->pos[t] + 1);
        if (b->pos[t] + 1 > f->kv.n_pos[seq[t]]) f->kv.n_pos[seq[t]] = b->pos[t] + 1;
        /* remember the group of each sequence's last row (see check_groups) */
        const int32_t g = b->group ? b->group[t] : 0;
        if (g > 0 && f->kv.grp_id[seq[t]] != g) f->kv.grp_start[seq[t]] = b->pos[t];
        f->kv.grp_id[seq[t]] = g;
        f->kv.grp_end[seq[t]] = b->pos[t];
    }

    /* 3. output rows */
    int n_out = 0;
    for (int t = 0; t < n; t++) {
        bool want = b->want ? b->want[t] : t == n - 1;
        if (!want) continue;
        g4_rmsnorm(f->h + (size_t)n_out * H, f->x + (size_t)t * H, m->output_norm, H, hp->eps);
        n_out++;
    }
    emit(f, "result_norm", f->h, n_out, H);
    if (logits && n_out > 0) {
        const int V = hp->n_vocab;
        mm(f, g4_model_head(m), f->h, n_out, H, logits, V);
        if (hp->softcap > 0) {
            const float inv = 1.0f / hp->softcap, cap = hp->softcap;
            for (size_t i = 0; i < (size_t)n_out * V; i++) logits[i] = tanhf(logits[i] * inv) * cap;
        }
    }
    return G4_OK;
}
