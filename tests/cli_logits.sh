#!/bin/sh
# cli_logits.sh GEMMA4C — drive `gemma4c logits` on every fixture model and prompt and
# compare the GLD1 output with the llama.cpp goldens using tools/compare_gld.py, a
# script independent of the C code. F32 models and the reference mode (--isa ref vs
# the -dequant goldens) must be within 0.05; the quantized fast path must agree on the
# top-1 token wherever the golden margin exceeds 2.
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
data=$here/data
cmp="python3 $here/../tools/compare_gld.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
i=0
grep -v '^#' "$data/golden/prompts.txt" | while read -r line; do
    echo "$line" | tr ' ' ',' > "$tmp/p$i"
    i=$((i + 1))
done
for model in dense-f32 e-f32 moe-f32 dense-q8_0 dense-q4_0 dense-q4_k_m e-q8_0 e-q4_0 moe-q8_0 moe-q4_0; do
    for p in 0 1 2 3; do
        toks=$(cat "$tmp/p$p")
        "$bin" logits -m "$data/$model.gguf" --tokens "$toks" --out "$tmp/out.gld" -t 2
        case $model in
        *-f32)
            printf '%-14s p%s fast: ' "$model" "$p"
            $cmp "$tmp/out.gld" "$data/golden/$model.p$p.prompt.gld" --atol 0.05 || fail=1
            ;;
        *)
            printf '%-14s p%s fast: ' "$model" "$p"
            $cmp "$tmp/out.gld" "$data/golden/$model.p$p.prompt.gld" --margin 2 || fail=1
            "$bin" logits -m "$data/$model.gguf" --tokens "$toks" --out "$tmp/ref.gld" -t 2 --isa ref
            printf '%-14s p%s ref:  ' "$model" "$p"
            $cmp "$tmp/ref.gld" "$data/golden/$model-dequant.p$p.prompt.gld" --atol 0.05 || fail=1
            ;;
        esac
    done
done
exit $fail
