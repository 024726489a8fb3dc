// Graceful shutdown of the real startServer()/exitOnSignals() (src/server.ts), driven from outside over real
// sockets: the fixture test/fixtures/slow-server.ts adds GET /slow, which waits and THEN touches the database (and
// Redis), so a 200 proves both were still open when the request finished.
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig, type Dialect } from '../../src/config.js';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { STRONG_PASSWORD, bearer, newUser } from '../helpers/auth.js';
import type { FreshDatabase } from '../helpers/databases.js';
import { describeEachDialect, describeWithRedis } from '../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../helpers/llm-stand-in.js';
import { TEST_REDIS_URL } from '../helpers/services.js';
import {
  freshDatabaseEachTest,
  httpGet,
  listeningPort,
  REPO_ROOT,
  spawnCli,
  spawnNode,
  spawnSlowServer,
  type Spawned,
} from '../helpers/spawn.js';
import type { SessionPage } from '../integration/chat/chat.helpers.js';
import { openRequests, streamChat, tokensOf } from '../integration/chat/chat-socket.helpers.js';

const SLOW_MS = 3000;
// Long enough for the slow requests, shorter than they plus Node's 5 s keep-alive timeout: a server that waited
// for its idle kept-alive connections to time out (instead of closing them) would overrun it and exit 1.
const SHUTDOWN_TIMEOUT_MS = '6000';

function serverEnv(database: FreshDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ENVIRONMENT: 'test',
    DATA_DIR: database.dataDir,
    DATABASE_URL: database.url,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

const isShutdownStart = (line: Record<string, unknown>) =>
  line.msg === 'shutting down: finishing in-flight requests';

/** What a new connection gets: "HTTP <status>" or the socket error code. */
async function probe(port: number): Promise<string> {
  try {
    return `HTTP ${(await httpGet(port, '/health', { timeoutMs: 5000 })).status}`;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

/**
 * Three slow requests on kept-alive connections, a signal once the server is handling all three, then: a new
 * connection is not served, the three complete with 200 (after the signal), and the process exits 0.
 */
async function drainsInFlightRequests(
  server: Spawned,
  signal: NodeJS.Signals,
  expected: { database: Dialect; redis: 'pong' | 'none' },
): Promise<void> {
  const port = await listeningPort(server);
  expect(await probe(port)).toBe('HTTP 200'); // the probe does reach a running server

  const agent = new http.Agent({ keepAlive: true });
  const ids = ['one', 'two', 'three'];
  let settled = 0;
  const answers = ids.map((id) =>
    httpGet(port, `/slow?ms=${SLOW_MS}&id=${id}`, {
      agent,
      headers: { 'x-request-id': `slow-${id}` },
    }).finally(() => (settled += 1)),
  );
  try {
    for (const id of ids) {
      await server.waitForLog(
        `slow request ${id} to start`,
        (l) => l.request_id === `slow-${id}` && l.msg === 'slow request started',
      );
    }
    server.signal(signal);
    await server.waitForLog('the shutdown to start', isShutdownStart);

    // The server handles the signal in a few ticks after logging it; a probe sent in between is still answered
    // (with 503 by then), so only a 200 would be a failure. Retried briefly in case this process is that fast.
    let probed = await probe(port);
    for (let attempt = 0; probed === 'HTTP 200' && attempt < 10; attempt += 1) probed = await probe(port);
    expect(['ECONNREFUSED', 'ECONNRESET', 'HTTP 503']).toContain(probed);
    expect(settled).toBe(0); // refused while the slow requests were still in flight, not after the server was gone

    for (const [i, answer] of (await Promise.all(answers)).entries()) {
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ id: ids[i], ...expected });
    }
    // The client keeps its idle connections open, as pooling clients and browsers do: the server must close them.
    expect(await server.waitForExit(20_000)).toEqual({ code: 0, signal: null });
  } finally {
    agent.destroy();
  }

  // In order: the shutdown started, then the three requests completed, then the server closed.
  const index = (match: (l: Record<string, unknown>) => boolean) => server.logs.findIndex(match);
  const started = index(isShutdownStart);
  for (const id of ids) {
    const completed = index((l) => l.request_id === `slow-${id}` && l.msg === 'request completed');
    expect(completed).toBeGreaterThan(started);
  }
  expect(index((l) => l.msg === 'shut down cleanly')).toBeGreaterThan(started);
  expect(server.stderr).toBe('');
}

describeEachDialect('graceful shutdown', (dialect) => {
  const database = freshDatabaseEachTest(dialect);

  it('SIGTERM: in-flight requests finish (database still open), new connections are refused, exit 0', async () => {
    const server = spawnSlowServer(serverEnv(database, { SHUTDOWN_TIMEOUT_MS }));
    await drainsInFlightRequests(server, 'SIGTERM', { database: dialect, redis: 'none' });
  });

  it('a request outlasting SHUTDOWN_TIMEOUT_MS is cut off and the process exits 1 instead of hanging', async () => {
    const server = spawnSlowServer(serverEnv(database, { SHUTDOWN_TIMEOUT_MS: '300' }));
    const port = await listeningPort(server);
    // On PostgreSQL the request holds a pool connection in a 60 s query: closing the pool must not wait for it.
    const route = dialect === 'postgres' ? '/pg-sleep?s=60' : '/slow?ms=60000&id=stuck';
    const answer = httpGet(port, route, { headers: { 'x-request-id': 'stuck' } }).then(
      (a) => `HTTP ${a.status}`,
      (error: NodeJS.ErrnoException) => error.code ?? error.message,
    );
    await server.waitForLog(
      'the stuck request to start',
      (l) => l.request_id === 'stuck' && /started$/.test(String(l.msg)),
    );
    server.signal('SIGTERM');

    expect(await server.waitForExit(15_000)).toEqual({ code: 1, signal: null });
    expect(await answer).toMatch(/^(ECONNRESET|socket hang up)$/);
    expect(server.logs).toContainEqual(
      expect.objectContaining({ msg: 'shutdown timeout reached: closing the connections still open' }),
    );
    expect(server.logs).not.toContainEqual(expect.objectContaining({ msg: 'shut down cleanly' }));
  });
});

describeWithRedis('graceful shutdown with REDIS_URL', () => {
  const database = freshDatabaseEachTest('sqlite');

  it('SIGTERM: in-flight requests still reach Redis and the database, then the process exits 0', async () => {
    const server = spawnSlowServer(serverEnv(database, { SHUTDOWN_TIMEOUT_MS, REDIS_URL: TEST_REDIS_URL }));
    await drainsInFlightRequests(server, 'SIGTERM', { database: 'sqlite', redis: 'pong' });
  });
});

describe('graceful shutdown on SIGINT', () => {
  const database = freshDatabaseEachTest('sqlite');

  it('SIGINT (Ctrl-C) drains in-flight requests and exits 0, like SIGTERM', async () => {
    const server = spawnSlowServer(serverEnv(database, { SHUTDOWN_TIMEOUT_MS }));
    await drainsInFlightRequests(server, 'SIGINT', { database: 'sqlite', redis: 'none' });
  });
});

/**
 * `sutazai serve` (WORKERS=1 or a cluster) with a chat streaming slowly from the stand-in LLM when SIGTERM comes:
 * past SHUTDOWN_TIMEOUT_MS the stream's last event is an `error` server_shutting_down and its body ends properly,
 * the partial answer is stored with that reason (read back through a new app on the same database), the breaker
 * never opened, and the process exits 1 (the timeout was reached).
 */
async function streamInterruptedBySigterm(
  database: FreshDatabase,
  llm: LlmStandIn,
  extra: Record<string, string>,
) {
  const env = serverEnv(database, {
    JWT_SECRET_KEY: TEST_JWT_SECRET,
    BCRYPT_ROUNDS: '4',
    OLLAMA_URL: llm.url,
    SHUTDOWN_TIMEOUT_MS: '1000',
    LLM_BREAKER_THRESHOLD: '1',
    ...extra,
  });
  const server = spawnCli(['serve'], env);
  const base = `http://127.0.0.1:${await listeningPort(server)}`;
  // Every worker ready, so that each of them has its signal handler when SIGTERM is forwarded.
  const workers = Number(extra.WORKERS ?? '1');
  await server.waitFor(`${workers} servers listening`, () =>
    server.logs.filter((l) => String(l.msg).startsWith('Server listening at ')).length >= workers
      ? true
      : undefined,
  );
  const user = newUser();
  const registered = await fetch(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(user),
  });
  expect(registered.status, await registered.text()).toBe(201);
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: user.username, password: STRONG_PASSWORD }).toString(),
  });
  const token = ((await login.json()) as { access_token: string }).access_token;

  llm.reply({ tokens: Array.from({ length: 200 }, (_, i) => `w${i + 1} `), tokenDelayMs: 100 });
  const stream = await streamChat(base, { message: 'Talk for a long while', stream: true }, { token });
  await stream.waitFor((frames) => tokensOf(frames).length >= 3, 'three tokens arrived');
  server.signal('SIGTERM');
  await stream.done;

  const frames = stream.frames.filter((f) => f.event !== 'comment');
  expect(frames.at(-1)?.event, stream.text().slice(-300)).toBe('error');
  expect(frames.at(-1)?.data).toMatchObject({ code: 'server_shutting_down', status: 503 });
  expect(stream.res.complete).toBe(true);
  expect(await server.waitForExit(20_000)).toEqual({ code: 1, signal: null });
  expect(server.logs).toContainEqual(
    expect.objectContaining({ msg: 'shutdown timeout reached: interrupting the requests still running' }),
  );
  // The interrupted stream ended by itself: nothing was left to cut off, and the provider was never blamed.
  expect(server.logs).not.toContainEqual(
    expect.objectContaining({ msg: 'shutdown timeout reached: closing the connections still open' }),
  );
  expect(server.logs).not.toContainEqual(expect.objectContaining({ msg: 'LLM circuit breaker opened' }));

  const sessionId = (frames[0]?.data as { session_id: string }).session_id;
  const reader = await buildApp(parseConfig({ ...env, LOG_LEVEL: 'silent' }, '0.0.0-test'), {
    migrate: false,
  });
  try {
    const page = await reader.inject({ url: `/api/v1/chat/sessions/${sessionId}`, headers: bearer(token) });
    expect(page.json<SessionPage>().messages[1]).toMatchObject({
      status: 'partial',
      content: tokensOf(frames).join(''),
      error: 'the server shut down before the answer was complete',
    });
  } finally {
    await reader.close();
  }
}

describe('a chat streaming when SIGTERM comes and SHUTDOWN_TIMEOUT_MS passes', () => {
  const database = freshDatabaseEachTest('sqlite');
  let llm: LlmStandIn;
  beforeEach(async () => {
    llm = await startLlmStandIn();
  });
  afterEach(async () => {
    for (const req of openRequests.splice(0)) req.destroy();
    llm.assertNoUnexpected();
    await llm.close();
  });

  it('one process: the stream ends with an error event server_shutting_down, the partial answer is kept', async () => {
    await streamInterruptedBySigterm(database, llm, {});
  }, 90_000);
});

describeWithRedis('a chat streaming in a cluster worker when SIGTERM comes', () => {
  const database = freshDatabaseEachTest('sqlite');
  let llm: LlmStandIn;
  beforeEach(async () => {
    llm = await startLlmStandIn();
  });
  afterEach(async () => {
    for (const req of openRequests.splice(0)) req.destroy();
    llm.assertNoUnexpected();
    await llm.close();
  });

  it('WORKERS=2: the worker forwards the same error event and keeps the partial answer', async () => {
    // A cluster starts slowly on a busy machine (two workers, each building the app).
    await streamInterruptedBySigterm(database, llm, { WORKERS: '2', REDIS_URL: TEST_REDIS_URL });
  }, 90_000);
});

describe('a signal while the server is still starting', () => {
  it('waits for the start, shuts the server down and exits 0 instead of dying of the signal', async () => {
    // A cluster primary that stops a worker right after it listened sent SIGTERM in that window: the worker died of
    // the signal, and the primary exited 1.
    const proc = spawnNode(
      ['--import', 'tsx', path.join(REPO_ROOT, 'test', 'fixtures', 'signal-during-start.ts')],
      {},
    );
    expect(await proc.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    expect(proc.stdout).toBe('shutdown SIGTERM\n');
  });
});
