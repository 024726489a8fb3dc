// The SQLite statement cache Kysely's driver sees: one prepare per SQL text, the least recently used dropped past
// STATEMENT_CACHE_SIZE, and statements that keep working (the same answers as fresh ones).
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { STATEMENT_CACHE_SIZE, withStatementCache } from './database.js';

let connection: BetterSqlite3.Database;
afterEach(() => connection?.close());

function cached() {
  connection = new BetterSqlite3(':memory:');
  const prepare = vi.spyOn(connection, 'prepare');
  return { database: withStatementCache(connection), prepare };
}

describe('withStatementCache', () => {
  it('prepares a SQL text once and answers from the same statement', () => {
    const { database, prepare } = cached();
    const first = database.prepare('select ? + 1 as n');
    const second = database.prepare('select ? + 1 as n');
    expect(second).toBe(first);
    expect(prepare).toHaveBeenCalledTimes(1);
    expect(second.all([41])).toEqual([{ n: 42 }]);
  });

  it('drops the least recently used statement beyond its size, and keeps the ones in use', () => {
    const { database, prepare } = cached();
    database.prepare('select 0');
    for (let i = 1; i < STATEMENT_CACHE_SIZE; i += 1) database.prepare(`select ${i}`);
    database.prepare('select 0'); // used again: now the most recent
    database.prepare(`select ${STATEMENT_CACHE_SIZE}`); // one over: 'select 1' goes
    expect(prepare).toHaveBeenCalledTimes(STATEMENT_CACHE_SIZE + 1);
    database.prepare('select 0');
    expect(prepare).toHaveBeenCalledTimes(STATEMENT_CACHE_SIZE + 1);
    database.prepare('select 1');
    expect(prepare).toHaveBeenCalledTimes(STATEMENT_CACHE_SIZE + 2);
  });
});
