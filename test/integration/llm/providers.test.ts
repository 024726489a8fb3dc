// Both LLM adapters (Ollama and OpenAI-compatible) against the stand-in server over a real socket: what they send,
// how they read a stream, model details and embeddings, and how every failure becomes one of our errors (or the
// caller's own abort).
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import {
  LlmError,
  LlmProtocolError,
  LlmTimeoutError,
  LlmUnavailableError,
  LlmUpstreamError,
  ModelCannotEmbedError,
  ModelNotFoundError,
} from '../../../src/modules/llm/llm.errors.js';
import type { GenerationEvent, GenerationRequest, LlmProvider } from '../../../src/modules/llm/llm.port.js';
import { createLlmProvider, type LlmProviderHandle } from '../../../src/modules/llm/provider-factory.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { embedding } from '../../helpers/llm-stand-in-wire.js';

type Protocol = 'ollama' | 'openai';
type Body = Record<string, unknown>;

const MODEL = 'tinyllama:latest';
const CONVERSATION: GenerationRequest['messages'] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi there' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'What is 2+2?' },
];

let standIn: LlmStandIn;
let handles: LlmProviderHandle[] = [];

beforeEach(async () => {
  standIn = await startLlmStandIn({ models: [MODEL, 'qwen2:7b'] });
});

afterEach(async () => {
  try {
    standIn.assertNoUnexpected();
  } finally {
    await Promise.all(handles.map((handle) => handle.close()));
    handles = [];
    await standIn.close();
  }
});

/** A provider for the protocol, built by the real config code from env-style settings. */
function provider(protocol: Protocol, env: Record<string, string> = {}, url?: string): LlmProvider {
  const target =
    protocol === 'ollama'
      ? { OLLAMA_URL: url ?? standIn.url }
      : { LLM_PROVIDER: 'openai', OPENAI_BASE_URL: url ? `${url}/v1` : standIn.openaiUrl };
  const handle = createLlmProvider(parseConfig({ ...target, ...env }).llm);
  handles.push(handle);
  return handle.provider;
}

interface Outcome {
  tokens: string[];
  done: Extract<GenerationEvent, { type: 'done' }> | undefined;
  error: unknown;
}

async function run(llm: LlmProvider, request: Partial<GenerationRequest> = {}): Promise<Outcome> {
  const outcome: Outcome = { tokens: [], done: undefined, error: undefined };
  try {
    for await (const event of llm.generate({ model: MODEL, messages: CONVERSATION, ...request })) {
      if (event.type === 'token') outcome.tokens.push(event.text);
      else outcome.done = event;
    }
  } catch (error) {
    outcome.error = error;
  }
  return outcome;
}

function bodyOf(index: number): Body {
  const body = standIn.requests[index]?.body;
  if (typeof body !== 'object' || body === null) throw new Error(`request ${index} has no JSON body`);
  return body as Body;
}

/** The sampling settings as each protocol carries them: in `options` for Ollama, at the top level for OpenAI. */
function sampling(protocol: Protocol, body: Body): Body {
  return protocol === 'ollama' ? (body.options as Body) : body;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.each<Protocol>(['ollama', 'openai'])('%s adapter', (protocol) => {
  const maxTokensField = protocol === 'ollama' ? 'num_predict' : 'max_tokens';

  it('streams the tokens in order, then the usage the server reported', async () => {
    standIn.reply({ tokens: ['Hel', 'lo', ' world'], promptTokens: 17, completionTokens: 3 });
    const outcome = await run(provider(protocol));
    expect(outcome.error).toBeUndefined();
    expect(outcome.tokens).toEqual(['Hel', 'lo', ' world']);
    expect(outcome.done).toEqual({
      type: 'done',
      model: MODEL,
      usage: { promptTokens: 17, completionTokens: 3 },
    });
  });

  it('sends the conversation as messages, streamed, with temperature 0 and the token limit', async () => {
    standIn.reply({ tokens: ['4'] });
    await run(provider(protocol), { temperature: 0, maxTokens: 42, requestId: 'req-abc-123' });
    const body = bodyOf(0);
    expect(body.model).toBe(MODEL);
    expect(body.messages).toEqual(CONVERSATION);
    expect(body.stream).toBe(true);
    expect(sampling(protocol, body).temperature).toBe(0);
    expect(sampling(protocol, body)[maxTokensField]).toBe(42);
    expect(standIn.requests[0]?.headers['x-request-id']).toBe('req-abc-123');
    if (protocol === 'openai') expect(body.stream_options).toEqual({ include_usage: true });
  });

  it('leaves temperature and the token limit to the model when not given', async () => {
    standIn.reply({ tokens: ['ok'] });
    await run(provider(protocol));
    const options = sampling(protocol, bodyOf(0));
    expect(options).not.toHaveProperty('temperature');
    expect(options).not.toHaveProperty(maxTokensField);
    expect(standIn.requests[0]?.headers).not.toHaveProperty('x-request-id');
  });

  it('reports an unknown model as ModelNotFoundError', async () => {
    const outcome = await run(provider(protocol), { model: 'nope:1b' });
    expect(outcome.error).toBeInstanceOf(ModelNotFoundError);
    expect((outcome.error as ModelNotFoundError).model).toBe('nope:1b');
    expect(standIn.requests).toHaveLength(1);
  });

  it.each([500, 502, 503, 400])('reports HTTP %i as LlmUpstreamError with that status', async (status) => {
    standIn.reply({ status });
    const outcome = await run(provider(protocol));
    expect(outcome.error).toBeInstanceOf(LlmUpstreamError);
    expect((outcome.error as LlmUpstreamError).upstreamStatus).toBe(status);
  });

  it('reports a refused connection as LlmUnavailableError', async () => {
    const outcome = await run(provider(protocol, {}, `http://127.0.0.1:${await closedPort()}`));
    expect(outcome.error).toBeInstanceOf(LlmUnavailableError);
  });

  it('times out before the first byte as first_token, and closes the connection', async () => {
    standIn.reply({ hang: true });
    const outcome = await run(provider(protocol, { LLM_FIRST_TOKEN_TIMEOUT_MS: '200' }));
    expect(outcome.error).toBeInstanceOf(LlmTimeoutError);
    expect((outcome.error as LlmTimeoutError).phase).toBe('first_token');
    await vi.waitFor(() => expect(standIn.requests[0]?.aborted).toBe(true));
  });

  it('times out on a pause between tokens as idle, after the tokens received', async () => {
    standIn.reply({ tokens: ['a', 'b'], tokenDelayMs: 3000 });
    const outcome = await run(provider(protocol, { LLM_IDLE_TIMEOUT_MS: '150' }));
    expect(outcome.tokens).toEqual(['a']);
    expect(outcome.error).toBeInstanceOf(LlmTimeoutError);
    expect((outcome.error as LlmTimeoutError).phase).toBe('idle');
  });

  it('stops a generation that outlasts the total timeout', async () => {
    standIn.reply({ tokens: Array.from({ length: 20 }, (_, i) => `t${i}`), tokenDelayMs: 50 });
    const outcome = await run(provider(protocol, { LLM_TOTAL_TIMEOUT_MS: '300' }));
    expect(outcome.tokens.length).toBeLessThan(20);
    expect(outcome.error).toBeInstanceOf(LlmTimeoutError);
    expect((outcome.error as LlmTimeoutError).phase).toBe('total');
    await vi.waitFor(() => expect(standIn.requests[0]?.aborted).toBe(true));
  });

  it('fails after the tokens received when the server drops the connection', async () => {
    standIn.reply({ tokens: ['a', 'b', 'c'], dropAfterTokens: 2 });
    const outcome = await run(provider(protocol));
    expect(outcome.tokens).toEqual(['a', 'b']);
    expect(outcome.done).toBeUndefined();
    expect(
      outcome.error instanceof LlmUnavailableError || outcome.error instanceof LlmProtocolError,
      String(outcome.error),
    ).toBe(true);
  });

  it('rejects with an AbortError when the caller aborts mid-stream, and closes the upstream connection', async () => {
    standIn.reply({ tokens: ['a', 'b', 'c'], tokenDelayMs: 200 });
    const controller = new AbortController();
    const tokens: string[] = [];
    const consume = async () => {
      for await (const event of provider(protocol).generate({
        model: MODEL,
        messages: CONVERSATION,
        signal: controller.signal,
      })) {
        if (event.type === 'token') tokens.push(event.text);
        if (tokens.length === 1) controller.abort();
      }
    };
    const error: unknown = await consume().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(tokens).toEqual(['a']);
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe('AbortError');
    expect(error).not.toBeInstanceOf(LlmError);
    await vi.waitFor(() => expect(standIn.requests[0]?.aborted).toBe(true));
  });

  it('rejects with the abort reason when the caller aborts before the first token', async () => {
    standIn.reply({ hang: true });
    const controller = new AbortController();
    const reason = new Error('client left');
    const pending = run(provider(protocol), { signal: controller.signal });
    await standIn.waitForRequests(1);
    controller.abort(reason);
    expect((await pending).error).toBe(reason);
    await vi.waitFor(() => expect(standIn.requests[0]?.aborted).toBe(true));
  });

  it('closes the upstream connection when the consumer stops reading', async () => {
    standIn.reply({ tokens: ['a', 'b', 'c'], tokenDelayMs: 300 });
    for await (const event of provider(protocol).generate({ model: MODEL, messages: CONVERSATION })) {
      expect(event).toEqual({ type: 'token', text: 'a' });
      break;
    }
    await vi.waitFor(() => expect(standIn.requests[0]?.aborted).toBe(true));
  });

  it('reports an answer in another format as LlmProtocolError', async () => {
    standIn.reply({ status: 200, errorBody: '<html>proxy login</html>' });
    const outcome = await run(provider(protocol));
    expect(outcome.error).toBeInstanceOf(LlmProtocolError);
  });

  it('lists the models, with the request id', async () => {
    const models = await provider(protocol).listModels({ requestId: 'list-1' });
    expect(models.map((model) => model.name)).toEqual([MODEL, 'qwen2:7b']);
    const expected =
      protocol === 'ollama'
        ? { name: MODEL, size: 600_000_000, modifiedAt: '2024-05-01T10:00:00.123Z' }
        : { name: MODEL, size: null, modifiedAt: '2024-05-01T10:00:00.000Z' };
    expect(models[0]).toEqual(expected);
    expect(standIn.requests[0]?.path).toBe(protocol === 'ollama' ? '/api/tags' : '/v1/models');
    expect(standIn.requests[0]?.headers['x-request-id']).toBe('list-1');
  });

  it('reports model list failures as our errors', async () => {
    const llm = provider(protocol, { LLM_FIRST_TOKEN_TIMEOUT_MS: '200' });
    standIn.failModelList(503);
    await expect(llm.listModels()).rejects.toMatchObject({
      constructor: LlmUpstreamError,
      upstreamStatus: 503,
    });
    standIn.failModelList(404);
    await expect(llm.listModels()).rejects.toMatchObject({
      constructor: LlmUpstreamError,
      upstreamStatus: 404,
    });
    standIn.failModelList('hang');
    await expect(llm.listModels()).rejects.toMatchObject({
      constructor: LlmTimeoutError,
      phase: 'first_token',
    });
    const refused = provider(protocol, {}, `http://127.0.0.1:${await closedPort()}`);
    await expect(refused.listModels()).rejects.toBeInstanceOf(LlmUnavailableError);
  });
});

/** Every field of ModelDetails unknown, but the name. */
const UNKNOWN_DETAILS = {
  family: null,
  families: null,
  architecture: null,
  parameterSize: null,
  parameterCount: null,
  quantization: null,
  format: null,
  contextLength: null,
  embeddingLength: null,
  capabilities: null,
  parentModel: null,
  ownedBy: null,
  modifiedAt: null,
};

describe.each<Protocol>(['ollama', 'openai'])('%s adapter: model details and embeddings', (protocol) => {
  const embedPath = protocol === 'ollama' ? '/api/embed' : '/v1/embeddings';

  it("shows a model's details, sending the request id", async () => {
    const details = await provider(protocol).showModel(MODEL, { requestId: 'show-1' });
    if (protocol === 'ollama') {
      expect(details).toEqual({
        ...UNKNOWN_DETAILS,
        name: MODEL,
        family: 'llama',
        families: ['llama'],
        architecture: 'llama',
        parameterSize: '1B',
        parameterCount: 1_100_048_384,
        quantization: 'Q4_0',
        format: 'gguf',
        contextLength: 2048,
        embeddingLength: 16,
        capabilities: ['completion'],
        modifiedAt: '2024-05-01T10:00:00.123Z',
      });
      expect(standIn.requests.map((r) => [r.method, r.path, r.body])).toEqual([
        ['POST', '/api/show', { model: MODEL }],
      ]);
    } else {
      expect(details).toEqual({
        ...UNKNOWN_DETAILS,
        name: MODEL,
        ownedBy: 'library',
        modifiedAt: '2024-05-01T10:00:00.000Z',
      });
      expect(standIn.requests.map((r) => [r.method, r.path])).toEqual([
        ['GET', '/v1/models/tinyllama:latest'],
      ]);
    }
    expect(standIn.requests[0]?.headers['x-request-id']).toBe('show-1');
  });

  it('reports the details of an unknown model as ModelNotFoundError', async () => {
    const error: unknown = await provider(protocol)
      .showModel('nope:1b')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelNotFoundError);
    expect(error).toMatchObject({ model: 'nope:1b', status: 404, message: "Model 'nope:1b' not found" });
    // OpenAI-compatible: a 404 may mean "no such path" (vLLM), so the list is asked before saying so.
    expect(standIn.requests.map((r) => r.path)).toEqual(
      protocol === 'ollama' ? ['/api/show'] : ['/v1/models/nope:1b', '/v1/models'],
    );
  });

  it('reports details it cannot read as LlmProtocolError, and missing fields as null', async () => {
    const llm = provider(protocol);
    standIn.script('show', { body: '<html>proxy login</html>' }, { body: ['not', 'an', 'object'] });
    await expect(llm.showModel(MODEL)).rejects.toBeInstanceOf(LlmProtocolError);
    await expect(llm.showModel(MODEL)).rejects.toBeInstanceOf(LlmProtocolError);
    standIn.script('show', { body: protocol === 'ollama' ? {} : { id: MODEL, object: 'model' } });
    expect(await llm.showModel(MODEL)).toEqual({ ...UNKNOWN_DETAILS, name: MODEL });
  });

  it('reports a failing or unreachable server as our errors when showing a model', async () => {
    standIn.script('show', { status: 500 });
    await expect(provider(protocol).showModel(MODEL)).rejects.toMatchObject({
      constructor: LlmUpstreamError,
      upstreamStatus: 500,
    });
    const refused = provider(protocol, {}, `http://127.0.0.1:${await closedPort()}`);
    await expect(refused.showModel(MODEL)).rejects.toBeInstanceOf(LlmUnavailableError);
  });

  it('embeds the inputs in order, sending the model, the inputs and the request id', async () => {
    const llm = provider(protocol, { OLLAMA_KEEP_ALIVE: '1h', OLLAMA_NUM_CTX: '4096' });
    const inputs = ['first text', 'second', 'first text'];
    const result = await llm.embed(MODEL, inputs, { requestId: 'embed-1' });
    expect(result).toEqual({ model: MODEL, embeddings: inputs.map(embedding), promptTokens: 5 });
    const sent = standIn.requests[0];
    expect([sent?.method, sent?.path]).toEqual(['POST', embedPath]);
    expect(sent?.headers['x-request-id']).toBe('embed-1');
    // No keep_alive or options: those are the chat model's settings.
    expect(sent?.body).toEqual(
      protocol === 'ollama'
        ? { model: MODEL, input: inputs }
        : { model: MODEL, input: inputs, encoding_format: 'float' },
    );
  });

  it('reports embeddings of an unknown model as ModelNotFoundError', async () => {
    const error: unknown = await provider(protocol)
      .embed('nope:1b', ['a'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelNotFoundError);
    expect((error as ModelNotFoundError).model).toBe('nope:1b');
    expect(standIn.requests).toHaveLength(1);
  });

  it('reports embeddings it cannot read as LlmProtocolError', async () => {
    const llm = provider(protocol);
    const wrap = (vectors: unknown[]) =>
      protocol === 'ollama'
        ? { model: MODEL, embeddings: vectors }
        : { object: 'list', model: MODEL, data: vectors.map((embedding, index) => ({ index, embedding })) };
    standIn.script(
      'embed',
      { body: '<html>proxy login</html>' },
      { body: wrap([[0.1, 0.2]]) }, // one vector for two inputs
      { body: wrap([[0.1], ['x']]) },
      { body: wrap([[0.1], []]) },
      { body: { unrelated: true } },
    );
    for (let i = 0; i < 5; i++) {
      await expect(llm.embed(MODEL, ['a', 'b']), `scripted answer ${i}`).rejects.toBeInstanceOf(
        LlmProtocolError,
      );
    }
  });

  it('reports a failing or unreachable server as our errors when embedding', async () => {
    standIn.script('embed', { status: 503 }, { status: 400 });
    const llm = provider(protocol);
    const unavailable: unknown = await llm.embed(MODEL, ['a']).catch((e: unknown) => e);
    expect(unavailable).toMatchObject({
      constructor: LlmUpstreamError,
      upstreamStatus: 503,
      retryable: true,
    });
    const refused: unknown = await llm.embed(MODEL, ['a']).catch((e: unknown) => e);
    expect(refused).toMatchObject({ constructor: LlmUpstreamError, upstreamStatus: 400, retryable: false });
    const down = provider(protocol, {}, `http://127.0.0.1:${await closedPort()}`);
    await expect(down.embed(MODEL, ['a'])).rejects.toBeInstanceOf(LlmUnavailableError);
  });

  it('rejects with the abort reason when the caller aborts an embedding, and closes the connection', async () => {
    standIn.script('embed', { hang: true });
    const controller = new AbortController();
    const reason = new Error('client left');
    const pending = provider(protocol)
      .embed(MODEL, ['a'], { signal: controller.signal })
      .catch((e: unknown) => e);
    await standIn.waitForRequests(1);
    controller.abort(reason);
    expect(await pending).toBe(reason);
    await vi.waitFor(() => expect(standIn.requests[0]?.aborted).toBe(true));
  });
});

describe('ollama adapter only', () => {
  it('reports a model that cannot embed (a 400 saying so) as ModelCannotEmbedError, not retried', async () => {
    standIn.script('embed', {
      status: 400,
      body: { error: '"tinyllama:latest" does not support embeddings' },
    });
    const error: unknown = await provider('ollama')
      .embed(MODEL, ['a'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelCannotEmbedError);
    expect(error).toMatchObject({
      status: 400,
      code: 'model_cannot_embed',
      breakerFailure: false,
      retryable: false,
    });
    // Another 400 stays an upstream error.
    standIn.script('embed', { status: 400, body: { error: 'input too long' } });
    const other: unknown = await provider('ollama')
      .embed(MODEL, ['a'])
      .catch((e: unknown) => e);
    expect(other).toBeInstanceOf(LlmUpstreamError);
  });

  it('sends keep_alive and num_ctx only when configured', async () => {
    standIn.reply({ tokens: ['a'] }, { tokens: ['b'] });
    await run(provider('ollama'));
    await run(provider('ollama', { OLLAMA_KEEP_ALIVE: '1h', OLLAMA_NUM_CTX: '4096' }));
    expect(bodyOf(0)).not.toHaveProperty('keep_alive');
    expect(bodyOf(0).options).not.toHaveProperty('num_ctx');
    expect(bodyOf(1).keep_alive).toBe('1h');
    expect((bodyOf(1).options as Body).num_ctx).toBe(4096);
  });

  it('reports an error line in the stream as LlmProtocolError', async () => {
    standIn.reply({ status: 200, errorBody: { error: 'an error was encountered while running the model' } });
    expect((await run(provider('ollama'))).error).toBeInstanceOf(LlmProtocolError);
  });

  it('reports a stream that ends without done:true as LlmProtocolError, after its tokens', async () => {
    const line = {
      model: MODEL,
      created_at: '2024-05-01T10:00:00Z',
      message: { role: 'assistant', content: 'hi' },
    };
    standIn.reply({ status: 200, errorBody: { ...line, done: false } });
    const outcome = await run(provider('ollama'));
    expect(outcome.tokens).toEqual(['hi']);
    expect(outcome.error).toBeInstanceOf(LlmProtocolError);
  });

  it('finds the context and embedding lengths under any architecture prefix', async () => {
    standIn.script('show', {
      body: {
        details: { family: 'nomic-bert', families: null, parent_model: 'base:1b' },
        model_info: { 'nomic-bert.context_length': 2048, 'nomic-bert.embedding_length': 768 },
        capabilities: ['embedding'],
      },
    });
    expect(await provider('ollama').showModel('nomic-embed-text:latest')).toEqual({
      ...UNKNOWN_DETAILS,
      name: 'nomic-embed-text:latest',
      family: 'nomic-bert',
      parentModel: 'base:1b',
      contextLength: 2048,
      embeddingLength: 768,
      capabilities: ['embedding'],
    });
  });

  it('reads "model not found" in an error body as ModelNotFoundError', async () => {
    standIn.reply({ status: 400, errorBody: { error: `model "${MODEL}" not found` } });
    expect((await run(provider('ollama'))).error).toBeInstanceOf(ModelNotFoundError);
  });
});

describe('openai adapter only', () => {
  it('finds the details in the model list on a server without /v1/models/{id} (vLLM)', async () => {
    standIn.setModels([MODEL, 'org/model-7b']);
    standIn.serveModelRetrieve(false);
    const llm = provider('openai');
    expect(await llm.showModel('org/model-7b', { requestId: 'show-2' })).toEqual({
      ...UNKNOWN_DETAILS,
      name: 'org/model-7b',
      ownedBy: 'library',
      modifiedAt: '2024-05-01T10:00:00.000Z',
    });
    expect(standIn.requests.map((r) => r.path)).toEqual(['/v1/models/org%2Fmodel-7b', '/v1/models']);
    expect(standIn.requests[1]?.headers['x-request-id']).toBe('show-2');
    await expect(llm.showModel('absent')).rejects.toBeInstanceOf(ModelNotFoundError);
  });

  it("reads the context length a server gives (vLLM's max_model_len)", async () => {
    standIn.script('show', {
      body: { id: 'org/model-7b', object: 'model', created: 0, owned_by: 'vllm', max_model_len: 8192 },
    });
    expect(await provider('openai').showModel('org/model-7b')).toMatchObject({
      contextLength: 8192,
      ownedBy: 'vllm',
      modifiedAt: null,
    });
  });

  it('looks up ids with a "." or ".." segment in the list, which the client will not put in a path', async () => {
    standIn.setModels(['./models/llama']);
    expect(await provider('openai').showModel('./models/llama')).toMatchObject({ name: './models/llama' });
    expect(standIn.requests.map((r) => r.path)).toEqual(['/v1/models']);
  });

  it('puts embeddings in the order of their indexes, and refuses indexes that do not match', async () => {
    const vector = (x: number) => [x, x];
    standIn.script(
      'embed',
      {
        body: {
          object: 'list',
          model: 'served-name',
          data: [
            { object: 'embedding', index: 1, embedding: vector(1) },
            { object: 'embedding', index: 0, embedding: vector(0) },
          ],
        },
      },
      {
        body: {
          data: [
            { index: 0, embedding: vector(0) },
            { index: 0, embedding: vector(1) },
          ],
        },
      },
      {
        body: {
          data: [
            { index: 0, embedding: vector(0) },
            { index: 2, embedding: vector(1) },
          ],
        },
      },
    );
    const llm = provider('openai');
    expect(await llm.embed(MODEL, ['a', 'b'])).toEqual({
      model: 'served-name',
      embeddings: [vector(0), vector(1)],
      promptTokens: null,
    });
    await expect(llm.embed(MODEL, ['a', 'b'])).rejects.toBeInstanceOf(LlmProtocolError);
    await expect(llm.embed(MODEL, ['a', 'b'])).rejects.toBeInstanceOf(LlmProtocolError);
  });

  it('reads error code model_not_found as ModelNotFoundError', async () => {
    const error = {
      message: 'no such model',
      type: 'invalid_request_error',
      param: null,
      code: 'model_not_found',
    };
    standIn.reply({ status: 400, errorBody: { error } });
    expect((await run(provider('openai'))).error).toBeInstanceOf(ModelNotFoundError);
  });

  it('sends the API key as a bearer token, and a placeholder when none is set', async () => {
    standIn.reply({ tokens: ['a'] }, { tokens: ['b'] });
    await run(provider('openai', { OPENAI_API_KEY: 'sk-test-123' }));
    await run(provider('openai'));
    expect(standIn.requests[0]?.headers.authorization).toBe('Bearer sk-test-123');
    expect(standIn.requests[1]?.headers.authorization).toBe('Bearer sk-no-key-required');
  });
});
