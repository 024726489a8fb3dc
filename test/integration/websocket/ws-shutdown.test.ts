// The chat WebSocket in a graceful shutdown (app.close()), on a real listening server with real `ws` clients: an idle
// socket is closed at once with 1001 "Server shutdown"; a socket with an answer in flight gets the whole answer, its
// stream_end, then 1001; and when the shutdown stops waiting (app.interruptRequests(), as server.ts does at
// SHUTDOWN_TIMEOUT_MS) the answer ends with an error frame server_shutting_down before 1001, and what was generated
// is stored as partial. What was stored is read back through a second app on the same database.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import {
  closeAllSockets,
  connectChat,
  connectWs,
  type Frame,
  type TestSocket,
} from '../../helpers/ws-client.js';
import { storedMessagesAfterClose, waitUntil } from '../chat/chat.helpers.js';

const WS_PATH = '/api/v1/chat/ws';
const SHUTDOWN_CLOSE = { code: 1001, reason: 'Server shutdown' };
/** Stored with an answer the shutdown cut short. */
const SHUTDOWN_REASON = 'the server shut down before the answer was complete';

const chunksOf = (socket: TestSocket) =>
  socket
    .ofType('stream_chunk')
    .map((frame) => frame.content as string)
    .join('');

describe('sockets in a graceful shutdown', () => {
  let llm: LlmStandIn;
  let t: TestApp;
  let url: string;
  let closing: Promise<void> | undefined;

  beforeEach(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({ dialect: 'sqlite', env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
    url = (await t.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
    closing = undefined;
  });
  afterEach(async () => {
    closeAllSockets();
    // A test that failed early may leave a generation that the close would wait for.
    t.app.interruptRequests();
    await (closing ?? t.app.close());
    await t.database.drop();
    llm.assertNoUnexpected();
    await llm.close();
  });

  const close = () => (closing = t.app.close());

  async function signedInSocket() {
    const { tokens } = await registerAndLogin(t.app);
    const socket = await connectChat(`${url}${WS_PATH}`, { headers: bearer(tokens.access_token) });
    return { token: tokens.access_token, socket };
  }

  const storedMessages = (token: string, sessionId: string) =>
    storedMessagesAfterClose(t.config, token, sessionId);

  it('closes an idle socket with 1001 "Server shutdown"', async () => {
    const { socket } = await signedInSocket();
    void close();
    expect(await socket.waitClosed()).toEqual(SHUTDOWN_CLOSE);
    await closing;
  });

  it('lets an answer in flight finish: the whole stream and its stream_end, then 1001', async () => {
    const tokens = Array.from({ length: 10 }, (_, i) => `piece${i} `);
    llm.reply({ tokens, tokenDelayMs: 50 });
    const { token, socket } = await signedInSocket();
    socket.send({ type: 'chat', message: 'Tell me something', session_id: 'in-flight' });
    await socket.next('stream_chunk');

    void close();
    expect(await socket.waitClosed(10_000)).toEqual(SHUTDOWN_CLOSE);
    const last = socket.frames.at(-1);
    expect(last).toMatchObject({
      type: 'stream_end',
      full_response: tokens.join(''),
      session_id: 'in-flight',
    });
    expect(chunksOf(socket)).toBe(tokens.join(''));
    expect(socket.ofType('error')).toEqual([]);
    await closing;

    const messages = await storedMessages(token, 'in-flight');
    expect(messages.map((m) => [m.role, m.status, m.content])).toEqual([
      ['user', 'complete', 'Tell me something'],
      ['assistant', 'complete', tokens.join('')],
    ]);
  });

  it('when the shutdown stops waiting, ends the answer with server_shutting_down, then 1001, and stores it as partial', async () => {
    // Fifty seconds of answer: it cannot end before the test interrupts it.
    const pieces = Array.from({ length: 1000 }, (_, i) => `w${i + 1} `);
    llm.reply({ tokens: pieces, tokenDelayMs: 50 });
    const busy = await signedInSocket();
    const idle = await signedInSocket();
    busy.socket.send({ type: 'chat', message: 'Talk for a long while', session_id: 'cut-short' });
    await waitUntil(() => busy.socket.ofType('stream_chunk').length >= 3, 'three chunks arrived');
    const late = await registerAndLogin(t.app);

    void close();
    // The idle socket is closed at once; the busy one waits for its answer.
    expect(await idle.socket.waitClosed()).toEqual(SHUTDOWN_CLOSE);
    expect(busy.socket.ws.readyState).toBe(busy.socket.ws.OPEN);
    // A new chat on the busy socket is refused for the shutdown, not as busy.
    busy.socket.send({ type: 'chat', message: 'one more' });
    expect(await busy.socket.next('error')).toMatchObject({ code: 'server_shutting_down' });
    // Meanwhile a new socket is refused before its upgrade.
    await expect(
      connectWs(`${url}${WS_PATH}`, { headers: bearer(late.tokens.access_token) }),
    ).rejects.toThrow(/^upgrade answered 503$|ECONNREFUSED/);

    t.app.interruptRequests();
    expect(await busy.socket.waitClosed()).toEqual(SHUTDOWN_CLOSE);
    const last: Frame | undefined = busy.socket.frames.at(-1);
    expect(busy.socket.ofType('error')).toHaveLength(2);
    expect(last).toMatchObject({
      type: 'error',
      code: 'server_shutting_down',
      status: 503,
      session_id: 'cut-short',
    });
    expect(busy.socket.ofType('stream_end')).toEqual([]);
    await closing;

    const received = chunksOf(busy.socket);
    expect(received.startsWith('w1 w2 w3 ')).toBe(true);
    const messages = await storedMessages(busy.token, 'cut-short');
    expect(messages).toHaveLength(2);
    expect(messages[1]).toMatchObject({
      role: 'assistant',
      status: 'partial',
      content: received,
      error: SHUTDOWN_REASON,
    });
  });
});
