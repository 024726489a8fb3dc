// What the HTML-safe JSON encoding (src/platform/html-safe-json.ts) costs: GET /health of the same built server with
// the encoding on and off (bench/html-safe-server.ts), measured in interleaved rounds whose first side alternates,
// reported as the ratio of the medians and the ratio within each round. Target: within 3 %.
import path from 'node:path';
import type { BenchSettings } from './bench-settings.js';
import { measureLoad, type Measurement } from './measure-load.js';
import { median } from './report.js';
import type { RunningServer, ServerSpec } from './server-process.js';
import { ourServerSpec } from './servers-under-test.js';

const TARGET_RATIO = 0.97;
const repoRoot = path.resolve(import.meta.dirname, '..');

function htmlSafeSpec(workDir: string, mode: 'on' | 'off'): ServerSpec {
  const spec = ourServerSpec(workDir, { logLevel: 'warn', slug: `html-safe-${mode}` });
  return {
    ...spec,
    name: `ours, LOG_LEVEL=warn, HTML-safe JSON ${mode}`,
    args: ['--import', 'tsx', path.join(repoRoot, 'bench', 'html-safe-server.ts')],
    env: { ...spec.env, HTML_SAFE_JSON: mode },
  };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

export async function runHtmlSafeSection(
  settings: BenchSettings,
  workDir: string,
  start: (spec: ServerSpec) => Promise<RunningServer>,
): Promise<string> {
  const on = await start(htmlSafeSpec(workDir, 'on'));
  const off = await start(htmlSafeSpec(workDir, 'off'));
  const measure = async (server: RunningServer, seconds: number): Promise<Measurement> => {
    const m = await measureLoad(server.url, settings, seconds);
    if (server.exited())
      throw new Error(`${server.name} exited during the measurement (log: ${server.logFile})`);
    return m;
  };
  for (const server of [on, off]) {
    console.error(`warming up ${server.name} for ${settings.warmupSeconds} s…`);
    await measure(server, settings.warmupSeconds);
  }
  const rounds: { on: Measurement; off: Measurement }[] = [];
  for (let round = 1; round <= settings.htmlSafeRounds; round += 1) {
    const order = round % 2 === 1 ? [on, off] : [off, on];
    const got = new Map<RunningServer, Measurement>();
    for (const server of order) {
      const m = await measure(server, settings.durationSeconds);
      got.set(server, m);
      console.error(
        `round ${round}/${settings.htmlSafeRounds}  ${server.name}: ${int(m.requestsPerSecond)} req/s`,
      );
    }
    rounds.push({ on: got.get(on) as Measurement, off: got.get(off) as Measurement });
  }
  await Promise.all([on.stop(), off.stop()]);

  const summary = (side: 'on' | 'off') => ({
    rps: median(rounds.map((r) => r[side].requestsPerSecond)),
    p50: median(rounds.map((r) => r[side].p50Ms)),
    p99: median(rounds.map((r) => r[side].p99Ms)),
    list: rounds.map((r) => int(r[side].requestsPerSecond)).join(', '),
  });
  const withIt = summary('on');
  const without = summary('off');
  const ratio = withIt.rps / without.rps;
  const perRound = rounds.map((r) => (r.on.requestsPerSecond / r.off.requestsPerSecond).toFixed(3));
  return [
    '## HTML-safe JSON: GET /health with the encoding vs without it',
    '',
    `Load: autocannon (in the bench process), GET /health, ${settings.connections} connections, pipelining ` +
      `${settings.pipelining}, ${settings.durationSeconds} s per measurement, ${settings.htmlSafeRounds} interleaved ` +
      `round(s) (the first side alternating) after ${settings.warmupSeconds} s warm-up per server; every response ` +
      'checked (2xx and exact body). Both sides are the built server (dist/, bench/html-safe-server.ts), WORKERS=1, ' +
      'LOG_LEVEL=warn, SQLite in a fresh DATA_DIR, differing only in buildApp’s htmlSafeJson option.',
    '',
    '| server | req/s (median) | p50 ms | p99 ms | ratio vs without | rounds (req/s) |',
    '|---|---:|---:|---:|---:|---|',
    `| HTML-safe JSON off | ${int(without.rps)} | ${without.p50} | ${without.p99} | 1.000× | ${without.list} |`,
    `| HTML-safe JSON on | ${int(withIt.rps)} | ${withIt.p50} | ${withIt.p99} | ${ratio.toFixed(3)}× | ${withIt.list} |`,
    '',
    `- Ratio per round (on / off): ${perRound.join(', ')}.`,
    `- Target (with ≥ ${TARGET_RATIO.toFixed(2)}× without): ${ratio.toFixed(3)}× — ${ratio >= TARGET_RATIO ? 'MET' : 'NOT MET'}`,
  ].join('\n');
}
