// Prometheus metrics from a registry owned by this app instance (never prom-client's global one), exposed at
// GET /metrics. Route labels are route patterns, so label cardinality stays bounded whatever URLs clients send.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { clusterMetricsSource } from './cluster-metrics.js';
import { UnauthorizedError } from './errors.js';

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
    // Summed over cluster workers it would read N; every worker says the same.
    aggregator: 'first',
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

/**
 * prom-client hashes the label values of every inc()/observe(); the handful of (method, route, status)
 * combinations a server sees are looked up once and their bound children kept.
 */
function memo<T>(make: (key: string) => T): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      value = make(key);
      cache.set(key, value);
    }
    return value;
  };
}

const CLIENT_CLOSED_REQUEST = 499;

/** Whether `request` carries `Authorization: Bearer <token>`, compared in constant time. */
function bearerMatches(request: FastifyRequest, token: string): boolean {
  const header = request.headers.authorization ?? '';
  const given = /^Bearer (.+)$/i.exec(header)?.[1] ?? '';
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}

export interface MetricsPluginOptions {
  metrics: HttpMetrics;
  /** METRICS_TOKEN: when set, a scrape must present it as a bearer token. */
  token?: string | undefined;
}

const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (app, { metrics, token }) => {
  app.decorate('metrics', metrics);
  const inProgress = memo((method) => metrics.requestsInProgress.labels(method));
  const total = memo((key) => metrics.requestsTotal.labels(...(key.split(' ') as [string, string, string])));
  const duration = memo((key) => metrics.requestDuration.labels(...(key.split(' ') as [string, string])));

  app.addHook('onRequest', (request, reply, done) => {
    // The scrape itself is not work in progress: counted, the gauge could never read 0 to the scraper.
    if (request.routeOptions.url === METRICS_PATH) return done();
    // A WebSocket upgrade is no request in progress for the socket's whole life, nor a 499 when the client gives up
    // before it completes; one refused with an HTTP answer (429, 503, 404) is still counted by onResponse.
    if ((request.raw as { upgrade?: boolean }).upgrade) return done();
    const gauge = inProgress(request.method);
    gauge.inc();
    // 'close' fires once for every response, finished or aborted; onResponse does not run for aborted ones, which
    // are counted here under 499 (nginx's "client closed request"). A test shows the handler finishing later does
    // not count it again.
    reply.raw.once('close', () => {
      gauge.dec();
      // A hijacked reply (reply.sent, its response never ended by us) is its handler's to answer, not an abort.
      if (reply.raw.writableFinished || (reply.sent && !reply.raw.writableEnded)) return;
      total(`${request.method} ${routeLabel(request)} ${CLIENT_CLOSED_REQUEST}`).inc();
    });
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    // Route patterns and methods hold no spaces, so a space-joined key splits back into the label values.
    const methodAndRoute = `${request.method} ${routeLabel(request)}`;
    total(`${methodAndRoute} ${reply.statusCode}`).inc();
    duration(methodAndRoute).observe(reply.elapsedTime / 1000);
    done();
  });

  const clusterWide = clusterMetricsSource(metrics.registry);
  app.get(METRICS_PATH, { schema: { hide: true } }, async (request, reply) => {
    if (token !== undefined && !bearerMatches(request, token)) throw new UnauthorizedError();
    const body = clusterWide ? await clusterWide() : await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
};

export default fp(metricsPlugin, { name: 'metrics' });
