// Shared by the email-flow suites: settings that point the app at an SMTP sink with a fast outbox, reading the
// single-use link out of a received mail (text and HTML must carry the same one), and small request helpers.
import { expect } from 'vitest';
import type { App } from '../../../src/app.js';
import type { TestApp } from '../../helpers/app.js';
import type { ReceivedMail, SmtpSink } from '../../helpers/smtp-sink.js';

export const FRONTEND_URL = 'https://app.sutazai.test';
export const VERIFY_SUBJECT = 'Verify Your Email - SutazAI Platform';
export const RESET_SUBJECT = 'Password Reset Request - SutazAI Platform';
export const RESET_REQUESTED = { message: 'If the email exists, a password reset link has been sent' };
export const VERIFICATION_RESENT = {
  message: 'If the account exists and is not verified yet, a verification email has been sent',
};

/** SMTP at the sink (when given), links under FRONTEND_URL, and an outbox that polls and retries quickly. */
export function mailEnv(sink?: SmtpSink): Record<string, string> {
  return {
    ...(sink ? sink.env() : {}),
    FRONTEND_URL,
    OUTBOX_POLL_MS: '25',
    OUTBOX_RETRY_BASE_MS: '25',
  };
}

let clients = 0;
/** A client address of its own, so that each test starts with a fresh mail rate limit (5 per minute per client). */
export function newClientIp(): string {
  clients += 1;
  return `10.77.${Math.floor(clients / 250)}.${(clients % 250) + 1}`;
}

/** The token of the `<FRONTEND_URL>/<page>?token=…` link, which the text and the HTML part must both hold. */
export function linkToken(mail: ReceivedMail, page: 'verify-email' | 'reset-password'): string {
  const pattern = new RegExp(`${FRONTEND_URL.replace(/\./g, '\\.')}/${page}\\?token=([A-Za-z0-9_-]{20,})`);
  const token = pattern.exec(mail.text)?.[1];
  expect(token, `no ${page} link in the text part:\n${mail.text}`).toBeDefined();
  expect(mail.html).toContain(`${FRONTEND_URL}/${page}?token=${token}`);
  return token as string;
}

/** Mails the sink received (so far) for this address with this subject. */
export const mailsTo = (sink: SmtpSink, email: string, subject: string) =>
  sink.messages.filter((m) => m.to.includes(email) && m.subject === subject);

/** The `n`-th mail (1-based) for this address and subject, waiting for it to arrive. */
export const nthMailTo = (sink: SmtpSink, email: string, subject: string, n = 1) =>
  sink
    .waitFor(() => mailsTo(sink, email, subject).length >= n)
    .then(() => {
      const mail = mailsTo(sink, email, subject)[n - 1];
      if (!mail) throw new Error('unreachable: the mail was counted');
      return mail;
    });

/** Outbox rows (any status) for this recipient, oldest first. */
export const outboxRows = (t: TestApp, email: string) =>
  t.app.database.db
    .selectFrom('email_outbox')
    .selectAll()
    .where('recipient', '=', email)
    .orderBy('id')
    .execute();

export const verifyEmail = (app: App, token: string) =>
  app.inject({ method: 'POST', url: `/api/v1/auth/verify-email/${encodeURIComponent(token)}` });

export const requestReset = (app: App, email: string, remoteAddress = newClientIp()) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email }, remoteAddress });

export const confirmReset = (app: App, token: string, newPassword: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/password-reset/confirm',
    payload: { token, new_password: newPassword },
  });

/** A login attempt with the JSON body; the answer, whatever its status. */
export const tryLogin = (app: App, username: string, password: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });

export const refresh = (app: App, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: refreshToken } });

export const me = (app: App, accessToken: string) =>
  app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${accessToken}` } });

/** Polls `probe` until it returns something other than undefined (bounded). */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
