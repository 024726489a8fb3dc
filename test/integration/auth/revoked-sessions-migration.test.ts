// Migration 0007 carries the logouts made before it over to the new table of ended logins: a login whose refresh
// family was already revoked stays ended (until its last refresh token expires), a live one is not touched, and one
// whose tokens have all expired is not copied. Without this, upgrading would bring logged-out tokens back to life.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { createDatabase, type Database } from '../../../src/platform/db/database.js';
import { migrateDown, migrateToLatest, pendingMigrations } from '../../../src/platform/db/migrator.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';

const MIGRATION = '0007_revoked_sessions';
const DAY = 86_400_000;

describeEachDialect('migration 0007 (ended logins)', (dialect) => {
  let fresh: FreshDatabase;
  let database: Database;
  beforeAll(async () => {
    fresh = await freshDatabase(dialect);
    database = createDatabase(parseConfig({ DATABASE_URL: fresh.url }).db);
    await migrateToLatest(database.db);
    while (!(await pendingMigrations(database.db)).includes(MIGRATION)) await migrateDown(database.db);
  });
  afterAll(async () => {
    await database.destroy();
    await fresh.drop();
  });

  it('copies the revoked families whose refresh tokens have not all expired, with their last expiry', async () => {
    const db = database.db;
    const now = Date.now();
    const user = await db
      .insertInto('users')
      .values({
        email: 'ada@example.com',
        username: 'ada',
        full_name: null,
        hashed_password: 'x',
        is_active: true,
        is_superuser: false,
        is_verified: true,
        created_at: new Date(now),
        updated_at: new Date(now),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    let n = 0;
    const token = (family: string, expiresInMs: number, revoked: boolean) =>
      db
        .insertInto('refresh_tokens')
        .values({
          user_id: user.id,
          family_id: family,
          token_hash: `hash-${++n}`,
          issued_at: new Date(now - DAY),
          expires_at: new Date(now + expiresInMs),
          revoked_at: revoked ? new Date(now - 1000) : null,
        })
        .execute();
    // Logged out: a rotated token (expiring sooner) and the last one.
    await token('logged-out', 6 * DAY, true);
    await token('logged-out', 7 * DAY, true);
    await token('live', 7 * DAY, false);
    await token('long-gone', -DAY, true);

    expect(await migrateToLatest(database.db)).toMatchObject({
      applied: expect.arrayContaining([MIGRATION]) as string[],
    });
    const rows = await db.selectFrom('revoked_sessions').selectAll().execute();
    expect(rows.map((r) => r.session_id)).toEqual(['logged-out']);
    expect(new Date(rows[0]?.expires_at ?? 0).getTime()).toBe(now + 7 * DAY);
  });
});
