// The checks of vector-values.ts on the values each backend stores: float32 components and their float32 norm.
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestedDeeperThan, storableVectorProblem } from './vector-values.js';

const nested = (levels: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
};

describe('storableVectorProblem', () => {
  it('takes vectors whose float32 values and norm are finite, nonzero and normal', () => {
    for (const vector of [[1], [0, 0, 1e-10], [-1e19], [1e19, 1e19, 1e19], [1e-18, 0], [0.1, 0.2, 0.3]])
      expect(storableVectorProblem(vector), JSON.stringify(vector)).toBeNull();
  });

  it('refuses what float32 turns into Infinity, zeros, or a norm that overflows or underflows', () => {
    expect(storableVectorProblem([1e39, 1, 1])).toMatch(/not a finite 32-bit float/);
    expect(storableVectorProblem([Number.MAX_VALUE])).toMatch(/not a finite 32-bit float/);
    expect(storableVectorProblem([NaN, 1])).toMatch(/not a finite 32-bit float/);
    expect(storableVectorProblem([0, 0])).toMatch(/all zeros/);
    expect(storableVectorProblem([1e-50, 1e-50, 1e-50])).toMatch(/all zeros/);
    expect(storableVectorProblem([2e19, 1, 1])).toMatch(/norm overflows/);
    expect(storableVectorProblem([1e-30, 1e-30])).toMatch(/norm underflows/);
  });
});

describe('nestedDeeperThan', () => {
  it('counts levels of objects and arrays, the outer one included', () => {
    expect(nestedDeeperThan('x', 0)).toBe(false);
    expect(nestedDeeperThan({}, 0)).toBe(true);
    expect(nestedDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(nestedDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
    expect(nestedDeeperThan({ a: 1, b: [1, [2, { c: [] }]] }, 5)).toBe(false);
    expect(nestedDeeperThan({ a: 1, b: [1, [2, { c: [] }]] }, 4)).toBe(true);
  });
});
