// Registration, email verification and password reset: the flows that create or change an account and mail a
// single-use link. The mail row is written in the same transaction as the change, and sent after it commits.
// Anyone may ask for these mails for any address, so each address gets only MAIL_PER_ADDRESS_PER_HOUR of each kind
// (the routes also limit each caller); a request over it is absorbed: nothing is sent and the answer is the same.
import type { BackgroundTasks } from '../../lib/background-tasks.js';
import type { Clock } from '../../lib/clock.js';
import { BadRequestError } from '../../platform/errors.js';
import type { Transact, Tx } from '../../platform/db/transactions.js';
import type { OneTimeTokenPurpose } from '../../platform/db/schema.js';
import type { RateLimiter } from '../../platform/rate-limit/rate-limiter.js';
import type { MailOutbox } from '../mail/index.js';
import { passwordResetMail, verificationMail, type AuthMailKind } from './auth-mail.js';
import { invalidResetToken, invalidVerificationToken } from './auth.errors.js';
import type { AuthMetrics } from './auth.metrics.js';
import type { LoginLockService } from './login-lock.service.js';
import type { PasswordHasher } from './password-hasher.js';
import { passwordProblem } from './password-policy.js';
import type { OneTimeTokenRepository } from './token.repository.js';
import type { SessionService } from './session.service.js';
import { hashToken, newOpaqueToken } from './token.service.js';
import type { UserRecord, UserRepository } from './user.repository.js';

export interface AccountSettings {
  frontendUrl: string;
  passwordResetMinutes: number;
  emailVerificationHours: number;
}

export interface AccountServiceDeps {
  transact: Transact;
  users: UserRepository;
  oneTimeTokens: OneTimeTokenRepository;
  sessions: SessionService;
  /** A new password clears the lockout of the account's name. */
  loginLocks: LoginLockService;
  hasher: PasswordHasher;
  outbox: MailOutbox;
  clock: Clock;
  metrics: AuthMetrics;
  settings: AccountSettings;
  /** Counts the mails of each kind per address (MAIL_PER_ADDRESS_PER_HOUR); over it, the mail is not sent. */
  addressLimiter: RateLimiter;
  /** Where the mail requests do their work, after the answer (see requestPasswordReset). */
  background: BackgroundTasks;
}

export interface Registration {
  email: string;
  username: string;
  password: string;
  fullName: string | null;
}

/** Thrown inside the registration transaction so that it rolls back; answered outside it. */
class DuplicateUser extends Error {}

export const RESET_REQUESTED_MESSAGE = 'If the email exists, a password reset link has been sent';
export const VERIFICATION_RESENT_MESSAGE =
  'If the account exists and is not verified yet, a verification email has been sent';

export class AccountService {
  constructor(private readonly deps: AccountServiceDeps) {}

  /** Throws 400 with the first broken rule, as the original did. */
  static checkPassword(password: string): void {
    const problem = passwordProblem(password);
    if (problem) throw new BadRequestError(problem, 'weak_password');
  }

  async register(input: Registration): Promise<UserRecord> {
    const { transact, users, hasher, outbox, clock, metrics } = this.deps;
    AccountService.checkPassword(input.password);
    const email = input.email.toLowerCase();
    await this.refuseTaken(email, input.username);
    const hashedPassword = await hasher.hash(input.password);
    // The registration's mail is the first verification mail of its address, and counts as one.
    const mail = await this.withinAddressLimit('email-verification', email);
    const now = clock.now();
    let user: UserRecord;
    try {
      user = await transact(async (tx) => {
        const created = await users.insert(
          { email, username: input.username, fullName: input.fullName, hashedPassword },
          now,
          tx,
        );
        if (created === 'duplicate') throw new DuplicateUser();
        if (mail) await this.mailVerificationLink(created, now, tx);
        return created;
      });
    } catch (error) {
      // Someone registered the same name between our check and our insert: the same answer as the check's.
      if (error instanceof DuplicateUser) {
        await this.refuseTaken(email, input.username);
        throw new BadRequestError('Username already taken', 'username_taken');
      }
      throw error;
    }
    outbox.wake();
    metrics.registration();
    return user;
  }

  /** 'verified', or 'already_verified' when the address was verified before (a link opened twice). */
  async verifyEmail(token: string): Promise<'verified' | 'already_verified'> {
    const { transact, users, oneTimeTokens, clock, metrics } = this.deps;
    const now = clock.now();
    const tokenHash = hashToken(token);
    const outcome = await transact(async (tx) => {
      const userId = await oneTimeTokens.consume(tokenHash, 'email_verification', now, tx);
      if (userId === undefined) return 'invalid' as const;
      return (await users.markVerified(userId, now, tx))
        ? ('verified' as const)
        : ('already_verified' as const);
    });
    if (outcome === 'invalid') {
      metrics.emailVerification('invalid_token');
      throw invalidVerificationToken();
    }
    metrics.emailVerification(outcome);
    return outcome;
  }

  /**
   * Mails a fresh link when the account exists and is unverified; silent otherwise. Like a reset request, it returns
   * at once and does the work after the answer, so that the answer's timing does not tell whether it mailed.
   */
  resendVerification(who: { userId: number } | { email: string }): void {
    this.deps.background.run('verification mail', () => this.mailVerificationAgain(who));
  }

  private async mailVerificationAgain(who: { userId: number } | { email: string }): Promise<void> {
    const { transact, users, outbox, clock, metrics } = this.deps;
    const user = 'userId' in who ? await users.findById(who.userId) : await users.findByEmail(who.email);
    if (!user || user.isVerified || !user.isActive) return;
    if (!(await this.withinAddressLimit('email-verification', user.email))) return;
    const now = clock.now();
    await transact((tx) => this.mailVerificationLink(user, now, tx));
    outbox.wake();
    metrics.emailVerification('resent');
  }

  /**
   * Mails a reset link when an active account has this address; the caller answers the same either way. Returns at
   * once: the lookup, the link and the mail happen after the answer has gone out. Done for the timing: a known address
   * costs a lookup, a transaction with two writes and a wake of the outbox, an unknown one a lookup only, and that
   * difference was measurable from outside (which addresses have accounts). Padding the unknown path instead would
   * have to imitate the real work on each dialect and keep imitating it as that work changes; answering first makes
   * the answer independent of the address by construction. A failure is logged rather than answered, which loses
   * nothing: the answer could not tell the caller anything anyway. The app's close waits for this work.
   */
  requestPasswordReset(email: string): void {
    this.deps.background.run('password reset mail', () => this.mailPasswordReset(email));
  }

  private async mailPasswordReset(email: string): Promise<void> {
    const { transact, users, outbox, clock, metrics, settings } = this.deps;
    const user = await users.findByEmail(email);
    if (!user || !user.isActive) return;
    // Over the address's share, nothing happens at all: in particular the links already mailed keep working.
    if (!(await this.withinAddressLimit('password-reset', user.email))) return;
    const now = clock.now();
    // Earlier links stay valid too, each until it expires or any one of them is used (confirming invalidates the
    // rest). Anyone can ask for a reset of any address, so a request must not be able to kill the link its owner is
    // about to open; MAIL_PER_ADDRESS_PER_HOUR bounds how many links are out at once.
    await transact(async (tx) => {
      const link = await this.newLink(user.id, 'password_reset', settings.passwordResetMinutes, now, tx);
      await outbox.enqueue(
        passwordResetMail(
          user,
          `${settings.frontendUrl}/reset-password?token=${link}`,
          settings.passwordResetMinutes,
        ),
        tx,
      );
    });
    outbox.wake();
    metrics.passwordReset('requested');
  }

  /**
   * Sets the new password if the token is valid and unused, then ends every session of the user and clears the
   * lockout. The password is checked first, so a weak one does not use up the link.
   */
  async confirmPasswordReset(token: string, newPassword: string): Promise<void> {
    const { transact, users, oneTimeTokens, sessions, loginLocks, hasher, clock, metrics } = this.deps;
    AccountService.checkPassword(newPassword);
    const hashedPassword = await hasher.hash(newPassword);
    const now = clock.now();
    const done = await transact(async (tx) => {
      const userId = await oneTimeTokens.consume(hashToken(token), 'password_reset', now, tx);
      if (userId === undefined) return false;
      const user = await users.setPassword(userId, hashedPassword, now, tx);
      if (user) await loginLocks.clear(user.username, tx);
      await sessions.revokeAllSessions(userId, tx);
      await oneTimeTokens.invalidateOutstanding(userId, 'password_reset', now, tx);
      return true;
    });
    if (!done) {
      metrics.passwordReset('invalid_token');
      throw invalidResetToken();
    }
    metrics.passwordReset('completed');
  }

  private async refuseTaken(email: string, username: string): Promise<void> {
    const taken = await this.deps.users.findTaken(email, username);
    if (taken === 'email') throw new BadRequestError('Email already registered', 'email_taken');
    if (taken === 'username') throw new BadRequestError('Username already taken', 'username_taken');
  }

  private async mailVerificationLink(user: UserRecord, now: Date, tx: Tx): Promise<void> {
    const { outbox, settings } = this.deps;
    const minutes = settings.emailVerificationHours * 60;
    // Earlier links stay valid, as reset links do (see mailPasswordReset): a resend anyone can ask for must not be
    // able to kill the link in the owner's inbox. Verifying twice is harmless ('already verified').
    const token = await this.newLink(user.id, 'email_verification', minutes, now, tx);
    await outbox.enqueue(
      verificationMail(user, `${settings.frontendUrl}/verify-email?token=${token}`, minutes),
      tx,
    );
  }

  /** Counts one mail of `kind` to `address`; false (and counted as suppressed) when the address had its share. */
  private async withinAddressLimit(kind: AuthMailKind, address: string): Promise<boolean> {
    // Keyed by a hash of the address: the limiter's keys, in Redis, need not hold addresses.
    const allowed = await this.deps.addressLimiter.allow(`${kind}:${hashToken(address.toLowerCase())}`);
    if (!allowed) this.deps.metrics.mailSuppressed(kind);
    return allowed;
  }

  /** Stores the hash of a new single-use token and returns the token, for the link. */
  private async newLink(
    userId: number,
    purpose: OneTimeTokenPurpose,
    validMinutes: number,
    now: Date,
    tx: Tx,
  ): Promise<string> {
    const token = newOpaqueToken();
    await this.deps.oneTimeTokens.insert(
      {
        userId,
        purpose,
        tokenHash: hashToken(token),
        createdAt: now,
        expiresAt: new Date(now.getTime() + validMinutes * 60_000),
      },
      tx,
    );
    return token;
  }
}
