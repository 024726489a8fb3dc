// Response compression: gzip (level 6) and brotli for answers of 500 bytes or more when the client accepts them,
// nothing below that or without Accept-Encoding, and never a buffered or delayed stream.
import http from 'node:http';
import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

/** A JSON body of exactly `size` bytes. */
function jsonOfSize(size: number): string {
  return JSON.stringify({ d: 'x'.repeat(size - '{"d":""}'.length) });
}

/** Varied enough that gzip levels 1 and 6 give different bytes. */
const BIG = {
  items: Array.from({ length: 80 }, (_, i) => ({
    id: i,
    name: `item number ${(i * 7919) % 1000}`,
    tags: ['alpha', 'beta', String(i % 7)],
    score: ((i * 37) % 101) / 10,
  })),
};

/** A streamed route writes its first piece, then waits for the test (or a safety timer) before finishing. */
interface StreamControl {
  ended: boolean;
  release(): void;
}

function addRoutes(app: App, control: StreamControl): void {
  app.get<{ Params: { n: string } }>('/test/sized/:n', async (request, reply) =>
    reply.type('application/json; charset=utf-8').send(jsonOfSize(Number(request.params.n))),
  );
  app.get('/test/big', async () => BIG);
  app.post('/test/count', async (request) => ({ bytes: JSON.stringify(request.body).length }));

  const streamed =
    (type: string, first: string, last: string) => (_request: FastifyRequest, reply: FastifyReply) => {
      const stream = new PassThrough();
      control.ended = false;
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      control.release = release;
      const safety = setTimeout(release, 10_000);
      void released.then(() => {
        clearTimeout(safety);
        control.ended = true;
        stream.end(last);
      });
      stream.write(first);
      return reply.type(type).header('cache-control', 'no-cache').send(stream);
    };
  app.get('/test/sse', streamed('text/event-stream', 'event: token\ndata: first\n\n', 'data: second\n\n'));
  app.get('/test/text-stream', streamed('text/plain; charset=utf-8', 'first line\n', 'last line\n'));
}

interface Opened {
  res: http.IncomingMessage;
  /** Resolves with the (decompressed) body read so far, once it contains `needle`. */
  waitFor: (needle: string) => Promise<string>;
  rest: () => Promise<string>;
}

/** A real-socket GET that reads the body as it arrives, decompressing it as the Content-Encoding says. */
function open(url: string, acceptEncoding: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { 'accept-encoding': acceptEncoding } }, (res) => {
      const encoding = res.headers['content-encoding'];
      const decoder: Transform | undefined =
        encoding === 'gzip'
          ? zlib.createGunzip()
          : encoding === 'br'
            ? zlib.createBrotliDecompress()
            : undefined;
      const text = decoder ?? res;
      if (decoder) res.pipe(decoder);
      let decoded = '';
      const waiters: (() => void)[] = [];
      text.on('data', (chunk: Buffer) => {
        decoded += chunk.toString('utf8');
        for (const wake of waiters.splice(0)) wake();
      });
      const ended = new Promise<string>((done, fail) => {
        text.on('end', () => done(decoded));
        text.on('error', fail);
      });
      resolve({
        res,
        waitFor: async (needle) => {
          while (!decoded.includes(needle)) {
            await Promise.race([new Promise<void>((wake) => waiters.push(wake)), ended]);
            if (!decoded.includes(needle) && text.readableEnded) throw new Error(`ended without ${needle}`);
          }
          return decoded;
        },
        rest: () => ended,
      });
    });
    req.on('error', reject);
  });
}

describeEachDialect('compression', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  const control: StreamControl = { ended: false, release: () => undefined };
  beforeAll(async () => {
    t = await buildTestApp({ dialect, extend: (app) => addRoutes(app, control) });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    baseUrl = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    control.release();
    await t.close();
  });

  it('gzip: a large JSON answer is gzipped at level 6 and decompresses to the very same bytes', async () => {
    const plain = await t.app.inject({ url: '/test/big' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    const original = plain.rawPayload;
    expect(original.length).toBeGreaterThan(2000);

    const res = await t.app.inject({ url: '/test/big', headers: { 'accept-encoding': 'gzip' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers.vary).toMatch(/accept-encoding/i);
    expect(res.rawPayload.length).toBeLessThan(original.length / 3);
    expect(zlib.gunzipSync(res.rawPayload).equals(original)).toBe(true);

    // Level 6 exactly: zlib is deterministic, and for this body levels 1 and 9 give other bytes.
    const level = (n: number) => zlib.gzipSync(original, { level: n });
    expect(level(1).equals(level(6)) || level(9).equals(level(6))).toBe(false);
    expect(res.rawPayload.equals(level(6))).toBe(true);
  });

  it('brotli: a large JSON answer is brotli-compressed and decompresses to the very same bytes', async () => {
    const original = (await t.app.inject({ url: '/test/big' })).rawPayload;
    const res = await t.app.inject({ url: '/test/big', headers: { 'accept-encoding': 'br' } });
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.rawPayload.length).toBeLessThan(original.length / 3);
    expect(zlib.brotliDecompressSync(res.rawPayload).equals(original)).toBe(true);
  });

  it.each([
    ['gzip, deflate, br', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=1, br;q=0.5', 'gzip'],
    ['deflate, gzip', 'gzip'],
  ])('Accept-Encoding %j picks %s', async (accept, expected) => {
    const original = (await t.app.inject({ url: '/test/big' })).rawPayload;
    const res = await t.app.inject({ url: '/test/big', headers: { 'accept-encoding': accept } });
    expect(res.headers['content-encoding']).toBe(expected);
    const decoded =
      expected === 'br' ? zlib.brotliDecompressSync(res.rawPayload) : zlib.gunzipSync(res.rawPayload);
    expect(decoded.equals(original)).toBe(true);
  });

  it('the threshold is 500 bytes: 499 goes as it is, 500 is compressed', async () => {
    const below = await t.app.inject({ url: '/test/sized/499', headers: { 'accept-encoding': 'gzip, br' } });
    expect(below.headers['content-encoding']).toBeUndefined();
    expect(below.rawPayload.length).toBe(499);
    expect(below.body).toBe(jsonOfSize(499));

    const at = await t.app.inject({ url: '/test/sized/500', headers: { 'accept-encoding': 'gzip' } });
    expect(at.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(at.rawPayload).toString('utf8')).toBe(jsonOfSize(500));
  });

  it.each([
    ['no Accept-Encoding at all', {}],
    ['Accept-Encoding: identity', { 'accept-encoding': 'identity' }],
    ['only encodings we do not offer', { 'accept-encoding': 'compress, x-custom' }],
  ])('with %s a large answer is sent uncompressed', async (_what, headers) => {
    const res = await t.app.inject({ url: '/test/big', headers });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.json()).toEqual(BIG);
    expect(Number(res.headers['content-length'])).toBe(res.rawPayload.length);
  });

  it('an SSE stream reaches a real-socket client event by event, uncompressed even when gzip and br are accepted', async () => {
    const { res, waitFor, rest } = await open(`${baseUrl}/test/sse`, 'gzip, br');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers['content-encoding']).toBeUndefined();

    const firstSeen = await waitFor('data: first\n\n');
    expect(control.ended).toBe(false);
    expect(firstSeen).toBe('event: token\ndata: first\n\n');

    control.release();
    expect(await rest()).toBe('event: token\ndata: first\n\ndata: second\n\n');
  });

  it.each(['gzip', 'br'])(
    'a compressible text stream compressed with %s still delivers its first piece before the route ends',
    async (encoding) => {
      const { res, waitFor, rest } = await open(`${baseUrl}/test/text-stream`, encoding);
      expect(res.headers['content-encoding']).toBe(encoding);

      await waitFor('first line\n');
      expect(control.ended).toBe(false);

      control.release();
      expect(await rest()).toBe('first line\nlast line\n');
    },
  );

  it('a gzip-compressed request body is decompressed before parsing', async () => {
    const json = JSON.stringify({ data: 'y'.repeat(5000) });
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/count',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: zlib.gzipSync(json),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ bytes: json.length });
  });

  it('a small gzip body that inflates past the body limit (a zip bomb) is 413', async () => {
    const bomb = zlib.gzipSync(JSON.stringify({ data: '0'.repeat(10 * 1024 * 1024) }));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/count',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: bomb,
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'payload_too_large', request_id: res.headers['x-request-id'] });
  });
  it('a Prometheus scrape and the Swagger UI assets are compressed too', async () => {
    const metrics = await t.app.inject({ url: '/metrics', headers: { 'accept-encoding': 'gzip' } });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(metrics.rawPayload).toString('utf8')).toMatch(/^# HELP http_requests_total /m);
    const css = await t.app.inject({
      url: '/docs/static/swagger-ui.css',
      headers: { 'accept-encoding': 'br' },
    });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-encoding']).toBe('br');
  });
});
