// Uploads: a 100 MB text file (10^8 bytes) sent as multipart/form-data to POST /api/v1/files/upload of our built server
// (SQLite, the default settings), against the in-run baseline of the same request bytes piped into a file by a bare
// node:http server (bench/upload-baseline-server.ts). Reported: throughput of each, and the server's resident set
// before the upload and at its largest while it ran (sampled from /proc every 10 ms), which shows whether the body
// was streamed or held in memory. Every upload is checked: 200, the size, and (ours) the SHA-256 it computed. Text is
// the costliest type for our server (its content is checked as UTF-8 from end to end, and it is queued for indexing,
// which fails at once here: OLLAMA_URL points at a closed port, and the file is deleted after each round).
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchSettings } from './bench-settings.js';
import { rssBytes } from './process-stats.js';
import { userTokens } from './rate-limit-load.js';
import { median } from './report.js';
import type { RunningServer, ServerSpec } from './server-process.js';
import { ourServerSpec } from './servers-under-test.js';

const repoRoot = path.resolve(import.meta.dirname, '..');
const FILE_BYTES = 100_000_000;
const WARMUP_BYTES = 10_000_000;
const CHUNK_BYTES = 64 * 1024;
const SAMPLE_MS = 10;
const BOUNDARY = 'sutazai-bench-boundary-7f3a';
/** Growth above half the file would mean the body was held in memory rather than streamed. */
const MAX_GROWTH_FRACTION = 0.5;

/** A 64 KiB block of numbered ASCII lines: the file is this block repeated, the last one cut. */
function textBlock(): Buffer {
  const lines: string[] = [];
  let length = 0;
  for (let n = 1; length < CHUNK_BYTES; n += 1) {
    const line = `line ${String(n).padStart(6, '0')}: the quick brown fox jumps over the lazy dog.\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, CHUNK_BYTES);
}

function* fileChunks(block: Buffer, bytes: number): Generator<Buffer> {
  for (let sent = 0; sent < bytes; sent += block.length)
    yield block.subarray(0, Math.min(block.length, bytes - sent));
}

function sha256Of(block: Buffer, bytes: number): string {
  const hash = crypto.createHash('sha256');
  for (const chunk of fileChunks(block, bytes)) hash.update(chunk);
  return hash.digest('hex');
}

interface Upload {
  seconds: number;
  rssBefore: number;
  rssPeak: number;
  body: Record<string, unknown>;
}

/** One multipart upload over node:http, the file streamed with backpressure; the server's RSS sampled meanwhile. */
async function upload(url: string, pid: number, bytes: number, token?: string): Promise<Upload> {
  const block = textBlock();
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench-${bytes}.txt"\r\n` +
      'Content-Type: text/plain\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  const target = new URL(url);
  const headers: Record<string, string | number> = {
    'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
    'content-length': head.length + bytes + tail.length,
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const rssBefore = rssBytes(pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(pid))), SAMPLE_MS);
  const started = performance.now();
  try {
    const request = http.request({
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      headers,
    });
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      request.once('response', (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }),
        );
        res.once('error', reject);
      });
      request.once('error', reject);
    });
    await pipeline(
      Readable.from(
        (function* () {
          yield head;
          yield* fileChunks(block, bytes);
          yield tail;
        })(),
      ),
      request,
    );
    const { status, text } = await response;
    const seconds = (performance.now() - started) / 1000;
    if (status !== 200) throw new Error(`POST ${url} answered ${status}: ${text.slice(0, 300)}`);
    rssPeak = Math.max(rssPeak, rssBytes(pid));
    return { seconds, rssBefore, rssPeak, body: JSON.parse(text) as Record<string, unknown> };
  } finally {
    clearInterval(sampler);
  }
}

function filesServerSpec(workDir: string): ServerSpec {
  const spec = ourServerSpec(workDir, { logLevel: 'warn', slug: 'files' });
  return {
    ...spec,
    name: 'ours, POST /api/v1/files/upload',
    // A closed port: indexing of the uploaded text fails at once instead of running during the next upload.
    env: {
      ...spec.env,
      LLM_PROVIDER: 'ollama',
      OLLAMA_URL: 'http://127.0.0.1:9',
      RATE_LIMIT_PER_MINUTE: '0',
    },
  };
}

function baselineSpec(workDir: string): ServerSpec {
  return {
    name: 'baseline: node:http, body piped to a file',
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'bench', 'upload-baseline-server.ts')],
    cwd: repoRoot,
    env: { UPLOAD_DIR: path.join(workDir, 'upload-baseline') },
    logFile: path.join(workDir, 'upload-baseline.log'),
  };
}

const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(1);
const mbps = (u: Upload, bytes: number) => bytes / 1e6 / u.seconds;

export async function runFilesSection(
  settings: BenchSettings,
  workDir: string,
  start: (spec: ServerSpec) => Promise<RunningServer>,
): Promise<{ markdown: string; problems: string[] }> {
  const ours = await start(filesServerSpec(workDir));
  const baseline = await start(baselineSpec(workDir));
  const [token] = await userTokens(ours.url, 1);
  const expectedSha = sha256Of(textBlock(), FILE_BYTES);
  const oursUrl = `${ours.url}/api/v1/files/upload`;
  const baselineUrl = `${baseline.url}/upload`;

  const uploadOurs = async (bytes: number): Promise<Upload> => {
    const result = await upload(oursUrl, ours.pid, bytes, token);
    if (result.body.size !== bytes)
      throw new Error(`ours stored ${String(result.body.size)} bytes, not ${bytes}`);
    if (bytes === FILE_BYTES && result.body.sha256 !== expectedSha)
      throw new Error(`ours computed sha256 ${String(result.body.sha256)}, not ${expectedSha}`);
    const deleted = await fetch(`${ours.url}/api/v1/files/delete/${String(result.body.file_id)}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    if (deleted.status !== 200) throw new Error(`DELETE of the uploaded file answered ${deleted.status}`);
    return result;
  };
  const uploadBaseline = async (bytes: number): Promise<Upload> => {
    const result = await upload(baselineUrl, baseline.pid, bytes);
    if (typeof result.body.size !== 'number' || result.body.size < bytes)
      throw new Error(`the baseline stored ${String(result.body.size)} bytes, fewer than ${bytes}`);
    return result;
  };

  console.error('files: warming up both servers…');
  await uploadOurs(WARMUP_BYTES);
  await uploadBaseline(WARMUP_BYTES);
  const rounds: { ours: Upload; baseline: Upload }[] = [];
  for (let round = 1; round <= settings.rounds; round += 1) {
    const got: Partial<Record<'ours' | 'baseline', Upload>> = {};
    for (const side of round % 2 === 1 ? (['ours', 'baseline'] as const) : (['baseline', 'ours'] as const)) {
      // A moment for the previous upload's file deletion and collections to settle before RSS is read.
      await sleep(1_000);
      got[side] = side === 'ours' ? await uploadOurs(FILE_BYTES) : await uploadBaseline(FILE_BYTES);
      console.error(
        `files: round ${round}/${settings.rounds} ${side}: ${mbps(got[side], FILE_BYTES).toFixed(0)} MB/s`,
      );
    }
    rounds.push({ ours: got.ours as Upload, baseline: got.baseline as Upload });
  }
  for (const server of [ours, baseline])
    if (server.exited()) throw new Error(`${server.name} exited (log: ${server.logFile})`);
  await Promise.all([ours.stop(), baseline.stop()]);

  const summary = (side: 'ours' | 'baseline') => {
    const list = rounds.map((r) => r[side]);
    return {
      rate: median(list.map((u) => mbps(u, FILE_BYTES))),
      seconds: median(list.map((u) => u.seconds)),
      before: median(list.map((u) => u.rssBefore)),
      peak: Math.max(...list.map((u) => u.rssPeak)),
      growth: Math.max(...list.map((u) => u.rssPeak - u.rssBefore)),
      list: list.map((u) => mbps(u, FILE_BYTES).toFixed(0)).join(', '),
    };
  };
  const o = summary('ours');
  const b = summary('baseline');
  const ratio = o.rate / b.rate;
  const problems: string[] = [];
  if (o.growth > FILE_BYTES * MAX_GROWTH_FRACTION)
    problems.push(
      `files: the server's RSS grew by ${mib(o.growth)} MiB during a ${FILE_BYTES / 1e6} MB upload`,
    );
  const tableRow = (name: string, s: typeof o, r: number) =>
    `| ${name} | ${s.rate.toFixed(0)} | ${s.seconds.toFixed(2)} | ${mib(s.before)} | ${mib(s.peak)} | ` +
    `${mib(s.growth)} | ${r.toFixed(3)}× | ${s.list} |`;
  const markdown = [
    '## Files: a 100 MB upload, against a bare server piping the body to disk',
    '',
    `One ${FILE_BYTES / 1e6} MB text file (${FILE_BYTES.toLocaleString('en-US')} bytes of numbered ASCII lines) in a ` +
      'multipart/form-data request sent by node:http from the bench process with backpressure, one upload at a ' +
      `time, ${settings.rounds} interleaved round(s) (the first side alternating) after a ` +
      `${WARMUP_BYTES / 1e6} MB warm-up upload to each. Ours: the built server, WORKERS=1, LOG_LEVEL=warn, SQLite ` +
      'and FILES_DIR in a fresh DATA_DIR, default file settings, a registered user; each upload checked (200, ' +
      'size, SHA-256) and then deleted. Baseline: bench/upload-baseline-server.ts pipes the raw request body into a ' +
      'file (no parsing, no checks). RSS: VmRSS of the server process, read every 10 ms during the upload; "growth" ' +
      'is the largest peak minus the RSS just before that upload.',
    '',
    '| server | MB/s (median) | seconds | RSS before (MiB) | RSS peak (MiB) | growth (MiB, max) | ratio vs baseline | rounds (MB/s) |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
    tableRow('baseline (node:http → file)', b, 1),
    tableRow('ours', o, ratio),
    '',
    `- The body is streamed: the server's resident set grew by at most ${mib(o.growth)} MiB while it stored ` +
      `${(FILE_BYTES / 1024 ** 2).toFixed(1)} MiB (check: growth under ${MAX_GROWTH_FRACTION * 100} % of the file — ` +
      `${o.growth <= FILE_BYTES * MAX_GROWTH_FRACTION ? 'MET' : 'NOT MET'}).`,
    `- What ours does on top of the baseline: multipart parsing, type detection from the first bytes, the UTF-8 ` +
      'check of every byte, SHA-256, the quota, a row in SQLite, and the rename into place.',
  ].join('\n');
  return { markdown, problems };
}
