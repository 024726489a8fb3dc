// `npm run bench`: sections measured in one run, each against a baseline of its own:
// - GET /health req/s and latency of our built server against a bare node:http server. Servers run as child
//   processes and autocannon runs here; each server is warmed up, then the rows are measured interleaved for several
//   rounds and the median of each row is reported, so that drift on a noisy machine hits the baseline and our
//   server alike.
// - logins/s of our server against bcrypt.compare alone (bench/login-section.ts).
// - what our server adds to a streamed chat's time to first token, against the LLM stand-in reached directly, one
//   chat at a time and under load (bench/chat-section.ts).
// - GET /health of our server with the HTML-safe JSON encoding against itself without it (bench/html-safe-section.ts).
// - GET /api/v1/auth/me of our server with the general rate limit on (Redis) against itself without it, and the
//   in-memory store's bytes per identity (bench/rate-limit-section.ts).
// - the chat WebSocket: the server's RSS and heartbeat CPU with BENCH_WS_CONNECTIONS idle authenticated sockets
//   against 0 sockets, and a chat's time to first token and to its last event over one socket against SSE
//   (bench/websocket-section.ts).
// - the embedded vector index: inserts of 100,000 × 384 vectors, and top-10 searches with and without a metadata
//   filter against a brute-force scan in plain JS, with recall@10 and the time a search blocks the event loop
//   (bench/vectors-section.ts).
// - uploads: a 100 MB file through POST /api/v1/files/upload against a bare server piping the body to a file, with
//   the server's RSS growth (bench/files-section.ts).
// BENCH_SECTIONS picks the sections, BENCH_RESULTS_FILE where the table is saved (docs/benchmarks.md by default). Any failed request or failed start exits non-zero.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { format, resolveConfig } from 'prettier';
import { readBenchSettings, type BenchSettings } from './bench-settings.js';
import { runChatSection } from './chat-section.js';
import { runFilesSection } from './files-section.js';
import { runHtmlSafeSection } from './html-safe-section.js';
import { killAllStandIns } from './llm-stand-in-process.js';
import { runLoginSection } from './login-section.js';
import { measureLoad, type Measurement } from './measure-load.js';
import { runRateLimitSection } from './rate-limit-section.js';
import { runVectorsSection } from './vectors-section.js';
import { runWebSocketSection } from './websocket-section.js';
import { redisUnavailableReason } from './redis-probe.js';
import { renderDocument, renderHealthSection, type ServerResult } from './report.js';
import { killAllServers, startServer, type RunningServer, type ServerSpec } from './server-process.js';
import { bareServerSpec, fastifyReferenceSpec, ourServerSpec, resultsFile } from './servers-under-test.js';
import { redactRedisUrl } from '../src/platform/redis.js';

const TARGET_RATIO = 0.8;

const running: RunningServer[] = [];
// Servers' data folders and logs; removed on success and on Ctrl-C, kept after a failure for its logs.
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-bench-'));

/** How this run was invoked, with the BENCH_* overrides, so the saved table says how to reproduce it. */
function commandLine(): string {
  const overrides = Object.entries(process.env)
    .filter(([key, value]) => key.startsWith('BENCH_') && value)
    .map(([key, value]) => `${key}=${value}`)
    .sort();
  return [...overrides, 'npm run bench'].join(' ');
}

function describe(m: Measurement): string {
  return `${Math.round(m.requestsPerSecond)} req/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms (${m.requests} requests)`;
}

async function startTracked(spec: ServerSpec, settings: BenchSettings): Promise<RunningServer> {
  console.error(`starting ${spec.name}…`);
  const server = await startServer(spec, settings.readyTimeoutMs);
  running.push(server);
  return server;
}

async function startAll(specs: ServerSpec[], settings: BenchSettings): Promise<RunningServer[]> {
  // One after another: starting several at once would make them compete and stretch the readiness waits.
  const servers: RunningServer[] = [];
  for (const spec of specs) servers.push(await startTracked(spec, settings));
  return servers;
}

async function stopAll(): Promise<void> {
  await Promise.all(running.map((s) => s.stop()));
  running.length = 0;
}

async function measureOnce(server: RunningServer, settings: BenchSettings, seconds: number) {
  const measurement = await measureLoad(server.url, settings, seconds);
  // A server that died mid-run may still leave a clean-looking result if it died at the very end.
  if (server.exited())
    throw new Error(`${server.name} exited during the measurement (log: ${server.logFile})`);
  return measurement;
}

async function healthSection(settings: BenchSettings): Promise<string> {
  const specs = [
    bareServerSpec(workDir),
    fastifyReferenceSpec(workDir),
    ourServerSpec(workDir, { logLevel: 'warn' }),
    // The default level writes one line per request: part of what a real deployment pays.
    ourServerSpec(workDir, { logLevel: 'info' }),
  ];
  const skipped: { name: string; reason: string }[] = [];
  const workersName = `ours, WORKERS=${settings.workers}, LOG_LEVEL=warn`;
  if (settings.workers < 2) {
    skipped.push({
      name: workersName,
      reason: `only ${settings.workers} core available; the row needs 2 or more`,
    });
  } else {
    const redisProblem = await redisUnavailableReason(settings.redisUrl);
    if (redisProblem) {
      skipped.push({
        name: workersName,
        reason: `WORKERS > 1 requires Redis and ${redactRedisUrl(settings.redisUrl)} is unreachable (${redisProblem}); set BENCH_REDIS_URL`,
      });
    } else {
      specs.push(
        ourServerSpec(workDir, { logLevel: 'warn', workers: settings.workers, redisUrl: settings.redisUrl }),
      );
    }
  }
  for (const skip of skipped) console.error(`SKIPPED ${skip.name}: ${skip.reason}`);

  const servers = await startAll(specs, settings);

  for (const server of servers) {
    console.error(`warming up ${server.name} for ${settings.warmupSeconds} s…`);
    await measureOnce(server, settings, settings.warmupSeconds);
  }

  const results: ServerResult[] = servers.map((s) => ({ name: s.name, rounds: [] }));
  for (let round = 1; round <= settings.rounds; round += 1) {
    for (const [i, server] of servers.entries()) {
      const m = await measureOnce(server, settings, settings.durationSeconds);
      results[i]?.rounds.push(m);
      console.error(`round ${round}/${settings.rounds}  ${server.name}: ${describe(m)}`);
    }
  }

  await stopAll();

  const [baseline, ...candidates] = results;
  if (!baseline) throw new Error('no baseline measured');
  return renderHealthSection({
    baseline,
    candidates,
    skipped,
    targetRatio: TARGET_RATIO,
    loadDescription:
      `autocannon (in the bench process), GET /health, ${settings.connections} connections, ` +
      `pipelining ${settings.pipelining}, ${settings.durationSeconds} s per measurement, ` +
      `${settings.rounds} interleaved round(s) after ${settings.warmupSeconds} s warm-up per server; ` +
      'every response checked (2xx and exact body). Servers are child processes on 127.0.0.1.',
  });
}

async function main(): Promise<void> {
  const settings = readBenchSettings(process.env);
  const sections: string[] = [];
  if (settings.sections.has('health')) sections.push(await healthSection(settings));
  if (settings.sections.has('login')) {
    sections.push(await runLoginSection(settings, workDir, (spec) => startTracked(spec, settings)));
    await stopAll();
  }
  const problems: string[] = [];
  if (settings.sections.has('chat')) {
    const chat = await runChatSection(settings, workDir, (spec) => startTracked(spec, settings));
    await stopAll();
    sections.push(chat.markdown);
    problems.push(...chat.problems);
  }
  if (settings.sections.has('html-safe')) {
    sections.push(await runHtmlSafeSection(settings, workDir, (spec) => startTracked(spec, settings)));
    await stopAll();
  }
  if (settings.sections.has('rate-limit')) {
    sections.push(await runRateLimitSection(settings, workDir, (spec) => startTracked(spec, settings)));
    await stopAll();
  }
  if (settings.sections.has('websocket')) {
    const websocket = await runWebSocketSection(settings, workDir, (spec) => startTracked(spec, settings));
    await stopAll();
    sections.push(websocket.markdown);
    problems.push(...websocket.problems);
  }
  if (settings.sections.has('vectors')) {
    const vectors = await runVectorsSection(workDir);
    sections.push(vectors.markdown);
    problems.push(...vectors.problems);
  }
  if (settings.sections.has('files')) {
    const files = await runFilesSection(settings, workDir, (spec) => startTracked(spec, settings));
    await stopAll();
    sections.push(files.markdown);
    problems.push(...files.problems);
  }
  const rendered = renderDocument(commandLine(), sections);
  // Formatted as the repo's Prettier would, so that `npm run format:check` accepts the saved file as written.
  const file = settings.resultsFile ?? resultsFile;
  const markdown = await format(rendered, { ...(await resolveConfig(file)), parser: 'markdown' });
  console.log(markdown);
  fs.writeFileSync(file, markdown);
  console.error(`written to ${file}`);
  // Measured to the end and saved (the failures are part of the figures), but the run does not pass.
  if (problems.length > 0) throw new Error(problems.join('\n'));
  fs.rmSync(workDir, { recursive: true, force: true });
}

// Children must never outlive the benchmark: a last synchronous SIGKILL on exit, a graceful stop on Ctrl-C.
process.on('exit', () => {
  killAllServers();
  killAllStandIns();
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping the servers`);
    void stopAll().finally(() => {
      fs.rmSync(workDir, { recursive: true, force: true });
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  });
}

main().catch(async (error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  console.error(`servers' logs kept in ${workDir}`);
  await stopAll();
  process.exit(1);
});
