#!/bin/sh
# setup.sh — install the Debian/Ubuntu packages gemma4c needs to build and test.
# As root it runs apt-get; otherwise it prints the exact command to run.
# Required: a C compiler, make, cmake, pkg-config, libmicrohttpd (the HTTP server),
# stb_image, libwebp, libsndfile, libsamplerate (image and audio input). Optional (tests are skipped without them):
# python3 (independent golden checker), clang (compile-checks the ARM NEON kernels),
# node + npm (the live check of the chat renderer against the reference Jinja engine,
# npm package @huggingface/jinja pinned in tests/chat/package-lock.json; the committed
# goldens are checked either way).
set -eu
cd "$(dirname "$0")/.."

npm_deps() { # best effort: without the registry the live check reports "skipped"
    if command -v npm >/dev/null 2>&1 && [ ! -d tests/chat/node_modules/@huggingface/jinja ]; then
        timeout 180 npm ci --prefix tests/chat --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ||
            echo "gemma4c setup: npm ci --prefix tests/chat failed (offline?): the live Jinja check will be skipped" >&2
    fi
    return 0
}

have_cmd() { command -v "$1" >/dev/null 2>&1; }
need=""
have_cmd cc || have_cmd gcc || need="$need gcc libc6-dev"
have_cmd make || need="$need make"
have_cmd cmake || need="$need cmake"
have_cmd pkg-config || need="$need pkg-config"
# the HTTP server (gemma4c serve) is built on libmicrohttpd
[ -f /usr/include/microhttpd.h ] || need="$need libmicrohttpd-dev"
# image and audio files: stb_image (libstb-dev), WebP, libsndfile, libsamplerate
[ -f /usr/include/stb/stb_image.h ] || [ -f /usr/include/stb_image.h ] || need="$need libstb-dev"
[ -f /usr/include/webp/decode.h ] || need="$need libwebp-dev"
[ -f /usr/include/sndfile.h ] || need="$need libsndfile1-dev"
[ -f /usr/include/samplerate.h ] || need="$need libsamplerate0-dev"
want=""
have_cmd python3 || want="$want python3"
have_cmd clang || want="$want clang"

if [ -z "$need$want" ]; then npm_deps; exit 0; fi

install() { # install PACKAGES...; returns non-zero on failure
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"
    elif have_cmd sudo && sudo -n true 2>/dev/null; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
    else
        return 1
    fi
}

if [ -n "$need" ]; then
    echo "gemma4c setup: missing required packages:$need$want" >&2
    # shellcheck disable=SC2086
    if ! install $need $want; then
        echo "gemma4c setup: run as root:  apt-get update && apt-get install -y$need$want" >&2
        exit 1
    fi
    npm_deps
    exit 0
fi
echo "gemma4c setup: optional packages missing:$want (some tests will be skipped)" >&2
# shellcheck disable=SC2086
install $want >/dev/null 2>&1 || echo "gemma4c setup: to add them: apt-get install -y$want" >&2
npm_deps
exit 0
