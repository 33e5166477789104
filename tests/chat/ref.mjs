// ref.mjs — the reference renderer: the official Gemma 4 chat templates rendered by
// @huggingface/jinja, with the same tool-call `arguments` pre-pass as the C renderer
// (src/chat/render.c). Shared by render_ref.mjs (goldens, live check) and fuzz.mjs.
import { Template } from "@huggingface/jinja";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../..");
export const templateDir = path.join(repo, "tests/data/chat/templates");
export const templateFiles = {
  large: "gemma4_31b_chat_template.jinja2",
  small: "gemma4_e2b_chat_template.jinja2",
};

export function engineVersion() {
  const pkg = JSON.parse(fs.readFileSync(path.join(here, "node_modules/@huggingface/jinja/package.json"), "utf8"));
  return `@huggingface/jinja ${pkg.version}`;
}

export function loadTemplates() {
  const t = {}, sha = {};
  for (const [k, f] of Object.entries(templateFiles)) {
    const src = fs.readFileSync(path.join(templateDir, f), "utf8");
    t[k] = new Template(src);
    sha[k] = crypto.createHash("sha256").update(src).digest("hex");
  }
  return { templates: t, sha };
}

const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
const own = (o, k) => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);

// OpenAI clients send tool_calls[].function.arguments as a JSON string; the template
// needs a mapping. Same rule as the C renderer: JSON-whitespace-only -> {}, otherwise
// it must parse to a JSON object.
export function prepareMessages(messages) {
  const msgs = structuredClone(messages);
  if (!Array.isArray(msgs)) return msgs;
  msgs.forEach((m, i) => {
    if (!isObj(m)) return;
    const tcs = own(m, "tool_calls");
    if (!Array.isArray(tcs)) return;
    tcs.forEach((tc, t) => {
      if (!isObj(tc)) return;
      const fn = own(tc, "function");
      if (!isObj(fn)) return;
      const a = own(fn, "arguments");
      if (typeof a !== "string") return;
      if (/^[ \t\n\r]*$/.test(a)) { fn.arguments = {}; return; }
      let p;
      try { p = JSON.parse(a); } catch (e) {
        throw new Error(`messages[${i}].tool_calls[${t}].function.arguments is not valid JSON (${e.message})`);
      }
      if (!isObj(p)) throw new Error(`messages[${i}].tool_calls[${t}].function.arguments must encode a JSON object`);
      fn.arguments = p;
    });
  });
  return msgs;
}

// c: {messages, tools?, large, enable_thinking, add_generation_prompt, preserve_thinking, bos_token?}
export function renderCase(templates, c) {
  try {
    const vars = {
      messages: prepareMessages(c.messages),
      add_generation_prompt: c.add_generation_prompt,
      enable_thinking: c.enable_thinking,
      preserve_thinking: c.preserve_thinking,
      bos_token: c.bos_token ?? "<bos>",
    };
    if (c.tools !== undefined) vars.tools = structuredClone(c.tools);
    return { output: templates[c.large ? "large" : "small"].render(vars) };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

// Runs the C driver (tools/chat_render --batch) over the cases; returns its results.
export function renderC(bin, cases) {
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "g4chat-")), "cases.json");
  fs.writeFileSync(tmp, JSON.stringify({ cases }));
  try {
    const out = execFileSync(bin, ["--batch", tmp], { maxBuffer: 1 << 30, encoding: "utf8" });
    return JSON.parse(out).results;
  } finally {
    fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
  }
}

// Compares reference and C results; returns a list of human-readable mismatches.
export function compare(cases, ref, got, label) {
  const bad = [];
  for (let i = 0; i < cases.length; i++) {
    const r = ref[i], g = got[i] || {};
    const ok = r.error !== undefined ? g.error !== undefined : g.output === r.output;
    if (ok) continue;
    const c = cases[i];
    const where = `${label(i)} [${c.large ? "large" : "small"} think=${c.enable_thinking} gen=${c.add_generation_prompt} preserve=${c.preserve_thinking}]`;
    if (r.error !== undefined) bad.push(`${where}: engine throws (${r.error}), C renders ${JSON.stringify(g.output).slice(0, 300)}`);
    else if (g.error !== undefined) bad.push(`${where}: C fails (${g.error}), engine renders ${JSON.stringify(r.output).slice(0, 300)}`);
    else {
      let k = 0;
      while (k < r.output.length && r.output[k] === g.output[k]) k++;
      bad.push(`${where}: differ at char ${k}: engine ${JSON.stringify(r.output.slice(Math.max(0, k - 40), k + 60))}` +
               ` vs C ${JSON.stringify(g.output.slice(Math.max(0, k - 40), k + 60))}`);
    }
  }
  return bad;
}
