// Times how long each query or transaction waits for its connection: a free pg client from the pool, or SQLite's
// one connection, which Kysely's driver hands to one query at a time. Wrapping the dialect's driver measures both
// the same way, without reaching into either pool.
import type { DatabaseConnection, Dialect, Driver } from 'kysely';

/** `dialect` whose driver reports each wait for a connection, in seconds, to `observe`. */
export function timingConnectionWaits(dialect: Dialect, observe: (seconds: number) => void): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createDriver: () => timedDriver(dialect.createDriver(), observe),
  };
}

/**
 * The driver with acquireConnection timed. A Proxy, so that every other method (savepoints included) passes through
 * as it is; each is bound to the driver once, not at every query (the drivers keep their state in private fields).
 */
function timedDriver(driver: Driver, observe: (seconds: number) => void): Driver {
  const acquireConnection = async (): Promise<DatabaseConnection> => {
    const started = performance.now();
    try {
      return await driver.acquireConnection();
    } finally {
      observe((performance.now() - started) / 1000);
    }
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(driver, {
    get(target, property, receiver) {
      if (property === 'acquireConnection') return acquireConnection;
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      let method = bound.get(property);
      if (method === undefined) {
        method = (value as (...args: unknown[]) => unknown).bind(target);
        bound.set(property, method);
      }
      return method;
    },
  });
}
