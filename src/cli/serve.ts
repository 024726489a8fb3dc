// `sutazai serve`: one process, or WORKERS processes sharing one port through node:cluster. The primary migrates
// once, forks the workers, restarts one that dies, and on SIGTERM/SIGINT lets each finish its requests and exits.
import cluster, { type Worker } from 'node:cluster';
import { parseConfig, type Config } from '../config.js';
import { packageVersion } from '../lib/package-version.js';
import { createDatabase } from '../platform/db/database.js';
import { migrateToLatest } from '../platform/db/migrator.js';
import { createLogger } from '../platform/logger.js';
import { StartupError } from '../platform/errors.js';
import { exitOnSignals, startServer, withRuntimeSecrets } from '../server.js';

export async function serveCommand(): Promise<void> {
  const config = parseConfig(process.env, packageVersion());
  if (config.server.workers <= 1) {
    const server = await startServer(config);
    exitOnSignals(server);
    return;
  }
  if (cluster.isWorker) {
    const server = await startServer(config, { migrate: false });
    exitOnSignals(server);
    return;
  }
  await runPrimary(config);
}

async function migrateOnce(config: Config): Promise<void> {
  if (!config.db.migrateOnStart) return;
  const database = createDatabase(config.db);
  try {
    const { error } = await migrateToLatest(database.db);
    if (error) throw new StartupError(`Database migration failed: ${error.message}`, { cause: error });
  } finally {
    await database.destroy();
  }
}

async function runPrimary(config: Config): Promise<void> {
  const log = createLogger(config.log.level).child({ role: 'primary' });
  await migrateOnce(config);
  // Generated here, before forking, so that every worker reads the same development secret.
  withRuntimeSecrets(config);

  let shuttingDown = false;
  const everListened = new WeakSet<Worker>();
  const fork = () => {
    const worker = cluster.fork();
    worker.once('listening', () => everListened.add(worker));
    return worker;
  };

  cluster.on('exit', (worker, code, signal) => {
    if (shuttingDown) return;
    if (!everListened.has(worker)) {
      // A worker that could not even start (port taken, database gone) would fail the same way again.
      log.fatal({ pid: worker.process.pid, code, signal }, 'a worker failed to start; stopping');
      shuttingDown = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      process.exitCode = 1;
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a new one');
    setTimeout(() => {
      if (!shuttingDown) fork();
    }, 500).unref();
  });

  for (let i = 0; i < config.server.workers; i += 1) fork();
  log.info({ workers: config.server.workers, port: config.server.port }, 'cluster started');

  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down workers');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    let failed = false;
    let remaining = workers.length;
    const hardStop = setTimeout(() => {
      log.error('workers did not stop in time; killing them');
      for (const w of workers) w.process.kill('SIGKILL');
      process.exit(1);
    }, config.server.shutdownTimeoutMs + 5_000);
    hardStop.unref();
    if (remaining === 0) process.exit(0);
    for (const worker of workers) {
      worker.once('exit', (code) => {
        if (code !== 0) failed = true;
        remaining -= 1;
        if (remaining === 0) {
          clearTimeout(hardStop);
          log.info('all workers stopped');
          process.exit(failed ? 1 : 0);
        }
      });
      worker.process.kill('SIGTERM');
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
