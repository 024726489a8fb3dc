// Streamed chat over a real socket: SSE headers, start → token… → end events as the model produces them, keep-alive
// comments while the first token is slow, the stored answer, a client leaving mid-stream (upstream aborted, answer
// stored as partial), and errors before the stream as plain JSON answers.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { sessionPage, waitUntil } from './chat.helpers.js';
import { openRequests, startTap, streamChat, tokensOf } from './chat-socket.helpers.js';

describeEachDialect('chat streaming over a real socket', (dialect) => {
  let llm: LlmStandIn;
  let tap: Awaited<ReturnType<typeof startTap>>;
  /** Default keep-alive interval (15 s), straight to the stand-in. */
  let t: TestApp;
  let base: string;
  /** CHAT_SSE_KEEPALIVE_MS=100, through the tap. */
  let slow: TestApp;
  let slowBase: string;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    tap = await startTap(llm.url);
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    slow = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: tap.url, LLM_RETRY_BASE_MS: '1', CHAT_SSE_KEEPALIVE_MS: '100' },
    });
    slowBase = await slow.app.listen({ port: 0, host: '127.0.0.1' });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => {
    for (const req of openRequests.splice(0)) req.destroy();
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await slow?.close();
    await tap?.close();
    await llm?.close();
  });

  it('streams start, tokens and end with SSE headers, uncompressed, and stores the answer', async () => {
    const pieces = Array.from({ length: 10 }, (_, i) => `piece ${i} ${'lorem ipsum '.repeat(8)}`);
    llm.reply({ tokens: pieces, promptTokens: 7, completionTokens: 10 });
    const stream = await streamChat(
      base,
      { message: 'Tell me a story', stream: true },
      { token, headers: { 'accept-encoding': 'gzip, br', 'x-request-id': 'stream-test-1' } },
    );
    await stream.done;
    const headers = stream.res.headers;
    expect(stream.res.statusCode, stream.text()).toBe(200);
    expect(headers['content-type']).toMatch(/^text\/event-stream/);
    expect(headers['content-encoding']).toBeUndefined();
    expect(headers['x-accel-buffering']).toBe('no');
    expect(headers['cache-control']).toMatch(/no-cache/);
    expect(headers['x-request-id']).toBe('stream-test-1');
    expect(headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY' });
    expect(headers['content-security-policy']).toContain("default-src 'none'");

    const frames = stream.frames.filter((f) => f.event !== 'comment');
    expect(frames.map((f) => f.event)).toEqual(['start', ...pieces.map(() => 'token'), 'end']);
    expect(stream.text()).toMatch(/^event: start\ndata: \{/);
    expect(tokensOf(frames)).toEqual(pieces);
    const start = frames[0]?.data as { session_id: string; user_message_id: number; request_id: string };
    expect(start).toMatchObject({ model: 'tinyllama:latest', request_id: 'stream-test-1' });
    const end = frames.at(-1)?.data as { session_id: string; message_id: number };
    expect(end).toMatchObject({
      session_id: start.session_id,
      model: 'tinyllama:latest',
      usage: { prompt_tokens: 7, completion_tokens: 10 },
    });

    const page = await sessionPage(t.app, token, start.session_id);
    expect(page.messages.map((m) => m.id)).toEqual([start.user_message_id, end.message_id]);
    expect(page.messages[1]).toMatchObject({
      role: 'assistant',
      content: pieces.join(''),
      status: 'complete',
      error: null,
      usage: { prompt_tokens: 7, completion_tokens: 10 },
    });
  });

  it('sends each token as it comes: the first arrives before the model has sent the last', async () => {
    const pieces = ['one ', 'two ', 'three ', 'four ', 'five ', 'six'];
    llm.reply({ tokens: pieces, tokenDelayMs: 150 });
    tap.state.tokensSent = 0;
    let sentAtFirstToken = -1;
    const stream = await streamChat(
      slowBase,
      { message: 'Count to six', stream: true },
      {
        onFrame: (frame) => {
          if (frame.event === 'token' && sentAtFirstToken === -1) sentAtFirstToken = tap.state.tokensSent;
        },
      },
    );
    await stream.done;
    expect(stream.res.statusCode, stream.text()).toBe(200);
    expect(tokensOf(stream.frames)).toEqual(pieces);
    expect(tap.state.tokensSent).toBe(pieces.length);
    expect(sentAtFirstToken, 'tokens the model had sent when the first reached the client').toBeGreaterThan(
      0,
    );
    expect(sentAtFirstToken).toBeLessThan(pieces.length);
    // Each token came in a read of its own, and the end after the first token.
    const reads = stream.frames.filter((f) => f.event === 'token').map((f) => f.read);
    expect(new Set(reads).size).toBe(pieces.length);
    expect(stream.frames.find((f) => f.event === 'end')?.read).toBeGreaterThan(reads[0] ?? Infinity);
  });

  it('sends keep-alive comments while the first token is slow', async () => {
    llm.reply({ tokens: ['Finally', ' here'], firstTokenDelayMs: 1000 });
    const stream = await streamChat(slowBase, { message: 'Take your time', stream: true });
    await stream.done;
    expect(stream.res.statusCode, stream.text()).toBe(200);
    const events = stream.frames.map((f) => (f.event === 'comment' ? `: ${f.comment}` : f.event));
    const firstComment = events.indexOf(': keep-alive');
    expect(firstComment, events.join(', ')).toBeGreaterThan(-1);
    expect(firstComment).toBeLessThan(events.indexOf('token'));
    expect(events.filter((e) => e !== ': keep-alive')).toEqual(['start', 'token', 'token', 'end']);
    expect(stream.text()).toContain(': keep-alive\n\n');
  });

  it('aborts the upstream call when the client leaves, and stores what came as partial', async () => {
    const pieces = Array.from({ length: 10 }, (_, i) => `t${i + 1} `);
    llm.reply({ tokens: pieces, tokenDelayMs: 100 });
    const before = llm.requests.length;
    const stream = await streamChat(base, { message: 'Talk for a while', stream: true }, { token });
    await stream.waitFor((frames) => tokensOf(frames).length >= 2, 'two tokens arrived');
    const sessionId = (stream.frames[0]?.data as { session_id: string }).session_id;
    stream.destroy();

    await llm.waitForRequests(before + 1);
    const upstream = llm.requests.slice(before).find((r) => r.path === '/api/chat');
    expect(upstream).toBeDefined();
    await waitUntil(() => upstream?.aborted === true, 'the stand-in saw its request aborted');

    let stored: { content: string; status: string; error: string | null } | undefined;
    await waitUntil(async () => {
      stored = (await sessionPage(t.app, token, sessionId)).messages[1];
      return stored !== undefined;
    }, 'the answer was stored');
    expect(stored).toMatchObject({ status: 'partial', error: 'the client disconnected' });
    const full = pieces.join('');
    expect(stored?.content.startsWith('t1 t2 '), stored?.content).toBe(true);
    expect(full.startsWith(stored?.content ?? '-'), stored?.content).toBe(true);
    expect(stored?.content.length).toBeLessThan(full.length);
  });

  it('answers errors found before the stream as JSON, not as a stream', async () => {
    const cases: [Record<string, unknown>, number, unknown][] = [
      [
        { message: 'Hi', model: 'nope:1b' },
        404,
        { detail: "Model 'nope:1b' not found", code: 'model_not_found' },
      ],
      [{ message: '   ' }, 400, { detail: 'Message cannot be empty' }],
      [{ message: 'x'.repeat(5001) }, 400, { detail: 'Message exceeds maximum length of 5000 characters' }],
      [{ message: 'Hi', temperature: 5 }, 422, { code: 'validation_error' }],
    ];
    for (const [body, status, detail] of cases) {
      const answer = await streamChat(base, { ...body, stream: true }, { token });
      await answer.done;
      expect(answer.res.statusCode, answer.text()).toBe(status);
      expect(answer.res.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(answer.text())).toMatchObject(detail as object);
    }
    // Only the unknown model reached the stand-in (and was not given a scripted reply).
    expect(llm.requests.filter((r) => r.path === '/api/chat').at(-1)?.body).toMatchObject({
      model: 'nope:1b',
    });
  });
});
