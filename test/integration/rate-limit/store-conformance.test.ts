// One conformance suite for both rate limit stores (memory, and Redis with its Lua script), on an injected clock:
// the same cases, the same expected decisions. A last case feeds both the same random traffic and requires the very
// same decisions, request for request.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { MemoryRateLimitStore } from '../../../src/platform/rate-limit/memory-store.js';
import type {
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitStore,
} from '../../../src/platform/rate-limit/policy.js';
import { RedisRateLimitStore } from '../../../src/platform/rate-limit/redis-store.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';

const START = Date.parse('2026-12-04T10:00:00.000Z');
const MINUTE: RateLimitPolicy = { limit: 100, windowMs: 60_000 };
const BURSTY: RateLimitPolicy = { limit: 100, windowMs: 60_000, burst: 20 };

interface Backend {
  name: string;
  available: boolean;
  make(clock: ManualClock): Promise<RateLimitStore>;
  close(): Promise<void>;
}

const redisClients: Redis[] = [];
const prefix = `sutazai-test:${randomUUID()}:`;
const BACKENDS: Backend[] = [
  {
    name: 'memory',
    available: true,
    make: async (clock) => new MemoryRateLimitStore({ clock, maxKeys: 10_000 }),
    close: async () => undefined,
  },
  {
    name: 'redis',
    available: inject('redisAvailable'),
    async make(clock) {
      const client = new Redis(TEST_REDIS_URL, { keyPrefix: prefix, lazyConnect: true });
      await client.connect();
      redisClients.push(client);
      return new RedisRateLimitStore({ client, clock });
    },
    async close() {
      const clients = redisClients.splice(0);
      const admin = clients[0];
      if (admin) {
        const keys = await admin.keys(`${prefix}*`);
        // KEYS answers with the prefix; DEL through a prefixed client would add it again.
        if (keys.length > 0) await admin.del(...keys.map((key) => key.slice(prefix.length)));
      }
      await Promise.all(clients.map((client) => client.quit()));
    },
  },
];

/** Sends `count` requests of `key` at the clock's current time; the decisions, in order. */
async function burst(store: RateLimitStore, key: string, policy: RateLimitPolicy, count: number) {
  const decisions: RateLimitDecision[] = [];
  for (let i = 0; i < count; i++) decisions.push(await store.take(key, policy));
  return decisions;
}
const admitted = (decisions: RateLimitDecision[]) => decisions.filter((d) => d.allowed).length;

for (const backend of BACKENDS) {
  (backend.available ? describe : describe.skip)(`rate limit store conformance [${backend.name}]`, () => {
    let clock: ManualClock;
    let store: RateLimitStore;
    const key = () => `general:user:${randomUUID()}`;
    beforeAll(async () => {
      clock = new ManualClock(new Date(START));
      store = await backend.make(clock);
    });
    afterAll(() => backend.close());

    it('admits no more than the limit in any 60 s: the end of one minute and the start of the next', async () => {
      const id = key();
      clock.set(new Date(START + 59_900));
      expect(admitted(await burst(store, id, MINUTE, 100))).toBe(100);
      // A fixed window would start afresh here, 200 ms later.
      clock.set(new Date(START + 60_100));
      const refused = await burst(store, id, MINUTE, 10);
      expect(admitted(refused)).toBe(0);
      expect(refused[0]).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 59_800 });
      // 1 ms before the first 100 are a full minute old: still refused; at the minute, admitted again.
      clock.set(new Date(START + 119_899));
      expect(admitted(await burst(store, id, MINUTE, 1))).toBe(0);
      clock.set(new Date(START + 119_900));
      expect(admitted(await burst(store, id, MINUTE, 101))).toBe(100);
    });

    it('a window that slides: 50 early, 50 late, then only as many as have left the window', async () => {
      const id = key();
      clock.set(new Date(START));
      expect(admitted(await burst(store, id, MINUTE, 50))).toBe(50);
      clock.set(new Date(START + 30_000));
      expect(admitted(await burst(store, id, MINUTE, 60))).toBe(50);
      clock.set(new Date(START + 60_000));
      // The first 50 are a minute old: 50 places, not 100.
      expect(admitted(await burst(store, id, MINUTE, 60))).toBe(50);
    });

    it('admits the burst at once after being idle, then one every 600 ms (100 a minute)', async () => {
      const id = key();
      clock.set(new Date(START));
      const first = await burst(store, id, BURSTY, 21);
      expect(admitted(first)).toBe(20);
      expect(first[0]).toMatchObject({ allowed: true, limit: 100, remaining: 19 });
      expect(first[19]).toMatchObject({ allowed: true, remaining: 0 });
      expect(first[20]).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 600 });
      clock.advance(599);
      expect(admitted(await burst(store, id, BURSTY, 1))).toBe(0);
      clock.advance(1);
      expect(admitted(await burst(store, id, BURSTY, 2))).toBe(1);
      clock.advance(6000);
      expect(admitted(await burst(store, id, BURSTY, 11))).toBe(10);
    });

    it('refills evenly: idle for 6 s gives back 10, not the whole burst', async () => {
      const id = key();
      clock.set(new Date(START));
      await burst(store, id, BURSTY, 20);
      clock.advance(6000);
      const after = await burst(store, id, BURSTY, 11);
      expect(admitted(after)).toBe(10);
      expect(after[0]?.remaining).toBe(9);
    });

    it('keeps the minute bound under the burst: at the sustained rate, 100 in the first minute, never 120', async () => {
      const id = key();
      clock.set(new Date(START));
      let inFirstMinute = 0;
      // 20 at once, then a request every 100 ms: the burst comes back at 1 per 600 ms, the window caps at 100.
      for (let t = 0; t < 60_000; t += 100) {
        clock.set(new Date(START + t));
        const count = t === 0 ? 20 : 1;
        inFirstMinute += admitted(await burst(store, id, BURSTY, count));
      }
      expect(inFirstMinute).toBe(100);
    });

    it('says when the budget is whole again (reset) and how long to wait (retry after)', async () => {
      const id = key();
      clock.set(new Date(START));
      const [first] = await burst(store, id, BURSTY, 1);
      // The admission leaves the window 60 s later; the burst is whole after 600 ms.
      expect(first).toMatchObject({ allowed: true, remaining: 19, resetAtMs: START + 60_000, nowMs: START });
      clock.advance(10_000);
      // Idle for 10 s: the whole burst again, and the 21st waits one interval.
      const rest = await burst(store, id, BURSTY, 21);
      expect(rest[19]).toMatchObject({ allowed: true, remaining: 0, resetAtMs: START + 70_000 });
      expect(rest[20]).toMatchObject({ allowed: false, retryAfterMs: 600, resetAtMs: START + 70_000 });
    });

    it('forgets admissions from a clock that has since stepped back, rather than refusing until then', async () => {
      const id = key();
      clock.set(new Date(START + 86_400_000));
      expect(admitted(await burst(store, id, BURSTY, 20))).toBe(20);
      clock.set(new Date(START));
      // The burst counts as just spent, so one interval's wait, not a day's; the window's log is forgotten.
      const [first] = await burst(store, id, BURSTY, 1);
      expect(first).toMatchObject({ allowed: false, retryAfterMs: 600 });
      clock.advance(12_000);
      expect(admitted(await burst(store, id, BURSTY, 21))).toBe(20);
    });

    it('keeps identities apart', async () => {
      const [a, b] = [key(), key()];
      clock.set(new Date(START));
      expect(admitted(await burst(store, a, MINUTE, 101))).toBe(100);
      expect(admitted(await burst(store, b, MINUTE, 1))).toBe(1);
      expect(admitted(await burst(store, `register:${a}`, MINUTE, 1))).toBe(1);
    });

    it('forgets a refunded admission, and only that one', async () => {
      const id = key();
      const policy: RateLimitPolicy = { limit: 3, windowMs: 600_000 };
      clock.set(new Date(START));
      const [one] = await burst(store, id, policy, 1);
      clock.advance(1000);
      await burst(store, id, policy, 2);
      expect(admitted(await burst(store, id, policy, 1))).toBe(0);
      await store.refund(id, policy, one?.entry as string);
      expect(admitted(await burst(store, id, policy, 2))).toBe(1);
    });

    it('decides 50 requests sent at once exactly: the limit, not one more', async () => {
      const id = key();
      const policy: RateLimitPolicy = { limit: 20, windowMs: 60_000, burst: 10 };
      clock.set(new Date(START));
      const decisions = await Promise.all(Array.from({ length: 50 }, () => store.take(id, policy)));
      expect(admitted(decisions)).toBe(10);
    });
  });
}

/** A deterministic pseudo-random sequence (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

(inject('redisAvailable') ? describe : describe.skip)('rate limit stores agree [memory, redis]', () => {
  const memoryBackend = BACKENDS[0] as Backend;
  const redisBackend = BACKENDS[1] as Backend;
  afterAll(() => redisBackend.close());

  it('make the same decisions on the same random traffic, within the contract', async () => {
    const clock = new ManualClock(new Date(START));
    const memory = await memoryBackend.make(clock);
    const redis = await redisBackend.make(clock);
    const id = `general:user:${randomUUID()}`;
    const next = random(12_345);
    const admittedAt: number[] = [];
    let t = 0;
    for (let i = 0; i < 2000; i++) {
      // Bursts and lulls: mostly close together, sometimes seconds apart.
      t += next() < 0.9 ? Math.floor(next() * 200) : Math.floor(next() * 8000);
      clock.set(new Date(START + t));
      const [m, r] = [await memory.take(id, BURSTY), await redis.take(id, BURSTY)];
      expect({ ...r, entry: undefined }, `request ${i} at +${t} ms`).toEqual({ ...m, entry: undefined });
      if (m.allowed) admittedAt.push(t);
    }
    // The contract, checked on what was admitted: no 60 s holds more than 100, no instant more than the burst.
    for (let i = 0; i + 100 < admittedAt.length; i++)
      expect((admittedAt[i + 100] as number) - (admittedAt[i] as number)).toBeGreaterThanOrEqual(60_000);
    for (let i = 0; i + 20 < admittedAt.length; i++)
      expect((admittedAt[i + 20] as number) - (admittedAt[i] as number)).toBeGreaterThan(0);
    expect(admittedAt.length).toBeGreaterThan(300);
  });
});
