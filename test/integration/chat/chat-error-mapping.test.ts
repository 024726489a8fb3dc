// What a failed LLM call answers (JSON, and SSE where the stream had not opened): unknown model 404, upstream error
// 502, unreachable 503, first-token timeout 504, never a 500. After each, the session holds the user's message and
// an assistant message with status "error" and the reason, and the failure is counted in the metrics.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import {
  chat,
  closedPortUrl,
  eventually,
  generations,
  metrics,
  storedMessages,
  type ErrorAnswer,
} from './chat-resilience.helpers.js';

const COUNTERS = {
  userComplete: ['chat_messages_total', { role: 'user', status: 'complete' }],
  assistantError: ['chat_messages_total', { role: 'assistant', status: 'error' }],
  retries: ['llm_retries_total', { provider: 'ollama' }],
} satisfies Record<string, [string, Record<string, string>]>;

const errorsOf = (kind: string): [string, Record<string, string>] => [
  'llm_errors_total',
  { provider: 'ollama', kind },
];

describeEachDialect('chat LLM error answers', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let token: string;
  const extraApps: TestApp[] = [];

  /** Another app on the same database dialect, closed after the test. */
  async function appWith(env: Record<string, string>): Promise<{ app: TestApp; token: string }> {
    const app = await buildTestApp({ dialect, env: { LLM_RETRY_BASE_MS: '1', ...env } });
    extraApps.push(app);
    return { app, token: (await registerAndLogin(app.app)).tokens.access_token };
  }

  /** The session holds the user's message and a failed answer whose reason is `reason`. */
  async function expectStoredFailure(app: TestApp, owner: string, sessionId: string, reason: RegExp) {
    const messages = await storedMessages(app.app, owner, sessionId);
    expect(messages.map((m) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'error'],
    ]);
    expect(messages[0]?.content).toBe('Hello?');
    expect(messages[1]?.content).toBe('');
    expect(messages[1]?.error).toMatch(reason);
  }

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    // The breaker stays out of the way: these tests fail on purpose, in any order.
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', LLM_BREAKER_THRESHOLD: '1000' },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(async () => {
    await Promise.all(extraApps.splice(0).map((app) => app.close()));
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('an unknown model is 404 "Model \'x\' not found", asked once, stored as an error', async () => {
    const before = await metrics(t.app, { ...COUNTERS, errors: errorsOf('model_not_found') });
    const calls = generations(llm);
    const sessionId = randomUUID();
    const res = await chat(t.app, { message: 'Hello?', model: 'x', session_id: sessionId }, { token });
    expect(res.statusCode, res.body).toBe(404);
    expect(res.json<ErrorAnswer>()).toMatchObject({ detail: "Model 'x' not found", code: 'model_not_found' });
    expect(generations(llm)).toBe(calls + 1);
    await expectStoredFailure(t, token, sessionId, /^Model 'x' not found$/);

    const after = await metrics(t.app, { ...COUNTERS, errors: errorsOf('model_not_found') });
    expect(after).toEqual({
      ...before,
      userComplete: before.userComplete + 1,
      assistantError: before.assistantError + 1,
      errors: before.errors + 1,
    });
  });

  it('an unknown model asked for a stream is a JSON 404 too (the stream had not opened)', async () => {
    const res = await chat(t.app, { message: 'Hello?', model: 'nope:7b', stream: true }, { token });
    expect(res.statusCode, res.body).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json<ErrorAnswer>().detail).toBe("Model 'nope:7b' not found");
  });

  it('an upstream 500 is 502, not retried, and its body (markup included) is not echoed', async () => {
    const before = await metrics(t.app, { ...COUNTERS, errors: errorsOf('upstream') });
    const calls = generations(llm);
    llm.reply({ status: 500, errorBody: { error: '<script>alert(1)</script> runner crashed' } });
    const sessionId = randomUUID();
    const res = await chat(t.app, { message: 'Hello?', session_id: sessionId }, { token });
    expect(res.statusCode, res.body).toBe(502);
    expect(res.json<ErrorAnswer>()).toMatchObject({
      detail: 'The ollama service answered with an error (HTTP 500)',
      code: 'llm_upstream_error',
    });
    expect(res.body).not.toMatch(/script|runner crashed/);
    expect(generations(llm)).toBe(calls + 1);
    await expectStoredFailure(t, token, sessionId, /HTTP 500/);

    const after = await metrics(t.app, { ...COUNTERS, errors: errorsOf('upstream') });
    expect(after).toEqual({
      ...before,
      userComplete: before.userComplete + 1,
      assistantError: before.assistantError + 1,
      errors: before.errors + 1,
    });
  });

  it('an upstream 400 is 502 and is not retried', async () => {
    const before = await metrics(t.app, COUNTERS);
    const calls = generations(llm);
    llm.reply({ status: 400 });
    const sessionId = randomUUID();
    const res = await chat(t.app, { message: 'Hello?', session_id: sessionId }, { token });
    expect(res.statusCode, res.body).toBe(502);
    expect(res.json<ErrorAnswer>().detail).toBe('The ollama service answered with an error (HTTP 400)');
    expect(generations(llm)).toBe(calls + 1);
    await expectStoredFailure(t, token, sessionId, /HTTP 400/);
    expect((await metrics(t.app, COUNTERS)).retries).toBe(before.retries);
  });

  it('an LLM server that is not there is 503, after the retries, and stored as an error', async () => {
    const { app, token: owner } = await appWith({
      OLLAMA_URL: await closedPortUrl(),
      LLM_RETRY_ATTEMPTS: '3',
    });
    const sessionId = randomUUID();
    const res = await chat(app.app, { message: 'Hello?', session_id: sessionId }, { token: owner });
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json<ErrorAnswer>()).toMatchObject({
      detail: 'Cannot connect to the ollama service',
      code: 'llm_unavailable',
    });
    await expectStoredFailure(app, owner, sessionId, /Cannot connect/);

    const after = await metrics(app.app, { ...COUNTERS, errors: errorsOf('unreachable') });
    // Three attempts: two retries, one failed generation.
    expect(after).toEqual({ userComplete: 1, assistantError: 1, retries: 2, errors: 1 });

    // The same over SSE: a refused connection is known before the stream opens.
    const streamed = await chat(app.app, { message: 'Hello?', stream: true }, { token: owner });
    expect(streamed.statusCode, streamed.body).toBe(503);
    expect(streamed.headers['content-type']).toMatch(/^application\/json/);
  });

  it('a model that sends no first token within LLM_FIRST_TOKEN_TIMEOUT_MS is 504, and the call is closed', async () => {
    const { app, token: owner } = await appWith({
      OLLAMA_URL: llm.url,
      LLM_RETRY_ATTEMPTS: '1',
      // undici's timers are coarse (about a second late): small, not tiny.
      LLM_FIRST_TOKEN_TIMEOUT_MS: '1500',
    });
    llm.reply({ hang: true });
    const calls = generations(llm);
    const sessionId = randomUUID();
    const res = await chat(app.app, { message: 'Hello?', session_id: sessionId }, { token: owner });
    expect(res.statusCode, res.body).toBe(504);
    expect(res.json<ErrorAnswer>()).toMatchObject({
      detail: 'The ollama service timed out (before the first token)',
      code: 'llm_timeout',
    });
    expect(generations(llm)).toBe(calls + 1);
    const hung = llm.requests.filter((request) => request.path === '/api/chat').at(-1);
    await eventually('the hung upstream request to be closed', () => hung?.aborted === true);
    await expectStoredFailure(app, owner, sessionId, /timed out/);
    expect(await metrics(app.app, { errors: errorsOf('timeout') })).toEqual({ errors: 1 });
  });
});
