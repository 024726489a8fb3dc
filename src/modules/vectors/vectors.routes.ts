// /api/v1/vectors: store, search and delete raw vectors (the original's bodies and ?database=), and the text forms
// embed-and-store and search-text, which embed through the LLM provider first. Every route needs a signed-in user.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { requestAbortSignal } from '../../platform/request-abort-signal.js';
import { caller, clientKey } from '../auth/index.js';
import {
  DatabaseQuery,
  DeleteResponse,
  EmbedAndStoreBody,
  EmbedAndStoreResponse,
  SearchBody,
  SearchResults,
  SearchTextBody,
  StoreBody,
  StoreResponse,
  VectorIdParams,
} from './vectors.schemas.js';
import type { VectorsService } from './vectors.service.js';

const tags = ['vectors'];
const security = [{ bearerAuth: [] }];

export const vectorsRoutes: FastifyPluginAsyncTypebox<{ vectors: VectorsService }> = async (
  app,
  { vectors },
) => {
  app.addHook('onRequest', app.authenticate);
  const userId = (request: FastifyRequest) => caller(request).user.id;

  app.post(
    '/store',
    {
      schema: {
        tags,
        security,
        summary: 'Store a vector in your collection (an existing id is replaced)',
        querystring: DatabaseQuery,
        body: StoreBody,
        response: { 200: StoreResponse },
      },
    },
    (request) =>
      vectors.store(userId(request), request.query.database, {
        id: request.body.id,
        vector: request.body.vector,
        metadata: request.body.metadata ?? {},
      }),
  );

  app.post(
    '/search',
    {
      schema: {
        tags,
        security,
        summary: 'The k vectors of your collection most similar to the query (cosine), best first',
        querystring: DatabaseQuery,
        body: SearchBody,
        response: { 200: SearchResults },
      },
    },
    (request) =>
      vectors.search(userId(request), request.query.database, {
        query: request.body.query,
        k: request.body.k ?? 5,
        filter: request.body.filter ?? undefined,
      }),
  );

  app.post(
    '/embed-and-store',
    {
      schema: {
        tags,
        security,
        summary: 'Embed a text with the LLM provider and store it (the text is kept in metadata.text)',
        querystring: DatabaseQuery,
        body: EmbedAndStoreBody,
        response: { 200: EmbedAndStoreResponse },
      },
    },
    (request, reply) =>
      vectors.embedAndStore(callerOf(request, reply), request.query.database, {
        id: request.body.id,
        text: request.body.text,
        metadata: request.body.metadata ?? {},
        model: request.body.model,
      }),
  );

  app.post(
    '/search-text',
    {
      schema: {
        tags,
        security,
        summary: 'Embed a text with the LLM provider and search your collection with it',
        querystring: DatabaseQuery,
        body: SearchTextBody,
        response: { 200: SearchResults },
      },
    },
    (request, reply) =>
      vectors.searchText(callerOf(request, reply), request.query.database, {
        query: request.body.query,
        k: request.body.k ?? 5,
        filter: request.body.filter ?? undefined,
        model: request.body.model,
      }),
  );

  app.delete(
    '/:vector_id',
    {
      schema: {
        tags,
        security,
        summary: 'Delete a vector of your collection (404 when it is not there)',
        querystring: DatabaseQuery,
        params: VectorIdParams,
        response: { 200: DeleteResponse },
      },
    },
    (request) => vectors.delete(userId(request), request.query.database, request.params.vector_id),
  );
};

function callerOf(request: FastifyRequest, reply: Parameters<typeof requestAbortSignal>[0]) {
  return {
    userId: caller(request).user.id,
    // The key chat uses for the same user: embeddings and chats share LLM_MAX_CONCURRENT_PER_USER.
    llmKey: clientKey(request),
    requestId: request.id,
    signal: requestAbortSignal(reply),
  };
}
