// An upload's media type, from its content: the client's Content-Type is never read, and its file name only picks
// among text types for content that is text. Order:
//   1. Content that is not text (invalid UTF-8, or a NUL byte): what file-type finds in its bytes (a legacy Excel
//      workbook told apart from other CFB containers: cfb.ts), else application/octet-stream.
//   2. Text that browsers would run or render (an HTML document, SVG, XML, or a name ending in .html, .js, .svg,
//      .xml …): that type, which is refused whatever the allow-list says (ALWAYS_REFUSED).
//   3. Text in which file-type recognises an allowed format (an ASCII-only PDF) or a text-based one (XML, vCard…):
//      that type. Other signatures are a coincidence of the first bytes ("BM…" is a BMP's) and are ignored.
//   4. Other text, by the name's extension: .md/.markdown text/markdown, .csv text/csv, .json application/json when
//      it parses as JSON, anything else text/plain.
import { fileTypeFromFile } from 'file-type';
import { isExcelWorkbook } from './cfb.js';
import type { Inspection } from './content-inspection.js';

/** Active content: refused even when FILES_ALLOWED_TYPES names it (defence in depth, issue 15). */
export const ALWAYS_REFUSED: ReadonlySet<string> = new Set([
  'text/html',
  'application/xhtml+xml',
  'image/svg+xml',
  'text/javascript',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'text/ecmascript',
]);

/** Names whose text is active content, by extension. */
const ACTIVE_EXTENSIONS: Readonly<Record<string, string>> = {
  html: 'text/html',
  htm: 'text/html',
  shtml: 'text/html',
  xhtml: 'application/xhtml+xml',
  xht: 'application/xhtml+xml',
  svg: 'image/svg+xml',
  svgz: 'image/svg+xml',
  js: 'text/javascript',
  mjs: 'text/javascript',
  cjs: 'text/javascript',
  xml: 'application/xml',
  xsl: 'application/xml',
  xslt: 'application/xml',
};

/**
 * The WHATWG MIME sniffing patterns of HTML (a tag name followed by a space or '>'), split in two: those that start
 * a document or script, refused in any text; and markup that Markdown allows inline (a README may well begin with
 * `<p align="center">`), refused in any text but Markdown.
 */
const DOCUMENT_TAGS = ['!doctype html', 'html', 'head', 'body', 'script', 'iframe'];
const INLINE_TAGS = ['h1', 'div', 'font', 'table', 'a', 'style', 'title', 'b', 'br', 'p', '!--'];

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** The type of markup `head` starts with (after whitespace and a BOM), if any. */
function markupType(head: Buffer, markdown: boolean): string | undefined {
  const start = head
    .toString('latin1', 0, Math.min(head.length, 1024))
    .replace(/^\u00ef\u00bb\u00bf/, '')
    .replace(/^[\t\n\f\r ]+/, '')
    .toLowerCase();
  if (!start.startsWith('<')) return undefined;
  if (start.startsWith('<?xml')) return /<svg[\s>]/.test(start) ? 'image/svg+xml' : 'application/xml';
  if (/^<svg[\s>/]/.test(start)) return 'image/svg+xml';
  const tags = markdown ? DOCUMENT_TAGS : [...DOCUMENT_TAGS, ...INLINE_TAGS];
  // A tag ends at whitespace, '>' or '/' (WHATWG names only a space and '>').
  const html = tags.some(
    (tag) => start.startsWith(`<${tag}`) && /^[\t\n\f\r />]/.test(start.slice(tag.length + 1)),
  );
  return html ? 'text/html' : undefined;
}

function textSubtype(extension: string, json: boolean): string {
  switch (extension) {
    case 'md':
    case 'markdown':
      return 'text/markdown';
    case 'csv':
      return 'text/csv';
    case 'json':
      return json ? 'application/json' : 'text/plain';
    default:
      return 'text/plain';
  }
}

/** The media type of the file at `path`, whose content `inspection` describes and whose client name is `name`. */
export async function detectMediaType(
  path: string,
  name: string,
  inspection: Inspection,
  allowed: ReadonlySet<string>,
): Promise<string> {
  const found = (await fileTypeFromFile(path))?.mime;
  if (!inspection.text) {
    if (found === 'application/x-cfb' && (await isExcelWorkbook(path))) return 'application/vnd.ms-excel';
    return found ?? 'application/octet-stream';
  }
  const extension = extensionOf(name);
  const markdown = extension === 'md' || extension === 'markdown';
  const active = markupType(inspection.head, markdown) ?? ACTIVE_EXTENSIONS[extension];
  if (active) return active;
  if (found && (allowed.has(found) || found.startsWith('text/') || /[/+]xml$/.test(found))) return found;
  return textSubtype(extension, inspection.json);
}
