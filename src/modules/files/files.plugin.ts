// Composition of the files module: the folder on disk, repository, service (decorated as app.files, for the
// document indexing) and the routes under /api/v1/files.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { transactor } from '../../platform/db/transactions.js';
import { StartupError } from '../../platform/errors.js';
import { createCursorCodec } from '../../platform/pagination.js';
import { FileStore } from './file-store.js';
import { createFilesMetrics } from './files.metrics.js';
import { FilesRepository } from './files.repository.js';
import { filesRoutes } from './files.routes.js';
import { FilesService } from './files.service.js';
import { UploadIntake } from './upload-intake.js';
import { UploadSlots } from './upload-slots.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The uploaded files, for the document indexing. */
    files: FilesService;
  }
}

export interface FilesPluginOptions {
  config: Config['files'];
  /** Signs the list's cursors (the JWT secret, as the chat's). */
  cursorSecret: string;
  clock: Clock;
}

/** How often leftovers of crashed uploads are looked for, besides at start. */
const SWEEP_INTERVAL_MS = 15 * 60 * 1000;

const filesPlugin: FastifyPluginAsync<FilesPluginOptions> = async (app, { config, cursorSecret, clock }) => {
  const db = app.database.db;
  const logger = app.log.child({ module: 'files' });
  const repository = new FilesRepository(db);
  const store = new FileStore(config.dir);
  const files = new FilesService({
    files: repository,
    intake: new UploadIntake({
      files: repository,
      transact: transactor(db),
      store,
      clock,
      settings: {
        maxBytes: config.maxBytes,
        quotaBytes: config.quotaBytes,
        allowedTypes: config.allowedTypes,
      },
    }),
    uploads: new UploadSlots(config.maxConcurrentUploads),
    store,
    cursors: createCursorCodec(cursorSecret),
    clock,
    metrics: createFilesMetrics(app.metrics.registry),
    logger,
  });
  try {
    await files.start();
  } catch (error) {
    throw new StartupError(`FILES_DIR ${config.dir}: ${(error as Error).message}`, { cause: error });
  }
  const sweeper = setInterval(() => {
    files.sweep().catch((error: unknown) => logger.warn({ err: error }, 'sweeping the files folder failed'));
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();
  app.addHook('onClose', () => clearInterval(sweeper));
  app.decorate('files', files);
  await app.register(filesRoutes, {
    files,
    maxBytes: config.maxBytes,
    uploadIdleTimeoutMs: config.uploadIdleTimeoutMs,
    prefix: '/api/v1/files',
  });
};

export default fp(filesPlugin, { name: 'files', dependencies: ['database', 'metrics', 'auth'] });
