// buildTestApp(): the real app, on a fresh database of the chosen dialect, migrated, logging nowhere (or into an
// array the test reads). Settings come as env-style strings, parsed by the real config code.
import { Writable } from 'node:stream';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig, type Config, type Dialect } from '../../src/config.js';
import type { Clock } from '../../src/lib/clock.js';
import { freshDatabase, type FreshDatabase } from './databases.js';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TestApp {
  app: App;
  config: Config;
  database: FreshDatabase;
  /** Parsed JSON log lines, when `captureLogs` was set. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  dialect?: Dialect;
  env?: Record<string, string>;
  captureLogs?: boolean;
  /** Routes or hooks added before ready(), for platform tests that need a route of their own. */
  extend?: (app: App) => void | Promise<void>;
  /** Time for the app (a ManualClock lets a test step through lockouts and token expiry). */
  clock?: Clock;
  /** Rewrites the fresh database's URL (to reach it through a proxy a test can take down). */
  databaseUrl?: (url: string) => string;
}

export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = await freshDatabase(options.dialect ?? 'sqlite');
  const logs: Record<string, unknown>[] = [];
  const config = parseConfig(
    {
      ENVIRONMENT: 'test',
      DATA_DIR: database.dataDir,
      DATABASE_URL: options.databaseUrl ? options.databaseUrl(database.url) : database.url,
      LOG_LEVEL: options.captureLogs ? 'debug' : 'silent',
      JWT_SECRET_KEY: TEST_JWT_SECRET,
      // The lowest bcrypt cost: tests log in hundreds of times; the cost setting itself is tested on its own.
      BCRYPT_ROUNDS: '4',
      // Off: suites make hundreds of requests, register dozens of users and fail logins on purpose, all from
      // app.inject's 127.0.0.1. The rate limit tests turn them on.
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_REGISTER: '0',
      RATE_LIMIT_LOGIN_FAILURES: '0',
      ...options.env,
    },
    '0.0.0-test',
  );
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  let app: App;
  try {
    app = await buildApp(config, {
      migrate: true,
      logDestination: destination,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    await options.extend?.(app);
    await app.ready();
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    app,
    config,
    database,
    logs,
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}
