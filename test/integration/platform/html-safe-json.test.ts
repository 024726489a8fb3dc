// Every JSON body is HTML-safe (issue 10): `<` `>` `&` `'` and U+2028/U+2029 never leave the server as raw bytes in
// a JSON answer (a route's, a 422 quoting the input, a 404) or an SSE `data:` line, compressed or not, and JSON.parse
// gives back the exact text. Content-Length counts the encoded (and compressed) bytes.
import http from 'node:http';
import zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { openRequests, streamChat, tokensOf } from '../chat/chat-socket.helpers.js';

const RAW_UNSAFE = /[<>&'\u2028\u2029]/;
const MARKUP = `<script>alert('x')</script> if (a < b && c > d) \u2028 \u2029 <b>it's</b>`;
/** Over COMPRESSION_THRESHOLD_BYTES once serialized, so that it is compressed when the client accepts it. */
const ROUTE_ANSWER = { text: MARKUP, items: Array.from({ length: 12 }, (_, i) => `${i}: ${MARKUP}`) };

function addRoutes(app: App): void {
  // Serialized by fast-json-stringify from the response schema.
  app.get(
    '/test/html-safe/schema',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: { text: { type: 'string' }, items: { type: 'array', items: { type: 'string' } } },
          },
        },
      },
    },
    async () => ROUTE_ANSWER,
  );
  // Serialized by Fastify's default serializer (no schema).
  app.get('/test/html-safe/plain', async () => ({ text: MARKUP }));
  app.get('/test/html-safe/buffer', async (_request, reply) =>
    reply.type('application/json').send(Buffer.from(JSON.stringify({ text: MARKUP }), 'utf8')),
  );
  app.get('/test/html-safe/problem', async (_request, reply) =>
    reply.type('application/problem+json; charset=utf-8').send(JSON.stringify({ title: MARKUP })),
  );
  app.get('/test/html-safe/text', async (_request, reply) => reply.type('text/plain').send(MARKUP));
  // A map: an invalid value's key is the client's text, and the 422 quotes it in `loc`.
  app.post(
    '/test/html-safe/map',
    { schema: { body: { type: 'object', additionalProperties: { type: 'string' } } } },
    async () => ({ ok: true }),
  );
}

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The bytes on the wire, still compressed. */
  raw: Buffer;
  /** The body as the client reads it, decompressed. */
  text: string;
}

function request(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const encoding = res.headers['content-encoding'];
          const decoded =
            encoding === 'gzip'
              ? zlib.gunzipSync(raw)
              : encoding === 'br'
                ? zlib.brotliDecompressSync(raw)
                : raw;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, text: decoded.toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function expectHtmlSafe(text: string): void {
  expect(text).not.toMatch(RAW_UNSAFE);
}

const ACCEPT = [
  ['none', undefined],
  ['gzip', 'gzip'],
  ['br', 'br'],
] as const;

describeEachDialect('HTML-safe JSON', (dialect) => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, extend: addRoutes });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('over inject', () => {
    it.each([
      ['/test/html-safe/schema', ROUTE_ANSWER],
      ['/test/html-safe/plain', { text: MARKUP }],
      ['/test/html-safe/buffer', { text: MARKUP }],
      ['/test/html-safe/problem', { title: MARKUP }],
    ])(
      '%s: escaped bytes, the exact text back, Content-Length of the encoded body',
      async (url, expected) => {
        const response = await t.app.inject({ url });
        expect(response.statusCode, response.body).toBe(200);
        expectHtmlSafe(response.body);
        expect(response.body).toContain('\\u003cscript\\u003ealert(\\u0027x\\u0027)');
        expect(response.body).toContain('\\u2028 \\u2029');
        expect(response.json()).toEqual(expected);
        expect(response.headers['content-length']).toBe(String(response.rawPayload.length));
      },
    );

    it('leaves a body that is not JSON as it is', async () => {
      const response = await t.app.inject({ url: '/test/html-safe/text' });
      expect(response.headers['content-type']).toMatch(/^text\/plain/);
      expect(response.body).toBe(MARKUP);
    });

    it('HEAD answers the Content-Length of the encoded GET body', async () => {
      const get = await t.app.inject({ url: '/test/html-safe/plain' });
      const head = await t.app.inject({ method: 'HEAD', url: '/test/html-safe/plain' });
      expect(head.statusCode).toBe(200);
      expect(head.headers['content-length']).toBe(String(get.rawPayload.length));
    });

    it('a 422 quoting the input', async () => {
      const key = `<script>alert('x')</script>&\u2028`;
      const response = await t.app.inject({
        method: 'POST',
        url: '/test/html-safe/map',
        payload: { [key]: 5 },
      });
      expect(response.statusCode, response.body).toBe(422);
      expectHtmlSafe(response.body);
      expect(response.json<{ detail: { loc: unknown[] }[] }>().detail[0]?.loc).toEqual(['body', key]);
      expect(response.headers['content-length']).toBe(String(response.rawPayload.length));
    });
  });

  describe('over a real socket, with compression', () => {
    it.each(ACCEPT)('a route answer (Accept-Encoding: %s)', async (_name, accept) => {
      const answer = await request(base, '/test/html-safe/schema', {
        headers: accept ? { 'accept-encoding': accept } : {},
      });
      expect(answer.status, answer.text).toBe(200);
      expect(answer.headers['content-encoding']).toBe(accept);
      expect(answer.headers['content-length']).toBe(String(answer.raw.length));
      expectHtmlSafe(answer.text);
      expect(JSON.parse(answer.text)).toEqual(ROUTE_ANSWER);
    });

    it.each(ACCEPT)('a 422 quoting <script> (Accept-Encoding: %s)', async (_name, accept) => {
      // Many issues, so that the 422 is over the compression threshold.
      const keys = Array.from({ length: 8 }, (_, i) => `<script>alert('${i}')</script>`);
      const answer = await request(base, '/test/html-safe/map', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(accept ? { 'accept-encoding': accept } : {}) },
        body: JSON.stringify(Object.fromEntries(keys.map((key) => [key, 1]))),
      });
      expect(answer.status, answer.text).toBe(422);
      expect(answer.headers['content-encoding']).toBe(accept);
      expect(answer.headers['content-length']).toBe(String(answer.raw.length));
      expectHtmlSafe(answer.text);
      const body = JSON.parse(answer.text) as { detail: { loc: unknown[] }[] };
      expect(body.detail.map((issue) => issue.loc[1])).toEqual(keys);
    });

    it.each(ACCEPT)('a 404 with markup in the path (Accept-Encoding: %s)', async (_name, accept) => {
      const answer = await request(base, `/api/v1/<script>alert('x')</script>&x=<b>`, {
        headers: accept ? { 'accept-encoding': accept } : {},
      });
      expect(answer.status, answer.text).toBe(404);
      expect(answer.headers['content-length']).toBe(String(answer.raw.length));
      expectHtmlSafe(answer.text);
      expect(JSON.parse(answer.text)).toMatchObject({ detail: 'Not Found', code: 'not_found' });
    });
  });
});

describeEachDialect('HTML-safe SSE data lines', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let base: string;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => {
    for (const req of openRequests.splice(0)) req.destroy();
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it.each(ACCEPT)("a model's tokens with & ' U+2028 U+2029 (Accept-Encoding: %s)", async (_name, accept) => {
    const pieces = ['a & b', '\u2028', "it's", ' c\u2029d', ' x && y'];
    llm.reply({ tokens: pieces });
    const stream = await streamChat(
      base,
      { message: 'Say it', stream: true },
      { token, headers: accept ? { 'accept-encoding': accept } : {} },
    );
    await stream.done;
    expect(stream.res.statusCode, stream.text()).toBe(200);
    expect(stream.res.headers['content-encoding']).toBeUndefined();
    expectHtmlSafe(stream.text());
    expect(stream.text()).toContain('a \\u0026 b');
    const frames = stream.frames.filter((f) => f.event !== 'comment');
    expect(frames.at(-1)?.event).toBe('end');
    expect(tokensOf(frames)).toEqual(pieces);
  });
});
