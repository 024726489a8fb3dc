// The vector backends of this server and what ?database= names them: `embedded` (and `faiss`, its old name: no FAISS
// service is needed any more) always, `qdrant` and `chromadb` when their URL is set.
import { AppError } from '../../platform/errors.js';
import { VectorBackendNotConfiguredError } from './vector.errors.js';
import type { VectorIndex } from './vector-index.port.js';
import type { VectorBackendName } from './vectors.metrics.js';

export const VECTOR_DATABASES = ['embedded', 'faiss', 'qdrant', 'chromadb'] as const;
export type VectorDatabaseName = (typeof VECTOR_DATABASES)[number];

export class UnsupportedDatabaseError extends AppError {
  constructor(name: string) {
    // The name is the client's own text, echoed in a JSON body (encoded HTML-safe like every body).
    super(`Unsupported database: ${name}. Use: ${VECTOR_DATABASES.join(', ')}`, {
      status: 400,
      code: 'unsupported_database',
    });
  }
}

export interface ResolvedBackend {
  /** The name the client used (lower case), echoed in answers as the original did. */
  database: VectorDatabaseName;
  backend: VectorBackendName;
  index: VectorIndex;
}

const SETTING: Record<'qdrant' | 'chromadb', string> = { qdrant: 'QDRANT_URL', chromadb: 'CHROMADB_URL' };

export class VectorBackends {
  readonly #indexes: Partial<Record<VectorBackendName, VectorIndex>>;
  readonly #defaultDatabase: VectorDatabaseName;

  constructor(
    indexes: { embedded: VectorIndex; qdrant?: VectorIndex; chromadb?: VectorIndex },
    defaultDatabase: VectorDatabaseName,
  ) {
    this.#indexes = indexes;
    this.#defaultDatabase = defaultDatabase;
  }

  get embedded(): VectorIndex {
    const index = this.#indexes.embedded;
    if (!index) throw new Error('the embedded vector index is always built');
    return index;
  }

  /** The backend `name` (the default when absent); 400 for an unknown name, 503 for one not configured. */
  resolve(name: string | undefined): ResolvedBackend {
    const database = (name ?? this.#defaultDatabase).trim().toLowerCase();
    if (!(VECTOR_DATABASES as readonly string[]).includes(database))
      throw new UnsupportedDatabaseError(name ?? '');
    const known = database as VectorDatabaseName;
    const backend: VectorBackendName = known === 'faiss' ? 'embedded' : known;
    const index = this.#indexes[backend];
    if (!index) throw new VectorBackendNotConfiguredError(backend, SETTING[backend as 'qdrant' | 'chromadb']);
    return { database: known, backend, index };
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.#indexes).map((index) => index.close()));
  }
}
