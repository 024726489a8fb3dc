// The sanitizers against the classic XSS payloads (whole, and streamed under every cut), ordinary markdown and
// unicode, obfuscated URLs, markdown links, control characters, idempotence, and random hostile input.
import { describe, expect, it } from 'vitest';
import { MAX_HELD_CHARS, StreamingSanitizer, sanitizeAssistantText, sanitizeUserText } from './sanitize.js';

const PAYLOADS = [
  `<script>alert('XSS')</script>`,
  `<img src=x onerror=alert(1)>`,
  `<svg onload=alert(1)>`,
  `<iframe src="javascript:alert(1)">`,
  `<body onload=alert(1)>`,
  `<a href="javascript:alert(1)">x</a>`,
  `<div style="background:url(javascript:alert(1))">`,
  `"><script>alert(1)</script>`,
  `<IMG SRC=JaVaScRiPt:alert('XSS')>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
  `<a href="java&#x09;script:alert(1)">`,
  `<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">`,
  `<input autofocus onfocus=alert(1)>`,
  `<details open ontoggle=alert(1)>`,
  `<ScRiPt>alert(1)</sCrIpT>`,
  `<scr<script>ipt>alert(1)</script>`,
  `<<img src=x>script>alert(1)<</script>`,
  `<img """><script>alert(1)</script>">`,
  `<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>`,
  `<a href="javascript&colon;alert(1)">x</a>`,
  `<a href=" &#14; javascript:alert(1)">x</a>`,
  `<a href="vbscript:msgbox(1)">x</a>`,
  `<img src="https://ok.example/x.png" onerror="alert(1)" style="x">`,
  `<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
  `<style><img src="</style><img src=x onerror=alert(1)//">`,
  `<svg><script>alert(1)</script></svg>`,
  `<iframe srcdoc="<script>alert(1)</script>"></iframe>`,
  `<form action="javascript:alert(1)"><button>x</button></form>`,
  `<embed src="javascript:alert(1)">`,
  `<meta http-equiv="refresh" content="0;url=javascript:alert(1)">`,
  `<base href="javascript:alert(1)//">`,
  `<a href="jav\tascript:alert(1)">x</a>`,
  `<a/href="javascript:alert(1)">x</a>`,
  `<a href=javascript:alert(1)>x</a>`,
  `<!--<img src=x onerror=alert(1)>-->`,
  `<![CDATA[<script>alert(1)</script>]]>`,
  `[click](javascript:alert(1))`,
  `![x](javascript:alert(1))`,
  `[click](java&#115;cript:alert(1))`,
  `[click]: javascript:alert(1)`,
  `<a href="x" title="[y](javascript:alert(1))">z</a>`,
  `\u0000<script>alert(1)</script>`,
  `<scr\u0000ipt>alert(1)</scr\u0000ipt>`,
];

const ALLOWED_TAGS = new Set(
  'p br hr strong b em i u s del ins blockquote pre h1 h2 h3 h4 h5 h6 ul ol li table thead tbody tr th td code span div a img'.split(
    ' ',
  ),
);
const ALLOWED_ATTRIBUTES = new Set(['href', 'src', 'title', 'alt', 'target', 'rel', 'class', 'align']);

function decodeAttribute(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#93;/g, ']')
    .replace(/&amp;/g, '&');
}

// eslint-disable-next-line no-control-regex -- what the sanitizers must remove
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/** A URL a browser would not run: http(s), mailto, or no scheme at all. */
function isHarmlessUrl(value: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are what a browser ignores in a URL
  const compact = value.replace(/[\s\u0000-\u001f\u007f-\u009f\u200b-\u200f\ufeff]/g, '');
  const scheme = /^([^/?#\\]*?):/.exec(compact)?.[1];
  return scheme === undefined || ['http', 'https', 'mailto'].includes(scheme.toLowerCase());
}

/**
 * What every sanitized answer must hold: each "<" opens a tag in our canonical form (an allowed name, double-quoted
 * allowed attributes whose values hold no quote or angle bracket), so a browser sees exactly these tags; no URL
 * runs script; no markdown link points at a scheme other than http, https, mailto.
 */
function expectSafeMarkup(output: string): void {
  expect(output).not.toMatch(/<script/i);
  expect(output).not.toMatch(/<[^>]*\son\w+\s*=/i);
  expect(output).not.toMatch(/<[^>]*\s(href|src)="\s*(javascript|vbscript|data)\s*:/i);
  expect(output).not.toMatch(/\]\(\s*(javascript|vbscript|data)\s*:/i);
  expect(output).not.toMatch(/\]:\s*(javascript|vbscript|data)\s*:/i);
  expect(output).not.toMatch(CONTROL_CHARACTER);
  for (let lt = output.indexOf('<'); lt !== -1; lt = output.indexOf('<', lt + 1)) {
    const tag = /^<\/?([a-z0-9]+)((?: [a-z]+="[^"<>]*")*)>/.exec(output.slice(lt));
    expect(tag, `markup at ${lt} of ${JSON.stringify(output)}`).not.toBeNull();
    expect(ALLOWED_TAGS.has(tag?.[1] ?? '')).toBe(true);
    for (const [, name = '', value = ''] of (tag?.[2] ?? '').matchAll(/ ([a-z]+)="([^"]*)"/g)) {
      expect(ALLOWED_ATTRIBUTES.has(name), name).toBe(true);
      if (name === 'href' || name === 'src') expect(isHarmlessUrl(decodeAttribute(value)), value).toBe(true);
    }
  }
}

/** A user message keeps no markup at all. */
function expectNoMarkup(output: string): void {
  expect(output).not.toMatch(/[<>]/);
  expect(output).not.toMatch(CONTROL_CHARACTER);
}

function streamed(pieces: Iterable<string>): string {
  const sanitizer = new StreamingSanitizer();
  let out = '';
  for (const piece of pieces) out += sanitizer.push(piece);
  return out + sanitizer.end();
}

/** A small seeded generator (mulberry32): random tests that fail the same way every time. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCuts(text: string, next: () => number): string[] {
  const pieces: string[] = [];
  let i = 0;
  while (i < text.length) {
    const size = 1 + Math.floor(next() * 12);
    pieces.push(text.slice(i, i + size));
    i += size;
  }
  return pieces;
}

/** The text cut at every place into two pieces, and into single characters (UTF-16 units, so pairs split too). */
function everyCut(text: string): string[][] {
  const cuts = [text.split('')];
  for (let i = 1; i < text.length; i++) cuts.push([text.slice(0, i), text.slice(i)]);
  return cuts;
}

describe('sanitizeUserText', () => {
  it.each(PAYLOADS)('removes every tag of %j', (payload) => {
    const out = sanitizeUserText(payload);
    expectNoMarkup(out);
    expect(out).not.toBe(payload);
    expect(out).not.toMatch(/<script|on\w+=.*>/i);
  });

  it.each([
    ['[x](javascript:alert(1))', '[x]\\(javascript:alert(1))'],
    ['[x](java&#115;cript:alert(1))', '[x]\\(javascript:alert(1))'],
    ['[x]: <b>javascript</b>:alert(1)', '[x]\\: javascript:alert(1)'],
    ['[ok](https://a.example/?a=1&b=2)', '[ok](https://a.example/?a=1&amp;b=2)'],
  ])('defuses markdown links in %j as for the assistant', (text, expected) => {
    expect(sanitizeUserText(text)).toBe(expected);
  });

  it('drops the content of script, style and the like (the original kept "alert(\'XSS\')")', () => {
    expect(sanitizeUserText(`<script>alert('XSS')</script>`)).toBe('');
    expect(sanitizeUserText('a<style>p{}</style>b<textarea><b>c</b></textarea>d')).toBe('abd');
    expect(sanitizeUserText('<noscript>x<p>y</p></noscript>z<iframe>w</iframe>')).toBe('z');
    expect(sanitizeUserText('<svg><text>x</text></svg><math><mi>y</mi></math>ok')).toBe('ok');
  });

  it('keeps the text of other tags, and a script tag that is never closed does not swallow the rest', () => {
    expect(sanitizeUserText('<p>Hello <b>world</b></p>')).toBe('Hello world');
    expect(sanitizeUserText('What does <script> do? And <textarea>?')).toBe('What does  do? And ?');
  });

  it('escapes & < > in what remains, as bleach did, and is idempotent (no &amp;amp;)', () => {
    expect(sanitizeUserText('a < b & c > d')).toBe('a &lt; b &amp; c &gt; d');
    for (const text of ['a < b & c > d', 'AT&T &amp; &lt;script&gt;', '&amp;amp;', ...PAYLOADS]) {
      const once = sanitizeUserText(text);
      expect(sanitizeUserText(once)).toBe(once);
    }
    expect(sanitizeUserText('&lt;script&gt;alert(1)&lt;/script&gt;')).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt;',
    );
  });

  it('removes NUL and other control characters but keeps tabs, newlines and unicode', () => {
    expect(sanitizeUserText('a\u0000b\u0007c\td\r\ne\u001bf\u007f')).toBe('abc\td\nef');
    expect(sanitizeUserText('&#0;&#1;x')).toBe('\ufffdx');
    const text = 'ünïcödé 日本語 עברית 👍🏽 “quotes” \'single\' "double" javascript:alert(1)';
    expect(sanitizeUserText(text)).toBe(text);
    expect(sanitizeUserText('lone \ud800 half')).toBe('lone \ufffd half');
  });
});

describe('sanitizeAssistantText', () => {
  it.each(PAYLOADS)('never returns %j verbatim or with a live vector', (payload) => {
    const out = sanitizeAssistantText(payload);
    expect(out).not.toBe(payload);
    expectSafeMarkup(out);
  });

  it('lets ordinary markdown and unicode through unchanged', () => {
    const markdown = [
      '# Title',
      '',
      'Some **bold**, *italic*, `code`, ~~struck~~ & more: a && b || c -> d => e.',
      '',
      '- one',
      '- two',
      '  1. nested',
      '',
      '> a quote',
      '',
      '| a | b |',
      '|---|:-:|',
      '| 1 | 2 |',
      '',
      '```python',
      'print("hi") if x >= 1 else None  # &amp; stays',
      '```',
      '',
      '[link](https://example.com/a_(b)?q=1&r=2) [mail](mailto:a@b.example) [top](#top) [rel](docs/x.md)',
      '![img](https://example.com/i.png "title") [ref]: https://example.com list[0]: value',
      'ünïcödé 日本語 עברית 👍🏽 — “quotes”\ttab',
    ].join('\n');
    expect(sanitizeAssistantText(markdown)).toBe(markdown);
  });

  it('escapes a "<" that does not open an allowed tag, and shows disallowed tags as text', () => {
    expect(sanitizeAssistantText('a < b, x<3, <=')).toBe('a &lt; b, x&lt;3, &lt;=');
    expect(sanitizeAssistantText('Use <script> or <my-tag x="1">')).toBe(
      'Use &lt;script> or &lt;my-tag x="1">',
    );
    expect(sanitizeAssistantText('<!-- note --> <!DOCTYPE html> <?xml?> </ x>')).toBe(
      '&lt;!-- note --> &lt;!DOCTYPE html> &lt;?xml?> &lt;/ x>',
    );
  });

  it('keeps allowed tags, rewritten with only their allowed attributes', () => {
    expect(sanitizeAssistantText('<P class="x">Hi <strong onclick="x">there</strong><br/></p>')).toBe(
      '<p>Hi <strong>there</strong><br></p>',
    );
    expect(
      sanitizeAssistantText(
        `<a href='https://x.example/?a=1&b=2' onclick="x" style="color:red" target=_BLANK title="say &quot;hi&quot;">l</a>`,
      ),
    ).toBe(
      '<a href="https://x.example/?a=1&amp;b=2" title="say &quot;hi&quot;" target="_blank" rel="noopener noreferrer">l</a>',
    );
    expect(sanitizeAssistantText('<code class="language-ts bad\'class">x</code>')).toBe(
      '<code class="language-ts">x</code>',
    );
    expect(sanitizeAssistantText('<td align="CENTER" onmouseover=x>1</td><th align=middle>')).toBe(
      '<td align="center">1</td><th>',
    );
    expect(sanitizeAssistantText('<img src="https://x.example/y.png" alt="y" onerror="z">')).toBe(
      '<img src="https://x.example/y.png" alt="y">',
    );
    expect(sanitizeAssistantText('<img src="//x.example/y.png"><img src="/y.png">')).toBe('<img><img>');
    expect(sanitizeAssistantText('<a href="/docs">d</a> <a href="mailto:a@b.example">m</a>')).toBe(
      '<a href="/docs">d</a> <a href="mailto:a@b.example">m</a>',
    );
    expect(sanitizeAssistantText('<a title="x>y" href="https://a.example">t</a>')).toBe(
      '<a href="https://a.example" title="x&gt;y">t</a>',
    );
  });

  it.each([
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    ' \t javascript:alert(1)',
    'java&#x09;script:alert(1)',
    'java&#9;script:alert(1)',
    'java&Tab;script:alert(1)',
    'java&NewLine;script:alert(1)',
    'java&#x0A;script:alert(1)',
    'jav&#x0D;ascript:alert(1)',
    '&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)',
    '&#x6A;avascript&#x3A;alert(1)',
    'javascript&#0000000058alert(1)',
    'javascript&colon;alert(1)',
    'java\u200bscript:alert(1)',
    'java\u0000script:alert(1)',
    'vbscript:msgbox(1)',
    'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
    'DATA:text/html,<script>alert(1)</script>',
    'file:///etc/passwd',
  ])('drops the link %j', (href) => {
    const quoted = href.replace(/"/g, '&quot;');
    expect(sanitizeAssistantText(`<a href="${quoted}">x</a>`)).toBe('<a>x</a>');
    expect(sanitizeAssistantText(`<img src="${quoted}">`)).toBe('<img>');
  });

  it.each([
    ['[x](javascript:alert(1))', '[x]\\(javascript:alert(1))'],
    ['![x]( vbscript:x)', '![x]\\( vbscript:x)'],
    ['[x](java&#115;cript:alert(1))', '[x]\\(java&#115;cript:alert(1))'],
    ['[x](javascript\\:alert(1))', '[x]\\(javascript\\:alert(1))'],
    ['[x](java&amp;#115;cript:alert(1))', '[x]\\(java&amp;#115;cript:alert(1))'],
    ['[x]:\n  javascript:alert(1)', '[x]\\:\n  javascript:alert(1)'],
    ['[x](data:text/html,hi)', '[x]\\(data:text/html,hi)'],
    ['[x](java\tscript:alert(1))', '[x]\\(java\tscript:alert(1))'],
    ['[x](\n\t javascript:alert(1))', '[x]\\(\n\t javascript:alert(1))'],
    ['[x](a<b>javascript:alert(1))', '[x]\\(a<b>javascript:alert(1))'],
  ])('defuses the markdown link %j', (text, expected) => {
    expect(sanitizeAssistantText(text)).toBe(expected);
  });

  it('removes control characters, and turns a lone surrogate into U+FFFD', () => {
    expect(sanitizeAssistantText('a\u0000b\u0007c\td\r\ne')).toBe('abc\td\ne');
    expect(sanitizeAssistantText('x\udc00y\ud800')).toBe('x\ufffdy\ufffd');
  });

  it('is idempotent', () => {
    for (const text of [...PAYLOADS, 'a < b && c > d', '<a href="https://x.example/?a=1&b=2">x</a>']) {
      const once = sanitizeAssistantText(text);
      expect(sanitizeAssistantText(once)).toBe(once);
    }
  });
});

describe('StreamingSanitizer', () => {
  it.each(PAYLOADS)('gives %j exactly the whole-text answer under every cut', (payload) => {
    const whole = sanitizeAssistantText(payload);
    for (const pieces of everyCut(payload)) expect(streamed(pieces)).toBe(whole);
    const next = random(payload.length);
    for (let run = 0; run < 20; run++) expect(streamed(randomCuts(payload, next))).toBe(whole);
  });

  it('sends text at once and holds back only an unfinished tag', () => {
    const sanitizer = new StreamingSanitizer();
    expect(sanitizer.push('Hello **wor')).toBe('Hello **wor');
    expect(sanitizer.push('ld** <str')).toBe('ld** ');
    expect(sanitizer.push('ong>bold</')).toBe('<strong>bold');
    expect(sanitizer.push('strong> & a <')).toBe('</strong> & a ');
    expect(sanitizer.push(' b [x](')).toBe('&lt; b [x');
    expect(sanitizer.push('https://a.example) ')).toBe('](https://a.example) ');
    expect(sanitizer.push('<scr')).toBe('');
    expect(sanitizer.push('ipt>')).toBe('&lt;script>');
    expect(sanitizer.push('<')).toBe('');
    expect(sanitizer.end()).toBe('&lt;');
    expect(sanitizer.end()).toBe('');
  });

  it(`escapes the "<" of a tag still open after ${MAX_HELD_CHARS} characters, and sends on`, () => {
    const text = `<a title="${'x'.repeat(3 * MAX_HELD_CHARS)}">done`;
    const sanitizer = new StreamingSanitizer();
    let out = '';
    for (let i = 0; i < text.length; i++) {
      out += sanitizer.push(text.charAt(i));
      expect(i + 1 - out.length).toBeLessThanOrEqual(MAX_HELD_CHARS);
    }
    out += sanitizer.end();
    expect(out).toBe(sanitizeAssistantText(text));
    expect(out.startsWith('&lt;a title="xxx')).toBe(true);
    expect(out.endsWith('">done')).toBe(true);
  });

  it('keeps a surrogate pair cut between two chunks', () => {
    expect(streamed(['a\ud83d', '\ude00b'])).toBe('a😀b');
    expect(streamed(['a\ud83d'])).toBe('a\ufffd');
  });

  it('serves a new stream after end()', () => {
    const sanitizer = new StreamingSanitizer();
    sanitizer.push('<b');
    expect(sanitizer.end()).toBe('&lt;b');
    expect(sanitizer.push('<i>x')).toBe('<i>x');
  });
});

describe('random hostile input', () => {
  const FRAGMENTS = [
    '<',
    '>',
    '</',
    '<a',
    '<img',
    '<script',
    '<svg',
    '<b',
    '<!--',
    '-->',
    ' href=',
    ' src=',
    ' title=',
    ' style=',
    ' onerror=',
    '"',
    "'",
    '=',
    '/',
    ' ',
    '\n',
    '\t',
    'x',
    'alert(1)',
    'javascript:',
    'java&#x09;script:',
    '&#106;',
    '&colon;',
    '&',
    ';',
    '#',
    '](',
    ']:',
    '[x',
    ')',
    '(',
    '\\',
    'http://a.example/',
    '\u0000',
    '\ud83d',
    '\ude00',
  ];

  it('keeps every invariant on 400 random texts, whole and streamed', () => {
    const next = random(20240601);
    for (let n = 0; n < 400; n++) {
      let text = '';
      const length = 5 + Math.floor(next() * 40);
      for (let k = 0; k < length; k++) text += FRAGMENTS[Math.floor(next() * FRAGMENTS.length)] ?? '';
      const assistant = sanitizeAssistantText(text);
      expectSafeMarkup(assistant);
      expect(sanitizeAssistantText(assistant)).toBe(assistant);
      expect(streamed(text.split(''))).toBe(assistant);
      expect(streamed(randomCuts(text, next))).toBe(assistant);
      const user = sanitizeUserText(text);
      expectNoMarkup(user);
      expect(sanitizeUserText(user)).toBe(user);
    }
  });
});
