// Opens the database for a CLI command (migrate, the cluster primary) and checks that it answers, failing with the
// same one-line, password-free messages as `serve` (platform/db/database-plugin.ts) when it cannot.
import type { Config } from '../config.js';
import { createDatabase, redactDatabaseUrl, type Database } from '../platform/db/database.js';
import { StartupError } from '../platform/errors.js';

export async function openReachableDatabase(config: Config['db']): Promise<Database> {
  const where = config.dialect === 'sqlite' ? config.sqlitePath : redactDatabaseUrl(config.url);
  let database: Database;
  try {
    database = createDatabase(config);
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

/** The first useful message: connecting to "localhost" fails with an AggregateError of one error per address. */
function reason(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reason(error.errors[0]);
  return error instanceof Error ? error.message || error.name : String(error);
}
