// The login benchmark's ceiling: how many bcrypt.compare calls per second this machine completes at the server's
// cost, with the server's thread-pool size and the login load's concurrency, and nothing else (no HTTP, no
// database, no JWT). Run as a child process, like the server, so that it gets a libuv pool of its own and shares
// the machine with the bench process exactly as the server does. It prints one JSON line (CeilingOutput) and exits.
// Usage: BCRYPT_ROUNDS=12 UV_THREADPOOL_SIZE=4 CEILING_CONCURRENCY=8 CEILING_SECONDS=8 CEILING_PASSWORD=… \
//        node --import tsx bench/bcrypt-ceiling.ts
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcrypt';
import type { Completion } from './op-rate.js';

export interface CeilingOutput {
  /** Every compare that finished, in completion order (the parent keeps those within the window). */
  completions: Completion[];
  /** When the run stopped, in ms since it started. */
  endMs: number;
}

function setting(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    console.error(`bcrypt-ceiling: ${name} is required`);
    process.exit(2);
  }
  return value;
}

function positive(name: string): number {
  const value = Number(setting(name));
  if (!Number.isInteger(value) || value < 1) {
    console.error(`bcrypt-ceiling: ${name} must be a positive integer`);
    process.exit(2);
  }
  return value;
}

const rounds = positive('BCRYPT_ROUNDS');
const concurrency = positive('CEILING_CONCURRENCY');
const windowMs = positive('CEILING_SECONDS') * 1000;
const password = setting('CEILING_PASSWORD');
// libuv reads it itself, at the pool's first use; required here only so that no run relies on its default.
positive('UV_THREADPOOL_SIZE');

// The hash the server would hold for this password (this also starts the thread pool, outside the window).
const hash = await bcrypt.hash(password, rounds);

const completions: Completion[] = [];
const start = performance.now();

/** One of `concurrency` callers: compare, record, compare again, as one autocannon connection logs in again. */
async function caller(): Promise<never> {
  for (;;) {
    const issued = performance.now();
    if (!(await bcrypt.compare(password, hash)))
      throw new Error('bcrypt.compare rejected the right password');
    const done = performance.now();
    completions.push({ atMs: done - start, latencyMs: done - issued });
    if (completions.length === concurrency) setTimeout(finish, windowMs);
  }
}

// Compares still on the pool when the window closes are cut short by exit, as autocannon stops waiting for the
// answers of requests in flight when it is stopped.
function finish(): void {
  const output: CeilingOutput = { completions, endMs: performance.now() - start };
  process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(0));
}

for (let i = 0; i < concurrency; i += 1) {
  caller().catch((error: unknown) => {
    console.error(`bcrypt-ceiling: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
