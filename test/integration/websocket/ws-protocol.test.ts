// The chat WebSocket's protocol with real `ws` clients against a listening server, on both dialects: the original's
// frames (connection, ping/pong, chat streamed and not, history, clear), exact text with the HTML-safe encoding, the
// three ways to authenticate and what refuses them, bad frames answered without ending the socket, one generation at
// a time, a client leaving mid-answer (stored partial), and the owner's other sockets seeing each turn.
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { bearer, login, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { closeAllSockets, connectChat, connectWs, type Frame } from '../../helpers/ws-client.js';
import { chatOk, sessionPage, waitUntil } from '../chat/chat.helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describeEachDialect('chat WebSocket protocol', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let base: string;
  let token: string;
  let otherToken: string;

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'qwen:7b'] });
    t = await buildTestApp({
      dialect,
      env: {
        OLLAMA_URL: llm.url,
        LLM_RETRY_BASE_MS: '1',
        CHAT_MAX_MESSAGE_CHARS: '50',
        ALLOW_ANONYMOUS_CHAT: 'false',
        WS_AUTH_TIMEOUT_MS: '300',
      },
    });
    base = (await t.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
    token = (await registerAndLogin(t.app)).tokens.access_token;
    otherToken = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => {
    closeAllSockets();
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  const url = (path = '/api/v1/chat/ws', tokenValue = token) => `${base}${path}?token=${tokenValue}`;

  it('greets, answers ping, streams a chat, stores it exactly, and pages its history', async () => {
    const socket = await connectChat(url());
    const hello = socket.frames[0];
    expect(hello).toMatchObject({
      type: 'connection',
      status: 'connected',
      message: 'WebSocket chat connected successfully',
      anonymous: false,
    });
    expect(hello?.session_id).toMatch(UUID);

    socket.send({ type: 'ping' });
    const pong = await socket.next('pong');
    expect(Number.isNaN(Date.parse(String(pong.timestamp)))).toBe(false);

    const text = 'Héllo <script>alert(1)</script> & 👋';
    llm.reply({ tokens: ['Sure: ', '<b>bold</b>', ' & 😀'], promptTokens: 3, completionTokens: 3 });
    socket.send({ type: 'chat', message: text, model: 'tinyllama:latest', temperature: 0.2, max_tokens: 64 });
    const end = await socket.next('stream_end');
    const turn = socket.frames.slice(2).map((frame) => frame.type);
    expect(turn).toEqual([
      'message_received',
      'stream_start',
      'stream_chunk',
      'stream_chunk',
      'stream_chunk',
      'stream_end',
    ]);
    expect(socket.ofType('message_received')[0]).toMatchObject({
      message: text,
      session_id: hello?.session_id,
    });
    expect(socket.ofType('stream_chunk').map((frame) => frame.content)).toEqual([
      'Sure: ',
      '<b>bold</b>',
      ' & 😀',
    ]);
    expect(end).toMatchObject({
      full_response: 'Sure: <b>bold</b> & 😀',
      session_id: hello?.session_id,
      model: 'tinyllama:latest',
      usage: { prompt_tokens: 3, completion_tokens: 3 },
    });
    // The same HTML-safe encoding as HTTP answers: no raw < > & in any frame's text.
    for (const raw of socket.texts) expect(raw).not.toMatch(/[<>&]/);
    const upstream = llm.requests.at(-1)?.body as { options: { temperature: number; num_predict: number } };
    expect(upstream.options).toMatchObject({ temperature: 0.2, num_predict: 64 });

    const page = await sessionPage(t.app, token, String(hello?.session_id));
    expect(page.messages.map((m) => [m.role, m.content, m.status])).toEqual([
      ['user', text, 'complete'],
      ['assistant', 'Sure: <b>bold</b> & 😀', 'complete'],
    ]);
    expect(page.messages[1]?.id).toBe(end.message_id);

    socket.send({ type: 'get_history', limit: 1, skip: 1 });
    const history = await socket.next('history');
    expect(history).toMatchObject({ session_id: hello?.session_id, count: 1, total: 2, has_more: false });
    expect((history.messages as { content: string }[])[0]?.content).toBe('Sure: <b>bold</b> & 😀');
  });

  it('continues the socket session, answers stream:false with one response, and treats a typeless frame as chat', async () => {
    const socket = await connectChat(url('/ws'));
    llm.reply({ tokens: ['one'] }, { tokens: ['two'] });
    socket.send({ message: 'first', stream: false });
    const response = await socket.next('response');
    expect(response).toMatchObject({ content: 'one', session_id: socket.frames[0]?.session_id });
    expect(socket.ofType('stream_start')).toHaveLength(0);
    socket.send({ type: 'chat', message: 'second' });
    await socket.next('stream_end');
    // The model saw the first exchange as context.
    const messages = (llm.requests.at(-1)?.body as { messages: { role: string; content: string }[] })
      .messages;
    expect(messages.filter((m) => m.role !== 'system').map((m) => m.content)).toEqual([
      'first',
      'one',
      'second',
    ]);
  });

  it('echoes the message as stored: cleaned of control characters and lone surrogates, nothing else', async () => {
    const socket = await connectChat(url());
    llm.reply({ tokens: ['ok'] });
    socket.send({ message: 'a\u0000b\u0007c \ud800 <i>d</i>\tend' });
    const received = await socket.next('message_received');
    await socket.next('stream_end');
    const page = await sessionPage(t.app, token, String(received.session_id));
    expect(page.messages[0]?.content).toBe(received.message);
    expect(received.message).toContain('<i>d</i>');
    for (const removed of ['\u0000', '\u0007', '\ud800']) expect(received.message).not.toContain(removed);
  });

  it('clears the history, and answers get_history for a session not yet created with no messages', async () => {
    const socket = await connectChat(url());
    socket.send({ type: 'get_history' });
    expect(await socket.next('history')).toMatchObject({ count: 0, total: 0, messages: [] });
    llm.reply({ tokens: ['x'] });
    socket.send({ message: 'keep me' });
    await socket.next('stream_end');
    socket.send({ type: 'clear_history' });
    expect(await socket.next('history_cleared')).toMatchObject({
      session_id: socket.frames[0]?.session_id,
      messages_deleted: 2,
    });
    socket.send({ type: 'get_history' });
    expect(await socket.next('history', { from: 6 })).toMatchObject({ count: 0, total: 0 });
  });

  it('never shows another user’s session: history and clear of their id are not found, a chat with it is the caller’s own', async () => {
    const owner = await connectChat(url());
    llm.reply({ tokens: ['secret answer'] });
    owner.send({ message: 'my secret' });
    await owner.next('stream_end');
    const id = String(owner.frames[0]?.session_id);

    const stranger = await connectChat(url('/api/v1/chat/ws', otherToken));
    stranger.send({ type: 'get_history', session_id: id });
    expect(await stranger.next('error')).toMatchObject({ code: 'session_not_found', status: 404 });
    stranger.send({ type: 'clear_history', session_id: id });
    expect(await stranger.next((f) => f.type === 'error', { from: 2 })).toMatchObject({
      code: 'session_not_found',
    });
    llm.reply({ tokens: ['fresh'] });
    stranger.send({ message: 'hello', session_id: id });
    await stranger.next('stream_end');
    const context = (llm.requests.at(-1)?.body as { messages: { content: string }[] }).messages;
    expect(context.map((m) => m.content)).not.toContain('my secret');
    expect((await sessionPage(t.app, token, id)).messages).toHaveLength(2);
  });

  it('answers bad frames with error frames and keeps the socket working', async () => {
    const socket = await connectChat(url());
    const bad: [unknown, string][] = [
      ['{not json', 'invalid_json'],
      ['[1,2]', 'invalid_frame'],
      ['42', 'invalid_frame'],
      ['null', 'invalid_frame'],
      [{ type: 'dance' }, 'unknown_type'],
      [{ type: 7 }, 'unknown_type'],
      [{ type: 'chat' }, 'empty_message'],
      [{ type: 'chat', message: '' }, 'empty_message'],
      [{ type: 'chat', message: '   ' }, 'empty_message'],
      [{ type: 'chat', message: 'x'.repeat(51) }, 'message_too_long'],
      [{ type: 'chat', message: 5 }, 'invalid_frame'],
      [{ type: 'chat', message: 'hi', temperature: 'hot' }, 'invalid_frame'],
      [{ type: 'chat', message: 'hi', temperature: 3 }, 'invalid_frame'],
      [{ type: 'chat', message: 'hi', max_tokens: 0 }, 'invalid_frame'],
      [{ type: 'chat', message: 'hi', stream: 'yes' }, 'invalid_frame'],
      [{ type: 'chat', message: 'hi', model: "x'; DROP TABLE users;--" }, 'invalid_frame'],
      [{ type: 'chat', message: 'hi', session_id: '../../etc/passwd' }, 'invalid_frame'],
      [{ type: 'chat', message: 'hi', session_id: 'a'.repeat(129) }, 'invalid_frame'],
      [{ type: 'get_history', limit: 1000 }, 'invalid_frame'],
      [{ type: 'get_history', session_id: { $ne: null } }, 'invalid_frame'],
      [{ type: 'auth' }, 'invalid_frame'],
      [{ type: 'auth', token: 'not-a-token' }, 'invalid_token'],
    ];
    for (const [frame, code] of bad) {
      const before = socket.frames.length;
      if (typeof frame === 'string') socket.sendText(frame);
      else socket.send(frame);
      const answer = await socket.next('error', { from: before });
      expect(answer.code, JSON.stringify(frame)).toBe(code);
      expect(typeof answer.message).toBe('string');
    }
    socket.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(
      await socket.next((f) => f.type === 'error' && f.code === 'invalid_frame', {
        from: socket.frames.length,
      }),
    ).toBeDefined();
    // Nothing was stored for any of them, and the socket still works.
    socket.send({ type: 'ping' });
    await socket.next('pong');
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/chat/sessions', headers: bearer(token) });
    const ids = list.json<{ items: { session_id: string }[] }>().items.map((s) => s.session_id);
    expect(ids).not.toContain(socket.frames[0]?.session_id);
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });

  it('refuses a second chat while one streams (busy), and the first completes', async () => {
    const socket = await connectChat(url());
    const generations = () => llm.requests.filter((r) => r.path === '/api/chat').length;
    const before = generations();
    llm.reply({ tokens: ['a', 'b', 'c'], tokenDelayMs: 100 });
    socket.send({ message: 'slow one' });
    await socket.next('stream_start');
    socket.send({ message: 'too soon' });
    expect(await socket.next('error')).toMatchObject({ code: 'busy' });
    expect(await socket.next('stream_end')).toMatchObject({ full_response: 'abc' });
    expect(generations()).toBe(before + 1);
  });

  it('stores what was generated as partial when the client leaves mid-answer, and aborts the upstream call', async () => {
    const socket = await connectChat(url());
    llm.reply({ tokens: ['first ', 'second ', 'third'], tokenDelayMs: 300 });
    socket.send({ message: 'leave early' });
    await socket.next((f) => f.type === 'stream_chunk');
    const id = String(socket.frames[0]?.session_id);
    socket.ws.terminate();
    await waitUntil(async () => {
      const page = await sessionPage(t.app, token, id);
      return page.messages[1]?.status === 'partial';
    }, 'the partial answer to be stored');
    const page = await sessionPage(t.app, token, id);
    expect(page.messages[1]).toMatchObject({
      content: 'first ',
      status: 'partial',
      error: 'the client disconnected',
    });
    await waitUntil(() => llm.requests.at(-1)?.aborted === true, 'the upstream call to be aborted');
  });

  it('authenticates by header and by a first auth frame; refuses bad, missing and late tokens with 1008', async () => {
    const byHeader = await connectChat(`${base}/api/v1/chat/ws`, { headers: bearer(token) });
    expect(byHeader.frames[0]).toMatchObject({ type: 'connection', anonymous: false });

    const byFrame = await connectWs(`${base}/ws`);
    byFrame.send({ type: 'auth', token });
    const hello = await byFrame.next('connection');
    expect(hello).toMatchObject({ anonymous: false });
    byFrame.send({ type: 'ping' });
    await byFrame.next('pong');

    const refusals: [string, Record<string, string>, string][] = [
      [`${base}/api/v1/chat/ws?token=garbage`, {}, 'Invalid or expired token'],
      [`${base}/api/v1/chat/ws`, { authorization: 'Basic dXNlcjpwYXNz' }, 'Invalid authorization header'],
      [`${base}/api/v1/chat/ws`, { authorization: 'Bearer a.b.c' }, 'Invalid or expired token'],
    ];
    for (const [target, headers, reason] of refusals) {
      const socket = await connectWs(target, { headers });
      expect(await socket.waitClosed()).toEqual({ code: 1008, reason });
      expect(socket.ofType('connection')).toHaveLength(0);
    }

    const silent = await connectWs(`${base}/ws`);
    expect(await silent.waitClosed()).toEqual({ code: 1008, reason: 'Authentication timeout' });

    const chatFirst = await connectWs(`${base}/ws`);
    chatFirst.send({ message: 'let me in' });
    expect(await chatFirst.waitClosed()).toEqual({ code: 1008, reason: 'Authentication required' });

    const wrongFrame = await connectWs(`${base}/ws`);
    wrongFrame.send({ type: 'auth', token: 'nope' });
    expect(await wrongFrame.waitClosed()).toEqual({ code: 1008, reason: 'Invalid or expired token' });
  });

  it('refuses a revoked token with 1008', async () => {
    const { tokens } = await registerAndLogin(t.app);
    const out = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(tokens.access_token),
    });
    expect(out.statusCode, out.body).toBeLessThan(300);
    const socket = await connectWs(url('/api/v1/chat/ws', tokens.access_token));
    expect(await socket.waitClosed()).toEqual({ code: 1008, reason: 'Invalid or expired token' });
  });

  it('closes with 1011 when the token cannot be checked (the database is down), and answers a later auth frame 503', async () => {
    const down = () => Promise.reject(new Error('Connection terminated unexpectedly'));
    const open = await connectChat(url());
    const spy = vi.spyOn(t.app, 'authenticateToken').mockImplementation(down);
    try {
      const byQuery = await connectWs(url());
      expect(await byQuery.waitClosed()).toEqual({ code: 1011, reason: 'Server unavailable: try again' });
      const byFrame = await connectWs(`${base}/ws`);
      byFrame.send({ type: 'auth', token });
      expect(await byFrame.waitClosed()).toEqual({ code: 1011, reason: 'Server unavailable: try again' });
      open.send({ type: 'auth', token });
      expect(await open.next('error')).toMatchObject({ code: 'database_unavailable', status: 503 });
    } finally {
      spy.mockRestore();
    }
    open.send({ type: 'ping' });
    await open.next('pong');
  });

  it('shows each turn on the owner’s other sockets (from a socket and from HTTP), once, and to nobody else', async () => {
    const asker = await connectChat(url());
    const watcher = await connectChat(url('/ws'));
    const stranger = await connectChat(url('/api/v1/chat/ws', otherToken));

    llm.reply({ tokens: ['seen ', 'twice'] });
    asker.send({ message: 'broadcast me' });
    await asker.next('stream_end');
    const end = await watcher.next('stream_end');
    expect(end).toMatchObject({ full_response: 'seen twice', session_id: asker.frames[0]?.session_id });
    expect(watcher.frames.slice(1).map((f) => f.type)).toEqual([
      'message_received',
      'stream_start',
      'stream_chunk',
      'stream_chunk',
      'stream_end',
    ]);
    expect(watcher.ofType('message_received')[0]).toMatchObject({ message: 'broadcast me' });
    // The asker got its frames once, not again through the channel.
    expect(asker.ofType('stream_end')).toHaveLength(1);
    expect(asker.ofType('message_received')).toHaveLength(1);

    llm.reply({ tokens: ['from http'] });
    const answer = await chatOk(t.app, { message: 'asked over HTTP' }, token);
    const httpEnd = await watcher.next(
      (f: Frame) => f.type === 'stream_end' && f.session_id === answer.session_id,
    );
    expect(httpEnd).toMatchObject({ full_response: 'from http', message_id: answer.message_id });
    await asker.next((f: Frame) => f.type === 'stream_end' && f.session_id === answer.session_id);

    stranger.send({ type: 'ping' });
    await stranger.next('pong');
    expect(stranger.frames.map((f) => f.type)).toEqual(['connection', 'pong']);
  });
});

describeEachDialect('chat WebSocket for anonymous owners', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    llm = await startLlmStandIn();
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', ALLOW_ANONYMOUS_CHAT: 'true' },
    });
    base = (await t.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
  });
  afterEach(() => {
    closeAllSockets();
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('chats anonymously, and the HTTP cookie owner is the socket’s owner when the cookie comes along', async () => {
    llm.reply({ tokens: ['hi stranger'] });
    const first = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/',
      payload: { message: 'over http' },
    });
    expect(first.statusCode, first.body).toBe(200);
    const cookie = String(first.headers['set-cookie']).split(';')[0] ?? '';
    const sessionId = first.json<{ session_id: string }>().session_id;

    const withCookie = await connectChat(`${base}/api/v1/chat/ws`, { headers: { cookie } });
    expect(withCookie.frames[0]).toMatchObject({ anonymous: true, user: null });
    withCookie.send({ type: 'get_history', session_id: sessionId });
    const history = await withCookie.next('history');
    expect((history.messages as { content: string }[]).map((m) => m.content)).toEqual([
      'over http',
      'hi stranger',
    ]);

    const noCookie = await connectChat(`${base}/ws`);
    llm.reply({ tokens: ['anon answer'] });
    noCookie.send({ message: 'no cookie here' });
    expect(await noCookie.next('stream_end')).toMatchObject({ full_response: 'anon answer' });
  });

  it('lets an anonymous socket sign in with an auth frame: a new session of the user’s own', async () => {
    const { tokens, user } = await registerAndLogin(t.app);
    const socket = await connectChat(`${base}/ws`);
    const anonymousSession = socket.frames[0]?.session_id;
    socket.send({ type: 'auth', token: tokens.access_token });
    const signedIn = await socket.next('authenticated');
    expect(signedIn).toMatchObject({ user: { id: user.id } });
    expect(signedIn.session_id).not.toBe(anonymousSession);
    llm.reply({ tokens: ['yours'] });
    socket.send({ message: 'now as a user' });
    await socket.next('stream_end');
    const page = await sessionPage(t.app, tokens.access_token, String(signedIn.session_id));
    expect(page.messages.map((m) => m.content)).toEqual(['now as a user', 'yours']);
  });
});

describeEachDialect('chat WebSocket token expiry', (dialect) => {
  const clock = new ManualClock();
  let t: TestApp;
  let base: string;
  let username: string;

  beforeAll(async () => {
    t = await buildTestApp({ dialect, clock, env: { ACCESS_TOKEN_EXPIRE_MINUTES: '30' } });
    base = (await t.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
    username = (await registerAndLogin(t.app)).user.username;
  });
  afterEach(() => closeAllSockets());
  afterAll(async () => {
    await t?.close();
  });

  /** A token of `username`, with the clock moved on to `secondsLeft` (real) seconds before its expiry. */
  async function expiringToken(secondsLeft: number): Promise<string> {
    const { access_token: access } = await login(t.app, username);
    const payload = JSON.parse(Buffer.from(access.split('.')[1] ?? '', 'base64url').toString()) as {
      exp: number;
    };
    clock.advance(payload.exp * 1000 - secondsLeft * 1000 - clock.now().getTime());
    return access;
  }

  it('closes the socket with 1008 when its token expires', async () => {
    const socket = await connectChat(`${base}/api/v1/chat/ws?token=${await expiringToken(0.5)}`);
    expect(await socket.waitClosed()).toEqual({ code: 1008, reason: 'Token expired' });
  });

  it('keeps the socket past the first token’s expiry once a fresh auth frame came', async () => {
    const socket = await connectChat(`${base}/api/v1/chat/ws?token=${await expiringToken(0.5)}`);
    const { access_token: fresh } = await login(t.app, username);
    socket.send({ type: 'auth', token: fresh });
    const renewed = await socket.next('authenticated');
    expect(Date.parse(String(renewed.expires_at))).toBeGreaterThan(clock.now().getTime() + 60_000);
    // Past the first token's expiry (0.5 s), with a margin: still open and answering.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    socket.send({ type: 'ping' });
    await socket.next('pong');
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });

  it('refuses a fresh token of another user on an open socket, which keeps its own', async () => {
    const socket = await connectChat(
      `${base}/api/v1/chat/ws?token=${(await login(t.app, username)).access_token}`,
    );
    const other = await registerAndLogin(t.app);
    socket.send({ type: 'auth', token: other.tokens.access_token });
    expect(await socket.next('error')).toMatchObject({ code: 'token_user_mismatch' });
    socket.send({ type: 'ping' });
    await socket.next('pong');
  });
});
