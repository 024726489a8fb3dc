// GET /api/v1/models/{name} (one model's details, no sign-in) and POST /api/v1/models/embed (embeddings, signed in),
// over Ollama and over an OpenAI-compatible server (the stand-in), on SQLite and PostgreSQL: the answers, names with
// slashes, unknown models (404), bad bodies (422, never 500), a provider that is down (503) or talks nonsense (502).
// The breaker and the retries around these calls are covered in llm.service.test.ts.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { embedding } from '../../helpers/llm-stand-in-wire.js';
import { closedPort } from '../../helpers/closed-port.js';

const MODELS = ['tinyllama:latest', 'all-minilm:latest', 'library/llama3:8b'];

interface ErrorAnswer {
  detail: string | { loc: (string | number)[]; msg: string; type: string }[];
  code: string;
  request_id: string;
}

function embed(t: TestApp, payload: unknown, token?: string) {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/models/embed',
    headers: token === undefined ? {} : bearer(token),
    payload: payload as Record<string, unknown>,
  });
}

const details = (t: TestApp, name: string) => t.app.inject({ url: `/api/v1/models/${name}` });

describeEachDialect('model details and embeddings over Ollama', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: MODELS });
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, DEFAULT_MODEL: 'all-minilm:latest', LLM_RETRY_BASE_MS: '1' },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => {
    llm.requests.length = 0;
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it("answers a model's details, asking the server with the request id", async () => {
    const response = await details(t, 'tinyllama:latest');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      name: 'tinyllama:latest',
      provider: 'ollama',
      family: 'llama',
      families: ['llama'],
      architecture: 'llama',
      parameter_size: '1B',
      parameter_count: 1_100_048_384,
      quantization: 'Q4_0',
      format: 'gguf',
      context_length: 2048,
      embedding_length: 16,
      capabilities: ['completion'],
      parent_model: null,
      owned_by: null,
      modified_at: '2024-05-01T10:00:00.123Z',
    });
    expect(llm.requests.map((r) => [r.path, r.body])).toEqual([['/api/show', { model: 'tinyllama:latest' }]]);
    expect(llm.requests[0]?.headers['x-request-id']).toBe(response.headers['x-request-id']);
  });

  it('accepts a name with a slash, as it is or percent-encoded', async () => {
    for (const path of ['library/llama3:8b', 'library%2Fllama3%3A8b']) {
      const response = await details(t, path);
      expect(response.statusCode, `${path}: ${response.body}`).toBe(200);
      expect(response.json()).toMatchObject({ name: 'library/llama3:8b', family: 'llama' });
    }
    expect(llm.requests.map((r) => r.body)).toEqual([
      { model: 'library/llama3:8b' },
      { model: 'library/llama3:8b' },
    ]);
  });

  it('answers 404 for a model the server does not have', async () => {
    const response = await details(t, 'nope:1b');
    expect(response.statusCode, response.body).toBe(404);
    expect(response.json()).toEqual({
      detail: "Model 'nope:1b' not found",
      code: 'model_not_found',
      request_id: response.headers['x-request-id'],
    });
  });

  it('answers 422 for a name no server spells so, without asking the server', async () => {
    const response = await details(t, '%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    expect(response.statusCode, response.body).toBe(422);
    expect(response.json<ErrorAnswer>().detail).toEqual([
      expect.objectContaining({ loc: ['path', '*'], type: 'string_pattern_mismatch' }),
    ]);
    expect(llm.requests).toEqual([]);
  });

  it('keeps the catalogue at /api/v1/models/ and answers 405 to other methods on a model', async () => {
    const catalog = await t.app.inject({ url: '/api/v1/models/' });
    expect(catalog.statusCode, catalog.body).toBe(200);
    expect(catalog.json()).toMatchObject({ models: MODELS, count: 3, available: true });
    const deleted = await t.app.inject({ method: 'DELETE', url: '/api/v1/models/tinyllama:latest' });
    expect(deleted.statusCode, deleted.body).toBe(405);
    expect(llm.requests.map((r) => r.path)).toEqual(['/api/tags']);
  });

  it('embeds a list of texts for a signed-in user, in order, with the usage and the request id', async () => {
    const inputs = ['the first text', 'a second one', 'the first text'];
    const response = await embed(t, { model: 'tinyllama:latest', input: inputs }, token);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      model: 'tinyllama:latest',
      embeddings: inputs.map(embedding),
      usage: { prompt_tokens: 9 },
    });
    const sent = llm.requests[0];
    expect([sent?.path, sent?.body]).toEqual(['/api/embed', { model: 'tinyllama:latest', input: inputs }]);
    expect(sent?.headers['x-request-id']).toBe(response.headers['x-request-id']);
  });

  it('embeds one text with DEFAULT_MODEL when no model is named', async () => {
    for (const model of [undefined, null, '', 'tinyllama']) {
      const response = await embed(t, { model, input: 'just one' }, token);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({
        model: 'all-minilm:latest',
        embeddings: [embedding('just one')],
        usage: { prompt_tokens: 2 },
      });
    }
    expect(llm.requests.map((r) => r.body)).toEqual(
      Array(4).fill({ model: 'all-minilm:latest', input: ['just one'] }),
    );
  });

  it('answers 401 without a valid token, without asking the server', async () => {
    for (const [headers, code] of [
      [{}, 'not_authenticated'],
      [bearer('not-a-token'), 'invalid_token'],
    ] as const) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/models/embed',
        headers,
        payload: { input: ['a'] },
      });
      expect(response.statusCode, response.body).toBe(401);
      expect(response.json()).toMatchObject({ code });
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
    expect(llm.requests).toEqual([]);
  });

  it.each([
    ['input missing', {}, ['body', 'input']],
    ['input a number', { input: 5 }, ['body', 'input']],
    ['input an empty list', { input: [] }, ['body', 'input']],
    ['input an empty text', { input: '' }, ['body', 'input']],
    ['an empty text in the list', { input: ['a', ''] }, ['body', 'input', 1]],
    ['numbers in the list', { input: [1, 2] }, ['body', 'input', 0]],
    ['257 texts', { input: Array<string>(257).fill('a') }, ['body', 'input']],
    ['a text of 8193 characters', { input: ['x'.repeat(8193)] }, ['body', 'input', 0]],
    ['a model that is a number', { model: 5, input: 'a' }, ['body', 'model']],
    ['a model with markup', { model: '<b>x</b>', input: 'a' }, ['body', 'model']],
  ])('answers 422 for %s, without asking the server', async (_what, payload, loc) => {
    const response = await embed(t, payload, token);
    expect(response.statusCode, response.body).toBe(422);
    const answer = response.json<ErrorAnswer>();
    expect(answer.code).toBe('validation_error');
    expect(Array.isArray(answer.detail) && answer.detail.map((issue) => issue.loc)).toContainEqual(loc);
    expect(llm.requests).toEqual([]);
  });

  it('accepts the largest request the bounds allow, and answers 413 past the body limit', async () => {
    const largest = await embed(t, { input: Array<string>(100).fill('y'.repeat(8192)) }, token);
    expect(largest.statusCode, largest.body.slice(0, 200)).toBe(200);
    expect(largest.json<{ embeddings: unknown[] }>().embeddings).toHaveLength(100);
    const huge = await embed(t, { input: Array<string>(256).fill('z'.repeat(8192)) }, token);
    expect(huge.statusCode, huge.body).toBe(413);
    expect(llm.requests).toHaveLength(1);
  });

  it('answers 404 for embeddings of an unknown model, 502 for an answer it cannot read', async () => {
    const unknown = await embed(t, { model: 'nope:1b', input: 'a' }, token);
    expect(unknown.statusCode, unknown.body).toBe(404);
    expect(unknown.json()).toMatchObject({ detail: "Model 'nope:1b' not found", code: 'model_not_found' });
    llm.script('embed', { body: { embeddings: [[0.1, 'secret internals']] } });
    const garbled = await embed(t, { input: 'a' }, token);
    expect(garbled.statusCode, garbled.body).toBe(502);
    expect(garbled.json()).toMatchObject({ code: 'llm_protocol_error' });
    expect(garbled.body).not.toContain('secret internals');
  });

  it('answers 400 when the model only chats, naming it', async () => {
    llm.script('embed', { status: 400, body: { error: '"tinyllama:latest" does not support embeddings' } });
    const refused = await embed(t, { model: 'tinyllama:latest', input: 'a' }, token);
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json()).toMatchObject({
      detail: "Model 'tinyllama:latest' does not support embeddings",
      code: 'model_cannot_embed',
    });
  });
});

describeEachDialect('model details and embeddings when the provider is down', (dialect) => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: url, LLM_RETRY_ATTEMPTS: '1' } });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterAll(() => t?.close());

  it('answers 503 llm_unavailable to both', async () => {
    for (const response of [await details(t, 'tinyllama:latest'), await embed(t, { input: 'a' }, token)]) {
      expect(response.statusCode, response.body).toBe(503);
      expect(response.json()).toMatchObject({
        detail: 'Cannot connect to the ollama service',
        code: 'llm_unavailable',
      });
    }
  });
});

describeEachDialect('model details and embeddings over an OpenAI-compatible server', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: [...MODELS, 'text-embedding-3-small'] });
    t = await buildTestApp({
      dialect,
      env: {
        LLM_PROVIDER: 'openai',
        OPENAI_BASE_URL: llm.openaiUrl,
        OPENAI_API_KEY: 'sk-test-key',
        LLM_RETRY_BASE_MS: '1',
      },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => {
    llm.requests.length = 0;
    llm.serveModelRetrieve(true);
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it("answers a model's details from /v1/models/{id}, or from the list on servers without it", async () => {
    const response = await details(t, 'library/llama3:8b');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      name: 'library/llama3:8b',
      provider: 'openai',
      family: null,
      context_length: null,
      owned_by: 'library',
      modified_at: '2024-05-01T10:00:00.000Z',
    });
    expect(llm.requests.map((r) => r.path)).toEqual(['/v1/models/library%2Fllama3:8b']);
    expect(llm.requests[0]?.headers.authorization).toBe('Bearer sk-test-key');
    llm.serveModelRetrieve(false);
    const listed = await details(t, 'library/llama3:8b');
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json()).toEqual(response.json());
    const unknown = await details(t, 'nope');
    expect(unknown.statusCode, unknown.body).toBe(404);
    expect(unknown.json()).toMatchObject({ detail: "Model 'nope' not found" });
  });

  it('embeds through /v1/embeddings as floats', async () => {
    const response = await embed(t, { model: 'text-embedding-3-small', input: ['a b', 'c'] }, token);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      model: 'text-embedding-3-small',
      embeddings: [embedding('a b'), embedding('c')],
      usage: { prompt_tokens: 3 },
    });
    expect(llm.requests.map((r) => [r.path, r.body])).toEqual([
      ['/v1/embeddings', { model: 'text-embedding-3-small', input: ['a b', 'c'], encoding_format: 'float' }],
    ]);
    const unknown = await embed(t, { model: 'nope', input: 'a' }, token);
    expect(unknown.statusCode, unknown.body).toBe(404);
  });
});

describeEachDialect('embeddings with EMBEDDING_MODEL set', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: MODELS });
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, DEFAULT_MODEL: 'tinyllama:latest', EMBEDDING_MODEL: ' all-minilm:latest ' },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('embeds with EMBEDDING_MODEL when no model is named, and with the named one otherwise', async () => {
    for (const model of [undefined, null, '']) {
      const response = await embed(t, { model, input: 'x' }, token);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json<{ model: string }>().model).toBe('all-minilm:latest');
    }
    const named = await embed(t, { model: 'tinyllama', input: 'x' }, token);
    expect(named.json<{ model: string }>().model).toBe('tinyllama:latest');
    expect(llm.requests.map((r) => (r.body as { model: string }).model)).toEqual([
      'all-minilm:latest',
      'all-minilm:latest',
      'all-minilm:latest',
      'tinyllama:latest',
    ]);
  });
});
