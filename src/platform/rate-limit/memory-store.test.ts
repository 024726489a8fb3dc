import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { MemoryRateLimitStore } from './memory-store.js';
import type { RateLimitPolicy } from './policy.js';

const POLICY: RateLimitPolicy = { limit: 100, windowMs: 60_000, burst: 20 };

describe('MemoryRateLimitStore bounds', () => {
  it('forgets identities whose budget is whole again, a few on every request', async () => {
    const clock = new ManualClock();
    const store = new MemoryRateLimitStore({ clock, maxKeys: 10_000 });
    for (let i = 0; i < 100; i++) await store.take(`general:ip:${i}`, POLICY);
    expect(store.size).toBe(100);
    clock.advance(60_000);
    // Each request checks the two least recently seen identities: 60 requests clear 100 idle ones.
    for (let i = 0; i < 60; i++) await store.take('general:ip:busy', POLICY);
    expect(store.size).toBe(1);
    expect(store.evictedBusy).toBe(0);
  });

  it('never holds more than maxKeys identities, dropping the least recently seen', async () => {
    const clock = new ManualClock();
    const store = new MemoryRateLimitStore({ clock, maxKeys: 50 });
    for (let i = 0; i < 20; i++) await store.take('general:ip:kept', POLICY);
    for (let i = 0; i < 200; i++) {
      await store.take(`general:ip:${i}`, POLICY);
      // Seen again and again: it stays, and keeps its spent burst.
      if (i % 10 === 0) await store.take('general:ip:kept', POLICY);
    }
    expect(store.size).toBe(50);
    expect(store.evictedBusy).toBeGreaterThan(0);
    expect((await store.take('general:ip:kept', POLICY)).allowed).toBe(false);
  });

  it('counts an identity forgotten while idle as no loss', async () => {
    const clock = new ManualClock();
    const store = new MemoryRateLimitStore({ clock, maxKeys: 2 });
    await store.take('general:ip:a', POLICY);
    await store.take('general:ip:b', POLICY);
    clock.advance(3_600_000);
    await store.take('general:ip:c', POLICY);
    expect(store.evictedBusy).toBe(0);
  });
});
