// The database pool in Prometheus, read from the pool at scrape time. The names are the original's (SQLAlchemy's
// QueuePool words), mapped onto pg's pool: checked out = in use, checked in = idle, overflow = queries waiting for a
// connection. SQLite is reported as a pool of one connection.
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { PoolStats } from './database.js';

export interface PoolMetrics {
  /** For DatabaseOptions.onConnectionWait. */
  observeWait(seconds: number): void;
  /** Starts reading `stats` at each scrape. */
  watch(stats: () => PoolStats): void;
}

export function createPoolMetrics(registry: Registry): PoolMetrics {
  let read: (() => PoolStats) | undefined;
  const gauge = (name: string, help: string, value: (stats: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (read) this.set(value(read()));
      },
    });
  gauge('db_pool_size', 'Most connections the pool may open.', (s) => s.size);
  gauge('db_pool_checked_in', 'Open connections idle in the pool.', (s) => s.idle);
  gauge('db_pool_checked_out', 'Open connections serving a query or transaction.', (s) => s.inUse);
  gauge('db_pool_overflow', 'Queries waiting for a free connection.', (s) => s.waiting);
  const wait = new Histogram({
    name: 'db_pool_wait_seconds',
    help: 'Time a query or transaction waited for its database connection.',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  });
  return {
    observeWait: (seconds) => wait.observe(seconds),
    watch: (stats) => {
      read = stats;
    },
  };
}
