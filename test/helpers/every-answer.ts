// One request for every kind of answer the platform gives (success, redirect, each 4xx, a 500, a preflight,
// /metrics, the OpenAPI document), and the routes they need, for tests that check something every answer carries.
import { Type } from 'typebox';
import type { App } from '../../src/app.js';

export function addEveryAnswerRoutes(app: App): void {
  app.post('/test/validated', { schema: { body: Type.Object({ n: Type.Integer() }) } }, async () => ({}));
  app.get('/test/fail', async () => {
    // Fails after an await, as real handlers do, so the error path runs outside the first tick.
    await new Promise((resolve) => setTimeout(resolve, 1));
    throw new Error('boom');
  });
  app.get('/api/v1/things/', async () => ({ things: [] }));
}

export const EVERY_ANSWER = [
  ['200', { url: '/health' }, 200],
  ['200 HEAD', { method: 'HEAD' as const, url: '/health' }, 200],
  ['307 redirect', { url: '/api/v1/things' }, 307],
  ['400 malformed URL', { url: '/%' }, 400],
  ['404', { url: '/no/such/page' }, 404],
  ['405', { method: 'PUT' as const, url: '/health' }, 405],
  ['413', { method: 'POST' as const, url: '/test/validated', payload: { n: 'x'.repeat(1024 * 1024) } }, 413],
  [
    '415',
    {
      method: 'POST' as const,
      url: '/test/validated',
      headers: { 'content-type': 'application/xml' },
      payload: '<n/>',
    },
    415,
  ],
  ['422', { method: 'POST' as const, url: '/test/validated', payload: { n: 'one' } }, 422],
  [
    '422 malformed JSON',
    {
      method: 'POST' as const,
      url: '/test/validated',
      headers: { 'content-type': 'application/json' },
      payload: '{',
    },
    422,
  ],
  ['500', { url: '/test/fail' }, 500],
  ['/metrics', { url: '/metrics' }, 200],
  ['the OpenAPI document', { url: '/api/v1/openapi.json' }, 200],
  [
    '204 CORS preflight',
    {
      method: 'OPTIONS' as const,
      url: '/test/validated',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
    },
    204,
  ],
] as const;
