// Classic XSS payloads are text: what a user sends and what the model returns comes back exactly after JSON parsing
// (the answer, the stored history, the session title and list, what the model receives; whole or cut across tokens,
// JSON, SSE and stored), and the HTML of render=html is never dangerous (htmlProblems in test/helpers/safe-html.ts:
// "<script", a tag markdown-it does not write, an on…= attribute, a link that is not http(s) or mailto). Error and
// validation answers never carry them. That no raw markup byte reaches a body is the HTML-safe JSON's test
// (chat-text-integrity.test.ts).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { htmlProblems } from '../../helpers/safe-html.js';
import { CHAT_XSS_PAYLOADS } from '../../helpers/xss-payloads.js';
import {
  chatOk,
  dangers,
  expectSafe,
  parseSse,
  postChat,
  sessionPage,
  type SessionList,
} from './chat.helpers.js';

/** The payload cut into pieces of `size` characters. */
const cut = (text: string, size: number) =>
  Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));

describe('the XSS check itself', () => {
  it.each(CHAT_XSS_PAYLOADS)('finds %s dangerous even when not compared with itself', (payload) => {
    expect(dangers(`before ${payload} after`)).not.toEqual([]);
  });

  it('finds escaped, defused or harmless text safe', () => {
    for (const safe of [
      'a &lt;script>alert(1)&lt;/script> b',
      '[x]\\(javascript:alert(1))',
      '<a href="https://example.com">x</a> <img> <div>',
      '&lt;img src=x onerror=alert(1)>',
      '[docs](https://example.com/a_(b)) and javascript: as a word',
    ])
      expect(dangers(safe), safe).toEqual([]);
  });
});

describeEachDialect('chat never returns an XSS payload', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({
      dialect,
      // Upstream failures below must not open the breaker for the tests after them.
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', LLM_BREAKER_THRESHOLD: '1000' },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  const expectSafeHtml = (where: string, html: string | undefined) => {
    expect(html, `${where} has content_html`).toEqual(expect.any(String));
    expect(htmlProblems(html ?? ''), `${where}: ${html}`).toEqual([]);
  };

  it.each(CHAT_XSS_PAYLOADS)('sent by the user: %s', async (payload) => {
    const message = `I typed: ${payload}`;
    llm.reply({ tokens: ['Noted.'] });
    const response = await postChat(t.app, { message, render: 'html' }, token);
    expect(response.statusCode, response.body).toBe(200);
    const sent = llm.requests.at(-1)?.body as { messages: { role: string; content: string }[] };
    expect(sent.messages.at(-1), 'what the model received').toEqual({ role: 'user', content: message });
    const id = response.json<{ session_id: string }>().session_id;

    const page = await sessionPage(t.app, token, id, '?render=html');
    expect(page.messages[0]?.content, 'the stored message').toBe(message);
    expect(page.title, 'the title').toBe(message);
    expectSafeHtml('the stored message', page.messages[0]?.content_html);
    const list = await t.app.inject({ url: '/api/v1/chat/sessions?limit=500', headers: bearer(token) });
    const listed = list.json<SessionList>().items.find((s) => s.session_id === id);
    expect(listed?.title, 'the session list').toBe(message);

    const renamed = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/chat/sessions/${id}`,
      headers: bearer(token),
      payload: { title: `Title ${payload}` },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json<{ title: string }>().title).toBe(`Title ${payload}`);
    expect((await sessionPage(t.app, token, id)).title).toBe(`Title ${payload}`);
  });

  it.each(CHAT_XSS_PAYLOADS)('returned by the model, whole and cut across tokens: %s', async (payload) => {
    const ways = [[payload], [...payload], cut(payload, 3), ['Sure: ', ...cut(payload, 7), ' done']];
    let sessionId: string | undefined;
    const answers: string[] = [];
    for (const tokens of ways) {
      const text = tokens.join('');
      llm.reply({ tokens });
      const json = await chatOk(t.app, { message: 'Show me', session_id: sessionId, render: 'html' }, token);
      sessionId = json.session_id;
      expect(json.response).toBe(text);
      expectSafeHtml('the JSON answer', json.content_html);
      answers.push(json.response);

      llm.reply({ tokens });
      const streamed = await postChat(
        t.app,
        { message: 'Stream it', session_id: sessionId, stream: true, render: 'html' },
        token,
      );
      expect(streamed.statusCode, streamed.body).toBe(200);
      const frames = parseSse(streamed.body);
      const end = frames.at(-1);
      expect(end?.event).toBe('end');
      const joined = frames
        .filter((f) => f.event === 'token')
        .map((f) => (f.data as { content: string }).content)
        .join('');
      expect(joined).toBe(text);
      // content_html comes once, in the end event.
      expect(frames.filter((f) => JSON.stringify(f.data).includes('content_html'))).toEqual([end]);
      expectSafeHtml('the SSE end event', (end?.data as { content_html?: string }).content_html);
      answers.push(joined);
    }

    const page = await sessionPage(t.app, token, sessionId ?? '', '?limit=500&render=html');
    const stored = page.messages.filter((m) => m.role === 'assistant');
    expect(stored.map((m) => m.content)).toEqual(answers);
    for (const message of stored) expectSafeHtml('the stored answer', message.content_html);
  });

  it.each(CHAT_XSS_PAYLOADS)('in error and validation answers: %s', async (payload) => {
    llm.reply({ tokens: ['Hi'] });
    const own = await chatOk(t.app, { message: 'An ordinary session' }, token);
    const encoded = encodeURIComponent(payload);
    const auth = bearer(token);
    const chat = (body: Record<string, unknown>, headers: Record<string, string> = auth) =>
      t.app.inject({ method: 'POST', url: '/api/v1/chat/', headers, payload: body });
    const answers = [
      await chat({ message: 'Hi', model: payload }),
      await chat({ message: 'Hi', model: payload, stream: true }),
      await chat({ message: 'Hi', session_id: payload }),
      await chat({ message: 'Hi', temperature: payload }),
      await chat({ message: `${'x'.repeat(5000)}${payload}` }),
      await t.app.inject({ url: `/api/v1/chat/sessions/${encoded}`, headers: auth }),
      await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/chat/sessions/${encoded}`,
        headers: auth,
        payload: {},
      }),
      await t.app.inject({ method: 'DELETE', url: `/api/v1/chat/sessions/${encoded}`, headers: auth }),
      await t.app.inject({ url: `/api/v1/${encoded}` }),
      await t.app.inject({ url: `/api/v1/chat/sessions?cursor=${encoded}`, headers: auth }),
      await t.app.inject({ url: `/api/v1/chat/sessions?limit=${encoded}`, headers: auth }),
      await t.app.inject({ url: `/api/v1/chat/sessions/${own.session_id}?skip=${encoded}`, headers: auth }),
      await t.app.inject({ url: '/api/v1/chat/sessions', headers: { authorization: `Bearer ${payload}` } }),
      await t.app.inject({ url: '/api/v1/chat/health', headers: { 'x-request-id': payload } }),
    ];
    // The model's own error bodies carry the payload too (JSON and text): a 502 that does not repeat them.
    llm.reply({ status: 500, errorBody: { error: payload } });
    answers.push(await chat({ message: 'Hi', session_id: own.session_id }));
    llm.reply({ status: 500, errorBody: payload });
    answers.push(await chat({ message: 'Hi', session_id: own.session_id, stream: true }));

    for (const answer of answers) {
      const what = `${answer.statusCode} ${answer.body.slice(0, 300)}`;
      expect(answer.statusCode, what).not.toBe(500);
      expect(answer.statusCode, what).toBeGreaterThanOrEqual(200);
      expectSafe('an error answer', [answer.body, JSON.parse(answer.body) as unknown], payload);
      expectSafe('its headers', answer.headers, payload);
    }
    expect(answers.slice(-2).map((a) => a.statusCode)).toEqual([502, 502]);
    expectSafe('the stored history', await sessionPage(t.app, token, own.session_id), payload);
  });
});
