/* resolve.c — turn what the user typed as MODEL into a GGUF path.
 *
 *   path            an existing file (or anything containing '/' or ending in .gguf)
 *   hf:ORG/REPO/FILE.gguf, hf:ORG/REPO[:QUANT]
 *                   the Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else
 *                   $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub; layout
 *                   models--ORG--REPO/{refs/main, snapshots/REV/FILE}
 *   NAME[:TAG]      the Ollama store: $OLLAMA_MODELS, else ~/.ollama/models, else the
 *                   Linux service's /usr/share/ollama/.ollama/models; manifest
 *                   manifests/HOST/NAMESPACE/NAME/TAG (defaults registry.ollama.ai,
 *                   library, latest) whose layer of media type
 *                   application/vnd.ollama.image.model names blobs/sha256-HEX. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/status.h"
#include "g4.h"

#define OLLAMA_MODEL "application/vnd.ollama.image.model"

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...) {
    g4_buf b = G4_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    g4_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return g4_buf_take(&b, NULL);
}

static char *read_small(const char *path, size_t cap, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
    fclose(f);
    if (!buf || n > cap) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Names are used as path components: refuse anything that could walk out of the store. */
static bool safe_component(const char *s, size_t n) {
    if (n == 0 || n > 200) return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/' || c == '\\' || c < 0x20) return false;
    }
    return true;
}

/* ---- Hugging Face cache ---- */

static char *hf_hub_dir(void) {
    const char *v;
    if ((v = getenv("HF_HUB_CACHE")) && *v) return strdup(v);
    if ((v = getenv("HUGGINGFACE_HUB_CACHE")) && *v) return strdup(v);
    if ((v = getenv("HF_HOME")) && *v) return dupf("%s/hub", v);
    if ((v = getenv("XDG_CACHE_HOME")) && *v) return dupf("%s/huggingface/hub", v);
    if ((v = getenv("HOME")) && *v) return dupf("%s/.cache/huggingface/hub", v);
    return NULL;
}

static bool ends_with_ci(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcasecmp(s + n - m, suf);
}

static bool contains_ci(const char *s, const char *needle) {
    size_t m = strlen(needle);
    for (; *s; s++)
        if (!strncasecmp(s, needle, m)) return true;
    return false;
}

/* GGUF files directly in dir matching quant (NULL = any), excluding projector files;
 * the first shard of split files only. Returns how many matched; *first gets one. */
static int find_gguf(const char *dir, const char *quant, char **first, g4_buf *names) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (!ends_with_ci(nm, ".gguf") || contains_ci(nm, "mmproj")) continue;
        const char *of = strstr(nm, "-of-");
        if (of && of >= nm + 6 && strncmp(of - 6, "-00001", 6)) continue; /* later shards */
        if (quant && !contains_ci(nm, quant)) continue;
        if (n++ == 0) *first = dupf("%s/%s", dir, nm);
        g4_buf_printf(names, "%s%s", names->n ? ", " : "", nm);
    }
    closedir(d);
    return n;
}

static g4_status resolve_hf(const char *ref, char **out, g4_error *err) {
    /* ref = ORG/REPO/PATH.gguf or ORG/REPO[:QUANT] */
    const char *s1 = strchr(ref, '/');
    if (!s1 || s1 == ref)
        return g4_fail(err, G4_ERR_ARG, "hf:%s: expected hf:ORG/REPO/FILE.gguf or hf:ORG/REPO:QUANT", ref);
    const char *rest = s1 + 1;
    size_t repo_len = strcspn(rest, "/:");
    if (!safe_component(ref, (size_t)(s1 - ref)) || !safe_component(rest, repo_len))
        return g4_fail(err, G4_ERR_ARG, "hf:%s: bad organisation or repository name", ref);
    const char *file = rest[repo_len] == '/' ? rest + repo_len + 1 : NULL;
    const char *quant = rest[repo_len] == ':' ? rest + repo_len + 1 : NULL;
    if (file && (strstr(file, "..") || !*file))
        return g4_fail(err, G4_ERR_ARG, "hf:%s: bad file name", ref);
    char *hub = hf_hub_dir();
    if (!hub) return g4_fail(err, G4_ERR_ARG, "hf:%s: no HOME or HF_HOME to find the Hugging Face cache", ref);
    char *repo_dir = dupf("%s/models--%.*s--%.*s", hub, (int)(s1 - ref), ref, (int)repo_len, rest);
    g4_status st = G4_OK;
    char *found = NULL;
    g4_buf names = G4_BUF_INIT;
    if (!repo_dir || !is_dir(repo_dir)) {
        st = g4_fail(err, G4_ERR_IO,
                     "hf:%s: the repository is not in the Hugging Face cache (looked in %s). "
                     "Download it first, e.g. `hf download %.*s/%.*s%s%s`",
                     ref, repo_dir ? repo_dir : hub, (int)(s1 - ref), ref, (int)repo_len, rest,
                     file ? " " : "", file ? file : "");
        goto done;
    }
    /* snapshot order: refs/main first, then every other snapshot */
    char *main_rev = NULL;
    {
        char *refp = dupf("%s/refs/main", repo_dir);
        size_t len = 0;
        main_rev = refp ? read_small(refp, 256, &len) : NULL;
        free(refp);
        if (main_rev) {
            main_rev[strcspn(main_rev, " \r\n")] = 0;
            if (!safe_component(main_rev, strlen(main_rev))) {
                free(main_rev);
                main_rev = NULL;
            }
        }
    }
    char *snaps = dupf("%s/snapshots", repo_dir);
    DIR *d = snaps ? opendir(snaps) : NULL;
    for (int pass = 0; pass < 2 && !found; pass++) {
        if (pass == 0 && !main_rev) continue;
        if (pass == 1 && d) rewinddir(d);
        struct dirent *de = NULL;
        while (!found) {
            const char *rev;
            if (pass == 0) {
                rev = main_rev;
            } else {
                if (!d || !(de = readdir(d))) break;
                rev = de->d_name;
                if (rev[0] == '.' || (main_rev && !strcmp(rev, main_rev))) continue;
            }
            char *sdir = dupf("%s/%s", snaps, rev);
            if (file) {
                char *p = dupf("%s/%s", sdir, file);
                if (p && is_file(p)) found = p;
                else free(p);
            } else if (sdir) {
                g4_buf here = G4_BUF_INIT;
                char *first = NULL;
                int k = find_gguf(sdir, quant, &first, &here);
                if (k == 1) {
                    found = first;
                } else if (k > 1) {
                    free(first);
                    st = g4_fail(err, G4_ERR_ARG,
                                 "hf:%s: several GGUF files match (%s); name one: hf:ORG/REPO/FILE.gguf "
                                 "or add the quantisation, e.g. hf:ORG/REPO:Q4_K_M",
                                 ref, g4_buf_str(&here));
                    g4_buf_free(&here);
                    free(sdir);
                    break;
                }
                g4_buf_free(&here);
            }
            free(sdir);
            if (pass == 0) break;
        }
        if (st) break;
    }
    if (d) closedir(d);
    free(snaps);
    free(main_rev);
    if (!found && !st)
        st = g4_fail(err, G4_ERR_IO, "hf:%s: no %s in the cached snapshots of %s", ref,
                     file ? file : quant ? "GGUF file matching the quantisation" : "GGUF file", repo_dir);
done:
    g4_buf_free(&names);
    free(repo_dir);
    free(hub);
    if (!st) *out = found;
    else free(found);
    return st;
}

/* ---- Ollama store ---- */

/* Candidate store roots in search order; returns how many were written. */
static int ollama_roots(char *roots[3]) {
    int n = 0;
    const char *v = getenv("OLLAMA_MODELS");
    if (v && *v) {
        roots[n++] = strdup(v);
        return n; /* an explicit store is the only one searched */
    }
    if ((v = getenv("HOME")) && *v) roots[n++] = dupf("%s/.ollama/models", v);
    roots[n++] = strdup("/usr/share/ollama/.ollama/models");
    return n;
}

static g4_status manifest_blob(const char *root, const char *manifest, const char *shown, const char *media_type,
                               char **out, g4_error *err) {
    size_t len = 0;
    char *text = read_small(manifest, 1 << 20, &len);
    if (!text) return g4_fail(err, G4_ERR_IO, "%s: cannot read the Ollama manifest %s", shown, manifest);
    g4_json *j = NULL;
    g4_error jerr = {0};
    g4_status st = g4_json_parse(text, len, &j, &jerr);
    free(text);
    if (st) return g4_fail(err, G4_ERR_FORMAT, "%s: the Ollama manifest %s is not valid JSON: %s", shown, manifest, jerr.msg);
    const g4_json *layers = g4_json_get(j, "layers");
    const char *digest = NULL;
    size_t dlen = 0;
    for (size_t i = 0; layers && i < g4_json_len(layers); i++) {
        const g4_json *l = g4_json_at(layers, i);
        const g4_json *mt = g4_json_get(l, "mediaType"), *dg = g4_json_get(l, "digest");
        size_t mlen;
        const char *m = mt ? g4_json_string(mt, &mlen) : NULL;
        if (m && mlen == strlen(media_type) && !memcmp(m, media_type, mlen) && dg) {
            digest = g4_json_string(dg, &dlen);
            break;
        }
    }
    st = G4_OK;
    if (!digest || dlen < 8 || dlen > 100 || strncmp(digest, "sha256:", 7)) {
        st = g4_fail(err, G4_ERR_FORMAT, "%s: the Ollama manifest %s has no %s layer", shown, manifest, media_type);
    } else {
        for (size_t i = 7; i < dlen; i++)
            if (!strchr("0123456789abcdef", digest[i])) {
                st = g4_fail(err, G4_ERR_FORMAT, "%s: bad digest in the Ollama manifest %s", shown, manifest);
                break;
            }
        if (!st) {
            char *blob = dupf("%s/blobs/sha256-%.*s", root, (int)(dlen - 7), digest + 7);
            if (!blob) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
            else if (!is_file(blob)) {
                st = g4_fail(err, G4_ERR_IO, "%s: the manifest names %s, which is missing (re-run `ollama pull`)", shown, blob);
                free(blob);
            } else *out = blob;
        }
    }
    g4_json_free(j);
    return st;
}

static g4_status resolve_ollama(const char *name, const char *media_type, char **out, g4_error *err) {
    /* [HOST/][NAMESPACE/]MODEL[:TAG] */
    const char *colon = strrchr(name, ':');
    const char *slash = strrchr(name, '/');
    if (colon && slash && colon < slash) colon = NULL;
    const char *tag = colon ? colon + 1 : "latest";
    size_t base_len = colon ? (size_t)(colon - name) : strlen(name);
    const char *parts[3];
    size_t plen[3];
    int np = 0;
    for (size_t i = 0, s = 0; i <= base_len; i++)
        if (i == base_len || name[i] == '/') {
            if (np == 3) return g4_fail(err, G4_ERR_ARG, "'%s' is not a model name (HOST/NAMESPACE/MODEL:TAG)", name);
            parts[np] = name + s;
            plen[np++] = i - s;
            s = i + 1;
        }
    const char *host = "registry.ollama.ai", *ns = "library";
    size_t hl = strlen(host), nl = strlen(ns);
    const char *model = parts[np - 1];
    size_t ml = plen[np - 1];
    if (np == 3) host = parts[0], hl = plen[0], ns = parts[1], nl = plen[1];
    if (np == 2) ns = parts[0], nl = plen[0];
    if (!safe_component(host, hl) || !safe_component(ns, nl) || !safe_component(model, ml) ||
        !safe_component(tag, strlen(tag)))
        return g4_fail(err, G4_ERR_ARG, "'%s' is not a file or a valid Ollama model name", name);
    char *roots[3] = {0};
    int nr = ollama_roots(roots);
    g4_buf looked = G4_BUF_INIT;
    g4_status st = G4_OK;
    bool found = false;
    for (int r = 0; r < nr && !found && !st; r++) {
        if (!roots[r]) continue;
        char *man = dupf("%s/manifests/%.*s/%.*s/%.*s/%s", roots[r], (int)hl, host, (int)nl, ns, (int)ml, model, tag);
        if (!man) continue;
        g4_buf_printf(&looked, "%s%s", looked.n ? ", " : "", man);
        if (is_file(man)) {
            st = manifest_blob(roots[r], man, name, media_type, out, err);
            found = !st;
        }
        free(man);
    }
    if (!found && !st)
        st = g4_fail(err, G4_ERR_IO,
                     "'%s' is neither a file nor a model in the local Ollama store (looked for %s). "
                     "Get one with `ollama pull %s`, download a GGUF from Hugging Face "
                     "(e.g. hf:ggml-org/gemma-4-E2B-it-GGUF/FILE.gguf after `hf download`), or pass a path",
                     name, g4_buf_str(&looked), name);
    g4_buf_free(&looked);
    for (int r = 0; r < nr; r++) free(roots[r]);
    return st;
}

g4_status g4_model_resolve(const char *name, char **path, g4_error *err) {
    *path = NULL;
    if (!name || !*name) return g4_fail(err, G4_ERR_ARG, "no model given");
    if (!strncmp(name, "hf:", 3)) return resolve_hf(name + 3, path, err);
    const bool looks_like_path = name[0] == '/' || name[0] == '.' || name[0] == '~' || ends_with_ci(name, ".gguf");
    if (looks_like_path || is_file(name) || is_dir(name)) {
        /* a path: the loader reports a missing or unreadable file with its own message */
        *path = strdup(name);
        return *path ? G4_OK : g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    return resolve_ollama(name, OLLAMA_MODEL, path, err);
}

g4_status g4_model_resolve_projector(const char *name, char **path, g4_error *err) {
    *path = NULL;
    if (!name || !*name || !strncmp(name, "hf:", 3) || name[0] == '/' || name[0] == '.' || name[0] == '~' ||
        ends_with_ci(name, ".gguf") || is_file(name))
        return g4_fail(err, G4_ERR_IO, "%s is not an Ollama model name", name ? name : "(null)");
    return resolve_ollama(name, "application/vnd.ollama.image.projector", path, err);
}
