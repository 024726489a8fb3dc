// The WebSocket section's clients (the `ws` package, in the bench process): many idle authenticated sockets that
// count the heartbeats they receive (ws answers each protocol ping with a pong by itself), and one socket that
// chats, timed from handing the `chat` frame to ws to the arrival of its first `stream_chunk` and of its `stream_end`.
// Every socket must get its `connection` frame, and every answer is checked frame by frame and to the exact text.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { ChatOutcome } from './chat-client.js';

export const WS_PATH = '/api/v1/chat/ws';
/** How long a socket may take to get its `connection` frame, and a close its closing handshake. */
const OPEN_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 10_000;

export function wsUrl(baseUrl: string, token?: string): string {
  const url = new URL(WS_PATH, baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (token !== undefined) url.searchParams.set('token', token);
  return url.toString();
}

const quote = (text: string) => JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);

/** A frame's text (ws hands text frames over as a Buffer). */
function textOf(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

function parse(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Waits for the server's `connection` frame (an authenticated one): the socket is then admitted. */
function admitted(ws: WebSocket, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      ws.terminate();
      reject(new Error(`${label}: ${reason}`));
    };
    const timer = setTimeout(() => fail(`no connection frame within ${OPEN_TIMEOUT_MS} ms`), OPEN_TIMEOUT_MS);
    ws.once('message', (data) => {
      const text = textOf(data);
      const frame = parse(text);
      if (frame?.type !== 'connection' || frame.status !== 'connected' || frame.anonymous !== false) {
        return fail(`the first frame was not an authenticated connection frame: ${quote(text)}`);
      }
      clearTimeout(timer);
      ws.off('close', closed);
      ws.off('error', errored);
      resolve();
    });
    const closed = (code: number, reason: Buffer) =>
      fail(`closed ${code} ${quote(reason.toString())} before the connection frame`);
    const errored = (error: Error) => fail(error.message);
    ws.once('close', closed);
    ws.once('error', errored);
  });
}

/** One idle socket, admitted: what it received since, and whether it closed without being asked to. */
export class IdleSocket {
  /** Protocol pings (each answered with a pong by ws). */
  pings = 0;
  /** The heartbeat's JSON `{"type":"ping"}` frames (sent to a client idle for a whole interval). */
  jsonPings = 0;
  /** Any other frame: an idle socket should get none. */
  otherFrames: string[] = [];
  /** Set when the socket closed (or failed) before close() was called. */
  unexpectedClose: string | undefined;
  #closing = false;
  /** The first frame is the `connection` frame, which admitted() checks. */
  #first = true;
  readonly #closed: Promise<void>;

  constructor(readonly ws: WebSocket) {
    ws.on('ping', () => {
      this.pings += 1;
    });
    ws.on('message', (data) => {
      if (this.#first) {
        this.#first = false;
        return;
      }
      const text = textOf(data);
      // stringifyHtmlSafe writes `type` first; a cheap test, as 10,000 sockets get one each interval.
      if (text.startsWith('{"type":"ping"')) this.jsonPings += 1;
      else if (this.otherFrames.length < 3) this.otherFrames.push(text.slice(0, 200));
    });
    ws.on('error', (error) => {
      if (!this.#closing) this.unexpectedClose ??= `error: ${error.message}`;
    });
    this.#closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        if (!this.#closing) this.unexpectedClose ??= `closed ${code} ${quote(reason.toString())}`;
        resolve();
      });
    });
  }

  /** Closes with 1000 and waits for the server's close frame (terminates the socket if it does not come). */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, 'bench done');
    const timer = setTimeout(() => this.ws.terminate(), CLOSE_TIMEOUT_MS);
    await this.#closed;
    clearTimeout(timer);
  }
}

export interface OpenResult {
  sockets: IdleSocket[];
  failures: string[];
  elapsedMs: number;
}

/**
 * Opens `count` sockets with `?token=`, the tokens taken in turn, `inFlight` opens at a time (each one done when its
 * `connection` frame has arrived, or failed).
 */
export async function openIdleSockets(
  baseUrl: string,
  tokens: string[],
  count: number,
  inFlight: number,
): Promise<OpenResult> {
  const sockets: IdleSocket[] = [];
  const failures: string[] = [];
  const urls = tokens.map((token) => wsUrl(baseUrl, token));
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (let index = next++; index < count; index = next++) {
      const ws = new WebSocket(urls[index % urls.length] as string, { handshakeTimeout: OPEN_TIMEOUT_MS });
      const socket = new IdleSocket(ws);
      try {
        await admitted(ws, `socket ${index + 1}`);
        sockets.push(socket);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return { sockets, failures, elapsedMs: performance.now() - started };
}

export async function closeAll(sockets: IdleSocket[]): Promise<void> {
  await Promise.all(sockets.map((socket) => socket.close()));
}

interface Expected {
  text: string;
  tokens: number;
}

interface PendingChat {
  sentAt: number;
  message: string;
  sessionId: string;
  stage: 'before message_received' | 'before stream_start' | 'streaming';
  text: string;
  ttftMs: number | undefined;
  resolve: (outcome: ChatOutcome) => void;
  timer: NodeJS.Timeout;
}

/** One authenticated socket (Authorization: Bearer) that chats one chat at a time. */
export class ChatSocketClient {
  #pending: PendingChat | undefined;

  private constructor(
    private readonly ws: WebSocket,
    private readonly expected: Expected,
  ) {
    ws.on('message', (data) => {
      const at = performance.now();
      const chat = this.#pending;
      const text = textOf(data);
      const frame = parse(text);
      // The heartbeat's JSON ping reaches a socket idle for a whole interval: not part of an answer.
      if (frame?.type === 'ping') return;
      if (!chat) return;
      this.#frame(chat, frame, text, at);
    });
    ws.on('close', (code, reason) => {
      if (this.#pending) this.#settle({ ok: false, reason: `closed ${code} ${quote(reason.toString())}` });
    });
  }

  static async connect(baseUrl: string, token: string, expected: Expected): Promise<ChatSocketClient> {
    const ws = new WebSocket(wsUrl(baseUrl), {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: OPEN_TIMEOUT_MS,
    });
    ws.on('error', () => undefined); // reported by admitted() or by 'close'
    await admitted(ws, 'the chat socket');
    return new ChatSocketClient(ws, expected);
  }

  /** Sends `{type: "chat", message, session_id, stream: true}` and reads its answer to `stream_end`. */
  chat(message: string, sessionId: string, timeoutMs: number): Promise<ChatOutcome> {
    if (this.#pending) throw new Error('one chat at a time on the chat socket');
    return new Promise((resolve) => {
      const frame = JSON.stringify({ type: 'chat', message, session_id: sessionId, stream: true });
      const timer = setTimeout(
        () => this.#settle({ ok: false, reason: `no stream_end within ${timeoutMs} ms` }),
        timeoutMs,
      );
      this.#pending = {
        sentAt: performance.now(),
        message,
        sessionId,
        stage: 'before message_received',
        text: '',
        ttftMs: undefined,
        resolve,
        timer,
      };
      this.ws.send(frame);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close(1000, 'bench done');
    });
  }

  #settle(outcome: ChatOutcome): void {
    const chat = this.#pending;
    if (!chat) return;
    this.#pending = undefined;
    clearTimeout(chat.timer);
    chat.resolve(outcome.ok ? outcome : { ok: false, reason: `over the WebSocket: ${outcome.reason}` });
  }

  #frame(chat: PendingChat, frame: Record<string, unknown> | null, raw: string, at: number): void {
    const wrong = (why: string) => this.#settle({ ok: false, reason: `${why}: ${quote(raw)}` });
    if (frame?.session_id !== chat.sessionId) return wrong(`a frame ${chat.stage} not of the chat's session`);
    if (frame.type === 'message_received' && chat.stage === 'before message_received') {
      if (frame.message !== chat.message || typeof frame.message_id !== 'number')
        return wrong('message_received without the message or its id');
      chat.stage = 'before stream_start';
    } else if (frame.type === 'stream_start' && chat.stage === 'before stream_start') {
      chat.stage = 'streaming';
    } else if (
      frame.type === 'stream_chunk' &&
      chat.stage === 'streaming' &&
      typeof frame.content === 'string'
    ) {
      chat.text += frame.content;
      chat.ttftMs ??= at - chat.sentAt;
    } else if (frame.type === 'stream_end' && chat.stage === 'streaming') {
      const usage = frame.usage as Record<string, unknown> | undefined;
      if (typeof frame.message_id !== 'number' || usage?.completion_tokens !== this.expected.tokens)
        return wrong('stream_end without the message id or the usage');
      if (frame.full_response !== this.expected.text || chat.text !== this.expected.text) {
        return wrong(`the chunks read ${quote(chat.text)}, not ${quote(this.expected.text)}`);
      }
      if (chat.ttftMs === undefined) return wrong('stream_end before any stream_chunk');
      this.#settle({ ok: true, ttftMs: chat.ttftMs, lastEventMs: at - chat.sentAt });
    } else {
      wrong(`unexpected ${chat.stage}`);
    }
  }
}
