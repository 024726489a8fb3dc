// Fixed-window limits on sensitive endpoints (registration, password reset, verification mail) and on the mail one
// address receives, with rate-limiter-flexible: in Redis when configured (shared by every instance), else in process
// memory (one instance: WORKERS>1 needs Redis). If Redis fails mid-flight the limiter falls back to memory instead
// of letting every request through.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisHandle } from './redis.js';
import { TooManyRequestsError } from './errors.js';

export interface RateLimiter {
  /** Counts one request of `key`; throws 429 (with Retry-After) when the key is over its limit. */
  consume(key: string): Promise<void>;
  /** Counts one request of `key` and says whether it is within the limit: for limits absorbed silently. */
  allow(key: string): Promise<boolean>;
}

/** For a limit set to 0 (off): every request is within it. */
export const noRateLimit: RateLimiter = {
  consume: async () => undefined,
  allow: async () => true,
};

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
  /** Counts one request of `key`: undefined when within the limit, else the limiter's answer (when to retry). */
  const refusal = async (key: string): Promise<RateLimiterRes | undefined> => {
    try {
      await limiter.consume(key);
      return undefined;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return rejection;
      throw rejection;
    }
  };
  return {
    async consume(key) {
      const refused = await refusal(key);
      if (!refused) return;
      const seconds = Math.max(1, Math.ceil(refused.msBeforeNext / 1000));
      throw new TooManyRequestsError(`Rate limit exceeded. Try again in ${seconds} seconds`, seconds);
    },
    async allow(key) {
      return (await refusal(key)) === undefined;
    },
  };
}
