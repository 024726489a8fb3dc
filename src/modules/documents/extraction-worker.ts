// The thread that extracts one document's text (isolated-extraction.ts starts one per document): PDF.js and mammoth
// parse a whole page or a whole document at once, so they run here, where a document that needs too much memory ends
// this thread with ERR_WORKER_OUT_OF_MEMORY instead of the server, and a slow one cannot hold the event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { AppError } from '../../platform/errors.js';
import { extractText } from './text-extraction.js';

export interface ExtractionJob {
  filePath: string;
  mediaType: string;
  maxChars: number;
}

/** What the thread answers: the text, or an error as the parts needed to rebuild it on the other side. */
export type ExtractionAnswer =
  | { ok: true; text: string }
  | { ok: false; status: number; code: string; message: string }
  | { ok: false; status: null; message: string; syscall: string | null };

async function run(job: ExtractionJob): Promise<ExtractionAnswer> {
  try {
    return { ok: true, text: await extractText(job.filePath, job.mediaType, job.maxChars) };
  } catch (error) {
    if (error instanceof AppError)
      return { ok: false, status: error.status, code: error.code, message: error.message };
    const syscall = (error as NodeJS.ErrnoException).syscall;
    return { ok: false, status: null, message: String((error as Error).message), syscall: syscall ?? null };
  }
}

parentPort?.postMessage(await run(workerData as ExtractionJob));
