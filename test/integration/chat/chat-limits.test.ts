// Generation limits: LLM_MAX_CONCURRENT_PER_USER per user (anonymous clients by address) → 429 beyond, and
// LLM_MAX_CONCURRENT per instance with a bounded queue → 503 llm_busy beyond. The generations that hold the slots
// hang at the stand-in; they are sent over a real socket and aborted by the test, which frees their slots.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect, describeWithRedis } from '../../helpers/dialects.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';
import { startLlmStandIn, type LlmStandIn, type ReceivedRequest } from '../../helpers/llm-stand-in.js';
import {
  chat,
  eventually,
  generations,
  listen,
  metric,
  pendingChat,
  sleep,
  type ErrorAnswer,
  type PendingChat,
} from './chat-resilience.helpers.js';

describeEachDialect('chat generation limits', (dialect) => {
  let llm: LlmStandIn;
  let pending: PendingChat[] = [];
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
  });
  afterEach(async () => {
    // Never leave a request hanging, whatever happened in the test.
    for (const request of pending) request.abort();
    await Promise.all(pending.map((request) => request.done));
    pending = [];
    llm.assertNoUnexpected();
  });
  afterAll(() => llm?.close());

  /** `count` chats that hang at the stand-in until aborted; resolves once the stand-in has them all. */
  async function hang(baseUrl: string, count: number, token?: string): Promise<ReceivedRequest[]> {
    const before = llm.requests.length;
    for (let i = 0; i < count; i++) {
      llm.reply({ hang: true });
      pending.push(pendingChat(baseUrl, { message: `hanging ${i}` }, token));
    }
    await llm.waitForRequests(before + count);
    return llm.requests.slice(before);
  }

  /** Aborts the hanging chats; resolves once the stand-in saw them leave and the app released their slots. */
  async function release(app: TestApp, hung: ReceivedRequest[]): Promise<void> {
    for (const request of pending) request.abort();
    for (const outcome of await Promise.all(pending.map((request) => request.done)))
      expect(outcome).toBeInstanceOf(Error);
    pending = [];
    await eventually('the upstream calls to be closed', () => hung.every((request) => request.aborted));
    await eventually(
      'the generation slots to be released',
      async () => (await metric(app.app, 'llm_generations_in_flight')) === 0,
    );
  }

  function expectRefused(res: Awaited<ReturnType<typeof chat>>, status: number, code: string): void {
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json<ErrorAnswer>().code).toBe(code);
    expect(res.headers['retry-after']).toBe('1');
  }

  describe('per user (LLM_MAX_CONCURRENT_PER_USER=2)', () => {
    let t: TestApp;
    let baseUrl: string;
    beforeAll(async () => {
      t = await buildTestApp({
        dialect,
        env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', LLM_MAX_CONCURRENT_PER_USER: '2' },
      });
      baseUrl = await listen(t.app);
    });
    afterAll(() => t?.close());

    it('a user with two generations running gets 429 for a third; another user still chats', async () => {
      const alice = (await registerAndLogin(t.app)).tokens.access_token;
      const bob = (await registerAndLogin(t.app)).tokens.access_token;
      const refusalsBefore = await metric(t.app, 'llm_errors_total', {
        provider: 'ollama',
        kind: 'user_limit',
      });
      const hung = await hang(baseUrl, 2, alice);

      const calls = generations(llm);
      for (const stream of [false, true]) {
        expectRefused(
          await chat(t.app, { message: 'third', stream }, { token: alice }),
          429,
          'llm_user_limit',
        );
      }
      expect(generations(llm), 'a refused chat must not reach the LLM server').toBe(calls);
      // Nor leave a session behind: not the one it named, and no new one in Alice's list (only the two running).
      const named = randomUUID();
      expectRefused(
        await chat(t.app, { message: 'fourth', session_id: named }, { token: alice }),
        429,
        'llm_user_limit',
      );
      const auth = { authorization: `Bearer ${alice}` };
      const lookup = await t.app.inject({ url: `/api/v1/chat/sessions/${named}`, headers: auth });
      expect(lookup.statusCode).toBe(404);
      const sessions = await t.app.inject({ url: '/api/v1/chat/sessions', headers: auth });
      expect(sessions.json<{ items: unknown[] }>().items).toHaveLength(2);
      expect(await metric(t.app, 'llm_errors_total', { provider: 'ollama', kind: 'user_limit' })).toBe(
        refusalsBefore + 3,
      );

      llm.reply({ tokens: ['hi', ' Bob'] });
      const other = await chat(t.app, { message: 'hello' }, { token: bob });
      expect(other.statusCode, other.body).toBe(200);
      expect(other.json()).toMatchObject({ response: 'hi Bob' });

      // Once the two end (their client left), Alice chats again.
      await release(t, hung);
      llm.reply({ tokens: ['welcome back'] });
      const again = await chat(t.app, { message: 'again' }, { token: alice });
      expect(again.statusCode, again.body).toBe(200);
    });

    it('anonymous clients are limited by address', async () => {
      const user = (await registerAndLogin(t.app)).tokens.access_token;
      // Over a real socket from 127.0.0.1, as inject's default address.
      const hung = await hang(baseUrl, 2);

      const calls = generations(llm);
      expectRefused(await chat(t.app, { message: 'third' }), 429, 'llm_user_limit');
      expect(generations(llm)).toBe(calls);

      llm.reply({ tokens: ['elsewhere'] }, { tokens: ['signed in'] });
      const elsewhere = await chat(t.app, { message: 'hi' }, { remoteAddress: '10.1.2.3' });
      expect(elsewhere.statusCode, elsewhere.body).toBe(200);
      const signedIn = await chat(t.app, { message: 'hi' }, { token: user });
      expect(signedIn.statusCode, signedIn.body).toBe(200);

      await release(t, hung);
      llm.reply({ tokens: ['free again'] });
      const again = await chat(t.app, { message: 'again' });
      expect(again.statusCode, again.body).toBe(200);
    });
  });

  describe('per instance (LLM_MAX_CONCURRENT=1, LLM_QUEUE_SIZE=0)', () => {
    let t: TestApp;
    let baseUrl: string;
    beforeAll(async () => {
      t = await buildTestApp({
        dialect,
        env: {
          OLLAMA_URL: llm.url,
          LLM_RETRY_BASE_MS: '1',
          LLM_MAX_CONCURRENT: '1',
          LLM_QUEUE_SIZE: '0',
        },
      });
      baseUrl = await listen(t.app);
    });
    afterAll(() => t?.close());

    it("with the only slot taken another user's chat is 503 llm_busy; it passes once the slot is free", async () => {
      const alice = (await registerAndLogin(t.app)).tokens.access_token;
      const bob = (await registerAndLogin(t.app)).tokens.access_token;
      const hung = await hang(baseUrl, 1, alice);
      expect(await metric(t.app, 'llm_generations_in_flight')).toBe(1);

      const calls = generations(llm);
      expectRefused(await chat(t.app, { message: 'hello' }, { token: bob }), 503, 'llm_busy');
      expect(generations(llm)).toBe(calls);
      expect(await metric(t.app, 'llm_errors_total', { provider: 'ollama', kind: 'busy' })).toBe(1);

      await release(t, hung);
      llm.reply({ tokens: ['your turn'] });
      const res = await chat(t.app, { message: 'hello' }, { token: bob });
      expect(res.statusCode, res.body).toBe(200);
    });
  });
});

describeWithRedis('chat generation limits shared by two instances through Redis', () => {
  const prefix = `sutazai-test:${randomUUID()}:`;
  let llm: LlmStandIn;
  let admin: Redis;
  let one: TestApp;
  let two: TestApp;
  let pending: PendingChat[] = [];
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    admin = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    await admin.connect();
    const env = {
      OLLAMA_URL: llm.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      LLM_MAX_CONCURRENT_PER_USER: '1',
    };
    one = await buildTestApp({ dialect: 'sqlite', env });
    two = await buildTestApp({ dialect: 'sqlite', env });
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    for (const request of pending) request.abort();
    await Promise.all(pending.map((request) => request.done));
    await one?.close();
    await two?.close();
    await llm?.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('an anonymous client running a generation on one instance gets 429 from the other, then chats once it ends', async () => {
    llm.reply({ hang: true });
    const before = llm.requests.length;
    pending.push(pendingChat(await listen(one.app), { message: 'hanging' }));
    await llm.waitForRequests(before + 1);
    const hung = llm.requests.slice(before);

    const refused = await chat(two.app, { message: 'elsewhere' });
    expect(refused.statusCode, refused.body).toBe(429);
    expect(refused.json<ErrorAnswer>().code).toBe('llm_user_limit');
    // Another address is another client.
    llm.reply({ tokens: ['hi'] });
    const other = await chat(two.app, { message: 'hi' }, { remoteAddress: '10.9.8.7' });
    expect(other.statusCode, other.body).toBe(200);

    for (const request of pending) request.abort();
    await Promise.all(pending.map((request) => request.done));
    pending = [];
    await eventually('the upstream call to be closed', () => hung.every((request) => request.aborted));
    await eventually(
      'the slot to be released on the first instance',
      async () => (await metric(one.app, 'llm_generations_in_flight')) === 0,
    );
    llm.reply({ tokens: ['free again'] });
    // The release reaches Redis asynchronously: the next chat may need a moment.
    let again = await chat(two.app, { message: 'again' });
    for (let tries = 0; again.statusCode === 429 && tries < 50; tries += 1) {
      await sleep(20);
      again = await chat(two.app, { message: 'again' });
    }
    expect(again.statusCode, again.body).toBe(200);
  });
});
