// WS_MAX_CONNECTIONS and WS_MAX_CONNECTIONS_PER_USER: how many WebSockets may be open, in all and per owner. Counted
// in this process without Redis; in Redis with REDIS_URL, so that the limits hold across every instance.
//
// In Redis each instance keeps a hash of its own counts (owner → open sockets, and a total) and a lease in a sorted
// set of instances (score: the lease's expiry in Redis's clock). A take sums the counts of the instances whose lease
// runs (a handful) and adds to its own hash in one script, so the check and the increment are atomic. The instance
// renews its lease (one command, however many sockets it holds); one that dies stops renewing, and within one lease
// its counts stop counting and its hash expires. One per-socket lease would cost a renewal per socket instead.
//
// Redis failing must neither refuse everyone nor hang the upgrade: a take Redis does not answer in time is counted
// against this instance's own sockets instead (the limits then hold per instance until Redis answers again), and an
// instance whose lease lapsed while Redis was away writes its counts back when it answers again.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { BaseLogger } from 'pino';
import { redisWithin } from '../../lib/redis-deadline.js';
import type { RedisHandle } from '../redis.js';

/** Why a socket was refused: the server's limit, or its owner's. */
export type SlotRefusal = 'server_limit' | 'user_limit';

export interface ConnectionLimits {
  total: number;
  perOwner: number;
}

export interface ConnectionSlots {
  /** Takes a slot for one of `owner`'s sockets: the function that gives it back (idempotent), or why not. */
  take(owner: string): Promise<(() => void) | SlotRefusal>;
  /** Open sockets per owner, over every instance sharing the count. */
  distribution(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/** Sockets per owner in this process, and their total. */
class LocalCounts {
  readonly owners = new Map<string, number>();
  total = 0;

  refusal(owner: string, limits: ConnectionLimits): SlotRefusal | undefined {
    if (this.total >= limits.total) return 'server_limit';
    if ((this.owners.get(owner) ?? 0) >= limits.perOwner) return 'user_limit';
    return undefined;
  }

  add(owner: string): void {
    this.total++;
    this.owners.set(owner, (this.owners.get(owner) ?? 0) + 1);
  }

  remove(owner: string): void {
    this.total--;
    const left = (this.owners.get(owner) ?? 0) - 1;
    // Deleted at zero: the map holds the owners with sockets open, not every owner ever seen.
    if (left > 0) this.owners.set(owner, left);
    else this.owners.delete(owner);
  }
}

function once(release: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    release();
  };
}

export class MemoryConnectionSlots implements ConnectionSlots {
  readonly #counts = new LocalCounts();

  constructor(private readonly limits: ConnectionLimits) {}

  async take(owner: string): Promise<(() => void) | SlotRefusal> {
    const refusal = this.#counts.refusal(owner, this.limits);
    if (refusal) return refusal;
    this.#counts.add(owner);
    return once(() => this.#counts.remove(owner));
  }

  async distribution(): Promise<Map<string, number>> {
    return new Map(this.#counts.owners);
  }

  async close(): Promise<void> {}
}

// The scripts build key names from ARGV[1], the client's REDIS_KEY_PREFIX (ioredis prefixes KEYS, not names made
// inside a script): the instances' hashes are found through the set, so they cannot all be passed as KEYS. This is
// fine on one Redis (and its replicas), not on Redis Cluster.
const NOW = `
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local instances = ARGV[1] .. 'ws:instances'
local function counts(id) return ARGV[1] .. 'ws:counts:' .. id end
`;
const TOTAL_FIELD = '#total';

/**
 * ARGV: prefix, instance, lease (ms), owner, total limit, per-owner limit. 0: taken, 1: server limit, 2: user, 3:
 * this instance holds no lease (it lapsed, or Redis restarted empty): its counts must be written back first.
 */
const TAKE_SCRIPT = `${NOW}
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', instances, '-inf', now)
if not redis.call('ZSCORE', instances, ARGV[2]) then return 3 end
local total, mine = 0, 0
for _, id in ipairs(redis.call('ZRANGE', instances, 0, -1)) do
  local hash = counts(id)
  total = total + tonumber(redis.call('HGET', hash, '${TOTAL_FIELD}') or '0')
  mine = mine + tonumber(redis.call('HGET', hash, ARGV[4]) or '0')
end
if total >= tonumber(ARGV[5]) then return 1 end
if mine >= tonumber(ARGV[6]) then return 2 end
local own = counts(ARGV[2])
redis.call('HINCRBY', own, ARGV[4], 1)
redis.call('HINCRBY', own, '${TOTAL_FIELD}', 1)
redis.call('PEXPIRE', own, lease)
redis.call('ZADD', instances, now + lease, ARGV[2])
return 0
`;

/** ARGV: prefix, instance, owner. */
const RELEASE_SCRIPT = `${NOW}
local own = counts(ARGV[2])
if redis.call('EXISTS', own) == 0 then return 0 end
for _, field in ipairs({ ARGV[3], '${TOTAL_FIELD}' }) do
  if redis.call('HINCRBY', own, field, -1) <= 0 then redis.call('HDEL', own, field) end
end
return 1
`;

/**
 * ARGV: prefix, instance, lease (ms). Extends the instance's lease; 0 when it had lapsed (Redis was away, or this
 * instance stalled), so that its hash may have expired or stopped counting: the caller writes its counts back.
 */
const RENEW_SCRIPT = `${NOW}
local lease = tonumber(ARGV[3])
local expiry = tonumber(redis.call('ZSCORE', instances, ARGV[2]) or '0')
redis.call('ZADD', instances, now + lease, ARGV[2])
redis.call('PEXPIRE', instances, lease)
if expiry <= now then return 0 end
redis.call('PEXPIRE', counts(ARGV[2]), lease)
return 1
`;

/** ARGV: prefix, instance, lease (ms), then owner, count pairs (the total among them). Takes the lease too. */
const RESTORE_SCRIPT = `${NOW}
local lease = tonumber(ARGV[3])
local own = counts(ARGV[2])
redis.call('DEL', own)
for i = 4, #ARGV, 2 do redis.call('HSET', own, ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', own, lease)
redis.call('ZADD', instances, now + lease, ARGV[2])
redis.call('PEXPIRE', instances, lease)
return 1
`;

/** ARGV: prefix. Every live instance's counts, as owner, count pairs. */
const DISTRIBUTION_SCRIPT = `${NOW}
local merged = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', instances, now + 1, '+inf')) do
  local fields = redis.call('HGETALL', counts(id))
  for i = 1, #fields, 2 do
    if fields[i] ~= '${TOTAL_FIELD}' then
      merged[fields[i]] = (merged[fields[i]] or 0) + tonumber(fields[i + 1])
    end
  end
end
local flat = {}
for owner, count in pairs(merged) do
  flat[#flat + 1] = owner
  flat[#flat + 1] = count
end
return flat
`;

interface SlotScripts {
  wsSlotTake(...args: (string | number)[]): Promise<number>;
  wsSlotRelease(...args: (string | number)[]): Promise<number>;
  wsSlotRenew(...args: (string | number)[]): Promise<number>;
  wsSlotRestore(...args: (string | number)[]): Promise<number>;
  wsSlotDistribution(...args: (string | number)[]): Promise<(string | number)[]>;
}

function withScripts(client: Redis): Redis & SlotScripts {
  if (!('wsSlotTake' in client)) {
    client.defineCommand('wsSlotTake', { numberOfKeys: 0, lua: TAKE_SCRIPT });
    client.defineCommand('wsSlotRelease', { numberOfKeys: 0, lua: RELEASE_SCRIPT });
    client.defineCommand('wsSlotRenew', { numberOfKeys: 0, lua: RENEW_SCRIPT });
    client.defineCommand('wsSlotRestore', { numberOfKeys: 0, lua: RESTORE_SCRIPT });
    client.defineCommand('wsSlotDistribution', { numberOfKeys: 0, lua: DISTRIBUTION_SCRIPT });
  }
  return client as Redis & SlotScripts;
}

export interface RedisConnectionSlotsOptions {
  redis: RedisHandle;
  limits: ConnectionLimits;
  logger: Pick<BaseLogger, 'info' | 'warn'>;
  /** How long this instance's counts last without renewal: how soon those of an instance that died stop counting. */
  leaseMs: number;
  /** How long to wait for Redis before counting in this process instead. */
  timeoutMs?: number;
}

export class RedisConnectionSlots implements ConnectionSlots {
  readonly #client: Redis & SlotScripts;
  readonly #prefix: string;
  readonly #instance = randomUUID();
  readonly #local = new LocalCounts();
  readonly #timer: NodeJS.Timeout;
  readonly #timeoutMs: number;
  #renewing = false;
  /** Counts changed without Redis (it failed): the next renewal writes them all back. */
  #dirty = false;
  /** Restores sent so far: a take that Redis refused while one was on its way was written as held. */
  #restores = 0;
  /** Redis failed and has not answered since: warn once per outage. */
  #outage = false;

  constructor(private readonly options: RedisConnectionSlotsOptions) {
    this.#client = withScripts(options.redis.client);
    this.#prefix = options.redis.client.options.keyPrefix ?? '';
    this.#timeoutMs = options.timeoutMs ?? 1_000;
    // A third of the lease: one failed renewal costs nothing.
    this.#timer = setInterval(() => this.#renew(), Math.max(1, Math.floor(options.leaseMs / 3)));
    this.#timer.unref();
  }

  async take(owner: string): Promise<(() => void) | SlotRefusal> {
    // Counted here before Redis answers: a restore sent meanwhile (it writes this instance's counts as they are
    // here) then includes this take, whose increment Redis runs before that restore and which the restore replaces.
    this.#local.add(owner);
    const restoresBefore = this.#restores;
    let answer: number;
    try {
      answer = await this.#takeInRedis(owner);
      this.#answered();
    } catch (error) {
      this.#local.remove(owner);
      this.#failed(error);
      // Counted here only; the first renewal Redis answers writes it back with the rest.
      const refusal = this.#local.refusal(owner, this.options.limits);
      if (refusal) return refusal;
      this.#local.add(owner);
      this.#dirty = true;
      return once(() => {
        this.#local.remove(owner);
        this.#dirty = true;
      });
    }
    if (answer !== 0) {
      this.#local.remove(owner);
      // A restore sent while Redis decided wrote this refused take as held: the next renewal writes it back right.
      if (this.#restores !== restoresBefore) this.#dirty = true;
      return answer === 1 ? 'server_limit' : 'user_limit';
    }
    return once(() => {
      this.#local.remove(owner);
      this.#client.wsSlotRelease(this.#prefix, this.#instance, owner).then(
        () => this.#answered(),
        (error: unknown) => {
          this.#dirty = true;
          this.#failed(error);
        },
      );
    });
  }

  /** The take script's answer (0, 1 or 2); without a lease, this instance's counts are written back first. */
  async #takeInRedis(owner: string): Promise<number> {
    const { limits, leaseMs } = this.options;
    const take = () =>
      redisWithin(
        this.#client.wsSlotTake(this.#prefix, this.#instance, leaseMs, owner, limits.total, limits.perOwner),
        this.#timeoutMs,
      );
    const answer = await take();
    if (answer !== 3) return answer;
    // The restore must not count this take, whose own increment follows it.
    this.#local.remove(owner);
    const restored = this.#restore();
    this.#local.add(owner);
    const retried = take();
    await restored;
    const second = await retried;
    if (second === 3) throw new Error('Redis lost this instance’s lease again while restoring it');
    return second;
  }

  /** Writes this instance's counts, as they are now, over its hash in Redis, with a fresh lease. */
  #restore(): Promise<number> {
    this.#restores++;
    const pairs = [...this.#local.owners].flat();
    return redisWithin(
      this.#client.wsSlotRestore(
        this.#prefix,
        this.#instance,
        this.options.leaseMs,
        TOTAL_FIELD,
        this.#local.total,
        ...pairs,
      ),
      this.#timeoutMs,
    );
  }

  async distribution(): Promise<Map<string, number>> {
    const flat = await redisWithin(this.#client.wsSlotDistribution(this.#prefix), this.#timeoutMs);
    const owners = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) owners.set(String(flat[i]), Number(flat[i + 1]));
    return owners;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
  }

  #renew(): void {
    // A round still waiting on a Redis that stalls is not joined by another one.
    if (this.#renewing) return;
    this.#renewing = true;
    const { leaseMs } = this.options;
    const round = redisWithin(
      this.#client.wsSlotRenew(this.#prefix, this.#instance, leaseMs),
      this.#timeoutMs,
    )
      .then((kept) => {
        if (kept === 1 && !this.#dirty) return;
        this.#dirty = false;
        return this.#restore();
      })
      .then(
        () => this.#answered(),
        (error: unknown) => {
          this.#dirty = true;
          this.#failed(error);
        },
      );
    void round.finally(() => {
      this.#renewing = false;
    });
  }

  #failed(error: unknown): void {
    if (this.#outage) return;
    this.#outage = true;
    this.options.logger.warn(
      { err: error },
      'Redis is unavailable: WebSocket connection limits are counted per instance until it answers again',
    );
  }

  #answered(): void {
    if (!this.#outage) return;
    this.#outage = false;
    this.options.logger.info(
      'Redis answers again: WebSocket connection limits are shared by every instance again',
    );
  }
}

export function createConnectionSlots(options: {
  redis: RedisHandle | undefined;
  limits: ConnectionLimits;
  logger: Pick<BaseLogger, 'info' | 'warn'>;
  leaseMs: number;
}): ConnectionSlots {
  const { redis, ...rest } = options;
  return redis ? new RedisConnectionSlots({ redis, ...rest }) : new MemoryConnectionSlots(options.limits);
}
