// The process entry of one server: build the app, listen, and shut down gracefully on SIGTERM/SIGINT
// (stop accepting, let in-flight requests finish within SHUTDOWN_TIMEOUT_MS, close DB and Redis, exit 0).
import { buildApp, type App } from './app.js';
import type { Config } from './config.js';
import { loadOrCreateDevSecret } from './lib/dev-secret.js';

export interface RunningServer {
  app: App;
  address: string;
  /** Stops accepting, waits for in-flight requests, closes resources. Resolves true when done within the timeout. */
  shutdown(reason: string): Promise<boolean>;
}

/** Fills in what config leaves to the running process: the development JWT secret. */
export function withRuntimeSecrets(config: Config): Config {
  if (config.auth.jwtSecret || config.app.environment === 'production') return config;
  return { ...config, auth: { ...config.auth, jwtSecret: loadOrCreateDevSecret(config.dataDir) } };
}

export async function startServer(
  config: Config,
  options: { migrate?: boolean } = {},
): Promise<RunningServer> {
  const app = await buildApp(withRuntimeSecrets(config), {
    migrate: options.migrate ?? config.db.migrateOnStart,
  });
  let address: string;
  try {
    address = await app.listen({ host: config.server.host, port: config.server.port });
  } catch (error) {
    await app.close();
    throw error;
  }

  let closing: Promise<boolean> | undefined;
  const shutdown = (reason: string): Promise<boolean> => {
    closing ??= (async () => {
      app.log.info(
        { reason, timeoutMs: config.server.shutdownTimeoutMs },
        'shutting down: finishing in-flight requests',
      );
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), config.server.shutdownTimeoutMs);
      });
      const closed = app.close().then(() => true as const);
      const inTime = await Promise.race([closed, timedOut]);
      clearTimeout(timer);
      if (!inTime) {
        app.log.error('shutdown timeout reached: closing the connections still open');
        app.server.closeAllConnections();
        await closed;
      } else {
        app.log.info('shut down cleanly');
      }
      return inTime;
    })();
    return closing;
  };
  return { app, address, shutdown };
}

/** Wires SIGTERM/SIGINT to a graceful shutdown and exits: 0 when it finished within the timeout, 1 otherwise. */
export function exitOnSignals(server: RunningServer): void {
  const onSignal = (signal: NodeJS.Signals) => {
    void server.shutdown(signal).then(
      (clean) => process.exit(clean ? 0 : 1),
      () => process.exit(1),
    );
  };
  // `on`, not `once`: a second signal (Ctrl-C twice, or the cluster primary forwarding one) must not kill the
  // process with Node's default action while requests are still finishing; shutdown() is idempotent.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
