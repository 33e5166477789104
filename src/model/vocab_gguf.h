/* vocab_gguf.h — build a g4_vocab from the tokenizer.ggml.* keys of a GGUF file. */
#ifndef G4_MODEL_VOCAB_GGUF_H
#define G4_MODEL_VOCAB_GGUF_H
#include "g4.h"
#include "gguf/gguf.h"
#include "text/vocab.h"

/* Accepts tokenizer.ggml.model "gemma4", and "llama" (older Ollama files) when merges
 * are present. add_bos is forced on, as llama.cpp does for Gemma 4. */
g4_status g4_vocab_from_gguf(const g4_gguf *g, g4_vocab **out, g4_error *err);

/* Opens the GGUF file at path — a whole model or a vocab-only file (no tensors) — builds
 * its vocabulary as g4_vocab_from_gguf does and closes the file again (the vocabulary keeps
 * its own copy). Errors name the path. */
g4_status g4_vocab_load_gguf(const char *path, g4_vocab **out, g4_error *err);

#endif
