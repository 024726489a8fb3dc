import { describe, expect, it } from 'vitest';
import { htmlProblems } from '../../../test/helpers/safe-html.js';
import { CHAT_XSS_PAYLOADS, SEED_XSS_PAYLOADS } from '../../../test/helpers/xss-payloads.js';
import { renderMarkdownHtml } from './markdown-html.js';

function expectSafeHtml(markdown: string): string {
  const html = renderMarkdownHtml(markdown);
  expect(htmlProblems(html), `${JSON.stringify(markdown)} → ${JSON.stringify(html)}`).toEqual([]);
  return html;
}

describe('the safety check itself', () => {
  it.each([
    '<p><script>alert(1)</script></p>',
    '<img src=x onerror=alert(1)>',
    '<a href="jav&#x61;script:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="/relative">x</a>',
    '<a href="//host">x</a>',
    '<a title="x" onclick="go()">x</a>',
    '<p>unescaped < text</p>',
    '<iframe src="https://e.com"></iframe>',
  ])('finds %s unsafe', (html) => {
    expect(htmlProblems(html)).not.toEqual([]);
  });

  it('finds markdown-it output with escaped markup and good links safe', () => {
    expect(
      htmlProblems(
        '<p>&lt;img src=x onerror=alert(1)&gt; [x](javascript:alert(1)) <a href="https://e.com/?q=a&amp;b">e</a></p>\n',
      ),
    ).toEqual([]);
  });
});

// The XSS payloads of the chat tests, and the javascript: forms that only markdown can produce.
const LINK_PAYLOADS = [
  `[x](javascript:alert('XSS'))`,
  `[x](javascript:alert(1))`,
  `[x](JaVaScRiPt:alert(1))`,
  `[x](jav&#x61;script:alert(1))`,
  `[x](javascript&colon;alert(1))`,
  `[x](%6Aavascript:alert(1))`,
  `[x](<java\tscript:alert(1)>)`,
  `[x](<java\nscript:alert(1)>)`,
  `[x](\njavascript:alert(1))`,
  `[x](  javascript:alert(1) "title")`,
  `[x](<javascript:alert(1)>)`,
  `[x](vbscript:msgbox(1))`,
  `[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)`,
  `[x](data:image/png;base64,iVBORw0KGgo=)`,
  `[x](file:///etc/passwd)`,
  `<javascript:alert(1)>`,
  `<JaVaScRiPt:alert(1)>`,
  `<jav&#x61;script:alert(1)>`,
  `<vbscript:msgbox(1)>`,
  `![x](javascript:alert(1))`,
  `![x](https://e.com/a.png" onerror="alert(1))`,
  `![x" onerror="alert(1)](https://e.com/a.png)`,
  `[x][r]\n\n[r]: javascript:alert(1)`,
  `[x]\n\n[x]: JaVaScRiPt:alert(1) "t"`,
  `[r]: <javascript:alert(1)>\n\n[r]`,
  `![x][r]\n\n[r]: jav&#x61;script:alert(1)`,
  `[x](https://e.com "\\" onmouseover=\\"alert(1)")`,
  `[x](https://e.com/\\"onmouseover=alert(1))`,
  'javascript:alert(1) and https://e.com/" onmouseover="alert(1)',
  '```" onmouseover="alert(1)\ncode\n```',
  '``` <script>alert(1)</script>\ncode\n```',
];
const PAYLOADS = [...new Set([...SEED_XSS_PAYLOADS, ...CHAT_XSS_PAYLOADS, ...LINK_PAYLOADS])];

/** Each payload where markdown gives it another meaning: inline, in a link's text or destination, in blocks. */
const PLACES: ((payload: string) => string)[] = [
  (p) => p,
  (p) => `Before ${p} after`,
  (p) => `[${p}](https://e.com)`,
  (p) => `[x](${p})`,
  (p) => `<${p}>`,
  (p) => `\`${p}\``,
  (p) => `\`\`\`html\n${p}\n\`\`\``,
  (p) => `    ${p}`,
  (p) => `- ${p}\n- **${p}**`,
  (p) => `> ${p}`,
  (p) => `# ${p}`,
  (p) => `| a | b |\n|---|---|\n| ${p} | *${p}* |`,
  (p) => `[x]: ${p}\n\n[x]`,
];

describe('renderMarkdownHtml never writes a script, an event handler or a script URL', () => {
  it.each(PAYLOADS)('%s, in every place', (payload) => {
    for (const place of PLACES) expectSafeHtml(place(payload));
  });

  it('for thousands of random mixes of markdown syntax and script pieces', () => {
    const pieces = [
      '[',
      ']',
      '(',
      ')',
      '<',
      '>',
      '!',
      '`',
      '```',
      '"',
      "'",
      '\\',
      '&',
      ';',
      '#',
      ':',
      '*',
      '_',
      '|',
      '-',
      '/',
      ' ',
      '\t',
      '\n',
      '\n\n',
      '    ',
      '[r]: ',
      '[r]',
      'javascript:',
      'JaVaScRiPt:',
      'jav&#x61;script:',
      '&#106;',
      '&colon;',
      '&#x09;',
      '%6A',
      'vbscript:',
      'data:',
      'alert(1)',
      ' onerror=',
      'on',
      'load=',
      'x',
      'script',
      '<script>',
      'https://e.com',
      'http://e.com/a_(b)',
      'mailto:a@b.c',
      'www.e.com',
      '//e.com',
      '\u0000',
      '\u2028',
      '😀',
      '\ud800',
    ];
    // A fixed-seed generator (mulberry32): the same inputs on every run, so a failure can be reproduced.
    let seed = 10;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    for (let i = 0; i < 5000; i++) {
      const length = 1 + Math.floor(random() * 40);
      expectSafeHtml(
        Array.from({ length }, () => pieces[Math.floor(random() * pieces.length)] ?? '').join(''),
      );
    }
  });
});

describe('renderMarkdownHtml keeps the text and the good links', () => {
  it.each([
    [
      'if x < 5 && y > 3: print("a & b")',
      '<p>if x &lt; 5 &amp;&amp; y &gt; 3: print(&quot;a &amp; b&quot;)</p>\n',
    ],
    [
      'Explain this React: <div className="a" onClick={go}>Hi</div>',
      '<p>Explain this React: &lt;div className=&quot;a&quot; onClick={go}&gt;Hi&lt;/div&gt;</p>\n',
    ],
    ['What does <script> do in HTML?', '<p>What does &lt;script&gt; do in HTML?</p>\n'],
    [`<script>alert('XSS')</script>`, `<p>&lt;script&gt;alert('XSS')&lt;/script&gt;</p>\n`],
    // The typographer is off: quotes, dashes and (c) stay as written.
    [`"quoted" 'single' -- (c) ...`, `<p>&quot;quoted&quot; 'single' -- (c) ...</p>\n`],
  ])('%s', (markdown, html) => {
    expect(expectSafeHtml(markdown)).toBe(html);
  });

  it('escapes HTML inside code blocks and code spans, in <code>', () => {
    const markdown = [
      'Use this:',
      '',
      '```html',
      '<div onclick="go()">Hi</div>',
      `<script>alert('XSS')</script>`,
      '```',
      '',
      'and `<b onmouseover="x">` inline.',
    ].join('\n');
    expect(expectSafeHtml(markdown)).toBe(
      '<p>Use this:</p>\n' +
        '<pre><code class="language-html">&lt;div onclick=&quot;go()&quot;&gt;Hi&lt;/div&gt;\n' +
        `&lt;script&gt;alert('XSS')&lt;/script&gt;\n</code></pre>\n` +
        '<p>and <code>&lt;b onmouseover=&quot;x&quot;&gt;</code> inline.</p>\n',
    );
  });

  it('keeps https, http and mailto links as links, written, bare or as autolinks', () => {
    expect(
      expectSafeHtml(
        '[docs](https://example.com/a_(b)?q=1&r=2) [mail](mailto:someone@example.com) <http://example.org>',
      ),
    ).toBe(
      '<p><a href="https://example.com/a_(b)?q=1&amp;r=2">docs</a> ' +
        '<a href="mailto:someone@example.com">mail</a> ' +
        '<a href="http://example.org">http://example.org</a></p>\n',
    );
    expect(expectSafeHtml('See https://example.com/x and mailto:a@example.com.')).toBe(
      '<p>See <a href="https://example.com/x">https://example.com/x</a> and ' +
        '<a href="mailto:a@example.com">mailto:a@example.com</a>.</p>\n',
    );
    expect(expectSafeHtml('[ref][r]\n\n[r]: HTTPS://Example.com')).toBe(
      '<p><a href="HTTPS://Example.com">ref</a></p>\n',
    );
  });

  it.each([
    ['javascript:', '[x](javascript:alert(1))'],
    ['an entity-encoded javascript:', '[x](jav&#x61;script:alert(1))'],
    ['vbscript:', '[x](vbscript:msgbox(1))'],
    ['data:', '[x](data:image/png;base64,iVBORw0KGgo=)'],
    ['file:', '[x](file:///etc/passwd)'],
    ['ftp:', '[x](ftp://e.com/f)'],
    ['a relative link', '[x](/docs/a.html)'],
    ['a fragment', '[x](#top)'],
    ['a protocol-relative link', '[x](//e.com/a)'],
    ['http without //', '[x](https:e.com)'],
  ])('refuses %s: the link stays text', (_what, markdown) => {
    const html = expectSafeHtml(markdown);
    expect(html).not.toContain('<a');
    expect(html).toContain('[x](');
  });

  it('links only what is written with a scheme: no fuzzy links in a chat about code', () => {
    expect(expectSafeHtml('Open README.md, push to git@github.com, ftp://e.com, //e.com, www.e.com')).toBe(
      '<p>Open README.md, push to git@github.com, ftp://e.com, //e.com, www.e.com</p>\n',
    );
  });

  it('writes an empty destination as CommonMark says, an empty href', () => {
    expect(expectSafeHtml('[x]()')).toBe('<p><a href="">x</a></p>\n');
  });

  it('turns an image into a link: nothing is fetched before a click', () => {
    expect(expectSafeHtml('![a chart](https://e.com/chart.png?data=secret)')).toBe(
      '<p>!<a href="https://e.com/chart.png?data=secret">a chart</a></p>\n',
    );
  });
});
