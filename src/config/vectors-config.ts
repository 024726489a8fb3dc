// The vector backends' settings: the embedded index's file, Qdrant and ChromaDB (their URLs are shared with the
// health probes), and the backend a request without ?database= uses.
import path from 'node:path';
import type { Env } from './env-schema.js';
import { isHttpUrl } from './llm-config.js';

/** `faiss` is the embedded index since no FAISS service is needed (kept so the original's clients work). */
export type VectorDatabase = 'embedded' | 'faiss' | 'qdrant' | 'chromadb';

export interface VectorsConfig {
  defaultDatabase: VectorDatabase;
  /** Absolute path of the embedded index's SQLite file. */
  file: string;
  qdrant: { url: string; apiKey: string | undefined } | undefined;
  chromadbUrl: string | undefined;
  timeoutMs: number;
}

export function vectorsConfig(env: Env, dataDir: string, problems: string[]): VectorsConfig {
  const qdrantUrl = env.QDRANT_URL?.trim() || undefined;
  const chromadbUrl = env.CHROMADB_URL?.trim() || undefined;
  // A bad URL is reported by the health section, which reads the same settings.
  if (env.QDRANT_API_KEY?.trim() && !qdrantUrl) problems.push('QDRANT_API_KEY: needs QDRANT_URL');
  return {
    defaultDatabase: env.VECTORS_DEFAULT_DATABASE,
    file: path.resolve(env.VECTORS_FILE?.trim() || path.join(dataDir, 'vectors.db')),
    qdrant:
      qdrantUrl && isHttpUrl(qdrantUrl)
        ? { url: qdrantUrl.replace(/\/+$/, ''), apiKey: env.QDRANT_API_KEY?.trim() || undefined }
        : undefined,
    chromadbUrl: chromadbUrl && isHttpUrl(chromadbUrl) ? chromadbUrl.replace(/\/+$/, '') : undefined,
    timeoutMs: env.VECTORS_TIMEOUT_MS,
  };
}
