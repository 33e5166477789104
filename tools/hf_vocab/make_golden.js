#!/usr/bin/env node
// make_golden.js — differential goldens for tests/test_tokenizer_real.c.
//
//   cd tools/hf_vocab && npm ci && node make_golden.js ../../tests/data/vocab/tokenize_diff.jsonl
//
// The reference is the BPE of @lenml/tokenizers (a fork of transformers.js) run on the
// same Gemma 4 tokenizer.json that make_vocab.js turns into the GGUF. Two encodings are
// computed for every text (no BOS):
//
//   hf   what the HF tokenizer does: every added token of tokenizer.json (special or not:
//        <unusedN>, the HTML tags, the "\n"/"\t" run tokens, the Gemma 4 specials, ...) is
//        split out of the raw text first (leftmost-longest), BPE runs on the rest.
//   ids  what llama.cpp does with parse_special = false (spec §9.2): only USER_DEFINED
//        tokens are split out (the seven forced ones minus <|tool_response>, which llama.cpp
//        retypes CONTROL as an end-of-generation token); the text is cut into runs of
//        newlines / runs of everything else; a newline run that is a token is emitted
//        whole; BPE (the same JS BPE) runs on each run.
//
// Output: one JSON object per line, {"cat", "text", "ids"} plus "hf" when it differs from
// "ids". The C tokenizer must reproduce "ids" exactly. The file is deterministic
// (seeded PRNG).
'use strict';

const fs = require('fs');
const { TokenizerLoader } = require('@lenml/tokenizers');
const g4 = require('./gemma4_tokenizer');

// ---- reference tokenizers ----

const CONFIG = {
    tokenizer_class: 'GemmaTokenizer',
    bos_token: '<bos>',
    eos_token: '<eos>',
    unk_token: '<unk>',
    pad_token: '<pad>',
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
};

function makeTokenizers() {
    const v = g4.build();
    const hf = TokenizerLoader.fromPreTrained({ tokenizerJSON: v.json, tokenizerConfig: CONFIG });
    const llJson = { ...v.json };
    llJson.added_tokens = v.json.added_tokens.filter(
        (a) => g4.USER_DEFINED.has(a.content) && a.content !== '<|tool_response>');
    if (llJson.added_tokens.length !== 6) throw new Error('expected 6 always-matched tokens');
    const ll = TokenizerLoader.fromPreTrained({ tokenizerJSON: llJson, tokenizerConfig: CONFIG });
    const vocab = new Map(v.tokens.map((t, i) => [t, i]));
    return { hf, ll, vocab };
}

function encodeHF(tk, text) {
    return tk.hf.encode(text, { add_special_tokens: false });
}

function encodeLlama(tk, text) {
    const out = [];
    const runs = text.match(/\n+|[^\n]+/g) || [];
    for (const r of runs) {
        if (r[0] === '\n' && tk.vocab.has(r)) {
            out.push(tk.vocab.get(r));
            continue;
        }
        out.push(...tk.ll.encode(r, { add_special_tokens: false }));
    }
    return out;
}

// ---- deterministic text generation ----

let seed = 0x9e3779b9;
function rnd() { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rnd() * n);
const pick = (a) => a[ri(a.length)];
const cp = (c) => String.fromCodePoint(c);
function randCp(lo, hi) {
    for (;;) {
        const c = lo + ri(hi - lo + 1);
        if (c < 0xd800 || c > 0xdfff) return cp(c);
    }
}
function randStr(ranges, n) {
    let s = '';
    for (let i = 0; i < n; i++) { const [lo, hi] = pick(ranges); s += randCp(lo, hi); }
    return s;
}

const SPEC_EXAMPLES = [
    'hello', 'hello world', ' hello', '  hello', 'hello  world', '   ', '      ',
    ' leading spaces', 'multiple    spaces', 'Hello, World!', '12345', '3.14159',
    'def foo(x): return x + 1', '{"key": "value"}', 'aaaaaa', 'café résumé naïve',
    'über Straße Größe', '你好世界', 'こんにちは', 'hello 👋 world', '\n\n', '\t\t',
];

const PROSE = [
    'The quick brown fox jumps over the lazy dog.',
    'It was the best of times, it was the worst of times, it was the age of wisdom.',
    'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse.',
    "Don't panic! It's only a test; we'll see what happens when the tokenizer meets real text.",
    'In 1969, Apollo 11 landed on the Moon; Neil Armstrong said: "That\'s one small step for man."',
    'Photosynthesis converts light energy into chemical energy stored in glucose molecules.',
    'The mitochondria is the powerhouse of the cell, or so the textbooks keep telling us.',
    'Please summarize the following article in three bullet points, keeping it under 50 words.',
    'Dear Sir or Madam,\n\nI am writing to inquire about the position advertised on your website.\n\nYours faithfully,\nJane Doe',
    'Q: What is the capital of France?\nA: Paris.\nQ: And of Germany?\nA: Berlin.',
    'Mr. O\'Neil-Smith (aged 42) bought 3½ pounds of apples @ $2.99/lb — a bargain!',
    'e.g., i.e., etc., vs., approx. ~5%; U.S.A.; Ph.D.; A.M./P.M.',
    'THE END. the end. The End. tHe EnD.',
    'Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
    'She sells sea-shells by the sea-shore; the shells she sells are sea-shells, I\'m sure.',
    'To be, or not to be, that is the question:\nWhether \'tis nobler in the mind to suffer\nThe slings and arrows of outrageous fortune',
    '“Smart quotes” and ‘single ones’, plus «guillemets» and „low-high“ quotes…',
    'Em—dash, en–dash, minus − sign, hyphen-minus, non‑breaking hyphen, figure ‒ dash.',
    'Tabs\tbetween\twords\tand a trailing tab\t',
    'Line one\r\nLine two\r\nLine three\r\n',
    'hello\u00a0world with a no-break space and a thin\u2009space and an ideographic\u3000space',
    'zero\u200bwidth\u200cnon\u200djoiner and a BOM \ufeff in the middle',
    'A sentence with trailing spaces.   ',
    '   A sentence with leading spaces.',
    'ALL CAPS SHOUTING IS ALSO TEXT, ISN\'T IT?',
];

const WORDS = ('the of and to in is was for on that with as by at from his her it an are were ' +
    'be this which or had not but have they one all there their has been would when will more ' +
    'about if out so said what up its into than them can only other new some could time these ' +
    'two may then do first any my now such like our over man me even most made after also did ' +
    'many before must through back years where much your way well down should because each just ' +
    'tokenizer merge vocabulary byte fallback sequence model inference kernel quantization ' +
    'Gemma llama transformer attention embedding gradient softmax tensor matrix vector ' +
    'running jumped quickly happiness unbelievable reorganization internationalization ' +
    'Hello World Python JavaScript Linux GitHub OpenAI Google London Paris Tokyo').split(' ');

const CODE = [
    '#include <stdio.h>\n\nint main(void) {\n    printf("Hello, world!\\n");\n    return 0;\n}\n',
    'def fib(n):\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n',
    'function debounce(fn, ms) {\n\tlet t;\n\treturn (...args) => {\n\t\tclearTimeout(t);\n\t\tt = setTimeout(() => fn(...args), ms);\n\t};\n}\n',
    'fn main() {\n    let v: Vec<u32> = (1..=10).map(|x| x * x).collect();\n    println!("{:?}", v);\n}\n',
    'SELECT u.id, u.name, COUNT(o.id) AS orders\nFROM users u\nLEFT JOIN orders o ON o.user_id = u.id\nWHERE u.created_at >= \'2024-01-01\'\nGROUP BY u.id, u.name\nHAVING COUNT(o.id) > 5;\n',
    '#!/bin/sh\nset -eu\nfor f in *.txt; do\n  wc -l "$f" | awk \'{print $1}\' >> counts.log\ndone\n',
    '<!DOCTYPE html>\n<html lang="en">\n  <head><meta charset="utf-8"><title>Test</title></head>\n  <body><p class="x">Hi &amp; bye</p></body>\n</html>\n',
    'package main\n\nimport "fmt"\n\nfunc main() {\n\tch := make(chan int, 3)\n\tgo func() { ch <- 42 }()\n\tfmt.Println(<-ch)\n}\n',
    'template <typename T>\nstd::vector<T> twice(const std::vector<T>& xs) {\n    std::vector<T> r; r.reserve(xs.size() * 2);\n    for (auto&& x : xs) { r.push_back(x); r.push_back(x); }\n    return r;\n}\n',
    'x = [i**2 for i in range(10) if i % 2 == 0]  # squares of evens\nprint(f"{x!r:>40}")\n',
    'if (a && b || !c) { x += 1; y -= 2; z *= 3; w /= 4; } else if (p != q) { r <<= 1; s >>= 2; }',
    '    indented four\n        indented eight\n\t\ttwo tabs\n  \t mixed\n',
    '// TODO(bob): fix this\n/* multi-line\n * comment\n */\n',
    'const re = /^(?:[a-z0-9!#$%&\'*+\\/=?^_`{|}~-]+)@example\\.com$/i;',
    'diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n-int x = 1;\n+int x = 2;\n',
    'CFLAGS := -O2 -Wall -Wextra\n\n%.o: %.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n',
];

const JSON_DOCS = [
    '{"name": "gemma4c", "version": "0.1.0", "tags": ["llm", "c11"], "ok": true, "n": null}',
    '[{"id":1,"x":-0.5e10},{"id":2,"x":3.14159}]',
    '{\n  "model": "gemma-4",\n  "messages": [\n    {"role": "user", "content": "Hi!"}\n  ],\n  "temperature": 0.7\n}',
    '{"emoji":"😀","cjk":"漢字","escaped":"\\u00e9\\n\\t\\"quoted\\""}',
];

const CJK = [
    '我爱北京天安门。', '今天天气很好，我们去公园散步吧！', '机器学习是人工智能的一个分支。',
    '東京は日本の首都です。', 'すもももももももものうち', 'カタカナとひらがなと漢字が混ざった文章。',
    '안녕하세요, 만나서 반갑습니다.', '한국어 토크나이저 테스트입니다.',
    '中文English混合text测试123', '「引用」『二重引用』【括弧】〈山括弧〉',
    '半角ｶﾀｶﾅと全角ＡＢＣ１２３', '繁體中文與简体中文', '𠀀𠀁𠀂 (CJK Extension B)', '龘靐齉爩',
];

const EMOJI = [
    '😀😃😄😁😆', '👍🏽 thumbs up medium skin', '👨‍👩‍👧‍👦 family', '🏳️‍🌈 rainbow flag', '🏴‍☠️ pirate',
    '🇺🇸🇯🇵🇩🇪🇫🇷 flags', '1️⃣2️⃣#️⃣ keycaps', '❤️ vs ❤ (VS16)', '🧑🏿‍🚀 astronaut', '👩‍💻 coder',
    'I ❤️ 🍕 and 🍣!', '🤖🧠💡🚀✨🔥', '☺︎☺️', '🫠🫥🫣 newer emoji', '👋👋🏻👋🏼👋🏽👋🏾👋🏿',
];

const COMBINING = [
    'e\u0301 (e + combining acute) vs é', 'n\u0303o\u0308 a\u030a', 'Z\u0351\u036b\u0343a\u0300\u0301l\u0352g\u0307o\u0489',
    'q\u0307\u0323', '\u0915\u094d\u0937 (Devanagari conjunct)', 'Å vs A\u030a vs \u212b',
    'ﬁ ligature and ﬀ', 'ǅ titlecase digraph', '\u1100\u1161\u11a8 (conjoining jamo)',
];

const SCRIPTS = [
    'مرحبا بالعالم', 'اللغة العربية جميلة جداً.', 'שלום עולם', 'עברית: אבגדהוזחטיכלמנסעפצקרשת',
    'سلام دنیا (فارسی)', 'یہ اردو ہے', 'नमस्ते दुनिया', 'हिन्दी भाषा का परीक्षण',
    'สวัสดีชาวโลก', 'Γειά σου Κόσμε', 'Привет, мир! Съешь же ещё этих мягких французских булок.',
    'გამარჯობა', 'Բարեւ', 'ሰላም ልዑል', 'வணக்கம்', 'ಕನ್ನಡ', 'ສະບາຍດີ', 'ᐊᐃᑦᓯᐊᕐᓂᖅ', 'ᚠᚢᚦᚨᚱᚲ',
    'mixed: English العربية עברית 中文', 'RTL with numbers: 123 مرحبا 456',
];

const RARE = [
    '𐀀𐀁𐀂 Linear B', '𒀀𒀁𒀂 cuneiform', '𓀀𓀁𓀂 hieroglyphs', '𐌰𐌱𐌲 Gothic', '𐎠𐎡𐎢 Old Persian',
    '𗀀𗀁 Tangut', '\ue000\ue001\uf8ff private use', '\u{f0000}\u{10fffd} supplementary PUA',
    '𝔄𝔅𝔠𝔡 math fraktur', '𝄞𝄢 music', '\u{1d400}\u{1d7ff}', '\u{e0041}\u{e0042} tags',
    '\ufffe\uffff noncharacters', '\u{10ffff}', '\u0000 NUL and \u0001\u0002\u001f\u007f controls',
    '\u0085 NEL \u2028 LS \u2029 PS', '\ufffd replacement char',
];

const ADDED = [
    '<table><tr><td>1</td></tr></table>', '<h1>Title</h1>', '<b>bold</b> and <i>it</i>', '</s>', 'a</s>b',
    '<unused0>', '<unused5><unused6241>', '[multimodal]', '<mask>', '<pad><eos><bos><unk>',
    '<|turn>user\nHi<turn|>', '<|image|>', '<|think|>', '<start_of_turn>', '<|tool_call>call:f{}<tool_call|>',
    '<|"|>str<|"|>', '<|channel>thought\n<channel|>', '<|tool_response>', 'x<|"|>y',
    '\u2581\u2581 literal lower blocks \u2581', '\u2581hello', 'a\u2581\u2581\u2581b',
    '<code>x</code>', '<div><span>nested</span></div>', '<strong>', '<s>', '<sub>2</sub>',
];

function whitespace(out) {
    for (let n = 1; n <= 40; n++) out.push(['spaces', ' '.repeat(n)]);
    for (let n = 1; n <= 40; n += (n < 8 ? 1 : 3)) out.push(['tabs', '\t'.repeat(n)]);
    for (let n = 1; n <= 70; n += (n < 12 ? 1 : 3)) out.push(['newlines', '\n'.repeat(n)]);
    out.push(['newlines', 'a\n\n\nb'], ['newlines', '\n\n\nx\n\n\n'], ['newlines', 'x\n'],
        ['newlines', '\nx'], ['crlf', '\r\n'], ['crlf', '\r\n\r\n'], ['crlf', 'a\r\nb\r\n\r\nc'],
        ['crlf', '\r\r\r'], ['crlf', '\n\r\n\r'], ['whitespace', ' \n '], ['whitespace', '\t \t '],
        ['whitespace', ' \t\n\r\f\v'], ['whitespace', 'end with space '],
        ['whitespace', 'x' + ' '.repeat(33) + 'y'], ['whitespace', '\n'.repeat(31) + 'x'],
        ['whitespace', '\t'.repeat(31) + 'x' + '\t'.repeat(32)]);
    const ws = [' ', '  ', '\t', '\n', '\n\n', '\r\n', ' \n', '\u3000', '\u00a0'];
    for (let i = 0; i < 40; i++) {
        let s = '';
        const k = 1 + ri(10);
        for (let j = 0; j < k; j++) s += rnd() < 0.6 ? pick(ws) : pick(WORDS);
        out.push(['whitespace', s]);
    }
}

function numbers(out) {
    const f = [
        () => String(ri(1000000)), () => (rnd() * 1e6).toFixed(ri(6)), () => '-' + ri(99999),
        () => `${1900 + ri(200)}-${String(1 + ri(12)).padStart(2, '0')}-${String(1 + ri(28)).padStart(2, '0')}`,
        () => `+1 (${100 + ri(900)}) ${100 + ri(900)}-${1000 + ri(9000)}`,
        () => '0x' + ri(0x7fffffff).toString(16).toUpperCase(), () => (rnd() * 1e-5).toExponential(4),
        () => `${ri(24)}:${String(ri(60)).padStart(2, '0')}:${String(ri(60)).padStart(2, '0')}`,
        () => '١٢٣٤٥', () => '一二三四五', () => '①②③ ⅠⅡⅢ ½¾', () => `v${ri(10)}.${ri(30)}.${ri(100)}`,
        () => '$' + (ri(1000000) / 100).toFixed(2), () => `${ri(100)}%`, () => '1,234,567.89',
    ];
    for (let i = 0; i < 45; i++) out.push(['digits', f[i % f.length]()]);
}

const RANGES_COMMON = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff],
    [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3],
    [0x1f300, 0x1f6ff], [0x1f900, 0x1f9ff], [0x2000, 0x206f], [0x2190, 0x22ff]];
const RANGES_RARE = [[0x10000, 0x1007f], [0x12000, 0x123ff], [0x13000, 0x1342f], [0x16800, 0x16a3f],
    [0x1d000, 0x1d0ff], [0x1e800, 0x1e8df], [0x20000, 0x2a6df], [0x30000, 0x3134a],
    [0xe000, 0xf8ff], [0xf0000, 0xf00ff], [0x0300, 0x036f], [0x0001, 0x001f]];

function generate() {
    const out = [];
    for (const s of SPEC_EXAMPLES) out.push(['spec', s]);
    for (const s of PROSE) out.push(['prose', s]);
    for (let i = 0; i < 70; i++) {
        const n = 1 + ri(25);
        const w = [];
        for (let j = 0; j < n; j++) {
            let x = pick(WORDS);
            if (rnd() < 0.1) x = x[0].toUpperCase() + x.slice(1);
            if (rnd() < 0.08) x += pick([',', '.', ';', ':', '!', '?', '"', "'s", ')']);
            w.push(x);
        }
        out.push(['prose', w.join(rnd() < 0.9 ? ' ' : pick(['  ', '\n', '\t', ' \n']))]);
    }
    for (const s of CODE) out.push(['code', s]);
    for (let i = 0; i < 40; i++) {
        const c = pick(CODE);
        const a = ri(c.length);
        out.push(['code', c.slice(a, a + 1 + ri(60))]);
    }
    for (const s of JSON_DOCS) out.push(['json', s]);
    for (let i = 0; i < 30; i++) {
        const o = {};
        const k = 1 + ri(5);
        for (let j = 0; j < k; j++) {
            const key = pick(WORDS) + (rnd() < 0.3 ? '_' + ri(100) : '');
            o[key] = pick([() => ri(1e6), () => rnd() * 100 - 50, () => pick(WORDS), () => rnd() < 0.5,
                () => null, () => [ri(10), pick(WORDS)], () => ({ x: ri(5) }),
                () => randStr(RANGES_COMMON, 1 + ri(6))])();
        }
        out.push(['json', JSON.stringify(o, null, rnd() < 0.5 ? 0 : pick([2, 4, '\t']))]);
    }
    whitespace(out);
    for (const s of CJK) out.push(['cjk', s]);
    for (let i = 0; i < 25; i++)
        out.push(['cjk', randStr([[0x4e00, 0x9fff], [0x3040, 0x30ff], [0xac00, 0xd7a3]], 1 + ri(20))]);
    for (const s of EMOJI) out.push(['emoji', s]);
    const ZWJ = ['👨', '👩', '👧', '👦', '🧑', '❤️', '💋', '🔥', '🦰', '🦳'];
    const TONE = ['', '🏻', '🏼', '🏽', '🏾', '🏿'];
    for (let i = 0; i < 30; i++) {
        const k = 1 + ri(4);
        const parts = [];
        for (let j = 0; j < k; j++) parts.push(pick(ZWJ) + (rnd() < 0.3 ? pick(TONE) : ''));
        out.push(['emoji', parts.join(rnd() < 0.7 ? '\u200d' : '') + (rnd() < 0.5 ? ' ' + pick(WORDS) : '')]);
    }
    for (let i = 0; i < 20; i++) out.push(['emoji', randStr([[0x1f300, 0x1faff], [0x2600, 0x27bf]], 1 + ri(8))]);
    for (const s of COMBINING) out.push(['combining', s]);
    for (let i = 0; i < 20; i++) {
        let s = '';
        for (let j = 0, n = 1 + ri(6); j < n; j++) s += randCp(0x61, 0x7a) + randStr([[0x300, 0x36f]], ri(4));
        out.push(['combining', s]);
    }
    for (const s of SCRIPTS) out.push(['script', s]);
    for (let i = 0; i < 30; i++)
        out.push(['script', randStr([[0x600, 0x6ff], [0x590, 0x5ff], [0x900, 0x97f], [0xe00, 0xe7f],
            [0x400, 0x4ff], [0x370, 0x3ff], [0x10a0, 0x10ff], [0x0b80, 0x0bff]], 1 + ri(15))]);
    for (const s of RARE) out.push(['rare', s]);
    for (let i = 0; i < 40; i++) out.push(['rare', randStr(RANGES_RARE, 1 + ri(10))]);
    numbers(out);
    for (let i = 0; i < 50; i++) out.push(['unicode', randStr(RANGES_COMMON, 1 + ri(30))]);
    for (let i = 0; i < 30; i++) out.push(['unicode', randStr([[0x20, 0xfffd], [0x10000, 0x10ffff]], 1 + ri(12))]);
    const pool = out.map((x) => x[1]);
    for (let i = 0; i < 150; i++) {
        let s = '';
        for (let j = 0, n = 2 + ri(4); j < n; j++) {
            const p = pick(pool);
            const a = ri(Math.max(1, p.length - 1));
            s += Array.from(p).slice(a, a + 1 + ri(40)).join('');
            if (rnd() < 0.5) s += pick([' ', '\n', '  ', '\t', '\n\n', '']);
        }
        out.push(['mixed', s]);
    }
    for (const s of ADDED) out.push(['added', s]);
    // long inputs: the BPE must give the same answer on a few KB at once
    let big = '';
    while (big.length < 6000) big += pick(pool) + pick([' ', '\n', '\n\n']);
    out.push(['long', big]);
    out.push(['long', 'abcdefghij'.repeat(300)]);
    out.push(['long', ' '.repeat(1000)]);
    out.push(['long', '\n'.repeat(1000)]);
    return out;
}

function main() {
    const outPath = process.argv[2];
    if (!outPath) {
        console.error('usage: node make_golden.js OUT.jsonl');
        process.exit(2);
    }
    const tk = makeTokenizers();
    const texts = generate();
    const lines = [];
    const seen = new Set();
    let nDiff = 0;
    const diffCats = {};
    for (const [cat, text] of texts) {
        if (seen.has(text)) continue;
        seen.add(text);
        const ids = encodeLlama(tk, text);
        const hf = encodeHF(tk, text);
        const o = { cat, text, ids };
        if (JSON.stringify(hf) !== JSON.stringify(ids)) {
            o.hf = hf;
            nDiff++;
            diffCats[cat] = (diffCats[cat] || 0) + 1;
        }
        lines.push(JSON.stringify(o));
    }
    fs.writeFileSync(outPath, lines.join('\n') + '\n');
    console.log(`wrote ${outPath}: ${lines.length} texts, ${nDiff} where HF and llama.cpp differ ` +
        JSON.stringify(diffCats));
}

main();
