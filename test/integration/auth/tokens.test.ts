// Bearer tokens on GET /api/v1/auth/me: a missing header, other schemes, and every kind of bad token (forged,
// alg:none, other algorithm, wrong iss/aud, missing claims, wrong type, expired, issued in the future, living too long,
// naming two users, of a deleted or deactivated user);
// the claims of an issued token; what /me shows; and that the database keeps only hashes of tokens.
import { SignJWT, UnsecuredJWT, decodeJwt, type JWTPayload } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { TEST_JWT_SECRET, buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const ME = '/api/v1/auth/me';
const MINUTE = 60_000;
const KEY = new TextEncoder().encode(TEST_JWT_SECRET);

/** Signs `claims` as a JWT with the header and key given (by default exactly as the server does). */
function sign(claims: JWTPayload, options: { alg?: string; key?: Uint8Array } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .sign(options.key ?? KEY);
}

describeEachDialect('bearer tokens', (dialect) => {
  const clock = new ManualClock();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, clock });
  });
  afterAll(() => t.close());

  const me = (headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: ME, headers });

  const expectRefused = async (token: string, detail = 'Could not validate credentials') => {
    const response = await me(bearer(token));
    expect(response.statusCode, token).toBe(401);
    expect(response.json()).toMatchObject({ detail });
    expect(response.headers['www-authenticate']).toBe('Bearer');
  };

  /** The claims of a fresh, valid access token: each test changes one thing and shows the server refuses it. */
  const validClaims = async () => {
    const { tokens } = await registerAndLogin(t.app, newUser());
    const claims = decodeJwt(tokens.access_token);
    // Control: the same claims, signed here, are accepted; so a refusal below is due to the one change.
    expect((await me(bearer(await sign(claims)))).statusCode).toBe(200);
    return claims;
  };

  it('answers a request without Authorization with 401 "Not authenticated" and WWW-Authenticate', async () => {
    const variants: Record<string, string>[] = [{}, { authorization: '' }];
    for (const headers of variants) {
      const response = await me(headers);
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ detail: 'Not authenticated' });
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('answers another scheme, or Bearer without a token, with 401 "Not authenticated"', async () => {
    const { tokens } = await registerAndLogin(t.app, newUser());
    for (const authorization of [
      'Basic xyz',
      `Token ${tokens.access_token}`,
      'Bearer',
      'Bearer ',
      tokens.access_token,
    ]) {
      const response = await me({ authorization });
      expect(response.statusCode, authorization).toBe(401);
      expect(response.json()).toMatchObject({ detail: 'Not authenticated' });
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('accepts the scheme in any case', async () => {
    const { tokens } = await registerAndLogin(t.app, newUser());
    expect((await me({ authorization: `bearer ${tokens.access_token}` })).statusCode).toBe(200);
    expect((await me({ authorization: `BEARER ${tokens.access_token}` })).statusCode).toBe(200);
  });

  it.each(['garbage', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.', '....', 'x'.repeat(5000)])(
    'refuses the garbage token %j with 401 "Could not validate credentials"',
    async (token) => {
      await expectRefused(token);
    },
  );

  it('refuses a token signed with another secret', async () => {
    const claims = await validClaims();
    await expectRefused(await sign(claims, { key: new TextEncoder().encode(`${TEST_JWT_SECRET}-other`) }));
  });

  it('refuses alg:none, built with jose and by hand', async () => {
    const claims = await validClaims();
    await expectRefused(new UnsecuredJWT(claims).encode());
    const part = (json: object) => Buffer.from(JSON.stringify(json)).toString('base64url');
    const real = await sign(claims);
    await expectRefused(`${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`);
    // A real signature kept after the header is changed to "none".
    await expectRefused(`${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.${real.split('.')[2] ?? ''}`);
  });

  it('refuses HS384 and HS512 even with the right secret', async () => {
    const claims = await validClaims();
    await expectRefused(await sign(claims, { alg: 'HS512' }));
    await expectRefused(await sign(claims, { alg: 'HS384' }));
  });

  it('refuses a wrong or missing issuer or audience', async () => {
    const claims = await validClaims();
    await expectRefused(await sign({ ...claims, iss: 'someone-else' }));
    await expectRefused(await sign({ ...claims, aud: 'another-api' }));
    const { iss: _iss, ...noIssuer } = claims;
    await expectRefused(await sign(noIssuer));
    const { aud: _aud, ...noAudience } = claims;
    await expectRefused(await sign(noAudience));
  });

  it('refuses a token without jti, sub, user_id or exp', async () => {
    const claims = await validClaims();
    for (const name of ['jti', 'sub', 'user_id', 'exp', 'type']) {
      const { [name]: _removed, ...rest } = claims;
      await expectRefused(await sign(rest));
    }
    await expectRefused(await sign({ ...claims, user_id: String(claims.user_id) }));
  });

  it('refuses a token issued in the future, beyond a minute of clock skew', async () => {
    const claims = await validClaims();
    const now = Math.floor(clock.now().getTime() / 1000);
    const issuedIn = (seconds: number) => sign({ ...claims, iat: now + seconds, exp: now + seconds + 1800 });
    // Another instance's clock a little ahead is fine.
    expect((await me(bearer(await issuedIn(50)))).statusCode).toBe(200);
    await expectRefused(await issuedIn(120));
    await expectRefused(await issuedIn(365 * 86_400));
  });

  it('refuses a token living longer than an access token lives (30 minutes), beyond a minute of skew', async () => {
    const claims = await validClaims();
    const now = Math.floor(clock.now().getTime() / 1000);
    const living = (seconds: number) => sign({ ...claims, iat: now, exp: now + seconds });
    expect((await me(bearer(await living(1800 + 50)))).statusCode).toBe(200);
    await expectRefused(await living(1800 + 120));
    await expectRefused(await living(100 * 365 * 86_400));
    // Backdating iat does not help: exp is what is absurd.
    await expectRefused(await sign({ ...claims, iat: now - 3600, exp: now + 10 * 365 * 86_400 }));
  });

  it('refuses a token whose sub names another user than its user_id', async () => {
    const claims = await validClaims();
    const { user: other } = await registerAndLogin(t.app, newUser());
    await expectRefused(await sign({ ...claims, sub: other.username }));
    await expectRefused(await sign({ ...claims, sub: String(claims.sub).toUpperCase() }));
    await expectRefused(await sign({ ...claims, user_id: other.id }));
  });

  it('refuses a refresh token used as an access token', async () => {
    const { tokens } = await registerAndLogin(t.app, newUser());
    await expectRefused(tokens.refresh_token);
    const claims = await validClaims();
    await expectRefused(await sign({ ...claims, type: 'refresh' }));
  });

  it('accepts an access token for 30 minutes, then refuses it', async () => {
    const { tokens } = await registerAndLogin(t.app, newUser());
    clock.advance(29 * MINUTE);
    expect((await me(bearer(tokens.access_token))).statusCode).toBe(200);
    clock.advance(2 * MINUTE);
    await expectRefused(tokens.access_token);
  });

  it('refuses the token of a user who was deleted', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    await t.app.database.db.deleteFrom('users').where('id', '=', user.id).execute();
    await expectRefused(tokens.access_token);
  });

  it('refuses the token of a user who was deactivated, and accepts it again after reactivation', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    const setActive = (is_active: boolean) =>
      t.app.database.db.updateTable('users').set({ is_active }).where('id', '=', user.id).execute();
    await setActive(false);
    await expectRefused(tokens.access_token);
    await setActive(true);
    expect((await me(bearer(tokens.access_token))).statusCode).toBe(200);
  });

  it('issues access tokens with the documented claims', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser({ email: `Mixed-${newUser().email}` }));
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({
      sub: user.username,
      user_id: user.id,
      email: user.email.toLowerCase(),
      type: 'access',
      iss: 'sutazai',
      aud: 'sutazai-api',
    });
    expect(claims.jti).toEqual(expect.any(String));
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(1800);
    expect(claims.iat).toBe(Math.floor(clock.now().getTime() / 1000));
    const again = await login(t.app, user.username, user.password);
    expect(decodeJwt(again.access_token).jti).not.toBe(claims.jti);
  });

  it('shows the user on /me without the hash, lockout fields or tokens', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    const response = await me(bearer(tokens.access_token));
    expect(response.statusCode).toBe(200);
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
    expect(body).toMatchObject({ id: user.id, username: user.username, email: user.email });
    for (const secret of ['$2b$', tokens.access_token, tokens.refresh_token, 'failed_login', 'locked'])
      expect(response.body).not.toContain(secret);
  });

  it('stores only hashes of tokens: no column of any table holds a raw token', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    // Log out too, so that the table of ended logins has a row.
    const logout = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(tokens.access_token),
    });
    expect(logout.statusCode).toBe(200);
    const db = t.app.database.db;
    const rows = await db
      .selectFrom('refresh_tokens')
      .select('token_hash')
      .where('user_id', '=', user.id)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]?.token_hash).not.toBe(tokens.refresh_token);

    const tables = await db.introspection.getTables();
    const names = tables.map((table) => table.name);
    expect(names).toEqual(expect.arrayContaining(['users', 'refresh_tokens', 'revoked_sessions']));
    const signatures = [tokens.access_token, tokens.refresh_token].map((token) => token.split('.')[2] ?? '');
    for (const table of tables) {
      const dump = JSON.stringify(
        await db
          .selectFrom(table.name as 'users')
          .selectAll()
          .execute(),
      );
      for (const raw of [tokens.access_token, tokens.refresh_token, ...signatures])
        expect(dump.includes(raw), `${table.name} holds a raw token`).toBe(false);
    }
  });
});
