// The limits of this instance: one store (Redis with a memory fallback, or memory alone), one memory store per limit,
// the metrics, and the figures health reports. Modules get their named limiters here (limiter()).
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.js';
import { FallbackRateLimitStore } from './fallback-store.js';
import { MemoryRateLimitStore } from './memory-store.js';
import type { RateLimitPolicy, RateLimitStore } from './policy.js';
import { RateLimiter } from './rate-limiter.js';
import { RedisRateLimitStore } from './redis-store.js';

/** After a Redis failure, decisions stay in memory this long before one request tries Redis again. */
const REDIS_PROBE_INTERVAL_MS = 1000;

export interface RateLimitsOptions {
  /** Shared state when set; else process memory. */
  redis: Redis | undefined;
  clock: Clock;
  /** Tests only: the Redis store's clock (unset: Redis's own TIME). */
  redisClock?: Clock | undefined;
  memoryMaxIdentities: number;
  redisTimeoutMs: number;
  registry: Registry;
  log: FastifyBaseLogger;
}

/** What GET /api/v1/health/metrics reports of the limits. */
export interface RateLimitStats {
  backend: 'redis' | 'memory';
  /** Redis is configured but failing: each instance limits from its own memory. */
  fallback_active: boolean;
  decisions: { allowed: number; limited: number };
  backend_errors: number;
  /** Identities held in this instance's memory, over every limit. */
  memory_identities: number;
}

export class RateLimits {
  readonly #memory = new Map<string, MemoryRateLimitStore>();
  readonly #store: RateLimitStore;
  readonly #fallback: FallbackRateLimitStore | undefined;
  readonly #decisions: Counter<'result' | 'limit'>;
  readonly #totals = { allowed: 0, limited: 0, backendErrors: 0 };

  constructor(private readonly options: RateLimitsOptions) {
    const { registry } = options;
    this.#decisions = new Counter({
      name: 'rate_limit_decisions_total',
      help: 'Rate limit decisions, by limit (general, login_failures, register, mail, mail_address) and result.',
      labelNames: ['result', 'limit'],
      registers: [registry],
    });
    const backendErrors = new Counter({
      name: 'rate_limit_backend_errors_total',
      help: 'Rate limit decisions Redis failed or did not answer in time (decided from memory instead).',
      registers: [registry],
    });
    const memoryOf = (key: string) => this.#memoryStore(key.slice(0, key.indexOf(':')));
    if (options.redis) {
      this.#fallback = new FallbackRateLimitStore({
        primary: new RedisRateLimitStore({ client: options.redis, clock: options.redisClock }),
        fallback: memoryOf,
        timeoutMs: options.redisTimeoutMs,
        probeIntervalMs: REDIS_PROBE_INTERVAL_MS,
        log: options.log,
        onBackendError: () => {
          this.#totals.backendErrors++;
          backendErrors.inc();
        },
      });
      this.#store = this.#fallback;
    } else {
      this.#store = {
        take: (key, policy) => memoryOf(key).take(key, policy),
        refund: (key, policy, entry) => memoryOf(key).refund(key, policy, entry),
      };
    }
    const stats = () => this.stats();
    new Gauge({
      name: 'rate_limit_fallback_active',
      help: '1 while Redis fails and this instance limits from its own memory, else 0.',
      registers: [registry],
      aggregator: 'max',
      collect() {
        this.set(stats().fallback_active ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rate_limit_memory_identities',
      help: 'Identities whose limits this instance holds in memory (the store without Redis, or the fallback).',
      registers: [registry],
      collect() {
        this.set(stats().memory_identities);
      },
    });
  }

  /** The limiter named `name` (no ':' in it); `policy` undefined: the limit is off. */
  limiter(name: string, policy: RateLimitPolicy | undefined): RateLimiter {
    if (name.includes(':')) throw new Error(`rate limit name "${name}" must not contain ':'`);
    return new RateLimiter(name, policy, this.#store, {
      decided: (limit, allowed) => {
        this.#totals[allowed ? 'allowed' : 'limited']++;
        this.#decisions.inc({ limit, result: allowed ? 'allowed' : 'limited' });
      },
    });
  }

  stats(): RateLimitStats {
    return {
      backend: this.options.redis ? 'redis' : 'memory',
      fallback_active: this.#fallback?.failingOver ?? false,
      decisions: { allowed: this.#totals.allowed, limited: this.#totals.limited },
      backend_errors: this.#totals.backendErrors,
      memory_identities: [...this.#memory.values()].reduce((sum, store) => sum + store.size, 0),
    };
  }

  #memoryStore(name: string): MemoryRateLimitStore {
    let store = this.#memory.get(name);
    if (!store) {
      store = new MemoryRateLimitStore({
        clock: this.options.clock,
        maxKeys: this.options.memoryMaxIdentities,
      });
      this.#memory.set(name, store);
    }
    return store;
  }
}
