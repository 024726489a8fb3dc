// The chat round trip against the stand-in LLM: JSON and SSE answers, what the model receives, and what is stored.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';

describeEachDialect('chat round trip', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({
      dialect,
      captureLogs: true,
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' },
    });
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t.close();
    await llm.close();
  });

  it('answers as JSON, sends the conversation, and stores both messages', async () => {
    const { tokens } = await registerAndLogin(t.app);
    llm.reply({ tokens: ['Hello', ' there'], promptTokens: 12, completionTokens: 2 });
    const first = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/',
      headers: bearer(tokens.access_token),
      payload: { message: '  Hi!  ', temperature: 0 },
    });
    expect(first.statusCode, JSON.stringify(t.logs.filter((l) => (l.level as number) >= 50))).toBe(200);
    const body = first.json<{ session_id: string; response: string; message_id: number }>();
    expect(body).toMatchObject({
      response: 'Hello there',
      model: 'tinyllama:latest',
      status: 'success',
      usage: { prompt_tokens: 12, completion_tokens: 2 },
    });
    const sent = llm.requests.at(-1)?.body as { messages: unknown[]; options: { temperature: number } };
    expect(sent.options.temperature).toBe(0);
    // Sent and stored exactly as typed, untrimmed.
    expect(sent.messages).toEqual([
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: '  Hi!  ' },
    ]);

    llm.reply({ tokens: ['Again'] });
    const second = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/send',
      headers: bearer(tokens.access_token),
      payload: { message: 'And now?', session_id: body.session_id },
    });
    expect(second.statusCode, second.body).toBe(200);
    const history = (llm.requests.at(-1)?.body as { messages: unknown[] }).messages;
    expect(history).toEqual([
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: '  Hi!  ' },
      { role: 'assistant', content: 'Hello there' },
      { role: 'user', content: 'And now?' },
    ]);

    const page = await t.app.inject({
      url: `/api/v1/chat/sessions/${body.session_id}`,
      headers: bearer(tokens.access_token),
    });
    expect(page.statusCode, page.body).toBe(200);
    expect(page.json()).toMatchObject({ total: 4, has_more: false, page: 1, total_pages: 1, title: 'Hi!' });
  });

  it('streams server-sent events: start, tokens, end', async () => {
    llm.reply({ tokens: ['One', ' two', ' three'] });
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/message',
      payload: { message: 'Count', stream: true },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = response.body
      .split('\n\n')
      .filter((frame) => frame.startsWith('event:'))
      .map((frame) => frame.split('\n')[0]?.slice('event: '.length));
    expect(events).toEqual(['start', 'token', 'token', 'token', 'end']);
  });

  it("accepts the original clients' own short session ids: 1 to 128 of [A-Za-z0-9._:-], anonymous or not", async () => {
    const { tokens } = await registerAndLogin(t.app);
    const ids = ['test-session-001', 'concurrent_session_3', 'a', 'x.y:z', 'L'.repeat(128)];
    for (const id of ids) {
      for (const headers of [{}, bearer(tokens.access_token)]) {
        llm.reply({ tokens: ['Hello'] });
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/v1/chat/',
          headers,
          payload: { message: 'Hi', session_id: id },
        });
        expect(response.statusCode, response.body).toBe(200);
        expect(response.json()).toMatchObject({ session_id: id, response: 'Hello' });
        for (const request of [
          { method: 'GET' as const, url: `/api/v1/chat/sessions/${id}` },
          {
            method: 'PATCH' as const,
            url: `/api/v1/chat/sessions/${id}`,
            payload: { title: `T ${id.slice(0, 70)}` },
          },
        ]) {
          const answer = await t.app.inject({ ...request, headers });
          expect(answer.statusCode, answer.body).toBe(200);
          expect(answer.json()).toMatchObject({ session_id: id });
        }
      }
    }
    for (const id of ['L'.repeat(129), 'a b', 'a/b', 'é']) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/chat/',
        payload: { message: 'Hi', session_id: id },
      });
      expect(response.statusCode, response.body).toBe(422);
      const read = await t.app.inject({ url: `/api/v1/chat/sessions/${encodeURIComponent(id)}` });
      expect(read.statusCode, read.body).toBe(422);
    }
  });
});
