/* mmproj_int.h — the g4_mmproj object shared by mmproj.c (loading) and project.c
 * (projection). Not a public header. */
#ifndef G4_MM_MMPROJ_INT_H
#define G4_MM_MMPROJ_INT_H
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "mm/mm.h"

struct g4_mmproj {
    g4_gguf *gguf;
    g4_mmproj_info info;
    g4_kernels ref; /* reference table: type checks and conversions at load */

    /* vision (gemma4uv); vectors converted to f32 (owned), matrices are views */
    float *ln1_w, *ln1_b;   /* [patch_dim] */
    g4_tensor patch_embd;   /* [patch_dim -> mm_embd] */
    float *patch_b;         /* [mm_embd] */
    float *ln2_w, *ln2_b;   /* [mm_embd] */
    g4_tensor pos_embd;     /* [mm_embd, n_pos, 2]: slab 0 = x table, slab 1 = y table */
    float *ln3_w, *ln3_b;   /* [mm_embd] */
    g4_tensor v_proj;       /* mm.input_projection [mm_embd -> n_embd] */

    /* audio (gemma4ua) */
    g4_tensor a_proj;       /* mm.a.input_projection [frame_size -> n_embd] */
};

#endif
