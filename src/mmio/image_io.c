/* image_io.c — image decoding for g4mmio: signature sniffing, size limits, stb_image
 * (PNG/JPEG/BMP/GIF) and libwebp, EXIF orientation (parsed here, bounds-checked: stb does
 * not apply it), alpha compositing on white. Preprocessing for the model is
 * src/mm/image.c. */
#include "mmio/image_io.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/status.h"

/* No single allocation inside a decoder may exceed this: it bounds what a decompression
 * bomb (a tiny PNG whose zlib stream inflates forever) can make stb allocate. A 64 Mpx
 * 16-bit RGBA PNG needs ~512 MiB of raw scanlines. */
#define MAX_DECODER_ALLOC ((size_t)1 << 30)

#if defined(G4_HAVE_STB)
/* calloc: stb v2.27 can read tables a file never defined (uninitialised memory otherwise). */
static void *stb_malloc_capped(size_t n) { return n > MAX_DECODER_ALLOC ? NULL : calloc(1, n); }
static void *stb_realloc_capped(void *p, size_t n) {
    return n > MAX_DECODER_ALLOC ? NULL : realloc(p, n);
}
#define STBI_MALLOC(sz) stb_malloc_capped(sz)
#define STBI_REALLOC(p, sz) stb_realloc_capped(p, sz)
#define STBI_FREE(p) free(p)
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS G4_IMAGE_MAX_SIDE
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
/* With STB_IMAGE_STATIC, stb v2.27 declares stbi_set_unpremultiply_on_load_thread static
 * but never defines it; GCC reports that at the end of the file, so the warning stays off
 * for the rest of this file. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>
#endif

#if defined(G4_HAVE_WEBP)
#include <webp/decode.h>
#endif

/* ==== signatures ==== */

typedef enum { FMT_NONE = 0, FMT_PNG, FMT_JPEG, FMT_BMP, FMT_GIF, FMT_WEBP } img_fmt;

static img_fmt sniff(const uint8_t *p, size_t n) {
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return FMT_PNG;
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return FMT_JPEG;
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return FMT_BMP;
    if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) return FMT_GIF;
    if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) return FMT_WEBP;
    return FMT_NONE;
}

static const char *fmt_name(img_fmt f) {
    switch (f) {
    case FMT_PNG: return "png";
    case FMT_JPEG: return "jpeg";
    case FMT_BMP: return "bmp";
    case FMT_GIF: return "gif";
    case FMT_WEBP: return "webp";
    case FMT_NONE: break;
    }
    return NULL;
}

const char *g4_image_sniff(const void *bytes, size_t n) {
    return bytes ? fmt_name(sniff(bytes, n)) : NULL;
}

/* ==== EXIF orientation ==== */

static unsigned rd16(const uint8_t *p, bool le) {
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}
static uint32_t rd32(const uint8_t *p, bool le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The Orientation tag (0x0112, SHORT) of IFD0 in a TIFF structure ("II*\0" / "MM\0*"),
 * optionally preceded by "Exif\0\0". Returns 1..8, or 1 when absent or malformed. */
static int tiff_orientation(const uint8_t *p, size_t n) {
    if (n >= 6 && !memcmp(p, "Exif\0\0", 6)) {
        p += 6;
        n -= 6;
    }
    if (n < 8) return 1;
    bool le;
    if (p[0] == 'I' && p[1] == 'I') le = true;
    else if (p[0] == 'M' && p[1] == 'M') le = false;
    else return 1;
    if (rd16(p + 2, le) != 42) return 1;
    uint32_t ifd = rd32(p + 4, le);
    if (ifd > n - 2) return 1;
    unsigned count = rd16(p + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e > n || n - e < 12) break;
        if (rd16(p + e, le) != 0x0112) continue;
        unsigned type = rd16(p + e + 2, le);
        uint32_t cnt = rd32(p + e + 4, le);
        if (type != 3 || cnt < 1) return 1; /* SHORT, value stored inline */
        unsigned v = rd16(p + e + 8, le);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* JPEG: walk the marker segments before the first scan for an APP1 "Exif" segment. */
static int jpeg_orientation(const uint8_t *p, size_t n) {
    size_t pos = 2;
    while (pos + 4 <= n) {
        if (p[pos] != 0xFF) break;
        uint8_t m = p[pos + 1];
        if (m == 0xFF) { /* fill byte */
            pos++;
            continue;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { /* standalone markers */
            pos += 2;
            continue;
        }
        if (m == 0xDA || m == 0xD9) break; /* start of scan / end of image */
        size_t len = rd16(p + pos + 2, false);
        if (len < 2 || len > n - pos - 2) break;
        if (m == 0xE1 && len >= 2 + 6 && !memcmp(p + pos + 4, "Exif\0\0", 6))
            return tiff_orientation(p + pos + 4, len - 2);
        pos += 2 + len;
    }
    return 1;
}

/* PNG: an eXIf chunk anywhere before IEND. */
static int png_orientation(const uint8_t *p, size_t n) {
    size_t pos = 8;
    while (pos + 12 <= n) {
        size_t len = rd32(p + pos, false);
        const uint8_t *type = p + pos + 4;
        if (len > n - pos - 12) break;
        if (!memcmp(type, "eXIf", 4)) return tiff_orientation(p + pos + 8, len);
        if (!memcmp(type, "IEND", 4)) break;
        pos += 12 + len;
    }
    return 1;
}

/* WebP: an EXIF chunk of the RIFF container. */
static int webp_orientation(const uint8_t *p, size_t n) {
    size_t pos = 12;
    while (pos + 8 <= n) {
        size_t len = rd32(p + pos + 4, true);
        if (len > n - pos - 8) break;
        if (!memcmp(p + pos, "EXIF", 4)) return tiff_orientation(p + pos + 8, len);
        pos += 8 + len + (len & 1);
    }
    return 1;
}

/* Applies orientation o (EXIF 1..8) to img, producing the upright image. Output pixel
 * (x, y) of the upright image takes source pixel (sx, sy):
 *   2 mirror: (w-1-x, y)   3 rotate 180: (w-1-x, h-1-y)   4 flip: (x, h-1-y)
 *   5 transpose: (y, x)    6 rotate 90 CW: (y, h-1-x)     7 transverse: (w-1-y, h-1-x)
 *   8 rotate 90 CCW: (w-1-y, x)        (5-8 swap width and height) */
static g4_status orient(g4_image *img, int o, g4_error *err) {
    if (o <= 1 || o > 8) return G4_OK;
    const int w = img->w, h = img->h;
    const bool swap = o >= 5;
    const int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *dst = malloc((size_t)w * h * 3);
    if (!dst) return g4_fail(err, G4_ERR_NOMEM, "image: out of memory");
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            default: sx = w - 1 - y; sy = x; break; /* 8 */
            }
            memcpy(dst + ((size_t)y * ow + x) * 3, img->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    free(img->rgb);
    img->rgb = dst;
    img->w = ow;
    img->h = oh;
    return G4_OK;
}

/* ==== JPEG pre-check ==== */

/* Checks stb_image v2.27 (Debian's libstb-dev) needs before it sees a JPEG:
 *  - it builds a Huffman table from the 16 code-length counts without checking that they
 *    add up to at most 256 symbols, writing past its 257-entry array when they do; and
 *    its decoder uses 255 as "no fast entry", so the 256th symbol is mis-decoded: at most
 *    255 symbols per table are accepted (real tables have at most 162 for 8-bit data);
 *  - it decodes a scan with whatever Huffman table slot the scan header names, defined
 *    or not, and an undefined slot makes it index its symbol arrays out of bounds
 *    (stb's allocations are also zeroed, see stb_malloc_capped).
 * Every DHT and SOS segment of the file is checked (DHT may also follow the first scan in
 * progressive files). Markers are walked as stb walks them, skipping entropy-coded data
 * (where a marker is 0xFF followed by anything but 0x00, 0xFF or RSTn). Returns false
 * with a reason for a file stb must not see. */
static bool jpeg_tables_ok(const uint8_t *p, size_t n, const char **why) {
    bool defined[2][4] = {{false}}, progressive = false;
    size_t pos = 2;
    while (pos + 4 <= n) {
        if (p[pos] != 0xFF) { /* entropy-coded data: find the next marker */
            pos++;
            continue;
        }
        uint8_t m = p[pos + 1];
        if (m == 0x00 || m == 0xFF || (m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0xD8) {
            pos += m == 0xFF ? 1 : 2;
            continue;
        }
        if (m == 0xD9) break;
        size_t len = rd16(p + pos + 2, false);
        if ((m == 0xC4 || m == 0xDA) && (len < 2 || len > n - pos - 2)) {
            *why = m == 0xC4 ? "truncated Huffman table" : "truncated scan header";
            return false; /* stb would read zeros past the end */
        }
        if (len < 2 || len > n - pos - 2) break; /* truncated: stb reports it */
        const uint8_t *d = p + pos + 4;
        size_t left = len - 2;
        if (m == 0xC2) progressive = true; /* stb: SOF2; SOF0/SOF1 are sequential */
        if (m == 0xC4) {
            while (left > 0) {
                if (left < 17) {
                    *why = "truncated Huffman table";
                    return false;
                }
                unsigned total = 0;
                for (int i = 1; i <= 16; i++) total += d[i];
                if (total > 255 || total > left - 17) {
                    *why = "corrupt Huffman table";
                    return false;
                }
                if ((d[0] >> 4) <= 1 && (d[0] & 15) <= 3) defined[d[0] >> 4][d[0] & 15] = true;
                d += 17 + total;
                left -= 17 + total;
            }
        } else if (m == 0xDA) {
            unsigned ns = left >= 1 ? d[0] : 0;
            if (ns < 1 || ns > 4 || left != 4 + 2 * (size_t)ns) {
                *why = "corrupt scan header";
                return false;
            }
            unsigned ss = d[1 + 2 * ns], se = d[2 + 2 * ns], ah = d[3 + 2 * ns] >> 4;
            for (unsigned i = 0; i < ns; i++) {
                unsigned td = d[2 + 2 * i] >> 4, ta = d[2 + 2 * i] & 15;
                /* sequential scans always use both tables (stb forces the end to 63) */
                bool need_dc = !progressive || (ss == 0 && ah == 0), need_ac = !progressive || se > 0;
                if ((need_dc && td <= 3 && !defined[0][td]) || (need_ac && ta <= 3 && !defined[1][ta])) {
                    *why = "scan uses an undefined Huffman table";
                    return false;
                }
            }
        }
        pos += 2 + len;
    }
    return true;
}

/* ==== PNG pre-check ==== */

/* A zero-length IDAT chunk is legal, but stb v2.27 then memcpy()s 0 bytes to a NULL
 * buffer (undefined behaviour that sanitizers stop on). Returns a copy of the file
 * without such chunks, or NULL when there are none (or on allocation failure, *oom). */
static uint8_t *png_drop_empty_idat(const uint8_t *p, size_t n, size_t *n_out, bool *oom) {
    size_t pos = 8, n_empty = 0;
    while (pos + 8 <= n) { /* stb acts on a chunk header before it reads the CRC */
        size_t len = rd32(p + pos, false);
        if (len == 0 && !memcmp(p + pos + 4, "IDAT", 4)) n_empty++;
        if (n - pos < 12 || len > n - pos - 12) break;
        pos += 12 + len;
    }
    if (!n_empty) return NULL;
    uint8_t *q = malloc(n);
    if (!q) {
        *oom = true;
        return NULL;
    }
    memcpy(q, p, 8);
    size_t o = 8;
    pos = 8;
    while (pos + 8 <= n) {
        size_t len = rd32(p + pos, false), chunk = n - pos < 12 ? n - pos : 12 + len;
        if (chunk > n - pos) break;
        if (len != 0 || memcmp(p + pos + 4, "IDAT", 4)) {
            memcpy(q + o, p + pos, chunk);
            o += chunk;
        }
        pos += chunk;
    }
    memcpy(q + o, p + pos, n - pos); /* whatever trails (a truncated chunk) */
    *n_out = o + (n - pos);
    return q;
}

/* ==== declared size (for a precise message when stb refuses the header) ==== */

/* The width and height the header claims, or false if it cannot be read. */
static bool declared_size(const uint8_t *p, size_t n, img_fmt f, int64_t *w, int64_t *h) {
    switch (f) {
    case FMT_PNG:
        if (n < 24 || memcmp(p + 12, "IHDR", 4)) return false;
        *w = rd32(p + 16, false);
        *h = rd32(p + 20, false);
        return true;
    case FMT_GIF:
        if (n < 10) return false;
        *w = rd16(p + 6, true);
        *h = rd16(p + 8, true);
        return true;
    case FMT_BMP: {
        if (n < 26) return false;
        uint32_t hs = rd32(p + 14, true);
        if (hs == 12) {
            *w = rd16(p + 18, true);
            *h = rd16(p + 20, true);
            return true;
        }
        int32_t sh = (int32_t)rd32(p + 22, true);
        *w = (int32_t)rd32(p + 18, true);
        *h = sh < 0 ? -(int64_t)sh : sh;
        return true;
    }
    case FMT_JPEG: {
        size_t pos = 2;
        while (pos + 4 <= n && p[pos] == 0xFF) {
            uint8_t m = p[pos + 1];
            if (m == 0xFF || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
                pos += m == 0xFF ? 1 : 2;
                continue;
            }
            if (m == 0xDA || m == 0xD9) return false;
            size_t len = rd16(p + pos + 2, false);
            if (len < 2 || len > n - pos - 2) return false;
            bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
            if (sof) {
                if (len < 7) return false;
                *h = rd16(p + pos + 5, false);
                *w = rd16(p + pos + 7, false);
                return true;
            }
            pos += 2 + len;
        }
        return false;
    }
    default: return false;
    }
}

/* ==== decoding ==== */

static g4_status check_dims(const char *fmt, int64_t w, int64_t h, g4_error *err) {
    if (w <= 0 || h <= 0)
        return g4_fail(err, G4_ERR_FORMAT, "%s: empty image (%lldx%lld)", fmt, (long long)w,
                       (long long)h);
    if (w > G4_IMAGE_MAX_SIDE || h > G4_IMAGE_MAX_SIDE)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "%s: %lldx%lld is too large (at most %d px per side)",
                       fmt, (long long)w, (long long)h, G4_IMAGE_MAX_SIDE);
    if (w * h > G4_IMAGE_MAX_PIXELS)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "%s: %lldx%lld is too large (at most %lld pixels)",
                       fmt, (long long)w, (long long)h, (long long)G4_IMAGE_MAX_PIXELS);
    return G4_OK;
}

/* RGBA8 -> RGB8 over an opaque white background: c' = (c*a + 255*(255-a)) / 255, rounded;
 * or, with drop_alpha, the stored colour as it is. */
static void rgba_to_rgb(const uint8_t *rgba, size_t n_px, bool drop_alpha, uint8_t *rgb) {
    for (size_t i = 0; i < n_px; i++) {
        const uint8_t *s = rgba + i * 4;
        unsigned a = drop_alpha ? 255 : s[3];
        for (int c = 0; c < 3; c++)
            rgb[i * 3 + c] = (uint8_t)(a == 255 ? s[c] : (s[c] * a + 255u * (255u - a) + 127u) / 255u);
    }
}

static g4_status finish_rgba(const uint8_t *rgba, int w, int h, unsigned flags, g4_image *out,
                             g4_error *err) {
    uint8_t *rgb = malloc((size_t)w * h * 3);
    if (!rgb) return g4_fail(err, G4_ERR_NOMEM, "image: out of memory for %dx%d pixels", w, h);
    rgba_to_rgb(rgba, (size_t)w * h, (flags & G4_DECODE_DROP_ALPHA) != 0, rgb);
    out->w = w;
    out->h = h;
    out->rgb = rgb;
    return G4_OK;
}

#if defined(G4_HAVE_STB)
static g4_status decode_stb(const uint8_t *p, size_t n, img_fmt f, unsigned flags, g4_image *out,
                            g4_error *err) {
    const char *name = fmt_name(f), *why = NULL;
    if (n > INT_MAX) return g4_fail(err, G4_ERR_UNSUPPORTED, "%s: file too large", name);
    /* inputs stb v2.27 mishandles, checked before stb sees any byte (stbi_info too) */
    if (f == FMT_JPEG && !jpeg_tables_ok(p, n, &why))
        return g4_fail(err, G4_ERR_FORMAT, "jpeg: %s", why);
    uint8_t *copy = NULL;
    if (f == FMT_PNG) {
        bool oom = false;
        size_t n2 = 0;
        copy = png_drop_empty_idat(p, n, &n2, &oom);
        if (oom) return g4_fail(err, G4_ERR_NOMEM, "png: out of memory");
        if (copy) {
            p = copy;
            n = n2;
        }
    }
    g4_status st = G4_OK;
    uint8_t *rgba = NULL;
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(p, (int)n, &w, &h, &comp)) {
        /* stb tries every format and reports the last one's complaint: say what the
         * header declares if that is the reason (0 or beyond the limits) */
        int64_t dw, dh;
        if (declared_size(p, n, f, &dw, &dh)) st = check_dims(name, dw, dh, err);
        if (st == G4_OK) {
            why = stbi_failure_reason();
            st = g4_fail(err, G4_ERR_FORMAT, "%s: cannot read the header (%s)", name,
                         why ? why : "corrupt");
        }
        goto done;
    }
    if ((st = check_dims(name, w, h, err)) != G4_OK) goto done;
    int w2 = 0, h2 = 0;
    rgba = stbi_load_from_memory(p, (int)n, &w2, &h2, &comp, 4);
    if (!rgba) {
        why = stbi_failure_reason();
        st = g4_fail(err, why && !strcmp(why, "outofmem") ? G4_ERR_NOMEM : G4_ERR_FORMAT,
                     "%s: cannot decode (%s)", name, why ? why : "corrupt");
        goto done;
    }
    if (w2 != w || h2 != h) st = check_dims(name, w2, h2, err);
    if (st == G4_OK) st = finish_rgba(rgba, w2, h2, flags, out, err);
done:
    if (rgba) stbi_image_free(rgba);
    free(copy);
    return st;
}
#endif

#if defined(G4_HAVE_WEBP)
static g4_status decode_webp(const uint8_t *p, size_t n, unsigned flags, g4_image *out,
                             g4_error *err) {
    WebPBitstreamFeatures ft;
    if (WebPGetFeatures(p, n, &ft) != VP8_STATUS_OK)
        return g4_fail(err, G4_ERR_FORMAT, "webp: cannot read the header");
    if (ft.has_animation)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "webp: animated WebP is not supported");
    g4_status st = check_dims("webp", ft.width, ft.height, err);
    if (st != G4_OK) return st;
    size_t size = (size_t)ft.width * ft.height * 4;
    uint8_t *rgba = malloc(size);
    if (!rgba) return g4_fail(err, G4_ERR_NOMEM, "webp: out of memory");
    if (!WebPDecodeRGBAInto(p, n, rgba, size, ft.width * 4)) {
        free(rgba);
        return g4_fail(err, G4_ERR_FORMAT, "webp: cannot decode (corrupt or truncated)");
    }
    st = finish_rgba(rgba, ft.width, ft.height, flags, out, err);
    free(rgba);
    return st;
}
#endif

g4_status g4_image_decode(const void *bytes, size_t n, g4_image *out, g4_error *err) {
    return g4_image_decode_ex(bytes, n, 0, out, err);
}

g4_status g4_image_decode_ex(const void *bytes, size_t n, unsigned flags, g4_image *out,
                             g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "image: no output");
    memset(out, 0, sizeof *out);
    if (!bytes || n == 0) return g4_fail(err, G4_ERR_FORMAT, "image: empty input");
    const uint8_t *p = bytes;
    img_fmt f = sniff(p, n);
    if (f == FMT_NONE)
        return g4_fail(err, G4_ERR_UNSUPPORTED,
                       "image: unknown format (expected PNG, JPEG, BMP, GIF or WebP)");
    g4_status st;
    int o = 1;
    if (f == FMT_WEBP) {
#if defined(G4_HAVE_WEBP)
        st = decode_webp(p, n, flags, out, err);
        if (st == G4_OK && !(flags & G4_DECODE_IGNORE_EXIF)) o = webp_orientation(p, n);
#else
        return g4_fail(err, G4_ERR_UNSUPPORTED, "webp: built without libwebp");
#endif
    } else {
#if defined(G4_HAVE_STB)
        st = decode_stb(p, n, f, flags, out, err);
        if (st == G4_OK && !(flags & G4_DECODE_IGNORE_EXIF)) {
            if (f == FMT_JPEG) o = jpeg_orientation(p, n);
            else if (f == FMT_PNG) o = png_orientation(p, n);
        }
#else
        return g4_fail(err, G4_ERR_UNSUPPORTED, "%s: built without stb_image (install libstb-dev)",
                       fmt_name(f));
#endif
    }
    if (st == G4_OK) st = orient(out, o, err);
    if (st != G4_OK) g4_image_free(out);
    return st;
}

g4_status g4_image_load(const char *path, g4_image *out, g4_error *err) {
    return g4_image_load_ex(path, 0, out, err);
}

g4_status g4_image_load_ex(const char *path, unsigned flags, g4_image *out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "image: no output");
    memset(out, 0, sizeof *out);
    if (!path) return g4_fail(err, G4_ERR_ARG, "image: no path");
    FILE *f = fopen(path, "rb");
    if (!f) return g4_fail(err, G4_ERR_IO, "%s: cannot open", path);
    struct stat sb;
    uint8_t *buf = NULL;
    g4_status st = G4_OK;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = g4_fail(err, G4_ERR_IO, "%s: not a regular file", path);
    } else if ((uint64_t)sb.st_size > G4_IMAGE_MAX_FILE_BYTES) {
        st = g4_fail(err, G4_ERR_UNSUPPORTED, "%s: file of %lld bytes is too large (at most %zu)",
                     path, (long long)sb.st_size, G4_IMAGE_MAX_FILE_BYTES);
    } else if (sb.st_size == 0) {
        st = g4_fail(err, G4_ERR_FORMAT, "%s: empty file", path);
    } else {
        size_t n = (size_t)sb.st_size;
        buf = malloc(n);
        if (!buf) st = g4_fail(err, G4_ERR_NOMEM, "%s: out of memory", path);
        else if (fread(buf, 1, n, f) != n) st = g4_fail(err, G4_ERR_IO, "%s: read failed", path);
        else {
            st = g4_image_decode_ex(buf, n, flags, out, err);
            if (st != G4_OK) g4_error_prefix(err, "%s", path);
        }
    }
    free(buf);
    fclose(f);
    return st;
}

void g4_image_free(g4_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}
