// Text extraction in a thread of its own: the same answers as in-process, errors rebuilt as the same AppErrors, and
// a document that needs more memory or time than its limits fails as the document's fault (413) while this process
// goes on.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDocx, makePdf } from '../../../test/helpers/documents.js';
import { DocumentTooHeavyError, extractTextIsolated } from './isolated-extraction.js';
import { extractText, NotIndexableError } from './text-extraction.js';

const PDF = 'application/pdf';
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-isolated-extraction-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

describe('extractTextIsolated', () => {
  it('gives the text of a PDF, a DOCX and a text file, as extractText does', async () => {
    const pdf = write('a.pdf', makePdf([['first page'], ['second page']]));
    expect(await extractTextIsolated(pdf, PDF, 1_000)).toBe(await extractText(pdf, PDF, 1_000));
    const docx = write('a.docx', await makeDocx(['héllo <b>', 'world']));
    expect(await extractTextIsolated(docx, DOCX, 1_000)).toContain('héllo <b>');
    const text = write('a.txt', 'plain\r\ntext');
    expect(await extractTextIsolated(text, 'text/plain', 1_000)).toBe('plain\ntext');
  });

  it("rebuilds the thread's errors: too long, unreadable, a missing file", async () => {
    const long = write('long.txt', 'x'.repeat(100));
    await expect(extractTextIsolated(long, 'text/plain', 10)).rejects.toMatchObject({
      status: 413,
      code: 'document_too_large',
    });
    const broken = write('broken.pdf', '%PDF-1.7\nnothing\n%%EOF\n');
    await expect(extractTextIsolated(broken, PDF, 1_000)).rejects.toMatchObject({
      status: 422,
      code: 'unreadable_document',
    });
    await expect(
      extractTextIsolated(path.join(dir, 'missing.txt'), 'text/plain', 1_000),
    ).rejects.toMatchObject({
      syscall: 'open',
    });
    await expect(extractTextIsolated(long, 'image/png', 1_000)).rejects.toBeInstanceOf(NotIndexableError);
  });

  it('fails a document that needs more than the heap limit with 413, and this process goes on', async () => {
    // One page of 150,000 shown lines: PDF.js parses every operator of it, far more than 32 MiB of heap.
    const lines = Array.from({ length: 150_000 }, (_, i) => `line ${i} of a page too heavy for a small heap`);
    const heavy = write('heavy.pdf', makePdf([lines]));
    const refused = await extractTextIsolated(heavy, PDF, Number.MAX_SAFE_INTEGER, undefined, {
      heapMb: 32,
      timeoutMs: 60_000,
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DocumentTooHeavyError);
    expect(refused).toMatchObject({ status: 413, code: 'document_too_large' });
    expect((refused as Error).message).toMatch(/more than 32 MiB of memory/);
    // The limit is what refused it: a small PDF is read within the same 32 MiB, the heavy one within the default.
    const light = write('light.pdf', makePdf([['a light page']]));
    expect(
      await extractTextIsolated(light, PDF, 1_000, undefined, { heapMb: 32, timeoutMs: 60_000 }),
    ).toContain('a light page');
    // PDF.js keeps the text shown on the page: the first 52 lines at 14 pt from the top.
    const text = await extractTextIsolated(heavy, PDF, Number.MAX_SAFE_INTEGER);
    expect(text).toContain('line 0 of a page');
    expect(text).toContain('line 51 of a page');
  });

  it('fails a document that takes longer than the deadline, and ends at once on abort', async () => {
    const pdf = write('slow.pdf', makePdf([['some text']]));
    const late = await extractTextIsolated(pdf, PDF, 1_000, undefined, { heapMb: 512, timeoutMs: 1 }).catch(
      (e: unknown) => e,
    );
    expect(late).toBeInstanceOf(DocumentTooHeavyError);
    expect((late as Error).message).toMatch(/longer than 0.001 s/);
    const controller = new AbortController();
    const reading = extractTextIsolated(pdf, PDF, 1_000, controller.signal);
    const reason = new Error('stopped by the test');
    controller.abort(reason);
    await expect(reading).rejects.toBe(reason);
    const aborted = new AbortController();
    aborted.abort(reason);
    await expect(extractTextIsolated(pdf, PDF, 1_000, aborted.signal)).rejects.toBe(reason);
  });
});
