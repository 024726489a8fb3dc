// The superuser service without an HTTP app around it, for `sutazai admin` commands.
import type { Config } from '../../config.js';
import { systemClock } from '../../lib/clock.js';
import type { Database } from '../../platform/db/database.js';
import { transactor } from '../../platform/db/transactions.js';
import { LoginLockRepository } from './login-lock.repository.js';
import { BcryptPasswordHasher } from './password-hasher.js';
import { SuperuserService } from './superuser.service.js';
import { UserRepository } from './user.repository.js';

export function createSuperuserService(database: Database, auth: Config['auth']): SuperuserService {
  return new SuperuserService({
    transact: transactor(database.db),
    users: new UserRepository(database.db),
    loginLocks: new LoginLockRepository(database.db),
    hasher: new BcryptPasswordHasher(auth.bcryptRounds),
    clock: systemClock,
  });
}
