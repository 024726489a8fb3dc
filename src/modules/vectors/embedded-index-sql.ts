// The statements of the embedded vector index, shared by its thread (embedded-search-worker.ts) and by the in-process
// path of an in-memory index (embedded-index.ts), so that both answer alike; and the messages between the index and
// its threads.
import type Database from 'better-sqlite3';
import { metadataIndex, ridsMatching, type RidQuery } from './embedded-index-filter.js';
import { ensureVectorTable, vectorTable } from './embedded-index-schema.js';
import type { VectorMatch } from './vector-index.port.js';

/**
 * Memory-mapped reads for the connections that scan: a search reads every vector of the collection, and through mmap
 * SQLite reads the OS page cache in place instead of copying each page into its own small cache (100k × 384 in vec0
 * on the bench's 2-core Xeon: 94 ms a scan without it, 81 ms with it). The size is address space, not memory: only
 * the pages read are resident, and they are the kernel's page cache, shared with every connection to the file. After
 * another connection's commit, SQLite drops this connection's page cache and unmaps the file at its next read
 * transaction (pagerBeginReadTransaction), and that scan maps the file again (92 against 81 ms; its own commits keep
 * both). Hence the writes go to the thread that searches first. A larger `cache_size` gave nothing more than mmap in
 * the first layout, is dropped alike, and would be private heap per connection: not set.
 */
export const SCAN_MMAP_BYTES = 1024 ** 3;

export interface FloatPoint {
  id: string;
  vector: Float32Array<ArrayBuffer>;
  metadata: Record<string, unknown>;
}

/** A float32 vector as the BLOB sqlite-vec reads, without a copy. */
function blob(floats: Float32Array): Buffer {
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);
}

/**
 * The collection's dimension; null when it holds no point (never had one, or all were deleted): the dimension is
 * that of the vectors it holds, so an emptied collection takes any dimension again (its row is rewritten then).
 */
export function dimensionOf(db: Database.Database, collection: string): number | null {
  const row = db
    .prepare(
      `SELECT dimension FROM collections
        WHERE name = ? AND EXISTS (SELECT 1 FROM points WHERE points.collection = collections.name)`,
    )
    .get(collection) as { dimension: number } | undefined;
  return row?.dimension ?? null;
}

/** A test of vectors: false for one whose cosine with anything is NULL (all zeros, as float32: no direction). */
function directionTest(db: Database.Database): (vector: Float32Array) => boolean {
  const test = db.prepare('SELECT vec_distance_cosine(?, ?) IS NOT NULL').pluck();
  return (vector) => test.get(blob(vector), blob(vector)) === 1;
}

// Every write is an IMMEDIATE transaction: it reads before it writes, and a deferred one whose read saw a state that
// another connection (another server process on the same file) then committed over fails with SQLITE_BUSY at once;
// an immediate one takes the write lock first and waits for it (the busy timeout).

/**
 * Stores the points, replacing those with the same ids, in one transaction; the first vector of a new or emptied
 * collection fixes its dimension. A vector of another dimension writes nothing and is answered with both dimensions.
 * A replaced vector is updated in place in its vec0 chunk, so that replacing does not grow the file. A vector without
 * direction (all zeros: the service refuses it, vector-values.ts, but the index does not rely on that) is kept out of
 * vec0: its distance is NULL, which vec0 would rank first, taking a place in every top k; its point can match nothing.
 */
export function upsertPoints(
  db: Database.Database,
  collection: string,
  points: FloatPoint[],
): { expected: number; got: number } | null {
  return db
    .transaction(() => {
      const first = points[0];
      if (!first) return null;
      const known = dimensionOf(db, collection);
      const expected = known ?? first.vector.length;
      const other = points.find((point) => point.vector.length !== expected);
      if (other) return { expected, got: other.vector.length };
      if (known === null)
        db.prepare(
          `INSERT INTO collections (name, dimension) VALUES (?, ?)
         ON CONFLICT (name) DO UPDATE SET dimension = excluded.dimension`,
        ).run(collection, expected);
      const table = ensureVectorTable(db, expected);
      const writePoint = db
        .prepare(
          `INSERT INTO points (collection, id, metadata) VALUES (?, ?, ?)
         ON CONFLICT (collection, id) DO UPDATE SET metadata = excluded.metadata RETURNING rid`,
        )
        .pluck()
        .safeIntegers();
      const hasDirection = directionTest(db);
      const values = metadataIndex(db);
      const stored = db.prepare(`SELECT 1 FROM ${table} WHERE rowid = ?`).pluck();
      const update = db.prepare(`UPDATE ${table} SET embedding = ? WHERE rowid = ?`);
      const insert = db.prepare(`INSERT INTO ${table} (rowid, collection, embedding) VALUES (?, ?, ?)`);
      const remove = db.prepare(`DELETE FROM ${table} WHERE rowid = ?`);
      for (const point of points) {
        // vec0 takes only integer rowids; better-sqlite3 binds a JS number as a float, a BigInt as an integer.
        const metadata = JSON.stringify(point.metadata);
        const rid = writePoint.get(collection, point.id, metadata) as bigint;
        values.remove(rid);
        values.add(collection, rid, metadata);
        const vector = blob(point.vector);
        const present = stored.get(rid) !== undefined;
        if (!hasDirection(point.vector)) {
          if (present) remove.run(rid);
        } else if (present) update.run(vector, rid);
        else insert.run(rid, collection, vector);
      }
      return null;
    })
    .immediate();
}

/**
 * Deletes the points with the given rids, their indexed values and their vectors (in the vec0 table of the
 * collection's dimension).
 */
function deleteRids(db: Database.Database, collection: string, rids: bigint[]): number {
  const dimension = dimensionOf(db, collection);
  if (dimension === null || rids.length === 0) return 0;
  const removeVector = db.prepare(`DELETE FROM ${vectorTable(dimension)} WHERE rowid = ?`);
  const removePoint = db.prepare('DELETE FROM points WHERE rid = ?');
  const values = metadataIndex(db);
  let changes = 0;
  for (const rid of rids) {
    removeVector.run(rid);
    values.remove(rid);
    changes += removePoint.run(rid).changes;
  }
  return changes;
}

export function deletePoint(db: Database.Database, collection: string, id: string): number {
  return db
    .transaction(() => {
      const rid = db
        .prepare('SELECT rid FROM points WHERE collection = ? AND id = ?')
        .pluck()
        .safeIntegers()
        .get(collection, id) as bigint | undefined;
      return rid === undefined ? 0 : deleteRids(db, collection, [rid]);
    })
    .immediate();
}

/** Deletes the points matching `filter` (at least one key); how many. */
export function deleteMatching(
  db: Database.Database,
  collection: string,
  filter: Record<string, unknown>,
): number {
  const rids = Object.keys(filter).length === 0 ? null : ridsMatching(collection, filter);
  if (rids === null) return 0;
  return db
    .transaction(() =>
      deleteRids(
        db,
        collection,
        db
          .prepare(rids.sql)
          .pluck()
          .safeIntegers()
          .all(...rids.values) as bigint[],
      ),
    )
    .immediate();
}

/** vec0 answers at most this many neighbours a query (sqlite-vec's limit on `k`). */
const VEC0_MAX_K = 4096;

/**
 * Up to this many points kept by a filter are ranked by looking up each one's vector (about 17 µs each on the bench
 * machine); more are left to vec0's scan of the whole partition, which skips the others (25–50 ms for 100k points).
 */
const LOOKUP_MAX_POINTS = 1000;

interface Candidate {
  id: string;
  metadata: string;
  distance: number;
}

/**
 * The `k` points of `collection` nearest to `query` by cosine, best first, ties by id, that match `filter`.
 * Each call is its own read transaction, so it sees every write committed before it (WAL).
 */
export function searchPoints(
  db: Database.Database,
  collection: string,
  query: Float32Array,
  k: number,
  filter: Record<string, unknown>,
): VectorMatch[] {
  const dimension = dimensionOf(db, collection);
  if (dimension === null || dimension !== query.length || !directionTest(db)(query)) return [];
  const table = vectorTable(dimension);
  if (Object.keys(filter).length === 0) return nearestByScan(db, table, collection, query, k, null);
  const rids = ridsMatching(collection, filter);
  if (rids === null) return [];
  // The filter runs once (a json_extract scan may read every point); both paths below take its rids as a JSON list.
  const kept = db
    .prepare(rids.sql)
    .pluck()
    .all(...rids.values) as number[];
  if (kept.length === 0) return [];
  const restriction = { sql: 'SELECT value FROM json_each(?)', values: [JSON.stringify(kept)] };
  if (kept.length > LOOKUP_MAX_POINTS) return nearestByScan(db, table, collection, query, k, restriction);
  // A point whose vector vec0 does not hold (no direction, see upsertPoints) has a NULL distance: last, then dropped.
  const ranked = db
    .prepare(
      `SELECT p.id, p.metadata,
              (SELECT vec_distance_cosine(v.embedding, ?) FROM ${table} v WHERE v.rowid = p.rid) AS distance
         FROM points p WHERE p.rid IN (${restriction.sql})
        ORDER BY distance NULLS LAST, p.id LIMIT ?`,
    )
    .all(blob(query), ...restriction.values, k) as (Omit<Candidate, 'distance'> & {
    distance: number | null;
  })[];
  return ranked.flatMap(({ distance, ...point }) =>
    distance === null ? [] : [match({ ...point, distance })],
  );
}

/**
 * vec0's exact scan of the collection's partition (only the rids of `restriction`, when given). vec0 ranks ties in no
 * stated order; so it is asked for one more than `k`, and the candidates are ordered by (distance, id): when the last
 * of them is farther than the k-th, no point left out can tie with the k-th, and the first k are the answer. When they
 * tie, it is asked again for as many as vec0 answers (4,096); past that (thousands of equal vectors), every point
 * is ranked by vec_distance_cosine.
 */
function nearestByScan(
  db: Database.Database,
  table: string,
  collection: string,
  query: Float32Array,
  k: number,
  restriction: RidQuery | null,
): VectorMatch[] {
  const only = restriction ? `AND rowid IN (${restriction.sql})` : '';
  const onlyValues = restriction?.values ?? [];
  const nearest = db.prepare(
    `SELECT p.id, p.metadata, v.distance FROM (
       SELECT rowid, distance FROM ${table} WHERE embedding MATCH ? AND k = ? AND collection = ? ${only}) v
       JOIN points p ON p.rid = v.rowid
      ORDER BY v.distance, p.id`,
  );
  for (const asked of [k + 1, VEC0_MAX_K]) {
    if (asked > VEC0_MAX_K) break;
    const candidates = nearest.all(blob(query), asked, collection, ...onlyValues) as Candidate[];
    const kth = candidates[k - 1]?.distance;
    const next = candidates[k]?.distance;
    // Fewer than asked: vec0 gave every point, ties included.
    if (candidates.length < asked || kth === undefined || next === undefined || next > kth)
      return candidates.slice(0, k).map(match);
  }
  const everyOne = db
    .prepare(
      `SELECT p.id, p.metadata, vec_distance_cosine(v.embedding, ?) AS distance FROM ${table} v
         JOIN points p ON p.rid = v.rowid
        WHERE v.collection = ? ${restriction ? `AND p.rid IN (${restriction.sql})` : ''}
        ORDER BY distance, p.id LIMIT ?`,
    )
    .all(blob(query), collection, ...onlyValues, k) as Candidate[];
  return everyOne.map(match);
}

function match({ id, metadata, distance }: Candidate): VectorMatch {
  return {
    id,
    score: 1 - distance,
    metadata: JSON.parse(metadata) as Record<string, unknown>,
  };
}

/** What a thread is given when it starts. */
export interface IndexThreadData {
  /** Absolute path of the index's SQLite file. */
  file: string;
  /** True for the thread that takes the writes (a read-write connection); the others open the file read-only. */
  writer: boolean;
}

/** An operation for a thread, with the id its answer carries. */
export type IndexOperation =
  | { type: 'search'; collection: string; query: Float32Array; k: number; filter: Record<string, unknown> }
  | { type: 'upsert'; collection: string; points: FloatPoint[] }
  | { type: 'delete'; collection: string; pointId: string }
  | { type: 'deleteWhere'; collection: string; filter: Record<string, unknown> };

/** A message to a thread. `crash` is a test hook: the thread throws, as a bug in it would. */
export type IndexRequest = (IndexOperation & { id: number }) | { type: 'close' } | { type: 'crash' };

/** A thread's answer to the request `id`. */
export type IndexReply =
  | { id: number; matches: VectorMatch[] }
  | { id: number; changes: number }
  | { id: number; mismatch: { expected: number; got: number } }
  | { id: number; error: { message: string } };
