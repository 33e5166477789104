// serve_bench.mjs — load test of `gemma4c serve` (Node 20, no dependencies).
//
//   node bench/serve_bench.mjs BIN MODEL [--clients 8] [--requests 10] [--parallel 4] [--max-tokens 32]
//
// 1. Throughput and latency: C clients each send R streamed chat requests back to back
//    (different prompts); prints requests/s, generated tokens/s and p50/p95 time to first
//    token (first content/reasoning delta) and total latency.
// 2. Prefix cache: a 10-turn agent conversation (tools declared, each turn adds the
//    model's tool call and a tool result); prints prompt tokens, cached tokens and the
//    prefill tokens saved.
import { spawn } from 'node:child_process';
import net from 'node:net';

const args = process.argv.slice(2);
const bin = args[0], model = args[1];
if (!bin || !model) {
  console.error('usage: node bench/serve_bench.mjs BIN MODEL [--clients 8] [--requests 10] [--parallel 4] [--max-tokens 32]');
  process.exit(2);
}
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const C = opt('--clients', 8), R = opt('--requests', 10), P = opt('--parallel', 4), MT = opt('--max-tokens', 32);

const freePort = () => new Promise((res) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
});

const port = await freePort();
const srv = spawn(bin, ['serve', '-m', model, '--port', String(port), '--parallel', String(P), '--ctx', '4096'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise((res, rej) => {
  let log = '';
  srv.stderr.on('data', (d) => { log += d; if (log.includes('listening on')) res(); });
  srv.on('exit', (c) => rej(new Error('server exited ' + c + ': ' + log)));
});
const base = `http://127.0.0.1:${port}/v1`;

async function streamChat(body) {
  const t0 = performance.now();
  const r = await fetch(base + '/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (!r.ok) throw new Error('HTTP ' + r.status + ' ' + await r.text());
  let ttft = null, usage = null, buf = '';
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      const d = j.choices?.[0]?.delta;
      if (ttft === null && d && (d.content || d.reasoning_content || d.tool_calls)) ttft = performance.now() - t0;
    }
  }
  return { ttft: ttft ?? performance.now() - t0, total: performance.now() - t0, usage };
}

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

// 1. throughput
const words = ['apple', 'river', 'orbit', 'piano', 'cloud', 'stone', 'lemon', 'tiger', 'glass', 'ember'];
const lat = [], ttfts = [];
let gen = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: C }, async (_, c) => {
  for (let k = 0; k < R; k++) {
    const prompt = `Client ${c} request ${k}: tell me about ${words[(c + k) % 10]} and ${words[(c * 3 + k) % 10]}.`;
    const r = await streamChat({ model: 'bench', messages: [{ role: 'user', content: prompt }], max_tokens: MT, temperature: 0.7, seed: c * 1000 + k });
    lat.push(r.total); ttfts.push(r.ttft); gen += r.usage?.completion_tokens ?? 0;
  }
}));
const dt = (performance.now() - t0) / 1000;
console.log(`model=${model.split('/').pop()} clients=${C} parallel=${P} requests=${C * R} max_tokens=${MT}`);
console.log(`requests/s=${(C * R / dt).toFixed(2)} gen_tokens/s=${(gen / dt).toFixed(1)} ` +
  `ttft_p50_ms=${pct(ttfts, 0.5).toFixed(1)} ttft_p95_ms=${pct(ttfts, 0.95).toFixed(1)} ` +
  `latency_p50_ms=${pct(lat, 0.5).toFixed(1)} latency_p95_ms=${pct(lat, 0.95).toFixed(1)}`);

// 2. a 10-turn agent conversation
const tools = [{ type: 'function', function: { name: 'read_file', description: 'Read a file of the project.',
  parameters: { type: 'object', properties: { path: { type: 'string', description: 'Path relative to the project root' } }, required: ['path'] } } }];
const messages = [
  { role: 'system', content: 'You are a coding agent. Use the tools to inspect the project before answering. '.repeat(20) },
  { role: 'user', content: 'Find where the tokenizer is implemented and summarise it.' },
];
let promptTok = 0, cachedTok = 0;
for (let turn = 0; turn < 10; turn++) {
  const r = await fetch(base + '/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'bench', messages, tools, tool_choice: 'required', max_tokens: 48, seed: turn }),
  });
  const j = await r.json();
  if (!r.ok) throw new Error(JSON.stringify(j));
  promptTok += j.usage.prompt_tokens; cachedTok += j.usage.prompt_tokens_details.cached_tokens;
  const call = j.choices[0].message.tool_calls?.[0];
  if (!call) throw new Error('no tool call: ' + JSON.stringify(j));
  messages.push({ role: 'assistant', content: null, tool_calls: [call] });
  messages.push({ role: 'tool', tool_call_id: call.id, content: `contents of file ${turn}: ` + 'int main(void) { return 0; }\n'.repeat(8) });
  console.log(`turn ${turn + 1}: prompt_tokens=${j.usage.prompt_tokens} cached_tokens=${j.usage.prompt_tokens_details.cached_tokens}`);
}
console.log(`agent 10 turns: prompt_tokens=${promptTok} cached=${cachedTok} evaluated=${promptTok - cachedTok} ` +
  `saved=${(100 * cachedTok / promptTok).toFixed(1)}%`);
srv.kill('SIGTERM');
