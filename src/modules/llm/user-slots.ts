// LLM_MAX_CONCURRENT_PER_USER: how many generations one caller may have in flight. In process memory with one
// instance; in Redis when configured, so that the limit holds per user across every instance and worker rather
// than per process.
//
// In Redis each caller has a sorted set of leases (member: a random slot id, score: its expiry in Redis's own
// clock, so instances need not agree on the time). A generation may run for many minutes, so the instance holding
// a slot renews its lease while it runs; an instance that dies stops renewing and its slots free themselves within
// one lease, instead of blocking their user until someone cleans up.
//
// Redis failing must neither refuse the user nor hang the request: like the rate limiter's insurance limiter, a
// take that Redis does not answer (error, not connected, or no answer in time) is counted in this process's memory
// instead, against everything this instance holds for the caller.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { BaseLogger } from 'pino';
import { redisWithin as within } from '../../lib/redis-deadline.js';
import type { RedisHandle } from '../../platform/redis.js';
import { LlmUserLimitError } from './llm.errors.js';

export interface UserSlots {
  /**
   * Takes one of `key`'s `limit` slots, or rejects with LlmUserLimitError when all are in use. Resolves with the
   * function that gives the slot back: idempotent, and it never throws.
   */
  take(key: string, limit: number): Promise<() => void>;
  /** Stops background work (lease renewal) when the app closes; slots still held then lapse within one lease. */
  close(): void;
}

/** Slots held per key in this process. */
class LocalCounts {
  readonly #counts = new Map<string, number>();

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.#counts.set(key, this.count(key) + 1);
  }

  remove(key: string): void {
    const left = this.count(key) - 1;
    // Deleted at zero: the map holds the callers with something in flight, not every caller ever seen.
    if (left > 0) this.#counts.set(key, left);
    else this.#counts.delete(key);
  }
}

function takeLocally(counts: LocalCounts, key: string, limit: number): () => void {
  if (counts.count(key) >= limit) throw new LlmUserLimitError(limit);
  counts.add(key);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    counts.remove(key);
  };
}

/** One instance's count: the limit per process (the only kind when there is one process). */
export class MemoryUserSlots implements UserSlots {
  readonly #counts = new LocalCounts();

  async take(key: string, limit: number): Promise<() => void> {
    return takeLocally(this.#counts, key, limit);
  }

  close(): void {}
}

// Both scripts read the time from Redis (TIME), so every instance's leases run on one clock. Before Redis 5 a script
// had to opt in to writing after a non-deterministic command; later versions always allow it.
const NOW = `
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;
// The key outlives its longest lease (instances may run with different leases), then goes away by itself.
const EXTEND_KEY = `
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
`;

/** KEYS[1]: the caller's set. ARGV: limit, lease (ms), slot id. Returns 1 when the slot was taken, else 0. */
const TAKE_SCRIPT = `${NOW}
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
${EXTEND_KEY}
return 1
`;

/**
 * KEYS[1]: the caller's set. ARGV: lease (ms), slot id. Adds the slot back if its lease lapsed (this instance was
 * cut off from Redis for longer than a lease): the generation still runs, so it still counts.
 */
const RENEW_SCRIPT = `${NOW}
local lease = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
${EXTEND_KEY}
return 1
`;

interface SlotScripts {
  llmUserSlotTake(key: string, limit: number, leaseMs: number, slot: string): Promise<number>;
  llmUserSlotRenew(key: string, leaseMs: number, slot: string): Promise<number>;
}

/** The client with the two scripts (EVALSHA, loaded on first use; REDIS_KEY_PREFIX applies to their keys). */
function withScripts(client: Redis): Redis & SlotScripts {
  if (!('llmUserSlotTake' in client)) {
    client.defineCommand('llmUserSlotTake', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    client.defineCommand('llmUserSlotRenew', { numberOfKeys: 1, lua: RENEW_SCRIPT });
  }
  return client as Redis & SlotScripts;
}

export interface RedisUserSlotsOptions {
  redis: RedisHandle;
  logger: Pick<BaseLogger, 'info' | 'warn'>;
  /** How long a slot lasts without renewal: how soon the slots of an instance that died free themselves. */
  leaseMs?: number;
  /** How often held slots are renewed; a third of the lease by default, so that one failed renewal costs nothing. */
  renewEveryMs?: number;
  /** How long to wait for Redis before counting in memory instead. */
  timeoutMs?: number;
}

/** Each caller's set: REDIS_KEY_PREFIX (added by the client to every key) + this + the caller's key. */
const SET_KEY = 'llm:user-slots:';

/** One count per caller, shared by every instance using the same Redis (and REDIS_KEY_PREFIX). */
export class RedisUserSlots implements UserSlots {
  readonly #client: Redis & SlotScripts;
  readonly #logger: Pick<BaseLogger, 'info' | 'warn'>;
  readonly #leaseMs: number;
  readonly #renewEveryMs: number;
  readonly #timeoutMs: number;
  /** Everything this instance holds, taken in Redis or in memory: the count when Redis is away. */
  readonly #local = new LocalCounts();
  /** Slots held in Redis: slot id → the caller's key. */
  readonly #held = new Map<string, string>();
  #renewTimer: NodeJS.Timeout | undefined;
  #renewing = false;
  #closed = false;
  /** Redis failed and has not answered since: warn once per outage, not once per request. */
  #outage = false;

  constructor(options: RedisUserSlotsOptions) {
    this.#client = withScripts(options.redis.client);
    this.#logger = options.logger;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#renewEveryMs = options.renewEveryMs ?? Math.floor(this.#leaseMs / 3);
    this.#timeoutMs = options.timeoutMs ?? 1_000;
    if (!(this.#renewEveryMs > 0 && this.#renewEveryMs < this.#leaseMs)) {
      throw new RangeError(`renewEveryMs (${this.#renewEveryMs}) must be above 0 and below leaseMs`);
    }
  }

  async take(key: string, limit: number): Promise<() => void> {
    const redisKey = SET_KEY + key;
    const slot = randomUUID();
    const call = this.#client.llmUserSlotTake(redisKey, limit, this.#leaseMs, slot);
    let admitted: boolean;
    try {
      admitted = (await within(call, this.#timeoutMs)) === 1;
    } catch (error) {
      this.#failed(error);
      // Given up on, the script may still run (late, or resent by the client after a reconnect): nobody holds
      // or renews that slot, so give it back rather than let it count for a whole lease.
      call.then(
        (late) => {
          if (late === 1) this.#remove(redisKey, slot);
        },
        () => undefined,
      );
      return takeLocally(this.#local, key, limit);
    }
    this.#answered();
    if (!admitted) throw new LlmUserLimitError(limit);

    this.#local.add(key);
    this.#held.set(slot, redisKey);
    this.#startRenewing();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#local.remove(key);
      this.#held.delete(slot);
      if (this.#held.size === 0) this.#stopRenewing();
      this.#remove(redisKey, slot);
    };
  }

  close(): void {
    this.#closed = true;
    this.#stopRenewing();
  }

  /** Gives a slot back; a failure is only logged, since the lease expires anyway. */
  #remove(redisKey: string, slot: string): void {
    this.#client.zrem(redisKey, slot).then(
      () => this.#answered(),
      (error: unknown) => this.#failed(error),
    );
  }

  #startRenewing(): void {
    if (this.#renewTimer || this.#closed) return;
    this.#renewTimer = setInterval(() => this.#renew(), this.#renewEveryMs);
    // Renewal is no reason to keep the process alive: an exiting process's leases are meant to lapse.
    this.#renewTimer.unref();
  }

  #stopRenewing(): void {
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
  }

  #renew(): void {
    // A round still waiting (on a Redis that stalls) is not joined by another one.
    if (this.#renewing) return;
    this.#renewing = true;
    const renewals = [...this.#held].map(([slot, redisKey]) =>
      within(this.#client.llmUserSlotRenew(redisKey, this.#leaseMs, slot), this.#timeoutMs),
    );
    void Promise.allSettled(renewals).then((results) => {
      this.#renewing = false;
      const failure = results.find((result) => result.status === 'rejected');
      if (failure) this.#failed(failure.reason);
      else if (results.length > 0) this.#answered();
    });
  }

  #failed(error: unknown): void {
    if (this.#outage) return;
    this.#outage = true;
    this.#logger.warn(
      { err: error },
      'Redis is unavailable: LLM per-user limits are counted per instance until it answers again',
    );
  }

  #answered(): void {
    if (!this.#outage) return;
    this.#outage = false;
    this.#logger.info('Redis answers again: LLM per-user limits are shared by every instance again');
  }
}

export interface UserSlotsOptions {
  /** The shared Redis (app.redis); without it the limit is per process. */
  redis?: RedisHandle | undefined;
  logger: Pick<BaseLogger, 'info' | 'warn'>;
  leaseMs?: number;
}

export function createUserSlots(options: UserSlotsOptions): UserSlots {
  const { redis, logger, leaseMs } = options;
  return redis ? new RedisUserSlots({ redis, logger, leaseMs }) : new MemoryUserSlots();
}
