// SQL of login_locks: the lockout per login name. Each step is one statement, so it is atomic on SQLite and on
// PostgreSQL (a row lock), and holds across instances sharing the database. See login-lock.service.ts for the rules.
import { sql, type RawBuilder } from 'kysely';
import { Repository, type Tx } from '../../platform/db/transactions.js';
import { toDate } from '../../platform/db/values.js';

export interface LockState {
  failedAttempts: number;
  lockedUntil: Date | null;
}

export interface LockLimits {
  threshold: number;
  /** How long a reserved check stays reserved when its instance never judges it (it crashed). */
  inFlightUntil: Date;
}

/** The key of a login name: what findByLogin matches ignoring case. */
export function loginKey(name: string): string {
  return name.toLowerCase();
}

const col = (name: string) => sql.ref(`login_locks.${name}`);
/** True while a lock is in force (NULL, no lock, is not in force). */
const lockedAt = (now: Date) =>
  sql<boolean>`(${col('locked_until')} is not null and ${col('locked_until')} > ${now})`;
/** Failures that still count: a lock that has run out takes its count with it. */
const countedFailures = (now: Date): RawBuilder<number> =>
  sql`(case when ${col('locked_until')} <= ${now} then 0 else ${col('failed_attempts')} end)`;
/** Reservations that have not lapsed. */
const liveInFlight = (now: Date): RawBuilder<number> =>
  sql`(case when ${col('in_flight_until')} > ${now} then ${col('in_flight')} else 0 end)`;
const released = sql<number>`(case when ${col('in_flight')} > 0 then ${col('in_flight')} - 1 else 0 end)`;

function toState(row: { failed_attempts: number; locked_until: Date | string | null }): LockState {
  return { failedAttempts: row.failed_attempts, lockedUntil: toDate(row.locked_until) };
}

export class LoginLockRepository extends Repository {
  /**
   * Reserves one password check for `key`: true unless the name is locked or its counted failures and live
   * reservations already reach the threshold. A lock that has run out is cleared here (the count starts again).
   */
  async reserve(key: string, now: Date, limits: LockLimits, tx?: Tx): Promise<boolean> {
    const row = await this.on(tx)
      .insertInto('login_locks')
      .values({
        login_key: key,
        failed_attempts: 0,
        locked_until: null,
        in_flight: 1,
        in_flight_until: limits.inFlightUntil,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc
          .column('login_key')
          .doUpdateSet({
            failed_attempts: countedFailures(now),
            locked_until: null,
            in_flight: sql`${liveInFlight(now)} + 1`,
            in_flight_until: limits.inFlightUntil,
            updated_at: now,
          })
          .where(sql<boolean>`not ${lockedAt(now)}`)
          .where(sql<boolean>`${countedFailures(now)} + ${liveInFlight(now)} < ${limits.threshold}`),
      )
      .returning('login_key')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Judges a reserved check wrong: counts it and releases it, and locks until `lockUntil` when the count reaches
   * the threshold (a lock already in force is kept as it is). Undefined when the row is gone.
   */
  async recordFailure(
    key: string,
    now: Date,
    threshold: number,
    lockUntil: Date,
    tx?: Tx,
  ): Promise<LockState | undefined> {
    const row = await this.on(tx)
      .updateTable('login_locks')
      .set({
        failed_attempts: sql`${col('failed_attempts')} + 1`,
        locked_until: sql`case when ${lockedAt(now)} then ${col('locked_until')}
          when ${col('failed_attempts')} + 1 >= ${threshold} then ${lockUntil} else ${col('locked_until')} end`,
        in_flight: released,
        updated_at: now,
      })
      .where('login_key', '=', key)
      .returning(['failed_attempts', 'locked_until'])
      .executeTakeFirst();
    return row && toState(row);
  }

  /**
   * Judges a reserved check right: releases it and, unless a lock is in force, clears the count. Returns the lock
   * in force (the caller refuses the login), or null.
   */
  async recordSuccess(key: string, now: Date, tx?: Tx): Promise<Date | null> {
    const row = await this.on(tx)
      .updateTable('login_locks')
      .set({
        failed_attempts: sql`case when ${lockedAt(now)} then ${col('failed_attempts')} else 0 end`,
        locked_until: sql`case when ${lockedAt(now)} then ${col('locked_until')} else null end`,
        in_flight: released,
        updated_at: now,
      })
      .where('login_key', '=', key)
      .returning('locked_until')
      .executeTakeFirst();
    const lockedUntil = row ? toDate(row.locked_until) : null;
    return lockedUntil && lockedUntil > now ? lockedUntil : null;
  }

  /** Gives back a reserved check that was never judged (its hash or its verdict failed): nothing is counted. */
  async release(key: string, now: Date, tx?: Tx): Promise<void> {
    await this.on(tx)
      .updateTable('login_locks')
      .set({ in_flight: released, updated_at: now })
      .where('login_key', '=', key)
      .execute();
  }

  async find(key: string, tx?: Tx): Promise<LockState | undefined> {
    const row = await this.on(tx)
      .selectFrom('login_locks')
      .select(['failed_attempts', 'locked_until'])
      .where('login_key', '=', key)
      .executeTakeFirst();
    return row && toState(row);
  }

  /** The state of each key that has a row. */
  async findMany(keys: string[], tx?: Tx): Promise<Map<string, LockState>> {
    if (keys.length === 0) return new Map();
    const rows = await this.on(tx)
      .selectFrom('login_locks')
      .select(['login_key', 'failed_attempts', 'locked_until'])
      .where('login_key', 'in', keys)
      .execute();
    return new Map(rows.map((row) => [row.login_key, toState(row)]));
  }

  /** Unlocks and forgets the failures (superuser unlock, new password); checks in flight stay reserved. */
  async clear(key: string, now: Date, tx?: Tx): Promise<void> {
    await this.on(tx)
      .updateTable('login_locks')
      .set({ failed_attempts: 0, locked_until: null, updated_at: now })
      .where('login_key', '=', key)
      .execute();
  }

  /**
   * Deletes the rows of names not tried since `idleSince` that are neither locked nor holding a live reservation:
   * their failures are forgotten. Bounds the table, which any stranger can grow by trying new names.
   */
  async deleteIdle(now: Date, idleSince: Date, tx?: Tx): Promise<number> {
    const result = await this.on(tx)
      .deleteFrom('login_locks')
      .where('updated_at', '<', idleSince)
      .where(sql<boolean>`not ${lockedAt(now)}`)
      .where(sql<boolean>`${liveInFlight(now)} = 0`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
