// Failed logins per client IP (RATE_LIMIT_LOGIN_FAILURES in RATE_LIMIT_LOGIN_WINDOW_MINUTES), on top of the
// per-account lockout: on SQLite with the memory store, and on PostgreSQL with the Redis store.
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Dialect } from '../../../src/config.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { STRONG_PASSWORD, register, type RegisteredUser } from '../../helpers/auth.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';

const START = Date.parse('2026-12-04T10:00:00.000Z');
const SETUPS: { dialect: Dialect; store: string; available: boolean; env: () => Record<string, string> }[] = [
  { dialect: 'sqlite', store: 'memory', available: true, env: () => ({}) },
  {
    dialect: 'postgres',
    store: 'redis',
    available: inject('postgresAvailable') && inject('redisAvailable'),
    env: () => ({ REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: `sutazai-test:${randomUUID()}:` }),
  },
];

let address = 0;
const newAddress = () => `10.2.${Math.floor(++address / 250)}.${(address % 250) + 1}`;

for (const setup of SETUPS) {
  (setup.available ? describe : describe.skip)(
    `failed logins per IP [${setup.dialect}, ${setup.store}]`,
    () => {
      const clock = new ManualClock(new Date(START));
      let t: TestApp;
      let users: RegisteredUser[];
      beforeAll(async () => {
        t = await buildTestApp({
          dialect: setup.dialect,
          clock,
          env: { RATE_LIMIT_LOGIN_FAILURES: '20', LOCKOUT_THRESHOLD: '5', ...setup.env() },
        });
        users = [];
        for (let i = 0; i < 8; i++) users.push(await register(t.app));
      });
      afterAll(() => t?.close());

      const logIn = (from: string, username: string, password: string) =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          remoteAddress: from,
          payload: new URLSearchParams({ username, password }).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
      const user = (i: number) => users[i % users.length] as RegisteredUser;

      it('answers 429 to the 21st failed login from one IP, across accounts, until the window has passed', async () => {
        const from = newAddress();
        const answers: LightMyRequestResponse[] = [];
        // 7 accounts, 3 wrong passwords each: under every account's lockout threshold.
        for (let i = 0; i < 21; i++) answers.push(await logIn(from, user(i % 7).username, 'Wr0ng!Password'));
        expect(answers.slice(0, 20).map((a) => a.statusCode)).toEqual(Array(20).fill(401));
        const refused = answers[20] as LightMyRequestResponse;
        expect(refused.statusCode).toBe(429);
        expect(refused.json()).toMatchObject({
          code: 'rate_limited',
          limit: 20,
          remaining: 0,
          retry_after: 600,
        });
        expect(refused.headers['retry-after']).toBe('600');
        expect(refused.headers['ratelimit-policy']).toBe('"login_failures";q=20;w=600');
        // Every further login from that IP, even with the right password; not from another IP.
        expect((await logIn(from, user(7).username, STRONG_PASSWORD)).statusCode).toBe(429);
        expect((await logIn(newAddress(), user(7).username, STRONG_PASSWORD)).statusCode).toBe(200);
        // The window slides from the first failure: 10 minutes after it, one place is free again.
        clock.advance(600_000);
        expect((await logIn(from, user(7).username, STRONG_PASSWORD)).statusCode).toBe(200);
      });

      it('does not count successful logins', async () => {
        const from = newAddress();
        for (let i = 0; i < 30; i++)
          expect((await logIn(from, user(i).username, STRONG_PASSWORD)).statusCode, `login ${i}`).toBe(200);
        expect((await logIn(from, user(0).username, 'Wr0ng!Password')).statusCode).toBe(401);
      });

      it('does not count what is no login attempt (a 422)', async () => {
        const from = newAddress();
        for (let i = 0; i < 25; i++) {
          const answer = await t.app.inject({
            method: 'POST',
            url: '/api/v1/auth/login',
            remoteAddress: from,
            payload: { username: user(0).username },
          });
          expect(answer.statusCode).toBe(422);
        }
        expect((await logIn(from, user(0).username, 'Wr0ng!Password')).statusCode).toBe(401);
      });

      it('keeps the per-account lockout, whatever the addresses', async () => {
        const target = await register(t.app);
        const failures: number[] = [];
        for (let i = 0; i < 5; i++)
          failures.push((await logIn(newAddress(), target.username, 'Wr0ng!Password')).statusCode);
        // The failure that reaches the threshold already answers with the lock.
        expect(failures).toEqual([401, 401, 401, 401, 403]);
        const locked = await logIn(newAddress(), target.username, STRONG_PASSWORD);
        expect(locked.statusCode).toBe(403);
        expect(locked.json()).toMatchObject({ code: 'account_locked' });
      });

      it('lets exactly 20 of 50 wrong passwords sent at once through to the password check', async () => {
        const from = newAddress();
        const answers = await Promise.all(
          Array.from({ length: 50 }, () => logIn(from, `nobody-${randomUUID()}`, 'Wr0ng!Password')),
        );
        const count = (status: number) => answers.filter((a) => a.statusCode === status).length;
        expect({ 401: count(401), 429: count(429) }).toEqual({ 401: 20, 429: 30 });
      });
    },
  );
}
