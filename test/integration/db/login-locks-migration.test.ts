// Migration 0005 (the lockout per login name) carries over the lock state the users table held: an account locked
// before the upgrade stays locked after it, under its lowercased username, and accounts with nothing to carry get
// no row. The way back drops the table.
import { Migrator, type Kysely } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { createDatabase, type Database } from '../../../src/platform/db/database.js';
import { migrations } from '../../../src/platform/db/migrations/index.js';
import { toDate } from '../../../src/platform/db/values.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';

describeEachDialect('migration 0005: login locks per login name', (dialect) => {
  let fresh: FreshDatabase;
  let database: Database;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the schema changes under this handle
  let db: Kysely<any>;
  let migrator: Migrator;

  beforeEach(async () => {
    fresh = await freshDatabase(dialect);
    database = createDatabase(parseConfig({ DATABASE_URL: fresh.url }).db);
    db = database.db;
    migrator = new Migrator({ db, provider: { getMigrations: () => Promise.resolve(migrations) } });
    expect((await migrator.migrateTo('0004_chat_message_counts')).error).toBeUndefined();
  });
  afterEach(async () => {
    await database.destroy();
    await fresh.drop();
  });

  it('carries the failures and locks of users over, keyed by lowercased username', async () => {
    const until = new Date('2030-01-01T00:30:00.000Z');
    const user = (username: string, failed: number, lockedUntil: Date | null) => ({
      email: `${username.toLowerCase()}@example.com`,
      username,
      hashed_password: 'h',
      failed_login_attempts: failed,
      account_locked_until: dialect === 'sqlite' && lockedUntil ? lockedUntil.toISOString() : lockedUntil,
    });
    await db
      .insertInto('users')
      .values([user('Locked', 5, until), user('counting', 2, null), user('clean', 0, null)])
      .execute();

    expect((await migrator.migrateTo('0005_login_locks')).error).toBeUndefined();
    const rows = await db
      .selectFrom('login_locks')
      .select(['login_key', 'failed_attempts', 'locked_until', 'in_flight'])
      .orderBy('login_key')
      .execute();
    expect(
      rows.map((r: Record<string, unknown>) => ({
        ...r,
        locked_until: toDate(r.locked_until as Date | string | null),
      })),
    ).toEqual([
      { login_key: 'counting', failed_attempts: 2, locked_until: null, in_flight: 0 },
      { login_key: 'locked', failed_attempts: 5, locked_until: until, in_flight: 0 },
    ]);

    expect((await migrator.migrateDown()).error).toBeUndefined();
    const tables = (await db.introspection.getTables()).map((t) => t.name);
    expect(tables).not.toContain('login_locks');
  });
});
