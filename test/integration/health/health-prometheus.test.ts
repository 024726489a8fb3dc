// Prometheus: the pool gauges read from the real pool at scrape time (no health route called first), the time
// queries wait for a connection, the Redis connection, the probe rounds per service (disabled ones absent), and
// METRICS_TOKEN guarding /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { closedPort } from '../../helpers/closed-port.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startHttpStandIn, type HttpStandIn } from '../../helpers/health-stand-ins.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';

const TOKEN = 'scrape-token-0123456789';

/** The value of one sample of the exposition text; undefined when it is absent. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const escaped = `${name}${labels}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

describeEachDialect('Prometheus metrics of pools, Redis and probes', (dialect) => {
  let t: TestApp;
  let kong: HttpStandIn;
  const clock = new ManualClock();
  beforeAll(async () => {
    kong = await startHttpStandIn({ '/status': [200, '{}'] });
    t = await buildTestApp({
      dialect,
      clock,
      env: {
        REDIS_URL: TEST_REDIS_URL,
        METRICS_TOKEN: TOKEN,
        KONG_ADMIN_URL: kong.url,
        QDRANT_URL: `http://127.0.0.1:${await closedPort()}`,
        OLLAMA_URL: `http://127.0.0.1:${await closedPort()}`,
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await kong?.close();
  });

  const scrape = async () => {
    const response = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.statusCode).toBe(200);
    return response.body;
  };

  it('refuses a scrape without the token, or with another, as 401 with WWW-Authenticate', async () => {
    for (const authorization of [
      undefined,
      'Bearer wrong',
      `Basic ${TOKEN}`,
      `Bearer ${TOKEN}x`,
      'Bearer ',
    ]) {
      const response = await t.app.inject({
        url: '/metrics',
        headers: authorization === undefined ? {} : { authorization },
      });
      expect(response.statusCode, authorization).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.body).not.toContain('db_pool');
    }
  });

  it('reads the pool at scrape time, and times the waits for a connection', async () => {
    const text = await scrape();
    const size = dialect === 'sqlite' ? 1 : t.config.db.poolSize;
    expect(sample(text, 'db_pool_size')).toBe(size);
    const idle = sample(text, 'db_pool_checked_in') ?? -1;
    const inUse = sample(text, 'db_pool_checked_out') ?? -1;
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(inUse).toBeGreaterThanOrEqual(0);
    expect(idle + inUse).toBeLessThanOrEqual(size);
    expect(sample(text, 'db_pool_overflow')).toBe(0);
    // Migrations and the start's ping went through the pool.
    expect(sample(text, 'db_pool_wait_seconds_count')).toBeGreaterThan(0);
    const before = sample(text, 'db_pool_wait_seconds_count') ?? 0;
    await t.app.inject({ url: '/health/ready' });
    expect(sample(await scrape(), 'db_pool_wait_seconds_count')).toBeGreaterThan(before);
  });

  it('reports the Redis connection', async () => {
    const text = await scrape();
    expect(sample(text, 'redis_connected')).toBe(1);
    expect(sample(text, 'redis_commands_pending')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'redis_reconnects_total')).toBe(0);
  });

  it('reports each enabled service from the probe round a scrape triggers, and no disabled one', async () => {
    clock.advance(t.config.health.cacheTtlMs);
    const before = kong.hits();
    const text = await scrape();
    expect(kong.hits()).toBe(before + 1);
    expect(sample(text, 'backend_service_status', '{service="database"}')).toBe(1);
    expect(sample(text, 'backend_service_status', '{service="redis"}')).toBe(1);
    expect(sample(text, 'backend_service_status', '{service="kong"}')).toBe(1);
    expect(sample(text, 'backend_service_status', '{service="qdrant"}')).toBe(0);
    expect(sample(text, 'backend_service_status', '{service="ollama"}')).toBe(0);
    expect(sample(text, 'backend_service_status', '{service="neo4j"}')).toBeUndefined();
    expect(sample(text, 'backend_service_probe_seconds', '{service="kong"}')).toBeGreaterThanOrEqual(0);
  });
});

describe('Prometheus without Redis and without METRICS_TOKEN', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t?.close());

  it('serves /metrics openly and exports no Redis metric', async () => {
    const response = await t.app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('db_pool_size 1');
    expect(response.body).not.toContain('redis_connected');
    expect(response.body).not.toContain('backend_service_status{service="redis"}');
  });
});
