// The chat WebSocket (issue 13), two tables:
// - idle connections: the built server's resident memory (VmRSS of its process) with 0 sockets and with
//   BENCH_WS_CONNECTIONS authenticated idle sockets open from the bench process, and the CPU time its one heartbeat
//   timer costs with them open (utime + stime over a window, against the same window with 0 sockets before and
//   after). Target of the issue: 10,000 connections under 300 MB RSS.
// - chat over one WebSocket against chat over SSE (POST /api/v1/chat/), one chat at a time, interleaved, through the
//   same server and LLM stand-in: time to first token and to the last event, p50 and p99, and their ratio.
// Every socket must get its `connection` frame and stay open; every answer is checked to the exact text.
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchSettings } from './bench-settings.js';
import { sseReader, streamChat, type ChatOutcome, type ChatTarget } from './chat-client.js';
import { percentile } from './chat-report.js';
import { replyTokens } from './chat-section.js';
import { startStandIn } from './llm-stand-in-process.js';
import { collectGarbage, inspectArg } from './inspector-gc.js';
import { cpuTimeMs, peakRssBytes, rssBytes } from './process-stats.js';
import { userTokens } from './rate-limit-load.js';
import { median } from './report.js';
import { freePort, type RunningServer, type ServerSpec } from './server-process.js';
import { chatServerSpec, ourServerSpec } from './servers-under-test.js';
import {
  ChatSocketClient,
  closeAll,
  openIdleSockets,
  WS_PATH,
  type IdleSocket,
} from './websocket-clients.js';

/** The target: this many connections under this RSS. */
const TARGET = { connections: 10_000, rssBytes: 300e6 };
const PER_USER = 100;
const HEARTBEAT_INTERVAL_MS = 1_000;
const HEARTBEAT_TIMEOUT_MS = 5_000;
/** Opens in flight at a time. */
const OPEN_IN_FLIGHT = 200;
/** Sockets opened and closed before the 0-socket figures, so that the upgrade path's code is loaded and compiled. */
const WARMUP_SOCKETS = 1_000;
/** After the opens (or closes): heartbeat rounds let pass before measuring. */
const SETTLE_ROUNDS = 5;
/** After a forced GC, before reading the RSS. */
const GC_SETTLE_MS = 1_000;
/** Chats per side before the measured ones. */
const CHAT_WARMUP = 50;
const CHAT_TIMEOUT_MS = 30_000;
const MESSAGE = 'Say something short.';

export interface WebSocketSectionResult {
  markdown: string;
  /** Sockets that failed to open or closed unexpectedly, a stand-in mismatch: the run must not pass. */
  problems: string[];
}

type Start = (spec: ServerSpec) => Promise<RunningServer>;

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const delayMs = (n: number) => n.toFixed(1);

/** Settings both servers share: limits that would get in the way of the setup (many registrations) switched off. */
const SETUP_ENV = {
  RATE_LIMIT_PER_MINUTE: '0',
  RATE_LIMIT_REGISTER: '0',
  RATE_LIMIT_LOGIN_FAILURES: '0',
  // Only the setup hashes passwords.
  BCRYPT_ROUNDS: '4',
  WS_MESSAGES_PER_MINUTE: '0',
};

function idleEnv(connections: number): Record<string, string> {
  return {
    ...SETUP_ENV,
    WS_MAX_CONNECTIONS: String(Math.max(connections, 1_000)),
    WS_MAX_CONNECTIONS_PER_USER: String(PER_USER),
    WS_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
    WS_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS),
  };
}

function idleServerSpec(workDir: string, connections: number, inspectorPort: number): ServerSpec {
  const spec = ourServerSpec(workDir, { logLevel: 'warn', slug: 'websocket-idle' });
  return {
    ...spec,
    name: 'ours, idle chat WebSockets',
    // The inspector, on loopback, lets the bench force a full GC before each memory reading.
    args: [inspectArg(inspectorPort), ...spec.args],
    env: { ...spec.env, ...idleEnv(connections) },
  };
}

/** chatServerSpec's server (the stand-in as Ollama, generation limits at 1000) in a data folder of its own. */
function chatSpec(workDir: string, ollamaUrl: string): ServerSpec {
  const own = ourServerSpec(workDir, { logLevel: 'warn', slug: 'websocket-chat' });
  const chat = chatServerSpec(workDir, ollamaUrl);
  return {
    ...own,
    name: 'ours, chat over WebSocket and SSE',
    env: { ...chat.env, DATA_DIR: own.env.DATA_DIR ?? '', ...SETUP_ENV },
  };
}

// --- the server's own figures, from GET /metrics (open: the bench sets no METRICS_TOKEN) ---

interface ServerMetrics {
  connections: number;
  heartbeatTerminations: number;
  framesOut: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Event-loop delay since the previous scrape (prom-client resets its histogram at each one), in ms. */
  lagMaxMs: number;
  lagP99Ms: number;
}

async function serverMetrics(baseUrl: string): Promise<ServerMetrics> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  const text = await response.text();
  const value = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    if (line === undefined) throw new Error(`GET /metrics has no ${name}`);
    return Number(line.slice(name.length + 1));
  };
  return {
    connections: value('websocket_connections'),
    heartbeatTerminations: value('websocket_heartbeat_terminations_total'),
    framesOut: value('websocket_messages_total{direction="out"}'),
    heapUsed: value('nodejs_heap_size_used_bytes'),
    heapTotal: value('nodejs_heap_size_total_bytes'),
    external: value('nodejs_external_memory_bytes'),
    lagMaxMs: value('nodejs_eventloop_lag_max_seconds') * 1000,
    lagP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000,
  };
}

/** Waits until the server counts `count` admitted sockets (its gauge). */
async function waitForConnections(baseUrl: string, count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = -1;
  while (Date.now() < deadline) {
    seen = (await serverMetrics(baseUrl)).connections;
    if (seen === count) return;
    await sleep(200);
  }
  throw new Error(`the server counted ${seen} open WebSockets, not ${count}, after ${timeoutMs} ms`);
}

// --- part 1: idle connections ---

interface Window {
  wallMs: number;
  /** Server CPU time (utime + stime) over the window. */
  cpuMs: number;
  /** The bench process's (the clients') CPU time over the window. */
  clientCpuMs: number;
  /** VmRSS once a second through the window. */
  rss: number[];
  /** Protocol pings and JSON pings the sockets received during the window. */
  pings: number;
  jsonPings: number;
  /** Frames the server sent in the window (websocket_messages_total, out). */
  framesOut: number;
  /** The server's event-loop delay through the window: its largest and its p99, in ms. */
  lagMaxMs: number;
  lagP99Ms: number;
}

const cpuPercent = (w: Window) => (w.cpuMs / w.wallMs) * 100;

async function measureWindow(server: RunningServer, seconds: number, sockets: IdleSocket[]): Promise<Window> {
  const count = (field: 'pings' | 'jsonPings') => sockets.reduce((n, s) => n + s[field], 0);
  const rss: number[] = [];
  // Also starts the server's event-loop delay histogram afresh.
  const metricsBefore = await serverMetrics(server.url);
  const pingsBefore = count('pings');
  const jsonBefore = count('jsonPings');
  const clientBefore = process.cpuUsage();
  const cpuBefore = cpuTimeMs(server.pid);
  const started = performance.now();
  for (let second = 1; second <= seconds; second += 1) {
    await sleep(started + second * 1000 - performance.now());
    rss.push(rssBytes(server.pid));
  }
  const cpuMs = cpuTimeMs(server.pid) - cpuBefore;
  const wallMs = performance.now() - started;
  const client = process.cpuUsage(clientBefore);
  const pings = count('pings') - pingsBefore;
  const jsonPings = count('jsonPings') - jsonBefore;
  const metricsAfter = await serverMetrics(server.url);
  return {
    wallMs,
    cpuMs,
    clientCpuMs: (client.user + client.system) / 1000,
    rss,
    pings,
    jsonPings,
    framesOut: metricsAfter.framesOut - metricsBefore.framesOut,
    lagMaxMs: metricsAfter.lagMaxMs,
    lagP99Ms: metricsAfter.lagP99Ms,
  };
}

/** Memory right after a full GC: the server's VmRSS and its own figures (GET /metrics). */
interface Snapshot {
  rss: number;
  metrics: ServerMetrics;
}

interface Phase {
  /** Read just before the window (0 sockets) or just after it (N sockets), after a full GC. */
  snapshot: Snapshot;
  window: Window;
}

interface IdleResult {
  connections: number;
  users: number;
  opened: number;
  failures: string[];
  openMs: number;
  unexpectedCloses: string[];
  otherFrames: string[];
  before: Phase;
  open: Phase;
  after: Phase;
  peakRss: number;
  loadAverage: number[];
}

async function idleConnections(settings: BenchSettings, workDir: string, start: Start): Promise<IdleResult> {
  const n = settings.wsConnections;
  const users = Math.ceil(n / PER_USER);
  const inspectorPort = await freePort();
  const server = await start(idleServerSpec(workDir, n, inspectorPort));
  const alive = () => {
    if (server.exited()) throw new Error(`${server.name} exited (log: ${server.logFile})`);
  };
  const snapshot = async (): Promise<Snapshot> => {
    await collectGarbage(inspectorPort);
    // The freed pages go back to the OS as the collection finishes; a moment for the stragglers.
    await sleep(GC_SETTLE_MS);
    return { rss: rssBytes(server.pid), metrics: await serverMetrics(server.url) };
  };
  const window = settings.wsWindowSeconds;

  console.error(`websocket: registering and logging in ${users} users…`);
  const tokens = await userTokens(server.url, users);
  const warmCount = Math.min(n, WARMUP_SOCKETS);
  console.error(`websocket: warming up, opening and closing ${warmCount} sockets…`);
  const warm = await openIdleSockets(server.url, tokens, warmCount, OPEN_IN_FLIGHT);
  await closeAll(warm.sockets);
  if (warm.failures[0] !== undefined) throw new Error(`warm-up: ${warm.failures[0]}`);
  await waitForConnections(server.url, 0);
  await sleep(SETTLE_ROUNDS * HEARTBEAT_INTERVAL_MS);
  alive();

  const beforeSnapshot = await snapshot();
  console.error(`websocket: ${window} s with 0 sockets…`);
  const beforeWindow = await measureWindow(server, window, []);

  console.error(`websocket: opening ${n} sockets, ${OPEN_IN_FLIGHT} at a time…`);
  const opened = await openIdleSockets(server.url, tokens, n, OPEN_IN_FLIGHT);
  console.error(
    `websocket: ${opened.sockets.length} open, ${opened.failures.length} failed, in ` +
      `${(opened.elapsedMs / 1000).toFixed(1)} s`,
  );
  alive();
  await waitForConnections(server.url, opened.sockets.length);
  await sleep(SETTLE_ROUNDS * HEARTBEAT_INTERVAL_MS);
  // Each window starts from a collected heap: the collections within it are those of its own garbage.
  await collectGarbage(inspectorPort);
  console.error(`websocket: ${window} s with ${opened.sockets.length} sockets…`);
  const openWindow = await measureWindow(server, window, opened.sockets);
  const loadAverage = os.loadavg();
  const openSnapshot = await snapshot();
  const peakRss = peakRssBytes(server.pid);
  alive();
  const unexpectedCloses = opened.sockets.flatMap((s) => (s.unexpectedClose ? [s.unexpectedClose] : []));
  const otherFrames = opened.sockets.flatMap((s) => s.otherFrames);

  console.error('websocket: closing every socket…');
  await closeAll(opened.sockets);
  await waitForConnections(server.url, 0);
  await sleep(SETTLE_ROUNDS * HEARTBEAT_INTERVAL_MS);
  const afterSnapshot = await snapshot();
  console.error(`websocket: ${window} s with 0 sockets again…`);
  const afterWindow = await measureWindow(server, window, []);
  alive();
  await server.stop();

  return {
    connections: n,
    users,
    opened: opened.sockets.length,
    failures: opened.failures,
    openMs: opened.elapsedMs,
    unexpectedCloses,
    otherFrames,
    before: { snapshot: beforeSnapshot, window: beforeWindow },
    open: { snapshot: openSnapshot, window: openWindow },
    after: { snapshot: afterSnapshot, window: afterWindow },
    peakRss,
    loadAverage,
  };
}

function renderIdle(r: IdleResult, settings: BenchSettings): { lines: string[]; problems: string[] } {
  const windowRss = (w: Window) => median(w.rss);
  const live = r.open.snapshot;
  const idle = r.before.snapshot;
  const growth = live.rss - idle.rss;
  const perConnection = (bytes: number) => (r.opened > 0 ? int(bytes / r.opened) : '–');
  const heapGrowth = live.metrics.heapUsed - idle.metrics.heapUsed;
  const externalGrowth = live.metrics.external - idle.metrics.external;
  const baselinePercent = (cpuPercent(r.before.window) + cpuPercent(r.after.window)) / 2;
  const excessPercent = cpuPercent(r.open.window) - baselinePercent;
  const rounds = r.opened > 0 ? r.open.window.pings / r.opened : 0;
  const perRound = rounds > 0 ? ((excessPercent / 100) * r.open.window.wallMs) / rounds : NaN;
  const percent = (n: number, digits = 2) => `${n.toFixed(digits)} %`;
  const row = (label: string, cell: (phase: Phase) => string) =>
    `| ${label} | ${cell(r.before)} | ${cell(r.open)} | ${cell(r.after)} |`;

  // Judged on what the process holds while serving (the window's median), not on the collected figure.
  const rssN = windowRss(r.open.window);
  const judged = r.connections >= TARGET.connections;
  const met = rssN < TARGET.rssBytes && r.failures.length === 0;
  const projected = idle.rss + (growth / Math.max(r.opened, 1)) * TARGET.connections;
  const target = judged
    ? `${mb(rssN)} MB (median of the window; ${mb(live.rss)} MB right after a full GC, peak ${mb(r.peakRss)} MB) ` +
      `with ${int(r.opened)} open — ${met ? 'MET' : 'NOT MET'}`
    : `not judged: this run opened ${int(r.connections)} sockets (BENCH_WS_CONNECTIONS), the target is for ` +
      `${int(TARGET.connections)}; at ${perConnection(growth)} bytes per connection that would be about ` +
      `${mb(projected)} MB after a full GC`;

  const problems: string[] = [];
  if (r.failures.length > 0)
    problems.push(`${r.failures.length} of ${r.connections} WebSockets failed to open: ${r.failures[0]}`);
  if (r.unexpectedCloses.length > 0)
    problems.push(
      `${r.unexpectedCloses.length} idle WebSockets closed unexpectedly: ${r.unexpectedCloses[0]}`,
    );
  if (live.metrics.heartbeatTerminations > 0)
    problems.push(`the server terminated ${live.metrics.heartbeatTerminations} sockets for silence`);
  if (r.otherFrames.length > 0) problems.push(`idle sockets received other frames: ${r.otherFrames[0]}`);

  const lines = [
    `### Idle connections: ${int(r.connections)} authenticated sockets`,
    '',
    'Server: the built server (dist/), WORKERS=1, LOG_LEVEL=warn, SQLite in a fresh DATA_DIR, no REDIS_URL (the ' +
      `connection limits counted in its memory), WS_MAX_CONNECTIONS=${Math.max(r.connections, 1_000)}, ` +
      `WS_MAX_CONNECTIONS_PER_USER=${PER_USER}, **WS_HEARTBEAT_INTERVAL_MS=${HEARTBEAT_INTERVAL_MS} and ` +
      `WS_HEARTBEAT_TIMEOUT_MS=${HEARTBEAT_TIMEOUT_MS}** (30× more often than the default 30000, so that the ` +
      'heartbeat’s cost shows in a short window), WS_MESSAGES_PER_MINUTE=0, RATE_LIMIT_PER_MINUTE=0, ' +
      'RATE_LIMIT_REGISTER=0, RATE_LIMIT_LOGIN_FAILURES=0, BCRYPT_ROUNDS=4 (only the setup hashes); started with ' +
      '`--inspect=127.0.0.1:<port>` so that the bench can force a full GC (HeapProfiler.collectGarbage).',
    '',
    `Clients: the \`ws\` package in the bench process. ${int(r.users)} users registered and logged in over HTTP; ` +
      `${int(r.connections)} sockets to \`${WS_PATH}?token=<access token>\`, the users’ tokens in turn ` +
      `(at most ${PER_USER} sockets per user), ${OPEN_IN_FLIGHT} opens in flight at a time, each done when its ` +
      '`connection` frame (authenticated) has arrived. The clients send nothing; `ws` answers each protocol ping ' +
      `with a pong. Before anything is measured, ${int(Math.min(r.connections, WARMUP_SOCKETS))} sockets are ` +
      'opened and closed (warm-up).',
    '',
    `How measured: three windows of ${settings.wsWindowSeconds} s — 0 sockets (after the warm-up), ` +
      `${int(r.opened)} sockets (${SETTLE_ROUNDS} heartbeat intervals after the last open), 0 sockets again ` +
      `(${SETTLE_ROUNDS} intervals after every socket closed), each starting right after a forced full GC. “After ` +
      'a full GC”: VmRSS of the server’s process (/proc/<pid>/status) and its V8 heap and external memory (its own ' +
      'GET /metrics, prom-client’s default metrics) read after a forced GC just before the 0-socket windows and ' +
      `just after the ${int(r.opened)}-socket one; the growth and per-connection figures come from these. “Window”: ` +
      'VmRSS once a second through the window (what the process holds while serving, garbage included). CPU: ' +
      'utime + stime of the server’s process (/proc/<pid>/stat, every thread) over the window, as a share of one ' +
      'core. Event-loop delay: the server’s own nodejs_eventloop_lag_max_seconds and _p99_seconds ' +
      '(perf_hooks.monitorEventLoopDelay, 10 ms resolution), read at the end of the window after a scrape at its ' +
      'start (each scrape starts them afresh): how long the heartbeat holds up everything else. Heartbeat rounds: ' +
      'the protocol pings the clients received in the window divided by the open sockets. ' +
      'MB = 10^6 bytes. The clients run in the bench process on the same 2 cores, so their CPU (shown) competes ' +
      'with the server’s.',
    '',
    `| measured | 0 sockets (before) | ${int(r.opened)} sockets | 0 sockets (after closing) |`,
    '|---|---:|---:|---:|',
    row('server RSS after a full GC, MB', (p) => mb(p.snapshot.rss)),
    row('V8 heap used after a full GC, MB', (p) => mb(p.snapshot.metrics.heapUsed)),
    row('V8 heap total after a full GC, MB', (p) => mb(p.snapshot.metrics.heapTotal)),
    row('external memory (Buffers etc.) after a full GC, MB', (p) => mb(p.snapshot.metrics.external)),
    row('server RSS in the window, median, MB', (p) => mb(windowRss(p.window))),
    row(
      'server RSS in the window, min–max, MB',
      (p) => `${mb(Math.min(...p.window.rss))}–${mb(Math.max(...p.window.rss))}`,
    ),
    row('server CPU, % of one core', (p) => percent(cpuPercent(p.window))),
    row('server CPU in the window, ms', (p) => int(p.window.cpuMs)),
    row('protocol pings received by the clients', (p) => int(p.window.pings)),
    row('JSON `ping` frames received by the clients', (p) => int(p.window.jsonPings)),
    row('frames the server counted out (websocket_messages_total)', (p) => int(p.window.framesOut)),
    row(
      'server event-loop delay, max / p99, ms',
      (p) => `${delayMs(p.window.lagMaxMs)} / ${delayMs(p.window.lagP99Ms)}`,
    ),
    row('bench process (clients) CPU, % of one core', (p) =>
      percent((p.window.clientCpuMs / p.window.wallMs) * 100),
    ),
    '',
    '| figure | value |',
    '|---|---:|',
    `| sockets admitted (connection frame received) | ${int(r.opened)} of ${int(r.connections)} |`,
    `| failed opens | ${r.failures.length} |`,
    `| sockets closed unexpectedly while open / terminated for silence | ${r.unexpectedCloses.length} / ` +
      `${live.metrics.heartbeatTerminations} |`,
    `| time to open them all | ${(r.openMs / 1000).toFixed(1)} s (${int(r.opened / (r.openMs / 1000))} opens/s) |`,
    `| RSS growth with the sockets open (after a full GC) | ${mb(growth)} MB |`,
    `| RSS per connection | ${perConnection(growth)} bytes |`,
    `| V8 heap used per connection | ${perConnection(heapGrowth)} bytes |`,
    `| external memory per connection | ${perConnection(externalGrowth)} bytes |`,
    `| the rest of the RSS per connection (native: sockets, buffers, allocator) | ` +
      `${perConnection(growth - heapGrowth - externalGrowth)} bytes |`,
    `| peak RSS of the server over the run (VmHWM) | ${mb(r.peakRss)} MB |`,
    `| heartbeat rounds in the ${settings.wsWindowSeconds} s window | ${rounds.toFixed(1)} |`,
    `| heartbeat CPU above the 0-socket baseline (mean of both) | ${percent(excessPercent)} of one core |`,
    `| heartbeat CPU per round (${int(r.opened)} protocol pings + JSON pings) | ${perRound.toFixed(1)} ms |`,
    `| heartbeat CPU per socket per round | ${((perRound * 1000) / Math.max(r.opened, 1)).toFixed(2)} µs |`,
    '',
    `- Target (${int(TARGET.connections)} connections under ${TARGET.rssBytes / 1e6} MB RSS): ${target}`,
    `- With the default WS_HEARTBEAT_INTERVAL_MS=30000 the heartbeat would cost 1/30 of the figure above: ` +
      `${percent(excessPercent / 30, 3)} of one core for ${int(r.opened)} sockets.`,
    `- Load average at the end of the ${int(r.opened)}-socket window: ` +
      `${r.loadAverage.map((n) => n.toFixed(2)).join(', ')} (other work on this machine inflates the CPU figures).`,
    ...problems.map((p) => `- FAILED: ${p}`),
  ];
  return { lines, problems };
}

// --- part 2: chat over one WebSocket vs SSE ---

type Side = 'ws' | 'sse';

interface ChatTimes {
  ttft: number[];
  last: number[];
}

async function chatRoundTrips(settings: BenchSettings, workDir: string, start: Start) {
  const tokens = replyTokens(settings.chatTokens);
  const expected = { text: tokens.join(''), tokens: tokens.length };
  console.error('websocket: starting the LLM stand-in…');
  const standIn = await startStandIn(
    tokens,
    path.join(workDir, 'websocket-llm-stand-in.log'),
    settings.readyTimeoutMs,
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let socket: ChatSocketClient | undefined;
  try {
    const server = await start(chatSpec(workDir, standIn.url));
    // Two users: the server publishes a user's every chat turn (SSE ones too) to that user's open sockets, which
    // would put the SSE chats' frames on the measured socket.
    const [wsToken, sseToken] = await userTokens(server.url, 2);
    if (wsToken === undefined || sseToken === undefined) throw new Error('no access token');
    socket = await ChatSocketClient.connect(server.url, wsToken, expected);
    const ws = socket;
    const runId = `${Date.now().toString(36)}-${process.pid}`;
    let sent = 0;
    const newReader = sseReader(expected);
    const one = async (side: Side, label: string): Promise<Extract<ChatOutcome, { ok: true }>> => {
      sent += 1;
      // A new session per chat, so that the context sent upstream never grows.
      const sessionId = `bench-${side}-${runId}-${label}`;
      let outcome: ChatOutcome;
      if (side === 'ws') {
        outcome = await ws.chat(MESSAGE, sessionId, CHAT_TIMEOUT_MS);
      } else {
        const target: ChatTarget = {
          label: 'over SSE',
          url: new URL('/api/v1/chat/', server.url),
          body: JSON.stringify({ message: MESSAGE, stream: true, session_id: sessionId }),
          agent,
          contentType: 'text/event-stream',
          newReader,
          headers: { authorization: `Bearer ${sseToken}`, accept: 'text/event-stream' },
        };
        outcome = await streamChat(target, CHAT_TIMEOUT_MS);
      }
      if (!outcome.ok) throw new Error(outcome.reason);
      return outcome;
    };
    const order = (i: number): Side[] => (i % 2 === 0 ? ['ws', 'sse'] : ['sse', 'ws']);

    console.error(`websocket: chat warm-up, ${CHAT_WARMUP} chats per side…`);
    for (let i = 0; i < CHAT_WARMUP; i += 1) for (const side of order(i)) await one(side, `warm-${i}`);
    console.error(`websocket: ${settings.wsChats} chats per side, one at a time, interleaved…`);
    const times: Record<Side, ChatTimes> = { ws: { ttft: [], last: [] }, sse: { ttft: [], last: [] } };
    for (let i = 0; i < settings.wsChats; i += 1) {
      for (const side of order(i)) {
        const outcome = await one(side, String(i));
        times[side].ttft.push(outcome.ttftMs);
        times[side].last.push(outcome.lastEventMs);
      }
    }
    if (server.exited()) throw new Error(`${server.name} exited (log: ${server.logFile})`);
    await socket.close();
    socket = undefined;
    await server.stop();
    const summary = await standIn.stop();
    const problems: string[] = [];
    if (summary.generations !== sent)
      problems.push(
        `the stand-in received ${summary.generations} generation requests for ${sent} chats sent`,
      );
    if (summary.aborted > 0) problems.push(`${summary.aborted} request(s) to the stand-in were cut short`);
    if (summary.unexpected.length > 0)
      problems.push(`the stand-in flagged: ${summary.unexpected.slice(0, 5).join('; ')}`);
    return { times, tokens: tokens.length, sent, summary, problems };
  } catch (error) {
    if (!standIn.exited()) await standIn.stop().catch(() => undefined);
    throw error;
  } finally {
    await socket?.close();
    agent.destroy();
  }
}

function renderChat(result: Awaited<ReturnType<typeof chatRoundTrips>>, settings: BenchSettings): string[] {
  const { times, summary, sent } = result;
  const ms = (n: number) => n.toFixed(2);
  const row = (label: string, field: keyof ChatTimes) => {
    const ws50 = percentile(times.ws[field], 50);
    const sse50 = percentile(times.sse[field], 50);
    const ws99 = percentile(times.ws[field], 99);
    const sse99 = percentile(times.sse[field], 99);
    return (
      `| ${label} | ${ms(ws50)} | ${ms(sse50)} | ${(ws50 / sse50).toFixed(2)}× | ` +
      `${ms(ws99)} | ${ms(sse99)} | ${(ws99 / sse99).toFixed(2)}× |`
    );
  };
  return [
    `### Chat round trip: one WebSocket vs SSE, ${settings.wsChats} chats each`,
    '',
    'Server: the built server, WORKERS=1, LOG_LEVEL=warn, SQLite in a fresh DATA_DIR, OLLAMA_URL at the LLM stand-in ' +
      `(bench/llm-stand-in-child.ts, every reply the same ${result.tokens} tokens at once, no delay), ` +
      'LLM_MAX_CONCURRENT, LLM_MAX_CONCURRENT_PER_USER and LLM_QUEUE_SIZE at 1000, WS_MESSAGES_PER_MINUTE=0, ' +
      'RATE_LIMIT_PER_MINUTE=0, the default heartbeat (30000 ms). Two users, registered and logged in over HTTP, one ' +
      'per side: the server publishes each chat turn of a user to all that user’s sockets, SSE turns included, so ' +
      'one user would put the SSE chats’ frames on the measured socket.',
    '',
    'How measured: one chat at a time, the sides alternating (WebSocket then SSE, then SSE then WebSocket, …) so ' +
      `that drift hits both, after ${CHAT_WARMUP} chats per side not measured. WebSocket: one socket for every ` +
      `chat (\`${WS_PATH}\`, \`Authorization: Bearer\`), the frame \`{"type": "chat", "message", "session_id", ` +
      '"stream": true}`, timed from handing it to `ws` to the first `stream_chunk` (first token) and to ' +
      '`stream_end` (last event); every answer checked frame by frame (`message_received` with the message, ' +
      '`stream_start`, `stream_chunk`s, `stream_end` with the message id, the usage and `full_response`). SSE: ' +
      '`POST /api/v1/chat/` with `{"message", "session_id", "stream": true}` and `Accept: text/event-stream` over ' +
      'one keep-alive node:http connection, timed from handing the request to node:http to the chunk completing ' +
      'the first `token` event and the one completing the `end` event; checked as in the chat section. Every chat ' +
      'names a new session_id, so each is a new session (stored as in production) and the context never grows; ' +
      'the text of every answer must equal the stand-in’s. p50 and p99 are nearest-rank.',
    '',
    '| time | WebSocket p50 ms | SSE p50 ms | ratio p50 (ws/sse) | WebSocket p99 ms | SSE p99 ms | ratio p99 (ws/sse) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('to the first token', 'ttft'),
    row('to the last event (`stream_end` / `end`)', 'last'),
    '',
    `- The stand-in received ${summary.generations} chat requests for the ${sent} chats sent on both sides ` +
      `(${summary.generations === sent ? 'one each' : 'a MISMATCH'}), ${summary.aborted} cut short, ` +
      `${summary.unexpected.length} unexpected.`,
    ...result.problems.map((p) => `- FAILED: ${p}`),
  ];
}

/** Runs the section and returns its Markdown; `start` starts a server the caller stops (and reaps on failure). */
export async function runWebSocketSection(
  settings: BenchSettings,
  workDir: string,
  start: Start,
): Promise<WebSocketSectionResult> {
  const idle = renderIdle(await idleConnections(settings, workDir, start), settings);
  const chat = await chatRoundTrips(settings, workDir, start);
  const markdown = [
    '## Chat WebSocket: idle connections, heartbeat cost, and chat over a socket vs SSE',
    '',
    ...idle.lines,
    '',
    ...renderChat(chat, settings),
  ].join('\n');
  return { markdown, problems: [...idle.problems, ...chat.problems] };
}
