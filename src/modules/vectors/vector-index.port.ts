// The vector index port (issue 15): one collection per user, points with stable ids, cosine similarity as `score`
// on every backend. The embedded adapter (sqlite-vec) is embedded-index.ts; Qdrant and Chroma adapters come next.
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
  /** The collection's dimension, fixed by its first vector; null before any. */
  dimension(collection: string): Promise<number | null>;
  close(): Promise<void>;
}
