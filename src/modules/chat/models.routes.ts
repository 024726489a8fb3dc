// GET /api/v1/models/: the original's model catalogue (reference §6.1), from the real provider. When the provider is
// down it says so (available: false, error) instead of the original's made-up fallback list.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorText } from './chat.views.js';
import type { LlmService } from '../llm/index.js';
import { ModelCatalog } from './chat.schemas.js';

export const modelsRoutes: FastifyPluginAsyncTypebox<{ llm: LlmService }> = async (app, { llm }) => {
  app.get(
    '/',
    {
      // Only /api/v1/models/: the unslashed path answers 307 to it, as the original (platform/not-found.ts).
      prefixTrailingSlash: 'slash',
      schema: { tags: ['models'], summary: 'Models of the LLM server', response: { 200: ModelCatalog } },
    },
    async (request) => {
      const note = `Models served by the ${llm.providerName} server at ${llm.baseUrl}`;
      try {
        const models = await llm.listModels({ requestId: request.id });
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
      } catch (error) {
        return {
          models: [],
          available_detailed: [],
          count: 0,
          available: false,
          error: errorText(error),
          note,
        };
      }
    },
  );
};
