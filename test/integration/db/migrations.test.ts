// The migration runner on both dialects: every migration up and down, idempotence, and concurrent runs on PostgreSQL.
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { createDatabase, type Database } from '../../../src/platform/db/database.js';
import { migrateDown, migrateToLatest, pendingMigrations } from '../../../src/platform/db/migrator.js';
import { migrations } from '../../../src/platform/db/migrations/index.js';
import { describeEachDialect, describePostgres } from '../../helpers/dialects.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';

const USER_COLUMNS = [
  'id',
  'email',
  'username',
  'full_name',
  'hashed_password',
  'is_active',
  'is_superuser',
  'is_verified',
  'verified_at',
  'created_at',
  'updated_at',
  'last_login',
  'failed_login_attempts',
  'account_locked_until',
  'password_changed_at',
  // 0002_auth
  'session_version',
];

const AUTH_TABLES = [
  'email_outbox',
  'one_time_tokens',
  'refresh_tokens',
  'revoked_access_tokens',
  'revoked_sessions',
];
const CHAT_TABLES = ['chat_messages', 'chat_sessions'];

async function tableNames(database: Database): Promise<string[]> {
  const tables = await database.db.introspection.getTables();
  return tables.map((t) => t.name).filter((name) => !name.startsWith('kysely_'));
}

async function appliedNames(database: Database): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
    database.db,
  );
  return rows.map((r) => r.name);
}

describeEachDialect('migrations', (dialect) => {
  let fresh: FreshDatabase;
  let database: Database;
  beforeAll(async () => {
    fresh = await freshDatabase(dialect);
    database = createDatabase(parseConfig({ DATABASE_URL: fresh.url }).db);
  });
  afterAll(async () => {
    await database.destroy();
    await fresh.drop();
  });

  it('lists every migration as pending on an empty database', async () => {
    expect(await pendingMigrations(database.db)).toEqual(Object.keys(migrations));
    expect(await pendingMigrations(database.db)).toContain('0001_users');
    expect(await tableNames(database)).toEqual([]);
  });

  it('applies every migration: the users table with every column, and the auth tables', async () => {
    const outcome = await migrateToLatest(database.db);
    expect(outcome).toEqual({ applied: Object.keys(migrations) });
    expect(await pendingMigrations(database.db)).toEqual([]);
    expect(await appliedNames(database)).toEqual(Object.keys(migrations));

    const users = (await database.db.introspection.getTables()).find((t) => t.name === 'users');
    expect(users?.columns.map((c) => c.name)).toEqual(USER_COLUMNS);
    const column = (name: string) => users?.columns.find((c) => c.name === name);
    expect(column('id')).toMatchObject({ isAutoIncrementing: true });
    expect(column('email')).toMatchObject({ isNullable: false });
    expect(column('full_name')).toMatchObject({ isNullable: true });
    expect(column('is_active')).toMatchObject({ isNullable: false, hasDefaultValue: true });
    expect(column('account_locked_until')).toMatchObject({ isNullable: true });
    expect(column('session_version')).toMatchObject({ isNullable: false, hasDefaultValue: true });
    expect(await tableNames(database)).toEqual(
      expect.arrayContaining([...AUTH_TABLES, ...CHAT_TABLES, 'users']),
    );
  });

  it('fills the column defaults of a minimal row', async () => {
    await database.db
      .insertInto('users')
      .values({ email: 'defaults@example.com', username: 'defaults', hashed_password: 'h' })
      .execute();
    const row = await database.db
      .selectFrom('users')
      .selectAll()
      .where('email', '=', 'defaults@example.com')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      full_name: null,
      is_active: dialect === 'postgres' ? true : 1,
      is_superuser: dialect === 'postgres' ? false : 0,
      is_verified: dialect === 'postgres' ? false : 0,
      failed_login_attempts: 0,
      verified_at: null,
      last_login: null,
      account_locked_until: null,
    });
    expect(typeof row.id).toBe('number');
    for (const stamp of [row.created_at, row.updated_at]) {
      const date = stamp instanceof Date ? stamp : new Date(stamp);
      expect(Number.isNaN(date.getTime())).toBe(false);
    }
    if (dialect === 'sqlite') expect(row.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await database.db.deleteFrom('users').execute();
  });

  it('applies nothing on a second run', async () => {
    expect(await migrateToLatest(database.db)).toEqual({ applied: [] });
    expect(await appliedNames(database)).toEqual(Object.keys(migrations));
  });

  it('reverts the last migration with migrateDown, and applies it again', async () => {
    const last = Object.keys(migrations).at(-1);
    const down = await migrateDown(database.db);
    expect(down).toEqual({ applied: [last] });
    expect(await pendingMigrations(database.db)).toEqual([last]);

    expect(await migrateToLatest(database.db)).toEqual({ applied: [last] });
    expect(await tableNames(database)).toEqual(
      expect.arrayContaining([...AUTH_TABLES, ...CHAT_TABLES, 'users']),
    );
  });

  it('reports a failed migration by name, with its cause', async () => {
    const other = await freshDatabase(dialect);
    const db = createDatabase(parseConfig({ DATABASE_URL: other.url }).db);
    try {
      // A table in the way makes 0001_users fail the way a half-applied schema would.
      await db.db.schema.createTable('users').addColumn('x', 'integer').execute();
      const outcome = await migrateToLatest(db.db);
      expect(outcome.applied).toEqual([]);
      expect(outcome.error?.message).toMatch(/^migration 0001_users failed: .*users.*already exists/);
      expect(outcome.error?.cause).toBeInstanceOf(Error);
      expect(await pendingMigrations(db.db)).toContain('0001_users');
    } finally {
      await db.destroy();
      await other.drop();
    }
  });
});

describePostgres('migrations run concurrently', () => {
  it('applies each migration once when three instances migrate the same database together', async () => {
    const fresh = await freshDatabase('postgres');
    const config = parseConfig({ DATABASE_URL: fresh.url }).db;
    const instances = [createDatabase(config), createDatabase(config), createDatabase(config)];
    try {
      const outcomes = await Promise.all(instances.map((instance) => migrateToLatest(instance.db)));
      for (const outcome of outcomes) expect(outcome.error).toBeUndefined();
      expect(outcomes.flatMap((o) => o.applied).sort()).toEqual(Object.keys(migrations));
      const [first] = instances as [Database];
      expect(await appliedNames(first)).toEqual(Object.keys(migrations));
      expect(await tableNames(first)).toContain('users');
    } finally {
      await Promise.all(instances.map((instance) => instance.destroy()));
      await fresh.drop();
    }
  });
});
