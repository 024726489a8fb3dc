// The statements behind the lockout, one step at a time on both dialects: reservations up to the threshold, the
// lock at the threshold-th failure, the re-check a right password makes after its hash (a lock set meanwhile wins),
// lapsed reservations, the count starting again after a lock, unlock keeping checks in flight, and the idle sweep.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ManualClock } from '../../../src/lib/clock.js';
import { createAuthMetrics } from '../../../src/modules/auth/auth.metrics.js';
import { LoginLockRepository } from '../../../src/modules/auth/login-lock.repository.js';
import { LoginLockService } from '../../../src/modules/auth/login-lock.service.js';
import type { DbExecutor } from '../../../src/platform/db/transactions.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const MINUTE = 60_000;
const T0 = new Date('2030-06-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * MINUTE);
const THRESHOLD = 3;
/** Reservations lapse 30 minutes after they are made (as long as a lock lasts). */
const limits = (now: Date) => ({
  threshold: THRESHOLD,
  inFlightUntil: new Date(now.getTime() + 30 * MINUTE),
});

describeEachDialect('login_locks statements', (dialect) => {
  let locks: LoginLockRepository;
  let t: TestApp;
  let db: DbExecutor;
  let n = 0;
  const key = () => `name-${++n}`;
  beforeAll(async () => {
    t = await buildTestApp({ dialect });
    db = t.app.database.db;
    locks = new LoginLockRepository(db);
  });
  afterAll(() => t.close());

  const reserve = (k: string, now = T0) => locks.reserve(k, now, limits(now));
  const fail = (k: string, now = T0) => locks.recordFailure(k, now, THRESHOLD, at(30));

  it('reserves up to the threshold, counting checks in flight, and locks at the threshold-th failure', async () => {
    const k = key();
    expect([await reserve(k), await reserve(k), await reserve(k), await reserve(k)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(await fail(k)).toEqual({ failedAttempts: 1, lockedUntil: null });
    // One failure and two checks in flight still make three.
    expect(await reserve(k)).toBe(false);
    expect(await fail(k)).toEqual({ failedAttempts: 2, lockedUntil: null });
    expect(await fail(k)).toEqual({ failedAttempts: 3, lockedUntil: at(30) });
    // Locked: nothing more is reserved even with no check in flight.
    expect(await fail(k)).toEqual({ failedAttempts: 4, lockedUntil: at(30) });
    expect(await reserve(k, at(29))).toBe(false);
  });

  it('refuses a right password whose check was judged after a lock set meanwhile, and keeps the lock', async () => {
    const k = key();
    expect(await reserve(k)).toBe(true);
    // Its reservation lapses (its instance looked dead), so others get theirs and lock the name.
    const later = at(31);
    for (let i = 0; i < THRESHOLD; i++) expect(await reserve(k, later)).toBe(true);
    for (let i = 0; i < THRESHOLD; i++) await locks.recordFailure(k, later, THRESHOLD, at(61));
    expect(await locks.recordSuccess(k, later)).toEqual(at(61));
    expect(await locks.find(k)).toEqual({ failedAttempts: THRESHOLD, lockedUntil: at(61) });
  });

  it('clears the count on success, and starts it again when a lock has run out', async () => {
    const k = key();
    await reserve(k);
    await fail(k);
    await reserve(k);
    expect(await locks.recordSuccess(k, T0)).toBeNull();
    expect(await locks.find(k)).toEqual({ failedAttempts: 0, lockedUntil: null });

    for (let i = 0; i < THRESHOLD; i++) await reserve(k);
    for (let i = 0; i < THRESHOLD; i++) await fail(k);
    expect(await reserve(k, at(30))).toBe(true);
    expect(await locks.find(k)).toEqual({ failedAttempts: 0, lockedUntil: null });
  });

  it('lets reservations that were never judged lapse, and unlock keeps those still in flight', async () => {
    const k = key();
    for (let i = 0; i < THRESHOLD; i++) await reserve(k);
    expect(await reserve(k, at(29))).toBe(false);
    expect(await reserve(k, at(30))).toBe(true);

    const other = key();
    await reserve(other);
    await fail(other);
    await reserve(other);
    await reserve(other);
    await locks.clear(other, T0);
    expect(await locks.find(other)).toEqual({ failedAttempts: 0, lockedUntil: null });
    // Two checks are still in flight: one more fits.
    expect(await reserve(other)).toBe(true);
    expect(await reserve(other)).toBe(false);
  });

  it('deletes idle names that are neither locked nor in flight', async () => {
    await db.deleteFrom('login_locks').execute();
    const [idle, locked, busy, recent] = [key(), key(), key(), key()];
    await reserve(idle);
    await fail(idle);
    for (let i = 0; i < THRESHOLD; i++) await reserve(locked);
    for (let i = 0; i < THRESHOLD; i++) await locks.recordFailure(locked, T0, THRESHOLD, at(48 * 60));
    await locks.reserve(busy, T0, { threshold: THRESHOLD, inFlightUntil: at(48 * 60) });
    await reserve(recent, at(23 * 60));
    expect(await locks.deleteIdle(at(25 * 60), at(60))).toBe(1);
    const left = await db.selectFrom('login_locks').select('login_key').orderBy('login_key').execute();
    expect(left.map((r) => r.login_key)).toEqual([busy, locked, recent].sort());
  });

  it('forgets, in the hourly cleanup, the failures of names nobody has tried for a day', async () => {
    await db.deleteFrom('login_locks').execute();
    const clock = new ManualClock(T0);
    const service = new LoginLockService({
      locks,
      clock,
      metrics: createAuthMetrics(new Registry()),
      settings: { lockoutThreshold: THRESHOLD, lockoutMinutes: 30 },
    });
    const [old, recent] = [key(), key()];
    await service.reserve(old);
    await service.fail(old).catch(() => undefined);
    clock.advance(2 * 60 * MINUTE);
    await service.reserve(recent);
    await service.fail(recent).catch(() => undefined);
    clock.advance(23 * 60 * MINUTE);
    expect(await service.deleteIdle()).toBe(1);
    expect(await locks.find(old)).toBeUndefined();
    expect(await locks.find(recent)).toEqual({ failedAttempts: 1, lockedUntil: null });
  });

  it('gives back a check whose hash or verdict failed, so that errors never lock a name', async () => {
    const clock = new ManualClock(T0);
    const service = new LoginLockService({
      locks,
      clock,
      metrics: createAuthMetrics(new Registry()),
      settings: { lockoutThreshold: THRESHOLD, lockoutMinutes: 30 },
    });
    const k = key();
    // More failed judgments than the threshold: each reservation comes back, none is counted.
    for (let i = 0; i < THRESHOLD + 2; i++) {
      await service.reserve(k);
      await expect(
        service.orRelease(k, () => Promise.reject(new Error('connection terminated'))),
      ).rejects.toThrow('connection terminated');
    }
    expect(await locks.find(k)).toEqual({ failedAttempts: 0, lockedUntil: null });
    // All THRESHOLD checks can still be reserved at once.
    for (let i = 0; i < THRESHOLD; i++) expect(await reserve(k)).toBe(true);
  });
});
