/* cli_media.h — media files -> embedding rows for the CLI (see media.c). */
#ifndef G4_CLI_MEDIA_H
#define G4_CLI_MEDIA_H
#include "cli.h"
#include "mm/mm.h"

typedef struct {
    bool image;
    g4_image_mode mode;
    float *embd; /* [n_tokens][n_embd] */
    int n_tokens;
} cli_media;

/* --mmproj, else *mmproj*.gguf next to the model, else the Ollama manifest's projector. */
char *cli_find_mmproj(const cli_opts *o);
int cli_media_open(const cli_opts *o, g4_engine *e, g4_mmproj **p);
int cli_media_embed(const cli_opts *o, g4_engine *e, g4_mmproj *p, const cli_media_arg *m, cli_media *out);
void cli_media_free(cli_media *m);

#endif
