// Text integrity (issue 10): what a user types reaches the model exactly (NUL and other C0 controls but tab, LF and
// CR removed, lone surrogates made U+FFFD, nothing else), and the model's answer comes back exactly (NUL removed,
// lone surrogates made U+FFFD, nothing else) from every reader — the JSON answer, the SSE tokens however the model
// cut them, the session page, the session list's titles — once the body is JSON-parsed. The bodies themselves are
// HTML-safe (no raw < > & '), and render=html adds a content_html with no script, handler or script URL.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { renderMarkdownHtml } from '../../../src/modules/chat/markdown-html.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { htmlProblems } from '../../helpers/safe-html.js';
import { MARKUP_XSS_PAYLOADS } from '../../helpers/xss-payloads.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { parseSse, type ChatAnswer, type SessionList, type SessionPage } from './chat.helpers.js';

interface Case {
  name: string;
  /** What the client sends (JSON-encoded as it is: a lone surrogate goes out as a \ud800 escape). */
  message: string;
  /** What the model must receive, and what the session page must give back. */
  stored: string;
  /** What the model answers (cut into tokens below). */
  answer: string;
  /** What every reader must get back as the answer. */
  answerBack: string;
}

const echo = (name: string, message: string): Case => ({
  name,
  message,
  stored: message,
  answer: `You wrote:\n${message}`,
  answerBack: `You wrote:\n${message}`,
});

const CASES: Case[] = [
  echo('comparisons and ampersands', 'if x < 5 && y > 3: print("a & b")'),
  echo('JSX', 'Explain this React: <div className="a" onClick={go}>Hi</div>'),
  echo('a question about a tag', 'What does <script> do in HTML?'),
  echo('a script payload', `<script>alert('XSS')</script>`),
  echo('entities as text', 'Is &amp; the same as &? And &lt;b&gt; as <b>? &#106; &nbsp x'),
  {
    name: 'a markdown answer with an HTML code block',
    message: 'Show me an HTML card, as markdown.',
    stored: 'Show me an HTML card, as markdown.',
    answer: [
      'Here is the card:',
      '',
      '```html',
      '<div class="card" onclick="go()">Tom &amp; Jerry\'s <b>card</b></div>',
      `<script>alert('XSS')</script>`,
      '```',
      '',
      'See [the docs](https://example.com/a_(b)?q=1&r=2) — 😀 done.',
    ].join('\n'),
    answerBack: [
      'Here is the card:',
      '',
      '```html',
      '<div class="card" onclick="go()">Tom &amp; Jerry\'s <b>card</b></div>',
      `<script>alert('XSS')</script>`,
      '```',
      '',
      'See [the docs](https://example.com/a_(b)?q=1&r=2) — 😀 done.',
    ].join('\n'),
  },
  {
    name: 'emoji, RTL, U+2028, tabs, CRLF, outer spaces, a lone surrogate, NUL and controls',
    // The first line is longer than 80 code points, with an emoji (two UTF-16 units) as its 79th code point, so
    // the title's cut falls exactly after it.
    message:
      ' \t Emoji 😀 ZWJ 👩‍👩‍👧 flag 🇫🇷 RTL שלום مرحبا lone \ud800 NUL \u0000 BEL \u0007 ESC \u001b — a long line!!😀 end of line one\r\n' +
      'Line\u2028separator,\ttab, e\u0301 not normalised, \ufeffBOM, DEL \u007f, C1 \u0085\r\n\r\n  trailing spaces  ',
    stored:
      ' \t Emoji 😀 ZWJ 👩‍👩‍👧 flag 🇫🇷 RTL שלום مرحبا lone \ufffd NUL  BEL  ESC  — a long line!!😀 end of line one\r\n' +
      'Line\u2028separator,\ttab, e\u0301 not normalised, \ufeffBOM, DEL \u007f, C1 \u0085\r\n\r\n  trailing spaces  ',
    answer:
      '  Model: 😀👩‍👩‍👧 שלום\u2028\ttab\r\nNUL\u0000 gone, lone \udc00 and \ud83d replaced, BEL \u0007 and ESC \u001b[0m kept, &amp;&lt; 😀  ',
    answerBack:
      '  Model: 😀👩‍👩‍👧 שלום\u2028\ttab\r\nNUL gone, lone \ufffd and \ufffd replaced, BEL \u0007 and ESC \u001b[0m kept, &amp;&lt; 😀  ',
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Token cuts: at every code unit (each surrogate pair split in two tokens), and at awkward places — inside "&amp;"
// and "&lt;"-like sequences, between the halves of every pair, around < and >.

const everyUnit = (text: string) => text.split('');

function awkward(text: string): string[] {
  const tokens: string[] = [];
  let start = 0;
  for (let i = 1; i < text.length; i++) {
    const before = text.charCodeAt(i - 1);
    const highHalf = before >= 0xd800 && before <= 0xdbff;
    if (
      highHalf ||
      text[i - 1] === '&' ||
      text.slice(i - 2, i) === '&a' ||
      text[i] === '<' ||
      text[i] === '>'
    ) {
      tokens.push(text.slice(start, i));
      start = i;
    }
  }
  tokens.push(text.slice(start));
  return tokens;
}

const inThrees = (text: string) =>
  Array.from({ length: Math.ceil(text.length / 3) }, (_, i) => text.slice(i * 3, i * 3 + 3));

/** The session's title: the first line of the first message, trimmed, at most 80 code points (79 and "…"). */
function titleOf(text: string): string {
  const line =
    text
      .trimStart()
      .split(/\r\n|\r|\n/, 1)[0]
      ?.trim() ?? '';
  const chars = [...line];
  return chars.length <= 80 ? line : `${chars.slice(0, 79).join('')}…`;
}

function expectSafeHtml(where: string, html: unknown): void {
  expect(typeof html, `${where}: content_html`).toBe('string');
  expect(htmlProblems(html as string), `${where}: ${JSON.stringify(html)}`).toEqual([]);
}

/** A JSON or SSE body as written on the wire: HTML-safe, so no < > & ' as raw bytes (they are \u003c…). */
function expectHtmlSafeBody(where: string, body: string): void {
  const raw = [...body.matchAll(/[<>&']/g)].map((m) => body.slice(Math.max(0, m.index - 20), m.index + 20));
  expect(raw, `${where} has raw < > & ' bytes`).toEqual([]);
}

describe('the helpers of this suite', () => {
  it('cuts tokens inside entities, between the halves of a pair and around < >', () => {
    expect(awkward('a&amp;b😀<c>')).toEqual(['a&', 'a', 'mp;b\ud83d', '\ude00', '<c', '>']);
    expect(everyUnit('😀')).toEqual(['\ud83d', '\ude00']);
  });

  it('finds unsafe HTML and raw markup bytes', () => {
    expect(htmlProblems('<p><img src=x onerror=alert(1)></p>')).not.toEqual([]);
    expect(htmlProblems('<a href="jav&#x61;script:alert(1)">x</a>')).not.toEqual([]);
    expect(() => expectHtmlSafeBody('a body', '{"a":"<b>"}')).toThrow();
  });
});

describeEachDialect('chat text integrity', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  let token: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  /** POSTs the body as JSON text written here, so that lone surrogates and NUL go out as JSON escapes. */
  const post = (body: Record<string, unknown>) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
  const get = (url: string) => t.app.inject({ url, headers: bearer(token) });

  /** The user and assistant turns the model received in its last request. */
  function modelReceived(): { role: string; content: string }[] {
    const body = llm.requests.at(-1)?.body as { messages?: { role: string; content: string }[] } | undefined;
    return (body?.messages ?? []).filter((m) => m.role === 'user' || m.role === 'assistant');
  }

  async function jsonTurn(
    body: Record<string, unknown>,
    tokens: string[],
  ): Promise<ChatAnswer & Record<string, unknown>> {
    llm.reply({ tokens });
    const response = await post(body);
    expect(response.statusCode, response.body).toBe(200);
    expectHtmlSafeBody('the JSON answer', response.body);
    return response.json();
  }

  async function sseTurn(body: Record<string, unknown>, tokens: string[]) {
    llm.reply({ tokens });
    const response = await post({ ...body, stream: true });
    expect(response.statusCode, response.body).toBe(200);
    expectHtmlSafeBody('the SSE events', response.body);
    const frames = parseSse(response.body).filter((f) => f.event !== 'comment');
    expect(frames.at(-1)?.event, response.body.slice(-300)).toBe('end');
    const tokenFrames = frames.filter((f) => f.event === 'token');
    for (const frame of tokenFrames) expect(frame.data).not.toHaveProperty('content_html');
    return {
      joined: tokenFrames.map((f) => (f.data as { content: string }).content).join(''),
      start: frames[0]?.data as { session_id: string },
      end: frames.at(-1)?.data as Record<string, unknown>,
    };
  }

  async function page(id: string, query = ''): Promise<SessionPage> {
    const response = await get(`/api/v1/chat/sessions/${encodeURIComponent(id)}${query}`);
    expect(response.statusCode, response.body).toBe(200);
    expectHtmlSafeBody('the session page', response.body);
    return response.json();
  }

  async function listed(id: string) {
    const response = await get('/api/v1/chat/sessions?limit=500');
    expect(response.statusCode, response.body).toBe(200);
    expectHtmlSafeBody('the session list', response.body);
    return response.json<SessionList>().items.find((s) => s.session_id === id);
  }

  it.each(CASES)('$name: reaches the model exactly and comes back exactly', async (c) => {
    const first = await jsonTurn({ message: c.message }, awkward(c.answer));
    expect(modelReceived()).toEqual([{ role: 'user', content: c.stored }]);
    expect(first.response).toBe(c.answerBack);
    expect(first).not.toHaveProperty('content_html');
    const id = first.session_id;

    const second = await sseTurn({ message: c.message, session_id: id }, everyUnit(c.answer));
    expect(second.joined).toBe(c.answerBack);
    expect(second.end).not.toHaveProperty('content_html');
    // The stored answer goes back to the model exactly, as the history of the next turn.
    expect(modelReceived()).toEqual([
      { role: 'user', content: c.stored },
      { role: 'assistant', content: c.answerBack },
      { role: 'user', content: c.stored },
    ]);

    const third = await sseTurn({ message: c.message, session_id: id, render: 'html' }, inThrees(c.answer));
    expect(third.joined).toBe(c.answerBack);
    expect(third.end.content_html).toBe(renderMarkdownHtml(c.answerBack));

    const stored = await page(id);
    expect(stored.messages.map((m) => [m.role, m.content])).toEqual(
      [1, 2, 3].flatMap(() => [
        ['user', c.stored],
        ['assistant', c.answerBack],
      ]),
    );
    for (const message of stored.messages) expect(message).not.toHaveProperty('content_html');
    expect(stored.title).toBe(titleOf(c.stored));
    expect((await listed(id))?.title).toBe(titleOf(c.stored));

    const rendered = await page(id, '?render=html');
    expect(rendered.messages.map((m) => m.content)).toEqual(stored.messages.map((m) => m.content));
    for (const message of rendered.messages) {
      const html = (message as unknown as { content_html?: unknown }).content_html;
      expect(html).toBe(renderMarkdownHtml(message.content));
      expectSafeHtml('a rendered message', html);
    }
  });

  it('cuts the title of a long first line after whole code points', async () => {
    const c = CASES.at(-1);
    expect(c).toBeDefined();
    const title = titleOf(c?.stored ?? '');
    expect([...title]).toHaveLength(80);
    expect(title.endsWith('😀…')).toBe(true);
  });

  it('renders the markdown answer: its HTML code block escaped in <code>, its https link a link', async () => {
    const c = CASES.find((x) => x.name.startsWith('a markdown answer'));
    if (!c) throw new Error('the markdown case is missing');
    const answer = await jsonTurn({ message: c.message, render: 'html' }, awkward(c.answer));
    expect(answer.response).toBe(c.answerBack);
    const html = answer.content_html as string;
    expectSafeHtml('the JSON answer', html);
    expect(html).toContain(
      '<pre><code class="language-html">&lt;div class=&quot;card&quot; onclick=&quot;go()&quot;&gt;Tom &amp;amp; Jerry',
    );
    expect(html).toContain('<a href="https://example.com/a_(b)?q=1&amp;r=2">the docs</a>');
  });

  it.each(MARKUP_XSS_PAYLOADS)(
    '%s: never raw in a body, exact after JSON.parse, safe as HTML',
    async (payload) => {
      const sent = `I typed: ${payload}`;
      const answer = `You typed: ${payload}`;
      const first = await jsonTurn({ message: sent, render: 'html' }, awkward(answer));
      expect(modelReceived()).toEqual([{ role: 'user', content: sent }]);
      expect(first.response).toBe(answer);
      expectSafeHtml('the JSON answer', first.content_html);
      const id = first.session_id;

      const streamed = await sseTurn(
        { message: payload, session_id: id, render: 'html' },
        everyUnit(payload),
      );
      expect(streamed.joined).toBe(payload);
      expectSafeHtml('the SSE end event', streamed.end.content_html);

      const rendered = await page(id, '?render=html');
      expect(rendered.messages.map((m) => m.content)).toEqual([sent, answer, payload, payload]);
      expect(rendered.title).toBe(titleOf(sent));
      for (const message of rendered.messages)
        expectSafeHtml('a rendered message', (message as unknown as { content_html?: unknown }).content_html);
      expect((await listed(id))?.title).toBe(titleOf(sent));

      const title = `Renamed ${payload}`;
      const renamed = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/chat/sessions/${id}`,
        headers: { ...bearer(token), 'content-type': 'application/json' },
        payload: JSON.stringify({ title }),
      });
      expect(renamed.statusCode, renamed.body).toBe(200);
      expectHtmlSafeBody('the rename answer', renamed.body);
      expect(renamed.json<{ title: string }>().title).toBe(title);
      expect((await page(id)).title).toBe(title);
      expect((await listed(id))?.title).toBe(title);
    },
  );

  it('keeps a title renamed with markup, entities, quotes and emoji exactly', async () => {
    const first = await jsonTurn({ message: 'Hello' }, ['Hi']);
    const title = `<b>Bold</b> & <i>"it's"</i> &amp; &lt;x&gt; a<b && c>d 😀 שלום`;
    const renamed = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/chat/sessions/${first.session_id}`,
      headers: { ...bearer(token), 'content-type': 'application/json' },
      payload: JSON.stringify({ title }),
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expectHtmlSafeBody('the rename answer', renamed.body);
    expect(renamed.json<{ title: string }>().title).toBe(title);
    expect((await page(first.session_id)).title).toBe(title);
    expect((await listed(first.session_id))?.title).toBe(title);
  });
});
