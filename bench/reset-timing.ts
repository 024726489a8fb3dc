// How long POST /api/v1/auth/password-reset takes to answer for a known and for an unknown address (issue 9, item
// 12): a difference tells an attacker which addresses have accounts. Not a test: it prints medians to compare by
// eye. Each known address is asked once (a repeated one would soon be absorbed by the per-address mail limit),
// known and unknown requests alternate so that load from elsewhere falls on both alike, and each request comes
// from a client address of its own (the per-caller limit would answer 429). Timed with app.inject: the server's
// own work, without socket noise.
// Usage: RESET_TIMING_DIALECT=postgres RESET_TIMING_N=300 node --import tsx bench/reset-timing.ts
import { performance } from 'node:perf_hooks';
import { buildTestApp } from '../test/helpers/app.js';
import type { Dialect } from '../src/config.js';

const dialect = (process.env.RESET_TIMING_DIALECT ?? 'postgres') as Dialect;
const n = Number(process.env.RESET_TIMING_N ?? 300);
const WARMUP = 20;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] ?? NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

const t = await buildTestApp({ dialect, env: { RATE_LIMIT_REGISTER: '0' } });
try {
  let client = 0;
  const ip = () => {
    client += 1;
    return `10.${(client >> 16) & 255}.${(client >> 8) & 255}.${client & 255}`;
  };
  const run = Date.now().toString(36);
  const known: string[] = [];
  for (let i = 0; i < n + WARMUP; i += 1) {
    const email = `known-${run}-${i}@example.com`;
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email, username: `known_${run}_${i}`, password: 'Str0ng!Passw0rd' },
      remoteAddress: ip(),
    });
    if (response.statusCode !== 201) throw new Error(`register: ${response.statusCode} ${response.body}`);
    known.push(email);
  }
  const reset = async (email: string) => {
    const started = performance.now();
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset',
      payload: { email },
      remoteAddress: ip(),
    });
    const elapsed = performance.now() - started;
    if (response.statusCode !== 200) throw new Error(`reset: ${response.statusCode} ${response.body}`);
    // The work done after the answer must not land in the next request's time (authTasks did not exist before
    // the answer-first change: this script also measures that code).
    await (t.app.authTasks as typeof t.app.authTasks | undefined)?.settled();
    return elapsed;
  };
  const times = { known: [] as number[], unknown: [] as number[] };
  for (let i = 0; i < n + WARMUP; i += 1) {
    const pair = [
      ['known', known[i] as string],
      ['unknown', `nobody-${run}-${i}@example.com`],
    ] as const;
    // Alternate which goes first, so that neither always follows the other's leftover work.
    for (const [kind, email] of i % 2 ? pair : [...pair].reverse()) {
      const elapsed = await reset(email);
      if (i >= WARMUP) times[kind].push(elapsed);
    }
  }
  const fmt = (v: number) => v.toFixed(2);
  console.log(
    `${dialect}, ${n} requests each: median known ${fmt(median(times.known))} ms, unknown ${fmt(median(times.unknown))} ms`,
  );
} finally {
  await t.close();
}
