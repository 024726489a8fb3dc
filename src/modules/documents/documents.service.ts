// The rules around a file's index: what may be indexed, by whom, and what happens when a file comes and goes. A new
// upload of an indexable type is indexed at once; any file of the caller's may be indexed again (after a failure,
// or a change of embedding model); a deleted file's chunks are deleted.
import { NotFoundError } from '../../platform/errors.js';
import type { DocumentFile, DocumentFiles } from './document-files.port.js';
import type { DocumentIndexer } from './document-indexer.js';
import { NotIndexableError, isIndexable } from './text-extraction.js';

export class DocumentsService {
  readonly #files: DocumentFiles;
  readonly #indexer: Pick<DocumentIndexer, 'enqueue' | 'forget'>;

  constructor(deps: { files: DocumentFiles; indexer: Pick<DocumentIndexer, 'enqueue' | 'forget'> }) {
    this.#files = deps.files;
    this.#indexer = deps.indexer;
  }

  /** The caller's file and its index state; 404 when it is not theirs. */
  async state(ownerId: number, fileId: string): Promise<DocumentFile> {
    const file = await this.#files.findOwned(ownerId, fileId);
    if (!file) throw new NotFoundError('File not found', 'file_not_found');
    return file;
  }

  /** Indexes the caller's file (again): 404 when it is not theirs, 415 when its type has no text to extract. */
  async reindex(ownerId: number, fileId: string): Promise<DocumentFile> {
    const file = await this.state(ownerId, fileId);
    if (!isIndexable(file.mediaType)) throw new NotIndexableError(file.mediaType);
    await this.#indexer.enqueue(file.id);
    return this.state(ownerId, fileId);
  }

  /** A file was uploaded: indexed when its type can be. */
  async uploaded(file: Pick<DocumentFile, 'id' | 'mediaType'>): Promise<void> {
    if (isIndexable(file.mediaType)) await this.#indexer.enqueue(file.id);
  }

  /** A file was deleted: its indexing stops and its chunks go. */
  async deleted(file: Pick<DocumentFile, 'id' | 'ownerId'>): Promise<void> {
    await this.#indexer.forget(file);
  }
}
