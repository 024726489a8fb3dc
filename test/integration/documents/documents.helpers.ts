// Uploads over a real socket (multipart, as a browser's FormData sends it) and waits for a file's index.
import { expect } from 'vitest';
import type { App } from '../../../src/app.js';
import { bearer } from '../../helpers/auth.js';

/** Small chunks and batches, so that the suites' short documents make several of each. */
export const DOCUMENT_ENV = {
  DOCUMENTS_CHUNK_CHARS: '200',
  DOCUMENTS_CHUNK_OVERLAP_CHARS: '40',
  DOCUMENTS_EMBED_BATCH: '2',
  DOCUMENTS_CONTEXT_CHARS: '700',
  DOCUMENTS_TOP_K: '3',
  EMBEDDING_MODEL: 'all-minilm',
};

export interface Uploaded {
  file_id: string;
  filename: string;
  mime_type: string;
  index_status: string | null;
}

export async function upload(
  base: string,
  token: string,
  name: string,
  bytes: Buffer | string,
): Promise<Uploaded> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const response = await fetch(`${base}/api/v1/files/upload`, {
    method: 'POST',
    headers: bearer(token),
    body: form,
  });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as Uploaded;
}

export interface IndexState {
  file_id: string;
  index_status: string | null;
  index_error: string | null;
  index_progress: number;
  index_chunks: number | null;
}

export async function indexState(app: App, token: string, fileId: string): Promise<IndexState> {
  const response = await app.inject({ url: `/api/v1/files/index/${fileId}`, headers: bearer(token) });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<IndexState>();
}

/** Polls the file's index until it is in one of `states` (ready or failed by default), for at most 20 s. */
export async function waitForIndex(
  app: App,
  token: string,
  fileId: string,
  states: string[] = ['ready', 'failed'],
): Promise<IndexState> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const state = await indexState(app, token, fileId);
    if (state.index_status !== null && states.includes(state.index_status)) return state;
    if (Date.now() > deadline)
      throw new Error(
        `file ${fileId} still ${String(state.index_status)} (waiting for ${states.join(' or ')})`,
      );
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
