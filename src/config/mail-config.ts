// Outgoing mail's settings (SMTP_*, FROM_*, FRONTEND_URL, OUTBOX_*).
import type { Env } from './env-schema.js';
import { isHttpUrl } from './llm-config.js';

export interface SmtpConfig {
  host: string;
  port: number;
  user: string | undefined;
  password: string | undefined;
  secure: boolean;
  startTls: boolean;
  timeoutMs: number;
}

export interface MailConfig {
  /** Unset when SMTP_HOST is: mail then stays in the outbox. */
  smtp: SmtpConfig | undefined;
  fromEmail: string;
  fromName: string;
  frontendUrl: string;
  outbox: { pollMs: number; retryBaseMs: number; maxAttempts: number };
}

/** A mailbox address: something@domain, without spaces or angle brackets (they would break the From header). */
const MAIL_ADDRESS = /^[^\s@<>"]+@[^\s@<>"]+$/;

export function mailConfig(env: Env, problems: string[]): MailConfig {
  if (env.SMTP_SECURE && env.SMTP_STARTTLS && env.SMTP_HOST) {
    // The original passed both to its SMTP client, which refuses the pair: every real send failed (reference §11.17).
    problems.push(
      'SMTP_SECURE and SMTP_STARTTLS: choose one (implicit TLS, usually port 465, or STARTTLS, usually 587)',
    );
  }
  if (env.SMTP_PASSWORD && !env.SMTP_USER) problems.push('SMTP_PASSWORD: is set without SMTP_USER');
  if (!MAIL_ADDRESS.test(env.FROM_EMAIL))
    problems.push(
      `FROM_EMAIL: must be an address like noreply@example.com (got ${JSON.stringify(env.FROM_EMAIL)})`,
    );
  if (/[\r\n]/.test(env.FROM_NAME)) problems.push('FROM_NAME: must be one line');
  let frontendUrl = env.FRONTEND_URL.trim().replace(/\/+$/, '');
  if (!isHttpUrl(frontendUrl)) {
    problems.push(`FRONTEND_URL: must be an http(s) URL (got ${JSON.stringify(env.FRONTEND_URL)})`);
    frontendUrl = '';
  }
  return {
    smtp: env.SMTP_HOST
      ? {
          host: env.SMTP_HOST.trim(),
          port: env.SMTP_PORT,
          user: env.SMTP_USER,
          password: env.SMTP_PASSWORD,
          secure: env.SMTP_SECURE,
          startTls: env.SMTP_STARTTLS,
          timeoutMs: env.SMTP_TIMEOUT_MS,
        }
      : undefined,
    fromEmail: env.FROM_EMAIL,
    fromName: env.FROM_NAME,
    frontendUrl,
    outbox: {
      pollMs: env.OUTBOX_POLL_MS,
      retryBaseMs: env.OUTBOX_RETRY_BASE_MS,
      maxAttempts: env.OUTBOX_MAX_ATTEMPTS,
    },
  };
}
