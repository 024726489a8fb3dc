// The worker restart policy on a hand-driven clock: the backoff doubles and resets, the crash-loop bound gives up.
import { describe, expect, it } from 'vitest';
import { RestartPolicy, type RestartLimits } from './restart-policy.js';

const LIMITS: RestartLimits = {
  maxRestarts: 5,
  windowMs: 60_000,
  initialDelayMs: 100,
  maxDelayMs: 1_000,
  stableAfterMs: 30_000,
};

function policyAt(limits: Partial<RestartLimits> = {}) {
  const clock = { ms: 1_000_000 };
  const policy = new RestartPolicy({ ...LIMITS, ...limits }, () => clock.ms);
  /** Starts the slot's worker, lets it live `upMs`, then crashes it. */
  const liveAndCrash = (upMs: number) => {
    policy.started();
    clock.ms += upMs;
    return policy.crashed();
  };
  const wait = (ms: number) => (clock.ms += ms);
  return { policy, liveAndCrash, wait };
}

describe('RestartPolicy', () => {
  it('doubles the delay from 100 ms for crashes in a row, capped at maxDelayMs', () => {
    const { liveAndCrash } = policyAt({ maxRestarts: 100, windowMs: 1 });
    const delays = Array.from({ length: 7 }, () => liveAndCrash(10));
    expect(delays).toEqual(
      [100, 200, 400, 800, 1000, 1000, 1000].map((delayMs) => ({ restart: true, delayMs })),
    );
  });

  it('starts again from the first delay after a worker stayed up stableAfterMs', () => {
    const { liveAndCrash } = policyAt({ maxRestarts: 100, windowMs: 1 });
    expect([liveAndCrash(10), liveAndCrash(10), liveAndCrash(10)].map((d) => d.restart && d.delayMs)).toEqual(
      [100, 200, 400],
    );
    expect(liveAndCrash(29_999)).toEqual({ restart: true, delayMs: 800 });
    expect(liveAndCrash(30_000)).toEqual({ restart: true, delayMs: 100 });
    expect(liveAndCrash(10)).toEqual({ restart: true, delayMs: 200 });
  });

  it('a crash before started() (a worker that never came up) keeps the backoff growing', () => {
    const { policy, liveAndCrash } = policyAt({ maxRestarts: 100, windowMs: 1 });
    expect(liveAndCrash(60_000)).toEqual({ restart: true, delayMs: 100 });
    expect(policy.crashed()).toEqual({ restart: true, delayMs: 200 });
  });

  it('gives up on the crash after maxRestarts restarts within the window', () => {
    const { liveAndCrash } = policyAt({ maxRestarts: 3, windowMs: 60_000 });
    expect([liveAndCrash(1_000), liveAndCrash(1_000), liveAndCrash(1_000)].every((d) => d.restart)).toBe(
      true,
    );
    expect(liveAndCrash(1_000)).toEqual({ restart: false, crashes: 4, windowMs: 60_000 });
  });

  it('forgets crashes older than the window', () => {
    const { liveAndCrash, wait } = policyAt({ maxRestarts: 2, windowMs: 60_000 });
    expect(liveAndCrash(1_000).restart).toBe(true); // t = 1 s
    expect(liveAndCrash(1_000).restart).toBe(true); // t = 2 s
    wait(59_000); // the first crash is now 60 s old: out of the window
    expect(liveAndCrash(0).restart).toBe(true);
    expect(liveAndCrash(500)).toEqual({ restart: false, crashes: 3, windowMs: 60_000 });
  });

  it('maxRestarts 0: the first crash gives up', () => {
    const { liveAndCrash } = policyAt({ maxRestarts: 0 });
    expect(liveAndCrash(60_000)).toEqual({ restart: false, crashes: 1, windowMs: 60_000 });
  });
});
