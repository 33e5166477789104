#!/bin/sh
# cli_text.sh GEMMA4C — tokenize / detokenize / template / run / chat end to end on the
# tiny fixture models (ids from tests/data/golden/tokenize.json, llama.cpp's tokenizer).
set -u
bin=$1
data=$(cd "$(dirname "$0")" && pwd)/data
m=$data/dense-f32.gguf # 12B-like layout (large template)
me=$data/e-q8_0.gguf   # E2B/E4B-like layout (small template)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
eq() { # eq WHAT GOT WANT
    if [ "$2" != "$3" ]; then
        printf 'FAIL: %s\n  got:  %s\n  want: %s\n' "$1" "$2" "$3"; fail=1
    fi
}
ok() { # ok WHAT STATUS
    if [ "$2" != 0 ]; then echo "FAIL: $1 (status $2)"; fail=1; fi
}

eq "tokenize plain" "$("$bin" tokenize -m "$m" 'Hello world')" "[99, 323, 330, 450, 396, 333, 336, 330, 322]"
eq "tokenize --bos" "$("$bin" tokenize -m "$m" --bos 'Hello')" "[2, 99, 323, 330, 450]"
eq "tokenize empty --bos" "$("$bin" tokenize -m "$m" --bos '')" "[2]"
eq "tokenize empty" "$("$bin" tokenize -m "$m" '')" "[]"
eq "tokenize \\n\\n" "$("$bin" tokenize -m "$m" "$(printf 'a\n\nb')")" "[319, 284, 320]"
nl='
'
eq "tokenize --special" "$("$bin" tokenize -m "$m" --special "<|turn>user${nl}hi<turn|>")" "[6, 461, 394, 283, 609, 7]"
eq "tokenize no special" "$("$bin" tokenize -m "$m" "<|turn>user${nl}hi<turn|>")" \
   "[87, 151, 459, 89, 461, 394, 283, 609, 87, 459, 151, 89]"
eq "tokenize user-defined always" "$("$bin" tokenize -m "$m" '<|"|>quoted<|"|>')" "[24, 335, 339, 333, 424, 322, 24]"
eq "tokenize -- -5" "$("$bin" tokenize -m "$m" -- '-5')" "$(printf '%s' '-5' | "$bin" tokenize -m "$m" -)"
# stdin: a text far beyond the argument-size limit
i=0; : > "$tmp/big.txt"
while [ $i -lt 3000 ]; do printf 'Once upon a time, 2026-11-27: Café crème 中文 😀\n' >> "$tmp/big.txt"; i=$((i+1)); done
"$bin" tokenize -m "$m" - < "$tmp/big.txt" > "$tmp/big.ids"; ok "tokenize stdin" $?
n=$(tr ',' '\n' < "$tmp/big.ids" | wc -l)
[ "$n" -gt 90000 ] || { echo "FAIL: tokenize stdin gave $n ids"; fail=1; }
"$bin" detokenize -m "$m" - < "$tmp/big.ids" > "$tmp/big.back"; ok "detokenize stdin" $?
cmp -s "$tmp/big.txt" "$tmp/big.back" || { echo "FAIL: detokenize(tokenize(big)) differs"; fail=1; }

eq "detokenize" "$("$bin" detokenize -m "$m" '99,323,330,450')" "Hello"
eq "detokenize json" "$("$bin" detokenize -m "$m" '[2, 99, 323, 330, 450]')" "Hello"
eq "detokenize --special" "$("$bin" detokenize -m "$m" --special '[2, 6, 461, 394]')" "<bos><|turn>user"
eq "detokenize user-defined" "$("$bin" detokenize -m "$m" '22,338,23')" "<|channel>t<channel|>"
out=$("$bin" detokenize -m "$m" '1,99999' 2>&1); st=$?
[ $st = 1 ] && printf '%s' "$out" | grep -q "outside the vocabulary" || { echo "FAIL: detokenize bad id: $st $out"; fail=1; }
out=$("$bin" detokenize -m "$m" '1,x' 2>&1); st=$?
[ $st = 2 ] && printf '%s' "$out" | grep -q "bad token id" || { echo "FAIL: detokenize junk: $st $out"; fail=1; }

# template: the spec's example 1 (§10.5), large and small layouts, thinking on
cat > "$tmp/m.json" <<'J'
[{"role": "system", "content": "You are a concise assistant."},
 {"role": "user", "content": "What is the capital of France?"},
 {"role": "assistant", "content": "Paris."},
 {"role": "user", "content": "And of Italy?"}]
J
want='<bos><|turn>system
You are a concise assistant.<turn|>
<|turn>user
What is the capital of France?<turn|>
<|turn>model
Paris.<turn|>
<|turn>user
And of Italy?<turn|>
<|turn>model
'
"$bin" template -m "$m" --messages "$tmp/m.json" > "$tmp/large.txt"; ok "template large" $?
printf '%s<|channel>thought\n<channel|>' "$want" | cmp -s - "$tmp/large.txt" || { echo "FAIL: template large:"; cat "$tmp/large.txt"; fail=1; }
"$bin" template -m "$me" --messages "$tmp/m.json" > "$tmp/small.txt"; ok "template small" $?
printf '%s' "$want" | cmp -s - "$tmp/small.txt" || { echo "FAIL: template small:"; cat "$tmp/small.txt"; fail=1; }
"$bin" template -m "$m" --think --messages "$tmp/m.json" > "$tmp/think.txt"; ok "template think" $?
printf '%s' "$want" | sed 's/^You are/<|think|>\nYou are/' | cmp -s - "$tmp/think.txt" || { echo "FAIL: template --think:"; cat "$tmp/think.txt"; fail=1; }
# tools + a tool call with JSON-string arguments + the tool result (spec §10.6 stage C)
cat > "$tmp/t.json" <<'J'
[{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.",
  "parameters": {"type": "object", "properties": {
    "city": {"type": "string", "description": "City name"},
    "unit": {"type": "string", "description": "Temperature unit", "enum": ["celsius", "fahrenheit"]}},
  "required": ["city"]}}}]
J
cat > "$tmp/c.json" <<'J'
[{"role": "user", "content": "What's the weather in Paris?"},
 {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
   "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]},
 {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 18, \"condition\": \"cloudy\"}"}]
J
want='<bos><|turn>system
<|tool>declaration:get_weather{description:<|"|>Get the current weather for a city.<|"|>,parameters:{properties:{city:{description:<|"|>City name<|"|>,type:<|"|>STRING<|"|>},unit:{description:<|"|>Temperature unit<|"|>,enum:[<|"|>celsius<|"|>,<|"|>fahrenheit<|"|>],type:<|"|>STRING<|"|>}},required:[<|"|>city<|"|>],type:<|"|>OBJECT<|"|>}}<tool|><turn|>
<|turn>user
What'"'"'s the weather in Paris?<turn|>
<|turn>model
<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,unit:<|"|>celsius<|"|>}<tool_call|><|tool_response>response:get_weather{value:<|"|>{"temperature": 18, "condition": "cloudy"}<|"|>}<tool_response|>'
"$bin" template -m "$m" --messages "$tmp/c.json" --tools "$tmp/t.json" > "$tmp/tool.txt"; ok "template tools" $?
printf '%s' "$want" | cmp -s - "$tmp/tool.txt" || { echo "FAIL: template tools:"; cat "$tmp/tool.txt"; echo; fail=1; }
echo '{"role": "user"}' > "$tmp/bad.json"
out=$("$bin" template -m "$m" --messages "$tmp/bad.json" 2>&1); st=$?
[ $st = 1 ] && printf '%s' "$out" | grep -q "array" || { echo "FAIL: template non-array: $st $out"; fail=1; }
printf '[{"role": "user", "content": "x"' > "$tmp/bad.json"
out=$("$bin" template -m "$m" --messages "$tmp/bad.json" 2>&1); st=$?
[ $st = 1 ] && printf '%s' "$out" | grep -q "not valid JSON" || { echo "FAIL: template bad JSON: $st $out"; fail=1; }

# run: greedy is deterministic; a seed makes sampling deterministic; -n bounds the answer
a=$("$bin" run -m "$m" --temp 0 -n 12 'Hello there' 2>/dev/null); ok "run greedy" $?
b=$(printf 'Hello there' | "$bin" run -m "$m" --temp 0 -n 12 - 2>/dev/null); ok "run stdin" $?
eq "run greedy twice (argument vs stdin)" "$a" "$b"
a=$("$bin" run -m "$m" --seed 7 -n 12 'Hi' 2>/dev/null)
b=$("$bin" run -m "$m" --seed 7 -n 12 'Hi' 2>/dev/null)
eq "run same seed" "$a" "$b"
out=$("$bin" run -m "$m" -v -n 5 --temp 0 'Hi' 2>&1 >/dev/null)
printf '%s' "$out" | grep -q "5 tokens" || { echo "FAIL: run -n 5 stats: $out"; fail=1; }
out=$("$bin" run -m "$m" --ctx 8 'a long prompt that cannot fit in eight tokens of context' 2>&1); st=$?
[ $st = 1 ] && printf '%s' "$out" | grep -q "context" || { echo "FAIL: run ctx overflow: $st $out"; fail=1; }

# chat: commands, history, save -> template round trip
printf 'hello\n/think on\nsecond\\\nline\n/save %s\n/reset\n/quit\n' "$tmp/conv.json" |
    "$bin" chat -m "$m" -n 4 --temp 0 > "$tmp/chat.out" 2> "$tmp/chat.err"; ok "chat" $?
grep -q "thinking on" "$tmp/chat.err" || { echo "FAIL: chat /think"; cat "$tmp/chat.err"; fail=1; }
grep -q "tokens/s" "$tmp/chat.err" || { echo "FAIL: chat stats"; cat "$tmp/chat.err"; fail=1; }
grep -q '"second\\nline"' "$tmp/conv.json" || { echo "FAIL: chat /save"; cat "$tmp/conv.json"; fail=1; }
"$bin" template -m "$m" --messages "$tmp/conv.json" > /dev/null; ok "template of a saved chat" $?

# the real 262144-token vocabulary (vocab-only GGUF unpacked by the tokenizer fixture)
rv=${2:-}
if [ -n "$rv" ] && [ -f "$rv" ]; then
    eq "real: Hello world" "$("$bin" tokenize -m "$rv" 'Hello world')" "[9259, 1902]"
    eq "real: chat prompt" "$("$bin" tokenize -m "$rv" --bos --special "<|turn>user${nl}Hello<turn|>${nl}<|turn>model${nl}")" \
       "[2, 105, 2364, 107, 9259, 106, 107, 105, 4368, 107]"
    eq "real: 你好世界" "$("$bin" tokenize -m "$rv" '你好世界')" "[144626, 12811]"
    eq "real: detokenize" "$("$bin" detokenize -m "$rv" '[23391, 155818, 1902]')" "hello 👋 world"
    "$bin" tokenize -m "$rv" - < "$tmp/big.txt" > "$tmp/rbig.ids"; ok "real: tokenize stdin" $?
    "$bin" detokenize -m "$rv" - < "$tmp/rbig.ids" | cmp -s - "$tmp/big.txt" || { echo "FAIL: real: round trip"; fail=1; }
    "$bin" template -m "$rv" --messages "$tmp/m.json" | cmp -s - "$tmp/large.txt" ||
        { echo "FAIL: template on a vocab-only file (no PLE key: large layout)"; fail=1; }
else
    echo "note: no real vocabulary given, real-size CLI checks skipped"
fi

# model names
out=$(OLLAMA_MODELS=$tmp/none "$bin" run -m gemma4:nothere 'hi' 2>&1); st=$?
[ $st = 1 ] && printf '%s' "$out" | grep -q "ollama pull gemma4:nothere" || { echo "FAIL: missing model: $st $out"; fail=1; }
exit $fail
