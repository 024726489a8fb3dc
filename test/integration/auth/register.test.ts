// POST /api/v1/auth/register: the original's shape and status codes, its password policy and messages, with its
// defects fixed (client-sent privilege flags, HTML usernames, 500 on concurrent duplicates).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { newUser, register } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

describeEachDialect('register', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect });
  });
  afterAll(() => t.close());

  const post = (payload: unknown) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: payload as object });

  it('creates the user and answers 201 with the public fields only', async () => {
    const user = newUser({ email: 'Mixed.Case@Example.COM' });
    const response = await post({ ...user, full_name: 'Ada Lovelace' });
    expect(response.statusCode).toBe(201);
    const body = response.json<Record<string, unknown>>();
    expect(Object.keys(body).sort()).toEqual(
      [
        'created_at',
        'email',
        'full_name',
        'id',
        'is_active',
        'is_superuser',
        'is_verified',
        'last_login',
        'updated_at',
        'username',
      ].sort(),
    );
    expect(body).toMatchObject({
      email: 'mixed.case@example.com',
      username: user.username,
      full_name: 'Ada Lovelace',
      is_active: true,
      is_superuser: false,
      is_verified: false,
      last_login: null,
    });
    expect(new Date(body.created_at as string).getTime()).not.toBeNaN();
  });

  it('ignores client-sent is_superuser, is_active and is_verified', async () => {
    const response = await post({ ...newUser(), is_superuser: true, is_active: false, is_verified: true });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ is_superuser: false, is_active: true, is_verified: false });
  });

  it.each([
    ['ab', 'too short'],
    ['a'.repeat(33), 'too long'],
    ['<script>alert(1)</script>', 'HTML'],
    ['with space', 'a space'],
    ['tab\there', 'a control character'],
    ['emoji😀x', 'an emoji'],
    ["robert');drop", 'SQL'],
    ['a@b.com', 'an @'],
  ])('refuses the username %j (%s) with 422', async (username) => {
    const response = await post({ ...newUser(), username });
    expect(response.statusCode).toBe(422);
    expect(response.json<{ detail: { loc: unknown[] }[] }>().detail[0]?.loc).toEqual(['body', 'username']);
  });

  it.each([['not-an-email'], ['a@'], ['@b.com'], [''], [`${'x'.repeat(250)}@example.com`]])(
    'refuses the email %j with 422',
    async (email) => {
      const response = await post({ ...newUser(), email });
      expect(response.statusCode).toBe(422);
    },
  );

  it.each([
    [{ email: 'x@example.com', password: 'Str0ng!Pass' }, 'username'],
    [{ username: 'someone', password: 'Str0ng!Pass' }, 'email'],
    [{ username: 'someone', email: 'x@example.com' }, 'password'],
    [{ ...newUser(), username: 12345 }, 'username'],
    [{ ...newUser(), password: ['Str0ng!Pass'] }, 'password'],
    [{ ...newUser(), full_name: 'two\nlines' }, 'full_name'],
  ])('refuses a missing or mistyped field with 422 (%#)', async (payload, field) => {
    const response = await post(payload);
    expect(response.statusCode).toBe(422);
    expect(response.json<{ detail: { loc: unknown[] }[] }>().detail.map((d) => d.loc)).toContainEqual([
      'body',
      field,
    ]);
  });

  it('answers 422 for a password under 8 or over 100 characters, as the original', async () => {
    expect((await post({ ...newUser(), password: 'Sh0rt!' })).statusCode).toBe(422);
    expect((await post({ ...newUser(), password: `Aa1!${'x'.repeat(97)}` })).statusCode).toBe(422);
  });

  it.each([
    ['alllowercase1!', 'Password must contain at least one uppercase letter'],
    ['ALLUPPERCASE1!', 'Password must contain at least one lowercase letter'],
    ['NoDigitsHere!', 'Password must contain at least one digit'],
    ['NoSpecial123', 'Password must contain at least one special character'],
    ['Under_score1', 'Password must contain at least one special character'],
    [`Aa1!${'é'.repeat(35)}`, 'Password must be no more than 72 bytes in UTF-8 (bcrypt ignores the rest)'],
  ])('refuses the weak password %j with 400 and the original message', async (password, message) => {
    const response = await post({ ...newUser(), password });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ detail: message, code: 'weak_password' });
  });

  it('accepts a unicode password of up to 72 bytes and logs in with it', async () => {
    const password = 'Pässwörd1!ÄÖÜ';
    const user = await register(t.app, newUser({ password }));
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: user.username, password },
    });
    expect(login.statusCode).toBe(200);
  });

  it('refuses a taken email (in any case) and a taken username (in any case) with 400', async () => {
    const user = await register(t.app, newUser());
    const sameEmail = await post(newUser({ email: user.email.toUpperCase() }));
    expect(sameEmail.statusCode).toBe(400);
    expect(sameEmail.json()).toMatchObject({ detail: 'Email already registered' });
    const sameName = await post(newUser({ username: user.username.toUpperCase() }));
    expect(sameName.statusCode).toBe(400);
    expect(sameName.json()).toMatchObject({ detail: 'Username already taken' });
    const both = await post({ ...newUser(), email: user.email, username: user.username });
    expect(both.json()).toMatchObject({ detail: 'Email already registered' });
  });

  it('gives one 201 and four 400s to five parallel registrations of one username, never a 500', async () => {
    const username = newUser().username;
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(newUser({ username }))));
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes).toEqual([201, 400, 400, 400, 400]);
    for (const answer of answers.filter((a) => a.statusCode === 400))
      expect(answer.json()).toMatchObject({ detail: 'Username already taken' });
  });

  it('gives one 201 to five parallel registrations of one email', async () => {
    const email = newUser().email;
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(newUser({ email }))));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([201, 400, 400, 400, 400]);
  });

  it('answers 413 to a huge body and 415 to XML', async () => {
    expect((await post({ ...newUser(), full_name: 'x'.repeat(2 * 1024 * 1024) })).statusCode).toBe(413);
    const form = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: '<username>a</username>',
      headers: { 'content-type': 'application/xml' },
    });
    expect(form.statusCode).toBe(415);
  });

  it('stores injection strings in the full name as text, unchanged', async () => {
    const fullName = "'; DROP TABLE users; -- <img src=x onerror=alert(1)>";
    const response = await post({ ...newUser(), full_name: fullName });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ full_name: fullName });
  });
});
