// A real-socket chat client that reads server-sent events as they arrive, and a TCP tap that counts what the LLM
// stand-in has sent: what the streaming suite needs beyond app.inject().
import http from 'node:http';
import net from 'node:net';
import { parseSse, type SseFrame } from './chat.helpers.js';

export interface Arrived extends SseFrame {
  /** Which `data` chunk of the socket completed this frame (0-based). */
  read: number;
}

export interface Opened {
  res: http.IncomingMessage;
  frames: Arrived[];
  /** The body so far. */
  text(): string;
  /** Resolves when the body has ended or the connection closed. */
  done: Promise<void>;
  waitFor(check: (frames: Arrived[]) => boolean, what: string): Promise<void>;
  destroy(): void;
}

/** Every request opened, for the suite to destroy after each test. */
export const openRequests: http.ClientRequest[] = [];

/** POSTs a chat over a fresh connection and reads the answer as it arrives; `onFrame` runs at each frame's arrival. */
export function streamChat(
  base: string,
  body: Record<string, unknown>,
  options: { token?: string; headers?: Record<string, string>; onFrame?: (frame: Arrived) => void } = {},
): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/api/v1/chat/`, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
    });
    openRequests.push(req);
    req.on('error', reject);
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let text = '';
      let pending = '';
      let reads = 0;
      const frames: Arrived[] = [];
      const checks = new Set<() => void>();
      res.on('data', (chunk: string) => {
        text += chunk;
        pending += chunk;
        const cut = pending.lastIndexOf('\n\n');
        if (cut !== -1 && res.headers['content-type']?.startsWith('text/event-stream')) {
          for (const frame of parseSse(pending.slice(0, cut + 2))) {
            const arrived = { ...frame, read: reads };
            frames.push(arrived);
            options.onFrame?.(arrived);
          }
          pending = pending.slice(cut + 2);
        }
        reads++;
        for (const check of [...checks]) check();
      });
      const done = new Promise<void>((settle) => {
        res.on('end', settle);
        res.on('close', settle);
        res.on('error', () => settle());
      });
      let ended = false;
      void done.then(() => {
        ended = true;
        for (const check of [...checks]) check();
      });
      resolve({
        res,
        frames,
        text: () => text,
        done,
        destroy: () => req.destroy(),
        waitFor: (check, what) =>
          new Promise<void>((ok, fail) => {
            const timer = setTimeout(() => settle(new Error(`Timed out waiting until ${what}`)), 10_000);
            const settle = (error?: Error) => {
              clearTimeout(timer);
              checks.delete(test);
              if (error) fail(error);
              else ok();
            };
            const test = () => {
              if (check(frames)) settle();
              else if (ended) settle(new Error(`The stream ended before ${what}: ${text}`));
            };
            checks.add(test);
            test();
          }),
      });
    });
    req.end(JSON.stringify(body));
  });
}

export const tokensOf = (frames: SseFrame[]) =>
  frames.filter((f) => f.event === 'token').map((f) => (f.data as { content: string }).content);

/** A TCP relay to the stand-in that counts the token lines (NDJSON, done:false) the stand-in has sent so far. */
export async function startTap(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  const state = { tokensSent: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    let seen = '';
    let counted = 0;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      const now = seen.split('"done":false').length - 1;
      state.tokensSent += now - counted;
      counted = now;
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
