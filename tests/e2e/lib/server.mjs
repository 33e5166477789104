// Starts and stops `gemma4c serve` processes for the end-to-end tests.
//
// Every suite starts its own server on a free loopback port with a fixture model and
// stops it at the end. stop() also fails the suite when the server died on its own
// (crash, sanitizer report) instead of being stopped by us.
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..', '..');
export const DATA = path.join(REPO, 'tests', 'data');
export const BIN = process.env.G4_BIN || path.join(REPO, 'build', 'gemma4c');
// Threads per server: the machines have 2 cores and several servers may run at once.
export const THREADS = process.env.G4_E2E_THREADS || '2';

export function model(name = 'dense-f32.gguf') {
  return path.join(DATA, name);
}

// A free TCP port on 127.0.0.1: bind port 0, read the port, close.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Lines of the server log that mean a sanitizer or the C runtime found a bug.
const BUG_RE = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|Segmentation fault|Assertion .* failed|double free|stack smashing/;

class Server {
  constructor(proc, host, port, argv) {
    this.proc = proc;
    this.host = host;
    this.port = port;
    this.argv = argv;
    this.url = `http://${host}:${port}`;
    this.base = `${this.url}/v1`;
    this.logText = '';
    this.exited = null; // {code, signal} once the process is gone
    this.stopping = false;
  }

  log(tail = 4000) {
    return this.logText.length > tail ? '...' + this.logText.slice(-tail) : this.logText;
  }

  alive() {
    return this.exited === null;
  }

  // Fails when the process is gone, with its exit status and the end of its log.
  assertAlive(what = '') {
    if (!this.alive()) {
      throw new Error(`gemma4c serve died${what ? ' ' + what : ''}: exit code ${this.exited.code}, signal ${this.exited.signal}\n` +
        `command: ${this.argv.join(' ')}\n--- server log ---\n${this.log()}`);
    }
  }

  async health() {
    this.assertAlive();
    const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(10000) });
    const body = await r.text();
    return { status: r.status, body };
  }

  async stop() {
    if (this.stopping) return;
    this.stopping = true;
    const died = !this.alive() ? this.exited : null;
    if (!died) {
      this.proc.kill('SIGTERM');
      const t0 = Date.now();
      while (this.alive() && Date.now() - t0 < 5000) await sleep(20);
      if (this.alive()) {
        this.proc.kill('SIGKILL');
        while (this.alive()) await sleep(20);
      }
    }
    if (died) {
      throw new Error(`gemma4c serve exited before the test stopped it: code ${died.code}, signal ${died.signal}\n` +
        `command: ${this.argv.join(' ')}\n--- server log ---\n${this.log()}`);
    }
    if (BUG_RE.test(this.logText)) {
      throw new Error(`gemma4c serve reported a memory/UB error:\n--- server log ---\n${this.log(12000)}`);
    }
    if (this.exited.signal && this.exited.signal !== 'SIGTERM' && this.exited.signal !== 'SIGKILL') {
      throw new Error(`gemma4c serve ended by ${this.exited.signal} on SIGTERM\n${this.log()}`);
    }
  }
}

// Starts `gemma4c serve -m MODEL --host 127.0.0.1 --port P ARGS...` and waits for the
// "listening on http://HOST:PORT" line on stderr.
export async function startServer({ model: m = model(), args = [], readyTimeoutMs = 60000, env = {} } = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const argv = [BIN, 'serve', '-m', m, '--host', '127.0.0.1', '--port', String(port), '-t', THREADS, ...args];
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const srv = new Server(proc, '127.0.0.1', port, argv);
    const onData = (d) => {
      srv.logText += d.toString('utf8');
      if (srv.logText.length > 4e6) srv.logText = srv.logText.slice(-2e6);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code, signal) => { srv.exited = { code, signal }; });
    proc.on('error', (e) => { srv.logText += `\nspawn error: ${e.message}\n`; srv.exited = srv.exited || { code: -1, signal: null }; });
    const t0 = Date.now();
    while (Date.now() - t0 < readyTimeoutMs) {
      const m2 = srv.logText.match(/listening on http:\/\/([^\s:/]+):(\d+)/);
      if (m2) {
        if (Number(m2[2]) !== port) {
          srv.proc.kill('SIGKILL');
          throw new Error(`server says it listens on port ${m2[2]}, asked for ${port}\n${srv.log()}`);
        }
        return srv;
      }
      if (!srv.alive()) break;
      await sleep(20);
    }
    if (srv.alive()) {
      proc.kill('SIGKILL');
      throw new Error(`gemma4c serve did not print "listening on http://..." within ${readyTimeoutMs} ms\n` +
        `command: ${argv.join(' ')}\n--- log ---\n${srv.log()}`);
    }
    lastErr = new Error(`gemma4c serve exited during start-up (code ${srv.exited.code}, signal ${srv.exited.signal})\n` +
      `command: ${argv.join(' ')}\n--- log ---\n${srv.log()}`);
    // Another process may have taken the port between freePort() and bind(): retry.
    if (!/address already in use|EADDRINUSE|bind/i.test(srv.logText)) break;
  }
  throw lastErr;
}

// Token ids of TEXT from the CLI (`gemma4c tokenize`), to cross-check /tokenize.
// special: parse control tokens such as <turn|> (`--special`).
export function cliTokenize(text, { model: m = model(), special = false } = {}) {
  const out = execFileSync(BIN, ['tokenize', '-m', m, ...(special ? ['--special'] : []), text], { encoding: 'utf8' });
  return JSON.parse(out);
}

// logit_bias that bans the end-of-generation tokens (<eos>, <turn|>, <|tool_response>),
// so that a random-weight model keeps generating.
export function banEogBias(m = model()) {
  const bias = {};
  for (const id of cliTokenize('<eos><turn|><|tool_response>', { model: m, special: true })) bias[id] = -100;
  return bias;
}

export function fileExists(p) {
  try { fs.accessSync(p); return true; } catch { return false; }
}
