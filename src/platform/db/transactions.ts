// What services need of the database without touching SQL: repositories bound to the database (they extend
// Repository), and a way to run several repository calls in one transaction. A service never holds Kysely: it holds
// repositories, a Transact, and inside a transaction an opaque Tx that it passes on to repository methods.
import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

/** The database: only repositories and src/platform/db hold it. */
export type DbExecutor = Kysely<DB>;

declare const txBrand: unique symbol;
/** An open transaction, as services see it: something to pass to repository methods, nothing to query with. */
export type Tx = { readonly [txBrand]: true };

/** Runs `work` in a transaction: committed when it resolves, rolled back when it throws. */
export type Transact = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>;

export function transactor(db: Kysely<DB>): Transact {
  return (work) => db.transaction().execute((trx) => work(trx as unknown as Tx));
}

/**
 * The base of every repository: bound to the database, each method takes an optional Tx last and runs on it when
 * given (inside the caller's transaction), on the database otherwise.
 */
export abstract class Repository {
  constructor(protected readonly db: DbExecutor) {}

  protected on(tx: Tx | undefined): DbExecutor {
    return tx === undefined ? this.db : (tx as unknown as DbExecutor);
  }
}
