// The in-process per-user limit (MemoryUserSlots) and the factory's choice without Redis. The Redis-backed limit is
// tested against a real Redis in test/integration/llm/user-slots-redis.test.ts.
import { describe, expect, it } from 'vitest';
import { LlmUserLimitError } from './llm.errors.js';
import { MemoryUserSlots, createUserSlots } from './user-slots.js';

const silent = { info: () => undefined, warn: () => undefined };

describe('MemoryUserSlots', () => {
  it('admits `limit` generations per key and refuses the next with LlmUserLimitError', async () => {
    const slots = new MemoryUserSlots();
    await slots.take('alice', 2);
    await slots.take('alice', 2);
    const refusal = slots.take('alice', 2);
    await expect(refusal).rejects.toBeInstanceOf(LlmUserLimitError);
    await expect(refusal).rejects.toMatchObject({
      status: 429,
      code: 'llm_user_limit',
      message: 'Too many generations in flight: at most 2 at a time',
    });
  });

  it('counts each key on its own', async () => {
    const slots = new MemoryUserSlots();
    await slots.take('alice', 1);
    await expect(slots.take('bob', 1)).resolves.toBeTypeOf('function');
    await expect(slots.take('alice', 1)).rejects.toBeInstanceOf(LlmUserLimitError);
    await expect(slots.take('bob', 1)).rejects.toBeInstanceOf(LlmUserLimitError);
  });

  it('frees a slot on release, for that key only', async () => {
    const slots = new MemoryUserSlots();
    const release = await slots.take('alice', 1);
    await slots.take('bob', 1);
    release();
    await expect(slots.take('alice', 1)).resolves.toBeTypeOf('function');
    await expect(slots.take('bob', 1)).rejects.toBeInstanceOf(LlmUserLimitError);
  });

  it('gives a slot back once however often release is called, and release never throws', async () => {
    const slots = new MemoryUserSlots();
    const first = await slots.take('alice', 2);
    await slots.take('alice', 2);
    first();
    expect(() => first()).not.toThrow();
    first();
    // One slot is free, not three: the second holder still counts.
    await slots.take('alice', 2);
    await expect(slots.take('alice', 2)).rejects.toBeInstanceOf(LlmUserLimitError);
  });

  it('starts from zero again once every slot of a key is back', async () => {
    const slots = new MemoryUserSlots();
    const releases = await Promise.all([
      slots.take('alice', 3),
      slots.take('alice', 3),
      slots.take('alice', 3),
    ]);
    for (const release of releases) release();
    for (let i = 0; i < 3; i++) await slots.take('alice', 3);
    await expect(slots.take('alice', 3)).rejects.toBeInstanceOf(LlmUserLimitError);
  });

  it('checks the limit given with each call against what is in flight', async () => {
    const slots = new MemoryUserSlots();
    await slots.take('alice', 3);
    await slots.take('alice', 3);
    await expect(slots.take('alice', 2)).rejects.toThrow('at most 2 at a time');
    await expect(slots.take('alice', 3)).resolves.toBeTypeOf('function');
  });

  it('refuses everything with a limit of 0', async () => {
    await expect(new MemoryUserSlots().take('alice', 0)).rejects.toBeInstanceOf(LlmUserLimitError);
  });
});

describe('createUserSlots', () => {
  it('counts in memory without Redis', () => {
    const slots = createUserSlots({ redis: undefined, logger: silent });
    expect(slots).toBeInstanceOf(MemoryUserSlots);
    expect(() => slots.close()).not.toThrow();
  });
});
