// POST /api/v1/auth/login: the OAuth2 password form and JSON, the answer's shape, every refusal with its status,
// message and header, email verification when required, last_login, and rehashing when the bcrypt cost changed.
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { bcryptCost } from '../../../src/modules/auth/password-hasher.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import {
  STRONG_PASSWORD,
  bearer,
  login,
  newUser,
  register,
  type RegisteredUser,
} from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const LOGIN = '/api/v1/auth/login';

const postForm = (app: App, fields: Record<string, string>) =>
  app.inject({
    method: 'POST',
    url: LOGIN,
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
const postJson = (app: App, body: unknown) =>
  app.inject({ method: 'POST', url: LOGIN, payload: body as object });

async function storedHash(t: TestApp, id: number): Promise<string> {
  const row = await t.app.database.db
    .selectFrom('users')
    .select('hashed_password')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row.hashed_password;
}

describeEachDialect('login', (dialect) => {
  let t: TestApp;
  let user: RegisteredUser;
  beforeAll(async () => {
    t = await buildTestApp({ dialect });
    user = await register(t.app, newUser({ email: `Login-${newUser().username}@Example.com` }));
  });
  afterAll(() => t.close());

  const expectTokenAnswer = (response: Awaited<ReturnType<typeof postJson>>) => {
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<Record<string, unknown>>();
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 1800 });
    expect(body.access_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(body.refresh_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(body.refresh_token).not.toBe(body.access_token);
  };

  const expectIncorrect = (response: Awaited<ReturnType<typeof postJson>>) => {
    expect(response.statusCode, response.body).toBe(401);
    expect(response.json()).toMatchObject({ detail: 'Incorrect username or password' });
    expect(response.headers['www-authenticate']).toBe('Bearer');
  };

  it('logs in with the form by username, by email, in any case', async () => {
    for (const name of [
      user.username,
      user.username.toUpperCase(),
      user.email,
      user.email.toLowerCase(),
      user.email.toUpperCase(),
    ])
      expectTokenAnswer(await postForm(t.app, { username: name, password: user.password }));
  });

  it('accepts the optional OAuth2 fields, with grant_type "password"', async () => {
    const response = await postForm(t.app, {
      grant_type: 'password',
      username: user.username,
      password: user.password,
      scope: '',
      client_id: 'web',
      client_secret: 'ignored',
    });
    expectTokenAnswer(response);
  });

  it('logs in with JSON {username, password} and {email, password}', async () => {
    expectTokenAnswer(await postJson(t.app, { username: user.username, password: user.password }));
    expectTokenAnswer(await postJson(t.app, { email: user.email.toUpperCase(), password: user.password }));
    expectTokenAnswer(await postJson(t.app, { username: user.email, password: user.password }));
  });

  it('gives tokens that work on GET /me', async () => {
    const tokens = await login(t.app, user.username);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: bearer(tokens.access_token),
    });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ id: user.id, username: user.username });
  });

  it.each(['client_credentials', 'authorization_code', 'Password', 'password ', ''])(
    'refuses grant_type %j with 422',
    async (grant_type) => {
      const response = await postForm(t.app, {
        grant_type,
        username: user.username,
        password: user.password,
      });
      expect(response.statusCode).toBe(422);
      expect(response.json<{ detail: { loc: unknown[] }[] }>().detail.map((d) => d.loc)).toContainEqual([
        'body',
        'grant_type',
      ]);
    },
  );

  it.each([
    [{ password: STRONG_PASSWORD }, 'username'],
    [{ username: 'someone' }, 'password'],
    [{ username: '', password: STRONG_PASSWORD }, 'username'],
    [{ username: 'someone', password: '' }, 'password'],
  ])('refuses a form with a missing or empty field with 422 (%#)', async (fields, field) => {
    const response = await postForm(t.app, fields);
    expect(response.statusCode).toBe(422);
    expect(response.json<{ detail: { loc: unknown[] }[] }>().detail.map((d) => d.loc)).toContainEqual([
      'body',
      field,
    ]);
  });

  it.each([
    [{ password: STRONG_PASSWORD }],
    [{ username: 'someone' }],
    [{ email: 'someone@example.com' }],
    [{}],
    [{ username: 12345, password: STRONG_PASSWORD }],
    [{ username: ['a'], password: STRONG_PASSWORD }],
    [{ username: 'someone', password: null }],
  ])('refuses JSON without a login or password, or of the wrong types, with 422 (%#)', async (body) => {
    expect((await postJson(t.app, body)).statusCode).toBe(422);
  });

  it('refuses another content type with 415, and malformed JSON with 4xx, never 500', async () => {
    for (const contentType of ['application/xml', 'multipart/form-data; boundary=x', 'text/csv']) {
      const response = await t.app.inject({
        method: 'POST',
        url: LOGIN,
        payload: `username=${user.username}&password=${user.password}`,
        headers: { 'content-type': contentType },
      });
      expect(response.statusCode, contentType).toBe(415);
    }
    const broken = await t.app.inject({
      method: 'POST',
      url: LOGIN,
      payload: '{"username": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(broken.statusCode).toBeGreaterThanOrEqual(400);
    expect(broken.statusCode).toBeLessThan(500);
  });

  it('answers a wrong password with 401 "Incorrect username or password" and WWW-Authenticate: Bearer', async () => {
    expectIncorrect(await postForm(t.app, { username: user.username, password: `${user.password}x` }));
    expectIncorrect(await postJson(t.app, { email: user.email, password: user.password.toLowerCase() }));
  });

  it('answers an unknown user exactly as a wrong password', async () => {
    const wrong = await postForm(t.app, { username: user.username, password: 'Wr0ng!Password' });
    const unknown = await postForm(t.app, { username: 'nobody_at_all', password: 'Wr0ng!Password' });
    const unknownEmail = await postJson(t.app, { email: 'nobody@example.com', password: 'Wr0ng!Password' });
    for (const response of [wrong, unknown, unknownEmail]) expectIncorrect(response);
    const strip = (body: string) => {
      const { request_id: _ignored, ...rest } = JSON.parse(body) as Record<string, unknown>;
      return rest;
    };
    expect(strip(unknown.body)).toEqual(strip(wrong.body));
    expect(strip(unknownEmail.body)).toEqual(strip(wrong.body));
  });

  it('refuses an inactive user with 403 "Inactive user account" only after the right password', async () => {
    const inactive = await register(t.app, newUser());
    await t.app.database.db
      .updateTable('users')
      .set({ is_active: false })
      .where('id', '=', inactive.id)
      .execute();
    const right = await postForm(t.app, { username: inactive.username, password: inactive.password });
    expect(right.statusCode).toBe(403);
    expect(right.json()).toMatchObject({ detail: 'Inactive user account' });
    expectIncorrect(await postForm(t.app, { username: inactive.username, password: 'Wr0ng!Password' }));
  });

  it('sets last_login on login (GET /me shows it)', async () => {
    const fresh = await register(t.app, newUser());
    const before = Date.now();
    const tokens = await login(t.app, fresh.username);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: bearer(tokens.access_token),
    });
    const lastLogin = me.json<{ last_login: string | null }>().last_login;
    expect(lastLogin).not.toBeNull();
    // The app's clock is the system clock here: the login happened after `before` (a second of rounding allowed).
    expect(new Date(lastLogin ?? 0).getTime()).toBeGreaterThanOrEqual(before - 1000);
  });

  it.each([
    "' OR '1'='1",
    "admin'--",
    '"; DROP TABLE users; --',
    '%',
    '_',
    '*',
    '\\',
    '$where',
    '{"$gt": ""}',
    '<script>alert(1)</script>',
    'ünïcødé_üser',
    '用户名',
    '😀😀😀',
    'İstanbul',
    '\ud800',
    'x'.repeat(255),
  ])('answers the login name %j with 401, never 500', async (name) => {
    expectIncorrect(await postForm(t.app, { username: name, password: 'Wr0ng!Password' }));
    expectIncorrect(await postJson(t.app, { username: name, password: 'Wr0ng!Password' }));
  });

  // PostgreSQL refuses a NUL in a text parameter: the schema turns it away first (it was a 500 there).
  it('answers a login name or password with a NUL byte with 422, never 500', async () => {
    for (const name of ['a\u0000b', '\u0000', `${user.username}\u0000`]) {
      for (const response of [
        await postForm(t.app, { username: name, password: user.password }),
        await postJson(t.app, { username: name, password: user.password }),
        await postJson(t.app, { email: name, password: user.password }),
        await postJson(t.app, { username: user.username, password: `${user.password}\u0000` }),
      ])
        expect(response.statusCode, response.body).toBe(422);
    }
  });

  it('answers huge login names and passwords with 422, never 500', async () => {
    for (const body of [
      { username: 'x'.repeat(256), password: STRONG_PASSWORD },
      { username: 'x'.repeat(100_000), password: STRONG_PASSWORD },
      { username: user.username, password: 'x'.repeat(1025) },
    ]) {
      expect((await postJson(t.app, body)).statusCode).toBe(422);
      expect((await postForm(t.app, body)).statusCode).toBe(422);
    }
  });

  it('rehashes the password when its bcrypt cost differs from BCRYPT_ROUNDS', async () => {
    const old = await register(t.app, newUser());
    // A hash made under another setting (this app hashes at cost 4).
    await t.app.database.db
      .updateTable('users')
      .set({ hashed_password: await bcrypt.hash(old.password, 5) })
      .where('id', '=', old.id)
      .execute();
    // A wrong password changes nothing.
    const cost5 = await storedHash(t, old.id);
    expectIncorrect(await postForm(t.app, { username: old.username, password: 'Wr0ng!Password' }));
    expect(await storedHash(t, old.id)).toBe(cost5);

    await login(t.app, old.username, old.password);
    const rehashed = await storedHash(t, old.id);
    expect(bcryptCost(rehashed)).toBe(4);
    expect(await bcrypt.compare(old.password, rehashed)).toBe(true);
    // The password still works, and a hash of the current cost is left alone.
    await login(t.app, old.username, old.password);
    expect(await storedHash(t, old.id)).toBe(rehashed);
  });
});
