// Where a user's file chunks live: a collection of their own on the documents backend (`user_<id>_documents`), not
// the /vectors collection, whose dimension the user fixes with their own vectors and whose points they may delete.
export function documentsCollection(userId: number): string {
  return `user_${userId}_documents`;
}

/** A chunk's point id: stable, so re-indexing replaces and a resumed indexing skips what is stored. */
export function chunkPointId(fileId: string, chunk: number): string {
  return `${fileId}:${chunk}`;
}

/** The metadata stored with a chunk's vector. */
export interface ChunkMetadata {
  file_id: string;
  chunk: number;
  start: number;
  end: number;
  text: string;
}
