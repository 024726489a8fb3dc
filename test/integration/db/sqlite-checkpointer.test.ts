// SQLite's write-ahead log is copied back into the database file by a worker thread (SQLITE_CHECKPOINT_MS), not by
// whichever request crosses 1000 pages: the writer's automatic checkpoints are off while the thread lives, the log
// is reused instead of growing, and automatic checkpoints come back when the thread is gone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { createDatabase, type Database } from '../../../src/platform/db/database.js';
import { startCheckpointer } from '../../../src/platform/db/sqlite-checkpointer.js';

let dir: string;
let database: Database | undefined;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-checkpoint-'));
});

afterEach(async () => {
  await database?.destroy();
  database = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(checkpointMs: number): Database {
  const file = path.join(dir, 'test.db');
  database = createDatabase(
    parseConfig({ DATABASE_URL: `sqlite:${file}`, SQLITE_CHECKPOINT_MS: String(checkpointMs) }).db,
  );
  return database;
}

async function autocheckpointPages(db: Database): Promise<number> {
  const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db.db);
  return rows[0]?.wal_autocheckpoint ?? -1;
}

/** `count` commits of about 2 KB each (a frame or more per commit). */
async function writeBatch(db: Database, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    await sql`insert into filler (body) values (${'x'.repeat(2000)})`.execute(db.db);
  }
}

function walBytes(): number {
  const file = path.join(dir, 'test.db-wal');
  return fs.existsSync(file) ? fs.statSync(file).size : 0;
}

describe('SQLite checkpoints in a worker thread', () => {
  it('turns the writer’s automatic checkpoints off, and the log is reused instead of growing', async () => {
    const db = open(20);
    expect(await autocheckpointPages(db)).toBe(0);
    await sql`create table filler (id integer primary key, body text)`.execute(db.db);
    await writeBatch(db, 300);
    const afterFirst = walBytes();
    expect(afterFirst).toBeGreaterThan(300 * 2000);
    // The thread copies the log into the file; the writer then starts the log over from its beginning.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await writeBatch(db, 300);
    expect(walBytes()).toBeLessThan(afterFirst * 1.5);
  });

  it('without the thread (0) the writer keeps SQLite’s automatic checkpoints', async () => {
    const db = open(0);
    expect(await autocheckpointPages(db)).toBe(1000);
  });

  it('gives the checkpoints back to the writer when the thread dies, and says so', async () => {
    const writer = new BetterSqlite3(path.join(dir, 'writer.db'));
    try {
      writer.pragma('journal_mode = WAL');
      const logger = { error: vi.fn() };
      // A file that does not exist: the thread fails as it starts.
      const checkpointer = startCheckpointer(path.join(dir, 'missing.db'), 20, writer, logger);
      expect(writer.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      await vi.waitFor(() => expect(checkpointer.running).toBe(false), { timeout: 10_000 });
      expect(writer.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      expect(logger.error).toHaveBeenCalledWith(
        expect.anything(),
        expect.stringMatching(/checkpoint thread/),
      );
    } finally {
      writer.close();
    }
  });

  it('stops with the database: destroy() ends the thread', async () => {
    const writer = new BetterSqlite3(path.join(dir, 'writer.db'));
    try {
      writer.pragma('journal_mode = WAL');
      const logger = { error: vi.fn() };
      const checkpointer = startCheckpointer(path.join(dir, 'writer.db'), 20, writer, logger);
      expect(checkpointer.running).toBe(true);
      await checkpointer.stop();
      expect(checkpointer.running).toBe(false);
      expect(logger.error).not.toHaveBeenCalled();
    } finally {
      writer.close();
    }
  });
});
