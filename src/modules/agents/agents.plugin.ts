// Composition of the agents module: repository, status prober, services, model registry and /api/v1/agents.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { Agent as HttpAgent } from 'undici';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { StartupError } from '../../platform/errors.js';
import { httpProbe } from '../health/index.js';
import { AgentStatuses } from './agent-status.js';
import { AgentRepository } from './agents.repository.js';
import { agentsRoutes } from './agents.routes.js';
import { AgentsService } from './agents.service.js';
import { loadModelRegistry } from './model-registry.js';
import { ModelRegistryService } from './model-registry.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The agents, for the chat (a chat through an agent). */
    agents: AgentsService;
  }
}

export interface AgentsPluginOptions {
  config: Config['agents'];
  clock: Clock;
}

const agentsPlugin: FastifyPluginAsync<AgentsPluginOptions> = async (app, { config, clock }) => {
  // The probes' own connection pool, closed with the app; connections to an agent are not kept between probes.
  const dispatcher = new HttpAgent({ keepAliveTimeout: 1, connections: 16 });
  app.addHook('onClose', () => dispatcher.close());
  const statuses = new AgentStatuses({
    probe: (endpoint) =>
      httpProbe(dispatcher, endpoint, { paths: ['/health'] }).check(
        AbortSignal.timeout(config.probeTimeoutMs),
      ),
    models: async () => (await app.llm.listModels()).map((model) => model.name),
    normaliseModel: (model) => app.llm.normaliseModel(model),
    ttlMs: config.statusTtlMs,
    clock,
  });
  const agents = new AgentsService({
    agents: new AgentRepository(app.database.db),
    statuses,
    clock,
    baseUrl: config.baseUrl,
  });
  app.decorate('agents', agents);
  let registry;
  try {
    registry = loadModelRegistry(config.modelRegistryFile);
  } catch (error) {
    throw new StartupError((error as Error).message, { cause: error });
  }
  const models = new ModelRegistryService({
    registry,
    providerModels: () => statuses.availableModels(),
    providerName: app.llm.providerName,
  });
  await app.register(agentsRoutes, { agents, models, clock, prefix: '/api/v1/agents' });
};

export default fp(agentsPlugin, { name: 'agents', dependencies: ['database', 'llm', 'auth'] });
