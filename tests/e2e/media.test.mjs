// Images and audio through the server (12B-style encoder-free path, dense-f32 fixture +
// its mmproj found next to it): the official `openai` npm client sends an image_url data
// URL and an input_audio part; the server must answer, count the soft tokens in the
// prompt, agree with `gemma4c run` on the same media (greedy), and refuse bad media
// with a precise 400.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import { startServer, DATA, BIN, model } from './lib/server.mjs';
import { checkChatCompletion, postJSON, assertErrorBody } from './lib/check.mjs';

const media = (f) => path.join(DATA, 'media', f);
const b64 = (f) => fs.readFileSync(media(f)).toString('base64');
const IMG = 'img_shapes_200x120.png';
const AUD = 'aud_chirp_16k_mono_1p5s.wav';
const PROMPT = 'What is in this input?';

describe('media: images and audio over the OpenAI API', () => {
  let srv, client;
  before(async () => {
    srv = await startServer({ args: ['--parallel', '2'] });
    client = new OpenAI({ baseURL: srv.base, apiKey: 'none', maxRetries: 0, timeout: 120000 });
  });
  after(async () => { await srv?.stop(); });

  const parts = () => [
    { type: 'image_url', image_url: { url: `data:image/png;base64,${b64(IMG)}` } },
    { type: 'input_audio', input_audio: { data: b64(AUD), format: 'wav' } },
    { type: 'text', text: PROMPT },
  ];

  it('answers an image + audio message, same tokens as `gemma4c run`', async () => {
    const r = await client.chat.completions.create({
      model: 'gemma4', messages: [{ role: 'user', content: parts() }], max_tokens: 8, temperature: 0,
    });
    checkChatCompletion(r);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 8);
    // the CLI on the same files: its prompt length and its greedy text
    const log = execFileSync(BIN, ['run', '-m', model(), '--image', media(IMG), '--audio', media(AUD), '-n', '8',
      '--temp', '0', '-v', '-t', '2', PROMPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const cli = execFileSync(BIN, ['run', '-m', model(), '--image', media(IMG), '--audio', media(AUD), '-n', '8',
      '--temp', '0', '-t', '2', PROMPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(r.choices[0].message.content, cli.replace(/\n$/, ''));
    assert.ok(r.usage.prompt_tokens > 200, `prompt_tokens ${r.usage.prompt_tokens}: the soft tokens are missing`);
    void log;
  });

  it('streams with media', async () => {
    const stream = await client.chat.completions.create({
      model: 'gemma4', messages: [{ role: 'user', content: parts() }], max_tokens: 4, stream: true,
      stream_options: { include_usage: true },
    });
    let usage = null, finish = null;
    for await (const ch of stream) {
      if (ch.usage) usage = ch.usage;
      if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
    }
    assert.equal(finish, 'length');
    assert.ok(usage.prompt_tokens > 200);
  });

  it('refuses remote URLs, bad base64 and undecodable media with a 400 naming the part', async () => {
    const bad = async (part, re) => {
      const { status, json } = await postJSON(`${srv.base}/chat/completions`,
        { model: 'm', max_tokens: 2, messages: [{ role: 'user', content: [part, { type: 'text', text: 'x' }] }] });
      const e = assertErrorBody(json, { param: 'messages[0].content[0]' }, 'bad media');
      assert.equal(status, 400);
      assert.match(e.message, re);
    };
    await bad({ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }, /Remote media URLs/);
    await bad({ type: 'image_url', image_url: { url: 'data:image/png;base64,@@@@' } }, /base64/);
    await bad({ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }, /Cannot use this image/);
    await bad({ type: 'input_audio', input_audio: { data: Buffer.from('RIFF\0\0\0\0WAVEjunk').toString('base64'), format: 'wav' } },
      /Cannot use this audio/);
    // the server is still fine
    const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    checkChatCompletion(r);
  });
});
