// The limits when Redis fails: a redis-server of the test's own, killed and restarted, then hung (SIGSTOP). No 5xx,
// the limit still holds per instance (from memory), one log line per outage, counted, and back to Redis when it is.
import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { OwnRedis, describeWithOwnRedis, redisReady } from '../../helpers/redis-server.js';

const WAIT = { timeout: 15_000, interval: 50 };

describeWithOwnRedis('rate limits when Redis fails', () => {
  let redis: OwnRedis;
  let t: TestApp;
  let address = 0;
  const newAddress = () => `10.3.0.${++address}`;
  beforeAll(async () => {
    redis = await OwnRedis.start();
    t = await buildTestApp({
      captureLogs: true,
      env: { REDIS_URL: redis.url, RATE_LIMIT_PER_MINUTE: '100', RATE_LIMIT_BURST: '0' },
    });
  });
  afterAll(async () => {
    redis?.resume();
    await t?.close();
    await redis?.kill();
  });

  const send = async (count: number, from: string) => {
    const answers: LightMyRequestResponse[] = [];
    for (let i = 0; i < count; i++)
      answers.push(await t.app.inject({ url: '/api/v1/chat/sessions', remoteAddress: from }));
    return answers;
  };
  const tally = (answers: LightMyRequestResponse[]) => {
    const counts: Record<number, number> = {};
    for (const { statusCode } of answers) counts[statusCode] = (counts[statusCode] ?? 0) + 1;
    return counts;
  };
  const stats = async () =>
    (await t.app.inject({ url: '/api/v1/health/metrics' })).json<{
      rate_limiting: { backend: string; fallback_active: boolean; backend_errors: number };
    }>().rate_limiting;
  const logged = (text: string) => t.logs.filter((line) => String(line.msg).includes(text));
  /** Whether the limit of `from` is kept in our Redis. */
  const inRedis = async (from: string) => {
    const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await admin.connect();
      return (await admin.exists(`sutazai:rate-limit:{general:ip:${from}}:log`)) === 1;
    } finally {
      admin.disconnect();
    }
  };

  it('decides in Redis while it answers', async () => {
    const from = newAddress();
    expect(tally(await send(10, from))).toEqual({ 200: 10 });
    expect(await inRedis(from)).toBe(true);
    expect(await stats()).toMatchObject({ backend: 'redis', fallback_active: false, backend_errors: 0 });
  });

  it('killed: no 5xx, the limit holds in memory, one log line, counted; back in Redis once it returns', async () => {
    await redis.kill();
    const from = newAddress();
    expect(tally(await send(150, from))).toEqual({ 200: 100, 429: 50 });
    expect(logged('Redis failed')).toHaveLength(1);
    expect(await stats()).toMatchObject({ fallback_active: true });
    expect((await stats()).backend_errors).toBeGreaterThan(0);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/^rate_limit_fallback_active 1$/m);
    expect(metrics).toMatch(/^rate_limit_backend_errors_total [1-9]\d*$/m);
    expect(metrics).toMatch(/^rate_limit_decisions_total\{limit="general",result="limited"\} 50$/m);

    await redis.restart();
    await redisReady(t.app, true);
    const later = newAddress();
    await expect
      .poll(async () => {
        await send(1, later);
        return inRedis(later);
      }, WAIT)
      .toBe(true);
    expect(logged('Redis answers again')).toHaveLength(1);
    expect(await stats()).toMatchObject({ fallback_active: false });
    // The identity limited from memory during the outage starts afresh in Redis: a restarted Redis is empty.
    expect(tally(await send(1, from))).toEqual({ 200: 1 });
  });

  it('hung (accepts, never answers): requests still complete, decided in memory after the bound', async () => {
    redis.pause();
    const errorsBefore = (await stats()).backend_errors;
    const from = newAddress();
    const started = performance.now();
    const answers = await send(120, from);
    const elapsed = performance.now() - started;
    expect(tally(answers)).toEqual({ 200: 100, 429: 20 });
    expect(await stats()).toMatchObject({ fallback_active: true });
    expect((await stats()).backend_errors).toBeGreaterThan(errorsBefore);
    const timeouts = logged('Redis failed').filter((line) =>
      String(line.reason).includes('no answer within 50 ms'),
    );
    expect(timeouts).toHaveLength(1);
    // Reported, not asserted (no timing assertions): how long 120 requests took against a hung Redis.
    console.info(`120 requests against a hung Redis: ${elapsed.toFixed(0)} ms`);
    redis.resume();
  });
});
