// Uploads while they stream, on both dialects over real sockets: a body that stops arriving is dropped with 408
// (FILES_UPLOAD_IDLE_TIMEOUT_MS) and leaves nothing; one user's uploads in progress are capped
// (FILES_MAX_CONCURRENT_UPLOADS, 429 before the body is read, the slot given back however an upload ends); and the
// bytes of a user's uploads still streaming count against the quota, so that two uploads that each fit alone
// cannot together put more than the quota on disk.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { fileBody } from '../../helpers/multipart.js';
import { listen } from '../platform/error-routes.js';
import {
  eventually,
  list,
  newCaller,
  rowCount,
  upload,
  uploadsCounted,
  type Caller,
} from './files.helpers.js';

const KIB = 1024;

interface RawAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * An upload over a raw socket whose body is sent up to `sentBytes` only (the rest by finish()), so that a test
 * holds it in progress. answer() resolves with the status and JSON body once the server has answered.
 */
async function partialUpload(
  baseUrl: string,
  caller: Caller,
  filename: string,
  content: Buffer,
  sentBytes: number,
) {
  const { body, contentType } = fileBody(filename, content);
  const socket = net.connect({ port: Number(new URL(baseUrl).port), host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    const check = () => {
      const split = received.indexOf('\r\n\r\n');
      if (split < 0) return;
      const length = /content-length: (\d+)/i.exec(received.slice(0, split))?.[1];
      const text = received.slice(split + 4);
      if (length === undefined || Buffer.byteLength(text) < Number(length)) return;
      socket.off('data', check);
      resolve({
        status: Number(received.slice(9, 12)),
        body: JSON.parse(text) as Record<string, unknown>,
      });
    };
    socket.on('data', check);
    socket.once('close', () => reject(new Error(`closed without a whole answer: ${received.slice(0, 300)}`)));
  });
  answer.catch(() => undefined);
  socket.write(
    `POST /api/v1/files/upload HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${caller.token}\r\n` +
      `content-type: ${contentType}\r\ncontent-length: ${body.length}\r\n\r\n`,
  );
  socket.write(body.subarray(0, sentBytes));
  return {
    answer,
    finish: () => socket.write(body.subarray(sentBytes)),
    close: () => socket.destroy(),
  };
}

const incomingSizes = (dir: string) =>
  fs.readdirSync(dir).map((name) => fs.statSync(path.join(dir, name)).size);

describeEachDialect('uploads in progress', (dialect) => {
  describe('a stalled body', () => {
    let t: TestApp;
    let baseUrl: string;
    beforeAll(async () => {
      t = await buildTestApp({ dialect, env: { FILES_UPLOAD_IDLE_TIMEOUT_MS: '300' } });
      baseUrl = await listen(t.app);
    });
    afterAll(async () => {
      await t?.close();
    });

    it('is answered 408 upload_timeout, leaves no temporary file and no row, and frees its slot', async () => {
      const caller = await newCaller(t.app);
      const incoming = path.join(t.config.files.dir, '.incoming');
      const rows = await rowCount(t.app);
      const timedOut = await uploadsCounted(t.app, 'timed_out');
      const content = Buffer.alloc(200 * KIB, 's');
      // The cap is 4: five stalled uploads one after another each get their slot back.
      for (let i = 0; i < 5; i += 1) {
        const stalled = await partialUpload(baseUrl, caller, `stalled-${i}.txt`, content, 100 * KIB);
        const { status, body } = await stalled.answer;
        stalled.close();
        expect(status).toBe(408);
        expect(body).toMatchObject({ code: 'upload_timeout', idle_timeout_ms: 300 });
      }
      await eventually(() => fs.readdirSync(incoming).length === 0, 'the temporary files were removed');
      expect(await rowCount(t.app)).toBe(rows);
      expect(await uploadsCounted(t.app, 'timed_out')).toBe(timedOut + 5);
      const after = await upload(t.app, caller.token, 'after.txt', 'fine');
      expect(after.statusCode, after.body).toBe(200);
    });
  });

  describe('the cap and the quota', () => {
    let t: TestApp;
    let baseUrl: string;
    let incoming: string;
    const quota = 2048 * KIB;
    beforeAll(async () => {
      t = await buildTestApp({
        dialect,
        env: {
          FILES_MAX_BYTES: String(1536 * KIB),
          FILES_QUOTA_BYTES: String(quota),
          FILES_MAX_CONCURRENT_UPLOADS: '4',
        },
      });
      baseUrl = await listen(t.app);
      incoming = path.join(t.config.files.dir, '.incoming');
    });
    afterAll(async () => {
      await t?.close();
    });

    it("refuses a user's 5th upload in progress with 429 before reading it; others' uploads and later ones go on", async () => {
      const caller = await newCaller(t.app);
      const other = await newCaller(t.app);
      const content = Buffer.alloc(100 * KIB, 'c');
      const held = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          partialUpload(baseUrl, caller, `held-${i}.txt`, content, 50 * KIB),
        ),
      );
      await eventually(() => fs.readdirSync(incoming).length === 4, 'four uploads are streaming');
      const fifth = await upload(t.app, caller.token, 'fifth.txt', 'five');
      expect(fifth.statusCode).toBe(429);
      expect(fifth.json()).toMatchObject({ code: 'too_many_uploads', max_concurrent_uploads: 4 });
      const theirs = await upload(t.app, other.token, 'theirs.txt', 'another user');
      expect(theirs.statusCode, theirs.body).toBe(200);

      for (const upload of held) upload.finish();
      const answers = await Promise.all(held.map((upload) => upload.answer));
      for (const upload of held) upload.close();
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      const again = await upload(t.app, caller.token, 'again.txt', 'a slot is free');
      expect(again.statusCode, again.body).toBe(200);
      expect((await list(t.app, caller.token)).count).toBe(5);
    });

    it('counts the bytes of an upload still streaming against the quota of the same user', async () => {
      const caller = await newCaller(t.app);
      const size = 1200 * KIB;
      const first = await partialUpload(baseUrl, caller, 'first.txt', Buffer.alloc(size, '1'), size);
      await eventually(
        () => incomingSizes(incoming).some((bytes) => bytes >= size - KIB),
        'the first upload is on disk, not yet stored',
      );
      // Alone it would fit (nothing is stored yet); with the first one's bytes it does not.
      const second = await upload(t.app, caller.token, 'second.txt', Buffer.alloc(size, '2'));
      expect(second.statusCode).toBe(413);
      expect(second.json()).toMatchObject({ code: 'quota_exceeded', used_bytes: 0, quota_bytes: quota });
      expect(second.json<{ in_flight_bytes: number }>().in_flight_bytes).toBeGreaterThanOrEqual(size - KIB);

      first.finish();
      const { status } = await first.answer;
      first.close();
      expect(status).toBe(200);
      const page = await list(t.app, caller.token);
      expect(page.files.map((file) => file.filename)).toEqual(['first.txt']);
      expect(page.total_size).toBe(size);
      await eventually(() => fs.readdirSync(incoming).length === 0, 'no temporary file is left');
    });
  });
});
