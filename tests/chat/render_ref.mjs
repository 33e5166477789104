// render_ref.mjs — renders every conversation in tests/chat/conversations/ with the
// official templates through @huggingface/jinja.
//
//   node tests/chat/render_ref.mjs goldens        (re)write tests/data/chat/goldens/
//   node tests/chat/render_ref.mjs check BIN      live differential test: engine vs the
//                                                 C renderer (BIN = tools/chat_render) and
//                                                 engine vs the committed goldens
//
// Variants per conversation: both templates x enable_thinking off/on x
// add_generation_prompt on/off, and preserve_thinking on as well when the conversation
// carries reasoning. A conversation file may set "bos_token".
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

if (!fs.existsSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules/@huggingface/jinja"))) {
  console.log("skipped: run `npm ci --prefix tests/chat` to install @huggingface/jinja");
  process.exit(77);
}
const { compare, engineVersion, here, loadTemplates, renderC, renderCase, repo } = await import("./ref.mjs");

const convDir = path.join(here, "conversations");
const goldDir = path.join(repo, "tests/data/chat/goldens");

function conversations() {
  return fs.readdirSync(convDir).filter((f) => f.endsWith(".json")).sort().map((f) => ({
    name: f.slice(0, -5),
    conv: JSON.parse(fs.readFileSync(path.join(convDir, f), "utf8")),
  }));
}

function hasReasoning(conv) {
  return Array.isArray(conv.messages) && conv.messages.some((m) => m && typeof m === "object" &&
    (m.reasoning !== undefined || m.reasoning_content !== undefined));
}

function variants(name, conv) {
  const out = [];
  const pres = hasReasoning(conv) ? [false, true] : [false];
  for (const large of [true, false])
    for (const enable_thinking of [false, true])
      for (const add_generation_prompt of [true, false])
        for (const preserve_thinking of pres) {
          const c = { messages: conv.messages, large, enable_thinking, add_generation_prompt, preserve_thinking,
                      file: path.join(convDir, name + ".json") };
          if (conv.tools !== undefined) c.tools = conv.tools;
          if (conv.bos_token !== undefined) c.bos_token = conv.bos_token;
          out.push({ name, c });
        }
  return out;
}

const [mode, bin] = process.argv.slice(2);
const { templates, sha } = loadTemplates();
const all = conversations().flatMap(({ name, conv }) => variants(name, conv));
const ref = all.map(({ c }) => renderCase(templates, c));

if (mode === "goldens") {
  fs.mkdirSync(goldDir, { recursive: true });
  for (const f of fs.readdirSync(goldDir)) if (f.endsWith(".json")) fs.rmSync(path.join(goldDir, f));
  const byName = new Map();
  all.forEach(({ name, c }, i) => {
    if (!byName.has(name)) byName.set(name, []);
    const { messages, tools, bos_token, file, ...opts } = c;
    byName.get(name).push({ ...opts, ...ref[i] });
  });
  for (const [name, cases] of byName)
    fs.writeFileSync(path.join(goldDir, name + ".json"), JSON.stringify({ conversation: name, cases }, null, 1) + "\n");
  const index = { engine: engineVersion(), node: process.version, templates: sha, conversations: [...byName.keys()],
                  cases: all.length, errors: ref.filter((r) => r.error !== undefined).length };
  fs.writeFileSync(path.join(goldDir, "index.json"), JSON.stringify(index, null, 1) + "\n");
  console.log(`wrote ${byName.size} golden files, ${all.length} cases (${index.errors} expected errors)`);
} else if (mode === "check" && bin) {
  const cases = all.map(({ c }) => c);
  // the C side reads each conversation file itself (raw key order, duplicates, literals)
  const got = renderC(bin, cases.map(({ messages, tools, bos_token, ...opts }) => opts));
  const bad = compare(cases, ref, got, (i) => all[i].name);
  // the committed goldens must equal what the engine renders today
  let stale = 0;
  all.forEach(({ name, c }, i) => {
    const f = path.join(goldDir, name + ".json");
    if (!fs.existsSync(f)) { stale++; return; }
    const g = JSON.parse(fs.readFileSync(f, "utf8")).cases.find((x) => x.large === c.large &&
      x.enable_thinking === c.enable_thinking && x.add_generation_prompt === c.add_generation_prompt &&
      x.preserve_thinking === c.preserve_thinking);
    if (!g || (ref[i].error !== undefined) !== (g.error !== undefined) || (ref[i].output !== g.output)) {
      stale++;
      if (stale <= 5) console.log(`stale golden: ${name} ${JSON.stringify({ ...c, messages: undefined, tools: undefined, file: undefined })}`);
    }
  });
  for (const b of bad.slice(0, 20)) console.log(b);
  console.log(`chat_jinja_live: ${cases.length} cases, ${bad.length} C/engine mismatches, ${stale} stale goldens`);
  process.exit(bad.length || stale ? 1 : 0);
} else {
  console.error("usage: node render_ref.mjs goldens | check PATH/TO/chat_render");
  process.exit(2);
}
