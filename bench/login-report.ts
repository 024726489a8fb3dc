// The login section of docs/benchmarks.md: logins/s of our server against the bcrypt ceiling measured in the same
// rounds, the ratio of each round and their median, and the target verdict.
import type { Measurement } from './measure-load.js';
import { median } from './report.js';

export interface LoginReportInput {
  ceiling: Measurement[];
  logins: Measurement[];
  serverName: string;
  /** The login rate is judged against this fraction of the ceiling. */
  targetRatio: number;
  bcryptRounds: number;
  threadPoolSize: number;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
}

/** Each round's logins/s over the same round's bcrypt compares/s. */
export function roundRatios(ceiling: Measurement[], logins: Measurement[]): number[] {
  if (ceiling.length !== logins.length || ceiling.length === 0) {
    throw new Error(`login section: ${logins.length} login and ${ceiling.length} ceiling measurements`);
  }
  return logins.map((login, i) => login.requestsPerSecond / (ceiling[i]?.requestsPerSecond ?? NaN));
}

// A few operations per second: one decimal says something, more would be noise.
const rate = (n: number) => n.toFixed(1);
const ms = (n: number) => String(Math.round(n));

function row(name: string, rounds: Measurement[], ratio: string): string {
  const p = (pick: (m: Measurement) => number) => median(rounds.map(pick));
  return (
    `| ${name} | ${rate(p((m) => m.requestsPerSecond))} | ${ms(p((m) => m.p50Ms))} | ${ms(p((m) => m.p99Ms))} | ` +
    `${ratio} | ${rounds.map((m) => `${rate(m.requestsPerSecond)} (${m.requests})`).join(', ')} |`
  );
}

export function renderLoginSection(input: LoginReportInput): string {
  const ratios = roundRatios(input.ceiling, input.logins);
  const ratio = median(ratios);
  const met = ratio >= input.targetRatio;
  return [
    '## Login throughput: POST /api/v1/auth/login vs bcrypt.compare alone',
    '',
    `Ceiling: a child process that does nothing but \`bcrypt.compare\` (the \`bcrypt\` package, cost ` +
      `${input.bcryptRounds}) with ${input.connections} calls always in flight, UV_THREADPOOL_SIZE=` +
      `${input.threadPoolSize}, a fresh process each round.`,
    '',
    `Load: autocannon (in the bench process), POST /api/v1/auth/login with a JSON body, ` +
      `${input.connections} connections, ${input.durationSeconds} s per measurement, ` +
      `${input.ceiling.length} round(s) after ${input.warmupSeconds} s of warm-up, each round measuring the ceiling ` +
      'and the logins one after the other (the first of the two alternates); every response checked (200 and a ' +
      'bearer token pair). Server: the built server, WORKERS=1, LOG_LEVEL=warn, SQLite in a fresh DATA_DIR, ' +
      `BCRYPT_ROUNDS=${input.bcryptRounds}, UV_THREADPOOL_SIZE=${input.threadPoolSize}, one registered account.`,
    '',
    'Both sides are counted the same way (bench/op-rate.ts): the window opens when the first ' +
      `${input.connections} operations have been answered (the ramp while the first ones queue for the pool ` +
      `counts for neither), the rate is what finishes in the next ${input.durationSeconds} s divided by ` +
      `${input.durationSeconds} s, and latency runs from issuing a call or request to its answer, the wait for a ` +
      'pool thread included.',
    '',
    '| measured | per second (median) | p50 ms | p99 ms | ratio vs ceiling | rounds: per second (count) |',
    '|---|---:|---:|---:|---:|---|',
    row('bcrypt.compare ceiling', input.ceiling, '1.00×'),
    row(input.serverName, input.logins, `${ratio.toFixed(2)}×`),
    '',
    `- Ratio per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; the table gives their median.`,
    `- Target (logins/s ≥ ${input.targetRatio.toFixed(2)}× bcrypt compares/s): ${ratio.toFixed(2)}× — ` +
      (met ? 'MET' : 'NOT MET'),
  ].join('\n');
}
