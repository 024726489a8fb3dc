import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './mail-outbox.js';

describe('retryDelayMs', () => {
  it('waits the base delay after the first failure and doubles it after each further one', () => {
    expect([1, 2, 3, 4, 5].map((attempts) => retryDelayMs(attempts, 30_000))).toEqual([
      30_000, 60_000, 120_000, 240_000, 480_000,
    ]);
  });

  it('never waits more than an hour', () => {
    expect(retryDelayMs(8, 30_000)).toBe(60 * 60 * 1000);
    expect(retryDelayMs(9, 30_000)).toBe(60 * 60 * 1000);
    expect(retryDelayMs(7, 30_000)).toBe(64 * 30_000);
  });

  it('stays an hour for attempt counts whose power of two overflows', () => {
    expect(retryDelayMs(1000, 10)).toBe(60 * 60 * 1000);
    expect(retryDelayMs(5000, 10)).toBe(60 * 60 * 1000);
  });

  it('treats a count below one as the first attempt', () => {
    expect(retryDelayMs(0, 500)).toBe(500);
  });
});
