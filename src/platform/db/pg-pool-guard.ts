// The pg pool as Kysely's PostgresDialect sees it, made safe against connections that die while in use.
//
// pg-pool listens for a client's 'error' event only while the client sits idle in the pool: it removes that
// listener when it hands the client out (pg-pool 3.x, _acquireClient) and adds it back on release. Kysely's
// PostgresDriver holds a client for a whole transaction, so a backend killed while a transaction is open (or between
// two of its queries) makes pg emit 'error' on a client with no listener, and Node ends the process (issue 9). Every
// client here carries a listener of its own for its whole life.
//
// A client whose session is gone must also never be handed out again: pg-pool only drops a client released with an
// error, or one pg has already marked unusable, which it has not yet when the server's FATAL answer reached a query
// before the socket closed. The guard remembers each client whose session was lost and releases it with that error.
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { isPgConnectionLoss, markDependencyError } from '../dependency-errors.js';

export function guardedPool(pool: pg.Pool): PostgresPool {
  const lost = new WeakMap<pg.ClientBase, Error>();
  const remember = (client: pg.ClientBase, error: Error) => {
    if (!lost.has(client)) lost.set(client, error);
  };
  // 'connect' fires once per new client, before it is first handed out. The pool's own 'error' event still reports
  // the errors of idle clients (and pg-pool removes those itself).
  pool.on('connect', (client) => client.on('error', (error) => remember(client, error)));

  return {
    async connect() {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        // No connection to be had (refused, timed out, the pool's checkout timeout): the database is unavailable.
        throw markDependencyError(error, 'database');
      }
      const query = async (sqlText: string, parameters: readonly unknown[]) => {
        try {
          return await client.query(sqlText, [...parameters]);
        } catch (error) {
          if (isPgConnectionLoss(error)) {
            remember(client, error as Error);
            markDependencyError(error, 'database');
          }
          throw error;
        }
      };
      return {
        // Kysely calls query(cursor) only when a cursor class is configured, and none is; pg's result is the one
        // Kysely's type describes (its `command` typed as a string).
        query: query as unknown as PostgresPoolClient['query'],
        // Kysely passes true for a connection it gave up on (a failed rollback); either way the pool then drops it.
        release: (destroy?: boolean) => client.release(lost.get(client) ?? destroy),
      };
    },
    end: () => pool.end(),
  };
}
