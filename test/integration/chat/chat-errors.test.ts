// Requests the chat endpoints refuse before any LLM call: empty or oversized messages (400), invalid fields (422),
// oversized bodies (413), and anonymous chat when it is switched off (401). None reaches the stand-in, none is a
// 500, and none echoes the markup it was sent.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { CHAT_ENDPOINTS, chat, type ErrorAnswer } from './chat-resilience.helpers.js';

const MAX_TOKENS = 512;

/** Messages with nothing but whitespace once cleaned (NUL and C0 controls removed); markup is text, not empty. */
const EMPTY_MESSAGES: [string, string][] = [
  ['empty', ''],
  ['spaces only', '     '],
  ['whitespace of all kinds', ' \n\t \r\n '],
  ['control characters only', '\u0000\u0001\u0007\u001b'],
  ['controls among blanks', ' \u0000\n\u001f\t'],
];

/** Bodies the schema refuses (422), with the field the error must name (undefined: the body itself). */
const INVALID_BODIES: [string, unknown, string | undefined][] = [
  ['temperature below 0', { message: 'hi', temperature: -0.1 }, 'temperature'],
  ['temperature above 2', { message: 'hi', temperature: 2.1 }, 'temperature'],
  ['temperature as a word', { message: 'hi', temperature: 'hot' }, 'temperature'],
  ['temperature as numeric text', { message: 'hi', temperature: '0.5' }, 'temperature'],
  ['max_tokens 0', { message: 'hi', max_tokens: 0 }, 'max_tokens'],
  ['max_tokens above LLM_MAX_TOKENS', { message: 'hi', max_tokens: MAX_TOKENS + 1 }, 'max_tokens'],
  ['max_tokens not an integer', { message: 'hi', max_tokens: 1.5 }, 'max_tokens'],
  ['session_id with spaces', { message: 'hi', session_id: 'my session' }, 'session_id'],
  ['session_id with markup', { message: 'hi', session_id: '<script>alert(1)</script>' }, 'session_id'],
  ['session_id too long', { message: 'hi', session_id: 'a'.repeat(129) }, 'session_id'],
  ['session_id empty', { message: 'hi', session_id: '' }, 'session_id'],
  ['session_id with a slash', { message: 'hi', session_id: 'a/b' }, 'session_id'],
  ['render other than html', { message: 'hi', render: 'markdown' }, 'render'],
  ['render as a boolean', { message: 'hi', render: true }, 'render'],
  ['session_id as a number', { message: 'hi', session_id: 42 }, 'session_id'],
  ['model with markup', { message: 'hi', model: '<img src=x onerror=alert(1)>' }, 'model'],
  ['model as a number', { message: 'hi', model: 7 }, 'model'],
  ['stream as text', { message: 'hi', stream: 'yes' }, 'stream'],
  ['missing message', { temperature: 0.5 }, 'message'],
  ['message null', { message: null }, 'message'],
  ['message as a number', { message: 123 }, 'message'],
  ['message as a list', { message: ['hi'] }, 'message'],
  ['message as an object', { message: { text: 'hi' } }, 'message'],
  ['a list as the body', ['hi'], undefined],
  ['a string as the body', '"hi"', undefined],
];

describeEachDialect('chat requests refused before the LLM', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', LLM_MAX_TOKENS: String(MAX_TOKENS) },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it.each(EMPTY_MESSAGES)('a message that is %s is 400 "Message cannot be empty"', async (_name, message) => {
    const before = llm.requests.length;
    for (const url of CHAT_ENDPOINTS) {
      for (const stream of [false, true]) {
        const res = await chat(t.app, { message, stream }, { token, url });
        expect(res.statusCode, `${url} ${res.body}`).toBe(400);
        expect(res.json<ErrorAnswer>()).toMatchObject({
          detail: 'Message cannot be empty',
          code: 'empty_message',
        });
        expect(res.body).not.toContain('<script');
      }
    }
    expect(llm.requests.length).toBe(before);
  });

  it.each(INVALID_BODIES)('%s is 422 naming the field', async (_name, payload, field) => {
    const before = llm.requests.length;
    for (const url of CHAT_ENDPOINTS) {
      const res = await chat(t.app, payload, { token, url });
      expect(res.statusCode, `${url} ${res.body}`).toBe(422);
      const body = res.json<{ detail: { loc: (string | number)[]; msg: string }[]; code: string }>();
      expect(body.code).toBe('validation_error');
      expect(Array.isArray(body.detail)).toBe(true);
      const locs = body.detail.map((issue) => issue.loc);
      expect(locs, res.body).toContainEqual(field === undefined ? ['body'] : ['body', field]);
      // Validation answers never carry the markup that was sent.
      expect(res.body).not.toMatch(/<script|<img|onerror/i);
    }
    expect(llm.requests.length).toBe(before);
  });

  it('a message over 5000 characters is 400, counted as stored (cleaned, untrimmed) and in characters, not UTF-16 units', async () => {
    const before = llm.requests.length;
    for (const message of ['a'.repeat(5001), '😀'.repeat(5001), ` ${'a'.repeat(5000)}`]) {
      for (const url of CHAT_ENDPOINTS) {
        const res = await chat(t.app, { message }, { token, url });
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json<ErrorAnswer>()).toMatchObject({
          detail: 'Message exceeds maximum length of 5000 characters',
          code: 'message_too_long',
        });
      }
    }
    expect(llm.requests.length).toBe(before);

    // Exactly 5000 characters pass, whitespace counting and kept, emoji counting as one each, removed controls not.
    for (const [message, stored] of [
      [` ${'a'.repeat(4998)}\n`, ` ${'a'.repeat(4998)}\n`],
      ['😀'.repeat(5000), '😀'.repeat(5000)],
      [`\u0000${'a'.repeat(5000)}\u0001`, 'a'.repeat(5000)],
    ]) {
      llm.reply({ tokens: ['ok'] });
      const res = await chat(t.app, { message }, { token });
      expect(res.statusCode, res.body).toBe(200);
      const sent = llm.requests.at(-1)?.body as { messages: { role: string; content: string }[] };
      expect(sent.messages.at(-1)).toEqual({ role: 'user', content: stored });
    }
  });

  it('max_tokens up to LLM_MAX_TOKENS is accepted and reaches the model as num_predict', async () => {
    llm.reply({ tokens: ['ok'] });
    const res = await chat(t.app, { message: 'hi', max_tokens: MAX_TOKENS, temperature: 2 }, { token });
    expect(res.statusCode, res.body).toBe(200);
    const sent = llm.requests.at(-1)?.body as { options: Record<string, number> };
    expect(sent.options).toMatchObject({ num_predict: MAX_TOKENS, temperature: 2 });
  });

  it('a body over BODY_LIMIT_BYTES is 413 on every endpoint', async () => {
    const before = llm.requests.length;
    const payload = { message: 'a'.repeat(1024 * 1024 + 16) };
    for (const url of CHAT_ENDPOINTS) {
      const res = await chat(t.app, payload, { token, url });
      expect(res.statusCode, res.body.slice(0, 200)).toBe(413);
      expect(res.json<ErrorAnswer>()).toMatchObject({
        detail: 'Request body is too large',
        code: 'payload_too_large',
      });
    }
    expect(llm.requests.length).toBe(before);
  });

  it('anonymous chat is allowed by default', async () => {
    llm.reply({ tokens: ['Hello'] });
    const res = await chat(t.app, { message: 'Hi' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ response: 'Hello', status: 'success' });
    // Its own client reads it back (by its address: inject keeps no cookie); a signed-in user does not find it.
    const { session_id } = res.json<{ session_id: string }>();
    const read = await t.app.inject({ url: `/api/v1/chat/sessions/${session_id}` });
    expect(read.statusCode, read.body).toBe(200);
    const other = await t.app.inject({
      url: `/api/v1/chat/sessions/${session_id}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(other.statusCode, other.body).toBe(404);
  });

  describe('with ALLOW_ANONYMOUS_CHAT=false and CHAT_MAX_MESSAGE_CHARS=10', () => {
    let strict: TestApp;
    let strictToken: string;
    beforeAll(async () => {
      strict = await buildTestApp({
        dialect,
        env: {
          OLLAMA_URL: llm.url,
          LLM_RETRY_BASE_MS: '1',
          ALLOW_ANONYMOUS_CHAT: 'false',
          CHAT_MAX_MESSAGE_CHARS: '10',
        },
      });
      strictToken = (await registerAndLogin(strict.app)).tokens.access_token;
    });
    afterAll(() => strict?.close());

    it('a client without a token is 401 on every endpoint, JSON or stream; a signed-in user chats', async () => {
      const before = llm.requests.length;
      for (const url of CHAT_ENDPOINTS) {
        for (const stream of [false, true]) {
          const res = await chat(strict.app, { message: 'Hi', stream }, { url });
          expect(res.statusCode, res.body).toBe(401);
          expect(res.json<ErrorAnswer>().code).toBe('not_authenticated');
        }
      }
      expect(llm.requests.length).toBe(before);

      llm.reply({ tokens: ['Hello'] });
      const res = await chat(strict.app, { message: 'Hi' }, { token: strictToken });
      expect(res.statusCode, res.body).toBe(200);
    });

    it('the length limit follows CHAT_MAX_MESSAGE_CHARS', async () => {
      const before = llm.requests.length;
      const res = await chat(strict.app, { message: 'a'.repeat(11) }, { token: strictToken });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json<ErrorAnswer>().detail).toBe('Message exceeds maximum length of 10 characters');
      expect(llm.requests.length).toBe(before);

      llm.reply({ tokens: ['ok'] });
      const ok = await chat(strict.app, { message: 'a'.repeat(10) }, { token: strictToken });
      expect(ok.statusCode, ok.body).toBe(200);
    });
  });
});
