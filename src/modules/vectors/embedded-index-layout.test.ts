// The layout of the embedded index: vectors in sqlite-vec's vec0 tables, filters through the index of metadata values
// (a lookup per point for few, vec0's scan for many, json_extract for what is not indexed), ties ranked by id on
// every path, and the move of a file written in the first layout.
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedVectorIndex } from './embedded-index.js';
import { matchesFilter, seededVectors } from '../../../test/helpers/seeded-vectors.js';
import { removeTempFiles, tempFile } from '../../../test/helpers/temp-files.js';

afterEach(removeTempFiles);

const file = () => tempFile('vectors.db');

/** Opens the index's file directly, as SQLite sees it. */
function raw(where: string): Database.Database {
  const db = new Database(where);
  sqliteVec.load(db);
  return db;
}

/** Cosine distance in float64 over the float32 values the index stores. */
function distance(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const [i, x] of a.entries()) {
    const fx = Math.fround(x);
    const fy = Math.fround(b[i] ?? 0);
    dot += fx * fy;
    na += fx * fx;
    nb += fy * fy;
  }
  return 1 - dot / Math.sqrt(na * nb);
}

describe('ties in distance', () => {
  it('are ranked by id, from a few equal vectors to more than vec0 answers in one query', async () => {
    const index = new EmbeddedVectorIndex(':memory:');
    // 5,000 equal vectors (vec0 answers at most 4,096 neighbours), stored in a scrambled order of their ids.
    const many = Array.from({ length: 5000 }, (_, i) => {
      const n = (i * 7919) % 5000;
      return { id: `p${String(n).padStart(4, '0')}`, vector: [1, 0], metadata: { all: 1, small: n < 40 } };
    });
    await index.upsert('many', many);
    const first = ['p0000', 'p0001', 'p0002'];
    expect((await index.search('many', [1, 0], 3)).map((m) => m.id)).toEqual(first);
    expect((await index.search('many', [1, 0], 3, { all: 1 })).map((m) => m.id)).toEqual(first);
    expect((await index.search('many', [1, 0], 3, { small: true })).map((m) => m.id)).toEqual(first);

    // One nearer point, then 30 tied ones: the k-th place falls among the ties.
    await index.upsert('some', [
      ...Array.from({ length: 30 }, (_, i) => ({ id: `t${29 - i}`, vector: [1, 1], metadata: {} })),
      { id: 'zz-nearest', vector: [1, 0.1], metadata: {} },
    ]);
    expect((await index.search('some', [1, 0], 5)).map((m) => m.id)).toEqual([
      'zz-nearest',
      't0',
      't1',
      't10',
      't11',
    ]);
    await index.close();
  });
});

describe('filters', () => {
  const DIMENSION = 8;
  const long = 'x'.repeat(300);
  const points = seededVectors(11, 3000, DIMENSION).map((vector, i) => {
    const metadata: Record<string, unknown> = {
      third: i % 3,
      half: i % 2 === 0,
      label: i % 3 === 0 ? long : 'short',
      ratio: (i % 4) / 4,
      // Missing on a quarter of the points, null on another.
      ...(i % 4 === 0 ? {} : { opt: i % 4 === 1 ? null : 'set' }),
      nested: { group: i % 5 },
    };
    return { id: `p${i}`, vector, metadata };
  });

  it('keep exactly the matching points, nearest first, on every path (lookups, vec0 scan, json_extract)', async () => {
    const index = new EmbeddedVectorIndex(file());
    await index.upsert('c', points);
    const filters: Record<string, unknown>[] = [
      {},
      { third: 1 }, // 1,000 points: looked up one by one
      { half: true }, // 1,500: vec0's scan of the partition, restricted to them
      { third: 2, half: false }, // 500, two indexed keys
      { label: long }, // a string too long for the index: json_extract
      { label: 'short', third: 1 },
      { opt: null }, // null or missing: json_extract
      { ratio: 0.25 },
      { nested: { group: 3 } },
      { third: '1' }, // a string is not the number
      { nothing: 1 },
    ];
    for (const [q, query] of seededVectors(12, filters.length * 2, DIMENSION).entries()) {
      const filter = filters[q % filters.length] ?? {};
      for (const k of [10, 100]) {
        const expected = points
          .filter((point) => matchesFilter(point.metadata, filter))
          .map((point) => ({ id: point.id, distance: distance(point.vector, query) }))
          .sort((a, b) => a.distance - b.distance)
          .slice(0, k);
        const found = await index.search('c', query, k, filter);
        expect(
          found.map((match) => match.id),
          JSON.stringify(filter),
        ).toEqual(expected.map((hit) => hit.id));
        for (const [i, match] of found.entries())
          expect(match.score).toBeCloseTo(1 - (expected[i]?.distance ?? NaN), 5);
      }
    }
    expect(await index.deleteWhere('c', { half: true, third: 0 })).toBe(500);
    expect(await index.deleteWhere('c', { opt: null, third: 1 })).toBe(
      points.filter((p) => p.metadata.third === 1 && p.metadata.opt == null).length,
    );
    expect(await index.search('c', points[0]?.vector ?? [], 5, { half: true, third: 0 })).toEqual([]);
    await index.close();
  });

  it('see a replaced point by its new metadata only; the vector is replaced in place', async () => {
    const where = file();
    const index = new EmbeddedVectorIndex(where);
    for (let i = 0; i < 100; i += 1)
      await index.upsert('c', [{ id: 'a', vector: [1, i, 0], metadata: { tag: `v${i}`, n: i } }]);
    expect(await index.search('c', [1, 0, 0], 5, { tag: 'v0' })).toEqual([]);
    const replaced = await index.search('c', [1, 99, 0], 5, { tag: 'v99', n: 99 });
    expect(replaced.map((m) => m.id)).toEqual(['a']);
    expect(replaced[0]?.score).toBeCloseTo(1, 5);
    await index.close();
    const db = raw(where);
    expect(db.prepare('SELECT count(*) FROM vectors_3_rowids').pluck().get()).toBe(1);
    expect(db.prepare('SELECT count(*) FROM point_values').pluck().get()).toBe(2);
    db.close();
  });
});

describe('filter values of another JSON type', () => {
  it('never match: a string is not an object whose JSON text it equals, whatever its length', async () => {
    const index = new EmbeddedVectorIndex(':memory:');
    const short = { b: 'x' };
    const long = { b: 'x'.repeat(300) };
    await index.upsert('c', [
      { id: 'short-object', vector: [1, 0], metadata: { tag: short } },
      { id: 'long-object', vector: [1, 0], metadata: { tag: long } },
      { id: 'string', vector: [1, 0], metadata: { tag: '{"a":1}' } },
      { id: 'long-string', vector: [1, 0], metadata: { tag: JSON.stringify(long) } },
    ]);
    const ids = async (filter: Record<string, unknown>) =>
      (await index.search('c', [1, 0], 10, filter)).map((m) => m.id);
    expect(await ids({ tag: JSON.stringify(short) })).toEqual([]);
    expect(await ids({ tag: JSON.stringify(long) })).toEqual(['long-string']);
    expect(await ids({ tag: { a: 1 } })).toEqual([]);
    expect(await ids({ tag: long })).toEqual(['long-object']);
    expect(await index.deleteWhere('c', { tag: JSON.stringify(long) })).toBe(1);
    expect(await ids({ tag: long })).toEqual(['long-object']);
    await index.close();
  });
});

describe('a file of the first layout (vectors as BLOBs in `points`)', () => {
  it('is moved to vec0 when opened, keeping every point, its metadata and its collection’s dimension', async () => {
    const where = file();
    const old = raw(where);
    old.exec(`
      CREATE TABLE collections (name TEXT PRIMARY KEY, dimension INTEGER NOT NULL);
      CREATE TABLE points (collection TEXT NOT NULL, id TEXT NOT NULL, embedding BLOB NOT NULL,
                           metadata TEXT NOT NULL, PRIMARY KEY (collection, id));
      INSERT INTO collections VALUES ('u', 3), ('v', 2);
    `);
    const insert = old.prepare('INSERT INTO points VALUES (?, ?, ?, ?)');
    const f32 = (values: number[]) => Buffer.from(Float32Array.from(values).buffer);
    insert.run('u', 'a', f32([1, 0, 0]), JSON.stringify({ kind: 'a', n: 1 }));
    insert.run('u', 'b', f32([0, 1, 0]), JSON.stringify({ kind: 'b' }));
    insert.run('u', 'zero', f32([0, 0, 0]), JSON.stringify({ kind: 'a' }));
    // A key written twice (JSON.stringify never does, a hand-edited file might): indexed once.
    insert.run('v', 'c', f32([0, 1]), '{"k":1,"k":1}');
    old.close();

    for (let open = 0; open < 2; open += 1) {
      const index = new EmbeddedVectorIndex(where);
      expect(await index.dimension('u')).toBe(3);
      expect(await index.dimension('v')).toBe(2);
      expect((await index.search('u', [1, 0.1, 0], 5)).map((m) => m.id)).toEqual(['a', 'b']);
      const kindA = await index.search('u', [1, 0, 0], 5, { kind: 'a' });
      expect(kindA.map(({ id, metadata }) => ({ id, metadata }))).toEqual([
        { id: 'a', metadata: { kind: 'a', n: 1 } },
      ]);
      expect(kindA[0]?.score).toBeCloseTo(1, 6);
      expect((await index.search('v', [0, 1], 1, { k: 1 }))[0]?.id).toBe('c');
      await index.close();
    }
    const index = new EmbeddedVectorIndex(where);
    expect(await index.deleteWhere('u', { kind: 'a' })).toBe(2);
    await index.close();
    const db = raw(where);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(tables).not.toContain('points_first_layout');
    expect(db.prepare('SELECT id FROM points ORDER BY id').pluck().all()).toEqual(['b', 'c']);
    db.close();
  });
});
