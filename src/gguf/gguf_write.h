/* gguf_write.h — a GGUF v3 writer (tests, tools/mkgguf).
 *
 * Build a description (keys, tensors), then write it to a file or a malloc'd buffer.
 * Tensor data comes from a caller pointer (borrowed until the write) or from a fill
 * callback that is asked for the data in chunks, so multi-GB files are streamed and
 * never held in memory. Chunks start at multiples of the tensor type's block size.
 *
 * The writer is strict about sizes (a tensor's shape and type must give a valid byte
 * size) but permissive about names: duplicate keys or tensor names, odd versions and
 * raw value bytes are written as given, so tests can build deliberately broken files.
 *
 * The add functions return G4_OK, G4_ERR_ARG or G4_ERR_NOMEM; the first error is kept
 * (sticky) and returned again by the write functions. */
#ifndef G4_GGUF_WRITE_H
#define G4_GGUF_WRITE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "g4.h"

typedef struct g4_gguf_writer g4_gguf_writer;

/* Produces bytes [offset_in_tensor, offset_in_tensor + n) of tensor tensor_index. */
typedef void (*g4_gguf_fill_fn)(void *user, int64_t tensor_index, uint64_t offset_in_tensor, void *buf,
                                size_t n);

g4_gguf_writer *g4_gguf_writer_new(void); /* NULL when out of memory */
void g4_gguf_writer_free(g4_gguf_writer *w); /* NULL is a no-op */

/* The header's version field (default 3). The layout is always v2/v3's. */
void g4_gguf_w_version(g4_gguf_writer *w, uint32_t version);
/* Data alignment (power of two, default 32). Also adds a `general.alignment` u32 key. */
g4_status g4_gguf_w_alignment(g4_gguf_writer *w, uint32_t alignment);

/* Scalar keys. */
g4_status g4_gguf_w_u8(g4_gguf_writer *w, const char *key, uint8_t v);
g4_status g4_gguf_w_i8(g4_gguf_writer *w, const char *key, int8_t v);
g4_status g4_gguf_w_u16(g4_gguf_writer *w, const char *key, uint16_t v);
g4_status g4_gguf_w_i16(g4_gguf_writer *w, const char *key, int16_t v);
g4_status g4_gguf_w_u32(g4_gguf_writer *w, const char *key, uint32_t v);
g4_status g4_gguf_w_i32(g4_gguf_writer *w, const char *key, int32_t v);
g4_status g4_gguf_w_u64(g4_gguf_writer *w, const char *key, uint64_t v);
g4_status g4_gguf_w_i64(g4_gguf_writer *w, const char *key, int64_t v);
g4_status g4_gguf_w_f32(g4_gguf_writer *w, const char *key, float v);
g4_status g4_gguf_w_f64(g4_gguf_writer *w, const char *key, double v);
g4_status g4_gguf_w_bool(g4_gguf_writer *w, const char *key, bool v);
g4_status g4_gguf_w_str(g4_gguf_writer *w, const char *key, const char *s);
g4_status g4_gguf_w_str_n(g4_gguf_writer *w, const char *key, const char *s, size_t len);

/* Arrays. g4_gguf_w_arr takes n elements of a fixed-size type (u8..f64, bool) in host
 * order. */
g4_status g4_gguf_w_arr(g4_gguf_writer *w, const char *key, uint32_t elem_type, const void *elems, uint64_t n);
g4_status g4_gguf_w_arr_i32(g4_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
g4_status g4_gguf_w_arr_f32(g4_gguf_writer *w, const char *key, const float *v, uint64_t n);
g4_status g4_gguf_w_arr_bool(g4_gguf_writer *w, const char *key, const bool *v, uint64_t n);
/* NUL-terminated strings; lens may be NULL (else explicit lengths, embedded NULs allowed). */
g4_status g4_gguf_w_arr_str(g4_gguf_writer *w, const char *key, const char *const *s, const size_t *lens,
                            uint64_t n);
/* A key whose value is given as raw, already-encoded bytes (nested arrays, hostile
 * values): writes key, type, then the n bytes unchanged. */
g4_status g4_gguf_w_raw(g4_gguf_writer *w, const char *key, uint32_t type, const void *bytes, size_t n);

/* Tensors. ne[0..n_dims) as in GGUF (ne[0] contiguous). Returns the tensor index, or -1
 * (and records the error) on a bad shape/type. data is borrowed until the write. */
int64_t g4_gguf_w_tensor(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                         const int64_t *ne, const void *data);
int64_t g4_gguf_w_tensor_fill(g4_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const int64_t *ne, g4_gguf_fill_fn fill, void *user);

/* Bytes the written file will have (0 after an error). */
uint64_t g4_gguf_writer_size(const g4_gguf_writer *w);
/* Bytes of tensor data (without padding). */
uint64_t g4_gguf_writer_data_bytes(const g4_gguf_writer *w);
/* The sticky error (G4_OK when none); its message when err is not NULL. */
g4_status g4_gguf_writer_status(const g4_gguf_writer *w, g4_error *err);

g4_status g4_gguf_writer_write_file(g4_gguf_writer *w, const char *path, g4_error *err);
/* *buf is malloc'd (free() it). */
g4_status g4_gguf_writer_write_mem(g4_gguf_writer *w, void **buf, size_t *size, g4_error *err);

#endif
