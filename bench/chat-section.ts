// The chat section of `npm run bench`: what our server adds to a streamed chat, against the same LLM stand-in reached
// directly. The stand-in runs in a child process of its own (bench/llm-stand-in-child.ts), our built server in
// another, the client here. After a warm-up: (1) chats one at a time, each through our server paired with one
// straight to the stand-in, for the paired difference in time to first token; (2) rounds of chats with many in
// flight on each side, for chats/s, time to first token and failures. Every answer is checked (bench/chat-client.ts);
// the stand-in's own account of what it received is checked at the end.
import http from 'node:http';
import path from 'node:path';
import type { BenchSettings } from './bench-settings.js';
import {
  ndjsonReader,
  runConcurrently,
  sseReader,
  streamChat,
  type ChatOutcome,
  type ChatTarget,
} from './chat-client.js';
import { chatsPerSecond, percentile, renderChatSection, type LoadRound } from './chat-report.js';
import { startStandIn } from './llm-stand-in-process.js';
import type { RunningServer, ServerSpec } from './server-process.js';
import { chatServerSpec, minimalProxySpec } from './servers-under-test.js';

export const CHAT_TARGETS = { addedP50Ms: 1, addedP99Ms: 3 };

/** A chat with no complete answer by then has failed. */
const CHAT_TIMEOUT_MS = 30_000;
const MESSAGE = 'Say something short.';
/** What our server sends upstream with its defaults (DEFAULT_MODEL, CHAT_SYSTEM_PROMPT, the 0.7 temperature). */
const UPSTREAM_BODY = {
  model: 'tinyllama:latest',
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: MESSAGE },
  ],
  stream: true,
  options: { temperature: 0.7 },
};

export interface ChatSectionResult {
  markdown: string;
  /** Failed chats under load and anything wrong in what the stand-in received: the run must not pass. */
  problems: string[];
}

type Side = 'ours' | 'floor' | 'direct';
/** The order of the sides within a group of chats, rotating so that none is always first (or always last). */
const ORDERS: readonly (readonly Side[])[] = [
  ['ours', 'floor', 'direct'],
  ['direct', 'ours', 'floor'],
  ['floor', 'direct', 'ours'],
];

/** The stand-in's reply: plain words, which sanitization passes through unchanged. */
export function replyTokens(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? 'Hello' : ` word${i}`));
}

function targetsFor(
  urls: { server: string; floor: string; standIn: string },
  tokens: string[],
  concurrency: number,
) {
  const expected = { text: tokens.join(''), tokens: tokens.length };
  const agent = () => new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const targets: Record<Side, ChatTarget> = {
    ours: {
      label: 'through our server',
      url: new URL('/api/v1/chat/', urls.server),
      body: JSON.stringify({ message: MESSAGE, stream: true }),
      agent: agent(),
      contentType: 'text/event-stream',
      newReader: sseReader(expected),
    },
    floor: {
      label: 'through the minimal Node proxy',
      url: new URL('/api/v1/chat/', urls.floor),
      body: JSON.stringify({ message: MESSAGE, stream: true }),
      agent: agent(),
      contentType: 'text/event-stream',
      newReader: sseReader(expected),
    },
    direct: {
      label: 'straight to the stand-in',
      url: new URL('/api/chat', urls.standIn),
      body: JSON.stringify(UPSTREAM_BODY),
      agent: agent(),
      contentType: 'application/x-ndjson',
      newReader: ndjsonReader(expected),
    },
  };
  return targets;
}

function mustSucceed(outcome: ChatOutcome): number {
  if (!outcome.ok) throw new Error(outcome.reason);
  return outcome.ttftMs;
}

function describe(round: LoadRound): string {
  const ttft = round.ttfts.length
    ? `ttft p50 ${percentile(round.ttfts, 50).toFixed(2)} ms, p99 ${percentile(round.ttfts, 99).toFixed(2)} ms`
    : 'no successful chat';
  return `${Math.round(chatsPerSecond(round))} chats/s, ${ttft}, ${round.failures.length} failed`;
}

/** Runs the section and returns its Markdown; `start` starts a server the caller stops (and reaps on failure). */
export async function runChatSection(
  settings: BenchSettings,
  workDir: string,
  start: (spec: ServerSpec) => Promise<RunningServer>,
): Promise<ChatSectionResult> {
  const tokens = replyTokens(settings.chatTokens);
  console.error('starting the LLM stand-in…');
  const standIn = await startStandIn(tokens, path.join(workDir, 'llm-stand-in.log'), settings.readyTimeoutMs);
  let targets: Record<Side, ChatTarget> | undefined;
  let sent = 0;
  try {
    const server = await start(chatServerSpec(workDir, standIn.url));
    const floor = await start(minimalProxySpec(workDir, standIn.url));
    targets = targetsFor(
      { server: server.url, floor: floor.url, standIn: standIn.url },
      tokens,
      settings.chatConcurrency,
    );
    const sides = targets;
    const one = (side: Side) => {
      sent += 1;
      return streamChat(sides[side], CHAT_TIMEOUT_MS);
    };
    const alive = () => {
      for (const running of [server, floor]) {
        if (running.exited())
          throw new Error(`${running.name} exited during the chat section (log: ${running.logFile})`);
      }
      if (standIn.exited()) throw new Error(`the LLM stand-in exited (log: ${standIn.logFile})`);
    };

    console.error(`chat: warming up, ${settings.chatWarmup} chats per side…`);
    for (const side of ORDERS[0] ?? []) {
      const warm = await runConcurrently(settings.chatWarmup, settings.chatConcurrency, () => one(side));
      warm.outcomes.forEach(mustSucceed);
    }
    alive();

    console.error(`chat: ${settings.chatPairs} groups, one chat at a time…`);
    const pairs: Record<Side, number[]> = { ours: [], floor: [], direct: [] };
    for (let i = 0; i < settings.chatPairs; i += 1) {
      const ttfts: Partial<Record<Side, number>> = {};
      for (const side of ORDERS[i % ORDERS.length] ?? []) ttfts[side] = mustSucceed(await one(side));
      for (const side of ['ours', 'floor', 'direct'] as const) pairs[side].push(ttfts[side] ?? NaN);
    }
    alive();
    const p = (side: Side, q: number) => percentile(pairs[side], q).toFixed(2);
    console.error(
      `chat groups: ttft through our server p50 ${p('ours', 50)} ms, p99 ${p('ours', 99)} ms; ` +
        `through the minimal proxy p50 ${p('floor', 50)} ms, p99 ${p('floor', 99)} ms; ` +
        `straight to the stand-in p50 ${p('direct', 50)} ms, p99 ${p('direct', 99)} ms`,
    );

    const load: Record<Side, LoadRound[]> = { ours: [], floor: [], direct: [] };
    for (let round = 1; round <= settings.rounds; round += 1) {
      for (const side of ORDERS[(round - 1) % ORDERS.length] ?? []) {
        const run = await runConcurrently(settings.chatLoadChats, settings.chatConcurrency, () => one(side));
        const result: LoadRound = { ttfts: [], failures: [], elapsedMs: run.elapsedMs };
        for (const outcome of run.outcomes) {
          if (outcome.ok) result.ttfts.push(outcome.ttftMs);
          else result.failures.push(outcome.reason);
        }
        // The baseline failing means the benchmark itself is broken: no figure from this run would mean anything.
        if (side !== 'ours' && result.failures[0] !== undefined) throw new Error(result.failures[0]);
        load[side].push(result);
        console.error(
          `chat load round ${round}/${settings.rounds}  ${sides[side].label}: ${describe(result)}`,
        );
      }
      alive();
    }

    const summary = await standIn.stop();
    const problems = load.ours.flatMap((r) => r.failures).length
      ? [`${load.ours.flatMap((r) => r.failures).length} chat(s) through our server failed under load`]
      : [];
    if (summary.generations !== sent) {
      problems.push(
        `the stand-in received ${summary.generations} generation requests for ${sent} chats sent`,
      );
    }
    if (summary.aborted > 0) problems.push(`${summary.aborted} request(s) to the stand-in were cut short`);
    if (summary.unexpected.length > 0) {
      problems.push(`the stand-in flagged: ${summary.unexpected.slice(0, 5).join('; ')}`);
    }
    const markdown = renderChatSection({
      serverName: server.name,
      tokens: tokens.length,
      warmup: settings.chatWarmup,
      concurrency: settings.chatConcurrency,
      loadChats: settings.chatLoadChats,
      pairs,
      load,
      standInNote:
        `The stand-in received ${summary.generations} chat requests for the ${sent} chats sent on all three sides ` +
        `(${summary.generations === sent ? 'one each: no retry, none lost' : 'a MISMATCH'}), ` +
        `${summary.requests - summary.generations} other request(s), ` +
        `${summary.aborted} cut short, ${summary.unexpected.length} unexpected.`,
      targets: CHAT_TARGETS,
    });
    return { markdown, problems };
  } catch (error) {
    if (!standIn.exited()) await standIn.stop().catch(() => undefined);
    throw error;
  } finally {
    for (const target of Object.values(targets ?? {})) target.agent.destroy();
  }
}
