import { describe, expect, it } from 'vitest';
import { parseRange } from './byte-range.js';

describe('parseRange', () => {
  it.each([
    [undefined, 10, { kind: 'full' }],
    ['bytes=0-4', 10, { kind: 'partial', start: 0, end: 4 }],
    ['bytes=2-', 10, { kind: 'partial', start: 2, end: 9 }],
    ['bytes=-3', 10, { kind: 'partial', start: 7, end: 9 }],
    ['bytes=-30', 10, { kind: 'partial', start: 0, end: 9 }],
    ['bytes=5-500', 10, { kind: 'partial', start: 5, end: 9 }],
    ['BYTES = 9-9', 10, { kind: 'partial', start: 9, end: 9 }],
    ['bytes=10-', 10, { kind: 'unsatisfiable' }],
    ['bytes=10-20', 10, { kind: 'unsatisfiable' }],
    ['bytes=-0', 10, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=-5', 0, { kind: 'unsatisfiable' }],
    ['bytes=99999999999999999999-', 10, { kind: 'unsatisfiable' }],
    // Ignored: several ranges, invalid syntax, another unit, last before first.
    ['bytes=0-1,4-5', 10, { kind: 'full' }],
    ['bytes=5-2', 10, { kind: 'full' }],
    ['bytes=a-b', 10, { kind: 'full' }],
    ['bytes=', 10, { kind: 'full' }],
    ['bytes=-', 10, { kind: 'full' }],
    ['items=0-1', 10, { kind: 'full' }],
    ['0-1', 10, { kind: 'full' }],
  ] as const)('%s of %d bytes', (header, size, answer) => {
    expect(parseRange(header, size)).toEqual(answer);
  });
});
