// buildApp() and the database: a clear StartupError when the database cannot be used, the pool opened with the
// configured size, and closed with the app.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../src/app.js';
import { parseConfig } from '../../../src/config.js';
import { StartupError } from '../../../src/platform/errors.js';
import { TEST_JWT_SECRET, buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect, describePostgres } from '../../helpers/dialects.js';

/** What buildApp rejects with for `databaseUrl`; fails the test when it starts. */
async function startupFailure(dataDir: string, databaseUrl: string): Promise<StartupError> {
  const config = parseConfig({
    ENVIRONMENT: 'test',
    LOG_LEVEL: 'silent',
    JWT_SECRET_KEY: TEST_JWT_SECRET,
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
  });
  let app;
  try {
    app = await buildApp(config, { migrate: true });
  } catch (error) {
    expect(error).toBeInstanceOf(StartupError);
    return error as StartupError;
  }
  await app.close();
  throw new Error(`buildApp started on ${databaseUrl}`);
}

describe('startup against an unusable database', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-startup-'));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('names an unreachable PostgreSQL in one line, without its password', async () => {
    const error = await startupFailure(dataDir, 'postgres://postgres:Sup3r-S3cret@127.0.0.1:1/x');
    expect(error.message).not.toContain('\n');
    expect(error.message).not.toContain('Sup3r-S3cret');
    expect(error.message).toMatch(
      /^Database \(postgres\) at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/x is unreachable: .*ECONNREFUSED/,
    );
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('names an SQLite file whose folder cannot be created', async () => {
    const blocker = path.join(dataDir, 'a-file');
    fs.writeFileSync(blocker, 'not a folder');
    const file = path.join(blocker, 'sub', 'app.db');
    const error = await startupFailure(dataDir, `sqlite:${file}`);
    expect(error.message).not.toContain('\n');
    expect(error.message).toMatch(new RegExp(`^Database \\(sqlite\\) at ${file} cannot be opened: ENOTDIR`));
  });

  it('names an SQLite file that is not a database', async () => {
    const file = path.join(dataDir, 'notes.txt');
    fs.writeFileSync(file, 'these are not the tables you are looking for '.repeat(100));
    const error = await startupFailure(dataDir, `sqlite:${file}`);
    expect(error.message).toBe(`Database (sqlite) at ${file} cannot be opened: file is not a database`);
  });

  it('names an SQLite path that is a folder', async () => {
    const error = await startupFailure(dataDir, `sqlite:${dataDir}`);
    expect(error.message).toBe(
      `Database (sqlite) at ${dataDir} cannot be opened: unable to open database file`,
    );
  });
});

describePostgres('startup against a missing PostgreSQL database', () => {
  it('names the database', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-startup-'));
    try {
      const error = await startupFailure(dataDir, 'postgres://postgres:pw@127.0.0.1:5432/sutazai_no_such_db');
      expect(error.message).toBe(
        'Database (postgres) at postgres://postgres:***@127.0.0.1:5432/sutazai_no_such_db is unreachable: ' +
          'database "sutazai_no_such_db" does not exist',
      );
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describeEachDialect('app database lifecycle', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, env: { DB_POOL_SIZE: '3' } });
  });
  afterAll(() => t.close());

  it('opens the database of DATABASE_URL, migrated, with the pool size of DB_POOL_SIZE', async () => {
    expect(t.app.database.dialect).toBe(dialect);
    expect(t.app.database.poolStats().size).toBe(dialect === 'postgres' ? 3 : 1);
    const tables = await t.app.database.db.introspection.getTables();
    expect(tables.map((table) => table.name)).toContain('users');
  });

  it('closes the database when the app closes', async () => {
    await t.app.close();
    await expect(t.app.database.ping()).rejects.toThrow();
  });
});
