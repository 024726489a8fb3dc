// The pagination schemas and cursors over HTTP: defaults, query coercion ("10" → 10), out-of-range values and bad
// cursors as FastAPI-shaped 422s (never clamped), and keyset pages that walk a list exactly once.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import {
  CursorPageSchema,
  CursorQuery,
  OffsetPageSchema,
  OffsetQuery,
  createCursorCodec,
  offsetPage,
} from '../../../src/platform/pagination.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

const ITEMS = Array.from({ length: 120 }, (_, i) => i + 1);
const codec = createCursorCodec('pagination-test-secret');

function addRoutes(app: App): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  typed.get(
    '/test/pages',
    { schema: { querystring: OffsetQuery, response: { 200: OffsetPageSchema(Type.Integer()) } } },
    async (request) => {
      const { skip, limit } = request.query;
      return offsetPage(ITEMS.slice(skip, skip + limit), ITEMS.length, skip, limit);
    },
  );
  typed.get(
    '/test/search',
    {
      schema: {
        querystring: Type.Object({
          ...OffsetQuery.properties,
          q: Type.Optional(Type.String({ maxLength: 10 })),
        }),
      },
    },
    async (request) => request.query,
  );
  // A keyset list per user: ids ascending, the cursor holding the last id of the page before.
  typed.get(
    '/test/users/:user/items',
    {
      schema: {
        params: Type.Object({ user: Type.String() }),
        querystring: CursorQuery,
        response: { 200: CursorPageSchema(Type.Integer()) },
      },
    },
    async (request) => {
      const scope = `items:${request.params.user}`;
      const { cursor, limit } = request.query;
      const after = cursor === undefined ? 0 : Number(codec.decode(cursor, scope).id);
      const rest = ITEMS.filter((id) => id > after);
      const items = rest.slice(0, limit);
      const last = items.at(-1);
      const hasMore = rest.length > limit;
      return {
        items,
        next_cursor: hasMore && last !== undefined ? codec.encode({ id: last }, scope) : null,
        has_more: hasMore,
      };
    },
  );
}

interface ErrorBody {
  detail: { loc: (string | number)[]; msg: string; type: string }[];
  code: string;
  request_id: string;
}

describeEachDialect('pagination', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect, extend: addRoutes });
  });
  afterAll(() => t.close());

  const get = (url: string) => t.app.inject({ method: 'GET', url });

  it('defaults to skip 0 and limit 50, in the original page shape', async () => {
    const res = await get('/test/pages');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      items: ITEMS.slice(0, 50),
      total: 120,
      skip: 0,
      limit: 50,
      has_more: true,
      page: 1,
      total_pages: 3,
    });
  });

  it('reads "10" as 10, and computes the page from skip and limit', async () => {
    const res = await get('/test/pages?skip=20&limit=10');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ skip: 20, limit: 10, page: 3, total_pages: 12, has_more: true });
    expect(res.json<{ items: number[] }>().items).toEqual(ITEMS.slice(20, 30));
    const last = await get('/test/pages?skip=110&limit=500');
    expect(last.json()).toMatchObject({ skip: 110, limit: 500, page: 1, total_pages: 1, has_more: false });
  });

  it('keeps a list’s own filters beside skip and limit', async () => {
    const res = await get('/test/search?q=abc&limit=7');
    expect(res.json()).toEqual({ q: 'abc', skip: 0, limit: 7 });
  });

  it.each([
    ['skip=-1', 'skip', 'greater_than_equal'],
    ['limit=0', 'limit', 'greater_than_equal'],
    ['limit=501', 'limit', 'less_than_equal'],
    ['limit=abc', 'limit', 'integer_type'],
    ['limit=2.5', 'limit', 'integer_type'],
    // Integers are decimal digits within ±(2^53−1) (platform/validation.ts); anything else is not an integer.
    ['skip=1e99', 'skip', 'integer_type'],
    ['skip=9007199254740993', 'skip', 'integer_type'],
  ])('?%s is a FastAPI 422 at ["query", "%s"] (%s), never clamped', async (query, field, type) => {
    const res = await get(`/test/pages?${query}`);
    expect(res.statusCode).toBe(422);
    const body = res.json<ErrorBody>();
    expect(body.code).toBe('validation_error');
    expect(typeof body.request_id).toBe('string');
    expect(body.detail).toContainEqual({ loc: ['query', field], msg: expect.any(String) as string, type });
  });

  it('walks a keyset list page by page, every item exactly once', async () => {
    const seen: number[] = [];
    let url = '/test/users/alice/items?limit=50';
    for (let pages = 0; pages < 10; pages++) {
      const res = await get(url);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ items: number[]; next_cursor: string | null; has_more: boolean }>();
      seen.push(...page.items);
      expect(page.has_more).toBe(page.next_cursor !== null);
      if (page.next_cursor === null) break;
      url = `/test/users/alice/items?limit=50&cursor=${encodeURIComponent(page.next_cursor)}`;
    }
    expect(seen).toEqual(ITEMS);
  });

  it.each([
    ['tampered with', (c: string) => c.slice(0, 5) + (c[5] === 'A' ? 'B' : 'A') + c.slice(6)],
    ['cut short', (c: string) => c.slice(0, -3)],
    ['garbage', () => 'not-a-cursor'],
    [
      'a payload with a forged tag',
      () => `${Buffer.from('{"id":99}').toString('base64url')}.${'A'.repeat(43)}`,
    ],
  ])('a cursor %s is a 422 at ["query", "cursor"]', async (_label, spoil) => {
    const first = await get('/test/users/alice/items?limit=10');
    const cursor = spoil(first.json<{ next_cursor: string }>().next_cursor);
    const res = await get(`/test/users/alice/items?cursor=${encodeURIComponent(cursor)}`);
    expect(res.statusCode).toBe(422);
    expect(res.json<ErrorBody>()).toMatchObject({
      code: 'validation_error',
      detail: [{ loc: ['query', 'cursor'], msg: 'Invalid cursor format', type: 'value_error' }],
    });
  });

  it('a cursor from another user’s list is a 422', async () => {
    const alice = await get('/test/users/alice/items?limit=10');
    const cursor = alice.json<{ next_cursor: string }>().next_cursor;
    expect((await get(`/test/users/alice/items?cursor=${cursor}`)).statusCode).toBe(200);
    const res = await get(`/test/users/bob/items?cursor=${cursor}`);
    expect(res.statusCode).toBe(422);
    expect(res.json<ErrorBody>().detail).toEqual([
      { loc: ['query', 'cursor'], msg: 'Invalid cursor format', type: 'value_error' },
    ]);
  });

  it.each([
    ['empty', '', 'string_too_short'],
    ['over 512 characters', 'x'.repeat(513), 'string_too_long'],
  ])('a cursor %s is refused by the schema', async (_label, cursor, type) => {
    const res = await get(`/test/users/alice/items?cursor=${cursor}`);
    expect(res.statusCode).toBe(422);
    expect(res.json<ErrorBody>().detail).toContainEqual(
      expect.objectContaining({ loc: ['query', 'cursor'], type }),
    );
  });

  it('limit is checked on cursor lists too', async () => {
    const res = await get('/test/users/alice/items?limit=501');
    expect(res.statusCode).toBe(422);
    expect(res.json<ErrorBody>().detail).toContainEqual(
      expect.objectContaining({ loc: ['query', 'limit'], type: 'less_than_equal' }),
    );
  });
});
