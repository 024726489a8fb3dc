// What services need of the database without importing Kysely: a handle to pass to repositories, and a way to run
// several repository calls in one transaction.
import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

/** The database or an open transaction: every repository method takes one. */
export type DbExecutor = Kysely<DB>;

/** Runs `work` in a transaction: committed when it resolves, rolled back when it throws. */
export type Transact = <T>(work: (trx: DbExecutor) => Promise<T>) => Promise<T>;

export function transactor(db: Kysely<DB>): Transact {
  return (work) => db.transaction().execute(work);
}
