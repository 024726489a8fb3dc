import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

describeEachDialect('root routes', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, env: { APP_NAME: 'Test App' } });
  });
  afterAll(() => t.close());

  it('GET / names the app, version, docs and API prefix', async () => {
    const res = await t.app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      app: 'Test App',
      version: '0.0.0-test',
      status: 'operational',
      docs: '/docs',
      api: '/api/v1',
    });
  });

  it('GET /health is liveness without dependency checks', async () => {
    const res = await t.app.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'healthy', app: 'Test App' });
  });
});
