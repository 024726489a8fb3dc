// The headers of a limited answer: the de-facto X-RateLimit-* trio, and the IETF draft's RateLimit-Policy/RateLimit
// (draft-ietf-httpapi-ratelimit-headers: quota q per window w seconds; r remaining, t seconds until whole again).
import type { FastifyReply } from 'fastify';
import type { RateLimitDecision, RateLimitPolicy } from './policy.js';
import { RateLimitExceededError, type RateLimiter } from './rate-limiter.js';

export function setRateLimitHeaders(
  reply: FastifyReply,
  name: string,
  policy: RateLimitPolicy,
  decision: RateLimitDecision,
): void {
  const resetSeconds = Math.max(0, Math.ceil((decision.resetAtMs - decision.nowMs) / 1000));
  void reply.headers({
    'x-ratelimit-limit': String(decision.limit),
    'x-ratelimit-remaining': String(decision.remaining),
    'x-ratelimit-reset': String(Math.ceil(decision.resetAtMs / 1000)),
    'ratelimit-policy': `"${name}";q=${policy.limit};w=${Math.ceil(policy.windowMs / 1000)}`,
    ratelimit: `"${name}";r=${decision.remaining};t=${resetSeconds}`,
  });
}

/** Counts one request against `limiter`; over it, the answer carries that limit's headers and is a 429. */
export async function limitRequest(
  reply: FastifyReply,
  limiter: RateLimiter,
  identity: string,
): Promise<RateLimitDecision | undefined> {
  const decision = await limiter.take(identity);
  if (!decision || decision.allowed || !limiter.policy) return decision;
  setRateLimitHeaders(reply, limiter.name, limiter.policy, decision);
  throw new RateLimitExceededError(decision);
}
