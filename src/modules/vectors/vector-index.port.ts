// The vector index port: one collection per user, points with stable ids, cosine similarity as `score` on every
// backend. Adapters: embedded-index.ts (sqlite-vec), qdrant-index.ts, chroma-index.ts. An adapter whose server cannot
// be reached throws VectorBackendUnavailableError, never the backend's own error text.
export interface VectorPoint {
  id: string;
  vector: number[];
  metadata: Record<string, unknown>;
}

export interface VectorMatch {
  id: string;
  /** Cosine similarity, 1 for the same direction. */
  score: number;
  metadata: Record<string, unknown>;
}

export interface VectorIndex {
  /** Stores the points, replacing those with the same ids. A vector of another dimension than the collection's: 422. */
  upsert(collection: string, points: VectorPoint[]): Promise<void>;
  /** The `k` most similar points, best first; `filter` is exact match on metadata keys. */
  search(
    collection: string,
    vector: number[],
    k: number,
    filter?: Record<string, unknown>,
  ): Promise<VectorMatch[]>;
  /** True when the point was there. */
  delete(collection: string, id: string): Promise<boolean>;
  /** Deletes every point whose metadata matches `filter` exactly (at least one key); how many, when known. */
  deleteWhere(collection: string, filter: Record<string, unknown>): Promise<number | null>;
  /** The collection's dimension, fixed by its first vector; null before any. */
  dimension(collection: string): Promise<number | null>;
  /** Resolves when the backend answers; throws VectorBackendUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
