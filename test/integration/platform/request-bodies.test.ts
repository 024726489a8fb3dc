// Error answers about the request itself, in the FastAPI shape plus `code` and `request_id`: an empty body,
// unsupported content types and encodings, oversized bodies (413), and malformed URLs and HTTP over a real
// socket. Validation, domain errors, 500s and hostile inputs are in errors.test.ts.
import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_PATH_PARAMETER_LENGTH } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import {
  addRoutes,
  expectErrorShape,
  listen,
  ONE_MIB,
  postLarge,
  rawExchange,
  type RawResponse,
} from './error-routes.js';

describeEachDialect('error answers', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, captureLogs: true, extend: addRoutes });
    baseUrl = await listen(t.app);
  });
  afterAll(() => t.close());

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

  it.each(['application/xml', 'multipart/form-data; boundary=x', 'text/csv', 'text/html; x=<script>'])(
    'a body of an unsupported type (%s) is 415 that does not echo the type',
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
      expect(body.detail).toBe(
        'Unsupported Media Type: this endpoint does not accept the Content-Type of the body',
      );
      expect(res.body).not.toContain(contentType.split(';')[0]);
    },
  );

  it('a body without any Content-Type is 415 saying so', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/echo', payload: 'name=a' });
    expect(res.statusCode).toBe(415);
    const body = expectErrorShape(res);
    expect(body.code).toBe('unsupported_media_type');
    expect(body.detail).toMatch(/no Content-Type/);
  });

  it('a request body in an unknown Content-Encoding is 415 naming the accepted ones, not the one sent', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json', 'content-encoding': 'rot13-<b>' },
      payload: '{"name":"a"}',
    });
    expect(res.statusCode).toBe(415);
    const body = expectErrorShape(res);
    expect(body.code).toBe('unsupported_media_type');
    expect(body.detail).toBe('Unsupported Content-Encoding: send gzip, deflate, br, identity');
    expect(res.body).not.toContain('rot13');
  });

  it('a path parameter over the length limit is 414 uri_too_long, without the path echoed', async () => {
    const long = `${'x'.repeat(MAX_PATH_PARAMETER_LENGTH)}-marker`;
    const res = await t.app.inject({ url: `/test/items/${long}` });
    expect(res.statusCode).toBe(414);
    expect(expectErrorShape(res)).toMatchObject({ code: 'uri_too_long' });
    expect(res.body).not.toContain('marker');
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it.each([
    ['{"name":"a","__proto__":{"isAdmin":true}}', '__proto__'],
    ['{"name":"a","nested":{"__proto__":{"x":1}}}', '__proto__'],
    ['{"name":"a","\\u005f_proto__":{"x":1}}', '__proto__'],
    ['{"name":"a","constructor":{"prototype":{"x":1}}}', 'constructor.prototype'],
  ])(
    'a JSON body with a forbidden key (%s) is 422 naming the key, not "not valid JSON"',
    async (payload, key) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/test/echo',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode).toBe(422);
      expect(expectErrorShape(res)).toMatchObject({
        code: 'validation_error',
        detail: [
          { loc: ['body'], msg: `The body must not contain the key "${key}"`, type: 'json_forbidden_key' },
        ],
      });
    },
  );

  it('broken JSON is still 422 "not valid JSON"', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":"a", "__proto__": ',
    });
    expect(res.statusCode).toBe(422);
    expect(expectErrorShape(res).detail).toEqual([
      { loc: ['body'], msg: 'JSON decode error: the body is not valid JSON', type: 'json_invalid' },
    ]);
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
