// The limits in Redis, shared by every instance: each decision is one Lua script, so one round trip (EVALSHA) and
// atomic however many instances ask at once. A sorted set holds the window's admissions (score: time in ms, member:
// a unique id), a string holds GCRA's theoretical arrival time; both expire when they no longer matter.
//
// Hand-written because no kept library does this rule: rate-limiter-flexible's Redis limiters (11.4) count fixed
// windows, which admit twice the limit across a window's edge, and its BurstyRateLimiter adds a second fixed window.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../../lib/clock.js';
import {
  burstInterval,
  type RateLimitDecision,
  type RateLimitPolicy,
  type RateLimitStore,
} from './policy.js';

// The same rule as memory-store.ts, line for line. ARGV: now (ms; empty: Redis's own TIME), window ms, limit, GCRA
// interval ms (0: no burst control), burst, the member to add (take) or remove (refund), 'take' or 'refund'.
// Returns {allowed 0/1, remaining, whole-again epoch ms, retry-after ms, now ms}.
const SCRIPT = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local logKey, tatKey = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local interval, burst = tonumber(ARGV[4]), tonumber(ARGV[5])
local member = ARGV[6]
if ARGV[7] == 'refund' then
  redis.call('ZREM', logKey, member)
  return 0
end
redis.call('ZREMRANGEBYSCORE', logKey, '-inf', now - window)
-- Admissions 'in the future' (the clock stepped back) are forgotten rather than blocking until then.
redis.call('ZREMRANGEBYSCORE', logKey, '(' .. now, '+inf')
local count = redis.call('ZCARD', logKey)
local tat = now
if interval > 0 then
  local stored = tonumber(redis.call('GET', tatKey))
  if stored and stored > now then
    tat = math.min(stored, now + burst * interval)
    if tat < stored then redis.call('SET', tatKey, string.format('%.3f', tat), 'PX', math.ceil(tat - now)) end
  end
end
local allowed = count < limit and (interval == 0 or tat + interval - now <= burst * interval + 1e-6)
local retry = 0
if allowed then
  redis.call('ZADD', logKey, now, member)
  redis.call('PEXPIRE', logKey, window)
  count = count + 1
  if interval > 0 then
    tat = tat + interval
    redis.call('SET', tatKey, string.format('%.3f', tat), 'PX', math.ceil(tat - now))
  end
else
  if count >= limit then
    local oldest = redis.call('ZRANGE', logKey, count - limit, count - limit, 'WITHSCORES')
    retry = tonumber(oldest[2]) + window - now
  end
  if interval > 0 then
    local wait = tat + interval - burst * interval - now
    if wait > retry then retry = wait end
  end
end
local remaining = limit - count
local wholeAt = now
if count > 0 then
  local newest = redis.call('ZRANGE', logKey, -1, -1, 'WITHSCORES')
  wholeAt = tonumber(newest[2]) + window
end
if interval > 0 then
  local burstLeft = math.floor((burst * interval - (tat - now)) / interval + 1e-6)
  if burstLeft < remaining then remaining = burstLeft end
  if tat > wholeAt then wholeAt = tat end
end
if remaining < 0 then remaining = 0 end
return {allowed and 1 or 0, remaining, math.ceil(wholeAt), math.ceil(retry), now}
`;

const COMMAND = 'sutazaiRateLimit';

type ScriptCall = (
  logKey: string,
  tatKey: string,
  ...args: (string | number)[]
) => Promise<[number, number, number, number, number] | number>;

export interface RedisStoreOptions {
  client: Redis;
  /**
   * Tests move time with a ManualClock. Unset (production): the script reads Redis's TIME, so every instance counts on
   * the same clock whatever their own clocks say.
   */
  clock?: Clock | undefined;
}

export class RedisRateLimitStore implements RateLimitStore {
  readonly #call: ScriptCall;
  /** Members must be unique across instances and restarts: a random prefix per store, then a counter. */
  readonly #memberPrefix = randomBytes(6).toString('base64url');
  #counter = 0;

  constructor(private readonly options: RedisStoreOptions) {
    const { client } = options;
    // defineCommand sends EVALSHA, and the script itself only when Redis answers NOSCRIPT (after a restart).
    if (!(COMMAND in client)) client.defineCommand(COMMAND, { numberOfKeys: 2, lua: SCRIPT });
    const command = (client as unknown as Record<string, ScriptCall>)[COMMAND] as ScriptCall;
    this.#call = command.bind(client);
  }

  async take(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    const member = `${this.#memberPrefix}.${(this.#counter++).toString(36)}`;
    const answer = await this.#run(key, policy, member, 'take');
    if (!Array.isArray(answer)) throw new Error('rate limit script: unexpected answer');
    const [allowed, remaining, resetAtMs, retryAfterMs, nowMs] = answer;
    return {
      allowed: allowed === 1,
      limit: policy.limit,
      remaining,
      resetAtMs,
      retryAfterMs,
      nowMs,
      entry: allowed === 1 ? member : undefined,
    };
  }

  async refund(key: string, policy: RateLimitPolicy, entry: string): Promise<void> {
    await this.#run(key, policy, entry, 'refund');
  }

  #run(key: string, policy: RateLimitPolicy, member: string, mode: 'take' | 'refund') {
    // One hash tag for both keys: a Redis Cluster keeps them in one slot, as a script's keys must be.
    const base = `rate-limit:{${key}}`;
    const now = this.options.clock ? String(this.options.clock.now().getTime()) : '';
    return this.#call(
      `${base}:log`,
      `${base}:tat`,
      now,
      policy.windowMs,
      policy.limit,
      burstInterval(policy),
      policy.burst ?? policy.limit,
      member,
      mode,
    );
  }
}
