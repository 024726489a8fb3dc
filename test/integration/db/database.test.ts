// createDatabase() on both dialects: connection settings, pool statistics, destroy.
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig, type Config } from '../../../src/config.js';
import { createDatabase, redactDatabaseUrl, type Database } from '../../../src/platform/db/database.js';
import { describeEachDialect, describePostgres } from '../../helpers/dialects.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';

/** How long a poll for pool state may take before the test fails (generous: the machine may be busy). */
const WAIT = { timeout: 10_000, interval: 20 };

function dbConfig(url: string, env: Record<string, string> = {}): Config['db'] {
  return parseConfig({ DATABASE_URL: url, ...env }).db;
}

/** A promise and the function that settles it, to hold a connection until the test lets go. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describeEachDialect('createDatabase', (dialect) => {
  let fresh: FreshDatabase;
  let database: Database;
  beforeAll(async () => {
    fresh = await freshDatabase(dialect);
    database = createDatabase(dbConfig(fresh.url));
  });
  afterAll(async () => {
    await database.destroy();
    await fresh.drop();
  });

  it('answers ping and plain queries', async () => {
    expect(database.dialect).toBe(dialect);
    await expect(database.ping()).resolves.toBeUndefined();
    const { rows } = await sql<{ answer: number }>`select 40 + 2 as answer`.execute(database.db);
    expect(Number(rows[0]?.answer)).toBe(42);
  });

  it('reports pool statistics with the same shape on both dialects', async () => {
    await database.ping();
    const stats = database.poolStats();
    expect(Object.keys(stats).sort()).toEqual(['idle', 'inUse', 'size', 'total', 'waiting']);
    expect(stats.inUse).toBe(0);
    expect(stats.waiting).toBe(0);
    expect(stats.idle).toBe(stats.total);
    expect(stats.total).toBeGreaterThanOrEqual(1);
    expect(stats.total).toBeLessThanOrEqual(stats.size);
  });

  it('rejects queries once destroyed', async () => {
    const other = createDatabase(dbConfig(fresh.url));
    await other.ping();
    await other.destroy();
    await expect(other.ping()).rejects.toThrow();
  });
});

describe('createDatabase [sqlite settings]', () => {
  let fresh: FreshDatabase;
  let database: Database;
  beforeAll(async () => {
    fresh = await freshDatabase('sqlite');
  });
  afterEach(() => database.destroy());
  afterAll(() => fresh.drop());

  it('turns on WAL, a busy timeout and foreign keys', async () => {
    database = createDatabase(dbConfig(fresh.url));
    const pragma = async (name: string) => (await sql.raw(`pragma ${name}`).execute(database.db)).rows[0];
    expect(await pragma('journal_mode')).toEqual({ journal_mode: 'wal' });
    expect(await pragma('busy_timeout')).toEqual({ timeout: 5000 });
    expect(await pragma('foreign_keys')).toEqual({ foreign_keys: 1 });
  });

  it('creates the folder of the database file', async () => {
    const file = path.join(fresh.dataDir, 'deeper', 'still', 'app.db');
    database = createDatabase(dbConfig(`sqlite:${file}`));
    await database.ping();
    expect(fs.existsSync(file)).toBe(true);
  });

  it('reports a pool of one connection, which Kysely serialises queries on', async () => {
    database = createDatabase(dbConfig(fresh.url, { DB_POOL_SIZE: '5' }));
    const held = gate();
    const order: string[] = [];
    const first = database.db.transaction().execute(async () => {
      order.push('first in');
      await held.wait;
      order.push('first out');
    });
    await vi.waitFor(() => expect(order).toEqual(['first in']), WAIT);
    const second = database.db.transaction().execute(async () => {
      order.push('second in');
    });
    expect(database.poolStats()).toEqual({ size: 1, total: 1, inUse: 0, idle: 1, waiting: 0 });
    held.open();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second in']);
  });

  it('opens an in-memory database', async () => {
    database = createDatabase(dbConfig('sqlite::memory:'));
    await database.ping();
    const { rows } = await sql.raw('pragma database_list').execute(database.db);
    expect(rows[0]).toMatchObject({ name: 'main', file: '' });
  });
});

describePostgres('createDatabase pool', () => {
  let fresh: FreshDatabase;
  beforeAll(async () => {
    fresh = await freshDatabase('postgres');
  });
  afterAll(() => fresh.drop());

  it('holds at most DB_POOL_SIZE connections, queueing the rest as waiting', async () => {
    const database = createDatabase(dbConfig(fresh.url, { DB_POOL_SIZE: '2' }));
    try {
      const held = gate();
      const inside: number[] = [];
      const connectionsSeen: number[] = [];
      const transactions = [1, 2, 3].map((n) =>
        database.db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ count: string }>`
            select count(*) as count from pg_stat_activity
            where datname = current_database() and application_name = 'sutazai'`.execute(trx);
          connectionsSeen.push(Number(rows[0]?.count));
          inside.push(n);
          await held.wait;
        }),
      );
      await vi.waitFor(() => expect(inside).toHaveLength(2), WAIT);
      await vi.waitFor(
        () => expect(database.poolStats()).toEqual({ size: 2, total: 2, inUse: 2, idle: 0, waiting: 1 }),
        WAIT,
      );
      expect(inside).toHaveLength(2);

      held.open();
      await Promise.all(transactions);
      expect(inside.sort()).toEqual([1, 2, 3]);
      expect(Math.max(...connectionsSeen)).toBe(2);
      expect(database.poolStats()).toEqual({ size: 2, total: 2, inUse: 0, idle: 2, waiting: 0 });
    } finally {
      await database.destroy();
    }
  });

  it('sets the statement timeout per connection, and none for 0', async () => {
    const timed = createDatabase(dbConfig(fresh.url, { DB_STATEMENT_TIMEOUT_MS: '300' }));
    const untimed = createDatabase(dbConfig(fresh.url, { DB_STATEMENT_TIMEOUT_MS: '0' }));
    try {
      const show = async (db: Database) =>
        (await sql<{ statement_timeout: string }>`show statement_timeout`.execute(db.db)).rows[0];
      expect(await show(timed)).toEqual({ statement_timeout: '300ms' });
      expect(await show(untimed)).toEqual({ statement_timeout: '0' });
      await expect(sql`select pg_sleep(5)`.execute(timed.db)).rejects.toThrow(/statement timeout/);
    } finally {
      await Promise.all([timed.destroy(), untimed.destroy()]);
    }
  });

  it('reports errors of idle connections to onIdleError instead of crashing', async () => {
    const errors: Error[] = [];
    const database = createDatabase(dbConfig(fresh.url), { onIdleError: (error) => errors.push(error) });
    try {
      await database.ping();
      expect(database.poolStats()).toMatchObject({ total: 1, idle: 1 });
      const admin = createDatabase(dbConfig(fresh.url));
      try {
        await sql`select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()`.execute(admin.db);
      } finally {
        await admin.destroy();
      }
      await vi.waitFor(() => expect(errors).toHaveLength(1), WAIT);
      expect(errors[0]?.message).toMatch(/terminat/);
      await expect(database.ping()).resolves.toBeUndefined();
    } finally {
      await database.destroy();
    }
  });
});

describe('redactDatabaseUrl', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactDatabaseUrl('postgres://app:s3cr3t@db.internal:5432/prod')).toBe(
      'postgres://app:***@db.internal:5432/prod',
    );
    expect(redactDatabaseUrl('postgres://app@db/prod')).toBe('postgres://app@db/prod');
  });

  it('hides the credentials of a URL it cannot parse', () => {
    const redacted = redactDatabaseUrl('postgres://app:s3cr3t@db:port/prod');
    expect(redacted).not.toContain('s3cr3t');
    expect(redacted).toBe('postgres://***@db:port/prod');
  });
});
