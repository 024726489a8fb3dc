// WORKERS=N: N processes serving one port through node:cluster, the primary restarting a worker that dies (giving
// up with exit code 1 when one keeps crashing) and stopping them all on SIGTERM. Which process served a request is
// read from its log line (pino's `pid`), and the primary's workers from /proc (its child processes).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeWithRedis } from '../helpers/dialects.js';
import { startHttpStandIn } from '../helpers/health-stand-ins.js';
import { TEST_REDIS_URL } from '../helpers/services.js';
import {
  freshDatabaseEachTest,
  childPids,
  httpGet,
  isAlive,
  killSpawned,
  listeningPort,
  runCli,
  spawnCli,
  type LogLine,
  type Spawned,
} from '../helpers/spawn.js';

const isListening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at ');

/** Pids of the processes that logged "Server listening", in order. */
const listeningPids = (proc: Spawned) => [
  ...new Set(proc.logs.filter(isListening).map((l) => Number(l.pid))),
];

/** The two pids once there are exactly two, else undefined (for waitFor). */
const pairOf = (pids: number[]) => (pids.length === 2 ? pids : undefined);

/** A TCP port free at the time of asking. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Sends `count` GETs, each on a new connection, and returns the pids that logged serving them. */
async function servedBy(proc: Spawned, port: number, prefix: string, count: number): Promise<Set<number>> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) {
    const answer = await httpGet(port, '/health', { headers: { 'x-request-id': id } });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-request-id']).toBe(id);
  }
  const completed = (id: string) =>
    proc.logs.find((l) => l.request_id === id && l.msg === 'request completed');
  await proc.waitFor(`the log lines of ${prefix} requests`, () => ids.every(completed) || undefined, 10_000);
  return new Set(ids.map((id) => Number(completed(id)?.pid)));
}

describe('WORKERS configuration', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-e2e-workers-'));
  });
  afterEach(async () => {
    await killSpawned();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('WORKERS=2 without REDIS_URL exits 1 naming REDIS_URL', async () => {
    const result = await runCli(['serve'], { DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', WORKERS: '2' });
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toMatch(
      /^sutazai serve: Invalid configuration:\n {2}- WORKERS: .*requires REDIS_URL/,
    );
  });

  it('WORKERS=2 with Redis unreachable: the workers fail to start, reported in one line, exit 1', async () => {
    const result = await runCli(['serve'], {
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      WORKERS: '2',
      REDIS_URL: 'redis://127.0.0.1:1/0',
    });
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    expect(result.stderr).toMatch(
      /^sutazai serve: Redis at redis:\/\/127\.0\.0\.1:1\/0 is unreachable: .*\n$/,
    );
    expect(result.stdout).toContain('a worker failed to start; stopping');
  });
});

describeWithRedis('WORKERS=2 on one port', () => {
  const database = freshDatabaseEachTest('sqlite');

  const env = (overrides: Record<string, string> = {}) => ({
    ENVIRONMENT: 'test',
    DATA_DIR: database.dataDir,
    DATABASE_URL: database.url,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    WORKERS: '2',
    REDIS_URL: TEST_REDIS_URL,
    ...overrides,
  });

  it('two workers serve, a killed one is replaced, SIGTERM stops them all with exit 0', async () => {
    const primary = spawnCli(['serve'], env());
    const port = await listeningPort(primary);
    await primary.waitFor('two workers listening', () => listeningPids(primary)[1], 30_000);
    const workers = listeningPids(primary).sort((a, b) => a - b);
    expect(workers).not.toContain(primary.pid);
    expect(childPids(primary.pid)).toEqual(workers);

    // New connections are spread over the workers: both served some of them.
    expect(await servedBy(primary, port, 'first', 8)).toEqual(new Set(workers));

    const [victim = 0, survivor = 0] = workers;
    process.kill(victim, 'SIGKILL');
    await primary.waitForLog(
      'the primary to see the worker die',
      (l) => l.msg === 'worker died; starting a new one' && l.worker_pid === victim && l.signal === 'SIGKILL',
    );
    const replacement = await primary.waitFor(
      'a replacement worker listening',
      () => listeningPids(primary).find((pid) => !workers.includes(pid)),
      30_000,
    );
    expect(isAlive(victim)).toBe(false);
    expect(childPids(primary.pid)).toEqual([survivor, replacement].sort((a, b) => a - b));
    expect(await servedBy(primary, port, 'after-restart', 8)).toEqual(new Set([survivor, replacement]));

    primary.signal('SIGTERM');
    expect(await primary.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    for (const pid of [survivor, replacement]) {
      expect(isAlive(pid)).toBe(false);
      expect(primary.logs).toContainEqual(expect.objectContaining({ pid, msg: 'shut down cleanly' }));
    }
    expect(primary.logs).toContainEqual(expect.objectContaining({ msg: 'all workers stopped' }));
    expect(primary.stderr).toBe('');
    await expect(httpGet(port, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // Several process starts and waits of up to 30 s each: the default 30 s for the whole test is too short.
  }, 120_000);

  it('both workers killed at once: two new ones start and serve the same port, SIGTERM still exits 0', async () => {
    // A fixed port, as in production: with every worker gone node:cluster closes the listening socket, and the new
    // workers must open it again (with PORT=0 they would get another port).
    const port = await freePort();
    const primary = spawnCli(['serve'], env({ PORT: String(port) }));
    const workers = await primary.waitFor(
      'two workers listening',
      () => pairOf(listeningPids(primary)),
      60_000,
    );
    for (const pid of workers) process.kill(pid, 'SIGKILL');

    const replacements = await primary.waitFor(
      'two replacement workers listening',
      () => pairOf(listeningPids(primary).filter((pid) => !workers.includes(pid))),
      60_000,
    );
    const deaths = primary.logs.filter((l) => l.msg === 'worker died; starting a new one');
    expect(deaths.map((l) => [l.worker_pid, l.signal, l.restart_in_ms]).sort()).toEqual(
      workers.map((pid) => [pid, 'SIGKILL', 100]).sort(),
    );
    expect(childPids(primary.pid)).toEqual([...replacements].sort((a, b) => a - b));
    expect(await servedBy(primary, port, 'after-both-died', 8)).toEqual(new Set(replacements));

    primary.signal('SIGTERM');
    expect(await primary.waitForExit(60_000)).toEqual({ code: 0, signal: null });
    for (const pid of replacements) expect(isAlive(pid)).toBe(false);
    expect(primary.stderr).toBe('');
  }, 180_000);

  it('a worker that keeps crashing: restarts with a growing delay, then the other is stopped and the exit is 1', async () => {
    const primary = spawnCli(['serve'], env({ WORKER_RESTART_MAX: '2', WORKER_RESTART_WINDOW_MS: '60000' }));
    const [first = 0, survivor = 0] = await primary.waitFor(
      'two workers listening',
      () => pairOf(listeningPids(primary)),
      60_000,
    );
    // The same slot dies three times: its first worker, then each replacement as soon as it listens.
    const killed = [first];
    process.kill(first, 'SIGKILL');
    for (let restart = 1; restart <= 2; restart += 1) {
      const replacement = await primary.waitFor(
        `replacement ${restart} listening`,
        () => listeningPids(primary).find((pid) => pid !== survivor && !killed.includes(pid)),
        60_000,
      );
      killed.push(replacement);
      process.kill(replacement, 'SIGKILL');
    }

    expect(await primary.waitForExit(60_000)).toEqual({ code: 1, signal: null });
    const deaths = primary.logs.filter((l) => l.msg === 'worker died; starting a new one');
    expect(deaths.map((l) => [l.worker_pid, l.restart_in_ms])).toEqual([
      [killed[0], 100],
      [killed[1], 200],
    ]);
    const givenUp = primary.logs.filter((l) => l.msg === 'a worker keeps crashing; stopping the server');
    expect(givenUp).toEqual([
      expect.objectContaining({ level: 60, worker_pid: killed[2], crashes: 3, window_ms: 60000 }),
    ]);
    expect(primary.stderr).toBe(
      'sutazai serve: a worker crashed 3 times within 60000 ms; stopping the server\n',
    );
    // The healthy worker was stopped, not abandoned: it finished cleanly and is gone.
    expect(primary.logs).toContainEqual(expect.objectContaining({ pid: survivor, msg: 'shut down cleanly' }));
    expect(isAlive(survivor)).toBe(false);
  }, 180_000);

  it('/metrics counts the requests of every worker, whichever worker answers the scrape', async () => {
    const primary = spawnCli(['serve'], env());
    const port = await listeningPort(primary);
    await primary.waitFor('two workers listening', () => listeningPids(primary)[1], 30_000);
    const healthCount = async () => {
      const answer = await httpGet(port, '/metrics');
      expect(answer.status).toBe(200);
      const match = /^http_requests_total\{method="GET",route="\/health",status_code="200"\} (\d+)$/m.exec(
        answer.body,
      );
      return Number(match?.[1] ?? 0);
    };
    const before = await healthCount();
    // Each request on a new connection: both workers serve some (as the test above shows).
    expect((await servedBy(primary, port, 'counted', 12)).size).toBe(2);
    // Several scrapes, each on a new connection and so on either worker, all see the same total.
    for (let i = 0; i < 4; i += 1) expect(await healthCount()).toBe(before + 12);
    const info = await httpGet(port, '/metrics');
    expect(info.body).toMatch(/^app_info\{[^}]*\} 1$/m);
  });

  it('with CONSUL_URL the primary registers the instance once (not each worker) and deregisters it at SIGTERM', async () => {
    const consul = await startHttpStandIn({ '/v1/agent/service/register': [200, ''] });
    try {
      const primary = spawnCli(
        ['serve'],
        env({ CONSUL_URL: consul.url, CONSUL_SERVICE_ADDRESS: '127.0.0.1' }),
      );
      const port = await listeningPort(primary);
      await primary.waitFor('two workers listening', () => listeningPids(primary)[1], 30_000);
      await primary.waitForLog('the registration', (l) => l.msg === 'registered with Consul');
      const id = `sutazai-backend-127.0.0.1-${port}`;
      consul.answer(`/v1/agent/service/deregister/${id}`, 200, '');
      const registrations = consul.received.filter((r) => r.path === '/v1/agent/service/register');
      expect(registrations).toHaveLength(1);
      expect(JSON.parse(registrations[0]?.body ?? '{}')).toMatchObject({ ID: id, Port: port });
      expect(primary.logs).toContainEqual(
        expect.objectContaining({ pid: primary.pid, msg: 'registered with Consul' }),
      );

      primary.signal('SIGTERM');
      const exited = await primary.waitForExit(30_000);
      expect(exited, JSON.stringify(primary.logs.slice(-15)) + primary.stderr).toEqual({
        code: 0,
        signal: null,
      });
      expect(consul.received.filter((r) => r.path === `/v1/agent/service/deregister/${id}`)).toHaveLength(1);
    } finally {
      await consul.close();
    }
  }, 60_000);

  it('Ctrl-C (SIGINT to the whole process group) stops the primary and both workers with exit 0', async () => {
    const primary = spawnCli(['serve'], env());
    const port = await listeningPort(primary);
    const workers = await primary.waitFor('two workers listening', () => {
      const pids = listeningPids(primary);
      return pids.length === 2 ? pids : undefined;
    });
    expect((await httpGet(port, '/health')).status).toBe(200);

    primary.signalGroup('SIGINT');
    expect(await primary.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    for (const pid of workers) {
      expect(isAlive(pid)).toBe(false);
      expect(primary.logs).toContainEqual(expect.objectContaining({ pid, msg: 'shut down cleanly' }));
    }
    // Each worker stopped once: the SIGINT it got and the SIGTERM the primary forwarded are one shutdown.
    expect(primary.logs.filter((l) => l.msg === 'shut down cleanly')).toHaveLength(2);
    expect(primary.logs).not.toContainEqual(
      expect.objectContaining({ msg: 'worker died; starting a new one' }),
    );
    expect(primary.stderr).toBe('');
  });

  it('a port already in use: one line on stderr (not one per worker), exit 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as net.AddressInfo;
      const result = await runCli(['serve'], env({ PORT: String(port) }));
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
      expect(result.stderr).toMatch(new RegExp(`^sutazai serve: cannot listen: .*EADDRINUSE.*:${port}\\n$`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
