// The embedded vector index: sqlite-vec loaded into better-sqlite3, in an SQLite file of its own under DATA_DIR,
// whatever the main database is. Vectors are float32 BLOBs in one table; a search is an exact scan ordered by
// sqlite-vec's vec_distance_cosine (exact, so no recall to lose; the issue measured about 42 ms for 100k × 384 on
// this kind of machine), filtered by exact match on metadata keys with json_extract. Score = 1 − cosine distance.
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { DimensionMismatchError } from './vector.errors.js';
import type { VectorIndex, VectorMatch, VectorPoint } from './vector-index.port.js';

/** Metadata keys a filter may name: a JSON path is built from them, so they are kept to plain identifiers. */
const FILTER_KEY = /^[A-Za-z0-9_-]{1,64}$/;

function blob(vector: number[]): Buffer {
  const floats = Float32Array.from(vector);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);
}

/** `AND …` conditions of an exact-match filter and their values; null when a key cannot match (nothing does). */
function filterSql(filter: Record<string, unknown>): { sql: string; values: unknown[] } | null {
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

export class EmbeddedVectorIndex implements VectorIndex {
  readonly #db: Database.Database;

  /** `file`: the SQLite file (created when missing); ':memory:' for a throwaway index. */
  constructor(file: string) {
    this.#db = new Database(file);
    sqliteVec.load(this.#db);
    this.#db.pragma('journal_mode = WAL');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, dimension INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS points (
        collection TEXT NOT NULL,
        id TEXT NOT NULL,
        embedding BLOB NOT NULL,
        metadata TEXT NOT NULL,
        PRIMARY KEY (collection, id)
      );
    `);
  }

  async upsert(collection: string, points: VectorPoint[]): Promise<void> {
    const db = this.#db;
    const write = db.transaction(() => {
      for (const point of points) {
        const known = this.#dimension(collection);
        if (known === null)
          db.prepare('INSERT INTO collections (name, dimension) VALUES (?, ?)').run(
            collection,
            point.vector.length,
          );
        else if (known !== point.vector.length) throw new DimensionMismatchError(known, point.vector.length);
        db.prepare(
          `INSERT INTO points (collection, id, embedding, metadata) VALUES (?, ?, ?, ?)
           ON CONFLICT (collection, id) DO UPDATE SET embedding = excluded.embedding, metadata = excluded.metadata`,
        ).run(collection, point.id, blob(point.vector), JSON.stringify(point.metadata));
      }
    });
    write();
  }

  async search(
    collection: string,
    vector: number[],
    k: number,
    filter: Record<string, unknown> = {},
  ): Promise<VectorMatch[]> {
    const known = this.#dimension(collection);
    if (known === null) return [];
    if (known !== vector.length) throw new DimensionMismatchError(known, vector.length);
    const where = filterSql(filter);
    if (where === null) return [];
    const rows = this.#db
      .prepare(
        `SELECT id, metadata, vec_distance_cosine(embedding, ?) AS distance FROM points
          WHERE collection = ? ${where.sql} ORDER BY distance, id LIMIT ?`,
      )
      .all(blob(vector), collection, ...where.values, k) as {
      id: string;
      metadata: string;
      distance: number;
    }[];
    return rows.map((row) => ({
      id: row.id,
      score: 1 - row.distance,
      metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    }));
  }

  async delete(collection: string, id: string): Promise<boolean> {
    return (
      this.#db.prepare('DELETE FROM points WHERE collection = ? AND id = ?').run(collection, id).changes > 0
    );
  }

  async deleteWhere(collection: string, filter: Record<string, unknown>): Promise<number> {
    const where = filterSql(filter);
    if (where === null || where.values.length === 0) return 0;
    return this.#db
      .prepare(`DELETE FROM points WHERE collection = ? ${where.sql}`)
      .run(collection, ...where.values).changes;
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT vec_version()').get();
  }

  async dimension(collection: string): Promise<number | null> {
    return this.#dimension(collection);
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  #dimension(collection: string): number | null {
    const row = this.#db.prepare('SELECT dimension FROM collections WHERE name = ?').get(collection) as
      { dimension: number } | undefined;
    return row?.dimension ?? null;
  }
}
