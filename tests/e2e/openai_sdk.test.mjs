// `gemma4c serve` driven by the official `openai` npm package (the SDK Continue and many
// other clients use), plus fetch() where the wire format itself is checked.
// One server (dense-f32 fixture, --alias, --parallel 2) for the whole file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, cliTokenize } from './lib/server.mjs';

// logit_bias banning <channel|>, so that reasoning cannot end at its first token
const noChannelEnd = () => Object.fromEntries(cliTokenize('<channel|>', { special: true }).map((id) => [id, -100]));
import {
  show, checkChatCompletion, checkChatChunks, checkUsage, assertErrorBody, assertValid,
  postStream, postJSON, readSSE,
} from './lib/check.mjs';
import { TOOLS, WEATHER_TOOL, SEARCH_TOOL, toolSchema, PERSON_SCHEMA, PROMPTS } from './lib/fixtures.mjs';

const ALIAS = 'gemma4-e2e';

// Message text + reasoning + tool calls of a non-streamed choice, for comparisons.
const fullText = (c) => JSON.stringify([c.message.content ?? '', c.message.reasoning_content ?? '', c.message.tool_calls ?? []]);
const user = (content) => [{ role: 'user', content }];

describe('openai SDK: chat, completions, models, sampling, tools, JSON, cache', () => {
  let srv;
  let client;

  before(async () => {
    srv = await startServer({ args: ['--alias', ALIAS, '--parallel', '2'] });
    client = new OpenAI({ baseURL: srv.base, apiKey: 'none', maxRetries: 0, timeout: 120000 });
  });
  after(async () => { await srv?.stop(); });

  const chat = (body) => client.chat.completions.create({ model: ALIAS, ...body });

  it('GET /health says ok', async () => {
    const h = await srv.health();
    assert.equal(h.status, 200, `/health: ${h.status} ${h.body}`);
    assert.deepEqual(JSON.parse(h.body), { status: 'ok' });
  });

  it('/v1/models lists the model under its --alias', async () => {
    const list = await client.models.list();
    const ids = list.data.map((m) => m.id);
    assert.ok(ids.includes(ALIAS), `--alias ${ALIAS} not in /v1/models ids ${show(ids)}`);
    for (const m of list.data) {
      assert.equal(m.object, 'model', show(m));
      assert.equal(typeof m.id, 'string');
      assert.ok(Number.isInteger(m.created), `created: ${show(m)}`);
      assert.equal(typeof m.owned_by, 'string', `owned_by: ${show(m)}`);
    }
    const raw = await (await fetch(`${srv.base}/models`)).json();
    assert.equal(raw.object, 'list', show(raw));
  });

  it('non-streamed chat completion has the OpenAI shape', async () => {
    const { data: r, response } = await chat({
      messages: [{ role: 'system', content: 'You are terse.' }, ...user('Say hello')],
      max_tokens: 16, temperature: 0,
    }).withResponse();
    assert.match(response.headers.get('content-type') || '', /^application\/json/);
    checkChatCompletion(r);
    assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 16, `completion_tokens: ${show(r.usage)}`);
    assert.ok(r.id.length > 0);
  });

  it('accepts any model name', async () => {
    for (const name of ['gpt-4o-mini', 'gemma4', 'org/some-model:Q4_K_M']) {
      const r = await client.chat.completions.create({ model: name, messages: user('hi'), max_tokens: 2 });
      checkChatCompletion(r);
    }
  });

  it('stream with include_usage: role first, deltas, finish chunk, usage chunk (choices []), [DONE]', async () => {
    const body = { messages: user('Write one sentence about the sea.'), max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true } };
    // through the SDK
    const stream = await chat(body);
    const chunks = [];
    for await (const ch of stream) chunks.push(ch);
    const viaSdk = checkChatChunks([...chunks.map((c) => JSON.stringify(c)), '[DONE]'], { includeUsage: true });
    // the raw wire format
    const sse = await postStream(`${srv.base}/chat/completions`, { model: ALIAS, ...body });
    assert.ok(sse.done, 'no data: [DONE]');
    const raw = checkChatChunks(sse.events, { includeUsage: true });
    const c = raw.choices[0];
    // the finish chunk comes after every delta and before the usage chunk
    const last = raw.chunks[raw.chunks.length - 2];
    assert.ok(last.choices[0].finish_reason, `second-to-last chunk must carry finish_reason: ${show(last)}`);
    assert.equal(raw.usage.completion_tokens <= 24, true, show(raw.usage));
    if (c.finish === 'length') assert.equal(raw.usage.completion_tokens, 24, `finish length but ${show(raw.usage)}`);
    // greedy: SDK stream and raw stream agree, and so does the non-streamed answer
    assert.equal(viaSdk.choices[0].content, c.content);
    assert.equal(viaSdk.choices[0].reasoning, c.reasoning);
    const ns = await chat({ ...body, stream: false, stream_options: undefined });
    checkChatCompletion(ns);
    assert.equal(ns.choices[0].message.content ?? '', c.content, 'greedy: streamed and non-streamed content differ');
    assert.equal(ns.choices[0].message.reasoning_content ?? '', c.reasoning, 'greedy: streamed and non-streamed reasoning differ');
    assert.equal(ns.choices[0].finish_reason, c.finish);
    assert.equal(ns.usage.completion_tokens, raw.usage.completion_tokens);
    assert.equal(ns.usage.prompt_tokens, raw.usage.prompt_tokens);
  });

  it('stream without stream_options: no usage chunk, ends with [DONE]', async () => {
    const sse = await postStream(`${srv.base}/chat/completions`, { model: ALIAS, messages: user('Say hello'), max_tokens: 8, stream: true });
    const r = checkChatChunks(sse.events, { includeUsage: false });
    assert.equal(r.usage, null);
    assert.equal(sse.raw.trimEnd().endsWith('data: [DONE]'), true, `stream tail: ${show(sse.raw.slice(-200))}`);
  });

  it('/v1/completions: text_completion, streamed and not', async () => {
    const r = await client.completions.create({ model: ALIAS, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    assert.equal(r.object, 'text_completion', show(r));
    assert.equal(typeof r.id, 'string');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].index, 0);
    assert.equal(typeof r.choices[0].text, 'string');
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason), show(r));
    checkUsage(r.usage, 'completions usage');
    assert.ok(r.usage.completion_tokens <= 8);

    const sse = await postStream(`${srv.base}/completions`, {
      model: ALIAS, prompt: 'Once upon a time', max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    assert.equal(sse.events.at(-1), '[DONE]');
    const chunks = sse.events.slice(0, -1).map((e) => JSON.parse(e));
    let text = '';
    let finish = null;
    for (const [k, ch] of chunks.entries()) {
      assert.equal(ch.object, 'text_completion', show(ch));
      if (ch.choices.length === 0) {
        assert.equal(k, chunks.length - 1, 'usage chunk must be last');
        checkUsage(ch.usage);
        assert.equal(ch.usage.completion_tokens, r.usage.completion_tokens);
        continue;
      }
      assert.equal(finish, null, `text after finish_reason: ${show(ch)}`);
      text += ch.choices[0].text ?? '';
      finish = ch.choices[0].finish_reason ?? null;
    }
    assert.equal(text, r.choices[0].text, 'greedy: streamed and non-streamed completions differ');
    assert.equal(finish, r.choices[0].finish_reason);
    assert.equal(chunks.at(-1).choices.length, 0, 'no usage chunk with include_usage');
  });

  it('n > 1: n choices, or a clear 400 naming "n"', async () => {
    const res = await postJSON(`${srv.base}/chat/completions`, { model: ALIAS, messages: user('Say hello'), max_tokens: 6, n: 2, seed: 3 });
    if (res.status === 200) {
      checkChatCompletion(res.json, { n: 2 });
      const sse = await postStream(`${srv.base}/chat/completions`, { model: ALIAS, messages: user('Say hello'), max_tokens: 6, n: 2, stream: true, stream_options: { include_usage: true } });
      checkChatChunks(sse.events, { includeUsage: true, n: 2 });
    } else {
      assert.equal(res.status, 400, `n=2: ${res.status} ${res.text}`);
      assertErrorBody(res.json ?? res.text, { param: 'n' }, 'n=2');
    }
  });

  it('same seed + temperature 1 gives the same text twice', async () => {
    const body = { messages: user('Tell me a joke about cats.'), max_tokens: 24, temperature: 1, seed: 1234 };
    const a = await chat(body);
    const b = await chat(body);
    checkChatCompletion(a);
    assert.equal(fullText(b.choices[0]), fullText(a.choices[0]), 'seed 1234 twice gave different outputs');
    // streamed with the same seed: the same text again
    const sse = await postStream(`${srv.base}/chat/completions`, { model: ALIAS, ...body, stream: true });
    const s = checkChatChunks(sse.events).choices[0];
    assert.equal(s.content, a.choices[0].message.content ?? '', 'streamed run with the same seed differs');
  });

  it('stop string cuts the output right before it (finish_reason stop)', async () => {
    let tried = [];
    for (const p of PROMPTS) {
      const a = await chat({ messages: user(p), max_tokens: 24, temperature: 0 });
      const text = a.choices[0].message.content ?? '';
      tried.push(text);
      // a stop string of 2 letters/digits that first occurs at position >= 3
      const chars = [...text];
      let stop = null;
      let cut = -1;
      for (let i = 3; i + 1 < chars.length && !stop; i++) {
        const cand = chars[i] + chars[i + 1];
        if (/^[\p{L}\p{N}]{2}$/u.test(cand)) {
          const at = text.indexOf(cand);
          if (at >= 3) { stop = cand; cut = at; }
        }
      }
      if (!stop) continue;
      const b = await chat({ messages: user(p), max_tokens: 24, temperature: 0, stop: [stop, 'never-generated-zzz'] });
      checkChatCompletion(b);
      assert.equal(b.choices[0].finish_reason, 'stop', `stop ${show(stop)} on ${show(text)}: ${show(b.choices[0])}`);
      assert.equal(b.choices[0].message.content ?? '', text.slice(0, cut), `stop ${show(stop)}: expected the text before it`);
      assert.ok(b.usage.completion_tokens <= a.usage.completion_tokens);
      // a single string (not an array) works too
      const c = await chat({ messages: user(p), max_tokens: 24, temperature: 0, stop });
      assert.equal(c.choices[0].message.content ?? '', text.slice(0, cut));
      return;
    }
    assert.fail(`no greedy output had a usable stop string; outputs: ${show(tried)}`);
  });

  it('max_tokens: finish_reason length and completion_tokens == max_tokens', async () => {
    let lengthSeen = false;
    for (const p of PROMPTS) {
      const r = await chat({ messages: user(p), max_tokens: 7, temperature: 0 });
      checkChatCompletion(r);
      const { finish_reason } = r.choices[0];
      if (finish_reason === 'length') {
        assert.equal(r.usage.completion_tokens, 7, `finish length: ${show(r.usage)}`);
        lengthSeen = true;
      } else {
        assert.ok(r.usage.completion_tokens < 7, `finish ${finish_reason} with ${show(r.usage)}`);
      }
    }
    assert.ok(lengthSeen, 'no prompt reached max_tokens');
    // max_completion_tokens is the newer name of the same limit
    const r = await chat({ messages: user(PROMPTS[1]), max_completion_tokens: 3, temperature: 0 });
    assert.ok(r.usage.completion_tokens <= 3, `max_completion_tokens 3: ${show(r.usage)}`);
  });

  it('logprobs + top_logprobs have the OpenAI shape (chat, greedy)', async () => {
    const r = await chat({ messages: user('Say hello'), max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 });
    checkChatCompletion(r);
    const lp = r.choices[0].logprobs;
    assert.ok(lp && Array.isArray(lp.content), `choices[0].logprobs.content: ${show(r.choices[0])}`);
    assert.ok(lp.content.length >= 1 && lp.content.length <= r.usage.completion_tokens, `logprobs entries ${lp.content.length} vs ${show(r.usage)}`);
    for (const e of lp.content) {
      assert.equal(typeof e.token, 'string', show(e));
      assert.ok(typeof e.logprob === 'number' && e.logprob <= 1e-6, `logprob ${show(e)}`);
      assert.ok(e.bytes === null || (Array.isArray(e.bytes) && e.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256)), `bytes ${show(e)}`);
      assert.ok(Array.isArray(e.top_logprobs) && e.top_logprobs.length === 3, `top_logprobs must have 3 entries: ${show(e)}`);
      for (let i = 0; i < e.top_logprobs.length; i++) {
        const t = e.top_logprobs[i];
        assert.equal(typeof t.token, 'string');
        assert.ok(t.logprob <= 1e-6);
        if (i > 0) assert.ok(t.logprob <= e.top_logprobs[i - 1].logprob, `top_logprobs not sorted: ${show(e.top_logprobs)}`);
      }
      // greedy: the chosen token is the most likely one
      assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-4, `greedy token is not top-1: ${show(e)}`);
    }
    if (lp.content.every((e) => Array.isArray(e.bytes))) {
      const joined = Buffer.from(lp.content.flatMap((e) => e.bytes)).toString('utf8');
      assert.ok(joined.includes(r.choices[0].message.content ?? ''),
        `the bytes of the logprob tokens ${show(joined)} do not contain the content ${show(r.choices[0].message.content)}`);
    }
    // logprobs without top_logprobs, streamed
    const sse = await postStream(`${srv.base}/chat/completions`, { model: ALIAS, messages: user('Say hello'), max_tokens: 8, temperature: 0, logprobs: true, stream: true });
    const s = checkChatChunks(sse.events);
    assert.ok(s.logprobs.length >= 1, 'streamed chunks carry no logprobs.content');
    for (const e of s.logprobs) assert.ok(typeof e.logprob === 'number' && Array.isArray(e.top_logprobs), show(e));
  });

  it('tool_choice "required": a tool call whose arguments validate against the schema', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await chat({ messages: user('What is the weather in Paris?'), tools: TOOLS, tool_choice: 'required', max_tokens: 200, seed });
      checkChatCompletion(r);
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'tool_calls', `seed ${seed}: ${show(c)}`);
      assert.ok(c.message.tool_calls.length >= 1);
      for (const tc of c.message.tool_calls) {
        const schema = toolSchema(tc.function.name);
        assert.ok(schema, `seed ${seed}: unknown tool name ${show(tc.function.name)}`);
        let args;
        try { args = JSON.parse(tc.function.arguments); } catch { assert.fail(`seed ${seed}: arguments are not JSON: ${show(tc.function.arguments)}`); }
        assertValid(args, schema, `seed ${seed}: ${tc.function.name} arguments`);
      }
      const ids = c.message.tool_calls.map((t) => t.id);
      assert.equal(new Set(ids).size, ids.length, `tool call ids must be unique: ${show(ids)}`);
    }
  });

  it('named tool_choice forces that function; parallel_tool_calls false gives exactly one call', async () => {
    const r = await chat({
      messages: user('Find the docs about streaming.'), tools: TOOLS, seed: 5, max_tokens: 200,
      tool_choice: { type: 'function', function: { name: 'search_docs' } },
    });
    checkChatCompletion(r);
    assert.equal(r.choices[0].finish_reason, 'tool_calls', show(r.choices[0]));
    for (const tc of r.choices[0].message.tool_calls) {
      assert.equal(tc.function.name, 'search_docs', show(tc));
      assertValid(JSON.parse(tc.function.arguments), SEARCH_TOOL.function.parameters, 'search_docs arguments');
    }
    for (const seed of [11, 12]) {
      const p = await chat({ messages: user('Weather in Oslo and in Rome?'), tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, seed, max_tokens: 200 });
      checkChatCompletion(p);
      assert.equal(p.choices[0].message.tool_calls?.length, 1, `parallel_tool_calls false: ${show(p.choices[0])}`);
      const tc = p.choices[0].message.tool_calls[0];
      assertValid(JSON.parse(tc.function.arguments), toolSchema(tc.function.name), `${tc.function.name} arguments`);
    }
  });

  it('streamed required tool call: well-formed tool_calls deltas, valid arguments, then a tool-result turn', async () => {
    const sse = await postStream(`${srv.base}/chat/completions`, {
      model: ALIAS, messages: user('Weather in Paris, in celsius'), tools: [WEATHER_TOOL], tool_choice: 'required',
      max_tokens: 200, seed: 9, stream: true, stream_options: { include_usage: true },
    });
    const s = checkChatChunks(sse.events, { includeUsage: true });
    const c = s.choices[0];
    assert.equal(c.finish, 'tool_calls', `finish: ${show(c)}`);
    const tc = c.toolCalls[0];
    assert.equal(tc.function.name, 'get_weather');
    assertValid(JSON.parse(tc.function.arguments), WEATHER_TOOL.function.parameters, 'streamed get_weather arguments');
    // the client runs the tool and sends the result back
    const r = await chat({
      messages: [
        ...user('Weather in Paris, in celsius'),
        { role: 'assistant', content: null, tool_calls: c.toolCalls },
        { role: 'tool', tool_call_id: tc.id, content: '{"temp": 21, "sky": "clear"}' },
      ],
      tools: [WEATHER_TOOL], max_tokens: 8,
    });
    checkChatCompletion(r);
  });

  it('tool_choice "none" with tools: no tool calls', async () => {
    for (const seed of [1, 2]) {
      const r = await chat({ messages: user('Weather in Paris?'), tools: TOOLS, tool_choice: 'none', max_tokens: 24, seed });
      checkChatCompletion(r);
      assert.ok(!r.choices[0].message.tool_calls?.length, `tool_choice none produced ${show(r.choices[0])}`);
      assert.notEqual(r.choices[0].finish_reason, 'tool_calls');
    }
  });

  it('thinking on after a tool result: the output starts as reasoning_content (stream and not)', async () => {
    const messages = [
      ...user('Weather in Paris?'),
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '21 C' },
    ];
    for (const extra of [{ chat_template_kwargs: { enable_thinking: true } }, { reasoning_effort: 'high' }]) {
      const body = { messages, tools: [WEATHER_TOOL], max_tokens: 16, temperature: 0, logit_bias: noChannelEnd(), ...extra };
      const r = await chat(body);
      checkChatCompletion(r);
      const m = r.choices[0].message;
      // the prompt ends inside an open thought channel, so the first token is reasoning
      assert.ok(typeof m.reasoning_content === 'string' && m.reasoning_content.length > 0, `${show(extra)}: no reasoning_content: ${show(r.choices[0])}`);
      assert.ok(r.usage.completion_tokens_details?.reasoning_tokens >= 1, `${show(extra)}: reasoning_tokens: ${show(r.usage)}`);
      const sse = await postStream(`${srv.base}/chat/completions`, { model: ALIAS, ...body, stream: true });
      const c = checkChatChunks(sse.events).choices[0];
      assert.equal(c.reasoning, m.reasoning_content, 'streamed reasoning_content differs from the non-streamed one');
      assert.equal(c.content, m.content ?? '');
    }
    // thinking off (the default): no reasoning
    const off = await chat({ messages, tools: [WEATHER_TOOL], max_tokens: 8, temperature: 0 });
    assert.ok(!off.choices[0].message.reasoning_content, `thinking off: ${show(off.choices[0])}`);
  });

  it('response_format json_schema: the content is JSON matching the schema', async () => {
    for (const seed of [1, 2]) {
      const r = await chat({
        messages: user('Make up a person. Answer in JSON.'), max_tokens: 400, seed,
        response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: PERSON_SCHEMA } },
      });
      checkChatCompletion(r);
      const text = r.choices[0].message.content ?? '';
      let v;
      try { v = JSON.parse(text); } catch { assert.fail(`seed ${seed}: content is not JSON (finish ${r.choices[0].finish_reason}): ${show(text)}`); }
      assertValid(v, PERSON_SCHEMA, `seed ${seed} person`);
      assert.equal(r.choices[0].finish_reason, 'stop');
    }
    // streamed
    const sse = await postStream(`${srv.base}/chat/completions`, {
      model: ALIAS, messages: user('Make up a person.'), max_tokens: 400, seed: 3, stream: true,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON_SCHEMA } },
    });
    const s = checkChatChunks(sse.events).choices[0];
    assertValid(JSON.parse(s.content), PERSON_SCHEMA, 'streamed person');
  });

  it('response_format json_object: the content is a JSON object', async () => {
    for (const seed of [1, 2]) {
      const r = await chat({ messages: user('Reply with a JSON object describing a cat.'), max_tokens: 300, seed, response_format: { type: 'json_object' } });
      checkChatCompletion(r);
      const text = r.choices[0].message.content ?? '';
      let v;
      try { v = JSON.parse(text); } catch { assert.fail(`seed ${seed}: content is not JSON (finish ${r.choices[0].finish_reason}): ${show(text)}`); }
      assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `not a JSON object: ${show(text)}`);
    }
  });

  it('prefix cache: the extended conversation reports cached_tokens > 0', async () => {
    const sys = { role: 'system', content: 'You are a helpful assistant. Keep answers short and precise, and never make things up.' };
    const first = [sys, { role: 'user', content: 'Explain what a hash table is in two sentences.' }];
    const a = await chat({ messages: first, max_tokens: 12, temperature: 0 });
    checkChatCompletion(a);
    const second = [...first, { role: 'assistant', content: a.choices[0].message.content ?? '' }, { role: 'user', content: 'And a binary tree?' }];
    const b = await chat({ messages: second, max_tokens: 4, temperature: 0 });
    checkChatCompletion(b);
    const cached = b.usage.prompt_tokens_details.cached_tokens;
    assert.ok(cached > 0, `second turn: cached_tokens ${cached}, usage ${show(b.usage)}`);
    assert.ok(cached >= a.usage.prompt_tokens / 2, `only ${cached} of the ${a.usage.prompt_tokens} tokens of the first prompt were reused`);
    // the same prefix through a stream with include_usage reports it too
    const third = [...second, { role: 'assistant', content: b.choices[0].message.content ?? '' }, { role: 'user', content: 'Thanks.' }];
    const sse = await postStream(`${srv.base}/chat/completions`, { model: ALIAS, messages: third, max_tokens: 4, temperature: 0, stream: true, stream_options: { include_usage: true } });
    const s = checkChatChunks(sse.events, { includeUsage: true });
    assert.ok(s.usage.prompt_tokens_details.cached_tokens >= cached, `third turn: ${show(s.usage)}`);
  });

  it('prefix cache survives an unrelated request in between (agent + title request, --parallel 2)', async () => {
    const sys = { role: 'system', content: 'You are a coding agent. Use tools when needed and answer briefly. '.repeat(4) };
    const first = [sys, { role: 'user', content: 'Read the file README.md and summarize it.' }];
    const a = await chat({ messages: first, max_tokens: 8, temperature: 0 });
    await chat({ messages: [{ role: 'system', content: 'Generate a title.' }, ...user('Summarize README')], max_tokens: 4, temperature: 0 });
    const second = [...first, { role: 'assistant', content: a.choices[0].message.content ?? '' }, { role: 'user', content: 'Now the LICENSE file.' }];
    const b = await chat({ messages: second, max_tokens: 4, temperature: 0 });
    assert.ok(b.usage.prompt_tokens_details.cached_tokens >= a.usage.prompt_tokens / 2,
      `after an unrelated request: cached_tokens ${b.usage.prompt_tokens_details.cached_tokens} of ${a.usage.prompt_tokens} reusable`);
  });

  it('/tokenize and /detokenize round trip, same ids as `gemma4c tokenize`', async () => {
    for (const text of ['Hello world', 'Café, 3.14159 — ünïcödé 日本語 🙂', 'line one\n\nline two\ttab']) {
      const t = await postJSON(`${srv.url}/tokenize`, { content: text });
      assert.equal(t.status, 200, `/tokenize ${t.status} ${t.text}`);
      assert.ok(Array.isArray(t.json.tokens) && t.json.tokens.every(Number.isInteger), show(t.json));
      assert.deepEqual(t.json.tokens, cliTokenize(text), `/tokenize ${show(text)} differs from the CLI`);
      const d = await postJSON(`${srv.url}/detokenize`, { tokens: t.json.tokens });
      assert.equal(d.status, 200, `/detokenize ${d.status} ${d.text}`);
      assert.equal(d.json.content, text, 'round trip');
    }
    const bad = await postJSON(`${srv.url}/detokenize`, { tokens: [1e9] });
    assert.equal(bad.status, 400, `/detokenize with an out-of-range id: ${bad.status} ${bad.text}`);
    assertErrorBody(bad.json ?? bad.text, {}, '/detokenize [1e9]');
  });

  it('unknown routes → 404, wrong methods → 405, in the OpenAI error shape', async () => {
    for (const [method, p] of [['GET', '/nope'], ['POST', '/v1/nope'], ['GET', '/v1/chat/completion'], ['POST', '/v2/chat/completions']]) {
      const r = await fetch(`${srv.url}${p}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      assert.equal(r.status, 404, `${method} ${p}: ${r.status}`);
      assertErrorBody(await r.text(), {}, `${method} ${p}`);
    }
    for (const [method, p] of [['GET', '/v1/chat/completions'], ['PUT', '/v1/completions'], ['DELETE', '/v1/models'], ['GET', '/tokenize']]) {
      const r = await fetch(`${srv.url}${p}`, { method });
      assert.equal(r.status, 405, `${method} ${p}: ${r.status}`);
      assertErrorBody(await r.text(), {}, `${method} ${p}`);
    }
  });

  it('what agent clients send: content parts, developer role, unknown fields, tool history', async () => {
    const r = await chat({
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: ' there' }] },
      ],
      max_tokens: 4, user: 'e2e', top_k: 40, verbosity: 'low', metadata: { a: 'b' }, store: false,
      presence_penalty: 0.5, frequency_penalty: 0.5, top_p: 0.9, reasoning_effort: 'none',
    });
    checkChatCompletion(r);
    // an assistant turn with tool calls and null content, the tool answer, then a user turn
    const h = await chat({
      messages: [
        ...user('Weather in Paris?'),
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '21 C' }] },
        { role: 'assistant', content: 'It is 21 C.' },
        ...user('Thanks'),
      ],
      tools: TOOLS, tool_choice: 'auto', max_tokens: 4,
    });
    checkChatCompletion(h);
    // (Aider's requests without max_tokens: see server_options.test.mjs, --ctx 256)
  });
});
