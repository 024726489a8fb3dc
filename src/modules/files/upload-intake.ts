// The intake of one upload: the file streams to <dir>/.incoming/<id> while it is hashed, counted against the size
// limit and the quota left, and inspected (content-inspection.ts); its type is then detected from the content
// (media-type.ts); only then is it renamed to <dir>/<id> and recorded, in one transaction that checks the quota
// again under the owner's lock, so that concurrent uploads cannot together pass it. While it streams, the bytes the
// owner's other uploads in progress have received count against the quota too (upload-slots.ts).
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../../lib/clock.js';
import { cleanUserText } from '../../lib/user-text.js';
import type { Transact } from '../../platform/db/transactions.js';
import { AppError, UnauthorizedError } from '../../platform/errors.js';
import { ContentInspector, type Inspection } from './content-inspection.js';
import type { FileStore } from './file-store.js';
import {
  MAX_NAME_CHARS,
  fileFieldIssue,
  fileTooLarge,
  quotaExceeded,
  typeNotAllowed,
  uploadAborted,
} from './files.errors.js';
import type { FileRecord, FilesRepository } from './files.repository.js';
import { ALWAYS_REFUSED, detectMediaType } from './media-type.js';
import type { UploadSlot } from './upload-slots.js';

/** One part of a multipart body, as the route hands it over. */
export type UploadPart =
  | { kind: 'field'; name: string }
  | {
      kind: 'file';
      field: string;
      filename: string | undefined;
      stream: Readable;
      /** Whether the parser cut the file short at its size limit. */
      truncated: () => boolean;
    };

export interface UploadSettings {
  maxBytes: number;
  /** 0: no quota. */
  quotaBytes: number;
  allowedTypes: readonly string[];
}

export interface UploadIntakeDeps {
  files: FilesRepository;
  transact: Transact;
  store: FileStore;
  clock: Clock;
  settings: UploadSettings;
}

/** A file received into its temporary place, not yet stored. */
export interface Received {
  id: string;
  name: string;
  tempPath: string;
  size: number;
  sha256: string;
  inspection: Inspection;
}

/** The client's name as stored: control characters and lone surrogates cleaned (user-text.ts), nothing else. */
function storedName(filename: string | undefined): string {
  const name = cleanUserText(filename ?? '');
  if (name.trim() === '') throw fileFieldIssue('The file has no name', 'value_error');
  if ([...name].length > MAX_NAME_CHARS)
    throw fileFieldIssue(`The file name is longer than ${MAX_NAME_CHARS} characters`, 'string_too_long');
  return name;
}

/** Resolves once `stream` has closed its file descriptor. */
function closed(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed) resolve();
    else stream.once('close', () => resolve());
  });
}

export class UploadIntake {
  readonly #allowed: ReadonlySet<string>;

  constructor(private readonly deps: UploadIntakeDeps) {
    this.#allowed = new Set(deps.settings.allowedTypes.filter((type) => !ALWAYS_REFUSED.has(type)));
  }

  /**
   * Streams the part to a new temporary file, stopping as soon as it passes the size limit or the quota left: the
   * quota less the owner's stored bytes and the bytes their other uploads in progress (`slot`'s) have received.
   */
  async receive(
    ownerId: number,
    part: Extract<UploadPart, { kind: 'file' }>,
    slot: UploadSlot,
  ): Promise<Received> {
    const { store, files, settings } = this.deps;
    const name = storedName(part.filename);
    const used =
      settings.quotaBytes > 0 ? await slot.storedTotal(async () => (await files.totals(ownerId)).bytes) : 0;
    const id = randomUUID();
    const tempPath = store.incomingPathOf(id);
    const inspector = new ContentInspector({ checkJson: name.toLowerCase().endsWith('.json') });
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > settings.maxBytes) {
          slot.bytes = 0;
          return callback(fileTooLarge(settings.maxBytes));
        }
        if (settings.quotaBytes > 0) {
          const usedNow = used + slot.storedMeanwhile;
          const others = slot.othersInFlight();
          if (usedNow + others + size > settings.quotaBytes) {
            // Refused: its bytes are about to be removed, and must not refuse the owner's other uploads meanwhile.
            slot.bytes = 0;
            return callback(quotaExceeded(settings.quotaBytes, usedNow, others));
          }
        }
        // Counted before it is written: a parallel upload checking now sees it.
        slot.bytes = size;
        hash.update(chunk);
        inspector.push(chunk);
        callback(null, chunk);
      },
    });
    // flush: the content is on disk (fsync) before the stream closes, so a row never outlives its bytes in a crash.
    const writer = createWriteStream(tempPath, { flags: 'wx', mode: 0o600, flush: true });
    try {
      await pipeline(part.stream, meter, writer);
      await closed(writer);
      // The parser's own limit, should it have cut the file before the meter saw it pass.
      if (part.truncated()) throw fileTooLarge(settings.maxBytes);
    } catch (error) {
      // Closed first: a write stream destroyed while still opening creates the file when its open completes.
      await closed(writer);
      await store.remove(tempPath);
      // Our refusals, and the disk's errors (ENOSPC…), as they are; anything else is the client's body breaking off.
      // The part's stream destroyed with one of ours (too large, timed out) may surface as a premature close.
      if (part.stream.errored instanceof AppError) throw part.stream.errored;
      if (error instanceof AppError || (error as NodeJS.ErrnoException).syscall !== undefined) throw error;
      throw uploadAborted(error);
    }
    return { id, name, tempPath, size, sha256: hash.digest('hex'), inspection: inspector.finish() };
  }

  /** Detects the type, then renames and records the file under the owner's lock, checking the quota again. */
  async store(ownerId: number, received: Received): Promise<FileRecord> {
    const { files, transact, store, settings, clock } = this.deps;
    const mediaType = await detectMediaType(
      received.tempPath,
      received.name,
      received.inspection,
      this.#allowed,
    );
    if (!this.#allowed.has(mediaType)) throw typeNotAllowed(mediaType, [...this.#allowed]);
    const finalPath = store.pathOf(received.id);
    let renamed = false;
    try {
      return await transact(async (tx) => {
        if (!(await files.lockOwner(ownerId, tx)))
          throw new UnauthorizedError('User not found', 'user_not_found');
        if (settings.quotaBytes > 0) {
          const { bytes } = await files.totals(ownerId, tx);
          if (bytes + received.size > settings.quotaBytes) throw quotaExceeded(settings.quotaBytes, bytes);
        }
        const file = await files.insert(
          {
            id: received.id,
            ownerId,
            name: received.name,
            size: received.size,
            mediaType,
            sha256: received.sha256,
            createdAt: clock.now(),
          },
          tx,
        );
        // Inside the transaction: a failed rename rolls the row back; a failed commit removes the file below.
        await fs.rename(received.tempPath, finalPath);
        renamed = true;
        return file;
      });
    } catch (error) {
      if (renamed) await store.remove(finalPath);
      throw error;
    }
  }

  /** Removes a received file that will not be stored. */
  async discard(received: Received): Promise<void> {
    await this.deps.store.remove(received.tempPath);
  }
}
