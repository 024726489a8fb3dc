import { describe, expect, it } from 'vitest';
import { ModelTextStream, cleanModelText, cleanUserText } from './chat-text.js';

const C0 = Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code));
const KEPT_BY_USER_TEXT = ['\t', '\n', '\r'];

/** Text that must come through both rules unchanged. */
const UNCHANGED = [
  'if x < 5 && y > 3: print("a & b")',
  'Explain this React: <div className="a" onClick={go}>Hi</div>',
  `<script>alert('XSS')</script> &amp; &lt;b&gt; &#106; &nbsp`,
  '  leading and trailing spaces  ',
  '\n\nnewlines around\n',
  'tabs\tand\r\nCRLF\r\n',
  '😀 👩‍👩‍👧 🇫🇷 — emoji, a ZWJ sequence and a flag',
  'שלום עולם مرحبا \u202eRTL override\u202c',
  'line\u2028separator\u2029paragraph',
  'DEL \u007f and C1 \u0080\u009f stay (only C0 controls go)',
  'e\u0301 is not normalised to é, nor é to e\u0301; \ufb01 stays a ligature',
  '\ufeffBOM, zero\u200bwidth, \ufffd itself',
  '',
];

const hasLoneSurrogate = (text: string) => /\p{Cs}/u.test(text);

describe('cleanUserText', () => {
  it.each(UNCHANGED)('keeps %j exactly', (text) => {
    expect(cleanUserText(text)).toBe(text);
  });

  it.each(C0.map((c) => [c.charCodeAt(0), c] as const))('C0 control U+%s', (_code, c) => {
    const expected = KEPT_BY_USER_TEXT.includes(c) ? `a${c}b` : 'ab';
    expect(cleanUserText(`a${c}b`)).toBe(expected);
  });

  it('removes every disallowed control however many there are, and nothing around them', () => {
    expect(cleanUserText('\u0000<b>\u0001x\u001b[31m\u0007\u0000')).toBe('<b>x[31m');
  });

  it.each([
    ['a lone high surrogate', 'a\ud800b', 'a\ufffdb'],
    ['a lone low surrogate', 'a\udc00b', 'a\ufffdb'],
    ['a reversed pair', '\ude00\ud83d', '\ufffd\ufffd'],
    ['a high surrogate at the end', 'end\ud83d', 'end\ufffd'],
    ['a high surrogate before a pair', '\ud83d\ud83d\ude00', '\ufffd😀'],
  ])('replaces %s with U+FFFD', (_what, text, expected) => {
    expect(cleanUserText(text)).toBe(expected);
  });

  it('never joins the halves of a pair that a removed control separated', () => {
    expect(cleanUserText('\ud83d\u0000\ude00')).toBe('\ufffd\ufffd');
    expect(cleanUserText('\ud83d\u0001\ude00')).toBe('\ufffd\ufffd');
  });
});

describe('cleanModelText', () => {
  it.each(UNCHANGED)('keeps %j exactly', (text) => {
    expect(cleanModelText(text)).toBe(text);
  });

  it('removes NUL only, and keeps every other C0 control', () => {
    const all = C0.join('');
    expect(cleanModelText(all)).toBe(all.slice(1));
    expect(cleanModelText('a\u0000\u0000b\u0000')).toBe('ab');
  });

  it('replaces lone surrogates with U+FFFD and keeps pairs', () => {
    expect(cleanModelText('\ud800 \udfff 😀 \ud83d')).toBe('\ufffd \ufffd 😀 \ufffd');
    expect(cleanModelText('\ud83d\u0000\ude00')).toBe('\ufffd\ufffd');
  });
});

/** Inputs whose every cut is tried: pairs, lone halves, NULs between halves, controls and markup. */
const STREAMED = [
  'plain ascii',
  '😀😀',
  'a😀b\ud800c\udc00d',
  '\ud83d\ud83d\ude00\ude00',
  '\ud83d\u0000\ude00\u0000',
  '\u0000\u0000😀\u0000',
  '\ud800',
  '\udc00',
  'x\ud800',
  '&amp;&lt;<script>\u0001\t\r\n👩‍👩‍👧 مرحبا',
  '🇫🇷\u2028\ufffd\ud83d',
];

/** Every way to cut `text` into `pieces` (possibly empty) chunks, as lists of chunk boundaries. */
function* cuts(length: number, pieces: number, from = 0): Generator<number[]> {
  if (pieces === 1) {
    yield [];
    return;
  }
  for (let at = from; at <= length; at++)
    for (const rest of cuts(length, pieces - 1, at)) yield [at, ...rest];
}

function chunksOf(text: string, boundaries: number[]): string[] {
  const edges = [0, ...boundaries, text.length];
  return edges.slice(1).map((end, i) => text.slice(edges[i], end));
}

function streamed(chunks: string[]): { joined: string; outputs: string[] } {
  const stream = new ModelTextStream();
  const outputs = [...chunks.map((chunk) => stream.push(chunk)), stream.end()];
  return { joined: outputs.join(''), outputs };
}

describe('ModelTextStream', () => {
  it.each(STREAMED)('gives cleanModelText(%j) for every cut into two and three chunks', (text) => {
    const whole = cleanModelText(text);
    let tried = 0;
    for (const pieces of [1, 2, 3])
      for (const boundaries of cuts(text.length, pieces)) {
        const chunks = chunksOf(text, boundaries);
        const { joined, outputs } = streamed(chunks);
        expect(joined, JSON.stringify(chunks)).toBe(whole);
        // Each output is sent on its own (an SSE frame, a stored part): none may hold half a pair.
        for (const output of outputs) expect(hasLoneSurrogate(output), JSON.stringify(chunks)).toBe(false);
        tried++;
      }
    expect(tried).toBe(1 + (text.length + 1) + ((text.length + 1) * (text.length + 2)) / 2);
  });

  it.each(STREAMED)('gives cleanModelText(%j) fed one code unit at a time', (text) => {
    expect(streamed(text.split('')).joined).toBe(cleanModelText(text));
  });

  it('holds back only a trailing high surrogate, and joins it with the low one that follows', () => {
    const stream = new ModelTextStream();
    expect(stream.push('ab\ud83d')).toBe('ab');
    expect(stream.push('')).toBe('');
    expect(stream.push('\ude00c')).toBe('😀c');
    expect(stream.push('\ude00')).toBe('\ufffd');
    expect(stream.end()).toBe('');
  });

  it('flushes a held high surrogate as U+FFFD at the end, or when no low one follows', () => {
    const stream = new ModelTextStream();
    expect(stream.push('x\ud83d')).toBe('x');
    expect(stream.end()).toBe('\ufffd');
    expect(stream.push('\ud83d')).toBe('');
    expect(stream.push('y')).toBe('\ufffdy');
    expect(stream.push('\ud83d')).toBe('');
    expect(stream.push('\u0000\ude00')).toBe('\ufffd\ufffd');
  });

  it('starts afresh after end()', () => {
    const stream = new ModelTextStream();
    stream.push('\ud83d');
    stream.end();
    expect(stream.push('\ude00')).toBe('\ufffd');
  });
});
