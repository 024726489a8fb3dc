// Log lines: one "request completed" line per request with what an operator needs (and no query string, which
// may carry tokens), secrets censored at the top of a log object and one level down, nothing below the level.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import type { App } from '../../../src/app.js';

function addRoutes(app: App): void {
  app.post('/api/v1/log-secrets', async (request) => {
    request.log.info(
      { password: 'hunter2', body: { token: 'tok-123', refresh_token: 'r-1' } },
      'with secrets',
    );
    request.log.child({ module: 'deep' }).warn({ authorization: 'Bearer abc' }, 'from a child');
    request.log.trace('below every level used here');
    return { ok: true };
  });
}

const completed = (logs: Record<string, unknown>[]) => logs.filter((l) => l.msg === 'request completed');

describeEachDialect('logging', (dialect) => {
  let t: TestApp;
  let quiet: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, captureLogs: true, extend: addRoutes });
    quiet = await buildTestApp({ dialect, captureLogs: true, env: { LOG_LEVEL: 'warn' }, extend: addRoutes });
  });
  afterAll(async () => {
    await t.close();
    await quiet.close();
  });

  it('writes one completion line per request: id, method, route pattern, status, time', async () => {
    t.logs.length = 0;
    const res = await t.app.inject({
      url: '/health?token=secret-in-query',
      headers: { 'x-request-id': 'log-1' },
    });
    expect(res.statusCode).toBe(200);
    const lines = completed(t.logs);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      request_id: 'log-1',
      method: 'GET',
      route: '/health',
      statusCode: 200,
    });
    expect(typeof lines[0]?.responseTime).toBe('number');
    expect(JSON.stringify(t.logs)).not.toContain('secret-in-query');
  });

  it('names the path without its query string when no route matched', async () => {
    t.logs.length = 0;
    await t.app.inject({ url: '/no/such/path?token=abc', headers: { 'x-request-id': 'log-2' } });
    expect(completed(t.logs)).toEqual([
      expect.objectContaining({ request_id: 'log-2', path: '/no/such/path', statusCode: 404 }),
    ]);
    expect(JSON.stringify(t.logs)).not.toContain('token=abc');
  });

  it('censors secrets at the top of a log object and one level down, in request and child loggers', async () => {
    t.logs.length = 0;
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/log-secrets',
      payload: {},
      headers: { 'x-request-id': 'log-3' },
    });
    const raw = JSON.stringify(t.logs);
    for (const secret of ['hunter2', 'tok-123', 'r-1', 'Bearer abc']) expect(raw).not.toContain(secret);
    const secrets = t.logs.find((l) => l.msg === 'with secrets');
    expect(secrets).toMatchObject({
      request_id: 'log-3',
      password: '[redacted]',
      body: { token: '[redacted]', refresh_token: '[redacted]' },
    });
    expect(t.logs.find((l) => l.msg === 'from a child')).toMatchObject({
      request_id: 'log-3',
      module: 'deep',
      authorization: '[redacted]',
    });
    expect(t.logs.find((l) => l.msg === 'below every level used here')).toBeUndefined();
  });

  it('at LOG_LEVEL=warn writes no line for a successful request, and still the warnings', async () => {
    quiet.logs.length = 0;
    await quiet.app.inject({ url: '/health' });
    expect(quiet.logs).toEqual([]);
    await quiet.app.inject({ method: 'POST', url: '/api/v1/log-secrets', payload: {} });
    expect(quiet.logs.map((l) => l.msg)).toEqual(['from a child']);
  });
});
