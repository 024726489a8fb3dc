// The one way to become a superuser: the `sutazai admin create-superuser` command, which calls this.
import type { Clock } from '../../lib/clock.js';
import { BadRequestError, NotFoundError } from '../../platform/errors.js';
import type { Transact } from '../../platform/db/transactions.js';
import { AccountService } from './account.service.js';
import { USERNAME_PATTERN } from './auth.schemas.js';
import { loginKey, type LoginLockRepository } from './login-lock.repository.js';
import type { PasswordHasher } from './password-hasher.js';
import type { UserRecord, UserRepository } from './user.repository.js';

export interface SuperuserInput {
  email: string;
  username: string;
  password: string;
  fullName: string | null;
  /** Make an existing account (same username and email) a superuser, with this password. */
  promote: boolean;
}

export interface SuperuserDeps {
  transact: Transact;
  users: UserRepository;
  /** A promotion sets a new password, which clears the lockout of the account's name. */
  loginLocks: LoginLockRepository;
  hasher: PasswordHasher;
  clock: Clock;
}

export class SuperuserService {
  constructor(private readonly deps: SuperuserDeps) {}

  /** Creates a verified superuser, or promotes an existing account when `promote` is set. */
  async createSuperuser(input: SuperuserInput): Promise<{ user: UserRecord; created: boolean }> {
    const { transact, users, loginLocks, hasher, clock } = this.deps;
    if (!new RegExp(USERNAME_PATTERN).test(input.username))
      throw new BadRequestError(
        'Username must be 3 to 32 letters, digits, "_", "." or "-"',
        'invalid_username',
      );
    if (!/^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(input.email) || input.email.length > 255)
      throw new BadRequestError('Not a valid email address', 'invalid_email');
    AccountService.checkPassword(input.password);
    const email = input.email.toLowerCase();
    const taken = await users.findTaken(email, input.username);
    const now = clock.now();
    if (taken) {
      const existing = await users.findByLogin(input.username);
      if (!input.promote || !existing || existing.email.toLowerCase() !== email)
        throw new BadRequestError(
          taken === 'email'
            ? 'Email already registered (use --promote with the same username and email to make that account a superuser)'
            : 'Username already taken (use --promote with the same username and email to make that account a superuser)',
          `${taken}_taken`,
        );
      const hashedPassword = await hasher.hash(input.password);
      const promoted = await transact(async (tx) => {
        // setPassword raises the session version: tokens issued under the old password stop working, as after a
        // reset.
        await users.setPassword(existing.id, hashedPassword, now, tx);
        await loginLocks.clear(loginKey(existing.username), now, tx);
        return users.update(existing.id, { isSuperuser: true, isActive: true }, now, tx);
      });
      if (!promoted) throw new NotFoundError('User not found', 'user_not_found');
      return { user: promoted, created: false };
    }
    const created = await users.insert(
      {
        email,
        username: input.username,
        fullName: input.fullName,
        hashedPassword: await hasher.hash(input.password),
        isSuperuser: true,
        isVerified: true,
      },
      now,
    );
    if (created === 'duplicate') throw new BadRequestError('Username or email already taken', 'user_taken');
    return { user: created, created: true };
  }
}
