// The chat section of docs/benchmarks.md: time to first token through our server, through a minimal Node proxy (the
// floor: what any proxy in between costs on this machine) and straight to the stand-in, one chat at a time (grouped)
// and under concurrent load, the differences, the failures, and the target verdicts.
import { median } from './report.js';

/** One side's chats of one load round. */
export interface LoadRound {
  /** Time to first token of each chat that succeeded, in ms. */
  ttfts: number[];
  /** The reason of each chat that failed. */
  failures: string[];
  elapsedMs: number;
}

export interface ChatTargets {
  /** Most the paired difference in time to first token may be, at its p50 and p99 (ms). */
  addedP50Ms: number;
  addedP99Ms: number;
}

export interface ChatReportInput {
  serverName: string;
  tokens: number;
  warmup: number;
  concurrency: number;
  loadChats: number;
  /** Part 1, index-aligned: group i is ours[i], floor[i] and direct[i]. */
  pairs: { ours: number[]; floor: number[]; direct: number[] };
  load: { ours: LoadRound[]; floor: LoadRound[]; direct: LoadRound[] };
  /** What the stand-in received, as one sentence. */
  standInNote: string;
  targets: ChatTargets;
}

/** Nearest-rank percentile (p in 0–100): a value that was measured, never an interpolation. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? NaN;
}

export const chatsPerSecond = (round: LoadRound) => round.ttfts.length / (round.elapsedMs / 1000);

const ms = (n: number) => n.toFixed(2);
const signed = (n: number) => (n >= 0 ? `+${ms(n)}` : `−${ms(-n)}`);
const rate = (n: number) => Math.round(n).toLocaleString('en-US');
const verdict = (met: boolean) => (met ? 'MET' : 'NOT MET');
/** A percentile as a table cell: a dash when no chat succeeded (the failures column says why). */
const cell = (values: number[], p: number) => (values.length ? ms(percentile(values, p)) : '–');
const addedCell = (ours: number[], direct: number[], p: number) =>
  ours.length && direct.length ? signed(percentile(ours, p) - percentile(direct, p)) : '–';

function loadRow(name: string, rounds: LoadRound[]): string {
  const ttfts = rounds.flatMap((r) => r.ttfts);
  const failed = rounds.reduce((n, r) => n + r.failures.length, 0);
  const total = failed + ttfts.length;
  return (
    `| ${name} | ${rate(median(rounds.map(chatsPerSecond)))} | ${cell(ttfts, 50)} | ` +
    `${cell(ttfts, 99)} | ${failed} of ${total} | ${rounds.map((r) => rate(chatsPerSecond(r))).join(', ')} |`
  );
}

export function renderChatSection(input: ChatReportInput): string {
  const { pairs, load, targets } = input;
  const added = pairs.ours.map((ours, i) => ours - (pairs.direct[i] ?? NaN));
  const addedP50 = percentile(added, 50);
  const addedP99 = percentile(added, 99);
  const floorAdded = pairs.floor.map((floor, i) => floor - (pairs.direct[i] ?? NaN));
  const aboveFloor = pairs.ours.map((ours, i) => ours - (pairs.floor[i] ?? NaN));
  const loadOurs = load.ours.flatMap((r) => r.ttfts);
  const loadFloor = load.floor.flatMap((r) => r.ttfts);
  const loadDirect = load.direct.flatMap((r) => r.ttfts);
  const failures = load.ours.flatMap((r) => r.failures);
  const loadTotal = failures.length + loadOurs.length;
  const examples = [...new Set(failures)].slice(0, 5);

  return [
    '## Chat overhead: POST /api/v1/chat/ (SSE) vs the LLM stand-in reached directly',
    '',
    `LLM: the test stand-in (test/helpers/llm-stand-in.ts, Ollama's /api/chat NDJSON wire format) in a child ` +
      `process of its own, answering every generation with the same ${input.tokens} tokens at once (no delay). ` +
      'Server: the built server, WORKERS=1, LOG_LEVEL=warn, SQLite in a fresh DATA_DIR, OLLAMA_URL at the stand-in, ' +
      'anonymous chat, LLM_MAX_CONCURRENT, LLM_MAX_CONCURRENT_PER_USER and LLM_QUEUE_SIZE at 1000; every chat ' +
      'opens a new session (the user message and the answer are stored as in production).',
    '',
    'Client: node:http with keep-alive connections, in the bench process. Through our server: `POST /api/v1/chat/` ' +
      'with `{"message": …, "stream": true}`, time to first token = from handing the request to node:http to the ' +
      'arrival of the chunk that completes the first `event: token`. Straight to the stand-in: `POST /api/chat` ' +
      'with the body our server sends (system prompt, user message, temperature), time to the first NDJSON line ' +
      'carrying a token. Every answer is read whole and checked: status 200, content type, `start` → `token`s → ' +
      '`end` (with the message id and usage) and no `error` (or NDJSON lines ending `done: true` with the counts), ' +
      'and the same for the reference proxy, ' +
      `and the exact reply text. ${input.warmup} chats per side at the load concurrency first, not measured. ` +
      input.standInNote,
    '',
    `### One chat at a time: ${added.length} groups`,
    '',
    'Each group is one chat through our server, one through the reference proxy and one straight to the stand-in, ' +
      'back to back, in an order that rotates; the added latency is the difference within each group. The ' +
      'reference proxy (bench/minimal-proxy.ts, its own process, started like our server) reads the JSON body, ' +
      'calls the stand-in through undici and relays each token as an SSE event — no validation, database, limits, ' +
      'sanitization or metrics: what it adds is the floor any Node.js proxy pays on this machine (a process hop and ' +
      'two more socket writes, each waking another process).',
    '',
    '| time to first token | p50 (median) ms | p99 ms |',
    '|---|---:|---:|',
    `| through our server | ${ms(percentile(pairs.ours, 50))} | ${ms(percentile(pairs.ours, 99))} |`,
    `| through the minimal Node proxy | ${ms(percentile(pairs.floor, 50))} | ${ms(percentile(pairs.floor, 99))} |`,
    `| straight to the stand-in | ${ms(percentile(pairs.direct, 50))} | ${ms(percentile(pairs.direct, 99))} |`,
    `| added by our server (paired difference) | ${signed(addedP50)} | ${signed(addedP99)} |`,
    `| added by the minimal Node proxy (the floor) | ${signed(percentile(floorAdded, 50))} | ` +
      `${signed(percentile(floorAdded, 99))} |`,
    `| our server minus the minimal proxy (paired) | ${signed(percentile(aboveFloor, 50))} | ` +
      `${signed(percentile(aboveFloor, 99))} |`,
    '',
    `- Target (added p50 ≤ ${targets.addedP50Ms} ms): ${signed(addedP50)} ms — ${verdict(addedP50 <= targets.addedP50Ms)}`,
    `- Target (added p99 ≤ ${targets.addedP99Ms} ms): ${signed(addedP99)} ms — ${verdict(addedP99 <= targets.addedP99Ms)}`,
    '',
    `### Under load: ${input.concurrency} chats in flight`,
    '',
    `${load.ours.length} round(s); in each, ${input.loadChats} chats on each side (our server, the reference ` +
      `proxy, the stand-in directly), ${input.concurrency} in flight (one side after the other, the order ` +
      'rotating). Chats/s: successful chats over the wall time of the round, median of the rounds; time to first ' +
      'token: p50 and p99 over every chat of every round. A chat fails on anything but a 200 streamed answer complete ' +
      'to its `end` event and right.',
    '',
    '| measured | chats/s (median) | ttft p50 ms | ttft p99 ms | failures | rounds: chats/s |',
    '|---|---:|---:|---:|---:|---|',
    loadRow(input.serverName, load.ours),
    loadRow('reference: minimal Node proxy', load.floor),
    loadRow('straight to the stand-in', load.direct),
    `| added by our server | – | ${addedCell(loadOurs, loadDirect, 50)} | ` +
      `${addedCell(loadOurs, loadDirect, 99)} | – | – |`,
    `| added by the minimal Node proxy | – | ${addedCell(loadFloor, loadDirect, 50)} | ` +
      `${addedCell(loadFloor, loadDirect, 99)} | – | – |`,
    '',
    `- Target (no failure under load): ${failures.length} of ${loadTotal} — ${verdict(failures.length === 0)}`,
    ...examples.map((reason) => `- Failure: ${reason}`),
  ].join('\n');
}
