// The benchmark's knobs, read once from BENCH_* environment variables. The server's own settings stay in
// src/config.ts; these only shape the load, so they live with the benchmark.
import os from 'node:os';

export interface BenchSettings {
  /** Concurrent keep-alive connections autocannon opens to each server. */
  connections: number;
  /** Seconds of each measured run. */
  durationSeconds: number;
  /** Requests in flight per connection (1 = no HTTP pipelining, like real clients). */
  pipelining: number;
  /** Rounds of interleaved measurements (every section); the tables report the median of each row's rounds. */
  rounds: number;
  /** Seconds of discarded load per server (health, login) before the first measurement, so JIT and caches are warm. */
  warmupSeconds: number;
  /** How long a server may take to answer GET /health after being spawned. */
  readyTimeoutMs: number;
  /** Redis for the WORKERS > 1 row (the server refuses several workers without it) and the rate-limit section. */
  redisUrl: string;
  /** Processes for the WORKERS row: one per core the OS lets us use. */
  workers: number;
  /**
   * Which parts of the benchmark run (BENCH_SECTIONS, comma-separated: health, login, chat, html-safe, rate-limit,
   * websocket, vectors, files); default all.
   */
  sections: Set<BenchSection>;
  /** Login section: concurrent connections logging in, and as many concurrent bcrypt.compare calls for the ceiling. */
  loginConnections: number;
  /**
   * Login section: seconds of each measurement window, login load and bcrypt ceiling alike (each run also spends the
   * ramp before its window opens, about one login latency). With the default 3 rounds the section takes about a minute.
   */
  loginDurationSeconds: number;
  /** Login section: bcrypt cost of the account's hash and of the ceiling (the server's BCRYPT_ROUNDS). */
  bcryptRounds: number;
  /** Login section: UV_THREADPOOL_SIZE given to the server and to the ceiling process alike (default: libuv's, 4). */
  threadPoolSize: number;
  /** Chat section, part 1: chats one at a time, each through our server paired with one straight to the stand-in. */
  chatPairs: number;
  /** Chat section: chats sent on each side before measuring (at the load concurrency), so JIT and caches are warm. */
  chatWarmup: number;
  /** Chat section, part 2: streamed chats kept in flight. */
  chatConcurrency: number;
  /** Chat section, part 2: chats per side and per round (BENCH_ROUNDS rounds, the first side alternating). */
  chatLoadChats: number;
  /** Chat section: tokens in the stand-in's every reply (sent at once, no delay). */
  chatTokens: number;
  /** HTML-safe JSON section: interleaved rounds of the server with and without the encoding. */
  htmlSafeRounds: number;
  /** Rate-limit section: interleaved rounds of the server with the general limit (in Redis) and without it. */
  rateLimitRounds: number;
  /** Rate-limit section: users registered on each server, whose access tokens the load rotates over. */
  rateLimitUsers: number;
  /** WebSocket section, part 1: idle authenticated sockets opened to the server (the target is for 10,000). */
  wsConnections: number;
  /** WebSocket section, part 1: seconds of each CPU window (0 sockets before, N sockets, 0 sockets after). */
  wsWindowSeconds: number;
  /** WebSocket section, part 2: chats one at a time on each side (over one WebSocket, over SSE), interleaved. */
  wsChats: number;
  /** Where the Markdown is saved (BENCH_RESULTS_FILE): a run of some sections can keep docs/benchmarks.md whole. */
  resultsFile: string | undefined;
}

export const BENCH_SECTIONS = [
  'health',
  'login',
  'chat',
  'html-safe',
  'rate-limit',
  'websocket',
  'vectors',
  'files',
] as const;
export type BenchSection = (typeof BENCH_SECTIONS)[number];

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer (got ${JSON.stringify(raw)})`);
  }
  return value;
}

function intInRange(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = positiveInt(env, name, fallback);
  if (value < min || value > max) throw new Error(`${name} must be between ${min} and ${max} (got ${value})`);
  return value;
}

function sections(env: NodeJS.ProcessEnv): Set<BenchSection> {
  const raw = env.BENCH_SECTIONS?.trim();
  if (!raw) return new Set(BENCH_SECTIONS);
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(BENCH_SECTIONS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_SECTIONS must list some of ${BENCH_SECTIONS.join(', ')} (got ${JSON.stringify(raw)})`,
    );
  }
  return new Set(names as BenchSection[]);
}

export function readBenchSettings(env: NodeJS.ProcessEnv): BenchSettings {
  return {
    connections: positiveInt(env, 'BENCH_CONNECTIONS', 50),
    durationSeconds: positiveInt(env, 'BENCH_DURATION', 10),
    pipelining: positiveInt(env, 'BENCH_PIPELINING', 1),
    rounds: positiveInt(env, 'BENCH_ROUNDS', 3),
    warmupSeconds: positiveInt(env, 'BENCH_WARMUP', 3),
    readyTimeoutMs: positiveInt(env, 'BENCH_READY_TIMEOUT_MS', 30_000),
    redisUrl: env.BENCH_REDIS_URL?.trim() || 'redis://127.0.0.1:6379/15',
    workers: os.availableParallelism(),
    sections: sections(env),
    loginConnections: positiveInt(env, 'BENCH_LOGIN_CONNECTIONS', 8),
    loginDurationSeconds: positiveInt(env, 'BENCH_LOGIN_DURATION', 8),
    // The server accepts 4–15 (src/config.ts); 12 is its default.
    bcryptRounds: intInRange(env, 'BENCH_BCRYPT_ROUNDS', 12, 4, 15),
    // libuv's own limit is 1024.
    threadPoolSize: intInRange(env, 'BENCH_UV_THREADPOOL_SIZE', 4, 1, 1024),
    chatPairs: positiveInt(env, 'BENCH_CHAT_PAIRS', 200),
    chatWarmup: positiveInt(env, 'BENCH_CHAT_WARMUP', 500),
    // The server is started with LLM_MAX_CONCURRENT and LLM_MAX_CONCURRENT_PER_USER at 1000 (their maximum).
    chatConcurrency: intInRange(env, 'BENCH_CHAT_CONCURRENCY', 100, 1, 1000),
    chatLoadChats: positiveInt(env, 'BENCH_CHAT_LOAD_CHATS', 1000),
    chatTokens: intInRange(env, 'BENCH_CHAT_TOKENS', 8, 1, 10_000),
    htmlSafeRounds: positiveInt(env, 'BENCH_HTML_SAFE_ROUNDS', 6),
    rateLimitRounds: positiveInt(env, 'BENCH_RATE_LIMIT_ROUNDS', 6),
    rateLimitUsers: intInRange(env, 'BENCH_RATE_LIMIT_USERS', 50, 1, 1000),
    // Each socket is a file descriptor in the bench process and one in the server: the default `ulimit -n` (often
    // 1024) must be raised for the default run, and the ephemeral ports of 127.0.0.1 (about 28,000) bound it too.
    wsConnections: intInRange(env, 'BENCH_WS_CONNECTIONS', 10_000, 1, 25_000),
    wsWindowSeconds: intInRange(env, 'BENCH_WS_WINDOW', 20, 2, 600),
    wsChats: positiveInt(env, 'BENCH_WS_CHATS', 200),
    resultsFile: env.BENCH_RESULTS_FILE?.trim() || undefined,
  };
}
