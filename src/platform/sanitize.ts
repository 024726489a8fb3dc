// Text that reaches storage or a client: user messages lose all HTML (the seed's `sanitize_text`), LLM answers keep a
// markdown-safe allow-list of tags (the original's `sanitize_markdown`), also when they stream token by token.
//
// User text goes through sanitize-html with nothing allowed. Assistant text goes through the small tokenizer in
// sanitize-markup.ts rather than sanitize-html, because it must run on a token stream: the same state machine serves
// both the whole text and the stream.
import sanitizeHtml from 'sanitize-html';
import { cleanCharacters, linkTarget } from './sanitize-markup.js';

export { MAX_HELD_CHARS, StreamingSanitizer, sanitizeAssistantText } from './sanitize-markup.js';

// ---------------------------------------------------------------------------------------------------------------
// User text: every tag removed.

/** Elements whose content is dropped with them: code, styles, embedded documents, form fallbacks, foreign markup. */
const DROPPED_WITH_CONTENT = [
  'script',
  'style',
  'textarea',
  'xmp',
  'title',
  'option',
  'select',
  'noscript',
  'iframe',
  'noembed',
  'noframes',
  'template',
  'object',
  'svg',
  'math',
];

const USER_TEXT_OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: [],
  allowedAttributes: {},
  disallowedTagsMode: 'discard',
  nonTextTags: DROPPED_WITH_CONTENT,
};

const DROPPED_TAG_PATTERNS = DROPPED_WITH_CONTENT.map((name) => ({
  name,
  opener: new RegExp(`<${name}(?=[\\s/>]|$)`, 'gi'),
  closer: new RegExp(`</${name}(?=[\\s/>])`, 'gi'),
}));

/**
 * An opener of a dropped element that is never closed would swallow the rest of the message ("What does <script>
 * do?" would keep only "What does "): such an opener is renamed to a harmless unknown tag, removed like any other.
 */
function defuseUnclosed(text: string): string {
  let result = text;
  for (const { name, opener, closer } of DROPPED_TAG_PATTERNS) {
    let lastCloser = -1;
    for (const match of result.matchAll(closer)) lastCloser = match.index;
    result = result.replace(opener, (found, offset: number) =>
      offset > lastCloser ? `<x-unclosed-${name}` : found,
    );
  }
  return result;
}

/**
 * The seed's `sanitize_text`: all HTML removed, `& < >` escaped in what remains, control characters (but tab and
 * newline) removed. Differs from the original's bleach in two ways:
 * - script, style, iframe, noscript, textarea, svg, math… are dropped *with their content*: bleach kept the inner
 *   text, so `<script>alert('XSS')</script>` became `alert('XSS')`; here it becomes "".
 * - it is idempotent: entities are decoded and the text re-escaped, so `&amp;` stays `&amp;` and sanitizing stored
 *   text again changes nothing (a text re-sent by a client never grows `&amp;amp;amp;`).
 * Markdown links to other schemes than http, https and mailto are defused as in sanitizeAssistantText.
 */
export function sanitizeUserText(text: string): string {
  const stripped = sanitizeHtml(defuseUnclosed(cleanCharacters(text)), USER_TEXT_OPTIONS);
  return defuseMarkdownLinks(cleanCharacters(stripped));
}

/** Markdown links of user text get the same check as the assistant's (a client may render both as markdown). */
function defuseMarkdownLinks(text: string): string {
  let out = '';
  let i = 0;
  for (let j = text.indexOf(']'); j !== -1; j = text.indexOf(']', i)) {
    const step = linkTarget(text, j, true) ?? { out: ']', next: j + 1 };
    out += text.slice(i, j) + step.out;
    i = step.next;
  }
  return out + text.slice(i);
}
