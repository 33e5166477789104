#!/bin/sh
# roofline.sh [MODEL...] — decode speed against this machine's memory bandwidth,
# measured in the same run: tokens/s x weight bytes per token / bandwidth.
# Without arguments it uses models/12b-q4_0.gguf (and e2b) made with tools/mkgguf:
#   build/mkgguf --shape 12b --type q4_0 -o models/12b-q4_0.gguf
# Environment: BUILD (default build), THREADS (default 2), TG (default 32), PP (default 0).
set -eu
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
TG=${TG:-32}
PP=${PP:-0}
[ $# -gt 0 ] || set -- models/12b-q4_0.gguf
for m in "$@"; do
    if [ ! -f "$m" ]; then
        echo "roofline: $m not found; create it with $BUILD/mkgguf (see docs/PERF.md)" >&2
        exit 1
    fi
done
bw_before=$("$BUILD/bandwidth" -t "$THREADS" -r 6 | awk '/threads='"$THREADS"' /{for(i=1;i<=NF;i++) if($i ~ /^median_gbps=/){split($i,a,"=");print a[2]}}')
for m in "$@"; do
    line=$("$BUILD/gemma4c" bench -m "$m" -p "$PP" -n "$TG" -r 3 -t "$THREADS" | tee /dev/stderr | grep 'test=tg')
    bw_after=$("$BUILD/bandwidth" -t "$THREADS" -r 6 | awk '/threads='"$THREADS"' /{for(i=1;i<=NF;i++) if($i ~ /^median_gbps=/){split($i,a,"=");print a[2]}}')
    eff=$(printf '%s\n' "$line" | sed -n 's/.*eff_gbps=\([0-9.]*\).*/\1/p')
    awk -v m="$m" -v e="$eff" -v b1="$bw_before" -v b2="$bw_after" 'BEGIN {
        b = (b1 + b2) / 2;
        printf "roofline model=%s eff_gbps=%.2f bandwidth_gbps=%.2f (before %.2f, after %.2f) ratio=%.0f%%\n", m, e, b, b1, b2, 100 * e / b }'
    bw_before=$bw_after
done
