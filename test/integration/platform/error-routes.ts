// Shared by the error-answer suites (errors.test.ts, request-bodies.test.ts): test routes that fail in every
// way the error handler must shape, hostile inputs, and raw-socket clients for what inject cannot send.
import http from 'node:http';
import net from 'node:net';
import { sql } from 'kysely';
import { Type } from 'typebox';
import { expect } from 'vitest';
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

export const ONE_MIB = 1024 * 1024;
export const SQL_TEXT = 'SELECT password_hash FROM users WHERE email = $1; relation "users" does not exist';

export const Echo = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 50 }),
  age: Type.Optional(Type.Integer({ minimum: 0 })),
});

export function addRoutes(app: App): void {
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
export function expectErrorShape(res: {
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

export async function listen(app: App): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return `http://127.0.0.1:${address.port}`;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Streams `size` bytes of body over a real socket, chunked (no Content-Length) or with one announced. */
export function postLarge(url: string, size: number, chunked: boolean): Promise<RawResponse> {
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
export function rawExchange(url: string, request: string): Promise<RawResponse> {
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

export const NASTY = [
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
export const LONE_SURROGATE = '\ud83d lone surrogate';
