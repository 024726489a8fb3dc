// LlmService against a hand-written fake of the LlmProvider port: breaker, retries, bulkheads and their metrics.
// Breaker timeouts run in real time with small LLM_BREAKER_OPEN_MS values (cockatiel reads Date.now() itself).
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config.js';
import {
  LlmBusyError,
  LlmCircuitOpenError,
  LlmUnavailableError,
  LlmUpstreamError,
  LlmUserLimitError,
  ModelNotFoundError,
} from './llm.errors.js';
import { createLlmMetrics } from './llm.metrics.js';
import type { GenerationEvent, GenerationRequest, LlmProvider, ModelInfo } from './llm.port.js';
import { LlmService } from './llm.service.js';

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

/** A generation that sends one token, then waits for release() — or fails as an adapter would when aborted. */
function held() {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const script: Script = async function* (request) {
    yield { type: 'token', text: 'first' };
    await new Promise<void>((resolve, reject) => {
      // Deliberately a breaker-failure error: an abort must not count whatever the adapter throws.
      request.signal?.addEventListener('abort', () => reject(unreachable()), { once: true });
      void released.then(resolve);
    });
    yield { type: 'done', usage, model: 'm:latest' };
  };
  return { script, release };
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
  const service = new LlmService({ provider, config, metrics: createLlmMetrics(registry) });
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
  return { service, provider, start, run, metric };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
    expect(refused).toMatchObject({ status: 503, headers: { 'Retry-After': '30' } });
    await expect(service.listModels()).rejects.toBeInstanceOf(LlmCircuitOpenError);
    expect(provider.calls).toBe(6);
    expect(provider.listCalls).toBe(0);
    expect(await metric('circuit_breaker_state', { breaker: 'fake' })).toBe(1);
    expect(await metric('circuit_breaker_transitions_total', { breaker: 'fake', to: 'open' })).toBe(1);
    expect(await metric('llm_errors_total', { provider: 'fake', kind: 'unreachable' })).toBe(5);
    expect(await metric('llm_errors_total', { provider: 'fake', kind: 'circuit_open' })).toBe(2);
  });

  it('lets exactly one probe through after openMs, refusing a concurrent call; its success closes', async () => {
    const { service, provider, run, start, metric } = setup(failing(unreachable));
    for (let i = 0; i < 3; i++) await run();
    await sleep(150);
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
    const { service, provider, run, start } = setup(failing(unreachable));
    for (let i = 0; i < 3; i++) await run();
    await sleep(150);
    expect((await run()).error).toBeInstanceOf(LlmUnavailableError);
    expect(service.breakerState()).toBe('open');
    await expect(start()).rejects.toBeInstanceOf(LlmCircuitOpenError);
    expect(provider.calls).toBe(4);
  });

  it('counts an aborted probe as nothing: the next caller becomes the probe', async () => {
    const { service, provider, run } = setup(failing(unreachable));
    for (let i = 0; i < 3; i++) await run();
    await sleep(150);
    const { script } = held();
    provider.script = script;
    const client = new AbortController();
    const aborted = run('alice', client.signal);
    await sleep(5);
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
    const { script } = held();
    const { service, provider, run, metric } = setup(script, { LLM_MAX_CONCURRENT_PER_USER: '1' });
    provider.script = failing(unreachable);
    await run();
    await run();
    provider.script = script;
    const client = new AbortController();
    const aborted = run('alice', client.signal);
    await sleep(5);
    client.abort();
    expect((await aborted).error).toBeInstanceOf(LlmUnavailableError);
    expect(service.breakerState()).toBe('closed'); // 2 of 3 failures: the abort did not count
    expect(await metric('llm_requests_total', { provider: 'fake', outcome: 'aborted' })).toBe(1);
    provider.script = failing(unreachable);
    await run('alice'); // the slot came back, and this third failure opens the breaker
    expect(service.breakerState()).toBe('open');
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
