// The statements of the embedded vector index, shared by its thread (embedded-search-worker.ts) and by the in-process
// path of an in-memory index (embedded-index.ts), so that both answer alike; and the messages between the index and
// its threads.
import type Database from 'better-sqlite3';
import type { VectorMatch } from './vector-index.port.js';

/** Metadata keys a filter may name: a JSON path is built from them, so they are kept to plain identifiers. */
const FILTER_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Memory-mapped reads for the connections that scan: a search reads every row of the collection, and through mmap
 * SQLite reads the OS page cache in place instead of copying each page into its own small cache (100k × 384 float32
 * on a 2-core EPYC: 180 ms a scan without it, 80 ms with it). The size is address space, not memory: only the pages
 * read are resident, and they are the kernel's page cache, shared with every connection to the file. The gain holds
 * only while no other connection commits: after another connection's commit, SQLite drops this connection's page
 * cache and unmaps the file at its next read transaction (pagerBeginReadTransaction), and that scan faults the file
 * back in (200 ms; its own commits keep both). Hence the writes go to the thread that searches first. A larger
 * `cache_size` gave nothing more than mmap, is dropped alike, and would be private heap per connection: not set.
 */
export const SCAN_MMAP_BYTES = 1024 ** 3;

export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, dimension INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS points (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (collection, id)
  );
`;

export interface FloatPoint {
  id: string;
  vector: Float32Array<ArrayBuffer>;
  metadata: Record<string, unknown>;
}

/** `AND …` conditions of an exact-match filter and their values; null when a key cannot match (nothing does). */
export function filterSql(filter: Record<string, unknown>): { sql: string; values: unknown[] } | null {
  const conditions: string[] = [];
  const values: unknown[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (!FILTER_KEY.test(key)) return null;
    // json_extract gives SQL values; objects and arrays compare by their JSON text.
    const plain = value === null || typeof value !== 'object';
    conditions.push(
      plain ? `json_extract(metadata, '$."${key}"') IS ?` : `json_extract(metadata, '$."${key}"') = json(?)`,
    );
    values.push(plain ? (typeof value === 'boolean' ? Number(value) : value) : JSON.stringify(value));
  }
  return { sql: conditions.map((condition) => `AND ${condition}`).join(' '), values };
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

/**
 * Stores the points, replacing those with the same ids, in one transaction; the first vector of a new or emptied
 * collection fixes its dimension. A vector of another dimension writes nothing and is answered with both dimensions.
 */
export function upsertPoints(
  db: Database.Database,
  collection: string,
  points: FloatPoint[],
): { expected: number; got: number } | null {
  return db.transaction(() => {
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
    const write = db.prepare(
      `INSERT INTO points (collection, id, embedding, metadata) VALUES (?, ?, ?, ?)
       ON CONFLICT (collection, id) DO UPDATE SET embedding = excluded.embedding, metadata = excluded.metadata`,
    );
    for (const point of points)
      write.run(collection, point.id, blob(point.vector), JSON.stringify(point.metadata));
    return null;
  })();
}

export function deletePoint(db: Database.Database, collection: string, id: string): number {
  return db.prepare('DELETE FROM points WHERE collection = ? AND id = ?').run(collection, id).changes;
}

/** Deletes the points matching `filter` (at least one key); how many. */
export function deleteMatching(
  db: Database.Database,
  collection: string,
  filter: Record<string, unknown>,
): number {
  const where = filterSql(filter);
  if (where === null || where.values.length === 0) return 0;
  return db.prepare(`DELETE FROM points WHERE collection = ? ${where.sql}`).run(collection, ...where.values)
    .changes;
}

/**
 * The `k` points of `collection` nearest to `query` by cosine, best first (ties by id), that match `filter`.
 * Each call is its own read transaction, so it sees every write committed before it (WAL).
 * SQLite tests the filter before it computes the distance (EXPLAIN: json_extract, and the row skipped, before
 * vec_distance_cosine), so a filter saves the distances of the rows it rejects; the rows are still all read.
 * A NULL distance (a zero vector stored before the checks of vector-values.ts: no direction) is no match: sorted
 * last and dropped here. `AND distance IS NOT NULL` would say it in SQL, but SQLite computes the distance a second
 * time for it (EXPLAIN: two vec_distance_cosine calls; 30k × 384: 27 → 41 ms a scan); NULLS LAST keeps one.
 */
export function searchPoints(
  db: Database.Database,
  collection: string,
  query: Float32Array,
  k: number,
  filter: Record<string, unknown>,
): VectorMatch[] {
  const where = filterSql(filter);
  if (where === null) return [];
  const rows = db
    .prepare(
      `SELECT id, metadata, vec_distance_cosine(embedding, ?) AS distance FROM points
        WHERE collection = ? ${where.sql} ORDER BY distance NULLS LAST, id LIMIT ?`,
    )
    .all(blob(query), collection, ...where.values, k) as {
    id: string;
    metadata: string;
    distance: number | null;
  }[];
  return rows.flatMap((row) => (row.distance === null ? [] : [match(row.id, row.metadata, row.distance)]));
}

function match(id: string, metadata: string, distance: number): VectorMatch {
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
