// The `sutazai` command line (built, as installed): migrate [--status|--down] on a fresh database of each dialect,
// version, help, and usage errors.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FreshDatabase } from '../helpers/databases.js';
import { describeEachDialect } from '../helpers/dialects.js';
import { REPO_ROOT, freshDatabaseEachTest, killSpawned, runCli } from '../helpers/spawn.js';

const PACKAGE_VERSION = (
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** Whether the table exists, asked of the database directly (not through the code under test). */
async function tableExists(database: FreshDatabase, table: string): Promise<boolean> {
  if (database.dialect === 'sqlite') {
    const connection = new BetterSqlite3(database.url.replace(/^sqlite:/, ''), { readonly: true });
    try {
      return connection.prepare('select 1 from sqlite_master where type = ? and name = ?').get('table', table)
        ? true
        : false;
    } finally {
      connection.close();
    }
  }
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const result = await client.query('select to_regclass($1) as found', [`public.${table}`]);
    return (result.rows[0] as { found: string | null }).found !== null;
  } finally {
    await client.end();
  }
}

describeEachDialect('sutazai migrate', (dialect) => {
  const database = freshDatabaseEachTest(dialect);

  const migrate = (...args: string[]) =>
    runCli(['migrate', ...args], {
      ENVIRONMENT: 'test',
      DATA_DIR: database.dataDir,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'info',
    });

  it('--status, apply, up to date, --down, nothing to revert', async () => {
    const names = [
      '0001_users',
      '0002_auth',
      '0003_chat',
      '0004_chat_message_counts',
      '0005_login_locks',
      '0006_chat_session_owners',
      '0007_revoked_sessions',
      '0008_chat_anonymous_owners',
      '0009_agents',
      '0010_files',
      '0011_chat_message_sources',
    ];
    const all = `pending migrations: ${names.join(', ')}\n`;
    expect(await migrate('--status')).toMatchObject({ code: 0, stdout: all });
    expect(await tableExists(database, 'users')).toBe(false);

    expect(await migrate()).toMatchObject({
      code: 0,
      stdout: names.map((name) => `applied ${name}\n`).join(''),
      stderr: '',
    });
    expect(await tableExists(database, 'users')).toBe(true);
    expect(await tableExists(database, 'refresh_tokens')).toBe(true);

    expect(await migrate()).toMatchObject({ code: 0, stdout: 'database is up to date\n', stderr: '' });
    expect(await migrate('--status')).toMatchObject({ code: 0, stdout: 'database is up to date\n' });

    for (const name of names.slice(3).reverse()) {
      expect(await migrate('--down')).toMatchObject({ code: 0, stdout: `reverted ${name}\n`, stderr: '' });
    }
    expect(await migrate('--down')).toMatchObject({ code: 0, stdout: 'reverted 0003_chat\n', stderr: '' });
    expect(await tableExists(database, 'chat_messages')).toBe(false);
    expect(await migrate('--down')).toMatchObject({ code: 0, stdout: 'reverted 0002_auth\n', stderr: '' });
    expect(await tableExists(database, 'refresh_tokens')).toBe(false);
    expect(await tableExists(database, 'users')).toBe(true);
    expect(await migrate('--down')).toMatchObject({ code: 0, stdout: 'reverted 0001_users\n', stderr: '' });
    expect(await tableExists(database, 'users')).toBe(false);
    expect(await migrate('--down')).toMatchObject({ code: 0, stdout: 'nothing to revert\n' });
    expect(await migrate('--status')).toMatchObject({ code: 0, stdout: all });
  }, 160_000); // 16 runs of the CLI, each a new Node process: over 30 s on a busy 2-core machine.
});

describe('sutazai command line', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-e2e-cli-'));
  });
  afterEach(() => killSpawned());
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const env = () => ({ ENVIRONMENT: 'test', DATA_DIR: dataDir });

  it('version and --version print the version of package.json', async () => {
    for (const command of ['version', '--version']) {
      expect(await runCli([command], env())).toMatchObject({
        code: 0,
        stdout: `${PACKAGE_VERSION}\n`,
        stderr: '',
      });
    }
  });

  it('help (and no command at all) prints the usage, exit 0', async () => {
    for (const args of [['help'], []]) {
      const result = await runCli(args, env());
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(/^Usage: sutazai <command>/);
      for (const command of ['serve', 'migrate', '--status', '--down', 'version']) {
        expect(result.stdout).toContain(command);
      }
    }
  });

  it('an unknown command exits 2 with the usage on stderr', async () => {
    const result = await runCli(['frobnicate'], env());
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^sutazai: unknown command "frobnicate"\n/);
    expect(result.stderr).toContain('Usage: sutazai <command>');
  });

  it('an unknown option or a stray argument is a usage error too: exit 2, one line', async () => {
    for (const args of [
      ['migrate', '--sideways'],
      ['serve', 'now'],
    ]) {
      const result = await runCli(args, env());
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(new RegExp(`^sutazai ${args[0]}: .*(--sideways|'now')`));
    }
    // Nothing was started or created by the rejected serve.
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('migrate against an unreachable PostgreSQL fails in one line, without the password', async () => {
    const result = await runCli(['migrate'], {
      ...env(),
      DATABASE_URL: 'postgres://u:secretpw@127.0.0.1:1/x',
    });
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toBe(
      'sutazai migrate: Database (postgres) at postgres://u:***@127.0.0.1:1/x is unreachable: ' +
        'connect ECONNREFUSED 127.0.0.1:1\n',
    );
  });
});
