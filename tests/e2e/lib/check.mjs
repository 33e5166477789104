// Shape checks for OpenAI-style responses, an SSE reader over fetch() bodies and a small
// JSON-schema validator (the subset that tool parameters and response formats use).
import assert from 'node:assert/strict';

export const FINISH = ['stop', 'length', 'tool_calls'];

export function show(x, max = 1500) {
  const s = typeof x === 'string' ? x : JSON.stringify(x);
  return s.length > max ? s.slice(0, max) + `... (${s.length} chars)` : s;
}

const isInt = (v) => Number.isInteger(v);

// ---------------------------------------------------------------------------------------
// JSON schema (draft 2020-12 subset): type, enum, const, properties, required,
// additionalProperties, items, prefixItems, min/maxItems, min/maxLength, pattern,
// minimum/maximum/exclusive*, anyOf/oneOf/allOf, $ref to #/$defs or #/definitions.
// Returns a list of error strings (empty = valid).
export function validateSchema(value, schema, root = schema, at = '$') {
  const errs = [];
  if (schema === true || schema === undefined) return errs;
  if (schema === false) return [`${at}: no value allowed`];
  if (schema.$ref) {
    const m = schema.$ref.match(/^#\/(\$defs|definitions)\/(.+)$/);
    if (!m) return [`${at}: unsupported $ref ${schema.$ref}`];
    return validateSchema(value, root[m[1]][m[2]], root, at);
  }
  const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    const ok = types.some((ty) => ty === t || (ty === 'integer' && t === 'number' && isInt(value)));
    if (!ok) return [`${at}: expected ${types.join('|')}, got ${t} ${show(value, 80)}`];
  }
  if (schema.nullable && value === null) return errs;
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    errs.push(`${at}: ${show(value, 80)} not in enum ${JSON.stringify(schema.enum)}`);
  }
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    errs.push(`${at}: ${show(value, 80)} != const ${JSON.stringify(schema.const)}`);
  }
  if (typeof value === 'string') {
    const n = [...value].length;
    if (schema.minLength !== undefined && n < schema.minLength) errs.push(`${at}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && n > schema.maxLength) errs.push(`${at}: longer than ${schema.maxLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) errs.push(`${at}: does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errs.push(`${at}: ${value} < minimum ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errs.push(`${at}: ${value} > maximum ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) errs.push(`${at}: ${value} <= exclusiveMinimum`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) errs.push(`${at}: ${value} >= exclusiveMaximum`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errs.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errs.push(`${at}: more than ${schema.maxItems} items`);
    const pre = schema.prefixItems || [];
    value.forEach((v, i) => {
      const s = i < pre.length ? pre[i] : schema.items;
      if (s !== undefined) errs.push(...validateSchema(v, s, root, `${at}[${i}]`));
    });
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const props = schema.properties || {};
    for (const r of schema.required || []) {
      if (!(r in value)) errs.push(`${at}: missing required property "${r}"`);
    }
    for (const [k, v] of Object.entries(value)) {
      if (k in props) errs.push(...validateSchema(v, props[k], root, `${at}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${at}: unexpected property "${k}"`);
      else if (typeof schema.additionalProperties === 'object') errs.push(...validateSchema(v, schema.additionalProperties, root, `${at}.${k}`));
    }
  }
  if (schema.allOf) for (const s of schema.allOf) errs.push(...validateSchema(value, s, root, at));
  if (schema.anyOf && !schema.anyOf.some((s) => validateSchema(value, s, root, at).length === 0)) {
    errs.push(`${at}: matches none of anyOf`);
  }
  if (schema.oneOf && schema.oneOf.filter((s) => validateSchema(value, s, root, at).length === 0).length !== 1) {
    errs.push(`${at}: does not match exactly one of oneOf`);
  }
  return errs;
}

export function assertValid(value, schema, what = 'value') {
  const errs = validateSchema(value, schema);
  assert.deepEqual(errs, [], `${what} ${show(value, 600)} does not validate against ${show(schema, 600)}:\n  ${errs.join('\n  ')}`);
}

// ---------------------------------------------------------------------------------------
// OpenAI error body: {"error": {"message", "type", "param", "code"}}.
export function assertErrorBody(body, { status, param } = {}, ctx = '') {
  let j = body;
  if (typeof body === 'string') {
    try { j = JSON.parse(body); } catch { assert.fail(`${ctx}: error body is not JSON: ${show(body, 300)}`); }
  }
  assert.ok(j && typeof j === 'object' && j.error && typeof j.error === 'object', `${ctx}: no "error" object in ${show(j, 400)}`);
  const e = j.error;
  assert.equal(typeof e.message, 'string', `${ctx}: error.message must be a string: ${show(j, 400)}`);
  assert.ok(e.message.length > 0, `${ctx}: empty error.message`);
  assert.equal(typeof e.type, 'string', `${ctx}: error.type must be a string: ${show(j, 400)}`);
  assert.ok('param' in e, `${ctx}: error.param missing (null allowed): ${show(j, 400)}`);
  assert.ok('code' in e, `${ctx}: error.code missing (null allowed): ${show(j, 400)}`);
  if (param !== undefined) assert.equal(e.param, param, `${ctx}: error.param: ${show(j, 400)}`);
  return e;
}

// ---------------------------------------------------------------------------------------
export function checkUsage(u, ctx = 'usage') {
  assert.ok(u && typeof u === 'object', `${ctx}: missing usage`);
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) {
    assert.ok(isInt(u[k]) && u[k] >= 0, `${ctx}.${k} must be a non-negative integer: ${show(u)}`);
  }
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens, `${ctx}: total != prompt + completion: ${show(u)}`);
  assert.ok(u.prompt_tokens > 0, `${ctx}.prompt_tokens must be > 0: ${show(u)}`);
  assert.ok(u.prompt_tokens_details && isInt(u.prompt_tokens_details.cached_tokens),
    `${ctx}.prompt_tokens_details.cached_tokens must be an integer: ${show(u)}`);
  assert.ok(u.prompt_tokens_details.cached_tokens >= 0 && u.prompt_tokens_details.cached_tokens <= u.prompt_tokens,
    `${ctx}: cached_tokens out of [0, prompt_tokens]: ${show(u)}`);
}

function checkToolCall(tc, ctx) {
  assert.equal(typeof tc.id, 'string', `${ctx}.id must be a string: ${show(tc)}`);
  assert.ok(tc.id.length > 0, `${ctx}.id empty`);
  assert.equal(tc.type, 'function', `${ctx}.type: ${show(tc)}`);
  assert.equal(typeof tc.function?.name, 'string', `${ctx}.function.name: ${show(tc)}`);
  assert.ok(tc.function.name.length > 0, `${ctx}.function.name empty`);
  assert.equal(typeof tc.function.arguments, 'string', `${ctx}.function.arguments must be a JSON string: ${show(tc)}`);
}

// A non-streamed chat.completion.
export function checkChatCompletion(r, { n = 1 } = {}) {
  const ctx = 'chat.completion';
  assert.equal(r.object, 'chat.completion', `${ctx}.object: ${show(r)}`);
  assert.equal(typeof r.id, 'string', `${ctx}.id: ${show(r)}`);
  assert.ok(isInt(r.created) && r.created > 1.6e9 && r.created < 4e9, `${ctx}.created must be unix seconds: ${show(r)}`);
  assert.equal(typeof r.model, 'string', `${ctx}.model: ${show(r)}`);
  assert.ok(Array.isArray(r.choices) && r.choices.length === n, `${ctx}: expected ${n} choice(s): ${show(r)}`);
  r.choices.forEach((c, i) => {
    assert.equal(c.index, i, `${ctx}.choices[${i}].index: ${show(c)}`);
    assert.ok(FINISH.includes(c.finish_reason), `${ctx}.choices[${i}].finish_reason ${show(c.finish_reason)}`);
    const m = c.message;
    assert.equal(m?.role, 'assistant', `${ctx}.choices[${i}].message.role: ${show(c)}`);
    assert.ok(m.content === null || typeof m.content === 'string', `message.content must be string or null: ${show(m)}`);
    if ('reasoning_content' in m && m.reasoning_content !== null) assert.equal(typeof m.reasoning_content, 'string');
    if (m.tool_calls !== undefined && m.tool_calls !== null) {
      assert.ok(Array.isArray(m.tool_calls), `tool_calls must be an array: ${show(m)}`);
      m.tool_calls.forEach((tc, j) => checkToolCall(tc, `${ctx}.choices[${i}].message.tool_calls[${j}]`));
      if (m.tool_calls.length > 0) assert.equal(c.finish_reason, 'tool_calls', `finish_reason with tool calls: ${show(c)}`);
    }
    if (c.finish_reason === 'tool_calls') assert.ok(m.tool_calls?.length > 0, `finish_reason tool_calls without tool_calls: ${show(c)}`);
  });
  checkUsage(r.usage, `${ctx}.usage`);
  return r;
}

// ---------------------------------------------------------------------------------------
// Reads an SSE body from a fetch() Response. Returns {events: [data strings], comments,
// raw}. Checks the framing: every event has exactly one data: field, nothing follows
// "data: [DONE]" and the stream ends at an event boundary.
export async function readSSE(res, { onEvent } = {}) {
  assert.equal(res.status, 200, `SSE status ${res.status}`);
  const ct = res.headers.get('content-type') || '';
  assert.match(ct, /^text\/event-stream/, `SSE content-type: ${ct}`);
  const dec = new TextDecoder('utf-8', { fatal: true });
  let raw = '';
  let buf = '';
  const events = [];
  const comments = [];
  let fields = [];
  let doneSeen = false;
  const dispatch = () => {
    if (fields.length === 0) return;
    const data = fields.filter((f) => f.name === 'data');
    assert.equal(data.length, 1, `SSE event must have exactly one data: line, got ${show(fields)}`);
    assert.ok(!doneSeen, `SSE event after [DONE]: ${show(data[0].value)}`);
    if (data[0].value === '[DONE]') doneSeen = true;
    events.push(data[0].value);
    if (onEvent) onEvent(data[0].value);
    fields = [];
  };
  for await (const chunk of res.body) {
    const s = dec.decode(chunk, { stream: true });
    raw += s;
    buf += s;
    let idx;
    while ((idx = buf.search(/\r\n|\n|\r/)) >= 0) {
      const line = buf.slice(0, idx);
      const nl = buf[idx] === '\r' && buf[idx + 1] === '\n' ? 2 : 1;
      buf = buf.slice(idx + nl);
      if (line === '') { dispatch(); continue; }
      if (line.startsWith(':')) { comments.push(line); continue; }
      const c = line.indexOf(':');
      const name = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      fields.push({ name, value });
    }
  }
  raw += dec.decode();
  assert.equal(buf, '', `SSE stream ended inside a line: ${show(buf)}`);
  assert.equal(fields.length, 0, `SSE stream ended inside an event (missing blank line): ${show(fields)}`);
  return { events, comments, raw, done: doneSeen };
}

// Checks a sequence of chat.completion.chunk events (data strings) and accumulates the
// message. Returns {id, chunks, choices: [{content, reasoning, toolCalls, finish}], usage, logprobs}.
export function checkChatChunks(events, { includeUsage = false, n = 1 } = {}) {
  assert.ok(events.length >= 2, `too few SSE events: ${show(events)}`);
  assert.equal(events[events.length - 1], '[DONE]', `stream must end with data: [DONE], last events: ${show(events.slice(-3))}`);
  const chunks = events.slice(0, -1).map((e, i) => {
    try { return JSON.parse(e); } catch { assert.fail(`SSE event ${i} is not JSON: ${show(e, 300)}`); }
  });
  const id = chunks[0].id;
  const out = { id, chunks, choices: [], usage: null, logprobs: [] };
  for (let i = 0; i < n; i++) out.choices.push({ content: '', reasoning: '', toolCalls: [], finish: null, roleSeen: false, deltas: 0 });
  let usageChunkIdx = -1;
  chunks.forEach((ch, k) => {
    const ctx = `chunk ${k} ${show(ch, 400)}`;
    if (ch.error) assert.fail(`error event in stream: ${ctx}`);
    assert.equal(ch.object, 'chat.completion.chunk', `object: ${ctx}`);
    assert.equal(ch.id, id, `all chunks must share one id: ${ctx}`);
    assert.ok(isInt(ch.created), `created: ${ctx}`);
    assert.equal(typeof ch.model, 'string', `model: ${ctx}`);
    assert.ok(Array.isArray(ch.choices), `choices must be an array: ${ctx}`);
    assert.ok(usageChunkIdx < 0, `chunk after the usage chunk: ${ctx}`);
    if (ch.choices.length === 0) {
      assert.ok(includeUsage, `chunk with empty choices without include_usage: ${ctx}`);
      checkUsage(ch.usage, `usage chunk`);
      out.usage = ch.usage;
      usageChunkIdx = k;
      return;
    }
    if (includeUsage) assert.ok(ch.usage === null || ch.usage === undefined, `usage must be null before the usage chunk: ${ctx}`);
    for (const c of ch.choices) {
      assert.ok(isInt(c.index) && c.index >= 0 && c.index < n, `choice index: ${ctx}`);
      const acc = out.choices[c.index];
      assert.ok(acc.finish === null, `delta after finish_reason for choice ${c.index}: ${ctx}`);
      const d = c.delta;
      assert.ok(d && typeof d === 'object', `delta: ${ctx}`);
      if (!acc.roleSeen) {
        assert.equal(d.role, 'assistant', `first delta of a choice must carry role "assistant": ${ctx}`);
        acc.roleSeen = true;
      } else if (d.role !== undefined && d.role !== null) {
        assert.equal(d.role, 'assistant', `role: ${ctx}`);
      }
      if (d.content !== undefined && d.content !== null) {
        assert.equal(typeof d.content, 'string', `delta.content: ${ctx}`);
        acc.content += d.content;
      }
      if (d.reasoning_content !== undefined && d.reasoning_content !== null) {
        assert.equal(typeof d.reasoning_content, 'string', `delta.reasoning_content: ${ctx}`);
        acc.reasoning += d.reasoning_content;
      }
      if (d.tool_calls !== undefined && d.tool_calls !== null) {
        assert.ok(Array.isArray(d.tool_calls), `delta.tool_calls: ${ctx}`);
        for (const t of d.tool_calls) {
          assert.ok(isInt(t.index) && t.index >= 0, `tool_calls[].index: ${ctx}`);
          let tc = acc.toolCalls[t.index];
          if (!tc) {
            assert.equal(t.index, acc.toolCalls.length, `tool call indices must be dense and ascending: ${ctx}`);
            assert.equal(typeof t.id, 'string', `first fragment of a tool call needs an id: ${ctx}`);
            assert.equal(t.type, 'function', `first fragment of a tool call needs type "function": ${ctx}`);
            assert.equal(typeof t.function?.name, 'string', `first fragment needs function.name: ${ctx}`);
            tc = { id: t.id, type: 'function', function: { name: t.function.name, arguments: '' } };
            acc.toolCalls[t.index] = tc;
          } else if (t.function?.name) {
            assert.fail(`function.name sent twice for one tool call: ${ctx}`);
          }
          if (t.function?.arguments !== undefined && t.function.arguments !== null) {
            assert.equal(typeof t.function.arguments, 'string', `arguments fragment: ${ctx}`);
            tc.function.arguments += t.function.arguments;
          }
        }
      }
      if (c.logprobs && c.logprobs.content) out.logprobs.push(...c.logprobs.content);
      if (c.finish_reason !== null && c.finish_reason !== undefined) {
        assert.ok(FINISH.includes(c.finish_reason), `finish_reason: ${ctx}`);
        acc.finish = c.finish_reason;
      }
    }
  });
  out.choices.forEach((acc, i) => {
    assert.ok(acc.roleSeen, `choice ${i}: no chunk at all`);
    assert.ok(acc.finish !== null, `choice ${i}: no finish_reason chunk`);
    if (acc.toolCalls.length > 0) assert.equal(acc.finish, 'tool_calls', `finish_reason with tool calls`);
    if (acc.finish === 'tool_calls') assert.ok(acc.toolCalls.length > 0, `finish_reason tool_calls without tool calls`);
  });
  if (includeUsage) {
    assert.equal(usageChunkIdx, chunks.length - 1, 'include_usage: the last chunk before [DONE] must be the usage chunk (choices: [])');
  }
  return out;
}

// POSTs JSON with fetch and reads the whole SSE stream.
export async function postStream(url, body, { headers = {}, signal } = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: signal || AbortSignal.timeout(120000),
  });
  if (res.status !== 200) {
    const t = await res.text();
    assert.fail(`POST ${url} ${show(body, 400)} -> ${res.status} ${show(t, 800)}`);
  }
  return readSSE(res);
}

export async function postJSON(url, body, { headers = {}, timeout = 120000 } = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    assert.fail(`POST ${url}: response body is not valid UTF-8 (${bytes.length} bytes)`);
  }
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}
