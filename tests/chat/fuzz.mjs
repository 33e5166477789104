// fuzz.mjs — randomized differential test of the C chat renderer against the engine.
//
//   node tests/chat/fuzz.mjs BIN [N=2000] [SEED=1]   random conversations + tool schemas
//   node tests/chat/fuzz.mjs BIN strings [N] [SEED]  random strings: upper/lower/trim
//
// BIN is tools/chat_render. Cases are written as JSON *text* (so literals such as 1.0,
// -0.0, 1e21 and duplicate keys reach the C parser as written); the engine side parses
// the same text with JSON.parse. Prints every mismatch and a summary; exit 1 on any.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { compare, loadTemplates, renderCase } from "./ref.mjs";

const [bin, a1, a2, a3] = process.argv.slice(2);
if (!bin) { console.error("usage: node fuzz.mjs BIN [N] [SEED] | BIN strings [N] [SEED]"); process.exit(2); }

let seed = 1;
const rnd = () => { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const ri = (n) => Math.floor(rnd() * n);
const pick = (a) => a[ri(a.length)];
const chance = (p) => rnd() < p;

// ---- string mode: JavaScript toUpperCase / toLowerCase / trim vs the C tables ----
if (a1 === "strings") {
  const n = Number(a2 || 20000);
  seed = Number(a3 || 1);
  const pool = [0x41, 0x61, 0x20, 0xdf, 0x130, 0x131, 0x149, 0x1c5, 0x1f0, 0x345, 0x390, 0x3a3, 0x3c3, 0x3c2, 0x391,
    0x2e, 0x27, 0xad, 0x300, 0x1e9e, 0xfb00, 0xfb03, 0x587, 0x1f80, 0x1fb3, 0x2c65, 0xa7ae, 0x10400, 0x1e900,
    0x3000, 0xa0, 0x85, 0xfeff, 0x2028, 0x180e, 0x200b, 0x9, 0xa, 0xb, 0xc, 0xd, 0x1680, 0x202f, 0x4e2d, 0x1f600];
  const strs = [];
  for (let i = 0; i < n; i++) {
    let s = "";
    const len = ri(8);
    for (let k = 0; k < len; k++) {
      let cp = chance(0.5) ? pick(pool) : chance(0.7) ? ri(0x3000) : ri(0x110000);
      if (cp >= 0xd800 && cp < 0xe000) cp = 0x41;
      s += String.fromCodePoint(cp);
    }
    strs.push(s);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "g4str-"));
  fs.writeFileSync(path.join(dir, "s.json"), JSON.stringify(strs));
  const got = JSON.parse(execFileSync(bin, ["--js-strings", path.join(dir, "s.json")], { encoding: "utf8", maxBuffer: 1 << 30 }));
  fs.rmSync(dir, { recursive: true, force: true });
  let bad = 0;
  strs.forEach((s, i) => {
    const want = [s.toUpperCase(), s.toLowerCase(), s.trim()];
    for (let k = 0; k < 3; k++)
      if (want[k] !== got[i][k] && bad++ < 20)
        console.log(`${["upper", "lower", "trim"][k]} of ${JSON.stringify(s)}: engine ${JSON.stringify(want[k])} C ${JSON.stringify(got[i][k])}`);
  });
  console.log(`strings: ${n} strings x 3 functions, ${bad} mismatches`);
  process.exit(bad ? 1 : 0);
}

// ---- conversation mode ----
const N = Number(a1 || 2000);
seed = Number(a2 || 1);

const TEXT = ["hello", "  spaced  ", "\n\nnl\n", "", " ", "<|channel>thought\nx<channel|>y", "a<channel|>b<channel|>",
  "<|channel>open", "\u3000wide\u3000", "\u0085nel\u0085", "\ufeffbom", "日本語", "😀👍🏽", "e\u0301", "שלום", "مرحبا",
  "ß", "ſ", "ΑΣ", "tab\there", "quote\"s", "back\\slash", "<|\"|>", "null", "1", "0x1", " 1 ", "true", "What's up?",
  "line1\nline2", "\t", "Σ.", "İ", "x<|channel>y<channel|>z"];
const KEYS = ["Zeta", "alpha", "_x", "B", "b", "10", "2", "01", "a", "A", "É", "é", "ä", "Σ", "σ", "ς", "ΑΣ", "Ασ",
  "İ", "i̇", "\u212a", "k", "ß", "ss", "😀", "\uff21", "~", "get", "items", "keys", "length", "type", "properties",
  "required", "description", "nullable", "enum", "split", "4294967294", "0", "value", "name"];
const NUMS = ["1.0", "-0.0", "-0", "1e21", "1E+21", "0.1", "1e-7", "12345678901234567890", "3", "-17", "2.50", "1e300",
  "0", "100", "0.000001", "123456789012", "1.5e-10", "9007199254740993", "4.35", "1e400"];

let numSlots = [];
const num = () => { numSlots.push(pick(NUMS)); return `__NUM${numSlots.length - 1}__`; };
// raw JSON snippets JSON.stringify cannot produce: array-index keys after other keys
// (JS reorders them), duplicate keys (last value wins, first position)
const RAWS = ['{"b":1,"2":"two","1":"one"}', '{"z":"a","10":"b","a":"c","a":"d"}', '["x",{"k":1,"k":null}]',
  '{"B":1,"a":2,"b":3,"0":4}', '{"type":"string","type":"integer","description":"dup"}'];
const raw = () => { numSlots.push(pick(RAWS)); return `__NUM${numSlots.length - 1}__`; };
const text = () => (chance(0.7) ? pick(TEXT) : pick(TEXT) + pick(TEXT));
// values the template concatenates (role, names, reasoning) or compares with == (ids)
const ODD = () => pick([null, true, false, 0, 1, "", " 1 ", "0x1", "1e0", [1], ["user"], [null, "a"], [[1, null], {}],
  { a: null }, {}, [], -0.5]);

function value(depth) {
  const r = rnd();
  if (depth > 3 || r < 0.25) return text();
  if (r < 0.45) return num();
  if (r < 0.52) return chance(0.5);
  if (r < 0.58) return null;
  if (r < 0.6) return raw();
  if (r < 0.78) { const a = []; for (let i = ri(4); i > 0; i--) a.push(value(depth + 1)); return a; }
  const o = {};
  for (let i = ri(5); i > 0; i--) o[pick(KEYS)] = value(depth + 1);
  return o;
}

const TYPES = ["string", "STRING", "integer", "number", "boolean", "array", "object", "Object", "ſtring", "straße"];
function typeVal() {
  if (chance(0.03)) return undefined;
  if (chance(0.02)) return pick([["string", "null"], 5, null, true]);
  return pick(TYPES);
}
function schema(depth) {
  const s = {};
  const t = typeVal();
  if (t !== undefined) s.type = t;
  if (chance(0.6)) s.description = chance(0.9) ? text() : pick([num(), { d: 1 }, ["x", 2], true, null]);
  const up = typeof t === "string" ? t.toUpperCase() : "";
  if (up === "STRING" && chance(0.4)) s.enum = chance(0.8) ? [text(), text()] : value(1);
  if (up === "ARRAY" && chance(0.7)) {
    if (chance(0.85)) {
      const it = {};
      if (chance(0.9)) it.type = chance(0.95) ? pick(TYPES) : pick([["string"], 3]);
      if (chance(0.3)) it.description = chance(0.8) ? text() : null;
      if (chance(0.3)) it.enum = [text(), num()];
      if (depth < 3 && chance(0.3)) it.properties = props(depth + 1);
      if (chance(0.3)) it.required = chance(0.9) ? [pick(KEYS)] : pick(["req", 5, raw()]);
      if (chance(0.2)) it.items = schema(depth + 1);
      if (chance(0.1)) it[pick(KEYS)] = value(2);
      s.items = it;
    } else s.items = pick([[], "x", null, {}]);
  }
  if (chance(0.15)) s.nullable = pick([true, false, 1, "yes"]);
  if (up === "OBJECT") {
    if (depth < 3 && chance(0.6)) s.properties = chance(0.9) ? props(depth + 1) : pick([[], "p", {}]);
    else if (chance(0.5)) { for (let i = ri(2); i > 0; i--) s[pick(KEYS)] = schema(depth + 1); }
    if (chance(0.4)) s.required = chance(0.9) ? [pick(KEYS), pick(KEYS)] : pick([[], "r", { a: 1 }, raw(), [null, 1, ["x"]]]);
    if (chance(0.05)) s.additionalProperties = false;
  }
  return s;
}
function props(depth) {
  if (chance(0.03)) return raw();
  const p = {};
  for (let i = ri(4); i > 0; i--) p[pick(KEYS)] = schema(depth);
  return p;
}
function tool() {
  if (chance(0.03)) return pick(["str", 5, null, {}]);
  const f = {};
  if (chance(0.97)) f.name = chance(0.95) ? pick(["get_weather", "search", "f", "größe", "a_b"]) : num();
  if (chance(0.8)) f.description = chance(0.9) ? text() : value(2);
  if (chance(0.85)) {
    const p = chance(0.9) ? { type: chance(0.95) ? "object" : pick(["OBJECT", 5, ""]) } : pick([{}, null, "p"]);
    if (p && typeof p === "object") {
      if (chance(0.9)) p.properties = props(1);
      if (chance(0.5)) p.required = chance(0.9) ? [pick(KEYS)] : pick(["x", 5, raw()]);
    }
    f.parameters = p;
  }
  if (chance(0.1)) f.response = chance(0.8) ? { type: pick(["object", "OBJECT", "string"]), description: text() } : pick([{}, "r", null]);
  return chance(0.97) ? { type: "function", function: f } : { function: pick(["str", 5]) };
}

function content(role) {
  const r = rnd();
  if (r < 0.55) return text();
  if (r < 0.65) return null;
  if (r < 0.7) return undefined;
  if (r < 0.95) {
    const parts = [];
    for (let i = 1 + ri(3); i > 0; i--) {
      const t = chance(0.97) ? pick(["text", "text", "text", "image", "image_url", "audio", "input_audio", "video", "file"]) : pick([null, undefined, ["text"]]);
      const p = {};
      if (t !== undefined) p.type = t;
      if (t === "text" ? chance(0.97) : chance(0.1)) p.text = chance(0.95) ? text() : pick([null, 5]);
      parts.push(chance(0.98) ? p : "part");
    }
    return parts;
  }
  return pick([5, true, { a: 1 }, {}, []]);
}

function argsVal() {
  const r = rnd();
  if (r < 0.55) { const o = {}; for (let i = ri(4); i > 0; i--) o[pick(KEYS)] = value(1); return o; }
  if (r < 0.8) { const o = {}; for (let i = ri(3); i > 0; i--) o[pick(KEYS)] = value(2); return { __json: JSON.stringify(o) }; }
  if (r < 0.85) return pick(["", "  ", "{bad", "[1]", "null", "5"]);
  if (r < 0.9) return null;
  if (r < 0.95) return undefined;
  return pick([5, [1], true]);
}

function conversation() {
  const msgs = [];
  const ids = [];
  if (chance(0.3)) msgs.push({ role: pick(["system", "developer"]), content: chance(0.8) ? text() : chance(0.7) ? content("system") : pick([{}, raw(), [{ text: " t " }, { text: "u", type: "image" }]]) });
  const n = ri(8);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    let m;
    if (r < 0.35) m = { role: "user", content: content("user") };
    else if (r < 0.45 && ids.length > 8) m = { role: "tool", tool_call_id: pick(ids), content: text() };
    else if (r < 0.7) {
      m = { role: "assistant" };
      const c = content("assistant");
      if (c !== undefined) m.content = c;
      if (chance(0.45)) {
        const tcs = [];
        const big = chance(0.06); // >= 32 calls: the C side indexes ids (string/null ids only)
        for (let k = big ? 32 + ri(8) : 1 + ri(2); k > 0; k--) {
          const id = big ? (chance(0.9) ? "c" + ri(40) : pick([null, undefined])) :
            chance(0.8) ? pick(["c1", "c2", "c3", "call_9"]) : chance(0.5) ? pick([1, null, undefined, "1"]) : ODD();
          ids.push(id);
          const fn = {};
          if (big || chance(0.98)) fn.name = big || chance(0.95) ? pick(["get_weather", "search", "f"]) + (big ? ri(40) : "") : chance(0.3) ? num() : ODD();
          const a = big ? { k: value(2) } : argsVal();
          if (a !== undefined) fn.arguments = a;
          const tc = { type: "function", function: fn };
          if (id !== undefined) tc.id = id;
          tcs.push(chance(0.99) ? tc : "tc");
        }
        m.tool_calls = tcs;
      }
      if (chance(0.25)) m[chance(0.6) ? "reasoning_content" : "reasoning"] = chance(0.8) ? text() : chance(0.3) ? pick([["a", 1], 7, "", null, { x: 1 }]) : ODD();
      if (chance(0.05)) m.tool_responses = [{ name: pick(["f", "", undefined]), response: value(1) }, chance(0.5) ? "s" : { response: text() }];
    } else if (r < 0.93) {
      m = { role: "tool" };
      if (chance(0.85)) m.tool_call_id = ids.length && chance(0.8) ? pick(ids) ?? "zz" : chance(0.5) ? pick(["zz", 1, " 1 "]) : ODD();
      if (chance(0.3)) m.name = chance(0.8) ? pick(["tool_name", "", "f"]) : ODD();
      const c = chance(0.7) ? text() : chance(0.5) ? [{ type: "text", text: chance(0.9) ? text() : ODD() }, { type: pick(["image", "audio", "video", "text"]), text: "t" }] : pick([null, 5, true, { k: 1 }, undefined]);
      if (c !== undefined) m.content = c;
    } else {
      m = { role: chance(0.6) ? pick(["model", "narrator", ["user"], ["assistant"], "tool", 1]) : ODD(), content: text() };
      if (chance(0.2)) delete m.role;
      if (chance(0.05)) m = pick(["msg", 5, null]);
    }
    if (m && typeof m === "object" && chance(0.01)) m.get = "x";
    msgs.push(m);
  }
  return msgs;
}

// JSON text with the number placeholders replaced by raw literals and {__json: ...}
// argument markers by JSON strings.
function toText(v) {
  const s = JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x) && "__json" in x ? x.__json : x));
  return s.replace(/"__NUM(\d+)__"/g, (_, i) => numSlots[Number(i)]);
}

const { templates } = loadTemplates();
const texts = [], cases = [], ref = [];
for (let i = 0; i < N; i++) {
  numSlots = [];
  const messages = conversation();
  const tools = chance(0.55) ? Array.from({ length: 1 + ri(3) }, tool) : chance(0.1) ? pick([null, [], {}, raw(), "t", 0]) : undefined;
  const opts = { large: chance(0.5), enable_thinking: chance(0.5), add_generation_prompt: chance(0.8), preserve_thinking: chance(0.3) };
  let t = `{"large":${opts.large},"enable_thinking":${opts.enable_thinking},"add_generation_prompt":${opts.add_generation_prompt},` +
          `"preserve_thinking":${opts.preserve_thinking},"messages":${toText(messages)}`;
  if (tools !== undefined) t += `,"tools":${toText(tools)}`;
  t += "}";
  texts.push(t);
  const c = JSON.parse(t);
  cases.push(c);
  ref.push(renderCase(templates, c));
}
// the C driver reads the raw text (literals as written)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "g4fuzz-"));
const file = path.join(dir, "cases.json");
fs.writeFileSync(file, `{"cases":[${texts.join(",\n")}]}`);
const got = JSON.parse(execFileSync(bin, ["--batch", file], { encoding: "utf8", maxBuffer: 1 << 30 })).results;
fs.rmSync(dir, { recursive: true, force: true });
const bad = compare(cases, ref, got, (i) => `case ${i}`);
for (const b of bad.slice(0, 15)) console.log(b);
const nerr = ref.filter((r) => r.error !== undefined).length;
if (process.env.FUZZ_STATS) { const m = new Map(); for (const r of ref) if (r.error) { const k = r.error.slice(0, 60); m.set(k, (m.get(k) || 0) + 1); } console.log([...m].sort((a, b) => b[1] - a[1])); }
console.log(`fuzz seed=${a2 || 1}: ${N} cases (${N - nerr} rendered, ${nerr} engine errors), ${bad.length} mismatches`);
if (bad.length) fs.writeFileSync("/tmp/g4fuzz_fail.json", `{"cases":[${bad.slice(0, 15).map((b) => texts[Number(b.match(/case (\d+)/)[1])]).join(",\n")}]}`);
process.exit(bad.length ? 1 : 0);
