// CORS: allowed origins (CORS_ORIGINS, defaulting to the local frontends) get their origin echoed with credentials;
// any other origin gets no Access-Control-* header at all, preflight included; "*" never comes with credentials.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PATH_PARAMETER_LENGTH, type App } from '../../../src/app.js';
import { DEFAULT_CORS_ORIGINS } from '../../../src/config.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { listen, rawExchange } from './error-routes.js';

const DEFAULT_ORIGINS = [
  'http://localhost:11000',
  'http://localhost:3000',
  'http://127.0.0.1:11000',
  'http://127.0.0.1:3000',
];

function addRoutes(app: App): void {
  app.post('/api/v1/widgets', async () => ({ created: true }));
  app.get('/api/v1/widgets', async () => ({ widgets: [] }));
}

function corsHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-')));
}

const preflight = (origin: string, requestHeaders?: string) => ({
  method: 'OPTIONS' as const,
  url: '/api/v1/widgets',
  headers: {
    origin,
    'access-control-request-method': 'POST',
    ...(requestHeaders ? { 'access-control-request-headers': requestHeaders } : {}),
  },
});

describeEachDialect('CORS', (dialect) => {
  describe('with the default origins', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({ dialect, extend: addRoutes });
    });
    afterAll(() => t.close());

    it('the defaults are the four local frontend origins', () => {
      expect(DEFAULT_CORS_ORIGINS.split(',')).toEqual(DEFAULT_ORIGINS);
      expect(t.config.server.corsOrigins).toEqual(DEFAULT_ORIGINS);
    });

    it.each(DEFAULT_ORIGINS)(
      '%s gets its origin echoed, with credentials and the exposed headers',
      async (origin) => {
        const res = await t.app.inject({ url: '/api/v1/widgets', headers: { origin } });
        expect(res.statusCode).toBe(200);
        expect(res.headers['access-control-allow-origin']).toBe(origin);
        expect(res.headers['access-control-allow-credentials']).toBe('true');
        expect(String(res.headers['access-control-expose-headers'])).toMatch(/\bx-request-id\b/);
        expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
      },
    );

    it('a preflight from an allowed origin is 204 with methods, the asked headers and a max age', async () => {
      const res = await t.app.inject(preflight('http://localhost:3000', 'content-type,authorization'));
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      expect(res.headers['access-control-allow-origin']).toBe('http://localhost:3000');
      expect(res.headers['access-control-allow-credentials']).toBe('true');
      const methods = String(res.headers['access-control-allow-methods']).split(/,\s*/);
      expect(methods).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']));
      expect(res.headers['access-control-allow-headers']).toBe('content-type,authorization');
      expect(res.headers['access-control-max-age']).toBe('600');
    });

    it('an allowed origin also gets CORS headers on error answers, so the browser can read them', async () => {
      const res = await t.app.inject({
        url: '/api/v1/nothing-here',
        headers: { origin: 'http://localhost:3000' },
      });
      expect(res.statusCode).toBe(404);
      expect(res.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    });

    it.each([
      'http://evil.example',
      'http://localhost:3000.evil.example',
      'http://localhost:30000',
      'https://localhost:3000',
      'http://LOCALHOST:3000',
      'null',
      '*',
    ])('the origin %j gets no Access-Control-* header at all', async (origin) => {
      const get = await t.app.inject({ url: '/api/v1/widgets', headers: { origin } });
      expect(get.statusCode).toBe(200);
      expect(corsHeaders(get.headers)).toEqual({});

      const post = await t.app.inject({ method: 'POST', url: '/api/v1/widgets', headers: { origin } });
      expect(corsHeaders(post.headers)).toEqual({});
    });

    it('a preflight from a disallowed origin gets no Access-Control-* header and no 2xx', async () => {
      const res = await t.app.inject(preflight('http://evil.example', 'content-type'));
      expect(corsHeaders(res.headers)).toEqual({});
      expect(res.statusCode).toBe(405);
      expect(res.json()).toMatchObject({ detail: 'Method Not Allowed', code: 'method_not_allowed' });
    });

    it('a request without Origin (same origin, curl) gets no Access-Control-* header', async () => {
      const res = await t.app.inject({ url: '/api/v1/widgets' });
      expect(corsHeaders(res.headers)).toEqual({});
    });

    it('an OPTIONS request that is no preflight is routed as usual (405 in our shape), not a text/plain 400', async () => {
      for (const headers of [{ origin: 'http://localhost:3000' }, {}]) {
        const res = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/widgets', headers });
        expect(res.statusCode).toBe(405);
        expect(res.headers.allow).toBe('GET, HEAD, POST');
        expect(res.json()).toEqual({
          detail: 'Method Not Allowed',
          code: 'method_not_allowed',
          request_id: res.headers['x-request-id'],
        });
      }
    });
  });

  describe('on answers no hook sees (Fastify routing errors, requests the HTTP parser refuses)', () => {
    const allowed = 'http://localhost:3000';
    let t: TestApp;
    let baseUrl: string;
    beforeAll(async () => {
      t = await buildTestApp({ dialect, extend: addRoutes });
      baseUrl = await listen(t.app);
    });
    afterAll(() => t.close());

    const raw = (origin: string, request: (originLine: string) => string) =>
      rawExchange(baseUrl, request(`Origin: ${origin}\r\n`));
    const requests: [string, number, (originLine: string) => string][] = [
      ['a malformed URL', 400, (o) => `GET /api/v1/% HTTP/1.1\r\nHost: x\r\n${o}Connection: close\r\n\r\n`],
      [
        'a path parameter over the length limit',
        414,
        (o) =>
          `GET /api/v1/chat/sessions/${'x'.repeat(MAX_PATH_PARAMETER_LENGTH + 1)} HTTP/1.1\r\nHost: x\r\n${o}Connection: close\r\n\r\n`,
      ],
      [
        'a broken header line',
        400,
        (o) => `GET /health HTTP/1.1\r\nHost: x\r\n${o}Broken header line\r\n\r\n`,
      ],
      [
        'headers over the 16 KiB limit',
        431,
        (o) => `GET /health HTTP/1.1\r\nHost: x\r\n${o}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      ],
    ];

    it.each(requests)(
      '%s: the %i answer carries the CORS headers of an allowed origin',
      async (_what, status, request) => {
        const res = await raw(allowed, request);
        expect(res.status).toBe(status);
        expect(res.headers['access-control-allow-origin']).toBe(allowed);
        expect(res.headers['access-control-allow-credentials']).toBe('true');
        expect(String(res.headers['access-control-expose-headers'])).toMatch(/\bx-request-id\b/);
        expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
      },
    );

    it.each(requests)(
      '%s: the %i answer has no CORS header for another origin',
      async (_what, status, request) => {
        const res = await raw('http://evil.example', request);
        expect(res.status).toBe(status);
        expect(corsHeaders(res.headers)).toEqual({});
      },
    );
  });

  describe('with CORS_ORIGINS overridden', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({
        dialect,
        env: { CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' },
        extend: addRoutes,
      });
    });
    afterAll(() => t.close());

    it.each(['https://app.example.com', 'https://admin.example.com'])('%s is allowed', async (origin) => {
      const res = await t.app.inject({ url: '/api/v1/widgets', headers: { origin } });
      expect(res.headers['access-control-allow-origin']).toBe(origin);
      expect(res.headers['access-control-allow-credentials']).toBe('true');
      const pre = await t.app.inject(preflight(origin));
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe(origin);
    });

    it('the default origins are no longer allowed', async () => {
      const res = await t.app.inject({
        url: '/api/v1/widgets',
        headers: { origin: 'http://localhost:3000' },
      });
      expect(corsHeaders(res.headers)).toEqual({});
      const pre = await t.app.inject(preflight('http://localhost:3000'));
      expect(corsHeaders(pre.headers)).toEqual({});
    });
  });

  describe('with CORS_ORIGINS="*"', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({ dialect, env: { CORS_ORIGINS: '*' }, extend: addRoutes });
    });
    afterAll(() => t.close());

    it.each(['http://evil.example', 'http://localhost:3000'])(
      'any origin (%s) gets "*" and never Allow-Credentials',
      async (origin) => {
        const res = await t.app.inject({ url: '/api/v1/widgets', headers: { origin } });
        expect(res.headers['access-control-allow-origin']).toBe('*');
        expect(res.headers['access-control-allow-credentials']).toBeUndefined();

        const pre = await t.app.inject(preflight(origin, 'content-type'));
        expect(pre.statusCode).toBe(204);
        expect(pre.headers['access-control-allow-origin']).toBe('*');
        expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
        expect(pre.headers['access-control-allow-headers']).toBe('content-type');
      },
    );
  });
});
