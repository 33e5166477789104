/* types.h — ggml tensor type ids as stored in GGUF files, and their block geometry.
 * Pure data: the GGUF reader uses it to validate sizes, the kernels to walk rows. */
#ifndef G4_CORE_TYPES_H
#define G4_CORE_TYPES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    G4_TYPE_F32 = 0,
    G4_TYPE_F16 = 1,
    G4_TYPE_Q4_0 = 2,
    G4_TYPE_Q4_1 = 3,
    G4_TYPE_Q5_0 = 6,
    G4_TYPE_Q5_1 = 7,
    G4_TYPE_Q8_0 = 8,
    G4_TYPE_Q8_1 = 9,
    G4_TYPE_Q2_K = 10,
    G4_TYPE_Q3_K = 11,
    G4_TYPE_Q4_K = 12,
    G4_TYPE_Q5_K = 13,
    G4_TYPE_Q6_K = 14,
    G4_TYPE_Q8_K = 15,
    G4_TYPE_IQ2_XXS = 16,
    G4_TYPE_IQ2_XS = 17,
    G4_TYPE_IQ3_XXS = 18,
    G4_TYPE_IQ1_S = 19,
    G4_TYPE_IQ4_NL = 20,
    G4_TYPE_IQ3_S = 21,
    G4_TYPE_IQ2_S = 22,
    G4_TYPE_IQ4_XS = 23,
    G4_TYPE_I8 = 24,
    G4_TYPE_I16 = 25,
    G4_TYPE_I32 = 26,
    G4_TYPE_I64 = 27,
    G4_TYPE_F64 = 28,
    G4_TYPE_IQ1_M = 29,
    G4_TYPE_BF16 = 30,
    G4_TYPE_TQ1_0 = 34,
    G4_TYPE_TQ2_0 = 35,
    G4_TYPE_MXFP4 = 39,
    G4_TYPE_NVFP4 = 40,
    G4_TYPE_COUNT = 42
} g4_type;

typedef struct {
    const char *name; /* "q4_0", ... ; NULL for ids that are not valid ggml types */
    int blck;         /* elements per block */
    int size;         /* bytes per block */
} g4_type_info;

/* NULL when t is not a known ggml type (unknown or removed id). */
const g4_type_info *g4_type_get(uint32_t t);
static inline bool g4_type_valid(uint32_t t) { return g4_type_get(t) != NULL; }
const char *g4_type_name(uint32_t t); /* "?" for unknown */
/* Bytes of a row of ne0 elements; 0 if ne0 is not a multiple of the block size. */
size_t g4_row_size(g4_type t, int64_t ne0);
/* Parses a type name ("q4_0", "Q4_K", "f16"...). Returns -1 if unknown. */
int g4_type_from_name(const char *s);

#endif
