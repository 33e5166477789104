#!/bin/sh
# cli_errors.sh GEMMA4C — the CLI fails cleanly (exit status, message naming the
# problem, no crash) on bad arguments and bad files.
set -u
bin=$1
data=$(cd "$(dirname "$0")" && pwd)/data
fail=0
expect() { # expect STATUS NEEDLE -- command...
    want=$1; needle=$2; shift 2
    out=$("$@" 2>&1); st=$?
    if [ "$st" != "$want" ] || ! printf '%s' "$out" | grep -q -- "$needle"; then
        echo "FAIL: $* -> status $st, output: $out (want $want, '$needle')"; fail=1
    fi
}
expect 0 "usage" "$bin" --help
expect 2 "usage" "$bin"
expect 2 "unknown command" "$bin" frobnicate -m x
expect 1 "/nonexistent.gguf" "$bin" info /nonexistent.gguf
expect 1 "cli_errors.sh" "$bin" info "$0"
expect 2 "tokens" "$bin" logits -m "$data/dense-f32.gguf"
expect 2 "bad token id" "$bin" logits -m "$data/dense-f32.gguf" --tokens 2,x
expect 1 "outside the vocabulary" "$bin" logits -m "$data/dense-f32.gguf" --tokens 2,99999
expect 2 "not a number" "$bin" bench -m "$data/dense-f32.gguf" -t abc
expect 2 "unknown" "$bin" logits -m "$data/dense-f32.gguf" --tokens 2 --isa sse9
expect 0 "layer pattern" "$bin" info "$data/e-q4_0.gguf"
exit $fail
