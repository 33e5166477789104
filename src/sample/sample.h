/* sample.h — the token sampler: logit bias -> repetition penalties -> top-k -> top-p ->
 * min-p -> temperature -> seeded draw, with llama.cpp's semantics (docs/SAMPLING.md).
 *
 * A sampler belongs to one generation stream (one thread at a time). It copies the
 * parameters (including the bias array) and allocates all its memory up front, so
 * g4_sampler_sample never allocates and never fails: it returns G4_TOKEN_NONE only when
 * every token is banned (all logits -inf or NaN after bias and penalties). */
#ifndef G4_SAMPLE_SAMPLE_H
#define G4_SAMPLE_SAMPLE_H
#include <stddef.h>
#include <stdint.h>

#include "g4.h"

#define G4_TOKEN_NONE ((int32_t)-1)
/* seed value meaning "pick one from the clock"; g4_sampler_seed() tells which */
#define G4_SEED_RANDOM UINT64_MAX

typedef struct {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
} g4_logit_bias;

typedef struct {
    float temperature;       /* <= 0: greedy (argmax after bias and penalties; ties -> lowest id) */
    int32_t top_k;           /* <= 0 or >= n_vocab: off */
    float top_p;             /* >= 1: off; 0 keeps only the most likely token */
    float min_p;             /* 0: off; in [0, 1] */
    float repeat_penalty;    /* 1: off; > 0. Positive logits are divided, the others multiplied */
    int32_t repeat_last_n;   /* accepted tokens the penalties look at: -1 = all, 0 = off, max 2^20 */
    float presence_penalty;  /* OpenAI: logit -= presence if the token is in the window */
    float frequency_penalty; /* OpenAI: logit -= frequency * count in the window */
    uint64_t seed;           /* G4_SEED_RANDOM = from the clock; same seed + inputs = same output */
    const g4_logit_bias *bias; /* copied by g4_sampler_new; repeated ids add up, -inf wins */
    size_t n_bias;
} g4_sampler_params;

/* Gemma 4's recommended settings (generation_config.json, written to the GGUF as
 * general.sampling.*): temperature 1.0, top_k 64, top_p 0.95, min_p 0; penalties off
 * (repeat_penalty 1, repeat_last_n 64, presence/frequency 0); seed G4_SEED_RANDOM. */
g4_sampler_params g4_sampler_defaults(void);

typedef struct g4_sampler g4_sampler;

/* Checks every parameter (NaN or infinite values, negative probabilities or penalties,
 * min_p > 1, repeat_penalty <= 0, repeat_last_n < -1, bias ids outside [0, n_vocab),
 * NaN biases) and fails with G4_ERR_ARG naming the parameter. */
g4_status g4_sampler_new(const g4_sampler_params *p, int32_t n_vocab, g4_sampler **out,
                         g4_error *err);
void g4_sampler_free(g4_sampler *s); /* NULL is a no-op */

/* Draws a token from logits[0..n_vocab) (not modified; NaN counts as -inf).
 * Returns G4_TOKEN_NONE when no token is possible (everything banned). Tokens whose
 * logit is +inf after bias and penalties share the probability equally. */
int32_t g4_sampler_sample(g4_sampler *s, const float *logits);

/* Records a token for the penalties (generated tokens; prompt tokens too if wanted, as
 * llama.cpp's server does). Ids outside the vocabulary are ignored. */
void g4_sampler_accept(g4_sampler *s, int32_t token);

/* Forgets the accepted tokens and restarts the random sequence from the seed. */
void g4_sampler_reset(g4_sampler *s);

/* The seed in use (the clock-derived one when the parameters said G4_SEED_RANDOM). */
uint64_t g4_sampler_seed(const g4_sampler *s);

/* ---- introspection (logprobs, tests) ---- */

typedef struct {
    int32_t token;
    float prob; /* in the final distribution (after every filter and the temperature) */
} g4_token_prob;

/* The last g4_sampler_sample: the token, its probability in the final distribution and
 * how many tokens that distribution had (0 when G4_TOKEN_NONE; 1 when greedy). */
typedef struct {
    int32_t token;
    float prob;
    int32_t n_candidates;
} g4_sample_info;
g4_sample_info g4_sampler_last(const g4_sampler *s);

/* out[0..n_vocab) = logits after NaN -> -inf, the logit bias and the penalties: what
 * top-k/top-p/min-p see. */
void g4_sampler_adjust(const g4_sampler *s, const float *logits, float *out);

/* The candidate set g4_sampler_sample would draw from for these logits (no draw, no state
 * change). Returns its size; writes the min(size, cap) most probable entries to out,
 * most probable first (ties: lowest id first). Greedy samplers give the argmax with
 * probability 1; 0 means everything is banned. */
size_t g4_sampler_candidates(g4_sampler *s, const float *logits, g4_token_prob *out,
                             size_t cap);

/* Testing: the portable kernels even on a CPU with AVX2 (the results are identical). */
void g4_sampler_use_portable_kernels(g4_sampler *s);

/* exp(x) for x <= 0 as the sampler computes it (relative error < 4e-7; 0 below -86.5 and
 * for -inf). Exposed so tests can reproduce the sampler's probabilities. */
float g4_sample_expf(float x);

#endif
