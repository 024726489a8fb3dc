// The embedded vector index: sqlite-vec loaded into better-sqlite3, in an SQLite file of its own under DATA_DIR,
// whatever the main database is. Vectors are float32 in sqlite-vec's vec0 tables (embedded-index-schema.ts); a search
// is vec0's exact scan of the collection by cosine distance (exact, so no recall to lose), filtered by exact match on
// metadata keys (embedded-index-filter.ts). Score = 1 − cosine distance. bench/vectors-section.ts measures it
// (docs/benchmarks.md).
//
// better-sqlite3 is synchronous, and a search reads every vector of the collection (100k × 384 float32 is 150 MB,
// about 75 ms on the bench's 2-core machine): on the event loop it would stall every other request for all that
// time. So a file-backed index runs its operations in worker threads (embedded-search-worker.ts), each with its own
// connection, and only posts messages here. The first thread takes the writes and searches; a second one, started
// when a search finds the first busy, opens the file read-only and only searches (WAL: readers never wait for the
// writer; its first scan after a write maps the file again, see SCAN_MMAP_BYTES). This connection creates the tables, answers
// dimension() and ping(), and checks a search's dimension, so that errors are thrown here exactly as before. An
// in-memory index (':memory:') lives only in this connection, which no other thread can open, so it runs everything
// here, synchronously (tests use it).
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import {
  deleteMatching,
  deletePoint,
  dimensionOf,
  searchPoints,
  upsertPoints,
  type FloatPoint,
  type IndexOperation,
  type IndexReply,
  type IndexRequest,
  type IndexThreadData,
} from './embedded-index-sql.js';
import { filterCanMatch } from './embedded-index-filter.js';
import { prepareIndexFile } from './embedded-index-schema.js';
import { startWorker } from '../../lib/start-worker.js';
import { DimensionMismatchError } from './vector.errors.js';
import type { VectorIndex, VectorMatch, VectorPoint } from './vector-index.port.js';

export interface EmbeddedVectorIndexOptions {
  /**
   * How many threads may search a file-backed index: the writing one, and more started when a search finds every
   * running one busy. Default 2, or 1 on a single core (2 concurrent searchers got 1.7× the throughput of one thread
   * on 2 cores, bench/vectors-section.ts).
   */
  searchThreads?: number;
}

type Answer = Exclude<IndexReply, { error: unknown }>;

/** One thread: a worker and the operations it holds. A thread that fails or ends rejects all of them. */
class IndexThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(answer: Answer): void; reject(error: Error): void }>();
  readonly exited: Promise<void>;
  #nextId = 0;
  #alive = true;

  constructor(data: IndexThreadData) {
    this.#worker = startWorker(import.meta.url, 'embedded-search-worker', { workerData: data });
    // Idle, the thread must not keep the process alive; while it holds an operation it does (send() and #take), or
    // a process with nothing else to do would end with that operation's promise never settled.
    this.#worker.unref();
    this.#worker.on('message', (reply: IndexReply) => {
      const pending = this.#take(reply.id);
      if ('error' in reply) pending?.reject(new Error(reply.error.message));
      else pending?.resolve(reply);
    });
    this.#worker.on('error', (error) => this.#failAll(`failed: ${error.message}`, error));
    this.#worker.on('messageerror', (error) => {
      // An answer that cannot be read: whose it was is unknown, so the thread goes, with everything it held.
      this.#failAll(`sent an unreadable answer: ${error.message}`, error);
      void this.#worker.terminate();
    });
    this.exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        this.#failAll(`ended (exit code ${code})`);
        resolve();
      });
    });
  }

  /** False once the thread has failed or ended: a new one takes its place. */
  get alive(): boolean {
    return this.#alive;
  }

  /** Operations sent and not yet answered. */
  get load(): number {
    return this.#pending.size;
  }

  /** Runs `operation` on the thread; `transfer`: buffers that move to it (the caller does not use them again). */
  send(operation: IndexOperation, transfer: ArrayBuffer[] = []): Promise<Answer> {
    const id = this.#nextId++;
    const answered = new Promise<Answer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    if (this.#pending.size === 1) this.#worker.ref();
    try {
      this.#worker.postMessage({ ...operation, id } satisfies IndexRequest, transfer);
    } catch (error) {
      // A metadata or filter value that cannot be cloned (a function…): this operation fails, the thread is fine.
      this.#take(id)?.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return answered;
  }

  /** Test hook: the thread throws, as a bug in it would. */
  crash(): void {
    this.#worker.postMessage({ type: 'crash' } satisfies IndexRequest);
  }

  /** Lets the thread close its connection and end (after what it holds), and waits for it. */
  async stop(): Promise<void> {
    this.#worker.ref();
    this.#worker.postMessage({ type: 'close' } satisfies IndexRequest);
    await this.exited;
  }

  #take(id: number) {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    if (pending && this.#pending.size === 0) this.#worker.unref();
    return pending;
  }

  #failAll(what: string, cause?: unknown): void {
    this.#alive = false;
    const error = new Error(`The vector index thread ${what}`, { cause });
    for (const id of [...this.#pending.keys()]) this.#take(id)?.reject(error);
  }
}

function floatPoints(points: VectorPoint[]): FloatPoint[] {
  return points.map((point) => ({ ...point, vector: Float32Array.from(point.vector) }));
}

export class EmbeddedVectorIndex implements VectorIndex {
  readonly #db: Database.Database;
  /** The file the threads open; null for an in-memory index, which runs everything in-process. */
  readonly #file: string | null;
  /** Slot 0 is the writing thread; null or dead slots get a new thread when needed. */
  readonly #slots: (IndexThread | null)[];
  /** Every thread not yet ended, including failed ones on their way out: close() waits for them all. */
  readonly #threads = new Set<IndexThread>();
  /** Operations sent to the threads and not yet settled: close() lets them finish. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  /** `file`: the SQLite file (created when missing); ':memory:' for a throwaway index. */
  constructor(file: string, options: EmbeddedVectorIndexOptions = {}) {
    // Another process may be moving the file to the vec0 layout (prepareIndexFile): wait for it, not 5 s.
    this.#db = new Database(file, { timeout: 120_000 });
    sqliteVec.load(this.#db);
    this.#db.pragma('journal_mode = WAL');
    prepareIndexFile(this.#db);
    this.#file = this.#db.memory ? null : path.resolve(file);
    const threads = Math.max(1, options.searchThreads ?? Math.min(2, os.availableParallelism()));
    this.#slots = Array.from({ length: threads }, () => null);
  }

  async upsert(collection: string, points: VectorPoint[]): Promise<void> {
    const floats = floatPoints(points);
    const mismatch =
      this.#file === null
        ? upsertPoints(this.#db, collection, floats)
        : await this.#run(
            this.#writer(),
            { type: 'upsert', collection, points: floats },
            (answer) => {
              if ('mismatch' in answer) return answer.mismatch;
              changesOf(answer);
              return null;
            },
            floats.map((point) => point.vector.buffer),
          );
    if (mismatch) throw new DimensionMismatchError(mismatch.expected, mismatch.got);
  }

  async search(
    collection: string,
    vector: number[],
    k: number,
    filter: Record<string, unknown> = {},
  ): Promise<VectorMatch[]> {
    if (this.#closed) throw new Error('The vector index is closed');
    // Checked on this connection, so that the errors are the same as ever whichever thread scans.
    const known = dimensionOf(this.#db, collection);
    if (known === null) return [];
    if (known !== vector.length) throw new DimensionMismatchError(known, vector.length);
    if (!filterCanMatch(filter)) return [];
    const query = Float32Array.from(vector);
    if (this.#file === null) return searchPoints(this.#db, collection, query, k, filter);
    return this.#run(
      this.#searcher(),
      { type: 'search', collection, query, k, filter },
      (answer) => {
        if (!('matches' in answer))
          throw new Error('The vector index thread answered a search without matches');
        return answer.matches;
      },
      [query.buffer],
    );
  }

  async delete(collection: string, id: string): Promise<boolean> {
    const changes =
      this.#file === null
        ? deletePoint(this.#db, collection, id)
        : await this.#run(this.#writer(), { type: 'delete', collection, pointId: id }, changesOf);
    return changes > 0;
  }

  async deleteWhere(collection: string, filter: Record<string, unknown>): Promise<number> {
    if (this.#file === null) return deleteMatching(this.#db, collection, filter);
    return this.#run(this.#writer(), { type: 'deleteWhere', collection, filter }, changesOf);
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT vec_version()').get();
  }

  async dimension(collection: string): Promise<number | null> {
    return dimensionOf(this.#db, collection);
  }

  /**
   * Refuses new operations, lets those in flight finish (each answers or fails: none is left pending), lets the
   * threads close their connections and waits for them, then closes the file (SQLite checkpoints the log into it
   * when this is the last connection to it).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    await Promise.all([...this.#threads].map((thread) => thread.stop()));
    this.#db.close();
  }

  /** Test hook: every running thread throws, as a bug in it would; the operations it holds must fail. */
  crashThreadsForTest(): void {
    for (const thread of this.#threads) thread.crash();
  }

  /** Sends `operation` to `thread`, counted among those close() lets finish, and reads the answer with `read`. */
  async #run<T>(
    thread: IndexThread,
    operation: IndexOperation,
    read: (answer: Answer) => T,
    transfer: ArrayBuffer[] = [],
  ): Promise<T> {
    const answered = thread.send(operation, transfer);
    this.#inFlight.add(answered);
    try {
      return read(await answered);
    } finally {
      this.#inFlight.delete(answered);
    }
  }

  /** The writing thread (slot 0), started when none runs. */
  #writer(): IndexThread {
    if (this.#closed) throw new Error('The vector index is closed');
    return this.#slots[0]?.alive ? this.#slots[0] : this.#start(0);
  }

  /** The writing thread when idle, else the least busy; a new one when all are busy and a slot is free. */
  #searcher(): IndexThread {
    const writer = this.#writer();
    if (writer.load === 0) return writer;
    let best = writer;
    let freeSlot = -1;
    for (const [slot, thread] of this.#slots.entries()) {
      if (!thread?.alive) {
        if (freeSlot < 0) freeSlot = slot;
      } else if (thread.load < best.load) best = thread;
    }
    return best.load === 0 || freeSlot < 0 ? best : this.#start(freeSlot);
  }

  #start(slot: number): IndexThread {
    if (this.#file === null) throw new Error('an in-memory index has no threads');
    const thread = new IndexThread({ file: this.#file, writer: slot === 0 });
    this.#slots[slot] = thread;
    this.#threads.add(thread);
    void thread.exited.then(() => this.#threads.delete(thread));
    return thread;
  }
}

function changesOf(answer: Answer): number {
  if (!('changes' in answer)) throw new Error('The vector index thread answered a write without its changes');
  return answer.changes;
}
