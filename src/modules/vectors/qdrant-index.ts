// The Qdrant adapter of the VectorIndex port (@qdrant/js-client-rest). One Qdrant collection per collection name,
// made by the first upsert with the first vector's size and Cosine distance (whose score is the cosine similarity).
// Qdrant takes only unsigned integers or UUIDs as point ids: a point's id is the UUIDv5 of `collection + "\0" + id`
// (the same id lands on the same point from any instance). Payload: `{ original_id, metadata, json_values? }`, the
// user's metadata whole under one key (a user key `original_id` clashes with nothing).
//
// Filters: exact match on top-level metadata keys, ANDed, keys as the embedded index allows (others match nothing).
// A string, boolean or safe integer is a `match` on `metadata.<key>`, another number an equality `range` (match
// takes no floats). Qdrant matches an array field when ANY element matches, which is not exact, so each object or
// array value (and null) is also kept as JSON text under `json_values.<key>`: a scalar condition requires that to be
// empty (not an array), an object or array filter value matches that text (JSON equality, as the embedded index), and
// null matches a key holding null or no such key (the embedded index's SQL `IS NULL`).
//
// A failure to get a usable answer (refused, timed out, 5xx, a 4xx that is our bug, a wrong shape) is
// VectorBackendUnavailableError('qdrant'); Qdrant's text stays in `cause`, for the log only.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { AppError } from '../../platform/errors.js';
import { DimensionMismatchError, VectorBackendUnavailableError } from './vector.errors.js';
import type { VectorIndex, VectorMatch, VectorPoint } from './vector-index.port.js';

const NAME = 'qdrant';
/** The namespace of our point ids. Any UUID would do; it must never change, or every stored id would move. */
const POINT_ID_NAMESPACE = 'b3b4bec4-6714-4b09-a309-9230f8d5610c';
/** Metadata keys a filter may name (the embedded index's rule): they become payload paths. */
const FILTER_KEY = /^[A-Za-z0-9_-]{1,64}$/;
const JSON_VALUES = 'json_values';

type Condition = Schemas['Condition'];

/**
 * RFC 4122 name-based UUID, version 5 (SHA-1). Hand-written: no uuid package is a dependency of this project, and
 * node:crypto only makes random (v4) ones.
 */
export function uuidv5(name: string, namespace: string): string {
  const bytes = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  const hash = createHash('sha1').update(bytes).update(name, 'utf8').digest().subarray(0, 16);
  hash.writeUInt8((hash.readUInt8(6) & 0x0f) | 0x50, 6); // version 5
  hash.writeUInt8((hash.readUInt8(8) & 0x3f) | 0x80, 8); // RFC 4122 variant
  const hex = hash.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function qdrantPointId(collection: string, id: string): string {
  return uuidv5(`${collection}\u0000${id}`, POINT_ID_NAMESPACE);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isScalar = (value: unknown): value is string | number | boolean =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/** The value at `path` in an answer we do not trust to have its documented shape. */
function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) current = isRecord(current) ? current[key] : undefined;
  return current;
}

/** The HTTP status of a failed call (the client's ApiError carries it), undefined when none came. */
function statusOf(error: unknown): number | undefined {
  const status = error instanceof Error && 'status' in error ? error.status : undefined;
  return typeof status === 'number' ? status : undefined;
}

/** The last point of each id, as the embedded index keeps the last write of an id within one batch. */
function lastById(points: VectorPoint[]): VectorPoint[] {
  return [...new Map(points.map((point) => [point.id, point])).values()];
}

/** The conditions of an exact-match filter (none for {}); null when a key cannot match (nothing does). */
function filterConditions(filter: Record<string, unknown>): Condition[] | null {
  const conditions: Condition[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (!FILTER_KEY.test(key)) return null;
    if (value === null)
      // Null or missing, as the embedded index's `IS NULL` (is_empty alone would also take an empty array).
      conditions.push({
        must: [{ is_empty: { key: `metadata.${key}` } }],
        must_not: [{ key: `${JSON_VALUES}.${key}`, match: { value: '[]' } }],
      });
    else if (!isScalar(value))
      conditions.push({ key: `${JSON_VALUES}.${key}`, match: { value: JSON.stringify(value) } });
    else
      conditions.push(
        typeof value === 'number' && !Number.isSafeInteger(value)
          ? { key: `metadata.${key}`, range: { gte: value, lte: value } }
          : { key: `metadata.${key}`, match: { value } },
        { is_empty: { key: `${JSON_VALUES}.${key}` } },
      );
  }
  return conditions;
}

function payload(point: VectorPoint): Record<string, unknown> {
  const json = Object.entries(point.metadata)
    .filter(([key, value]) => FILTER_KEY.test(key) && !isScalar(value))
    .map(([key, value]): [string, string] => [key, JSON.stringify(value)]);
  return {
    original_id: point.id,
    metadata: point.metadata,
    ...(json.length > 0 ? { [JSON_VALUES]: Object.fromEntries(json) } : {}),
  };
}

/** A write with wait=true is answered once applied ("completed"); anything else is not a write we can count on. */
function confirmed(answer: unknown): void {
  if (at(answer, 'status') !== 'completed') throw new Error('Qdrant did not confirm a write as completed');
}

function matches(answer: unknown): VectorMatch[] {
  const points = at(answer, 'points');
  if (!Array.isArray(points)) throw new Error('Qdrant answered a query without points');
  return points.map((point: unknown) => {
    const id = at(point, 'payload', 'original_id');
    const score = at(point, 'score');
    const metadata = at(point, 'payload', 'metadata');
    if (typeof id !== 'string' || typeof score !== 'number' || !isRecord(metadata))
      throw new Error('Qdrant answered a point that this server did not store');
    return { id, score, metadata };
  });
}

export class QdrantVectorIndex implements VectorIndex {
  readonly #client: QdrantClient;
  /** Each collection's dimension as last read: a fast path only, read again whenever the server disagrees. */
  readonly #sizes = new Map<string, number>();

  constructor({ url, apiKey, timeoutMs }: { url: string; apiKey?: string; timeoutMs: number }) {
    const parsed = new URL(url);
    const prefix = parsed.pathname.replace(/\/+$/, '');
    this.#client = new QdrantClient({
      url: parsed.origin,
      prefix: prefix === '' ? undefined : prefix, // a Qdrant behind a reverse proxy's path
      apiKey,
      timeout: timeoutMs, // per request, the answer's body included
      checkCompatibility: false, // else the constructor calls the server
    });
  }

  async upsert(collection: string, points: VectorPoint[]): Promise<void> {
    const unique = lastById(points);
    const first = unique[0];
    if (!first) return;
    await this.#withSize(collection, async (known) => {
      // An emptied collection takes the first vector's dimension again, as the embedded index does: Qdrant fixes a
      // collection's size at its creation, so an empty one of another size is made again.
      const size =
        known !== null && known !== first.vector.length && (await this.#empty(collection))
          ? await this.#recreate(collection, first.vector.length)
          : known;
      const wanted = size ?? first.vector.length;
      // The whole batch is checked before anything is written, as the embedded index refuses it whole.
      const wrong = unique.find((point) => point.vector.length !== wanted);
      if (wrong) throw new DimensionMismatchError(wanted, wrong.vector.length);
      if (size === null) {
        const created = await this.#create(collection, wanted);
        if (created !== wanted) throw new DimensionMismatchError(created, wanted);
      }
      const points = unique.map((point) => ({
        id: qdrantPointId(collection, point.id),
        vector: point.vector,
        payload: payload(point),
      }));
      // wait: answered once applied, so that a search right after sees it.
      confirmed(await this.#client.upsert(collection, { wait: true, points }));
    });
  }

  async search(
    collection: string,
    vector: number[],
    k: number,
    filter: Record<string, unknown> = {},
  ): Promise<VectorMatch[]> {
    return this.#withSize(collection, async (size) => {
      if (size === null) return [];
      if (size !== vector.length) {
        // An emptied collection has no dimension to hold against the query (the embedded index's answer: none).
        if (await this.#empty(collection)) return [];
        throw new DimensionMismatchError(size, vector.length);
      }
      const conditions = filterConditions(filter);
      if (conditions === null) return [];
      const answer: unknown = await this.#client.query(collection, {
        query: vector,
        limit: k,
        with_payload: true,
        ...(conditions.length > 0 ? { filter: { must: conditions } } : {}),
      });
      return matches(answer);
    });
  }

  async delete(collection: string, id: string): Promise<boolean> {
    const point = qdrantPointId(collection, id);
    return this.#guard(async () => {
      try {
        // Qdrant's delete does not say whether the point was there: ask first.
        const found: unknown = await this.#client.retrieve(collection, { ids: [point], with_payload: false });
        if (!Array.isArray(found)) throw new Error('Qdrant answered a retrieve without a list');
        if (found.length === 0) return false;
        confirmed(await this.#client.delete(collection, { wait: true, points: [point] }));
        return true;
      } catch (error) {
        if (statusOf(error) === 404) return false;
        throw error;
      }
    });
  }

  /** Qdrant's delete by filter does not count: the count is taken just before (exact but for concurrent writes). */
  async deleteWhere(collection: string, filter: Record<string, unknown>): Promise<number> {
    const conditions = filterConditions(filter);
    if (conditions === null || conditions.length === 0) return 0;
    const must = { must: conditions };
    return this.#guard(async () => {
      try {
        const count = at(await this.#client.count(collection, { filter: must, exact: true }), 'count');
        if (typeof count !== 'number') throw new Error('Qdrant answered a count without a number');
        if (count > 0) confirmed(await this.#client.delete(collection, { wait: true, filter: must }));
        return count;
      } catch (error) {
        if (statusOf(error) === 404) return 0;
        throw error;
      }
    });
  }

  async dimension(collection: string): Promise<number | null> {
    return this.#guard(() => this.#size(collection, true));
  }

  async ping(): Promise<void> {
    await this.#guard(async () => {
      if (!Array.isArray(at(await this.#client.getCollections(), 'collections')))
        throw new Error('Qdrant answered without a collection list');
    });
  }

  /** The client keeps no resource that outlives a request but its keep-alive sockets, which do not hold the process. */
  async close(): Promise<void> {}

  /** The collection's dimension (null: no such collection), from the cache unless `fresh`. */
  async #size(collection: string, fresh = false): Promise<number | null> {
    const cached = fresh ? undefined : this.#sizes.get(collection);
    if (cached !== undefined) return cached;
    let info: unknown;
    try {
      info = await this.#client.getCollection(collection);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      this.#sizes.delete(collection);
      return null;
    }
    const size = at(info, 'config', 'params', 'vectors', 'size');
    // A collection made by something else (named vectors, another distance) cannot give cosine scores.
    if (typeof size !== 'number' || at(info, 'config', 'params', 'vectors', 'distance') !== 'Cosine')
      throw new Error(`Qdrant collection ${collection} is not one unnamed Cosine vector`);
    this.#sizes.set(collection, size);
    return size;
  }

  /** True when the collection holds no point (exact count: an approximate one could drop a point with it). */
  async #empty(collection: string): Promise<boolean> {
    const count = at(await this.#client.count(collection, { exact: true }), 'count');
    if (typeof count !== 'number') throw new Error('Qdrant answered a count without a number');
    return count === 0;
  }

  /**
   * Drops the empty collection and makes it again with `size`; its size as made (another caller may have made it
   * first). Between the count and the drop a concurrent write of the old size to the same collection would be lost:
   * only a user storing two dimensions at once into an emptied collection can cause it.
   */
  async #recreate(collection: string, size: number): Promise<number> {
    this.#sizes.delete(collection);
    try {
      await this.#client.deleteCollection(collection);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    return this.#create(collection, size);
  }

  /** Creates the collection; when someone created it first (409), its dimension, which is the one that counts. */
  async #create(collection: string, size: number): Promise<number> {
    try {
      await this.#client.createCollection(collection, { vectors: { size, distance: 'Cosine' } });
      this.#sizes.set(collection, size);
      return size;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
    // Qdrant may answer the loser of a creation race 409 before the winner's collection can be read (a 5xx).
    for (let attempt = 1; ; attempt++) {
      const existing = await this.#size(collection, true).catch((error: unknown) => {
        if (attempt >= 5 || (statusOf(error) ?? 0) < 500) throw error;
        return undefined;
      });
      if (existing === null) throw new Error(`Qdrant collection ${collection} vanished after its 409`);
      if (existing !== undefined) return existing;
      await sleep(50 * attempt);
    }
  }

  /**
   * `work` with the collection's size from the cache; once more with the size read afresh when that size looks wrong
   * (a dimension mismatch) or the server answers 404 or 400 (the collection dropped, or made again with another size).
   */
  async #withSize<T>(collection: string, work: (size: number | null) => Promise<T>): Promise<T> {
    return this.#guard(async () => {
      try {
        return await work(await this.#size(collection));
      } catch (error) {
        const status = statusOf(error);
        if (!(error instanceof DimensionMismatchError) && status !== 400 && status !== 404) throw error;
        return work(await this.#size(collection, true));
      }
    });
  }

  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new VectorBackendUnavailableError(NAME, error);
    }
  }
}
