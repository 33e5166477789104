/* media.c — images and audio for the CLI: find the projector (mmproj) file, decode and
 * project media files into embedding rows, and `gemma4c media` (the rows as GLD1). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_media.h"
#include "core/buf.h"
#include "engine/engine.h"
#include "mm/mm.h"
#include "mmio/audio_io.h"
#include "mmio/image_io.h"

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static size_t common_prefix(const char *a, const char *b) {
    size_t i = 0;
    while (a[i] && a[i] == b[i]) i++;
    return i;
}

char *cli_find_mmproj(const cli_opts *o) {
    if (o->mmproj) return strdup(o->mmproj);
    /* next to the model: *mmproj*.gguf, the one sharing the longest name prefix */
    const char *path = o->model_path;
    const char *slash = strrchr(path, '/');
    g4_buf dir = G4_BUF_INIT;
    if (slash) g4_buf_add(&dir, path, (size_t)(slash - path));
    else g4_buf_adds(&dir, ".");
    const char *base = slash ? slash + 1 : path;
    char *best = NULL;
    size_t best_l = 0;
    DIR *d = opendir(g4_buf_str(&dir));
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *n = de->d_name;
        size_t L = strlen(n);
        if (L < 5 || strcasecmp(n + L - 5, ".gguf") || !strstr(n, "mmproj")) continue;
        size_t l = common_prefix(n, base) + 1;
        if (l > best_l) {
            free(best);
            g4_buf p = G4_BUF_INIT;
            g4_buf_printf(&p, "%s/%s", g4_buf_str(&dir), n);
            best = g4_buf_take(&p, NULL);
            best_l = l;
        }
    }
    if (d) closedir(d);
    g4_buf_free(&dir);
    if (best && is_file(best)) return best;
    free(best);
    /* an Ollama blob: the projector layer of the same manifest */
    char *proj = NULL;
    g4_error err = {0};
    if (g4_model_resolve_projector(o->model, &proj, &err) == G4_OK) return proj;
    return NULL;
}

int cli_media_open(const cli_opts *o, g4_engine *e, g4_mmproj **p) {
    char *path = cli_find_mmproj(o);
    if (!path) {
        fprintf(stderr, "gemma4c: %s: no projector (mmproj) file found next to the model or in the Ollama "
                        "store; images and audio need one: pass --mmproj FILE (e.g. mmproj-*.gguf from the "
                        "model's Hugging Face repository)\n", o->model);
        return 1;
    }
    g4_model_info mi;
    g4_engine_info(e, &mi);
    g4_error err = {0};
    int rc = 0;
    if (g4_mmproj_open(path, mi.n_embd, p, &err)) rc = cli_die("cannot load the projector", &err);
    free(path);
    return rc;
}

int cli_media_embed(const cli_opts *o, g4_engine *e, g4_mmproj *p, const cli_media_arg *m, cli_media *out) {
    memset(out, 0, sizeof *out);
    out->image = m->image;
    g4_error err = {0};
    const g4_mmproj_info *info = g4_mmproj_get_info(p);
    if (m->image) {
        if (!info->has_vision) {
            fprintf(stderr, "gemma4c: %s: this projector has no vision part\n", m->path);
            return 1;
        }
        g4_image_mode mode = G4_IMAGE_MODE_HF;
        if (o->image_mode) g4_image_mode_parse(o->image_mode, &mode);
        out->mode = mode;
        g4_image img = {0};
        /* llama.cpp mode decodes as llama.cpp does: alpha dropped, no EXIF rotation */
        if (g4_image_load_ex(m->path, mode == G4_IMAGE_MODE_LLAMACPP ? G4_DECODE_LLAMACPP : 0, &img, &err))
            return cli_die(m->path, &err);
        g4_image_params ip = g4_image_params_default();
        g4_image_plan plan;
        float *px = NULL;
        int rc = 0;
        if (g4_mmproj_image_params(p, &ip, &err) ||
            g4_image_preprocess(&ip, mode, img.rgb, img.w, img.h, &plan, &px, &err) ||
            g4_mm_project_image(p, e, px, plan.height, plan.width, &out->embd, &out->n_tokens, &err))
            rc = cli_die(m->path, &err);
        free(px);
        g4_image_free(&img);
        return rc;
    }
    if (!info->has_audio) {
        fprintf(stderr, "gemma4c: %s: this projector has no audio part\n", m->path);
        return 1;
    }
    g4_audio_decode_opts ao = g4_audio_decode_opts_default();
    g4_pcm pcm = {0};
    if (g4_audio_decode_file(m->path, &ao, &pcm, &err)) return cli_die(m->path, &err);
    g4_audio_params ap = g4_audio_params_default();
    float *frames = NULL;
    int64_t nf = 0;
    int rc = 0;
    if (g4_mmproj_audio_params(p, &ap, &err)) {
        rc = cli_die(m->path, &err);
    } else {
        int64_t want = g4_audio_n_frames(&ap, pcm.n_samples);
        frames = want > 0 ? malloc((size_t)want * (size_t)ap.frame_size * sizeof *frames) : NULL;
        if (!frames) {
            fprintf(stderr, "gemma4c: %s: no audio frames (empty or too long)\n", m->path);
            rc = 1;
        } else if (g4_audio_frames(&ap, pcm.samples, pcm.n_samples, frames, want * ap.frame_size, &nf, &err) ||
                   g4_mm_project_audio(p, e, frames, (int)nf, &out->embd, &out->n_tokens, &err)) {
            rc = cli_die(m->path, &err);
        }
    }
    free(frames);
    g4_pcm_free(&pcm);
    return rc;
}

void cli_media_free(cli_media *m) {
    free(m->embd);
    memset(m, 0, sizeof *m);
}

int cmd_media(const cli_opts *o) {
    if (o->n_media != 1) {
        fprintf(stderr, "gemma4c media: give exactly one --image FILE or --audio FILE\n");
        return 2;
    }
    if (!o->out) {
        fprintf(stderr, "gemma4c media: --out FILE.gld is required (- for stdout)\n");
        return 2;
    }
    g4_engine *e = NULL;
    if (cli_open_engine(o, &e)) return 1;
    g4_mmproj *p = NULL;
    int rc = cli_media_open(o, e, &p);
    cli_media m = {0};
    if (!rc) rc = cli_media_embed(o, e, p, &o->media[0], &m);
    if (!rc) {
        g4_model_info mi;
        g4_engine_info(e, &mi);
        rc = cli_write_gld(o->out, m.embd, m.n_tokens, mi.n_embd);
        if (!rc && strcmp(o->out, "-"))
            fprintf(stderr, "%s: %d tokens x %d -> %s\n", o->media[0].path, m.n_tokens, mi.n_embd, o->out);
    }
    cli_media_free(&m);
    g4_mmproj_close(p);
    g4_engine_free(e);
    return rc;
}
