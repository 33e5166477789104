// `gemma4c serve` driven by the Vercel AI SDK with @ai-sdk/openai-compatible: the stack
// OpenCode uses (OpenCode 1.18.33 ships provider-utils 4.0.x, i.e. ai 6 /
// openai-compatible 2).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText, generateObject, tool, jsonSchema } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { z } from 'zod';
import { startServer, cliTokenize } from './lib/server.mjs';
import { show, assertValid } from './lib/check.mjs';
import { PERSON_SCHEMA } from './lib/fixtures.mjs';

describe('Vercel AI SDK (@ai-sdk/openai-compatible)', () => {
  let srv;
  let provider;
  let model;
  // raw requests the provider sent, to check what it asked for
  const sent = [];
  before(async () => {
    srv = await startServer({ args: ['--parallel', '2'] });
    provider = createOpenAICompatible({
      name: 'gemma4c',
      baseURL: srv.base,
      includeUsage: true,
      supportsStructuredOutputs: true,
      fetch: async (url, init) => {
        sent.push({ url: String(url), body: init?.body ? JSON.parse(init.body) : null });
        return fetch(url, init);
      },
    });
    model = provider.chatModel('gemma4');
  });
  after(async () => { await srv?.stop(); });

  const checkUsage = (u, ctx) => {
    assert.ok(Number.isInteger(u.inputTokens) && u.inputTokens > 0, `${ctx}: inputTokens ${show(u)}`);
    assert.ok(Number.isInteger(u.outputTokens) && u.outputTokens >= 0, `${ctx}: outputTokens ${show(u)}`);
    assert.equal(u.totalTokens, u.inputTokens + u.outputTokens, `${ctx}: totalTokens ${show(u)}`);
  };

  it('generateText', async () => {
    const r = await generateText({ model, prompt: 'Say hello', maxOutputTokens: 12, temperature: 0, maxRetries: 0 });
    assert.equal(typeof r.text, 'string');
    assert.ok(['stop', 'length'].includes(r.finishReason), `finishReason ${r.finishReason}`);
    checkUsage(r.usage, 'generateText');
    assert.ok(r.usage.outputTokens <= 12);
    assert.equal(r.warnings?.length ?? 0, 0, `warnings: ${show(r.warnings)}`);
    assert.equal(sent.at(-1).body.max_tokens, 12);
  });

  it('streamText with usage', async () => {
    const s = streamText({
      model, maxOutputTokens: 16, temperature: 0, maxRetries: 0,
      messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Write one sentence about the sea.' }],
    });
    const types = [];
    let text = '';
    for await (const part of s.fullStream) {
      types.push(part.type);
      if (part.type === 'error') assert.fail(`stream error part: ${show(part.error?.message ?? part.error)}`);
      if (part.type === 'text-delta') text += part.text;
    }
    assert.equal(await s.text, text);
    assert.ok(['stop', 'length'].includes(await s.finishReason), `finishReason ${await s.finishReason}`);
    checkUsage(await s.usage, 'streamText');
    assert.ok(types.includes('finish'), `parts: ${show(types)}`);
    assert.deepEqual(sent.at(-1).body.stream_options, { include_usage: true });
    // same greedy text as generateText
    const g = await generateText({
      model, maxOutputTokens: 16, temperature: 0, maxRetries: 0,
      messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Write one sentence about the sea.' }],
    });
    assert.equal(g.text, text, 'streamText and generateText (greedy) differ');
  });

  const weather = tool({
    description: 'Current weather for a city.',
    inputSchema: z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']), days: z.number().int().optional() }),
  });
  const SEARCH_SCHEMA = {
    type: 'object',
    properties: { pattern: { type: 'string' }, caseSensitive: { type: 'boolean' }, limit: { type: 'integer' } },
    required: ['pattern', 'caseSensitive'],
    additionalProperties: false,
  };
  const search = tool({ description: 'Search files.', inputSchema: jsonSchema(SEARCH_SCHEMA) });

  it('reasoning: reasoningEffort via providerOptions gives reasoning text', async () => {
    const r = await generateText({
      model, maxOutputTokens: 16, temperature: 0, maxRetries: 0,
      // logit_bias (passed through by the provider) bans <channel|>: reasoning cannot end at once
      providerOptions: { gemma4c: { reasoningEffort: 'high', logit_bias: Object.fromEntries(cliTokenize('<channel|>', { special: true }).map((id) => [id, -100])) } },
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'call_1', toolName: 'weather', input: { city: 'Paris', unit: 'celsius' } }] },
        { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'call_1', toolName: 'weather', output: { type: 'text', value: '21 C' } }] },
      ],
      tools: { weather },
    });
    assert.equal(sent.at(-1).body.reasoning_effort, 'high', `provider sent ${show(sent.at(-1).body)}`);
    assert.ok(typeof r.reasoningText === 'string' && r.reasoningText.length > 0, `no reasoning text: ${show(r.content)}`);
  });

  it('tool call with toolChoice required (zod and JSON-schema tools)', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await generateText({
        model, prompt: 'What is the weather in Paris?', tools: { weather, search }, toolChoice: 'required',
        maxOutputTokens: 200, seed, maxRetries: 0,
      });
      assert.equal(r.finishReason, 'tool-calls', `seed ${seed}: finishReason ${r.finishReason}, text ${show(r.text)}`);
      assert.ok(r.toolCalls.length >= 1, `seed ${seed}: no tool calls`);
      for (const tc of r.toolCalls) {
        assert.ok(!tc.invalid, `seed ${seed}: invalid tool call ${show(tc)} ${show(r.content)}`);
        if (tc.toolName === 'weather') {
          z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']), days: z.number().int().optional() }).parse(tc.input);
        } else {
          assert.equal(tc.toolName, 'search', show(tc));
          assertValid(tc.input, SEARCH_SCHEMA, 'search input');
        }
      }
    }
  });

  it('streamText with a forced tool: tool-call parts and finishReason tool-calls', async () => {
    const s = streamText({
      model, prompt: 'Search for TODO', tools: { weather, search }, toolChoice: { type: 'tool', toolName: 'search' },
      maxOutputTokens: 200, seed: 5, maxRetries: 0,
    });
    const calls = [];
    for await (const part of s.fullStream) {
      if (part.type === 'error') assert.fail(`stream error part: ${show(part.error?.message ?? part.error)}`);
      if (part.type === 'tool-call') calls.push(part);
    }
    assert.equal(await s.finishReason, 'tool-calls');
    assert.ok(calls.length >= 1);
    for (const c of calls) {
      assert.equal(c.toolName, 'search');
      assert.ok(!c.invalid, show(c));
      assertValid(c.input, SEARCH_SCHEMA, 'streamed search input');
    }
    checkUsage(await s.usage, 'streamText tools');
  });

  it('generateObject with a schema (json_schema structured output)', async () => {
    const schema = z.object({
      name: z.string(),
      age: z.number().int(),
      role: z.enum(['admin', 'user', 'guest']),
      tags: z.array(z.string()),
    });
    for (const seed of [1, 2]) {
      const r = await generateObject({ model, schema, prompt: 'Make up a user.', maxOutputTokens: 400, seed, maxRetries: 0 });
      schema.parse(r.object);
      const body = sent.at(-1).body;
      assert.equal(body.response_format?.type, 'json_schema', `provider sent ${show(body.response_format)}`);
    }
    // the same with a plain JSON schema
    const r = await generateObject({ model, schema: jsonSchema(PERSON_SCHEMA), prompt: 'Make up a person.', maxOutputTokens: 400, seed: 3, maxRetries: 0 });
    assertValid(r.object, PERSON_SCHEMA, 'generateObject person');
  });
});
