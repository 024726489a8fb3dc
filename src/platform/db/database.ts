// One Kysely instance per process, on better-sqlite3 (embedded default) or a pg pool. The dialect `if`s of the
// whole codebase live in this folder; repositories receive a ready Kysely<DB>.
import { AsyncResource } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  SqliteDialect,
  sql,
  type Dialect as KyselyDialect,
  type SqliteDatabase,
} from 'kysely';
import pg from 'pg';
import type { Config, Dialect } from '../../config.js';
import { redactUrlPassword } from '../../lib/redact-url.js';
import { timingConnectionWaits } from './connection-wait.js';
import { guardedPool } from './pg-pool-guard.js';
import type { DB } from './schema.js';
import { startCheckpointer, type CheckpointerLogger } from './sqlite-checkpointer.js';
import { SqliteValuesPlugin } from './sqlite-values-plugin.js';

/** A snapshot of the connection pool, for health and metrics. */
export interface PoolStats {
  /** Most connections the pool may open. */
  size: number;
  /** Connections open now. */
  total: number;
  /** Open connections serving a query or transaction. */
  inUse: number;
  /** Open connections waiting for work. */
  idle: number;
  /** Queries waiting for a free connection. */
  waiting: number;
}

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  poolStats(): PoolStats;
  /** Runs a trivial query; rejects when the database cannot answer. */
  ping(): Promise<void>;
  destroy(): Promise<void>;
}

export interface DatabaseOptions {
  /** Called with errors of idle pooled connections (a PostgreSQL restart, say), which must not crash the process. */
  onIdleError?: (error: Error) => void;
  /** Where the SQLite checkpoint thread reports that it failed. */
  logger?: CheckpointerLogger;
  /** Told how long each query or transaction waited for its connection, in seconds. */
  onConnectionWait?: (seconds: number) => void;
}

export function createDatabase(config: Config['db'], options: DatabaseOptions = {}): Database {
  return config.dialect === 'postgres' ? createPostgres(config, options) : createSqlite(config, options);
}

function createSqlite(config: Config['db'], options: DatabaseOptions): Database {
  if (config.sqlitePath !== ':memory:') fs.mkdirSync(path.dirname(config.sqlitePath), { recursive: true });
  const connection = new BetterSqlite3(config.sqlitePath);
  try {
    // WAL lets readers run beside the writer (and several worker processes share the file); the busy timeout makes
    // a writer wait for another process's write instead of failing at once with SQLITE_BUSY. The first pragma is
    // also where a file that is not a database fails.
    connection.pragma('journal_mode = WAL');
    connection.pragma('busy_timeout = 5000');
    connection.pragma('foreign_keys = ON');
    connection.pragma('synchronous = NORMAL');
  } catch (error) {
    connection.close();
    throw error;
  }
  const checkpointer =
    config.checkpointMs > 0 && config.sqlitePath !== ':memory:'
      ? startCheckpointer(config.sqlitePath, config.checkpointMs, connection, options.logger)
      : undefined;
  const db = new Kysely<DB>({
    dialect: timed(new SqliteDialect({ database: withStatementCache(connection) }), options),
    plugins: [new SqliteValuesPlugin()],
  });
  return {
    db,
    dialect: 'sqlite',
    // better-sqlite3 is one synchronous connection; Kysely serialises queries on it, so there is never a pool to
    // exhaust. Reported as a pool of one so that health and metrics have the same shape on both dialects.
    poolStats: () => ({ size: 1, total: 1, inUse: 0, idle: 1, waiting: 0 }),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    destroy: async () => {
      // Its last checkpoint runs before the writer closes (the writer's close then finds little left to copy).
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

/** Prepared statements kept per SQL text; beyond this many, the least recently used is dropped. */
export const STATEMENT_CACHE_SIZE = 256;

/**
 * better-sqlite3 as Kysely's driver sees it, but preparing each SQL text once: Kysely's driver prepares every query
 * anew (about 5% of a chat's CPU under load, profiled, for statements that take microseconds to run). Sharing a
 * statement is safe because Kysely runs one query at a time on the connection (its driver holds a mutex until a
 * query, or a streamed one, ends). SQLite re-prepares a cached statement by itself after a schema change.
 */
export function withStatementCache(
  connection: Pick<BetterSqlite3.Database, 'prepare' | 'close'>,
): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(sqlText) {
      let statement = cache.get(sqlText);
      if (statement) {
        // Map order is insertion order: moving it to the end keeps the oldest-used first, for eviction.
        cache.delete(sqlText);
      } else {
        statement = connection.prepare(sqlText);
        if (cache.size >= STATEMENT_CACHE_SIZE) {
          const oldest = cache.keys().next();
          if (!oldest.done) cache.delete(oldest.value);
        }
      }
      cache.set(sqlText, statement);
      return statement;
    },
    close() {
      cache.clear();
      connection.close();
    },
  };
}

function createPostgres(config: Config['db'], options: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    connectionTimeoutMillis: config.poolTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'sutazai',
    ...(config.statementTimeoutMs > 0 ? { statement_timeout: config.statementTimeoutMs } : {}),
    keepAlive: true,
  });
  // Bound here, at startup: a client's events otherwise run in the async context of the request that happened to
  // open its connection, and the warning would carry that unrelated request's id.
  pool.on(
    'error',
    AsyncResource.bind((error: Error) => options.onIdleError?.(error)),
  );
  const db = new Kysely<DB>({ dialect: timed(new PostgresDialect({ pool: guardedPool(pool) }), options) });
  return {
    db,
    dialect: 'postgres',
    poolStats: () => ({
      size: config.poolSize,
      total: pool.totalCount,
      inUse: pool.totalCount - pool.idleCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    destroy: () => db.destroy(),
  };
}

function timed(dialect: KyselyDialect, options: DatabaseOptions): KyselyDialect {
  return options.onConnectionWait ? timingConnectionWaits(dialect, options.onConnectionWait) : dialect;
}

/** A database URL with any password replaced, for log lines and error messages. */
export function redactDatabaseUrl(url: string): string {
  return redactUrlPassword(url, (raw) => raw.replace(/:\/\/[^@/]*@/, '://***@'));
}
