import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedVectorIndex } from './embedded-index.js';
import { matchesFilter, seededVectors } from '../../../test/helpers/seeded-vectors.js';
import { removeTempFiles, tempFile } from '../../../test/helpers/temp-files.js';

afterEach(removeTempFiles);

const file = () => tempFile('vectors.db');

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

const DIMENSION = 16;
const points = seededVectors(1, 300, DIMENSION).map((vector, i) => ({
  id: `p${i}`,
  vector,
  metadata: { bucket: i % 5, even: i % 2 === 0, tag: i % 3 === 0 ? { group: 'x' } : 'plain' },
}));

describe('a stored vector without direction (written before the checks of vector-values.ts)', () => {
  it('is no match: its NULL distance neither sorts first nor scores', async () => {
    for (const where of [':memory:', file()]) {
      const index = new EmbeddedVectorIndex(where);
      // The index itself does not check vectors (the service does): these reach the table as older data would.
      await index.upsert('c', [
        { id: 'a-zero', vector: [0, 0, 0], metadata: {} },
        { id: 'b-tiny', vector: [1e-50, 1e-50, 1e-50], metadata: {} },
        { id: 'real', vector: [0, 1, 0], metadata: {} },
      ]);
      const found = await index.search('c', [1, 1, 0], 5);
      expect(
        found.map((match) => match.id),
        where,
      ).toEqual(['real']);
      expect(found[0]?.score).toBeCloseTo(Math.SQRT1_2, 5);
      await index.close();
    }
  });
});

describe('a file-backed index, run in its threads', () => {
  it('answers exactly as an in-memory index (run in-process) with the same data', async () => {
    const onFile = new EmbeddedVectorIndex(file(), { searchThreads: 2 });
    const inMemory = new EmbeddedVectorIndex(':memory:');
    for (const index of [onFile, inMemory]) await index.upsert('c', points);
    const filters: Record<string, unknown>[] = [
      {},
      { bucket: 3 },
      { even: true },
      { tag: { group: 'x' } },
      { no: 1 },
    ];
    for (const [q, query] of seededVectors(2, 20, DIMENSION).entries()) {
      const filter = filters[q % filters.length] ?? {};
      const expected = await inMemory.search('c', query, 7, filter);
      expect(expected.length).toBe('no' in filter ? 0 : 7);
      expect(await onFile.search('c', query, 7, filter)).toEqual(expected);
    }
    await expect(onFile.search('c', [1, 0], 1)).rejects.toMatchObject({ code: 'dimension_mismatch' });
    for (const index of [onFile, inMemory]) {
      const mixed = [
        { id: 'a', vector: [1, 0], metadata: {} },
        { id: 'b', vector: [1, 0, 0], metadata: {} },
      ];
      await expect(index.upsert('new', mixed)).rejects.toMatchObject({
        code: 'dimension_mismatch',
        message: 'This collection holds vectors of dimension 2, not 3',
      });
      expect(await index.dimension('new')).toBeNull();
    }
    // The same points go.
    let remaining = points;
    for (const filter of [{ bucket: 1 }, { tag: { group: 'x' }, even: false }, { no: 1 }]) {
      const deleted = await inMemory.deleteWhere('c', filter);
      expect(await onFile.deleteWhere('c', filter)).toBe(deleted);
      expect(deleted).toBe(remaining.filter((p) => matchesFilter(p.metadata, filter)).length);
      remaining = remaining.filter((p) => !matchesFilter(p.metadata, filter));
    }
    expect(remaining.length).toBeLessThan(points.length - 40);
    for (const query of seededVectors(5, 5, DIMENSION))
      expect(await onFile.search('c', query, 300)).toEqual(await inMemory.search('c', query, 300));
    await onFile.close();
    await inMemory.close();
  });

  it('sees every write committed just before it', async () => {
    const index = new EmbeddedVectorIndex(file());
    await index.upsert('c', points.slice(0, 50));
    for (const [i, point] of points.slice(50, 70).entries()) {
      await index.upsert('c', [point]);
      expect((await index.search('c', point.vector, 1))[0]?.id).toBe(point.id);
      await index.upsert('c', [{ ...point, metadata: { round: i } }]);
      expect((await index.search('c', point.vector, 1))[0]?.metadata).toEqual({ round: i });
      expect(await index.delete('c', point.id)).toBe(true);
      expect((await index.search('c', point.vector, 1))[0]?.id).not.toBe(point.id);
    }
    await index.upsert('c', [{ id: 'late', vector: points[0]?.vector ?? [], metadata: { bucket: 0 } }]);
    expect(await index.deleteWhere('c', { bucket: 0 })).toBe(11);
    expect(await index.search('c', points[0]?.vector ?? [], 50, { bucket: 0 })).toEqual([]);
    await index.close();
  });

  it('runs 50 searches and writes at once, each with the right answer', async () => {
    const reference = new EmbeddedVectorIndex(':memory:');
    const index = new EmbeddedVectorIndex(file(), { searchThreads: 2 });
    const base = points.slice(0, 200);
    const added = points.slice(200, 225);
    for (const each of [reference, index]) await each.upsert('c', base);
    // The searches run in another collection than the writes, so their answers do not depend on the interleaving.
    await reference.upsert('d', base);
    await index.upsert('d', base);
    const queries = seededVectors(3, 25, DIMENSION);
    const expected = await Promise.all(queries.map((query) => reference.search('d', query, 5)));
    // A thread already running (and having read) before the writes, as in a server.
    expect(await index.search('c', queries[0] ?? [], 1)).toHaveLength(1);
    const wrongDimension = index.upsert('c', [{ id: 'x', vector: [1, 0], metadata: {} }]).then(
      () => 'stored',
      (error: unknown) => (error as { code?: string }).code,
    );
    const results = await Promise.all([
      ...queries.map((query, i) => index.search('d', query, 5, i % 2 === 0 ? {} : { bucket: 1 })),
      ...added.map((point) => index.upsert('c', [point]).then(() => index.search('c', point.vector, 1))),
    ]);
    expect(await wrongDimension).toBe('dimension_mismatch');
    for (const [i, query] of queries.entries())
      expect(results[i]).toEqual(
        i % 2 === 0 ? expected[i] : await reference.search('d', query, 5, { bucket: 1 }),
      );
    for (const [i, point] of added.entries()) expect(results[queries.length + i]?.[0]?.id).toBe(point.id);
    await reference.close();
    await index.close();
  });

  it('close() settles every search and write in flight (none is left pending) and refuses them after it', async () => {
    const where = file();
    const reference = new EmbeddedVectorIndex(':memory:');
    const index = new EmbeddedVectorIndex(where);
    for (const each of [reference, index]) await each.upsert('c', points.slice(0, 250));
    const queries = seededVectors(4, 20, DIMENSION);
    const searches = queries.map((query) => index.search('c', query, 3));
    const writes = points.slice(250, 260).map((point) => index.upsert('other', [point]));
    await index.close();
    const settled = await Promise.allSettled(searches);
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'fulfilled')
        expect(outcome.value).toEqual(await reference.search('c', queries[i] ?? [], 3));
      else expect(outcome.reason).toBeInstanceOf(Error);
    }
    const written = (await Promise.allSettled(writes)).map((outcome) => outcome.status === 'fulfilled');
    await expect(index.search('c', queries[0] ?? [], 3)).rejects.toThrow('closed');
    await expect(index.upsert('c', points.slice(0, 1))).rejects.toThrow('closed');
    await reference.close();

    // What a settled write answered is what the file holds.
    const reopened = new EmbeddedVectorIndex(where);
    for (const [i, point] of points.slice(250, 260).entries()) {
      const found = (await reopened.search('other', point.vector, 1))[0]?.id === point.id;
      expect(found).toBe(written[i]);
    }
    await reopened.close();
  });

  it('rejects what a crashed thread held and starts a new thread for the next operation', async () => {
    const index = new EmbeddedVectorIndex(file());
    await index.upsert('c', points);
    const query = points[7]?.vector ?? [];
    expect((await index.search('c', query, 1))[0]?.id).toBe('p7');
    index.crashThreadsForTest();
    const search = index.search('c', query, 1);
    const write = index.upsert('c', [{ id: 'new', vector: query, metadata: {} }]);
    await expect(search).rejects.toThrow(/vector index thread failed/);
    await expect(write).rejects.toThrow(/vector index thread failed/);
    expect((await index.search('c', query, 1))[0]?.id).toBe('p7');
    await index.upsert('c', [{ id: 'new', vector: query, metadata: { again: true } }]);
    expect(await index.search('c', query, 2)).toMatchObject([{ id: 'new' }, { id: 'p7' }]);
    expect(await index.delete('c', 'new')).toBe(true);
    await index.close();
  });
});
