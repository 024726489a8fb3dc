// Account lockout with an injected clock: the 5th consecutive failure locks for 30 minutes; while locked every
// attempt gets 403 without extending the lock; the count resets on success and when a lock expires (the original
// never reset it); LOCKOUT_THRESHOLD and LOCKOUT_MINUTES are honoured; a name no account has locks exactly like
// one that does (same answers), without touching any account; metrics count it. Parallel attempts:
// lockout-parallel.test.ts.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, register, type RegisteredUser } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const MINUTE = 60_000;
const WRONG = 'Wr0ng!Password';
const LOCKED_30 = 'Account locked due to multiple failed login attempts. Try again in 30 minutes.';

const attempt = (app: App, username: string, password: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: new URLSearchParams({ username, password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });

/** Status codes of `count` wrong-password attempts, one after another. */
async function fail(app: App, username: string, count: number): Promise<number[]> {
  const codes: number[] = [];
  for (let i = 0; i < count; i++) codes.push((await attempt(app, username, WRONG)).statusCode);
  return codes;
}

/** The lockout row of a login name (an account's is under its lowercased username); none is a clean slate. */
async function lockState(t: TestApp, name: string) {
  const row = await t.app.database.db
    .selectFrom('login_locks')
    .select(['failed_attempts', 'locked_until'])
    .where('login_key', '=', name.toLowerCase())
    .executeTakeFirst();
  return row ?? { failed_attempts: 0, locked_until: null };
}

/** The value of one Prometheus sample in the text of GET /metrics (0 when the series does not exist yet). */
async function metric(app: App, name: string, labels = ''): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const series = labels ? `${name}{${labels}}` : name;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describeEachDialect('lockout', (dialect) => {
  const clock = new ManualClock(new Date('2030-06-01T12:00:00.000Z'));
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, clock });
  });
  afterAll(() => t.close());

  const fresh = () => register(t.app, newUser());

  /** What a client sees of `count` wrong-password attempts: status, body and headers, less the request's own id. */
  async function answers(name: string, count: number) {
    const seen = [];
    for (let i = 0; i < count; i++) {
      const answer = await attempt(t.app, name, WRONG);
      const { request_id: _id, ...body } = answer.json<Record<string, unknown>>();
      const { 'x-request-id': _rid, date: _date, ...headers } = answer.headers;
      seen.push({ statusCode: answer.statusCode, body, headers });
    }
    return seen;
  }

  it('answers 401 to four wrong passwords and locks on the fifth with 403 and Retry-After', async () => {
    const user = await fresh();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await attempt(t.app, user.username, WRONG));
    for (const answer of answers) {
      expect(answer.statusCode).toBe(401);
      expect(answer.json()).toMatchObject({ detail: 'Incorrect username or password' });
    }
    const fifth = await attempt(t.app, user.username, WRONG);
    expect(fifth.statusCode).toBe(403);
    expect(fifth.json()).toMatchObject({ detail: LOCKED_30, code: 'account_locked' });
    expect(fifth.headers['retry-after']).toBe('1800');
    expect((await lockState(t, user.username)).locked_until).not.toBeNull();
  });

  it('counts failures by username and by email alike', async () => {
    const user = await fresh();
    await fail(t.app, user.username, 2);
    await fail(t.app, user.email.toUpperCase(), 2);
    expect((await attempt(t.app, user.email, WRONG)).statusCode).toBe(403);
  });

  it('refuses the right and a wrong password while locked, without extending the lock', async () => {
    const user = await fresh();
    expect(await fail(t.app, user.username, 5)).toEqual([401, 401, 401, 401, 403]);
    const locked = await lockState(t, user.username);

    const right = await attempt(t.app, user.username, user.password);
    expect(right.statusCode).toBe(403);
    expect(right.json()).toMatchObject({ detail: LOCKED_30 });

    clock.advance(20 * MINUTE);
    const wrong = await attempt(t.app, user.username, WRONG);
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json()).toMatchObject({ code: 'account_locked' });
    // What is left of the lock, not a fresh 30 minutes.
    expect(wrong.headers['retry-after']).toBe('600');
    expect(await lockState(t, user.username)).toEqual(locked);

    clock.advance(9 * MINUTE);
    expect((await attempt(t.app, user.username, user.password)).statusCode).toBe(403);
    clock.advance(1 * MINUTE);
    expect((await attempt(t.app, user.username, user.password)).statusCode).toBe(200);
    expect(await lockState(t, user.username)).toMatchObject({
      failed_attempts: 0,
      locked_until: null,
    });
  });

  it('resets the count on a successful login', async () => {
    const user = await fresh();
    expect(await fail(t.app, user.username, 4)).toEqual([401, 401, 401, 401]);
    expect((await attempt(t.app, user.username, user.password)).statusCode).toBe(200);
    expect((await lockState(t, user.username)).failed_attempts).toBe(0);
    expect(await fail(t.app, user.username, 4)).toEqual([401, 401, 401, 401]);
    // Counting goes on from there: the next failure is the fifth in a row.
    expect(await fail(t.app, user.username, 1)).toEqual([403]);
  });

  it('resets the count when a lock expires, so one more mistake does not re-lock', async () => {
    const user = await fresh();
    expect(await fail(t.app, user.username, 5)).toEqual([401, 401, 401, 401, 403]);
    clock.advance(31 * MINUTE);
    const after = await attempt(t.app, user.username, WRONG);
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ detail: 'Incorrect username or password' });
    expect(await lockState(t, user.username)).toMatchObject({
      failed_attempts: 1,
      locked_until: null,
    });
    expect(await fail(t.app, user.username, 4)).toEqual([401, 401, 401, 403]);
  });

  it('locks a name no account has exactly like an account: same answers, same lock, no account touched', async () => {
    const bystander = await fresh();
    const known = await fresh();
    const users = await t.app.database.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    // Names around the bystander's, so a lock leaking onto its row would show.
    for (const unknown of [`${bystander.username}x`, `x${bystander.email}`]) {
      const knownAnswers = await answers(known.username, 6);
      const unknownAnswers = await answers(unknown, 6);
      expect(unknownAnswers.map((a) => a.statusCode)).toEqual([401, 401, 401, 401, 403, 403]);
      expect(unknownAnswers).toEqual(knownAnswers);
      clock.advance(30 * MINUTE);
      // The lock runs out for both at the same moment, and the count starts again.
      expect((await attempt(t.app, unknown, WRONG)).statusCode).toBe(401);
      expect((await attempt(t.app, known.username, known.password)).statusCode).toBe(200);
    }
    const usersAfter = await t.app.database.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(usersAfter.n)).toBe(Number(users.n));
    expect(await lockState(t, bystander.username)).toMatchObject({
      failed_attempts: 0,
      locked_until: null,
    });
    expect((await attempt(t.app, bystander.username, bystander.password)).statusCode).toBe(200);
  });

  it('shows superusers the lock of an account, and their unlock lifts it', async () => {
    const admin = await fresh();
    await t.app.database.db
      .updateTable('users')
      .set({ is_superuser: true })
      .where('id', '=', admin.id)
      .execute();
    const token = (await login(t.app, admin.username, admin.password)).access_token;
    const user = await fresh();
    // Through the email: the lock is the account's, shown on its row.
    await fail(t.app, user.email, 5);
    const page = await t.app.inject({
      method: 'GET',
      url: `/api/v1/auth/users?search=${user.username}`,
      headers: bearer(token),
    });
    const lockedUntil = new Date(clock.now().getTime() + 30 * MINUTE).toISOString();
    expect(page.json<{ items: unknown[] }>().items).toEqual([
      expect.objectContaining({ id: user.id, failed_login_attempts: 5, account_locked_until: lockedUntil }),
    ]);

    const unlocked = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/auth/users/${user.id}`,
      payload: { unlock: true },
      headers: bearer(token),
    });
    expect(unlocked.json()).toMatchObject({ failed_login_attempts: 0, account_locked_until: null });
    expect((await attempt(t.app, user.username, user.password)).statusCode).toBe(200);
  });

  it('keeps one account locked without touching another', async () => {
    const [locked, other] = [await fresh(), await fresh()];
    await fail(t.app, locked.username, 5);
    expect((await attempt(t.app, other.username, other.password)).statusCode).toBe(200);
    expect((await attempt(t.app, locked.username, locked.password)).statusCode).toBe(403);
  });

  it('counts lockouts and locked attempts on GET /metrics', async () => {
    const user = await fresh();
    const lockouts = await metric(t.app, 'auth_lockouts_total');
    const lockedAttempts = await metric(t.app, 'auth_login_attempts_total', 'result="locked"');
    const failures = await metric(t.app, 'auth_login_attempts_total', 'result="invalid_credentials"');
    await fail(t.app, user.username, 5);
    expect((await attempt(t.app, user.username, user.password)).statusCode).toBe(403);
    expect(await metric(t.app, 'auth_lockouts_total')).toBe(lockouts + 1);
    // The attempt that locked, and the one refused while locked.
    expect(await metric(t.app, 'auth_login_attempts_total', 'result="locked"')).toBe(lockedAttempts + 2);
    expect(await metric(t.app, 'auth_login_attempts_total', 'result="invalid_credentials"')).toBe(
      failures + 4,
    );
  });
});

describeEachDialect('lockout with LOCKOUT_THRESHOLD=3 and LOCKOUT_MINUTES=10', (dialect) => {
  const clock = new ManualClock(new Date('2030-06-01T12:00:00.000Z'));
  let t: TestApp;
  let user: RegisteredUser;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, clock, env: { LOCKOUT_THRESHOLD: '3', LOCKOUT_MINUTES: '10' } });
    user = await register(t.app, newUser());
  });
  afterAll(() => t.close());

  it('locks on the third failure for ten minutes', async () => {
    expect(await fail(t.app, user.username, 2)).toEqual([401, 401]);
    const third = await attempt(t.app, user.username, WRONG);
    expect(third.statusCode).toBe(403);
    expect(third.json()).toMatchObject({
      detail: 'Account locked due to multiple failed login attempts. Try again in 10 minutes.',
    });
    expect(third.headers['retry-after']).toBe('600');

    clock.advance(9 * MINUTE);
    expect((await attempt(t.app, user.username, user.password)).statusCode).toBe(403);
    clock.advance(1 * MINUTE);
    expect((await attempt(t.app, user.username, user.password)).statusCode).toBe(200);
  });
});
