// A DOCX is a zip: a 600 KB file can hold 200 MB of XML (deflate packs repeated markup about 1000:1), and mammoth
// inflates and parses its parts whole, so the file's size says nothing of what reading it costs. Before mammoth runs,
// the parts it reads are inflated here as a stream and counted, whatever sizes the zip declares, and reading stops as
// soon as their total passes the limit. jszip is the zip reader mammoth itself uses, so both see the same entries.
import JSZip from 'jszip';
import { AppError } from '../../platform/errors.js';

/**
 * The most XML a DOCX may unpack to (all parts but media): a 1,000-page text is about 10 MiB of document.xml, and
 * mammoth's tree of 32 MiB of XML stays within the extraction thread's heap (isolated-extraction.ts).
 */
export const DOCX_MAX_XML_BYTES = 32 * 1024 * 1024;

/** A DOCX whose parts unpack to more than the limit: a zip bomb, or a document too large to read. */
export class DocumentExpandsTooFarError extends AppError {
  constructor(limit: number) {
    super(
      `The DOCX unpacks to more than ${limit / 1024 ** 2} MiB of XML, more than can be read: it may be a zip bomb`,
      { status: 413, code: 'document_too_large' },
    );
  }
}

/** Media (images, embedded files) are not read to extract text: neither inflated here nor by mammoth's raw text. */
const isMedia = (name: string) => /^word\/(media|embeddings)\//.test(name);

/** How many bytes one entry inflates to, counted as it inflates; stops (and rejects) past `room`. */
function inflatedSize(entry: JSZip.JSZipObject, room: number, limit: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let size = 0;
    // A Readable of the readable-stream 2 package, which has no async iteration: read by its events.
    const stream = entry.nodeStream('nodebuffer');
    stream
      .on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= room) return;
        stream.pause();
        reject(new DocumentExpandsTooFarError(limit));
      })
      .on('error', reject)
      .on('end', () => resolve(size))
      .resume();
  });
}

/** Throws DocumentExpandsTooFarError when the text parts of the zip in `data` inflate to more than `limit` bytes. */
export async function checkDocxExpansion(data: Buffer, limit = DOCX_MAX_XML_BYTES): Promise<void> {
  const zip = await JSZip.loadAsync(data);
  let total = 0;
  for (const entry of Object.values(zip.files)) {
    if (entry.dir || isMedia(entry.name)) continue;
    total += await inflatedSize(entry, limit - total, limit);
  }
}
