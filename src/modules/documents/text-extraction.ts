// The text of an uploaded file, for indexing it (chat over your documents): plain text formats decoded as UTF-8,
// PDF through unpdf (PDF.js), DOCX through mammoth. The text is data and is kept as the document has it; the only
// changes are those of cleanExtractedText below. Every type this module does not read is refused with
// NotIndexableError before the file is opened.
//
// A PDF with no text layer (a scan, pages of images) gives '' rather than an error: this module cannot tell "no
// text" from "text it cannot see", and the caller decides what an empty document means (the indexing service can
// mark the file as having nothing to index, or run OCR one day).
import fs from 'node:fs';
import mammoth from 'mammoth';
import { getDocumentProxy } from 'unpdf';
import { wellFormed } from '../../lib/user-text.js';
import { AppError } from '../../platform/errors.js';
import { checkDocxExpansion } from './docx-expansion.js';

const PDF = 'application/pdf';
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const PLAIN_TYPES = ['text/plain', 'text/markdown', 'text/csv', 'application/json'] as const;

/** The media types whose text can be extracted (lower case, without parameters). */
export const INDEXABLE_TYPES: readonly string[] = [...PLAIN_TYPES, PDF, DOCX];

/** A file of a type whose text this server cannot extract (an image, an archive, a spreadsheet…). */
export class NotIndexableError extends AppError {
  constructor(mediaType: string) {
    super(`Files of type ${mediaType} cannot be indexed; indexable types: ${INDEXABLE_TYPES.join(', ')}`, {
      status: 415,
      code: 'not_indexable',
    });
  }
}

/** A document whose text is longer than the indexing limit (DOCUMENTS_MAX_CHARS). */
export class DocumentTooLargeError extends AppError {
  constructor(maxChars: number) {
    super(
      `The document's text is longer than ${maxChars.toLocaleString('en-US')} characters, the most that can be indexed`,
      { status: 413, code: 'document_too_large' },
    );
  }
}

/** A PDF or DOCX that its reader could not open: damaged, truncated, or another format under that type. */
export class UnreadableDocumentError extends AppError {
  constructor(format: 'PDF' | 'DOCX', cause: unknown) {
    super(`The file could not be read as ${format}: it may be damaged or not really a ${format} file`, {
      status: 422,
      code: 'unreadable_document',
      cause,
    });
  }
}

/** The media type's essence: `Text/Plain; charset=utf-8` → `text/plain`. */
function essence(mediaType: string): string {
  return (mediaType.split(';')[0] ?? '').trim().toLowerCase();
}

export function isIndexable(mediaType: string): boolean {
  return INDEXABLE_TYPES.includes(essence(mediaType));
}

// What cleanExtractedText removes: the C0 controls other than tab and newline (NUL, BEL, ESC, backspace…, and
// carriage return, which only remains here when it was lone), as lib/user-text.ts does for what users type. DEL and
// the C1 controls stay, as they do there. Vertical tab and form feed are not removed but become a newline: they
// separate lines and pages (a PDF or a text file uses form feed between pages), and deleting them would glue words.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const REMOVED_CONTROLS = /[\u0000-\u0008\u000e-\u001f\r]/g;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const LINE_SEPARATING_CONTROLS = /[\u000b\u000c]/g;

/**
 * The only changes made to a document's text: CRLF and lone CR become LF, vertical tab and form feed become LF, the
 * other C0 controls but tab and newline are removed, lone surrogates become U+FFFD. Nothing is trimmed, stripped,
 * escaped or normalised: `<div>`, `a < b && c` and blank lines stay as written.
 */
function cleanExtractedText(text: string): string {
  return wellFormed(text)
    .replace(/\r\n?/g, '\n')
    .replace(LINE_SEPARATING_CONTROLS, '\n')
    .replace(REMOVED_CONTROLS, '');
}

/**
 * Collects text while counting it, so that a document stops being read as soon as its text passes the limit (the
 * limit is on the cleaned text, the text that is indexed).
 */
class CappedText {
  readonly #parts: string[] = [];
  #length = 0;

  constructor(readonly maxChars: number) {}

  push(text: string): void {
    this.#length += text.length;
    if (this.#length > this.maxChars) throw new DocumentTooLargeError(this.maxChars);
    this.#parts.push(text);
  }

  text(): string {
    return this.#parts.join('');
  }
}

/** A UTF-8 file, read in 64 KiB pieces: invalid bytes become U+FFFD, a leading BOM is dropped. */
async function plainText(
  filePath: string,
  maxChars: number,
  signal: AbortSignal | undefined,
): Promise<string> {
  const out = new CappedText(maxChars);
  // ignoreBOM false: the decoder drops a BOM at the start of the stream (and only there).
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });
  // A CR at the end of a piece may be the first half of a CRLF split between two reads: kept for the next piece.
  let held = '';
  for await (const bytes of fs.createReadStream(filePath, { highWaterMark: 64 * 1024 })) {
    signal?.throwIfAborted();
    let piece = held + decoder.decode(bytes as Buffer, { stream: true });
    held = piece.endsWith('\r') ? '\r' : '';
    if (held) piece = piece.slice(0, -1);
    out.push(cleanExtractedText(piece));
  }
  out.push(cleanExtractedText(held + decoder.decode()));
  return out.text();
}

interface TextItem {
  str?: string;
  hasEOL?: boolean;
}

/**
 * One PDF page's text as unpdf's extractText builds it (each text item, then a newline where PDF.js saw the end of
 * a line), read one page at a time so that only one page's content is held, and reading stops at the limit.
 */
async function pdfText(filePath: string, maxChars: number, signal: AbortSignal | undefined): Promise<string> {
  const data = new Uint8Array(await fs.promises.readFile(filePath));
  signal?.throwIfAborted();
  let document: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // verbosity 0: PDF.js would otherwise write its warnings (a missing standard font…) to the console.
    document = await getDocumentProxy(data, { verbosity: 0 });
  } catch (error) {
    throw new UnreadableDocumentError('PDF', error);
  }
  try {
    const out = new CappedText(maxChars);
    let anyText = false;
    for (let pageNumber = 1; pageNumber <= document.numPages; pageNumber += 1) {
      signal?.throwIfAborted();
      let text: string;
      try {
        const page = await document.getPage(pageNumber);
        const content = await page.getTextContent();
        text = (content.items as TextItem[])
          .filter((item) => item.str !== undefined)
          .map((item) => `${item.str ?? ''}${item.hasEOL ? '\n' : ''}`)
          .join('');
        page.cleanup();
      } catch (error) {
        throw new UnreadableDocumentError('PDF', error);
      }
      const clean = cleanExtractedText(text);
      if (clean.trim() !== '') anyText = true;
      out.push(pageNumber === 1 ? clean : `\n\n${clean}`);
    }
    // Pages without a text layer joined would give blank lines only: a scan has no text.
    return anyText ? out.text() : '';
  } finally {
    await document.loadingTask.destroy();
  }
}

/** True for the errors of the file system (missing file, permissions), which are not the document's fault. */
function isFileSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}

async function docxText(
  filePath: string,
  maxChars: number,
  signal: AbortSignal | undefined,
): Promise<string> {
  const data = await fs.promises.readFile(filePath);
  let raw: string;
  try {
    // mammoth reads the whole document at once (it cannot be stopped midway): what it will unpack is measured first.
    await checkDocxExpansion(data);
    signal?.throwIfAborted();
    raw = (await mammoth.extractRawText({ buffer: data })).value;
  } catch (error) {
    if (error instanceof AppError || isFileSystemError(error) || signal?.aborted) throw error;
    throw new UnreadableDocumentError('DOCX', error);
  }
  signal?.throwIfAborted();
  const out = new CappedText(maxChars);
  out.push(cleanExtractedText(raw));
  return out.text();
}

/**
 * The text of the file at `filePath`, of media type `mediaType` (as detected from its content). Throws
 * NotIndexableError for a type not in INDEXABLE_TYPES, DocumentTooLargeError when the text passes `maxChars`
 * characters (UTF-16 code units, after cleaning), UnreadableDocumentError for a PDF or DOCX that cannot be opened,
 * and the signal's reason when it aborts. A PDF without a text layer gives ''.
 */
export async function extractText(
  filePath: string,
  mediaType: string,
  maxChars: number,
  signal?: AbortSignal,
): Promise<string> {
  const type = essence(mediaType);
  if (!INDEXABLE_TYPES.includes(type)) throw new NotIndexableError(mediaType);
  signal?.throwIfAborted();
  if (type === PDF) return pdfText(filePath, maxChars, signal);
  if (type === DOCX) return docxText(filePath, maxChars, signal);
  return plainText(filePath, maxChars, signal);
}
