// What the general rate limit costs, two tables:
// - GET /api/v1/auth/me with a bearer token (a cheap authenticated route) on the built server with the limit on,
//   kept in Redis, against the same server with it off (RATE_LIMIT_PER_MINUTE=0, the same REDIS_URL), in interleaved
//   rounds whose first side alternates, reported as the ratio of the medians and the ratio within each round. The
//   load rotates over the tokens of BENCH_RATE_LIMIT_USERS users (bench/rate-limit-load.ts). Target: ≥ 0.85×.
//   Without a reachable Redis this table is skipped, with the reason.
// - heap bytes per identity of the in-memory store (bench/rate-limit-memory.ts, a child process with --expose-gc).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { BenchSettings } from './bench-settings.js';
import type { Measurement } from './measure-load.js';
import { generalLimitCounters, measureMe, ME_PATH, probeMe, userTokens } from './rate-limit-load.js';
import type { MemoryReport } from './rate-limit-memory.js';
import { redisUnavailableReason } from './redis-probe.js';
import { median } from './report.js';
import type { RunningServer, ServerSpec } from './server-process.js';
import { ourServerSpec } from './servers-under-test.js';
import { redactRedisUrl } from '../src/platform/redis.js';

const TARGET_RATIO = 0.85;
const PER_MINUTE_ON = 1_000_000;
const repoRoot = path.resolve(import.meta.dirname, '..');

type Mode = 'on' | 'off';

function rateLimitSpec(workDir: string, mode: Mode, redisUrl: string, keyPrefix: string): ServerSpec {
  const spec = ourServerSpec(workDir, { logLevel: 'warn', redisUrl, slug: `rate-limit-${mode}` });
  return {
    ...spec,
    name: `ours, LOG_LEVEL=warn, general rate limit ${mode}`,
    env: {
      ...spec.env,
      REDIS_KEY_PREFIX: keyPrefix,
      RATE_LIMIT_PER_MINUTE: mode === 'on' ? String(PER_MINUTE_ON) : '0',
      RATE_LIMIT_BURST: '0',
      RATE_LIMIT_REGISTER: '0',
      RATE_LIMIT_LOGIN_FAILURES: '0',
      // Only the setup hashes passwords (registrations, logins); the measured route never does.
      BCRYPT_ROUNDS: '4',
    },
  };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** The per-user windows the limit left in Redis under `prefix` (sorted sets), and the admissions they hold. */
async function redisWindows(client: Redis, prefix: string): Promise<{ windows: number; entries: number }> {
  let windows = 0;
  let entries = 0;
  for await (const keys of client.scanStream({
    match: `${prefix}rate-limit:{general:user:*}:log`,
    count: 1000,
  })) {
    for (const key of keys as string[]) {
      windows += 1;
      entries += await client.zcard(key);
    }
  }
  return { windows, entries };
}

async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  for await (const keys of client.scanStream({ match: `${prefix}*`, count: 1000 })) {
    if ((keys as string[]).length > 0) await client.unlink(...(keys as string[]));
  }
}

async function loadTable(
  settings: BenchSettings,
  workDir: string,
  start: (spec: ServerSpec) => Promise<RunningServer>,
) {
  const runPrefix = `sutazai-bench:rate-limit:${Date.now().toString(36)}-${process.pid}:`;
  const prefixes: Record<Mode, string> = { on: `${runPrefix}on:`, off: `${runPrefix}off:` };
  const redis = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const on = await start(rateLimitSpec(workDir, 'on', settings.redisUrl, prefixes.on));
    const off = await start(rateLimitSpec(workDir, 'off', settings.redisUrl, prefixes.off));
    const tokens = new Map<RunningServer, string[]>();
    for (const server of [on, off]) {
      console.error(`registering and logging in ${settings.rateLimitUsers} users on ${server.name}…`);
      const list = await userTokens(server.url, settings.rateLimitUsers);
      tokens.set(server, list);
      // The two sides must differ in the limit, and only in it: on answers with its headers, off without.
      const { limitHeader } = await probeMe(server.url, list[0] as string);
      const expected = server === on ? String(PER_MINUTE_ON) : null;
      if (limitHeader !== expected) {
        throw new Error(`${server.name}: X-RateLimit-Limit is ${limitHeader}, expected ${expected}`);
      }
    }
    const measure = async (server: RunningServer, seconds: number): Promise<Measurement> => {
      const m = await measureMe(server.url, tokens.get(server) ?? [], settings, seconds);
      if (server.exited())
        throw new Error(`${server.name} exited during the measurement (log: ${server.logFile})`);
      return m;
    };
    for (const server of [on, off]) {
      console.error(`warming up ${server.name} for ${settings.warmupSeconds} s…`);
      await measure(server, settings.warmupSeconds);
    }
    const before = await generalLimitCounters(on.url);
    const rounds: Record<Mode, Measurement>[] = [];
    for (let round = 1; round <= settings.rateLimitRounds; round += 1) {
      const order = round % 2 === 1 ? [on, off] : [off, on];
      const got = new Map<RunningServer, Measurement>();
      for (const server of order) {
        const m = await measure(server, settings.durationSeconds);
        got.set(server, m);
        console.error(
          `round ${round}/${settings.rateLimitRounds}  ${server.name}: ${int(m.requestsPerSecond)} req/s, ` +
            `p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms`,
        );
      }
      rounds.push({ on: got.get(on) as Measurement, off: got.get(off) as Measurement });
    }
    const after = await generalLimitCounters(on.url);
    const windows = await redisWindows(redis, prefixes.on);
    await Promise.all([on.stop(), off.stop()]);
    return {
      rounds,
      measured: {
        allowed: after.allowed - before.allowed,
        limited: after.limited - before.limited,
        backendErrors: after.backendErrors - before.backendErrors,
      },
      windows,
    };
  } finally {
    // Best effort: the windows expire on their own a minute after their last request anyway.
    await deleteKeys(redis, runPrefix).catch((error: unknown) => {
      console.error(`could not delete the bench's Redis keys (${runPrefix}*): ${String(error)}`);
    });
    redis.disconnect();
  }
}

async function renderLoadTable(
  settings: BenchSettings,
  workDir: string,
  start: (spec: ServerSpec) => Promise<RunningServer>,
): Promise<string[]> {
  const redisProblem = await redisUnavailableReason(settings.redisUrl);
  if (redisProblem) {
    const reason =
      `the limit on is measured in Redis and ${redactRedisUrl(settings.redisUrl)} is unreachable ` +
      `(${redisProblem}); set BENCH_REDIS_URL`;
    console.error(`SKIPPED rate limit on vs off: ${reason}`);
    return [`SKIPPED: ${reason}.`];
  }
  const { rounds, measured, windows } = await loadTable(settings, workDir, start);
  const summary = (side: Mode) => ({
    rps: median(rounds.map((r) => r[side].requestsPerSecond)),
    p50: median(rounds.map((r) => r[side].p50Ms)),
    p99: median(rounds.map((r) => r[side].p99Ms)),
    list: rounds.map((r) => int(r[side].requestsPerSecond)).join(', '),
  });
  const withIt = summary('on');
  const without = summary('off');
  const ratio = withIt.rps / without.rps;
  const perRound = rounds.map((r) => (r.on.requestsPerSecond / r.off.requestsPerSecond).toFixed(3));
  const fallback =
    measured.backendErrors > 0
      ? ` — so that many were decided in the server’s memory instead (RATE_LIMIT_REDIS_TIMEOUT_MS), and the “on” figure is not Redis’s alone`
      : '';
  return [
    `Load: autocannon (in the bench process), GET ${ME_PATH} with \`Authorization: Bearer\` rotating over the ` +
      `access tokens of ${settings.rateLimitUsers} users (registered and logged in over HTTP on each server ` +
      `beforehand), ${settings.connections} connections, pipelining ${settings.pipelining}, ` +
      `${settings.durationSeconds} s per measurement, ${settings.rateLimitRounds} interleaved round(s) (the first ` +
      `side alternating) after ${settings.warmupSeconds} s warm-up per server; every response checked (2xx and a ` +
      `bench user’s body). Both sides are the built server (dist/), WORKERS=1, LOG_LEVEL=warn, SQLite in a fresh ` +
      `DATA_DIR, REDIS_URL=${redactRedisUrl(settings.redisUrl)} with a REDIS_KEY_PREFIX of their own, ` +
      'RATE_LIMIT_BURST=0, RATE_LIMIT_REGISTER=0, RATE_LIMIT_LOGIN_FAILURES=0, BCRYPT_ROUNDS=4 (only the setup ' +
      `hashes), differing only in RATE_LIMIT_PER_MINUTE (${PER_MINUTE_ON} on, 0 off).`,
    '',
    '| server | req/s (median) | p50 ms | p99 ms | ratio vs off | rounds (req/s) |',
    '|---|---:|---:|---:|---:|---|',
    `| general rate limit off | ${int(without.rps)} | ${without.p50} | ${without.p99} | 1.000× | ${without.list} |`,
    `| general rate limit on (Redis) | ${int(withIt.rps)} | ${withIt.p50} | ${withIt.p99} | ${ratio.toFixed(3)}× | ${withIt.list} |`,
    '',
    `- Ratio per round (on / off): ${perRound.join(', ')}.`,
    `- Target (on ≥ ${TARGET_RATIO.toFixed(2)}× off): ${ratio.toFixed(3)}× — ${ratio >= TARGET_RATIO ? 'MET' : 'NOT MET'}`,
    `- The limit’s decisions during the rounds (server’s /metrics): ${int(measured.allowed)} allowed, ` +
      `${int(measured.limited)} limited, ${int(measured.backendErrors)} Redis errors or timeouts${fallback}. ` +
      `Redis held ${windows.windows} per-user windows with ${int(windows.entries)} admissions in all at the end.`,
  ];
}

async function memoryTable(): Promise<string[]> {
  const script = path.join(repoRoot, 'bench', 'rate-limit-memory.ts');
  console.error('measuring the in-memory store’s bytes per identity…');
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
    cwd: repoRoot,
  });
  const report = JSON.parse(stdout) as MemoryReport;
  const rows = report.results.map((r) => {
    const { limit, windowMs, burst } = r.policy;
    const policy = `${limit} per ${windowMs / 1000} s${burst === undefined ? '' : `, ${burst} at once`}`;
    const repeats = r.repeats.map((n) => int(n)).join(', ');
    return `| ${policy} | ${r.requests} | ${int(r.bytesPerIdentity)} | ${repeats} |`;
  });
  return [
    `### Memory per identity of the in-memory store (MemoryRateLimitStore)`,
    '',
    `Heap used (after global.gc()) by one store holding ${int(report.identities)} identities, less the heap before, ` +
      'divided by the identities: each identity makes its requests through decide() with the key the general limit ' +
      'builds (`general:user:<n>`), all admitted; the clock (ManualClock) stands still so that none is swept, and ' +
      `maxKeys is above the count so that none is evicted. Node ${report.node} with --expose-gc, in a child ` +
      'process (bench/rate-limit-memory.ts); median of the repeats, each in a fresh store.',
    '',
    '| policy | requests per identity | bytes per identity (median) | repeats |',
    '|---|---:|---:|---|',
    ...rows,
  ];
}

export async function runRateLimitSection(
  settings: BenchSettings,
  workDir: string,
  start: (spec: ServerSpec) => Promise<RunningServer>,
): Promise<string> {
  const load = await renderLoadTable(settings, workDir, start);
  const memory = await memoryTable();
  return [
    '## General rate limit: GET /api/v1/auth/me with the limit on (Redis) vs off',
    '',
    ...load,
    '',
    ...memory,
  ].join('\n');
}
