// Registration with Consul (CONSUL_URL) on the real startServer(): the instance registers at start with an HTTP check
// on /health/ready (which answers), deregisters at shutdown, keeps trying in the background while Consul refuses,
// and starts and stops normally when Consul is not there at all.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { startServer, type RunningServer } from '../../../src/server.js';
import { TEST_JWT_SECRET } from '../../helpers/app.js';
import { closedPort } from '../../helpers/closed-port.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';
import { NEVER, startHttpStandIn, type HttpStandIn } from '../../helpers/health-stand-ins.js';

const REGISTER = '/v1/agent/service/register';

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('registration with Consul', () => {
  let database: FreshDatabase;
  let consul: HttpStandIn;
  let server: RunningServer | undefined;

  beforeEach(async () => {
    database = await freshDatabase('sqlite');
    consul = await startHttpStandIn({ [REGISTER]: [200, ''], '/v1/status/leader': [200, '"10.0.0.1:8300"'] });
  });
  afterEach(async () => {
    await server?.shutdown('test over');
    server = undefined;
    await consul.close();
    await database.drop();
  });

  const start = (consulUrl: string, env: Record<string, string> = {}) =>
    startServer(
      parseConfig(
        {
          ENVIRONMENT: 'test',
          DATA_DIR: database.dataDir,
          DATABASE_URL: database.url,
          HOST: '127.0.0.1',
          PORT: '0',
          LOG_LEVEL: 'silent',
          JWT_SECRET_KEY: TEST_JWT_SECRET,
          CONSUL_URL: consulUrl,
          CONSUL_SERVICE_ADDRESS: '127.0.0.1',
          ...env,
        },
        '0.0.0-test',
      ),
      { migrate: true },
    );
  const portOf = (running: RunningServer) => Number(new URL(running.address).port);

  it('registers at start with a working /health/ready check, and deregisters at shutdown', async () => {
    const running = await start(consul.url);
    server = running;
    await until(() => consul.hits(REGISTER) === 1, 'the registration');
    const port = portOf(running);
    const registration = consul.received.find((r) => r.path === REGISTER);
    expect(registration?.method).toBe('PUT');
    const body = JSON.parse(registration?.body ?? '{}') as Record<string, unknown>;
    const id = `sutazai-backend-127.0.0.1-${port}`;
    expect(body).toEqual({
      ID: id,
      Name: 'sutazai-backend',
      Tags: ['api', 'backend', 'fastify'],
      Address: '127.0.0.1',
      Port: port,
      Check: { HTTP: `http://127.0.0.1:${port}/health/ready`, Interval: '30s', Timeout: '10s' },
    });
    const check = await fetch((body.Check as { HTTP: string }).HTTP);
    expect(check.status).toBe(200);

    consul.answer(`/v1/agent/service/deregister/${id}`, 200, '');
    expect(await running.shutdown('test')).toBe(true);
    server = undefined;
    expect(consul.received.at(-1)).toMatchObject({
      method: 'PUT',
      path: `/v1/agent/service/deregister/${id}`,
    });
  });

  it('serves while Consul refuses, and registers once it accepts', async () => {
    consul.answer(REGISTER, 500, 'no');
    server = await start(consul.url);
    expect((await fetch(`${server.address}/health`)).status).toBe(200);
    await until(() => consul.hits(REGISTER) >= 1, 'the first attempt');
    consul.answer(REGISTER, 200, '');
    await until(() => consul.hits(REGISTER) >= 2, 'a second attempt');
    expect(consul.received.filter((r) => r.path === REGISTER).every((r) => r.method === 'PUT')).toBe(true);
  });

  it('starts and stops normally when Consul is not there', async () => {
    const running = await start(`http://127.0.0.1:${await closedPort()}`);
    expect((await fetch(`${running.address}/health/ready`)).status).toBe(200);
    expect(await running.shutdown('test')).toBe(true);
  });

  it('sends the ACL token and the credentials of the URL to Consul, for the registration and the probe', async () => {
    const url = new URL(consul.url);
    url.username = 'agent';
    url.password = 'pw-9f2c';
    server = await start(url.href, { CONSUL_TOKEN: 'acl-token-1234' });
    await until(() => consul.hits(REGISTER) === 1, 'the registration');
    expect((await fetch(`${server.address}/api/v1/health/services/consul`)).status).toBe(200);
    await until(() => consul.hits('/v1/status/leader') === 1, 'the probe');
    const basic = `Basic ${Buffer.from('agent:pw-9f2c').toString('base64')}`;
    for (const path of [REGISTER, '/v1/status/leader']) {
      const received = consul.received.find((r) => r.path === path);
      expect(received?.headers['x-consul-token'], path).toBe('acl-token-1234');
      expect(received?.headers.authorization, path).toBe(basic);
    }
  });

  it('gives a Consul that never answers the deregistration no more than SHUTDOWN_TIMEOUT_MS', async () => {
    // Consul's own timeout is 30 s here: were it the bound, this test would overrun its 15 s.
    const running = await start(consul.url, { SHUTDOWN_TIMEOUT_MS: '300', HEALTH_PROBE_TIMEOUT_MS: '30000' });
    server = running;
    await until(() => consul.hits(REGISTER) === 1, 'the registration');
    const id = `sutazai-backend-127.0.0.1-${portOf(running)}`;
    consul.answer(`/v1/agent/service/deregister/${id}`, NEVER);
    expect(await running.shutdown('test')).toBe(true);
    server = undefined;
    // The request left before the deadline; on a busy machine the stand-in may count it a moment after the exit.
    await until(() => consul.hits(`/v1/agent/service/deregister/${id}`) === 1, 'the deregistration');
  }, 15_000);
});
