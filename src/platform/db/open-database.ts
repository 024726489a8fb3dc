// Opening a database for a process (the app, `sutazai migrate`, the cluster primary): fail at once, in one line
// without any password, when it cannot be opened or does not answer, and release what was opened.
import type { Config } from '../../config.js';
import { StartupError } from '../errors.js';
import { createDatabase, redactDatabaseUrl, type Database, type DatabaseOptions } from './database.js';
import { migrateToLatest } from './migrator.js';

export async function openReachableDatabase(
  config: Config['db'],
  options: DatabaseOptions = {},
): Promise<Database> {
  const where = config.dialect === 'sqlite' ? config.sqlitePath : redactDatabaseUrl(config.url);
  let database: Database;
  try {
    // SQLite opens its file right here: a folder that cannot be created or written fails now, not at ping().
    database = createDatabase(config, options);
  } catch (error) {
    throw new StartupError(`Database (${config.dialect}) at ${where} cannot be opened: ${reason(error)}`, {
      cause: error,
    });
  }
  try {
    await database.ping();
  } catch (error) {
    await database.destroy().catch(() => undefined);
    throw new StartupError(`Database (${config.dialect}) at ${where} is unreachable: ${reason(error)}`, {
      cause: error,
    });
  }
  return database;
}

/** Applies pending migrations; returns their names, or throws a StartupError naming the one that failed. */
export async function migrateOrFail(database: Database): Promise<string[]> {
  const { applied, error } = await migrateToLatest(database.db);
  if (error) throw new StartupError(`Database migration failed: ${error.message}`, { cause: error });
  return applied;
}

/** The first useful message: connecting to "localhost" fails with an AggregateError of one error per address. */
function reason(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reason(error.errors[0]);
  return error instanceof Error ? error.message || error.name : String(error);
}
