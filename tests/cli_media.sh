#!/bin/sh
# cli_media.sh GEMMA4C — `gemma4c media` writes the projected embeddings of the fixture
# image / audio files; an independent script (tools/compare_gld.py) compares them with
# llama.cpp's goldens (--image-mode llamacpp), and `run` accepts the media.
set -u
bin=$1
data=$(cd "$(dirname "$0")" && pwd)/data
tools=$(cd "$(dirname "$0")/../tools" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
m=$data/dense-f32.gguf
for f in img_gradient_96x64.png img_shapes_200x120.png aud_chirp_16k_mono_1p5s.wav aud_chirp_44k1_stereo_1s.wav; do
    case $f in img_*) kind=--image ;; *) kind=--audio ;; esac
    name=${f%.*}
    if ! "$bin" media -m "$m" "$kind" "$data/media/$f" --image-mode llamacpp --out "$tmp/$name.gld" 2>"$tmp/err"; then
        echo "FAIL: media $f: $(cat "$tmp/err")"; fail=1; continue
    fi
    # the projector's own reproducibility: 1e-5 relative (fixtures tolerance), checked as absolute on |x| <~ 5
    out=$(python3 "$tools/compare_gld.py" "$tmp/$name.gld" "$data/golden/mtmd/dense-f32.$name.media0.embd.gld" --atol 5e-5 2>&1) ||
        { echo "FAIL: media $f vs golden: $out"; fail=1; }
done
# HF mode (the default) resizes to the token budget: more soft tokens than the letterbox
"$bin" media -m "$m" --image "$data/media/img_gradient_96x64.png" --out "$tmp/hf.gld" 2>"$tmp/log" || { echo "FAIL: hf media"; fail=1; }
grep -q "260 tokens" "$tmp/log" || { echo "FAIL: hf mode token count: $(cat "$tmp/log")"; fail=1; }
# errors: not an image, a missing file, no projector
printf 'not an image' > "$tmp/x.png"
out=$("$bin" media -m "$m" --image "$tmp/x.png" --out "$tmp/x.gld" 2>&1); st=$?
[ $st = 1 ] && printf '%s' "$out" | grep -q "x.png" || { echo "FAIL: bad image: $st $out"; fail=1; }
out=$("$bin" media -m "$data/e-q8_0.gguf" --image "$data/media/img_gradient_96x64.png" --out "$tmp/x.gld" 2>&1); st=$?
[ $st = 1 ] && printf '%s' "$out" | grep -q "mmproj" || { echo "FAIL: no projector: $st $out"; fail=1; }
# run with media
"$bin" run -m "$m" --image "$data/media/img_shapes_200x120.png" --audio "$data/media/aud_chirp_16k_mono_1p5s.wav" \
    -n 4 --temp 0 -v "What is in this input?" > /dev/null 2> "$tmp/run.log" || { echo "FAIL: run with media: $(cat "$tmp/run.log")"; fail=1; }
grep -q "prompt: 326 tokens" "$tmp/run.log" || { echo "FAIL: run media prompt size: $(cat "$tmp/run.log")"; fail=1; }
exit $fail
