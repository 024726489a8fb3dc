// Chats still running when a graceful shutdown gives up waiting (SHUTDOWN_TIMEOUT_MS), on the real startServer()
// over real sockets: a stream ends with an `error` event `server_shutting_down` (not a silent cut), a JSON chat (and
// an embedding) gets 503 `server_shutting_down`, the partial answer is stored with that reason, and the LLM circuit
// breaker does not count our own cancellation as a provider failure. What was stored is read back through a second
// server on the same database, as after a restart.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../../src/config.js';
import { startServer, type RunningServer } from '../../../src/server.js';
import { TEST_JWT_SECRET } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { storedMessagesAfterClose } from './chat.helpers.js';
import { openRequests, streamChat, tokensOf } from './chat-socket.helpers.js';

/** Long enough to register, log in and read a few tokens; the model would talk for 20 s. */
const SHUTDOWN_TIMEOUT_MS = 1500;
const PIECES = Array.from({ length: 200 }, (_, i) => `w${i + 1} `);
const TOKEN_DELAY_MS = 100;
/** Stored with the answer, where a client leaving stores 'the client disconnected'. */
const SHUTDOWN_REASON = 'the server shut down before the answer was complete';

describeEachDialect('chats running when the shutdown timeout is reached', (dialect) => {
  let llm: LlmStandIn;
  let database: FreshDatabase;
  let config: Config;
  let server: RunningServer | undefined;

  beforeEach(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    database = await freshDatabase(dialect);
    config = parseConfig(
      {
        ENVIRONMENT: 'test',
        DATA_DIR: database.dataDir,
        DATABASE_URL: database.url,
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'silent',
        JWT_SECRET_KEY: TEST_JWT_SECRET,
        BCRYPT_ROUNDS: '4',
        OLLAMA_URL: llm.url,
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        // One failure would open the breaker: the cancellation must not be one.
        LLM_BREAKER_THRESHOLD: '1',
      },
      '0.0.0-test',
    );
    server = await startServer(config, { migrate: true });
  });
  afterEach(async () => {
    for (const req of openRequests.splice(0)) req.destroy();
    await server?.shutdown('test over');
    server = undefined;
    llm.assertNoUnexpected();
    await llm.close();
    await database.drop();
  });

  const storedMessages = (token: string, sessionId: string) =>
    storedMessagesAfterClose(config, token, sessionId);

  /** The breaker is closed and no LLM error or breaker transition was counted. */
  async function expectBreakerUntouched(running: RunningServer): Promise<void> {
    expect(running.app.llm.breakerState()).toBe('closed');
    const text = await running.app.metrics.registry.metrics();
    expect(text).not.toMatch(/^llm_errors_total\{/m);
    expect(text).not.toMatch(/^circuit_breaker_transitions_total\{/m);
    expect(text).toMatch(/^circuit_breaker_state\{breaker="ollama"\} 0$/m);
    expect(text).not.toMatch(/^llm_requests_total\{[^}]*outcome="error"/m);
  }

  it('a stream gets an error event server_shutting_down, then ends; its partial answer is stored with that reason', async () => {
    const running = server as RunningServer;
    const { tokens } = await registerAndLogin(running.app);
    llm.reply({ tokens: PIECES, tokenDelayMs: TOKEN_DELAY_MS });
    const stream = await streamChat(
      running.address,
      { message: 'Talk for a long while', stream: true },
      { token: tokens.access_token, headers: { 'x-request-id': 'cut-short' } },
    );
    await stream.waitFor((frames) => tokensOf(frames).length >= 3, 'three tokens arrived');

    const clean = await running.shutdown('SIGTERM');
    await stream.done;
    // It did not finish within the timeout: the exit code still says so.
    expect(clean).toBe(false);

    const frames = stream.frames.filter((f) => f.event !== 'comment');
    const last = frames.at(-1);
    expect(last?.event, stream.text().slice(-500)).toBe('error');
    expect(last?.data).toEqual({
      detail: expect.stringMatching(/shutting down/i) as unknown,
      code: 'server_shutting_down',
      status: 503,
      request_id: 'cut-short',
    });
    // Nothing after the error event, and the body ended properly (not a connection reset mid-frame).
    expect(stream.text().endsWith('\n\n')).toBe(true);
    expect(stream.res.complete).toBe(true);

    const received = tokensOf(frames).join('');
    expect(received.length).toBeGreaterThan(0);
    const sessionId = (frames[0]?.data as { session_id: string }).session_id;
    const messages = await storedMessages(tokens.access_token, sessionId);
    expect(messages).toHaveLength(2);
    expect(messages[1]).toMatchObject({
      role: 'assistant',
      status: 'partial',
      content: received,
      error: SHUTDOWN_REASON,
    });
    await expectBreakerUntouched(running);
  });

  it('a JSON chat still generating gets 503 server_shutting_down; what was generated is stored with that reason', async () => {
    const running = server as RunningServer;
    const { tokens } = await registerAndLogin(running.app);
    llm.reply({ tokens: PIECES, tokenDelayMs: TOKEN_DELAY_MS });
    const answer = fetch(`${running.address}/api/v1/chat/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(tokens.access_token) },
      body: JSON.stringify({ message: 'Talk for a long while', session_id: 'cut-short-json' }),
    });
    await llm.waitForRequests(1);

    const shutdown = running.shutdown('SIGTERM');
    const response = await answer;
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      detail: expect.stringMatching(/shutting down/i) as unknown,
      code: 'server_shutting_down',
    });
    expect(await shutdown).toBe(false);

    const messages = await storedMessages(tokens.access_token, 'cut-short-json');
    expect(messages).toHaveLength(2);
    const stored = messages[1];
    expect(stored).toMatchObject({ role: 'assistant', error: SHUTDOWN_REASON });
    // The stand-in had been talking for about SHUTDOWN_TIMEOUT_MS: a part of the answer, kept as it was.
    expect(stored?.status).toBe('partial');
    expect(stored?.content.startsWith('w1 w2 '), stored?.content).toBe(true);
    expect(PIECES.join('').startsWith(stored?.content ?? '-')).toBe(true);
    await expectBreakerUntouched(running);
  });

  it('an embedding the model server has not answered yet gets 503 server_shutting_down, not a reset connection', async () => {
    const running = server as RunningServer;
    const { tokens } = await registerAndLogin(running.app);
    llm.script('embed', { hang: true });
    const answer = fetch(`${running.address}/api/v1/models/embed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(tokens.access_token) },
      body: JSON.stringify({ model: 'tinyllama:latest', input: 'a text' }),
    });
    await llm.waitForRequests(1);

    const shutdown = running.shutdown('SIGTERM');
    const response = await answer;
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: 'server_shutting_down' });
    expect(await shutdown).toBe(false);
    await expectBreakerUntouched(running);
  });
});
