// Deletes token rows that can no longer matter: an expired refresh, reset or verification token, or a denylisted
// access token past its expiry, is refused by its expiry before any row is read. Keeps the tables as small as the
// set of live sessions.
import type { Clock } from '../../lib/clock.js';
import type {
  OneTimeTokenRepository,
  RefreshTokenRepository,
  RevokedAccessTokenRepository,
} from './token.repository.js';

export interface CleanerLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface ExpiredTokenCleanerDeps {
  refreshTokens: RefreshTokenRepository;
  oneTimeTokens: OneTimeTokenRepository;
  revokedAccessTokens: RevokedAccessTokenRepository;
  clock: Clock;
  /** Also forgets the failures of login names nobody has tried for a day (login-lock.service.ts). */
  loginLocks?: { deleteIdle(): Promise<number> };
  logger: CleanerLogger;
  intervalMs: number;
}

export class ExpiredTokenCleaner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly deps: ExpiredTokenCleanerDeps) {}

  /** Deletes what has expired; returns the counts. */
  async runOnce(): Promise<{
    refreshTokens: number;
    oneTimeTokens: number;
    revokedAccessTokens: number;
    idleLoginLocks?: number;
  }> {
    const { clock, loginLocks } = this.deps;
    const now = clock.now();
    return {
      refreshTokens: await this.deps.refreshTokens.deleteExpired(now),
      oneTimeTokens: await this.deps.oneTimeTokens.deleteExpired(now),
      revokedAccessTokens: await this.deps.revokedAccessTokens.deleteExpired(now),
      ...(loginLocks ? { idleLoginLocks: await loginLocks.deleteIdle() } : {}),
    };
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.runOnce()
        .then((deleted) => {
          if (Object.values(deleted).some((count) => count > 0))
            this.deps.logger.info(deleted, 'expired tokens deleted');
        })
        // A database hiccup is retried at the next interval; it must never crash the server.
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'deleting expired tokens failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.deps.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
