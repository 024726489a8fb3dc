// extractText (text-extraction.ts) in a thread of its own, one per document, with a heap limit and a deadline: a
// document that needs more memory than the limit (a PDF whose compressed page unpacks to hundreds of MB) ends its
// thread, not the server, and the server's event loop never waits on PDF.js or mammoth. Both failures are the
// document's: a 413 the indexer records as the file's reason. A thread costs about 30 ms to start, nothing next to
// embedding the document.
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../../lib/start-worker.js';
import { AppError } from '../../platform/errors.js';
import type { ExtractionAnswer, ExtractionJob } from './extraction-worker.js';
import { isIndexable, NotIndexableError } from './text-extraction.js';

export interface ExtractionLimits {
  /** The thread's V8 heap (old generation), in MiB. */
  heapMb: number;
  /** How long the thread may take; under the indexer's 120 s after which another instance may take the file over. */
  timeoutMs: number;
}

export const DEFAULT_EXTRACTION_LIMITS: ExtractionLimits = { heapMb: 512, timeoutMs: 60_000 };

/** A document whose text could not be read within the thread's memory or time. */
export class DocumentTooHeavyError extends AppError {
  constructor(limit: 'memory' | 'time', limits: ExtractionLimits) {
    super(
      limit === 'memory'
        ? `Reading the document's text needed more than ${limits.heapMb} MiB of memory: it cannot be indexed`
        : `Reading the document's text took longer than ${limits.timeoutMs / 1000} s: it cannot be indexed`,
      { status: 413, code: 'document_too_large' },
    );
  }
}

function rebuild(answer: Exclude<ExtractionAnswer, { ok: true }>): Error {
  if (answer.status !== null)
    return new AppError(answer.message, { status: answer.status, code: answer.code });
  return Object.assign(new Error(answer.message), answer.syscall === null ? {} : { syscall: answer.syscall });
}

/** As extractText, in a thread of its own within `limits`; the signal's abort ends the thread at once. */
export async function extractTextIsolated(
  filePath: string,
  mediaType: string,
  maxChars: number,
  signal?: AbortSignal,
  limits: ExtractionLimits = DEFAULT_EXTRACTION_LIMITS,
): Promise<string> {
  if (!isIndexable(mediaType)) throw new NotIndexableError(mediaType);
  signal?.throwIfAborted();
  const job: ExtractionJob = { filePath, mediaType, maxChars };
  const worker: Worker = startWorker(import.meta.url, 'extraction-worker', {
    workerData: job,
    resourceLimits: { maxOldGenerationSizeMb: limits.heapMb },
  });
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      settle();
    };
    const timer = setTimeout(
      () => finish(() => reject(new DocumentTooHeavyError('time', limits))),
      limits.timeoutMs,
    );
    const onAbort = () =>
      finish(() => reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted')));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (answer: ExtractionAnswer) =>
      finish(() => (answer.ok ? resolve(answer.text) : reject(rebuild(answer)))),
    );
    worker.once('error', (error: NodeJS.ErrnoException) =>
      finish(() =>
        reject(
          error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new DocumentTooHeavyError('memory', limits) : error,
        ),
      ),
    );
    worker.once('exit', (code) =>
      finish(() => reject(new Error(`The text extraction thread exited (code ${code}) without an answer`))),
    );
  });
}
