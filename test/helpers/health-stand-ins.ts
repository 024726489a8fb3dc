// Stand-ins for the services the health probes reach: small HTTP servers answering their health paths (counting
// what they receive), a server that accepts connections and never answers, and a TCP proxy that a test can take
// down and bring back (a dedicated connection target for PostgreSQL, so the shared server stays up).
import http from 'node:http';
import net from 'node:net';
import { closedPort } from './closed-port.js';

export interface ReceivedHttpRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The status that makes a path never answer (the request is read, and the connection left open). */
export const NEVER = 0;

export interface HttpStandIn {
  url: string;
  /** Requests received, by path. */
  hits(path?: string): number;
  /** Every request received, in order. */
  received: ReceivedHttpRequest[];
  /** What a path answers from now on (NEVER: no answer at all). */
  answer(path: string, status: number, body?: string): void;
  close(): Promise<void>;
}

export async function startHttpStandIn(answers: Record<string, [number, string?]>): Promise<HttpStandIn> {
  const table = new Map(Object.entries(answers));
  const received: ReceivedHttpRequest[] = [];
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const [status, body] = table.get(path) ?? [404, '{"detail":"Not Found"}'];
      if (status === NEVER) return;
      res.writeHead(status, { 'content-type': 'application/json' }).end(body ?? '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: (path) => (path === undefined ? received.length : received.filter((r) => r.path === path).length),
    received,
    answer: (path, status, body) => table.set(path, [status, body]),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Accepts connections and never sends a byte: every client of it waits until its own timeout. */
export async function startSilentServer(): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Forwards a loopback port to `target`; stop() drops every connection and refuses new ones until start(). */
export class TcpProxy {
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await closedPort(), target);
    await proxy.start();
    return proxy;
  }

  /** Listens again on the same port (nothing when it already listens). */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.#sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
