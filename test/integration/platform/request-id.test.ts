// The request id: a well-formed incoming X-Request-ID is kept, anything else replaced by a new UUID; echoed on
// every answer; carried by an AsyncLocalStorage into handlers (after awaits and body reads) and into every log line.
import http from 'node:http';
import { Writable } from 'node:stream';
import { Type } from 'typebox';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp, type App } from '../../../src/app.js';
import { parseConfig, type Dialect } from '../../../src/config.js';
import { currentRequestId } from '../../../src/platform/request-context.js';
import { TEST_JWT_SECRET } from '../../helpers/app.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { EVERY_ANSWER, addEveryAnswerRoutes } from '../../helpers/every-answer.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function addRoutes(app: App): void {
  app.post<{ Body: { delayMs: number } }>(
    '/test/context',
    { schema: { body: Type.Object({ delayMs: Type.Integer({ minimum: 0, maximum: 50 }) }) } },
    async (request) => {
      await sleep(request.body.delayMs);
      return { seen: currentRequestId() };
    },
  );
  app.post('/test/context-raw', async (request) => {
    await sleep(5);
    return { seen: currentRequestId(), bytes: JSON.stringify(request.body).length };
  });
  app.post<{ Body: { tag: string } }>(
    '/test/logs',
    { schema: { body: Type.Object({ tag: Type.String() }) } },
    async (request) => {
      await sleep(5);
      request.log.info({ tag: request.body.tag }, 'handler line');
      // A module's child logger, as services use: it knows nothing of the request, the context supplies the id.
      app.log.child({ module: 'x' }).info({ tag: request.body.tag }, 'module line');
      return { ok: true };
    },
  );
  addEveryAnswerRoutes(app);
}

/** The real app with a log destination that keeps the raw JSON lines (duplicate keys vanish once parsed). */
async function buildRawLogApp(dialect: Dialect): Promise<{
  app: App;
  lines: string[];
  close(): Promise<void>;
}> {
  const database: FreshDatabase = await freshDatabase(dialect);
  const config = parseConfig(
    {
      ENVIRONMENT: 'test',
      DATA_DIR: database.dataDir,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'debug',
      JWT_SECRET_KEY: TEST_JWT_SECRET,
    },
    '0.0.0-test',
  );
  const lines: string[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  let app: App;
  try {
    app = await buildApp(config, { migrate: true, logDestination });
    addRoutes(app);
    await app.ready();
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    app,
    lines,
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}

async function waitFor<T>(find: () => T | undefined, what: string): Promise<T> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const found = find();
    if (found !== undefined) return found;
    await sleep(10);
  }
  throw new Error(`gave up waiting for ${what}`);
}

function occurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

describeEachDialect('request id', (dialect) => {
  let t: Awaited<ReturnType<typeof buildRawLogApp>>;
  let baseUrl: string;
  beforeAll(async () => {
    t = await buildRawLogApp(dialect);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    baseUrl = `http://127.0.0.1:${address.port}`;
  });
  afterAll(() => t.close());

  it('without an incoming X-Request-ID each request gets a new UUID', async () => {
    const first = await t.app.inject({ url: '/health' });
    const second = await t.app.inject({ url: '/health' });
    expect(first.headers['x-request-id']).toMatch(UUID);
    expect(second.headers['x-request-id']).toMatch(UUID);
    expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id']);
  });

  it.each([
    'abc',
    'A-Z_a-z.0-9',
    '-',
    '...',
    'x'.repeat(128),
    '0b2f3c8e-1d4a-4f6b-9c1e-2a3b4c5d6e7f',
    'trace.12345_retry-2',
  ])('a well-formed incoming id %j is kept and echoed', async (id) => {
    const res = await t.app.inject({ url: '/health', headers: { 'x-request-id': id } });
    expect(res.headers['x-request-id']).toBe(id);
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a space', 'has space'],
    ['a semicolon', 'a;b'],
    ['a slash', 'a/b'],
    ['markup', '<script>alert(1)</script>'],
    ['a quote', `it's`],
    ['a colon', 'a:b'],
    ['a tab', 'a\tb'],
  ])('an incoming id with %s is replaced by a new UUID', async (_why, id) => {
    const res = await t.app.inject({ url: '/health', headers: { 'x-request-id': id } });
    expect(res.headers['x-request-id']).toMatch(UUID);
  });

  it('an incoming id with non-ASCII characters (over a real socket) is replaced by a new UUID', async () => {
    const res = await fetch(`${baseUrl}/health`, { headers: { 'x-request-id': 'caf\u00e9' } });
    expect(res.headers.get('x-request-id')).toMatch(UUID);
  });

  it('two X-Request-ID headers (joined by Node into "a, b") are replaced by a new UUID', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      // The array form of headers sends both lines as they are (and needs Host spelled out).
      const headers = ['host', new URL(baseUrl).host, 'x-request-id', 'a', 'x-request-id', 'b'];
      const req = http.request(`${baseUrl}/health`, { headers });
      req.on('response', (response) => {
        response.resume();
        resolve(response);
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.headers['x-request-id']).toMatch(UUID);
  });

  it.each(EVERY_ANSWER)(
    'the id is echoed on a %s answer, and error bodies carry the same id',
    async (_what, request, status) => {
      const id = `echo-${status}`;
      const res = await t.app.inject({
        ...request,
        headers: { ...('headers' in request ? request.headers : {}), 'x-request-id': id },
      });
      expect(res.statusCode).toBe(status);
      expect(res.headers['x-request-id']).toBe(id);
      if (status >= 400) expect(res.json<{ request_id: unknown }>().request_id).toBe(id);
    },
  );

  it('a handler that awaits after its JSON body was parsed still sees the request id', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/context',
      headers: { 'x-request-id': 'ctx-after-body' },
      payload: { delayMs: 5 },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ seen: 'ctx-after-body' });
  });

  it('with a generated id, the handler sees exactly the id sent back in the header', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/context', payload: { delayMs: 5 } });
    expect(res.json()).toEqual({ seen: res.headers['x-request-id'] });
  });

  it('concurrent requests each see their own id, whatever order they finish in', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `concurrent-${i}`);
    const answers = await Promise.all(
      ids.map((id, i) =>
        t.app.inject({
          method: 'POST',
          url: '/test/context',
          headers: { 'x-request-id': id },
          payload: { delayMs: (i * 7) % 20 },
        }),
      ),
    );
    expect(answers.map((res) => res.json<{ seen: string }>().seen)).toEqual(ids);
  });

  it('over a real socket, a body that arrives in many chunks does not lose the context', async () => {
    const payload = JSON.stringify({ data: 'a'.repeat(512 * 1024) });
    const answers = await Promise.all(
      ['socket-a', 'socket-b', 'socket-c'].map(async (id) => {
        const res = await fetch(`${baseUrl}/test/context-raw`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': id },
          body: payload,
        });
        return { id, body: await res.json() };
      }),
    );
    for (const { id, body } of answers) expect(body).toEqual({ seen: id, bytes: payload.length });
  });

  it('outside a request there is no current id', () => {
    expect(currentRequestId()).toBeUndefined();
  });

  it('log lines written while handling carry request_id exactly once: request.log and a module logger', async () => {
    const id = 'log-check-1';
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/logs',
      headers: { 'x-request-id': id },
      payload: { tag: id },
    });
    expect(res.statusCode).toBe(200);

    for (const msg of ['handler line', 'module line', 'request completed']) {
      const raw = await waitFor(
        () => t.lines.find((line) => line.includes(`"msg":"${msg}"`) && line.includes(id)),
        `the "${msg}" line`,
      );
      expect(JSON.parse(raw)).toMatchObject({ request_id: id });
      expect(occurrences(raw, '"request_id"')).toBe(1);
    }
    const moduleLine = t.lines.find((line) => line.includes('"msg":"module line"') && line.includes(id));
    expect(JSON.parse(moduleLine ?? '{}')).toMatchObject({ module: 'x', tag: id });
  });

  it('every line logged for a failing request names it once, and the failure is logged once', async () => {
    const id = 'log-check-500';
    await t.app.inject({ url: '/test/fail', headers: { 'x-request-id': id } });
    await waitFor(
      () => t.lines.find((line) => line.includes('"request completed"') && line.includes(id)),
      'end',
    );
    const mine = t.lines.filter((line) => line.includes(`"${id}"`));
    expect(mine.length).toBeGreaterThanOrEqual(2);
    for (const raw of mine) expect(occurrences(raw, '"request_id"')).toBe(1);
    expect(mine.filter((raw) => (JSON.parse(raw) as { level: number }).level >= 50)).toHaveLength(1);
  });

  it('a line logged outside any request has no request_id', () => {
    const before = t.lines.length;
    t.app.log.child({ module: 'background' }).info('outside any request');
    const raw = t.lines.slice(before).find((line) => line.includes('outside any request'));
    expect(raw).toBeDefined();
    expect(raw).not.toContain('request_id');
  });
});
