// Size limits and the quota on both dialects, over real sockets where it matters: an upload over FILES_MAX_BYTES is
// answered 413 while the client is still sending, which Node's fetch reads (the server answers, then drains the rest
// of the body and closes), and the server's memory does not grow with the body; the quota holds under concurrent
// uploads; a client that disconnects mid-upload leaves neither a temporary file nor a row.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { fileBody, streamedFileBody } from '../../helpers/multipart.js';
import { listen } from '../platform/error-routes.js';
import {
  eventually,
  filesOnDisk,
  list,
  newCaller,
  rowCount,
  upload,
  uploadsCounted,
  type Caller,
} from './files.helpers.js';

const MIB = 1024 * 1024;
const MAX_BYTES = MIB;
const QUOTA_BYTES = 2 * MIB;

async function uploadedBytes(t: TestApp): Promise<number> {
  const metric = t.app.metrics.registry.getSingleMetric('files_uploaded_bytes_total');
  return metric ? ((await metric.get()).values[0]?.value ?? 0) : 0;
}

describeEachDialect('file limits', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  let incoming: string;

  beforeAll(async () => {
    t = await buildTestApp({
      dialect,
      env: { FILES_MAX_BYTES: String(MAX_BYTES), FILES_QUOTA_BYTES: String(QUOTA_BYTES) },
    });
    baseUrl = await listen(t.app);
    incoming = path.join(t.config.files.dir, '.incoming');
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Streams a single-file body of `size` bytes with fetch; the answer, and the highest RSS seen meanwhile. */
  async function streamUpload(caller: Caller, size: number, field = 'file') {
    const { stream, contentType } = streamedFileBody('big.txt', size, { field });
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
    try {
      const response = await fetch(`${baseUrl}/api/v1/files/upload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${caller.token}`, 'content-type': contentType },
        body: stream,
        duplex: 'half',
      });
      const body = (await response.json()) as { code: string; detail: string };
      return { response, body, peak };
    } finally {
      clearInterval(sampler);
    }
  }

  it('answers 413 file_too_large to fetch while it streams 64 MiB, without the body in memory', async () => {
    const caller = await newCaller(t.app);
    const rows = await rowCount(t.app);
    const tooLarge = await uploadsCounted(t.app, 'too_large');
    const before = process.memoryUsage().rss;
    const { response, body, peak } = await streamUpload(caller, 64 * MIB);
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    expect(body).toMatchObject({
      code: 'file_too_large',
      detail: `File too large: more than ${MAX_BYTES} bytes (max ${MAX_BYTES})`,
      max_bytes: MAX_BYTES,
    });
    // Both ends are in this process: neither the client's body nor the server's reading may hold it.
    expect(peak - before).toBeLessThan(32 * MIB);
    expect(fs.readdirSync(incoming)).toEqual([]);
    expect(await rowCount(t.app)).toBe(rows);
    expect(await uploadsCounted(t.app, 'too_large')).toBe(tooLarge + 1);
  });

  it('answers a refusal found before the body has arrived so that fetch reads it (a file in another field)', async () => {
    const caller = await newCaller(t.app);
    const { response, body } = await streamUpload(caller, 8 * MIB, 'upload');
    expect(response.status).toBe(422);
    expect(response.headers.get('connection')).toBe('close');
    expect(body).toMatchObject({
      code: 'validation_error',
      detail: [{ loc: ['body', 'file'], type: 'missing' }],
    });
    expect(fs.readdirSync(incoming)).toEqual([]);
  });

  it('accepts a file of exactly FILES_MAX_BYTES', async () => {
    const caller = await newCaller(t.app);
    const response = await upload(t.app, caller.token, 'exact.txt', Buffer.alloc(MAX_BYTES, 'a'));
    expect(response.statusCode, response.body).toBe(200);
    const over = await upload(t.app, caller.token, 'over.txt', Buffer.alloc(MAX_BYTES + 1, 'a'));
    expect(over.statusCode).toBe(413);
    expect(over.json()).toMatchObject({ code: 'file_too_large' });
  });

  it('refuses an upload past the quota with 413 quota_exceeded naming it, also to fetch mid-stream', async () => {
    const caller = await newCaller(t.app);
    const bytes = await uploadedBytes(t);
    for (const name of ['one.txt', 'two.txt']) {
      const response = await upload(t.app, caller.token, name, Buffer.alloc(MIB, 'q'));
      expect(response.statusCode, response.body).toBe(200);
    }
    expect(await uploadedBytes(t)).toBe(bytes + 2 * MIB);
    const full = await upload(t.app, caller.token, 'one-more.txt', 'x');
    expect(full.statusCode).toBe(413);
    expect(full.json()).toMatchObject({
      code: 'quota_exceeded',
      quota_bytes: QUOTA_BYTES,
      used_bytes: 2 * MIB,
    });
    expect(full.json<{ detail: string }>().detail).toContain(`${QUOTA_BYTES} bytes`);

    const streamed = await streamUpload(caller, MIB);
    expect(streamed.response.status).toBe(413);
    expect(streamed.body.code).toBe('quota_exceeded');
    expect(fs.readdirSync(incoming)).toEqual([]);
    expect((await list(t.app, caller.token)).total_size).toBe(2 * MIB);
  });

  it('holds the quota against 4 concurrent uploads: exactly those that fit are stored', async () => {
    const caller = await newCaller(t.app);
    const size = 600_000;
    const responses = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        upload(t.app, caller.token, `race-${i}.txt`, Buffer.alloc(size, 'r')),
      ),
    );
    const statuses = responses.map((response) => response.statusCode).sort();
    const fitting = Math.floor(QUOTA_BYTES / size);
    expect(statuses).toEqual([...Array<number>(fitting).fill(200), ...Array<number>(4 - fitting).fill(413)]);
    for (const refused of responses.filter((response) => response.statusCode === 413))
      expect(refused.json()).toMatchObject({ code: 'quota_exceeded' });
    const page = await list(t.app, caller.token);
    expect(page.count).toBe(fitting);
    expect(page.total_size).toBeLessThanOrEqual(QUOTA_BYTES);
    expect(fs.readdirSync(incoming)).toEqual([]);
    // Every stored file has its row and every row its file.
    const onDisk = new Set(filesOnDisk(t.config.files.dir));
    for (const file of page.files) expect(onDisk.has(file.file_id)).toBe(true);
  });

  it('stores 50 uploads of one user, 4 at a time, each under its own id', async () => {
    const caller = await newCaller(t.app);
    const responses = [];
    for (let batch = 0; batch < 50; batch += 4) {
      responses.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(4, 50 - batch) }, (_, j) =>
            upload(t.app, caller.token, `parallel-${batch + j}.txt`, `file number ${batch + j}`),
          ),
        )),
      );
    }
    for (const response of responses) expect(response.statusCode, response.body).toBe(200);
    const ids = responses.map((response) => response.json<{ file_id: string }>().file_id);
    expect(new Set(ids).size).toBe(50);
    const page = await list(t.app, caller.token);
    expect(page.count).toBe(50);
    expect(new Set(page.files.map((file) => file.file_id))).toEqual(new Set(ids));
  });

  it('leaves no temporary file and no row when the client disconnects mid-upload', async () => {
    const caller = await newCaller(t.app);
    const rows = await rowCount(t.app);
    const aborted = await uploadsCounted(t.app, 'aborted');
    const { body, contentType } = fileBody('interrupted.txt', Buffer.alloc(900 * 1024, 'i'));
    const { port } = new URL(baseUrl);
    const socket = net.connect({ port: Number(port), host: '127.0.0.1' });
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /api/v1/files/upload HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${caller.token}\r\n` +
        `content-type: ${contentType}\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.subarray(0, 300 * 1024));
    // The server is writing the file: then the client goes away.
    await eventually(() => fs.readdirSync(incoming).length > 0, 'the upload reached the disk');
    socket.destroy();
    await eventually(() => fs.readdirSync(incoming).length === 0, 'the temporary file was removed');
    await eventually(
      async () => (await uploadsCounted(t.app, 'aborted')) === aborted + 1,
      'the upload was counted as aborted',
    );
    expect(await rowCount(t.app)).toBe(rows);
    expect((await list(t.app, caller.token)).count).toBe(0);
  });
});
