// Root routes of the original: service identity at GET / and liveness at GET /health (no dependency checks: load
// balancers and container health checks must not fail because a downstream service is slow).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Liveness, RootInfo } from './root.schemas.js';

export interface RootRoutesOptions {
  appName: string;
  version: string;
}

export const rootRoutes: FastifyPluginAsyncTypebox<RootRoutesOptions> = async (app, { appName, version }) => {
  const info = { app: appName, version, status: 'operational' as const, docs: '/docs', api: '/api/v1' };
  const liveness = { status: 'healthy' as const, app: appName };

  app.get(
    '/',
    { schema: { tags: ['root'], summary: 'Service identity', response: { 200: RootInfo } } },
    () => info,
  );
  app.get(
    '/health',
    { schema: { tags: ['root'], summary: 'Liveness (no dependency checks)', response: { 200: Liveness } } },
    () => liveness,
  );
};
