// Opens the database for the app (and migrates it when asked), closes it when the app closes.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Database } from './database.js';
import { migrateOrFail, openReachableDatabase } from './open-database.js';
import { createPoolMetrics } from './pool-metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    database: Database;
  }
}

const databasePlugin: FastifyPluginAsync<{ config: Config['db']; migrate: boolean }> = async (app, opts) => {
  const poolMetrics = createPoolMetrics(app.metrics.registry);
  const database = await openReachableDatabase(opts.config, {
    onConnectionWait: (seconds) => poolMetrics.observeWait(seconds),
    // One line with the reason and its code, not { err }: pg-pool hangs the whole pg Client (config, socket, queues)
    // on the error as `client`, and the error serializer would print all of it.
    onIdleError: (error) =>
      app.log.warn(
        { code: (error as { code?: unknown }).code, reason: error.message },
        'an idle database connection failed; the pool replaces it',
      ),
    logger: app.log,
  });
  poolMetrics.watch(() => database.poolStats());
  app.decorate('database', database);
  app.addHook('onClose', () => database.destroy());
  if (opts.migrate) {
    const applied = await migrateOrFail(database);
    if (applied.length > 0) app.log.info({ applied }, 'database migrated');
  }
};

export default fp(databasePlugin, { name: 'database', dependencies: ['metrics'] });
