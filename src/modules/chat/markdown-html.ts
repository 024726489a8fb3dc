// `render=html` (issue 10): a message's markdown as HTML that a client can insert as is. Safety comes from what the
// renderer can produce, not from editing the text: raw HTML is off (markup a user or model wrote comes out as escaped
// text), and the only URLs it writes are http, https and mailto ones.
import MarkdownIt from 'markdown-it';

/**
 * The schemes a link may have. Everything else is refused and the link stays text: javascript:, vbscript:, data:,
 * file: and every other scheme, and also relative ("/x", "x.html", "#x") and protocol-relative ("//host") links —
 * the HTML is shown by clients whose own address the server does not know, so a relative link would point
 * somewhere arbitrary (usually into the client itself), and a protocol-relative one may load over plain http.
 * http(s) needs its "//": "https:x" is not a web address. markdown-it calls this with the link already normalised
 * (entities decoded, percent-encoded), so "jav&#x61;script:" or "JaVaScRiPt:" never reach it looking like http.
 */
const ALLOWED_URL = /^(?:https?:\/\/|mailto:)/i;

/**
 * One shared instance (markdown-it keeps no state between renders). Linkify is on so that the bare http(s) and
 * mailto: addresses models often write become links (through the same validateLink), but without fuzzy matching:
 * in a chat about code "README.md" or "git@github.com" is a file name or a remote, not http://README.md or a mail
 * address. The typographer is off: it would change quotes and dashes, and the text must come out as written.
 */
const md = new MarkdownIt({ html: false, linkify: true, typographer: false });
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
md.validateLink = (url) => ALLOWED_URL.test(url);
// Images are off: an <img> is fetched as soon as the HTML is shown, without a click, so a model could make the
// reader's browser send any data it was led to put in a URL (a known prompt-injection exfiltration). `![x](url)`
// becomes "!" and an ordinary link, which is only followed when clicked.
md.disable('image');

/** A message's markdown rendered as safe HTML (no raw HTML, links only to http, https and mailto). */
export function renderMarkdownHtml(markdown: string): string {
  return md.render(markdown);
}
