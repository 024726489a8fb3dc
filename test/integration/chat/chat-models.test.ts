// GET /api/v1/chat/models, /api/v1/chat/health and /api/v1/models/ in the original's shapes, from the real provider
// (the stand-in's model list), over Ollama and over an OpenAI-compatible server. When the provider fails or nobody
// listens they say so with 200 (available:false / "unhealthy" and an error), never with a made-up model list.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { chatOk, parseSse, postChat, sessionPage } from './chat.helpers.js';

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The three answers, each a 200. */
async function lists(t: TestApp) {
  const [models, health, catalog] = await Promise.all(
    ['/api/v1/chat/models', '/api/v1/chat/health', '/api/v1/models/'].map((url) => t.app.inject({ url })),
  );
  for (const response of [models, health, catalog]) expect(response?.statusCode, response?.body).toBe(200);
  return {
    models: models?.json<Record<string, unknown>>(),
    health: health?.json<Record<string, unknown>>(),
    catalog: catalog?.json<Record<string, unknown>>(),
  };
}

/** What all three say when the provider cannot list its models: no model at all, and why. */
async function expectDown(t: TestApp, url: string, error: RegExp): Promise<void> {
  const { models, health, catalog } = await lists(t);
  expect(models).toMatchObject({ models: [], count: 0, available: false, ollama_url: url, error });
  expect(health).toMatchObject({ status: 'unhealthy', ollama_url: url, error });
  expect(health).not.toHaveProperty('model_count');
  expect(catalog).toMatchObject({ models: [], available_detailed: [], count: 0, available: false, error });
  expect(JSON.stringify([models, catalog])).not.toMatch(/tinyllama|qwen|downloadable/);
}

describeEachDialect('chat models and health', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'llama3.1:8b'] });
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
  });
  afterEach(() => {
    llm.failModelList(null);
    llm.setModels(['tinyllama:latest', 'llama3.1:8b']);
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it("lists the stand-in's models in the original shapes, as they are now", async () => {
    const { models, health, catalog } = await lists(t);
    expect(models).toEqual({
      models: [
        { name: 'tinyllama:latest', size: 600_000_000, modified: expect.any(String) as unknown },
        { name: 'llama3.1:8b', size: 600_000_001, modified: expect.any(String) as unknown },
      ],
      count: 2,
      ollama_url: llm.url,
      provider: 'ollama',
      available: true,
    });
    expect(health).toEqual({
      status: 'healthy',
      ollama_url: llm.url,
      provider: 'ollama',
      model_count: 2,
      circuit_breaker: 'closed',
      timestamp: expect.any(String) as unknown,
    });
    expect(Number.isNaN(Date.parse(String(health?.timestamp)))).toBe(false);
    expect(catalog).toMatchObject({
      models: ['tinyllama:latest', 'llama3.1:8b'],
      available_detailed: [
        { name: 'tinyllama:latest', provider: 'ollama', size: 600_000_000, available: true },
        { name: 'llama3.1:8b', provider: 'ollama', size: 600_000_001, available: true },
      ],
      count: 2,
      available: true,
      note: expect.any(String) as unknown,
    });
    expect(catalog).not.toHaveProperty('error');

    llm.setModels(['qwen2:0.5b']);
    const now = await lists(t);
    expect(now.models).toMatchObject({ models: [{ name: 'qwen2:0.5b' }], count: 1 });
    expect(now.health).toMatchObject({ status: 'healthy', model_count: 1 });
    expect(now.catalog).toMatchObject({ models: ['qwen2:0.5b'], count: 1 });
    expect(llm.requests.filter((r) => r.path === '/api/tags').length).toBeGreaterThanOrEqual(6);
  });

  // Fastify's default would serve /api/v1/models itself with 200; the original answers 307 (reference §1).
  it('redirects /api/v1/models to /api/v1/models/ with 307', async () => {
    const response = await t.app.inject({ url: '/api/v1/models?x=1' });
    expect(response.statusCode, response.body).toBe(307);
    expect(response.headers.location).toBe('/api/v1/models/?x=1');
  });

  it('answers 405 to DELETE /api/v1/models/, as the original', async () => {
    const deleted = await t.app.inject({ method: 'DELETE', url: '/api/v1/models/' });
    expect(deleted.statusCode, deleted.body).toBe(405);
  });

  it('says the provider is down when its model list fails with HTTP 500, then recovers', async () => {
    llm.failModelList(500);
    await expectDown(t, llm.url, /500/);
    llm.failModelList(null);
    const { models, health } = await lists(t);
    expect(models).toMatchObject({ available: true, count: 2 });
    expect(health).toMatchObject({ status: 'healthy', model_count: 2 });
  });

  it('says the provider is down when nothing listens on its port', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const down = await buildTestApp({ dialect, env: { OLLAMA_URL: url, LLM_RETRY_BASE_MS: '1' } });
    try {
      await expectDown(down, url, /connect/i);
    } finally {
      await down.close();
    }
  });
});

describeEachDialect('chat over an OpenAI-compatible server', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'gpt-4o-mini'] });
    t = await buildTestApp({
      dialect,
      env: {
        LLM_PROVIDER: 'openai',
        OPENAI_BASE_URL: llm.openaiUrl,
        OPENAI_API_KEY: 'sk-test-key',
        LLM_RETRY_BASE_MS: '1',
      },
    });
  });
  afterEach(() => {
    llm.failModelList(null);
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('chats through /v1/chat/completions, as JSON and as SSE, and stores the answer', async () => {
    const { tokens } = await registerAndLogin(t.app);
    llm.reply({ tokens: ['Hello', ' from', ' OpenAI'], promptTokens: 9, completionTokens: 3 });
    const answer = await chatOk(
      t.app,
      { message: 'Hi', model: 'gpt-4o-mini', temperature: 0 },
      tokens.access_token,
    );
    expect(answer).toMatchObject({
      response: 'Hello from OpenAI',
      model: 'gpt-4o-mini',
      usage: { prompt_tokens: 9, completion_tokens: 3 },
    });
    const sent = llm.requests.at(-1);
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(sent?.headers.authorization).toBe('Bearer sk-test-key');
    expect(sent?.body).toMatchObject({
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Hi' },
      ],
    });

    llm.reply({ tokens: ['Streamed', ' too'] });
    const streamed = await postChat(
      t.app,
      { message: 'Again', session_id: answer.session_id, model: 'gpt-4o-mini', stream: true },
      tokens.access_token,
    );
    expect(streamed.statusCode, streamed.body).toBe(200);
    const frames = parseSse(streamed.body);
    expect(frames.map((f) => f.event)).toEqual(['start', 'token', 'token', 'end']);
    expect(
      frames.filter((f) => f.event === 'token').map((f) => (f.data as { content: string }).content),
    ).toEqual(['Streamed', ' too']);
    const page = await sessionPage(t.app, tokens.access_token, answer.session_id);
    expect(page.messages.map((m) => [m.role, m.content, m.status])).toEqual([
      ['user', 'Hi', 'complete'],
      ['assistant', 'Hello from OpenAI', 'complete'],
      ['user', 'Again', 'complete'],
      ['assistant', 'Streamed too', 'complete'],
    ]);
  });

  it('answers 404 for a model the server does not have', async () => {
    const response = await postChat(t.app, { message: 'Hi', model: 'no-such-model' });
    expect(response.statusCode, response.body).toBe(404);
    expect(response.json()).toMatchObject({ detail: "Model 'no-such-model' not found" });
  });

  it('lists the models from /v1/models, and says so when that fails', async () => {
    const { models, health, catalog } = await lists(t);
    expect(models).toMatchObject({
      models: [{ name: 'tinyllama:latest' }, { name: 'gpt-4o-mini' }],
      count: 2,
      ollama_url: llm.openaiUrl,
      provider: 'openai',
      available: true,
    });
    expect(health).toMatchObject({ status: 'healthy', provider: 'openai', model_count: 2 });
    expect(catalog).toMatchObject({
      models: ['tinyllama:latest', 'gpt-4o-mini'],
      available_detailed: [
        { name: 'tinyllama:latest', provider: 'openai', available: true },
        { name: 'gpt-4o-mini', provider: 'openai', available: true },
      ],
      count: 2,
      available: true,
    });
    expect(llm.requests.some((r) => r.path === '/v1/models')).toBe(true);
    expect(llm.requests.some((r) => r.path === '/api/tags')).toBe(false);

    llm.failModelList(500);
    await expectDown(t, llm.openaiUrl, /500/);
  });
});
