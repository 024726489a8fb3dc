// Anonymous chat owners (issue 10): the original clients send short session ids of their own without a token. Each
// anonymous client is its own owner — its signed sutazai_anon cookie, or, while it keeps none, its address (as
// TRUST_PROXY resolves it) — and sees only its own sessions: the same id from two owners names two sessions, and no
// owner reads, continues, renames, deletes or lists another's, nor a user's; a user never sees anonymous ones.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import type { SessionList, SessionPage } from './chat.helpers.js';

const COOKIE = 'sutazai_anon';

/** Who sends a request: an address (X-Forwarded-For, trusted here), a cookie it sends back, or a token. */
interface Client {
  ip?: string;
  cookie?: string;
  token?: string;
}

function headersOf(client: Client): Record<string, string> {
  return {
    ...(client.ip === undefined ? {} : { 'x-forwarded-for': client.ip }),
    ...(client.cookie === undefined ? {} : { cookie: `${COOKIE}=${client.cookie}` }),
    ...(client.token === undefined ? {} : bearer(client.token)),
  };
}

/** The model's conversation in the last generation request, without the system prompt. */
function conversation(llm: LlmStandIn): string[] {
  const body = llm.requests.at(-1)?.body as { messages: { role: string; content: string }[] };
  return body.messages.filter((m) => m.role !== 'system').map((m) => m.content);
}

describeEachDialect('anonymous chat owners', (dialect) => {
  const PARALLEL = 50;
  let t: TestApp;
  let llm: LlmStandIn;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({
      dialect,
      env: {
        OLLAMA_URL: llm.url,
        LLM_RETRY_BASE_MS: '1',
        TRUST_PROXY: 'true',
        LLM_MAX_CONCURRENT: String(2 * PARALLEL),
        LLM_MAX_CONCURRENT_PER_USER: String(2 * PARALLEL),
      },
    });
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  let nextIp = 1;
  /** A fresh address for each client of a test: tests do not share owners. */
  const address = () => `198.51.100.${nextIp++}`;

  const chat = (client: Client, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/api/v1/chat/', headers: headersOf(client), payload });
  const say = async (client: Client, message: string, sessionId: string, answer = 'Ok') => {
    llm.reply({ tokens: [answer] });
    const response = await chat(client, { message, session_id: sessionId });
    expect(response.statusCode, response.body).toBe(200);
    return response;
  };
  /** The cookie an answer set (its signed value). */
  const cookieOf = (response: Awaited<ReturnType<typeof chat>>) => {
    const cookie = response.cookies.find((c) => c.name === COOKIE);
    expect(cookie, 'the anonymous cookie').toBeDefined();
    return cookie?.value ?? '';
  };
  const read = (client: Client, id: string) =>
    t.app.inject({ url: `/api/v1/chat/sessions/${id}?limit=100`, headers: headersOf(client) });
  const contents = async (client: Client, id: string) => {
    const response = await read(client, id);
    expect(response.statusCode, response.body).toBe(200);
    return response.json<SessionPage>().messages.map((m) => m.content);
  };
  const listed = async (client: Client) => {
    const response = await t.app.inject({ url: '/api/v1/chat/sessions', headers: headersOf(client) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<SessionList>().items.map((s) => [s.session_id, s.message_count]);
  };

  it('sets a signed HttpOnly, SameSite=Lax cookie on the first anonymous chat, for /api/v1/chat, 400 days', async () => {
    const first = await say({ ip: address() }, 'Hi', 'test-session-001');
    const [cookie] = first.cookies.filter((c) => c.name === COOKIE);
    expect(cookie).toMatchObject({
      httpOnly: true,
      sameSite: 'Lax',
      path: '/api/v1/chat',
      maxAge: 34_560_000,
    });
    expect(cookie?.secure).toBeFalsy();
    // Signed: the id, a dot, the signature.
    expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_%+/=-]+$/);

    // Secure when the request came over https (X-Forwarded-Proto, trusted here).
    llm.reply({ tokens: ['Ok'] });
    const overHttps = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/',
      headers: { 'x-forwarded-for': address(), 'x-forwarded-proto': 'https' },
      payload: { message: 'Hi' },
    });
    expect(overHttps.statusCode, overHttps.body).toBe(200);
    expect(overHttps.cookies.find((c) => c.name === COOKIE)?.secure).toBe(true);

    // Not set again while the client sends it back, nor for a user; streamed answers set it too.
    const kept = await say({ ip: address(), cookie: cookieOf(first) }, 'Again', 'test-session-001');
    expect(kept.cookies.filter((c) => c.name === COOKIE)).toEqual([]);
    const { tokens } = await registerAndLogin(t.app);
    const user = await say({ ip: address(), token: tokens.access_token }, 'Hi', 'x');
    expect(user.cookies.filter((c) => c.name === COOKIE)).toEqual([]);
    llm.reply({ tokens: ['Ok'] });
    const streamed = await chat({ ip: address() }, { message: 'Hi', stream: true });
    expect(streamed.statusCode, streamed.body).toBe(200);
    expect(streamed.body).toContain('event: end');
    expect(cookieOf(streamed)).not.toBe('');
  });

  it('sets no cookie when the first chat fails, and one when a chat then succeeds', async () => {
    const ip = address();
    const refused = await chat({ ip }, { message: '', session_id: 'failed-first' });
    expect(refused.statusCode).toBe(400);
    const badId = await chat({ ip }, { message: 'Hi', session_id: 'no spaces allowed' });
    expect(badId.statusCode).toBe(422);
    const emptyAfterCleaning = await chat({ ip }, { message: '\u0000\u0001', session_id: 'failed-first' });
    expect(emptyAfterCleaning.statusCode, emptyAfterCleaning.body).toBe(400);
    for (const response of [refused, badId, emptyAfterCleaning]) {
      expect(response.cookies.filter((c) => c.name === COOKIE)).toEqual([]);
    }
    expect(await listed({ ip })).toEqual([]);
    cookieOf(await say({ ip }, 'Hi', 'failed-first'));
  });

  it('makes two sessions of one short id from two cookies, and from two addresses', async () => {
    const ip = address();
    const a = { ip, cookie: cookieOf(await say({ ip }, 'A first', 'shared-1', 'For A')) };
    const b = { ip, cookie: cookieOf(await say({ ip: address() }, 'B first', 'shared-1', 'For B')) };
    expect(a.cookie).not.toBe(b.cookie);
    await say(a, 'A second', 'shared-1');
    expect(conversation(llm)).toEqual(['A first', 'For A', 'A second']);
    await say(b, 'B second', 'shared-1');
    expect(conversation(llm)).toEqual(['B first', 'For B', 'B second']);
    expect(await contents(a, 'shared-1')).toEqual(['A first', 'For A', 'A second', 'Ok']);
    expect(await contents(b, 'shared-1')).toEqual(['B first', 'For B', 'B second', 'Ok']);

    const [x, y] = [{ ip: address() }, { ip: address() }];
    await say(x, 'X first', 'shared-2', 'For X');
    await say(y, 'Y first', 'shared-2', 'For Y');
    await say(x, 'X second', 'shared-2');
    expect(conversation(llm)).toEqual(['X first', 'For X', 'X second']);
    expect(await contents(y, 'shared-2')).toEqual(['Y first', 'For Y']);
    expect(await listed(x)).toEqual([['shared-2', 4]]);
    expect(await listed(y)).toEqual([['shared-2', 2]]);
  });

  it('lets a client without a cookie continue by its address, and one that keeps the cookie continue the same session', async () => {
    const ip = address();
    const first = await say({ ip }, 'One', 'concurrent_session_3', 'Answer one');
    // No cookie sent back: the address finds the session, and no second cookie is handed out for it (a client that
    // keeps the last cookie it got must still find it).
    const second = await say({ ip }, 'Two', 'concurrent_session_3', 'Answer two');
    expect(second.cookies.filter((c) => c.name === COOKIE)).toEqual([]);
    expect(conversation(llm)).toEqual(['One', 'Answer one', 'Two']);
    // The cookie of the first answer finds it too, from any address.
    const keeper = { ip: address(), cookie: cookieOf(first) };
    await say(keeper, 'Three', 'concurrent_session_3');
    expect(conversation(llm)).toEqual(['One', 'Answer one', 'Two', 'Answer two', 'Three']);
    expect(await contents(keeper, 'concurrent_session_3')).toHaveLength(6);
    expect(await contents({ ip }, 'concurrent_session_3')).toHaveLength(6);
    expect(await listed(keeper)).toEqual([['concurrent_session_3', 6]]);
    expect(await listed({ ip })).toEqual([['concurrent_session_3', 6]]);
  });

  it('takes a forwarded address that is no address (any length, any text) for one client, not an error', async () => {
    // TRUST_PROXY=true believes X-Forwarded-For as it comes: a client behind the proxy can put anything there.
    for (const ip of [
      `${'9'.repeat(300)}`,
      "'; DROP TABLE chat_sessions; --",
      'é<script>',
      `fe80::1%${'z'.repeat(200)}`,
    ]) {
      await say({ ip }, 'One', 'junk-address', 'Answer one');
      await say({ ip }, 'Two', 'junk-address');
      expect(conversation(llm)).toEqual(['One', 'Answer one', 'Two']);
      expect(await listed({ ip })).toEqual([['junk-address', 4]]);
    }
    // Two different junk values are two clients.
    expect(await listed({ ip: 'junk-never-seen' })).toEqual([]);
  });

  it("keeps every owner out of the others' sessions, and users and anonymous clients apart", async () => {
    const { tokens } = await registerAndLogin(t.app);
    const ip = address();
    const anon = { ip, cookie: cookieOf(await say({ ip }, 'Anonymous secret', 'private', 'Anon answer')) };
    const byAddress = { ip: address() };
    await say(byAddress, 'Address secret', 'by-address', 'Address answer');
    const user = { ip, token: tokens.access_token };
    await say(user, 'User secret', 'users', 'User answer');
    const stranger = { ip: address() };
    const strangerWithCookie = {
      ip: address(),
      cookie: cookieOf(await say({ ip: address() }, 'Mine', 'own', 'Own answer')),
    };

    for (const [owner, id] of [
      [anon, 'private'],
      [byAddress, 'by-address'],
      [user, 'users'],
    ] as const) {
      const others = [anon, byAddress, user, stranger, strangerWithCookie].filter((c) => c !== owner);
      for (const other of others) {
        const url = `/api/v1/chat/sessions/${id}`;
        const headers = headersOf(other);
        for (const response of [
          await read(other, id),
          await t.app.inject({ method: 'PATCH', url, headers, payload: { title: 'Stolen' } }),
          await t.app.inject({ method: 'DELETE', url, headers }),
        ]) {
          expect(response.statusCode, `${JSON.stringify(other)} ${id}: ${response.body}`).toBe(404);
          expect(response.body).not.toContain('secret');
        }
        expect((await listed(other)).map(([sid]) => sid)).not.toContain(id);
      }
    }
    // Sending the id starts the sender's own session: the model hears nothing of the owner's.
    await say(stranger, 'Hello', 'private');
    expect(conversation(llm)).toEqual(['Hello']);
    await say(strangerWithCookie, 'Hello', 'users');
    expect(conversation(llm)).toEqual(['Hello']);
    await say({ ip, token: tokens.access_token }, 'Hello', 'private');
    expect(conversation(llm)).toEqual(['Hello']);

    // Each owner's session is as it left it, and each lists only its own.
    expect(await contents(anon, 'private')).toEqual(['Anonymous secret', 'Anon answer']);
    expect(await contents(byAddress, 'by-address')).toEqual(['Address secret', 'Address answer']);
    expect(await contents(user, 'users')).toEqual(['User secret', 'User answer']);
    expect(await listed(anon)).toEqual([['private', 2]]);
    expect(await listed(byAddress)).toEqual([['by-address', 2]]);
    expect((await listed(user)).sort()).toEqual([
      ['private', 2],
      ['users', 2],
    ]);
    expect(await listed(stranger)).toEqual([['private', 2]]);
  });

  it('takes a tampered, unsigned or malformed cookie for a new owner, not an error', async () => {
    const ip = address();
    const first = await say({ ip }, 'Original', 'tamper', 'Original answer');
    const signed = cookieOf(first);
    const [id, signature] = signed.split('.');
    const flipped = `${id?.slice(0, -1)}${id?.endsWith('A') ? 'B' : 'A'}.${signature}`;
    for (const cookie of [flipped, id ?? '', `${id}.`, 'garbage', '%%%', `${signed}x`]) {
      const client = { ip: address(), cookie };
      const response = await say(client, 'Who am I', 'tamper');
      expect(conversation(llm)).toEqual(['Who am I']);
      // A new cookie replaces the bad one.
      expect(cookieOf(response)).not.toBe(cookie);
      expect(await listed(client)).toEqual([['tamper', 2]]);
    }
    expect(await contents({ ip: address(), cookie: signed }, 'tamper')).toEqual([
      'Original',
      'Original answer',
    ]);
  });

  it(`makes one session of ${PARALLEL} parallel first chats with one id from one owner`, async () => {
    for (const client of [
      { ip: address() },
      { ip: address(), cookie: cookieOf(await say({ ip: address() }, 'Setup', 'setup')) },
    ]) {
      llm.reply(...Array.from({ length: PARALLEL }, () => ({ tokens: ['Ok'] })));
      const responses = await Promise.all(
        Array.from({ length: PARALLEL }, (_, i) => chat(client, { message: `Q${i}`, session_id: 'race' })),
      );
      for (const response of responses) expect(response.statusCode, response.body).toBe(200);
      const sessions = await listed(client);
      expect(sessions.filter(([id]) => id === 'race')).toEqual([['race', 2 * PARALLEL]]);
    }
  });
});

describeEachDialect('anonymous chat switched off', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, env: { ALLOW_ANONYMOUS_CHAT: 'false' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('without a token', () => {
    it('answers 401 on every chat and session route, and sets no cookie', async () => {
      const url = '/api/v1/chat/sessions/test-session-001';
      for (const response of [
        await t.app.inject({ url: '/api/v1/chat/sessions' }),
        await t.app.inject({ url }),
        await t.app.inject({ method: 'PATCH', url, payload: { title: 'x' } }),
        await t.app.inject({ method: 'DELETE', url }),
        await t.app.inject({ method: 'POST', url: '/api/v1/chat/', payload: { message: 'Hi' } }),
      ]) {
        expect(response.statusCode, response.body).toBe(401);
        expect(response.cookies).toEqual([]);
      }
    });
  });
});
