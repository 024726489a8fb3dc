// The health routes against real services: the database of each dialect, the shared Redis, RabbitMQ on 5672, and
// HTTP stand-ins for ChromaDB, Qdrant, FAISS, Consul and Kong, with the LLM stand-in as Ollama. The original's
// shapes field by field, the details beside them, single flight under 1,000 concurrent requests (counted at the
// stand-ins), the cache's life on the app's clock, and a service that starts failing.
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startHttpStandIn, type HttpStandIn } from '../../helpers/health-stand-ins.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { TEST_RABBITMQ_URL, TEST_REDIS_URL } from '../../helpers/services.js';

const NAMES = [
  'database',
  'redis',
  'rabbitmq',
  'neo4j',
  'chromadb',
  'qdrant',
  'faiss',
  'consul',
  'kong',
  'ollama',
];
const rabbitmq = inject('rabbitmqAvailable');
const redis = inject('redisAvailable');

interface Detail {
  status: string;
  latency_ms: number | null;
  reason?: string;
}

describeEachDialect('health routes', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  const clock = new ManualClock(new Date('2026-12-01T00:00:00Z'));
  const standIns: Record<string, HttpStandIn> = {};
  /** The services this app enables: neo4j stays disabled (no URL); faiss is the embedded vector index (no FAISS_URL). */
  const enabled = ['database', 'chromadb', 'qdrant', 'faiss', 'consul', 'kong', 'ollama'];
  if (redis) enabled.push('redis');
  if (rabbitmq) enabled.push('rabbitmq');

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    standIns.chromadb = await startHttpStandIn({ '/api/v2/heartbeat': [200, '{"nanosecond heartbeat":1}'] });
    standIns.qdrant = await startHttpStandIn({ '/healthz': [200, 'healthz check passed'] });
    standIns.consul = await startHttpStandIn({ '/v1/status/leader': [200, '"127.0.0.1:8300"'] });
    standIns.kong = await startHttpStandIn({ '/status': [200, '{"database":{"reachable":true}}'] });
    t = await buildTestApp({
      dialect,
      clock,
      env: {
        OLLAMA_URL: llm.url,
        CHROMADB_URL: standIns.chromadb.url,
        QDRANT_URL: standIns.qdrant.url,
        CONSUL_URL: standIns.consul.url,
        KONG_ADMIN_URL: standIns.kong.url,
        ...(redis ? { REDIS_URL: TEST_REDIS_URL } : {}),
        ...(rabbitmq ? { RABBITMQ_URL: TEST_RABBITMQ_URL } : {}),
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
    for (const standIn of Object.values(standIns)) await standIn.close();
  });

  const get = async <T>(url: string, status = 200) => {
    const response = await t.app.inject({ url });
    expect(response.statusCode, response.body).toBe(status);
    return response.json<T>();
  };
  /** A new round on the next request: the cached one has expired on the app's clock. */
  const expire = () => clock.advance(t.config.health.cacheTtlMs);

  it('GET /api/v1/health/ has the original fields, every enabled service healthy, the disabled ones listed', async () => {
    expire();
    const body = await get<Record<string, unknown>>('/api/v1/health/');
    expect(Object.keys(body).sort()).toEqual(
      [
        'version',
        'status',
        'uptime_seconds',
        'database_pool',
        'services',
        'healthy_count',
        'total_services',
        'details',
        'checked_at',
      ].sort(),
    );
    expect(body).toMatchObject({
      version: '0.0.0-test',
      status: 'healthy',
      healthy_count: enabled.length,
      total_services: enabled.length,
    });
    expect(Number.isInteger(body.uptime_seconds)).toBe(true);
    const pool = body.database_pool as Record<string, number>;
    expect(Object.keys(pool).sort()).toEqual(
      ['available', 'checked_in', 'checked_out', 'overflow', 'size', 'total_connections'].sort(),
    );
    expect(pool.size).toBe(dialect === 'sqlite' ? 1 : t.config.db.poolSize);
    const services = body.services as Record<string, boolean>;
    const details = body.details as Record<string, Detail>;
    expect(Object.keys(services)).toEqual(NAMES);
    for (const name of NAMES) {
      const on = enabled.includes(name);
      expect(services[name], name).toBe(on);
      expect(details[name]?.status, name).toBe(on ? 'healthy' : 'disabled');
      if (on) expect(details[name]?.latency_ms, name).toBeGreaterThanOrEqual(0);
      else expect(details[name]?.latency_ms, name).toBeNull();
    }
    // The probes spoke each service's own protocol at its own path.
    expect(standIns.chromadb?.hits('/api/v2/heartbeat')).toBeGreaterThan(0);
    expect(standIns.consul?.hits('/v1/status/leader')).toBeGreaterThan(0);
    expect(llm.requests.some((r) => r.path === '/api/version')).toBe(true);
  });

  it('redirects the unslashed /api/v1/health with 307 as the original, and answers 405 to other methods', async () => {
    const unslashed = await t.app.inject({ url: '/api/v1/health?x=1' });
    expect(unslashed.statusCode).toBe(307);
    expect(unslashed.headers.location).toBe('/api/v1/health/?x=1');
    for (const url of [
      '/api/v1/health/',
      '/api/v1/health/services',
      '/health/ready',
      '/api/v1/health/metrics',
    ]) {
      const posted = await t.app.inject({ method: 'POST', url, payload: {} });
      expect(posted.statusCode, url).toBe(405);
      expect(posted.headers.allow, url).toBe('GET, HEAD');
    }
  });

  it('GET /api/v1/health/services and /services/{name} in the original shapes; an unknown name is 404 listing the valid ones', async () => {
    const list = await get<
      { services: ({ name: string; healthy: boolean } & Detail)[] } & Record<string, unknown>
    >('/api/v1/health/services');
    expect(list).toMatchObject({
      total_services: enabled.length,
      healthy_count: enabled.length,
      unhealthy_count: 0,
      status: 'healthy',
    });
    expect(list.services.map((s) => s.name)).toEqual(NAMES);
    expect(list.services.find((s) => s.name === 'neo4j')).toMatchObject({
      healthy: false,
      status: 'disabled',
    });
    expect(list.services.find((s) => s.name === 'faiss')).toMatchObject({ healthy: true, status: 'healthy' });

    const kong = await get<Record<string, unknown>>('/api/v1/health/services/kong');
    expect(kong).toMatchObject({ service: 'kong', healthy: true, status: 'healthy' });
    expect(Object.keys(kong).sort()).toEqual(['checked_at', 'healthy', 'latency_ms', 'service', 'status']);

    for (const name of ['postgres', 'KONG', '<script>', 'x'.repeat(64)]) {
      const missing = await t.app.inject({ url: `/api/v1/health/services/${encodeURIComponent(name)}` });
      expect(missing.statusCode, name).toBe(404);
      expect(missing.json<{ detail: string }>().detail).toBe(
        `Service '${name}' not found. Valid services: [${NAMES.map((n) => `'${n}'`).join(', ')}]`,
      );
    }
    expect((await t.app.inject({ url: `/api/v1/health/services/${'x'.repeat(65)}` })).statusCode).toBe(422);
  });

  it('GET /health/detailed and /api/v1/health/metrics report the round, the pool, Redis, the breaker and the LLM load', async () => {
    const detailed = await get<Record<string, unknown>>('/health/detailed');
    expect(detailed).toMatchObject({ status: 'healthy', app: t.config.app.name, version: '0.0.0-test' });
    expect(Object.keys(detailed.services as object)).toEqual(NAMES);

    const metrics = await get<Record<string, Record<string, unknown>>>('/api/v1/health/metrics');
    expect(Object.keys(metrics).sort()).toEqual(
      [
        'application',
        'circuit_breakers',
        'database',
        'llm',
        'rate_limiting',
        'redis',
        'services',
        'timestamp',
        'uptime_seconds',
      ].sort(),
    );
    expect(metrics.timestamp).toBe(clock.now().getTime() / 1000);
    expect(metrics.database).toMatchObject({
      dialect,
      pool_size: dialect === 'sqlite' ? 1 : t.config.db.poolSize,
    });
    expect(metrics.database?.utilization_percent).toBeGreaterThanOrEqual(0);
    expect(metrics.services).toMatchObject({
      total: enabled.length,
      healthy: enabled.length,
      unhealthy: 0,
      health_percentage: 100,
    });
    expect(metrics.application).toEqual({ version: '0.0.0-test', environment: 'test', api_version: 'v1' });
    expect(metrics.circuit_breakers).toEqual({ ollama: { state: 'closed' } });
    expect(metrics.rate_limiting).toEqual({
      backend: redis ? 'redis' : 'memory',
      fallback_active: false,
      decisions: { allowed: expect.any(Number) as number, limited: 0 },
      backend_errors: 0,
      memory_identities: 0,
    });
    expect(metrics.llm).toEqual({
      in_flight: 0,
      queued: 0,
      max_concurrent: t.config.llm.maxConcurrent,
      queue_size: t.config.llm.queueSize,
    });
    if (redis) {
      expect(metrics.redis).toMatchObject({
        status: 'ready',
        connected: true,
        commands_pending: 0,
        reconnects: 0,
      });
      expect(metrics.redis?.last_ping_ms).toBeGreaterThanOrEqual(0);
    } else expect(metrics.redis).toEqual({ status: 'disabled' });
  });

  it('runs one probe round for 1,000 concurrent health requests, and reuses it until it expires', async () => {
    expire();
    const before = standIns.kong?.hits() ?? 0;
    const urls = ['/api/v1/health/', '/api/v1/health/services', '/api/v1/health/metrics', '/health/detailed'];
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => t.app.inject({ url: urls[i % urls.length] ?? '/' })),
    );
    for (const answer of answers) expect(answer.statusCode, answer.body).toBe(200);
    expect((standIns.kong?.hits() ?? 0) - before).toBe(1);
    const checkedAt = new Set(
      answers.map((a) => a.json<{ checked_at?: string }>().checked_at).filter(Boolean),
    );
    expect(checkedAt.size).toBe(1);

    clock.advance(t.config.health.cacheTtlMs - 1);
    await get('/api/v1/health/');
    expect((standIns.kong?.hits() ?? 0) - before).toBe(1);
    clock.advance(1);
    await get('/api/v1/health/');
    expect((standIns.kong?.hits() ?? 0) - before).toBe(2);
  });

  it('says degraded, with the reason, when an enabled service fails, and healthy again when it is back', async () => {
    standIns.qdrant?.answer('/healthz', 500, 'down');
    standIns.consul?.answer('/v1/status/leader', 200, '""');
    expire();
    const body = await get<{
      status: string;
      services: Record<string, boolean>;
      details: Record<string, Detail>;
    }>('/api/v1/health/');
    expect(body.status).toBe('degraded');
    expect(body.services.qdrant).toBe(false);
    expect(body.details.qdrant).toMatchObject({ status: 'unhealthy', reason: 'HTTP 500' });
    expect(body.details.consul).toMatchObject({ status: 'unhealthy', reason: 'no leader' });
    const list = await get<{ healthy_count: number; unhealthy_count: number }>('/api/v1/health/services');
    expect(list).toMatchObject({ healthy_count: enabled.length - 2, unhealthy_count: 2 });
    // The original's answer stays 200: degraded is a state to report, not an error of the request.
    const ready = await get<{ status: string }>('/health/ready');
    expect(ready.status).toBe('ready');

    standIns.qdrant?.answer('/healthz', 200, 'ok');
    standIns.consul?.answer('/v1/status/leader', 200, '"10.0.0.1:8300"');
    expire();
    expect((await get<{ status: string }>('/api/v1/health/')).status).toBe('healthy');
  });

  it('GET /health/ready is 200 with the database (and Redis when configured) answering', async () => {
    const ready = await get<{ status: string; checks: Record<string, Detail> }>('/health/ready');
    expect(ready.status).toBe('ready');
    expect(ready.checks.database?.status).toBe('healthy');
    if (redis) expect(ready.checks.redis?.status).toBe('healthy');
    else expect(ready.checks.redis).toBeUndefined();
  });
});
