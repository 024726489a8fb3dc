// What superusers may do to accounts: list, activate/deactivate, unlock, revoke sessions.
import type { Clock } from '../../lib/clock.js';
import { BadRequestError, NotFoundError } from '../../platform/errors.js';
import type { Transact } from '../../platform/db/transactions.js';
import type { LoginLockService } from './login-lock.service.js';
import type { SessionService } from './session.service.js';
import type { UserRecord, UserRepository } from './user.repository.js';

export interface UserAdminDeps {
  transact: Transact;
  users: UserRepository;
  sessions: SessionService;
  loginLocks: LoginLockService;
  clock: Clock;
}

/** An account as superusers see it: with the lockout state of its name (login_locks). */
export interface AdminUserRecord extends UserRecord {
  failedLoginAttempts: number;
  accountLockedUntil: Date | null;
}

export interface UserChanges {
  isActive?: boolean;
  unlock?: boolean;
  revokeSessions?: boolean;
}

export class UserAdminService {
  constructor(private readonly deps: UserAdminDeps) {}

  async list(page: {
    skip: number;
    limit: number;
    search?: string;
  }): Promise<{ items: AdminUserRecord[]; total: number }> {
    const found = await this.deps.users.list(page);
    return { items: await this.withLockState(found.items), total: found.total };
  }

  async update(actorId: number, userId: number, changes: UserChanges): Promise<AdminUserRecord> {
    const { transact, users, sessions, loginLocks, clock } = this.deps;
    if (actorId === userId && changes.isActive === false)
      throw new BadRequestError('You cannot deactivate your own account', 'cannot_deactivate_self');
    const updated = await transact(async (tx) => {
      const user = await users.update(userId, { isActive: changes.isActive }, clock.now(), tx);
      if (user && changes.unlock) await loginLocks.clear(user.username, tx);
      // Deactivation ends the sessions too: a re-activated account must log in again.
      if (user && (changes.revokeSessions || changes.isActive === false))
        await sessions.revokeAllSessions(userId, tx);
      return user;
    });
    if (!updated) throw new NotFoundError('User not found', 'user_not_found');
    const [withState] = await this.withLockState([updated]);
    return withState ?? { ...updated, failedLoginAttempts: 0, accountLockedUntil: null };
  }

  private async withLockState(users: UserRecord[]): Promise<AdminUserRecord[]> {
    const states = await this.deps.loginLocks.stateOf(users.map((u) => u.username));
    return users.map((user) => {
      const state = states.get(user.username);
      return {
        ...user,
        failedLoginAttempts: state?.failedAttempts ?? 0,
        accountLockedUntil: state?.lockedUntil ?? null,
      };
    });
  }
}
