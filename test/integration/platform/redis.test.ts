// The optional Redis client (platform/redis.ts) and its plugin, against the real Redis of the test services, and
// against ports where no Redis answers.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StartupError } from '../../../src/platform/errors.js';
import {
  createRedis,
  reconnectDelay,
  redactRedisUrl,
  type RedisHandle,
} from '../../../src/platform/redis.js';
import { buildTestApp } from '../../helpers/app.js';
import { describeWithRedis } from '../../helpers/dialects.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';
import { closedPort } from '../../helpers/closed-port.js';

/** Generous bound for polling and for what must fail fast (the machine may be busy); never a measurement. */
const WAIT = { timeout: 10_000, interval: 20 };

/** Names of the connections Redis has open now. */
async function clientNames(admin: Redis): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return [...list.matchAll(/ name=(\S*)/g)].map((m) => m[1] ?? '');
}

describeWithRedis('createRedis', () => {
  const prefix = `sutazai-test:${randomUUID()}:`;
  const name = `sutazai-test-${randomUUID()}`;
  let admin: Redis;
  let redis: RedisHandle;
  beforeAll(async () => {
    admin = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    await admin.connect();
    redis = createRedis({ url: TEST_REDIS_URL, keyPrefix: prefix }, name);
    await redis.connect();
  });
  afterAll(async () => {
    await redis.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('connects and reports ready with a latency', async () => {
    const status = await redis.status();
    expect(status).toEqual({ state: 'ready', ready: true, latencyMs: expect.any(Number) as number });
    expect(status.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('names its connection, as CLIENT GETNAME and CLIENT LIST show', async () => {
    expect(await redis.client.client('GETNAME')).toBe(name);
    expect(await clientNames(admin)).toContain(name);
  });

  it('puts REDIS_KEY_PREFIX before every key it writes', async () => {
    await redis.client.set('greeting', 'hello');
    expect(await admin.get(`${prefix}greeting`)).toBe('hello');
    expect(await admin.exists('greeting')).toBe(0);
    expect(await redis.client.get('greeting')).toBe('hello');
  });

  it('reconnects by itself when Redis drops the connection', async () => {
    const id = await redis.client.client('ID');
    const reconnecting = vi.fn();
    redis.client.once('reconnecting', reconnecting);
    await admin.client('KILL', 'ID', String(id));
    await vi.waitFor(() => expect(reconnecting).toHaveBeenCalled(), WAIT);
    const delay = reconnecting.mock.calls[0]?.[0] as number;
    expect(delay).toBe(reconnectDelay(1));
    await vi.waitFor(async () => expect(await redis.status()).toMatchObject({ ready: true }), WAIT);
    expect(await redis.client.client('ID')).not.toBe(id);
    expect(await redis.client.client('GETNAME')).toBe(name);
  });

  it('rejects a command at once while disconnected instead of queueing it', async () => {
    const other = createRedis({ url: TEST_REDIS_URL, keyPrefix: prefix }, `${name}-offline`);
    await other.connect();
    other.client.disconnect();
    await expect(other.client.get('greeting')).rejects.toThrow(/enableOfflineQueue/);
    expect(await other.status()).toMatchObject({ ready: false });
    await other.close();
  });

  it('quits on close, and closing twice is harmless', async () => {
    const other = createRedis({ url: TEST_REDIS_URL, keyPrefix: prefix }, `${name}-closing`);
    await other.connect();
    expect(await clientNames(admin)).toContain(`${name}-closing`);
    await other.close();
    expect(other.client.status).toBe('end');
    await vi.waitFor(async () => expect(await clientNames(admin)).not.toContain(`${name}-closing`), WAIT);
    await expect(other.close()).resolves.toBeUndefined();
    expect(await other.status()).toEqual({ state: 'end', ready: false });
  });
});

describe('createRedis without a Redis to talk to', () => {
  const handles: RedisHandle[] = [];
  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.close()));
  });

  it(
    'rejects connect() when nothing listens, naming the URL without its password',
    async () => {
      const port = await closedPort();
      const redis = createRedis(
        { url: `redis://:hunter2@127.0.0.1:${port}/0`, keyPrefix: 'x:' },
        'unreachable',
      );
      handles.push(redis);
      const failure = redis.connect().then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      const error = await failure;
      expect(error).toBeInstanceOf(Error);
      expect(error?.message).toBe(
        `Redis at redis://:***@127.0.0.1:${port}/0 is unreachable: connect ECONNREFUSED 127.0.0.1:${port}`,
      );
      expect(error?.message).not.toContain('hunter2');
      expect((await redis.status()).ready).toBe(false);
      await expect(redis.client.get('k')).rejects.toThrow();
    },
    WAIT.timeout,
  );

  it(
    'rejects connect() after its timeout when a server accepts but never answers',
    async () => {
      const sockets: net.Socket[] = [];
      const silent = net.createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const { port } = silent.address() as net.AddressInfo;
      try {
        const redis = createRedis({ url: `redis://user:pw@127.0.0.1:${port}`, keyPrefix: 'x:' }, 'silent');
        handles.push(redis);
        await expect(redis.connect(200)).rejects.toThrow(
          `Redis at redis://user:***@127.0.0.1:${port} is unreachable: no answer within 200 ms`,
        );
        expect(sockets.length).toBeGreaterThan(0);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    },
    WAIT.timeout,
  );
});

describe('reconnectDelay', () => {
  it('starts at 100 ms and doubles up to 5 s, never beyond', () => {
    const delays = Array.from({ length: 12 }, (_, i) => reconnectDelay(i + 1));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000, 5000, 5000]);
    for (const attempt of [50, 1_000, 1e9]) expect(reconnectDelay(attempt)).toBe(5000);
  });
});

describe('redactRedisUrl', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactRedisUrl('redis://:s3cret@cache:6379/2')).toBe('redis://:***@cache:6379/2');
    expect(redactRedisUrl('rediss://app:s3cret@cache:6380')).toBe('rediss://app:***@cache:6380');
    expect(redactRedisUrl('redis://cache:6379')).toBe('redis://cache:6379');
  });

  it('hides everything of a URL it cannot parse', () => {
    expect(redactRedisUrl('redis://:s3cret@[bad')).toBe('redis://***');
  });
});

describeWithRedis('the redis plugin', () => {
  it('decorates app.redis, connected and named, and quits it when the app closes', async () => {
    const prefix = `sutazai-test:${randomUUID()}:`;
    const t = await buildTestApp({ env: { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix } });
    const redis = t.app.redis;
    try {
      expect(redis).toBeDefined();
      expect(await redis?.status()).toMatchObject({ state: 'ready', ready: true });
      expect(await redis?.client.client('GETNAME')).toBe(`sutazai:${process.pid}`);
      expect(redis?.client.options.keyPrefix).toBe(prefix);
    } finally {
      await t.close();
    }
    expect(redis?.client.status).toBe('end');
  });

  it('leaves app.redis undefined without REDIS_URL', async () => {
    const t = await buildTestApp();
    try {
      expect(t.config.redis.url).toBeUndefined();
      expect(t.app.redis).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});

describe('startup with an unreachable REDIS_URL', () => {
  it(
    'fails with a StartupError naming Redis in one line, without the password',
    async () => {
      const port = await closedPort();
      const failure = buildTestApp({ env: { REDIS_URL: `redis://:hunter2@127.0.0.1:${port}/3` } });
      const error = await failure.then(
        (t) => t.close().then(() => new Error('buildApp started')),
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(StartupError);
      expect(error.message).toBe(
        `Redis at redis://:***@127.0.0.1:${port}/3 is unreachable: connect ECONNREFUSED 127.0.0.1:${port}`,
      );
      expect(error.message).not.toContain('hunter2');
    },
    WAIT.timeout,
  );
});
