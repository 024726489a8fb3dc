import { describe, expect, it } from 'vitest';
import { MemoryConnectionSlots } from './connection-slots.js';

describe('MemoryConnectionSlots', () => {
  it('refuses past the per-owner limit, then past the total, and frees a slot once per release', async () => {
    const slots = new MemoryConnectionSlots({ total: 3, perOwner: 2 });
    const a1 = await slots.take('user:1');
    const a2 = await slots.take('user:1');
    expect(await slots.take('user:1')).toBe('user_limit');
    const b1 = await slots.take('user:2');
    expect(await slots.take('user:3')).toBe('server_limit');
    expect(await slots.distribution()).toEqual(
      new Map([
        ['user:1', 2],
        ['user:2', 1],
      ]),
    );
    if (typeof a1 !== 'function' || typeof a2 !== 'function' || typeof b1 !== 'function')
      throw new Error('refused');
    a1();
    a1();
    expect(await slots.distribution()).toEqual(
      new Map([
        ['user:1', 1],
        ['user:2', 1],
      ]),
    );
    expect(typeof (await slots.take('user:3'))).toBe('function');
    expect(await slots.take('user:4')).toBe('server_limit');
    a2();
    b1();
    expect(await slots.distribution()).toEqual(new Map([['user:3', 1]]));
  });
});
