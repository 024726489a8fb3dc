// One measurement of the bcrypt ceiling: spawn bench/bcrypt-ceiling.ts (a fresh process each round, so that no
// state carries over), read its completions and turn them into a rate with the same rule as the login side.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CeilingOutput } from './bcrypt-ceiling.js';
import type { Measurement } from './measure-load.js';
import { measureWindow } from './op-rate.js';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bcrypt-ceiling.ts');

/** Beyond the window: starting, hashing once, and the ramp before the window opens. */
const GIVE_UP_AFTER_MS = 120_000;

export interface CeilingShape {
  bcryptRounds: number;
  threadPoolSize: number;
  concurrency: number;
  seconds: number;
  password: string;
}

export async function measureCeiling(shape: CeilingShape): Promise<Measurement> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      PATH: process.env.PATH ?? '',
      BCRYPT_ROUNDS: String(shape.bcryptRounds),
      UV_THREADPOOL_SIZE: String(shape.threadPoolSize),
      CEILING_CONCURRENCY: String(shape.concurrency),
      CEILING_SECONDS: String(shape.seconds),
      CEILING_PASSWORD: shape.password,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // It must not outlive the benchmark, however that ends, nor hang it.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const watchdog = setTimeout(reap, shape.seconds * 1000 + GIVE_UP_AFTER_MS);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve([c, s]));
    });
    if (code !== 0) {
      throw new Error(`bcrypt ceiling child failed (code ${code}, signal ${signal}): ${stderr.trim()}`);
    }
    const output = JSON.parse(stdout) as CeilingOutput;
    return measureWindow(output.completions, shape.concurrency, shape.seconds * 1000, output.endMs);
  } finally {
    clearTimeout(watchdog);
    process.removeListener('exit', reap);
  }
}
