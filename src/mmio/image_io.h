/* image_io.h — image files -> 8-bit RGB pixels (part of g4mmio, not of the core library).
 *
 * Formats: PNG, JPEG (EXIF orientation applied), BMP, GIF (first frame) through stb_image
 * (system header from libstb-dev, G4_HAVE_STB), and WebP (still images) through libwebp
 * (G4_HAVE_WEBP). The format is recognised by its signature, never by the file name. An
 * EXIF orientation tag is also honoured in PNG (eXIf chunk) and WebP (EXIF chunk), as
 * PIL's exif_transpose (which Hugging Face's load_image applies) does.
 * Transparency is composited on white by default (see G4_DECODE_DROP_ALPHA).
 *
 * Every input is treated as hostile: sizes are checked before anything is allocated and
 * a broken file yields G4_ERR_FORMAT (G4_ERR_UNSUPPORTED for a valid image we do not
 * handle: unknown format, animated WebP, beyond the limits) with a message naming the
 * problem — never a crash. */
#ifndef G4_MMIO_IMAGE_IO_H
#define G4_MMIO_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "g4.h"

#define G4_IMAGE_MAX_SIDE 32768                  /* pixels per side */
#define G4_IMAGE_MAX_PIXELS ((int64_t)1 << 26)   /* 64 Mpx (67,108,864 pixels) */
#define G4_IMAGE_MAX_FILE_BYTES ((size_t)1 << 28) /* 256 MiB: g4_image_load refuses larger files */

typedef struct {
    int w, h;     /* pixels */
    uint8_t *rgb; /* [h][w][3], row-major, owned: g4_image_free */
} g4_image;

/* Decodes an image held in memory (flags 0: alpha on white, EXIF applied). On failure
 * *out is {0, 0, NULL}. */
g4_status g4_image_decode(const void *bytes, size_t n, g4_image *out, g4_error *err);
/* Reads and decodes a file; error messages are prefixed with the path. */
g4_status g4_image_load(const char *path, g4_image *out, g4_error *err);

/* Decoding choices (bit flags). The default (0) composites transparency on white and
 * applies the EXIF orientation. Hugging Face's Gemma 4 processor (PIL convert("RGB"))
 * and llama.cpp (stb with 3 channels) both DROP alpha, keeping whatever colour the
 * transparent pixels store; llama.cpp also ignores EXIF orientation. */
enum {
    G4_DECODE_DROP_ALPHA = 1u << 0,  /* keep the stored RGB of transparent pixels */
    G4_DECODE_IGNORE_EXIF = 1u << 1, /* do not rotate/flip by the EXIF orientation */
    G4_DECODE_LLAMACPP = G4_DECODE_DROP_ALPHA | G4_DECODE_IGNORE_EXIF /* stbi_load(..., 3) */
};
g4_status g4_image_decode_ex(const void *bytes, size_t n, unsigned flags, g4_image *out,
                             g4_error *err);
g4_status g4_image_load_ex(const char *path, unsigned flags, g4_image *out, g4_error *err);
/* Frees the pixels and zeroes *img; NULL is a no-op. */
void g4_image_free(g4_image *img);

/* "png", "jpeg", "bmp", "gif", "webp" from the signature, or NULL if none matches. */
const char *g4_image_sniff(const void *bytes, size_t n);

#endif
