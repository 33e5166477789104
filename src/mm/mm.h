/* mm.h — the multimodal projector (mmproj GGUF) of the 12B encoder-free path: loading
 * (clip.* keys, spec §3.6; gemma4uv + gemma4ua tensors, §6.1) and projection of the
 * preprocessed media into text-model embeddings (§6.4 vision, §6.5 audio).
 *
 * Pipeline (docs/MULTIMODAL.md):
 *   file bytes --src/mmio--> RGB8 / 16 kHz PCM
 *              --src/mm/image.h, audio.h--> projector input ([3,H,W] pixels / 640-sample frames)
 *              --this file--> embeddings [n_tokens][n_embd]
 *              --g4_batch.embd / .group (g4.h)--> the forward pass, at the placeholder positions
 *
 * Only the 12B's unified projectors (gemma4uv, gemma4ua) are implemented; the vision and
 * audio encoders of the other sizes (gemma4v, gemma4a, spec §7) are refused with
 * G4_ERR_UNSUPPORTED naming the type.
 *
 * A g4_mmproj is immutable after open: share it between threads. Projection runs on an
 * engine's kernels and thread pool, so (like a session's decode) one projection or decode
 * at a time per engine. Results are bit-identical for any thread count. */
#ifndef G4_MM_MM_H
#define G4_MM_MM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "g4.h"
#include "gguf/gguf.h"
#include "mm/audio.h"
#include "mm/image.h"

/* Token ids of the media markers in the real Gemma 4 vocabulary (spec §6.6). The tiny
 * test vocabulary uses other ids (fixtures README): take them from the tokenizer. */
#define G4_TOK_BOI 255999       /* <|image> */
#define G4_TOK_EOI 258882       /* <image|> */
#define G4_TOK_IMAGE 258880     /* <|image|> placeholder */
#define G4_TOK_BOA 256000       /* <|audio> */
#define G4_TOK_EOA 258883       /* <audio|> */
#define G4_TOK_AUDIO 258881     /* <|audio|> placeholder */

typedef struct g4_mmproj g4_mmproj;

/* What the file holds (after validation). */
typedef struct {
    bool has_vision, has_audio;
    char vision_type[32], audio_type[32]; /* "gemma4uv", "gemma4ua" or "" */
    int n_embd;        /* text model width the projector writes (clip.*.projection_dim) */
    /* vision (gemma4uv) */
    int patch_size;    /* clip.vision.patch_size (16 for the 12B) */
    int merge;         /* clip.vision.projector.scale_factor (default 3) */
    int side;          /* pixels per soft token side: patch_size * merge (48) */
    int patch_dim;     /* 3 * side * side: the merged-patch vector (6912) */
    int mm_embd;       /* clip.vision.embedding_length (3840) */
    int n_pos;         /* rows per position table: the grid is at most n_pos x n_pos */
    float image_mean[3], image_std[3];
    float vision_eps;  /* of the final weight-less RMS norm (layer_norm_epsilon, 1e-6) */
    /* audio (gemma4ua) */
    int frame_size;    /* samples per soft token (clip.audio.embedding_length, 640) */
    float audio_eps;   /* of the per-frame RMS norm (1e-6) */
} g4_mmproj_info;

/* Opens an mmproj GGUF (mapped read-only). n_embd: the text model's width the embeddings
 * must have (g4_model_info.n_embd), or 0 to take the file's projection_dim unchecked.
 * Errors: G4_ERR_IO / G4_ERR_FORMAT (malformed file, missing key/tensor, a shape that
 * does not fit, a width other than n_embd — named), G4_ERR_UNSUPPORTED (a projector type
 * other than gemma4uv / gemma4ua, a tensor type without kernels). */
g4_status g4_mmproj_open(const char *path, int n_embd, g4_mmproj **out, g4_error *err);
/* The same over a caller-owned buffer (kept borrowed until g4_mmproj_close). */
g4_status g4_mmproj_open_memory(const void *data, size_t size, int n_embd, g4_mmproj **out,
                                g4_error *err);
void g4_mmproj_close(g4_mmproj *p); /* NULL is a no-op */

const g4_mmproj_info *g4_mmproj_get_info(const g4_mmproj *p);
/* The underlying GGUF (borrowed; valid until g4_mmproj_close). */
const g4_gguf *g4_mmproj_gguf(const g4_mmproj *p);

/* Copy the file's preprocessing facts into the helpers' parameter structs, keeping the
 * user's fields (token budget, token range; max_frames): image: patch_size, merge, mean,
 * std, n_pos; audio: frame_size, rms_eps (sample_rate stays 16000). G4_ERR_UNSUPPORTED
 * when the file has no such projector. */
g4_status g4_mmproj_image_params(const g4_mmproj *p, g4_image_params *ip, g4_error *err);
g4_status g4_mmproj_audio_params(const g4_mmproj *p, g4_audio_params *ap, g4_error *err);

/* Soft tokens of a [3, H, W] projector input: (H / side) * (W / side), or -1 when H or
 * W is not a positive multiple of side or the grid exceeds the position tables. */
int64_t g4_mm_image_tokens(const g4_mmproj *p, int H, int W);

/* Image: pixels [3][H][W] (element [c][y][x], exactly the goldens' `.media0.input.gld`,
 * i.e. g4_image_preprocess's output), H and W multiples of side. Writes *embd (malloc'd,
 * free()) = [n_tokens][n_embd], tokens in row-major grid order (by outer, bx inner),
 * and *n_tokens. Per merged patch (spec §6.4):
 *   v = the side x side x 3 block, channel-major (llama.cpp GGUF column order)
 *   h = LayerNorm(v; patch_norm.1)  -> patch_embd . h + bias -> LayerNorm(patch_norm.2)
 *       + posx[bx] + posy[by] -> LayerNorm(patch_norm.3)        (LayerNorm eps 1e-5)
 *   e = input_projection . RMSNorm(h)                            (no weight, vision_eps)
 * Errors: G4_ERR_ARG (bad sizes / NULL), G4_ERR_UNSUPPORTED (no vision projector),
 * G4_ERR_NOMEM. */
g4_status g4_mm_project_image(const g4_mmproj *p, g4_engine *e, const float *pixels, int H, int W,
                              float **embd, int *n_tokens, g4_error *err);

/* Audio: frames [n_frames][frame_size] row-major (g4_audio_frames' output; the goldens'
 * `.media0.input.gld` holds the transpose). e_t = a.input_projection . RMSNorm(frame_t).
 * Output as for images. */
g4_status g4_mm_project_audio(const g4_mmproj *p, g4_engine *e, const float *frames, int n_frames,
                              float **embd, int *n_tokens, g4_error *err);

#endif
