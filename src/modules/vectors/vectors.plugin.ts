// Composition of the vectors module: the embedded index (always; its own SQLite file), Qdrant and ChromaDB when
// their URLs are set, the service and /api/v1/vectors. `app.vectors` is what the document indexer and the health
// probe use.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { StartupError } from '../../platform/errors.js';
import { ChromaVectorIndex } from './chroma-index.js';
import { EmbeddedVectorIndex } from './embedded-index.js';
import { QdrantVectorIndex } from './qdrant-index.js';
import { VectorBackends } from './vector-backends.js';
import { createVectorMetrics, type VectorMetrics } from './vectors.metrics.js';
import { vectorsRoutes } from './vectors.routes.js';
import { VectorsService } from './vectors.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    vectors: { backends: VectorBackends; metrics: VectorMetrics; service: VectorsService };
  }
}

export interface VectorsPluginOptions {
  config: Config['vectors'];
}

function openEmbedded(file: string): EmbeddedVectorIndex {
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    return new EmbeddedVectorIndex(file);
  } catch (error) {
    throw new StartupError(
      `The embedded vector index ${file} cannot be opened: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

const vectorsPlugin: FastifyPluginAsync<VectorsPluginOptions> = async (app, { config }) => {
  const { timeoutMs } = config;
  const backends = new VectorBackends(
    {
      embedded: openEmbedded(config.file),
      ...(config.qdrant
        ? {
            qdrant: new QdrantVectorIndex({
              url: config.qdrant.url,
              apiKey: config.qdrant.apiKey,
              timeoutMs,
            }),
          }
        : {}),
      ...(config.chromadbUrl
        ? { chromadb: new ChromaVectorIndex({ url: config.chromadbUrl, timeoutMs }) }
        : {}),
    },
    config.defaultDatabase,
  );
  app.addHook('onClose', () => backends.close());
  const metrics = createVectorMetrics(app.metrics.registry);
  const service = new VectorsService({ backends, llm: app.llm, metrics });
  app.decorate('vectors', { backends, metrics, service });
  await app.register(vectorsRoutes, { vectors: service, prefix: '/api/v1/vectors' });
};

export default fp(vectorsPlugin, { name: 'vectors', dependencies: ['llm', 'auth'] });
