// The login lockout: at most LOCKOUT_THRESHOLD password checks are judged per login name and lock window, however
// many attempts arrive at once and on however many instances.
//
// A check is reserved before bcrypt runs (refused, without hashing, when the name is locked or when its counted
// failures and the checks already in flight reach the threshold) and judged after it in one conditional statement:
// a wrong password counts and locks at the threshold; a right one succeeds only if no lock is in force at that
// moment, and then clears the count. While a reservation is in flight the count cannot reach the threshold without
// it, so the right password racing wrong ones either was among the first THRESHOLD checks (and wins) or is refused.
//
// The key is the name, not the account: a name no account has locks the same way, with the same answers and the
// same statements, so neither the answers nor their timing tell which names exist.
import type { Clock } from '../../lib/clock.js';
import type { Tx } from '../../platform/db/transactions.js';
import { AccountLockedError, invalidCredentials } from './auth.errors.js';
import type { AuthMetrics } from './auth.metrics.js';
import { loginKey, type LockState, type LoginLockRepository } from './login-lock.repository.js';

export interface LoginLockSettings {
  lockoutThreshold: number;
  lockoutMinutes: number;
}

export interface LoginLockDeps {
  locks: LoginLockRepository;
  clock: Clock;
  metrics: AuthMetrics;
  settings: LoginLockSettings;
}

/** Failures of a name nobody has tried for this long are forgotten (the row is deleted). */
export const FORGET_FAILURES_AFTER_MS = 24 * 60 * 60_000;

export class LoginLockService {
  constructor(private readonly deps: LoginLockDeps) {}

  private get lockMs(): number {
    return this.deps.settings.lockoutMinutes * 60_000;
  }

  /** Reserves one password check for `name`; throws 403 (nothing to hash) when it may not have one. */
  async reserve(name: string): Promise<void> {
    const { locks, clock, metrics, settings } = this.deps;
    const key = loginKey(name);
    const now = clock.now();
    // A reservation that is never judged (its instance died) lapses after as long as a lock would last.
    const limits = {
      threshold: settings.lockoutThreshold,
      inFlightUntil: new Date(now.getTime() + this.lockMs),
    };
    if (await locks.reserve(key, now, limits)) return;
    metrics.login('locked');
    // Locked, or THRESHOLD checks are in flight and will most likely lock it: either way, the lock's time.
    const state = await locks.find(key);
    throw this.locked(state?.lockedUntil ?? null, now);
  }

  /** Judges the reserved check of `name` wrong: always throws, 401 or, from the threshold on, 403. */
  async fail(name: string): Promise<never> {
    const { locks, clock, metrics, settings } = this.deps;
    const now = clock.now();
    const state: LockState | undefined = await this.orRelease(name, () =>
      locks.recordFailure(
        loginKey(name),
        now,
        settings.lockoutThreshold,
        new Date(now.getTime() + this.lockMs),
      ),
    );
    if (state?.lockedUntil && state.lockedUntil > now) {
      // Exactly one failure reaches the threshold per window: that one locked the name.
      if (state.failedAttempts === settings.lockoutThreshold) metrics.lockout();
      metrics.login('locked');
      throw this.locked(state.lockedUntil, now);
    }
    metrics.login('invalid_credentials');
    throw invalidCredentials();
  }

  /** Judges the reserved check of `name` right: clears its count, or throws 403 when it got locked meanwhile. */
  async succeed(name: string): Promise<void> {
    const { locks, clock, metrics } = this.deps;
    const now = clock.now();
    const lockedUntil = await this.orRelease(name, () => locks.recordSuccess(loginKey(name), now));
    if (!lockedUntil) return;
    metrics.login('locked');
    throw this.locked(lockedUntil, now);
  }

  /**
   * Runs `judge` (the hash, or the verdict's statement) for a reserved check of `name`; when it fails, the check is
   * given back before the error goes on. Without this, a database blip during logins would leave reservations that
   * nothing releases for a whole lock period: THRESHOLD of them lock the name with no wrong password typed. The
   * release is best effort (the database may still be away), and then the reservation lapses as for a crash.
   */
  async orRelease<T>(name: string, judge: () => Promise<T>): Promise<T> {
    try {
      return await judge();
    } catch (error) {
      const { locks, clock } = this.deps;
      await locks.release(loginKey(name), clock.now()).catch(() => undefined);
      throw error;
    }
  }

  /** Unlocks `name` and forgets its failures (superuser unlock, new password), in the caller's transaction `tx`. */
  async clear(name: string, tx?: Tx): Promise<void> {
    await this.deps.locks.clear(loginKey(name), this.deps.clock.now(), tx);
  }

  /** The lock state of each account name, for superusers (a lock that has run out shows as none). */
  async stateOf(names: string[]): Promise<Map<string, LockState>> {
    const now = this.deps.clock.now();
    const rows = await this.deps.locks.findMany(names.map(loginKey));
    const none: LockState = { failedAttempts: 0, lockedUntil: null };
    return new Map(
      names.map((name) => {
        const state = rows.get(loginKey(name)) ?? none;
        return [name, state.lockedUntil && state.lockedUntil <= now ? none : state];
      }),
    );
  }

  /** Deletes the rows of names idle for FORGET_FAILURES_AFTER_MS and not locked. */
  deleteIdle(): Promise<number> {
    const now = this.deps.clock.now();
    return this.deps.locks.deleteIdle(now, new Date(now.getTime() - FORGET_FAILURES_AFTER_MS));
  }

  private locked(lockedUntil: Date | null, now: Date): AccountLockedError {
    const ms = lockedUntil && lockedUntil > now ? lockedUntil.getTime() - now.getTime() : this.lockMs;
    return new AccountLockedError(ms / 1000);
  }
}
