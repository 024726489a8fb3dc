// A real WebSocket client (the `ws` package) for the chat socket suites: it records every frame as it arrives, and
// waits for a frame, a close, or the socket's opening — with a deadline, so a test that waits for what never comes
// fails with what did come instead of hanging.
import WebSocket, { type ClientOptions } from 'ws';

export interface Frame {
  type: string;
  [field: string]: unknown;
}

export interface Closed {
  code: number;
  reason: string;
}

export interface TestSocket {
  ws: WebSocket;
  frames: Frame[];
  /** Raw text of every frame, in order. */
  texts: string[];
  send(frame: unknown): void;
  sendText(text: string): void;
  /** The first frame (from `from` on) that matches; the index after it is `lastIndex`. */
  next(
    match: string | ((frame: Frame) => boolean),
    options?: { from?: number; timeoutMs?: number },
  ): Promise<Frame>;
  /** Frames of these types seen so far. */
  ofType(type: string): Frame[];
  closed: Promise<Closed>;
  /** Waits for the close, failing after timeoutMs. */
  waitClosed(timeoutMs?: number): Promise<Closed>;
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 5_000;

export const openSockets: WebSocket[] = [];

/** Connects and waits for the socket to open (not for any frame). Rejects on an HTTP answer instead of 101. */
export async function connectWs(url: string, options: ClientOptions = {}): Promise<TestSocket> {
  const ws = new WebSocket(url, options);
  openSockets.push(ws);
  const frames: Frame[] = [];
  const texts: string[] = [];
  const listeners = new Set<() => void>();
  ws.on('message', (data: Buffer) => {
    const text = data.toString('utf8');
    texts.push(text);
    frames.push(JSON.parse(text) as Frame);
    for (const listener of [...listeners]) listener();
  });
  const closed = new Promise<Closed>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString('utf8') });
      for (const listener of [...listeners]) listener();
    });
  });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    ws.once('error', reject);
  });

  const matches = (match: string | ((frame: Frame) => boolean)) =>
    typeof match === 'string' ? (frame: Frame) => frame.type === match : match;

  const socket: TestSocket = {
    ws,
    frames,
    texts,
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendText: (text) => ws.send(text),
    next: (match, { from = 0, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) =>
      new Promise((resolve, reject) => {
        const test = matches(match);
        const check = () => {
          const found = frames.slice(from).find(test);
          if (found) {
            done();
            resolve(found);
          } else if (ws.readyState === WebSocket.CLOSED) {
            done();
            reject(new Error(`socket closed before the frame; frames: ${JSON.stringify(frames)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no such frame within ${timeoutMs} ms; frames: ${JSON.stringify(frames)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
    ofType: (type) => frames.filter((frame) => frame.type === type),
    closed,
    waitClosed: (timeoutMs = DEFAULT_TIMEOUT_MS) =>
      Promise.race([
        closed,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`not closed within ${timeoutMs} ms; frames: ${JSON.stringify(frames)}`)),
            timeoutMs,
          ).unref(),
        ),
      ]),
    close: () => ws.close(),
  };
  return socket;
}

/** Connects, and returns the socket with its `connection` frame. */
export async function connectChat(url: string, options: ClientOptions = {}): Promise<TestSocket> {
  const socket = await connectWs(url, options);
  await socket.next('connection');
  return socket;
}

/** Terminates every socket the suite opened. */
export function closeAllSockets(): void {
  for (const ws of openSockets.splice(0)) ws.terminate();
}
