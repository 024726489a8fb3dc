// RedisUserSlots against the real Redis of the test services: one limit per user across instances (two clients
// stand for two servers), leases that lapse when their instance dies and last while it renews them, and the
// fall-back to this process's memory when Redis is away or stalls. Leases run in real time, made short here.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LlmUserLimitError } from '../../../src/modules/llm/llm.errors.js';
import {
  RedisUserSlots,
  createUserSlots,
  type RedisUserSlotsOptions,
} from '../../../src/modules/llm/user-slots.js';
import { createRedis, type RedisHandle } from '../../../src/platform/redis.js';
import { describeWithRedis } from '../../helpers/dialects.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';
import { closedPort } from '../../helpers/closed-port.js';

/** Generous bound for polling and for what must not hang (the machine may be busy); never a measurement. */
const WAIT = { timeout: 10_000, interval: 20 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects when `promise` has not settled within `ms`: a hang fails the test instead of timing it out. */
function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer));
}

/**
 * A TCP relay to the test Redis that can stall (keep the connection, pass nothing on: a Redis that hangs) and cut
 * (drop every connection and refuse new ones: a Redis that went away), then come back.
 */
class RedisRelay {
  readonly #server = net.createServer((socket) => this.#relay(socket));
  readonly #sockets = new Set<net.Socket>();
  #stalled: (() => void)[] | undefined;
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  /** TEST_REDIS_URL (its database and credentials) through this relay. */
  url(): string {
    const url = new URL(TEST_REDIS_URL);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  stall(): void {
    this.#stalled ??= [];
  }

  /** Passes on what was held back while stalled, in order. */
  resume(): void {
    const held = this.#stalled ?? [];
    this.#stalled = undefined;
    for (const send of held) send();
  }

  async cut(): Promise<void> {
    const closed = new Promise((resolve) => this.#server.close(resolve));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  async stop(): Promise<void> {
    this.resume();
    if (this.#server.listening) await this.cut();
  }

  #relay(client: net.Socket): void {
    const target = new URL(TEST_REDIS_URL);
    const upstream = net.connect({ host: target.hostname, port: Number(target.port || 6379) });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      const send = () => void upstream.write(chunk);
      if (this.#stalled) this.#stalled.push(send);
      else send();
    });
    upstream.on('data', (chunk: Buffer) => void client.write(chunk));
  }
}

function recordingLogger() {
  return { info: vi.fn(), warn: vi.fn() };
}

describeWithRedis('RedisUserSlots', () => {
  const prefix = `sutazai-test:${randomUUID()}:`;
  let admin: Redis;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    admin = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    await admin.connect();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  /** One server's worth: its own Redis connection (REDIS_KEY_PREFIX = this run's prefix) and its own slots. */
  async function instance(options: Partial<Omit<RedisUserSlotsOptions, 'redis'>> & { url?: string } = {}) {
    const { url = TEST_REDIS_URL, ...slotOptions } = options;
    const redis = createRedis({ url, keyPrefix: prefix }, `sutazai-test-slots-${randomUUID()}`);
    cleanups.push(() => redis.close());
    await redis.connect();
    const logger = recordingLogger();
    const slots = new RedisUserSlots({ redis, logger, ...slotOptions });
    cleanups.push(() => slots.close());
    return { redis, slots, logger };
  }

  async function relay(): Promise<RedisRelay> {
    const started = new RedisRelay();
    await started.start();
    cleanups.push(() => started.stop());
    return started;
  }

  const user = () => `user-${randomUUID()}`;
  const setKey = (key: string) => `${prefix}llm:user-slots:${key}`;
  const inRedis = (key: string) => admin.zcard(setKey(key));
  /** Commands the client sent since the spy was set, by name. */
  const sent = (redis: RedisHandle) => {
    const spy = vi.spyOn(redis.client, 'sendCommand');
    return () => spy.mock.calls.map(([command]) => command.name);
  };

  it('holds one limit per user across two instances, in a sorted set under REDIS_KEY_PREFIX', async () => {
    const a = await instance({ leaseMs: 20_000 });
    const b = await instance({ leaseMs: 20_000 });
    const alice = user();
    await a.slots.take(alice, 2);
    await b.slots.take(alice, 2);
    await expect(a.slots.take(alice, 2)).rejects.toBeInstanceOf(LlmUserLimitError);
    await expect(b.slots.take(alice, 2)).rejects.toThrow('at most 2 at a time');
    // Another user is counted apart.
    await expect(b.slots.take(user(), 2)).resolves.toBeTypeOf('function');

    const [seconds, micros] = await admin.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const leases = await admin.zrange(setKey(alice), '0', '-1', 'WITHSCORES');
    expect(leases).toHaveLength(4);
    for (const expiry of [Number(leases[1]), Number(leases[3])]) {
      expect(expiry).toBeGreaterThan(now + 15_000);
      expect(expiry).toBeLessThanOrEqual(now + 20_000);
    }
    const ttl = await admin.pttl(setKey(alice));
    expect(ttl).toBeGreaterThan(15_000);
    expect(ttl).toBeLessThanOrEqual(20_000);
  });

  it('frees a slot for every instance on release', async () => {
    const a = await instance();
    const b = await instance();
    const alice = user();
    const release = await a.slots.take(alice, 1);
    await expect(b.slots.take(alice, 1)).rejects.toBeInstanceOf(LlmUserLimitError);
    release();
    await vi.waitFor(async () => expect(await inRedis(alice)).toBe(0), WAIT);
    await expect(b.slots.take(alice, 1)).resolves.toBeTypeOf('function');
  });

  it('gives a slot back once however often release is called', async () => {
    const a = await instance();
    const b = await instance();
    const alice = user();
    const release = await a.slots.take(alice, 2);
    await b.slots.take(alice, 2);
    release();
    await vi.waitFor(async () => expect(await inRedis(alice)).toBe(1), WAIT);
    await b.slots.take(alice, 2);

    const commands = sent(a.redis);
    expect(() => release()).not.toThrow();
    release();
    expect(commands()).toEqual([]);
    expect(await inRedis(alice)).toBe(2);
    await expect(a.slots.take(alice, 2)).rejects.toBeInstanceOf(LlmUserLimitError);
  });

  it('frees the slots of an instance that died within one lease, while the others keep theirs', async () => {
    const crashed = await instance({ leaseMs: 400, renewEveryMs: 100 });
    const b = await instance();
    const alice = user();
    // b's slot (a 30 s lease) keeps the key alive: the dead lease must go on its own, not with the whole key.
    await b.slots.take(alice, 2);
    await crashed.slots.take(alice, 2);
    // Dies: no release, no renewal, no connection.
    crashed.slots.close();
    crashed.redis.client.disconnect();

    await expect(b.slots.take(alice, 2)).rejects.toBeInstanceOf(LlmUserLimitError);
    const started = performance.now();
    await vi.waitFor(() => expect(b.slots.take(alice, 2)).resolves.toBeTypeOf('function'), WAIT);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await inRedis(alice)).toBe(2);
    await expect(b.slots.take(alice, 2)).rejects.toBeInstanceOf(LlmUserLimitError);
  });

  it('lets the key of a user with no live lease expire by itself', async () => {
    const a = await instance({ leaseMs: 300, renewEveryMs: 100 });
    const alice = user();
    await a.slots.take(alice, 1);
    a.slots.close();
    expect(await admin.pttl(setKey(alice))).toBeGreaterThan(0);
    await vi.waitFor(async () => expect(await admin.exists(setKey(alice))).toBe(0), WAIT);
  });

  it('keeps a slot held beyond its lease while its instance renews it', async () => {
    // Renewed every 100 ms, a 500 ms lease survives a busy machine stalling the event loop for a while.
    const a = await instance({ leaseMs: 500, renewEveryMs: 100 });
    const b = await instance();
    const alice = user();
    const release = await a.slots.take(alice, 1);
    await sleep(1_600);
    await expect(b.slots.take(alice, 1)).rejects.toBeInstanceOf(LlmUserLimitError);
    expect(await inRedis(alice)).toBe(1);
    release();
    await vi.waitFor(() => expect(b.slots.take(alice, 1)).resolves.toBeTypeOf('function'), WAIT);
  });

  it('counts a held slot again when its lease lapsed while the instance was cut off from Redis', async () => {
    const a = await instance({ leaseMs: 300, renewEveryMs: 100 });
    const alice = user();
    await a.slots.take(alice, 1);
    // What a partition longer than a lease leaves behind: the generation runs on, its lease is gone.
    await admin.del(setKey(alice));
    await vi.waitFor(async () => expect(await inRedis(alice)).toBe(1), WAIT);
  });

  it('counts in memory while Redis is away, warning once, and shares the count again once it is back', async () => {
    const path = await relay();
    const a = await instance({ url: path.url() });
    const alice = user();
    const inRedisBefore = await a.slots.take(alice, 3);
    expect(await inRedis(alice)).toBe(1);

    await path.cut();
    await vi.waitFor(() => expect(a.redis.client.status).not.toBe('ready'), WAIT);
    const commands = sent(a.redis);
    // Not refused, not kept waiting: counted here, with the slot this instance already holds in Redis.
    const duringOutage = await bounded(a.slots.take(alice, 3), 2_000);
    await bounded(a.slots.take(alice, 3), 2_000);
    await expect(bounded(a.slots.take(alice, 3), 2_000)).rejects.toBeInstanceOf(LlmUserLimitError);
    expect(a.logger.warn).toHaveBeenCalledTimes(1);
    expect(a.logger.warn.mock.calls[0]?.[1]).toMatch(/Redis is unavailable/);

    await path.start();
    await vi.waitFor(() => expect(a.redis.client.status).toBe('ready'), WAIT);
    // Given back in memory, where it was counted: nothing for Redis to do.
    duringOutage();
    expect(commands().filter((name) => name === 'zrem')).toEqual([]);
    inRedisBefore();
    await vi.waitFor(async () => expect(await inRedis(alice)).toBe(0), WAIT);
    expect(commands().filter((name) => name === 'zrem')).toHaveLength(1);

    // Shared again: the take lands in Redis, and the recovery is said once.
    await a.slots.take(alice, 3);
    expect(await inRedis(alice)).toBe(1);
    expect(a.logger.info).toHaveBeenCalledTimes(1);
    expect(a.logger.info.mock.calls[0]?.[0]).toMatch(/Redis answers again/);
    expect(a.logger.warn).toHaveBeenCalledTimes(1);
  });

  it('answers from memory within its timeout when Redis stalls, and gives back a slot Redis admits late', async () => {
    const path = await relay();
    const a = await instance({ url: path.url(), timeoutMs: 200 });
    const alice = user();
    path.stall();
    const started = performance.now();
    const release = await bounded(a.slots.take(alice, 1), 3_000);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(a.logger.warn).toHaveBeenCalledTimes(1);
    await expect(bounded(a.slots.take(alice, 1), 3_000)).rejects.toBeInstanceOf(LlmUserLimitError);

    // Redis runs the held-back script now and admits the slot nobody waits for; it must not count for a lease.
    path.resume();
    await vi.waitFor(() => expect(a.logger.info).toHaveBeenCalled(), WAIT);
    await vi.waitFor(async () => expect(await inRedis(alice)).toBe(0), WAIT);
    release();
    await expect(a.slots.take(alice, 1)).resolves.toBeTypeOf('function');
    expect(await inRedis(alice)).toBe(1);
  });

  it('is what createUserSlots builds when given Redis', async () => {
    const { redis } = await instance();
    const slots = createUserSlots({ redis, logger: recordingLogger(), leaseMs: 5_000 });
    cleanups.push(() => slots.close());
    expect(slots).toBeInstanceOf(RedisUserSlots);
    const alice = user();
    await slots.take(alice, 1);
    const ttl = await admin.pttl(setKey(alice));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
  });
});

describe('RedisUserSlots without a Redis to talk to', () => {
  it(
    'counts in memory at once, warns once, and releases without touching Redis',
    async () => {
      const port = await closedPort();
      const redis = createRedis({ url: `redis://127.0.0.1:${port}/0`, keyPrefix: 'x:' }, 'unreachable');
      await expect(redis.connect()).rejects.toThrow(/unreachable/);
      const logger = recordingLogger();
      const slots = new RedisUserSlots({ redis, logger });
      try {
        const release = await bounded(slots.take('alice', 1), 2_000);
        await expect(bounded(slots.take('alice', 1), 2_000)).rejects.toBeInstanceOf(LlmUserLimitError);
        const commands = sent(redis);
        release();
        release();
        expect(commands()).toEqual([]);
        await expect(bounded(slots.take('alice', 1), 2_000)).resolves.toBeTypeOf('function');
        expect(logger.warn).toHaveBeenCalledTimes(1);
        expect(logger.info).not.toHaveBeenCalled();
      } finally {
        slots.close();
        await redis.close();
      }
    },
    WAIT.timeout,
  );

  function sent(redis: RedisHandle) {
    const spy = vi.spyOn(redis.client, 'sendCommand');
    return () => spy.mock.calls.map(([command]) => command.name);
  }
});
