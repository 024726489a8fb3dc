// Column types that differ between SQLite and PostgreSQL, for the migrations only. Frozen with them: a migration
// that needs another type adds it here without changing an existing one.
import { sql, type ColumnDataType, type Expression, type Kysely, PostgresAdapter } from 'kysely';

export interface ColumnTypes {
  /** Auto-incrementing integer primary key: add with `.primaryKey()` (and nothing else). */
  serialId: ColumnDataType | Expression<unknown>;
  /** A point in time: timestamptz on PostgreSQL; ISO-8601 UTC text on SQLite. */
  timestamp: ColumnDataType;
  boolean: ColumnDataType;
  json: ColumnDataType;
  /** SQL for "now" as a column default, in the timestamp column's representation. */
  now: Expression<unknown>;
  isPostgres: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export function columnTypes(db: Kysely<any>): ColumnTypes {
  const isPostgres = db.getExecutor().adapter instanceof PostgresAdapter;
  return isPostgres
    ? {
        serialId: 'serial',
        timestamp: 'timestamptz',
        boolean: 'boolean',
        json: 'jsonb',
        now: sql`now()`,
        isPostgres,
      }
    : {
        serialId: 'integer',
        timestamp: 'text',
        boolean: 'integer',
        json: 'text',
        now: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
        isPostgres,
      };
}
