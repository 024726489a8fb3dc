// A Redis outage is never a 500: an ioredis error from a killed Redis that reaches the error handler answers 503
// redis_unavailable with Retry-After (logged once, no driver text in the body), and the routes that use Redis
// (rate limits, mail limits, generation slots, authentication) keep answering while it is down. Uses a
// redis-server of its own, on a free port, never the shared one.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { DEPENDENCY_RETRY_AFTER_SECONDS } from '../../../src/platform/dependency-errors.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, register } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { OwnRedis, describeWithOwnRedis, redisReady } from '../../helpers/redis-server.js';

describeWithOwnRedis('Redis unavailable', () => {
  describeEachDialect('answers while Redis is down', (dialect) => {
    let redis: OwnRedis;
    let llm: LlmStandIn;
    let t: TestApp;
    beforeAll(async () => {
      redis = await OwnRedis.start();
      llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
      t = await buildTestApp({
        dialect,
        captureLogs: true,
        env: { REDIS_URL: redis.url, OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' },
        extend: (app) => {
          // A route whose work is a Redis command and nothing else: what it throws reaches the error handler as is.
          app.post('/test/redis-counter', async () => ({ count: await app.redis?.client.incr('counter') }));
        },
      });
    });
    afterEach(() => llm.assertNoUnexpected());
    afterAll(async () => {
      await t?.close();
      await llm?.close();
      await redis?.kill();
    });

    async function withRedisDown(work: () => Promise<void>): Promise<void> {
      await redis.kill();
      await redisReady(t.app, false);
      try {
        await work();
      } finally {
        await redis.restart();
        await redisReady(t.app, true);
      }
    }

    it('an ioredis error reaching the error handler is a 503 redis_unavailable with Retry-After', async () => {
      const counter = () => t.app.inject({ method: 'POST', url: '/test/redis-counter' });
      expect((await counter()).json()).toEqual({ count: 1 });
      await withRedisDown(async () => {
        const response = await counter();
        expect(response.statusCode, response.body).toBe(503);
        expect(response.headers['retry-after']).toBe(String(DEPENDENCY_RETRY_AFTER_SECONDS));
        const requestId = response.headers['x-request-id'];
        expect(response.json()).toEqual({
          detail: 'A service the server depends on is unavailable; try again shortly',
          code: 'redis_unavailable',
          request_id: requestId,
        });
        const errors = t.logs.filter((line) => line.request_id === requestId && (line.level as number) >= 50);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatchObject({
          msg: 'request failed',
          err: { message: expect.any(String) as string },
        });
      });
      // Restarted empty (no persistence): the counter starts again, and the route answers again.
      expect((await counter()).json()).toEqual({ count: 1 });
    });

    it('no route that uses Redis answers 500 while it is down', async () => {
      const user = await register(t.app);
      const tokens = await login(t.app, user.username);
      await withRedisDown(async () => {
        llm.reply({ tokens: ['Still', ' here'] });
        const answers = {
          me: await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(tokens.access_token) }),
          chat: await t.app.inject({
            method: 'POST',
            url: '/api/v1/chat/',
            headers: bearer(tokens.access_token),
            payload: { message: 'Hello?' },
          }),
          'password reset': await t.app.inject({
            method: 'POST',
            url: '/api/v1/auth/password-reset',
            payload: { email: user.email },
          }),
          'verification mail': await t.app.inject({
            method: 'POST',
            url: '/api/v1/auth/verify-email/resend',
            headers: bearer(tokens.access_token),
          }),
          refresh: await t.app.inject({
            method: 'POST',
            url: '/api/v1/auth/refresh',
            payload: { refresh_token: tokens.refresh_token },
          }),
        };
        for (const [name, response] of Object.entries(answers)) {
          expect(response.statusCode, `${name}: ${response.body}`).toBeLessThan(500);
        }
      });
    });
  });
});
