// Sessions: refresh-token rotation with reuse detection (a replayed token ends its whole login, access tokens
// included), concurrent refreshes, and logout of one session (every access token of it) or of every device; ended
// logins are kept in the database, with or without Redis.
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

  it('ends the whole login on reuse: after 10 parallel refreshes with one token, every access token of it is 401', async () => {
    const { user, tokens: original } = await registerAndLogin(t.app, newUser());
    const other = await login(t.app, user.username, user.password);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => refresh(t.app, original.refresh_token)),
    );
    const codes = answers.map((a) => a.statusCode);
    expect(
      codes.filter((c) => c === 200),
      JSON.stringify(codes),
    ).toHaveLength(1);
    expect(codes.filter((c) => c === 401)).toHaveLength(9);
    const winner = answers.find((a) => a.statusCode === 200)?.json<TokenPair>();
    if (!winner) throw new Error('no winner');
    expect((await me(t.app, winner.access_token)).statusCode).toBe(401);
    expect((await me(t.app, original.access_token)).statusCode).toBe(401);
    expect((await refresh(t.app, winner.refresh_token)).statusCode).toBe(401);
    // The same user's other login is another session: untouched.
    expect(await sessionWorks(t.app, other)).toEqual({ access: 200, refresh: 200 });
  });

  it('ends the access tokens of the login when a long-rotated refresh token comes back', async () => {
    const { tokens: a } = await registerAndLogin(t.app, newUser());
    const b = await refreshed(t.app, a.refresh_token);
    const c = await refreshed(t.app, b.refresh_token);
    expect((await me(t.app, c.access_token)).statusCode).toBe(200);
    expect((await refresh(t.app, a.refresh_token)).statusCode).toBe(401);
    for (const pair of [a, b, c]) expect((await me(t.app, pair.access_token)).statusCode).toBe(401);
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

  it('ends every access token of the session, the older ones too, and no other session', async () => {
    const { first, second } = await twoSessions();
    const b = await refreshed(t.app, first.refresh_token);
    const c = await refreshed(t.app, b.refresh_token);
    expect((await me(t.app, first.access_token)).statusCode).toBe(200);
    // Log out with the middle token: those issued before and after it in the same login end with it.
    expect((await logout(t.app, b.access_token)).statusCode).toBe(200);
    for (const pair of [first, b, c]) expect((await me(t.app, pair.access_token)).statusCode).toBe(401);
    expect((await refresh(t.app, c.refresh_token)).statusCode).toBe(401);
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

  it(`keeps the ended login in the database${redis ? ', not in Redis' : ''}, until its access tokens expire`, async () => {
    const { first } = await twoSessions();
    const sid = String(decodeJwt(first.access_token).sid);
    const before = Date.now();
    expect((await logout(t.app, first.access_token)).statusCode).toBe(200);
    const rows = await t.app.database.db
      .selectFrom('revoked_sessions')
      .selectAll()
      .where('session_id', '=', sid)
      .execute();
    expect(rows).toHaveLength(1);
    // The access-token lifetime (30 minutes) and twice the clock skew (a minute each way).
    const until = new Date(rows[0]?.expires_at ?? 0).getTime();
    expect(until).toBeGreaterThanOrEqual(before + 32 * 60_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 32 * 60_000);
    if (redis) expect(await redis.admin().keys(`${redis.prefix}*${sid}*`)).toEqual([]);
  });
}

describeEachDialect('logout', (dialect) => logoutSuite(dialect));

describeWithRedis('logout with Redis configured (sqlite)', () => {
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
