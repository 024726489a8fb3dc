// Both LLM adapters (Ollama and OpenAI-compatible) against the stand-in server over a real socket: what they send,
// how they read a stream, and how every failure becomes one of our errors (or the caller's own abort).
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import {
  LlmError,
  LlmProtocolError,
  LlmTimeoutError,
  LlmUnavailableError,
  LlmUpstreamError,
  ModelNotFoundError,
} from '../../../src/modules/llm/llm.errors.js';
import type { GenerationEvent, GenerationRequest, LlmProvider } from '../../../src/modules/llm/llm.port.js';
import { createLlmProvider, type LlmProviderHandle } from '../../../src/modules/llm/provider-factory.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';

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

describe('ollama adapter only', () => {
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

  it('reads "model not found" in an error body as ModelNotFoundError', async () => {
    standIn.reply({ status: 400, errorBody: { error: `model "${MODEL}" not found` } });
    expect((await run(provider('ollama'))).error).toBeInstanceOf(ModelNotFoundError);
  });
});

describe('openai adapter only', () => {
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
