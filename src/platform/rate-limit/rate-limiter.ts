// A named limit (general, login failures, registration, mail…) over the shared store, and what a refusal says.
import { TooManyRequestsError } from '../errors.js';
import type { RateLimitDecision, RateLimitPolicy, RateLimitStore } from './policy.js';

export interface DecisionCounter {
  decided(limit: string, allowed: boolean): void;
}

export class RateLimitExceededError extends TooManyRequestsError {
  constructor(readonly decision: RateLimitDecision) {
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    super(`Rate limit exceeded. Try again in ${seconds} seconds`, seconds, 'rate_limited', {
      retry_after: seconds,
      limit: decision.limit,
      remaining: 0,
      reset: Math.ceil(decision.resetAtMs / 1000),
    });
  }
}

export class RateLimiter {
  constructor(
    /** The limit's name: its metric label and the namespace of its keys. */
    readonly name: string,
    /** Undefined when the limit is off (its setting is 0): every request is admitted, and nothing is stored. */
    readonly policy: RateLimitPolicy | undefined,
    private readonly store: RateLimitStore,
    private readonly counter: DecisionCounter,
  ) {}

  /** Decides one request of `identity` (user:<id>, ip:<address>…); undefined when the limit is off. */
  async take(identity: string): Promise<RateLimitDecision | undefined> {
    if (!this.policy) return undefined;
    const decision = await this.store.take(`${this.name}:${identity}`, this.policy);
    this.counter.decided(this.name, decision.allowed);
    return decision;
  }

  /** Counts one request and throws RateLimitExceededError (429) when `identity` is over the limit. */
  async consume(identity: string): Promise<RateLimitDecision | undefined> {
    const decision = await this.take(identity);
    if (decision && !decision.allowed) throw new RateLimitExceededError(decision);
    return decision;
  }

  /** Counts one request and says whether it is within the limit: for limits absorbed silently. */
  async allow(identity: string): Promise<boolean> {
    return (await this.take(identity))?.allowed ?? true;
  }

  /** Takes an admission back: the request turned out not to be what the limit counts (a login that succeeded). */
  async refund(identity: string, decision: RateLimitDecision | undefined): Promise<void> {
    if (!this.policy || !decision?.entry) return;
    await this.store.refund(`${this.name}:${identity}`, this.policy, decision.entry);
  }
}
