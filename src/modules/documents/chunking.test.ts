import { describe, expect, it } from 'vitest';
import { chunkText, type Chunk } from './chunking.js';

/** mulberry32: a small seeded PRNG, so that every run checks the same texts and a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = ['a', 'b', 'e', 'o', 'r', 's', 't', 'é', 'ß', '日', '本', '😀', '𝔘', 'ж'];
const SEPARATORS = [
  ' ',
  ' ',
  ' ',
  ' ',
  '\n',
  '\n\n',
  '. ',
  '! ',
  '? ',
  '." ',
  '?) ',
  '… ',
  '。',
  '\t',
  '\u00a0',
  ', ',
];

/** Words and separators of many kinds: pairs, CJK sentence ends, blank lines, sometimes a long word or a long run. */
function randomText(random: () => number, size: number, longRuns: boolean): string {
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)] as T;
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const letters = random() < 0.02 ? 50 + Math.floor(random() * 400) : 1 + Math.floor(random() * 9);
    let word = '';
    for (let i = 0; i < letters; i += 1) word += pick(LETTERS);
    const separator =
      longRuns && random() < 0.01 ? ' \n'.repeat(1 + Math.floor(random() * 200)) : pick(SEPARATORS);
    const piece = word + separator;
    parts.push(piece);
    length += piece.length;
  }
  const text = parts.join('');
  return random() < 0.3 ? `  \n${text}` : text;
}

const WHITESPACE = /\s/;
const isWhite = (char: string | undefined) => char !== undefined && WHITESPACE.test(char);
const splitsPair = (text: string, at: number) =>
  /[\ud800-\udbff]/.test(text.charAt(at - 1)) && /[\udc00-\udfff]/.test(text.charAt(at));
const ENDS_SENTENCE = /[.!?…][)\]}"'»”’]{0,3}$/;
const CJK_END = /[。！？]$/;

function longestWhitespaceRun(text: string): number {
  let longest = 0;
  for (const run of text.match(/\s+/g) ?? []) longest = Math.max(longest, run.length);
  return longest;
}

/** Where the chunk ends, against the rule: paragraph break, else sentence end, else whitespace, else the hard limit. */
function checkCut(text: string, chunk: Chunk, chunkChars: number, overlapChars: number): void {
  const content = chunk.start + (chunk.text.length - chunk.text.trimStart().length);
  const hardEnd = content + chunkChars;
  // chunkText serves an overlap of chunkChars − 1 as chunkChars − 2.
  const overlap = Math.min(overlapChars, chunkChars - 2);
  const low = Math.max(hardEnd - Math.floor(chunkChars * 0.2), content + overlap + 1);
  const trimmed = chunk.text.trimEnd();
  const trailing = chunk.text.slice(trimmed.length);
  const window: number[] = [];
  for (let at = low; at <= hardEnd; at += 1) window.push(at);
  if (window.some((at) => text.startsWith('\n\n', at))) {
    expect(trailing).toContain('\n\n');
  } else if (
    window.some(
      (at) =>
        (isWhite(text[at]) && ENDS_SENTENCE.test(text.slice(content, at))) ||
        CJK_END.test(text.slice(content, at)),
    )
  ) {
    expect(trimmed).toMatch(/[.!?…)\]}"'»”’。！？]$/);
  } else if (window.some((at) => isWhite(text[at]))) {
    expect(trailing).not.toBe('');
  } else {
    // The hard limit, or one before it for a surrogate pair (whitespace just before the window may end the chunk).
    expect([hardEnd, hardEnd - 1]).toContain(chunk.end);
  }
}

/** Every promise of chunkText, checked on one text. */
function checkInvariants(text: string, chunkChars: number, overlapChars: number): Chunk[] {
  const chunks = chunkText(text, chunkChars, overlapChars);
  if (text.trim() === '') {
    expect(chunks).toEqual([]);
    return chunks;
  }
  expect(chunks.length).toBeGreaterThan(0);
  expect(chunks[0]?.start).toBe(0);
  expect(chunks.at(-1)?.end).toBe(text.length);
  const maxRun = longestWhitespaceRun(text);
  chunks.forEach((chunk, i) => {
    expect(chunk.index).toBe(i);
    expect(chunk.text).toBe(text.slice(chunk.start, chunk.end));
    expect(chunk.text.trim()).not.toBe('');
    expect(chunk.text.trim().length).toBeLessThanOrEqual(chunkChars);
    expect(splitsPair(text, chunk.start)).toBe(false);
    expect(splitsPair(text, chunk.end)).toBe(false);
    if (i > 0) expect(isWhite(text[chunk.start])).toBe(false);
    const next = chunks[i + 1];
    if (next === undefined) return;
    checkCut(text, chunk, chunkChars, overlapChars);
    // Overlapping or touching (so every character is in a chunk), moving forward, sharing about overlapChars.
    expect(next.start).toBeGreaterThan(chunk.start);
    expect(next.end).toBeGreaterThan(chunk.end);
    expect(next.start).toBeLessThanOrEqual(chunk.end);
    const shared = chunk.end - next.start;
    expect(shared).toBeLessThanOrEqual(overlapChars);
    expect(shared).toBeGreaterThanOrEqual(
      overlapChars - Math.max(Math.floor(overlapChars * 0.2), maxRun + 1) - 1,
    );
  });
  return chunks;
}

describe('chunkText on small inputs', () => {
  const spans = (text: string, chunkChars: number, overlapChars: number) =>
    chunkText(text, chunkChars, overlapChars).map((c) => [c.start, c.end, c.text]);

  it('gives no chunk for an empty or whitespace-only text', () => {
    expect(chunkText('', 10, 2)).toEqual([]);
    expect(chunkText(' \n\t\u00a0 ', 10, 2)).toEqual([]);
  });

  it('gives one chunk, whitespace included, for a text that fits', () => {
    expect(chunkText('  hello world \n', 20, 5)).toEqual([
      { index: 0, start: 0, end: 15, text: '  hello world \n' },
    ]);
  });

  it('cuts at a paragraph break in the last 20 % rather than at a later sentence end or space', () => {
    expect(spans('Intro text here.\n\nNext. More words', 20, 0)).toEqual([
      [0, 18, 'Intro text here.\n\n'],
      [18, 34, 'Next. More words'],
    ]);
  });

  it('cuts at a sentence end rather than at a later space', () => {
    expect(spans('The cat sat. It ran far away now.', 15, 0)).toEqual([
      [0, 13, 'The cat sat. '],
      [13, 29, 'It ran far away '],
      [29, 33, 'now.'],
    ]);
    expect(spans('He said "stop." Then he left the room.', 20, 5)).toEqual([
      [0, 21, 'He said "stop." Then '],
      [16, 33, 'Then he left the '],
      [29, 38, 'the room.'],
    ]);
  });

  it('looks back no further than 20 % of the chunk for a better cut', () => {
    // The sentence end (offset 14) is before the window [16, 20]: the space at 19 is taken.
    expect(spans('One two three. Four five six seven.', 20, 0)).toEqual([
      [0, 20, 'One two three. Four '],
      [20, 35, 'five six seven.'],
    ]);
  });

  it('cuts CJK text after its sentence ends, which no space follows', () => {
    expect(spans('第一句。第二句。第三句。', 5, 0)).toEqual([
      [0, 4, '第一句。'],
      [4, 8, '第二句。'],
      [8, 12, '第三句。'],
    ]);
  });

  it('cuts at the hard limit in a text without whitespace, with the overlap asked for', () => {
    expect(spans('abcdefghijklmnopqrstuvwxyz', 10, 3)).toEqual([
      [0, 10, 'abcdefghij'],
      [7, 17, 'hijklmnopq'],
      [14, 24, 'opqrstuvwx'],
      [21, 26, 'vwxyz'],
    ]);
  });

  it('starts the next chunk at a word when one starts close after the overlap point', () => {
    expect(spans('alpha beta gamma delta', 12, 6)).toEqual([
      [0, 11, 'alpha beta '],
      [6, 17, 'beta gamma '],
      [11, 22, 'gamma delta'],
    ]);
  });

  it('never cuts a surrogate pair in two', () => {
    expect(spans('aaaaaaaaa😀bbbbbbbb', 10, 0)).toEqual([
      [0, 9, 'aaaaaaaaa'],
      [9, 19, '😀bbbbbbbb'],
    ]);
    expect(spans('😀😀😀😀😀😀', 3, 1)).toEqual([
      [0, 2, '😀'],
      [2, 4, '😀'],
      [4, 6, '😀'],
      [6, 8, '😀'],
      [8, 10, '😀'],
      [10, 12, '😀'],
    ]);
  });

  it('serves an overlap of chunkChars − 1 as chunkChars − 2, so that each chunk ends after the one before', () => {
    expect(spans('abcdef', 3, 2)).toEqual([
      [0, 3, 'abc'],
      [2, 5, 'cde'],
      [4, 6, 'ef'],
    ]);
    expect(spans('ab😀cd', 3, 2)).toEqual([
      [0, 2, 'ab'],
      [1, 4, 'b😀'],
      [4, 6, 'cd'],
    ]);
  });

  it('keeps leading whitespace in the first chunk and a whitespace run with the chunk before it', () => {
    expect(spans(`   ${'x'.repeat(12)}`, 10, 0)).toEqual([
      [0, 13, `   ${'x'.repeat(10)}`],
      [13, 15, 'xx'],
    ]);
    expect(spans(`a${' '.repeat(50)}b`, 10, 2)).toEqual([
      [0, 51, `a${' '.repeat(50)}`],
      [51, 52, 'b'],
    ]);
  });

  it('refuses sizes that cannot make progress', () => {
    expect(() => chunkText('text', 1, 0)).toThrow(RangeError);
    expect(() => chunkText('text', 10, 10)).toThrow(RangeError);
    expect(() => chunkText('text', 10, -1)).toThrow(RangeError);
    expect(() => chunkText('text', 10.5, 1)).toThrow(RangeError);
  });
});

describe('chunkText on random texts', () => {
  it('keeps every invariant over 300 seeded random texts and sizes', () => {
    const random = prng(20261205);
    for (let round = 0; round < 300; round += 1) {
      const text = randomText(random, Math.floor(random() * 6000), round % 3 === 0);
      const chunkChars = 2 + Math.floor(random() * (round % 2 === 0 ? 40 : 600));
      const overlapChars = Math.floor(random() * chunkChars);
      checkInvariants(text, chunkChars, overlapChars);
    }
  });

  it('is deterministic', () => {
    const text = randomText(prng(7), 20_000, true);
    expect(chunkText(text, 300, 60)).toEqual(chunkText(text, 300, 60));
  });

  it('chunks a 5 MB text at the default sizes (1200 / 200) and keeps the invariants', () => {
    const text = randomText(prng(42), 5_000_000, false);
    const chunks = checkInvariants(text, 1200, 200);
    expect(chunks.length).toBeGreaterThan(5_000_000 / 1200);
  });
});
