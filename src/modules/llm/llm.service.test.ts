// LlmService against a hand-written fake of the LlmProvider port: breaker, retries, bulkheads and their metrics.
// The breaker's open time passes on a ManualClock (the breaker alone: circuit-breaker.test.ts).
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../config.js';
import { ManualClock } from '../../lib/clock.js';
import {
  LlmBusyError,
  LlmCircuitOpenError,
  LlmUnavailableError,
  LlmUpstreamError,
  LlmUserLimitError,
  ModelNotFoundError,
} from './llm.errors.js';
import { createLlmMetrics } from './llm.metrics.js';
import type {
  EmbeddingResult,
  GenerationEvent,
  GenerationRequest,
  LlmCallOptions,
  LlmProvider,
  ModelDetails,
  ModelInfo,
} from './llm.port.js';
import { CATALOG_UNREACHABLE, LlmService } from './llm.service.js';

type Script = (request: GenerationRequest) => AsyncIterable<GenerationEvent>;

class FakeProvider implements LlmProvider {
  readonly name = 'fake';
  readonly baseUrl = 'http://llm.test';
  calls = 0;
  listCalls = 0;
  listResult: () => Promise<ModelInfo[]> = async () => [{ name: 'm:latest', size: null, modifiedAt: null }];
  constructor(public script: Script) {}
  generate(request: GenerationRequest): AsyncIterable<GenerationEvent> {
    this.calls++;
    return this.script(request);
  }
  listModels(): Promise<ModelInfo[]> {
    this.listCalls++;
    return this.listResult();
  }
  /** The arguments of every showModel / embed call, in order. */
  shown: { name: string; options: LlmCallOptions | undefined }[] = [];
  embedded: { model: string; inputs: string[]; options: LlmCallOptions | undefined }[] = [];
  showResult: (name: string) => Promise<ModelDetails> = async (name) => details(name);
  embedResult: (model: string, inputs: string[], options?: LlmCallOptions) => Promise<EmbeddingResult> =
    async (model, inputs) => ({
      model,
      embeddings: inputs.map((_, i) => [i, 1]),
      promptTokens: inputs.length,
    });
  showModel(name: string, options?: LlmCallOptions): Promise<ModelDetails> {
    this.shown.push({ name, options });
    return this.showResult(name);
  }
  embed(model: string, inputs: string[], options?: LlmCallOptions): Promise<EmbeddingResult> {
    this.embedded.push({ model, inputs, options });
    return this.embedResult(model, inputs, options);
  }
}

function details(name: string): ModelDetails {
  return {
    name,
    family: 'llama',
    families: ['llama'],
    architecture: 'llama',
    parameterSize: '1B',
    parameterCount: 1_000_000_000,
    quantization: 'Q4_0',
    format: 'gguf',
    contextLength: 2048,
    embeddingLength: 2048,
    capabilities: ['completion'],
    parentModel: null,
    ownedBy: null,
    modifiedAt: null,
  };
}

const usage = { promptTokens: 7, completionTokens: 2 };
const answer = (...texts: string[]): Script =>
  async function* () {
    for (const text of texts) yield { type: 'token', text };
    yield { type: 'done', usage, model: 'm:latest' };
  };
const failing = (error: () => Error, ...before: string[]): Script =>
  async function* () {
    for (const text of before) yield { type: 'token', text };
    throw error();
  };
/** Each call takes the next script; the last one repeats. */
const inTurn = (...scripts: Script[]): Script => {
  let call = 0;
  return (request) => (scripts[Math.min(call++, scripts.length - 1)] ?? answer())(request);
};
const unreachable = () => new LlmUnavailableError('fake');

/**
 * A generation that sends one token, then waits for release() — or fails as an adapter would when aborted.
 * `waiting` resolves once the first token was read and the generation waits.
 */
function held() {
  let release = () => {};
  let nowWaiting = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const waiting = new Promise<void>((resolve) => (nowWaiting = resolve));
  const script: Script = async function* (request) {
    yield { type: 'token', text: 'first' };
    nowWaiting();
    await new Promise<void>((resolve, reject) => {
      // Deliberately a breaker-failure error: an abort must not count whatever the adapter throws.
      request.signal?.addEventListener('abort', () => reject(unreachable()), { once: true });
      void released.then(resolve);
    });
    yield { type: 'done', usage, model: 'm:latest' };
  };
  return { script, release, waiting };
}

function setup(script: Script, env: Record<string, string> = {}) {
  const config = parseConfig({
    LLM_BREAKER_THRESHOLD: '3',
    LLM_BREAKER_OPEN_MS: '100',
    LLM_RETRY_ATTEMPTS: '1',
    LLM_RETRY_BASE_MS: '1',
    ...env,
  }).llm;
  const registry = new Registry();
  const provider = new FakeProvider(script);
  const clock = new ManualClock();
  const service = new LlmService({ provider, config, metrics: createLlmMetrics(registry), clock });
  /** Moves time exactly to the end of the open time (LLM_BREAKER_OPEN_MS). */
  const passOpenTime = () => clock.advance(config.breaker.openMs);
  const start = (key = 'alice', signal?: AbortSignal) =>
    service.start({ model: 'm:latest', messages: [{ role: 'user', content: 'hi' }], signal }, { key });
  /** Runs one generation to its end: the texts received, and the error it ended with. */
  const run = async (key = 'alice', signal?: AbortSignal) => {
    const texts: string[] = [];
    try {
      for await (const event of await start(key, signal)) if (event.type === 'token') texts.push(event.text);
      return { texts, error: undefined };
    } catch (error) {
      return { texts, error };
    }
  };
  const metric = async (name: string, labels: Record<string, string> = {}, series = name) => {
    const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
    const hit = values.find(
      (v) =>
        ('metricName' in v ? v.metricName : name) === series &&
        Object.entries(labels).every(([k, x]) => v.labels[k] === x),
    );
    return hit?.value ?? 0;
  };
  return { service, provider, start, run, metric, clock, passOpenTime };
}

describe('LlmService circuit breaker', () => {
  it('opens after exactly `threshold` consecutive failures, then refuses without calling the provider', async () => {
    const { service, provider, run, start, metric } = setup(
      inTurn(failing(unreachable), failing(unreachable), answer('ok'), failing(unreachable)),
      {
        LLM_BREAKER_OPEN_MS: '30000',
      },
    );
    expect(await metric('circuit_breaker_state', { breaker: 'fake' })).toBe(0);
    await run();
    await run();
    expect((await run()).texts).toEqual(['ok']); // a success resets the count
    await run();
    await run();
    expect(service.breakerState()).toBe('closed');
    expect((await run()).error).toBeInstanceOf(LlmUnavailableError);
    expect(service.breakerState()).toBe('open');
    expect(provider.calls).toBe(6);

    const refused = await start().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LlmCircuitOpenError);
    expect(refused).toMatchObject({ status: 503, retryAfterSeconds: 30 });
    await expect(service.listModels()).rejects.toBeInstanceOf(LlmCircuitOpenError);
    expect(provider.calls).toBe(6);
    expect(provider.listCalls).toBe(0);
    expect(await metric('circuit_breaker_state', { breaker: 'fake' })).toBe(1);
    expect(await metric('circuit_breaker_transitions_total', { breaker: 'fake', to: 'open' })).toBe(1);
    expect(await metric('llm_errors_total', { provider: 'fake', kind: 'unreachable' })).toBe(5);
    expect(await metric('llm_errors_total', { provider: 'fake', kind: 'circuit_open' })).toBe(2);
  });

  it('lets exactly one probe through after openMs, refusing a concurrent call; its success closes', async () => {
    const { service, provider, run, start, metric, passOpenTime } = setup(failing(unreachable));
    for (let i = 0; i < 3; i++) await run();
    passOpenTime();
    const { script, release } = held();
    provider.script = script;
    const probe = await start('alice');
    expect(service.breakerState()).toBe('half_open');
    expect(await metric('circuit_breaker_state', { breaker: 'fake' })).toBe(2);
    await expect(start('bob')).rejects.toBeInstanceOf(LlmCircuitOpenError);
    const reading = (async () => {
      const texts: string[] = [];
      for await (const event of probe) if (event.type === 'token') texts.push(event.text);
      return texts;
    })();
    release();
    expect(await reading).toEqual(['first']);
    expect(service.breakerState()).toBe('closed');
    expect(provider.calls).toBe(4);
    provider.script = answer('again');
    expect((await run('bob')).texts).toEqual(['again']);
    const transitions = (to: string) => metric('circuit_breaker_transitions_total', { breaker: 'fake', to });
    expect([await transitions('open'), await transitions('half_open'), await transitions('closed')]).toEqual([
      1, 1, 1,
    ]);
  });

  it('re-opens when the probe fails', async () => {
    const { service, provider, run, start, passOpenTime } = setup(failing(unreachable));
    for (let i = 0; i < 3; i++) await run();
    passOpenTime();
    expect((await run()).error).toBeInstanceOf(LlmUnavailableError);
    expect(service.breakerState()).toBe('open');
    await expect(start()).rejects.toBeInstanceOf(LlmCircuitOpenError);
    expect(provider.calls).toBe(4);
  });

  it('counts an aborted probe as nothing: the next caller becomes the probe', async () => {
    const { service, provider, run, passOpenTime } = setup(failing(unreachable));
    for (let i = 0; i < 3; i++) await run();
    passOpenTime();
    const { script, waiting } = held();
    provider.script = script;
    const client = new AbortController();
    const aborted = run('alice', client.signal);
    await waiting;
    client.abort();
    expect((await aborted).texts).toEqual(['first']);
    expect(service.breakerState()).toBe('half_open');
    provider.script = answer('ok');
    expect((await run('bob')).texts).toEqual(['ok']);
    expect(service.breakerState()).toBe('closed');
  });

  it('counts a failure after tokens, but not a request the server refused as wrong', async () => {
    const { service, run } = setup(
      inTurn(
        failing(() => new ModelNotFoundError('nope')),
        failing(() => new ModelNotFoundError('nope')),
        failing(() => new ModelNotFoundError('nope')),
        failing(unreachable, 'a', 'b'),
      ),
    );
    for (let i = 0; i < 3; i++) expect((await run()).error).toBeInstanceOf(ModelNotFoundError);
    expect(service.breakerState()).toBe('closed');
    for (let i = 0; i < 3; i++) await run();
    expect(service.breakerState()).toBe('open');
  });
});

describe('LlmService retries', () => {
  const env = { LLM_RETRY_ATTEMPTS: '3', LLM_BREAKER_THRESHOLD: '100' };

  it('tries a retryable failure before the first token again, up to LLM_RETRY_ATTEMPTS calls', async () => {
    const { provider, run, metric } = setup(
      failing(() => new LlmUpstreamError(503, 'fake')),
      env,
    );
    expect((await run()).error).toBeInstanceOf(LlmUpstreamError);
    expect(provider.calls).toBe(3);
    expect(await metric('llm_retries_total', { provider: 'fake' })).toBe(2);
    expect(await metric('llm_errors_total', { provider: 'fake', kind: 'upstream' })).toBe(1);

    provider.script = inTurn(failing(unreachable), failing(unreachable), answer('late', 'but', 'fine'));
    expect(await run()).toEqual({ texts: ['late', 'but', 'fine'], error: undefined });
    expect(provider.calls).toBe(6);
  });

  it('never retries an unknown model or a 4xx answer', async () => {
    const { provider, run } = setup(
      failing(() => new ModelNotFoundError('nope')),
      env,
    );
    expect((await run()).error).toBeInstanceOf(ModelNotFoundError);
    provider.script = failing(() => new LlmUpstreamError(400, 'fake'));
    expect((await run()).error).toMatchObject({ upstreamStatus: 400 });
    expect(provider.calls).toBe(2);
  });

  it('never retries once a token was sent: the failure reaches the consumer after the tokens', async () => {
    const { provider, run } = setup(failing(unreachable, 'one', 'two'), env);
    const { texts, error } = await run();
    expect(texts).toEqual(['one', 'two']);
    expect(error).toBeInstanceOf(LlmUnavailableError);
    expect(provider.calls).toBe(1);
  });

  it('stops waiting out the backoff when the client leaves, and gives the slots back at once', async () => {
    // Math.random 0.5: cockatiel's decorrelated jitter then waits 0.9 × LLM_RETRY_BASE_MS, here 54 minutes: the
    // test ends in time only if the abort ends the wait.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      const { provider, run, metric } = setup(failing(unreachable), {
        ...env,
        LLM_RETRY_BASE_MS: '3600000',
        LLM_MAX_CONCURRENT_PER_USER: '1',
        LLM_MAX_CONCURRENT: '1',
        LLM_QUEUE_SIZE: '0',
      });
      const client = new AbortController();
      const leaving = run('alice', client.signal);
      // Counted just as the backoff begins.
      await vi.waitFor(async () => expect(await metric('llm_retries_total', { provider: 'fake' })).toBe(1));
      const reason = new Error('the client disconnected');
      client.abort(reason);
      const { error } = await leaving;
      expect(error).toBe(reason);
      expect(provider.calls).toBe(1); // not tried again for nobody
      expect(await metric('llm_generations_in_flight')).toBe(0);
      expect(await metric('llm_requests_total', { provider: 'fake', outcome: 'aborted' })).toBe(1);
      // Both of alice's slots came back: her one per-user slot and the one instance slot.
      provider.script = answer('again');
      expect((await run('alice')).texts).toEqual(['again']);
    } finally {
      random.mockRestore();
    }
  });

  it('retries listing the models too', async () => {
    const { provider, service } = setup(answer(), env);
    let failures = 2;
    provider.listResult = async () => {
      if (failures-- > 0) throw unreachable();
      return [{ name: 'm:latest', size: 1, modifiedAt: null }];
    };
    expect(await service.listModels()).toEqual([{ name: 'm:latest', size: 1, modifiedAt: null }]);
    expect(provider.listCalls).toBe(3);
  });
});

describe('LlmService concurrency limits', () => {
  it('refuses the (limit+1)th generation of one caller at once, others unaffected, slots released at the end', async () => {
    const { script, release } = held();
    const { start, run, provider } = setup(script, { LLM_MAX_CONCURRENT_PER_USER: '2' });
    const first = await start('alice');
    await start('alice');
    await expect(start('alice')).rejects.toBeInstanceOf(LlmUserLimitError);
    await expect(start('alice')).rejects.toMatchObject({ status: 429 });
    const bob = run('bob');
    release();
    expect((await bob).texts).toEqual(['first']);
    for await (const _ of first);
    await start('alice'); // the slot of the finished one came back
    await expect(start('alice')).rejects.toBeInstanceOf(LlmUserLimitError);
    expect(provider.calls).toBe(2);
  });

  it('gives the caller slot back after an error, an early break, and a generation never read', async () => {
    const { provider, start, run, metric } = setup(failing(unreachable), {
      LLM_MAX_CONCURRENT_PER_USER: '1',
      LLM_BREAKER_THRESHOLD: '100',
    });
    expect((await run()).error).toBeInstanceOf(LlmUnavailableError);
    provider.script = answer('a', 'b', 'c');
    for await (const event of await start()) if (event.type === 'token') break;
    await (await start())[Symbol.asyncIterator]().return?.();
    expect((await run()).texts).toEqual(['a', 'b', 'c']);
    expect(await metric('llm_generations_in_flight')).toBe(0);
    expect(await metric('llm_requests_total', { provider: 'fake', outcome: 'aborted' })).toBe(2);
  });

  it('queues beyond LLM_MAX_CONCURRENT and refuses with LlmBusyError once the queue is full', async () => {
    const { script, release } = held();
    const { start, metric } = setup(script, { LLM_MAX_CONCURRENT: '1', LLM_QUEUE_SIZE: '1' });
    const running = await start('a');
    const queued = start('b');
    await expect(start('c')).rejects.toBeInstanceOf(LlmBusyError);
    expect(await metric('llm_queue_length')).toBe(1);
    expect(await metric('llm_generations_in_flight')).toBe(1);
    release();
    for await (const _ of running);
    const next = await queued;
    expect(await metric('llm_queue_length')).toBe(0);
    for await (const _ of next);
    expect(await metric('llm_generations_in_flight')).toBe(0);
  });

  it('takes a queued request whose client left out of the queue at once', async () => {
    const { script, release } = held();
    const { start } = setup(script, { LLM_MAX_CONCURRENT: '1', LLM_QUEUE_SIZE: '1' });
    const running = await start('a');
    const client = new AbortController();
    const leaving = start('b', client.signal);
    client.abort();
    await expect(leaving).rejects.toMatchObject({ name: 'AbortError' });
    const queued = start('c'); // the freed place in the queue
    release();
    for await (const _ of running);
    for await (const _ of await queued);
  });

  it('gives the slots back on a client abort and counts it neither as success nor as failure', async () => {
    const { script, waiting } = held();
    const { service, provider, run, metric } = setup(script, { LLM_MAX_CONCURRENT_PER_USER: '1' });
    provider.script = failing(unreachable);
    await run();
    await run();
    provider.script = script;
    const client = new AbortController();
    const aborted = run('alice', client.signal);
    await waiting;
    client.abort();
    expect((await aborted).error).toBeInstanceOf(LlmUnavailableError);
    expect(service.breakerState()).toBe('closed'); // 2 of 3 failures: the abort did not count
    expect(await metric('llm_requests_total', { provider: 'fake', outcome: 'aborted' })).toBe(1);
    provider.script = failing(unreachable);
    await run('alice'); // the slot came back, and this third failure opens the breaker
    expect(service.breakerState()).toBe('open');
  });
});

describe('LlmService catalog', () => {
  it('answers the models, or the public message of an LlmError, or a generic one for anything else', async () => {
    const { service, provider, run } = setup(failing(unreachable));
    expect(await service.catalog({ requestId: 'req-1' })).toEqual({
      available: true,
      models: [{ name: 'm:latest', size: null, modifiedAt: null }],
    });
    provider.listResult = async () => Promise.reject(new LlmUpstreamError(500, 'fake'));
    expect(await service.catalog()).toEqual({
      available: false,
      error: 'The fake service answered with an error (HTTP 500)',
    });
    provider.listResult = async () => Promise.reject(new TypeError('secret internals at 10.0.0.7'));
    expect(await service.catalog()).toEqual({ available: false, error: CATALOG_UNREACHABLE });
    expect(CATALOG_UNREACHABLE).toBe('The LLM server could not be reached');
    for (let i = 0; i < 3; i++) await run();
    expect(await service.catalog()).toEqual({
      available: false,
      error: 'The fake service is temporarily unavailable (circuit breaker open)',
    });
  });
});

describe('LlmService model details', () => {
  it('asks the provider with the normalised name and passes the request id and signal', async () => {
    const { service, provider } = setup(answer(), { DEFAULT_MODEL: 'qwen2:0.5b' });
    const signal = new AbortController().signal;
    expect(await service.showModel(' tinyllama ', { requestId: 'req-1', signal })).toEqual(
      details('qwen2:0.5b'),
    );
    expect(await service.showModel('llama3:8b')).toMatchObject({ name: 'llama3:8b' });
    expect(provider.shown).toEqual([
      { name: 'qwen2:0.5b', options: { requestId: 'req-1', signal } },
      { name: 'llama3:8b', options: {} },
    ]);
  });

  it('retries a retryable failure, never an unknown model, and counts the errors', async () => {
    const { service, provider, metric } = setup(answer(), { LLM_RETRY_ATTEMPTS: '3' });
    let failures = 2;
    provider.showResult = async (name) => {
      if (failures-- > 0) throw unreachable();
      return details(name);
    };
    expect(await service.showModel('m:latest')).toMatchObject({ name: 'm:latest' });
    expect(provider.shown).toHaveLength(3);
    expect(await metric('llm_retries_total', { provider: 'fake' })).toBe(2);
    provider.showResult = async (name) => Promise.reject(new ModelNotFoundError(name));
    await expect(service.showModel('nope:1b')).rejects.toMatchObject({
      constructor: ModelNotFoundError,
      message: "Model 'nope:1b' not found",
    });
    expect(provider.shown).toHaveLength(4);
    expect(await metric('llm_errors_total', { provider: 'fake', kind: 'model_not_found' })).toBe(1);
  });

  it('closes a half-open breaker as its probe, but never wipes out the failures counted', async () => {
    const { service, provider, run, passOpenTime } = setup(failing(unreachable));
    await run();
    await run();
    await service.showModel('m:latest'); // the server answers /api/show while every chat fails
    await run();
    expect(service.breakerState()).toBe('open');
    await expect(service.showModel('m:latest')).rejects.toBeInstanceOf(LlmCircuitOpenError);
    expect(provider.shown).toHaveLength(1);
    passOpenTime();
    await service.showModel('m:latest');
    expect(service.breakerState()).toBe('closed');
  });
});

describe('LlmService embeddings', () => {
  const embedOf = (service: LlmService, key = 'alice', signal?: AbortSignal) =>
    service.embed('m:latest', ['a', 'b'], { key, ...(signal ? { signal } : {}) });

  /** An embedding call that waits for release(), or fails as an adapter does when its caller aborts. */
  function heldEmbedding(provider: FakeProvider) {
    let release = () => {};
    provider.embedResult = (model, inputs, options) =>
      new Promise((resolve, reject) => {
        options?.signal?.addEventListener('abort', () => reject(unreachable()), { once: true });
        release = () => resolve({ model, embeddings: inputs.map(() => [1]), promptTokens: null });
      });
    return () => release();
  }

  it('embeds with the normalised model, the signal and the request id, and counts it', async () => {
    const { service, provider, metric } = setup(answer(), { DEFAULT_MODEL: 'all-minilm:latest' });
    const signal = new AbortController().signal;
    const result = await service.embed('', ['one', 'two'], { key: 'alice', requestId: 'req-9', signal });
    expect(result).toEqual({
      model: 'all-minilm:latest',
      embeddings: [
        [0, 1],
        [1, 1],
      ],
      promptTokens: 2,
    });
    expect(provider.embedded).toEqual([
      { model: 'all-minilm:latest', inputs: ['one', 'two'], options: { signal, requestId: 'req-9' } },
    ]);
    expect(await metric('llm_embedding_requests_total', { provider: 'fake', outcome: 'success' })).toBe(1);
    expect(await metric('llm_tokens_total', { provider: 'fake', direction: 'prompt' })).toBe(2);
    expect(
      await metric(
        'llm_embedding_duration_seconds',
        { provider: 'fake' },
        'llm_embedding_duration_seconds_count',
      ),
    ).toBe(1);
    // Not a generation.
    expect(await metric('llm_requests_total', { provider: 'fake', outcome: 'success' })).toBe(0);
  });

  it('counts for the breaker as a generation: failures add up, a success resets the count', async () => {
    const { service, provider, run } = setup(failing(unreachable), { LLM_BREAKER_OPEN_MS: '30000' });
    const fail = async () => {
      provider.embedResult = async () => Promise.reject(unreachable());
      await expect(embedOf(service)).rejects.toBeInstanceOf(LlmUnavailableError);
    };
    await fail();
    await fail();
    provider.embedResult = async (model, inputs) => ({
      model,
      embeddings: inputs.map(() => [1]),
      promptTokens: 1,
    });
    await embedOf(service); // resets: two more failures do not open
    await run();
    await fail();
    expect(service.breakerState()).toBe('closed');
    // An unknown model is not the server's fault.
    provider.embedResult = async (model) => Promise.reject(new ModelNotFoundError(model));
    await expect(embedOf(service)).rejects.toBeInstanceOf(ModelNotFoundError);
    expect(service.breakerState()).toBe('closed');
    await fail(); // the third consecutive failure of the server
    expect(service.breakerState()).toBe('open');
    const calls = provider.embedded.length;
    await expect(embedOf(service)).rejects.toBeInstanceOf(LlmCircuitOpenError);
    expect(provider.embedded).toHaveLength(calls);
  });

  it('may be the half-open probe: its failure re-opens, its success closes', async () => {
    const { service, provider, run, passOpenTime } = setup(failing(unreachable));
    for (let i = 0; i < 3; i++) await run();
    passOpenTime();
    provider.embedResult = async () => Promise.reject(unreachable());
    await expect(embedOf(service)).rejects.toBeInstanceOf(LlmUnavailableError);
    expect(service.breakerState()).toBe('open');
    passOpenTime();
    const release = heldEmbedding(provider);
    const probe = embedOf(service, 'alice');
    await vi.waitFor(() => expect(service.breakerState()).toBe('half_open'));
    await expect(embedOf(service, 'bob')).rejects.toBeInstanceOf(LlmCircuitOpenError);
    release();
    await probe;
    expect(service.breakerState()).toBe('closed');
  });

  it('retries a retryable failure, up to LLM_RETRY_ATTEMPTS calls', async () => {
    const { service, provider, metric } = setup(answer(), { LLM_RETRY_ATTEMPTS: '3' });
    let failures = 2;
    provider.embedResult = async (model, inputs) => {
      if (failures-- > 0) throw new LlmUpstreamError(503, 'fake');
      return { model, embeddings: inputs.map(() => [1]), promptTokens: null };
    };
    expect((await embedOf(service)).embeddings).toEqual([[1], [1]]);
    expect(provider.embedded).toHaveLength(3);
    expect(await metric('llm_retries_total', { provider: 'fake' })).toBe(2);
    provider.embedResult = async () => Promise.reject(new LlmUpstreamError(400, 'fake'));
    await expect(embedOf(service)).rejects.toMatchObject({ upstreamStatus: 400 });
    expect(provider.embedded).toHaveLength(4);
  });

  it("takes the caller's slot and an instance slot until it ends", async () => {
    const { service, provider, start, metric } = setup(answer('ok'), {
      LLM_MAX_CONCURRENT_PER_USER: '1',
      LLM_MAX_CONCURRENT: '1',
      LLM_QUEUE_SIZE: '0',
    });
    const release = heldEmbedding(provider);
    const pending = embedOf(service, 'alice');
    await vi.waitFor(() => expect(provider.embedded).toHaveLength(1));
    expect(await metric('llm_generations_in_flight')).toBe(1);
    await expect(start('alice')).rejects.toBeInstanceOf(LlmUserLimitError);
    await expect(embedOf(service, 'alice')).rejects.toBeInstanceOf(LlmUserLimitError);
    await expect(embedOf(service, 'bob')).rejects.toBeInstanceOf(LlmBusyError);
    release();
    await pending;
    expect(await metric('llm_generations_in_flight')).toBe(0);
    provider.embedResult = async (model) => ({ model, embeddings: [[1], [2]], promptTokens: null });
    await embedOf(service, 'alice');
  });

  it('gives the slots back when the client leaves, mid-call or in a backoff, counting nothing', async () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5); // backoff: 0.9 × 1 h, ended only by the abort
    try {
      const { service, provider, metric } = setup(answer(), {
        LLM_MAX_CONCURRENT_PER_USER: '1',
        LLM_RETRY_ATTEMPTS: '3',
        LLM_RETRY_BASE_MS: '3600000',
        LLM_BREAKER_THRESHOLD: '1',
      });
      heldEmbedding(provider);
      const client = new AbortController();
      const midCall = embedOf(service, 'alice', client.signal);
      await vi.waitFor(() => expect(provider.embedded).toHaveLength(1));
      client.abort();
      await expect(midCall).rejects.toBeInstanceOf(LlmUnavailableError); // what the adapter threw
      expect(service.breakerState()).toBe('closed'); // threshold 1, yet nothing counted

      provider.embedResult = async () => Promise.reject(unreachable());
      const leaving = new AbortController();
      const inBackoff = embedOf(service, 'alice', leaving.signal);
      // Counted just as the backoff begins.
      await vi.waitFor(async () => expect(await metric('llm_retries_total', { provider: 'fake' })).toBe(1));
      leaving.abort();
      await expect(inBackoff).rejects.toMatchObject({ name: 'AbortError' });
      expect(provider.embedded).toHaveLength(2);
      expect(service.breakerState()).toBe('closed');
      expect(await metric('llm_embedding_requests_total', { provider: 'fake', outcome: 'aborted' })).toBe(2);
      provider.embedResult = async (model) => ({ model, embeddings: [[1], [2]], promptTokens: null });
      await embedOf(service, 'alice'); // alice's one slot is free again
    } finally {
      random.mockRestore();
    }
  });
});

describe('LlmService', () => {
  it('normalises an empty or "tinyllama" model to DEFAULT_MODEL', () => {
    const { service } = setup(answer(), { DEFAULT_MODEL: 'qwen2:0.5b' });
    expect(
      [null, undefined, '', '  ', 'tinyllama', ' llama3 '].map((m) => service.normaliseModel(m)),
    ).toEqual(['qwen2:0.5b', 'qwen2:0.5b', 'qwen2:0.5b', 'qwen2:0.5b', 'qwen2:0.5b', 'llama3']);
  });

  it('counts requests, tokens, time to first token and duration of a generation', async () => {
    const { run, metric } = setup(answer('a', 'b'));
    await run();
    expect(await metric('llm_requests_total', { provider: 'fake', outcome: 'success' })).toBe(1);
    expect(await metric('llm_tokens_total', { provider: 'fake', direction: 'prompt' })).toBe(7);
    expect(await metric('llm_tokens_total', { provider: 'fake', direction: 'completion' })).toBe(2);
    const count = (name: string) => metric(name, { provider: 'fake' }, `${name}_count`);
    expect(await count('llm_time_to_first_token_seconds')).toBe(1);
    expect(await count('llm_request_duration_seconds')).toBe(1);
  });
});
