/* cli.h — shared pieces of the gemma4c command line (options, engine opening, I/O). */
#ifndef G4_CLI_H
#define G4_CLI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "g4.h"

#define CLI_MAX_STOP 16
#define CLI_MAX_MEDIA 16

typedef struct {
    const char *path;
    bool image; /* else audio */
} cli_media_arg;

typedef struct {
    const char *cmd;
    const char *model;      /* as given (path, Ollama name or hf: reference) */
    const char *model_path; /* resolved file */
    const char *text;       /* positional argument after the model: prompt / TEXT / IDS ("-" = stdin) */
    const char *tokens, *out, *messages, *tools, *system, *layout;
    const char *host, *api_key, *cors, *alias; /* serve */
    int port, parallel;
    long long max_body;
    const char *mmproj, *image_mode; /* multimodal */
    const char *draft, *draft_path;  /* MTP drafter (--draft), as given and resolved */
    int draft_max;                   /* longest draft (default 3) */
    bool draft_fixed;                /* always draft_max tokens (no adaptation) */
    cli_media_arg media[CLI_MAX_MEDIA];
    int n_media;
    const char *stop[CLI_MAX_STOP];
    int n_stop;
    int threads, ctx, gen, pp, n, reps;
    bool think, special, bos, no_gen_prompt, verbose, color, no_color;
    /* sampling; NAN / -1 = default */
    double temp, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty;
    int top_k, repeat_last_n;
    long long seed; /* -1 = random */
    g4_isa isa;
    g4_gelu_mode gelu;
    g4_load_mode load;
} cli_opts;

int cli_die(const char *what, const g4_error *err);
/* Opens the engine for o->model_path with the common options (progress bar on a tty
 * for large files). Returns 0 or 1 after printing the error. */
int cli_open_engine(const cli_opts *o, g4_engine **e);
/* Opens the --draft model against e (*d = NULL without --draft). 0 or 1 after an error
 * message naming the file and the fix. */
typedef struct g4_drafter g4_drafter;
int cli_open_drafter(const cli_opts *o, g4_engine *e, g4_drafter **d);
/* Reads all of a file ("-" = stdin) into a NUL-terminated buffer (free() it). Prints the
 * error and returns NULL on failure. */
char *cli_read_file(const char *path, size_t *len);
/* o->text, or stdin when it is "-". NULL (after an error message) on failure. */
char *cli_text_arg(const cli_opts *o, const char *what, size_t *len);
double cli_now(void);
/* Writes rows x cols floats as a GLD1 file ("-" = stdout); 0 or 1 after an error message. */
int cli_write_gld(const char *path, const float *data, int rows, int cols);
/* Token ids written "2,105,9259", "2 105 9259" or "[2, 105, 9259]" (*out malloc'd, may be
 * empty); prints an error naming `what` and returns -1 on a bad id. */
int cli_parse_ids(const char *s, const char *what, int32_t **out, size_t *n);

int cmd_tokenize(const cli_opts *o);
int cmd_detokenize(const cli_opts *o);
int cmd_template(const cli_opts *o);
int cmd_run(const cli_opts *o);
int cmd_chat(const cli_opts *o);
int cmd_serve(const cli_opts *o);
int cmd_media(const cli_opts *o);

#endif
