// Shared by the chat suites: a chat turn through the API, polling, an SSE frame parser, and the strict "dangerous
// output" checks of the XSS suite (for text that is shown as markdown, and for render=html's HTML).
import { expect } from 'vitest';
import { buildApp, type App } from '../../../src/app.js';
import type { Config } from '../../../src/config.js';
import { bearer } from '../../helpers/auth.js';

export interface ChatAnswer {
  response: string;
  session_id: string;
  model: string;
  status: string;
  message_id: number;
  usage: { prompt_tokens: number | null; completion_tokens: number | null };
  content_html?: string;
}

export interface MessageItem {
  id: number;
  role: string;
  content: string;
  status: string;
  error: string | null;
  model: string | null;
  timestamp: string;
  usage: { prompt_tokens: number | null; completion_tokens: number | null };
  content_html?: string;
}

export interface SessionPage {
  session_id: string;
  title: string | null;
  messages: MessageItem[];
  total: number;
  skip: number;
  limit: number;
  has_more: boolean;
  page: number;
  total_pages: number;
  created_at: string | null;
  next_cursor: string | null;
}

export interface SessionSummary {
  session_id: string;
  title: string | null;
  model: string;
  agent: string | null;
  message_count: number;
  created_at: string;
  last_activity: string;
}

export interface SessionList {
  items: SessionSummary[];
  next_cursor: string | null;
  has_more: boolean;
}

/** POST /api/v1/chat/ as the holder of `token` (anonymous without one). */
export function postChat(app: App, payload: Record<string, unknown>, token?: string) {
  return app.inject({
    method: 'POST',
    url: '/api/v1/chat/',
    headers: token === undefined ? {} : bearer(token),
    payload,
  });
}

/** A chat turn that must succeed (the stand-in must have a reply scripted). */
export async function chatOk(
  app: App,
  payload: Record<string, unknown>,
  token?: string,
): Promise<ChatAnswer> {
  const response = await postChat(app, payload, token);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<ChatAnswer>();
}

/** GET a session page (as JSON) that must be there. */
export async function sessionPage(app: App, token: string, id: string, query = ''): Promise<SessionPage> {
  const response = await app.inject({
    url: `/api/v1/chat/sessions/${encodeURIComponent(id)}${query}`,
    headers: bearer(token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<SessionPage>();
}

/** Polls `check` every 10 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface SseFrame {
  /** The event name, or 'comment' for a `:` line. */
  event: string;
  data: unknown;
  comment?: string;
}

/** Parses complete SSE frames ("\n\n"-terminated); `data:` is JSON. */
export function parseSse(text: string): SseFrame[] {
  const frames: SseFrame[] = [];
  for (const block of text.split('\n\n').slice(0, -1)) {
    if (block.startsWith(':')) {
      frames.push({ event: 'comment', data: null, comment: block.slice(1).trim() });
      continue;
    }
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice('event:'.length).trim();
      else if (line.startsWith('data:')) data += line.slice('data:'.length).trim();
    }
    frames.push({ event, data: data === '' ? null : (JSON.parse(data) as unknown) });
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------------------------
// "Dangerous" output, strictly: the payload verbatim, any "<script", a tag with an on…= attribute, or a javascript:
// (or vbscript:) URL inside a tag or as a markdown link destination, also when hidden by entities or whitespace.

/** Whitespace, controls and invisible characters a browser drops from a URL scheme. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const IGNORABLE = /[\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2060\ufeff]/g;
const NAMED: Record<string, string> = {
  colon: ':',
  tab: '\t',
  newline: '\n',
  amp: '&',
  lpar: '(',
  rpar: ')',
};

function decodeEntities(text: string): string {
  return text.replace(
    /&(?:#(\d+);?|#x([0-9a-f]+);?|([a-z]+);)/gi,
    (found, dec?: string, hex?: string, name?: string) => {
      if (name !== undefined) return NAMED[name.toLowerCase()] ?? found;
      const code = dec !== undefined ? Number(dec) : Number.parseInt(hex ?? '', 16);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : found;
    },
  );
}

function hidesScriptUrl(text: string): boolean {
  const views = [text, decodeEntities(text), decodeEntities(decodeEntities(text))];
  return views.some((view) => /(?:java|vb)script:/.test(view.replace(IGNORABLE, '').toLowerCase()));
}

/** Every tag: "<" + letter (or "</" + letter) to its ">" outside quotes, or to the end of the text. */
function tagsOf(text: string): string[] {
  const tags: string[] = [];
  for (const start of text.matchAll(/<\/?[a-z]/gi)) {
    let quote: string | null = null;
    let end = start.index;
    for (; end < text.length; end++) {
      const c = text[end];
      if (quote !== null) {
        if (c === quote) quote = null;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '>') break;
    }
    tags.push(text.slice(start.index, end + 1));
  }
  return tags;
}

/** A markdown link destination from `from`: blanks skipped, up to a space or an unbalanced ")". */
function linkDestination(text: string, from: number): string {
  let i = from;
  while (text[i] === ' ' || text[i] === '\t' || text[i] === '\n') i++;
  const start = i;
  for (let depth = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === ' ' || c === '\n') break;
    else if (c === '(') depth++;
    else if (c === ')' && depth-- === 0) break;
  }
  return text.slice(start, i);
}

/** What makes `text` dangerous (empty when it is safe). */
export function dangers(text: string, payload?: string): string[] {
  const found: string[] = [];
  if (payload !== undefined && text.includes(payload)) found.push('the payload verbatim');
  if (/<script/i.test(text)) found.push('"<script"');
  for (const tag of tagsOf(text)) {
    if (/[\s/"']on[a-z]+\s*=/i.test(tag)) found.push(`an on…= attribute in ${tag}`);
    if (hidesScriptUrl(tag)) found.push(`a script URL in ${tag}`);
  }
  // Markdown links "[x](dest)" and reference definitions "[x]: dest"; a defused one ("]\(", "]\:") is no link.
  for (const link of text.matchAll(/\][(:]/g)) {
    const destination = linkDestination(text, link.index + 2);
    if (hidesScriptUrl(destination))
      found.push(`a script URL as a markdown link destination: ${destination}`);
  }
  return found;
}

function stringsIn(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, into);
  else if (typeof value === 'object' && value !== null)
    for (const [key, item] of Object.entries(value)) {
      into.push(key);
      stringsIn(item, into);
    }
  return into;
}

/** Fails unless every string in `value` (a parsed body, or raw text) is safe for `payload`. */
export function expectSafe(where: string, value: unknown, payload: string): void {
  const problems = stringsIn(value).flatMap((text) =>
    dangers(text, payload).map((problem) => `${problem} in ${JSON.stringify(text)}`),
  );
  expect(problems, `${where} is dangerous for ${JSON.stringify(payload)}`).toEqual([]);
}

/**
 * The stored messages of a session, read through a new app on `config`'s database: for tests whose own server is
 * closed (shut down) by then.
 */
export async function storedMessagesAfterClose(
  config: Config,
  token: string,
  sessionId: string,
): Promise<MessageItem[]> {
  const reader = await buildApp(config, { migrate: false });
  try {
    const page = await reader.inject({
      url: `/api/v1/chat/sessions/${encodeURIComponent(sessionId)}`,
      headers: bearer(token),
    });
    expect(page.statusCode, page.body).toBe(200);
    return page.json<SessionPage>().messages;
  } finally {
    await reader.close();
  }
}
