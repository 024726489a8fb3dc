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
  /** Rounds of interleaved measurements; the table reports the median of each server's rounds. */
  rounds: number;
  /** Seconds of discarded load per server before the first measurement, so the JIT and caches are warm. */
  warmupSeconds: number;
  /** How long a server may take to answer GET /health after being spawned. */
  readyTimeoutMs: number;
  /** Redis for the WORKERS > 1 row (the server refuses several workers without it). */
  redisUrl: string;
  /** Processes for the WORKERS row: one per core the OS lets us use. */
  workers: number;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer (got ${JSON.stringify(raw)})`);
  }
  return value;
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
  };
}
