import { ReplyError } from 'ioredis';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { FallbackRateLimitStore } from './fallback-store.js';
import { MemoryRateLimitStore } from './memory-store.js';
import type { RateLimitDecision, RateLimitPolicy, RateLimitStore } from './policy.js';

/** One turn of the real event loop: what the bound's setImmediate waits for. */
// ioredis types ReplyError loosely.
const RedisReplyError = ReplyError as unknown as new (message: string) => Error;

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

const POLICY: RateLimitPolicy = { limit: 2, windowMs: 60_000 };
const decision = (allowed: boolean): RateLimitDecision => ({
  allowed,
  limit: 2,
  remaining: 0,
  resetAtMs: 0,
  retryAfterMs: 0,
  nowMs: 0,
});

/** A primary store whose calls the test settles by hand. */
function primaryStore() {
  const calls: { resolve(d: RateLimitDecision): void; reject(e: Error): void }[] = [];
  const store: RateLimitStore = {
    take: () => new Promise((resolve, reject) => calls.push({ resolve, reject })),
    refund: async () => undefined,
  };
  return { store, calls };
}

function setup() {
  const primary = primaryStore();
  const memory = new MemoryRateLimitStore({ clock: new ManualClock(), maxKeys: 100 });
  const errors = { count: 0 };
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const store = new FallbackRateLimitStore({
    primary: primary.store,
    fallback: () => memory,
    timeoutMs: 50,
    probeIntervalMs: 1000,
    log,
    onBackendError: () => errors.count++,
  });
  return { store, primary, errors, lines };
}

describe('FallbackRateLimitStore', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers from memory after the bound when Redis does not answer, and counts the failure', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { store, primary, errors } = setup();
    let settled: RateLimitDecision | undefined;
    void store.take('general:a', POLICY).then((d) => (settled = d));
    await vi.advanceTimersByTimeAsync(49);
    expect(settled).toBeUndefined();
    vi.advanceTimersByTime(1);
    await nextTurn();
    expect(settled).toMatchObject({ allowed: true, remaining: 1 });
    expect(errors.count).toBe(1);
    expect(primary.calls).toHaveLength(1);
  });

  it('keeps deciding in memory, without asking Redis, until the probe interval has passed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { store, primary, lines } = setup();
    const first = store.take('general:a', POLICY);
    primary.calls[0]?.reject(new Error('Connection is closed.'));
    await first;
    expect(store.failingOver).toBe(true);
    for (let i = 0; i < 5; i++) await store.take('general:a', POLICY);
    expect(primary.calls).toHaveLength(1);
    // Memory holds the limit meanwhile: 2 per minute.
    expect((await store.take('general:b', POLICY)).allowed).toBe(true);
    expect((await store.take('general:b', POLICY)).allowed).toBe(true);
    expect((await store.take('general:b', POLICY)).allowed).toBe(false);

    await vi.advanceTimersByTimeAsync(1000);
    const probe = store.take('general:a', POLICY);
    // One probe at a time: a request arriving meanwhile does not wait for it.
    expect((await store.take('general:c', POLICY)).allowed).toBe(true);
    expect(primary.calls).toHaveLength(2);
    primary.calls[1]?.resolve(decision(false));
    expect(await probe).toMatchObject({ allowed: false });
    expect(store.failingOver).toBe(false);
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual([
      'rate limits: Redis failed; each instance limits from its own memory until Redis is back',
      'rate limits: Redis answers again; limits are shared by every instance again',
    ]);
  });

  it('takes an answer that was already there when the bound ran out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { store, primary, errors } = setup();
    const taken = store.take('general:a', POLICY);
    // The timer runs out, and the answer is read in the same turn of the event loop, just after.
    vi.advanceTimersByTime(50);
    primary.calls[0]?.resolve(decision(false));
    expect(await taken).toMatchObject({ allowed: false });
    expect(errors.count).toBe(0);
  });

  it('counts a Redis error answer without leaving Redis: the next decision asks it again', async () => {
    const { store, primary, errors, lines } = setup();
    const first = store.take('general:a', POLICY);
    primary.calls[0]?.reject(
      new RedisReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
    );
    expect(await first).toMatchObject({ allowed: true });
    expect(store.failingOver).toBe(false);
    expect(errors.count).toBe(1);
    const second = store.take('general:a', POLICY);
    expect(primary.calls).toHaveLength(2);
    primary.calls[1]?.resolve(decision(false));
    expect(await second).toMatchObject({ allowed: false });
    expect(lines).toHaveLength(1);
  });

  it('ends an outage only through the probe, not through a call sent before it began', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { store, primary } = setup();
    const early = store.take('general:a', POLICY);
    const failing = store.take('general:b', POLICY);
    primary.calls[1]?.reject(new Error('Connection is closed.'));
    await failing;
    primary.calls[0]?.resolve(decision(true));
    await early;
    expect(store.failingOver).toBe(true);
  });

  it('ignores an answer that arrives after the bound', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { store, primary } = setup();
    const taken = store.take('general:a', POLICY);
    await vi.advanceTimersByTimeAsync(50);
    await nextTurn();
    primary.calls[0]?.resolve(decision(false));
    expect(await taken).toMatchObject({ allowed: true });
  });
});
