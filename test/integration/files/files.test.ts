// /api/v1/files on both dialects: upload in the original's shape (plus id, sha256 and index_status), the caller's
// list paged like the chat history, downloads streamed with byte ranges and a safe Content-Disposition, delete, and
// the original's name-based paths.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import {
  UUID,
  filesOnDisk,
  get,
  list,
  newCaller,
  remove,
  rowCount,
  upload,
  uploaded,
  type Caller,
} from './files.helpers.js';

const INDEX_STATUSES = [null, 'pending', 'indexing', 'ready', 'failed'];
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

describeEachDialect('files', (dialect) => {
  let t: TestApp;
  let alice: Caller;

  beforeAll(async () => {
    t = await buildTestApp({ dialect });
    alice = await newCaller(t.app);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('uploads a file, answering the original shape with the generated id, and stores it by id', async () => {
    const content = 'hello, files\n';
    const response = await upload(t.app, alice.token, 'notes.txt', content);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<Record<string, unknown>>();
    expect(body).toEqual({
      file_id: expect.stringMatching(UUID) as string,
      id: body.file_id,
      filename: 'notes.txt',
      original_filename: 'notes.txt',
      size: Buffer.byteLength(content),
      mime_type: 'text/plain',
      sha256: sha256(content),
      upload_time: expect.any(String) as string,
      message: 'File uploaded successfully',
      // The document indexing (its own module and suites) may have taken the file already.
      index_status: body.index_status,
    });
    expect(INDEX_STATUSES).toContain(body.index_status);
    expect(Date.parse(body.upload_time as string)).toBeGreaterThan(Date.now() - 60_000);
    const onDisk = path.join(t.config.files.dir, body.file_id as string);
    expect(fs.readFileSync(onDisk, 'utf8')).toBe(content);
    expect(fs.statSync(onDisk).mode & 0o777).toBe(0o600);
    expect(fs.statSync(t.config.files.dir).mode & 0o777).toBe(0o700);
  });

  it('lists only the caller’s files, newest first, with the totals and the indexing fields', async () => {
    const bob = await newCaller(t.app);
    const first = await uploaded(t.app, bob.token, 'a.csv', 'x,y\n1,2\n');
    const second = await uploaded(t.app, bob.token, 'b.md', '# Title\n');
    const page = await list(t.app, bob.token);
    expect(page).toMatchObject({ count: 2, total: 2, total_size: 8 + 8, has_more: false, next_cursor: null });
    expect(page.files.map((file) => file.file_id)).toEqual([second.file_id, first.file_id]);
    const { index_status, index_error, index_progress, index_chunks, ...item } = page.files[0] ?? {};
    expect(item).toEqual({
      file_id: second.file_id,
      filename: 'b.md',
      size: 8,
      upload_time: second.upload_time,
      mime_type: 'text/markdown',
      sha256: sha256('# Title\n'),
    });
    // Set by the document indexing, which may be at work on the file.
    expect(INDEX_STATUSES).toContain(index_status);
    expect(index_error === null || typeof index_error === 'string').toBe(true);
    expect(Number.isInteger(index_progress)).toBe(true);
    expect(index_chunks === null || Number.isInteger(index_chunks)).toBe(true);
    expect(first.mime_type).toBe('text/csv');
  });

  it('pages the list with skip/limit and with a cursor scoped to its owner', async () => {
    const carol = await newCaller(t.app);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.unshift((await uploaded(t.app, carol.token, `f${i}.txt`, `file ${i}`)).file_id);
    const offset = await list(t.app, carol.token, '?skip=1&limit=2');
    expect(offset.files.map((file) => file.file_id)).toEqual(ids.slice(1, 3));
    expect(offset).toMatchObject({
      total: 5,
      count: 5,
      skip: 1,
      limit: 2,
      has_more: true,
      page: 1,
      total_pages: 3,
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const page = await list(t.app, carol.token, query);
      seen.push(...page.files.map((file) => file.file_id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(ids);

    const firstPage = await list(t.app, carol.token, '?limit=2');
    const stolen = await get(
      t.app,
      alice.token,
      `/api/v1/files/list?limit=2&cursor=${firstPage.next_cursor}`,
    );
    expect(stolen.statusCode).toBe(422);
    expect((await get(t.app, carol.token, '/api/v1/files/list?limit=0')).statusCode).toBe(422);
  });

  it('downloads the whole file as stored, with its type, length, ranges and a safe disposition', async () => {
    const content = Buffer.from('0123456789abcdefghij');
    const file = await uploaded(t.app, alice.token, 'digits.txt', content);
    const response = await get(t.app, alice.token, `/api/v1/files/download/${file.file_id}`, {
      'accept-encoding': 'gzip, br',
    });
    expect(response.statusCode).toBe(200);
    expect(response.rawPayload.equals(content)).toBe(true);
    expect(response.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(content.length),
      'accept-ranges': 'bytes',
      etag: `"${file.sha256}"`,
      'content-disposition': `attachment; filename="digits.txt"; filename*=UTF-8''digits.txt`,
      'x-content-type-options': 'nosniff',
    });
    expect(response.headers['content-security-policy']).toContain('sandbox');
    expect(response.headers['content-encoding']).toBeUndefined();
  });

  it('answers one byte range with 206 (first-last, open-ended, suffix), never compressed', async () => {
    const content = Buffer.from('x'.repeat(2000) + 'TAIL');
    const file = await uploaded(t.app, alice.token, 'big.txt', content);
    const url = `/api/v1/files/download/${file.file_id}`;
    const cases: [string, number, number][] = [
      ['bytes=0-9', 0, 9],
      ['bytes=2000-', 2000, 2003],
      ['bytes=-4', 2000, 2003],
      ['bytes=10-999999', 10, 2003],
      ['bytes=0-1999', 0, 1999],
    ];
    for (const [range, start, end] of cases) {
      const response = await get(t.app, alice.token, url, { range, 'accept-encoding': 'gzip' });
      expect(response.statusCode, range).toBe(206);
      expect(response.headers['content-range']).toBe(`bytes ${start}-${end}/${content.length}`);
      expect(response.headers['content-length']).toBe(String(end - start + 1));
      expect(response.headers['content-encoding']).toBeUndefined();
      expect(response.rawPayload.equals(content.subarray(start, end + 1)), range).toBe(true);
    }
    // Several ranges: the whole file (documented); a stale If-Range: the whole file too.
    const multi = await get(t.app, alice.token, url, { range: 'bytes=0-1,5-6' });
    expect(multi.statusCode).toBe(200);
    expect(multi.rawPayload.length).toBe(content.length);
    const stale = await get(t.app, alice.token, url, { range: 'bytes=0-1', 'if-range': '"other"' });
    expect(stale.statusCode).toBe(200);
    const fresh = await get(t.app, alice.token, url, { range: 'bytes=0-1', 'if-range': `"${file.sha256}"` });
    expect(fresh.statusCode).toBe(206);
  });

  it('answers an unsatisfiable range with 416 and Content-Range: bytes */size', async () => {
    const file = await uploaded(t.app, alice.token, 'short.txt', 'short');
    for (const range of ['bytes=5-', 'bytes=100-200', 'bytes=-0']) {
      const response = await get(t.app, alice.token, `/api/v1/files/download/${file.file_id}`, { range });
      expect(response.statusCode, range).toBe(416);
      expect(response.headers['content-range']).toBe('bytes */5');
      expect(response.json()).toMatchObject({ code: 'range_not_satisfiable' });
    }
  });

  it('deletes a file: its row, then its content; a second delete is a 404', async () => {
    const file = await uploaded(t.app, alice.token, 'doomed.txt', 'bye');
    const before = await rowCount(t.app);
    const response = await remove(t.app, alice.token, file.file_id);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      message: 'File deleted successfully',
      filename: 'doomed.txt',
      file_id: file.file_id,
    });
    expect(await rowCount(t.app)).toBe(before - 1);
    expect(fs.existsSync(path.join(t.config.files.dir, file.file_id))).toBe(false);
    expect((await remove(t.app, alice.token, file.file_id)).json()).toMatchObject({
      detail: 'File not found',
      code: 'file_not_found',
    });
    expect((await get(t.app, alice.token, `/api/v1/files/download/${file.file_id}`)).statusCode).toBe(404);
  });

  it('keeps the original’s name-based paths: the caller’s newest file of that exact name', async () => {
    const dave = await newCaller(t.app);
    await uploaded(t.app, dave.token, 'report.pdf.txt', 'old version');
    const newer = await uploaded(t.app, dave.token, 'report.pdf.txt', 'new version');
    const byName = await get(t.app, dave.token, '/api/v1/files/download/report.pdf.txt');
    expect(byName.statusCode).toBe(200);
    expect(byName.body).toBe('new version');
    expect((await get(t.app, dave.token, '/api/v1/files/download/REPORT.pdf.txt')).statusCode).toBe(404);
    const deleted = await remove(t.app, dave.token, 'report.pdf.txt');
    expect(deleted.json()).toMatchObject({ file_id: newer.file_id, filename: 'report.pdf.txt' });
    expect((await get(t.app, dave.token, '/api/v1/files/download/report.pdf.txt')).body).toBe('old version');
  });

  it('keeps unicode names exactly, in the list and in filename*', async () => {
    const names = ['résumé – final.txt', '报告 (草稿).md', 'emoji 😀 "quoted" \\ back.txt', "it's 100%.csv"];
    for (const name of names) {
      const file = await uploaded(t.app, alice.token, name, 'unicode');
      expect(file.filename).toBe(name);
      const response = await get(t.app, alice.token, `/api/v1/files/download/${file.file_id}`);
      const disposition = response.headers['content-disposition'] as string;
      const encoded = /filename\*=UTF-8''(\S+)$/.exec(disposition)?.[1] ?? '';
      expect(decodeURIComponent(encoded)).toBe(name);
      expect(/filename="([^"]*)"/.exec(disposition)?.[1]).toMatch(/^[\x20-\x7e]+$/);
      const byName = await get(t.app, alice.token, `/api/v1/files/download/${encodeURIComponent(name)}`);
      expect(byName.statusCode, name).toBe(200);
    }
    const listed = (await list(t.app, alice.token)).files.map((file) => file.filename);
    for (const name of names) expect(listed).toContain(name);
  });

  it('stores the name with control characters removed, and refuses an empty or over-long one (422)', async () => {
    const file = await uploaded(t.app, alice.token, 'bell\u0007\u0000name.txt', 'x');
    expect(file.filename).toBe('bellname.txt');
    const long = await upload(t.app, alice.token, `${'é'.repeat(252)}.md`, 'x');
    expect(long.statusCode, long.body).toBe(200);
    const tooLong = await upload(t.app, alice.token, `${'é'.repeat(253)}.md`, 'x');
    expect(tooLong.statusCode).toBe(422);
    expect(tooLong.json()).toMatchObject({ detail: [{ loc: ['body', 'file'], type: 'string_too_long' }] });
    const empty = await upload(t.app, alice.token, '', 'x');
    expect(empty.statusCode).toBe(422);
  });

  it('leaves only id-named files in the folder', () => {
    for (const name of filesOnDisk(t.config.files.dir)) expect(name).toMatch(UUID);
  });

  it('answers 401 without a token, before reading any file', async () => {
    const response = await upload(t.app, '', 'x.txt', 'x');
    expect(response.statusCode).toBe(401);
    expect((await get(t.app, undefined, '/api/v1/files/list')).statusCode).toBe(401);
    expect((await get(t.app, undefined, '/api/v1/files/download/x.txt')).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'DELETE', url: '/api/v1/files/delete/x.txt' })).statusCode).toBe(
      401,
    );
  });
});
