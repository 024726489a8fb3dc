// Migration 0008 (anonymous owners): existing sessions stay as they were, ids of up to 128 characters and an
// address key fit, the address key is unique with the id, and the way back refuses while it would lose either.
import { Migrator, type Kysely } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { createDatabase, type Database } from '../../../src/platform/db/database.js';
import { migrations } from '../../../src/platform/db/migrations/index.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';

const BEFORE = '0007_revoked_sessions';

describeEachDialect('migration 0008: anonymous chat owners', (dialect) => {
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
    expect((await migrator.migrateTo(BEFORE)).error).toBeUndefined();
  });
  afterEach(async () => {
    await database.destroy();
    await fresh.drop();
  });

  const now = new Date(Date.UTC(2030, 0, 1));
  const session = (publicId: string, ownerKey: string, extra: Record<string, unknown> = {}) => ({
    public_id: publicId,
    owner_key: ownerKey,
    model: 'm',
    title_is_custom: false,
    created_at: now,
    updated_at: now,
    last_message_at: now,
    ...extra,
  });
  const ids = async () =>
    (await db.selectFrom('chat_sessions').select('public_id').orderBy('public_id').execute()).map(
      (r: { public_id: string }) => r.public_id,
    );

  it('keeps old sessions, holds long ids and address keys, and goes back only when nothing is lost', async () => {
    await db.insertInto('chat_sessions').values(session('old', 'anonymous')).execute();
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(
      await db.selectFrom('chat_sessions').select(['public_id', 'owner_key', 'ip_owner_key']).execute(),
    ).toEqual([{ public_id: 'old', owner_key: 'anonymous', ip_owner_key: null }]);

    const long = 'L'.repeat(128);
    await db.insertInto('chat_sessions').values(session(long, 'anon:a')).execute();
    await db
      .insertInto('chat_sessions')
      .values(session('s', 'anon:b', { ip_owner_key: 'ip:192.0.2.1' }))
      .execute();
    // One id per address, as per owner.
    await expect(
      db
        .insertInto('chat_sessions')
        .values(session('s', 'anon:c', { ip_owner_key: 'ip:192.0.2.1' }))
        .execute(),
    ).rejects.toThrow();
    await db
      .insertInto('chat_sessions')
      .values(session('s', 'anon:d', { ip_owner_key: 'ip:192.0.2.2' }))
      .execute();

    const refused = await migrator.migrateTo(BEFORE);
    expect(String(refused.error)).toMatch(
      /cannot revert 0008: 1 session id\(s\) are longer than 64 characters and 2 session\(s\) are known by their client address/,
    );
    expect(await ids()).toEqual([long, 'old', 's', 's']);

    await db.deleteFrom('chat_sessions').where('owner_key', '!=', 'anonymous').execute();
    expect((await migrator.migrateTo(BEFORE)).error).toBeUndefined();
    expect(await ids()).toEqual(['old']);
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
  });
});
