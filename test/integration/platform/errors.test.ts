// Every error answer in the FastAPI shape the original clients parse, plus `code` and `request_id`: validation,
// malformed and oversized bodies, wrong content types, domain errors, and 500s that never leak internals.
import http from 'node:http';
import net from 'node:net';
import { sql } from 'kysely';
import { Type } from 'typebox';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
  ValidationFailedError,
} from '../../../src/platform/errors.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const ONE_MIB = 1024 * 1024;
const SQL_TEXT = 'SELECT password_hash FROM users WHERE email = $1; relation "users" does not exist';

const Echo = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 50 }),
  age: Type.Optional(Type.Integer({ minimum: 0 })),
});

function addRoutes(app: App): void {
  app.post('/test/echo', { schema: { body: Echo } }, async (request) => request.body);
  app.post(
    '/test/order',
    {
      schema: {
        body: Type.Object({ items: Type.Array(Type.Object({ qty: Type.Integer({ minimum: 1 }) })) }),
      },
    },
    async (request) => request.body,
  );
  app.get(
    '/test/items/:id',
    { schema: { params: Type.Object({ id: Type.Integer() }) } },
    async (request) => request.params,
  );
  app.get(
    '/test/search',
    { schema: { querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100 }) }) } },
    async (request) => request.query,
  );
  app.get(
    '/test/versioned',
    { schema: { headers: Type.Object({ 'x-api-version': Type.Literal('1') }) } },
    async () => ({ ok: true }),
  );
  app.post('/test/upload', async (request) => ({ bytes: JSON.stringify(request.body).length }));
  app.get('/test/sql-error', async () => {
    throw new Error(SQL_TEXT);
  });
  app.get('/test/driver-error', async () => {
    await sql`SELECT secret_column FROM no_such_table_for_errors_test`.execute(app.database.db);
    return { unreachable: true };
  });
  app.get('/test/prototype-code', async () => {
    throw Object.assign(new Error('internal detail'), { code: 'toString' });
  });
  const domainErrors: Record<string, () => Error> = {
    conflict: () => new ConflictError('Email already registered'),
    unauthorized: () => new UnauthorizedError(),
    forbidden: () => new ForbiddenError(),
    'not-found': () => new NotFoundError('Chat session not found', 'session_not_found'),
    'rate-limited': () => new TooManyRequestsError('Too many login attempts', 2.2),
    unavailable: () => new ServiceUnavailableError('LLM backend unavailable', 'llm_unavailable', 5),
    invalid: () =>
      new ValidationFailedError([
        { loc: ['body', 'password'], msg: 'Password too weak', type: 'value_error' },
      ]),
  };
  app.get<{ Params: { kind: string } }>('/test/domain/:kind', async (request) => {
    const make = domainErrors[request.params.kind];
    if (!make) return { unknown: request.params.kind };
    throw make();
  });
}

/** The common part of every error answer: JSON, `code`, and `request_id` equal to the X-Request-ID header. */
function expectErrorShape(res: {
  headers: Record<string, unknown>;
  json(): unknown;
}): Record<string, unknown> {
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  const body = res.json() as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'request_id']);
  expect(typeof body.code).toBe('string');
  expect(body.request_id).toBe(res.headers['x-request-id']);
  return body;
}

async function listen(app: App): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return `http://127.0.0.1:${address.port}`;
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Streams `size` bytes of body over a real socket, chunked (no Content-Length) or with one announced. */
function postLarge(url: string, size: number, chunked: boolean): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(size);
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    // The server closes the connection after its 413 while we are still sending: a write error after the
    // answer is expected; one before it is the failure this test looks for.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const pump = (): void => {
      while (sent < size && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** Sends raw bytes (a request Node's own HTTP parser refuses) and parses whatever comes back. */
function rawExchange(url: string, request: string): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers: http.IncomingHttpHeaders = {};
      for (const line of headerLines) {
        const at = line.indexOf(':');
        headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

describeEachDialect('error answers', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, captureLogs: true, extend: addRoutes });
    baseUrl = await listen(t.app);
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

  it.each([
    ['truncated', '{"name": "a"'],
    ['not JSON at all', 'name=a'],
    ['a trailing comma', '{"name": "a",}'],
    ['a prototype-poisoning key', '{"__proto__": {"admin": true}, "name": "a"}'],
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

  it('an empty body sent as application/json is 422 "Field required" on the body', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json' },
      payload: '',
    });
    expect(res.statusCode).toBe(422);
    expect(expectErrorShape(res).detail).toEqual([{ loc: ['body'], msg: 'Field required', type: 'missing' }]);
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

  it.each(['application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded'])(
    'a body of an unsupported type (%s) is 415 naming that type',
    async (contentType) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/test/echo',
        headers: { 'content-type': contentType },
        payload: '<user><name>a</name></user>',
      });
      expect(res.statusCode).toBe(415);
      const body = expectErrorShape(res);
      expect(body.code).toBe('unsupported_media_type');
      expect(body.detail).toBe(`Unsupported Media Type: ${contentType}`);
    },
  );

  it('a body without any Content-Type is 415 saying so', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/echo', payload: 'name=a' });
    expect(res.statusCode).toBe(415);
    const body = expectErrorShape(res);
    expect(body.code).toBe('unsupported_media_type');
    expect(body.detail).toMatch(/no Content-Type/);
  });

  it('a request body in an unknown Content-Encoding is 415 unsupported_media_type', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json', 'content-encoding': 'rot13' },
      payload: '{"name":"a"}',
    });
    expect(res.statusCode).toBe(415);
    const body = expectErrorShape(res);
    expect(body.code).toBe('unsupported_media_type');
    expect(body.detail).toBe('Unsupported Content-Encoding: rot13');
  });

  it('a body that claims gzip but is not gzip is 400 bad_request', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: '{"name":"a"}',
    });
    expect(res.statusCode).toBe(400);
    expect(expectErrorShape(res).code).toBe('bad_request');
  });

  it('a body of exactly BODY_LIMIT_BYTES (1 MiB by default) is accepted; one byte more is 413', async () => {
    const wrapper = '{"data":""}'.length;
    const atLimit = JSON.stringify({ data: 'a'.repeat(ONE_MIB - wrapper) });
    expect(atLimit.length).toBe(ONE_MIB);
    const ok = await t.app.inject({
      method: 'POST',
      url: '/test/upload',
      headers: { 'content-type': 'application/json' },
      payload: atLimit,
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ bytes: ONE_MIB });

    const over = await t.app.inject({
      method: 'POST',
      url: '/test/upload',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ data: 'a'.repeat(ONE_MIB - wrapper + 1) }),
    });
    expect(over.statusCode).toBe(413);
    const body = expectErrorShape(over);
    expect(body).toMatchObject({ detail: 'Request body is too large', code: 'payload_too_large' });
  });

  it('a 10 MB body over a real socket gets a clean 413 answer (fetch, Content-Length announced)', async () => {
    const res = await fetch(`${baseUrl}/test/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: 'a'.repeat(10 * 1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      detail: 'Request body is too large',
      code: 'payload_too_large',
      request_id: res.headers.get('x-request-id'),
    });
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });

  it.each([
    ['with Content-Length', false],
    ['chunked, with no length announced', true],
  ])(
    'a 10 MB body streamed over a real socket (%s) is answered 413 before it ends',
    async (_how, chunked) => {
      const res = await postLarge(`${baseUrl}/test/upload`, 10 * 1024 * 1024, chunked);
      expect(res.status).toBe(413);
      expect(res.headers.connection).toBe('close');
      expect(JSON.parse(res.body)).toEqual({
        detail: 'Request body is too large',
        code: 'payload_too_large',
        request_id: res.headers['x-request-id'],
      });
    },
  );

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

  const NASTY = [
    "' OR '1'='1' --",
    "'; DROP TABLE users; --",
    '" OR ""="',
    '<script>alert(1)</script>',
    '../../../../etc/passwd',
    '\u0000nul',
    '%00%2e%2e',
    '${7*7}{{7*7}}',
    '名前😀 ñ é ü',
    '\u202eevil\u0301',
  ];
  // Valid in a JSON string, but has no UTF-8 form to put in a URL: bodies only.
  const LONE_SURROGATE = '\ud83d lone surrogate';

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

  it.each(['/%', '/%zz', '/test/items/%E0%A4%A', '/api/v1/%C0%AF'])(
    'a malformed URL (%s) is 400 in our shape, with the security headers',
    async (url) => {
      const res = await t.app.inject({ url });
      expect(res.statusCode).toBe(400);
      expect(expectErrorShape(res)).toMatchObject({ detail: 'Malformed URL', code: 'bad_request' });
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
    },
  );

  it('a malformed URL over a real socket is answered 400 in our shape too', async () => {
    const res = await new Promise<RawResponse>((resolve, reject) => {
      http
        .get(`${baseUrl}/%`, (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
          );
        })
        .on('error', reject);
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({
      detail: 'Malformed URL',
      code: 'bad_request',
      request_id: res.headers['x-request-id'],
    });
  });

  it.each([
    [
      'a header line without a colon',
      400,
      'bad_request',
      'GET /health HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n',
    ],
    [
      'headers over the 16 KiB limit',
      431,
      'headers_too_large',
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    ],
  ])(
    'a request the HTTP parser rejects (%s) is answered %i %s in our shape, with the security headers',
    async (_what, status, code, request) => {
      const res = await rawExchange(baseUrl, request);
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
      expect(JSON.parse(res.body)).toEqual({
        detail: expect.any(String) as string,
        code,
        request_id: res.headers['x-request-id'],
      });
    },
  );
});
