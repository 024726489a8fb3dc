// Whose files, and what a request can name, on both dialects: another user's file does not exist for the caller (by
// id or by name), names are only names (a traversal name is stored for display and finds nothing but the caller's
// own file of that exact name, the disk holds id-named files only), and malformed uploads get a clear 4xx that
// leaves nothing behind.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { fileBody, multipartBody } from '../../helpers/multipart.js';
import {
  UUID,
  filesOnDisk,
  get,
  list,
  newCaller,
  postBody,
  remove,
  rowCount,
  uploadParts,
  uploaded,
  type Caller,
} from './files.helpers.js';

describeEachDialect('file access', (dialect) => {
  let t: TestApp;
  let alice: Caller;
  let bob: Caller;

  beforeAll(async () => {
    t = await buildTestApp({ dialect });
    alice = await newCaller(t.app);
    bob = await newCaller(t.app);
  });
  afterAll(async () => {
    await t?.close();
  });

  const download = (caller: Caller, ref: string) => get(t.app, caller.token, `/api/v1/files/download/${ref}`);

  it('answers another user’s file as missing, by id and by name, and lists only the caller’s own', async () => {
    const secret = await uploaded(t.app, alice.token, 'alice-secret.txt', 'for alice only');
    for (const ref of [secret.file_id, 'alice-secret.txt']) {
      const response = await download(bob, ref);
      expect(response.statusCode, ref).toBe(404);
      expect(response.json()).toMatchObject({ detail: 'File not found', code: 'file_not_found' });
      expect((await remove(t.app, bob.token, ref)).statusCode).toBe(404);
    }
    const missing = await download(bob, '00000000-0000-4000-8000-000000000000');
    expect(missing.json()).toMatchObject({ detail: 'File not found', code: 'file_not_found' });
    expect((await list(t.app, bob.token)).files.map((file) => file.file_id)).not.toContain(secret.file_id);
    expect((await download(alice, secret.file_id)).body).toBe('for alice only');
  });

  it('stores traversal names as names, keeps only id-named files on disk, and finds only the caller’s own', async () => {
    const names = [
      '../../etc/passwd',
      '..\\..\\windows\\win.ini',
      '/absolute/path.txt',
      '%2e%2e%2fencoded.txt',
      '..%2F..%2Fetc%2Fpasswd',
      'nul\u0000byte.txt',
    ];
    const stored = new Map<string, string>();
    for (const name of names) {
      const file = await uploaded(t.app, alice.token, name, `content of ${name.replace('\u0000', '')}`);
      stored.set(file.filename, file.file_id);
    }
    // The client's name exactly, but for the NUL (control characters are removed).
    expect([...stored.keys()]).toEqual(names.map((name) => name.replace('\u0000', '')));
    for (const entry of filesOnDisk(t.config.files.dir)) expect(entry).toMatch(UUID);

    // Looked up as names, encoded every way: the caller's own file of exactly that name, and nothing else.
    const lookups: [string, string | undefined][] = [
      [encodeURIComponent('../../etc/passwd'), '../../etc/passwd'],
      ['..%2F..%2Fetc%2Fpasswd', '../../etc/passwd'],
      ['%2e%2e%2f%2e%2e%2fetc%2fpasswd', '../../etc/passwd'],
      [encodeURIComponent('..%2F..%2Fetc%2Fpasswd'), '..%2F..%2Fetc%2Fpasswd'],
      [encodeURIComponent('..\\..\\windows\\win.ini'), '..\\..\\windows\\win.ini'],
      ['..%5C..%5Cetc%5Cpasswd', undefined],
      ['%2e%2e%2f', undefined],
      ['nul%00byte.txt', undefined],
      ['%2Fetc%2Fpasswd', undefined],
    ];
    for (const [ref, name] of lookups) {
      const response = await download(alice, ref);
      if (name === undefined) {
        expect(response.statusCode, ref).toBe(404);
      } else {
        expect(response.statusCode, ref).toBe(200);
        expect(response.body).toBe(`content of ${name}`);
      }
      // Another user finds nothing at all.
      expect((await download(bob, ref)).statusCode, ref).toBe(404);
    }
    // Paths the router itself refuses to match are 404s too, never a file.
    expect((await get(t.app, alice.token, '/api/v1/files/download/../../etc/passwd')).statusCode).toBe(404);
    expect((await download(alice, '..%2F..%2F..%2F..%2Fetc%2Fhostname')).statusCode).toBe(404);
  });

  it.each<[string, () => ReturnType<typeof multipartBody>, number, string]>([
    ['a file in another field', () => fileBody('a.txt', 'x', 'upload'), 422, 'validation_error'],
    [
      'only a text field',
      () => multipartBody([{ kind: 'field', field: 'file', value: 'not a file' }]),
      422,
      'validation_error',
    ],
    ['no part at all', () => multipartBody([]), 422, 'validation_error'],
    [
      'two files',
      () =>
        multipartBody([
          { filename: 'one.txt', content: 'one' },
          { filename: 'two.txt', content: 'two' },
        ]),
      400,
      'too_many_files',
    ],
    [
      'a file part without a name',
      () => multipartBody([{ content: 'x', contentType: 'application/octet-stream' }]),
      422,
      'validation_error',
    ],
    [
      'a body cut short inside the file',
      () => {
        const { body, contentType } = fileBody('cut.txt', 'x'.repeat(10_000));
        return { body: body.subarray(0, 5_000), contentType };
      },
      400,
      'upload_aborted',
    ],
    [
      'no boundary',
      () => ({ body: Buffer.from('whatever'), contentType: 'multipart/form-data' }),
      400,
      'malformed_multipart',
    ],
  ])('refuses %s with a clear 4xx and leaves nothing behind', async (_case, body, status, code) => {
    const before = { rows: await rowCount(t.app), disk: filesOnDisk(t.config.files.dir) };
    const response = await postBody(t.app, alice.token, body());
    expect(response.statusCode, response.body).toBe(status);
    expect(response.json()).toMatchObject({ code });
    if (status === 422) {
      expect(response.json()).toMatchObject({ detail: [{ loc: ['body', 'file'] }] });
    }
    expect(await rowCount(t.app)).toBe(before.rows);
    expect(filesOnDisk(t.config.files.dir)).toEqual(before.disk);
  });

  it('ignores extra text fields beside the file', async () => {
    const response = await uploadParts(t.app, alice.token, [
      { kind: 'field', field: 'description', value: 'kept out' },
      { filename: 'with-fields.txt', content: 'hello' },
      { kind: 'field', field: 'after', value: 'also ignored' },
    ]);
    expect(response.statusCode, response.body).toBe(200);
  });

  it('refuses a body that is not multipart, or is compressed, with 415', async () => {
    const json = await t.app.inject({
      method: 'POST',
      url: '/api/v1/files/upload',
      headers: bearer(alice.token),
      payload: { file: 'not a file' },
    });
    expect(json.statusCode).toBe(415);
    expect(json.json<{ detail: string }>().detail).toContain('multipart/form-data');
    const text = await t.app.inject({
      method: 'POST',
      url: '/api/v1/files/upload',
      headers: { ...bearer(alice.token), 'content-type': 'text/plain' },
      payload: 'plain',
    });
    expect(text.statusCode).toBe(415);
    const { body, contentType } = fileBody('zipped.txt', 'hello');
    const gzipped = await t.app.inject({
      method: 'POST',
      url: '/api/v1/files/upload',
      headers: { ...bearer(alice.token), 'content-type': contentType, 'content-encoding': 'gzip' },
      payload: gzipSync(body),
    });
    expect(gzipped.statusCode).toBe(415);
  });
});
