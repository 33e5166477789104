/* audio.h — 12B (gemma4ua) audio preprocessing: mono 16 kHz float samples -> the
 * projector input, one 640-sample frame (40 ms) per soft token (spec §6.5).
 *
 * Core library (libc only). Decoding files and resampling to 16 kHz live in
 * src/mmio/audio_io.h; the projection itself (a weight-less RMS norm of each frame with
 * rms_eps, then mm.a.input_projection) is the projector's (src/mm/mm.h): the goldens'
 * projector input holds the raw samples, not normalised ones.
 *
 * Layout: frames are returned row-major [n_frames, frame_size] (frame t = samples
 * frame_size*t ... frame_size*t + frame_size - 1, each frame contiguous). The goldens'
 * `.media0.input.gld` store the same numbers transposed: dims [640, n_frames], element
 * [f, t] at f*n_frames + t (llama.cpp's time-contiguous "mel" layout). */
#ifndef G4_MM_AUDIO_H
#define G4_MM_AUDIO_H
#include <stdint.h>

#include "g4.h"

/* Parameters of the unified audio path. g4_audio_params_default() gives the 12B's values;
 * a caller holding an mmproj overrides them from its clip.* keys (spec §3.6):
 *   frame_size <- clip.audio.embedding_length (must equal ne[0] of mm.a.input_projection;
 *                 clip.audio.num_mel_bins is unreliable: 128 in released files, llama.cpp
 *                 hard-codes 640);
 *   rms_eps    <- clip.audio.attention.layer_norm_epsilon (1e-6).
 * sample_rate is not in the file: the model takes 16 kHz. */
typedef struct {
    int32_t sample_rate; /* Hz of the PCM the frames are cut from; 16000 */
    int32_t frame_size;  /* samples per soft token; 640 (40 ms at 16 kHz) */
    float rms_eps;       /* epsilon of the per-frame RMS norm; 1e-6 */
    int64_t max_frames;  /* most soft tokens one clip may produce; 0 = no limit.
                          * Default 45000 = 30 min (the model was trained on <= 30 s
                          * clips, 750 tokens; llama.cpp neither splits nor caps) */
} g4_audio_params;

g4_audio_params g4_audio_params_default(void);

/* G4_ERR_ARG naming the bad field (sample_rate <= 0, frame_size outside [1, 1 << 20],
 * rms_eps negative or not finite, max_frames < 0). */
g4_status g4_audio_params_check(const g4_audio_params *p, g4_error *err);

/* Number of soft tokens for n_samples samples: ceil(n_samples / frame_size); 0 when
 * n_samples <= 0 or the params are invalid. 16 kHz: 25 tokens per second. */
int64_t g4_audio_n_frames(const g4_audio_params *p, int64_t n_samples);

/* Cuts pcm [n_samples] (mono, p->sample_rate) into frames: out [n_frames, frame_size]
 * row-major, the last frame zero padded (it is a full, valid token). out_cap is the
 * capacity of out in floats (>= g4_audio_n_frames() * frame_size). No normalisation:
 * these are exactly the projector inputs of the goldens.
 * Errors: G4_ERR_ARG for invalid params, n_samples <= 0 ("no samples"), a NaN/Inf sample
 * (names its index), out_cap too small; G4_ERR_UNSUPPORTED when the clip needs more than
 * max_frames tokens. *n_frames is set on success (0 otherwise). */
g4_status g4_audio_frames(const g4_audio_params *p, const float *pcm, int64_t n_samples,
                          float *out, int64_t out_cap, int64_t *n_frames, g4_error *err);

#endif
