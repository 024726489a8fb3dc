// The uploads in progress, per user, in this process: at most FILES_MAX_CONCURRENT_UPLOADS at a time (a further
// one is refused before its body is read), and the bytes each has received so far, which count against the owner's
// quota while it streams (upload-intake.ts), so that parallel uploads cannot together put more than the quota on
// disk before any of them is stored. The database check at store time stays the authority across processes.
import { tooManyUploads } from './files.errors.js';

interface OwnerUploads {
  slots: Set<UploadSlot>;
  /** Uploads of the owner inside their store transaction: a read of the totals now may or may not see them. */
  storing: number;
  /** Bumped when one begins or ends storing. */
  version: number;
  /** Called at the next bump. */
  waiters: (() => void)[];
}

/** One upload in progress: held from before the body is read until the upload has ended, however it ends. */
export class UploadSlot {
  /** Bytes of the file received so far (on disk in .incoming until it is stored or removed). */
  bytes = 0;
  /**
   * Bytes the owner's other uploads stored (in this process) since this one read the owner's stored total: they are
   * not in that total, and no longer count as in flight.
   */
  storedMeanwhile = 0;
  #storing = false;
  #released = false;

  constructor(
    readonly ownerId: number,
    private readonly uploads: OwnerUploads,
    /** Called when the owner's last upload is released. */
    private readonly forget: () => void,
  ) {}

  /** Bytes the owner's other uploads in progress have received. */
  othersInFlight(): number {
    let bytes = 0;
    for (const slot of this.uploads.slots) if (slot !== this) bytes += slot.bytes;
    return bytes;
  }

  /**
   * The owner's stored bytes as `read` reports them, read when no upload of theirs is being stored (waiting for it to
   * end), and again should one begin or end meanwhile: so that each stored file is counted once, either in the total
   * or, stored later, in storedMeanwhile.
   */
  async storedTotal(read: () => Promise<number>): Promise<number> {
    const uploads = this.uploads;
    for (;;) {
      if (uploads.storing > 0) {
        await new Promise<void>((resolve) => uploads.waiters.push(resolve));
        continue;
      }
      const version = uploads.version;
      this.storedMeanwhile = 0;
      const bytes = await read();
      if (uploads.version === version) return bytes;
    }
  }

  /** Call before the file is recorded (its transaction begins). */
  beginStoring(): void {
    if (this.#storing || this.#released) return;
    this.#storing = true;
    this.uploads.storing += 1;
    this.#bump();
  }

  /** Frees the slot; `storedBytes` once the upload was stored (committed). Idempotent. */
  release(storedBytes?: number): void {
    if (this.#released) return;
    this.#released = true;
    const uploads = this.uploads;
    uploads.slots.delete(this);
    // Stored: its bytes move from "in flight" to "used" for the uploads that read "used" before it was stored.
    if (storedBytes !== undefined && storedBytes > 0)
      for (const other of uploads.slots) other.storedMeanwhile += storedBytes;
    if (this.#storing) {
      this.#storing = false;
      uploads.storing -= 1;
      this.#bump();
    }
    // No waiter is left behind: only an upload's own read waits, and it holds its slot meanwhile.
    if (uploads.slots.size === 0) this.forget();
  }

  #bump(): void {
    const uploads = this.uploads;
    uploads.version += 1;
    const waiters = uploads.waiters.splice(0);
    for (const wake of waiters) wake();
  }
}

export class UploadSlots {
  readonly #byOwner = new Map<number, OwnerUploads>();

  constructor(readonly maxPerUser: number) {}

  /** A slot for a new upload of `ownerId`; throws 429 too_many_uploads when the user already has the maximum. */
  acquire(ownerId: number): UploadSlot {
    let uploads = this.#byOwner.get(ownerId);
    if (uploads && uploads.slots.size >= this.maxPerUser) throw tooManyUploads(this.maxPerUser);
    if (!uploads) {
      uploads = { slots: new Set(), storing: 0, version: 0, waiters: [] };
      this.#byOwner.set(ownerId, uploads);
    }
    const owner = uploads;
    const slot = new UploadSlot(ownerId, owner, () => {
      if (this.#byOwner.get(ownerId) === owner) this.#byOwner.delete(ownerId);
    });
    owner.slots.add(slot);
    return slot;
  }

  /** Uploads of `ownerId` in progress, now. */
  active(ownerId: number): number {
    return this.#byOwner.get(ownerId)?.slots.size ?? 0;
  }
}
