// Wires the health module: the probes the configuration enables, their rounds, the service and the routes. The
// probes' connections (an undici Agent, the AMQP connection, the Neo4j driver) close with the app.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { Agent } from 'undici';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { HealthRounds } from './health-rounds.js';
import { createHealthMetrics } from './health.metrics.js';
import { createProbes } from './health-probes.js';
import { HealthService } from './health.service.js';
import { apiHealthRoutes, rootHealthRoutes } from './health.routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    health: HealthService;
  }
}

export interface HealthPluginOptions {
  config: Pick<Config, 'app' | 'health' | 'llm'>;
  clock: Clock;
}

const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, { config, clock }) => {
  const timeoutMs = config.health.probeTimeoutMs;
  const dispatcher = new Agent({ connect: { timeout: timeoutMs }, keepAliveTimeout: 10_000 });
  const probes = createProbes({
    config,
    database: app.database,
    redis: app.redis,
    dispatcher,
    embeddedVectors: app.vectors.backends.embedded,
  });
  const metrics = createHealthMetrics(app.metrics.registry);
  const rounds = new HealthRounds({
    probes,
    timeoutMs,
    cacheTtlMs: config.health.cacheTtlMs,
    clock,
    onRound: (round) => metrics.record(round),
  });
  metrics.refreshWith(() => rounds.current());
  app.addHook('onClose', async () => {
    await rounds.close();
    await dispatcher.close();
  });
  const health = new HealthService({
    rounds,
    app: config.app,
    database: app.database,
    redis: app.redis,
    llm: app.llm,
    rateLimits: app.rateLimits,
    readinessProbes: {
      database: probes.database,
      ...(probes.redis ? { redis: probes.redis } : {}),
    },
    probeTimeoutMs: timeoutMs,
    clock,
    startedAt: clock.now(),
  });
  app.decorate('health', health);
  await app.register(apiHealthRoutes, { prefix: '/api/v1/health', health });
  await app.register(rootHealthRoutes, { health });
};

export default fp(healthPlugin, {
  name: 'health',
  dependencies: ['metrics', 'database', 'redis', 'llm', 'rate-limit', 'vectors'],
});
