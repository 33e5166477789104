/* test_model_load.c — model-level validation: a valid fixture is rewritten with one
 * defect at a time (missing key, missing tensor, wrong shape, wrong type, inconsistent
 * hyper-parameters, NaN weights) and loading must fail with the matching status and a
 * message naming the problem — never crash. Runs under ASan/UBSan in `make test`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "g4.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "t.h"

#define SRC G4_TEST_DATA "/dense-f32.gguf"

typedef struct {
    const char *drop_key;
    const char *drop_tensor;
    const char *reshape; /* tensor name */
    int64_t ne[2];
    const char *retype; /* tensor name */
    uint32_t type;
    const void *type_data;
    const char *nan_tensor;
    const char *str_key; /* override a string key */
    const char *str_val;
    const char *u32_key; /* override an integer key */
    uint32_t u32_val;
    const char *i32arr_key; /* override an i32 array key */
    const int32_t *i32arr;
    int n_i32arr;
} mutation;

static char tmp_path[256];

/* Writes kv unchanged (arrays: element type and count, then the raw elements). */
static void copy_kv(g4_gguf_writer *w, const g4_gguf_kv *kv) {
    if (kv->type != G4_GGUF_ARRAY) {
        g4_gguf_w_raw(w, kv->key, kv->type, kv->data, kv->size);
        return;
    }
    size_t n = 12 + kv->size;
    uint8_t *buf = malloc(n);
    memcpy(buf, &kv->arr_type, 4);
    memcpy(buf + 4, &kv->arr_n, 8);
    memcpy(buf + 12, kv->data, kv->size);
    g4_gguf_w_raw(w, kv->key, kv->type, buf, n);
    free(buf);
}

/* Copies SRC to tmp_path with the mutation applied. */
static bool write_mutant(const mutation *mu) {
    g4_gguf *g = NULL;
    g4_error err = {0};
    if (g4_gguf_open(SRC, &g, &err)) {
        T_CHECKF(0, "%s", err.msg);
        return false;
    }
    g4_gguf_writer *w = g4_gguf_writer_new();
    float *nan_copy = NULL;
    for (int64_t i = 0; i < g4_gguf_n_kv(g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        if (mu->drop_key && !strcmp(kv->key, mu->drop_key)) continue;
        if (mu->str_key && !strcmp(kv->key, mu->str_key)) {
            g4_gguf_w_str(w, kv->key, mu->str_val);
        } else if (mu->u32_key && !strcmp(kv->key, mu->u32_key)) {
            g4_gguf_w_u32(w, kv->key, mu->u32_val);
        } else if (mu->i32arr_key && !strcmp(kv->key, mu->i32arr_key)) {
            g4_gguf_w_arr_i32(w, kv->key, mu->i32arr, (uint64_t)mu->n_i32arr);
        } else {
            copy_kv(w, kv);
        }
    }
    if (mu->u32_key && !g4_gguf_find_kv(g, mu->u32_key)) g4_gguf_w_u32(w, mu->u32_key, mu->u32_val);
    for (int64_t i = 0; i < g4_gguf_n_tensors(g); i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        if (mu->drop_tensor && !strcmp(t->name, mu->drop_tensor)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t type = t->type;
        const void *data = t->data;
        if (mu->reshape && !strcmp(t->name, mu->reshape)) {
            ne[0] = mu->ne[0];
            ne[1] = mu->ne[1];
        }
        if (mu->retype && !strcmp(t->name, mu->retype)) {
            type = mu->type;
            data = mu->type_data;
        }
        if (mu->nan_tensor && !strcmp(t->name, mu->nan_tensor)) {
            nan_copy = malloc(t->nbytes);
            memcpy(nan_copy, t->data, t->nbytes);
            nan_copy[3] = NAN;
            data = nan_copy;
        }
        T_CHECK(g4_gguf_w_tensor(w, t->name, type, t->n_dims, ne, data) >= 0);
    }
    err = (g4_error){0};
    g4_status st = g4_gguf_writer_write_file(w, tmp_path, &err);
    T_CHECKF(st == G4_OK, "writer: %s", err.msg);
    g4_gguf_writer_free(w);
    g4_gguf_close(g);
    free(nan_copy);
    return st == G4_OK;
}

static void expect(const char *what, const mutation *mu, g4_status want, const char *needle) {
    if (!write_mutant(mu)) return;
    g4_engine_config cfg = g4_engine_config_default();
    cfg.model_path = tmp_path;
    cfg.n_threads = 1;
    g4_engine *e = NULL;
    g4_error err = {0};
    g4_status st = g4_engine_open(&cfg, &e, &err);
    T_CHECKF(st == want, "%s: status %s (%s), want %s", what, g4_status_str(st), err.msg, g4_status_str(want));
    if (want != G4_OK) {
        T_CHECKF(e == NULL, "%s: engine returned on failure", what);
        T_CHECKF(needle && strstr(err.msg, needle), "%s: message '%s' lacks '%s'", what, err.msg, needle);
        T_CHECKF(strstr(err.msg, tmp_path) != NULL, "%s: message '%s' does not name the file", what, err.msg);
    }
    g4_engine_free(e);
}

/* Splits SRC into two shards (as llama.cpp's gguf-split does) and checks that the split
 * model loads and computes exactly what the single file computes. */
static void check_split(void) {
    char base[256], p1[300], p2[300];
    snprintf(base, sizeof base, "%s/g4_split_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    snprintf(p1, sizeof p1, "%s-00001-of-00002.gguf", base);
    snprintf(p2, sizeof p2, "%s-00002-of-00002.gguf", base);
    g4_gguf *g = NULL;
    g4_error err = {0};
    T_CHECK(g4_gguf_open(SRC, &g, &err) == G4_OK);
    if (!g) return;
    const int64_t nt = g4_gguf_n_tensors(g), half = nt / 2;
    for (int s = 0; s < 2; s++) {
        g4_gguf_writer *w = g4_gguf_writer_new();
        if (s == 0) {
            for (int64_t i = 0; i < g4_gguf_n_kv(g); i++) {
                const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
                copy_kv(w, kv);
            }
            g4_gguf_w_i32(w, "split.tensors.count", (int32_t)nt);
        }
        g4_gguf_w_u16(w, "split.no", (uint16_t)s);
        g4_gguf_w_u16(w, "split.count", 2);
        for (int64_t i = s == 0 ? 0 : half; i < (s == 0 ? half : nt); i++) {
            const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
            g4_gguf_w_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
        }
        T_CHECK(g4_gguf_writer_write_file(w, s == 0 ? p1 : p2, &err) == G4_OK);
        g4_gguf_writer_free(w);
    }
    g4_gguf_close(g);

    const int32_t toks[6] = {2, 333, 331, 568, 462, 494};
    float *out[2] = {NULL, NULL};
    const char *paths[2] = {SRC, p1};
    for (int k = 0; k < 2; k++) {
        g4_engine_config cfg = g4_engine_config_default();
        cfg.model_path = paths[k];
        cfg.n_threads = 2;
        g4_engine *e = NULL;
        err = (g4_error){0};
        T_CHECKF(g4_engine_open(&cfg, &e, &err) == G4_OK, "%s: %s", paths[k], err.msg);
        if (!e) continue;
        g4_session *s = NULL;
        T_CHECK(g4_session_create(e, NULL, &s, &err) == G4_OK);
        out[k] = malloc(6 * 640 * sizeof(float));
        T_CHECK(g4_session_eval(s, toks, 6, true, out[k], &err) == G4_OK);
        g4_session_free(s);
        g4_model_info mi;
        g4_engine_info(e, &mi);
        T_CHECK(mi.weight_bytes > 9000000);
        g4_engine_free(e);
    }
    T_CHECKF(out[0] && out[1] && !memcmp(out[0], out[1], 6 * 640 * sizeof(float)),
             "split model computes different logits");
    free(out[0]);
    free(out[1]);
    /* opening the second shard, or a split model with a shard missing, fails clearly */
    g4_engine_config cfg = g4_engine_config_default();
    g4_engine *e = NULL;
    cfg.model_path = p2;
    err = (g4_error){0};
    T_CHECK(g4_engine_open(&cfg, &e, &err) != G4_OK && strstr(err.msg, "open the first file"));
    unlink(p2);
    cfg.model_path = p1;
    err = (g4_error){0};
    T_CHECK(g4_engine_open(&cfg, &e, &err) == G4_ERR_IO && strstr(err.msg, "-00002-of-00002.gguf"));
    unlink(p1);
}

int main(void) {
    snprintf(tmp_path, sizeof tmp_path, "%s/g4_model_load_%d.gguf",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());

    expect("unchanged copy", &(mutation){0}, G4_OK, NULL);
    expect("missing block_count", &(mutation){.drop_key = "gemma4.block_count"}, G4_ERR_FORMAT,
           "gemma4.block_count");
    expect("missing sliding window pattern", &(mutation){.drop_key = "gemma4.attention.sliding_window_pattern"},
           G4_ERR_FORMAT, "sliding_window_pattern");
    expect("missing architecture", &(mutation){.drop_key = "general.architecture"}, G4_ERR_FORMAT,
           "architecture");
    expect("other architecture", &(mutation){.str_key = "general.architecture", .str_val = "llama"},
           G4_ERR_UNSUPPORTED, "not a Gemma 4");
    expect("missing tensor", &(mutation){.drop_tensor = "blk.2.attn_q.weight"}, G4_ERR_FORMAT,
           "missing required tensor blk.2.attn_q.weight");
    expect("missing output norm", &(mutation){.drop_tensor = "output_norm.weight"}, G4_ERR_FORMAT,
           "output_norm.weight");
    expect("wrong shape", &(mutation){.reshape = "blk.0.attn_k.weight", .ne = {128, 256}}, G4_ERR_FORMAT,
           "blk.0.attn_k.weight has shape");
    expect("wrong norm length", &(mutation){.reshape = "blk.1.attn_q_norm.weight", .ne = {32, 2}},
           G4_ERR_FORMAT, "attn_q_norm");
    static uint8_t iq2[66];
    expect("unsupported type", &(mutation){.retype = "blk.0.attn_norm.weight", .type = 16, .type_data = iq2},
           G4_ERR_UNSUPPORTED, "iq2_xxs");
    expect("NaN in a norm", &(mutation){.nan_tensor = "blk.3.ffn_norm.weight"}, G4_ERR_FORMAT, "NaN");
    const int32_t kv_short[3] = {2, 2, 1};
    expect("per-layer array of wrong length",
           &(mutation){.i32arr_key = "gemma4.attention.head_count_kv", .i32arr = kv_short, .n_i32arr = 3},
           G4_ERR_FORMAT, "head_count_kv");
    const int32_t kv_bad[5] = {3, 2, 1, 2, 1};
    expect("heads not a multiple of KV heads",
           &(mutation){.i32arr_key = "gemma4.attention.head_count_kv", .i32arr = kv_bad, .n_i32arr = 5},
           G4_ERR_FORMAT, "multiple");
    expect("key_length != value_length",
           &(mutation){.u32_key = "gemma4.attention.value_length", .u32_val = 64}, G4_ERR_FORMAT,
           "value_length");
    expect("absurd block_count", &(mutation){.u32_key = "gemma4.block_count", .u32_val = 1000000},
           G4_ERR_FORMAT, "block_count");
    expect("shared layers >= layers",
           &(mutation){.u32_key = "gemma4.attention.shared_kv_layers", .u32_val = 5}, G4_ERR_FORMAT,
           "shared_kv_layers");
    expect("rope dims beyond head", &(mutation){.u32_key = "gemma4.rope.dimension_count", .u32_val = 256},
           G4_ERR_FORMAT, "rope");

    /* a file that does not exist, and one that is not GGUF */
    g4_engine_config cfg = g4_engine_config_default();
    cfg.model_path = "/nonexistent/model.gguf";
    g4_engine *e = NULL;
    g4_error err = {0};
    T_CHECK(g4_engine_open(&cfg, &e, &err) == G4_ERR_IO && strstr(err.msg, "/nonexistent/model.gguf"));
    FILE *f = fopen(tmp_path, "wb");
    fputs("this is not a gguf file at all", f);
    fclose(f);
    cfg.model_path = tmp_path;
    err = (g4_error){0};
    T_CHECK(g4_engine_open(&cfg, &e, &err) == G4_ERR_FORMAT && e == NULL);
    /* bad config */
    cfg.model_path = NULL;
    T_CHECK(g4_engine_open(&cfg, &e, &err) == G4_ERR_ARG);
    unlink(tmp_path);
    check_split();
    return T_DONE();
}
