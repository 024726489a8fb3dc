// The VectorIndex contract, run the same on the three adapters: embedded (sqlite-vec, a temp file), Qdrant and
// ChromaDB (each against its stand-in, over a real socket): order and cosine scores, replace by id, exact filters,
// delete, deleteWhere, the dimension, metadata round-trips, isolated collections, stable ids, missing collections.
// Then what only a server can do: be down, hang or fail, and each adapter answers VectorBackendUnavailableError
// without the server's text. The stand-ins must see no request they do not implement.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChromaVectorIndex } from '../../../src/modules/vectors/chroma-index.js';
import { EmbeddedVectorIndex } from '../../../src/modules/vectors/embedded-index.js';
import { QdrantVectorIndex, qdrantPointId, uuidv5 } from '../../../src/modules/vectors/qdrant-index.js';
import { VectorBackendUnavailableError } from '../../../src/modules/vectors/vector.errors.js';
import type { VectorIndex } from '../../../src/modules/vectors/vector-index.port.js';
import {
  CHROMA_FAILURE_TEXT,
  startChromaStandIn,
  type ChromaStandIn,
} from '../../helpers/chroma-stand-in.js';
import { closedPort } from '../../helpers/closed-port.js';
import {
  QDRANT_FAILURE_TEXT,
  startQdrantStandIn,
  type QdrantStandIn,
} from '../../helpers/qdrant-stand-in.js';

const BACKENDS = ['embedded', 'qdrant', 'chromadb'] as const;
type Backend = (typeof BACKENDS)[number];

interface Storage {
  /** A new adapter instance on the same storage (file or server). */
  open(): VectorIndex;
  close(): Promise<void>;
}

/** Every stand-in started here: none may have seen a request it does not implement. */
const standIns: (QdrantStandIn | ChromaStandIn)[] = [];
const started = <T extends QdrantStandIn | ChromaStandIn>(standIn: T): T => {
  standIns.push(standIn);
  return standIn;
};

async function storage(backend: Backend): Promise<Storage> {
  if (backend === 'embedded') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-vector-adapters-'));
    const opened: EmbeddedVectorIndex[] = [];
    return {
      open: () =>
        opened[opened.push(new EmbeddedVectorIndex(path.join(dir, 'vectors.db'))) - 1] as VectorIndex,
      close: async () => {
        for (const index of opened) await index.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (backend === 'qdrant') {
    const standIn = started(await startQdrantStandIn());
    return {
      open: () => new QdrantVectorIndex({ url: standIn.url, timeoutMs: 5000 }),
      close: () => standIn.close(),
    };
  }
  // A batch limit of 2 makes every upsert of more points go in several requests.
  const standIn = started(await startChromaStandIn({ maxBatchSize: 2 }));
  return {
    open: () => new ChromaVectorIndex({ url: standIn.url, timeoutMs: 5000 }),
    close: () => standIn.close(),
  };
}

afterEach(() => {
  for (const standIn of standIns) standIn.assertNoUnexpected();
});

const cosine = (a: number[], b: number[]) =>
  a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0) / (Math.hypot(...a) * Math.hypot(...b));

const POINTS = [
  { id: 'east', vector: [1, 0, 0], metadata: { kind: 'a', n: 1, ratio: 0.5, flag: true } },
  { id: 'north', vector: [0, 1, 0], metadata: { kind: 'b', n: 2, ratio: 1.5, flag: false } },
  { id: 'north-east', vector: [1, 1, 0.2], metadata: { kind: 'a', n: 2, ratio: 0.5, tags: ['a', 'b'] } },
  {
    id: 'up',
    vector: [0.1, 0.2, 1],
    metadata: { kind: 'c', n: 3, doc: { file: 'x.md', page: 2 }, none: null },
  },
  { id: 'west', vector: [-1, 0.3, 0], metadata: { kind: 'b', n: 1.5 } },
];
const QUERY = [0.9, 0.35, 0.05];
const EXPECTED = POINTS.map((p) => ({ id: p.id, score: cosine(p.vector, QUERY) })).sort(
  (a, b) => b.score - a.score,
);
const ids = (matches: { id: string }[]) => matches.map((match) => match.id);
/** The ids among `wanted`, in the order of their similarity to QUERY. */
const best = (...wanted: string[]) => ids(EXPECTED).filter((id) => wanted.includes(id));

let sequence = 0;
const freshCollection = () => `user_${++sequence}_vectors`;

describe.each(BACKENDS)('the VectorIndex contract on %s', (backend) => {
  let store: Storage;
  let index: VectorIndex;
  beforeAll(async () => {
    store = await storage(backend);
    index = store.open();
  });
  afterAll(async () => store?.close());

  async function filled(): Promise<string> {
    const collection = freshCollection();
    await index.upsert(collection, POINTS);
    return collection;
  }

  it('orders by cosine similarity, best first, with the cosine as score', async () => {
    const collection = await filled();
    const found = await index.search(collection, QUERY, 10);
    expect(ids(found)).toEqual(ids(EXPECTED));
    found.forEach((match, i) =>
      expect(Math.abs(match.score - (EXPECTED[i]?.score ?? NaN))).toBeLessThan(1e-6),
    );
    expect(found[0]?.metadata).toEqual(POINTS.find((p) => p.id === found[0]?.id)?.metadata);
    expect(ids(await index.search(collection, QUERY, 2))).toEqual(ids(EXPECTED.slice(0, 2)));
  });

  it('replaces a stored id whole: its old vector and old metadata are found no more, the count unchanged', async () => {
    const collection = await filled();
    await index.upsert(collection, [{ id: 'east', vector: [0, 0, -1], metadata: { kind: 'z' } }]);
    const all = await index.search(collection, [1, 0, 0], 10);
    expect(all).toHaveLength(POINTS.length);
    expect(all[0]?.id).toBe('north-east');
    expect(all.find((m) => m.id === 'east')).toEqual({
      id: 'east',
      score: expect.any(Number) as number,
      metadata: { kind: 'z' },
    });
    expect(Math.abs(all.find((m) => m.id === 'east')?.score ?? NaN)).toBeLessThan(1e-6);
    expect(await index.search(collection, QUERY, 10, { flag: true })).toEqual([]);
    expect(await index.search(collection, QUERY, 10, { n: 1 })).toEqual([]);
    expect(ids(await index.search(collection, QUERY, 10, { kind: 'a' }))).toEqual(['north-east']);
    expect(await index.deleteWhere(collection, { ratio: 0.5 })).toBe(1);
  });

  it('filters by exact match on metadata keys, ANDed', async () => {
    const collection = await filled();
    const where = async (filter: Record<string, unknown>, k = 10) =>
      ids(await index.search(collection, QUERY, k, filter));
    expect(await where({ kind: 'a' })).toEqual(best('north-east', 'east'));
    expect(await where({ kind: 'b' }, 1)).toEqual(['north']);
    expect(await where({ n: 2 })).toEqual(best('north-east', 'north'));
    expect(await where({ n: 1.5 })).toEqual(['west']);
    expect(await where({ ratio: 0.5 })).toEqual(best('north-east', 'east'));
    expect(await where({ flag: true })).toEqual(['east']);
    expect(await where({ flag: false })).toEqual(['north']);
    expect(await where({ kind: 'a', n: 2 })).toEqual(['north-east']);
    expect(await where({ n: '2' })).toEqual([]);
    expect(await where({ nobody: 'x' })).toEqual([]);
    expect(await where({ tags: 'a' })).toEqual([]); // an array field is not matched by one of its elements
    expect(await where({ tags: ['a', 'b'] })).toEqual(['north-east']);
    expect(await where({ doc: { file: 'x.md', page: 2 } })).toEqual(['up']);
    expect(await where({ doc: { file: 'x.md' } })).toEqual([]);
    // null: a key holding null, or no such key (the embedded index's SQL IS NULL, kept on every backend)
    expect(await where({ none: null })).toEqual(ids(EXPECTED));
    expect(await where({ doc: null })).toEqual(best('east', 'north', 'north-east', 'west'));
    expect(await where({ kind: null })).toEqual([]);
    expect(await where({ "x') OR 1=1 --": 1 })).toEqual([]);
    expect(await where({ 'a.b': 1 })).toEqual([]);
  });

  it('deletes one id (true, then false) and by filter (how many)', async () => {
    const collection = await filled();
    expect(await index.delete(collection, 'north')).toBe(true);
    expect(await index.delete(collection, 'north')).toBe(false);
    expect(ids(await index.search(collection, QUERY, 10))).not.toContain('north');
    expect(await index.deleteWhere(collection, { kind: 'a' })).toBe(2);
    expect(await index.deleteWhere(collection, { kind: 'a' })).toBe(0);
    expect(await index.deleteWhere(collection, {})).toBe(0);
    expect(await index.deleteWhere(collection, { 'bad key': 1 })).toBe(0);
    expect(await index.deleteWhere(collection, { doc: null })).toBe(1); // west: no doc key
    expect(ids(await index.search(collection, QUERY, 10))).toEqual(['up']);
  });

  it('fixes a collection’s dimension by its first vector and refuses any other, whole batches included', async () => {
    const collection = freshCollection();
    expect(await index.dimension(collection)).toBeNull();
    const mixed = [
      { id: 'a', vector: [1, 0], metadata: {} },
      { id: 'b', vector: [1, 0, 0], metadata: {} },
    ];
    const mismatch = { status: 422, code: 'dimension_mismatch' };
    await expect(index.upsert(collection, mixed)).rejects.toMatchObject(mismatch);
    expect(await index.dimension(collection)).toBeNull();
    await index.upsert(collection, [{ id: 'a', vector: [1, 0, 0], metadata: {} }]);
    expect(await index.dimension(collection)).toBe(3);
    await expect(index.upsert(collection, [{ id: 'b', vector: [1, 0], metadata: {} }])).rejects.toMatchObject(
      {
        ...mismatch,
        message: 'This collection holds vectors of dimension 3, not 2',
      },
    );
    await expect(index.upsert(collection, mixed.slice().reverse())).rejects.toMatchObject(mismatch);
    await expect(index.search(collection, [1, 0], 1)).rejects.toMatchObject(mismatch);
    expect(ids(await index.search(collection, [1, 0, 0], 10))).toEqual(['a']);
  });

  it('frees the dimension once every point is deleted: the next first vector fixes it again', async () => {
    const collection = freshCollection();
    await index.upsert(collection, [
      { id: 'a', vector: [1, 0, 0], metadata: { kind: 'x' } },
      { id: 'b', vector: [0, 1, 0], metadata: { kind: 'y' } },
    ]);
    expect(await index.delete(collection, 'a')).toBe(true);
    // one point left: the dimension still holds
    await expect(index.upsert(collection, [{ id: 'c', vector: [1, 0], metadata: {} }])).rejects.toMatchObject(
      { status: 422, code: 'dimension_mismatch' },
    );
    expect(await index.deleteWhere(collection, { kind: 'y' })).toBe(1);
    // empty: a search of any dimension finds nothing, and a store of another dimension is taken
    expect(await index.search(collection, [1, 0], 5)).toEqual([]);
    await index.upsert(collection, [{ id: 'c', vector: [1, 0], metadata: {} }]);
    expect(ids(await index.search(collection, [1, 0.1], 5))).toEqual(['c']);
    expect(await index.dimension(collection)).toBe(2);
    await expect(
      index.upsert(collection, [{ id: 'd', vector: [1, 0, 0], metadata: {} }]),
    ).rejects.toMatchObject({ status: 422, code: 'dimension_mismatch' });
    // another instance on the same storage sees the new dimension
    const other = store.open();
    expect(ids(await other.search(collection, [0, 1], 5))).toEqual(['c']);
  });

  it('gives metadata back exactly', async () => {
    const collection = freshCollection();
    const metadata = {
      text: 'Grüße 👋🏽 مرحبا 漢字 é and a < b && c',
      html: '<script>alert("x")</script><div onclick=\'y\'>',
      original_id: 'not-the-id',
      _metadata_json: 'mine',
      f_kind: 'mine too',
      nested: { deep: [1, { a: null, b: [true, false] }], empty: {} },
      list: [],
      numbers: [-12.5, 0, 9007199254740991, 1e-7],
      no: false,
      nothing: null,
      'key with spaces': 'v',
      ключ: 'значение',
    };
    await index.upsert(collection, [
      { id: 'rt', vector: [1, 2, 3], metadata },
      { id: 'bare', vector: [3, 2, 1], metadata: {} },
    ]);
    const found = await index.search(collection, [1, 2, 3], 10);
    expect(found.map((m) => [m.id, m.metadata])).toEqual([
      ['rt', metadata],
      ['bare', {}],
    ]);
    for (const filter of [{ original_id: 'not-the-id' }, { _metadata_json: 'mine' }, { f_kind: 'mine too' }])
      expect(ids(await index.search(collection, [1, 2, 3], 10, filter))).toEqual(['rt']);
  });

  it('keeps collections apart', async () => {
    const [one, two] = [freshCollection(), freshCollection()];
    await index.upsert(one, [{ id: 'x', vector: [1, 0, 0], metadata: { in: 'one' } }]);
    await index.upsert(two, [{ id: 'x', vector: [0, 1], metadata: { in: 'two' } }]);
    expect(await index.search(one, [1, 0, 0], 5)).toEqual([
      { id: 'x', score: expect.any(Number) as number, metadata: { in: 'one' } },
    ]);
    expect((await index.search(two, [0, 1], 5))[0]?.metadata).toEqual({ in: 'two' });
    expect([await index.dimension(one), await index.dimension(two)]).toEqual([3, 2]);
    expect(await index.deleteWhere(two, { in: 'two' })).toBe(1);
    expect(await index.delete(one, 'x')).toBe(true);
    expect(await index.search(two, [0, 1], 5)).toEqual([]);
    expect(await index.delete(two, 'x')).toBe(false);
  });

  it('keeps ids stable across instances: another instance replaces, never duplicates', async () => {
    const collection = freshCollection();
    const other = store.open();
    await index.upsert(collection, [{ id: 'doc', vector: [1, 0, 0], metadata: { v: 1 } }]);
    await other.upsert(collection, [{ id: 'doc', vector: [0, 1, 0], metadata: { v: 2 } }]);
    expect(await index.search(collection, [1, 1, 0], 10)).toEqual([
      { id: 'doc', score: expect.closeTo(Math.SQRT1_2, 6) as number, metadata: { v: 2 } },
    ]);
    expect(await other.delete(collection, 'doc')).toBe(true);
    expect(await index.delete(collection, 'doc')).toBe(false);
  });

  it('stores concurrent first writes of a new collection from two instances', async () => {
    const collection = freshCollection();
    const other = store.open();
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? other : index).upsert(collection, [{ id: `p${i}`, vector: [1, i, 0], metadata: { i } }]),
      ),
    );
    expect(await index.search(collection, [1, 0, 0], 10)).toHaveLength(6);
  });

  it('answers a missing collection with nothing: [], false, 0 and null', async () => {
    const collection = freshCollection();
    expect(await index.search(collection, [1, 0, 0], 5, { kind: 'a' })).toEqual([]);
    expect(await index.delete(collection, 'x')).toBe(false);
    expect(await index.deleteWhere(collection, { kind: 'a' })).toBe(0);
    expect(await index.dimension(collection)).toBeNull();
    await index.ping();
  });
});

describe('the three backends agree', () => {
  it('on the same data: the same order and scores within 1e-6, with or without a filter', async () => {
    const stores = await Promise.all(BACKENDS.map(storage));
    try {
      const results = await Promise.all(
        stores.map(async (s) => {
          const index = s.open();
          await index.upsert('user_1_vectors', POINTS);
          return [
            await index.search('user_1_vectors', QUERY, 10),
            await index.search('user_1_vectors', QUERY, 10, { kind: 'a' }),
          ];
        }),
      );
      const [reference, ...others] = results;
      for (const other of others)
        other.forEach((matches, q) => {
          expect(ids(matches)).toEqual(ids(reference?.[q] ?? []));
          matches.forEach((m, i) =>
            expect(Math.abs(m.score - (reference?.[q]?.[i]?.score ?? NaN))).toBeLessThan(1e-6),
          );
        });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

const TIMEOUT_MS = 300;
const SERVERS = [
  {
    name: 'qdrant',
    start: startQdrantStandIn,
    adapter: (url: string) => new QdrantVectorIndex({ url, timeoutMs: TIMEOUT_MS }),
    failureText: QDRANT_FAILURE_TEXT,
  },
  {
    name: 'chromadb',
    start: () => startChromaStandIn(),
    adapter: (url: string) => new ChromaVectorIndex({ url, timeoutMs: TIMEOUT_MS }),
    failureText: CHROMA_FAILURE_TEXT,
  },
] as const;

const OPERATIONS: [string, (index: VectorIndex) => Promise<unknown>][] = [
  ['upsert', (i) => i.upsert('user_1_vectors', [{ id: 'b', vector: [0, 1, 0], metadata: { kind: 'b' } }])],
  ['search', (i) => i.search('user_1_vectors', [1, 0, 0], 3)],
  ['search with a filter', (i) => i.search('user_1_vectors', [1, 0, 0], 3, { kind: 'a' })],
  ['delete', (i) => i.delete('user_1_vectors', 'a')],
  ['deleteWhere', (i) => i.deleteWhere('user_1_vectors', { kind: 'a' })],
  ['dimension', (i) => i.dimension('user_1_vectors')],
  ['ping', (i) => i.ping()],
];

describe.each(SERVERS)('$name when its server fails', ({ name, start, adapter, failureText }) => {
  const unavailable = { status: 503, code: 'vector_backend_unavailable', message: `${name} not available` };
  let standIn: QdrantStandIn | ChromaStandIn;
  let index: VectorIndex;
  beforeAll(async () => {
    standIn = started(await start());
    index = adapter(standIn.url);
  });
  afterEach(() => standIn.failWith(null));
  afterAll(async () => standIn?.close());

  /** Every operation on an adapter that knows the collection (cached) and on a new one, each refused so. */
  async function everyOperationFails(
    reason: () => void,
    check = (_error: unknown) => {},
    blind: string[] = [],
  ) {
    const fresh = adapter(standIn.url);
    await index.upsert('user_1_vectors', [{ id: 'a', vector: [1, 0, 0], metadata: { kind: 'a' } }]);
    await index.search('user_1_vectors', [1, 0, 0], 1);
    reason();
    for (const [what, operation] of OPERATIONS)
      for (const target of [index, fresh]) {
        if (target === index && blind.includes(what)) continue;
        const error = await operation(target).then(
          () => new Error(`${what} succeeded`),
          (caught: unknown) => caught,
        );
        expect(error, what).toBeInstanceOf(VectorBackendUnavailableError);
        expect(error, what).toMatchObject(unavailable);
        check(error);
      }
    standIn.failWith(null);
  }

  it('is unavailable when nothing listens', async () => {
    const down = adapter(`http://127.0.0.1:${await closedPort()}`);
    for (const [what, operation] of OPERATIONS)
      await expect(operation(down), what).rejects.toMatchObject(unavailable);
  });

  it.each([500, 502, 503, 400, 401])(
    'is unavailable, without the server’s text, when it answers %i',
    async (status) => {
      await everyOperationFails(
        () => standIn.failWith(status),
        (error) => {
          // What an answer could carry: the message and the enumerable fields (the cause, for the log, is neither).
          const visible = JSON.stringify({ ...(error as object), message: (error as Error).message });
          expect(visible).not.toContain(failureText);
          expect(visible).not.toContain('secret');
        },
      );
    },
  );

  it('is unavailable when an answer is not JSON, or JSON of another shape', async () => {
    await everyOperationFails(() => standIn.failWith(200, '{"result": ['));
    // The chromadb client gives nothing of an upsert's answer back: there, any JSON is a success.
    const blind = name === 'chromadb' ? ['upsert'] : [];
    const surprise = '{"result": {"surprise": true}, "status": "ok"}';
    await everyOperationFails(() => standIn.failWith(200, surprise), undefined, blind);
  });

  it('is unavailable within its timeout when the server never answers', async () => {
    const hung = started(await start());
    const patient = adapter(hung.url);
    await patient.upsert('user_1_vectors', [{ id: 'a', vector: [1, 0, 0], metadata: {} }]);
    hung.hang();
    try {
      for (const [what, operation] of OPERATIONS) {
        const begun = performance.now();
        await expect(operation(patient), what).rejects.toMatchObject(unavailable);
        const elapsed = performance.now() - begun;
        expect(elapsed, what).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
        expect(elapsed, what).toBeLessThan(TIMEOUT_MS + 400);
      }
    } finally {
      await hung.close();
    }
  });

  it('works again once the server answers again', async () => {
    standIn.failWith(500);
    await expect(index.ping()).rejects.toMatchObject(unavailable);
    standIn.failWith(null);
    await index.ping();
    await index.upsert('user_2_vectors', [{ id: 'c', vector: [0, 0, 1], metadata: { kind: 'c' } }]);
    expect(ids(await index.search('user_2_vectors', [0, 0, 1], 3, { kind: 'c' }))).toEqual(['c']);
  });
});

describe('the Qdrant adapter on the wire', () => {
  let standIn: QdrantStandIn;
  beforeAll(async () => {
    standIn = started(await startQdrantStandIn());
  });
  afterAll(async () => standIn?.close());
  const open = () => new QdrantVectorIndex({ url: standIn.url, timeoutMs: 5000 });

  it('stores UUIDv5 point ids and the metadata whole, in a Cosine collection, waiting for every write', async () => {
    // RFC 4122's example, as Python's uuid.uuid5(NAMESPACE_DNS, 'www.example.com') gives it
    expect(uuidv5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
    const pointId = qdrantPointId('user_7_vectors', 'doc-1');
    expect(pointId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(qdrantPointId('user_8_vectors', 'doc-1')).not.toBe(pointId);
    const index = open();
    const metadata = { original_id: 'x', tags: ['a'], kind: 'k' };
    await index.upsert('user_7_vectors', [{ id: 'doc-1', vector: [1, 2, 3], metadata }]);
    const stored = standIn.collection('user_7_vectors');
    expect(stored).toMatchObject({ size: 3, distance: 'Cosine' });
    expect([...(stored?.points.keys() ?? [])]).toEqual([pointId]);
    expect(stored?.points.get(pointId)?.payload).toEqual({
      original_id: 'doc-1',
      metadata,
      json_values: { tags: '["a"]' },
    });
    await index.upsert('user_7_vectors', [{ id: 'doc-2', vector: [1, 0, 0], metadata: { kind: 'k' } }]);
    expect(await index.delete('user_7_vectors', 'doc-2')).toBe(true);
    expect(await index.deleteWhere('user_7_vectors', { kind: 'k' })).toBe(1);
    const writes = standIn.requests.filter(
      (r) => (r.method === 'PUT' && r.path.endsWith('/points')) || r.path.endsWith('/points/delete'),
    );
    expect(writes.map((r) => `${r.method} ${r.path} wait=${r.query.wait}`)).toEqual([
      'PUT /collections/user_7_vectors/points wait=true',
      'PUT /collections/user_7_vectors/points wait=true',
      'POST /collections/user_7_vectors/points/delete wait=true',
      'POST /collections/user_7_vectors/points/delete wait=true',
    ]);
  });

  it('creates a collection once when two instances race to it (the loser’s 409 is no failure)', async () => {
    const [one, two] = [open(), open()];
    await Promise.all([
      one.upsert('user_10_vectors', [{ id: 'a', vector: [1, 0], metadata: {} }]),
      two.upsert('user_10_vectors', [{ id: 'b', vector: [0, 1], metadata: {} }]),
    ]);
    const creates = standIn.requests.filter(
      (r) => r.method === 'PUT' && r.path === '/collections/user_10_vectors',
    );
    expect(creates).toHaveLength(2);
    expect(await one.search('user_10_vectors', [1, 1], 5)).toHaveLength(2);
  });

  it('reads the dimension again when the server no longer agrees with what it cached', async () => {
    const index = open();
    await index.upsert('user_9_vectors', [{ id: 'a', vector: [1, 0, 0], metadata: {} }]);
    const stored = standIn.collection('user_9_vectors');
    if (!stored) throw new Error('not created');
    // As if another instance had dropped the collection and made it again with two dimensions.
    stored.size = 2;
    stored.points.clear();
    expect(await index.search('user_9_vectors', [1, 0], 5)).toEqual([]);
    await index.upsert('user_9_vectors', [{ id: 'b', vector: [0, 1], metadata: {} }]);
    expect(await index.dimension('user_9_vectors')).toBe(2);
  });
});

describe('the ChromaDB adapter on the wire', () => {
  let standIn: ChromaStandIn;
  beforeAll(async () => {
    standIn = started(await startChromaStandIn({ maxBatchSize: 2 }));
  });
  afterAll(async () => standIn?.close());

  it('makes a cosine collection that records its dimension, loads no embedding function, batches as told', async () => {
    const index = new ChromaVectorIndex({ url: standIn.url, timeoutMs: 5000 });
    const points = Array.from({ length: 5 }, (_, i) => ({
      id: `p${i}`,
      vector: [1, i, 0],
      metadata: { kind: 'k', tags: ['x'], none: null, 'not filterable': 1 },
    }));
    await index.upsert('user_7_vectors', points);
    expect(standIn.collection('user_7_vectors')).toMatchObject({
      space: 'cosine',
      dimension: 3,
      metadata: { dimension: 3 },
    });
    const create = standIn.requests.find((r) => r.path.endsWith('/collections') && r.method === 'POST');
    expect(create?.body).toEqual({
      name: 'user_7_vectors',
      configuration: { hnsw: { space: 'cosine' } },
      metadata: { dimension: 3 },
      get_or_create: true,
    });
    const upserts = standIn.requests.filter((r) => r.path.endsWith('/upsert'));
    expect(upserts).toHaveLength(3); // 5 records, 2 a batch
    for (const { body } of upserts)
      expect((body as { embeddings: unknown[] }).embeddings.every((e) => typeof e === 'string')).toBe(true);
    expect(standIn.collection('user_7_vectors')?.records.get('p0')?.metadata).toEqual({
      _metadata_json: JSON.stringify(points[0]?.metadata),
      f_kind: 'k',
      j_tags: '["x"]',
    });
  });
});

describe('the stand-ins', () => {
  it.each([
    { start: startQdrantStandIn, path: '/collections/user_1_vectors/points/scroll' },
    {
      start: () => startChromaStandIn(),
      path: '/api/v2/tenants/default_tenant/databases/default_database/collections/c/update',
    },
  ])(
    'answer 400 to what they do not implement ($path), naming it, and record it',
    async ({ start, path }) => {
      const standIn = await start();
      try {
        const answer = await fetch(`${standIn.url}${path}`, { method: 'POST', body: '{}' });
        expect(answer.status).toBe(400);
        expect(await answer.text()).toContain(path);
        expect(standIn.unexpected()).toEqual([expect.stringContaining(path)]);
        expect(() => standIn.assertNoUnexpected()).toThrow(path);
        expect(standIn.unexpected()).toEqual([]);
      } finally {
        await standIn.close();
      }
    },
  );
});
