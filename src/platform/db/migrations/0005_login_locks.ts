// Login lockout per login name instead of per user row: a name that belongs to no account locks exactly like one
// that does (a lock per row told strangers which names exist), and each password check is reserved before bcrypt
// runs, so parallel attempts cannot all pass a check made before any of them was judged. An account's key is its
// lowercased username, whatever name it was reached by; any other name is its own key, lowercased.
// users.failed_login_attempts and users.account_locked_until are no longer written; the state they hold now is
// carried over here, and the columns stay for the history of 0001.
import { sql, type Kysely } from 'kysely';
import { columnTypes } from './column-types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('login_locks')
    .addColumn('login_key', 'text', (c) => c.primaryKey())
    // Judged wrong passwords since the last success or the last lock that ran out.
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', t.timestamp)
    // Password checks reserved and not yet judged, valid until in_flight_until (a crashed instance's reservations
    // lapse instead of holding the name forever).
    .addColumn('in_flight', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('in_flight_until', t.timestamp)
    .addColumn('updated_at', t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('login_locks_updated_idx').on('login_locks').column('updated_at').execute();
  await sql`
    INSERT INTO login_locks (login_key, failed_attempts, locked_until, updated_at)
    SELECT lower(username), failed_login_attempts, account_locked_until, ${t.now} FROM users
     WHERE failed_login_attempts > 0 OR account_locked_until IS NOT NULL`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('login_locks').execute();
}
