// What the files module offers the document indexing (app.files), on both dialects: listeners after upload and
// delete whose failures are logged and never fail the request, the index_* columns (set, listed by status, claimed by
// one instance only), and the files folder kept clean at start (a crash's temporary and orphaned files removed, any
// other instance's upload in progress left alone).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { get, newCaller, remove, uploaded, type Caller } from './files.helpers.js';

/** A file row written straight to the database: the indexer (another module) never hears of it. */
async function insertFile(app: App, ownerId: number, name: string, createdAt = new Date()): Promise<string> {
  const id = randomUUID();
  await app.database.db
    .insertInto('files')
    .values({
      id,
      owner_id: ownerId,
      name,
      size: 1,
      media_type: 'text/plain',
      sha256: '0'.repeat(64),
      created_at: createdAt,
    })
    .execute();
  return id;
}

describeEachDialect('files service', (dialect) => {
  let t: TestApp;
  let user: Caller;

  beforeAll(async () => {
    t = await buildTestApp({ dialect, captureLogs: true });
    user = await newCaller(t.app);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('tells upload and delete listeners, logs their failures, and still answers 200', async () => {
    const heard: string[] = [];
    const offUploaded = t.app.files.onUploaded((file) => {
      heard.push(`uploaded ${file.name}`);
      throw new Error('upload listener broke');
    });
    const offDeleted = t.app.files.onDeleted(async (file) => {
      heard.push(
        `deleted ${file.name} ${(await t.app.files.find(file.id)) === undefined ? 'gone' : 'still there'}`,
      );
      throw new Error('delete listener broke');
    });
    try {
      const file = await uploaded(t.app, user.token, 'heard.txt', 'listen');
      const response = await remove(t.app, user.token, file.file_id);
      expect(response.statusCode, response.body).toBe(200);
      expect(heard).toEqual(['uploaded heard.txt', 'deleted heard.txt gone']);
      // Ours only: the document indexing listens too.
      const failures = t.logs.filter((line) =>
        (line.err as { message?: string } | undefined)?.message?.endsWith('listener broke'),
      );
      expect(failures.map((line) => line.msg)).toEqual([
        'a file-uploaded listener failed',
        'a file-deleted listener failed',
      ]);
    } finally {
      offUploaded();
      offDeleted();
    }
  });

  it('records indexing state, lists files by status and a user’s ready ones', async () => {
    const files = t.app.files;
    const other = await newCaller(t.app);
    const a = await insertFile(t.app, user.id, 'a.txt', new Date('2024-01-01T00:00:00Z'));
    const b = await insertFile(t.app, user.id, 'b.txt', new Date('2024-01-02T00:00:00Z'));
    const c = await insertFile(t.app, other.id, 'c.txt');
    expect((await files.find(a))?.indexStatus).toBeNull();

    const updated = await files.setIndexState(a, { status: 'indexing', progress: 3, chunks: 10 });
    expect(updated).toMatchObject({
      indexStatus: 'indexing',
      indexProgress: 3,
      indexChunks: 10,
      indexError: null,
    });
    expect(updated?.indexUpdatedAt).toBeInstanceOf(Date);
    await files.setIndexState(b, { status: 'ready', progress: 4, chunks: 4 });
    await files.setIndexState(c, { status: 'ready' });
    expect(await files.setIndexState(randomUUID(), { status: 'failed' })).toBeUndefined();

    const resumable = (await files.listByIndexStatus(['pending', 'indexing'])).map((file) => file.id);
    expect(resumable).toContain(a);
    expect(resumable).not.toContain(b);
    expect((await files.listReady(user.id)).map((file) => file.id)).toEqual([b]);
    expect((await files.get(user.id, b)).name).toBe('b.txt');
    await expect(files.get(other.id, b)).rejects.toMatchObject({ code: 'file_not_found' });

    // The list shows the state.
    const listed = (await get(t.app, user.token, '/api/v1/files/list')).json<{
      files: { file_id: string }[];
    }>();
    expect(listed.files.find((file) => file.file_id === a)).toMatchObject({
      index_status: 'indexing',
      index_progress: 3,
      index_chunks: 10,
    });
    await files.setIndexState(a, { status: 'failed', error: 'no text' });
    expect(await files.find(a)).toMatchObject({
      indexStatus: 'failed',
      indexError: 'no text',
      indexProgress: 3,
    });
  });

  it('lets one claimer of many take a pending file, and a stale indexing one', async () => {
    const files = t.app.files;
    const id = await insertFile(t.app, user.id, 'claimed.txt');
    await files.setIndexState(id, { status: 'pending' });
    const past = new Date(Date.now() - 60_000);
    const claims = await Promise.all(Array.from({ length: 8 }, () => files.claimForIndexing(id, past)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect((await files.find(id))?.indexStatus).toBe('indexing');
    // Indexing since now: not stale before `past`; stale before the future.
    expect(await files.claimForIndexing(id, past)).toBe(false);
    expect(await files.claimForIndexing(id, new Date(Date.now() + 60_000))).toBe(true);
    await files.setIndexState(id, { status: 'ready' });
    expect(await files.claimForIndexing(id, new Date(Date.now() + 60_000))).toBe(false);
  });

  it('answers a recorded file whose content is missing from disk with 404, and logs it', async () => {
    const file = await uploaded(t.app, user.token, 'vanishing.txt', 'soon gone');
    fs.rmSync(t.app.files.pathOf({ id: file.file_id }));
    const response = await get(t.app, user.token, `/api/v1/files/download/${file.file_id}`);
    expect(response.statusCode).toBe(404);
    expect(t.logs.some((line) => String(line.msg).includes('missing from the files folder'))).toBe(true);
    // Deleting it still works: a missing disk file is not an error.
    expect((await remove(t.app, user.token, file.file_id)).statusCode).toBe(200);
  });

  it('sweeps old files without a row, and keeps recorded ones however old', async () => {
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    const recordedId = await insertFile(t.app, user.id, 'recorded.txt');
    const recorded = t.app.files.pathOf({ id: recordedId });
    const orphan = t.app.files.pathOf({ id: randomUUID() });
    for (const file of [recorded, orphan]) {
      fs.writeFileSync(file, 'x');
      fs.utimesSync(file, old, old);
    }
    expect(await t.app.files.sweep()).toBeGreaterThanOrEqual(1);
    expect(fs.existsSync(recorded)).toBe(true);
    expect(fs.existsSync(orphan)).toBe(false);
  });

  it('answers HEAD with the download’s headers and no body', async () => {
    const file = await uploaded(t.app, user.token, 'head.txt', 'twelve bytes');
    const response = await t.app.inject({
      method: 'HEAD',
      url: `/api/v1/files/download/${file.file_id}`,
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-length']).toBe('12');
    expect(response.body).toBe('');
  });
});

describe('files folder at start', () => {
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.close();
  });

  it('creates the folder owner-only, and removes stale temporary and orphaned files but not recent ones', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-files-'));
    const filesDir = path.join(dir, 'nested', 'files');
    fs.mkdirSync(path.join(filesDir, '.incoming'), { recursive: true });
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    const place = (relative: string, age?: Date) => {
      const file = path.join(filesDir, relative);
      fs.writeFileSync(file, 'leftover');
      if (age) fs.utimesSync(file, age, age);
      return file;
    };
    const staleTemp = place(`.incoming/${randomUUID()}`, old);
    const freshTemp = place(`.incoming/${randomUUID()}`);
    const orphan = place(randomUUID(), old);
    const freshOrphan = place(randomUUID());
    const notOurs = place('README', old);
    try {
      t = await buildTestApp({ env: { FILES_DIR: filesDir } });
      expect(fs.existsSync(staleTemp)).toBe(false);
      expect(fs.existsSync(orphan)).toBe(false);
      expect(fs.existsSync(freshTemp)).toBe(true);
      expect(fs.existsSync(freshOrphan)).toBe(true);
      expect(fs.existsSync(notOurs)).toBe(true);

      const fresh = path.join(dir, 'created', 'files');
      await t.close();
      t = await buildTestApp({ env: { FILES_DIR: fresh } });
      expect(fs.statSync(fresh).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(fresh, '.incoming')).mode & 0o777).toBe(0o700);
    } finally {
      await t?.close();
      t = undefined;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
