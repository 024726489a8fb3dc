// Unmatched requests: 404 {"detail":"Not Found"} for unknown paths, 405 with Allow for a known path under another
// method, and the original's trailing-slash redirect (307, method and query kept) to slashed collection routes.
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { rawExchange } from './error-routes.js';

function addRoutes(app: App): void {
  const echo = async (request: { method: string; query: unknown; body: unknown }) => ({
    method: request.method,
    query: request.query,
    body: request.body ?? null,
  });
  app.get('/api/v1/things/', echo);
  app.post('/api/v1/things/', echo);
  app.get('/api/v1/things/:id', echo);
  app.get('/api/v1/only', echo);
  app.get('/api/v1/multi', echo);
  app.put('/api/v1/multi', echo);
  app.get('/api/v1/items/:id', echo);
}

/** GET with the path exactly as given; resolves with the status line and headers. */
function rawGet(url: string, path: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(text.split('\r\n\r\n')[0] ?? ''));
  });
}

describeEachDialect('unmatched requests', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, extend: addRoutes });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    baseUrl = `http://127.0.0.1:${address.port}`;
  });
  afterAll(() => t.close());

  it('an unknown route is 404 {"detail":"Not Found"} with code and request_id', async () => {
    const res = await t.app.inject({ url: '/no/such/route' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json()).toEqual({
      detail: 'Not Found',
      code: 'not_found',
      request_id: res.headers['x-request-id'],
    });
    expect(res.headers.allow).toBeUndefined();
  });

  it.each([
    ['GET', '/api/v2/things'],
    ['POST', '/api/v1/unknown/deep/path'],
    ['DELETE', '/api/v1/things/1/extra'],
    ['PATCH', '/api/v1/nothing'],
    ['PUT', '/.env'],
    ['GET', '/wp-admin/'],
    ['GET', '/favicon.ico?x=1'],
    ['OPTIONS', '/api/v1/nothing'],
  ] as const)('%s %s (a path no route has) is 404, never 405', async (method, url) => {
    const res = await t.app.inject({ method, url });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ detail: 'Not Found', code: 'not_found' });
  });

  it.each([
    ['DELETE', '/health', 'GET, HEAD'],
    ['POST', '/api/v1/items/123', 'GET, HEAD'],
    ['PATCH', '/api/v1/multi', 'GET, HEAD, PUT'],
    ['DELETE', '/api/v1/things/', 'GET, HEAD, POST'],
    ['PUT', '/api/v1/openapi.json', 'GET, HEAD'],
  ] as const)(
    '%s %s (the path exists under other methods) is 405 with Allow: %s',
    async (method, url, allow) => {
      const res = await t.app.inject({ method, url });
      expect(res.statusCode).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expect(res.json()).toEqual({
        detail: 'Method Not Allowed',
        code: 'method_not_allowed',
        request_id: res.headers['x-request-id'],
      });
    },
  );

  it('an unusual method on a known path (PROPFIND) is 405 too', async () => {
    const res = await t.app.inject({ method: 'PROPFIND', url: '/health' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it.each([
    ['GET', '/api/v1/things', '/api/v1/things/'],
    ['HEAD', '/api/v1/things', '/api/v1/things/'],
    ['POST', '/api/v1/things', '/api/v1/things/'],
    ['GET', '/api/v1/things?a=1&b=2', '/api/v1/things/?a=1&b=2'],
    ['POST', '/api/v1/things?a=1&b=2', '/api/v1/things/?a=1&b=2'],
    ['GET', '/api/v1/things?q=%C3%A9t%C3%A9&empty=', '/api/v1/things/?q=%C3%A9t%C3%A9&empty='],
  ] as const)('%s %s redirects 307 to the slashed collection %s', async (method, url, location) => {
    const res = await t.app.inject({ method, url });
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe(location);
    expect(res.headers['x-request-id']).toBeDefined();
  });

  it('following the redirect over a real socket keeps the method, the query and the body', async () => {
    const res = await fetch(`${baseUrl}/api/v1/things?a=1&b=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'widget' }),
    });
    expect(res.status).toBe(200);
    expect(res.redirected).toBe(true);
    expect(await res.json()).toEqual({ method: 'POST', query: { a: '1', b: '2' }, body: { name: 'widget' } });
  });

  it('a path that exists only without the slash is not redirected: /api/v1/only/ is 404', async () => {
    const res = await t.app.inject({ url: '/api/v1/only/' });
    expect(res.statusCode).toBe(404);
    expect(res.headers.location).toBeUndefined();
    const plain = await t.app.inject({ url: '/api/v1/only' });
    expect(plain.statusCode).toBe(200);
  });

  it('a slashed path under a method it does not have is not redirected (PUT /api/v1/things)', async () => {
    const res = await t.app.inject({ method: 'PUT', url: '/api/v1/things' });
    expect(res.headers.location).toBeUndefined();
    expect(res.statusCode).toBe(404);
  });

  it('a path beginning with // or /\\ never yields a Location (no open redirect), over a real socket', async () => {
    // Sent raw: fetch and inject would normalise these paths before the server ever saw them.
    for (const path of ['//api/v1/things', '//evil.example/api/v1/things', '/\\evil.example/api/v1/things']) {
      const head = await rawGet(baseUrl, path);
      expect(head, path).toMatch(/^HTTP\/1\.1 404 /);
      expect(head.toLowerCase(), path).not.toContain('location:');
    }
  });

  it.each([
    ['http://evil.example/api/v1/things', '/api/v1/things/'],
    ['http://evil.example/api/v1/things?a=1', '/api/v1/things/?a=1'],
    ['https://evil.example:8443/api/v1/things', '/api/v1/things/'],
    ['http://evil.example//api/v1/things', null],
  ])(
    'an absolute-form request line (GET %s) is redirected to our own path, never to the host it names',
    async (target, location) => {
      // Sent raw: an HTTP client would send the origin form.
      const head = await rawGet(baseUrl, target);
      const found = /\r\nlocation: ([^\r\n]*)/i.exec(head)?.[1];
      if (location === null) {
        expect(found, head).toBeUndefined();
      } else {
        expect(head, target).toMatch(/^HTTP\/1\.1 307 /);
        expect(found).toBe(location);
      }
    },
  );

  it('the real slash redirects (/api/v1/chat, /api/v1/models) stay on our host for an absolute-form request', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/models'],
      ['POST', '/api/v1/chat'],
    ]) {
      const res = await rawExchange(
        baseUrl,
        `${method} http://evil.example${path} HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status, path).toBe(307);
      expect(res.headers.location).toBe(`${path}/`);
    }
  });

  it('the slashed collection itself answers without redirecting', async () => {
    const res = await t.app.inject({ url: '/api/v1/things/?x=1' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ method: 'GET', query: { x: '1' }, body: null });
  });

  it('a compressed JSON body to an unknown path or another method is 404 or 405, not a JSON error', async () => {
    const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    const payload = gzipSync('{"a":1}');
    const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/nowhere', headers, payload });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ detail: 'Not Found', code: 'not_found' });
    const wrongMethod = await t.app.inject({ method: 'POST', url: '/api/v1/only', headers, payload });
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET, HEAD');
    // On a route, the same body is decompressed and read.
    const route = await t.app.inject({ method: 'POST', url: '/api/v1/things/', headers, payload });
    expect(route.json()).toMatchObject({ body: { a: 1 } });
  });
});
