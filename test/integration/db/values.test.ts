// The same repository code on both dialects: booleans and Dates in (SqliteValuesPlugin), the same JS values out
// (values.ts), text stored exactly, and constraint violations surfacing as driver errors.
import { sql, type Insertable } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { createDatabase, type Database } from '../../../src/platform/db/database.js';
import { migrateToLatest } from '../../../src/platform/db/migrator.js';
import type { UsersTable } from '../../../src/platform/db/schema.js';
import { toBool, toDate, toDbTimestamp } from '../../../src/platform/db/values.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';

let counter = 0;
/** A users row with unique email and username; fields may be overridden. */
function newUser(fields: Partial<Insertable<UsersTable>> = {}): Insertable<UsersTable> {
  counter += 1;
  return {
    email: `user${counter}@example.com`,
    username: `user${counter}`,
    hashed_password: '$2b$12$hash',
    ...fields,
  };
}

describeEachDialect('database values', (dialect) => {
  let fresh: FreshDatabase;
  let database: Database;
  beforeAll(async () => {
    fresh = await freshDatabase(dialect);
    database = createDatabase(parseConfig({ DATABASE_URL: fresh.url }).db);
    const { error } = await migrateToLatest(database.db);
    if (error) throw error;
  });
  afterAll(async () => {
    await database.destroy();
    await fresh.drop();
  });
  beforeEach(async () => {
    await database.db.deleteFrom('users').execute();
  });

  const byEmail = (email: string) =>
    database.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow();

  it('stores booleans and Dates passed by repositories, and reads them back as the same values', async () => {
    const lockedUntil = new Date('2031-02-03T04:05:06.789Z');
    const user = newUser({
      is_active: false,
      is_superuser: true,
      account_locked_until: lockedUntil,
      verified_at: null,
    });
    const inserted = await database.db
      .insertInto('users')
      .values(user)
      .returning(['id'])
      .executeTakeFirstOrThrow();
    expect(typeof inserted.id).toBe('number');

    const row = await byEmail(user.email);
    expect(toBool(row.is_active)).toBe(false);
    expect(toBool(row.is_superuser)).toBe(true);
    expect(toBool(row.is_verified)).toBe(false);
    expect(toDate(row.account_locked_until)).toEqual(lockedUntil);
    expect(toDate(row.account_locked_until)?.getTime()).toBe(lockedUntil.getTime());
    expect(toDate(row.verified_at)).toBeNull();
    if (dialect === 'sqlite') {
      // What SQLite really holds: 0/1 and ISO-8601 UTC text that sorts like time.
      expect(row.is_active).toBe(0);
      expect(row.account_locked_until).toBe('2031-02-03T04:05:06.789Z');
    } else {
      expect(row.is_active).toBe(false);
      expect(row.account_locked_until).toBeInstanceOf(Date);
    }
  });

  it('compares booleans and Dates in where clauses', async () => {
    const early = new Date('2030-01-01T00:00:00.001Z');
    const late = new Date('2030-01-01T00:00:00.002Z');
    await database.db
      .insertInto('users')
      .values([
        newUser({ is_active: true, account_locked_until: early }),
        newUser({ is_active: false, account_locked_until: late }),
      ])
      .execute();

    const inactive = await database.db
      .selectFrom('users')
      .select('username')
      .where('is_active', '=', false)
      .execute();
    expect(inactive).toHaveLength(1);
    const lockedAfterEarly = await database.db
      .selectFrom('users')
      .select(['account_locked_until'])
      .where('account_locked_until', '>', early)
      .execute();
    expect(lockedAfterEarly.map((r) => toDate(r.account_locked_until))).toEqual([late]);
    const inList = await database.db
      .selectFrom('users')
      .select('username')
      .where('is_active', 'in', [false])
      .execute();
    expect(inList).toEqual(inactive);
  });

  it('updates booleans and Dates', async () => {
    const user = newUser();
    await database.db.insertInto('users').values(user).execute();
    const when = new Date('2029-12-31T23:59:59.999Z');
    await database.db
      .updateTable('users')
      .set({ is_verified: true, verified_at: when, updated_at: when, failed_login_attempts: 3 })
      .where('email', '=', user.email)
      .execute();
    const row = await byEmail(user.email);
    expect(toBool(row.is_verified)).toBe(true);
    expect(toDate(row.verified_at)).toEqual(when);
    expect(toDate(row.updated_at)).toEqual(when);
    expect(row.failed_login_attempts).toBe(3);
  });

  it('gives the default timestamps as Dates with toDate', async () => {
    const user = newUser();
    await database.db.insertInto('users').values(user).execute();
    const row = await byEmail(user.email);
    const created = toDate(row.created_at);
    expect(created).toBeInstanceOf(Date);
    expect(Number.isNaN(created.getTime())).toBe(false);
    expect(toDate(row.updated_at).getTime()).toBe(created.getTime());
  });

  it.each([
    ['emoji', '😀👩🏽‍💻🚀 ok'],
    ['right-to-left', 'مرحبا بالعالم שלום'],
    ['CJK and combining marks', '漢字かなカナ한국어 é é'],
    ['control characters', 'tab\tnew\nline\r\u0001\u007f'],
    ['SQL injection', "x'); DROP TABLE users; --"],
    ['quotes and comments', `' OR '1'='1' /* " \\ */ ; --`],
    ['LIKE wildcards and backslashes', '100% _match_ \\\\server\\share'],
    ['dollar quoting', '$$; DROP TABLE users; $$ $tag$'],
  ])('stores %s text exactly', async (_name, text) => {
    const user = newUser({ full_name: text, username: text.slice(0, 100) });
    await database.db.insertInto('users').values(user).execute();
    const row = await byEmail(user.email);
    expect(row.full_name).toBe(text);
    expect(row.username).toBe(user.username);
    const found = await database.db
      .selectFrom('users')
      .select('email')
      .where('full_name', '=', text)
      .execute();
    expect(found).toEqual([{ email: user.email }]);
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from users`.execute(database.db);
    expect(Number(rows[0]?.n)).toBe(1);
  });

  it('surfaces a duplicate email as a driver error and stays usable', async () => {
    const user = newUser();
    await database.db.insertInto('users').values(user).execute();
    const duplicate = database.db
      .insertInto('users')
      .values(newUser({ email: user.email }))
      .execute();
    await expect(duplicate).rejects.toMatchObject(
      dialect === 'postgres'
        ? { code: '23505', constraint: 'users_email_key' }
        : { code: 'SQLITE_CONSTRAINT_UNIQUE', message: 'UNIQUE constraint failed: users.email' },
    );
    const rows = await database.db.selectFrom('users').select('email').execute();
    expect(rows).toEqual([{ email: user.email }]);
  });

  it('surfaces a duplicate username as a driver error too', async () => {
    const user = newUser();
    await database.db.insertInto('users').values(user).execute();
    await expect(
      database.db
        .insertInto('users')
        .values(newUser({ username: user.username }))
        .execute(),
    ).rejects.toMatchObject({ code: dialect === 'postgres' ? '23505' : 'SQLITE_CONSTRAINT_UNIQUE' });
  });

  it('rolls back a transaction that fails on a unique violation', async () => {
    const user = newUser();
    await database.db.insertInto('users').values(user).execute();
    const first = newUser();
    await expect(
      database.db.transaction().execute(async (trx) => {
        await trx.insertInto('users').values(first).execute();
        await trx
          .insertInto('users')
          .values(newUser({ email: user.email }))
          .execute();
      }),
    ).rejects.toMatchObject({ code: dialect === 'postgres' ? '23505' : 'SQLITE_CONSTRAINT_UNIQUE' });
    const emails = await database.db.selectFrom('users').select('email').execute();
    expect(emails).toEqual([{ email: user.email }]);
  });
});

describe('values.ts', () => {
  it('toDate keeps a Date and parses ISO text to the same instant', () => {
    const date = new Date('2024-02-29T12:34:56.789Z');
    expect(toDate(date)).toBe(date);
    expect(toDate('2024-02-29T12:34:56.789Z').getTime()).toBe(date.getTime());
    expect(toDate(null)).toBeNull();
  });

  it('toBool reads both dialects the same way', () => {
    expect([toBool(true), toBool(1), toBool(false), toBool(0)]).toEqual([true, true, false, false]);
  });

  it('toDbTimestamp writes ISO-8601 UTC with milliseconds, which toDate reads back exactly', () => {
    const date = new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 6));
    expect(toDbTimestamp(date)).toBe('2025-01-02T03:04:05.006Z');
    expect(toDate(toDbTimestamp(date)).getTime()).toBe(date.getTime());
  });
});
