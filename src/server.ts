// The process entry of one server: build the app, listen, and shut down gracefully on SIGTERM/SIGINT
// (stop accepting, let in-flight requests finish within SHUTDOWN_TIMEOUT_MS, close DB and Redis, exit 0). Past the
// timeout, the requests still running are interrupted (503 / an SSE `error` event `server_shutting_down`), then
// whatever is still open is closed, and the process exits 1.
import { buildApp, type App } from './app.js';
import type { Config } from './config.js';
import type { AddressInfo } from 'node:net';
import { loadOrCreateDevSecret } from './lib/dev-secret.js';
import { consulRegistrationFor } from './modules/health/index.js';

/** How often a shutting-down server closes keep-alive connections that have become idle. */
const IDLE_REAP_INTERVAL_MS = 50;
/**
 * At SHUTDOWN_TIMEOUT_MS the requests still running are interrupted (a stream's last event, a chat's partial answer
 * stored): how long they may take to end that way before their connections are closed regardless.
 */
const INTERRUPT_GRACE_MS = 1_000;
/** After that, how long closing the database and Redis may still take before we stop waiting. */
const FORCED_CLOSE_GRACE_MS = 1_000;

export interface RunningServer {
  app: App;
  address: string;
  /** Stops accepting, waits for in-flight requests, closes resources. Resolves true when done within the timeout. */
  shutdown(reason: string): Promise<boolean>;
}

/** Waits for `work` at most `ms`; resolves 'timeout' after that. Clears its timer either way. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(resolve, ms, 'timeout');
  });
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Fills in what config leaves to the running process: the development JWT secret. */
export function withRuntimeSecrets(config: Config): Config {
  if (config.auth.jwtSecret || config.app.environment === 'production') return config;
  return { ...config, auth: { ...config.auth, jwtSecret: loadOrCreateDevSecret(config.dataDir) } };
}

export interface StartOptions {
  /** Run pending migrations while starting; MIGRATE_ON_START by default (cluster workers pass false). */
  migrate?: boolean;
  /** Routes or hooks added before the app is ready (test fixtures that need a route of their own). */
  extend?: (app: App) => void | Promise<void>;
  /** Register with Consul when CONSUL_URL is set (true by default; cluster workers leave it to the primary). */
  registerWithConsul?: boolean;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const app = await buildApp(withRuntimeSecrets(config), {
    migrate: options.migrate ?? config.db.migrateOnStart,
  });
  let address: string;
  try {
    await options.extend?.(app);
    address = await app.listen({ host: config.server.host, port: config.server.port });
  } catch (error) {
    await app.close();
    throw error;
  }

  const consul =
    options.registerWithConsul === false
      ? undefined
      : consulRegistrationFor(
          config,
          (app.server.address() as AddressInfo).port,
          app.log.child({ module: 'consul' }),
        );
  consul?.start();

  let closing: Promise<boolean> | undefined;
  const shutdown = (reason: string): Promise<boolean> => {
    closing ??= (async () => {
      app.log.info(
        { reason, timeoutMs: config.server.shutdownTimeoutMs },
        'shutting down: finishing in-flight requests',
      );
      // Out of Consul first, so that it stops sending traffic here; within SHUTDOWN_TIMEOUT_MS, beside the drain.
      const deregistered = consul?.stop(config.server.shutdownTimeoutMs);
      const clean = await drain();
      await deregistered;
      return clean;
    })();
    return closing;
  };

  /** Lets in-flight requests finish within SHUTDOWN_TIMEOUT_MS, then interrupts them; true when clean. */
  const drain = async (): Promise<boolean> => {
    // server.close() drops the keep-alive connections idle at that moment, but one whose in-flight request
    // finishes later stays open until the client's next request or keepAliveTimeout (5 s), holding up the close
    // (and, past SHUTDOWN_TIMEOUT_MS, turning a clean drain into exit 1). So keep reaping them until closed.
    const reaper = setInterval(() => app.server.closeIdleConnections(), IDLE_REAP_INTERVAL_MS);
    const closed = app.close().then(
      () => 'closed' as const,
      (error: unknown) => {
        app.log.error({ err: error }, 'closing the server failed');
        return 'failed' as const;
      },
    );
    const outcome = await within(closed, config.server.shutdownTimeoutMs);
    if (outcome === 'closed') app.log.info('shut down cleanly');
    if (outcome !== 'timeout') {
      clearInterval(reaper);
      return outcome === 'closed';
    }

    // Closing their sockets at once cut the streams off without a word, and the LLM calls broke before they saw
    // the client leave: the provider was blamed and the breaker opened. Interrupted first, they end as errors
    // `server_shutting_down` on connections still open, with what was generated stored; the breaker sees aborts.
    app.log.error('shutdown timeout reached: interrupting the requests still running');
    app.interruptRequests();
    const interrupted = await within(closed, INTERRUPT_GRACE_MS);
    clearInterval(reaper);
    if (interrupted !== 'timeout') return false;

    app.log.error('shutdown timeout reached: closing the connections still open');
    app.server.closeAllConnections();
    // Closing the database waits for connections still checked out (a handler stuck in a long query would hold
    // the pool's end() until the query finishes), so closing resources gets a short grace, not forever.
    if ((await within(closed, FORCED_CLOSE_GRACE_MS)) === 'timeout') {
      app.log.error('resources still closing after the shutdown timeout: giving up on them');
    }
    return false;
  };
  return { app, address, shutdown };
}

/**
 * Wires SIGTERM/SIGINT to a graceful shutdown and exits: 0 when it finished within the timeout, 1 otherwise. Called
 * with the server still starting, so that a signal arriving between "listening" and the end of the start (a cluster
 * primary stopping a worker that has just come up) waits for the start and shuts down cleanly, instead of Node's
 * default action killing the process. A start that fails exits through its own error path.
 */
export function exitOnSignals(starting: Promise<RunningServer>): void {
  const onSignal = (signal: NodeJS.Signals) => {
    void starting
      .then((server) => server.shutdown(signal))
      .then(
        (clean) => process.exit(clean ? 0 : 1),
        () => process.exit(1),
      );
  };
  // `on`, not `once`: a second signal (Ctrl-C twice, or the cluster primary forwarding one) must not kill the
  // process with Node's default action while requests are still finishing; shutdown() is idempotent.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
