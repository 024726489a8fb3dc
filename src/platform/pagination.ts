// Pagination for every list in the server: offset pages (`skip`/`limit`, the original's shape, §8.3) and opaque
// keyset cursors. Out-of-range values are a 422 from the schema, never clamped; a cursor that was tampered with, cut
// short, or minted for another list or another user is a 422 too (ValidationFailedError at ["query", "cursor"]).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Type, type Static, type TSchema } from 'typebox';
import { ValidationFailedError } from './errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
export const MAX_CURSOR_LENGTH = 512;

/** At most the largest exact integer: "1e99" reads as a number, and must be a 422, not a database error. */
export const Skip = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  default: 0,
  description: 'How many items to skip.',
});
export const Limit = Type.Integer({
  minimum: 1,
  maximum: MAX_PAGE_SIZE,
  default: DEFAULT_PAGE_SIZE,
  description: `Page size, 1–${MAX_PAGE_SIZE}.`,
});
export const Cursor = Type.String({
  minLength: 1,
  maxLength: MAX_CURSOR_LENGTH,
  description: 'Opaque: the `next_cursor` of the previous page.',
});

/** `?skip&limit` ("10" is read as 10 by the query coercion). Spread `.properties` to add a list's own filters. */
export const OffsetQuery = Type.Object({ skip: Skip, limit: Limit });
export type OffsetQuery = Static<typeof OffsetQuery>;

/** `?cursor&limit`: no cursor is the first page. */
export const CursorQuery = Type.Object({ cursor: Type.Optional(Cursor), limit: Limit });
export type CursorQuery = Static<typeof CursorQuery>;

/** The original's `paginate_list` shape. */
export interface OffsetPage<T> {
  items: T[];
  total: number;
  skip: number;
  limit: number;
  has_more: boolean;
  page: number;
  total_pages: number;
}

/** Response schema of an offset page of `item`. */
export function OffsetPageSchema<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    total: Type.Integer(),
    skip: Type.Integer(),
    limit: Type.Integer(),
    has_more: Type.Boolean(),
    page: Type.Integer({ description: 'floor(skip / limit) + 1' }),
    total_pages: Type.Integer({ description: 'ceil(total / limit)' }),
  });
}

/** Response schema of a cursor page of `item` (the original's CursorPaginatedResponse). */
export function CursorPageSchema<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page.' }),
    has_more: Type.Boolean(),
  });
}

/** One page of a list of `total` items, as the original computed it (has_more is skip + limit < total). */
export function offsetPage<T>(items: T[], total: number, skip: number, limit: number): OffsetPage<T> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be a positive integer, not ${limit}`);
  return {
    items,
    total,
    skip,
    limit,
    has_more: skip + limit < total,
    page: Math.floor(skip / limit) + 1,
    total_pages: Math.ceil(total / limit),
  };
}

/** Where a keyset page ends: the last item's id, and its sort timestamp when the list is ordered by time. */
export interface CursorPosition {
  id: string | number;
  ts?: string;
}

export interface CursorCodec {
  /** An opaque cursor for `position`, valid only for `scope` (the list and its owner, e.g. `chat-sessions:42`). */
  encode(position: CursorPosition, scope: string): string;
  /** The position in `cursor`; throws ValidationFailedError (422) unless this codec made it for this `scope`. */
  decode(cursor: string, scope: string): CursorPosition;
}

const TAG_CHARS = 43; // an HMAC-SHA256 in base64url
const CURSOR_FORMAT = new RegExp(`^([A-Za-z0-9_-]+)\\.([A-Za-z0-9_-]{${TAG_CHARS}})$`);

function invalidCursor(): ValidationFailedError {
  return new ValidationFailedError([
    { loc: ['query', 'cursor'], msg: 'Invalid cursor format', type: 'value_error' },
  ]);
}

function isPosition(value: unknown): value is CursorPosition {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { id, ts } = value as Record<string, unknown>;
  const idOk = (typeof id === 'string' && id.length > 0) || (typeof id === 'number' && Number.isFinite(id));
  return idOk && (ts === undefined || typeof ts === 'string');
}

/**
 * Cursors are `base64url(JSON {id, ts?}).base64url(HMAC-SHA256)`, the tag covering the scope and the payload, with
 * a key derived from `secret` for this use only (the same secret may sign tokens: a cursor's tag is never valid as
 * anything else). Cursors do not expire: a keyset position stays meaningful.
 */
export function createCursorCodec(secret: string): CursorCodec {
  if (!secret) throw new Error('A cursor codec needs a secret');
  const key = createHmac('sha256', secret).update('sutazai pagination cursor v1').digest();
  const tag = (scope: string, payload: string) =>
    createHmac('sha256', key).update(`${scope.length}:${scope}|${payload}`).digest('base64url');

  return {
    encode(position, scope) {
      if (!isPosition(position)) throw new TypeError('A cursor position needs an id (string or number)');
      const body = position.ts === undefined ? { id: position.id } : { id: position.id, ts: position.ts };
      const payload = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
      const cursor = `${payload}.${tag(scope, payload)}`;
      if (cursor.length > MAX_CURSOR_LENGTH) throw new RangeError('A cursor position is too long to encode');
      return cursor;
    },

    decode(cursor, scope) {
      const match = cursor.length <= MAX_CURSOR_LENGTH ? CURSOR_FORMAT.exec(cursor) : null;
      const [, payload = '', given = ''] = match ?? [];
      if (!match || !timingSafeEqual(Buffer.from(given), Buffer.from(tag(scope, payload))))
        throw invalidCursor();
      let position: unknown;
      try {
        position = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        throw invalidCursor();
      }
      if (!isPosition(position)) throw invalidCursor();
      return position.ts === undefined ? { id: position.id } : { id: position.id, ts: position.ts };
    },
  };
}
