// The lockout under parallel attempts (issue 9, item 2): many wrong passwords and then the right one, all in flight
// at once with a bcrypt cost high enough that the hashes overlap. Exactly LOCKOUT_THRESHOLD passwords are checked
// (the rest are refused before bcrypt), the right password arriving behind them is 403 and does not unlock, and the
// name stays locked until the lock runs out. Also with two instances on one PostgreSQL database and one Redis.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { buildApp, type App } from '../../../src/app.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { newUser, register, type RegisteredUser } from '../../helpers/auth.js';
import { describeEachDialect, describePostgres, describeWithRedis } from '../../helpers/dialects.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';

const MINUTE = 60_000;
const WRONG = 'Wr0ng!Password';
const THRESHOLD = 5;
const WRONG_ATTEMPTS = 40;
// Cost 10 (the other tests use 4): each check takes long enough that all of them are in flight together.
const ENV = { BCRYPT_ROUNDS: '10', LOCKOUT_THRESHOLD: String(THRESHOLD), LOCKOUT_MINUTES: '30' };
const START = new Date('2030-06-01T12:00:00.000Z');

const attempt = (app: App, username: string, password: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: new URLSearchParams({ username, password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });

/** The value of one Prometheus sample in the text of GET /metrics (0 when the series does not exist yet). */
async function metric(app: App, name: string, labels = ''): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const series = labels ? `${name}{${labels}}` : name;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/**
 * Passwords compared with bcrypt on these instances, counted two ways: as the hashes themselves
 * (auth_password_checks_total) and as their outcomes (a failure, the lockout it causes, or a success).
 */
async function passwordChecks(apps: App[]): Promise<{ compared: number; judged: number }> {
  const checks = { compared: 0, judged: 0 };
  for (const app of apps) {
    checks.compared += await metric(app, 'auth_password_checks_total');
    checks.judged += await metric(app, 'auth_login_attempts_total', 'result="invalid_credentials"');
    checks.judged += await metric(app, 'auth_lockouts_total');
    checks.judged += await metric(app, 'auth_login_attempts_total', 'result="success"');
  }
  return checks;
}

const THRESHOLD_CHECKS = { compared: THRESHOLD, judged: THRESHOLD };

async function checksSince(apps: App[], before: { compared: number; judged: number }) {
  const after = await passwordChecks(apps);
  return { compared: after.compared - before.compared, judged: after.judged - before.judged };
}

/**
 * WRONG_ATTEMPTS wrong passwords spread over `apps`, then the right one, all sent at once. The right one is sent
 * last: by then THRESHOLD checks are reserved, so it is judged only if it could overtake them all.
 */
async function burst(apps: App[], user: RegisteredUser) {
  const wrong = Array.from({ length: WRONG_ATTEMPTS }, (_, i) =>
    attempt(apps[i % apps.length] as App, i % 2 ? user.email.toUpperCase() : user.username, WRONG),
  );
  const right = attempt(apps[WRONG_ATTEMPTS % apps.length] as App, user.username, user.password);
  const answers = await Promise.all([...wrong, right]);
  const count = (status: number) => answers.filter((a) => a.statusCode === status).length;
  return { counts: { 401: count(401), 403: count(403), 200: count(200) }, right: answers.at(-1) };
}

async function expectLockedOut(apps: App[], user: RegisteredUser, clock: ManualClock) {
  for (const app of apps) {
    const later = await attempt(app, user.username, user.password);
    expect(later.statusCode).toBe(403);
    expect(later.json()).toMatchObject({ code: 'account_locked' });
  }
  clock.advance(29 * MINUTE);
  for (const app of apps) expect((await attempt(app, user.username, user.password)).statusCode).toBe(403);
  clock.advance(1 * MINUTE);
  expect((await attempt(apps.at(-1) as App, user.username, user.password)).statusCode).toBe(200);
}

describeEachDialect('lockout under parallel attempts', (dialect) => {
  const clock = new ManualClock(START);
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, clock, env: ENV });
  });
  afterAll(() => t.close());

  it('checks exactly LOCKOUT_THRESHOLD passwords; the right one behind them is 403 and does not unlock', async () => {
    const user = await register(t.app, newUser());
    const checksBefore = await passwordChecks([t.app]);
    const { counts, right } = await burst([t.app], user);

    expect(counts).toEqual({ 401: THRESHOLD - 1, 403: WRONG_ATTEMPTS + 1 - (THRESHOLD - 1), 200: 0 });
    expect(right?.statusCode).toBe(403);
    expect(right?.json()).toMatchObject({ code: 'account_locked' });
    expect(right?.headers['retry-after']).toBe('1800');
    expect(await checksSince([t.app], checksBefore)).toEqual(THRESHOLD_CHECKS);
    expect(await metric(t.app, 'auth_lockouts_total')).toBe(1);
    await expectLockedOut([t.app], user, clock);
  });

  it('checks exactly LOCKOUT_THRESHOLD passwords for a name no account has, too', async () => {
    const name = `nobody-${randomUUID()}`;
    const before = await passwordChecks([t.app]);
    const same = await Promise.all(Array.from({ length: WRONG_ATTEMPTS }, () => attempt(t.app, name, WRONG)));
    expect(same.filter((a) => a.statusCode === 401).length).toBe(THRESHOLD - 1);
    expect(same.filter((a) => a.statusCode === 403).length).toBe(WRONG_ATTEMPTS - (THRESHOLD - 1));
    expect(await checksSince([t.app], before)).toEqual(THRESHOLD_CHECKS);
  });

  it('lets the right password through when it is among the first LOCKOUT_THRESHOLD checks', async () => {
    const user = await register(t.app, newUser());
    const checksBefore = await passwordChecks([t.app]);
    const right = attempt(t.app, user.username, user.password);
    // Its check is reserved (the name's row exists) before any wrong password is sent.
    await vi.waitFor(
      async () => {
        const row = await t.app.database.db
          .selectFrom('login_locks')
          .select('login_key')
          .where('login_key', '=', user.username.toLowerCase())
          .executeTakeFirst();
        expect(row).toBeDefined();
      },
      { timeout: 10_000, interval: 1 },
    );
    const wrong = await Promise.all(
      Array.from({ length: WRONG_ATTEMPTS }, () => attempt(t.app, user.username, WRONG)),
    );
    expect((await right).statusCode).toBe(200);
    expect(wrong.every((a) => a.statusCode === 401 || a.statusCode === 403)).toBe(true);
    // At most LOCKOUT_THRESHOLD checks before the success and as many after it (it starts a new count).
    expect((await checksSince([t.app], checksBefore)).compared).toBeLessThanOrEqual(2 * THRESHOLD);
  });
});

describePostgres('lockout under parallel attempts, two instances on one database', () =>
  describeWithRedis('sharing one Redis', () => {
    const clock = new ManualClock(START);
    let t: TestApp;
    let second: App;
    beforeAll(async () => {
      t = await buildTestApp({
        dialect: 'postgres',
        clock,
        env: { ...ENV, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: `lockout-${randomUUID()}:` },
      });
      // The same configuration: the same database and Redis, as a second server behind a load balancer.
      second = await buildApp(t.config, { migrate: false, clock });
      await second.ready();
    });
    afterAll(async () => {
      await second.close();
      await t.close();
    });

    it('checks exactly LOCKOUT_THRESHOLD passwords across both, and both keep the name locked', async () => {
      const apps = [t.app, second];
      const user = await register(t.app, newUser());
      const checksBefore = await passwordChecks(apps);
      const { counts, right } = await burst(apps, user);

      expect(counts).toEqual({ 401: THRESHOLD - 1, 403: WRONG_ATTEMPTS + 1 - (THRESHOLD - 1), 200: 0 });
      expect(right?.statusCode).toBe(403);
      expect(await checksSince(apps, checksBefore)).toEqual(THRESHOLD_CHECKS);
      await expectLockedOut(apps, user, clock);
    });
  }),
);
