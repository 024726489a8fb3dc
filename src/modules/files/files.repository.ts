// SQL of the files table. Records come back with Dates and numbers whatever the dialect (PostgreSQL hands bigint
// and sums back as text). An owner's files are found by owner and id, or owner and name: never by id alone from a
// request, so that another user's file does not exist for the caller.
import type { Selectable } from 'kysely';
import type { FileIndexStatus, FilesTable } from '../../platform/db/schema.js';
import { Repository, type Tx } from '../../platform/db/transactions.js';
import { toDate } from '../../platform/db/values.js';

export interface FileRecord {
  id: string;
  ownerId: number;
  name: string;
  size: number;
  mediaType: string;
  sha256: string;
  createdAt: Date;
  indexStatus: FileIndexStatus | null;
  indexError: string | null;
  indexProgress: number;
  indexChunks: number | null;
  indexUpdatedAt: Date | null;
}

export type NewFile = Pick<
  FileRecord,
  'id' | 'ownerId' | 'name' | 'size' | 'mediaType' | 'sha256' | 'createdAt'
>;

/** What the indexer changes; absent fields stay as they are. */
export interface IndexStatePatch {
  status?: FileIndexStatus | null;
  error?: string | null;
  progress?: number;
  chunks?: number | null;
  updatedAt: Date;
}

/** A keyset position in an owner's list, newest first. */
export interface FilePosition {
  createdAt: Date;
  id: string;
}

function toRecord(row: Selectable<FilesTable>): FileRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    size: Number(row.size),
    mediaType: row.media_type,
    sha256: row.sha256,
    createdAt: toDate(row.created_at),
    indexStatus: row.index_status,
    indexError: row.index_error,
    indexProgress: row.index_progress,
    indexChunks: row.index_chunks,
    indexUpdatedAt: toDate(row.index_updated_at),
  };
}

export class FilesRepository extends Repository {
  async find(ownerId: number, id: string, tx?: Tx): Promise<FileRecord | undefined> {
    const row = await this.on(tx)
      .selectFrom('files')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** The owner's newest file of exactly this name. */
  async findByName(ownerId: number, name: string, tx?: Tx): Promise<FileRecord | undefined> {
    const row = await this.on(tx)
      .selectFrom('files')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('name', '=', name)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** A page of the owner's files, newest first: by offset, or after a keyset position. */
  async list(
    ownerId: number,
    page: { limit: number; skip?: number; after?: FilePosition },
    tx?: Tx,
  ): Promise<FileRecord[]> {
    let query = this.on(tx).selectFrom('files').selectAll().where('owner_id', '=', ownerId);
    const after = page.after;
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', after.createdAt),
          eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)]),
        ]),
      );
    }
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit)
      .offset(page.skip ?? 0)
      .execute();
    return rows.map(toRecord);
  }

  /** How many files the owner has, and their total size in bytes. */
  async totals(ownerId: number, tx?: Tx): Promise<{ count: number; bytes: number }> {
    const row = await this.on(tx)
      .selectFrom('files')
      .select((eb) => [
        eb.fn.countAll<number | string | bigint>().as('n'),
        eb.fn.sum<number | string | bigint | null>('size').as('bytes'),
      ])
      .where('owner_id', '=', ownerId)
      .executeTakeFirstOrThrow();
    return { count: Number(row.n), bytes: Number(row.bytes ?? 0) };
  }

  /**
   * Takes the owner's write lock until the end of `tx`: a write to the owner's users row that changes nothing. On
   * PostgreSQL it locks the row (a concurrent upload of the same user waits here); on SQLite the write takes the
   * database's write lock at once, so the sum read after it cannot be overtaken by another process's insert.
   * False when the user is gone.
   */
  async lockOwner(ownerId: number, tx: Tx): Promise<boolean> {
    const result = await this.on(tx)
      .updateTable('users')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('id', '=', ownerId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async insert(file: NewFile, tx?: Tx): Promise<FileRecord> {
    const row = await this.on(tx)
      .insertInto('files')
      .values({
        id: file.id,
        owner_id: file.ownerId,
        name: file.name,
        size: file.size,
        media_type: file.mediaType,
        sha256: file.sha256,
        created_at: file.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord(row);
  }

  /** The deleted file; undefined when it was not the owner's (or is gone already). */
  async delete(ownerId: number, id: string, tx?: Tx): Promise<FileRecord | undefined> {
    const row = await this.on(tx)
      .deleteFrom('files')
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** The file after the change; undefined when it is gone. */
  async setIndexState(id: string, patch: IndexStatePatch, tx?: Tx): Promise<FileRecord | undefined> {
    const row = await this.on(tx)
      .updateTable('files')
      .set({
        ...(patch.status === undefined ? {} : { index_status: patch.status }),
        ...(patch.error === undefined ? {} : { index_error: patch.error }),
        ...(patch.progress === undefined ? {} : { index_progress: patch.progress }),
        ...(patch.chunks === undefined ? {} : { index_chunks: patch.chunks }),
        index_updated_at: patch.updatedAt,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** A file by id, whoever owns it: for the indexer, never for a request. */
  async findAny(id: string, tx?: Tx): Promise<FileRecord | undefined> {
    const row = await this.on(tx).selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  /**
   * Moves the file to 'indexing' if it is 'pending', or 'indexing' but untouched since `staleBefore` (the instance
   * indexing it stopped). One conditional UPDATE: of concurrent claimers, one changes the row and the others find it
   * no longer matching (PostgreSQL re-reads the row after the first one's lock; SQLite runs one writer at a time).
   */
  async claimForIndexing(id: string, staleBefore: Date, now: Date, tx?: Tx): Promise<boolean> {
    const result = await this.on(tx)
      .updateTable('files')
      .set({ index_status: 'indexing', index_updated_at: now })
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          eb('index_status', '=', 'pending'),
          eb.and([eb('index_status', '=', 'indexing'), eb('index_updated_at', '<', staleBefore)]),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Every file (of any owner) whose index status is one of `statuses`, oldest first. */
  async listByIndexStatus(statuses: readonly FileIndexStatus[], tx?: Tx): Promise<FileRecord[]> {
    if (statuses.length === 0) return [];
    const rows = await this.on(tx)
      .selectFrom('files')
      .selectAll()
      .where('index_status', 'in', statuses)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toRecord);
  }

  /** The owner's files whose index is ready, newest first. */
  async listReadyOf(ownerId: number, tx?: Tx): Promise<FileRecord[]> {
    const rows = await this.on(tx)
      .selectFrom('files')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('index_status', '=', 'ready')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toRecord);
  }

  /** Which of `ids` have a row (of any owner). */
  async existingIds(ids: readonly string[], tx?: Tx): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.on(tx).selectFrom('files').select('id').where('id', 'in', ids).execute();
    return new Set(rows.map((row) => row.id));
  }
}
