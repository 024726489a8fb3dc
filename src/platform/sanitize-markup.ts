// The assistant-text half of sanitize.ts: a small tokenizer rather than sanitize-html, because it must run on a token
// stream — the same state machine serves the whole text and the stream, so a stream's output is byte-for-byte the
// whole text's output however the text was cut.

/** C0 control characters except tab and newline (so also CR: "\r\n" becomes "\n"), and DEL. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
/** A UTF-16 half without its other half: stored and sent as U+FFFD, as UTF-8 would turn it anyway. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function cleanCharacters(text: string): string {
  return text.replace(CONTROL, '').replace(LONE_SURROGATE, '\ufffd');
}

// ---------------------------------------------------------------------------------------------------------------
// Assistant text: markdown passes through, allowed tags are re-written from their parsed attributes, anything else
// that would open markup has its "<" escaped and shows as text (as bleach did by default, with strip=False), and
// markdown links to other schemes than http, https and mailto are defused.

/**
 * How far an allowed tag (from its "<") or a markdown link destination (from its "]") may run: an unfinished one is
 * held back in a stream until then, after which the "<" is escaped, or the link defused, and the text sent on.
 */
export const MAX_HELD_CHARS = 1024;
/** The longest allowed tag name ("blockquote"): a longer name is never allowed, no need to read further. */
const MAX_TAG_NAME = 10;

/** Keeps (returns) an attribute's decoded value, possibly normalised, or drops it (null). */
type AttributeRule = (value: string) => string | null;

const anyText: AttributeRule = (value) => value;

const oneOf =
  (...allowed: string[]): AttributeRule =>
  (value) => {
    const lower = value.trim().toLowerCase();
    return allowed.includes(lower) ? lower : null;
  };

const classNames: AttributeRule = (value) => {
  const kept = value.split(/\s+/).filter((name) => /^[A-Za-z0-9_-]{1,64}$/.test(name));
  return kept.length > 0 ? kept.join(' ') : null;
};

/** Whitespace, controls and invisible characters that browsers may ignore around or inside a URL's scheme. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const URL_IGNORABLE = /[\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2060\ufeff]/g;

/**
 * Only these schemes, or a relative URL when `relative`. Judged on the decoded value with every ignorable
 * character removed, so `java&#x09;script:`, ` JaVaScRiPt:` and `java\u200bscript:` all count as a scheme that is
 * not allowed; any ":" before the first "/", "?" or "#" is a scheme.
 */
const url =
  (schemes: string[], relative: boolean): AttributeRule =>
  (value) => {
    const compact = value.replace(URL_IGNORABLE, '');
    const colon = compact.indexOf(':');
    const pathStart = compact.search(/[/?#\\]/);
    if (colon === -1 || (pathStart !== -1 && pathStart < colon)) return relative ? value.trim() : null;
    return schemes.includes(compact.slice(0, colon).toLowerCase()) ? value.trim() : null;
  };

const align = oneOf('left', 'right', 'center', 'justify');
const plain: Record<string, AttributeRule> = {};
const withClass = { class: classNames };

/** The original's sanitize_markdown allow-list (plus b, i, s), with the attributes each tag keeps. */
const ALLOWED_TAGS = new Map<string, Record<string, AttributeRule>>([
  ...['p', 'br', 'hr', 'strong', 'b', 'em', 'i', 'u', 's', 'del', 'ins', 'blockquote', 'pre'].map(
    (name) => [name, plain] as const,
  ),
  ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr'].map(
    (name) => [name, plain] as const,
  ),
  ['code', withClass],
  ['span', withClass],
  ['div', withClass],
  ['th', { align }],
  ['td', { align }],
  [
    'a',
    {
      href: url(['http', 'https', 'mailto'], true),
      title: anyText,
      target: oneOf('_blank', '_self', '_parent', '_top'),
    },
  ],
  ['img', { src: url(['http', 'https'], false), alt: anyText, title: anyText }],
]);

/** A few named references (those that hide URL schemes, and the common ones); numeric ones are all decoded. */
const NAMED_REFERENCES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  colon: ':',
  semi: ';',
  sol: '/',
  bsol: '\\',
  lpar: '(',
  rpar: ')',
  period: '.',
  comma: ',',
  excl: '!',
  quest: '?',
  num: '#',
  percnt: '%',
  equals: '=',
  plus: '+',
  Tab: '\t',
  NewLine: '\n',
};

/**
 * Decodes character references in an attribute value. A reference left undecoded stays literal text for the browser
 * too, because the value is written back with every "&" escaped: what the rules judge is what the browser sees.
 */
function decodeReferences(value: string): string {
  return value.replace(
    /&(?:#(\d+);?|#[xX]([0-9a-fA-F]+);?|([A-Za-z]{2,8});)/g,
    (found, decimal?: string, hex?: string, name?: string) => {
      if (name !== undefined)
        return Object.hasOwn(NAMED_REFERENCES, name) ? (NAMED_REFERENCES[name] ?? found) : found;
      const code = decimal !== undefined ? Number(decimal) : Number.parseInt(hex ?? '', 16);
      const invalid = code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff);
      return invalid ? '\ufffd' : String.fromCodePoint(code);
    },
  );
}

/** Also "]": a client that renders our tags as markdown text must not find a link ("](" or "]:") in a value. */
function escapeAttribute(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/]/g, '&#93;');
}

function openingTag(
  name: string,
  rules: Record<string, AttributeRule>,
  attributes: Map<string, string>,
): string {
  let written = '';
  for (const [attribute, rule] of Object.entries(rules)) {
    const raw = attributes.get(attribute);
    const value = raw === undefined ? null : rule(cleanCharacters(decodeReferences(raw)));
    if (value !== null) written += ` ${attribute}="${escapeAttribute(value)}"`;
  }
  if (name === 'a' && written.includes(' target=')) written += ' rel="noopener noreferrer"';
  return `<${name}${written}>`;
}

const isTagWhitespace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r';
const isAsciiLetter = (c: string | undefined) => c !== undefined && /^[A-Za-z]$/.test(c);

/** The tag's attributes (first of each name wins) and the index of its closing ">", or why there is none yet. */
type Stop = 'more' | 'too-long';
type TagEnd = { end: number; attributes: Map<string, string> } | Stop;
const isStop = (c: string): c is Stop => c === 'more' || c === 'too-long';

/**
 * Reads attributes from `from` to the tag's ">" as the HTML tokenizer does (quoted values may hold ">"; "/" only
 * separates). `limit` is the first index the tag may not reach: past it the tag is 'too-long', whatever follows.
 */
function readAttributes(s: string, from: number, limit: number): TagEnd {
  const attributes = new Map<string, string>();
  let i = from;
  // The character at i, or a Stop saying why there is none (a decision never depends on anything at or past
  // `limit`). A Stop is longer than one character, so it is never taken for one.
  const at = (): string => (i >= limit ? 'too-long' : (s[i] ?? 'more'));
  /** Moves past every character that `skip` accepts; returns the first other one, or why there is none. */
  const skipWhile = (skip: (c: string) => boolean): string => {
    let c = at();
    while (!isStop(c) && skip(c)) {
      i++;
      c = at();
    }
    return c;
  };
  for (;;) {
    let c = skipWhile((ch) => isTagWhitespace(ch) || ch === '/');
    if (isStop(c)) return c;
    if (c === '>') return { end: i, attributes };
    const nameStart = i++; // a first "=" belongs to the name, as in the tokenizer
    skipWhile((ch) => !isTagWhitespace(ch) && ch !== '/' && ch !== '>' && ch !== '=');
    const name = s.slice(nameStart, i).toLowerCase();
    c = skipWhile(isTagWhitespace);
    if (isStop(c)) return c;
    let value = '';
    if (c === '=') {
      i++;
      c = skipWhile(isTagWhitespace);
      if (isStop(c)) return c;
      if (c === '"' || c === "'") {
        const close = s.indexOf(c, i + 1);
        if (close === -1 || close >= limit) return close === -1 && s.length < limit ? 'more' : 'too-long';
        value = s.slice(i + 1, close);
        i = close + 1;
      } else if (c !== '>') {
        const valueStart = i;
        c = skipWhile((ch) => !isTagWhitespace(ch) && ch !== '>');
        if (isStop(c)) return c;
        value = s.slice(valueStart, i);
      }
    }
    if (!attributes.has(name)) attributes.set(name, value);
  }
}

/** What one "<" at `lt` becomes, and where reading resumes; null when the text so far cannot tell yet. */
interface Step {
  /** Never empty: what stands between two pieces of text must not let them join into something new. */
  out: string;
  next: number;
}

function markup(s: string, lt: number, final: boolean): Step | null {
  const escaped = { out: '&lt;', next: lt + 1 };
  const undecided = final ? escaped : null;
  const first = s[lt + 1];
  if (first === undefined) return undecided;
  const closing = first === '/';
  if (closing && s[lt + 2] === undefined) return undecided;
  const nameStart = closing ? lt + 2 : lt + 1;
  // Only "<" + letter or "</" + letter open a tag; "<!", "<?", "</ " and a bare "<" are escaped too.
  if (!isAsciiLetter(s[nameStart])) return escaped;
  let nameEnd = nameStart;
  while (nameEnd < s.length && nameEnd - nameStart <= MAX_TAG_NAME) {
    const c = s[nameEnd] ?? '>';
    if (isTagWhitespace(c) || c === '/' || c === '>') break;
    nameEnd++;
  }
  if (nameEnd - nameStart > MAX_TAG_NAME) return escaped;
  if (nameEnd >= s.length) return undecided;
  const name = s.slice(nameStart, nameEnd).toLowerCase();
  const rules = ALLOWED_TAGS.get(name);
  if (rules === undefined) return escaped;
  const tag = readAttributes(s, nameEnd, lt + MAX_HELD_CHARS);
  if (tag === 'too-long') return escaped;
  if (tag === 'more') return undecided;
  return { out: closing ? `</${name}>` : openingTag(name, rules, tag.attributes), next: tag.end + 1 };
}

const linkUrl = url(['http', 'https', 'mailto'], true);

/** Backslash escapes and character references, as a markdown renderer reads a link destination. */
function decodeMarkdown(text: string): string {
  return decodeReferences(text.replace(/\\([!-/:-@[-`{-~])/g, '$1'));
}

/**
 * A markdown link destination is judged as written, decoded once and decoded twice (a renderer that copies it into
 * HTML unescaped lets the browser decode it again): every reading must be http, https, mailto or relative. One with a
 * "<" is refused: no real URL has one, and the "<" would not reach the client as written (it becomes `&lt;` or a tag).
 */
function isAllowedLinkTarget(destination: string): boolean {
  if (destination.includes('<')) return false;
  const once = decodeMarkdown(destination);
  return [destination, once, decodeMarkdown(once)].every((view) => linkUrl(view) !== null);
}

/**
 * Whether the destination after "](" or "]:" at `from` is allowed; null when the text so far cannot tell yet. Leading
 * blanks and line breaks are skipped; it ends at a space or an unbalanced ")". Not at a tab or a line break: a
 * lenient renderer may keep them in the URL, and browsers remove them from it (`java\tscript:`). One still running at
 * `limit` is refused (its scheme could hide behind a numeric reference padded with zeros).
 */
function destinationAllowed(s: string, from: number, limit: number, final: boolean): boolean | null {
  let i = from;
  while (i < limit && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n')) i++;
  const start = i;
  let depth = 0;
  for (; i < limit && i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === ' ') break;
    else if (c === '(') depth++;
    else if (c === ')' && depth-- === 0) break;
  }
  if (i >= limit) return false;
  if (i >= s.length && !final) return null;
  return isAllowedLinkTarget(s.slice(start, Math.min(i, s.length)));
}

/**
 * What one "]" at `j` becomes. A markdown link ("](") or link reference definition ("]:") whose destination is not
 * http, https, mailto or relative — `[x](javascript:alert(1))`, `[x]: data:…`, `[x](java&#115;cript:…)` — has its
 * "(" or ":" backslash-escaped, so a renderer shows it as text instead of a link.
 */
export function linkTarget(s: string, j: number, final: boolean): Step | null {
  const marker = s[j + 1];
  if (marker === undefined) return final ? { out: ']', next: j + 1 } : null;
  if (marker !== '(' && marker !== ':') return { out: ']', next: j + 1 };
  const allowed = destinationAllowed(s, j + 2, j + MAX_HELD_CHARS, final);
  if (allowed === null) return null;
  return { out: allowed ? `]${marker}` : `]\\${marker}`, next: j + 2 };
}

/** Where markup ("<") or a markdown link ("]") may start. */
const TRIGGER = /[<\]]/g;

/** Sanitizes `s` up to the first "<" or "]" it cannot decide on yet (none when `final`): the output, and that index. */
function scan(s: string, final: boolean): { out: string; rest: number } {
  let out = '';
  let i = 0;
  while (i < s.length) {
    TRIGGER.lastIndex = i;
    const found = TRIGGER.exec(s);
    if (found === null) return { out: out + s.slice(i), rest: s.length };
    const at = found.index;
    out += s.slice(i, at);
    const step = s[at] === '<' ? markup(s, at, final) : linkTarget(s, at, final);
    if (step === null) return { out, rest: at };
    out += step.out;
    i = step.next;
  }
  return { out, rest: i };
}

/**
 * LLM output, markdown-safe: text passes through unchanged (`**bold**`, `` `code` ``, lists, tables, "> quotes",
 * `&&`) except that every "<" not starting an allowed tag becomes `&lt;` (so `a < b` is `a &lt; b`, and
 * `<script>` shows as the text `&lt;script>`). Allowed tags (p, br, strong, em, u, a, lists, h1–h6, blockquote, code,
 * pre, span, div, tables, img, hr, del, ins…) are written anew from their parsed attributes: no `on*`, no `style`,
 * URLs http/https/mailto only (an img needs an absolute http(s) src), `rel="noopener noreferrer"` beside a target.
 * Every "<" in the output opens a tag written here, so no input can smuggle markup past it. Markdown links
 * (`[x](…)`, `[x]: …`) to another scheme get a backslash before their "(" or ":" and render as text. Idempotent.
 *
 * Tags are not balanced: a client renders each message as its own fragment, which closes what is left open.
 */
export function sanitizeAssistantText(text: string): string {
  return scan(cleanCharacters(text), true).out;
}

/**
 * sanitizeAssistantText for a stream of chunks: `push` returns what can be sent now, `end` the rest. The outputs
 * joined are exactly `sanitizeAssistantText(all chunks joined)`, for every way of cutting the text. Held back: a
 * "<" whose tag is not finished yet and a "](" or "]:" whose destination is not (at most MAX_HELD_CHARS characters,
 * as the whole-text function reads), and a final high surrogate whose low half may come next. An
 * unfinished entity needs no holding: "&" is text, sent as it comes, and joins the next chunk in the client as in
 * the whole text. After `end` the sanitizer can serve a new stream.
 */
export class StreamingSanitizer {
  /** Cleaned text from an undecided "<" or "]" on. */
  private held = '';
  /** A high surrogate that ended the last chunk. */
  private highSurrogate = '';

  push(chunk: string): string {
    let raw = this.highSurrogate + chunk;
    this.highSurrogate = '';
    const last = raw.charCodeAt(raw.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.highSurrogate = raw.slice(-1);
      raw = raw.slice(0, -1);
    }
    const s = this.held + cleanCharacters(raw);
    const { out, rest } = scan(s, false);
    this.held = s.slice(rest);
    return out;
  }

  end(): string {
    const { out } = scan(this.held + cleanCharacters(this.highSurrogate), true);
    this.held = '';
    this.highSurrogate = '';
    return out;
  }
}
