// Redis with this instance's memory behind it. A Redis that fails, or takes longer than the bound to answer, never
// turns into a 5xx nor into "no limit": the decision is made in memory instead (per instance, so N instances admit
// up to N times the limit while Redis is away). One failure switches to memory for a probe interval; then one
// request at a time tries Redis again, and that probe's answer switches back. The outage is logged once, at its start,
// and once when it ends.
//
// Hand-written rather than cockatiel: what is needed is a flag, a time and a timer per call, and cockatiel's circuit
// breaker reads Date.now() itself and wraps every call in more promises than the decision costs.
import type { FastifyBaseLogger } from 'fastify';
import { ReplyError as RedisReplyError } from 'ioredis';
import type { RateLimitDecision, RateLimitPolicy, RateLimitStore } from './policy.js';

export interface FallbackOptions {
  primary: RateLimitStore;
  /** Picks the memory store of the limit a key belongs to. */
  fallback: (key: string) => RateLimitStore;
  /** A Redis answer slower than this counts as a failure (RATE_LIMIT_REDIS_TIMEOUT_MS). */
  timeoutMs: number;
  /** After a failure, how long decisions stay in memory before Redis is tried again. */
  probeIntervalMs: number;
  log: FastifyBaseLogger;
  /** Every failed or timed-out Redis call. */
  onBackendError(): void;
}

class RedisTimeoutError extends Error {}

const REFUSAL_LOG_INTERVAL_MS = 60_000;

export class FallbackRateLimitStore implements RateLimitStore {
  #failing = false;
  #retryAt = 0;
  #probing = false;
  #refusalLoggedAt = -Infinity;

  constructor(private readonly options: FallbackOptions) {}

  /** Whether decisions are being made in memory because Redis failed. */
  get failingOver(): boolean {
    return this.#failing;
  }

  async take(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    if (this.#failing && (this.#probing || performance.now() < this.#retryAt))
      return this.options.fallback(key).take(key, policy);
    const probe = this.#failing;
    if (probe) this.#probing = true;
    try {
      const decision = await this.#bounded(this.options.primary.take(key, policy));
      // Only the probe ends an outage: a call sent before it began may still come back after.
      if (probe && this.#failing) {
        this.#failing = false;
        this.options.log.info('rate limits: Redis answers again; limits are shared by every instance again');
      }
      return decision;
    } catch (error) {
      if (error instanceof RedisReplyError) this.#refused(error as Error);
      else this.#failed(error);
      return this.options.fallback(key).take(key, policy);
    } finally {
      if (probe) this.#probing = false;
    }
  }

  async refund(key: string, policy: RateLimitPolicy, entry: string): Promise<void> {
    // The entry names where it was recorded: Redis members are never numbers, memory entries always are.
    if (/^\d+$/.test(entry)) return this.options.fallback(key).refund(key, policy, entry);
    if (this.#failing) return;
    try {
      await this.#bounded(this.options.primary.refund(key, policy, entry));
    } catch (error) {
      // A refund that does not happen leaves the request counted: stricter, never looser.
      this.#failed(error);
    }
  }

  /**
   * Redis answered, with an error (a key of the wrong type, out of memory): no outage, so the instance keeps asking
   * Redis, but this decision is made in memory. Logged at most once a minute.
   */
  #refused(error: Error): void {
    this.options.onBackendError();
    const now = performance.now();
    if (now < this.#refusalLoggedAt + REFUSAL_LOG_INTERVAL_MS) return;
    this.#refusalLoggedAt = now;
    this.options.log.warn(
      { reason: error.message },
      "rate limits: Redis refused a decision; it was made in this instance's memory",
    );
  }

  #failed(error: unknown): void {
    this.options.onBackendError();
    this.#retryAt = performance.now() + this.options.probeIntervalMs;
    if (this.#failing) return;
    this.#failing = true;
    this.options.log.warn(
      { err: error instanceof RedisTimeoutError ? undefined : error, reason: errorText(error) },
      'rate limits: Redis failed; each instance limits from its own memory until Redis is back',
    );
  }

  #bounded<T>(call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      // When the timer fires, the answer may already wait in the socket, unread because this process was busy (its
      // own load, not Redis's): one more turn of the event loop reads it before the call counts as failed.
      timer = setTimeout(
        () =>
          setImmediate(() => reject(new RedisTimeoutError(`no answer within ${this.options.timeoutMs} ms`))),
        this.options.timeoutMs,
      );
    });
    // The call may still settle after the timeout: its rejection must not go unhandled.
    call.catch(() => undefined);
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
