// The OpenAPI 3 document at /api/v1/openapi.json (every visible route, with its schemas) and Swagger UI at /docs.
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components?: { securitySchemes?: Record<string, unknown> };
}

const Widget = Type.Object({ id: Type.Integer(), name: Type.String() });

function addRoutes(app: App): void {
  app.get(
    '/api/v1/widgets/:id',
    {
      schema: {
        tags: ['widgets'],
        summary: 'Get one widget',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: Widget },
      },
    },
    async () => ({ id: 1, name: 'w' }),
  );
  app.post(
    '/api/v1/widgets/',
    {
      schema: {
        tags: ['widgets'],
        summary: 'Create a widget',
        body: Type.Object({ name: Type.String({ minLength: 1 }) }),
        response: { 201: Widget },
      },
    },
    async (_request, reply) => reply.code(201).send({ id: 2, name: 'w' }),
  );
}

describeEachDialect('OpenAPI and Swagger UI', (dialect) => {
  describe('with docs enabled (the default)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({ dialect, env: { APP_NAME: 'Docs Test' }, extend: addRoutes });
    });
    afterAll(() => t.close());

    it('GET /api/v1/openapi.json is an OpenAPI 3 JSON document naming the app', async () => {
      const res = await t.app.inject({ url: '/api/v1/openapi.json' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const doc = JSON.parse(res.body) as OpenApiDocument;
      expect(doc.openapi).toMatch(/^3\./);
      expect(doc.info).toMatchObject({ title: 'Docs Test', version: '0.0.0-test' });
      expect(doc.components?.securitySchemes?.bearerAuth).toEqual({
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
      });
    });

    it('lists the test routes, with path parameters in OpenAPI form and their schemas', async () => {
      const doc: OpenApiDocument = (await t.app.inject({ url: '/api/v1/openapi.json' })).json();
      const get = doc.paths['/api/v1/widgets/{id}']?.get;
      expect(get).toMatchObject({ tags: ['widgets'], summary: 'Get one widget' });
      expect(get?.parameters).toEqual([
        expect.objectContaining({
          in: 'path',
          name: 'id',
          required: true,
          schema: expect.objectContaining({ type: 'integer', minimum: 1 }) as unknown,
        }),
      ]);
      expect(get?.responses).toHaveProperty('200');

      const post = doc.paths['/api/v1/widgets/']?.post;
      expect(post).toMatchObject({
        summary: 'Create a widget',
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['name'],
                properties: { name: { type: 'string', minLength: 1 } },
              },
            },
          },
        },
      });
      expect(post?.responses).toHaveProperty('201');
    });

    it('lists the app routes and hides the plumbing (metrics, the document itself, docs, CORS catch-all)', async () => {
      const doc: OpenApiDocument = (await t.app.inject({ url: '/api/v1/openapi.json' })).json();
      const paths = Object.keys(doc.paths);
      expect(paths).toEqual(expect.arrayContaining(['/', '/health']));
      for (const hidden of ['/metrics', '/api/v1/openapi.json', '/docs', '*'])
        expect(paths).not.toContain(hidden);
      for (const path of paths) {
        expect(path).toMatch(/^\//);
        expect(path).not.toContain(':');
        for (const operation of Object.values(doc.paths[path] ?? {}))
          expect(operation).toHaveProperty('responses');
      }
    });

    it('Swagger UI at /docs is an HTML page whose scripts and styles are served', async () => {
      const res = await t.app.inject({ url: '/docs' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toMatch(/swagger-ui/i);
      const assets = [...res.body.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map(
        (match) => match[1] ?? '',
      );
      expect(assets.length).toBeGreaterThan(1);
      for (const asset of assets) {
        const url = asset.startsWith('/') ? asset : `/docs/${asset.replace(/^\.\//, '')}`;
        const file = await t.app.inject({ url });
        expect(file.statusCode, url).toBe(200);
      }
    });

    it('the document Swagger UI loads (/docs/json) is the same as /api/v1/openapi.json', async () => {
      const ui = await t.app.inject({ url: '/docs/json' });
      const api = await t.app.inject({ url: '/api/v1/openapi.json' });
      expect(ui.statusCode).toBe(200);
      expect(ui.json()).toEqual(api.json());
    });
  });

  describe('with DOCS_ENABLED=false', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp({ dialect, env: { DOCS_ENABLED: 'false' }, extend: addRoutes });
    });
    afterAll(() => t.close());

    it('/docs is 404 while the OpenAPI document is still served', async () => {
      const docs = await t.app.inject({ url: '/docs' });
      expect(docs.statusCode).toBe(404);
      expect(docs.json()).toMatchObject({ detail: 'Not Found' });
      const api = await t.app.inject({ url: '/api/v1/openapi.json' });
      expect(api.statusCode).toBe(200);
      expect(api.json<OpenApiDocument>().paths).toHaveProperty(['/api/v1/widgets/{id}']);
    });
  });
});
