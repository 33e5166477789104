/* layout.h — media soft tokens in the prompt (spec §6.6): every <|image|> / <|audio|>
 * placeholder the chat template wrote becomes <|image> + n soft tokens + <image|>
 * (audio: <|audio> … <audio|>), and the soft tokens get the projected rows. */
#ifndef G4_MM_LAYOUT_H
#define G4_MM_LAYOUT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/generate.h"
#include "g4.h"
#include "text/vocab.h"

typedef struct {
    bool image;        /* else audio */
    const float *embd; /* [n_tokens][n_embd] */
    int n_tokens;
} g4_mm_item;

/* ids[0..n) -> *out (malloc'd) with the placeholders expanded, items taken in order;
 * spans[0..n_items) get the soft-token ranges (spans must hold n_items). A placeholder
 * without an item is kept as it is (text that spelled it); items left over, or an item
 * of the wrong kind for its placeholder, fail with G4_ERR_ARG. */
g4_status g4_mm_expand(const g4_vocab *v, const int32_t *ids, size_t n, const g4_mm_item *items, int n_items,
                       int32_t **out, size_t *n_out, g4_media_span *spans, g4_error *err);

#endif
