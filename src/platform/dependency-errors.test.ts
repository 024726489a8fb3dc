// Which errors mean "PostgreSQL or Redis is unavailable" (503 + Retry-After) and which stay what they were.
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  DEPENDENCY_RETRY_AFTER_SECONDS,
  isPgConnectionLoss,
  markDependencyError,
  unavailableDependency,
} from './dependency-errors.js';
import { mapError } from './error-handler.js';
import { NotFoundError } from './errors.js';

function pgError(code: string, message = 'driver text that must not reach a client'): pg.DatabaseError {
  const error = new pg.DatabaseError(message, 0, 'error');
  error.code = code;
  return error;
}

function systemError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect ${code} 10.0.0.5:5432`), { code, errno: -111, syscall: 'connect' });
}

describe('unavailableDependency', () => {
  it.each([
    ['57P01 admin shutdown (pg_terminate_backend)', pgError('57P01')],
    ['57P02 crash shutdown', pgError('57P02')],
    ['57P03 cannot connect now (starting up)', pgError('57P03')],
    ['08006 connection failure', pgError('08006')],
    ['08001 cannot establish connection', pgError('08001')],
    ['53300 too many connections', pgError('53300')],
    ['pg: connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
    ['pg: connection timeout', new Error('Connection terminated due to connection timeout')],
    ['pg: client not queryable', new Error('Client has encountered a connection error and is not queryable')],
    ['pg-pool: checkout timeout', new Error('timeout exceeded when trying to connect')],
    ['a marked ECONNREFUSED', markDependencyError(systemError('ECONNREFUSED'), 'database')],
    ['a marked ECONNRESET', markDependencyError(systemError('ECONNRESET'), 'database')],
    ['a service wrapping one', new Error('could not save', { cause: pgError('57P01') })],
  ])('database: %s', (_name, error) => {
    expect(unavailableDependency(error)).toBe('database');
  });

  it.each([
    ['offline queue off', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['connection closed', new Error('Connection is closed.')],
  ])('redis: %s', (_name, error) => {
    expect(unavailableDependency(error)).toBe('redis');
  });

  it.each([
    ['unique violation', pgError('23505')],
    ['statement timeout (57014: the query, not the session)', pgError('57014')],
    ['syntax error', pgError('42601')],
    ['an unmarked ECONNREFUSED (an LLM, a mail server: not ours to place)', systemError('ECONNREFUSED')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['an SQLite error', Object.assign(new Error('datatype mismatch'), { code: 'SQLITE_MISMATCH' })],
    ['not an error', 'Connection terminated'],
    ['a cause chain that loops', loopingCause()],
  ])('none: %s', (_name, error) => {
    expect(unavailableDependency(error)).toBeUndefined();
  });

  // Real ioredis clients on a port where nothing listens (1: reserved, never ours).
  it('recognises the rejection of a command while disconnected, the offline queue off (our setting)', async () => {
    const client = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    const error: unknown = await client.get('key').catch((e: unknown) => e);
    client.disconnect();
    expect(error).toMatchObject({
      message: "Stream isn't writeable and enableOfflineQueue options is false",
    });
    expect(unavailableDependency(error)).toBe('redis');
  });

  it('recognises MaxRetriesPerRequestError, a command given up after reconnects', async () => {
    const client = new Redis({ port: 1, maxRetriesPerRequest: 1, retryStrategy: () => 10 });
    client.on('error', () => undefined);
    const error: unknown = await client.get('key').catch((e: unknown) => e);
    client.disconnect();
    expect(error).toMatchObject({ name: 'MaxRetriesPerRequestError' });
    expect(unavailableDependency(error)).toBe('redis');
  });
});

describe('isPgConnectionLoss', () => {
  it('tells a lost session from a failed statement', () => {
    expect(isPgConnectionLoss(pgError('57P01'))).toBe(true);
    expect(isPgConnectionLoss(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isPgConnectionLoss(new AggregateError([systemError('ECONNREFUSED')]))).toBe(true);
    expect(isPgConnectionLoss(pgError('23505'))).toBe(false);
    expect(isPgConnectionLoss(pgError('57014'))).toBe(false);
  });
});

describe('mapError for dependency outages', () => {
  it('answers 503 with Retry-After and our own words, never the driver text', () => {
    expect(mapError(pgError('57P01'))).toEqual({
      status: 503,
      code: 'database_unavailable',
      detail: 'The database is unavailable; try again shortly',
      retryAfterSeconds: DEPENDENCY_RETRY_AFTER_SECONDS,
    });
    const redis = mapError(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
    expect(redis).toMatchObject({ status: 503, code: 'redis_unavailable', retryAfterSeconds: 5 });
    expect(redis.detail).not.toMatch(/stream|offline/i);
  });

  it('leaves other errors as they were', () => {
    expect(mapError(pgError('23505'))).toMatchObject({ status: 500, code: 'internal_error' });
    expect(mapError(new NotFoundError())).toMatchObject({ status: 404, code: 'not_found' });
  });
});

function loopingCause(): Error {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as { cause?: unknown }).cause = b;
  return a;
}
