// One streamed chat as the chat benchmark's client sends it, through our server (SSE) or straight to the LLM
// stand-in (Ollama's NDJSON), over node:http with keep-alive connections. Both sides are timed the same way: from
// handing the request to node:http to the arrival of the chunk that completes the first token (and of the one that
// completes the final event); and both answers are read whole and checked (status, content type, every event in
// order, the text, the final event).
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** ttftMs: to the chunk that completes the first token; lastEventMs: to the chunk that completes the final event. */
export type ChatOutcome = { ok: true; ttftMs: number; lastEventMs: number } | { ok: false; reason: string };

/** Reads a streamed answer as it arrives. */
export interface StreamReader {
  /** Feeds the next chunk; true once the first token has been read (in this chunk or an earlier one). */
  push(chunk: string): boolean;
  /** True once the final event (SSE `end`, the NDJSON line with done: true) has been read. */
  ended(): boolean;
  /** At the end of the body: what was wrong with the answer, or null when it was complete and right. */
  finish(): string | null;
}

/** One side of the comparison: where its chats go and how its answers are read. */
export interface ChatTarget {
  label: string;
  url: URL;
  body: string;
  agent: http.Agent;
  /** What the Content-Type of a 200 must start with. */
  contentType: string;
  newReader: () => StreamReader;
  /** Sent with the request besides Content-Type and Content-Length (an Authorization, an Accept). */
  headers?: Record<string, string>;
}

interface Expected {
  text: string;
  tokens: number;
}

const json = (raw: string): Record<string, unknown> | null => {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
};
const quote = (text: string) => JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);

/** Our server's SSE: `start`, then `token`s with {content}, then `end` with the stored message id and usage. */
export function sseReader(expected: Expected): () => StreamReader {
  return () => {
    let buffer = '';
    let text = '';
    let stage: 'before start' | 'streaming' | 'ended' = 'before start';
    let tokenSeen = false;
    let problem: string | null = null;
    const frame = (raw: string) => {
      const lines = raw.split('\n').filter((line) => !line.startsWith(':'));
      if (lines.length === 0) return; // a keep-alive comment
      let event = 'message';
      let data = '';
      for (const line of lines) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trimStart();
      }
      const body = json(data);
      const wrong = (why: string) => void (problem ??= `${why}: event ${event} ${quote(data)}`);
      if (event === 'start' && stage === 'before start' && typeof body?.session_id === 'string') {
        stage = 'streaming';
      } else if (event === 'token' && stage === 'streaming' && typeof body?.content === 'string') {
        text += body.content;
        tokenSeen = true;
      } else if (event === 'end' && stage === 'streaming' && typeof body?.message_id === 'number') {
        const usage = body.usage as Record<string, unknown> | undefined;
        if (usage?.completion_tokens !== expected.tokens) wrong('end without the usage');
        stage = 'ended';
      } else {
        wrong(`unexpected ${stage}`);
      }
    };
    return {
      push(chunk) {
        buffer += chunk;
        for (let cut = buffer.indexOf('\n\n'); cut !== -1; cut = buffer.indexOf('\n\n')) {
          frame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
        return tokenSeen;
      },
      ended: () => stage === 'ended',
      finish() {
        if (problem) return problem;
        if (buffer !== '') return `an unfinished event at the end: ${quote(buffer)}`;
        if (stage !== 'ended') return `the stream closed ${stage}, without an end event`;
        if (text !== expected.text) return `the tokens read ${quote(text)}, not ${quote(expected.text)}`;
        return null;
      },
    };
  };
}

/** Ollama's /api/chat stream: one JSON per line, `message.content` pieces, then a line with done:true and counts. */
export function ndjsonReader(expected: Expected): () => StreamReader {
  return () => {
    let buffer = '';
    let text = '';
    let ended = false;
    let tokenSeen = false;
    let problem: string | null = null;
    const line = (raw: string) => {
      const body = json(raw);
      const message = body?.message as Record<string, unknown> | undefined;
      if (ended || !body || body.error !== undefined || typeof message?.content !== 'string') {
        problem ??= `unexpected line ${quote(raw)}`;
      } else if (body.done === true) {
        if (body.eval_count !== expected.tokens) problem ??= `final line without the counts: ${quote(raw)}`;
        ended = true;
      } else {
        text += message.content;
        tokenSeen ||= message.content !== '';
      }
    };
    return {
      push(chunk) {
        buffer += chunk;
        for (let cut = buffer.indexOf('\n'); cut !== -1; cut = buffer.indexOf('\n')) {
          line(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 1);
        }
        return tokenSeen;
      },
      ended: () => ended,
      finish() {
        if (problem) return problem;
        if (buffer !== '') return `an unfinished line at the end: ${quote(buffer)}`;
        if (!ended) return 'the stream closed without its final line';
        if (text !== expected.text) return `the tokens read ${quote(text)}, not ${quote(expected.text)}`;
        return null;
      },
    };
  };
}

/** Sends one chat and reads its whole answer; never rejects: a failure is an outcome with its reason. */
export function streamChat(target: ChatTarget, timeoutMs: number): Promise<ChatOutcome> {
  return new Promise((resolve) => {
    const reader = target.newReader();
    let sentAt = 0;
    let ttftMs: number | undefined;
    let lastEventMs: number | undefined;
    let settled = false;
    const settle = (outcome: ChatOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const fail = (reason: string) => settle({ ok: false, reason: `${target.label}: ${reason}` });

    const req = http.request(
      target.url,
      {
        method: 'POST',
        agent: target.agent,
        headers: {
          ...target.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(target.body),
        },
      },
      (res) => {
        res.setEncoding('utf8');
        const type = res.headers['content-type'] ?? '';
        if (res.statusCode !== 200 || !type.startsWith(target.contentType)) {
          let body = '';
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => fail(`status ${res.statusCode} (${type}): ${quote(body)}`));
          return;
        }
        res.on('data', (chunk: string) => {
          const at = performance.now();
          if (reader.push(chunk) && ttftMs === undefined) ttftMs = at - sentAt;
          if (lastEventMs === undefined && reader.ended()) lastEventMs = at - sentAt;
        });
        res.on('end', () => {
          const problem = reader.finish();
          if (problem) fail(problem);
          else if (ttftMs === undefined || lastEventMs === undefined) fail('no token');
          else settle({ ok: true, ttftMs, lastEventMs });
        });
        res.on('error', (error) => fail(error.message));
        res.on('close', () => {
          if (!res.complete) fail('the connection closed before the end of the answer');
        });
      },
    );
    req.on('error', (error) => fail(error.message));
    const timer = setTimeout(() => {
      fail(`no complete answer within ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);
    sentAt = performance.now();
    req.end(target.body);
  });
}

/** Runs `total` calls of `one`, `concurrency` of them always in flight; the wall time covers them all. */
export async function runConcurrently(
  total: number,
  concurrency: number,
  one: () => Promise<ChatOutcome>,
): Promise<{ outcomes: ChatOutcome[]; elapsedMs: number }> {
  const outcomes: ChatOutcome[] = [];
  let issued = 0;
  const started = performance.now();
  const worker = async () => {
    while (issued < total) {
      issued += 1;
      outcomes.push(await one());
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return { outcomes, elapsedMs: performance.now() - started };
}
