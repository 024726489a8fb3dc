// A new password or a superuser's unlock clears the name's lockout in the same transaction as the change itself: when
// the clearing fails (here a trigger refuses the update of that name's login_locks row), nothing of the change is
// kept, on both dialects. The trigger is real SQL in the real database; nothing is mocked.
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Dialect } from '../../../src/config.js';
import { createSuperuserService } from '../../../src/modules/auth/index.js';
import type { DbExecutor } from '../../../src/platform/db/transactions.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, register, type RegisteredUser } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startSmtpSink, type SmtpSink } from '../../helpers/smtp-sink.js';
import {
  RESET_SUBJECT,
  confirmReset,
  linkToken,
  mailEnv,
  nthMailTo,
  requestReset,
  tryLogin,
} from './email-flows.helpers.js';

const NEW_PASSWORD = 'N3w!Passw0rd-rollback';

/** Makes every update of `key`'s login_locks row fail until the returned function is called. */
async function refuseLockUpdates(
  db: DbExecutor,
  dialect: Dialect,
  key: string,
): Promise<() => Promise<void>> {
  if (dialect === 'sqlite') {
    await sql`create trigger refuse_lock_update before update on login_locks
      when old.login_key = ${sql.lit(key)} begin select raise(abort, 'lock update refused by the test'); end`.execute(
      db,
    );
    return async () => {
      await sql`drop trigger refuse_lock_update`.execute(db);
    };
  }
  await sql`create function refuse_lock_update() returns trigger language plpgsql as $$
    begin raise exception 'lock update refused by the test'; end $$`.execute(db);
  await sql`create trigger refuse_lock_update before update on login_locks for each row
    when (old.login_key = ${sql.lit(key)}) execute function refuse_lock_update()`.execute(db);
  return async () => {
    await sql`drop trigger refuse_lock_update on login_locks`.execute(db);
    await sql`drop function refuse_lock_update()`.execute(db);
  };
}

describeEachDialect('lockout clearing rolls back with its change', (dialect) => {
  let sink: SmtpSink;
  let t: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    sink = await startSmtpSink();
    t = await buildTestApp({ dialect, env: { ...mailEnv(sink), LOCKOUT_THRESHOLD: '2' } });
    const admin = await register(t.app, newUser());
    await t.app.database.db
      .updateTable('users')
      .set({ is_superuser: true })
      .where('id', '=', admin.id)
      .execute();
    adminToken = (await login(t.app, admin.username, admin.password)).access_token;
  });
  afterAll(async () => {
    await t?.close();
    await sink?.close();
  });

  /** A registered user whose name is locked (two wrong passwords, LOCKOUT_THRESHOLD=2). */
  async function lockedUser(): Promise<RegisteredUser> {
    const user = await register(t.app, newUser());
    const answers = [];
    for (let i = 0; i < 2; i += 1)
      answers.push((await tryLogin(t.app, user.username, 'Wr0ng!pass')).statusCode);
    expect(answers).toEqual([401, 403]);
    return user;
  }

  const userRow = (id: number) =>
    t.app.database.db
      .selectFrom('users')
      .select(['hashed_password', 'session_version', 'is_active', 'is_superuser'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('a password reset whose lock clearing fails keeps the old password and leaves its link unused', async () => {
    const user = await lockedUser();
    expect((await requestReset(t.app, user.email)).statusCode).toBe(200);
    const token = linkToken(await nthMailTo(sink, user.email, RESET_SUBJECT), 'reset-password');
    const before = await userRow(user.id);

    const allow = await refuseLockUpdates(t.app.database.db, dialect, user.username.toLowerCase());
    let failed;
    try {
      failed = await confirmReset(t.app, token, NEW_PASSWORD);
    } finally {
      await allow();
    }
    expect(failed.statusCode).toBe(500);
    expect(await userRow(user.id)).toEqual(before);

    // The link was not used up by the failed attempt: it works now, and the new password logs in.
    expect((await confirmReset(t.app, token, NEW_PASSWORD)).statusCode).toBe(200);
    await login(t.app, user.username, NEW_PASSWORD);
  });

  it("a superuser's unlock and deactivation whose lock clearing fails changes nothing", async () => {
    const user = await lockedUser();
    const before = await userRow(user.id);

    const allow = await refuseLockUpdates(t.app.database.db, dialect, user.username.toLowerCase());
    let failed;
    try {
      failed = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/auth/users/${user.id}`,
        payload: { unlock: true, is_active: false },
        headers: bearer(adminToken),
      });
    } finally {
      await allow();
    }
    expect(failed.statusCode).toBe(500);
    expect(await userRow(user.id)).toEqual(before);
    expect(before.is_active).toBeTruthy();
  });

  it('a superuser promotion whose lock clearing fails keeps the password, the tokens and the role', async () => {
    const user = await lockedUser();
    const before = await userRow(user.id);

    const allow = await refuseLockUpdates(t.app.database.db, dialect, user.username.toLowerCase());
    try {
      await expect(
        createSuperuserService(t.app.database, t.config.auth).createSuperuser({
          email: user.email,
          username: user.username,
          password: NEW_PASSWORD,
          fullName: null,
          promote: true,
        }),
      ).rejects.toThrow('lock update refused by the test');
    } finally {
      await allow();
    }
    expect(await userRow(user.id)).toEqual(before);
    expect(before.is_superuser).toBeFalsy();
  });
});
