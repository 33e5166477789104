#!/bin/sh
# neon_qemu.sh — cross-build the kernel test for aarch64 and run it under qemu-user, so
# the NEON kernels are executed (not just compiled) on an x86 machine. Needs
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (ctest skips it otherwise).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc="aarch64-linux-gnu-gcc -std=c11 -O1 -D_GNU_SOURCE -I$root/include -I$root/src"
for f in "$root"/src/core/*.c "$root/src/kernels/ref.c" "$root/src/kernels/dispatch.c"; do
    $cc -c "$f" -o "$tmp/$(basename "$f").o"
done
$cc -march=armv8.2-a+dotprod+fp16 -c "$root/src/kernels/arm_neon.c" -o "$tmp/neon.o"
$cc -I"$root/tests" -DG4_TEST_DATA='"x"' -DG4_BUILD_DIR='"x"' "$root/tests/test_kernels.c" \
    "$tmp"/*.o -static -lm -lpthread -o "$tmp/test_kernels"
qemu-aarch64 -cpu max "$tmp/test_kernels"       # with dotprod
qemu-aarch64 -cpu cortex-a72 "$tmp/test_kernels" # without: integer dots stay on the reference
