/* audio_io.h — audio files and bytes -> mono float PCM at 16 kHz, the input of the
 * 12B's audio preprocessing (src/mm/audio.h).
 *
 * Part of g4mmio (system libraries, not the core library): libsndfile decodes WAV (PCM
 * 8/16/24/32-bit, float, WAVE_FORMAT_EXTENSIBLE, RF64, W64), AIFF, CAF, FLAC, Ogg
 * (Vorbis, Opus) and MP3 (libsndfile >= 1.1 built with mpg123); the channels are averaged
 * to mono and the result is resampled to the output rate (docs/AUDIO.md). Built without
 * libsndfile, every decode call fails with G4_ERR_UNSUPPORTED; without libsamplerate, so
 * does the SINC resampler (the LLAMACPP one, the default, is written here and always
 * available).
 *
 * Input is hostile: sizes, durations, channel counts and sample rates are bounded,
 * non-finite samples are rejected, and every failure is a g4_error naming the problem. */
#ifndef G4_MMIO_AUDIO_IO_H
#define G4_MMIO_AUDIO_IO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "g4.h"

typedef enum {
    /* The default: what llama.cpp's mtmd gets from miniaudio, written here from its
     * description: a 4th-order Butterworth low-pass at min(rate_in, rate_out)/2 (on the
     * input when downsampling, on the output when upsampling) and linear interpolation,
     * in float. Reproduces the goldens' .pcm.gld bit for bit; decoding + resampling 30 s
     * of 44.1 kHz stereo WAV takes ~12 ms. Against a band-limited resampler it delays
     * the signal by ~3 input samples (68 us at 44.1 kHz), dulls the top of the band
     * (-0.8 dB at 6 kHz, -1.8 dB at 7 kHz) and lets aliases of content above the output
     * Nyquist frequency through (44.1 -> 16 kHz: a 9 / 10 / 12 kHz tone folds back at
     * -7.6 / -12.2 / -22.4 dB). */
    G4_AUDIO_RESAMPLE_LLAMACPP = 0,
    /* Band-limited windowed sinc (libsamplerate SRC_SINC_MEDIUM_QUALITY: 97 dB stop band,
     * 90% pass band), the quality of the librosa/soxr resampling HF users feed the model.
     * ~200 ms for 30 s of 44.1 kHz stereo WAV. Needs libsamplerate. */
    G4_AUDIO_RESAMPLE_SINC = 1
} g4_audio_resampler;

typedef struct {
    int32_t sample_rate;          /* output rate, Hz; 0 = 16000 */
    double max_seconds;           /* longest accepted input; 0 = 1800 (30 min) */
    uint64_t max_bytes;           /* largest accepted encoded input (file or memory);
                                   * 0 = 512 MiB */
    g4_audio_resampler resampler; /* used only when the input rate differs */
} g4_audio_decode_opts;

/* All fields 0: the defaults above. */
g4_audio_decode_opts g4_audio_decode_opts_default(void);

typedef struct {
    float *samples;       /* [n_samples] mono at sample_rate; owned: g4_pcm_free */
    int64_t n_samples;    /* >= 1 on success */
    int32_t sample_rate;  /* the output rate */
    int32_t src_rate;     /* the input's sample rate, Hz */
    int32_t src_channels; /* the input's channel count */
    int64_t src_frames;   /* frames decoded at src_rate */
    char src_format[64];  /* container / encoding as libsndfile names them */
} g4_pcm;

/* Decodes a whole file / buffer. *out is zeroed first and filled only on success.
 * Errors: G4_ERR_IO (cannot open/read the file, not a regular file), G4_ERR_FORMAT
 * (unknown or malformed data, no samples, NaN/Inf samples, decoder error mid-stream),
 * G4_ERR_UNSUPPORTED (over max_bytes / max_seconds, sample rate outside
 * [1000, 768000] Hz, more than 64 channels, a container outside the list above, or the
 * decoder/resampler missing from this build), G4_ERR_NOMEM, G4_ERR_ARG (bad opts). */
g4_status g4_audio_decode_file(const char *path, const g4_audio_decode_opts *opts, g4_pcm *out,
                               g4_error *err);
g4_status g4_audio_decode_memory(const void *data, size_t size, const g4_audio_decode_opts *opts,
                                 g4_pcm *out, g4_error *err);
void g4_pcm_free(g4_pcm *p); /* NULL or a zeroed g4_pcm: no-op */

/* Length of n_in samples resampled from rate_in to rate_out: ceil(n_in * rate_out /
 * rate_in) (equal rates: n_in); -1 when the arguments are invalid or it overflows. */
int64_t g4_audio_resampled_length(int64_t n_in, int32_t rate_in, int32_t rate_out);

/* Resamples mono in [n_in] into out [g4_audio_resampled_length(n_in, rate_in,
 * rate_out)] (the caller's buffer); equal rates copy. Rates must be in [1000, 768000]. */
g4_status g4_audio_resample(const float *in, int64_t n_in, int32_t rate_in, int32_t rate_out,
                            g4_audio_resampler mode, float *out, g4_error *err);

/* Whether this build can decode a format, by short name: "wav", "flac", "ogg", "mp3",
 * "aiff", "caf", "rf64", "w64" (asks libsndfile at run time: MP3 needs libsndfile >= 1.1
 * built with MPEG support). Whether resampling mode `mode` is available. */
bool g4_audio_format_available(const char *name);
bool g4_audio_resampler_available(g4_audio_resampler mode);

#endif
