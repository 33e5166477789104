/* fuzz_media.c — libFuzzer target for the image and audio decoders (src/mmio).
 *
 * Not part of the CMake build. After a normal build (for the g4mmio and gemma4c
 * libraries' flags), from the repository root:
 *
 *   clang -std=c11 -g -O1 -D_GNU_SOURCE -DG4_HAVE_STB -DG4_HAVE_WEBP -DG4_HAVE_SNDFILE \
 *       -DG4_HAVE_SAMPLERATE -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -isystem /usr/include/stb \
 *       tests/fuzz/fuzz_media.c src/mmio/image_io.c src/mmio/audio_io.c src/core/status.c \
 *       -lwebp -lsndfile -lsamplerate -lm -o fuzz_media
 *   mkdir -p corpus && cp tests/data/media/img_*.png tests/data/media/aud_*.wav corpus/
 *   ./fuzz_media -max_len=262144 -max_total_time=60 corpus
 *
 * The first input byte picks the decoder (even: image, odd: audio); the rest is the file.
 * Success or a clean error are both fine; a crash or a sanitizer report is a bug. */
#include <stddef.h>
#include <stdint.h>

#include "mmio/audio_io.h"
#include "mmio/image_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    g4_error err = {0};
    if (data[0] & 1) {
        g4_audio_decode_opts o = g4_audio_decode_opts_default();
        o.max_seconds = 60; /* keep each run short */
        g4_pcm pcm = {0};
        if (g4_audio_decode_memory(data + 1, size - 1, &o, &pcm, &err) == G4_OK) g4_pcm_free(&pcm);
    } else {
        g4_image img = {0};
        if (g4_image_decode(data + 1, size - 1, &img, &err) == G4_OK) g4_image_free(&img);
    }
    return 0;
}
