// Offset pages as the original computed them, and signed keyset cursors that only their own list and user accept.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ValidationFailedError } from './errors.js';
import { MAX_CURSOR_LENGTH, createCursorCodec, offsetPage } from './pagination.js';

describe('offsetPage', () => {
  it.each([
    // items, total, skip, limit → has_more, page, total_pages
    [3, 120, 0, 50, true, 1, 3],
    [3, 120, 50, 50, true, 2, 3],
    [3, 120, 100, 50, false, 3, 3],
    [0, 120, 500, 50, false, 11, 3],
    [0, 0, 0, 50, false, 1, 0],
    [3, 10, 7, 3, false, 3, 4],
    [3, 10, 5, 3, true, 2, 4],
    [2, 10, 8, 3, false, 3, 4],
    [3, 8, 5, 3, false, 2, 3],
  ])(
    '%i items of %i from skip %i limit %i: has_more %s, page %i of %i',
    (count, total, skip, limit, hasMore, page, totalPages) => {
      const items = Array.from({ length: count }, (_, i) => i);
      expect(offsetPage(items, total, skip, limit)).toEqual({
        items,
        total,
        skip,
        limit,
        has_more: hasMore,
        page,
        total_pages: totalPages,
      });
    },
  );

  it('refuses a limit that is not a positive integer (a caller bug, not a client error)', () => {
    expect(() => offsetPage([], 1, 0, 0)).toThrow(RangeError);
    expect(() => offsetPage([], 1, 0, 1.5)).toThrow(RangeError);
  });
});

function expectInvalidCursor(decode: () => unknown): void {
  let thrown: unknown;
  try {
    decode();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ValidationFailedError);
  const error = thrown as ValidationFailedError;
  expect(error.status).toBe(422);
  expect(error.issues).toEqual([
    { loc: ['query', 'cursor'], msg: 'Invalid cursor format', type: 'value_error' },
  ]);
}

/** The same string with the character at `index` replaced by another of the base64url alphabet. */
function flip(text: string, index: number): string {
  const c = text.charAt(index);
  return text.slice(0, index) + (c === 'A' ? 'B' : 'A') + text.slice(index + 1);
}

describe('cursor codec', () => {
  const codec = createCursorCodec('a-secret-for-cursors');
  const scope = 'chat-sessions:42';

  it('reads back what it wrote: string or number ids, with or without a timestamp', () => {
    for (const position of [
      { id: 'd6f1c0de-0000-4000-8000-000000000001', ts: '2026-01-02T03:04:05.678Z' },
      { id: 17 },
      { id: 'ünïcödé/é?&=' },
    ]) {
      const cursor = codec.encode(position, scope);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
      expect(codec.decode(cursor, scope)).toEqual(position);
    }
  });

  it('refuses a cursor for another list, another user, or signed with another secret', () => {
    const cursor = codec.encode({ id: 5 }, scope);
    expectInvalidCursor(() => codec.decode(cursor, 'chat-sessions:43'));
    expectInvalidCursor(() => codec.decode(cursor, 'chat-messages:42'));
    expectInvalidCursor(() => codec.decode(cursor, 'chat-sessions:4'));
    expectInvalidCursor(() => createCursorCodec('another-secret').decode(cursor, scope));
  });

  it('cannot be confused by a scope that runs into the payload', () => {
    const a = createCursorCodec('s');
    const cursor = a.encode({ id: 1 }, 'x');
    const [payload = ''] = cursor.split('.');
    expectInvalidCursor(() => a.decode(cursor.slice(payload.length), `x|${payload}`));
  });

  it('refuses any change to a cursor: each character, cut short, extended, or garbage', () => {
    const cursor = codec.encode({ id: 'abc', ts: '2026-01-01T00:00:00.000Z' }, scope);
    for (let i = 0; i < cursor.length; i++) {
      if (cursor[i] === '.') continue;
      expectInvalidCursor(() => codec.decode(flip(cursor, i), scope));
    }
    for (const bad of [
      cursor.slice(0, -1),
      cursor.slice(1),
      `${cursor}A`,
      cursor.replace('.', ''),
      `${cursor}.x`,
      '',
      '.',
      'not-a-cursor',
      'eyJpZCI6MX0',
      `eyJpZCI6MX0.${'A'.repeat(43)}`,
      'x'.repeat(MAX_CURSOR_LENGTH + 1),
    ])
      expectInvalidCursor(() => codec.decode(bad, scope));
  });

  it('refuses a correctly signed payload that is not a position (a 422, never a 500)', () => {
    // Only a holder of the key could sign these: signed here the way the codec does, to reach the shape checks.
    const secret = 'a-secret-for-cursors';
    const key = createHmac('sha256', secret).update('sutazai pagination cursor v1').digest();
    const sign = (payload: string) =>
      `${payload}.${createHmac('sha256', key).update(`${scope.length}:${scope}|${payload}`).digest('base64url')}`;
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    expect(codec.decode(sign(b64('{"id":7}')), scope)).toEqual({ id: 7 });
    for (const body of [
      '{"nope":1}',
      '[1]',
      'null',
      '{"id":""}',
      '{"id":true}',
      '{"id":1,"ts":5}',
      '{"id":',
      'é',
    ])
      expectInvalidCursor(() => codec.decode(sign(b64(body)), scope));
  });

  it('refuses to encode what it could not decode', () => {
    expect(() => codec.encode({ id: '' }, scope)).toThrow(TypeError);
    expect(() => codec.encode({ id: Number.NaN }, scope)).toThrow(TypeError);
    expect(() => codec.encode({ id: 'x'.repeat(600) }, scope)).toThrow(RangeError);
    expect(() => createCursorCodec('')).toThrow();
  });
});
