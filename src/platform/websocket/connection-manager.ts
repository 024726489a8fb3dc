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

export class ConnectionManager {
  readonly #sockets = new Set<ManagedSocket>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
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
    const { heartbeatIntervalMs, heartbeatTimeoutMs, metrics } = this.options;
    const now = this.#now();
    for (const socket of this.#sockets) {
      const { ws } = socket;
      if (ws.readyState !== ws.OPEN) continue;
      if (now - socket.lastHeardMs > heartbeatTimeoutMs) {
        // Its 'close' event frees its slot. Terminated, not closed: a silent peer would not answer a close either.
        ws.terminate();
        metrics.heartbeatTerminated();
        continue;
      }
      ws.ping();
      if (now - socket.lastFrameMs >= heartbeatIntervalMs)
        socket.sendFrame({ type: 'ping', timestamp: now / 1000 });
    }
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
