/* gguf.h — bounds-checked GGUF (v2/v3) reader over an mmap (or a caller's buffer).
 *
 * Every length, count and offset read from the file is untrusted: a malformed file
 * yields G4_ERR_FORMAT (or G4_ERR_UNSUPPORTED for a valid but unknown feature) with a
 * message naming the problem and the byte offset — never a crash. Returned pointers
 * are borrowed: valid until g4_gguf_close. */
#ifndef G4_GGUF_H
#define G4_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/types.h"
#include "g4.h"

typedef enum {
    G4_GGUF_UINT8 = 0,
    G4_GGUF_INT8 = 1,
    G4_GGUF_UINT16 = 2,
    G4_GGUF_INT16 = 3,
    G4_GGUF_UINT32 = 4,
    G4_GGUF_INT32 = 5,
    G4_GGUF_FLOAT32 = 6,
    G4_GGUF_BOOL = 7,
    G4_GGUF_STRING = 8,
    G4_GGUF_ARRAY = 9,
    G4_GGUF_UINT64 = 10,
    G4_GGUF_INT64 = 11,
    G4_GGUF_FLOAT64 = 12,
    G4_GGUF_VTYPE_COUNT = 13
} g4_gguf_vtype;

typedef struct {
    const char *key;        /* NUL-terminated copy */
    uint32_t type;          /* g4_gguf_vtype */
    uint32_t arr_type;      /* element type when type == ARRAY */
    uint64_t arr_n;         /* element count when type == ARRAY */
    const uint8_t *data;    /* raw value in the file (scalar, string length prefix, or first element) */
    size_t size;            /* bytes of the raw value */
    const uint64_t *str_off; /* ARRAY of STRING: offset of element i's u64 length prefix, relative to data
                              * (ARRAY of ARRAY: offset of element i's header); NULL otherwise */
} g4_gguf_kv;

typedef struct {
    const char *name;    /* NUL-terminated copy */
    uint32_t n_dims;     /* 1..4 */
    int64_t ne[4];       /* ne[0] contiguous; unused dims are 1 */
    uint32_t type;       /* g4_type */
    uint64_t offset;     /* relative to the data section */
    const void *data;    /* pointer into the mapping */
    size_t nbytes;
    int64_t n_elements;
} g4_gguf_tensor;

typedef struct g4_gguf g4_gguf;

/* Maps the file read-only. */
g4_status g4_gguf_open(const char *path, g4_gguf **out, g4_error *err);
/* As g4_gguf_open; copy_to_ram reads the file into anonymous memory with transparent
 * huge pages instead of mapping it (faster streaming of the weights, uses RAM), calling
 * progress (may be NULL) as bytes arrive. */
g4_status g4_gguf_open_ex(const char *path, bool copy_to_ram, g4_progress_fn progress, void *user,
                          g4_gguf **out, g4_error *err);
/* Parses a caller-owned buffer (kept borrowed; used by tests and fuzzers). */
g4_status g4_gguf_open_memory(const void *data, size_t size, g4_gguf **out, g4_error *err);
void g4_gguf_close(g4_gguf *g);

uint32_t g4_gguf_version(const g4_gguf *g);
size_t g4_gguf_alignment(const g4_gguf *g);
uint64_t g4_gguf_file_size(const g4_gguf *g);
uint64_t g4_gguf_data_offset(const g4_gguf *g); /* start of the tensor data section */

int64_t g4_gguf_n_kv(const g4_gguf *g);
const g4_gguf_kv *g4_gguf_kv_at(const g4_gguf *g, int64_t i);
const g4_gguf_kv *g4_gguf_find_kv(const g4_gguf *g, const char *key); /* NULL if absent */

int64_t g4_gguf_n_tensors(const g4_gguf *g);
const g4_gguf_tensor *g4_gguf_tensor_at(const g4_gguf *g, int64_t i);
const g4_gguf_tensor *g4_gguf_find_tensor(const g4_gguf *g, const char *name);

/* Value access. Integer getters accept any integer type (and bool) whose value fits;
 * float getters accept any numeric type. All return false on a type mismatch. */
bool g4_gguf_kv_int(const g4_gguf_kv *kv, int64_t *out);
bool g4_gguf_kv_float(const g4_gguf_kv *kv, double *out);
bool g4_gguf_kv_bool(const g4_gguf_kv *kv, bool *out);
/* STRING value: pointer into the file (NOT NUL-terminated) and its length. */
bool g4_gguf_kv_str(const g4_gguf_kv *kv, const char **s, size_t *len);
/* ARRAY element i (i < arr_n) of the matching kind. */
bool g4_gguf_arr_int(const g4_gguf_kv *kv, uint64_t i, int64_t *out);
bool g4_gguf_arr_float(const g4_gguf_kv *kv, uint64_t i, double *out);
bool g4_gguf_arr_bool(const g4_gguf_kv *kv, uint64_t i, bool *out);
bool g4_gguf_arr_str(const g4_gguf_kv *kv, uint64_t i, const char **s, size_t *len);
/* ARRAY of ARRAY: element i as a kv of type ARRAY (same key; str_off NULL, so string
 * access inside it walks the elements: fine for the small nested arrays that exist). */
bool g4_gguf_arr_sub(const g4_gguf_kv *kv, uint64_t i, g4_gguf_kv *out);

const char *g4_gguf_vtype_name(uint32_t t);
/* Byte size of a fixed-size value type; 0 for STRING / ARRAY / invalid ids. */
size_t g4_gguf_vtype_size(uint32_t t);

#endif
