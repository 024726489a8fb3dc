// Sessions: refresh-token rotation with reuse detection (a replayed token kills its whole family), concurrent
// refreshes, and logout of one session or of every device; the access-token denylist on the database and on Redis.
import { decodeJwt } from 'jose';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import type { Dialect } from '../../../src/config.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import {
  bearer,
  login,
  newUser,
  registerAndLogin,
  type RegisteredUser,
  type TokenPair,
} from '../../helpers/auth.js';
import { describeEachDialect, describeWithRedis } from '../../helpers/dialects.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';

const refresh = (app: App, refreshToken: unknown) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refresh_token: refreshToken } as object,
  });

const me = (app: App, accessToken: string) =>
  app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(accessToken) });

const logout = (app: App, accessToken: string, body?: unknown) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/logout',
    headers: bearer(accessToken),
    ...(body === undefined ? {} : { payload: body as object }),
  });

async function refreshed(app: App, refreshToken: string): Promise<TokenPair> {
  const response = await refresh(app, refreshToken);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<TokenPair>();
}

/** Whether both tokens of a pair still work: the access token on /me, the refresh token on /refresh (spent). */
async function sessionWorks(app: App, pair: TokenPair): Promise<{ access: number; refresh: number }> {
  return {
    access: (await me(app, pair.access_token)).statusCode,
    refresh: (await refresh(app, pair.refresh_token)).statusCode,
  };
}

const setActive = (t: TestApp, id: number, is_active: boolean) =>
  t.app.database.db.updateTable('users').set({ is_active }).where('id', '=', id).execute();

describeEachDialect('refresh', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect });
  });
  afterAll(() => t.close());

  it('exchanges a refresh token for a new pair, and the old one then answers 401', async () => {
    const { user, tokens: a } = await registerAndLogin(t.app, newUser());
    const b = await refreshed(t.app, a.refresh_token);
    expect(b).toMatchObject({ token_type: 'bearer', expires_in: 1800 });
    expect(b.refresh_token).not.toBe(a.refresh_token);
    expect(b.access_token).not.toBe(a.access_token);
    expect(decodeJwt(b.access_token)).toMatchObject({ sub: user.username, user_id: user.id, type: 'access' });
    expect((await me(t.app, b.access_token)).statusCode).toBe(200);
    const again = await refresh(t.app, a.refresh_token);
    expect(again.statusCode).toBe(401);
    expect(again.headers['www-authenticate']).toBe('Bearer');
  });

  it('revokes the whole family when a rotated token is presented again, and only that family', async () => {
    const { user, tokens: a } = await registerAndLogin(t.app, newUser());
    const other = await login(t.app, user.username, user.password);
    const b = await refreshed(t.app, a.refresh_token);
    const c = await refreshed(t.app, b.refresh_token);
    // A (long rotated) comes back: a thief or a replay. The family dies, C included.
    expect((await refresh(t.app, a.refresh_token)).statusCode).toBe(401);
    expect((await refresh(t.app, c.refresh_token)).statusCode).toBe(401);
    expect((await refresh(t.app, b.refresh_token)).statusCode).toBe(401);
    // The second login's family is untouched.
    const otherNext = await refreshed(t.app, other.refresh_token);
    expect((await me(t.app, otherNext.access_token)).statusCode).toBe(200);
    expect((await refresh(t.app, otherNext.refresh_token)).statusCode).toBe(200);
  });

  it('detects reuse of the token just rotated (A→B, A again kills B)', async () => {
    const { tokens: a } = await registerAndLogin(t.app, newUser());
    const b = await refreshed(t.app, a.refresh_token);
    expect((await refresh(t.app, a.refresh_token)).statusCode).toBe(401);
    expect((await refresh(t.app, b.refresh_token)).statusCode).toBe(401);
  });

  it('gives exactly one 200 to two concurrent refreshes with the same token', async () => {
    const { tokens } = await registerAndLogin(t.app, newUser());
    const answers = await Promise.all([
      refresh(t.app, tokens.refresh_token),
      refresh(t.app, tokens.refresh_token),
    ]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 401]);
  });

  it('gives exactly one 200 to five concurrent refreshes with the same token, never a 500', async () => {
    const { tokens } = await registerAndLogin(t.app, newUser());
    const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(t.app, tokens.refresh_token)));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 401, 401, 401, 401]);
  });

  it('refuses an access token as a refresh token', async () => {
    const { tokens } = await registerAndLogin(t.app, newUser());
    expect((await refresh(t.app, tokens.access_token)).statusCode).toBe(401);
    // And the real refresh token still works: the refusal revoked nothing.
    expect((await refresh(t.app, tokens.refresh_token)).statusCode).toBe(200);
  });

  it.each(['garbage', 'a.b.c', 'x'.repeat(4096)])('refuses the refresh token %j with 401', async (token) => {
    expect((await refresh(t.app, token)).statusCode).toBe(401);
  });

  it('refuses a missing or mistyped refresh_token with 422', async () => {
    for (const payload of [
      {},
      { refresh_token: '' },
      { refresh_token: 123 },
      { refresh_token: null },
      { token: 'x' },
    ]) {
      const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(422);
    }
    expect((await refresh(t.app, 'x'.repeat(4097))).statusCode).toBe(422);
    const noBody = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh' });
    expect([400, 422]).toContain(noBody.statusCode);
  });

  it('refuses the refresh token of a deactivated user', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    await setActive(t, user.id, false);
    expect((await refresh(t.app, tokens.refresh_token)).statusCode).toBe(401);
    // Reactivated, the token was not spent by the refusal.
    await setActive(t, user.id, true);
    expect((await refresh(t.app, tokens.refresh_token)).statusCode).toBe(200);
  });

  it('refuses the refresh token of a deleted user', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    await t.app.database.db.deleteFrom('users').where('id', '=', user.id).execute();
    expect((await refresh(t.app, tokens.refresh_token)).statusCode).toBe(401);
  });
});

/** The logout suite; on Redis it also checks that the denylist lives there. */
function logoutSuite(dialect: Dialect, redis?: { prefix: string; admin: () => Redis }) {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      dialect,
      ...(redis ? { env: { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redis.prefix } } : {}),
    });
  });
  afterAll(() => t.close());

  const twoSessions = async (): Promise<{ user: RegisteredUser; first: TokenPair; second: TokenPair }> => {
    const { user, tokens: first } = await registerAndLogin(t.app, newUser());
    return { user, first, second: await login(t.app, user.username, user.password) };
  };

  it.each([
    ['no body', undefined],
    ['{}', {}],
    ['{"all_devices": false}', { all_devices: false }],
  ])('logs out this session only, with %s', async (_name, body) => {
    const { first, second } = await twoSessions();
    const response = await logout(t.app, first.access_token, body);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ message: 'Successfully logged out' });
    const meAfter = await me(t.app, first.access_token);
    expect(meAfter.statusCode).toBe(401);
    expect(meAfter.json()).toMatchObject({ detail: 'Could not validate credentials' });
    expect((await refresh(t.app, first.refresh_token)).statusCode).toBe(401);
    expect(await sessionWorks(t.app, second)).toEqual({ access: 200, refresh: 200 });
  });

  it('ends the refresh tokens rotated from the session too', async () => {
    const { tokens: a } = await registerAndLogin(t.app, newUser());
    const b = await refreshed(t.app, a.refresh_token);
    expect((await logout(t.app, b.access_token)).statusCode).toBe(200);
    expect((await refresh(t.app, b.refresh_token)).statusCode).toBe(401);
  });

  it('logs out every device with {"all_devices": true}', async () => {
    const { user, first, second } = await twoSessions();
    const third = await refreshed(t.app, (await login(t.app, user.username, user.password)).refresh_token);
    const response = await logout(t.app, first.access_token, { all_devices: true });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ message: 'Successfully logged out' });
    for (const pair of [first, second, third])
      expect(await sessionWorks(t.app, pair)).toEqual({ access: 401, refresh: 401 });
    // A new login starts a working session.
    expect(await sessionWorks(t.app, await login(t.app, user.username, user.password))).toEqual({
      access: 200,
      refresh: 200,
    });
  });

  it('leaves other users alone on all_devices', async () => {
    const { first } = await twoSessions();
    const { tokens: stranger } = await registerAndLogin(t.app, newUser());
    expect((await logout(t.app, first.access_token, { all_devices: true })).statusCode).toBe(200);
    expect(await sessionWorks(t.app, stranger)).toEqual({ access: 200, refresh: 200 });
  });

  it.each([[{ all_devices: 'yes' }], [{ all_devices: 1 }], [{ all_devices: null }]])(
    'refuses %j with 422 and logs nothing out',
    async (body) => {
      const { first } = await twoSessions();
      expect((await logout(t.app, first.access_token, body)).statusCode).toBe(422);
      expect((await me(t.app, first.access_token)).statusCode).toBe(200);
    },
  );

  it('answers logout without a bearer token with 401 "Not authenticated"', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: {} });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ detail: 'Not authenticated' });
    expect(response.headers['www-authenticate']).toBe('Bearer');
  });

  it('answers a second logout with the same access token with 401', async () => {
    const { first } = await twoSessions();
    expect((await logout(t.app, first.access_token)).statusCode).toBe(200);
    expect((await logout(t.app, first.access_token)).statusCode).toBe(401);
  });

  it(`keeps the revoked jti in ${redis ? 'Redis (under REDIS_KEY_PREFIX)' : 'the database'}`, async () => {
    const { first } = await twoSessions();
    const jti = decodeJwt(first.access_token).jti ?? '';
    expect((await logout(t.app, first.access_token)).statusCode).toBe(200);
    const rows = await t.app.database.db
      .selectFrom('revoked_access_tokens')
      .select('jti')
      .where('jti', '=', jti)
      .execute();
    if (!redis) {
      expect(rows).toHaveLength(1);
      return;
    }
    expect(rows).toHaveLength(0);
    const key = `${redis.prefix}revoked-jti:${jti}`;
    expect(await redis.admin().exists(key)).toBe(1);
    const ttl = await redis.admin().pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1800_000);
    // Nothing was written without the prefix.
    expect(await redis.admin().exists(`revoked-jti:${jti}`)).toBe(0);
  });
}

describeEachDialect('logout', (dialect) => logoutSuite(dialect));

describeWithRedis('logout with the denylist on Redis (sqlite)', () => {
  const prefix = `sutazai-test:${randomUUID()}:`;
  let admin: Redis;
  beforeAll(async () => {
    admin = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    await admin.connect();
  });
  afterAll(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });
  logoutSuite('sqlite', { prefix, admin: () => admin });
});
