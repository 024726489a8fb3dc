// Turns the rounds of measurements into the Markdown that is printed and saved in docs/benchmarks.md: the GET /health
// section (one row per server with the median of its rounds, the ratio to the bare baseline, the target verdict),
// and the document around every section (the command and the machine).
import os from 'node:os';
import type { Measurement } from './measure-load.js';

export interface ServerResult {
  name: string;
  rounds: Measurement[];
}

export interface ReportInput {
  baseline: ServerResult;
  candidates: ServerResult[];
  /** Rows that could not be measured, with the reason (printed instead of a number). */
  skipped: { name: string; reason: string }[];
  /** Every candidate row is judged against this fraction of the baseline's req/s. */
  targetRatio: number;
  loadDescription: string;
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2;
}

interface Summary {
  rps: number;
  p50: number;
  p99: number;
}

function summarize(result: ServerResult): Summary {
  return {
    rps: median(result.rounds.map((m) => m.requestsPerSecond)),
    p50: median(result.rounds.map((m) => m.p50Ms)),
    p99: median(result.rounds.map((m) => m.p99Ms)),
  };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
// autocannon records latency in whole milliseconds; keep decimals only where a median of two made some.
const ms = (n: number) => String(Math.round(n * 100) / 100);

export function machineFacts(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const memGiB = (os.totalmem() / 1024 ** 3).toFixed(1);
  // Other work on the machine inflates every latency here: the 1, 5 and 15 minute load averages at the end.
  const load = os.loadavg().map((n) => n.toFixed(2));
  return (
    `Machine: ${cpu}, ${os.availableParallelism()} cores, ${memGiB} GiB RAM, ` +
    `${os.type()} ${os.release()}, Node ${process.version}, ${new Date().toISOString()}; ` +
    `load average ${load.join(', ')} at the end of the run`
  );
}

/** The whole saved document: how it was run, each section's Markdown, and the machine. */
export function renderDocument(command: string, sections: string[]): string {
  return [
    '# Benchmarks',
    '',
    `Command: \`${command}\``,
    '',
    'Written by the last run of `npm run bench`; what the figures mean and why some targets are not met: [performance.md](performance.md).',
    '',
    ...sections.flatMap((section) => [section, '']),
    machineFacts(),
    '',
  ].join('\n');
}

export function renderHealthSection(input: ReportInput): string {
  const base = summarize(input.baseline);
  const lines = [
    '## GET /health throughput: our server vs a bare node:http server',
    '',
    `Load: ${input.loadDescription}`,
    '',
    '| server | req/s (median) | p50 ms | p99 ms | ratio vs bare | rounds (req/s) |',
    '|---|---:|---:|---:|---:|---|',
  ];
  const row = (name: string, s: Summary, ratio: string, rounds: Measurement[]) =>
    `| ${name} | ${int(s.rps)} | ${ms(s.p50)} | ${ms(s.p99)} | ${ratio} | ${rounds.map((m) => int(m.requestsPerSecond)).join(', ')} |`;
  lines.push(row(input.baseline.name, base, '1.00×', input.baseline.rounds));

  const verdicts: string[] = [];
  for (const candidate of input.candidates) {
    const s = summarize(candidate);
    const ratio = s.rps / base.rps;
    lines.push(row(candidate.name, s, `${ratio.toFixed(2)}×`, candidate.rounds));
    // A reference row explains the table; the target is for our server only.
    if (candidate.name.startsWith('reference:')) continue;
    verdicts.push(
      `- Target (≥ ${input.targetRatio.toFixed(2)}× bare req/s) for ${candidate.name}: ` +
        `${ratio.toFixed(2)}× — ${ratio >= input.targetRatio ? 'MET' : 'NOT MET'}`,
    );
  }
  for (const skip of input.skipped) lines.push(`| ${skip.name} | skipped (see below) | – | – | – | – |`);

  lines.push('', ...verdicts);
  for (const skip of input.skipped) lines.push(`- ${skip.name} skipped: ${skip.reason}`);
  return lines.join('\n');
}
