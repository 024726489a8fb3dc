// Content-Disposition of a download, written by hand: `content-disposition` is in node_modules only as another
// package's dependency, and this server adds no dependency for thirty lines (issue 15). RFC 6266 with RFC 8187:
//   attachment; filename="<ASCII fallback>"; filename*=UTF-8''<the name, percent-encoded>
// Browsers use filename* and keep the name exactly; the quoted fallback is for older clients and holds only
// printable ASCII, without the quote and backslash that would end or escape it ('_' stands for anything else).
import { wellFormed } from '../../lib/user-text.js';

/** attr-char of RFC 8187: what may stand unencoded in an ext-value. */
const ATTR_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

function fallbackName(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/gu, '_');
  return ascii.trim() === '' ? 'download' : ascii;
}

function extValue(name: string): string {
  let encoded = '';
  for (const char of wellFormed(name)) {
    encoded += ATTR_CHAR.test(char)
      ? char
      : [...Buffer.from(char, 'utf8')]
          .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
          .join('');
  }
  return encoded;
}

export function attachmentDisposition(name: string): string {
  return `attachment; filename="${fallbackName(name)}"; filename*=UTF-8''${extValue(name)}`;
}
