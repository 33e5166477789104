/* fuzz_gguf.c — libFuzzer target for the GGUF reader.
 *
 * Not part of the CMake build. From the repository root:
 *
 *   libFuzzer (clang):
 *     clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *         tests/fuzz/fuzz_gguf.c src/gguf/gguf.c src/gguf/gguf_write.c src/core/types.c src/core/status.c \
 *         -o fuzz_gguf
 *     mkdir -p corpus && cp tests/data/[a-z]*.gguf corpus/   # seeds (optional)
 *     ./fuzz_gguf -max_len=65536 -max_total_time=60 corpus
 *
 *   replay driver (any compiler; runs the target on each file given):
 *     gcc -std=c11 -g -O1 -D_GNU_SOURCE -DG4_FUZZ_REPLAY -fsanitize=address,undefined -Iinclude -Isrc \
 *         tests/fuzz/fuzz_gguf.c src/gguf/gguf.c src/gguf/gguf_write.c src/core/types.c src/core/status.c \
 *         -o fuzz_gguf_replay
 *     ./fuzz_gguf_replay crash-* tests/data/[a-z]*.gguf
 *
 * The target opens the input with g4_gguf_open_memory and reads every key, every array
 * element (recursing into nested arrays) and the first and last byte of every tensor. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static volatile uint64_t g_sink;

static uint64_t touch_arr(const g4_gguf_kv *kv, int depth) {
    uint64_t h = kv->arr_n;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        int64_t iv;
        double dv;
        bool bv;
        const char *s;
        size_t len;
        g4_gguf_kv sub;
        if (g4_gguf_arr_int(kv, i, &iv)) h += (uint64_t)iv;
        if (g4_gguf_arr_float(kv, i, &dv)) h += dv != 0.0;
        if (g4_gguf_arr_bool(kv, i, &bv)) h += bv;
        if (g4_gguf_arr_str(kv, i, &s, &len) && len) h += (uint8_t)s[0] + (uint8_t)s[len - 1];
        if (depth < 16 && g4_gguf_arr_sub(kv, i, &sub)) h += touch_arr(&sub, depth + 1);
        if (i >= 65536) break; /* bound the work per input */
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    g4_error err = {0};
    g4_gguf *g = NULL;
    g4_status st = g4_gguf_open_memory(data, size, &g, &err);
    if (st != G4_OK) {
        if (g != NULL || err.code != st || err.msg[0] == 0) abort(); /* contract: NULL + message */
        return 0;
    }
    uint64_t h = g4_gguf_version(g) + g4_gguf_alignment(g) + g4_gguf_data_offset(g) + g4_gguf_file_size(g);
    for (int64_t i = 0; i < g4_gguf_n_kv(g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        int64_t iv;
        double dv;
        bool bv;
        const char *s;
        size_t len;
        if (g4_gguf_find_kv(g, kv->key) != kv) abort();
        h += strlen(kv->key) + kv->size;
        if (g4_gguf_kv_int(kv, &iv)) h += (uint64_t)iv;
        if (g4_gguf_kv_float(kv, &dv)) h += dv != 0.0;
        if (g4_gguf_kv_bool(kv, &bv)) h += bv;
        if (g4_gguf_kv_str(kv, &s, &len) && len) h += (uint8_t)s[0] + (uint8_t)s[len - 1];
        if (kv->type == G4_GGUF_ARRAY) h += touch_arr(kv, 1);
    }
    for (int64_t i = 0; i < g4_gguf_n_tensors(g); i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        if (g4_gguf_find_tensor(g, t->name) != t) abort();
        if (t->n_dims < 1 || t->n_dims > 4 || !g4_type_valid(t->type)) abort();
        h += strlen(t->name) + (uint64_t)t->n_elements;
        if (t->nbytes) {
            const uint8_t *d = t->data;
            if (d < data || d + t->nbytes > data + size) abort();
            h += d[0] + d[t->nbytes - 1];
        }
    }
    g_sink = h;
    g4_gguf_close(g);
    return 0;
}

#ifdef G4_FUZZ_REPLAY
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "%s: cannot open\n", argv[i]);
            return 1;
        }
        uint8_t *buf = NULL;
        size_t n = 0, cap = 0;
        for (;;) {
            if (n == cap) {
                cap = cap ? cap * 2 : 65536;
                uint8_t *nb = realloc(buf, cap);
                if (!nb) {
                    fprintf(stderr, "out of memory\n");
                    return 1;
                }
                buf = nb;
            }
            size_t k = fread(buf + n, 1, cap - n, f);
            if (!k) break;
            n += k;
        }
        fclose(f);
        /* exact-size copy so sanitizers catch overreads */
        uint8_t *exact = malloc(n ? n : 1);
        if (n) memcpy(exact, buf, n);
        free(buf);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        fprintf(stderr, "%s: ok (%zu bytes)\n", argv[i], n);
    }
    return 0;
}
#endif
