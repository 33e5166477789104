/* vocab_gguf.c — tokenizer.ggml.* arrays -> g4_vocab. */
#include "model/vocab_gguf.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static int32_t opt_id(const g4_gguf *g, const char *key, int32_t dflt) {
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, key);
    int64_t x;
    if (!kv || !g4_gguf_kv_int(kv, &x) || x < 0 || x > INT32_MAX) return dflt;
    return (int32_t)x;
}

g4_status g4_vocab_from_gguf(const g4_gguf *g, g4_vocab **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "vocab: out is NULL");
    *out = NULL;
    if (!g) return g4_fail(err, G4_ERR_ARG, "vocab: gguf is NULL");
    const g4_gguf_kv *kmodel = g4_gguf_find_kv(g, "tokenizer.ggml.model");
    const g4_gguf_kv *ktok = g4_gguf_find_kv(g, "tokenizer.ggml.tokens");
    const g4_gguf_kv *ktype = g4_gguf_find_kv(g, "tokenizer.ggml.token_type");
    const g4_gguf_kv *kmerge = g4_gguf_find_kv(g, "tokenizer.ggml.merges");
    const char *model = NULL;
    size_t model_len = 0;
    if (!kmodel || !g4_gguf_kv_str(kmodel, &model, &model_len))
        return g4_fail(err, G4_ERR_FORMAT, "vocab: missing tokenizer.ggml.model");
    bool has_merges = kmerge && kmerge->type == G4_GGUF_ARRAY &&
                      kmerge->arr_type == G4_GGUF_STRING && kmerge->arr_n > 0;
    bool is_gemma4 = model_len == 6 && memcmp(model, "gemma4", 6) == 0;
    bool is_llama = model_len == 5 && memcmp(model, "llama", 5) == 0;
    if (!is_gemma4 && !(is_llama && has_merges))
        return g4_fail(err, G4_ERR_UNSUPPORTED, "vocab: tokenizer model '%.*s' is not supported",
                       (int)(model_len > 64 ? 64 : model_len), model);
    if (!has_merges) return g4_fail(err, G4_ERR_FORMAT, "vocab: missing tokenizer.ggml.merges");
    if (!ktok || ktok->type != G4_GGUF_ARRAY || ktok->arr_type != G4_GGUF_STRING ||
        ktok->arr_n == 0 || ktok->arr_n >= (uint64_t)INT32_MAX)
        return g4_fail(err, G4_ERR_FORMAT, "vocab: missing or invalid tokenizer.ggml.tokens");
    if (ktype && (ktype->type != G4_GGUF_ARRAY || ktype->arr_n != ktok->arr_n))
        return g4_fail(err, G4_ERR_FORMAT,
                       "vocab: tokenizer.ggml.token_type does not match the token count");
    if (kmerge->arr_n >= (uint64_t)UINT32_MAX)
        return g4_fail(err, G4_ERR_FORMAT, "vocab: too many merges");
    size_t n = (size_t)ktok->arr_n, nm = (size_t)kmerge->arr_n;
    const char **toks = malloc(n * sizeof *toks);
    size_t *tlens = malloc(n * sizeof *tlens);
    int32_t *types = malloc(n * sizeof *types);
    const char **merges = malloc(nm * sizeof *merges);
    size_t *mlens = malloc(nm * sizeof *mlens);
    g4_status st = G4_OK;
    if (!toks || !tlens || !types || !merges || !mlens) {
        st = g4_fail(err, G4_ERR_NOMEM, "vocab: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t t = G4_TOKEN_NORMAL;
        if (!g4_gguf_arr_str(ktok, i, &toks[i], &tlens[i]) ||
            (ktype && !g4_gguf_arr_int(ktype, i, &t))) {
            st = g4_fail(err, G4_ERR_FORMAT, "vocab: cannot read token %zu", i);
            goto done;
        }
        types[i] = (t >= 0 && t <= G4_TOKEN_BYTE) ? (int32_t)t : G4_TOKEN_UNDEFINED;
    }
    for (size_t i = 0; i < nm; i++) {
        if (!g4_gguf_arr_str(kmerge, i, &merges[i], &mlens[i])) {
            st = g4_fail(err, G4_ERR_FORMAT, "vocab: cannot read merge %zu", i);
            goto done;
        }
    }
    g4_vocab_desc d = {
        .n_tokens = n,
        .tokens = toks,
        .token_lens = tlens,
        .token_types = types,
        .n_merges = nm,
        .merges = merges,
        .merge_lens = mlens,
        .bos_id = opt_id(g, "tokenizer.ggml.bos_token_id", -1),
        .eos_id = opt_id(g, "tokenizer.ggml.eos_token_id", -1),
        .unk_id = opt_id(g, "tokenizer.ggml.unknown_token_id", -1),
        .add_bos = true, /* llama.cpp forces it for Gemma 4 whatever add_bos_token says */
    };
    st = g4_vocab_create(&d, out, err);
    if (st) g4_error_prefix(err, "tokenizer");
done:
    free(toks);
    free(tlens);
    free(types);
    free(merges);
    free(mlens);
    return st;
}

g4_status g4_vocab_load_gguf(const char *path, g4_vocab **out, g4_error *err) {
    if (!out) return g4_fail(err, G4_ERR_ARG, "vocab: out is NULL");
    *out = NULL;
    if (!path) return g4_fail(err, G4_ERR_ARG, "vocab: path is NULL");
    g4_gguf *g = NULL;
    g4_status st = g4_gguf_open(path, &g, err);
    if (st) return st;
    st = g4_vocab_from_gguf(g, out, err);
    g4_gguf_close(g);
    if (st) g4_error_prefix(err, "%s", path);
    return st;
}
