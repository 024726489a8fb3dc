// The email flows end to end, with real mail read from an SMTP sink: register → verify (link from the mail) → login →
// refresh → reuse detection → logout → revoked tokens; verification-link expiry with an injected clock; resending
// the verification mail. Password reset: email-flows-reset.test.ts; outages and no SMTP: email-flows-outbox.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, register } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startSmtpSink, type SmtpSink } from '../../helpers/smtp-sink.js';
import {
  FRONTEND_URL,
  VERIFICATION_RESENT,
  VERIFY_SUBJECT,
  linkToken,
  mailEnv,
  mailsTo,
  me,
  newClientIp,
  nthMailTo,
  outboxRows,
  refresh,
  verifyEmail,
} from './email-flows.helpers.js';

const INVALID_VERIFICATION = 'Invalid or expired verification token';

describeEachDialect('email flows: verification and sessions', (dialect) => {
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

  const resend = (options: { payload?: object; token?: string } = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/verify-email/resend',
      remoteAddress: newClientIp(),
      ...(options.payload ? { payload: options.payload } : {}),
      ...(options.token ? { headers: bearer(options.token) } : {}),
    });

  it('register → mailed link → verify → login → refresh → reuse detected → logout → revoked token refused', async () => {
    const user = await register(t.app, newUser());

    const mail = await nthMailTo(sink, user.email, VERIFY_SUBJECT);
    expect(mail.headers['x-email-type']).toBe('email-verification');
    expect(mail.to).toEqual([user.email]);
    expect(mail.text).toContain(`Hello ${user.username},`);
    const token = linkToken(mail, 'verify-email');
    expect(mail.text).toContain(`${FRONTEND_URL}/verify-email?token=${token}`);

    const verified = await verifyEmail(t.app, token);
    expect(verified.statusCode, verified.body).toBe(200);
    expect(verified.json()).toEqual({ message: 'Email successfully verified' });

    const again = await verifyEmail(t.app, token);
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ detail: INVALID_VERIFICATION });

    const first = await login(t.app, user.username, user.password);
    const profile = await me(t.app, first.access_token);
    expect(profile.statusCode).toBe(200);
    expect(profile.json()).toMatchObject({ id: user.id, is_verified: true });

    const rotated = await refresh(t.app, first.refresh_token);
    expect(rotated.statusCode, rotated.body).toBe(200);
    const second = rotated.json<{ access_token: string; refresh_token: string }>();
    expect(second.refresh_token).not.toBe(first.refresh_token);

    // The rotated-away token comes back: a leak. 401, and the whole family dies, the newest token included.
    const reused = await refresh(t.app, first.refresh_token);
    expect(reused.statusCode).toBe(401);
    expect(reused.json()).toMatchObject({ detail: 'Invalid refresh token' });
    expect((await refresh(t.app, second.refresh_token)).statusCode).toBe(401);
    const family = await t.app.database.db
      .selectFrom('refresh_tokens')
      .select(['revoked_at'])
      .where('user_id', '=', user.id)
      .execute();
    expect(family).toHaveLength(2);
    for (const row of family) expect(row.revoked_at).not.toBeNull();

    // The reuse ended the whole login, its access tokens too (issue 9 item 8).
    expect((await me(t.app, second.access_token)).statusCode).toBe(401);
    expect((await me(t.app, first.access_token)).statusCode).toBe(401);

    const third = await login(t.app, user.username, user.password);
    const out = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(third.access_token),
    });
    expect(out.statusCode, out.body).toBe(200);
    expect(out.json()).toEqual({ message: 'Successfully logged out' });
    const revoked = await me(t.app, third.access_token);
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json()).toMatchObject({ detail: 'Could not validate credentials' });
    expect(revoked.headers['www-authenticate']).toBe('Bearer');
  });

  it('an unknown verification token → 400', async () => {
    const response = await verifyEmail(t.app, 'not-a-token-that-was-ever-mailed');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ detail: INVALID_VERIFICATION });
  });

  it('resend with a bearer token mails a new link, and the older link keeps working (anyone may ask)', async () => {
    const user = await register(t.app, newUser());
    const firstToken = linkToken(await nthMailTo(sink, user.email, VERIFY_SUBJECT, 1), 'verify-email');
    const { access_token } = await login(t.app, user.username, user.password);

    const response = await resend({ token: access_token });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual(VERIFICATION_RESENT);
    const secondToken = linkToken(await nthMailTo(sink, user.email, VERIFY_SUBJECT, 2), 'verify-email');
    expect(secondToken).not.toBe(firstToken);

    const ok = await verifyEmail(t.app, firstToken);
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await me(t.app, access_token)).json()).toMatchObject({ is_verified: true });
    expect((await verifyEmail(t.app, secondToken)).json()).toEqual({ message: 'Email already verified' });
  });

  it('resend with {email} and no token mails a new link too (the address in any case)', async () => {
    const user = await register(t.app, newUser());
    const firstToken = linkToken(await nthMailTo(sink, user.email, VERIFY_SUBJECT, 1), 'verify-email');

    const response = await resend({ payload: { email: user.email.toUpperCase() } });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual(VERIFICATION_RESENT);
    const secondToken = linkToken(await nthMailTo(sink, user.email, VERIFY_SUBJECT, 2), 'verify-email');

    expect(secondToken).not.toBe(firstToken);
    expect((await verifyEmail(t.app, secondToken)).json()).toEqual({
      message: 'Email successfully verified',
    });
  });

  it('resend for an unknown or an already verified address answers the same 200 and mails nothing', async () => {
    const unknown = newUser().email;
    const forUnknown = await resend({ payload: { email: unknown } });
    expect(forUnknown.statusCode).toBe(200);
    expect(forUnknown.json()).toEqual(VERIFICATION_RESENT);
    expect(await outboxRows(t, unknown)).toHaveLength(0);

    const user = await register(t.app, newUser());
    const token = linkToken(await nthMailTo(sink, user.email, VERIFY_SUBJECT), 'verify-email');
    expect((await verifyEmail(t.app, token)).statusCode).toBe(200);
    const forVerified = await resend({ payload: { email: user.email } });
    expect(forVerified.statusCode).toBe(200);
    expect(forVerified.body).toBe(forUnknown.body);
    await t.app.authTasks.settled();
    // The registration's mail only: nothing was enqueued, so nothing more can be delivered.
    expect(await outboxRows(t, user.email)).toHaveLength(1);
    await t.app.mailOutbox.deliverDue();
    expect(mailsTo(sink, user.email, VERIFY_SUBJECT)).toHaveLength(1);
  });

  it('resend without a token and without an email → 422, and with a malformed email → 422', async () => {
    for (const options of [{}, { payload: {} }, { payload: { email: 'not-an-email' } }]) {
      const response = await resend(options);
      expect(response.statusCode, response.body).toBe(422);
      expect(response.json<{ detail: { loc: unknown[] }[] }>().detail[0]?.loc).toEqual(['body', 'email']);
    }
  });

  describe('verification link expiry', () => {
    const clock = new ManualClock(new Date('2031-03-04T05:06:07Z'));
    let timed: TestApp;
    beforeAll(async () => {
      timed = await buildTestApp({ dialect, clock, env: mailEnv(sink) });
    });
    afterAll(() => timed?.close());

    it('works for 24 hours and is refused (400) one second after', async () => {
      const early = await register(timed.app, newUser());
      const late = await register(timed.app, newUser());
      const earlyToken = linkToken(await nthMailTo(sink, early.email, VERIFY_SUBJECT), 'verify-email');
      const lateToken = linkToken(await nthMailTo(sink, late.email, VERIFY_SUBJECT), 'verify-email');

      clock.advance(24 * 3600_000 - 1000);
      const inTime = await verifyEmail(timed.app, earlyToken);
      expect(inTime.statusCode, inTime.body).toBe(200);

      clock.advance(2000);
      const expired = await verifyEmail(timed.app, lateToken);
      expect(expired.statusCode).toBe(400);
      expect(expired.json()).toMatchObject({ detail: INVALID_VERIFICATION });
      const row = await timed.app.database.db
        .selectFrom('users')
        .select(['is_verified'])
        .where('id', '=', late.id)
        .executeTakeFirstOrThrow();
      expect(Boolean(row.is_verified)).toBe(false);
    });
  });
});
