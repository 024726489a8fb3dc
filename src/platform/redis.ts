// The optional Redis client (REDIS_URL). Fails fast instead of queueing: with the offline queue off, a command
// issued while Redis is away rejects at once, so callers can fall back or answer 503 rather than hang.
import { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { redactUrlPassword } from '../lib/redact-url.js';

export interface RedisStatus {
  /** ioredis connection state: wait, connecting, connect, ready, reconnecting, close, end. */
  state: string;
  ready: boolean;
  latencyMs?: number;
  error?: string;
}

/** The connection's figures for health and metrics. */
export interface RedisConnectionStats {
  /** ioredis connection state: wait, connecting, connect, ready, reconnecting, close, end. */
  state: string;
  connected: boolean;
  /** Commands sent and not yet answered. */
  commandsPending: number;
  /** Times the connection was lost and a reconnection began, since start. */
  reconnects: number;
}

export interface RedisHandle {
  client: Redis;
  stats(): RedisConnectionStats;
  /** Waits until the first connection is ready; rejects with a clear message when Redis cannot be reached. */
  connect(timeoutMs?: number): Promise<void>;
  status(): Promise<RedisStatus>;
  close(): Promise<void>;
}

/** Reconnect delay: 100 ms doubling to at most 5 s, forever (a restarted Redis is picked up again). */
export function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 10), 5000);
}

export function createRedis(config: Config['redis'] & { url: string }, connectionName: string): RedisHandle {
  const client = new Redis(config.url, {
    lazyConnect: true,
    connectionName,
    // REDIS_KEY_PREFIX applied once, here, to every key of every command.
    keyPrefix: config.keyPrefix,
    keepAlive: 30_000,
    connectTimeout: 5_000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Commands issued in one turn of the event loop (a rate limit decision per request, under load) leave in one
    // write instead of one write each.
    enableAutoPipelining: true,
    retryStrategy: reconnectDelay,
  });
  // Without a listener, ioredis reports every failed reconnect as an unhandled 'error' event.
  let lastError: string | undefined;
  client.on('error', (error: Error) => {
    lastError = error.message;
  });
  client.on('ready', () => {
    lastError = undefined;
  });
  let reconnects = 0;
  client.on('reconnecting', () => {
    reconnects++;
  });

  return {
    client,
    stats: () => ({
      state: client.status,
      connected: client.status === 'ready',
      commandsPending: client.commandQueue.length,
      reconnects,
    }),
    async connect(timeoutMs = 5_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([client.connect(), timeout]);
      } catch (error) {
        client.disconnect();
        const reason = lastError ?? (error instanceof Error ? error.message : String(error));
        throw new Error(`Redis at ${redactRedisUrl(config.url)} is unreachable: ${reason}`, { cause: error });
      } finally {
        clearTimeout(timer);
      }
    },
    async status() {
      const state = client.status;
      if (state !== 'ready') return { state, ready: false, ...(lastError ? { error: lastError } : {}) };
      const started = performance.now();
      try {
        await client.ping();
        return { state, ready: true, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
      } catch (error) {
        return { state, ready: false, error: error instanceof Error ? error.message : String(error) };
      }
    },
    async close() {
      if (client.status === 'end') return;
      if (client.status === 'ready') {
        // QUIT's reply comes before the socket closes: wait for 'end', so that a closed app holds no connection.
        // (Not events.once: it would reject on an 'error' event while QUIT is still pending, unhandled.)
        const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
        try {
          await client.quit();
          await ended;
          return;
        } catch {
          // The connection was already going (a command would not be written): drop it below.
        }
      }
      client.disconnect();
    },
  };
}

export function redactRedisUrl(url: string): string {
  return redactUrlPassword(url, () => 'redis://***');
}
