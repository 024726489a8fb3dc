import MarkdownIt from 'markdown-it';

// What "safe HTML" means in the tests of render=html, checked on the structure of the output rather than by
// searching for words (a refused link stays text, so "javascript:" may well be in the text, escaped and harmless):
// - every "<" and ">" belongs to a well-formed tag `<name attr="value"…>` (text has them escaped), and the tags are
//   the ones markdown-it writes;
// - no "<script" anywhere, no on…= attribute;
// - href and src start with http://, https:// or mailto: once entities are decoded and whitespace and controls
//   dropped (what a browser does), and no attribute starts with a javascript:, vbscript: or data: URL. The one
//   exception is href="": CommonMark's link with an empty destination, `[x]()`, which points at nothing new.

const TAG = /<\/?([a-z][a-z0-9]*)((?:\s+[a-z-]+="[^"<>]*")*)\s*\/?>/gi;
const ATTRIBUTE = /([a-z-]+)="([^"]*)"/gi;
const MARKDOWN_TAGS = new Set(
  'p a code pre em strong s ul ol li blockquote h1 h2 h3 h4 h5 h6 hr br table thead tbody tr th td'.split(
    ' ',
  ),
);
// eslint-disable-next-line no-control-regex -- what a browser drops from a URL is the point
const IGNORABLE = /[\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2060\ufeff]/g;
const { unescapeAll } = new MarkdownIt().utils;

/** What is unsafe in `html`: an empty list when nothing is. */
export function htmlProblems(html: string): string[] {
  const problems: string[] = [];
  if (/<script/i.test(html)) problems.push('"<script"');
  const covered = new Set<number>();
  for (const tag of html.matchAll(TAG)) {
    covered.add(tag.index);
    covered.add(tag.index + tag[0].length - 1);
    const name = (tag[1] ?? '').toLowerCase();
    if (!MARKDOWN_TAGS.has(name)) problems.push(`a <${name}> tag`);
    for (const [, attribute = '', raw = ''] of (tag[2] ?? '').matchAll(ATTRIBUTE)) {
      const value = unescapeAll(raw).replace(IGNORABLE, '').toLowerCase();
      if (attribute.toLowerCase().startsWith('on')) problems.push(`an ${attribute}= attribute`);
      if (/^(?:(?:java|vb)script|data):/.test(value)) problems.push(`${attribute}="${raw}"`);
      const emptyLink = attribute === 'href' && raw === '';
      if (
        (attribute === 'href' || attribute === 'src') &&
        !emptyLink &&
        !/^(?:https?:\/\/|mailto:)/.test(value)
      )
        problems.push(`${attribute}="${raw}"`);
    }
  }
  for (const stray of html.matchAll(/[<>]/g))
    if (!covered.has(stray.index)) problems.push(`a "${stray[0]}" outside a tag at ${stray.index}`);
  return problems;
}
