// ioredis has no per-command timeout, and a Redis that accepts connections but stalls must not hold a request: code
// that falls back when Redis fails (LLM slots, WebSocket slots) gives each call a deadline.
export class RedisTimeoutError extends Error {}

/** `promise`, or a RedisTimeoutError after `ms`; the timer is cleared either way. */
export function redisWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
