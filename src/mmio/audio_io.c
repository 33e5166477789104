/* audio_io.c — decode audio (libsndfile), average the channels to mono, resample to
 * 16 kHz (llama.cpp's linear + Butterworth path, implemented here, or libsamplerate's
 * sinc). Owns nothing of the model: the frames and tokens are src/mm/audio.c's.
 *
 * Sections: resampling, libsndfile glue (virtual I/O, validation, the read loop),
 * public entry points. */
#include "audio_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/status.h"

#ifdef G4_HAVE_SNDFILE
#include <sndfile.h>
#endif
#ifdef G4_HAVE_SAMPLERATE
#include <samplerate.h>
#endif

#define OUT_RATE_DEFAULT 16000
#define MAX_SECONDS_DEFAULT 1800.0
#define MAX_BYTES_DEFAULT ((uint64_t)512 << 20)
#define RATE_MIN 1000
#define RATE_MAX 768000
#define MAX_CHANNELS 64
#define READ_CHUNK 4096 /* frames per sf_readf_float call */

static const double PI = 3.14159265358979323846;

g4_audio_decode_opts g4_audio_decode_opts_default(void) {
    g4_audio_decode_opts o;
    memset(&o, 0, sizeof o);
    o.sample_rate = OUT_RATE_DEFAULT;
    o.max_seconds = MAX_SECONDS_DEFAULT;
    o.max_bytes = MAX_BYTES_DEFAULT;
    o.resampler = G4_AUDIO_RESAMPLE_LLAMACPP;
    return o;
}

/* opts with the zero fields replaced by the defaults, validated */
static g4_status resolve_opts(const g4_audio_decode_opts *in, g4_audio_decode_opts *o,
                              g4_error *err) {
    *o = in ? *in : g4_audio_decode_opts_default();
    if (o->sample_rate == 0) o->sample_rate = OUT_RATE_DEFAULT;
    if (o->max_seconds == 0) o->max_seconds = MAX_SECONDS_DEFAULT;
    if (o->max_bytes == 0) o->max_bytes = MAX_BYTES_DEFAULT;
    if (o->sample_rate < RATE_MIN || o->sample_rate > RATE_MAX)
        return g4_fail(err, G4_ERR_ARG, "audio: output sample rate %d Hz outside [%d, %d]",
                       (int)o->sample_rate, RATE_MIN, RATE_MAX);
    if (!(o->max_seconds > 0) || !isfinite(o->max_seconds))
        return g4_fail(err, G4_ERR_ARG, "audio: max_seconds %g must be positive", o->max_seconds);
    if (o->resampler != G4_AUDIO_RESAMPLE_SINC && o->resampler != G4_AUDIO_RESAMPLE_LLAMACPP)
        return g4_fail(err, G4_ERR_ARG, "audio: unknown resampler %d", (int)o->resampler);
    return G4_OK;
}

/* ======================================================================================
 * Resampling, streamed: the decoder feeds chunks, so memory holds only the 16 kHz output
 * (at most max_seconds of it) whatever the input rate.
 * ====================================================================================== */

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int64_t g4_audio_resampled_length(int64_t n_in, int32_t rate_in, int32_t rate_out) {
    if (n_in < 0 || rate_in <= 0 || rate_out <= 0) return -1;
    if (rate_in == rate_out) return n_in;
    int64_t g = gcd64(rate_in, rate_out), ri = rate_in / g, ro = rate_out / g;
    if (n_in > (INT64_MAX - ri) / ro) return -1;
    return (n_in * ro + ri - 1) / ri;
}

bool g4_audio_resampler_available(g4_audio_resampler mode) {
    if (mode == G4_AUDIO_RESAMPLE_LLAMACPP) return true;
#ifdef G4_HAVE_SAMPLERATE
    return mode == G4_AUDIO_RESAMPLE_SINC;
#else
    return false;
#endif
}

/* A growable float array (the output). */
typedef struct {
    float *p;
    int64_t n, cap;
} fbuf;

static bool fbuf_reserve(fbuf *b, int64_t extra) {
    if (extra <= b->cap - b->n) return true;
    if (extra > INT64_MAX / 2 - b->n) return false;
    int64_t nc = b->cap ? b->cap : 16384;
    while (nc < b->n + extra) nc *= 2;
    if ((uint64_t)nc > SIZE_MAX / sizeof(float)) return false;
    float *t = realloc(b->p, (size_t)nc * sizeof *t);
    if (!t) return false;
    b->p = t;
    b->cap = nc;
    return true;
}

/* A second-order low-pass section (RBJ cookbook), transposed direct form II, float state
 * and coefficients as miniaudio keeps them for f32 audio. */
typedef struct {
    float b0, b1, b2, a1, a2, z1, z2;
} biquad;

static void biquad_lowpass(biquad *f, double cutoff, double rate, double q) {
    double w = 2.0 * PI * cutoff / rate, s = sin(w), c = cos(w), alpha = s / (2.0 * q);
    double a0 = 1.0 + alpha;
    f->b0 = (float)((1.0 - c) / 2.0 / a0);
    f->b1 = (float)((1.0 - c) / a0);
    f->b2 = f->b0;
    f->a1 = (float)(-2.0 * c / a0);
    f->a2 = (float)((1.0 - alpha) / a0);
    f->z1 = f->z2 = 0.0f;
}

static inline float biquad_run(biquad *f, float x) {
    float y = f->b0 * x + f->z1;
    f->z1 = f->b1 * x - f->a1 * y + f->z2;
    f->z2 = f->b2 * x - f->a2 * y;
    return y;
}

typedef struct {
    g4_audio_resampler mode;
    bool same;                      /* equal rates: copy */
    int32_t rate_in, rate_out;
    /* LLAMACPP */
    bool down;
    biquad lp[2];
    int64_t ro, adv_int, adv_frac, t_int, t_frac;
    float x0, x1;
#ifdef G4_HAVE_SAMPLERATE
    SRC_STATE *src;                 /* SINC */
#endif
} resampler;

static g4_status rs_init(resampler *r, int32_t rate_in, int32_t rate_out, g4_audio_resampler mode,
                         g4_error *err) {
    memset(r, 0, sizeof *r);
    if (rate_in < RATE_MIN || rate_in > RATE_MAX || rate_out < RATE_MIN || rate_out > RATE_MAX)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "audio: resampling %d -> %d Hz: rates must be in [%d, %d]",
                       (int)rate_in, (int)rate_out, RATE_MIN, RATE_MAX);
    r->mode = mode;
    r->rate_in = rate_in;
    r->rate_out = rate_out;
    r->same = rate_in == rate_out;
    if (r->same) return G4_OK;
    if (mode == G4_AUDIO_RESAMPLE_LLAMACPP) {
        /* llama.cpp's path (miniaudio's linear resampler with its default 4th-order
         * low-pass): output k interpolates between inputs floor(t)-1 and floor(t),
         * t = k*rate_in/rate_out (the first output is the zero "before" sample 0), time
         * kept as an exact fraction of the gcd-reduced rates. The Butterworth sections
         * (Q = 1/(2 sin(3pi/8)), then 1/(2 sin(pi/8))) filter each input sample when
         * downsampling and each output sample when upsampling, cut off at half the lower
         * rate. */
        const int64_t g = gcd64(rate_in, rate_out), ri = rate_in / g;
        r->ro = rate_out / g;
        r->down = rate_in > rate_out;
        const double cutoff = 0.5 * (r->down ? rate_out : rate_in), frate = r->down ? rate_in : rate_out;
        biquad_lowpass(&r->lp[0], cutoff, frate, 0.5 / sin(3.0 * PI / 8.0));
        biquad_lowpass(&r->lp[1], cutoff, frate, 0.5 / sin(PI / 8.0));
        r->adv_int = ri / r->ro;
        r->adv_frac = ri % r->ro;
        r->t_int = 1;
        return G4_OK;
    }
    if (mode != G4_AUDIO_RESAMPLE_SINC) return g4_fail(err, G4_ERR_ARG, "audio: unknown resampler %d", (int)mode);
#ifdef G4_HAVE_SAMPLERATE
    int e = 0;
    r->src = src_new(SRC_SINC_MEDIUM_QUALITY, 1, &e);
    if (!r->src)
        return g4_fail(err, G4_ERR_NOMEM, "audio: cannot set up the resampler: %s", src_strerror(e));
    return G4_OK;
#else
    return g4_fail(err, G4_ERR_UNSUPPORTED,
                   "audio: resampling %d -> %d Hz with the sinc resampler needs libsamplerate, "
                   "which this build lacks (use the llamacpp resampler or %d Hz input)",
                   (int)rate_in, (int)rate_out, (int)rate_out);
#endif
}

static void rs_free(resampler *r) {
#ifdef G4_HAVE_SAMPLERATE
    if (r->src) src_delete(r->src);
    r->src = NULL;
#else
    (void)r;
#endif
}

/* Appends the output for in [n] (mono) to out; last = no more input (flushes the sinc
 * filter). Outputs are emitted as soon as their inputs are in. */
static g4_status rs_feed(resampler *r, const float *in, int64_t n, bool last, fbuf *out, g4_error *err) {
    const char *oom = "audio: out of memory for the resampled samples";
    if (r->same) {
        if (!fbuf_reserve(out, n)) return g4_fail(err, G4_ERR_NOMEM, "%s", oom);
        if (n) memcpy(out->p + out->n, in, (size_t)n * sizeof *in);
        out->n += n;
        return G4_OK;
    }
    if (r->mode == G4_AUDIO_RESAMPLE_LLAMACPP) {
        int64_t i = 0;
        for (;;) {
            for (; r->t_int > 0 && i < n; r->t_int--) {
                r->x0 = r->x1;
                r->x1 = in[i++];
                if (r->down) r->x1 = biquad_run(&r->lp[1], biquad_run(&r->lp[0], r->x1));
            }
            if (r->t_int > 0) break; /* needs the next chunk */
            const float a = (float)r->t_frac / (float)r->ro;
            float y = r->x0 + (r->x1 - r->x0) * a;
            if (!r->down) y = biquad_run(&r->lp[1], biquad_run(&r->lp[0], y));
            if (!fbuf_reserve(out, 1)) return g4_fail(err, G4_ERR_NOMEM, "%s", oom);
            out->p[out->n++] = y;
            r->t_int += r->adv_int;
            r->t_frac += r->adv_frac;
            if (r->t_frac >= r->ro) {
                r->t_frac -= r->ro;
                r->t_int++;
            }
        }
        return G4_OK;
    }
#ifdef G4_HAVE_SAMPLERATE
    const double ratio = (double)r->rate_out / (double)r->rate_in;
    static const float none[1] = {0.0f};
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.data_in = in ? in : none;
    d.src_ratio = ratio;
    d.end_of_input = last;
    int64_t left = n;
    for (;;) {
        int64_t room = (int64_t)((double)(left < 65536 ? left : 65536) * ratio) + 256;
        if (!fbuf_reserve(out, room)) return g4_fail(err, G4_ERR_NOMEM, "%s", oom);
        d.input_frames = (long)(left < 65536 ? left : 65536);
        d.data_out = out->p + out->n;
        d.output_frames = (long)room;
        int e = src_process(r->src, &d);
        if (e) return g4_fail(err, G4_ERR_UNSUPPORTED, "audio: resampling failed: %s", src_strerror(e));
        out->n += d.output_frames_gen;
        left -= d.input_frames_used;
        d.data_in += d.input_frames_used;
        if (left == 0 && (!last || d.output_frames_gen == 0)) break;
    }
    return G4_OK;
#else
    (void)in, (void)n, (void)last, (void)out;
    return g4_fail(err, G4_ERR_UNSUPPORTED, "audio: no sinc resampler in this build");
#endif
}

/* Ends a stream: exactly g4_audio_resampled_length(n_in) samples (the sinc filter may
 * deliver a sample more or less; a short tail is zero filled). */
static g4_status rs_finish(resampler *r, int64_t n_in, fbuf *out, g4_error *err) {
    g4_status st = rs_feed(r, NULL, 0, true, out, err);
    if (st) return st;
    int64_t want = g4_audio_resampled_length(n_in, r->rate_in, r->rate_out);
    if (want < 0) return g4_fail(err, G4_ERR_ARG, "audio: %lld samples are too many", (long long)n_in);
    if (out->n < want) {
        if (!fbuf_reserve(out, want - out->n))
            return g4_fail(err, G4_ERR_NOMEM, "audio: out of memory for the resampled samples");
        memset(out->p + out->n, 0, (size_t)(want - out->n) * sizeof *out->p);
    }
    out->n = want;
    return G4_OK;
}

g4_status g4_audio_resample(const float *in, int64_t n_in, int32_t rate_in, int32_t rate_out,
                            g4_audio_resampler mode, float *out, g4_error *err) {
    if (n_in <= 0 || !in || !out) return g4_fail(err, G4_ERR_ARG, "audio: nothing to resample");
    if (g4_audio_resampled_length(n_in, rate_in, rate_out) < 0)
        return g4_fail(err, G4_ERR_ARG, "audio: %lld samples are too many to resample", (long long)n_in);
    resampler r;
    fbuf b = {0};
    g4_status st = rs_init(&r, rate_in, rate_out, mode, err);
    if (!st) st = rs_feed(&r, in, n_in, false, &b, err);
    if (!st) st = rs_finish(&r, n_in, &b, err);
    if (!st) memcpy(out, b.p, (size_t)b.n * sizeof *out);
    rs_free(&r);
    free(b.p);
    return st;
}

/* ======================================================================================
 * libsndfile glue
 * ====================================================================================== */

void g4_pcm_free(g4_pcm *p) {
    if (!p) return;
    free(p->samples);
    memset(p, 0, sizeof *p);
}

#ifdef G4_HAVE_SNDFILE

/* The containers we let libsndfile decode: the common ones. Its exotic formats (PAF,
 * SD2, MAT, ...) are rarely fed to a model and are the least exercised parsers.
 * SF_FORMAT_MPEG (libsndfile >= 1.1) is an enum constant, not a macro, so older headers
 * cannot be detected at compile time: use its (ABI-stable) value; whether the library
 * knows it is asked at run time (g4_audio_format_available). */
#define FORMAT_MPEG 0x230000
static const struct {
    const char *name;
    int major;
} FORMATS[] = {
    {"wav", SF_FORMAT_WAV},   {"wav", SF_FORMAT_WAVEX}, {"rf64", SF_FORMAT_RF64},
    {"w64", SF_FORMAT_W64},   {"aiff", SF_FORMAT_AIFF}, {"caf", SF_FORMAT_CAF},
    {"flac", SF_FORMAT_FLAC}, {"ogg", SF_FORMAT_OGG},   {"mp3", FORMAT_MPEG},
};
#define N_FORMATS (sizeof FORMATS / sizeof FORMATS[0])

static bool major_accepted(int major) {
    for (size_t i = 0; i < N_FORMATS; i++)
        if (FORMATS[i].major == major) return true;
    return false;
}

/* libsndfile's name for a major or subtype format (SFC_GET_FORMAT_INFO) */
static const char *format_name(int fmt) {
    SF_FORMAT_INFO fi;
    memset(&fi, 0, sizeof fi);
    fi.format = fmt;
    if (sf_command(NULL, SFC_GET_FORMAT_INFO, &fi, sizeof fi) == 0 && fi.name) return fi.name;
    return "?";
}

/* ---- virtual I/O over a caller's buffer ---- */

typedef struct {
    const unsigned char *p;
    sf_count_t size, pos;
} membuf;

static sf_count_t vio_len(void *user) { return ((membuf *)user)->size; }

static sf_count_t vio_seek(sf_count_t off, int whence, void *user) {
    membuf *m = user;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return -1;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->size;
    /* like lseek: anywhere from 0 on, also past the end (reads there return 0) */
    if (off < 0 ? off < -base : off > INT64_MAX - base) return -1;
    m->pos = base + off;
    return m->pos;
}

static sf_count_t vio_read(void *dst, sf_count_t n, void *user) {
    membuf *m = user;
    if (n <= 0 || m->pos >= m->size) return 0;
    sf_count_t left = m->size - m->pos;
    if (n > left) n = left;
    memcpy(dst, m->p + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t vio_write(const void *src, sf_count_t n, void *user) {
    (void)src, (void)n, (void)user;
    return 0;
}

static sf_count_t vio_tell(void *user) { return ((membuf *)user)->pos; }

/* ---- the read loop ---- */

/* Reads every frame of sf, averages the channels and streams them through the resampler:
 * memory holds the output plus one chunk. */
static g4_status decode_open(SNDFILE *sf, const SF_INFO *info, const g4_audio_decode_opts *o,
                             g4_pcm *out, g4_error *err) {
    const int major = info->format & SF_FORMAT_TYPEMASK, sub = info->format & SF_FORMAT_SUBMASK;
    if (!major_accepted(major))
        return g4_fail(err, G4_ERR_UNSUPPORTED,
                       "audio: %s files are not accepted (wav, flac, ogg, mp3, aiff, caf, rf64, w64 are)",
                       format_name(major));
    if (info->channels < 1) return g4_fail(err, G4_ERR_FORMAT, "audio: %d channels", info->channels);
    if (info->channels > MAX_CHANNELS)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "audio: %d channels, at most %d supported",
                       info->channels, MAX_CHANNELS);
    if (info->samplerate < RATE_MIN || info->samplerate > RATE_MAX)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "audio: sample rate %d Hz outside [%d, %d]",
                       info->samplerate, RATE_MIN, RATE_MAX);
    const int nch = info->channels;
    const double lim = floor(o->max_seconds * info->samplerate);
    const int64_t max_frames = lim >= 4e18 ? (int64_t)4e18 : (int64_t)lim;
    if (max_frames < 1)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "audio: max_seconds %g allows no sample at %d Hz",
                       o->max_seconds, info->samplerate);

    resampler rs;
    fbuf res = {0};
    g4_status st = rs_init(&rs, info->samplerate, o->sample_rate, o->resampler, err);
    if (st) return st;
    float *chunk = malloc((size_t)READ_CHUNK * (size_t)nch * sizeof *chunk);
    float *mono = malloc((size_t)READ_CHUNK * sizeof *mono);
    int64_t n = 0;
    if (!mono || !chunk) {
        st = g4_fail(err, G4_ERR_NOMEM, "audio: out of memory");
        goto done;
    }
    for (;;) {
        sf_count_t got = sf_readf_float(sf, chunk, READ_CHUNK);
        if (got <= 0) break;
        if (got > max_frames - n) {
            st = g4_fail(err, G4_ERR_UNSUPPORTED, "audio: longer than the limit of %g s", o->max_seconds);
            goto done;
        }
        for (sf_count_t i = 0; i < got; i++) {
            const float *x = chunk + (size_t)i * (size_t)nch;
            float s = 0.0f;
            for (int c = 0; c < nch; c++) {
                if (!isfinite(x[c])) {
                    st = g4_fail(err, G4_ERR_FORMAT, "audio: sample %lld of channel %d is not a finite number",
                                 (long long)(n + i), c);
                    goto done;
                }
                s += x[c];
            }
            /* the mean; for stereo exactly (L + R) * 0.5 as miniaudio computes it */
            mono[i] = nch == 1 ? s : s / (float)nch;
        }
        if ((st = rs_feed(&rs, mono, got, false, &res, err)) != G4_OK) goto done;
        n += got;
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        st = g4_fail(err, G4_ERR_FORMAT, "audio: decoding failed after %lld frames: %s", (long long)n,
                     sf_strerror(sf));
        goto done;
    }
    if (n == 0) {
        st = g4_fail(err, G4_ERR_FORMAT, "audio: no samples");
        goto done;
    }
    if ((st = rs_finish(&rs, n, &res, err)) != G4_OK) goto done;
    out->samples = res.p;
    out->n_samples = res.n;
    res.p = NULL;
    out->sample_rate = o->sample_rate;
    out->src_rate = info->samplerate;
    out->src_channels = nch;
    out->src_frames = n;
    snprintf(out->src_format, sizeof out->src_format, "%s, %s", format_name(major), format_name(sub));
done:
    rs_free(&rs);
    free(res.p);
    free(chunk);
    free(mono);
    if (st) g4_pcm_free(out);
    return st;
}

static g4_status open_error(g4_error *err) {
    /* libsndfile reports open failures through sf_strerror(NULL) */
    return g4_fail(err, G4_ERR_FORMAT, "audio: not a readable audio file (%s)", sf_strerror(NULL));
}

#endif /* G4_HAVE_SNDFILE */

/* ======================================================================================
 * Public entry points
 * ====================================================================================== */

bool g4_audio_format_available(const char *name) {
#ifdef G4_HAVE_SNDFILE
    if (!name) return false;
    int n = 0;
    if (sf_command(NULL, SFC_GET_FORMAT_MAJOR_COUNT, &n, sizeof n) != 0) return false;
    for (size_t i = 0; i < N_FORMATS; i++) {
        if (strcmp(FORMATS[i].name, name) != 0) continue;
        for (int j = 0; j < n; j++) {
            SF_FORMAT_INFO fi;
            memset(&fi, 0, sizeof fi);
            fi.format = j;
            if (sf_command(NULL, SFC_GET_FORMAT_MAJOR, &fi, sizeof fi) == 0 &&
                (fi.format & SF_FORMAT_TYPEMASK) == FORMATS[i].major)
                return true;
        }
    }
    return false;
#else
    (void)name;
    return false;
#endif
}

#ifndef G4_HAVE_SNDFILE
static g4_status no_decoder(g4_error *err) {
    return g4_fail(err, G4_ERR_UNSUPPORTED,
                   "audio: this build has no audio decoder (libsndfile was not found at build time)");
}
#endif

g4_status g4_audio_decode_memory(const void *data, size_t size, const g4_audio_decode_opts *opts,
                                 g4_pcm *out, g4_error *err) {
    g4_audio_decode_opts o;
    g4_status st;
    if (!out) return g4_fail(err, G4_ERR_ARG, "audio: no output");
    memset(out, 0, sizeof *out);
    if ((st = resolve_opts(opts, &o, err)) != G4_OK) return st;
    if (!data && size) return g4_fail(err, G4_ERR_ARG, "audio: NULL data");
    if (size == 0) return g4_fail(err, G4_ERR_FORMAT, "audio: empty input");
    if ((uint64_t)size > o.max_bytes)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "audio: %zu bytes, more than the limit of %llu",
                       size, (unsigned long long)o.max_bytes);
#ifdef G4_HAVE_SNDFILE
    if ((uint64_t)size > (uint64_t)INT64_MAX) return g4_fail(err, G4_ERR_ARG, "audio: input too large");
    membuf m = {data, (sf_count_t)size, 0};
    SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open_virtual(&vio, SFM_READ, &info, &m);
    if (!sf) return open_error(err);
    st = decode_open(sf, &info, &o, out, err);
    sf_close(sf);
    return st;
#else
    return no_decoder(err);
#endif
}

g4_status g4_audio_decode_file(const char *path, const g4_audio_decode_opts *opts, g4_pcm *out,
                               g4_error *err) {
    g4_audio_decode_opts o;
    g4_status st;
    if (!out) return g4_fail(err, G4_ERR_ARG, "audio: no output");
    memset(out, 0, sizeof *out);
    if (!path) return g4_fail(err, G4_ERR_ARG, "audio: no file name");
    if ((st = resolve_opts(opts, &o, err)) != G4_OK) return st;
    struct stat sb;
    if (stat(path, &sb) != 0) return g4_fail(err, G4_ERR_IO, "%s: cannot open", path);
    if (!S_ISREG(sb.st_mode)) return g4_fail(err, G4_ERR_IO, "%s: not a regular file", path);
    if (sb.st_size == 0) return g4_fail(err, G4_ERR_FORMAT, "%s: audio: empty file", path);
    if ((uint64_t)sb.st_size > o.max_bytes)
        return g4_fail(err, G4_ERR_UNSUPPORTED, "%s: audio: %lld bytes, more than the limit of %llu",
                       path, (long long)sb.st_size, (unsigned long long)o.max_bytes);
#ifdef G4_HAVE_SNDFILE
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) st = open_error(err);
    else {
        st = decode_open(sf, &info, &o, out, err);
        sf_close(sf);
    }
    if (st) g4_error_prefix(err, "%s", path);
    return st;
#else
    st = no_decoder(err);
    g4_error_prefix(err, "%s", path);
    return st;
#endif
}
