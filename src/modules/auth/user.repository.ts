// SQL of the users table. Returns plain records (Dates and booleans whatever the dialect).
import { sql, type Selectable } from 'kysely';
import { isUniqueViolation } from '../../platform/db/constraint-errors.js';
import type { UsersTable } from '../../platform/db/schema.js';
import { Repository, type Tx } from '../../platform/db/transactions.js';
import { toBool, toDate } from '../../platform/db/values.js';

export interface UserRecord {
  id: number;
  email: string;
  username: string;
  fullName: string | null;
  hashedPassword: string;
  isActive: boolean;
  isSuperuser: boolean;
  isVerified: boolean;
  verifiedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  lastLogin: Date | null;
  passwordChangedAt: Date | null;
  sessionVersion: number;
}

export interface NewUser {
  email: string;
  username: string;
  fullName: string | null;
  hashedPassword: string;
  isSuperuser?: boolean;
  isVerified?: boolean;
}

export interface UserPage {
  items: UserRecord[];
  total: number;
}

function toRecord(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    fullName: row.full_name,
    hashedPassword: row.hashed_password,
    isActive: toBool(row.is_active),
    isSuperuser: toBool(row.is_superuser),
    isVerified: toBool(row.is_verified),
    verifiedAt: toDate(row.verified_at),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    lastLogin: toDate(row.last_login),
    passwordChangedAt: toDate(row.password_changed_at),
    sessionVersion: row.session_version,
  };
}

/** LIKE pattern matching `text` anywhere, with its own % _ and \ taken literally. */
function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class UserRepository extends Repository {
  /** The new user, or 'duplicate' when the email or username (in any case) is taken, even by a concurrent insert. */
  async insert(user: NewUser, now: Date, tx?: Tx): Promise<UserRecord | 'duplicate'> {
    try {
      const row = await this.on(tx)
        .insertInto('users')
        .values({
          email: user.email,
          username: user.username,
          full_name: user.fullName,
          hashed_password: user.hashedPassword,
          is_active: true,
          is_superuser: user.isSuperuser ?? false,
          is_verified: user.isVerified ?? false,
          verified_at: user.isVerified ? now : null,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRecord(row);
    } catch (error) {
      if (isUniqueViolation(error)) return 'duplicate';
      throw error;
    }
  }

  async findById(id: number, tx?: Tx): Promise<UserRecord | undefined> {
    const row = await this.on(tx).selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  /**
   * The user of an access token, and whether its login (`sid`) has ended (revoked_sessions), in one statement:
   * authenticate runs on every request, and a second query for the ended login cost a second round trip.
   */
  async findWithLogin(
    id: number,
    sessionId: string,
    tx?: Tx,
  ): Promise<{ user: UserRecord; loginEnded: boolean } | undefined> {
    const row = await this.on(tx)
      .selectFrom('users')
      .selectAll('users')
      .select((eb) =>
        eb
          .exists(eb.selectFrom('revoked_sessions').select('session_id').where('session_id', '=', sessionId))
          .as('login_ended'),
      )
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const { login_ended: loginEnded, ...user } = row;
    return { user: toRecord(user), loginEnded: toBool(loginEnded) };
  }

  async findByEmail(email: string, tx?: Tx): Promise<UserRecord | undefined> {
    const row = await this.on(tx)
      .selectFrom('users')
      .selectAll()
      .where(sql<string>`lower(email)`, '=', email.toLowerCase())
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** By username or email, ignoring case (both are unique ignoring case). */
  async findByLogin(login: string, tx?: Tx): Promise<UserRecord | undefined> {
    const lower = login.toLowerCase();
    const row = await this.on(tx)
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([eb(sql`lower(username)`, '=', lower), eb(sql`lower(email)`, '=', lower)]))
      // A username that looks like someone else's email must not shadow that account: usernames cannot hold '@',
      // but rows imported from the original might.
      .orderBy(sql`case when lower(username) = ${lower} then 0 else 1 end`)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** Which of email and username is already taken (email first, as the original answered). */
  async findTaken(email: string, username: string, tx?: Tx): Promise<'email' | 'username' | undefined> {
    const rows = await this.on(tx)
      .selectFrom('users')
      .select(['email', 'username'])
      .where((eb) =>
        eb.or([
          eb(sql`lower(email)`, '=', email.toLowerCase()),
          eb(sql`lower(username)`, '=', username.toLowerCase()),
        ]),
      )
      .execute();
    if (rows.some((r) => r.email.toLowerCase() === email.toLowerCase())) return 'email';
    return rows.length > 0 ? 'username' : undefined;
  }

  async recordLogin(id: number, now: Date, rehashedPassword?: string, tx?: Tx): Promise<void> {
    await this.on(tx)
      .updateTable('users')
      .set({
        last_login: now,
        ...(rehashedPassword === undefined ? {} : { hashed_password: rehashedPassword }),
      })
      .where('id', '=', id)
      .execute();
  }

  /**
   * New password: raises the session version, which revokes every issued token. The user, or undefined when there is
   * none; the caller clears the lockout of its name (login_locks) in the same transaction.
   */
  async setPassword(id: number, hashedPassword: string, now: Date, tx?: Tx): Promise<UserRecord | undefined> {
    const row = await this.on(tx)
      .updateTable('users')
      .set((eb) => ({
        hashed_password: hashedPassword,
        password_changed_at: now,
        updated_at: now,
        session_version: eb('session_version', '+', 1),
      }))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** Revokes every access token of the user (they carry the version they were issued under). */
  async bumpSessionVersion(id: number, tx?: Tx): Promise<void> {
    await this.on(tx)
      .updateTable('users')
      .set((eb) => ({ session_version: eb('session_version', '+', 1) }))
      .where('id', '=', id)
      .execute();
  }

  /** Marks the email verified; false when it already was. */
  async markVerified(id: number, now: Date, tx?: Tx): Promise<boolean> {
    const result = await this.on(tx)
      .updateTable('users')
      .set({ is_verified: true, verified_at: now, updated_at: now })
      .where('id', '=', id)
      .where('is_verified', '=', false)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async update(
    id: number,
    changes: { isActive?: boolean; isSuperuser?: boolean },
    now: Date,
    tx?: Tx,
  ): Promise<UserRecord | undefined> {
    const row = await this.on(tx)
      .updateTable('users')
      .set({
        updated_at: now,
        ...(changes.isActive === undefined ? {} : { is_active: changes.isActive }),
        ...(changes.isSuperuser === undefined ? {} : { is_superuser: changes.isSuperuser }),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** A page of users by id, optionally those whose username, email or full name contains `search` (any case). */
  async list(page: { skip: number; limit: number; search?: string }, tx?: Tx): Promise<UserPage> {
    let query = this.on(tx).selectFrom('users');
    if (page.search) {
      const pattern = containsPattern(page.search);
      query = query.where((eb) =>
        eb.or([
          eb(sql`lower(username)`, 'like', sql`${pattern} escape '\\'`),
          eb(sql`lower(email)`, 'like', sql`${pattern} escape '\\'`),
          eb(sql`lower(coalesce(full_name, ''))`, 'like', sql`${pattern} escape '\\'`),
        ]),
      );
    }
    const [rows, count] = await Promise.all([
      query.selectAll().orderBy('id').limit(page.limit).offset(page.skip).execute(),
      query.select((eb) => eb.fn.countAll<number | string | bigint>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toRecord), total: Number(count.n) };
  }
}
