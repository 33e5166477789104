// Server options and concurrency: --api-key, --cors, a small --ctx, --parallel with
// continuous batching, client aborts. Each describe() starts its own server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, model, banEogBias } from './lib/server.mjs';
import { show, checkChatCompletion, checkChatChunks, assertErrorBody, postJSON, postStream, readSSE } from './lib/check.mjs';
import { PROMPTS } from './lib/fixtures.mjs';

const user = (content) => [{ role: 'user', content }];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('--api-key and --cors', () => {
  const KEY = 'sekrit-e2e-key';
  const ORIGIN = 'http://app.example.test';
  let srv;
  before(async () => { srv = await startServer({ args: ['--api-key', KEY, '--cors', ORIGIN] }); });
  after(async () => { await srv?.stop(); });

  const body = JSON.stringify({ model: 'x', messages: user('hi'), max_tokens: 2 });

  it('no key or a wrong key → 401 in the OpenAI error shape; the right key → 200', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${KEY}` }, { authorization: 'Bearer' }, { authorization: `Bearer ${KEY}x` }]) {
      const r = await postJSON(`${srv.base}/chat/completions`, body, { headers });
      assert.equal(r.status, 401, `headers ${show(headers)}: ${r.status} ${r.text}`);
      assertErrorBody(r.json ?? r.text, {}, `401 with ${show(headers)}`);
    }
    const ok = await postJSON(`${srv.base}/chat/completions`, body, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(ok.status, 200, ok.text);
    checkChatCompletion(ok.json);
    // through the SDK
    const good = new OpenAI({ baseURL: srv.base, apiKey: KEY, maxRetries: 0 });
    checkChatCompletion(await good.chat.completions.create({ model: 'x', messages: user('hi'), max_tokens: 2 }));
    const bad = new OpenAI({ baseURL: srv.base, apiKey: 'nope', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: 'x', messages: user('hi'), max_tokens: 2 }),
      (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    // the other protected endpoints
    const c = await postJSON(`${srv.base}/completions`, { prompt: 'a', max_tokens: 1 });
    assert.equal(c.status, 401, `/v1/completions without key: ${c.status}`);
  });

  it('/health needs no key', async () => {
    const h = await srv.health();
    assert.equal(h.status, 200, h.body);
    assert.deepEqual(JSON.parse(h.body), { status: 'ok' });
  });

  it('CORS preflight (OPTIONS) is answered without a key and allows the origin', async () => {
    const r = await fetch(`${srv.base}/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.ok(r.status === 200 || r.status === 204, `preflight status ${r.status}`);
    const aco = r.headers.get('access-control-allow-origin');
    assert.ok(aco === ORIGIN || aco === '*', `Access-Control-Allow-Origin: ${aco}`);
    const methods = (r.headers.get('access-control-allow-methods') || '').toUpperCase();
    assert.ok(methods.includes('POST') || methods.includes('*'), `Access-Control-Allow-Methods: ${methods}`);
    const hdrs = (r.headers.get('access-control-allow-headers') || '').toLowerCase();
    for (const h of ['authorization', 'content-type']) assert.ok(hdrs.includes(h) || hdrs.includes('*'), `Access-Control-Allow-Headers ${hdrs} lacks ${h}`);
    // the actual request carries the header too
    const p = await fetch(`${srv.base}/chat/completions`, {
      method: 'POST', body, headers: { origin: ORIGIN, 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    });
    assert.equal(p.status, 200);
    const aco2 = p.headers.get('access-control-allow-origin');
    assert.ok(aco2 === ORIGIN || aco2 === '*', `Access-Control-Allow-Origin on POST: ${aco2}`);
    await p.text();
  });
});

describe('--ctx 256: clamping and over-long prompts', () => {
  let srv;
  let client;
  before(async () => {
    srv = await startServer({ args: ['--ctx', '256', '--parallel', '1'] });
    client = new OpenAI({ baseURL: srv.base, apiKey: 'none', maxRetries: 0 });
  });
  after(async () => { await srv?.stop(); });

  it('max_tokens 32000 is clamped to the free context, not rejected', async () => {
    for (const temperature of [0, 1]) {
      const r = await client.chat.completions.create({ model: 'gemma4', messages: user('Say hello'), max_tokens: 32000, temperature, seed: 1 });
      checkChatCompletion(r);
      const u = r.usage;
      assert.ok(u.prompt_tokens + u.completion_tokens <= 256, `prompt + completion exceed --ctx 256: ${show(u)}`);
      if (r.choices[0].finish_reason === 'length') {
        assert.ok(u.prompt_tokens + u.completion_tokens >= 248, `finish length long before the context is full: ${show(u)}`);
      }
    }
    // streamed, as OpenCode sends it
    const sse = await postStream(`${srv.base}/chat/completions`, {
      model: 'gemma4', messages: user('Write a long story.'), max_tokens: 32000, stream: true, stream_options: { include_usage: true }, seed: 2,
    });
    const s = checkChatChunks(sse.events, { includeUsage: true });
    assert.ok(s.usage.total_tokens <= 256, show(s.usage));
  });

  it('no max_tokens at all (Aider): the generation ends at the context or EOS', async () => {
    for (const stream of [false, true]) {
      const body = { model: 'gemma4', messages: user('Write a long story.'), temperature: 0, logit_bias: banEogBias() };
      if (!stream) {
        const r = await client.chat.completions.create(body);
        checkChatCompletion(r);
        assert.equal(r.choices[0].finish_reason, 'length', `EOS banned, no max_tokens: ${show(r.choices[0].finish_reason)} ${show(r.usage)}`);
        assert.ok(r.usage.total_tokens <= 256 && r.usage.total_tokens >= 248, `ends when the context is full: ${show(r.usage)}`);
      } else {
        const sse = await postStream(`${srv.base}/chat/completions`, { ...body, stream: true, stream_options: { include_usage: true } });
        const s = checkChatChunks(sse.events, { includeUsage: true });
        assert.equal(s.choices[0].finish, 'length');
        assert.ok(s.usage.total_tokens <= 256 && s.usage.total_tokens >= 248, show(s.usage));
      }
    }
  });

  it('ignore_eos (llama.cpp extension) generates past the end-of-generation token', async () => {
    for (const p of ['Write a very long story.', ...PROMPTS]) {
      const a = await client.chat.completions.create({ model: 'm', messages: user(p), max_tokens: 64, temperature: 0 });
      if (a.choices[0].finish_reason !== 'stop') continue;
      const b = await client.chat.completions.create({ model: 'm', messages: user(p), max_tokens: 64, temperature: 0, ignore_eos: true });
      checkChatCompletion(b);
      assert.equal(b.choices[0].finish_reason, 'length', `${show(p)} stops after ${a.usage.completion_tokens} tokens; with ignore_eos: ${b.choices[0].finish_reason} after ${b.usage.completion_tokens}`);
      assert.equal(b.usage.completion_tokens, 64);
      return;
    }
    console.log('# ignore_eos: no prompt ended with EOS within 64 tokens; not exercised');
  });

  it('a prompt longer than the context → 400 that names the context and the excess', async () => {
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(30);
    const r = await postJSON(`${srv.base}/chat/completions`, { model: 'x', messages: user(long), max_tokens: 4 });
    assert.equal(r.status, 400, `${r.status} ${r.text.slice(0, 300)}`);
    const e = assertErrorBody(r.json ?? r.text, {}, 'prompt > ctx');
    assert.match(e.message, /context/i, `message should mention the context: ${e.message}`);
    const nums = (e.message.match(/\d+/g) || []).map(Number);
    assert.ok(nums.includes(256), `message should give the context size 256: ${e.message}`);
    assert.ok(nums.some((n) => n > 256 || (n > 0 && n !== 256)), `message should say by how much: ${e.message}`);
    // streamed requests get the same 400 (before any SSE)
    const rs = await postJSON(`${srv.base}/chat/completions`, { model: 'x', messages: user(long), max_tokens: 4, stream: true });
    assert.equal(rs.status, 400, `stream: ${rs.status} ${rs.text.slice(0, 300)}`);
    // and the server still works
    checkChatCompletion(await client.chat.completions.create({ model: 'x', messages: user('hi'), max_tokens: 2 }));
  });
});

describe('--parallel 4: concurrent streams', () => {
  let srv;
  let client;
  before(async () => {
    srv = await startServer({ args: ['--parallel', '4', '--ctx', '4096'] });
    client = new OpenAI({ baseURL: srv.base, apiKey: 'none', maxRetries: 0, timeout: 120000 });
  });
  after(async () => { await srv?.stop(); });

  // Streams one request with fetch, recording when the first generated delta and the
  // finish chunk arrived.
  async function timedStream(body) {
    const t = { first: null, finish: null };
    const res = await fetch(`${srv.base}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
      signal: AbortSignal.timeout(120000),
    });
    const sse = await readSSE(res, {
      onEvent: (d) => {
        if (d === '[DONE]') return;
        const j = JSON.parse(d);
        const c = j.choices?.[0];
        if (!c) return;
        const dl = c.delta || {};
        if (t.first === null && (dl.content || dl.reasoning_content || dl.tool_calls)) t.first = performance.now();
        if (c.finish_reason) t.finish = performance.now();
      },
    });
    return { r: checkChatChunks(sse.events, { includeUsage: true }), t };
  }

  it('8 concurrent streams all complete, each well-formed, greedy ones equal to solo runs', async () => {
    const prompts = PROMPTS.slice(0, 4);
    const solo = [];
    for (const p of prompts) {
      const r = await client.chat.completions.create({ model: 'm', messages: user(p), max_tokens: 48, temperature: 0 });
      solo.push(r.choices[0].message.content ?? '');
    }
    const jobs = [];
    for (let i = 0; i < 8; i++) {
      const body = i < 4
        ? { model: 'm', messages: user(prompts[i]), max_tokens: 48, temperature: 0 }
        : { model: 'm', messages: user(prompts[i - 4]), max_tokens: 48, temperature: 0.9, seed: 100 + i };
      jobs.push(timedStream(body));
    }
    const results = await Promise.all(jobs);
    const ids = results.map((x) => x.r.id);
    assert.equal(new Set(ids).size, 8, `completion ids must be unique: ${show(ids)}`);
    for (let i = 0; i < 4; i++) {
      assert.equal(results[i].r.choices[0].content, solo[i], `greedy stream ${i} under batching differs from the solo run of the same prompt`);
    }
    for (const x of results) assert.ok(x.r.usage.completion_tokens <= 48);
    // continuous batching: some generations overlapped in time
    const iv = results.filter((x) => x.t.first !== null && x.t.finish !== null).map((x) => x.t);
    let maxActive = 0;
    for (const a of iv) maxActive = Math.max(maxActive, iv.filter((b) => b.first <= a.first && a.first < b.finish).length);
    assert.ok(maxActive >= 2, `no two streams generated at the same time (max overlap ${maxActive}): ${show(iv)}`);
  });

  it('more requests than slots are queued, not rejected', async () => {
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      postJSON(`${srv.base}/chat/completions`, { model: 'm', messages: user(`Count to ${i}`), max_tokens: 16, seed: i })));
    for (const r of rs) {
      assert.equal(r.status, 200, `${r.status} ${r.text.slice(0, 300)}`);
      checkChatCompletion(r.json);
    }
  });
});

describe('client abort', () => {
  let srv;
  let client;
  let perTokMs = 0; // decode time per token measured by the first test
  before(async () => {
    srv = await startServer({ args: ['--parallel', '1', '--ctx', '8192'] });
    client = new OpenAI({ baseURL: srv.base, apiKey: 'none', maxRetries: 0, timeout: 120000 });
  });
  after(async () => { await srv?.stop(); });

  it('aborting a stream frees the slot: the next request is served at once', async () => {
    const ac = new AbortController();
    const times = [];
    let aborted = false;
    const res = await fetch(`${srv.base}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
      // banning the end-of-generation tokens keeps the random model going
      body: JSON.stringify({ model: 'm', messages: user('Write a very long story.'), max_tokens: 8000, temperature: 0, logit_bias: banEogBias(), stream: true }),
    });
    assert.equal(res.status, 200);
    try {
      await readSSE(res, {
        onEvent: (d) => {
          if (d === '[DONE]') return;
          const c = JSON.parse(d).choices?.[0];
          if (c && (c.delta?.content || c.delta?.reasoning_content)) times.push(performance.now());
          if (times.length >= 40) { aborted = true; ac.abort(); }
        },
      });
    } catch (e) {
      if (!aborted) throw e;
    }
    if (!aborted) {
      // the model ended by itself within 40 tokens: nothing to cancel, but log it
      console.log('# abort test: generation ended before 40 tokens; the cancel path was not exercised');
    }
    const perTok = times.length > 1 ? (times.at(-1) - times[0]) / (times.length - 1) : 0;
    perTokMs = perTok;
    const t0 = performance.now();
    const r = await client.chat.completions.create({ model: 'm', messages: user('hi'), max_tokens: 2 });
    const latency = performance.now() - t0;
    checkChatCompletion(r);
    const h = await srv.health();
    assert.equal(h.status, 200, h.body);
    // had the aborted generation kept its only slot, the new request would have waited for ~7960 more tokens
    const wouldWait = (8000 - times.length) * perTok;
    console.log(`# abort: ${perTok.toFixed(3)} ms/token, next request after ${latency.toFixed(0)} ms (uncancelled estimate ${wouldWait.toFixed(0)} ms)`);
    if (aborted && wouldWait > 1500) {
      assert.ok(latency < wouldWait / 3, `next request took ${latency.toFixed(0)} ms; the aborted generation (~${wouldWait.toFixed(0)} ms left) was apparently not cancelled`);
    }
  });

  it('aborting a non-streamed request mid-generation leaves the server healthy', async () => {
    const ac = new AbortController();
    const p = fetch(`${srv.base}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
      body: JSON.stringify({ model: 'm', messages: user('Write a very long story.'), max_tokens: 8000, temperature: 0, logit_bias: banEogBias() }),
    });
    await sleep(150);
    ac.abort();
    await assert.rejects(p.then((r) => r.text()));
    const t0 = performance.now();
    checkChatCompletion(await client.chat.completions.create({ model: 'm', messages: user('hi'), max_tokens: 2 }));
    const latency = performance.now() - t0;
    const wouldWait = 7800 * perTokMs;
    console.log(`# abort (non-stream): next request after ${latency.toFixed(0)} ms (uncancelled estimate ${wouldWait.toFixed(0)} ms)`);
    assert.equal((await srv.health()).status, 200);
    if (wouldWait > 1500) {
      assert.ok(latency < wouldWait / 3, `next request took ${latency.toFixed(0)} ms: the abandoned non-streamed generation (~${wouldWait.toFixed(0)} ms) apparently kept the only slot`);
    }
  });

  it('many aborted streams in a row do not leak slots', async () => {
    for (let i = 0; i < 10; i++) {
      const ac = new AbortController();
      const res = await fetch(`${srv.base}/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
        body: JSON.stringify({ model: 'm', messages: user(`Story ${i}`), max_tokens: 4000, seed: i, logit_bias: banEogBias(), stream: true }),
      });
      const reader = res.body.getReader();
      await reader.read();
      ac.abort();
    }
    const t0 = performance.now();
    const r = await client.chat.completions.create({ model: 'm', messages: user('hi'), max_tokens: 2 });
    checkChatCompletion(r);
    console.log(`# after 10 aborted streams: next request in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal((await srv.health()).status, 200);
  });
});

describe('other fixture models', () => {
  for (const m of ['e-q8_0.gguf', 'moe-q8_0.gguf']) {
    it(`${m}: stream + non-stream chat and a required tool call`, async () => {
      const srv = await startServer({ model: model(m) });
      try {
        const client = new OpenAI({ baseURL: srv.base, apiKey: 'none', maxRetries: 0 });
        checkChatCompletion(await client.chat.completions.create({ model: 'm', messages: user('Say hello'), max_tokens: 16 }));
        const sse = await postStream(`${srv.base}/chat/completions`, { model: 'm', messages: user('Say hello'), max_tokens: 16, stream: true, stream_options: { include_usage: true } });
        checkChatChunks(sse.events, { includeUsage: true });
        const t = await client.chat.completions.create({
          model: 'm', messages: user('Weather?'), max_tokens: 200, seed: 4, tool_choice: 'required',
          tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { x: { type: 'integer' } }, required: ['x'] } } }],
        });
        checkChatCompletion(t);
        assert.equal(t.choices[0].finish_reason, 'tool_calls');
        assert.ok(Number.isInteger(JSON.parse(t.choices[0].message.tool_calls[0].function.arguments).x));
      } finally {
        await srv.stop();
      }
    });
  }
});

describe('--draft: speculative decoding with the MTP drafter', () => {
  // greedy answers must be the same bytes with and without the drafter, for parallel
  // streamed and plain requests; usage reports the drafted / accepted tokens
  let plain, spec;
  before(async () => {
    plain = await startServer({ args: ['--parallel', '2'] });
    spec = await startServer({ args: ['--parallel', '2', '--draft', model('dense-assistant-f32.gguf'), '--draft-max', '4'] });
  });
  after(async () => { await plain?.stop(); await spec?.stop(); });

  it('same greedy answers, drafts reported in usage and timings', async () => {
    const bias = banEogBias();
    const ask = (srv, content, stream) => {
      const body = { model: 'm', messages: user(content), max_tokens: 40, temperature: 0, logit_bias: bias };
      if (!stream) return postJSON(`${srv.base}/chat/completions`, body);
      return postStream(`${srv.base}/chat/completions`, { ...body, stream: true, stream_options: { include_usage: true } });
    };
    const qs = ['Say hello', 'Count to five', 'What is the capital of France?', 'Write a haiku'];
    const want = await Promise.all(qs.map((q) => ask(plain, q, false)));
    const got = await Promise.all(qs.map((q) => ask(spec, q, false)));
    let drafted = 0, accepted = 0;
    for (let i = 0; i < qs.length; i++) {
      assert.equal(got[i].status, 200, got[i].text);
      checkChatCompletion(got[i].json);
      assert.equal(got[i].json.choices[0].message.content, want[i].json.choices[0].message.content, `answer ${i}`);
      assert.equal(got[i].json.usage.completion_tokens, want[i].json.usage.completion_tokens);
      const d = got[i].json.usage.completion_tokens_details;
      const t = got[i].json.timings;
      assert.ok(Number.isInteger(d.accepted_prediction_tokens) && Number.isInteger(d.rejected_prediction_tokens), show(d));
      assert.equal(t.draft_n, d.accepted_prediction_tokens + d.rejected_prediction_tokens);
      assert.equal(t.draft_n_accepted, d.accepted_prediction_tokens);
      assert.equal(want[i].json.timings, undefined, 'no timings without --draft');
      assert.equal(want[i].json.usage.completion_tokens_details.accepted_prediction_tokens, undefined);
      drafted += t.draft_n;
      accepted += t.draft_n_accepted;
    }
    assert.ok(drafted > 0 && accepted > 0, `drafted ${drafted}, accepted ${accepted}`);
    console.log(`# --draft: ${accepted}/${drafted} drafts accepted over ${qs.length} answers`);
    const sse = await ask(spec, qs[1], true);
    const r = checkChatChunks(sse.events, { includeUsage: true });
    assert.equal(r.choices[0].content, want[1].json.choices[0].message.content);
    const last = r.chunks[r.chunks.length - 1];
    assert.ok(last.timings && last.timings.draft_n >= last.timings.draft_n_accepted, show(last));
    assert.equal(last.timings.draft_n_accepted, r.usage.completion_tokens_details.accepted_prediction_tokens);
  });
});
