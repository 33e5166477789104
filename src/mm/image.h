/* image.h — image preprocessing for the 12B encoder-free projector (gemma4uv):
 * RGB8 pixels -> the projector input [3, H, W] (floats) -> merged-patch vectors.
 *
 * Core library (libc + libm only). Decoding files into RGB8 lives in src/mmio/image_io.h;
 * the projection itself (LayerNorms, patch_embd, position tables, input_projection) is
 * src/mm/mm.h. docs/IMAGES.md describes both modes step by step.
 *
 * Two modes (spec §6.2, fixtures README "Multimodal" and its addendum):
 *   G4_IMAGE_MODE_HF        the model's definition (Hugging Face Gemma4UnifiedImageProcessor):
 *                           resize (bicubic, antialiased) to the largest size with sides that
 *                           are multiples of the merged patch and at most `token_budget`
 *                           tokens; small images are upscaled. The default.
 *   G4_IMAGE_MODE_LLAMACPP  llama.cpp mtmd (the goldens' `.media0.input.gld`): sides rounded
 *                           to multiples of the merged patch, token count kept in
 *                           [min_tokens, max_tokens], the image fitted with a bilinear resize
 *                           and centred on a black canvas (letterbox).
 * Both end with x/255 and the file's (x - mean) / std (identity for every released file).
 *
 * Ownership: functions returning arrays allocate them with malloc; free() them. */
#ifndef G4_MM_IMAGE_H
#define G4_MM_IMAGE_H

#include <stdint.h>

#include "g4.h"

typedef enum { G4_IMAGE_MODE_HF = 0, G4_IMAGE_MODE_LLAMACPP } g4_image_mode;

/* "hf" / "llamacpp" (also "llama.cpp"); false on anything else. */
bool g4_image_mode_parse(const char *s, g4_image_mode *out);
const char *g4_image_mode_name(g4_image_mode m);

/* Preprocessing parameters. The first group comes from the mmproj GGUF (spec §3.6; filled
 * by g4_mmproj_image_params in src/mm/mm.h), the second is the user's choice (not stored
 * in the file):
 *
 *   patch_size    clip.vision.patch_size                      16 for the 12B (4 in the tiny
 *                                                             test projector)
 *   merge         clip.vision.projector.scale_factor          optional, default 3; one token
 *                                                             = a merge x merge block of patches
 *   mean, std     clip.vision.image_mean / image_std          [0,0,0] / [1,1,1] in released files
 *   n_pos         rows of v.position_embd.weight (ne[1])      1120 for the 12B (48 tiny); the
 *                                                             token grid must satisfy n_x, n_y
 *                                                             <= n_pos; 0 = not checked
 *
 *   token_budget  HF mode: soft-token budget B (70, 140, 280, 560, 1120 are the trained
 *                 values; any value >= 1 is accepted). Default 280.
 *   min_tokens, max_tokens  llamacpp mode: allowed token range, default [40, 280] (mtmd).
 *
 * The merged patch ("side") is patch_size * merge pixels: 48 for the 12B. */
typedef struct {
    int patch_size;
    int merge;
    float mean[3];
    float std[3];
    int n_pos;
    int token_budget;
    int min_tokens;
    int max_tokens;
} g4_image_params;

/* The 12B's values: patch 16, merge 3, mean 0, std 1, n_pos 1120, budget 280, [40, 280]. */
g4_image_params g4_image_params_default(void);
/* Validates every field (positive sizes, side <= 1024, non-zero finite std, ...). */
g4_status g4_image_params_check(const g4_image_params *p, g4_error *err);

/* Where an image of src_w x src_h pixels goes. */
typedef struct {
    g4_image_mode mode;
    int src_w, src_h;       /* input image size */
    int side;               /* merged patch in pixels (patch_size * merge) */
    int width, height;      /* projector input (canvas) size: multiples of side */
    int n_x, n_y;           /* token grid: columns, rows */
    int n_tokens;           /* n_x * n_y */
    /* The resized image's rectangle on the canvas: llamacpp mode letterboxes (the rest is
     * black, 0 before normalisation); HF mode fills the canvas (0, 0, width, height). */
    int content_x, content_y, content_w, content_h;
} g4_image_plan;

/* Computes the plan (sizes only, no pixels). Errors: G4_ERR_ARG for a zero/negative size
 * or bad params; G4_ERR_UNSUPPORTED when the image cannot be represented (llamacpp mode:
 * an aspect ratio so extreme the token count leaves [min_tokens, max_tokens]; either
 * mode: a grid side beyond n_pos). */
g4_status g4_image_plan_make(const g4_image_params *p, g4_image_mode mode, int src_w, int src_h,
                             g4_image_plan *out, g4_error *err);

/* RGB8 pixels (row-major [src_h][src_w][3]) -> the projector input, a [3, height, width]
 * float array (element [c][y][x] = (u8 / 255 - mean[c]) / std[c] of the resized canvas),
 * exactly the goldens' `.media0.input.gld` in llamacpp mode. *out is malloc'd (free()),
 * *plan (may be NULL) receives the plan. */
g4_status g4_image_preprocess(const g4_image_params *p, g4_image_mode mode, const uint8_t *rgb,
                              int src_w, int src_h, g4_image_plan *plan, float **out,
                              g4_error *err);

/* Order of the elements inside one merged-patch vector (3 * side * side floats):
 *   G4_PATCH_CHW  v[ch*side*side + r*side + c]  — llama.cpp GGUFs (columns of
 *                 v.patch_embd.weight permuted by the converter, spec §6.3)
 *   G4_PATCH_HWC  v[(r*side + c)*3 + ch]        — Hugging Face's own layout */
typedef enum { G4_PATCH_CHW = 0, G4_PATCH_HWC } g4_patch_order;

/* Cuts the [3, height, width] projector input into n_tokens merged-patch vectors, the
 * order the projector consumes them: out[t][...] for t = by * n_x + bx (row-major over
 * the grid), patch t covering rows side*by.. and columns side*bx.., its position
 * (x = bx, y = by). out must hold n_tokens * 3 * side * side floats. */
void g4_image_patchify(const g4_image_plan *plan, const float *chw, g4_patch_order order,
                       float *out);

/* ---- the two resamplers (exposed for tests and tools) ----
 * Both map RGB8 [sh][sw][3] to RGB8 [dh][dw][3]; sizes >= 1. */

/* llama.cpp's bilinear: corner-aligned (output x samples source x*(sw-1)/(dw-1)), taps
 * floor and floor+1 clamped to the edge, float32 lerp along x then y, truncated to u8. */
void g4_image_resize_bilinear(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/* Antialiased bicubic exactly as PIL's Image.resize(BICUBIC) computes it (bit-exact with
 * Pillow 9.4; torchvision's antialiased uint8 bicubic is the same filter with fewer
 * fixed-point bits): separable, Keys cubic a = -0.5 stretched by the scale factor when
 * downscaling, weights normalised per output pixel and rounded to 22-bit fixed point,
 * horizontal pass first into a u8 image (rounded, clamped), then vertical. A dimension
 * whose size does not change is not filtered. G4_ERR_NOMEM if scratch cannot be
 * allocated. */
g4_status g4_image_resize_bicubic(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                                  g4_error *err);

#endif
