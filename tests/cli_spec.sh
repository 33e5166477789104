#!/bin/sh
# cli_spec.sh GEMMA4C — `gemma4c logits --draft` against the llama.cpp speculative runs
# (tests/data/golden/mtp/<assistant>.spec.p<i>.txt, draft length 3, llama.cpp -n 32):
# every verification step (drafted / accepted / committed ids) and the final sequence
# must be the golden ones. Then the CLI errors: a target given as drafter, a drafter for
# another target, a missing file.
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
data=$here/data
gold=$data/golden/mtp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for pair in dense-f32:dense-assistant e-f32:e-assistant; do
    target=${pair%%:*}
    asst=${pair#*:}
    for p in 0 1 2; do
        toks=$(sed -n 's/.*"prompt": *\[\([^]]*\)\].*/\1/p' "$gold/$asst.p$p.json" | tr -d ' ')
        # llama.cpp's -n 32 stops only after more than 32 tokens: --gen 33
        "$bin" logits -m "$data/$target.gguf" --draft "$data/$asst-f32.gguf" --draft-max 3 --tokens "$toks" \
            --gen 33 -t 2 > "$tmp/out.json"
        sed -n 's/^GOLD_STEP n_draft=\([0-9]*\) n_accepted=\([0-9]*\) ids=\(.*\),$/{"drafted": \1, "accepted": \2, "ids": [\3]}/p' \
            "$gold/$asst.spec.p$p.txt" | sed 's/,\([0-9]\)/, \1/g' > "$tmp/want_steps"
        sed -n 's/^  \({.*}\),*$/\1/p' "$tmp/out.json" > "$tmp/got_steps"
        want_final=$(sed -n 's/^GOLD_FINAL //p' "$gold/$asst.spec.p$p.txt")
        got_final=$(sed -n 's/.*"generated": \[\([^]]*\)\].*/\1/p' "$tmp/out.json" | tr -d ' ')
        if cmp -s "$tmp/want_steps" "$tmp/got_steps" && [ "$want_final" = "$got_final" ] && [ -s "$tmp/want_steps" ]; then
            echo "ok   $asst p$p: $(wc -l < "$tmp/got_steps") steps and $(echo "$got_final" | tr ',' '\n' | wc -l) tokens as llama.cpp"
        else
            echo "FAIL $asst p$p"
            diff "$tmp/want_steps" "$tmp/got_steps" || true
            echo "want $want_final"
            echo "got  $got_final"
            fail=1
        fi
    done
done

# errors name the file and the fix, exit status 1, no crash
check_err() { # expected-substring command...
    want=$1
    shift
    if "$@" > "$tmp/o" 2> "$tmp/e"; then
        echo "FAIL (succeeded): $*"
        fail=1
    elif ! grep -q "$want" "$tmp/e"; then
        echo "FAIL (message): $*"
        cat "$tmp/e"
        fail=1
    else
        echo "ok   error: $(head -1 "$tmp/e")"
    fi
}
check_err "assistant" "$bin" logits -m "$data/dense-f32.gguf" --draft "$data/dense-f32.gguf" --tokens 2,3 --gen 2
check_err "width" "$bin" logits -m "$data/e-f32.gguf" --draft "$data/dense-assistant-f32.gguf" --tokens 2,3 --gen 2
check_err "cannot open" "$bin" run -m "$data/dense-f32.gguf" --draft "$tmp/nope.gguf" hello
check_err "draft-max" "$bin" run -m "$data/dense-f32.gguf" --draft "$data/dense-assistant-f32.gguf" --draft-max 99 hi
exit $fail
