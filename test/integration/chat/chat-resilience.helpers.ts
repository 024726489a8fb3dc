// Shared by the chat error, resilience, breaker and limit suites: posting a chat message, reading a session back,
// counting what the stand-in received, reading Prometheus samples, and chats that hang until the test aborts them.
import http from 'node:http';
import { expect } from 'vitest';
import type { App } from '../../../src/app.js';
import { bearer } from '../../helpers/auth.js';
import type { LlmStandIn } from '../../helpers/llm-stand-in.js';
import { closedPort } from '../../helpers/closed-port.js';

export const CHAT_ENDPOINTS = ['/api/v1/chat/', '/api/v1/chat/message', '/api/v1/chat/send'] as const;

export interface ErrorAnswer {
  detail: unknown;
  code: string;
  request_id: string;
}

export interface StoredMessage {
  id: number;
  role: string;
  content: string;
  status: string;
  error: string | null;
}

/** POST a chat message through inject; `token` signs it in. */
export function chat(
  app: App,
  payload: unknown,
  options: { token?: string; url?: string; remoteAddress?: string } = {},
) {
  return app.inject({
    method: 'POST',
    url: options.url ?? '/api/v1/chat/',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? bearer(options.token) : {}),
    },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
  });
}

/** The session's stored messages, read back by its owner. */
export async function storedMessages(app: App, token: string, sessionId: string): Promise<StoredMessage[]> {
  const res = await app.inject({ url: `/api/v1/chat/sessions/${sessionId}`, headers: bearer(token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ messages: StoredMessage[] }>().messages;
}

/** Generation requests (POST /api/chat) the stand-in received: model lists and health probes are not counted. */
export function generations(llm: LlmStandIn): number {
  return llm.requests.filter((request) => request.path === '/api/chat').length;
}

/** A URL on which nothing listens: a port just taken and released. */
export async function closedPortUrl(): Promise<string> {
  return `http://127.0.0.1:${await closedPort()}`;
}

/** Server-sent events of a whole answer body, in order, with their parsed data. */
export function sseEvents(body: string): { event: string; data: Record<string, unknown> }[] {
  return body
    .split('\n\n')
    .filter((frame) => frame.startsWith('event:'))
    .map((frame) => {
      const [eventLine = '', dataLine = ''] = frame.split('\n');
      return {
        event: eventLine.slice('event: '.length),
        data: JSON.parse(dataLine.slice('data: '.length)) as Record<string, unknown>,
      };
    });
}

/** The value of one Prometheus sample (0 when the series does not exist yet). */
export async function metric(app: App, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await app.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  const found: number[] = [];
  for (const line of res.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const sample: Record<string, string> = {};
    for (const [, key = '', value = ''] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      sample[key] = value;
    if (Object.entries(labels).every(([key, value]) => sample[key] === value)) found.push(Number(match[3]));
  }
  expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return found[0] ?? 0;
}

/** Several samples at once, for before/after comparisons. */
export async function metrics<K extends string>(
  app: App,
  wanted: Record<K, [string, Record<string, string>]>,
): Promise<Record<K, number>> {
  const values = {} as Record<K, number>;
  for (const key of Object.keys(wanted) as K[]) {
    const [name, labels] = wanted[key];
    values[key] = await metric(app, name, labels);
  }
  return values;
}

/** Polls `check` every 10 ms until it holds, failing after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function listen(app: App): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return `http://127.0.0.1:${address.port}`;
}

export interface PendingChat {
  /** Destroys the connection, as a client that goes away does. */
  abort(): void;
  /** The answer, or the error the abort caused (never rejects). */
  done: Promise<{ status: number; body: string } | Error>;
}

/** A chat sent over a real socket and left running (its reply hangs) until abort(). */
export function pendingChat(baseUrl: string, payload: unknown, token?: string): PendingChat {
  const body = JSON.stringify(payload);
  const request = http.request(`${baseUrl}/api/v1/chat/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...(token ? bearer(token) : {}),
    },
    agent: false,
  });
  const done = new Promise<{ status: number; body: string } | Error>((resolve) => {
    request.on('error', resolve);
    request.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', resolve);
    });
  });
  request.end(body);
  return { abort: () => request.destroy(new Error('aborted by the test')), done };
}
