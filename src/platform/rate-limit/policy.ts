// What a limit promises, and the decision the stores (memory and Redis) make for one request. Both stores implement
// the same rule, tested by one conformance suite (test/integration/platform/rate-limit-conformance.test.ts):
//
// - a sliding log: a request is admitted only while fewer than `limit` requests were admitted in the last
//   `windowMs` (so in ANY interval of windowMs at most `limit` are admitted: no double burst at a window's edge);
// - with `burst` below `limit`, also GCRA (a token bucket kept as one timestamp): at most `burst` at once after being
//   idle, then one more every windowMs/limit — capacity comes back evenly, `limit` per window.

export interface RateLimitPolicy {
  /** Requests admitted in any interval of `windowMs`. */
  limit: number;
  windowMs: number;
  /** Requests admitted at once after being idle; unset, or not below `limit`: no burst control beyond the window. */
  burst?: number | undefined;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests that would be admitted if sent right now, after this one: min(window's remainder, burst's). */
  remaining: number;
  /** Epoch ms at which, without further requests, the whole budget (limit and burst) is back. */
  resetAtMs: number;
  /** When refused: ms until a request would be admitted again (0 when allowed). */
  retryAfterMs: number;
  /** The store's time of the decision (Redis's own clock, for the Redis store). */
  nowMs: number;
  /** Names what this admission recorded, so that refund() can take it back (undefined when refused). */
  entry?: string | undefined;
}

/** The port both stores implement. `key` is already namespaced by the limit's name. */
export interface RateLimitStore {
  /** Decides one request of `key`, recording it when admitted: atomically, whatever else runs at once. */
  take(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision>;
  /** Takes back an admission (a login that turned out to be no failure): the window forgets it. */
  refund(key: string, policy: RateLimitPolicy, entry: string): Promise<void>;
}

/** The GCRA emission interval (ms between two requests at the sustained rate), or 0 when the policy has no burst. */
export function burstInterval(policy: RateLimitPolicy): number {
  return policy.burst !== undefined && policy.burst > 0 && policy.burst < policy.limit
    ? policy.windowMs / policy.limit
    : 0;
}

/** The policy's one-line description for logs and the IETF RateLimit-Policy header. */
export function describePolicy(policy: RateLimitPolicy): string {
  const burst = burstInterval(policy) > 0 ? `, ${policy.burst} at once` : '';
  return `${policy.limit} per ${policy.windowMs / 1000} s${burst}`;
}
