import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { HealthRounds, probeWithin } from './health-rounds.js';
import { probeReason } from './probe-reason.js';
import { ProbeFailure } from './service-probe.js';

describe('probeWithin', () => {
  it('gives a probe that ignores its signal up at the timeout, and aborts the signal', async () => {
    let signal: AbortSignal | undefined;
    const result = await probeWithin(
      {
        check: (s) => {
          signal = s;
          return new Promise(() => undefined);
        },
      },
      20,
    );
    expect(result).toMatchObject({ status: 'unhealthy', reason: 'timeout after 20 ms' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(19);
    expect(signal?.aborted).toBe(true);
  });

  it('reports a failure with its reason, and a late rejection after the timeout goes nowhere', async () => {
    expect(
      await probeWithin({ check: () => Promise.reject(new ProbeFailure('HTTP 503')) }, 1000),
    ).toMatchObject({
      status: 'unhealthy',
      reason: 'HTTP 503',
    });
    const late = await probeWithin(
      { check: () => new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 40)) },
      5,
    );
    expect(late.reason).toBe('timeout after 5 ms');
    await new Promise((resolve) => setTimeout(resolve, 60));
  });
});

describe('HealthRounds', () => {
  it('runs one round for concurrent callers, reuses it for the cache time on the clock, then runs another', async () => {
    const clock = new ManualClock();
    let checks = 0;
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const rounds = new HealthRounds({
      probes: {
        database: {
          check: async () => {
            checks++;
            await gate;
          },
        },
      },
      timeoutMs: 10_000,
      cacheTtlMs: 1000,
      clock,
    });
    const pending = Array.from({ length: 1000 }, () => rounds.current());
    release();
    const results = await Promise.all(pending);
    expect(checks).toBe(1);
    expect(new Set(results).size).toBe(1);

    clock.advance(999);
    expect(await rounds.current()).toBe(results[0]);
    clock.advance(1);
    expect(await rounds.current()).not.toBe(results[0]);
    expect(checks).toBe(2);
  });

  it('marks services without a probe disabled and counts nothing for them', async () => {
    const clock = new ManualClock();
    const rounds = new HealthRounds({
      probes: { database: { check: async () => {} } },
      timeoutMs: 100,
      cacheTtlMs: 0,
      clock,
    });
    const round = await rounds.current();
    expect(round.services.database.status).toBe('healthy');
    expect(round.services.neo4j).toEqual({ status: 'disabled', latencyMs: null });
    expect(rounds.isEnabled('neo4j')).toBe(false);
  });
});

describe('probeReason', () => {
  const coded = (code: string) =>
    Object.assign(new Error(`connect ${code} 10.0.0.5:5672 user:secret`), { code });
  it.each([
    [coded('ECONNREFUSED'), 'connection refused'],
    [new Error('wrapped', { cause: coded('ENOTFOUND') }), 'host not found'],
    [new AggregateError([coded('ECONNREFUSED')]), 'connection refused'],
    [
      new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "x"'),
      'refused: 403 ACCESS-REFUSED',
    ],
    [new Error('connect ETIMEDOUT'), 'connect timeout'],
    [new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'timeout'],
    [
      Object.assign(new Error('x'), { code: 'Neo.ClientError.Security.Unauthorized' }),
      'authentication failed',
    ],
    [new Error('something at http://user:pw@host:1/ went wrong'), 'failed'],
    ['not an error', 'failed'],
  ])('%s → %s', (error, reason) => {
    expect(probeReason(error)).toBe(reason);
  });
});
