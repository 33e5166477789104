/* spec.c — greedy speculative decoding with the MTP drafter (spec §8.4-§8.7, mtp.h). */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "engine/engine.h"
#include "mtp/mtp.h"

static int32_t argmax(const float *v, int n) {
    int32_t b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

g4_status g4_spec_generate_greedy(g4_drafter *d, g4_session *s, const int32_t *prompt, int n_prompt,
                                  const g4_spec_params *p, int32_t *out, int out_cap, g4_spec_stats *stats,
                                  g4_error *err) {
    if (!d || !s || !p || !prompt || n_prompt < 1 || !out || out_cap < 1)
        return g4_fail(err, G4_ERR_ARG, "g4_spec_generate_greedy: bad arguments");
    const int N = p->n_draft, V = g4_drafter_n_vocab(d), H = g4_drafter_n_embd_out(d);
    if (N < 1 || N + 1 > s->f.n_batch)
        return g4_fail(err, G4_ERR_ARG, "speculative decoding: n_draft %d needs 1..%d (n_batch - 1)", N,
                       s->f.n_batch - 1);
    if (p->n_max < 1) return g4_fail(err, G4_ERR_ARG, "speculative decoding: n_max must be >= 1");
    const int32_t eos = s->e->m->hp.eos_id;
    g4_spec_stats st = {0, 0, 0, 0};
    float *logits = malloc((size_t)(N + 1) * (size_t)V * sizeof *logits);
    float *h = malloc((size_t)H * sizeof *h);
    int32_t *rows = malloc((size_t)(N + 1) * 2 * sizeof *rows), *ids = malloc((size_t)(N + 1) * sizeof *ids);
    bool *want = malloc((size_t)(N + 1) * sizeof *want);
    g4_status rc = G4_OK;
    if (!logits || !h || !rows || !ids || !want) {
        rc = g4_fail(err, G4_ERR_NOMEM, "speculative decoding: out of memory");
        goto done;
    }
    int32_t *toks = rows, *pos = rows + N + 1;
    for (int i = 0; i <= N; i++) want[i] = true;
    int32_t tok;

    /* like llama.cpp's speculative loop: the target consumes all but the last prompt
     * token, whose row then starts the first round (so the first round drafts too) */
    bool stop = false;
    if (n_prompt >= 2) {
        if ((rc = g4_session_eval(s, prompt, n_prompt - 1, false, NULL, err))) goto done;
        tok = prompt[n_prompt - 1];
    } else { /* one token: nothing to draft from yet; its greedy token is the first output */
        if ((rc = g4_session_eval(s, prompt, 1, false, logits, err))) goto done;
        tok = argmax(logits, V);
        out[st.n_gen++] = tok;
        if (p->on_step) p->on_step(p->user, 0, 0, &tok, 1);
        stop = p->stop_eos && tok == eos;
    }
    memcpy(h, g4_session_hidden_row(s, 0), (size_t)H * sizeof *h);

    while (!stop && st.n_gen < p->n_max) {
        const int n = g4_session_seq_len(s, 0);
        if (n + N + 1 > s->f.n_ctx) {
            rc = g4_fail(err, G4_ERR_ARG, "speculative decoding: context full (%d positions)", s->f.n_ctx);
            goto done;
        }
        /* draft N tokens at the same position n */
        toks[0] = tok;
        for (int k = 1; k <= N; k++) {
            if ((rc = g4_drafter_step(d, s, 0, toks[k - 1], h, n, logits, h, err))) goto done;
            toks[k] = argmax(logits, V);
        }
        /* verify [tok, d_1..d_N] at n..n+N */
        for (int k = 0; k <= N; k++) pos[k] = n + k;
        g4_batch b = {0};
        b.n = N + 1;
        b.tokens = toks;
        b.pos = pos;
        b.want = want;
        if ((rc = g4_session_decode(s, &b, logits, err))) goto done;
        int j = 0;
        while (j < N && argmax(logits + (size_t)j * V, V) == toks[j + 1]) j++;
        const int32_t next = argmax(logits + (size_t)j * V, V);
        memcpy(h, g4_session_hidden_row(s, j), (size_t)H * sizeof *h);
        /* keep tok and the j accepted drafts; drop the rejected rows */
        if ((rc = g4_session_truncate(s, 0, n + 1 + j, err))) goto done;
        int n_ids = 0;
        for (int k = 1; k <= j; k++) ids[n_ids++] = toks[k];
        ids[n_ids++] = next;
        st.n_drafted += N;
        st.n_accepted += j;
        st.n_rounds++;
        if (p->on_step) p->on_step(p->user, N, j, ids, n_ids);
        for (int k = 0; k < n_ids; k++) {
            if (st.n_gen < out_cap) out[st.n_gen] = ids[k];
            st.n_gen++;
            if (p->stop_eos && ids[k] == eos) {
                stop = true;
                break;
            }
        }
        tok = next;
    }
    if (st.n_gen > out_cap) {
        rc = g4_fail(err, G4_ERR_ARG, "speculative decoding: %d tokens do not fit the output (%d)", st.n_gen,
                     out_cap);
        st.n_gen = out_cap;
    }
done:
    if (stats) *stats = st;
    free(logits);
    free(h);
    free(rows);
    free(ids);
    free(want);
    return rc;
}
