// Errors that mean "a system we depend on is unavailable right now" (PostgreSQL or Redis down, restarting, or our
// connection to it cut), as opposed to a bug. The error handler answers them 503 with Retry-After instead of 500:
// the request may well succeed once the pool or the Redis client has reconnected, and a client or load balancer
// can tell an outage from a defect. Driver text never reaches the body (it may name hosts or SQL).
import pg from 'pg';

export type Dependency = 'database' | 'redis';

/** What a client is told to wait before retrying: about one reconnect of the pool or of the Redis client. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 5;

const ANSWERS: Record<Dependency, { code: string; detail: string }> = {
  database: {
    code: 'database_unavailable',
    detail: 'The database is unavailable; try again shortly',
  },
  redis: {
    code: 'redis_unavailable',
    detail: 'A service the server depends on is unavailable; try again shortly',
  },
};

/** Set on an error known to mean an outage of a dependency (the pool guard marks what it sees), so that even an
 * ECONNREFUSED, which could come from anywhere, is placed. */
const FROM_DEPENDENCY = Symbol('sutazai.dependency');

/**
 * SQLSTATEs after which the session is gone or cannot start: class 08 (connection exception), 57P01-57P05
 * (terminated by an administrator, a crash, a server starting up, a dropped database, the idle-session timeout),
 * and 53300 (too many connections: the server refuses new sessions until some end).
 */
const SESSION_LOST_SQLSTATE = /^(08...|57P0[1-5]|53300)$/;

/** pg's and pg-pool's own errors (plain Errors without a code) for a connection that is gone or never came. */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated', // also "… unexpectedly" and "… due to connection timeout"
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'timeout exceeded when trying to connect', // pg-pool: no connection free within DB_POOL_TIMEOUT_MS
];

/** Socket errors: refused, reset, unreachable, timed out, or a host name that did not resolve. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** ioredis's rejections of a command while Redis is away (the offline queue is off: platform/redis.ts). */
const REDIS_MESSAGES = [
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Connection is closed.',
];

/**
 * Whether `error` says the PostgreSQL session it ran on is gone (so the connection must not be used again), as
 * opposed to a failed statement on a healthy connection.
 */
export function isPgConnectionLoss(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return SESSION_LOST_SQLSTATE.test(error.code ?? '');
  if (!(error instanceof Error)) return false;
  if (error instanceof AggregateError) return error.errors.some(isPgConnectionLoss);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
  return PG_CONNECTION_MESSAGES.some((message) => error.message.startsWith(message));
}

/** Marks an error as coming from `dependency`; returns it, for `throw markDependencyError(error, 'database')`. */
export function markDependencyError<T>(error: T, dependency: Dependency): T {
  if (error !== null && typeof error === 'object' && Object.isExtensible(error)) {
    Object.defineProperty(error, FROM_DEPENDENCY, {
      value: dependency,
      enumerable: false,
      configurable: true,
    });
  }
  return error;
}

function isRedisUnavailable(error: Error): boolean {
  // MaxRetriesPerRequestError: the command was retried after reconnects (maxRetriesPerRequest) and never ran.
  return error.name === 'MaxRetriesPerRequestError' || REDIS_MESSAGES.includes(error.message);
}

/** Which dependency `error` (or an error in its `cause` chain) says is unavailable, if any. */
export function unavailableDependency(error: unknown): Dependency | undefined {
  // A few levels of `cause`: a service may wrap what a repository threw. Bounded, as a cause chain may loop.
  let current = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const marked = (current as { [FROM_DEPENDENCY]?: Dependency })[FROM_DEPENDENCY];
    if (marked) return marked;
    if (current instanceof pg.DatabaseError) return isPgConnectionLoss(current) ? 'database' : undefined;
    if (isRedisUnavailable(current)) return 'redis';
    // pg's own connection errors name no code; a bare socket error is not placed without a mark.
    const code = (current as { code?: unknown }).code;
    if (code === undefined && PG_CONNECTION_MESSAGES.some((m) => (current as Error).message.startsWith(m))) {
      return 'database';
    }
    current = current.cause;
  }
  return undefined;
}

/** The error handler's answer for a dependency outage, or undefined when `error` is not one. */
export function dependencyUnavailableAnswer(
  error: unknown,
): { status: 503; code: string; detail: string; retryAfterSeconds: number } | undefined {
  const dependency = unavailableDependency(error);
  if (!dependency) return undefined;
  return {
    status: 503,
    ...ANSWERS[dependency],
    retryAfterSeconds: DEPENDENCY_RETRY_AFTER_SECONDS,
  };
}
