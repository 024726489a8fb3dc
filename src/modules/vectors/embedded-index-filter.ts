// Metadata filters of the embedded vector index: exact match on top-level keys, answered from `point_values`, an index
// of the short scalar values of each point's metadata, so that a filter reads the points it keeps and not every
// point's JSON (100k points on the bench machine: 0.8 ms for the rids of 10 % of them, 76 ms with json_extract over
// every row). What it does not hold (null, objects and arrays, strings over INDEXED_TEXT_BYTES) is matched with
// json_extract on the points, as before the index existed.
import type Database from 'better-sqlite3';

/** Metadata keys a filter may name: a JSON path is built from them, so they are kept to plain identifiers. */
const FILTER_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Longer strings are not indexed: a document chunk's metadata holds its text, which would double the file; nobody
 * filters on it. Counted in UTF-8 bytes, as SQLite counts a BLOB, so that both sides agree on every string.
 */
const INDEXED_TEXT_BYTES = 256;

/** A query for the rids of a collection's points, and its values. */
export interface RidQuery {
  sql: string;
  values: unknown[];
}

/** False when the filter names a key no stored metadata can have: it matches nothing. */
export function filterCanMatch(filter: Record<string, unknown>): boolean {
  return Object.keys(filter).every((key) => FILTER_KEY.test(key));
}

function indexed(value: unknown): value is string | number | boolean {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8') <= INDEXED_TEXT_BYTES;
  return typeof value === 'number' || typeof value === 'boolean';
}

/**
 * The rids of the points of `collection` that match `filter` (at least one key), as one query: an INTERSECT of a
 * lookup in point_values per indexed value and one json_extract scan for the other keys. Null when a key cannot match.
 * json_extract and json_each give the same SQL values (true is 1, false 0), and `IS` compares them alike.
 */
export function ridsMatching(collection: string, filter: Record<string, unknown>): RidQuery | null {
  if (!filterCanMatch(filter)) return null;
  const parts: string[] = [];
  const values: unknown[] = [];
  const scanned: string[] = [];
  const scannedValues: unknown[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (indexed(value)) {
      parts.push('SELECT rid FROM point_values WHERE collection = ? AND key = ? AND value IS ?');
      values.push(collection, key, typeof value === 'boolean' ? Number(value) : value);
    } else if (value === null) {
      // null matches a null and a missing key alike, as json_extract sees them.
      scanned.push(`json_extract(metadata, '$."${key}"') IS NULL`);
    } else if (typeof value === 'string') {
      // A long string; json_extract gives an object's JSON text too, which must not match it.
      scanned.push(`json_type(metadata, '$."${key}"') = 'text' AND json_extract(metadata, '$."${key}"') = ?`);
      scannedValues.push(value);
    } else {
      // Objects and arrays compare by their JSON text, normalised by json() on both sides; never a stored string.
      scanned.push(
        `json_type(metadata, '$."${key}"') IN ('object', 'array') AND json_extract(metadata, '$."${key}"') = json(?)`,
      );
      scannedValues.push(JSON.stringify(value));
    }
  }
  if (scanned.length > 0) {
    parts.push(`SELECT rid FROM points WHERE collection = ? AND ${scanned.join(' AND ')}`);
    values.push(collection, ...scannedValues);
  }
  return { sql: parts.join(' INTERSECT '), values };
}

/** Which rows of json_each over a point's metadata go into point_values: those a filter can look up. */
export const INDEXED_ENTRY = `length(key) <= 64 AND (type IN ('integer', 'real', 'true', 'false')
  OR (type = 'text' AND length(CAST(value AS BLOB)) <= ${INDEXED_TEXT_BYTES}))`;

/** Writes of point_values, prepared once for the points of a write. */
export interface MetadataIndex {
  /** Indexes the short scalar values of a point's metadata (its JSON text), after any earlier ones were removed. */
  add(collection: string, rid: bigint, metadata: string): void;
  /** Removes a point's indexed values. */
  remove(rid: bigint): void;
}

export function metadataIndex(db: Database.Database): MetadataIndex {
  const add = db.prepare(
    `INSERT OR IGNORE INTO point_values (collection, key, value, rid)
       SELECT ?, key, value, ? FROM json_each(?) WHERE ${INDEXED_ENTRY}`,
  );
  const remove = db.prepare('DELETE FROM point_values WHERE rid = ?');
  return {
    add: (collection, rid, metadata) => add.run(collection, rid, metadata),
    remove: (rid) => remove.run(rid),
  };
}
