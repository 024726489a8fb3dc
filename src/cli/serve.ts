// `sutazai serve`: one process, or WORKERS processes sharing one port through node:cluster. The primary migrates
// once, forks the workers, restarts one that dies (with a backoff; restart-policy.ts), stops them all with exit code 1
// when one keeps crashing, and on SIGTERM/SIGINT lets each finish its requests and exits.
import cluster, { type Worker } from 'node:cluster';
import { parseConfig, type Config } from '../config.js';
import { packageVersion } from '../lib/package-version.js';
import { serveClusterMetrics } from '../platform/cluster-metrics.js';
import { createLogger } from '../platform/logger.js';
import { exitOnSignals, startServer, withRuntimeSecrets } from '../server.js';
import { consulRegistrationFor, type ConsulRegistration } from '../modules/health/index.js';
import { migrateOrFail, openReachableDatabase } from '../platform/db/open-database.js';
import { describeFailure, exitWithFailure } from './fail.js';
import { BACKOFF, RestartPolicy } from './restart-policy.js';

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
    const starting = startServer(config);
    exitOnSignals(starting);
    await starting;
    return;
  }
  if (cluster.isWorker) {
    try {
      // Registration with Consul is the primary's: one per instance, not one per worker.
      const starting = startServer(config, { migrate: false, registerWithConsul: false });
      exitOnSignals(starting);
      await starting;
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

  let stopping = false;
  let failureReported = false;
  cluster.on('message', (_worker, message: unknown) => {
    if (!isStartupFailed(message) || failureReported) return;
    failureReported = true;
    console.error(`sutazai serve: ${message.reason}`);
  });

  const limits = {
    ...BACKOFF,
    maxRestarts: config.server.workerRestart.max,
    windowMs: config.server.workerRestart.windowMs,
  };
  const slots = Array.from(
    { length: config.server.workers },
    () => new RestartPolicy(limits, () => performance.now()),
  );
  const slotOf = new Map<Worker, RestartPolicy>();
  const pendingRestarts = new Set<NodeJS.Timeout>();
  let anyListened = false;
  let consul: ConsulRegistration | undefined;
  const fork = (slot: RestartPolicy) => {
    const worker = cluster.fork();
    slotOf.set(worker, slot);
    worker.once('listening', (address) => {
      anyListened = true;
      slot.started();
      if (consul === undefined && !stopping) {
        consul = consulRegistrationFor(config, address.port, log.child({ module: 'consul' }));
        consul?.start();
      }
    });
  };
  /** Exits once out of Consul (the deregistration gets SHUTDOWN_TIMEOUT_MS at most). */
  let deregistered: Promise<void> = Promise.resolve();
  const exit = (code: number) => void deregistered.finally(() => process.exit(code));

  /** Stops every worker (each finishes its requests), then exits: `exitCode`, or 1 if a worker did not stop cleanly. */
  const stopAll = (exitCode: 0 | 1) => {
    stopping = true;
    deregistered = consul?.stop(config.server.shutdownTimeoutMs) ?? Promise.resolve();
    for (const timer of pendingRestarts) clearTimeout(timer);
    pendingRestarts.clear();
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    if (workers.length === 0) return exit(exitCode);
    let failed = false;
    let remaining = workers.length;
    const hardStop = setTimeout(() => {
      log.error('workers did not stop in time; killing them');
      for (const w of workers) w.process.kill('SIGKILL');
      process.exit(1);
    }, config.server.shutdownTimeoutMs + 5_000);
    hardStop.unref();
    for (const worker of workers) {
      worker.once('exit', (code) => {
        if (code !== 0) failed = true;
        remaining -= 1;
        if (remaining === 0) {
          clearTimeout(hardStop);
          log.info('all workers stopped');
          exit(failed ? 1 : exitCode);
        }
      });
      worker.process.kill('SIGTERM');
    }
  };

  cluster.on('exit', (worker, code, signal) => {
    const slot = slotOf.get(worker);
    slotOf.delete(worker);
    if (stopping || !slot) return;
    // worker_pid, not pid: pino already writes the primary's own pid under that name on every line.
    const died = { worker_pid: worker.process.pid, code, signal };
    if (!anyListened) {
      // No worker has come up yet: this is a start failure (port taken, database gone), and would happen again.
      log.fatal(died, 'a worker failed to start; stopping');
      stopAll(1);
      return;
    }
    const decision = slot.crashed();
    if (!decision.restart) {
      const { crashes, windowMs } = decision;
      log.fatal({ ...died, crashes, window_ms: windowMs }, 'a worker keeps crashing; stopping the server');
      console.error(
        `sutazai serve: a worker crashed ${crashes} times within ${windowMs} ms; stopping the server`,
      );
      stopAll(1);
      return;
    }
    log.error({ ...died, restart_in_ms: decision.delayMs }, 'worker died; starting a new one');
    // Not unref'd: when every worker is gone this timer is all that keeps the primary's event loop alive. (It was
    // unref'd, so with both workers dead the loop emptied and the primary exited 0 before starting either.)
    const timer = setTimeout(() => {
      pendingRestarts.delete(timer);
      fork(slot);
    }, decision.delayMs);
    pendingRestarts.add(timer);
  });

  for (const slot of slots) fork(slot);
  log.info({ workers: config.server.workers, port: config.server.port }, 'cluster started');

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    log.info({ signal }, 'shutting down workers');
    stopAll(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
