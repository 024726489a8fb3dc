// The auth_* Prometheus counters at GET /metrics count each flow exactly once: registrations, logins by result,
// tokens issued, refreshes, logouts, reset requests and email verifications. SQLite only: the counters live in the
// process, not in the database.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, register } from '../../helpers/auth.js';

/** The value of one sample (`name` with exactly these labels) in Prometheus text; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter(Boolean)
      .sort()
      .join(',');
    if (present === wanted) return Number(match[3]);
  }
  return undefined;
}

describe('auth metrics', () => {
  let t: TestApp;
  // A fresh app (and so a fresh registry) per test: every count below is absolute, whatever ran before.
  beforeEach(async () => {
    t = await buildTestApp({ dialect: 'sqlite' });
  });
  afterEach(() => t?.close());

  const scrape = async () => {
    const response = await t.app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    return response.body;
  };

  it('start at zero, declared as counters', async () => {
    const text = await scrape();
    for (const name of [
      'auth_registrations_total',
      'auth_login_attempts_total',
      'auth_lockouts_total',
      'auth_tokens_issued_total',
      'auth_token_refreshes_total',
      'auth_logouts_total',
      'auth_password_resets_total',
      'auth_email_verifications_total',
    ])
      expect(text).toContain(`# TYPE ${name} counter`);
    expect(sample(text, 'auth_registrations_total')).toBe(0);
    expect(sample(text, 'auth_lockouts_total')).toBe(0);
    expect(sample(text, 'auth_login_attempts_total', { result: 'success' })).toBeUndefined();
  });

  it('count a registration, logins by result, tokens, a refresh, a logout, a reset request and a verification', async () => {
    const user = await register(t.app, newUser());
    const first = await login(t.app, user.username, user.password);
    const failed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: user.username, password: 'Wr0ng!password' },
    });
    expect(failed.statusCode).toBe(401);

    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: first.refresh_token },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const second = refreshed.json<{ access_token: string }>();

    const out = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(second.access_token),
    });
    expect(out.statusCode, out.body).toBe(200);

    const reset = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset',
      payload: { email: user.email },
    });
    expect(reset.statusCode).toBe(200);
    await t.app.authTasks.settled();

    // Without SMTP the verification mail waits in the outbox; its text holds the link.
    const mail = await t.app.database.db
      .selectFrom('email_outbox')
      .select('text_body')
      .where('recipient', '=', user.email)
      .where('kind', '=', 'email-verification')
      .executeTakeFirstOrThrow();
    const token = /\/verify-email\?token=([A-Za-z0-9_-]+)/.exec(mail.text_body)?.[1];
    const verified = await t.app.inject({ method: 'POST', url: `/api/v1/auth/verify-email/${token}` });
    expect(verified.statusCode, verified.body).toBe(200);

    const text = await scrape();
    expect({
      registrations: sample(text, 'auth_registrations_total'),
      loginSuccess: sample(text, 'auth_login_attempts_total', { result: 'success' }),
      loginInvalid: sample(text, 'auth_login_attempts_total', { result: 'invalid_credentials' }),
      loginLocked: sample(text, 'auth_login_attempts_total', { result: 'locked' }),
      lockouts: sample(text, 'auth_lockouts_total'),
      accessTokens: sample(text, 'auth_tokens_issued_total', { type: 'access' }),
      refreshTokens: sample(text, 'auth_tokens_issued_total', { type: 'refresh' }),
      refreshes: sample(text, 'auth_token_refreshes_total', { result: 'success' }),
      logouts: sample(text, 'auth_logouts_total', { scope: 'session' }),
      resetsRequested: sample(text, 'auth_password_resets_total', { stage: 'requested' }),
      resetsCompleted: sample(text, 'auth_password_resets_total', { stage: 'completed' }),
      verifications: sample(text, 'auth_email_verifications_total', { result: 'verified' }),
    }).toEqual({
      registrations: 1,
      loginSuccess: 1,
      loginInvalid: 1,
      loginLocked: undefined,
      lockouts: 0,
      accessTokens: 2,
      refreshTokens: 2,
      refreshes: 1,
      logouts: 1,
      resetsRequested: 1,
      resetsCompleted: undefined,
      verifications: 1,
    });
  });

  it('count a lockout, the locked logins, and an invalid verification token by their own labels', async () => {
    const user = await register(t.app, newUser());
    for (let i = 0; i < 6; i += 1)
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: user.username, password: 'Wr0ng!password' },
      });
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email/no-such-token' });
    expect(bad.statusCode).toBe(400);

    const text = await scrape();
    expect(sample(text, 'auth_lockouts_total')).toBe(1);
    // The 5th failure locks (counted as locked, not invalid); the 6th meets the lock.
    expect(sample(text, 'auth_login_attempts_total', { result: 'locked' })).toBe(2);
    expect(sample(text, 'auth_login_attempts_total', { result: 'invalid_credentials' })).toBe(4);
    expect(sample(text, 'auth_email_verifications_total', { result: 'invalid_token' })).toBe(1);
    expect(sample(text, 'auth_email_verifications_total', { result: 'verified' })).toBeUndefined();
    expect(sample(text, 'auth_login_attempts_total', { result: 'success' })).toBeUndefined();
  });
});
