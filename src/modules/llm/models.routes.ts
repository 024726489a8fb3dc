// /api/v1/models: the original's model catalogue (reference §6.1), from the real provider — when the provider is
// down it says so (available: false, error) instead of the original's made-up fallback list —, one model's details,
// and embeddings for signed-in users.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Clock } from '../../lib/clock.js';
import { requestAbortSignal } from '../../platform/request-abort-signal.js';
import { clientKey } from '../auth/index.js';
import type { LlmService } from './llm.service.js';
import type { ModelDetails } from './llm.port.js';
import {
  ChatHealth,
  ChatModels,
  EmbedBody,
  EmbedResponse,
  ModelCatalog,
  ModelDetailsResponse,
  ModelNameParams,
} from './models.schemas.js';

const tags = ['models'];

function detailsView(details: ModelDetails, provider: string) {
  return {
    name: details.name,
    provider,
    family: details.family,
    families: details.families,
    architecture: details.architecture,
    parameter_size: details.parameterSize,
    parameter_count: details.parameterCount,
    quantization: details.quantization,
    format: details.format,
    context_length: details.contextLength,
    embedding_length: details.embeddingLength,
    capabilities: details.capabilities,
    parent_model: details.parentModel,
    owned_by: details.ownedBy,
    modified_at: details.modifiedAt,
  };
}

export const modelsRoutes: FastifyPluginAsyncTypebox<{ llm: LlmService }> = async (app, { llm }) => {
  app.get(
    '/',
    {
      // Only /api/v1/models/: the unslashed path answers 307 to it, as the original (platform/not-found.ts).
      prefixTrailingSlash: 'slash',
      schema: { tags, summary: 'Models of the LLM server', response: { 200: ModelCatalog } },
    },
    async (request) => {
      const note = `Models served by the ${llm.providerName} server at ${llm.baseUrl}`;
      const catalog = await llm.catalog({ requestId: request.id });
      if (!catalog.available) {
        return { models: [], available_detailed: [], count: 0, available: false, error: catalog.error, note };
      }
      const { models } = catalog;
      return {
        models: models.map((m) => m.name),
        available_detailed: models.map((m) => ({
          name: m.name,
          provider: llm.providerName,
          size: m.size,
          available: true,
        })),
        count: models.length,
        available: true,
        note,
      };
    },
  );

  // A wildcard, not a :name parameter, so that names with slashes (library/llama3:8b, hf.co/org/repo) need no
  // encoding. Static routes win over it: /api/v1/models/ stays the catalogue. Unlike the catalogue, a provider that
  // fails is an error answer here (404 unknown model, 503 unreachable or breaker open, 502/504): there is no
  // "unavailable" shape for one model.
  app.get(
    '/*',
    {
      schema: {
        tags,
        summary: "One model's details, as the LLM server gives them",
        params: ModelNameParams,
        response: { 200: ModelDetailsResponse },
      },
    },
    async (request, reply) => {
      const details = await llm.showModel(request.params['*'], {
        requestId: request.id,
        signal: requestAbortSignal(reply),
      });
      return detailsView(details, llm.providerName);
    },
  );

  app.post(
    '/embed',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Embedding vectors of one text or a list of texts',
        security: [{ bearerAuth: [] }],
        body: EmbedBody,
        response: { 200: EmbedResponse },
      },
    },
    async (request, reply) => {
      const { model, input } = request.body;
      const result = await llm.embed(model, typeof input === 'string' ? [input] : input, {
        // The key chat uses for the same user: embeddings and chats share LLM_MAX_CONCURRENT_PER_USER.
        key: clientKey(request),
        requestId: request.id,
        signal: requestAbortSignal(reply),
      });
      return {
        model: result.model,
        embeddings: result.embeddings,
        usage: { prompt_tokens: result.promptTokens },
      };
    },
  );
};

/** The original's /api/v1/chat/models and /api/v1/chat/health: the same provider questions, in the chat's shapes. */
export const chatModelsRoutes: FastifyPluginAsyncTypebox<{ llm: LlmService; clock: Clock }> = async (
  app,
  { llm, clock },
) => {
  app.get(
    '/models',
    { schema: { tags: ['chat'], summary: 'Models of the LLM server', response: { 200: ChatModels } } },
    async (request) => {
      const base = { ollama_url: llm.baseUrl, provider: llm.providerName };
      const catalog = await llm.catalog({ requestId: request.id });
      if (!catalog.available)
        return { ...base, models: [], count: 0, available: false, error: catalog.error };
      return {
        ...base,
        models: catalog.models.map((m) => ({ name: m.name, size: m.size, modified: m.modifiedAt })),
        count: catalog.models.length,
        available: true,
      };
    },
  );

  app.get(
    '/health',
    { schema: { tags: ['chat'], summary: 'Whether the LLM server answers', response: { 200: ChatHealth } } },
    async (request) => {
      const base = {
        ollama_url: llm.baseUrl,
        provider: llm.providerName,
        circuit_breaker: llm.breakerState(),
      };
      const catalog = await llm.catalog({ requestId: request.id });
      const timestamp = clock.now().toISOString();
      return catalog.available
        ? { ...base, status: 'healthy' as const, model_count: catalog.models.length, timestamp }
        : { ...base, status: 'unhealthy' as const, error: catalog.error, timestamp };
    },
  );
};
