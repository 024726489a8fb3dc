// The circuit breaker around chat generations (LLM_BREAKER_THRESHOLD=5, LLM_BREAKER_OPEN_MS=30 s, no retries): it
// opens after five failed generations and then refuses at once (503 llm_circuit_open, Retry-After) without calling
// the server; after the open time exactly one probe goes through; its success closes the circuit, its failure
// re-opens it. The state shows in /api/v1/chat/health and in Prometheus. Each test has a fresh app (a fresh breaker)
// on a ManualClock that the test moves through the open time.
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { chat, generations, metric, metrics, type ErrorAnswer } from './chat-resilience.helpers.js';

const OPEN_MS = 30_000;

const BREAKER = {
  state: ['circuit_breaker_state', { breaker: 'ollama' }],
  toOpen: ['circuit_breaker_transitions_total', { breaker: 'ollama', to: 'open' }],
  toHalfOpen: ['circuit_breaker_transitions_total', { breaker: 'ollama', to: 'half_open' }],
  toClosed: ['circuit_breaker_transitions_total', { breaker: 'ollama', to: 'closed' }],
} satisfies Record<string, [string, Record<string, string>]>;

describeEachDialect('chat circuit breaker', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let token: string;
  let clock: ManualClock;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
  });
  beforeEach(async () => {
    clock = new ManualClock();
    t = await buildTestApp({
      dialect,
      clock,
      env: {
        OLLAMA_URL: llm.url,
        LLM_BREAKER_THRESHOLD: '5',
        LLM_BREAKER_OPEN_MS: String(OPEN_MS),
        LLM_RETRY_ATTEMPTS: '1',
        LLM_RETRY_BASE_MS: '1',
      },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(async () => {
    await t?.close();
    llm.assertNoUnexpected();
  });
  afterAll(() => llm?.close());

  const health = async () => {
    const res = await t.app.inject({ url: '/api/v1/chat/health' });
    expect(res.statusCode, res.body).toBe(200);
    const answer = res.json<{ status: string; circuit_breaker: string; timestamp: string }>();
    expect(answer.timestamp).toBe(clock.now().toISOString());
    return answer;
  };

  /** Five failed generations (upstream 500 → 502): the fifth opens the circuit. */
  async function openTheCircuit(): Promise<void> {
    for (let i = 1; i <= 5; i++) {
      expect(t.app.llm.breakerState()).toBe('closed');
      llm.reply({ status: 500 });
      const res = await chat(t.app, { message: `failure ${i}` }, { token });
      expect(res.statusCode, res.body).toBe(502);
    }
  }

  async function expectRefused(payload: Record<string, unknown> = {}): Promise<void> {
    const calls = generations(llm);
    const res = await chat(t.app, { message: 'Anyone there?', ...payload }, { token });
    expect(res.statusCode, res.body).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json<ErrorAnswer>()).toMatchObject({
      code: 'llm_circuit_open',
      detail: 'The ollama service is temporarily unavailable (circuit breaker open)',
    });
    const left = Number(res.headers['retry-after']);
    expect(left).toBeGreaterThanOrEqual(1);
    expect(left).toBeLessThanOrEqual(OPEN_MS / 1000);
    expect(generations(llm), 'a refused chat must not reach the LLM server').toBe(calls);
  }

  it('opens after five failures and then refuses at once with 503 and Retry-After, JSON or stream', async () => {
    const calls = generations(llm);
    await openTheCircuit();
    expect(generations(llm)).toBe(calls + 5);

    await expectRefused();
    await expectRefused({ stream: true });
    expect(await health()).toMatchObject({ status: 'unhealthy', circuit_breaker: 'open' });
    expect(await metrics(t.app, BREAKER)).toEqual({ state: 1, toOpen: 1, toHalfOpen: 0, toClosed: 0 });
    // The two refused chats, and the model list of the health check, refused too.
    expect(await metric(t.app, 'llm_errors_total', { provider: 'ollama', kind: 'circuit_open' })).toBe(3);
    expect(await metric(t.app, 'llm_errors_total', { provider: 'ollama', kind: 'upstream' })).toBe(5);
  });

  it('four failures and a success leave it closed: failures must be consecutive', async () => {
    for (let i = 0; i < 4; i++) llm.reply({ status: 500 });
    llm.reply({ tokens: ['ok'] });
    for (let i = 0; i < 4; i++) llm.reply({ status: 500 });
    llm.reply({ tokens: ['still ok'] });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++)
      statuses.push((await chat(t.app, { message: `try ${i}` }, { token })).statusCode);
    expect(statuses).toEqual([502, 502, 502, 502, 200, 502, 502, 502, 502, 200]);
    expect(await health()).toMatchObject({ circuit_breaker: 'closed' });
    expect(await metric(t.app, BREAKER.toOpen[0], BREAKER.toOpen[1])).toBe(0);
  });

  // A successful model list (GET /api/v1/chat/health, which a monitor may poll) must not reset the count of failed
  // generations: an LLM server whose /api/tags works while every /api/chat fails would never trip the breaker.
  it('health checks between failed generations do not keep the circuit closed', async () => {
    for (let i = 1; i <= 5; i++) {
      expect(await health()).toMatchObject({ status: 'healthy' });
      llm.reply({ status: 500 });
      const res = await chat(t.app, { message: `failure ${i}` }, { token });
      expect(res.statusCode, res.body).toBe(502);
    }
    expect(t.app.llm.breakerState()).toBe('open');
  });

  it('after the open time one probe goes through; others are refused meanwhile; its success closes it', async () => {
    await openTheCircuit();
    clock.advance(OPEN_MS - 1);
    await expectRefused();
    clock.advance(1);
    const calls = generations(llm);
    // A slow answer keeps the probe running while a second chat arrives.
    llm.reply({ tokens: ['pro', 'be', ' ok', '!'], tokenDelayMs: 150 });
    const probe = chat(t.app, { message: 'probe' }, { token });
    await llm.waitForRequests(llm.requests.length + 1);
    expect(generations(llm)).toBe(calls + 1);

    await expectRefused();
    expect(await health()).toMatchObject({ circuit_breaker: 'half_open' });

    const probed = await probe;
    expect(probed.statusCode, probed.body).toBe(200);
    expect(probed.json()).toMatchObject({ response: 'probe ok!' });
    expect(await health()).toMatchObject({ status: 'healthy', circuit_breaker: 'closed' });

    // Closed: chats reach the LLM server again.
    llm.reply({ tokens: ['back'] }, { tokens: ['again'] });
    for (const expected of ['back', 'again']) {
      const res = await chat(t.app, { message: 'hello' }, { token });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ response: expected });
    }
    expect(generations(llm)).toBe(calls + 3);
    expect(await metrics(t.app, BREAKER)).toEqual({ state: 0, toOpen: 1, toHalfOpen: 1, toClosed: 1 });
  });

  it('a failing probe re-opens the circuit for another open time', async () => {
    await openTheCircuit();
    clock.advance(OPEN_MS);
    const calls = generations(llm);
    llm.reply({ status: 500 });
    const probe = await chat(t.app, { message: 'probe' }, { token });
    expect(probe.statusCode, probe.body).toBe(502);
    expect(generations(llm)).toBe(calls + 1);

    await expectRefused();
    expect(await health()).toMatchObject({ circuit_breaker: 'open' });
    expect(await metrics(t.app, BREAKER)).toEqual({ state: 1, toOpen: 2, toHalfOpen: 1, toClosed: 0 });

    // And it probes again after that open time.
    clock.advance(OPEN_MS);
    llm.reply({ tokens: ['recovered'] });
    const again = await chat(t.app, { message: 'probe again' }, { token });
    expect(again.statusCode, again.body).toBe(200);
    expect(await health()).toMatchObject({ circuit_breaker: 'closed' });
  });
});
