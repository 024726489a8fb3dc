// Is Redis there for the WORKERS row? The server refuses WORKERS > 1 without REDIS_URL and would fail to start
// without a reachable Redis, so the benchmark asks first and, if not, skips that row with the reason.
import { Redis } from 'ioredis';

/** Resolves undefined when Redis answers PING, or the reason it does not. */
export async function redisUnavailableReason(url: string, timeoutMs = 3_000): Promise<string | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // One attempt: a probe must not keep reconnecting in the background.
    retryStrategy: () => null,
  });
  // ioredis reports the cause (ECONNREFUSED, auth failure…) as an 'error' event; connect() then rejects with a
  // bare "Connection is closed", so keep the event's message for the report.
  let cause: string | undefined;
  client.on('error', (error: Error) => {
    cause ??= error.message;
  });
  try {
    await client.connect();
    const pong = await client.ping();
    return pong === 'PONG' ? undefined : `PING answered ${JSON.stringify(pong)}`;
  } catch (error) {
    return cause ?? ((error as Error).message || String(error));
  } finally {
    client.disconnect();
  }
}
