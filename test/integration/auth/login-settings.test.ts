// POST /api/v1/auth/login under other settings: BCRYPT_ROUNDS (hashing cost, and rehashing a hash of another cost
// at login) and REQUIRE_EMAIL_VERIFICATION (unverified accounts refused with 403 when on, let in when off).
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { bcryptCost } from '../../../src/modules/auth/password-hasher.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { login, newUser, register } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const postForm = (app: App, fields: Record<string, string>) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
const postJson = (app: App, body: object) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: body });

async function storedHash(t: TestApp, id: number): Promise<string> {
  const row = await t.app.database.db
    .selectFrom('users')
    .select('hashed_password')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row.hashed_password;
}

describeEachDialect('login with other settings', (dialect) => {
  describe('BCRYPT_ROUNDS=5', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({ dialect, env: { BCRYPT_ROUNDS: '5' } });
    });
    afterAll(() => t.close());

    it('hashes at cost 5 and upgrades a cost-4 hash at the next login', async () => {
      const user = await register(t.app, newUser());
      expect(bcryptCost(await storedHash(t, user.id))).toBe(5);
      await t.app.database.db
        .updateTable('users')
        .set({ hashed_password: await bcrypt.hash(user.password, 4) })
        .where('id', '=', user.id)
        .execute();
      await login(t.app, user.username, user.password);
      const upgraded = await storedHash(t, user.id);
      expect(bcryptCost(upgraded)).toBe(5);
      await login(t.app, user.email, user.password);
      expect(await storedHash(t, user.id)).toBe(upgraded);
    });
  });

  describe('REQUIRE_EMAIL_VERIFICATION=true', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({ dialect, env: { REQUIRE_EMAIL_VERIFICATION: 'true' } });
    });
    afterAll(() => t.close());

    it('refuses an unverified account with 403 "Please verify your email first", then lets it in', async () => {
      const user = await register(t.app, newUser());
      const refused = await postForm(t.app, { username: user.username, password: user.password });
      expect(refused.statusCode).toBe(403);
      expect(refused.json()).toMatchObject({ detail: 'Please verify your email first' });
      // A wrong password still gets the 401: the account's state is told only to its owner.
      const wrong = await postForm(t.app, { username: user.username, password: 'Wr0ng!Password' });
      expect(wrong.statusCode).toBe(401);

      await t.app.database.db
        .updateTable('users')
        .set({ is_verified: true })
        .where('id', '=', user.id)
        .execute();
      expect((await postForm(t.app, { username: user.username, password: user.password })).statusCode).toBe(
        200,
      );
    });
  });

  describe('REQUIRE_EMAIL_VERIFICATION unset', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({ dialect });
    });
    afterAll(() => t.close());

    it('lets an unverified account log in (the default, as the original)', async () => {
      const user = await register(t.app, newUser());
      expect((await postJson(t.app, { username: user.username, password: user.password })).statusCode).toBe(
        200,
      );
    });
  });
});
