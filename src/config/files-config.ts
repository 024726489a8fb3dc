// The files' settings (FILES_*) and those of indexing them for chats over documents (DOCUMENTS_*).
import path from 'node:path';
import type { Env } from './env-schema.js';

export interface FilesConfig {
  /** Absolute path of the folder that holds the uploads, by generated id. */
  dir: string;
  maxBytes: number;
  /** 0: no quota. */
  quotaBytes: number;
  /** Media types an upload may have, detected from its content; lower case. */
  allowedTypes: string[];
  /** An upload whose body stops arriving for this long is answered 408. */
  uploadIdleTimeoutMs: number;
  /** Uploads one user may have in progress at once, per process. */
  maxConcurrentUploads: number;
}

export interface DocumentsConfig {
  chunkChars: number;
  overlapChars: number;
  embedBatch: number;
  maxChars: number;
  topK: number;
  contextChars: number;
}

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

export function filesConfig(env: Env, dataDir: string, problems: string[]): FilesConfig {
  const allowedTypes = env.FILES_ALLOWED_TYPES.split(',')
    .map((type) => type.trim().toLowerCase())
    .filter((type) => type !== '');
  for (const type of allowedTypes) {
    if (!MEDIA_TYPE.test(type))
      problems.push(`FILES_ALLOWED_TYPES: ${JSON.stringify(type)} is not a media type`);
  }
  if (allowedTypes.length === 0) problems.push('FILES_ALLOWED_TYPES: must name at least one media type');
  if (env.FILES_QUOTA_BYTES !== 0 && env.FILES_QUOTA_BYTES < env.FILES_MAX_BYTES) {
    problems.push('FILES_QUOTA_BYTES: must be 0 (no quota) or at least FILES_MAX_BYTES');
  }
  return {
    dir: path.resolve(env.FILES_DIR?.trim() || path.join(dataDir, 'files')),
    maxBytes: env.FILES_MAX_BYTES,
    quotaBytes: env.FILES_QUOTA_BYTES,
    allowedTypes: [...new Set(allowedTypes)],
    uploadIdleTimeoutMs: env.FILES_UPLOAD_IDLE_TIMEOUT_MS,
    maxConcurrentUploads: env.FILES_MAX_CONCURRENT_UPLOADS,
  };
}

export function documentsConfig(env: Env, problems: string[]): DocumentsConfig {
  if (env.DOCUMENTS_CHUNK_OVERLAP_CHARS >= env.DOCUMENTS_CHUNK_CHARS) {
    problems.push('DOCUMENTS_CHUNK_OVERLAP_CHARS: must be less than DOCUMENTS_CHUNK_CHARS');
  }
  if (env.DOCUMENTS_CONTEXT_CHARS < env.DOCUMENTS_CHUNK_CHARS) {
    problems.push('DOCUMENTS_CONTEXT_CHARS: must be at least DOCUMENTS_CHUNK_CHARS, or no chunk would fit');
  }
  return {
    chunkChars: env.DOCUMENTS_CHUNK_CHARS,
    overlapChars: env.DOCUMENTS_CHUNK_OVERLAP_CHARS,
    embedBatch: env.DOCUMENTS_EMBED_BATCH,
    maxChars: env.DOCUMENTS_MAX_CHARS,
    topK: env.DOCUMENTS_TOP_K,
    contextChars: env.DOCUMENTS_CONTEXT_CHARS,
  };
}
