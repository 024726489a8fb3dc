// Several server processes on one embedded index file (WORKERS > 1): each write reads before it writes, so a deferred
// transaction would fail with SQLITE_BUSY whenever another process committed in between (an attack on the first vec0
// build saw 884 failed deletes in 6 s); the writes take the lock first and wait. And two processes opening a
// first-layout file at once: one moves it to vec0, the other waits and opens the moved file.
import { spawn } from 'node:child_process';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/spawn.js';
import { removeTempFiles, tempFile } from '../../helpers/temp-files.js';

const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'vector-index-process.ts');
afterEach(removeTempFiles);

interface Outcome {
  role: string;
  ok: number;
  errors: Record<string, number>;
}

/** Runs the fixture to its end (60 s at most) and reads its line. */
function run(file: string, role: string, ms: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, file, role, String(ms)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{'))
        reject(new Error(`fixture ${role} exited ${code}: ${err}${out}`));
      else resolve(JSON.parse(line) as Outcome);
    });
  });
}

describe('one embedded index file, several processes', () => {
  it('upserts, deletes and deletes by filter from two processes at once without a "database is locked"', async () => {
    const file = tempFile('vectors.db');
    await run(file, 'open', 0);
    for (const other of ['delete', 'deleteWhere']) {
      const outcomes = await Promise.all([run(file, 'upsert', 2000), run(file, other, 2000)]);
      for (const outcome of outcomes) {
        expect(outcome.errors, outcome.role).toEqual({});
        expect(outcome.ok, outcome.role).toBeGreaterThan(0);
      }
    }
  }, 90_000);

  it('opens a first-layout file from two processes at once: one moves it, both open it', async () => {
    const file = tempFile('vectors.db');
    const old = new Database(file);
    old.exec(`
      CREATE TABLE collections (name TEXT PRIMARY KEY, dimension INTEGER NOT NULL);
      CREATE TABLE points (collection TEXT NOT NULL, id TEXT NOT NULL, embedding BLOB NOT NULL,
                           metadata TEXT NOT NULL, PRIMARY KEY (collection, id));
      INSERT INTO collections VALUES ('c', 3);
    `);
    const insert = old.prepare('INSERT INTO points VALUES (?, ?, ?, ?)');
    old.transaction(() => {
      for (let i = 0; i < 20_000; i += 1)
        insert.run(
          'c',
          `p${i}`,
          Buffer.from(Float32Array.from([1, i, 2]).buffer),
          JSON.stringify({ g: i % 3 }),
        );
    })();
    old.close();
    const outcomes = await Promise.all([run(file, 'open', 0), run(file, 'open', 0)]);
    for (const outcome of outcomes) expect(outcome).toEqual({ role: 'open', ok: 1, errors: {} });
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM points').pluck().get()).toBe(20_000);
    db.close();
  }, 90_000);
});
