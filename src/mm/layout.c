/* layout.c — placeholder expansion (see layout.h). */
#include "mm/layout.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

g4_status g4_mm_expand(const g4_vocab *v, const int32_t *ids, size_t n, const g4_mm_item *items, int n_items,
                       int32_t **out, size_t *n_out, g4_media_span *spans, g4_error *err) {
    *out = NULL;
    *n_out = 0;
#define TOK(s) g4_vocab_find(v, s, strlen(s))
    const int32_t ph_img = TOK("<|image|>"), ph_aud = TOK("<|audio|>"), boi = TOK("<|image>"), eoi = TOK("<image|>"),
                  boa = TOK("<|audio>"), eoa = TOK("<audio|>");
#undef TOK
    size_t extra = 0;
    for (int i = 0; i < n_items; i++) {
        if (items[i].n_tokens <= 0 || !items[i].embd) return g4_fail(err, G4_ERR_ARG, "media item %d is empty", i);
        extra += (size_t)items[i].n_tokens + 1;
    }
    if (n_items && (ph_img < 0 || ph_aud < 0 || boi < 0 || eoi < 0 || boa < 0 || eoa < 0))
        return g4_fail(err, G4_ERR_UNSUPPORTED, "the vocabulary lacks the image/audio marker tokens");
    int32_t *o = malloc((n + extra + 1) * sizeof *o);
    if (!o) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    size_t k = 0;
    int it = 0;
    for (size_t i = 0; i < n; i++) {
        const int32_t t = ids[i];
        if ((t != ph_img && t != ph_aud) || it == n_items) {
            o[k++] = t;
            continue;
        }
        const g4_mm_item *m = &items[it];
        if (m->image != (t == ph_img)) {
            free(o);
            return g4_fail(err, G4_ERR_ARG, "media item %d is %s but the prompt has an %s placeholder there", it,
                           m->image ? "an image" : "audio", t == ph_img ? "image" : "audio");
        }
        o[k++] = m->image ? boi : boa;
        spans[it] = (g4_media_span){(int)k, m->n_tokens, m->embd, m->image};
        for (int r = 0; r < m->n_tokens; r++) o[k++] = t;
        o[k++] = m->image ? eoi : eoa;
        it++;
    }
    if (it != n_items) {
        free(o);
        return g4_fail(err, G4_ERR_ARG, "%d media item(s) have no place in the prompt (the template dropped them)",
                       n_items - it);
    }
    *out = o;
    *n_out = k;
    return G4_OK;
}
