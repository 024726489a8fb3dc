// The sockets open on this instance: one heartbeat timer for all of them (a protocol ping each interval, the
// original's JSON ping to a client idle that long, and termination of one silent past the timeout), this
// instance's figures, and the shutdown that closes them all with 1001 once their work is done.
import type { WebSocket } from 'ws';
import type { WebSocketMetrics } from './websocket-metrics.js';

/** What the manager needs of one socket; the protocol (chat-ws-connection.ts) implements it. */
export interface ManagedSocket {
  readonly ws: WebSocket;
  /** Who the limits count it under; undefined until admitted (a socket still waiting for its `auth` frame). */
  readonly owner: string | undefined;
  /** When the client was last heard from: any frame, or a pong. */
  readonly lastHeardMs: number;
  /** When the client last sent a frame (a client idle that long gets the original's JSON ping). */
  readonly lastFrameMs: number;
  sendFrame(frame: Record<string, unknown>): void;
  /** A frame already encoded (the heartbeat encodes its JSON ping once per round, not once per socket). */
  sendText(text: string): void;
  /** Resolves once no work (a generation) runs for the socket; the shutdown waits for it before closing. */
  idle(): Promise<void>;
}

export interface ConnectionManagerOptions {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  metrics: WebSocketMetrics;
  /** How long a closing handshake may take before the socket is destroyed (ws's own wait is 30 s). */
  closeGraceMs?: number;
  now?: () => number;
}

export const SHUTDOWN_CLOSE = { code: 1001, reason: 'Server shutdown' } as const;
/**
 * Sockets one heartbeat slice handles before letting other work run: a round over 10,000 sockets at once held the
 * event loop for about 0.25 s (measured by the websocket benchmark), stalling every chat on the instance meanwhile.
 */
const BEAT_SLICE = 256;

export class ConnectionManager {
  readonly #sockets = new Set<ManagedSocket>();
  /** Sockets waiting for their `auth` frame, per client address. */
  readonly #pending = new Map<string, number>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #beating = false;
  #closing = false;

  constructor(private readonly options: ConnectionManagerOptions) {
    this.#now = options.now ?? Date.now;
  }

  /** Sockets open here, admitted or not yet. */
  get size(): number {
    return this.#sockets.size;
  }

  get closing(): boolean {
    return this.#closing;
  }

  add(socket: ManagedSocket): void {
    this.#sockets.add(socket);
    // One timer for every socket, running only while there are sockets.
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#beat(), this.options.heartbeatIntervalMs);
      this.#timer.unref();
    }
  }

  delete(socket: ManagedSocket): void {
    this.#sockets.delete(socket);
    if (this.#sockets.size === 0) this.#stop();
  }

  /**
   * Holds one of `address`'s places among the sockets still waiting for their `auth` frame (at most `limit` per
   * address on this instance): the function that gives it back (idempotent), or undefined when none is free.
   */
  holdPending(address: string, limit: number): (() => void) | undefined {
    const held = this.#pending.get(address) ?? 0;
    if (held >= limit) return undefined;
    this.#pending.set(address, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#pending.get(address) ?? 1) - 1;
      if (left > 0) this.#pending.set(address, left);
      else this.#pending.delete(address);
    };
  }

  /** This instance's admitted sockets per owner. */
  owners(): Map<string, number> {
    const owners = new Map<string, number>();
    for (const { owner } of this.#sockets)
      if (owner !== undefined) owners.set(owner, (owners.get(owner) ?? 0) + 1);
    return owners;
  }

  /**
   * Closes every socket with 1001 "Server shutdown": at once when nothing runs for it, else when its generation
   * ends (finished, or interrupted when the shutdown stops waiting). Resolves when all are closed.
   */
  async shutdown(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      [...this.#sockets].map(async (socket) => {
        await socket.idle();
        await this.#close(socket.ws);
      }),
    );
    this.#stop();
  }

  #close(ws: WebSocket): Promise<void> {
    if (ws.readyState === ws.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => ws.terminate(), this.options.closeGraceMs ?? 1_000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === ws.OPEN) ws.close(SHUTDOWN_CLOSE.code, SHUTDOWN_CLOSE.reason);
    });
  }

  #beat(): void {
    // A round still going (a very large instance on a busy machine) is not joined by another one.
    if (this.#beating) return;
    this.#beating = true;
    const sockets = [...this.#sockets];
    const now = this.#now();
    const ping = JSON.stringify({ type: 'ping', timestamp: now / 1000 });
    const slice = (from: number) => {
      for (const socket of sockets.slice(from, from + BEAT_SLICE)) this.#beatOne(socket, now, ping);
      if (from + BEAT_SLICE < sockets.length) setImmediate(slice, from + BEAT_SLICE);
      else this.#beating = false;
    };
    slice(0);
  }

  #beatOne(socket: ManagedSocket, now: number, ping: string): void {
    const { heartbeatIntervalMs, heartbeatTimeoutMs, metrics } = this.options;
    const { ws } = socket;
    if (ws.readyState !== ws.OPEN) return;
    if (now - socket.lastHeardMs > heartbeatTimeoutMs) {
      // Its 'close' event frees its slot. Terminated, not closed: a silent peer would not answer a close either.
      ws.terminate();
      metrics.heartbeatTerminated();
      return;
    }
    ws.ping();
    if (now - socket.lastFrameMs >= heartbeatIntervalMs) socket.sendText(ping);
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
