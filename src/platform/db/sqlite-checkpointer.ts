// WAL checkpoints of the SQLite file, off the event loop. In WAL mode every commit appends to the -wal file, and
// SQLite copies it back into the database file (a checkpoint, with two fsyncs) inside whichever commit crosses 1000
// pages: with better-sqlite3 being synchronous, that request — and every other request of the process — stalls for
// milliseconds (a chat commits twice; the stalls were the slowest 1% of the chat benchmark's first tokens). Here a
// worker thread with its own connection runs PASSIVE checkpoints on a timer, which never block the writer, and the
// writing connection's automatic checkpoints are turned off while the thread is alive. If the thread dies, automatic
// checkpoints come back, so the log can never grow without bound.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface CheckpointerLogger {
  error(details: object, message: string): void;
}

export interface SqliteCheckpointer {
  /** Runs a last checkpoint and ends the thread. */
  stop(): Promise<void>;
  /** False once the thread has ended (stopped, or failed). */
  readonly running: boolean;
}

/** SQLite's own default: what the writing connection falls back to when the thread is gone. */
export const AUTOMATIC_CHECKPOINT_PAGES = 1000;

// The worker's code travels as a string (eval) so that the same file runs under tsx, vitest and the built JavaScript
// alike; a worker entry file would need a loader for TypeScript in the first two. It is CommonJS: require() of the
// driver resolved by the main thread.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => checkpoint.get(), workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint.get();
  db.close();
  parentPort.close();
});
`;

/**
 * Starts the checkpoint thread for the database file `file`, whose writing connection is `writer` (its automatic
 * checkpoints are off until the thread ends).
 */
export function startCheckpointer(
  file: string,
  intervalMs: number,
  writer: { pragma(source: string): unknown },
  logger?: CheckpointerLogger,
): SqliteCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file, intervalMs } });
  // The thread must not keep a stopping process alive.
  worker.unref();
  writer.pragma('wal_autocheckpoint = 0');
  let running = true;
  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      running = false;
      try {
        writer.pragma(`wal_autocheckpoint = ${AUTOMATIC_CHECKPOINT_PAGES}`);
      } catch {
        // The writing connection is already closed: nothing to restore.
      }
      if (!stopping)
        logger?.error({ code }, 'SQLite checkpoint thread ended; SQLite checkpoints by itself again');
      resolve();
    });
  });
  worker.on('error', (error) => logger?.error({ err: error }, 'SQLite checkpoint thread failed'));
  return {
    async stop() {
      if (!running) return;
      stopping = true;
      // Held while we wait for it: an unref'd thread would let a process with nothing else to do end right here,
      // with exit code 0, before the code awaiting stop() ran (a CLI failing after this reported success).
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
    get running() {
      return running;
    },
  };
}
