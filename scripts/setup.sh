#!/bin/sh
# setup.sh — install the Debian/Ubuntu packages gemma4c needs to build and test.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -eu

need=""
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd cc || have_cmd gcc || need="$need gcc"
have_cmd make || need="$need make"
have_cmd cmake || need="$need cmake"
have_cmd git || need="$need git"
have_cmd python3 || need="$need python3"   # tools/compare_gld.py (independent golden check)
have_cmd clang || need="$need clang"       # compile-checks the ARM NEON kernels on x86

if [ -z "$need" ]; then
    exit 0
fi
echo "gemma4c setup: missing packages:$need" >&2
if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need
elif have_cmd sudo && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    # shellcheck disable=SC2086
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
else
    echo "run as root:  apt-get update && apt-get install -y$need" >&2
    exit 1
fi
