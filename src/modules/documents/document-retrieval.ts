// The passages of a user's files for a chat question: the question embedded, the nearest chunks of the asked files
// (or of every ready file) found in the user's documents collection, the best ones kept within
// DOCUMENTS_CONTEXT_CHARS, and handed to the model as a system message that numbers them for citation.
import { AppError, ConflictError, NotFoundError } from '../../platform/errors.js';
import type { LlmService } from '../llm/index.js';
import {
  DimensionMismatchError,
  type ResolvedBackend,
  type VectorMatch,
  type VectorMetrics,
} from '../vectors/index.js';
import type { ChatSource, FileSelection } from '../chat/index.js';
import type { DocumentsConfig } from '../../config/files-config.js';
import type { DocumentFile, DocumentFiles } from './document-files.port.js';
import { documentsCollection, type ChunkMetadata } from './documents-collection.js';

const EXCERPT_CHARS = 300;

export interface DocumentRetrievalDeps {
  files: DocumentFiles;
  target: ResolvedBackend;
  metrics: VectorMetrics;
  llm: Pick<LlmService, 'embed'>;
  settings: DocumentsConfig;
}

function excerptOf(text: string): string {
  const chars = [...text.trim()];
  return chars.length <= EXCERPT_CHARS ? chars.join('') : `${chars.slice(0, EXCERPT_CHARS - 1).join('')}…`;
}

function isChunk(metadata: Record<string, unknown>): metadata is Record<string, unknown> & ChunkMetadata {
  return (
    typeof metadata.file_id === 'string' &&
    typeof metadata.chunk === 'number' &&
    typeof metadata.text === 'string'
  );
}

export class DocumentRetrieval {
  readonly #deps: DocumentRetrievalDeps;

  constructor(deps: DocumentRetrievalDeps) {
    this.#deps = deps;
  }

  async retrieve(
    userId: number,
    selection: FileSelection,
    question: string,
    call: { key: string; requestId?: string; signal: AbortSignal },
  ): Promise<{ instructions: string; sources: ChatSource[] }> {
    const files = await this.#filesOf(userId, selection);
    const { llm, settings } = this.#deps;
    const { embeddings } = await llm.embed(null, [question], call);
    const vector = embeddings[0];
    if (!vector || vector.length === 0)
      throw new AppError('The embedding model returned no vector for the question', {
        status: 502,
        code: 'llm_bad_response',
      });
    const matches = await this.#nearest(userId, vector, files, 'fileIds' in selection);
    const sources: ChatSource[] = [];
    const passages: string[] = [];
    let chars = 0;
    for (const match of matches) {
      const metadata = match.metadata;
      const file = files.get(metadata.file_id);
      if (!file) continue;
      if (chars + metadata.text.length > settings.contextChars) break;
      chars += metadata.text.length;
      sources.push({
        file_id: file.id,
        name: file.name,
        chunk: metadata.chunk,
        score: match.score,
        excerpt: excerptOf(metadata.text),
      });
      passages.push(`[${sources.length}] ${file.name} (part ${metadata.chunk + 1}):\n${metadata.text}`);
    }
    const instructions =
      'Answer with the help of these passages from the user’s files. Cite each passage you use by its number in ' +
      'square brackets, like [1]. If they do not hold the answer, say so.\n\n' +
      passages.join('\n\n');
    return { instructions, sources };
  }

  async #filesOf(userId: number, selection: FileSelection): Promise<Map<string, DocumentFile>> {
    const { files } = this.#deps;
    if (!('fileIds' in selection)) {
      const ready = await files.listReady(userId);
      if (ready.length === 0)
        throw new ConflictError(
          'You have no indexed files to chat over: upload one and wait until it is ready',
          'no_ready_files',
        );
      return new Map(ready.map((file) => [file.id, file]));
    }
    const found = new Map<string, DocumentFile>();
    for (const id of selection.fileIds) {
      const file = await files.findOwned(userId, id);
      if (!file) throw new NotFoundError(`File ${id} not found`, 'file_not_found');
      if (file.indexStatus !== 'ready')
        throw new ConflictError(
          `File ${file.name} is not ready to chat over (its index is ${file.indexStatus ?? 'not built'})`,
          'file_not_ready',
        );
      found.set(file.id, file);
    }
    return found;
  }

  /** The best chunks of these files, best first. */
  async #nearest(
    userId: number,
    vector: number[],
    files: Map<string, DocumentFile>,
    named: boolean,
  ): Promise<(VectorMatch & { metadata: ChunkMetadata })[]> {
    const { target, metrics, settings } = this.#deps;
    const collection = documentsCollection(userId);
    const search = (k: number, filter?: Record<string, unknown>) =>
      metrics.observe('search', target.backend, () => target.index.search(collection, vector, k, filter));
    let found: VectorMatch[];
    try {
      found = named
        ? (await Promise.all([...files.keys()].map((id) => search(settings.topK, { file_id: id })))).flat()
        : // Chunks of files still indexing share the collection: ask for more, keep the ready files' ones.
          await search(Math.min(100, settings.topK * 4));
    } catch (error) {
      if (error instanceof DimensionMismatchError)
        throw new ConflictError(
          'Your files were indexed with another embedding model than the one configured now: index them again',
          'reindex_needed',
        );
      throw error;
    }
    return found
      .filter((match): match is VectorMatch & { metadata: ChunkMetadata } => isChunk(match.metadata))
      .filter((match) => files.has(match.metadata.file_id))
      .sort((a, b) => b.score - a.score)
      .slice(0, settings.topK);
  }
}
