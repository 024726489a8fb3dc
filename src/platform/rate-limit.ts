// Fixed-window limits on sensitive endpoints (password reset, verification mail), with rate-limiter-flexible: in
// Redis when configured (shared by every instance), else in process memory (one instance: WORKERS>1 needs Redis).
// If Redis fails mid-flight the limiter falls back to memory instead of letting every request through.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisHandle } from './redis.js';
import { TooManyRequestsError } from './errors.js';

export interface RateLimiter {
  /** Counts one request of `key`; throws 429 (with Retry-After) when the key is over its limit. */
  consume(key: string): Promise<void>;
}

export interface RateLimitOptions {
  /** Name of the limit, part of its storage keys. */
  name: string;
  points: number;
  durationSeconds: number;
  redis?: RedisHandle | undefined;
}

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const base = {
    keyPrefix: `rate-limit:${options.name}`,
    points: options.points,
    duration: options.durationSeconds,
  };
  const memory = new RateLimiterMemory(base);
  const limiter = options.redis
    ? new RateLimiterRedis({ ...base, storeClient: options.redis.client, insuranceLimiter: memory })
    : memory;
  return {
    async consume(key) {
      try {
        await limiter.consume(key);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw new TooManyRequestsError(`Rate limit exceeded. Try again in ${seconds} seconds`, seconds);
      }
    },
  };
}
