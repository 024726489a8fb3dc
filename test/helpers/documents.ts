// Real documents built by hand for the tests of text extraction: a minimal valid PDF (written byte by byte, with a
// correct cross-reference table), a minimal DOCX (a zip made with jszip) and a PDF that no reader can open.
import JSZip from 'jszip';

/** PDF strings hold bytes: Latin-1 here (ASCII and U+00A0–U+00FF, which WinAnsiEncoding maps the same way). */
const LATIN_1 = /^[\u0020-\u007e\u00a0-\u00ff]*$/;

/** A literal PDF string: `\`, `(` and `)` are escaped; the rest is written as Latin-1 bytes. */
function pdfString(text: string): string {
  if (!LATIN_1.test(text)) {
    throw new Error(
      `makePdf writes ASCII and Latin-1 text only (Helvetica, WinAnsiEncoding): ${JSON.stringify(text)}`,
    );
  }
  return `(${text.replace(/[\\()]/g, (char) => `\\${char}`)})`;
}

/** One page's content stream: Helvetica 12 pt, one `Tj` per line, each line 14 pt below the previous one. */
function pageContent(lines: string[]): string {
  const shown = lines.map((line, i) => `${i === 0 ? '' : 'T* '}${pdfString(line)} Tj`);
  return ['BT', '/F1 12 Tf', '14 TL', '72 720 Td', ...shown, 'ET', ''].join('\n');
}

/**
 * A real, minimal PDF 1.4: one page per element of `pages`, each line of a page shown by its own `Tj`, in the
 * standard Helvetica Type1 font (no font file embedded). Text must be ASCII or Latin-1 (a PDF string with a simple
 * font holds bytes; anything else would need an embedded font and a ToUnicode map, which this helper does not
 * write): it throws otherwise. A page with no lines has an empty content stream, like a scanned page with no text
 * layer.
 */
export function makePdf(pages: string[][]): Buffer {
  // Objects: 1 catalog, 2 page tree, 3 font, then a page and its content stream for each page.
  const pageId = (i: number) => 4 + 2 * i;
  const objects: string[] = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${pages.map((_, i) => `${pageId(i)} 0 R`).join(' ')}] /Count ${pages.length} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];
  pages.forEach((lines, i) => {
    const content = pageContent(lines);
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> ` +
        `/Contents ${pageId(i) + 1} 0 R >>`,
      `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    );
  });

  // The second line marks the file as binary (bytes above 127), as the specification recommends.
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n', 'latin1')];
  let length = parts[0]?.length ?? 0;
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(length);
    const object = Buffer.from(`${i + 1} 0 obj\n${body}\nendobj\n`, 'latin1');
    parts.push(object);
    length += object.length;
  });
  // Each cross-reference entry is exactly 20 bytes: 10-digit offset, 5-digit generation, type, space + newline.
  const entries = offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`);
  const trailer =
    `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${entries.join('')}` +
    `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${length}\n%%EOF\n`;
  parts.push(Buffer.from(trailer, 'latin1'));
  return Buffer.concat(parts);
}

/** A file that starts like a PDF and then holds no PDF structure at all: no object, no catalog, no xref. */
export function makeCorruptPdf(): Buffer {
  return Buffer.from('%PDF-1.7\n%\u00e2\u00e3\u00cf\u00d3\nthis is not a PDF body\n%%EOF\n', 'latin1');
}

function xmlText(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * A real, minimal DOCX: [Content_Types].xml, _rels/.rels and word/document.xml, one `w:p` with one `w:t` per
 * paragraph (spaces preserved, XML-escaped, any Unicode: the XML is UTF-8).
 */
export async function makeDocx(paragraphs: string[]): Promise<Buffer> {
  const zip = new JSZip();
  zip.file(
    '[Content_Types].xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      '<Override PartName="/word/document.xml" ' +
      'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>' +
      '</Types>',
  );
  zip.file(
    '_rels/.rels',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
      '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
      '<Relationship Id="rId1" ' +
      'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" ' +
      'Target="word/document.xml"/>' +
      '</Relationships>',
  );
  const body = paragraphs
    .map((text) => `<w:p><w:r><w:t xml:space="preserve">${xmlText(text)}</w:t></w:r></w:p>`)
    .join('');
  zip.file(
    'word/document.xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
      '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' +
      `<w:body>${body}</w:body></w:document>`,
  );
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}
