// Every error answer in the FastAPI shape the original clients parse, plus `code` and `request_id`: validation,
// domain errors, 500s that never leak internals, and hostile or unusual input that must stay plain data.
// Bodies, content types, size limits and malformed requests over a real socket are in request-bodies.test.ts.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { addRoutes, expectErrorShape, LONE_SURROGATE, NASTY, SQL_TEXT } from './error-routes.js';

describeEachDialect('error answers', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, captureLogs: true, extend: addRoutes });
  });
  afterAll(() => t.close());

  it('a body that breaks the schema is 422 with one FastAPI item per problem, located in the body', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      payload: { name: '', age: 'old' },
    });
    expect(res.statusCode).toBe(422);
    const body = expectErrorShape(res);
    expect(body.code).toBe('validation_error');
    expect(body.detail).toEqual([
      { loc: ['body', 'name'], msg: expect.any(String) as string, type: 'string_too_short' },
      { loc: ['body', 'age'], msg: expect.any(String) as string, type: 'integer_type' },
    ]);
  });

  it('a missing field is reported as FastAPI does: loc names the field, type "missing"', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/echo', payload: { age: 3 } });
    expect(res.statusCode).toBe(422);
    expect(expectErrorShape(res).detail).toEqual([
      { loc: ['body', 'name'], msg: 'Field required', type: 'missing' },
    ]);
  });

  it('a problem inside an array is located by index, as FastAPI does: ["body", "items", 1, "qty"]', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/order',
      payload: { items: [{ qty: 2 }, { qty: 0 }, {}] },
    });
    expect(res.statusCode).toBe(422);
    expect(expectErrorShape(res).detail).toEqual([
      { loc: ['body', 'items', 1, 'qty'], msg: expect.any(String) as string, type: 'greater_than_equal' },
      { loc: ['body', 'items', 2, 'qty'], msg: 'Field required', type: 'missing' },
    ]);
  });

  it.each([
    ['query', '/test/search?limit=abc', ['query', 'limit'], 'integer_type', {}],
    ['query', '/test/search?limit=0', ['query', 'limit'], 'greater_than_equal', {}],
    ['query', '/test/search', ['query', 'limit'], 'missing', {}],
    ['path', '/test/items/abc', ['path', 'id'], 'integer_type', {}],
    ['header', '/test/versioned', ['header', 'x-api-version'], 'literal_error', { 'x-api-version': '2' }],
    ['header', '/test/versioned', ['header', 'x-api-version'], 'missing', {}],
  ])('a bad %s value is 422 located there (%s)', async (_where, url, loc, type, headers) => {
    const res = await t.app.inject({ url, headers });
    expect(res.statusCode).toBe(422);
    const body = expectErrorShape(res);
    expect(body.code).toBe('validation_error');
    expect(body.detail).toEqual([{ loc, msg: expect.any(String) as string, type }]);
  });

  // A prototype-poisoning key is a 422 json_forbidden_key that names it: request-bodies.test.ts.
  it.each([
    ['truncated', '{"name": "a"'],
    ['not JSON at all', 'name=a'],
    ['a trailing comma', '{"name": "a",}'],
  ])('a malformed JSON body (%s) is 422 json_invalid, not 400 or 500', async (_why, payload) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(res.statusCode).toBe(422);
    const body = expectErrorShape(res);
    expect(body.code).toBe('validation_error');
    expect(body.detail).toEqual([{ loc: ['body'], msg: expect.any(String) as string, type: 'json_invalid' }]);
  });

  it.each([
    ['a JSON number', '1'],
    ['JSON null', 'null'],
    ['a JSON array', '[]'],
  ])('a JSON body that is %s where an object is expected is 422 on the body', async (_what, payload) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(res.statusCode).toBe(422);
    expect(expectErrorShape(res).detail).toEqual([
      { loc: ['body'], msg: expect.any(String) as string, type: 'object_type' },
    ]);
  });

  it('a thrown Error with SQL in its message is a bare 500: no stack, no SQL; logged once with the id', async () => {
    const res = await t.app.inject({ url: '/test/sql-error' });
    expect(res.statusCode).toBe(500);
    const requestId = res.headers['x-request-id'];
    expect(res.json()).toEqual({
      detail: 'Internal Server Error',
      code: 'internal_error',
      request_id: requestId,
    });
    expect(res.body).not.toMatch(/SELECT|password_hash|relation|stack|at \//i);

    const errorLines = t.logs.filter((line) => line.request_id === requestId && line.level === 50);
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatchObject({ msg: 'request failed', err: { message: SQL_TEXT } });
  });

  it(`a real ${dialect} driver error is a bare 500 with nothing of the driver's text`, async () => {
    const res = await t.app.inject({ url: '/test/driver-error' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      detail: 'Internal Server Error',
      code: 'internal_error',
      request_id: res.headers['x-request-id'],
    });
    expect(res.body).not.toMatch(/no_such_table|secret_column|sqlite|postgres|syntax|relation/i);
    const logged = t.logs.find(
      (line) => line.request_id === res.headers['x-request-id'] && line.level === 50,
    );
    expect(JSON.stringify(logged)).toMatch(/no_such_table_for_errors_test/);
  });

  it('an error whose code is an Object.prototype name ("toString") is still a bare 500 in our shape', async () => {
    const res = await t.app.inject({ url: '/test/prototype-code' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      detail: 'Internal Server Error',
      code: 'internal_error',
      request_id: res.headers['x-request-id'],
    });
  });

  it.each([
    ['conflict', 409, 'Email already registered', 'conflict', {}],
    ['unauthorized', 401, 'Not authenticated', 'not_authenticated', { 'www-authenticate': 'Bearer' }],
    ['forbidden', 403, 'Not enough permissions', 'forbidden', {}],
    ['not-found', 404, 'Chat session not found', 'session_not_found', {}],
    ['rate-limited', 429, 'Too many login attempts', 'rate_limited', { 'retry-after': '3' }],
    ['unavailable', 503, 'LLM backend unavailable', 'llm_unavailable', { 'retry-after': '5' }],
  ])(
    'a domain error (%s) maps to %i with its message, code and headers',
    async (kind, status, detail, code, headers) => {
      const res = await t.app.inject({ url: `/test/domain/${kind}` });
      expect(res.statusCode).toBe(status);
      expect(expectErrorShape(res)).toEqual({ detail, code, request_id: res.headers['x-request-id'] });
      expect(res.headers).toMatchObject(headers);
    },
  );

  it('a ValidationFailedError from a service is a 422 with its issues as the detail list', async () => {
    const res = await t.app.inject({ url: '/test/domain/invalid' });
    expect(res.statusCode).toBe(422);
    expect(expectErrorShape(res)).toMatchObject({
      code: 'validation_error',
      detail: [{ loc: ['body', 'password'], msg: 'Password too weak', type: 'value_error' }],
    });
  });

  it.each([...NASTY, LONE_SURROGATE])(
    'a body string %j is plain data: echoed back unchanged',
    async (value) => {
      const res = await t.app.inject({ method: 'POST', url: '/test/echo', payload: { name: value } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ name: value });
    },
  );

  it.each([...NASTY, LONE_SURROGATE])('%j where a number belongs is 422, not 500', async (value) => {
    const res = await t.app.inject({ method: 'POST', url: '/test/echo', payload: { name: 'a', age: value } });
    expect(res.statusCode).toBe(422);
    expect(expectErrorShape(res).detail).toEqual([
      { loc: ['body', 'age'], msg: expect.any(String) as string, type: 'integer_type' },
    ]);
  });

  it.each(NASTY)(
    '%j in a path is a 4xx in our shape (422 for a typed parameter, 404 elsewhere)',
    async (value) => {
      const typed = await t.app.inject({ url: `/test/items/${encodeURIComponent(value)}` });
      expect(typed.statusCode).toBe(422);
      expect(expectErrorShape(typed).detail).toEqual([
        { loc: ['path', 'id'], msg: expect.any(String) as string, type: 'integer_type' },
      ]);
      const unknown = await t.app.inject({ url: `/api/v1/${encodeURIComponent(value)}/x` });
      expect(unknown.statusCode).toBe(404);
      expect(expectErrorShape(unknown).code).toBe('not_found');
    },
  );

  it('a too-long Unicode string is 422 string_too_long, counted in characters', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/echo', payload: { name: 'é'.repeat(51) } });
    expect(res.statusCode).toBe(422);
    expect(expectErrorShape(res).detail).toEqual([
      { loc: ['body', 'name'], msg: expect.any(String) as string, type: 'string_too_long' },
    ]);
    const fits = await t.app.inject({ method: 'POST', url: '/test/echo', payload: { name: 'é'.repeat(50) } });
    expect(fits.statusCode).toBe(200);
  });
});
