// The LLM stand-in itself, driven with plain fetch: its wire formats, and that it catches requests nobody scripted.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';

let standIn: LlmStandIn;

beforeEach(async () => {
  standIn = await startLlmStandIn({ models: ['tinyllama:latest'] });
});

afterEach(async () => {
  await standIn.close();
});

const chat = (path: string, body: Record<string, unknown>) =>
  fetch(`${standIn.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'two words' }], ...body }),
  });

describe('unexpected requests', () => {
  it('answers a generation with no scripted reply 500, and reports it once', async () => {
    const response = await chat('/api/chat', { model: 'tinyllama' });
    expect(response.status).toBe(500);
    expect(standIn.unexpected()).toEqual(['POST /api/chat (model "tinyllama"): no scripted reply left']);
    expect(() => standIn.assertNoUnexpected()).toThrow(/1 unexpected request.*\n- POST \/api\/chat/);
    expect(() => standIn.assertNoUnexpected()).not.toThrow();
  });

  it('is unexpected when the next reply was scripted for another model, or the path is unknown', async () => {
    standIn.setModels(['tinyllama:latest', 'qwen2:7b']);
    standIn.reply({ model: 'qwen2:7b', tokens: ['x'] });
    expect((await chat('/v1/chat/completions', { model: 'tinyllama:latest', stream: true })).status).toBe(
      500,
    );
    expect((await fetch(`${standIn.url}/api/generate`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect(standIn.unexpected()).toEqual([
      'POST /v1/chat/completions (model "tinyllama:latest"): the next scripted reply is for model "qwen2:7b"',
      'POST /api/generate: no such endpoint on the stand-in',
    ]);
    // The reply was kept for its model.
    expect((await chat('/api/chat', { model: 'qwen2:7b', stream: false })).status).toBe(200);
    expect(standIn.requests).toHaveLength(3);
    expect(() => standIn.assertNoUnexpected()).toThrow(/2 unexpected/);
  });

  it('answers an unknown model as the real servers do, without using a reply', async () => {
    standIn.reply({ tokens: ['kept'] });
    const ollama = await chat('/api/chat', { model: 'nope' });
    expect(ollama.status).toBe(404);
    expect(await ollama.json()).toEqual({ error: 'model "nope" not found, try pulling it first' });
    const openai = await chat('/v1/chat/completions', { model: 'nope' });
    expect(openai.status).toBe(404);
    expect(await openai.json()).toEqual({
      error: {
        message: 'The model `nope` does not exist or you do not have access to it.',
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      },
    });
    expect(standIn.unexpected()).toEqual([]);
    const kept = await chat('/api/chat', { model: 'tinyllama:latest', stream: false });
    expect(((await kept.json()) as { message: unknown }).message).toEqual({
      role: 'assistant',
      content: 'kept',
    });
  });
});

describe('wire formats', () => {
  it('streams Ollama NDJSON ending with done:true and the counts', async () => {
    standIn.reply({ tokens: ['Hel', 'lo'], promptTokens: 9 });
    const response = await chat('/api/chat', { model: 'tinyllama' });
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => (line.message as { content: string }).content)).toEqual(['Hel', 'lo', '']);
    expect(lines[0]).toMatchObject({ model: 'tinyllama', done: false, message: { role: 'assistant' } });
    expect(lines[2]).toMatchObject({ done: true, done_reason: 'stop', prompt_eval_count: 9, eval_count: 2 });
  });

  it('streams OpenAI server-sent events with a usage chunk, then [DONE]', async () => {
    standIn.reply({ tokens: ['Hi'], promptTokens: 5, completionTokens: 1 });
    const response = await chat('/v1/chat/completions', {
      model: 'tinyllama:latest',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const events = (await response.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events
      .slice(0, -1)
      .map((event) => JSON.parse(event.slice('data: '.length)) as Record<string, unknown>);
    expect(chunks.map((chunk) => chunk.object)).toEqual(Array(4).fill('chat.completion.chunk'));
    expect(chunks.map((chunk) => chunk.choices)).toEqual([
      [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
      [{ index: 0, delta: { content: 'Hi' }, logprobs: null, finish_reason: null }],
      [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }],
      [],
    ]);
    expect(chunks[3]?.usage).toEqual({ prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 });
    expect(chunks[0]?.usage).toBeNull();
  });

  it('answers stream:false with one JSON body on both protocols', async () => {
    standIn.reply({ tokens: ['Hello', ' world'] }, { tokens: ['Hello', ' world'] });
    const ollama = (await (await chat('/api/chat', { model: 'tinyllama', stream: false })).json()) as object;
    expect(ollama).toMatchObject({
      message: { role: 'assistant', content: 'Hello world' },
      done: true,
      prompt_eval_count: 2,
      eval_count: 2,
    });
    const openai = (await (await chat('/v1/chat/completions', { model: 'tinyllama' })).json()) as object;
    expect(openai).toMatchObject({
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 },
    });
  });

  it('answers /api/show and /api/embed for its models, 404 for others', async () => {
    const show = await chat('/api/show', { model: 'tinyllama' });
    expect(await show.json()).toMatchObject({ details: { format: 'gguf' }, capabilities: ['completion'] });
    expect((await chat('/api/show', { model: 'nope' })).status).toBe(404);
    const embed = await chat('/api/embed', { model: 'tinyllama', input: ['a', 'b', 'a'] });
    const { embeddings } = (await embed.json()) as { embeddings: number[][] };
    expect(embeddings).toHaveLength(3);
    expect(embeddings[0]).toEqual(embeddings[2]);
    expect(embeddings[0]).not.toEqual(embeddings[1]);
    expect(Math.hypot(...(embeddings[0] ?? []))).toBeCloseTo(1, 6);
    expect((await chat('/api/embed', { model: 'nope', input: 'a' })).status).toBe(404);
    expect(standIn.unexpected()).toEqual([]);
  });
});

describe('model details and embeddings', () => {
  const post = (path: string, body: unknown) =>
    fetch(`${standIn.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers GET /v1/models/{id} as OpenAI, the id percent-decoded, 404 model_not_found for others', async () => {
    standIn.setModels(['tinyllama:latest', 'library/llama3:8b']);
    const found = await fetch(`${standIn.openaiUrl}/models/library%2Fllama3%3A8b`);
    expect(await found.json()).toEqual({
      id: 'library/llama3:8b',
      object: 'model',
      created: expect.any(Number) as unknown,
      owned_by: 'library',
    });
    const missing = await fetch(`${standIn.openaiUrl}/models/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'model_not_found' } });
    standIn.serveModelRetrieve(false);
    const vllm = await fetch(`${standIn.openaiUrl}/models/tinyllama:latest`);
    expect(vllm.status).toBe(404);
    expect(await vllm.json()).toEqual({ detail: 'Not Found' });
    expect(standIn.unexpected()).toEqual([]);
  });

  it('answers POST /v1/embeddings in input order, as floats or base64 float32', async () => {
    const floats = await post('/v1/embeddings', { model: 'tinyllama', input: ['a', 'b c'] });
    const answer = (await floats.json()) as {
      data: { object: string; index: number; embedding: number[] }[];
      usage: unknown;
    };
    expect(answer).toMatchObject({ object: 'list', model: 'tinyllama', usage: { prompt_tokens: 3 } });
    expect(answer.data.map((d) => [d.object, d.index])).toEqual([
      ['embedding', 0],
      ['embedding', 1],
    ]);
    const ollama = await post('/api/embed', { model: 'tinyllama', input: ['a', 'b c'] });
    const vectors = ((await ollama.json()) as { embeddings: number[][] }).embeddings;
    expect(answer.data.map((d) => d.embedding)).toEqual(vectors);

    const base64 = await post('/v1/embeddings', {
      model: 'tinyllama',
      input: 'a',
      encoding_format: 'base64',
    });
    const encoded = ((await base64.json()) as { data: { embedding: string }[] }).data[0]?.embedding ?? '';
    const bytes = Buffer.from(encoded, 'base64');
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
    decoded.forEach((x, i) => expect(x).toBeCloseTo(vectors[0]?.[i] ?? NaN, 6));

    expect((await post('/v1/embeddings', { model: 'nope', input: 'a' })).status).toBe(404);
    expect(standIn.unexpected()).toEqual([]);
  });

  it('flags embeddings and show requests that are not well-formed', async () => {
    const NOT_EMBEDDINGS = 'not an embeddings request (model, and input as a string or a list of strings)';
    expect((await post('/v1/embeddings', { model: 'tinyllama', input: [1, 2] })).status).toBe(400);
    expect((await post('/api/embed', { input: ['a'] })).status).toBe(400);
    expect((await post('/api/show', {})).status).toBe(400);
    expect(standIn.unexpected()).toEqual([
      `POST /v1/embeddings (model "tinyllama"): ${NOT_EMBEDDINGS}`,
      `POST /api/embed: ${NOT_EMBEDDINGS}`,
      'POST /api/show: not a show request (model is required)',
    ]);
    expect(() => standIn.assertNoUnexpected()).toThrow(/3 unexpected/);
  });

  it('plays scripted answers in order per endpoint, on either protocol, then answers normally', async () => {
    standIn.script('embed', { status: 503 }, { body: '<html>proxy</html>' });
    standIn.script('show', { status: 200, body: { details: 'odd' } });
    const first = await post('/api/embed', { model: 'tinyllama', input: 'a' });
    expect([first.status, await first.json()]).toEqual([503, { error: 'stand-in: scripted 503' }]);
    const second = await post('/v1/embeddings', { model: 'tinyllama', input: 'a' });
    expect([second.status, second.headers.get('content-type'), await second.text()]).toEqual([
      200,
      'text/plain; charset=utf-8',
      '<html>proxy</html>',
    ]);
    expect((await post('/api/embed', { model: 'tinyllama', input: 'a' })).status).toBe(200);
    const odd = await fetch(`${standIn.openaiUrl}/models/tinyllama`);
    expect(await odd.json()).toEqual({ details: 'odd' });
    expect(await (await post('/api/show', { model: 'tinyllama' })).json()).toMatchObject({
      details: { family: 'llama' },
    });
    expect(standIn.unexpected()).toEqual([]);
  });
});

describe('lifecycle', () => {
  it('waitForRequests rejects when the requests do not come', async () => {
    await expect(standIn.waitForRequests(1, 50)).rejects.toThrow(/0 of 1 requests/);
  });

  it('close() ends hung requests, which are then marked aborted', async () => {
    standIn.reply({ hang: true });
    const pending = chat('/api/chat', { model: 'tinyllama' }).then(
      () => 'answered',
      () => 'failed',
    );
    await standIn.waitForRequests(1);
    await standIn.close();
    expect(await pending).toBe('failed');
    expect(standIn.requests[0]?.aborted).toBe(true);
  });
});
