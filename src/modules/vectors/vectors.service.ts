// The rules of /api/v1/vectors: one collection per user on the chosen backend (`user_<id>_vectors`, the original's
// name), vectors and metadata checked before any backend sees them (vector-values.ts: finite and not all zero as the
// float32 every backend stores, metadata not too deep nor too large), and texts embedded through the LLM service for
// embed-and-store and search-text.
import { AppError, NotFoundError } from '../../platform/errors.js';
import type { LlmService } from '../llm/index.js';
import type { VectorMatch } from './vector-index.port.js';
import type { VectorBackends } from './vector-backends.js';
import type { VectorMetrics } from './vectors.metrics.js';
import {
  MAX_JSON_DEPTH,
  MAX_METADATA_BYTES,
  metadataBytes,
  nestedDeeperThan,
  storableVectorProblem,
} from './vector-values.js';

export class InvalidVectorError extends AppError {
  constructor(message: string) {
    super(message, { status: 422, code: 'invalid_vector' });
  }
}

/** Metadata keys a filter may name: every backend can match them exactly. */
const FILTER_KEY = /^[A-Za-z0-9_-]{1,64}$/;

export class InvalidMetadataError extends AppError {
  constructor(message: string) {
    super(message, { status: 422, code: 'invalid_metadata' });
  }
}

function checkFilter(filter: Record<string, unknown> | undefined): void {
  for (const key of Object.keys(filter ?? {})) {
    if (!FILTER_KEY.test(key))
      throw new AppError(
        `Filter key ${JSON.stringify(key)} is not allowed: use 1 to 64 letters, digits, _ or -`,
        { status: 422, code: 'invalid_filter' },
      );
  }
  // A value deeper than metadata may be could match nothing, and SQLite's JSON functions fail on it (a 500).
  if (nestedDeeperThan(filter ?? {}, MAX_JSON_DEPTH))
    throw new AppError(`The filter nests more than ${MAX_JSON_DEPTH} levels of objects and arrays`, {
      status: 422,
      code: 'invalid_filter',
    });
}

/** Refuses metadata that would be stored and then break the filtered searches of its collection, or bloat it. */
export function checkMetadata(metadata: Record<string, unknown>): void {
  if (nestedDeeperThan(metadata, MAX_JSON_DEPTH))
    throw new InvalidMetadataError(
      `The metadata nests more than ${MAX_JSON_DEPTH} levels of objects and arrays`,
    );
  const bytes = metadataBytes(metadata);
  if (bytes > MAX_METADATA_BYTES)
    throw new InvalidMetadataError(
      `The metadata takes ${bytes} bytes as JSON, more than the ${MAX_METADATA_BYTES} (64 KiB) a point may hold`,
    );
}

export interface VectorCaller {
  userId: number;
  /** Who LLM_MAX_CONCURRENT_PER_USER counts (the same key as chat's). */
  llmKey: string;
  requestId?: string;
  signal?: AbortSignal;
}

export interface StoreInput {
  id: string;
  vector: number[];
  metadata: Record<string, unknown>;
}

export interface SearchInput {
  query: number[];
  k: number;
  filter: Record<string, unknown> | undefined;
}

export interface VectorsServiceDeps {
  backends: VectorBackends;
  llm: Pick<LlmService, 'embed'>;
  metrics: VectorMetrics;
}

export function userCollection(userId: number): string {
  return `user_${userId}_vectors`;
}

/** Refuses what no backend can compare once stored as float32 (storableVectorProblem): a 422 naming the problem. */
export function checkVector(vector: number[], what: string): void {
  const problem = storableVectorProblem(vector);
  if (problem !== null) throw new InvalidVectorError(`The ${what} ${problem}`);
}

export class VectorsService {
  readonly #deps: VectorsServiceDeps;

  constructor(deps: VectorsServiceDeps) {
    this.#deps = deps;
  }

  async store(userId: number, database: string | undefined, input: StoreInput) {
    checkVector(input.vector, 'vector');
    checkMetadata(input.metadata);
    const { backends, metrics } = this.#deps;
    const target = backends.resolve(database);
    const collection = userCollection(userId);
    await metrics.observe('upsert', target.backend, () =>
      target.index.upsert(collection, [{ id: input.id, vector: input.vector, metadata: input.metadata }]),
    );
    return {
      status: 'success' as const,
      database: target.database,
      collection,
      vector_id: input.id,
      dimension: input.vector.length,
    };
  }

  async search(userId: number, database: string | undefined, input: SearchInput): Promise<VectorMatch[]> {
    checkVector(input.query, 'query');
    checkFilter(input.filter);
    const { backends, metrics } = this.#deps;
    const target = backends.resolve(database);
    return metrics.observe('search', target.backend, () =>
      target.index.search(userCollection(userId), input.query, input.k, input.filter),
    );
  }

  async delete(userId: number, database: string | undefined, id: string) {
    const { backends, metrics } = this.#deps;
    const target = backends.resolve(database);
    const deleted = await metrics.observe('delete', target.backend, () =>
      target.index.delete(userCollection(userId), id),
    );
    if (!deleted) throw new NotFoundError(`Vector ${id} not found`, 'vector_not_found');
    return { status: 'success' as const, database: target.database, deleted_id: id };
  }

  /** Embeds `text`, then stores it as store() does; the text is kept in the metadata as `text` unless given. */
  async embedAndStore(
    caller: VectorCaller,
    database: string | undefined,
    input: { id: string; text: string; metadata: Record<string, unknown>; model: string | null | undefined },
  ) {
    // Resolved and checked first: a bad backend or metadata is refused before the model is asked anything.
    this.#deps.backends.resolve(database);
    checkMetadata(input.metadata);
    const { vector, model } = await this.#embed(caller, input.model, input.text);
    const metadata = 'text' in input.metadata ? input.metadata : { ...input.metadata, text: input.text };
    const stored = await this.store(caller.userId, database, { id: input.id, vector, metadata });
    return { ...stored, model };
  }

  async searchText(
    caller: VectorCaller,
    database: string | undefined,
    input: {
      query: string;
      k: number;
      filter: Record<string, unknown> | undefined;
      model: string | null | undefined;
    },
  ): Promise<VectorMatch[]> {
    this.#deps.backends.resolve(database);
    checkFilter(input.filter);
    const { vector } = await this.#embed(caller, input.model, input.query);
    return this.search(caller.userId, database, { query: vector, k: input.k, filter: input.filter });
  }

  async #embed(caller: VectorCaller, model: string | null | undefined, text: string) {
    const result = await this.#deps.llm.embed(model, [text], {
      key: caller.llmKey,
      ...(caller.requestId === undefined ? {} : { requestId: caller.requestId }),
      ...(caller.signal === undefined ? {} : { signal: caller.signal }),
    });
    const vector = result.embeddings[0];
    if (!vector || vector.length === 0)
      throw new AppError(`Model '${result.model}' returned no embedding`, {
        status: 502,
        code: 'llm_bad_response',
      });
    return { vector, model: result.model };
  }
}
