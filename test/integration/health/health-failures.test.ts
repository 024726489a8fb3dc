// Health probes of services that are not there (a closed port), that never answer (a server that accepts and stays
// silent: the timeout is honoured and the answer still comes), and that refuse us; reasons are short and never carry
// a URL, host or password. Readiness follows the database and Redis: 503 while a dedicated PostgreSQL connection
// target or our own redis-server is down, 200 once it is back.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { closedPort } from '../../helpers/closed-port.js';
import { describePostgres } from '../../helpers/dialects.js';
import { TcpProxy, startSilentServer } from '../../helpers/health-stand-ins.js';
import { OwnRedis, describeWithOwnRedis, redisReady } from '../../helpers/redis-server.js';

interface Detail {
  status: string;
  latency_ms: number | null;
  reason?: string;
}
type Overview = {
  status: string;
  details: Record<string, Detail>;
  healthy_count: number;
  total_services: number;
};

const OUTSIDE = ['rabbitmq', 'neo4j', 'chromadb', 'qdrant', 'faiss', 'consul', 'kong', 'ollama'];
const SECRET = 'pw-marker-7f3a';

/** Every outside service's URL at `host:port`, with credentials where the URL may carry them. */
function servicesAt(port: number): Record<string, string> {
  const http = `http://127.0.0.1:${port}`;
  return {
    RABBITMQ_URL: `amqp://guest:${SECRET}@127.0.0.1:${port}/`,
    NEO4J_URL: `bolt://127.0.0.1:${port}`,
    NEO4J_PASSWORD: SECRET,
    CHROMADB_URL: `http://user:${SECRET}@127.0.0.1:${port}`,
    QDRANT_URL: http,
    FAISS_URL: http,
    CONSUL_URL: http,
    KONG_ADMIN_URL: http,
    OLLAMA_URL: http,
  };
}

describe('probes of services that are not there', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    port = await closedPort();
    t = await buildTestApp({ env: servicesAt(port) });
  });
  afterAll(() => t?.close());

  it('finds each unhealthy with a short reason, says degraded, and shows no URL, host or password', async () => {
    const response = await t.app.inject({ url: '/api/v1/health/' });
    expect(response.statusCode).toBe(200);
    const body = response.json<Overview>();
    expect(body).toMatchObject({ status: 'degraded', healthy_count: 1, total_services: 9 });
    for (const name of OUTSIDE) {
      expect(body.details[name]?.status, name).toBe('unhealthy');
      // neo4j-driver reports a refused connection as its ServiceUnavailable.
      expect(body.details[name]?.reason, name).toBe(
        name === 'neo4j' ? 'service unavailable' : 'connection refused',
      );
    }
    for (const url of [
      '/api/v1/health/',
      '/api/v1/health/services',
      '/api/v1/health/metrics',
      '/health/detailed',
    ]) {
      const text = (await t.app.inject({ url })).body;
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(String(port));
      expect(text).not.toContain('127.0.0.1');
    }
  });
});

describe('probes of services that never answer', () => {
  const TIMEOUT_MS = 300;
  let t: TestApp;
  let silent: Awaited<ReturnType<typeof startSilentServer>>;
  const clock = new ManualClock();
  beforeAll(async () => {
    silent = await startSilentServer();
    t = await buildTestApp({
      clock,
      env: {
        ...servicesAt(silent.port),
        HEALTH_PROBE_TIMEOUT_MS: String(TIMEOUT_MS),
        LLM_CONNECT_TIMEOUT_MS: '60000',
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await silent?.close();
  });

  it('answers once every probe has timed out, each "timeout after" the setting, the database still healthy', async () => {
    for (let round = 0; round < 2; round++) {
      clock.advance(t.config.health.cacheTtlMs);
      const body = (await t.app.inject({ url: '/api/v1/health/' })).json<Overview>();
      expect(body.details.database?.status).toBe('healthy');
      for (const name of OUTSIDE.filter((n) => n !== 'rabbitmq')) {
        expect(body.details[name], name).toMatchObject({
          status: 'unhealthy',
          reason: `timeout after ${TIMEOUT_MS} ms`,
        });
        expect(body.details[name]?.latency_ms, name).toBeGreaterThanOrEqual(TIMEOUT_MS - 1);
      }
      // The AMQP connection is kept between rounds: its own handshake timeout (the same setting) ends an attempt,
      // and a round that finds no connection reports that at once while amqplib retries in the background.
      expect(body.details.rabbitmq?.status).toBe('unhealthy');
      expect(['connect timeout', `timeout after ${TIMEOUT_MS} ms`]).toContain(body.details.rabbitmq?.reason);
      expect(body.details.rabbitmq?.latency_ms).toBeLessThanOrEqual(TIMEOUT_MS + 1000);
    }
  });

  it('keeps readiness out of it: only the database (and Redis) count', async () => {
    const ready = await t.app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({
      status: 'ready',
      checks: { database: { status: 'healthy', latency_ms: expect.any(Number) as number } },
    });
  });
});

describe('a service whose healthy answer is cut off', () => {
  let t: TestApp;
  let liar: net.Server;
  beforeAll(async () => {
    // 200 with a Content-Length of 1000, three bytes of it, then the connection closed.
    liar = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\nabc');
      });
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    const { port } = liar.address() as net.AddressInfo;
    t = await buildTestApp({ env: { FAISS_URL: `http://127.0.0.1:${port}` } });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => liar?.close(resolve));
  });

  it('is unhealthy, not healthy', async () => {
    const faiss = (await t.app.inject({ url: '/api/v1/health/services/faiss' })).json<Detail>();
    expect(faiss).toMatchObject({ status: 'unhealthy', reason: 'connection closed' });
  });
});

describeWithOwnRedis('readiness while our own Redis is down', () => {
  let redis: OwnRedis;
  let t: TestApp;
  beforeAll(async () => {
    redis = await OwnRedis.start();
    t = await buildTestApp({ env: { REDIS_URL: redis.url, HEALTH_PROBE_TIMEOUT_MS: '500' } });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.kill();
  });

  it('is 503 naming Redis while it is down, 200 when it is back; health says degraded meanwhile', async () => {
    expect((await t.app.inject({ url: '/health/ready' })).statusCode).toBe(200);
    await redis.kill();
    await redisReady(t.app, false);
    const down = await t.app.inject({ url: '/health/ready' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({
      status: 'not_ready',
      checks: {
        database: { status: 'healthy' },
        redis: { status: 'unhealthy', reason: expect.any(String) as string },
      },
    });
    const health = (await t.app.inject({ url: '/api/v1/health/services/redis' })).json<Detail>();
    expect(health.status).toBe('unhealthy');
    const metrics = (await t.app.inject({ url: '/api/v1/health/metrics' })).json<{
      redis: { connected: boolean };
    }>();
    expect(metrics.redis.connected).toBe(false);

    await redis.restart();
    await redisReady(t.app, true);
    expect((await t.app.inject({ url: '/health/ready' })).statusCode).toBe(200);
    const after = (await t.app.inject({ url: '/api/v1/health/metrics' })).json<{
      redis: { reconnects: number };
    }>();
    expect(after.redis.reconnects).toBeGreaterThan(0);
  });
});

describePostgres('readiness while PostgreSQL is unreachable', () => {
  let proxy: TcpProxy;
  let t: TestApp;
  beforeAll(async () => {
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: 5432 });
    t = await buildTestApp({
      dialect: 'postgres',
      databaseUrl: (url) => {
        const through = new URL(url);
        through.host = `127.0.0.1:${proxy.port}`;
        return through.href;
      },
      env: { HEALTH_PROBE_TIMEOUT_MS: '1000', DB_POOL_TIMEOUT_MS: '500' },
    });
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.stop();
  });

  it('is 503 naming the database while its connection target is down, 200 once it is back', async () => {
    expect((await t.app.inject({ url: '/health/ready' })).statusCode).toBe(200);
    await proxy.stop();
    const down = await t.app.inject({ url: '/health/ready' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({
      status: 'not_ready',
      checks: { database: { status: 'unhealthy', reason: expect.any(String) as string } },
    });
    expect(down.body).not.toContain(String(proxy.port));

    await proxy.start();
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await t.app.inject({ url: '/health/ready' })).statusCode;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
  });
});
