// The Range header of a download (RFC 9110 §14): one byte range — `bytes=a-b`, `bytes=a-` or `bytes=-n` — answers
// 206; a range that starts past the end (or a suffix of 0, or any range of an empty file) is unsatisfiable, 416.
// Several ranges are answered with the whole file (200), which §14.2 allows: a server may ignore Range, and no
// client of this API asks for multipart/byteranges. A header that is not a valid bytes range is ignored the same way.

export type RangeAnswer =
  { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const FULL: RangeAnswer = { kind: 'full' };
const RANGE_SPEC = /^(?:(\d+)-(\d*)|-(\d+))$/;

/** `header` (the Range header field) against a representation of `size` bytes; `end` is inclusive. */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return FULL;
  const equals = header.indexOf('=');
  if (equals < 0 || header.slice(0, equals).trim().toLowerCase() !== 'bytes') return FULL;
  const specs = header.slice(equals + 1).split(',');
  if (specs.length !== 1) return FULL;
  const match = RANGE_SPEC.exec((specs[0] ?? '').trim());
  if (!match) return FULL;
  const [, first, last, suffix] = match;
  if (suffix !== undefined) {
    const length = Number(suffix);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' || last === undefined ? Infinity : Number(last);
  // first-pos > last-pos makes the range invalid, which is ignored (§14.1.1), not unsatisfiable.
  if (end < start) return FULL;
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}
