import { describe, expect, it } from 'vitest';
import { FrameRate } from './frame-rate.js';

describe('FrameRate', () => {
  it('admits a burst of the minute’s frames, then one more per 60000/rate ms', () => {
    const rate = new FrameRate(60, 0);
    for (let i = 0; i < 60; i++) expect(rate.take(0)).toBe(true);
    expect(rate.take(0)).toBe(false);
    expect(rate.waitMs(0)).toBe(1000);
    expect(rate.take(999)).toBe(false);
    expect(rate.take(1000)).toBe(true);
    expect(rate.take(1000)).toBe(false);
  });

  it('refills to the rate at most, and a clock stepping back refills nothing', () => {
    const rate = new FrameRate(2, 0);
    expect(rate.take(0) && rate.take(0)).toBe(true);
    expect(rate.take(-60_000)).toBe(false);
    expect(rate.take(10 * 60_000)).toBe(true);
    expect(rate.take(10 * 60_000)).toBe(true);
    expect(rate.take(10 * 60_000)).toBe(false);
  });
});
