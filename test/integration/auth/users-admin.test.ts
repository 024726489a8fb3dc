// GET /api/v1/auth/users and PATCH /api/v1/auth/users/{id}: superusers only (made here by setting the flag in the
// database; the CLI is the real way, tested in test/e2e/admin-cli.test.ts), paging, literal search, and what
// deactivating, unlocking and revoking sessions do to logins and tokens.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, register, registerAndLogin, type TestUser } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

interface Page {
  items: Record<string, unknown>[];
  total: number;
  skip: number;
  limit: number;
  has_more: boolean;
}

const ADMIN_FIELDS = [
  'account_locked_until',
  'created_at',
  'email',
  'failed_login_attempts',
  'full_name',
  'id',
  'is_active',
  'is_superuser',
  'is_verified',
  'last_login',
  'password_changed_at',
  'updated_at',
  'username',
  'verified_at',
];

describeEachDialect('users admin', (dialect) => {
  let t: TestApp;
  let adminToken: string;
  let adminId: number;
  beforeAll(async () => {
    t = await buildTestApp({ dialect });
    const admin = await register(t.app, newUser());
    await t.app.database.db
      .updateTable('users')
      .set({ is_superuser: true })
      .where('id', '=', admin.id)
      .execute();
    adminId = admin.id;
    adminToken = (await login(t.app, admin.username, admin.password)).access_token;
  });
  afterAll(() => t?.close());

  const list = (query: string, token = adminToken) =>
    t.app.inject({ method: 'GET', url: `/api/v1/auth/users${query}`, headers: bearer(token) });
  const patch = (id: number | string, payload: object, token = adminToken) =>
    t.app.inject({ method: 'PATCH', url: `/api/v1/auth/users/${id}`, payload, headers: bearer(token) });
  const tryLogin = (user: TestUser, password = user.password) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: user.username, password },
    });
  const me = (token: string) =>
    t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });
  const refresh = (token: string) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: token } });
  const tag = () => randomBytes(4).toString('hex');

  it('refuses a normal user (403) and an anonymous caller (401), on both routes', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    for (const response of [
      await list('', tokens.access_token),
      await patch(user.id, { unlock: true }, tokens.access_token),
    ]) {
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ detail: 'Not enough permissions' });
    }
    for (const response of [
      await t.app.inject({ method: 'GET', url: '/api/v1/auth/users' }),
      await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/auth/users/${user.id}`,
        payload: { unlock: true },
      }),
    ]) {
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ detail: 'Not authenticated' });
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('lists users for a superuser with the admin fields, never the password hash', async () => {
    await register(t.app, newUser());
    const response = await list('');
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json<Page>();
    const count = await t.app.database.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(page).toMatchObject({ total: Number(count.n), skip: 0, limit: 50, has_more: false });
    expect(page.items.length).toBe(page.total);
    for (const item of page.items) expect(Object.keys(item).sort()).toEqual(ADMIN_FIELDS);
    expect(page.items.find((u) => u.id === adminId)).toMatchObject({ is_superuser: true });
    expect(response.body).not.toMatch(/hashed_password|\$2[aby]\$/);
  });

  it('pages with skip and limit in id order, and refuses limit 0 or 501 and skip -1 (422)', async () => {
    const name = `Pager ${tag()}`;
    const ids: number[] = [];
    for (let i = 0; i < 5; i += 1)
      ids.push((await register(t.app, { ...newUser(), full_name: name } as TestUser)).id);
    const search = `&search=${encodeURIComponent(name)}`;

    const first = (await list(`?skip=0&limit=2${search}`)).json<Page>();
    expect(first).toMatchObject({ total: 5, skip: 0, limit: 2, has_more: true });
    expect(first.items.map((u) => u.id)).toEqual(ids.slice(0, 2));
    const middle = (await list(`?skip=2&limit=2${search}`)).json<Page>();
    expect(middle.items.map((u) => u.id)).toEqual(ids.slice(2, 4));
    expect(middle.has_more).toBe(true);
    const last = (await list(`?skip=4&limit=2${search}`)).json<Page>();
    expect(last).toMatchObject({ total: 5, skip: 4, has_more: false });
    expect(last.items.map((u) => u.id)).toEqual(ids.slice(4));
    expect((await list(`?skip=9&limit=2${search}`)).json<Page>()).toMatchObject({ items: [], total: 5 });
    expect((await list('?limit=500')).statusCode).toBe(200);

    for (const query of ['?limit=0', '?limit=501', '?skip=-1', '?limit=abc']) {
      const response = await list(query);
      expect(response.statusCode, query).toBe(422);
      expect(response.json<{ detail: { loc: unknown[] }[] }>().detail[0]?.loc[0]).toBe('query');
    }
  });

  it('searches username, email and full name case-insensitively', async () => {
    const id = tag();
    const byName = await register(t.app, newUser({ username: `Finder_${id}` }));
    const byEmail = await register(t.app, newUser({ email: `mailbox.${id}@example.org` }));
    const byFull = await register(t.app, { ...newUser(), full_name: `Grace Hopper ${id}` } as TestUser);
    const found = async (search: string) =>
      (await list(`?search=${encodeURIComponent(search)}`)).json<Page>().items.map((u) => u.id);

    expect(await found(`fINDER_${id}`)).toEqual([byName.id]);
    expect(await found(`MAILBOX.${id.toUpperCase()}@EXAMPLE`)).toEqual([byEmail.id]);
    expect(await found(`hopper ${id.toUpperCase()}`)).toEqual([byFull.id]);
    expect(await found(id)).toEqual([byName.id, byEmail.id, byFull.id]);
    expect(await found(`nobody-${tag()}`)).toEqual([]);
  });

  it('takes % and _ in the search literally', async () => {
    const id = tag();
    const plain = await register(t.app, newUser({ username: `plain${id}`, email: `plain${id}@example.com` }));
    const percent = await register(t.app, {
      ...newUser({ username: `pct${id}`, email: `pct${id}@example.com` }),
      full_name: `100% sure ${id}`,
    } as TestUser);
    const all = (await list('?limit=500')).json<Page>();
    const ids = async (search: string) =>
      (await list(`?limit=500&search=${encodeURIComponent(search)}`)).json<Page>().items.map((u) => u.id);

    const underscore = await ids('_');
    expect(underscore).not.toContain(plain.id);
    expect(underscore.length).toBeLessThan(all.total);
    expect(await ids('%')).toEqual([percent.id]);
    expect(await ids(`0% sure ${id}`)).toEqual([percent.id]);
    expect(await ids(`plain_${id}`)).toEqual([]);
  });

  it('answers a search with a NUL character or injection text with 422 or an empty page, never 500', async () => {
    expect((await list(`?search=${encodeURIComponent('a\u0000b')}`)).statusCode).toBe(422);
    const injection = await list(`?search=${encodeURIComponent("' OR 1=1 --")}`);
    expect(injection.statusCode).toBe(200);
    expect(injection.json<Page>().items).toEqual([]);
  });

  it('deactivation stops logins (403) and kills existing tokens; reactivation lets the user log in again', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    const off = await patch(user.id, { is_active: false });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json()).toMatchObject({ id: user.id, is_active: false });

    const refused = await tryLogin(user);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ detail: 'Inactive user account' });
    expect((await me(tokens.access_token)).statusCode).toBe(401);
    expect((await refresh(tokens.refresh_token)).statusCode).toBe(401);

    const on = await patch(user.id, { is_active: true });
    expect(on.json()).toMatchObject({ is_active: true });
    const again = await login(t.app, user.username, user.password);
    expect((await me(again.access_token)).statusCode).toBe(200);
    // The old session stays dead: re-activation is not a way back into it.
    expect((await me(tokens.access_token)).statusCode).toBe(401);
  });

  it('unlock clears a lockout and the failure count', async () => {
    const user = await register(t.app, newUser());
    for (let i = 0; i < 5; i += 1) await tryLogin(user, 'Wr0ng!pass');
    expect((await tryLogin(user)).statusCode).toBe(403);

    const response = await patch(user.id, { unlock: true });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ failed_login_attempts: 0, account_locked_until: null });
    expect((await tryLogin(user)).statusCode).toBe(200);
  });

  it('revoke_sessions kills the access and refresh tokens of the user but not their account', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    const other = await registerAndLogin(t.app, newUser());
    const response = await patch(user.id, { revoke_sessions: true });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ id: user.id, is_active: true });

    expect((await me(tokens.access_token)).statusCode).toBe(401);
    expect((await refresh(tokens.refresh_token)).statusCode).toBe(401);
    expect((await me(other.tokens.access_token)).statusCode).toBe(200);
    expect((await tryLogin(user)).statusCode).toBe(200);
  });

  it('answers 404 for an unknown id, 422 for "abc" or an empty body, 400 to deactivating oneself', async () => {
    const unknown = await patch(2_000_000, { unlock: true });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ detail: 'User not found' });

    const user = await register(t.app, newUser());
    for (const [id, payload] of [
      ['abc', { unlock: true }],
      [0, { unlock: true }],
      [user.id, {}],
      [user.id, { is_active: 'no' }],
      [user.id, { unlock: false }],
    ] as const) {
      const response = await patch(id, payload);
      expect(response.statusCode, `${id} ${JSON.stringify(payload)}`).toBe(422);
    }

    const self = await patch(adminId, { is_active: false });
    expect(self.statusCode).toBe(400);
    expect(self.json()).toMatchObject({ detail: 'You cannot deactivate your own account' });
    expect((await me(adminToken)).statusCode).toBe(200);
  });
});
