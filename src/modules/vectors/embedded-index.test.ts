import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedVectorIndex } from './embedded-index.js';

const dirs: string[] = [];
function file(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-vectors-'));
  dirs.push(dir);
  return path.join(dir, 'vectors.db');
}

afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the embedded vector index (sqlite-vec)', () => {
  it('orders by cosine similarity, replaces a stored id, filters on metadata and deletes', async () => {
    const index = new EmbeddedVectorIndex(file());
    await index.upsert('user_1', [
      { id: 'east', vector: [1, 0, 0], metadata: { kind: 'a', n: 1 } },
      { id: 'north', vector: [0, 1, 0], metadata: { kind: 'b', n: 2 } },
      { id: 'north-east', vector: [1, 1, 0], metadata: { kind: 'a', flag: true } },
    ]);
    const found = await index.search('user_1', [1, 0.1, 0], 3);
    expect(found.map((m) => m.id)).toEqual(['east', 'north-east', 'north']);
    expect(found[0]?.score).toBeCloseTo(0.995, 3);
    expect(found[1]?.score).toBeCloseTo((1 + 0.1) / (Math.SQRT2 * Math.hypot(1, 0.1)), 5);

    await index.upsert('user_1', [{ id: 'east', vector: [0, 0, 1], metadata: { kind: 'c' } }]);
    expect((await index.search('user_1', [1, 0.1, 0], 1))[0]?.id).toBe('north-east');
    expect((await index.search('user_1', [1, 0, 0], 5, { kind: 'a' })).map((m) => m.id)).toEqual([
      'north-east',
    ]);
    expect((await index.search('user_1', [1, 0, 0], 5, { flag: true })).map((m) => m.id)).toEqual([
      'north-east',
    ]);
    expect(await index.search('user_1', [1, 0, 0], 5, { "x') OR 1=1 --": 1 })).toEqual([]);
    expect((await index.search('user_1', [0, 0, 1], 1))[0]).toMatchObject({
      id: 'east',
      metadata: { kind: 'c' },
    });

    expect(await index.delete('user_1', 'north')).toBe(true);
    expect(await index.delete('user_1', 'north')).toBe(false);
    expect((await index.search('user_1', [0, 1, 0], 5)).map((m) => m.id)).not.toContain('north');
    await index.close();
  });

  it('fixes a collection’s dimension by its first vector, keeps collections apart, and persists across a reopen', async () => {
    const where = file();
    const index = new EmbeddedVectorIndex(where);
    await index.upsert('user_1', [{ id: 'a', vector: [1, 0], metadata: {} }]);
    await expect(
      index.upsert('user_1', [{ id: 'b', vector: [1, 0, 0], metadata: {} }]),
    ).rejects.toMatchObject({
      status: 422,
      code: 'dimension_mismatch',
    });
    await expect(index.search('user_1', [1, 0, 0], 1)).rejects.toMatchObject({ code: 'dimension_mismatch' });
    await index.upsert('user_2', [{ id: 'a', vector: [0, 1, 0], metadata: { other: true } }]);
    expect(await index.search('user_3', [1, 0], 1)).toEqual([]);
    expect(await index.dimension('user_2')).toBe(3);
    await index.close();

    const reopened = new EmbeddedVectorIndex(where);
    expect(await reopened.search('user_1', [1, 0], 5)).toEqual([{ id: 'a', score: 1, metadata: {} }]);
    expect((await reopened.search('user_2', [0, 1, 0], 5))[0]?.metadata).toEqual({ other: true });
    await reopened.close();
  });
});
