// `sutazai admin create-superuser --promote` through its service, on both dialects: the promoted account gets the new
// password, loses its old tokens, and its name's lockout is lifted with the password change.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSuperuserService } from '../../../src/modules/auth/index.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const NEW_PASSWORD = 'N3w!Passw0rd-superuser';

describeEachDialect('superuser promotion', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, env: { LOCKOUT_THRESHOLD: '3' } });
  });
  afterAll(() => t.close());

  const tryLogin = (username: string, password: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: new URLSearchParams({ username, password }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });

  it('lifts the lockout of a locked account it promotes, and ends the tokens of the old password', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    const answers = [];
    for (let i = 0; i < 3; i += 1) answers.push((await tryLogin(user.username, 'Wr0ng!pass')).statusCode);
    expect(answers).toEqual([401, 401, 403]);
    expect((await tryLogin(user.username, user.password)).statusCode).toBe(403);

    const { user: promoted, created } = await createSuperuserService(
      t.app.database,
      t.config.auth,
    ).createSuperuser({
      email: user.email,
      username: user.username,
      password: NEW_PASSWORD,
      fullName: null,
      promote: true,
    });
    expect(created).toBe(false);
    expect(promoted).toMatchObject({ id: user.id, isSuperuser: true, isActive: true });

    const lock = await t.app.database.db
      .selectFrom('login_locks')
      .select(['failed_attempts', 'locked_until'])
      .where('login_key', '=', user.username.toLowerCase())
      .executeTakeFirstOrThrow();
    expect(lock).toEqual({ failed_attempts: 0, locked_until: null });
    const fresh = await login(t.app, user.username, NEW_PASSWORD);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: bearer(fresh.access_token),
    });
    expect(me.json()).toMatchObject({ id: user.id, is_superuser: true });
    const old = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: bearer(tokens.access_token),
    });
    expect(old.statusCode).toBe(401);
  });
});
