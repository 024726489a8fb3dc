// `sutazai serve`: one process, or WORKERS processes sharing one port through node:cluster. The primary migrates
// once, forks the workers, restarts one that dies, and on SIGTERM/SIGINT lets each finish its requests and exits.
import cluster, { type Worker } from 'node:cluster';
import { parseConfig, type Config } from '../config.js';
import { packageVersion } from '../lib/package-version.js';
import { serveClusterMetrics } from '../platform/cluster-metrics.js';
import { createLogger } from '../platform/logger.js';
import { exitOnSignals, startServer, withRuntimeSecrets } from '../server.js';
import { migrateOrFail, openReachableDatabase } from '../platform/db/open-database.js';
import { describeFailure, exitWithFailure } from './fail.js';

const STARTUP_FAILED = 'sutazai:startup-failed';
interface StartupFailed {
  type: typeof STARTUP_FAILED;
  reason: string;
}

function isStartupFailed(message: unknown): message is StartupFailed {
  return (message as Partial<StartupFailed> | null)?.type === STARTUP_FAILED;
}

export async function serveCommand(): Promise<void> {
  const config = parseConfig(process.env, packageVersion());
  if (config.server.workers <= 1) {
    const server = await startServer(config);
    exitOnSignals(server);
    return;
  }
  if (cluster.isWorker) {
    try {
      const server = await startServer(config, { migrate: false });
      exitOnSignals(server);
    } catch (error) {
      // Every worker fails the same way (port taken, Redis down): the primary prints the reason once, not N times.
      const message: StartupFailed = { type: STARTUP_FAILED, reason: describeFailure(error) };
      if (process.send) process.send(message, () => process.exit(1));
      else exitWithFailure('serve', error);
    }
    return;
  }
  await runPrimary(config);
}

async function migrateOnce(config: Config): Promise<void> {
  if (!config.db.migrateOnStart) return;
  const database = await openReachableDatabase(config.db);
  try {
    await migrateOrFail(database);
  } finally {
    await database.destroy();
  }
}

async function runPrimary(config: Config): Promise<void> {
  const log = createLogger(config.log.level).child({ role: 'primary' });
  await migrateOnce(config);
  // Generated here, before forking, so that every worker reads the same development secret.
  withRuntimeSecrets(config);
  serveClusterMetrics();

  let shuttingDown = false;
  let failureReported = false;
  cluster.on('message', (_worker, message: unknown) => {
    if (!isStartupFailed(message) || failureReported) return;
    failureReported = true;
    console.error(`sutazai serve: ${message.reason}`);
  });
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
      log.fatal({ worker_pid: worker.process.pid, code, signal }, 'a worker failed to start; stopping');
      shuttingDown = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      process.exitCode = 1;
      return;
    }
    // worker_pid, not pid: pino already writes the primary's own pid under that name on every line.
    log.error({ worker_pid: worker.process.pid, code, signal }, 'worker died; starting a new one');
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
