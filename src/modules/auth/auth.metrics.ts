// auth_* Prometheus counters, registered on the app's own registry. Domain code calls these narrow functions.
import { Counter, type Registry } from 'prom-client';
import type { AuthMailKind } from './auth-mail.js';

export type LoginResult = 'success' | 'invalid_credentials' | 'locked' | 'inactive' | 'unverified';

export interface AuthMetrics {
  login(result: LoginResult): void;
  lockout(): void;
  /** One password compared with bcrypt at login (a name no account has included): what the lockout bounds. */
  passwordCheck(): void;
  tokensIssued(type: 'access' | 'refresh', count?: number): void;
  refresh(result: 'success' | 'invalid' | 'reuse_detected'): void;
  registration(): void;
  logout(scope: 'session' | 'all_devices'): void;
  passwordReset(stage: 'requested' | 'completed' | 'invalid_token'): void;
  emailVerification(result: 'verified' | 'already_verified' | 'invalid_token' | 'resent'): void;
  /** A mail not sent because its address had its share for the hour (MAIL_PER_ADDRESS_PER_HOUR). */
  mailSuppressed(kind: AuthMailKind): void;
}

export function createAuthMetrics(registry: Registry): AuthMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  const logins = counter('auth_login_attempts_total', 'Login attempts by result.', ['result']);
  const lockouts = counter(
    'auth_lockouts_total',
    'Login names (an account, or a name no account has) locked after too many failed logins.',
  );
  const passwordChecks = counter(
    'auth_password_checks_total',
    'Passwords compared with bcrypt at login; attempts refused by the lockout are not compared.',
  );
  const tokens = counter('auth_tokens_issued_total', 'Tokens issued, by type.', ['type']);
  const refreshes = counter('auth_token_refreshes_total', 'Refresh-token exchanges by result.', ['result']);
  const registrations = counter('auth_registrations_total', 'Accounts registered.');
  const logouts = counter('auth_logouts_total', 'Logouts, by scope.', ['scope']);
  const resets = counter('auth_password_resets_total', 'Password resets by stage.', ['stage']);
  const verifications = counter('auth_email_verifications_total', 'Email verifications by result.', [
    'result',
  ]);
  const suppressed = counter(
    'mail_suppressed_total',
    'Auth mails not sent because their address reached MAIL_PER_ADDRESS_PER_HOUR, by kind.',
    ['kind'],
  );
  return {
    login: (result) => logins.inc({ result }),
    lockout: () => lockouts.inc(),
    passwordCheck: () => passwordChecks.inc(),
    tokensIssued: (type, count = 1) => tokens.inc({ type }, count),
    refresh: (result) => refreshes.inc({ result }),
    registration: () => registrations.inc(),
    logout: (scope) => logouts.inc({ scope }),
    passwordReset: (stage) => resets.inc({ stage }),
    emailVerification: (result) => verifications.inc({ result }),
    mailSuppressed: (kind) => suppressed.inc({ kind }),
  };
}
