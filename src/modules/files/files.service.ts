// Uploaded files (issue 15): upload (the intake, upload-intake.ts, streams, checks and stores; any failure leaves
// neither a file nor a row), the owner's list, download, delete, and what the document indexing needs (listeners,
// the index_* state). A file is the caller's own or does not exist for it: ids and names are looked up among the
// caller's files only.
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { BaseLogger } from 'pino';
import type { Clock } from '../../lib/clock.js';
import { cleanUserText } from '../../lib/user-text.js';
import { AppError, BadRequestError } from '../../platform/errors.js';
import type { FileIndexStatus } from '../../platform/db/schema.js';
import type { CursorCodec } from '../../platform/pagination.js';
import { FileStore } from './file-store.js';
import { MAX_NAME_CHARS, fileNotFound, missingFile } from './files.errors.js';
import type { FilesMetrics, UploadOutcome } from './files.metrics.js';
import type { FileRecord, FilesRepository, IndexStatePatch } from './files.repository.js';
import type { Received, UploadIntake, UploadPart } from './upload-intake.js';
import type { UploadSlot, UploadSlots } from './upload-slots.js';

export type { FileRecord, UploadPart };

export interface FilesServiceDeps {
  files: FilesRepository;
  intake: UploadIntake;
  /** The uploads in progress, per owner (the concurrency cap, and the bytes in flight the quota counts). */
  uploads: UploadSlots;
  store: FileStore;
  cursors: CursorCodec;
  clock: Clock;
  metrics: FilesMetrics;
  logger: Pick<BaseLogger, 'warn' | 'error'>;
}

export interface FilePage {
  items: FileRecord[];
  /** The owner's file count and total bytes. */
  total: number;
  totalBytes: number;
  nextCursor: string | null;
}

export type FileListener = (file: FileRecord) => Promise<void> | void;
/** Called after a file's row is deleted (the indexer removes its vectors). */
export type DeletedListener = FileListener;
/** Called after a file is stored (the indexer queues it). */
export type UploadedListener = FileListener;

/** Temporary and orphaned files untouched for this long are a crash's leftovers (not another instance's upload). */
export const STALE_AFTER_MS = 60 * 60 * 1000;

function outcomeOf(error: unknown): UploadOutcome {
  if (!(error instanceof AppError)) return 'error';
  switch (error.code) {
    case 'file_too_large':
      return 'too_large';
    case 'quota_exceeded':
      return 'quota_exceeded';
    case 'unsupported_file_type':
      return 'unsupported_type';
    case 'upload_aborted':
      return 'aborted';
    case 'upload_timeout':
      return 'timed_out';
    case 'too_many_uploads':
      return 'too_many';
    default:
      return error.status < 500 ? 'invalid' : 'error';
  }
}

export class FilesService {
  readonly #deleted = new Set<DeletedListener>();
  readonly #uploaded = new Set<UploadedListener>();

  constructor(private readonly deps: FilesServiceDeps) {}

  /** Creates the folders and removes what a crash left behind. */
  async start(): Promise<void> {
    await this.deps.store.prepare();
    await this.sweep();
  }

  /** Removes temporary files and id-named files without a row, untouched for STALE_AFTER_MS. */
  async sweep(): Promise<number> {
    const { store, files, clock } = this.deps;
    const before = new Date(clock.now().getTime() - STALE_AFTER_MS);
    const stale = await store.staleIncoming(before);
    const stored = await store.storedIdsOlderThan(before);
    for (let at = 0; at < stored.length; at += 500) {
      const batch = stored.slice(at, at + 500);
      const known = await files.existingIds(batch);
      stale.push(...batch.filter((id) => !known.has(id)).map((id) => store.pathOf(id)));
    }
    await Promise.all(stale.map((file) => store.remove(file)));
    return stale.length;
  }

  /**
   * Takes one of the owner's upload slots before reading `parts` (429 too_many_uploads when they have none left) and
   * gives it back however the upload ends.
   */
  async upload(ownerId: number, parts: AsyncIterable<UploadPart>): Promise<FileRecord> {
    const { intake, uploads } = this.deps;
    let received: Received | undefined;
    let slot: UploadSlot | undefined;
    try {
      slot = uploads.acquire(ownerId);
      for await (const part of parts) {
        if (part.kind === 'field') continue;
        if (received) throw new BadRequestError('Send one file per upload', 'too_many_files');
        if (part.field !== 'file') throw missingFile();
        received = await intake.receive(ownerId, part, slot);
      }
      if (!received) throw missingFile();
      // From here until released, a read of the owner's totals may or may not see this file (upload-slots.ts).
      slot.beginStoring();
      const stored = await intake.store(ownerId, received);
      slot.release(stored.size);
      this.deps.metrics.upload('success', stored.size);
      if (this.#uploaded.size === 0) return stored;
      await this.#tell(this.#uploaded, stored, 'a file-uploaded listener failed');
      // As the listeners left it (the indexer marks it pending).
      return (await this.deps.files.find(ownerId, stored.id)) ?? stored;
    } catch (error) {
      if (received) await intake.discard(received);
      this.deps.metrics.upload(outcomeOf(error));
      throw error;
    } finally {
      // After the temporary file is gone: until then its bytes are on disk, and count as in flight.
      slot?.release();
    }
  }

  async list(ownerId: number, page: { limit: number; skip: number; cursor?: string }): Promise<FilePage> {
    const { files, cursors } = this.deps;
    const scope = `files:${ownerId}`;
    const after = page.cursor === undefined ? undefined : cursors.decode(page.cursor, scope);
    const [rows, totals] = await Promise.all([
      files.list(ownerId, {
        // One more than asked tells whether there is a next page.
        limit: page.limit + 1,
        ...(after === undefined
          ? { skip: page.skip }
          : { after: { createdAt: new Date(after.ts ?? 0), id: String(after.id) } }),
      }),
      files.totals(ownerId),
    ]);
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return {
      items,
      total: totals.count,
      totalBytes: totals.bytes,
      nextCursor:
        rows.length > page.limit && last
          ? cursors.encode({ id: last.id, ts: last.createdAt.toISOString() }, scope)
          : null,
    };
  }

  /** One of the owner's files by id (404 for another user's, as for a missing one). */
  async get(ownerId: number, id: string): Promise<FileRecord> {
    const file = FileStore.isId(id) ? await this.deps.files.find(ownerId, id) : undefined;
    if (!file) throw fileNotFound();
    return file;
  }

  /**
   * One of the owner's files by id, or else by name (the original's paths named files): the newest of the owner's
   * files of exactly that name. A name is only ever compared, never used as a path.
   */
  async resolve(ownerId: number, ref: string): Promise<FileRecord> {
    const { files } = this.deps;
    const byId = FileStore.isId(ref) ? await files.find(ownerId, ref) : undefined;
    if (byId) return byId;
    // A name with characters no stored name has (a NUL, which PostgreSQL could not even compare) finds nothing.
    const possible = ref !== '' && cleanUserText(ref) === ref && [...ref].length <= MAX_NAME_CHARS;
    const byName = possible ? await files.findByName(ownerId, ref) : undefined;
    if (!byName) throw fileNotFound();
    return byName;
  }

  /** The absolute path of a file's content. */
  pathOf(file: Pick<FileRecord, 'id'>): string {
    return this.deps.store.pathOf(file.id);
  }

  /** The file's bytes from `start` to `end` (inclusive), or all of them. */
  async open(file: FileRecord, range?: { start: number; end: number }): Promise<Readable> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.pathOf(file), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.deps.logger.error({ fileId: file.id }, 'a recorded file is missing from the files folder');
      throw fileNotFound();
    }
    try {
      const { size } = await handle.stat();
      if (size !== file.size)
        throw new Error(`file ${file.id} has ${size} bytes on disk, ${file.size} recorded`);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  /** Deletes the row, then the content, then tells the listeners (their errors are logged, not raised). */
  async delete(ownerId: number, ref: string): Promise<FileRecord> {
    const { files, store } = this.deps;
    const file = await this.resolve(ownerId, ref);
    const deleted = await files.delete(ownerId, file.id);
    // A concurrent delete got there first.
    if (!deleted) throw fileNotFound();
    await store.remove(this.pathOf(deleted));
    await this.#tell(this.#deleted, deleted, 'a file-deleted listener failed');
    return deleted;
  }

  /** Calls `listener` after each file's row is deleted; returns a function that unregisters it. */
  onDeleted(listener: DeletedListener): () => void {
    this.#deleted.add(listener);
    return () => this.#deleted.delete(listener);
  }

  /** Calls `listener` after each upload is stored, before it is answered; returns a function that unregisters it. */
  onUploaded(listener: UploadedListener): () => void {
    this.#uploaded.add(listener);
    return () => this.#uploaded.delete(listener);
  }

  /** Calls every listener; their errors are logged, never raised (the file is stored or deleted either way). */
  async #tell(listeners: Set<FileListener>, file: FileRecord, message: string): Promise<void> {
    const results = await Promise.allSettled([...listeners].map(async (listener) => listener(file)));
    for (const result of results) {
      if (result.status === 'rejected')
        this.deps.logger.error({ err: result.reason as unknown, fileId: file.id }, message);
    }
  }

  /** A file by id whoever owns it, for the indexer (never for a request); undefined when it is gone. */
  find(id: string): Promise<FileRecord | undefined> {
    return FileStore.isId(id) ? this.deps.files.findAny(id) : Promise.resolve(undefined);
  }

  /**
   * Takes the file for indexing: true when it was 'pending', or 'indexing' but untouched since `staleBefore`; it is
   * then 'indexing'. Of concurrent claimers (several instances), only one gets true.
   */
  claimForIndexing(id: string, staleBefore: Date): Promise<boolean> {
    return this.deps.files.claimForIndexing(id, staleBefore, this.deps.clock.now());
  }

  /** The owner's files whose index is ready, newest first. */
  listReady(ownerId: number): Promise<FileRecord[]> {
    return this.deps.files.listReadyOf(ownerId);
  }

  /** Records the indexer's progress; undefined when the file is gone. */
  setIndexState(id: string, patch: Omit<IndexStatePatch, 'updatedAt'>): Promise<FileRecord | undefined> {
    return this.deps.files.setIndexState(id, { ...patch, updatedAt: this.deps.clock.now() });
  }

  /** Every file (of every owner) in one of `statuses`: what to resume after a restart. */
  listByIndexStatus(statuses: readonly FileIndexStatus[]): Promise<FileRecord[]> {
    return this.deps.files.listByIndexStatus(statuses);
  }
}
