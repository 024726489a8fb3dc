// Authentication with REDIS_URL set does not depend on Redis: with the app's Redis killed, bearer requests still get
// their real answer (200 for a valid token, 401 for a logged-out one, never a 500), logout and refresh still work,
// and a Redis restarted empty (no persistence) does not bring logged-out tokens back. Uses a redis-server of its
// own, on a free port, never the shared one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, registerAndLogin, type TokenPair } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { OwnRedis, redisServerInstalled } from '../../helpers/redis-server.js';
import { REQUIRE_SERVICES } from '../../helpers/services.js';

const me = (app: App, token: string) =>
  app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });
const logout = (app: App, token: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(token) });
const refresh = (app: App, token: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: token } });

/** Waits (bounded) until the app's Redis client is, or is no longer, ready. */
async function redisReady(app: App, ready: boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((app.redis?.client.status === 'ready') !== ready) {
    if (Date.now() > deadline) throw new Error(`the app's Redis client did not become ready=${ready}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const installed = redisServerInstalled();
if (!installed && REQUIRE_SERVICES) throw new Error('redis-server is not installed and REQUIRE_SERVICES=1');
if (!installed)
  console.warn('\n*** redis-server is not installed: the Redis outage suites are SKIPPED. ***\n');

(installed ? describe : describe.skip)('Redis outage', () => {
  describeEachDialect('authentication while Redis is down and after it restarts empty', (dialect) => {
    let redis: OwnRedis;
    let t: TestApp;
    beforeAll(async () => {
      redis = await OwnRedis.start();
      t = await buildTestApp({ dialect, env: { REDIS_URL: redis.url } });
    });
    afterAll(async () => {
      await t.close();
      await redis.kill();
    });

    it('answers bearer requests by the token while Redis is down (200 or 401, never 500)', async () => {
      const { user, tokens: loggedOut } = await registerAndLogin(t.app, newUser());
      const kept = await login(t.app, user.username, user.password);
      expect((await logout(t.app, loggedOut.access_token)).statusCode).toBe(200);

      await redis.kill();
      await redisReady(t.app, false);
      try {
        const answers = [await me(t.app, kept.access_token), await me(t.app, loggedOut.access_token)];
        expect(
          answers.map((r) => r.statusCode),
          answers.map((r) => r.body).join('\n'),
        ).toEqual([200, 401]);
        // Ending a login and rotating a token do not need Redis either.
        const other = await login(t.app, user.username, user.password);
        expect((await logout(t.app, other.access_token)).statusCode).toBe(200);
        expect((await me(t.app, other.access_token)).statusCode).toBe(401);
        const rotated = await refresh(t.app, kept.refresh_token);
        expect(rotated.statusCode, rotated.body).toBe(200);
        expect((await me(t.app, rotated.json<TokenPair>().access_token)).statusCode).toBe(200);
      } finally {
        await redis.restart();
        await redisReady(t.app, true);
      }
    });

    it('still refuses a logged-out token after Redis restarts empty', async () => {
      const { user, tokens: loggedOut } = await registerAndLogin(t.app, newUser());
      const kept = await login(t.app, user.username, user.password);
      expect((await logout(t.app, loggedOut.access_token)).statusCode).toBe(200);
      expect((await me(t.app, loggedOut.access_token)).statusCode).toBe(401);

      await redis.kill();
      await redisReady(t.app, false);
      await redis.restart();
      await redisReady(t.app, true);
      expect((await me(t.app, loggedOut.access_token)).statusCode).toBe(401);
      expect((await me(t.app, kept.access_token)).statusCode).toBe(200);
    });
  });
});
