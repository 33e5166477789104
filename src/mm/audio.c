/* audio.c — the 12B's audio preprocessing (spec §6.5): 16 kHz mono samples cut into
 * 640-sample frames, the last one zero padded, one soft token each. Decoding and
 * resampling are src/mmio's; projecting the frames is the projector's. */
#include "audio.h"

#include <math.h>
#include <string.h>

#include "core/status.h"

g4_audio_params g4_audio_params_default(void) {
    g4_audio_params p;
    memset(&p, 0, sizeof p);
    p.sample_rate = 16000;
    p.frame_size = 640;
    p.rms_eps = 1e-6f;
    p.max_frames = 45000;
    return p;
}

g4_status g4_audio_params_check(const g4_audio_params *p, g4_error *err) {
    if (!p) return g4_fail(err, G4_ERR_ARG, "audio: no parameters");
    if (p->sample_rate <= 0)
        return g4_fail(err, G4_ERR_ARG, "audio: sample_rate %d must be positive", (int)p->sample_rate);
    if (p->frame_size < 1 || p->frame_size > (1 << 20))
        return g4_fail(err, G4_ERR_ARG, "audio: frame_size %d outside [1, 1048576]", (int)p->frame_size);
    if (!isfinite(p->rms_eps) || p->rms_eps < 0)
        return g4_fail(err, G4_ERR_ARG, "audio: rms_eps %g must be finite and >= 0", (double)p->rms_eps);
    if (p->max_frames < 0)
        return g4_fail(err, G4_ERR_ARG, "audio: max_frames %lld must be >= 0", (long long)p->max_frames);
    return G4_OK;
}

int64_t g4_audio_n_frames(const g4_audio_params *p, int64_t n_samples) {
    if (n_samples <= 0 || g4_audio_params_check(p, NULL) != G4_OK) return 0;
    /* no overflow: n_samples < INT64_MAX and frame_size >= 1 */
    return n_samples / p->frame_size + (n_samples % p->frame_size != 0);
}

g4_status g4_audio_frames(const g4_audio_params *p, const float *pcm, int64_t n_samples,
                          float *out, int64_t out_cap, int64_t *n_frames, g4_error *err) {
    g4_status st;
    if (n_frames) *n_frames = 0;
    if ((st = g4_audio_params_check(p, err)) != G4_OK) return st;
    if (n_samples <= 0) return g4_fail(err, G4_ERR_ARG, "audio: no samples");
    if (!pcm || !out || !n_frames) return g4_fail(err, G4_ERR_ARG, "audio: NULL buffer");
    int64_t nf = g4_audio_n_frames(p, n_samples);
    if (p->max_frames > 0 && nf > p->max_frames)
        return g4_fail(err, G4_ERR_UNSUPPORTED,
                       "audio: %lld samples make %lld tokens, more than the limit of %lld (%.0f s)",
                       (long long)n_samples, (long long)nf, (long long)p->max_frames,
                       (double)p->max_frames * p->frame_size / p->sample_rate);
    /* nf * frame_size <= n_samples + frame_size - 1: cannot overflow when compared as is */
    if (out_cap < 0 || nf > out_cap / p->frame_size)
        return g4_fail(err, G4_ERR_ARG, "audio: output holds %lld floats, %lld frames of %d need more",
                       (long long)out_cap, (long long)nf, (int)p->frame_size);
    for (int64_t i = 0; i < n_samples; i++)
        if (!isfinite(pcm[i]))
            return g4_fail(err, G4_ERR_ARG, "audio: sample %lld is not a finite number", (long long)i);
    memcpy(out, pcm, (size_t)n_samples * sizeof *out);
    size_t total = (size_t)nf * (size_t)p->frame_size;
    memset(out + n_samples, 0, (total - (size_t)n_samples) * sizeof *out);
    *n_frames = nf;
    return G4_OK;
}
