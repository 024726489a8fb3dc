// Validation: a JSON body must have the schema's types (no silent coercion: FastAPI answers 422 too), while query
// strings, path parameters and form-encoded bodies, which are text, are converted to them.
import { Type } from 'typebox';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const Item = Type.Object({
  name: Type.String({ minLength: 1 }),
  qty: Type.Optional(Type.Integer({ minimum: 1 })),
  urgent: Type.Optional(Type.Boolean()),
});

function addRoutes(app: App): void {
  app.post('/v/json', { schema: { body: Item } }, async (request) => ({ body: request.body }));
  app.get(
    '/v/items/:id',
    {
      schema: {
        params: Type.Object({ id: Type.Integer() }),
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
          desc: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (request) => ({ params: request.params, query: request.query }),
  );
  app.post(
    '/v/either',
    {
      schema: {
        body: {
          content: {
            'application/json': { schema: Item },
            'application/x-www-form-urlencoded': { schema: Item },
          },
        },
      },
    },
    async (request) => ({ body: request.body }),
  );
}

const issue = (body: unknown) => (body as { detail: { loc: unknown[]; type: string }[] }).detail;

describeEachDialect('validation', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, extend: addRoutes });
  });
  afterAll(() => t.close());

  it.each([
    [{ name: 5 }, ['body', 'name'], 'string_type'],
    [{ name: 'a', qty: '3' }, ['body', 'qty'], 'integer_type'],
    [{ name: 'a', qty: 2.5 }, ['body', 'qty'], 'integer_type'],
    [{ name: 'a', urgent: 'true' }, ['body', 'urgent'], 'boolean_type'],
    [{ name: 'a', urgent: 1 }, ['body', 'urgent'], 'boolean_type'],
    [{ name: ['a'] }, ['body', 'name'], 'string_type'],
    [{ name: null }, ['body', 'name'], 'string_type'],
  ])('a JSON body %j is 422 at %j (%s), never coerced', async (payload, loc, type) => {
    const res = await t.app.inject({ method: 'POST', url: '/v/json', payload });
    expect(res.statusCode).toBe(422);
    expect(issue(res.json())).toContainEqual(expect.objectContaining({ loc, type }));
  });

  it('a well-typed JSON body passes unchanged', async () => {
    const payload = { name: 'ünïcödé ✓', qty: 3, urgent: false };
    const res = await t.app.inject({ method: 'POST', url: '/v/json', payload });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ body: payload });
  });

  it('query strings and path parameters are converted to their types', async () => {
    const res = await t.app.inject({ url: '/v/items/12?limit=50&desc=true' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ params: { id: 12 }, query: { limit: 50, desc: true } });
  });

  it.each([
    ['/v/items/abc', ['path', 'id'], 'integer_type'],
    ['/v/items/1?limit=abc', ['query', 'limit'], 'integer_type'],
    ['/v/items/1?limit=0', ['query', 'limit'], 'greater_than_equal'],
    ['/v/items/1?limit=501', ['query', 'limit'], 'less_than_equal'],
    ['/v/items/1?desc=maybe', ['query', 'desc'], 'boolean_type'],
  ])('%s is 422 at %j (%s)', async (url, loc, type) => {
    const res = await t.app.inject({ url });
    expect(res.statusCode).toBe(422);
    expect(issue(res.json())).toContainEqual(expect.objectContaining({ loc, type }));
  });

  it('a form-encoded body is text, converted like a query string', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v/either',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'name=widget&qty=3&urgent=true',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ body: { name: 'widget', qty: 3, urgent: true } });
  });

  it('the same route given JSON still refuses wrong types', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v/either',
      payload: { name: 'widget', qty: '3' },
    });
    expect(res.statusCode).toBe(422);
    expect(issue(res.json())).toContainEqual(
      expect.objectContaining({ loc: ['body', 'qty'], type: 'integer_type' }),
    );
  });

  it('a form-encoded body with a non-number where a number belongs is 422', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v/either',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'name=widget&qty=three',
    });
    expect(res.statusCode).toBe(422);
    expect(issue(res.json())).toContainEqual(
      expect.objectContaining({ loc: ['body', 'qty'], type: 'integer_type' }),
    );
  });
});
