// The health routes, no authentication (as the original): /api/v1/health/* in the original's shapes, and beside the
// liveness answer at GET /health (root routes) the probe round at /health/detailed and readiness at /health/ready.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { NotFoundError } from '../../platform/errors.js';
import {
  HealthDetailed,
  HealthMetrics,
  HealthOverview,
  OneService,
  ReadinessAnswer,
  ServiceList,
  ServiceParams,
} from './health.schemas.js';
import type { HealthService } from './health.service.js';
import { SERVICE_NAMES, isServiceName } from './service-probe.js';

const tags = ['health'];

export const apiHealthRoutes: FastifyPluginAsyncTypebox<{ health: HealthService }> = async (
  app,
  { health },
) => {
  app.get(
    '/',
    {
      // As the original's collection routes: the slashed path, and 307 to it from the unslashed one.
      prefixTrailingSlash: 'slash',
      schema: {
        tags,
        summary: 'Health of the database and the outside services, with the database pool',
        response: { 200: HealthOverview },
      },
    },
    () => health.overview(),
  );
  app.get(
    '/services',
    {
      schema: {
        tags,
        summary: 'Each service: healthy, unhealthy or disabled',
        response: { 200: ServiceList },
      },
    },
    () => health.services(),
  );
  app.get(
    '/services/:name',
    { schema: { tags, summary: 'One service', params: ServiceParams, response: { 200: OneService } } },
    async (request) => {
      const { name } = request.params;
      if (!isServiceName(name)) {
        const valid = SERVICE_NAMES.map((n) => `'${n}'`).join(', ');
        throw new NotFoundError(
          `Service '${name}' not found. Valid services: [${valid}]`,
          'service_not_found',
        );
      }
      return health.service(name);
    },
  );
  app.get(
    '/metrics',
    {
      schema: {
        tags,
        summary: 'Pools, Redis, services, circuit breakers and LLM load, as JSON',
        response: { 200: HealthMetrics },
      },
    },
    () => health.metrics(),
  );
};

export const rootHealthRoutes: FastifyPluginAsyncTypebox<{ health: HealthService }> = async (
  app,
  { health },
) => {
  app.get(
    '/health/detailed',
    { schema: { tags, summary: 'The probe round of every service', response: { 200: HealthDetailed } } },
    () => health.detailed(),
  );
  app.get(
    '/health/ready',
    {
      schema: {
        tags,
        summary: 'Readiness: 503 while the database (or Redis, when configured) does not answer',
        response: { 200: ReadinessAnswer, 503: ReadinessAnswer },
      },
    },
    async (_request, reply) => {
      const readiness = await health.readiness();
      return reply.code(readiness.status === 'ready' ? 200 : 503).send(readiness);
    },
  );
};
