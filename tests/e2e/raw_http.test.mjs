// Malformed and hostile HTTP against `gemma4c serve`, through raw sockets (node:net)
// and fetch(). Every request must get a clear 4xx (OpenAI error shape where a body is
// sent) and the server must stay up: /health is checked after each case.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from './lib/server.mjs';
import { show, assertErrorBody, checkChatCompletion, postJSON } from './lib/check.mjs';

const MAX_BODY = 65536;

// Sends the pieces over one TCP connection (optionally half-closing or closing after
// them) and collects what comes back until the server closes or `timeout` ms pass.
function rawExchange(port, pieces, { end = 'half', timeout = 5000, gapMs = 0 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const out = [];
    let closed = false;
    let error = null;
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(out), closed, error });
    };
    const timer = setTimeout(finish, timeout);
    sock.on('data', (d) => {
      out.push(d);
      if (parseResponse(Buffer.concat(out))?.complete) finish();
    });
    sock.on('error', (e) => { error = e.code || e.message; });
    sock.on('close', () => { closed = true; finish(); });
    sock.on('connect', async () => {
      for (const p of pieces) {
        if (sock.destroyed) break;
        sock.write(p);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (end === 'half') sock.end();
      else if (end === 'close') sock.destroy();
    });
  });
}

// Parses the first HTTP response in `buf`: {status, headers, body, rest}.
function parseResponse(buf) {
  const s = buf.toString('latin1');
  const he = s.indexOf('\r\n\r\n');
  if (he < 0) return null;
  const [statusLine, ...hl] = s.slice(0, he).split('\r\n');
  const m = statusLine.match(/^HTTP\/1\.[01] (\d{3})/);
  if (!m) return null;
  const headers = {};
  for (const h of hl) {
    const c = h.indexOf(':');
    headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
  }
  const bodyStart = he + 4;
  let body;
  let rest;
  let complete = false;
  if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
    let p = bodyStart;
    const parts = [];
    for (;;) {
      const le = s.indexOf('\r\n', p);
      if (le < 0) break;
      const len = parseInt(s.slice(p, le), 16);
      if (!(len >= 0)) break;
      if (len === 0) {
        const t = s.indexOf('\r\n\r\n', le);
        if (t >= 0) { p = t + 4; complete = true; } else p = s.length;
        break;
      }
      if (le + 2 + len + 2 > s.length) break;
      parts.push(buf.subarray(le + 2, le + 2 + len));
      p = le + 2 + len + 2;
    }
    body = Buffer.concat(parts);
    rest = buf.subarray(p);
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    body = buf.subarray(bodyStart, bodyStart + n);
    rest = buf.subarray(bodyStart + n);
    complete = buf.length >= bodyStart + n;
  } else {
    body = buf.subarray(bodyStart);
    rest = Buffer.alloc(0);
  }
  // 1xx responses have no body: report the final response after them
  if (Number(m[1]) >= 100 && Number(m[1]) < 200) {
    const next = parseResponse(buf.subarray(he + 4));
    return next;
  }
  return { status: Number(m[1]), headers, body: body.toString('utf8'), rest, complete };
}

const post = (path, body, extra = '') => {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  return [Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n${extra}\r\n`), b])];
};

describe('raw HTTP: malformed requests', () => {
  let srv;
  before(async () => { srv = await startServer({ args: ['--max-body', String(MAX_BODY), '--ctx', '512'] }); });
  after(async () => { await srv?.stop(); });

  async function healthy(what) {
    srv.assertAlive(`after ${what}`);
    const h = await srv.health();
    assert.equal(h.status, 200, `/health after ${what}: ${h.status} ${h.body}`);
  }

  // Sends a body with fetch and expects a 400 JSON error with the given param.
  async function expect400(path, body, param, what) {
    const r = await postJSON(`${srv.url}${path}`, body);
    assert.equal(r.status, 400, `${what}: ${show(body, 200)} -> ${r.status} ${show(r.text, 300)}`);
    const e = assertErrorBody(r.json ?? r.text, {}, what);
    if (typeof param === 'string') assert.equal(e.param, param, `${what}: error.param ${show(e)}`);
    else if (param instanceof RegExp) assert.match(String(e.param), param, `${what}: error.param ${show(e)}`);
    await healthy(what);
    return e;
  }

  it('malformed JSON → 400 JSON error', async () => {
    for (const body of ['{', '{"model":', 'not json', '[1,2', '{"messages": [}', '{"messages":[{"role":"user","content":"hi"}]} trailing', "{'a':1}", '{"a":01}', '{"a":"\\x41"}']) {
      await expect400('/v1/chat/completions', body, undefined, `malformed ${show(body)}`);
    }
  });

  const OK = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
  async function fieldCases(cases) {
    for (const [body, param] of cases) {
      const key = Object.keys(body).find((k) => JSON.stringify(body[k]) !== JSON.stringify(OK[k])) ||
        Object.keys(OK).find((k) => !(k in body)) || 'messages';
      await expect400('/v1/chat/completions', body, param, `${key}=${show(body[key] ?? '(missing)', 120)}`);
    }
  }

  it('wrong field types → 400 naming the field in error.param', async () => {
    await fieldCases([
      [{ ...OK, messages: 'hi' }, 'messages'],
      [{ model: 'm', max_tokens: 2 }, 'messages'],
      [{ ...OK, temperature: 'hot' }, 'temperature'],
      [{ ...OK, max_tokens: -5 }, 'max_tokens'],
      [{ ...OK, stop: 42 }, 'stop'],
      [{ ...OK, tools: {} }, 'tools'],
    ]);
    await expect400('/v1/chat/completions', '[]', undefined, 'body is an array');
    await expect400('/v1/chat/completions', '"x"', undefined, 'body is a string');
    await expect400('/v1/chat/completions', 'null', undefined, 'body is null');
    await expect400('/v1/completions', { model: 'm' }, 'prompt', 'completions without prompt');
    await expect400('/v1/completions', { model: 'm', prompt: 42 }, 'prompt', 'completions prompt 42');
    await expect400('/tokenize', { content: 5 }, 'content', '/tokenize content 5');
    await expect400('/detokenize', { tokens: 'x' }, 'tokens', '/detokenize tokens "x"');
  });

  it('more invalid values that OpenAI rejects → 400 with param', async () => {
    await fieldCases([
      [{ ...OK, messages: [] }, 'messages'],
      [{ ...OK, messages: [{ role: 'wizard', content: 'x' }] }, /^messages/],
      [{ ...OK, messages: [{ role: 'user', content: 42 }] }, /^messages/],
      [{ ...OK, messages: [{ content: 'x' }] }, /^messages/],
      [{ ...OK, temperature: -1 }, 'temperature'],
      [{ ...OK, top_p: 'all' }, 'top_p'],
      [{ ...OK, max_tokens: 1.5 }, 'max_tokens'],
      [{ ...OK, max_tokens: '10' }, 'max_tokens'],
      [{ ...OK, stop: [1, 2] }, /^stop/],
      [{ ...OK, tools: [{ type: 'function' }] }, /^tools/],
      [{ ...OK, stream: 'yes' }, 'stream'],
      [{ ...OK, seed: 'abc' }, 'seed'],
      [{ ...OK, n: 0 }, 'n'],
      [{ ...OK, logprobs: 'yes' }, 'logprobs'],
      [{ ...OK, response_format: { type: 'xml' } }, /^response_format/],
      [{ ...OK, response_format: 'json' }, /^response_format/],
      [{ ...OK, tool_choice: 'sometimes' }, 'tool_choice'],
      [{ ...OK, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }], tool_choice: { type: 'function', function: { name: 'g' } } }, 'tool_choice'],
      [{ ...OK, stream_options: 'usage' }, 'stream_options'],
    ]);
    await expect400('/detokenize', { tokens: [1, -3] }, /^tokens/, '/detokenize tokens [1,-3]');
  });

  it('empty body → 400', async () => {
    const r = await fetch(`${srv.base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' });
    assert.equal(r.status, 400);
    assertErrorBody(await r.text(), {}, 'empty body');
    const raw = await rawExchange(srv.port, ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n']);
    const p = parseResponse(raw.data);
    assert.ok(p && p.status >= 400 && p.status < 500, `POST without Content-Length: ${show(raw.data.toString('latin1'), 300)}`);
    await healthy('empty body');
  });

  it('body over --max-body → 413', async () => {
    const big = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY + 10) }], max_tokens: 1 });
    const r = await postJSON(`${srv.base}/chat/completions`, big);
    assert.equal(r.status, 413, `${big.length}-byte body: ${r.status} ${show(r.text, 300)}`);
    assertErrorBody(r.json ?? r.text, {}, '413');
    await healthy('413');
  });

  it('a Content-Length over --max-body is refused at once, without waiting for the body', async () => {
    const t0 = performance.now();
    const raw = await rawExchange(srv.port, [`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{"model":`], { end: 'none', timeout: 5000 });
    const p = parseResponse(raw.data);
    assert.ok(p, `no response to Content-Length 1e9 within ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(p.status, 413, `Content-Length 1e9: ${show(raw.data.toString('latin1'), 300)}`);
    await healthy('Content-Length 1e9');
  });

  it('a chunked upload over --max-body → 413', async () => {
    const chunk = 'x'.repeat(16384);
    const pieces = ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'];
    pieces.push(`${(12).toString(16)}\r\n{"model":"m"\r\n`);
    for (let i = 0; i < 6; i++) pieces.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    pieces.push('0\r\n\r\n');
    const rc = await rawExchange(srv.port, pieces, { end: 'none', timeout: 5000 });
    const pc = parseResponse(rc.data);
    assert.ok(pc && pc.status === 413, `chunked body over the limit: ${show(rc.data.toString('latin1'), 300)}`);
    await healthy('413');
  });

  it('a body just under --max-body is accepted', async () => {
    const body = { model: 'm', messages: [{ role: 'user', content: '' }], max_tokens: 1 };
    body.messages[0].content = 'x'.repeat(MAX_BODY - JSON.stringify(body).length - 1);
    const r = await postJSON(`${srv.base}/chat/completions`, body);
    // the prompt is longer than --ctx 512, so 400 for the context is right; never 413
    assert.notEqual(r.status, 413, `body of ${JSON.stringify(body).length} bytes under --max-body ${MAX_BODY} refused as too large`);
    assert.ok(r.status === 200 || r.status === 400, `${r.status} ${show(r.text, 300)}`);
  });

  it('chunked request body and Expect: 100-continue work', async () => {
    const json = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    const a = json.slice(0, 10);
    const b = json.slice(10);
    const raw = await rawExchange(srv.port, [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      `${a.length.toString(16)}\r\n${a}\r\n`, `${Buffer.byteLength(b).toString(16)}\r\n${b}\r\n`, '0\r\n\r\n',
    ], { end: 'none', timeout: 10000, gapMs: 20 });
    const p = parseResponse(raw.data);
    assert.ok(p && p.status === 200, `chunked upload: ${show(raw.data.toString('latin1'), 400)}`);
    checkChatCompletion(JSON.parse(p.body));
    // curl sends Expect: 100-continue for bodies over 1 KiB and waits for the 100 (or a timeout)
    const long = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'y'.repeat(1500) }], max_tokens: 2 });
    const r2 = await new Promise((resolve) => {
      const sock = net.connect(srv.port, '127.0.0.1');
      let buf = Buffer.alloc(0);
      let sent = false;
      const timer = setTimeout(() => { sock.destroy(); resolve(buf); }, 10000);
      sock.on('connect', () => sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${long.length}\r\nExpect: 100-continue\r\n\r\n`));
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        const s = buf.toString('latin1');
        if (!sent && /^HTTP\/1\.1 100/.test(s)) { sent = true; buf = Buffer.from(s.slice(s.indexOf('\r\n\r\n') + 4), 'latin1'); sock.write(long); }
        const pr = parseResponse(buf);
        if (pr?.complete) { clearTimeout(timer); sock.destroy(); resolve(buf); }
      });
      sock.on('error', () => {});
    });
    const p2 = parseResponse(r2);
    assert.ok(p2, `Expect: 100-continue: no response: ${show(r2.toString('latin1'), 300)}`);
    assert.ok(p2.status === 200 || p2.status === 400, `Expect: 100-continue: ${p2.status} ${show(p2.body, 300)}`);
    await healthy('chunked/100-continue');
  });

  it('keep-alive: the connection serves another request after a 400', async () => {
    const bad = post('/v1/chat/completions', '{bad')[0];
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    sock.write(bad);
    const t0 = Date.now();
    while (!parseResponse(buf)?.complete && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    const p1 = parseResponse(buf);
    assert.equal(p1?.status, 400, show(buf.toString('latin1'), 300));
    buf = Buffer.from(p1.rest);
    if (/close/i.test(p1.headers.connection || '')) {
      sock.destroy();
      return; // the server may close after an error if it says so
    }
    sock.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    const t1 = Date.now();
    while (!parseResponse(buf)?.complete && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 10));
    sock.destroy();
    const p2 = parseResponse(buf);
    assert.equal(p2?.status, 200, `second request on the connection: ${show(buf.toString('latin1'), 300)}`);
  });

  it('huge and garbage headers, garbage request lines: the server survives', async () => {
    const cases = [
      ['1 MiB header value', [`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1 << 20)}\r\n\r\n`]],
      ['5000 headers', [`GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 5000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`]],
      ['64 KiB URL', [`GET /${'a'.repeat(65536)} HTTP/1.1\r\nHost: x\r\n\r\n`]],
      ['garbage request line', ['GARBAGE\r\n\r\n']],
      ['binary junk', [Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 255))]],
      ['bad method', ['FOO /v1/models HTTP/1.1\r\nHost: x\r\n\r\n']],
      ['header without colon', ['GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n']],
      ['NUL in header', ['GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n']],
      ['HTTP/2 preface', ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']],
      ['negative Content-Length', ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}']],
      ['two Content-Lengths', ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}']],
      ['bad chunk size', ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n']],
      ['TLS client hello', [Buffer.from('16030100c4010000c00303', 'hex')]],
    ];
    for (const [what, pieces] of cases) {
      const r = await rawExchange(srv.port, pieces, { timeout: 3000 });
      const p = parseResponse(r.data);
      if (p) assert.ok(p.status < 500 || p.status === 505, `${what}: status ${p.status}`);
      await healthy(what);
    }
  });

  it('truncated bodies and abrupt closes: the server survives', async () => {
    const cases = [
      ['Content-Length 1000, 10 bytes sent, then close', ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"'], 'close'],
      ['Content-Length 1000, 10 bytes sent, then half-close', ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"'], 'half'],
      ['headers cut in the middle', ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty'], 'close'],
      ['chunked body cut', ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"model":'], 'close'],
      ['connect and close', [], 'close'],
    ];
    for (const [what, pieces, end] of cases) {
      await rawExchange(srv.port, pieces, { end, timeout: 2000 });
      await healthy(what);
    }
    // a valid generation request whose client vanishes before reading the answer
    await rawExchange(srv.port, post('/v1/chat/completions', JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 64 })), { end: 'close' });
    await rawExchange(srv.port, post('/v1/chat/completions', JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 64, stream: true })), { end: 'close' });
    await healthy('client gone before the answer');
    const r = await postJSON(`${srv.base}/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    assert.equal(r.status, 200, r.text);
  });

  it('non-UTF-8 and odd JSON bodies: 4xx or a valid answer, never a crash', async () => {
    const pre = Buffer.from('{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"');
    const post_ = Buffer.from('"}]}');
    const cases = [
      ['invalid UTF-8 bytes', Buffer.concat([pre, Buffer.from([0xff, 0xfe, 0xc3, 0x28]), post_])],
      ['overlong UTF-8', Buffer.concat([pre, Buffer.from([0xc0, 0xaf]), post_])],
      ['UTF-16 body', Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }), 'utf16le')],
      ['escaped NUL', Buffer.from('{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"a\\u0000b"}]}')],
      ['lone surrogate escape', Buffer.from('{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"a\\ud800b"}]}')],
      ['raw control character', Buffer.from('{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"a\u0001b"}]}')],
      ['huge number', Buffer.from('{"model":"m","max_tokens":1e999,"messages":[{"role":"user","content":"hi"}]}')],
      ['deep nesting', Buffer.from('{"model":"m","messages":' + '['.repeat(30000) + ']'.repeat(30000) + '}')],
      ['deep object nesting', Buffer.from('{"a":'.repeat(10000) + '1' + '}'.repeat(10000))],
      ['duplicate keys', Buffer.from('{"model":"m","max_tokens":2,"max_tokens":3,"messages":[{"role":"user","content":"hi"}]}')],
      ['BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}')])],
    ];
    for (const [what, body] of cases) {
      const raw = await rawExchange(srv.port, post('/v1/chat/completions', body), { timeout: 15000 });
      const p = parseResponse(raw.data);
      assert.ok(p, `${what}: no response: ${show(raw.data.toString('latin1'), 200)}`);
      assert.ok(p.status === 200 || (p.status >= 400 && p.status < 500), `${what}: status ${p.status} ${show(p.body, 300)}`);
      if (p.status === 200) checkChatCompletion(JSON.parse(p.body));
      else assertErrorBody(p.body, {}, what);
      console.log(`# ${what}: ${p.status}`);
      await healthy(what);
    }
    // invalid UTF-8 must not come back as invalid UTF-8 in the error message
    const raw = await rawExchange(srv.port, post('/v1/chat/completions', Buffer.concat([Buffer.from('{"model":"m","mess'), Buffer.from([0xff]), Buffer.from('ages":1}')])));
    const p = parseResponse(raw.data);
    assert.ok(p && p.status === 400, show(raw.data.toString('latin1'), 200));
    const bodyBytes = raw.data.subarray(raw.data.indexOf('\r\n\r\n') + 4);
    assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(bodyBytes), 'error body is not valid UTF-8');
  });

  it('1000 rapid requests with bad JSON: all 400, the server stays healthy', async () => {
    const t0 = performance.now();
    let next = 0;
    const statuses = new Map();
    const worker = async () => {
      while (next < 1000) {
        const i = next++;
        const r = await fetch(`${srv.base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"bad": ${i},` });
        await r.arrayBuffer();
        statuses.set(r.status, (statuses.get(r.status) || 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const ms = performance.now() - t0;
    console.log(`# 1000 bad requests in ${ms.toFixed(0)} ms: ${show([...statuses])}`);
    assert.deepEqual([...statuses], [[400, 1000]]);
    await healthy('1000 bad requests');
    const r = await postJSON(`${srv.base}/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    assert.equal(r.status, 200);
  });

  it('200 connections opened and dropped at once', async () => {
    const socks = await Promise.all(Array.from({ length: 200 }, () => new Promise((resolve) => {
      const s = net.connect(srv.port, '127.0.0.1');
      s.on('connect', () => resolve(s));
      s.on('error', () => resolve(s));
    })));
    for (const s of socks) s.destroy();
    await healthy('200 dropped connections');
  });
});
