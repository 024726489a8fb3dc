import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import JSZip from 'jszip';
import { makeCorruptPdf, makeDocx, makePdf } from '../../../test/helpers/documents.js';
import { checkDocxExpansion, DocumentExpandsTooFarError, DOCX_MAX_XML_BYTES } from './docx-expansion.js';
import {
  DocumentTooLargeError,
  extractText,
  INDEXABLE_TYPES,
  isIndexable,
  NotIndexableError,
  UnreadableDocumentError,
} from './text-extraction.js';

const PDF = 'application/pdf';
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const MAX = 1_000_000;

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-text-extraction-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(content: string | Buffer, name = 'document'): string {
  counter += 1;
  const file = path.join(dir, `${counter}-${name}`);
  fs.writeFileSync(file, content);
  return file;
}

describe('INDEXABLE_TYPES and isIndexable', () => {
  it('lists the plain text formats, PDF and DOCX', () => {
    expect([...INDEXABLE_TYPES].sort()).toEqual(
      ['application/json', DOCX, PDF, 'text/csv', 'text/markdown', 'text/plain'].sort(),
    );
  });

  it('matches the type without its parameters and case', () => {
    expect(isIndexable('text/plain')).toBe(true);
    expect(isIndexable('Text/Markdown; charset=utf-8')).toBe(true);
    expect(isIndexable('image/png')).toBe(false);
    expect(isIndexable('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')).toBe(false);
    expect(isIndexable('')).toBe(false);
  });
});

describe('extractText of plain text formats', () => {
  it('decodes text/plain as UTF-8, keeping markup and blank lines exactly', async () => {
    const text = 'Ünïcödé 😀 日本語\n\n<div>a < b && c</div>\n  indented\ttab\n';
    expect(await extractText(write(text), 'text/plain', MAX)).toBe(text);
  });

  it('keeps the unicode of text/markdown', async () => {
    const text = '# Überschrift\n\n- 日本語 😀\n- `<script>`\n';
    expect(await extractText(write(text), 'text/markdown', MAX)).toBe(text);
  });

  it('reads text/csv and application/json as they are, CRLF becoming LF', async () => {
    expect(await extractText(write('a,b\r\n1,"x, y"\r\n'), 'text/csv', MAX)).toBe('a,b\n1,"x, y"\n');
    const json = '{"q": "a < b", "emoji": "😀"}';
    expect(await extractText(write(json), 'application/json; charset=utf-8', MAX)).toBe(json);
  });

  it('removes a BOM and the control characters but tab and newline, turns CR, VT and FF into newlines', async () => {
    const raw = '\ufeffone\r\ntwo\rthree\u000bfour\u000cfive\u0000six\u0007\u001b[0m\ttab\u007f\u0085';
    expect(await extractText(write(raw), 'text/plain', MAX)).toBe(
      'one\ntwo\nthree\nfour\nfive' + 'six[0m\ttab\u007f\u0085',
    );
  });

  it('replaces invalid UTF-8 by U+FFFD', async () => {
    const bytes = Buffer.concat([Buffer.from('ok '), Buffer.from([0xff, 0xc3]), Buffer.from(' end')]);
    expect(await extractText(write(bytes), 'text/plain', MAX)).toBe('ok \ufffd\ufffd end');
  });

  it('reads a file of many pieces the same as whole: characters and CRLF split between reads survive', async () => {
    // 64 KiB reads: a prefix of 1 to 3 bytes shifts where the multibyte characters and the CRLFs fall.
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      const text = prefix + 'é😀日\r\nx\r'.repeat(40_000);
      const got = await extractText(write(text), 'text/plain', MAX);
      expect(got).toBe(text.replace(/\r\n?/g, '\n'));
    }
  });

  it('accepts a text of exactly maxChars and refuses one character more', async () => {
    const file = write('0123456789\r\n');
    expect(await extractText(file, 'text/plain', 11)).toBe('0123456789\n');
    const refused = await extractText(file, 'text/plain', 10).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DocumentTooLargeError);
    expect(refused).toMatchObject({ status: 413, code: 'document_too_large' });
    expect((refused as Error).message).toContain('10 characters');
  });

  it('refuses a large text file at the limit', async () => {
    const file = write('x'.repeat(3 * 1024 * 1024));
    await expect(extractText(file, 'text/plain', 100_000)).rejects.toThrow(/longer than 100,000 characters/);
  });
});

describe('extractText of PDF', () => {
  it('extracts each page, lines by newlines and pages by a blank line', async () => {
    const file = write(
      makePdf([['Hello (world) \\ back', 'second line: café, naïve'], ['page two <b>a < b</b>']]),
      'a.pdf',
    );
    expect(await extractText(file, PDF, MAX)).toBe(
      'Hello (world) \\ back\nsecond line: café, naïve\n\npage two <b>a < b</b>',
    );
  });

  it('gives an empty string for a PDF without a text layer', async () => {
    expect(await extractText(write(makePdf([[], [], []])), PDF, MAX)).toBe('');
  });

  it('refuses a PDF whose text passes maxChars', async () => {
    const pages = Array.from({ length: 50 }, (_, i) => [`Page ${i + 1} `.padEnd(60, 'x')]);
    const file = write(makePdf(pages));
    expect((await extractText(file, PDF, MAX)).length).toBe(50 * 60 + 49 * 2);
    await expect(extractText(file, PDF, 500)).rejects.toBeInstanceOf(DocumentTooLargeError);
  });

  it('reports a corrupt PDF without the reader’s own words', async () => {
    const error = await extractText(write(makeCorruptPdf()), PDF, MAX).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreadableDocumentError);
    expect(error).toMatchObject({ status: 422, code: 'unreadable_document' });
    expect((error as Error).message).toMatch(/could not be read as PDF/);
    expect((error as Error).message).not.toMatch(/Invalid PDF structure|exception/i);
  });

  it('reports a truncated PDF as unreadable', async () => {
    const whole = makePdf([['some text']]);
    await expect(extractText(write(whole.subarray(0, 200)), PDF, MAX)).rejects.toBeInstanceOf(
      UnreadableDocumentError,
    );
  });
});

describe('extractText of DOCX', () => {
  it('extracts the paragraphs, unicode and markup-like text exactly', async () => {
    const file = write(await makeDocx(['Héllo 😀 日本語', '<b>&amp; "quoted" \'single\'</b>', '  spaced  ']));
    expect(await extractText(file, DOCX, MAX)).toBe(
      'Héllo 😀 日本語\n\n<b>&amp; "quoted" \'single\'</b>\n\n  spaced  \n\n',
    );
  });

  it('refuses a DOCX whose text passes maxChars', async () => {
    const file = write(await makeDocx(['x'.repeat(100)]));
    await expect(extractText(file, DOCX, 50)).rejects.toBeInstanceOf(DocumentTooLargeError);
  });

  it('refuses a zip bomb before mammoth unpacks it: a small DOCX whose XML passes DOCX_MAX_XML_BYTES', async () => {
    // 700,000 identical paragraphs: about 36 MiB of XML that deflate packs into well under 1 MiB.
    const bomb = await makeDocx(Array<string>(700_000).fill('x'));
    expect(bomb.length).toBeLessThan(DOCX_MAX_XML_BYTES / 32);
    const refused = await extractText(write(bomb), DOCX, Number.MAX_SAFE_INTEGER).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DocumentExpandsTooFarError);
    expect(refused).toMatchObject({ status: 413, code: 'document_too_large' });
    expect((refused as Error).message).toMatch(/unpacks to more than 32 MiB of XML/);
  });

  it('counts what the parts inflate to, not what the zip declares, and skips media', async () => {
    const docx = await makeDocx(['a paragraph of text']);
    await expect(checkDocxExpansion(docx, 2_000)).resolves.toBeUndefined();
    await expect(checkDocxExpansion(docx, 100)).rejects.toBeInstanceOf(DocumentExpandsTooFarError);
    const zip = await JSZip.loadAsync(docx);
    zip.file('word/media/image1.png', Buffer.alloc(1_000_000));
    const withMedia = await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
    await expect(checkDocxExpansion(withMedia, 2_000)).resolves.toBeUndefined();
  });

  it('reports a corrupt DOCX (not a zip) and a zip without a document as unreadable', async () => {
    const notZip = await extractText(write(Buffer.from('PK\u0003\u0004 broken')), DOCX, MAX).catch(
      (e: unknown) => e,
    );
    expect(notZip).toBeInstanceOf(UnreadableDocumentError);
    expect(notZip).toMatchObject({ status: 422, code: 'unreadable_document' });
    expect((notZip as Error).message).toMatch(/could not be read as DOCX/);
    expect((notZip as Error).message).not.toMatch(/central directory|zip/i);
  });
});

describe('extractText of a file under the wrong type', () => {
  it('reports a DOCX sent as PDF, and a PDF sent as DOCX, as unreadable', async () => {
    const docx = write(await makeDocx(['text']), 'renamed.pdf');
    await expect(extractText(docx, PDF, MAX)).rejects.toThrow(/could not be read as PDF/);
    const pdf = write(makePdf([['text']]), 'renamed.docx');
    await expect(extractText(pdf, DOCX, MAX)).rejects.toThrow(/could not be read as DOCX/);
  });

  it('refuses a type it cannot read, before opening the file', async () => {
    const error = await extractText(path.join(dir, 'does-not-exist.png'), 'image/png', MAX).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NotIndexableError);
    expect(error).toMatchObject({ status: 415, code: 'not_indexable' });
  });

  it('lets a missing file fail as such, not as an unreadable document', async () => {
    const missing = path.join(dir, 'missing');
    for (const type of ['text/plain', PDF, DOCX]) {
      await expect(extractText(missing, type, MAX)).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });
});

describe('extractText with an abort signal', () => {
  it('rejects with the signal’s reason once aborted', async () => {
    const file = write('text');
    const reason = new Error('client went away');
    for (const type of ['text/plain', PDF, DOCX]) {
      await expect(extractText(file, type, MAX, AbortSignal.abort(reason))).rejects.toBe(reason);
    }
  });
});

describe('the hand-made documents of test/helpers/documents.ts', () => {
  it('writes a PDF whose cross-reference table points at each object', () => {
    const pdf = makePdf([['one'], ['two', 'three']]).toString('latin1');
    const startxref = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(pdf)?.[1]);
    expect(pdf.startsWith('xref\n', startxref)).toBe(true);
    const entries = [...pdf.slice(startxref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    expect(entries).toHaveLength(7);
    entries.forEach((offset, i) => expect(pdf.startsWith(`${i + 1} 0 obj\n`, offset)).toBe(true));
  });

  it('refuses text beyond Latin-1 in a PDF', () => {
    expect(() => makePdf([['😀']])).toThrow(/Latin-1/);
  });
});
