// Replays every request captured from real agent clients (captures/*.jsonl: OpenCode
// 1.18.33 and Continue CLI 1.5.47) with the same body and headers. Each must be accepted
// (200), streamed in the chat.completion.chunk format and finish cleanly.
//
// OpenCode sends max_tokens 32000 and Continue none at all, so the server must clamp the
// generation to the free context. Each request gets its own server whose --ctx is the
// prompt length (rendered with `gemma4c template`, counted with `gemma4c tokenize`) plus
// a margin, so that clamped generations end after at most ~MARGIN tokens.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer, model, BIN } from './lib/server.mjs';
import { show, checkChatChunks, readSSE } from './lib/check.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CAPTURES = path.join(here, 'captures');
const MODEL = model(process.env.G4_E2E_REPLAY_MODEL || 'e-q8_0.gguf');
const MARGIN = 192;

// Hop-by-hop or framing headers that fetch sets itself.
const SKIP_HEADERS = new Set(['host', 'content-length', 'connection', 'accept-encoding', 'transfer-encoding']);

// Prompt tokens of the request as rendered by the CLI (no BOS).
function promptTokens(body) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g4replay-'));
  try {
    const mf = path.join(dir, 'm.json');
    const tf = path.join(dir, 't.json');
    fs.writeFileSync(mf, JSON.stringify(body.messages));
    const args = ['template', '-m', MODEL, '--messages', mf];
    if (body.tools?.length) {
      fs.writeFileSync(tf, JSON.stringify(body.tools));
      args.push('--tools', tf);
    }
    const prompt = execFileSync(BIN, args, { maxBuffer: 64 << 20 });
    const ids = execFileSync(BIN, ['tokenize', '-m', MODEL, '--special', '-'], { input: prompt, maxBuffer: 64 << 20, encoding: 'utf8' });
    return JSON.parse(ids).length;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const captures = fs.readdirSync(CAPTURES).filter((f) => f.endsWith('.jsonl')).sort();

describe('replay of captured client requests', () => {
  it('captures are present', () => {
    assert.ok(captures.length >= 2, `captures: ${show(captures)}`);
  });

  for (const file of captures) {
    const lines = fs.readFileSync(path.join(CAPTURES, file), 'utf8').split('\n').filter((l) => l.trim());
    lines.forEach((line, i) => {
      const req = JSON.parse(line);
      const b = req.body;
      const name = `${file} #${i}: ${req.method} ${req.path} (${b.messages?.length} messages, ${b.tools?.length ?? 0} tools, max_tokens ${b.max_tokens ?? 'none'})`;
      it(name, async () => {
        const n = promptTokens(b);
        const ctx = Math.ceil((n + MARGIN) / 256) * 256;
        const srv = await startServer({ model: MODEL, args: ['--ctx', String(ctx), '--parallel', '1'] });
        try {
          const headers = {};
          for (const [k, v] of Object.entries(req.headers || {})) if (!SKIP_HEADERS.has(k.toLowerCase())) headers[k] = v;
          const t0 = performance.now();
          const res = await fetch(`${srv.url}${req.path}`, {
            method: req.method, headers, body: JSON.stringify(b), signal: AbortSignal.timeout(600000),
          });
          if (res.status !== 200) assert.fail(`status ${res.status}: ${show(await res.text(), 800)}`);
          const sse = await readSSE(res);
          const r = checkChatChunks(sse.events, { includeUsage: !!b.stream_options?.include_usage });
          const c = r.choices[0];
          console.log(`# ${file} #${i}: prompt ${r.usage?.prompt_tokens} tokens (CLI ${n}), --ctx ${ctx}, ` +
            `${r.usage?.completion_tokens} generated, finish ${c.finish}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
          assert.ok(sse.done, 'no [DONE]');
          for (const tc of c.toolCalls) {
            assert.ok(b.tools.some((t) => t.function.name === tc.function.name), `tool call to an undeclared tool: ${show(tc)}`);
            assert.doesNotThrow(() => JSON.parse(tc.function.arguments), `tool call arguments are not JSON: ${show(tc)}`);
          }
          if (r.usage) {
            assert.ok([n, n + 1].includes(r.usage.prompt_tokens),
              `server prompt_tokens ${r.usage.prompt_tokens}, but \`gemma4c template\` renders ${n} tokens (+1 for <bos>)`);
            assert.ok(r.usage.total_tokens <= ctx, `usage beyond --ctx ${ctx}: ${show(r.usage)}`);
          }
        } finally {
          await srv.stop();
        }
      });
    });
  }
});
