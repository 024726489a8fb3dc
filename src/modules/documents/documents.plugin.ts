// Composition of the documents module: the files module's service adapted to what indexing needs, the indexer on the
// default vector backend, the retrieval the chat uses (`app.documents`), and /api/v1/files/index/{file_id}.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import type { ChatDocuments } from '../chat/index.js';
import type { FileRecord, FilesService } from '../files/index.js';
import type { DocumentFile, DocumentFiles } from './document-files.port.js';
import { DocumentIndexer } from './document-indexer.js';
import { DocumentRetrieval } from './document-retrieval.js';
import { documentsRoutes } from './documents.routes.js';
import { DocumentsService } from './documents.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The passages of a user's files for a chat question. */
    documents: ChatDocuments;
  }
}

export interface DocumentsPluginOptions {
  config: Config['documents'];
  clock: Clock;
}

function documentFile(record: FileRecord): DocumentFile {
  return {
    id: record.id,
    ownerId: record.ownerId,
    name: record.name,
    mediaType: record.mediaType,
    indexStatus: record.indexStatus,
    indexError: record.indexError,
    indexProgress: record.indexProgress,
    indexChunks: record.indexChunks,
  };
}

function documentFiles(files: FilesService): DocumentFiles {
  return {
    find: async (id) => {
      const record = await files.find(id);
      return record && documentFile(record);
    },
    findOwned: async (ownerId, id) => {
      const record = await files.find(id);
      return record && record.ownerId === ownerId ? documentFile(record) : undefined;
    },
    pathOf: (file) => files.pathOf(file),
    setIndexState: async (id, patch) => (await files.setIndexState(id, patch)) !== undefined,
    claim: (id, staleBefore) => files.claimForIndexing(id, staleBefore),
    idsByIndexStatus: async (statuses) => (await files.listByIndexStatus(statuses)).map((file) => file.id),
    listReady: async (ownerId) => (await files.listReady(ownerId)).map(documentFile),
  };
}

const documentsPlugin: FastifyPluginAsync<DocumentsPluginOptions> = async (app, { config, clock }) => {
  const files = documentFiles(app.files);
  // Chunks go to the default backend (VECTORS_DEFAULT_DATABASE): the embedded index unless an operator chose Qdrant
  // or Chroma; a backend not configured stops the start (vector-backends.ts says why).
  const target = app.vectors.backends.resolve(undefined);
  const shared = { files, target, metrics: app.vectors.metrics, llm: app.llm, settings: config };
  const indexer = new DocumentIndexer({ ...shared, clock, log: app.log.child({ module: 'documents' }) });
  const documents = new DocumentsService({ files, indexer });
  const retrieval = new DocumentRetrieval(shared);
  app.files.onDeleted((file) => documents.deleted(file));
  app.files.onUploaded((file) => documents.uploaded(file));
  app.decorate('documents', retrieval);
  // Before the database closes: an indexing cut short goes back to pending, for the next start to resume.
  app.addHook('preClose', () => indexer.close());
  app.addHook('onReady', () => indexer.start());
  await app.register(documentsRoutes, { documents, prefix: '/api/v1/files' });
};

export default fp(documentsPlugin, {
  name: 'documents',
  dependencies: ['files', 'vectors', 'llm', 'auth'],
});
