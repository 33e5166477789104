/* test_resolve.c — MODEL names -> GGUF paths, on an Ollama store and a Hugging Face
 * cache laid out in a temporary directory (no real models, no network). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "g4.h"
#include "t.h"

static char root[256];

static void mkdirs(const char *path) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static void write_file(const char *text, const char *fmt, ...) {
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    mkdirs(dir);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* resolves name and checks the result ends with want (NULL = must fail, and the error
 * must contain needle) */
static void expect(const char *name, const char *want, const char *needle) {
    char *path = NULL;
    g4_error err = {0};
    g4_status st = g4_model_resolve(name, &path, &err);
    if (want) {
        T_CHECKF(st == G4_OK, "%s: %s", name, err.msg);
        if (!st) {
            size_t n = strlen(path), m = strlen(want);
            T_CHECKF(n >= m && !strcmp(path + n - m, want), "%s -> %s, want ...%s", name, path, want);
        }
    } else {
        T_CHECKF(st != G4_OK, "%s unexpectedly resolved to %s", name, path ? path : "?");
        T_CHECKF(strstr(err.msg, needle) != NULL, "%s: error '%s' lacks '%s'", name, err.msg, needle);
    }
    free(path);
}

static const char *manifest(const char *digest) {
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
             "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"sha256:00\",\"size\":1},"
             "\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.template\",\"digest\":\"sha256:aa\",\"size\":1},"
             "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\",\"size\":4},"
             "{\"mediaType\":\"application/vnd.ollama.image.projector\",\"digest\":\"sha256:cccc%s\",\"size\":1}]}",
             digest, digest);
    return buf;
}

static void test_ollama(void) {
    char store[512];
    snprintf(store, sizeof store, "%s/ollama", root);
    setenv("OLLAMA_MODELS", store, 1);
    write_file(manifest("1111"), "%s/manifests/registry.ollama.ai/library/gemma4/12b", store);
    write_file("GGUF", "%s/blobs/sha256-1111", store);
    write_file(manifest("2222"), "%s/manifests/registry.ollama.ai/library/gemma4/latest", store);
    write_file("GGUF", "%s/blobs/sha256-2222", store);
    write_file(manifest("3333"), "%s/manifests/registry.ollama.ai/someone/tiny/q4", store);
    write_file("GGUF", "%s/blobs/sha256-3333", store);
    write_file(manifest("4444"), "%s/manifests/example.com/team/model/v1", store);
    write_file("GGUF", "%s/blobs/sha256-4444", store);
    write_file(manifest("5555"), "%s/manifests/registry.ollama.ai/library/gone/latest", store); /* blob missing */
    write_file("{not json", "%s/manifests/registry.ollama.ai/library/broken/latest", store);
    write_file(manifest("../../etc"), "%s/manifests/registry.ollama.ai/library/evil/latest", store);

    expect("gemma4:12b", "/blobs/sha256-1111", NULL);
    {
        write_file("PROJ", "%s/blobs/sha256-cccc1111", store);
        char *pp = NULL;
        g4_error e = {0};
        T_CHECKF(g4_model_resolve_projector("gemma4:12b", &pp, &e) == G4_OK && pp &&
                     strstr(pp, "/blobs/sha256-cccc1111"), "projector: %s", e.msg);
        free(pp);
        pp = NULL;
        T_CHECK(g4_model_resolve_projector("gemma4", &pp, &e) != G4_OK && strstr(e.msg, "missing")); /* blob absent */
        free(pp);
        pp = NULL;
        T_CHECK(g4_model_resolve_projector("./x.gguf", &pp, &e) != G4_OK);
        free(pp);
    }
    expect("gemma4", "/blobs/sha256-2222", NULL);
    expect("gemma4:latest", "/blobs/sha256-2222", NULL);
    expect("someone/tiny:q4", "/blobs/sha256-3333", NULL);
    expect("example.com/team/model:v1", "/blobs/sha256-4444", NULL);
    expect("gemma4:e2b", NULL, "ollama pull gemma4:e2b");
    expect("gemma4:e2b", NULL, "/manifests/registry.ollama.ai/library/gemma4/e2b");
    expect("gone", NULL, "missing");
    expect("broken", NULL, "not valid JSON");
    expect("evil", NULL, "digest");
    expect("a/b/c/d:1", NULL, "model name");
    expect("a/../b", NULL, "");
    expect("gemma4:..", NULL, "");

    /* without OLLAMA_MODELS: ~/.ollama/models */
    unsetenv("OLLAMA_MODELS");
    char home[512];
    snprintf(home, sizeof home, "%s/home", root);
    setenv("HOME", home, 1);
    write_file(manifest("6666"), "%s/.ollama/models/manifests/registry.ollama.ai/library/gemma4/e4b", home);
    write_file("GGUF", "%s/.ollama/models/blobs/sha256-6666", home);
    expect("gemma4:e4b", "/home/.ollama/models/blobs/sha256-6666", NULL);
    expect("gemma4:31b", NULL, "/home/.ollama/models/manifests/registry.ollama.ai/library/gemma4/31b");
}

static void test_hf(void) {
    char hub[512];
    snprintf(hub, sizeof hub, "%s/hf/hub", root);
    setenv("HF_HUB_CACHE", hub, 1);
    const char *repo = "models--ggml-org--gemma-4-E2B-it-GGUF";
    write_file("rev2\n", "%s/%s/refs/main", hub, repo);
    write_file("GGUF", "%s/%s/snapshots/rev2/gemma-4-E2B-it-Q4_K_M.gguf", hub, repo);
    write_file("GGUF", "%s/%s/snapshots/rev2/gemma-4-E2B-it-Q8_0.gguf", hub, repo);
    write_file("GGUF", "%s/%s/snapshots/rev2/mmproj-gemma-4-E2B-it-f16.gguf", hub, repo);
    write_file("GGUF", "%s/%s/snapshots/rev1/old-only-Q2_K.gguf", hub, repo);
    const char *repo2 = "models--someone--split";
    write_file("GGUF", "%s/%s/snapshots/abc/big-Q4_0-00001-of-00002.gguf", hub, repo2);
    write_file("GGUF", "%s/%s/snapshots/abc/big-Q4_0-00002-of-00002.gguf", hub, repo2);

    expect("hf:ggml-org/gemma-4-E2B-it-GGUF/gemma-4-E2B-it-Q8_0.gguf", "/snapshots/rev2/gemma-4-E2B-it-Q8_0.gguf", NULL);
    expect("hf:ggml-org/gemma-4-E2B-it-GGUF:Q4_K_M", "/snapshots/rev2/gemma-4-E2B-it-Q4_K_M.gguf", NULL);
    expect("hf:ggml-org/gemma-4-E2B-it-GGUF:q8_0", "/snapshots/rev2/gemma-4-E2B-it-Q8_0.gguf", NULL);
    expect("hf:ggml-org/gemma-4-E2B-it-GGUF/old-only-Q2_K.gguf", "/snapshots/rev1/old-only-Q2_K.gguf", NULL);
    expect("hf:ggml-org/gemma-4-E2B-it-GGUF", NULL, "several GGUF files match");
    expect("hf:someone/split", "big-Q4_0-00001-of-00002.gguf", NULL);
    expect("hf:ggml-org/gemma-4-E2B-it-GGUF/nope.gguf", NULL, "no nope.gguf");
    expect("hf:google/absent", NULL, "hf download google/absent");
    expect("hf:google/absent", NULL, "models--google--absent");
    expect("hf:nonsense", NULL, "hf:ORG/REPO");
    expect("hf:ggml-org/gemma-4-E2B-it-GGUF/../../x.gguf", NULL, "bad file name");

    /* HF_HOME/hub when HF_HUB_CACHE is unset */
    unsetenv("HF_HUB_CACHE");
    char hfhome[512];
    snprintf(hfhome, sizeof hfhome, "%s/hf", root);
    setenv("HF_HOME", hfhome, 1);
    expect("hf:ggml-org/gemma-4-E2B-it-GGUF:Q8_0", "gemma-4-E2B-it-Q8_0.gguf", NULL);
}

static void test_paths(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/plain.gguf", root);
    write_file("GGUF", "%s", p);
    expect(p, "/plain.gguf", NULL);
    expect("./does-not-exist.gguf", "./does-not-exist.gguf", NULL); /* the loader reports it */
    expect("", NULL, "no model");
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/g4-resolve-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_ollama();
    test_hf();
    test_paths();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
    return T_DONE();
}
