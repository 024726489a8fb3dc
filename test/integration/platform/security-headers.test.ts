// Security headers on every answer: routes, errors of every kind, redirects, preflights, /metrics and /docs; a strict
// Content-Security-Policy for API answers and a script-safe one for the HTML pages we serve.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { EVERY_ANSWER, addEveryAnswerRoutes } from '../../helpers/every-answer.js';

const EXPECTED = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'x-xss-protection': '0',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'permissions-policy': 'geolocation=(), microphone=(), camera=()',
};

function addRoutes(app: App): void {
  addEveryAnswerRoutes(app);
  app.get('/test/page', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send('<!doctype html><title>page</title><p>hello</p>'),
  );
}

/** A CSP header as directive → sources. */
function parseCsp(header: unknown): Map<string, string[]> {
  expect(typeof header).toBe('string');
  const directives = new Map<string, string[]>();
  for (const part of String(header).split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name, sources);
  }
  return directives;
}

function expectApiCsp(header: unknown): void {
  const csp = parseCsp(header);
  expect(csp.get('default-src')).toEqual(["'none'"]);
  expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
  expect(String(header)).not.toMatch(/unsafe-/);
}

describeEachDialect('security headers', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, extend: addRoutes });
  });
  afterAll(() => t.close());

  it.each(EVERY_ANSWER)(
    'a %s answer carries every security header and the strict API CSP',
    async (_what, request, status) => {
      const res = await t.app.inject(request);
      expect(res.statusCode).toBe(status);
      expect(res.headers).toMatchObject(EXPECTED);
      expectApiCsp(res.headers['content-security-policy']);
      expect(res.headers['x-powered-by']).toBeUndefined();
    },
  );

  it.each(['/docs', '/docs/', '/test/page'])(
    'the HTML page %s carries every security header and a CSP without unsafe-eval, scripts from self only',
    async (url) => {
      const res = await t.app.inject({ url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers).toMatchObject(EXPECTED);
      const header = res.headers['content-security-policy'];
      const csp = parseCsp(header);
      expect(csp.get('script-src')).toEqual(["'self'"]);
      expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
      expect(csp.get('object-src')).toEqual(["'none'"]);
      expect(String(header)).not.toContain("'unsafe-eval'");
      expect(csp.get('default-src')).not.toContain('*');
    },
  );

  it('Swagger UI loads no inline script, so script-src self is enough for it to work', async () => {
    const res = await t.app.inject({ url: '/docs' });
    const inlineScripts = [...res.body.matchAll(/<script(?![^>]*\bsrc=)[^>]*>/gi)];
    expect(inlineScripts).toEqual([]);
    expect(res.body).toMatch(/<script[^>]*src=/);
  });

  it('the static files behind /docs carry the security headers too', async () => {
    for (const url of ['/docs/static/swagger-ui.css', '/docs/static/swagger-initializer.js', '/docs/json']) {
      const res = await t.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers, url).toMatchObject(EXPECTED);
    }
  });
});
