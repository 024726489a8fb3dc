// Password reset with real mail read from an SMTP sink: the same answer for known and unknown addresses, the mailed
// link, single use, the policy, sessions ended and lockout cleared by a reset, expiry (injected clock), a newer
// request leaving the older link working, and the mail rate limit per caller (per address: mail-limits.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { login, newUser, register, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startSmtpSink, type SmtpSink } from '../../helpers/smtp-sink.js';
import {
  FRONTEND_URL,
  RESET_REQUESTED,
  RESET_SUBJECT,
  confirmReset,
  linkToken,
  mailEnv,
  me,
  newClientIp,
  nthMailTo,
  outboxRows,
  refresh,
  requestReset,
  tryLogin,
} from './email-flows.helpers.js';

const NEW_PASSWORD = 'N3w!Passw0rd-x';
const INVALID_RESET = 'Invalid or expired reset token';

describeEachDialect('email flows: password reset', (dialect) => {
  let sink: SmtpSink;
  let t: TestApp;
  beforeAll(async () => {
    sink = await startSmtpSink();
    t = await buildTestApp({ dialect, env: mailEnv(sink) });
  });
  afterAll(async () => {
    await t?.close();
    await sink?.close();
  });

  /** Requests a reset for `email` and returns the token of the n-th reset mail it received. */
  async function resetToken(email: string, n = 1): Promise<string> {
    const response = await requestReset(t.app, email);
    expect(response.statusCode, response.body).toBe(200);
    return linkToken(await nthMailTo(sink, email, RESET_SUBJECT, n), 'reset-password');
  }

  it('answers a known and an unknown address with the identical 200 body; only the known one gets mail', async () => {
    const user = await register(t.app, newUser());
    const unknown = newUser().email;
    const known = await requestReset(t.app, user.email);
    const stranger = await requestReset(t.app, unknown);
    expect(known.statusCode).toBe(200);
    expect(stranger.statusCode).toBe(200);
    expect(known.json()).toEqual(RESET_REQUESTED);
    expect(stranger.body).toBe(known.body);

    const mail = await nthMailTo(sink, user.email, RESET_SUBJECT);
    await t.app.authTasks.settled();
    expect(mail.headers['x-email-type']).toBe('password-reset');
    const token = linkToken(mail, 'reset-password');
    expect(mail.text).toContain(`${FRONTEND_URL}/reset-password?token=${token}`);
    expect(await outboxRows(t, unknown)).toHaveLength(0);
    expect((await outboxRows(t, user.email)).map((r) => r.kind)).toEqual([
      'email-verification',
      'password-reset',
    ]);
  });

  it('a weak new password → 400 with the policy message, and the link still works afterwards', async () => {
    const user = await register(t.app, newUser());
    const token = await resetToken(user.email);

    const weak = await confirmReset(t.app, token, 'NoDigitsHere!');
    expect(weak.statusCode).toBe(400);
    expect(weak.json()).toMatchObject({ detail: 'Password must contain at least one digit' });

    const ok = await confirmReset(t.app, token, NEW_PASSWORD);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ message: 'Password successfully reset' });
  });

  it('is single use; the old password stops working, the new one works, earlier sessions end', async () => {
    const { user, tokens } = await registerAndLogin(t.app, newUser());
    expect((await me(t.app, tokens.access_token)).statusCode).toBe(200);
    const token = await resetToken(user.email);

    const ok = await confirmReset(t.app, token, NEW_PASSWORD);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ message: 'Password successfully reset' });

    const again = await confirmReset(t.app, token, 'An0ther!Passw0rd');
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ detail: INVALID_RESET });

    // The stored refresh tokens are revoked too, not only refused through the bumped session version.
    const stored = await t.app.database.db
      .selectFrom('refresh_tokens')
      .select('revoked_at')
      .where('user_id', '=', user.id)
      .execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]?.revoked_at).not.toBeNull();

    const old = await tryLogin(t.app, user.username, user.password);
    expect(old.statusCode).toBe(401);
    expect(old.json()).toMatchObject({ detail: 'Incorrect username or password' });
    await login(t.app, user.username, NEW_PASSWORD);

    expect((await me(t.app, tokens.access_token)).statusCode).toBe(401);
    expect((await refresh(t.app, tokens.refresh_token)).statusCode).toBe(401);
  });

  it('an unknown token → 400', async () => {
    const response = await confirmReset(t.app, 'never-mailed-token', NEW_PASSWORD);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ detail: INVALID_RESET });
  });

  it('unlocks an account locked by five wrong passwords', async () => {
    const user = await register(t.app, newUser());
    const answers = [];
    for (let i = 0; i < 5; i += 1)
      answers.push((await tryLogin(t.app, user.username, 'Wr0ng!pass')).statusCode);
    expect(answers).toEqual([401, 401, 401, 401, 403]);
    const locked = await tryLogin(t.app, user.username, user.password);
    expect(locked.statusCode).toBe(403);
    expect(locked.json<{ detail: string }>().detail).toMatch(/^Account locked/);

    const token = await resetToken(user.email);
    expect((await confirmReset(t.app, token, NEW_PASSWORD)).statusCode).toBe(200);
    const row = await t.app.database.db
      .selectFrom('users')
      .select(['failed_login_attempts', 'account_locked_until'])
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ failed_login_attempts: 0, account_locked_until: null });
    await login(t.app, user.username, NEW_PASSWORD);
  });

  it('a second request leaves the first link working (anyone may ask); using one ends the other', async () => {
    const user = await register(t.app, newUser());
    const first = await resetToken(user.email, 1);
    const second = await resetToken(user.email, 2);
    expect(second).not.toBe(first);

    expect((await confirmReset(t.app, first, NEW_PASSWORD)).statusCode).toBe(200);
    const spent = await confirmReset(t.app, second, 'An0ther!Passw0rd');
    expect(spent.statusCode).toBe(400);
    expect(spent.json()).toMatchObject({ detail: INVALID_RESET });
  });

  it('an invalid email → 422', async () => {
    for (const payload of [{ email: 'not-an-email' }, {}, { email: 42 }]) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password-reset',
        payload,
        remoteAddress: newClientIp(),
      });
      expect(response.statusCode, response.body).toBe(422);
      expect(response.json<{ detail: { loc: unknown[] }[] }>().detail[0]?.loc).toEqual(['body', 'email']);
    }
  });

  it('the 6th request within a minute from one client → 429 with Retry-After; other clients are not held up', async () => {
    const ip = newClientIp();
    const email = newUser().email;
    for (let i = 1; i <= 5; i += 1) {
      const allowed = await requestReset(t.app, email, ip);
      expect(allowed.statusCode, `request ${i}`).toBe(200);
    }
    const limited = await requestReset(t.app, email, ip);
    expect(limited.statusCode).toBe(429);
    const detail = limited.json<{ detail: string }>().detail;
    const seconds = /^Rate limit exceeded\. Try again in (\d+) seconds$/.exec(detail)?.[1];
    expect(seconds, detail).toBeDefined();
    expect(Number(seconds)).toBeGreaterThanOrEqual(1);
    expect(Number(seconds)).toBeLessThanOrEqual(60);
    expect(limited.headers['retry-after']).toBe(seconds);

    expect((await requestReset(t.app, email, newClientIp())).statusCode).toBe(200);
  });

  describe('reset link expiry', () => {
    const clock = new ManualClock(new Date('2031-05-06T07:08:09Z'));
    let timed: TestApp;
    beforeAll(async () => {
      timed = await buildTestApp({ dialect, clock, env: mailEnv(sink) });
    });
    afterAll(() => timed?.close());

    it('works for 60 minutes and is refused (400) after 61', async () => {
      const early = await register(timed.app, newUser());
      const late = await register(timed.app, newUser());
      const tokens: string[] = [];
      for (const user of [early, late]) {
        expect((await requestReset(timed.app, user.email)).statusCode).toBe(200);
        tokens.push(linkToken(await nthMailTo(sink, user.email, RESET_SUBJECT), 'reset-password'));
      }

      clock.advance(59 * 60_000);
      const inTime = await confirmReset(timed.app, tokens[0] as string, NEW_PASSWORD);
      expect(inTime.statusCode, inTime.body).toBe(200);

      clock.advance(2 * 60_000);
      const expired = await confirmReset(timed.app, tokens[1] as string, NEW_PASSWORD);
      expect(expired.statusCode).toBe(400);
      expect(expired.json()).toMatchObject({ detail: INVALID_RESET });
      await login(timed.app, late.username, late.password);
    });
  });
});
