// Opens the database for the app (and migrates it when asked), closes it when the app closes.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { createDatabase, redactDatabaseUrl, type Database } from './database.js';
import { migrateToLatest } from './migrator.js';
import { StartupError } from '../errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    database: Database;
  }
}

const databasePlugin: FastifyPluginAsync<{ config: Config['db']; migrate: boolean }> = async (app, opts) => {
  const where =
    opts.config.dialect === 'sqlite' ? opts.config.sqlitePath : redactDatabaseUrl(opts.config.url);
  let database: Database;
  try {
    // SQLite opens its file right here: a folder that cannot be created or written fails now, not at ping().
    database = createDatabase(opts.config, {
      onIdleError: (error) =>
        app.log.warn({ err: error }, 'an idle database connection failed; the pool replaces it'),
    });
  } catch (error) {
    throw new StartupError(
      `Database (${opts.config.dialect}) at ${where} cannot be opened: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
  app.decorate('database', database);
  app.addHook('onClose', () => database.destroy());

  try {
    await database.ping();
  } catch (error) {
    // A failed start never reaches onClose: release the pool here.
    await database.destroy().catch(() => undefined);
    throw new StartupError(
      `Database (${opts.config.dialect}) at ${where} is unreachable: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
  if (opts.migrate) {
    const { applied, error } = await migrateToLatest(database.db);
    if (error) throw new StartupError(`Database migration failed: ${error.message}`, { cause: error });
    if (applied.length > 0) app.log.info({ applied }, 'database migrated');
  }
};

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  return error instanceof Error ? error.message || error.name : String(error);
}

export default fp(databasePlugin, { name: 'database' });
