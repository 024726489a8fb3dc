// Builds the LLM provider from config (unless one is given, as tests do), wraps it in LlmService and exposes that as
// app.llm, and its routes (/api/v1/models/*, /api/v1/chat/models, /api/v1/chat/health); the provider's connections
// close with the app.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { createLlmMetrics } from './llm.metrics.js';
import type { LlmProvider } from './llm.port.js';
import { LlmService } from './llm.service.js';
import { createLlmProvider } from './provider-factory.js';
import { createUserSlots } from './user-slots.js';
import { chatModelsRoutes, modelsRoutes } from './models.routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    llm: LlmService;
  }
}

export interface LlmPluginOptions {
  config: Config['llm'];
  /** Time of the circuit breaker and of /api/v1/chat/health's timestamp. */
  clock: Clock;
  /** A provider to use instead of the one config names; its owner closes it. */
  provider?: LlmProvider;
}

const llmPlugin: FastifyPluginAsync<LlmPluginOptions> = async (app, opts) => {
  let provider: LlmProvider;
  if (opts.provider) {
    provider = opts.provider;
  } else {
    const built = createLlmProvider(opts.config);
    provider = built.provider;
    // Its HTTP connections (an undici Agent) are this plugin's to close.
    app.addHook('onClose', () => built.close());
  }
  const logger = app.log.child({ module: 'llm' });
  // With Redis, a user's generations are counted across every instance (and worker) sharing it.
  const userSlots = createUserSlots({ redis: app.redis, logger });
  app.addHook('onClose', () => userSlots.close());
  const llm = new LlmService({
    provider,
    config: opts.config,
    metrics: createLlmMetrics(app.metrics.registry),
    clock: opts.clock,
    logger,
    userSlots,
  });
  app.decorate('llm', llm);
  await app.register(modelsRoutes, { prefix: '/api/v1/models', llm });
  await app.register(chatModelsRoutes, { prefix: '/api/v1/chat', llm, clock: opts.clock });
};

export default fp(llmPlugin, { name: 'llm', dependencies: ['metrics', 'redis', 'auth'] });
