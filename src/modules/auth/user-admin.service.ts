// What superusers may do to accounts: list, activate/deactivate, unlock, revoke sessions.
import type { Clock } from '../../lib/clock.js';
import { BadRequestError, NotFoundError } from '../../platform/errors.js';
import type { DbExecutor, Transact } from '../../platform/db/transactions.js';
import type { SessionService } from './session.service.js';
import type { UserPage, UserRecord, UserRepository } from './user.repository.js';

export interface UserAdminDeps {
  db: DbExecutor;
  transact: Transact;
  users: UserRepository;
  sessions: SessionService;
  clock: Clock;
}

export interface UserChanges {
  isActive?: boolean;
  unlock?: boolean;
  revokeSessions?: boolean;
}

export class UserAdminService {
  constructor(private readonly deps: UserAdminDeps) {}

  list(page: { skip: number; limit: number; search?: string }): Promise<UserPage> {
    return this.deps.users.list(this.deps.db, page);
  }

  async update(actorId: number, userId: number, changes: UserChanges): Promise<UserRecord> {
    const { transact, users, sessions, clock } = this.deps;
    if (actorId === userId && changes.isActive === false)
      throw new BadRequestError('You cannot deactivate your own account', 'cannot_deactivate_self');
    const updated = await transact(async (trx) => {
      const user = await users.update(
        trx,
        userId,
        { isActive: changes.isActive, unlock: changes.unlock },
        clock.now(),
      );
      // Deactivation ends the sessions too: a re-activated account must log in again.
      if (user && (changes.revokeSessions || changes.isActive === false))
        await sessions.revokeAllSessions(userId, trx);
      return user;
    });
    if (!updated) throw new NotFoundError('User not found', 'user_not_found');
    return updated;
  }
}
