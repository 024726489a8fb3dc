// The cost of a bad request is bounded: a route behind a token refuses a request without one before its body is
// read or inflated, a 422 lists at most 20 issues plus one item counting the rest, and an input too large to check
// completely is checked up to its first error. (Issue 9 item 4: a 1 KB gzip body of 500,000 wrong items, sent
// without a token, used to take seconds and answer 37 MB.)
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

interface Issue {
  loc: (string | number)[];
  msg: string;
  type: string;
  ctx?: { omitted: number };
}

const MANY_ITEMS = 500_000;

/** `{"input":[1,1,…]}` with `count` items, gzipped (500,000 items: about 1 MB, 1 KB once compressed). */
function gzippedItems(count: number): Buffer {
  return gzipSync(`{"input":[${new Array<string>(count).fill('1').join(',')}]}`);
}

describeEachDialect('bounded error answers', (dialect) => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await buildTestApp({ dialect });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterAll(() => t?.close());

  const embed = (payload: Buffer | string, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/models/embed',
      headers: { 'content-type': 'application/json', ...headers },
      payload,
    });

  it('a 500,000-item gzip body without a token is a small 401, not a list of its errors', async () => {
    const body = gzippedItems(MANY_ITEMS);
    expect(body.length).toBeLessThan(2048);
    const res = await embed(body, { 'content-encoding': 'gzip' });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(401);
    expect(res.json()).toMatchObject({ code: 'not_authenticated' });
    expect(res.rawPayload.length).toBeLessThan(512);
  });

  it('the same body with a token is a 422 of a few hundred bytes, checked up to its first error', async () => {
    const res = await embed(gzippedItems(MANY_ITEMS), { 'content-encoding': 'gzip', ...bearer(token) });
    expect(res.statusCode).toBe(422);
    expect(res.rawPayload.length).toBeLessThan(8 * 1024);
    const detail = res.json<{ detail: Issue[] }>().detail;
    expect(detail.length).toBeGreaterThan(0);
    expect(detail.length).toBeLessThanOrEqual(21);
    expect(detail).toContainEqual(expect.objectContaining({ loc: ['body', 'input'], type: 'too_long' }));
  });

  it('a 422 with more than 20 issues lists the first 20 and one "too_many_errors" item counting the rest', async () => {
    // 300 numbers where texts belong: small enough to be checked completely (every item is an error).
    const res = await embed(JSON.stringify({ input: new Array<number>(300).fill(1) }), bearer(token));
    expect(res.statusCode).toBe(422);
    const detail = res.json<{ detail: Issue[] }>().detail;
    expect(detail).toHaveLength(21);
    const last = detail[20];
    expect(last).toMatchObject({ loc: ['body'], type: 'too_many_errors' });
    // The string branch, maxItems, 300 items and the union: 303 issues, 20 listed.
    expect(last?.ctx?.omitted).toBe(283);
    expect(last?.msg).toBe('283 more errors not listed');
    expect(detail.slice(0, 20).every((issue) => issue.type !== 'too_many_errors')).toBe(true);
    expect(res.rawPayload.length).toBeLessThan(8 * 1024);
  });

  it('a 422 with up to 20 issues lists them all, with no counting item', async () => {
    const res = await embed(JSON.stringify({ input: [1, 2, 3] }), bearer(token));
    expect(res.statusCode).toBe(422);
    const detail = res.json<{ detail: Issue[] }>().detail;
    expect(detail.some((issue) => issue.type === 'too_many_errors')).toBe(false);
    for (const index of [0, 1, 2])
      expect(detail).toContainEqual(
        expect.objectContaining({ loc: ['body', 'input', index], type: 'string_type' }),
      );
  });

  it('a gzip bomb is refused with 401 before it is inflated without a token, and 413 with one', async () => {
    // 16 MiB of JSON whitespace, about 16 KiB compressed: far over BODY_LIMIT_BYTES (1 MiB) once inflated.
    const bomb = gzipSync(
      Buffer.concat([Buffer.from('{"input":"a"'), Buffer.alloc(16 * 1024 * 1024, 0x20), Buffer.from('}')]),
    );
    expect(bomb.length).toBeLessThan(t.config.server.bodyLimit);
    const anonymous = await embed(bomb, { 'content-encoding': 'gzip' });
    expect(anonymous.statusCode).toBe(401);
    const signedIn = await embed(bomb, { 'content-encoding': 'gzip', ...bearer(token) });
    expect(signedIn.statusCode).toBe(413);
    expect(signedIn.json()).toMatchObject({ code: 'payload_too_large' });
  });

  it('a token checked before the body: a wrong token with a broken body is 401, not 422', async () => {
    const res = await embed('{"input": [', bearer('not-a-token'));
    expect(res.statusCode).toBe(401);
  });
});
