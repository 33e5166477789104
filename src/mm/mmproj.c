/* mmproj.c — loading and validating a 12B multimodal projector GGUF (`clip` arch):
 * clip.* keys (spec §3.6) and the gemma4uv / gemma4ua tensors (§6.1). The projection
 * math is in project.c; both share src/mm/mmproj_int.h.
 *
 * Everything read from the file is untrusted: keys are range-checked, every tensor is
 * bound by name with its expected shape and a type the kernels support, small vectors
 * are converted to f32 (and checked for NaN) once here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "mm/mmproj_int.h"
#include "model/model.h"

/* ---- keys ------------------------------------------------------------------------ */

/* String value of key into dst ("" when absent); false (err set) when not a string. */
static bool key_str(const g4_gguf *g, const char *key, char *dst, size_t cap, g4_error *err) {
    dst[0] = 0;
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    if (!kv) return true;
    const char *s;
    size_t n;
    if (!g4_gguf_kv_str(kv, &s, &n)) {
        g4_fail(err, G4_ERR_FORMAT, "key %s is not a string", key);
        return false;
    }
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
    for (size_t i = 0; i < n; i++) /* keep messages printable */
        if ((unsigned char)dst[i] < 0x20 || (unsigned char)dst[i] >= 0x7f) dst[i] = '?';
    return true;
}

/* Integer key in [lo, hi]; absent: *out = def (or an error when required). */
static bool key_int(const g4_gguf *g, const char *key, bool required, int64_t def, int64_t lo, int64_t hi,
                    int *out, g4_error *err) {
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    int64_t v = def;
    if (!kv) {
        if (required) {
            g4_fail(err, G4_ERR_FORMAT, "missing key %s", key);
            return false;
        }
    } else if (!g4_gguf_kv_int(kv, &v)) {
        g4_fail(err, G4_ERR_FORMAT, "key %s is not an integer", key);
        return false;
    }
    if (v < lo || v > hi) {
        g4_fail(err, G4_ERR_FORMAT, "key %s = %lld is outside [%lld, %lld]", key, (long long)v, (long long)lo,
                (long long)hi);
        return false;
    }
    *out = (int)v;
    return true;
}

static bool key_float(const g4_gguf *g, const char *key, double def, double lo, double hi, float *out,
                      g4_error *err) {
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    double v = def;
    if (kv && !g4_gguf_kv_float(kv, &v)) {
        g4_fail(err, G4_ERR_FORMAT, "key %s is not a number", key);
        return false;
    }
    if (!(v >= lo && v <= hi)) {
        g4_fail(err, G4_ERR_FORMAT, "key %s = %g is outside [%g, %g]", key, v, lo, hi);
        return false;
    }
    *out = (float)v;
    return true;
}

/* Array of 3 floats (image mean / std); absent: def. */
static bool key_vec3(const g4_gguf *g, const char *key, float def, bool nonzero, float *out, g4_error *err) {
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    for (int i = 0; i < 3; i++) out[i] = def;
    if (!kv) return true;
    if (kv->type != G4_GGUF_ARRAY || kv->arr_n != 3) {
        g4_fail(err, G4_ERR_FORMAT, "key %s is not an array of 3 numbers", key);
        return false;
    }
    for (uint64_t i = 0; i < 3; i++) {
        double v;
        if (!g4_gguf_arr_float(kv, i, &v) || !isfinite(v) || fabs(v) > 1e6 || (nonzero && v == 0)) {
            g4_fail(err, G4_ERR_FORMAT, "key %s[%llu] is not a usable number", key, (unsigned long long)i);
            return false;
        }
        out[i] = (float)v;
    }
    return true;
}

static bool key_bool(const g4_gguf *g, const char *key, bool def, bool *out, g4_error *err) {
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    *out = def;
    if (kv && !g4_gguf_kv_bool(kv, out)) {
        g4_fail(err, G4_ERR_FORMAT, "key %s is not a boolean", key);
        return false;
    }
    return true;
}

/* ---- tensors ---------------------------------------------------------------------- */

/* Binds name with shape [ne0, ne1, ne2] (trailing 1s implied) and a supported type. */
static bool bind(g4_mmproj *p, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, g4_tensor *t,
                 g4_error *err) {
    memset(t, 0, sizeof *t);
    const g4_gguf_tensor *src = g4_gguf_find_tensor(p->gguf, name);
    if (!src) {
        g4_fail(err, G4_ERR_FORMAT, "missing tensor %s", name);
        return false;
    }
    const int64_t want[4] = {ne0, ne1, ne2, 1};
    for (int i = 0; i < 4; i++)
        if (src->ne[i] != want[i]) {
            g4_fail(err, G4_ERR_FORMAT, "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld]",
                    name, (long long)src->ne[0], (long long)src->ne[1], (long long)src->ne[2],
                    (long long)src->ne[3], (long long)ne0, (long long)ne1, (long long)ne2);
            return false;
        }
    if (!g4_tensor_view(src, &p->ref, t, err)) return false; /* src->ne[0] == ne0 here */
    if (!t->row_size) {
        g4_fail(err, G4_ERR_FORMAT, "tensor %s: rows of %lld are not whole %s blocks", name, (long long)ne0,
                g4_type_name(t->type));
        return false;
    }
    return true;
}

/* A small vector converted to an owned f32 array. */
static bool bind_vec(g4_mmproj *p, const char *name, int64_t n, float **out, g4_error *err) {
    g4_tensor t;
    if (!bind(p, name, n, 1, 1, &t, err)) return false;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) {
        g4_fail(err, G4_ERR_NOMEM, "out of memory reading %s", name);
        return false;
    }
    p->ref.dequant[t.type](t.data, v, n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            free(v);
            g4_fail(err, G4_ERR_FORMAT, "tensor %s has a non-finite element at %lld", name, (long long)i);
            return false;
        }
    *out = v;
    return true;
}

/* The merged-patch dense weight: [P, E], or the same bytes as a 4-D conv kernel
 * [side, side, 3, E] (ne0 = column, ne1 = row, ne2 = channel: CHW order either way). */
static bool bind_patch_embd(g4_mmproj *p, int64_t P, int64_t E, int side, g4_error *err) {
    const g4_gguf_tensor *src = g4_gguf_find_tensor(p->gguf, "v.patch_embd.weight");
    if (src && src->n_dims == 4 && src->ne[0] == side && src->ne[1] == side && src->ne[2] == 3 &&
        src->ne[3] == E) {
        g4_tensor *t = &p->patch_embd;
        memset(t, 0, sizeof *t);
        if (src->type >= G4_TYPE_COUNT || !p->ref.dequant[src->type] || !p->ref.dot[src->type] ||
            !g4_row_size((g4_type)src->type, P)) {
            g4_fail(err, G4_ERR_UNSUPPORTED, "tensor v.patch_embd.weight has type %s, which gemma4c does not support here",
                    g4_type_name(src->type));
            return false;
        }
        t->name = src->name;
        t->type = (g4_type)src->type;
        t->ne[0] = P, t->ne[1] = E, t->ne[2] = 1, t->ne[3] = 1;
        t->data = src->data;
        t->row_size = g4_row_size(t->type, P);
        return true;
    }
    return bind(p, "v.patch_embd.weight", P, E, 1, &p->patch_embd, err);
}

/* ---- projector types --------------------------------------------------------------- */

static const char *type_note(const char *type) {
    if (!strcmp(type, "gemma4v")) return " (the vision encoder of E2B/E4B/26B-A4B/31B: not implemented yet)";
    if (!strcmp(type, "gemma4a")) return " (the audio encoder of E2B/E4B: not implemented yet)";
    return "";
}

static g4_status load_vision(g4_mmproj *p, g4_error *err) {
    const g4_gguf *g = p->gguf;
    g4_mmproj_info *in = &p->info;
    if (strcmp(in->vision_type, "gemma4uv"))
        return g4_fail(err, G4_ERR_UNSUPPORTED,
                       "vision projector type '%s' is not supported (only the 12B's gemma4uv)%s",
                       in->vision_type, type_note(in->vision_type));
    int proj = 0;
    if (!key_int(g, "clip.vision.patch_size", true, 0, 1, 1024, &in->patch_size, err) ||
        !key_int(g, "clip.vision.projector.scale_factor", false, 3, 1, 64, &in->merge, err) ||
        !key_int(g, "clip.vision.embedding_length", true, 0, 1, 1 << 20, &in->mm_embd, err) ||
        !key_int(g, "clip.vision.projection_dim", true, 0, 1, 1 << 20, &proj, err) ||
        !key_float(g, "clip.vision.attention.layer_norm_epsilon", 1e-6, 0, 1, &in->vision_eps, err) ||
        !key_vec3(g, "clip.vision.image_mean", 0.0f, false, in->image_mean, err) ||
        !key_vec3(g, "clip.vision.image_std", 1.0f, true, in->image_std, err))
        return err ? err->code : G4_ERR_FORMAT;
    in->side = in->patch_size * in->merge;
    if (in->side > 1024)
        return g4_fail(err, G4_ERR_FORMAT, "merged patch of %d x %d pixels is too large", in->side, in->side);
    in->patch_dim = 3 * in->side * in->side;
    if (in->n_embd && proj != in->n_embd)
        return g4_fail(err, G4_ERR_FORMAT, "clip.vision.projection_dim is %d but the text model's n_embd is %d",
                       proj, in->n_embd);
    in->n_embd = proj;
    const int64_t P = in->patch_dim, E = in->mm_embd;
    const g4_gguf_tensor *pe = g4_gguf_find_tensor(g, "v.position_embd.weight");
    if (!pe) return g4_fail(err, G4_ERR_FORMAT, "missing tensor v.position_embd.weight");
    if (pe->ne[1] < 1 || pe->ne[1] > (1 << 20))
        return g4_fail(err, G4_ERR_FORMAT, "v.position_embd.weight has %lld positions", (long long)pe->ne[1]);
    in->n_pos = (int)pe->ne[1];
    if (!bind_vec(p, "v.patch_norm.1.weight", P, &p->ln1_w, err) ||
        !bind_vec(p, "v.patch_norm.1.bias", P, &p->ln1_b, err) || !bind_patch_embd(p, P, E, in->side, err) ||
        !bind_vec(p, "v.patch_embd.bias", E, &p->patch_b, err) ||
        !bind_vec(p, "v.patch_norm.2.weight", E, &p->ln2_w, err) ||
        !bind_vec(p, "v.patch_norm.2.bias", E, &p->ln2_b, err) ||
        !bind(p, "v.position_embd.weight", E, in->n_pos, 2, &p->pos_embd, err) ||
        !bind_vec(p, "v.patch_norm.3.weight", E, &p->ln3_w, err) ||
        !bind_vec(p, "v.patch_norm.3.bias", E, &p->ln3_b, err) ||
        !bind(p, "mm.input_projection.weight", E, in->n_embd, 1, &p->v_proj, err))
        return err ? err->code : G4_ERR_FORMAT;
    in->has_vision = true;
    return G4_OK;
}

static g4_status load_audio(g4_mmproj *p, g4_error *err) {
    const g4_gguf *g = p->gguf;
    g4_mmproj_info *in = &p->info;
    if (strcmp(in->audio_type, "gemma4ua"))
        return g4_fail(err, G4_ERR_UNSUPPORTED,
                       "audio projector type '%s' is not supported (only the 12B's gemma4ua)%s", in->audio_type,
                       type_note(in->audio_type));
    int proj = 0;
    /* clip.audio.num_mel_bins is unreliable for gemma4ua (spec §3.6): the frame is the
     * embedding length, which must match the projection's input width */
    if (!key_int(g, "clip.audio.embedding_length", false, 640, 1, 1 << 20, &in->frame_size, err) ||
        !key_int(g, "clip.audio.projection_dim", true, 0, 1, 1 << 20, &proj, err) ||
        !key_float(g, "clip.audio.attention.layer_norm_epsilon", 1e-6, 0, 1, &in->audio_eps, err))
        return err ? err->code : G4_ERR_FORMAT;
    if (in->n_embd && proj != in->n_embd)
        return g4_fail(err, G4_ERR_FORMAT, "clip.audio.projection_dim is %d but %s %d", proj,
                       in->has_vision ? "the vision projection writes" : "the text model's n_embd is", in->n_embd);
    in->n_embd = proj;
    if (!bind(p, "mm.a.input_projection.weight", in->frame_size, in->n_embd, 1, &p->a_proj, err))
        return err ? err->code : G4_ERR_FORMAT;
    in->has_audio = true;
    return G4_OK;
}

static g4_status load(g4_mmproj *p, int n_embd, g4_error *err) {
    const g4_gguf *g = p->gguf;
    g4_mmproj_info *in = &p->info;
    g4_kernels_ref(&p->ref);
    char arch[32], common[32];
    if (!key_str(g, "general.architecture", arch, sizeof arch, err)) return err ? err->code : G4_ERR_FORMAT;
    if (arch[0] && strcmp(arch, "clip"))
        return g4_fail(err, G4_ERR_FORMAT, "general.architecture is '%s', not 'clip': not a multimodal projector "
                       "(pass the mmproj-*.gguf file)", arch);
    if (n_embd < 0) return g4_fail(err, G4_ERR_ARG, "n_embd must be >= 0");
    in->n_embd = n_embd;
    /* older files name one type for the whole file in clip.projector_type */
    bool hv, ha;
    if (!key_str(g, "clip.projector_type", common, sizeof common, err) ||
        !key_str(g, "clip.vision.projector_type", in->vision_type, sizeof in->vision_type, err) ||
        !key_str(g, "clip.audio.projector_type", in->audio_type, sizeof in->audio_type, err))
        return err ? err->code : G4_ERR_FORMAT;
    if (!key_bool(g, "clip.has_vision_encoder", in->vision_type[0] != 0, &hv, err) ||
        !key_bool(g, "clip.has_audio_encoder", in->audio_type[0] != 0, &ha, err))
        return err ? err->code : G4_ERR_FORMAT;
    if (hv && !in->vision_type[0]) memcpy(in->vision_type, common, sizeof common);
    if (ha && !in->audio_type[0]) memcpy(in->audio_type, common, sizeof common);
    if (!hv && !ha) {
        if (common[0])
            return g4_fail(err, G4_ERR_UNSUPPORTED, "projector type '%s' is not supported (only gemma4uv / gemma4ua)%s",
                           common, type_note(common));
        return g4_fail(err, G4_ERR_FORMAT, "the file has neither a vision nor an audio projector");
    }
    if (hv && !in->vision_type[0])
        return g4_fail(err, G4_ERR_FORMAT, "clip.has_vision_encoder is set but no projector type is given");
    if (ha && !in->audio_type[0])
        return g4_fail(err, G4_ERR_FORMAT, "clip.has_audio_encoder is set but no projector type is given");
    g4_status st;
    if (hv && (st = load_vision(p, err))) return st;
    if (ha && (st = load_audio(p, err))) return st;
    if (!in->vision_type[0] || !hv) in->vision_type[0] = 0;
    if (!in->audio_type[0] || !ha) in->audio_type[0] = 0;
    return G4_OK;
}

/* ---- open / close ----------------------------------------------------------------- */

static g4_status finish_open(g4_mmproj *p, int n_embd, const char *what, g4_mmproj **out, g4_error *err) {
    g4_error e2 = {0};
    g4_status st = load(p, n_embd, &e2);
    if (st) {
        g4_mmproj_close(p);
        return g4_fail(err, st, "%s: %s", what, e2.msg);
    }
    *out = p;
    return G4_OK;
}

g4_status g4_mmproj_open(const char *path, int n_embd, g4_mmproj **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "out is NULL");
    *out = NULL;
    if (!path) return g4_fail(err, G4_ERR_ARG, "mmproj path is NULL");
    g4_mmproj *p = calloc(1, sizeof *p);
    if (!p) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    g4_status st = g4_gguf_open(path, &p->gguf, err);
    if (st) {
        free(p);
        return st;
    }
    return finish_open(p, n_embd, path, out, err);
}

g4_status g4_mmproj_open_memory(const void *data, size_t size, int n_embd, g4_mmproj **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "out is NULL");
    *out = NULL;
    g4_mmproj *p = calloc(1, sizeof *p);
    if (!p) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    g4_status st = g4_gguf_open_memory(data, size, &p->gguf, err);
    if (st) {
        free(p);
        return st;
    }
    return finish_open(p, n_embd, "mmproj", out, err);
}

void g4_mmproj_close(g4_mmproj *p) {
    if (!p) return;
    float *vs[] = {p->ln1_w, p->ln1_b, p->patch_b, p->ln2_w, p->ln2_b, p->ln3_w, p->ln3_b};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) free(vs[i]);
    g4_gguf_close(p->gguf);
    free(p);
}

const g4_mmproj_info *g4_mmproj_get_info(const g4_mmproj *p) { return &p->info; }
const g4_gguf *g4_mmproj_gguf(const g4_mmproj *p) { return p->gguf; }

g4_status g4_mmproj_image_params(const g4_mmproj *p, g4_image_params *ip, g4_error *err) {
    if (!p || !ip) return g4_fail(err, G4_ERR_ARG, "NULL argument");
    if (!p->info.has_vision) return g4_fail(err, G4_ERR_UNSUPPORTED, "the mmproj file has no vision projector");
    ip->patch_size = p->info.patch_size;
    ip->merge = p->info.merge;
    for (int c = 0; c < 3; c++) {
        ip->mean[c] = p->info.image_mean[c];
        ip->std[c] = p->info.image_std[c];
    }
    ip->n_pos = p->info.n_pos;
    return G4_OK;
}

g4_status g4_mmproj_audio_params(const g4_mmproj *p, g4_audio_params *ap, g4_error *err) {
    if (!p || !ap) return g4_fail(err, G4_ERR_ARG, "NULL argument");
    if (!p->info.has_audio) return g4_fail(err, G4_ERR_UNSUPPORTED, "the mmproj file has no audio projector");
    ap->frame_size = p->info.frame_size;
    ap->rms_eps = p->info.audio_eps;
    return G4_OK;
}
