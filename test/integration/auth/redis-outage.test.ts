// Authentication with REDIS_URL set does not depend on Redis: with the app's Redis killed, bearer requests still get
// their real answer (200 for a valid token, 401 for a logged-out one, never a 500), logout and refresh still work,
// and a Redis restarted empty (no persistence) does not bring logged-out tokens back. Uses a redis-server of its
// own, on a free port, never the shared one.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, registerAndLogin, type TokenPair } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { OwnRedis, describeWithOwnRedis, redisReady } from '../../helpers/redis-server.js';

const me = (app: App, token: string) =>
  app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });
const logout = (app: App, token: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(token) });
const refresh = (app: App, token: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: token } });

describeWithOwnRedis('Redis outage', () => {
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
