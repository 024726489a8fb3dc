// The limits in process memory: the store without REDIS_URL, and each instance's fallback while Redis fails.
// Bounded: an identity whose budget is whole again is forgotten (forgetting it changes no decision), checked a few at
// a time on every request, and past `maxKeys` the least recently seen identity goes even if it is not idle. One store
// per limit: with one window per store, the least recently seen identities are the first to be idle.
import type { Clock } from '../../lib/clock.js';
import {
  burstInterval,
  type RateLimitDecision,
  type RateLimitPolicy,
  type RateLimitStore,
} from './policy.js';

/** Float slack for GCRA sums (windows that do not divide evenly by the limit). */
const EPSILON = 1e-6;
/** Least recently seen identities checked for idleness on each request: amortised sweeping, no timer. */
const SWEEP_PER_TAKE = 2;

interface IdentityState {
  /** Times of the admitted requests still inside the window, ascending. */
  times: number[];
  /** GCRA's theoretical arrival time; at or before now means the burst is whole. */
  tat: number;
  /** When the budget is whole again: the identity can be forgotten from then on. */
  idleAt: number;
}

export interface MemoryStoreOptions {
  clock: Clock;
  /** Identities kept at most (RATE_LIMIT_MEMORY_MAX_IDENTITIES). */
  maxKeys: number;
}

export class MemoryRateLimitStore implements RateLimitStore {
  /** In least-recently-seen order: every take moves its key to the end. */
  readonly #states = new Map<string, IdentityState>();
  #evictedBusy = 0;

  constructor(private readonly options: MemoryStoreOptions) {}

  /** Identities held now. */
  get size(): number {
    return this.#states.size;
  }

  /** Identities forgotten before their budget was whole, because maxKeys was reached (each got a fresh budget). */
  get evictedBusy(): number {
    return this.#evictedBusy;
  }

  take(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    return Promise.resolve(this.decide(key, policy));
  }

  refund(key: string, _policy: RateLimitPolicy, entry: string): Promise<void> {
    const state = this.#states.get(key);
    const time = Number(entry);
    const index = state ? state.times.lastIndexOf(time) : -1;
    if (state && index >= 0) state.times.splice(index, 1);
    return Promise.resolve();
  }

  /** The decision, synchronously: the whole read-decide-write runs in one turn of the event loop, so it is atomic. */
  decide(key: string, policy: RateLimitPolicy): RateLimitDecision {
    const now = this.options.clock.now().getTime();
    this.#sweep(now);
    const state = this.#states.get(key) ?? { times: [], tat: now, idleAt: now };
    this.#states.delete(key);
    const { times } = state;
    const windowStart = now - policy.windowMs;
    let expired = 0;
    while (expired < times.length && (times[expired] as number) <= windowStart) expired++;
    if (expired > 0) times.splice(0, expired);
    // Admissions "in the future" (the clock stepped back) are forgotten rather than blocking until then.
    while (times.length > 0 && (times[times.length - 1] as number) > now) times.pop();

    const { limit } = policy;
    const interval = burstInterval(policy);
    const burst = policy.burst ?? limit;
    let tat = Math.min(Math.max(state.tat, now), now + burst * interval);
    const allowed =
      times.length < limit && (interval === 0 || tat + interval - now <= burst * interval + EPSILON);
    let retryAfterMs = 0;
    if (allowed) {
      times.push(now);
      if (interval > 0) tat += interval;
    } else {
      if (times.length >= limit)
        retryAfterMs = (times[times.length - limit] as number) + policy.windowMs - now;
      if (interval > 0) retryAfterMs = Math.max(retryAfterMs, tat + interval - burst * interval - now);
    }
    let remaining = limit - times.length;
    let wholeAt = times.length > 0 ? (times[times.length - 1] as number) + policy.windowMs : now;
    if (interval > 0) {
      remaining = Math.min(remaining, Math.floor((burst * interval - (tat - now)) / interval + EPSILON));
      wholeAt = Math.max(wholeAt, tat);
    }
    state.tat = tat;
    state.idleAt = wholeAt;
    this.#remember(key, state, now);
    return {
      allowed,
      limit,
      remaining: Math.max(0, remaining),
      resetAtMs: Math.ceil(wholeAt),
      retryAfterMs: Math.ceil(retryAfterMs),
      nowMs: now,
      entry: allowed ? String(now) : undefined,
    };
  }

  #remember(key: string, state: IdentityState, now: number): void {
    for (const [oldest, oldState] of this.#states) {
      if (this.#states.size < this.options.maxKeys) break;
      this.#states.delete(oldest);
      if (oldState.idleAt > now) this.#evictedBusy++;
    }
    this.#states.set(key, state);
  }

  #sweep(now: number): void {
    let checked = 0;
    for (const [key, state] of this.#states) {
      if (checked++ >= SWEEP_PER_TAKE) break;
      if (state.idleAt <= now) this.#states.delete(key);
    }
  }
}
