// Retries of a chat's LLM call (LLM_RETRY_ATTEMPTS=3): only for connection errors and 502/503/504 before the first
// token, never for a 4xx, never once a token has been sent. A stream that breaks after its first token is stored as
// "partial" with what came, and ends with an error (a JSON error answer, or an `error` event after the tokens).
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import {
  chat,
  generations,
  metrics,
  sseEvents,
  storedMessages,
  type ErrorAnswer,
} from './chat-resilience.helpers.js';

const COUNTERS = {
  retries: ['llm_retries_total', { provider: 'ollama' }],
  success: ['llm_requests_total', { provider: 'ollama', outcome: 'success' }],
  failed: ['llm_requests_total', { provider: 'ollama', outcome: 'error' }],
  complete: ['chat_messages_total', { role: 'assistant', status: 'complete' }],
  partial: ['chat_messages_total', { role: 'assistant', status: 'partial' }],
  error: ['chat_messages_total', { role: 'assistant', status: 'error' }],
} satisfies Record<string, [string, Record<string, string>]>;

describeEachDialect('chat retries and broken streams', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({
      dialect,
      env: {
        OLLAMA_URL: llm.url,
        LLM_RETRY_ATTEMPTS: '3',
        LLM_RETRY_BASE_MS: '1',
        // These tests fail on purpose, in any order: the breaker stays out of the way.
        LLM_BREAKER_THRESHOLD: '1000',
      },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  /** Sends one message in a new session of the test user: the answer, the upstream calls it took, the counters. */
  async function send(payload: Record<string, unknown>) {
    const before = await metrics(t.app, COUNTERS);
    const calls = generations(llm);
    const sessionId = randomUUID();
    const res = await chat(t.app, { message: 'Hello?', session_id: sessionId, ...payload }, { token });
    const after = await metrics(t.app, COUNTERS);
    const keys = Object.keys(COUNTERS) as (keyof typeof COUNTERS)[];
    const delta = Object.fromEntries(keys.map((key) => [key, after[key] - before[key]]));
    const stored = await storedMessages(t.app, token, sessionId);
    return { res, upstreamCalls: generations(llm) - calls, delta, stored };
  }

  it('503 then 502 then an answer: 200 after three upstream calls, stored once', async () => {
    llm.reply({ status: 503 }, { status: 502 }, { tokens: ['Fine', ', thanks'] });
    const { res, upstreamCalls, delta, stored } = await send({});
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ response: 'Fine, thanks', status: 'success' });
    expect(upstreamCalls).toBe(3);
    expect(delta).toMatchObject({ retries: 2, success: 1, failed: 0, complete: 1 });
    // A retry sends the same conversation again, and stores nothing twice.
    const bodies = llm.requests.slice(-3).map((request) => request.body);
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    expect(stored.map((m) => [m.role, m.status, m.content])).toEqual([
      ['user', 'complete', 'Hello?'],
      ['assistant', 'complete', 'Fine, thanks'],
    ]);
  });

  it('504 twice then an answer: 200, also as a stream', async () => {
    llm.reply({ status: 504 }, { status: 504 }, { tokens: ['ok'] });
    const json = await send({});
    expect(json.res.statusCode, json.res.body).toBe(200);
    expect(json.upstreamCalls).toBe(3);
    expect(json.delta.retries).toBe(2);

    llm.reply({ status: 504 }, { status: 504 }, { tokens: ['o', 'k'] });
    const streamed = await send({ stream: true });
    expect(streamed.res.statusCode, streamed.res.body).toBe(200);
    const events = sseEvents(streamed.res.body);
    expect(events.map((e) => e.event)).toEqual(['start', 'token', 'token', 'end']);
    expect(streamed.upstreamCalls).toBe(3);
    expect(streamed.stored.at(-1)).toMatchObject({ status: 'complete', content: 'ok' });
  });

  it('three 503s exhaust LLM_RETRY_ATTEMPTS: 502 after three calls, stored as an error', async () => {
    llm.reply({ status: 503 }, { status: 503 }, { status: 503 });
    const { res, upstreamCalls, delta, stored } = await send({});
    expect(res.statusCode, res.body).toBe(502);
    expect(res.json<ErrorAnswer>().detail).toBe('The ollama service answered with an error (HTTP 503)');
    expect(upstreamCalls).toBe(3);
    expect(delta).toMatchObject({ retries: 2, failed: 1, error: 1 });
    expect(stored.at(-1)).toMatchObject({ role: 'assistant', status: 'error' });
  });

  it('a connection dropped before the first token is retried', async () => {
    llm.reply({ tokens: ['lost'], dropAfterTokens: 0 }, { tokens: ['Second', ' try'] });
    const { res, upstreamCalls, delta } = await send({});
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ response: 'Second try' });
    expect(upstreamCalls).toBe(2);
    expect(delta).toMatchObject({ retries: 1, success: 1 });
  });

  it('an upstream 400 or an unknown model (404) is not retried', async () => {
    llm.reply({ status: 400 });
    const bad = await send({});
    expect(bad.res.statusCode, bad.res.body).toBe(502);
    expect(bad.upstreamCalls).toBe(1);
    expect(bad.delta.retries).toBe(0);

    const unknown = await send({ model: 'missing:1b' });
    expect(unknown.res.statusCode, unknown.res.body).toBe(404);
    expect(unknown.upstreamCalls).toBe(1);
    expect(unknown.delta.retries).toBe(0);
  });

  it('a stream that breaks after its first tokens is not retried: JSON error, stored as partial', async () => {
    llm.reply({ tokens: ['Hel', 'lo', ' world'], dropAfterTokens: 2 });
    const { res, upstreamCalls, delta, stored } = await send({});
    expect(upstreamCalls).toBe(1);
    expect([502, 503], res.body).toContain(res.statusCode);
    expect(res.json<ErrorAnswer>().code).toMatch(/^llm_/);
    expect(delta).toMatchObject({ retries: 0, failed: 1, partial: 1, complete: 0, error: 0 });
    expect(stored).toHaveLength(2);
    expect(stored[1]).toMatchObject({ role: 'assistant', status: 'partial', content: 'Hello' });
    expect(stored[1]?.error).toBeTruthy();
  });

  it('over SSE the tokens that came are followed by an `error` event; stored as partial', async () => {
    llm.reply({ tokens: ['Hel', 'lo', ' world'], dropAfterTokens: 2 });
    const { res, upstreamCalls, delta, stored } = await send({ stream: true });
    expect(upstreamCalls).toBe(1);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = sseEvents(res.body);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('start');
    expect(names.at(-1)).toBe('error');
    expect(names).not.toContain('end');
    const text = events
      .filter((e) => e.event === 'token')
      .map((e) => e.data.content)
      .join('');
    expect(text).toBe('Hello');
    const error = events.at(-1)?.data;
    expect(error).toMatchObject({ code: expect.stringMatching(/^llm_/) as unknown });
    expect([502, 503]).toContain(error?.status);
    expect(delta).toMatchObject({ retries: 0, partial: 1 });
    expect(stored[1]).toMatchObject({ role: 'assistant', status: 'partial', content: 'Hello' });
  });
});
