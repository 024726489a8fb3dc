// Prometheus metrics from a registry owned by this app instance (never prom-client's global one), exposed at
// GET /metrics. Route labels are route patterns, so label cardinality stays bounded whatever URLs clients send.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const UNMATCHED_ROUTE = '__unmatched__';
const METRICS_PATH = '/metrics';

export interface HttpMetrics {
  registry: Registry;
  requestsTotal: Counter<'method' | 'route' | 'status_code'>;
  requestDuration: Histogram<'method' | 'route'>;
  requestsInProgress: Gauge<'method'>;
}

export function createHttpMetrics(appName: string, version: string, environment: string): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const appInfo = new Gauge({
    name: 'app_info',
    help: 'Application name, version and environment (always 1).',
    labelNames: ['name', 'version', 'environment'],
    registers: [registry],
  });
  appInfo.set({ name: appName, version, environment }, 1);
  return {
    registry,
    requestsTotal: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from receiving a request to finishing its response, by method and route pattern.',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
      registers: [registry],
    }),
    requestsInProgress: new Gauge({
      name: 'http_requests_in_progress',
      help: 'HTTP requests received and not yet finished or aborted.',
      labelNames: ['method'],
      registers: [registry],
    }),
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: HttpMetrics;
  }
}

function routeLabel(request: FastifyRequest): string {
  return request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
}

const kStart = Symbol('sutazai.metricsStart');
declare module 'fastify' {
  interface FastifyRequest {
    [kStart]?: bigint;
  }
}

const metricsPlugin: FastifyPluginAsync<{ metrics: HttpMetrics }> = async (app, { metrics }) => {
  app.decorate('metrics', metrics);

  app.addHook('onRequest', (request, reply, done) => {
    request[kStart] = process.hrtime.bigint();
    // The scrape itself is not work in progress: counted, the gauge could never read 0 to the scraper.
    if (request.routeOptions.url === METRICS_PATH) return done();
    const method = request.method;
    metrics.requestsInProgress.inc({ method });
    // 'close' fires once for every response, finished or aborted; onResponse does not run for aborted ones.
    reply.raw.once('close', () => metrics.requestsInProgress.dec({ method }));
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = routeLabel(request);
    const start = request[kStart];
    metrics.requestsTotal.inc({ method: request.method, route, status_code: String(reply.statusCode) });
    if (start !== undefined) {
      metrics.requestDuration.observe(
        { method: request.method, route },
        Number(process.hrtime.bigint() - start) / 1e9,
      );
    }
    done();
  });

  app.get(METRICS_PATH, { schema: { hide: true } }, async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
};

export default fp(metricsPlugin, { name: 'metrics' });
