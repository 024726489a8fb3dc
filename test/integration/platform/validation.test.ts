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
          ratio: Type.Optional(Type.Number()),
        }),
      },
    },
    async (request) => ({ params: request.params, query: request.query }),
  );
  app.post(
    '/v/bulk',
    { schema: { body: Type.Object({ values: Type.Array(Type.Integer()) }) } },
    async (request) => ({ count: (request.body as { values: unknown[] }).values.length }),
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

  it.each([
    ['1.5', 1.5],
    ['-2', -2],
    ['1e2', 100],
  ])('a number parameter takes decimal text (%s)', async (text, value) => {
    const res = await t.app.inject({ url: `/v/items/1?ratio=${text}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ query: { ratio: value } });
  });

  it.each(['Infinity', '-Infinity', '1e400', '0x10', '%201', '1.', '.5', 'NaN'])(
    'a number parameter refuses %s: 422 number_type',
    async (text) => {
      const res = await t.app.inject({ url: `/v/items/1?ratio=${text}` });
      expect(res.statusCode).toBe(422);
      expect(issue(res.json())).toContainEqual(
        expect.objectContaining({ loc: ['query', 'ratio'], type: 'number_type' }),
      );
    },
  );

  it('a non-decimal integer is reported together with the other parameters’ errors', async () => {
    const res = await t.app.inject({ url: '/v/items/0x1?limit=0&desc=maybe' });
    expect(res.statusCode).toBe(422);
    const found = issue(res.json()).map((i) => [i.loc, i.type]);
    expect(found).toContainEqual([['path', 'id'], 'integer_type']);
    const query = await t.app.inject({ url: '/v/items/1?limit=0x10&desc=maybe' });
    expect(issue(query.json()).map((i) => [i.loc, i.type])).toEqual(
      expect.arrayContaining([
        [['query', 'limit'], 'integer_type'],
        [['query', 'desc'], 'boolean_type'],
      ]),
    );
  });

  it('an input too large to check completely still passes when it is valid', async () => {
    const values = Array.from({ length: 5000 }, (_, i) => i);
    const res = await t.app.inject({ method: 'POST', url: '/v/bulk', payload: { values } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ count: 5000 });
  });

  it('an input too large to check completely is checked up to its first error', async () => {
    const values: unknown[] = Array.from({ length: 5000 }, (_, i) => i);
    values[3] = 'three';
    values[4000] = 'four thousand';
    const res = await t.app.inject({ method: 'POST', url: '/v/bulk', payload: { values } });
    expect(res.statusCode).toBe(422);
    expect(issue(res.json())).toEqual([
      expect.objectContaining({ loc: ['body', 'values', 3], type: 'integer_type' }),
    ]);
  });

  it('a smaller input gets all its errors', async () => {
    const values: unknown[] = Array.from({ length: 500 }, (_, i) => i);
    values[3] = 'three';
    values[400] = 'four hundred';
    const res = await t.app.inject({ method: 'POST', url: '/v/bulk', payload: { values } });
    expect(res.statusCode).toBe(422);
    expect(issue(res.json()).map((i) => i.loc)).toEqual([
      ['body', 'values', 3],
      ['body', 'values', 400],
    ]);
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
