// The tables of the embedded vector index, and the move of a file written before the vectors went into sqlite-vec's
// vec0 tables.
//
// `points` holds what a point is (collection, id, metadata) under a stable integer `rid`, and `point_values` its
// metadata's short scalar values for filters (embedded-index-filter.ts); the vectors are in vec0
// virtual tables, one per dimension (`vectors_384`…: a vec0 column has a fixed length), with the collection as
// partition key and the point's rid as rowid. vec0 keeps the vectors in contiguous chunks and scans them in C, about
// twice as fast as `vec_distance_cosine` over a row per point (100k × 384: 43 against 84 ms, bench/vectors-section.ts).
import type Database from 'better-sqlite3';
import { INDEXED_ENTRY } from './embedded-index-filter.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, dimension INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS points (
    rid INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    metadata TEXT NOT NULL,
    UNIQUE (collection, id)
  );
  -- No type on value: a column without one keeps what json_each gives (a declared type would convert it).
  CREATE TABLE IF NOT EXISTS point_values (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    value NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (collection, key, value, rid)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS point_values_by_rid ON point_values (rid);
`;

/** The vec0 table of the vectors of `dimension` components (an integer from the collections table). */
export function vectorTable(dimension: number): string {
  if (!Number.isSafeInteger(dimension) || dimension < 1)
    throw new Error(`not a vector dimension: ${dimension}`);
  return `vectors_${dimension}`;
}

/** Creates the vec0 table for `dimension` when it is missing. */
export function ensureVectorTable(db: Database.Database, dimension: number): string {
  const table = vectorTable(dimension);
  db.exec(
    `CREATE VIRTUAL TABLE IF NOT EXISTS ${table} USING vec0(
       collection TEXT PARTITION KEY, embedding float[${dimension}] distance_metric=cosine)`,
  );
  return table;
}

/**
 * Creates the tables of a new file, and moves a file of the first layout (the float32 BLOB in an `embedding` column
 * of `points`) to this one, in one IMMEDIATE transaction (a second process opening the file waits for it, then sees
 * the new layout): the points keep their ids and metadata (indexed), each vector goes to the vec0 table of its
 * collection's dimension. A vector without direction (zero, stored before the checks of
 * vector-values.ts) can match nothing, so it is not moved into vec0 (see upsertPoints); its point stays.
 */
export function prepareIndexFile(db: Database.Database): void {
  db.transaction(() => {
    const columns = db.prepare("SELECT name FROM pragma_table_info('points')").all() as { name: string }[];
    const firstLayout = columns.some((column) => column.name === 'embedding');
    if (firstLayout) db.exec('ALTER TABLE points RENAME TO points_first_layout');
    db.exec(SCHEMA);
    if (!firstLayout) return;
    db.exec(
      `INSERT INTO points (collection, id, metadata)
         SELECT collection, id, metadata FROM points_first_layout ORDER BY collection, id`,
    );
    db.exec(
      `INSERT OR IGNORE INTO point_values (collection, key, value, rid)
         SELECT p.collection, j.key, j.value, p.rid FROM points p, json_each(p.metadata) j WHERE ${INDEXED_ENTRY}`,
    );
    const collections = db.prepare('SELECT name, dimension FROM collections').all() as {
      name: string;
      dimension: number;
    }[];
    for (const { name, dimension } of collections) {
      const table = ensureVectorTable(db, dimension);
      db.prepare(
        `INSERT INTO ${table} (rowid, collection, embedding)
           SELECT p.rid, p.collection, o.embedding FROM points p
             JOIN points_first_layout o ON o.collection = p.collection AND o.id = p.id
            WHERE p.collection = ? AND vec_length(o.embedding) = ?
              AND vec_distance_cosine(o.embedding, o.embedding) IS NOT NULL`,
      ).run(name, dimension);
    }
    db.exec('DROP TABLE points_first_layout');
  }).immediate();
}
