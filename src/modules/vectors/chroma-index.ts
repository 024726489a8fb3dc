// The ChromaDB adapter of the VectorIndex port (the chromadb v3 client, Chroma's /api/v2, tenant default_tenant,
// database default_database). One collection per name, made by the first upsert with the cosine space and its
// dimension in the collection metadata (`dimension`); score = 1 − cosine distance; ids are the user's ids; upsert.
//
// Metadata (Chroma keeps scalars only): `_metadata_json`, the user's metadata as JSON text, is what reads return
// (exact, nested values and all); `f_<key>` copies each top-level scalar and `j_<key>` each object or array as JSON
// text, for filters (JSON equality, as the embedded index; the same key rule: other keys match nothing; the prefixes
// keep user keys off `_metadata_json`). Chroma's where cannot say "missing", so a null filter value (a key holding
// null or no such key, the embedded index's SQL `IS NULL`) is checked in process only. Chroma MERGES metadata on
// upsert (a key the new metadata lacks stays): every match is checked against `_metadata_json`, and a search asks
// for more when stale keys took places.
//
// Timeouts: the client has none and takes no custom fetch, but passes `fetchOptions` to every request: each
// operation gets a client whose requests share one AbortSignal.timeout(timeoutMs), so the whole operation ends
// within it. A failure to get a usable answer is VectorBackendUnavailableError('chromadb'); Chroma's text stays in
// `cause`, for the log only.
import {
  ChromaClient,
  ChromaClientError,
  ChromaNotFoundError,
  type ChromaClientArgs,
  type Collection,
  type Metadata,
  type Where,
} from 'chromadb';
import { AppError } from '../../platform/errors.js';
import { DimensionMismatchError, VectorBackendUnavailableError } from './vector.errors.js';
import type { VectorIndex, VectorMatch, VectorPoint } from './vector-index.port.js';

const NAME = 'chromadb';
const METADATA_JSON = '_metadata_json';
const SCALAR_KEY = 'f_';
const JSON_KEY = 'j_';
/** Metadata keys a filter may name (the embedded index's rule). */
const FILTER_KEY = /^[A-Za-z0-9_-]{1,64}$/;
/** What a stale cached collection causes: our dimension check, Chroma's 404 (dropped) or 400 (another dimension). */
const STALE = [DimensionMismatchError, ChromaNotFoundError, ChromaClientError];

type Known = { id: string; dimension: number };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isScalar = (value: unknown): value is string | number | boolean =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

function record(metadata: Record<string, unknown>): Metadata {
  const stored: Metadata = { [METADATA_JSON]: JSON.stringify(metadata) };
  for (const [key, value] of Object.entries(metadata)) {
    if (!FILTER_KEY.test(key)) continue;
    if (isScalar(value)) stored[SCALAR_KEY + key] = value;
    else if (value !== null) stored[JSON_KEY + key] = JSON.stringify(value);
  }
  return stored;
}

/** The user's metadata of a stored record (null: not a record of this server). */
function userMetadata(stored: unknown): Record<string, unknown> | null {
  const text = isRecord(stored) ? stored[METADATA_JSON] : undefined;
  if (typeof text !== 'string') return null;
  const parsed: unknown = JSON.parse(text);
  return isRecord(parsed) ? parsed : null;
}

/** The `where` of an exact-match filter; undefined for none; null when a key cannot match (nothing does). */
function whereOf(filter: Record<string, unknown>): Where | undefined | null {
  const clauses: Where[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (!FILTER_KEY.test(key)) return null;
    if (value === null) continue; // checked in process (fits)
    clauses.push(
      isScalar(value)
        ? { [SCALAR_KEY + key]: { $eq: value } }
        : { [JSON_KEY + key]: { $eq: JSON.stringify(value) } },
    );
  }
  const [only] = clauses;
  if (only === undefined) return undefined;
  return clauses.length === 1 ? only : { $and: clauses }; // Chroma refuses an $and of one
}

/** What Chroma's where meant, checked on the exact metadata (Chroma's copy of the keys may be stale). */
function fits(metadata: Record<string, unknown>, filter: Record<string, unknown>): boolean {
  return Object.entries(filter).every(([key, value]) => {
    const held = metadata[key];
    if (!Object.hasOwn(metadata, key)) return value === null;
    return isScalar(value) ? held === value : JSON.stringify(held) === JSON.stringify(value);
  });
}

function lastById(points: VectorPoint[]): VectorPoint[] {
  return [...new Map(points.map((point) => [point.id, point])).values()];
}

/** The collection as this server made it: cosine space and a recorded dimension; else it cannot be used. */
function describe(collection: Collection): Known {
  const { hnsw, spann } = collection.configuration;
  const space = hnsw?.space ?? spann?.space ?? collection.metadata?.['hnsw:space'];
  const dimension = collection.metadata?.dimension;
  if (space !== 'cosine' || typeof dimension !== 'number')
    throw new Error(`Chroma collection ${collection.name} has no cosine space or no recorded dimension`);
  return { id: collection.id, dimension };
}

/** A client for one operation, given the pre-flight answer (batch size, base64) a former one already read. */
class OperationClient extends ChromaClient {
  constructor(args: ChromaClientArgs, checks: ChromaClient['preflightChecks']) {
    super(args);
    if (checks) this.preflightChecks = checks;
  }
}

export class ChromaVectorIndex implements VectorIndex {
  readonly #args: ChromaClientArgs;
  readonly #timeoutMs: number;
  #checks: ChromaClient['preflightChecks'];
  /** Each collection's id and dimension as last read: a fast path only, read again when the server disagrees. */
  readonly #known = new Map<string, Known>();

  constructor({ url, timeoutMs }: { url: string; timeoutMs: number }) {
    const parsed = new URL(url);
    const ssl = parsed.protocol === 'https:';
    this.#args = {
      host: parsed.hostname,
      port: parsed.port === '' ? (ssl ? 443 : 80) : Number(parsed.port),
      ssl,
      tenant: 'default_tenant',
      database: 'default_database',
    };
    this.#timeoutMs = timeoutMs;
  }

  async upsert(collection: string, points: VectorPoint[]): Promise<void> {
    const unique = lastById(points);
    const first = unique[0];
    if (!first) return;
    await this.#withCollection(collection, async (client, cached) => {
      // An emptied collection takes the first vector's dimension again, as the embedded index does: ours records its
      // dimension at creation (and Chroma keeps the first one it saw), so an empty one of another size is made again.
      const known =
        cached && cached.dimension !== first.vector.length && (await this.#empty(client, cached))
          ? await this.#recreate(client, collection, first.vector.length)
          : cached;
      const wanted = known?.dimension ?? first.vector.length;
      // The whole batch is checked before anything is written, as the embedded index refuses it whole.
      const wrong = unique.find((point) => point.vector.length !== wanted);
      if (wrong) throw new DimensionMismatchError(wanted, wrong.vector.length);
      const target = known ?? (await this.#create(client, collection, wanted));
      if (target.dimension !== wanted) throw new DimensionMismatchError(target.dimension, wanted);
      const handle = client.collection(target.id);
      const max = await client.getMaxBatchSize(); // -1: the server sets no limit
      const size = max > 0 ? max : unique.length;
      for (let start = 0; start < unique.length; start += size) {
        const batch = unique.slice(start, start + size);
        await handle.upsert({
          ids: batch.map((point) => point.id),
          embeddings: batch.map((point) => point.vector),
          metadatas: batch.map((point) => record(point.metadata)),
        });
      }
    });
  }

  async search(
    collection: string,
    vector: number[],
    k: number,
    filter: Record<string, unknown> = {},
  ): Promise<VectorMatch[]> {
    return this.#withCollection(collection, async (client, known) => {
      if (!known) return [];
      if (known.dimension !== vector.length) {
        // An emptied collection has no dimension to hold against the query (the embedded index's answer: none).
        if (await this.#empty(client, known)) return [];
        throw new DimensionMismatchError(known.dimension, vector.length);
      }
      const where = whereOf(filter);
      if (where === null) return [];
      return this.#nearest(client.collection(known.id), vector, k, filter, where);
    });
  }

  async delete(collection: string, id: string): Promise<boolean> {
    return this.#withCollection(collection, async (client, known) => {
      if (!known) return false;
      const handle = client.collection(known.id);
      if ((await handle.get({ ids: [id], include: [] })).ids.length === 0) return false;
      await handle.delete({ ids: [id] });
      return true;
    });
  }

  /** The matching ids are read, checked against their exact metadata, then deleted: the count is exact. */
  async deleteWhere(collection: string, filter: Record<string, unknown>): Promise<number> {
    const where = whereOf(filter);
    if (where === null || Object.keys(filter).length === 0) return 0;
    return this.#withCollection(collection, async (client, known) => {
      if (!known) return 0;
      const handle = client.collection(known.id);
      const found = await handle.get({ ...(where ? { where } : {}), include: ['metadatas'] });
      const ids = found.ids.filter((_, i) => {
        const metadata = userMetadata(found.metadatas[i]);
        return metadata !== null && fits(metadata, filter);
      });
      if (ids.length > 0) await handle.delete({ ids });
      return ids.length;
    });
  }

  async dimension(collection: string): Promise<number | null> {
    return this.#guard(async (client) => (await this.#open(client, collection, true))?.dimension ?? null);
  }

  async ping(): Promise<void> {
    await this.#guard(async (client) => {
      if (typeof (await client.heartbeat()) !== 'number') throw new Error('Chroma answered no heartbeat');
    });
  }

  /** Every client lives for one operation: nothing is left open. */
  async close(): Promise<void> {}

  /** The k nearest that really match `filter`, asking Chroma for twice as many while stale keys took places. */
  async #nearest(
    handle: Collection,
    vector: number[],
    k: number,
    filter: Record<string, unknown>,
    where: Where | undefined,
  ): Promise<VectorMatch[]> {
    for (let asked = k; ; asked *= 2) {
      const answer = await handle.query({
        queryEmbeddings: [vector],
        nResults: asked,
        include: ['metadatas', 'distances'],
        ...(where ? { where } : {}),
      });
      const ids: unknown = answer.ids[0];
      if (!Array.isArray(ids)) throw new Error('Chroma answered a query without ids');
      const found = ids.map((id: unknown, i): VectorMatch => {
        const distance = answer.distances[0]?.[i];
        const metadata = userMetadata(answer.metadatas[0]?.[i]);
        if (typeof id !== 'string' || typeof distance !== 'number' || metadata === null)
          throw new Error('Chroma answered a record that this server did not store');
        return { id, score: 1 - distance, metadata };
      });
      const kept = found.filter((match) => fits(match.metadata, filter));
      if (kept.length >= k || found.length < asked) return kept.slice(0, k);
    }
  }

  /** The collection's id and dimension (null: no such collection), from the cache unless `fresh`. */
  async #open(client: ChromaClient, name: string, fresh = false): Promise<Known | null> {
    const cached = fresh ? undefined : this.#known.get(name);
    if (cached) return cached;
    try {
      const known = describe(await client.getCollection({ name }));
      this.#known.set(name, known);
      return known;
    } catch (error) {
      if (!(error instanceof ChromaNotFoundError)) throw error;
      this.#known.delete(name);
      return null;
    }
  }

  async #empty(client: ChromaClient, known: Known): Promise<boolean> {
    return (await client.collection(known.id).count()) === 0;
  }

  /**
   * Drops the empty collection and makes it again with `dimension` (another caller may have made it first: its
   * dimension counts). Between the count and the drop a concurrent write of the old dimension to the same collection
   * would be lost: only a user storing two dimensions at once into an emptied collection can cause it.
   */
  async #recreate(client: ChromaClient, name: string, dimension: number): Promise<Known> {
    this.#known.delete(name);
    try {
      await client.deleteCollection({ name });
    } catch (error) {
      if (!(error instanceof ChromaNotFoundError)) throw error;
    }
    return this.#create(client, name, dimension);
  }

  /** get_or_create: when another call or instance made it first, its dimension is the one that counts. */
  async #create(client: ChromaClient, name: string, dimension: number): Promise<Known> {
    const known = describe(
      await client.getOrCreateCollection({
        name,
        embeddingFunction: null, // we always give embeddings: no default embedding package is loaded
        configuration: { hnsw: { space: 'cosine' } },
        metadata: { dimension },
      }),
    );
    this.#known.set(name, known);
    return known;
  }

  /** `work` with the collection as cached; once more as read afresh when that looks STALE. */
  async #withCollection<T>(
    name: string,
    work: (client: ChromaClient, known: Known | null) => Promise<T>,
  ): Promise<T> {
    return this.#guard(async (client) => {
      try {
        return await work(client, await this.#open(client, name));
      } catch (error) {
        if (!STALE.some((type) => error instanceof type)) throw error;
        return work(client, await this.#open(client, name, true));
      }
    });
  }

  async #guard<T>(work: (client: ChromaClient) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const client = new OperationClient({ ...this.#args, fetchOptions: { signal } }, this.#checks);
    try {
      return await work(client);
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new VectorBackendUnavailableError(NAME, error);
    } finally {
      this.#checks ??= client.preflightChecks;
    }
  }
}
