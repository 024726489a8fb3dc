// The circuit breaker alone, on a ManualClock: its states, the open time to the millisecond, the one probe and its
// hand-over, the errors it ignores, and the transitions it reports.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { CircuitBreaker, type BreakerTicket } from './circuit-breaker.js';
import { LlmCircuitOpenError } from './llm.errors.js';
import type { BreakerState } from './llm.metrics.js';

const OPEN_MS = 10_000;

/** Errors the server is to blame for, and one it is not. */
class ServerDown extends Error {}
class BadRequest extends Error {}

function setup(threshold = 3) {
  const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
  const transitions: BreakerState[] = [];
  const breaker = new CircuitBreaker({
    name: 'fake',
    threshold,
    openMs: OPEN_MS,
    clock,
    isFailure: (error) => !(error instanceof BadRequest),
    onTransition: (to) => transitions.push(to),
  });
  const fail = () => breaker.admit().failed(new ServerDown());
  /** Opens the circuit with `threshold` failures. */
  const open = () => {
    for (let i = 0; i < threshold; i++) fail();
    expect(breaker.state).toBe('open');
  };
  const refusal = (act: () => unknown) => {
    try {
      act();
    } catch (error) {
      return error;
    }
    throw new Error('not refused');
  };
  return { clock, breaker, transitions, fail, open, refusal };
}

describe('CircuitBreaker', () => {
  it('opens at exactly `threshold` consecutive failures; a success starts the count again', () => {
    const { breaker, transitions, fail } = setup(3);
    fail();
    fail();
    breaker.admit().succeeded();
    fail();
    fail();
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual([]);
    fail();
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual(['open']);
  });

  it('refuses while open, saying how long is left, then admits one probe at exactly openMs', () => {
    const { breaker, clock, open, refusal, transitions } = setup();
    open();
    expect(refusal(() => breaker.admit())).toBeInstanceOf(LlmCircuitOpenError);
    expect(refusal(() => breaker.check())).toMatchObject({ status: 503, retryAfterSeconds: 10 });
    clock.advance(OPEN_MS - 2_500);
    expect(refusal(() => breaker.admit())).toMatchObject({ retryAfterSeconds: 3 });
    clock.advance(2_499);
    expect(refusal(() => breaker.check())).toMatchObject({ retryAfterSeconds: 1 });
    expect(breaker.state).toBe('open');
    clock.advance(1);
    breaker.check(); // check() alone changes nothing
    expect(breaker.state).toBe('open');
    const probe = breaker.admit();
    expect(probe.probe).toBe(true);
    expect(breaker.state).toBe('half_open');
    expect(transitions).toEqual(['open', 'half_open']);
    // One probe at a time: the others are refused, without waiting for it.
    expect(refusal(() => breaker.check())).toBeInstanceOf(LlmCircuitOpenError);
    expect(refusal(() => breaker.admit())).toBeInstanceOf(LlmCircuitOpenError);
  });

  it("closes on the probe's success, with a fresh count", () => {
    const { breaker, clock, open, fail, transitions } = setup(3);
    open();
    clock.advance(OPEN_MS);
    breaker.admit().succeeded();
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['open', 'half_open', 'closed']);
    expect(breaker.admit().probe).toBe(false);
    fail();
    fail();
    expect(breaker.state).toBe('closed');
  });

  it("re-opens on the probe's failure, for another whole open time", () => {
    const { breaker, clock, open, refusal, transitions } = setup();
    open();
    clock.advance(OPEN_MS);
    breaker.admit().failed(new ServerDown());
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual(['open', 'half_open', 'open']);
    clock.advance(OPEN_MS - 1);
    expect(refusal(() => breaker.admit())).toBeInstanceOf(LlmCircuitOpenError);
    clock.advance(1);
    expect(breaker.admit().probe).toBe(true);
  });

  it('hands an abandoned probe over to the next caller, who decides', () => {
    const { breaker, clock, open, refusal, transitions } = setup();
    open();
    clock.advance(OPEN_MS);
    const first = breaker.admit();
    first.abandoned();
    expect(breaker.state).toBe('half_open');
    breaker.check();
    const second = breaker.admit();
    expect(second.probe).toBe(true);
    expect(refusal(() => breaker.admit())).toBeInstanceOf(LlmCircuitOpenError);
    first.succeeded(); // settled already: ignored
    expect(breaker.state).toBe('half_open');
    second.succeeded();
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['open', 'half_open', 'closed']);
  });

  it('ignores errors that are not the server fault while closed; as the probe, they prove it answers', () => {
    const { breaker, clock, fail, transitions } = setup(2);
    fail();
    breaker.admit().failed(new BadRequest());
    breaker.admit().failed(new BadRequest());
    expect(breaker.state).toBe('closed');
    fail(); // the second consecutive failure: the bad requests neither counted nor reset the count
    expect(breaker.state).toBe('open');
    clock.advance(OPEN_MS);
    breaker.admit().failed(new BadRequest());
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['open', 'half_open', 'closed']);
  });

  it('counts an abandoned call as nothing, and each ticket once', () => {
    const { breaker, fail } = setup(2);
    fail();
    breaker.admit().abandoned();
    const twice = breaker.admit();
    twice.failed(new ServerDown());
    expect(breaker.state).toBe('open');
    twice.failed(new ServerDown());
    expect(breaker.state).toBe('open');
  });

  it('ignores what calls admitted before it opened say while it is open', () => {
    const { breaker, clock, fail, transitions } = setup(2);
    const late: BreakerTicket[] = [breaker.admit(), breaker.admit()];
    fail();
    fail();
    late[0]?.failed(new ServerDown());
    late[1]?.succeeded();
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual(['open']);
    clock.advance(OPEN_MS);
    expect(breaker.admit().probe).toBe(true);
  });

  it("re-opens when a call admitted before it opened fails during the probe, and drops the probe's verdict", () => {
    const { breaker, clock, fail, refusal, transitions } = setup(2);
    const late = breaker.admit();
    fail();
    fail();
    clock.advance(OPEN_MS);
    const probe = breaker.admit();
    late.failed(new ServerDown());
    expect(breaker.state).toBe('open');
    probe.succeeded();
    expect(breaker.state).toBe('open');
    expect(refusal(() => breaker.admit())).toMatchObject({ retryAfterSeconds: 10 });
    expect(transitions).toEqual(['open', 'half_open', 'open']);
  });
});
