// The real agent clients against `gemma4c serve`: `opencode run` (npm opencode-ai, via
// @ai-sdk/openai-compatible) and the Continue CLI `cn -p` (npm @continuedev/cli, via the
// openai SDK), each with a throw-away HOME / XDG config pointing at the server.
// Run through `sh tests/e2e/run.sh BIN clients` (installs clients/ with npm ci).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer, model } from '../lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BINDIR = path.join(here, 'node_modules', '.bin');
// The clients' prompts are long (OpenCode: ~30 KB of system prompt and tool schemas,
// ~20K tokens with the fixtures' 640-token vocabulary); the E-like fixture is the
// quickest to prefill.
const MODEL = model(process.env.G4_E2E_CLIENT_MODEL || 'e-q8_0.gguf');
const OUTPUT = 64; // max_tokens the clients are configured to send

function run(cmd, args, { env, cwd, timeout }) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out, err }); });
  });
}

// Removes ANSI escapes and whitespace to see whether anything was printed.
const visible = (s) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\s+/g, '');

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'g4clients-'));
}

describe('real clients', () => {
  it('opencode run "Say hello"', async () => {
    const ctx = 24576;
    const srv = await startServer({ model: MODEL, args: ['--ctx', String(ctx), '--parallel', '2'] });
    const t = tmpdir();
    try {
      for (const d of ['home', 'cfg/opencode', 'data', 'state', 'cache', 'work']) fs.mkdirSync(path.join(t, d), { recursive: true });
      fs.writeFileSync(path.join(t, 'cfg/opencode/opencode.json'), JSON.stringify({
        $schema: 'https://opencode.ai/config.json',
        provider: {
          gemma4c: {
            npm: '@ai-sdk/openai-compatible',
            name: 'gemma4c',
            options: { baseURL: srv.base },
            models: { gemma4: { name: 'Gemma 4', limit: { context: ctx, output: OUTPUT } } },
          },
        },
        model: 'gemma4c/gemma4',
        autoupdate: false,
        share: 'disabled',
      }, null, 2));
      const env = {
        PATH: process.env.PATH, HOME: path.join(t, 'home'), XDG_CONFIG_HOME: path.join(t, 'cfg'),
        XDG_DATA_HOME: path.join(t, 'data'), XDG_STATE_HOME: path.join(t, 'state'), XDG_CACHE_HOME: path.join(t, 'cache'),
        OPENCODE_DISABLE_AUTOUPDATE: '1', NO_COLOR: '1', TERM: 'dumb',
      };
      const t0 = performance.now();
      const r = await run(path.join(BINDIR, 'opencode'), ['run', 'Say hello'], { env, cwd: path.join(t, 'work'), timeout: 600000 });
      console.log(`# opencode: exit ${r.code} in ${((performance.now() - t0) / 1000).toFixed(1)} s; stdout ${JSON.stringify(r.out.slice(0, 300))}`);
      assert.equal(r.code, 0, `opencode exited ${r.code} (${r.signal})\nstdout: ${r.out.slice(-2000)}\nstderr: ${r.err.slice(-2000)}\nserver log: ${srv.log(2000)}`);
      assert.ok(visible(r.out).length > 0, `opencode printed nothing\nstderr: ${r.err.slice(-2000)}`);
      assert.doesNotMatch(r.out + r.err, /AI_APICallError|AI_TypeValidationError|AI_RetryError/, 'opencode reported an error');
    } finally {
      await srv.stop();
      fs.rmSync(t, { recursive: true, force: true });
    }
  });

  it('cn -p "Say hello" (Continue CLI)', async () => {
    const ctx = 8192;
    const srv = await startServer({ model: MODEL, args: ['--ctx', String(ctx), '--parallel', '2'] });
    const t = tmpdir();
    try {
      fs.mkdirSync(path.join(t, 'home'));
      fs.mkdirSync(path.join(t, 'work'));
      const cfg = path.join(t, 'config.yaml');
      fs.writeFileSync(cfg, [
        'name: local', 'version: 1.0.0', 'schema: v1', 'models:',
        '  - name: gemma4c', '    provider: openai', '    model: gemma4', `    apiBase: ${srv.base}`, '    apiKey: none',
        '    defaultCompletionOptions:', `      maxTokens: ${OUTPUT}`, `      contextLength: ${ctx}`, '',
      ].join('\n'));
      const env = { PATH: process.env.PATH, HOME: path.join(t, 'home'), NO_COLOR: '1', TERM: 'dumb' };
      const t0 = performance.now();
      const r = await run(path.join(BINDIR, 'cn'), ['--config', cfg, '-p', 'Say hello'], { env, cwd: path.join(t, 'work'), timeout: 600000 });
      console.log(`# cn: exit ${r.code} in ${((performance.now() - t0) / 1000).toFixed(1)} s; stdout ${JSON.stringify(r.out.slice(0, 300))}`);
      assert.equal(r.code, 0, `cn exited ${r.code} (${r.signal})\nstdout: ${r.out.slice(-2000)}\nstderr: ${r.err.slice(-2000)}\nserver log: ${srv.log(2000)}`);
      assert.ok(visible(r.out).length > 0, `cn printed nothing\nstderr: ${r.err.slice(-2000)}`);
    } finally {
      await srv.stop();
      fs.rmSync(t, { recursive: true, force: true });
    }
  });
});
