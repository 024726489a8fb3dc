// Indexing a user's file in the background: its text extracted, cut into overlapping chunks, embedded in batches
// through the LLM service (counted against the owner's LLM_MAX_CONCURRENT_PER_USER like their chats) and stored in
// their documents collection. The file's row carries the state (pending → indexing → ready | failed + reason) and
// the chunks stored so far, updated after each batch. One file at a time per instance; an instance takes a file by
// a conditional update (claim), so two never index the same one. A shutdown puts the file back to pending, and a
// killed instance's file is taken over once its row has not moved for STALE_MS: chunk ids are stable, so the work
// resumes after the last stored batch.
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../platform/errors.js';
import type { LlmService } from '../llm/index.js';
import { storableVectorProblem, type ResolvedBackend, type VectorMetrics } from '../vectors/index.js';
import type { DocumentsConfig } from '../../config/files-config.js';
import { chunkText, type Chunk } from './chunking.js';
import type { DocumentFile, DocumentFiles } from './document-files.port.js';
import { chunkPointId, documentsCollection, type ChunkMetadata } from './documents-collection.js';
import { extractTextIsolated } from './isolated-extraction.js';

/** An indexing row untouched this long belongs to an instance that stopped: another may take it over. */
export const STALE_MS = 120_000;

export interface IndexerLogger {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface DocumentIndexerDeps {
  files: DocumentFiles;
  target: ResolvedBackend;
  metrics: VectorMetrics;
  llm: Pick<LlmService, 'embed'>;
  settings: DocumentsConfig;
  clock: Clock;
  log: IndexerLogger;
  /** How often stale and other instances' pending files are looked for (tests shorten it). */
  sweepMs?: number;
}

class Stopped extends Error {
  constructor(readonly why: 'shutdown' | 'deleted' | 'restart') {
    super(why);
  }
}

export class DocumentIndexer {
  readonly #deps: DocumentIndexerDeps;
  readonly #queue: string[] = [];
  #current: { id: string; controller: AbortController } | undefined;
  #running: Promise<void> | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(deps: DocumentIndexerDeps) {
    this.#deps = deps;
  }

  /** Resumes what earlier runs left pending or indexing, and looks again every sweepMs. */
  async start(): Promise<void> {
    await this.#resume();
    this.#sweep = setInterval(
      () => {
        this.#resume().catch((error: unknown) =>
          this.#deps.log.error({ err: error }, 'document index sweep failed'),
        );
      },
      this.#deps.sweepMs ?? STALE_MS / 2,
    );
    this.#sweep.unref();
  }

  /**
   * Marks the file pending (from the start: its earlier chunks are replaced) and queues it. A file being indexed
   * right now is stopped and indexed again from the start once stopped.
   */
  async enqueue(fileId: string): Promise<void> {
    await this.#deps.files.setIndexState(fileId, {
      status: 'pending',
      error: null,
      progress: 0,
      chunks: null,
    });
    if (this.#current?.id === fileId) this.#current.controller.abort(new Stopped('restart'));
    else this.#schedule(fileId);
  }

  /** The file was deleted: stop indexing it, and delete its chunks. */
  async forget(file: Pick<DocumentFile, 'id' | 'ownerId'>): Promise<void> {
    const queued = this.#queue.indexOf(file.id);
    if (queued >= 0) this.#queue.splice(queued, 1);
    if (this.#current?.id === file.id) this.#current.controller.abort(new Stopped('deleted'));
    await this.#deleteChunks(file.ownerId, file.id);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#queue.length = 0;
    this.#current?.controller.abort(new Stopped('shutdown'));
    await this.#running;
  }

  async #resume(): Promise<void> {
    for (const id of await this.#deps.files.idsByIndexStatus(['pending', 'indexing'])) this.#schedule(id);
  }

  #schedule(fileId: string): void {
    if (this.#closed || this.#queue.includes(fileId) || this.#current?.id === fileId) return;
    this.#queue.push(fileId);
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
  }

  async #drain(): Promise<void> {
    for (let id = this.#queue.shift(); id !== undefined && !this.#closed; id = this.#queue.shift()) {
      try {
        await this.#index(id);
      } catch (error) {
        // Only the state's own writes can land here (the database away): the sweep tries the file again.
        this.#deps.log.error({ err: error, fileId: id }, 'document indexing could not record its state');
      }
    }
  }

  async #index(id: string): Promise<void> {
    const { files, clock } = this.#deps;
    if (!(await files.claim(id, new Date(clock.now().getTime() - STALE_MS)))) return;
    const file = await files.find(id);
    if (!file) return;
    const controller = new AbortController();
    this.#current = { id, controller };
    try {
      const chunks = await this.#chunksOf(file, controller.signal);
      await this.#store(file, chunks, controller.signal);
      controller.signal.throwIfAborted();
      await files.setIndexState(id, {
        status: 'ready',
        error: null,
        progress: chunks.length,
        chunks: chunks.length,
      });
      this.#deps.log.info({ fileId: id, chunks: chunks.length }, 'document indexed');
    } catch (error) {
      const stopped =
        error instanceof Stopped
          ? error
          : controller.signal.aborted
            ? (controller.signal.reason as unknown)
            : undefined;
      if (stopped instanceof Stopped && stopped.why === 'shutdown') {
        // Resumed by the next start (of this instance or another) from the last stored batch.
        await files.setIndexState(id, { status: 'pending' });
      } else if (stopped instanceof Stopped && stopped.why === 'restart') {
        // enqueue() has marked it pending from the start: the drain this runs in takes it again.
        this.#queue.unshift(id);
      } else if (stopped instanceof Stopped) {
        await this.#deleteChunks(file.ownerId, id);
      } else {
        if (!(error instanceof AppError))
          this.#deps.log.error({ err: error, fileId: id }, 'document indexing failed');
        const reason = error instanceof AppError ? error.message : 'The server could not index this file';
        await files.setIndexState(id, { status: 'failed', error: reason });
      }
    } finally {
      this.#current = undefined;
    }
  }

  async #chunksOf(file: DocumentFile, signal: AbortSignal): Promise<Chunk[]> {
    const { settings } = this.#deps;
    const text = await extractTextIsolated(
      this.#deps.files.pathOf(file),
      file.mediaType,
      settings.maxChars,
      signal,
    );
    const chunks = chunkText(text, settings.chunkChars, settings.overlapChars);
    if (chunks.length === 0)
      throw new AppError('The file has no text to index (a scanned PDF has no text layer)', {
        status: 422,
        code: 'no_text',
      });
    return chunks;
  }

  async #store(file: DocumentFile, chunks: Chunk[], signal: AbortSignal): Promise<void> {
    const { files, llm, settings, target, metrics } = this.#deps;
    const collection = documentsCollection(file.ownerId);
    // A resumed indexing starts after its last stored batch; a new one first clears an earlier indexing's chunks.
    let done = file.indexProgress > 0 && file.indexProgress < chunks.length ? file.indexProgress : 0;
    if (done === 0) await this.#deleteChunks(file.ownerId, file.id);
    await files.setIndexState(file.id, { chunks: chunks.length, progress: done });
    while (done < chunks.length) {
      signal.throwIfAborted();
      const batch = chunks.slice(done, done + settings.embedBatch);
      const { embeddings } = await llm.embed(
        null,
        batch.map((chunk) => chunk.text),
        { key: `user:${file.ownerId}`, signal },
      );
      if (embeddings.length !== batch.length)
        throw new AppError(
          `The embedding model returned ${embeddings.length} vectors for ${batch.length} texts`,
          {
            status: 502,
            code: 'llm_bad_response',
          },
        );
      // A model's vector that float32 cannot compare (all zeros, overflowing) would rank first in every search.
      const problem = embeddings.map(storableVectorProblem).find((found) => found !== null);
      if (problem)
        throw new AppError(`The embedding model returned a vector that ${problem}`, {
          status: 502,
          code: 'llm_bad_response',
        });
      const points = batch.map((chunk, i) => ({
        id: chunkPointId(file.id, chunk.index),
        vector: embeddings[i] ?? [],
        metadata: {
          file_id: file.id,
          chunk: chunk.index,
          start: chunk.start,
          end: chunk.end,
          text: chunk.text,
        } satisfies ChunkMetadata,
      }));
      await metrics.observe('upsert', target.backend, () => target.index.upsert(collection, points));
      signal.throwIfAborted();
      done += batch.length;
      // Deleted meanwhile (by a request to another instance, say): its chunks go too.
      if (!(await files.setIndexState(file.id, { progress: done }))) throw new Stopped('deleted');
    }
  }

  async #deleteChunks(ownerId: number, fileId: string): Promise<void> {
    const { target, metrics } = this.#deps;
    await metrics.observe('delete', target.backend, () =>
      target.index.deleteWhere(documentsCollection(ownerId), { file_id: fileId }),
    );
  }
}
