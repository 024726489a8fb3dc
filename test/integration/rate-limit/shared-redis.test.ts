// Two app instances on one real Redis, on the real clock (the Lua script reads Redis's TIME): one budget per user,
// exact, whichever instance a request reaches.
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeWithRedis } from '../../helpers/dialects.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';

describeWithRedis('rate limits shared by two instances', () => {
  const prefix = `sutazai-test:${randomUUID()}:`;
  let one: TestApp;
  let two: TestApp;
  beforeAll(async () => {
    // The second instance works on the first one's database, as instances behind a load balancer do.
    one = await buildTestApp({
      env: {
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        RATE_LIMIT_PER_MINUTE: '100',
        RATE_LIMIT_BURST: '0',
      },
    });
    two = await buildTestApp({
      databaseUrl: () => one.config.db.url,
      env: {
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        RATE_LIMIT_PER_MINUTE: '100',
        RATE_LIMIT_BURST: '0',
      },
    });
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
  });

  it('admits exactly 100 of 300 requests of one user sent alternately to both within a minute', async () => {
    const { tokens } = await registerAndLogin(one.app);
    const answers: LightMyRequestResponse[] = [];
    for (let i = 0; i < 300; i++) {
      const app = i % 2 === 0 ? one.app : two.app;
      answers.push(
        await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(tokens.access_token) }),
      );
    }
    const count = (status: number) => answers.filter((a) => a.statusCode === status).length;
    expect({ 200: count(200), 429: count(429) }).toEqual({ 200: 100, 429: 200 });
    // The last admitted answer of each instance saw the shared count.
    const remaining = answers
      .filter((a) => a.statusCode === 200)
      .map((a) => a.headers['x-ratelimit-remaining']);
    expect(remaining.at(-1)).toBe('0');
  });

  it('admits exactly 100 of 300 sent at once, half to each instance', async () => {
    const { tokens } = await registerAndLogin(one.app);
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        (i % 2 === 0 ? one.app : two.app).inject({
          method: 'GET',
          url: '/api/v1/auth/me',
          headers: bearer(tokens.access_token),
        }),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(100);
    expect(answers.filter((a) => a.statusCode >= 500)).toHaveLength(0);
  });
});
