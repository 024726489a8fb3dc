// What the documents module needs of the files module: the files and their indexing state. The plugin adapts the
// files module's service to it, so indexing and retrieval can be read without the files module's internals.
export type IndexStatus = 'pending' | 'indexing' | 'ready' | 'failed';

export interface DocumentFile {
  id: string;
  ownerId: number;
  name: string;
  mediaType: string;
  indexStatus: IndexStatus | null;
  indexError: string | null;
  /** Chunks stored so far (a resumed indexing skips them: chunk ids are stable). */
  indexProgress: number;
  /** Chunks of the file, once its text was read. */
  indexChunks: number | null;
}

export interface IndexStatePatch {
  status?: IndexStatus | null;
  error?: string | null;
  progress?: number;
  chunks?: number | null;
}

export interface DocumentFiles {
  /** The file, whoever owns it (the indexer's own lookups); undefined when it is gone. */
  find(id: string): Promise<DocumentFile | undefined>;
  /** The caller's file; undefined when it is not theirs or gone. */
  findOwned(ownerId: number, id: string): Promise<DocumentFile | undefined>;
  /** Absolute path of the file's bytes. */
  pathOf(file: DocumentFile): string;
  /** Also marks the row as touched (see claim); false when the file is gone. */
  setIndexState(id: string, patch: IndexStatePatch): Promise<boolean>;
  /**
   * Takes the file for indexing on this instance: true when it was pending, or indexing but not touched since
   * `staleBefore` (its instance stopped). Two instances never both get true.
   */
  claim(id: string, staleBefore: Date): Promise<boolean>;
  /** Ids of files in these states (indexing resumes them at start). */
  idsByIndexStatus(statuses: IndexStatus[]): Promise<string[]>;
  /** The user's files whose index is ready. */
  listReady(ownerId: number): Promise<DocumentFile[]>;
}
