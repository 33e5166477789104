/* mtp.h — Gemma 4's MTP "assistant" drafter (arch `gemma4-assistant`, spec §8).
 *
 * The drafter is a small transformer without a KV cache of its own: its input is the
 * target's post-final-norm hidden state and the target embedding of the token just
 * produced; its sliding / full layers attend over the TARGET's last sliding / last full
 * KV-owning layer caches of one sequence; it returns logits over the vocabulary and a
 * new hidden state (target width) that feeds the next draft step. Nothing of the drafter
 * has to be rolled back. See docs/MTP.md. */
#ifndef G4_MTP_H
#define G4_MTP_H
#include <stdbool.h>
#include <stdint.h>

#include "g4.h"

typedef struct g4_drafter g4_drafter;

/* Opens the drafter GGUF at `path` and checks it against `target` (borrowed: it must
 * outlive the drafter): target width, head dims, RoPE, window, vocabulary, KV heads. */
g4_status g4_drafter_open(const char *path, const g4_engine *target, g4_drafter **out, g4_error *err);
void g4_drafter_free(g4_drafter *d); /* NULL is a no-op */

/* Drafter width D, target width H_t (length of h / h_out), vocabulary size. */
int g4_drafter_n_embd(const g4_drafter *d);
int g4_drafter_n_embd_out(const g4_drafter *d);
int g4_drafter_n_vocab(const g4_drafter *d);
/* True when d was opened against engine e (its sessions are the ones it can draft for). */
bool g4_drafter_is_for(const g4_drafter *d, const g4_engine *e);
/* True when the file carries the ordered-embedding (centroid) head (E2B/E4B drafters). */
bool g4_drafter_has_masked_head(const g4_drafter *d);

/* One draft step (spec §8.3): token `tok` (not yet in the target's KV), hidden state h
 * (H_t floats: the target's post-norm hidden state of the row that produced tok, or the
 * previous step's h_out), position pos (= the target sequence length; the same for every
 * draft step of a round). The drafter attends over positions < pos of sequence `seq` of
 * `target` (a session of the engine given to g4_drafter_open). Writes n_vocab logits
 * (not soft-capped; with the masked head, tokens outside the selected clusters get
 * min(computed) - 1, like HF) and h_out (H_t floats). h and h_out may alias.
 * Not thread-safe: one drafter serves one step at a time, and the step runs on the
 * target engine's thread pool (never concurrently with a decode on that engine). */
g4_status g4_drafter_step(g4_drafter *d, g4_session *target, int seq, int32_t tok, const float *h,
                          int pos, float *logits_out, float *h_out, g4_error *err);

/* The target's post-final-norm hidden state (n_embd floats) of the i-th wanted row of
 * the last g4_session_decode call (borrowed, valid until the next decode). */
const float *g4_session_hidden_row(const g4_session *s, int i);

/* k greedy drafts (argmax of each step; the drafter is deterministic, so the target's
 * sample-and-compare rule of spec §8.5 is exact) after token tok at position pos with the
 * target's hidden state h: drafts[0..k). Uses the drafter's own scratch buffers. */
g4_status g4_spec_draft(g4_drafter *d, g4_session *target, int seq, int32_t tok, const float *h, int pos, int k,
                        int32_t *drafts, g4_error *err);

/* ---- speculative rounds inside a sampling pipeline (generate.c, the server) ----
 *
 * A round: the target holds n positions of the sequence and token tok is pending (not
 * yet evaluated), h = the target's hidden state of the row that produced tok. The
 * drafter proposes d_1..d_k, the target evaluates [tok, d_1..d_k] at n..n+k in one batch
 * and g4_spec_accept runs the rows through the token pipeline (sampler with the user's
 * settings, grammar, stop strings, limits): row i's sample s_i is committed; when it
 * equals d_{i+1} the next row is used, otherwise the round ends with s_i as the new
 * pending token. Because the drafts are a point mass, "sample the target and compare" is
 * exactly the speculative-sampling rule (spec §8.5): the output has the target's
 * distribution, and with greedy sampling equals plain greedy decoding. */
typedef struct g4_tokpipe g4_tokpipe;

/* logits: k + 1 rows of n_vocab. *n_rows: rows whose input stays in the cache
 * (tok and the accepted drafts: keep n + *n_rows positions); the accepted drafts are
 * *n_rows - 1. *next: the last committed token (the new pending one), G4_TOKEN_NONE when
 * the pipeline ended without one; *done: the output ended (t->finish says why). */
g4_status g4_spec_accept(g4_tokpipe *t, const float *logits, const int32_t *drafts, int k, int *n_rows,
                         int32_t *next, bool *done, g4_error *err);

/* Adaptive draft length (spec §12.6: long drafts can slow decoding down). The controller
 * keeps a decayed estimate of the per-token acceptance a and the measured time of a round
 * with k drafts (drafting + verification + acceptance; k = 0 is a plain decode step), and
 * picks the k that maximises expected tokens per second, E(k) / t_round(k) with
 * E(k) = 1 + a + ... + a^k. k = 0 (plain decoding) wins at low acceptance; a one-draft
 * probe then runs after 4, 8, ... 64 plain rounds to notice when acceptance comes back.
 * Drafts grow one length at a time (k + 1 is a candidate once k has been measured), the
 * unmeasured next length extrapolated with an optimistic slope, so each is tried once
 * when it looks worthwhile and a cold start does not pay for long drafts first. */
#define G4_SPEC_KMAX 16
typedef struct {
    int kmax;
    bool fixed;                      /* always kmax (no adaptation) */
    double acc_s, acc_n;             /* decayed accepted / tried drafts */
    double t_draft;                  /* seconds per drafter step, 0 = not measured */
    double t_round[G4_SPEC_KMAX + 1]; /* seconds per round with k drafts, 0 = not measured */
    int plain_run, probe_every;
} g4_spec_ctl;

void g4_spec_ctl_init(g4_spec_ctl *c, int kmax, bool fixed);
/* The draft length of the next round (0 = plain decoding). */
int g4_spec_ctl_pick(g4_spec_ctl *c);
/* After a round with k drafts: n_acc accepted, rejected = the round ended on a draft the
 * target disagreed with (false when it ended for another reason); seconds spent drafting
 * and in the whole round (drafting included). */
void g4_spec_ctl_update(g4_spec_ctl *c, int k, int n_acc, bool rejected, double t_draft, double t_round);
/* Running acceptance estimate (what the next pick assumes). */
double g4_spec_ctl_acceptance(const g4_spec_ctl *c);

/* ---- greedy speculative decoding (spec §8.4, §8.5, §8.7) ---- */

/* Called after each verification round with the tokens it committed: the n_accepted
 * drafts the target agreed with, then the target's own next token. (A one-token prompt
 * first reports its greedy token alone, n_draft 0.) */
typedef void (*g4_spec_step_fn)(void *user, int n_draft, int n_accepted, const int32_t *ids, int n_ids);

typedef struct {
    int n_draft;   /* draft tokens per round (llama.cpp default 3); 1 + n_draft <= n_batch */
    int n_max;     /* no new round once this many tokens are generated (the last round may
                      overshoot by up to n_draft). llama.cpp's `-n N` stops only when more
                      than N were generated: it equals n_max = N + 1 */
    bool stop_eos; /* stop after committing the target's eos token */
    g4_spec_step_fn on_step;
    void *user;
} g4_spec_params;

typedef struct {
    int n_gen, n_drafted, n_accepted, n_rounds;
} g4_spec_stats;

/* Appends the prompt to sequence 0 of `target` (existing content is kept as context) and
 * decodes greedily with drafts from d, as llama.cpp's speculative loop: the target
 * consumes the prompt but its last token, which starts the first round. Each round, with
 * n positions in the cache, pending token tok and h = the target's post-norm hidden state
 * of the row before it, drafts n_draft tokens at position n, verifies [tok, d_1..d_N] at
 * n..n+N in one target pass, commits the longest agreeing prefix plus the target's next
 * token, truncates the rejected rows from the cache and continues from that token with h
 * of its row. The output equals plain greedy decoding of the target exactly (the forward
 * pass is bit-identical across batch splits). out receives up to out_cap tokens
 * (n_max + n_draft suffices); stats may be NULL. Afterwards sequence 0 holds the prompt
 * and every generated token but the last. */
g4_status g4_spec_generate_greedy(g4_drafter *d, g4_session *target, const int32_t *prompt, int n_prompt,
                                  const g4_spec_params *p, int32_t *out, int out_cap, g4_spec_stats *stats,
                                  g4_error *err);

#endif
