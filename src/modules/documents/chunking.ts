// A document's text cut into overlapping chunks, each embedded and indexed on its own (chat over your documents).
//
// Each chunk holds at most `chunkChars` characters of content, counted from its first character that is not
// whitespace. Where it ends is chosen by looking back from that hard limit over at most LOOKBACK of `chunkChars`:
// the latest paragraph break (a blank line, "\n\n") there, else the latest sentence end (., !, ? or … before
// whitespace, possibly through closing quotes or brackets; or a CJK 。！？), else the latest whitespace, else the
// hard limit itself (moved back by one rather than cut a surrogate pair in two). The whitespace run at a cut belongs
// to the chunk before it, so that no chunk starts with whitespace (but the first, which keeps the text's leading
// whitespace) and none is whitespace-only: a chunk's text can therefore be longer than `chunkChars` by its leading
// and trailing whitespace, never by content (`chunk.text.trim().length <= chunkChars`).
//
// The next chunk starts about `overlapChars` before the end of the previous one: at the first word start within
// LOOKBACK of `overlapChars` after that point, else at the first character that is not whitespace, so the overlap
// is at most `overlapChars`. Consecutive chunks overlap or touch, and each starts and ends after the one before it,
// so every character is in some chunk and no chunk is inside another; a text that is empty or all whitespace has no
// chunk. The offsets are UTF-16 code units, as `String.prototype.slice` counts
// them. Each step looks at no more than a chunk's worth of characters: the time is linear in the size of the output.

export interface Chunk {
  /** 0, 1, 2… in the order of the text. */
  index: number;
  /** Offset of the chunk's first character in the text. */
  start: number;
  /** Offset just after its last character: `text.slice(start, end)` is the chunk's text. */
  end: number;
  text: string;
}

/** How far back from the hard limit a cut may move, and how far forward a chunk's start may move: a fraction. */
const LOOKBACK = 0.2;

/** Closing quotes and brackets that may follow a sentence's final punctuation: `He said "no."` ends a sentence. */
const CLOSERS = new Set([')', ']', '}', '"', "'", '»', '”', '’'].map((c) => c.charCodeAt(0)));
/** Sentence ends that need whitespace after them. */
const TERMINATORS = new Set(['.', '!', '?', '…'].map((c) => c.charCodeAt(0)));
/** Sentence ends of CJK text, which puts no space after them. */
const CJK_TERMINATORS = new Set(['。', '！', '？'].map((c) => c.charCodeAt(0)));
const LF = 0x0a;

/** Exactly the characters of `\s` and of `String.prototype.trim`: ECMAScript's WhiteSpace and LineTerminator. */
function isWhitespace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** True when a boundary at `at` would separate the two halves of a surrogate pair. */
function splitsPair(text: string, at: number): boolean {
  const before = text.charCodeAt(at - 1);
  const after = text.charCodeAt(at);
  return before >= 0xd800 && before <= 0xdbff && after >= 0xdc00 && after <= 0xdfff;
}

/** The first offset at or after `from` that is not whitespace (`text.length` when there is none). */
function skipWhitespace(text: string, from: number): number {
  let at = from;
  while (at < text.length && isWhitespace(text.charCodeAt(at))) at += 1;
  return at;
}

/** Whether the whitespace at `at` follows a sentence's end (through at most three closing quotes or brackets). */
function endsSentence(text: string, at: number, floor: number): boolean {
  let before = at - 1;
  for (let closers = 0; closers < 3 && before > floor && CLOSERS.has(text.charCodeAt(before)); closers += 1)
    before -= 1;
  return before >= floor && TERMINATORS.has(text.charCodeAt(before));
}

/**
 * Where the content of a chunk that starts at `content` ends: a cut in [low, hardEnd], by the preferences above.
 * `low` is above `content`, so every chunk has content.
 */
function cutPosition(text: string, content: number, hardEnd: number, low: number): number {
  let sentence = -1;
  let space = -1;
  for (let at = hardEnd; at >= low; at -= 1) {
    const code = text.charCodeAt(at);
    if (code === LF && text.charCodeAt(at + 1) === LF) return at;
    const white = isWhitespace(code);
    if (white && space < 0) space = at;
    if (
      sentence < 0 &&
      ((white && endsSentence(text, at, content)) || CJK_TERMINATORS.has(text.charCodeAt(at - 1)))
    )
      sentence = at;
  }
  if (sentence >= 0) return sentence;
  if (space >= 0) return space;
  return splitsPair(text, hardEnd) ? hardEnd - 1 : hardEnd;
}

/**
 * Where the chunk after one that ends at `end` starts, from `from` (about `overlapChars` back): the first word start
 * within `slide` characters, else the first character that is not whitespace and not the second half of a pair.
 * `text[end]` is such a character, so the result is at most `end`.
 */
function nextStart(text: string, from: number, end: number, slide: number): number {
  const limit = Math.min(end, from + slide);
  for (let at = from; at <= limit; at += 1) {
    if (!isWhitespace(text.charCodeAt(at)) && isWhitespace(text.charCodeAt(at - 1))) return at;
  }
  let at = from;
  while (at < end && (isWhitespace(text.charCodeAt(at)) || splitsPair(text, at))) at += 1;
  return at;
}

/**
 * `text` cut into chunks of at most `chunkChars` characters of content (at least 2: a surrogate pair must fit), each
 * sharing about `overlapChars` (0 ≤ overlapChars < chunkChars) with the one before it. Throws a RangeError for
 * sizes out of range (a programming error: the configuration checks them).
 */
export function chunkText(text: string, chunkChars: number, overlapChars: number): Chunk[] {
  if (!Number.isInteger(chunkChars) || chunkChars < 2) {
    throw new RangeError(`chunkChars must be an integer of at least 2 (got ${chunkChars})`);
  }
  if (!Number.isInteger(overlapChars) || overlapChars < 0 || overlapChars >= chunkChars) {
    throw new RangeError(`overlapChars must be an integer from 0 to chunkChars - 1 (got ${overlapChars})`);
  }
  // An overlap of chunkChars − 1 would leave a chunk no room to end after the one before it when a surrogate pair
  // straddles its limit (the cut moves back by one): it is served as chunkChars − 2.
  const overlap = Math.min(overlapChars, chunkChars - 2);
  const lookback = Math.floor(chunkChars * LOOKBACK);
  const slide = Math.floor(overlap * LOOKBACK);
  const chunks: Chunk[] = [];
  const push = (start: number, end: number) =>
    chunks.push({ index: chunks.length, start, end, text: text.slice(start, end) });

  let start = 0;
  let content = skipWhitespace(text, 0);
  if (content === text.length) return chunks;
  for (;;) {
    const hardEnd = content + chunkChars;
    if (hardEnd >= text.length) {
      push(start, text.length);
      return chunks;
    }
    // Above content + overlap, so that the next chunk, which starts at most `overlap` before this one's end, ends
    // after it; at most hardEnd − 1, so that a cut moved back off a surrogate pair stays above it.
    const low = Math.max(hardEnd - lookback, content + overlap + 1);
    const end = skipWhitespace(text, cutPosition(text, content, hardEnd, low));
    push(start, end);
    if (end === text.length) return chunks;
    start = nextStart(text, end - overlap, end, slide);
    content = start;
  }
}
