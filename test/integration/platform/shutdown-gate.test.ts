// During shutdown, a request that arrives on a connection that is still open (here: pipelined behind a slow one)
// is answered 503 in our error shape with Connection: close, while the request in flight completes.
import net from 'node:net';
import { expect, it } from 'vitest';
import { buildTestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

function readUntilClosed(socket: net.Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const timer = setTimeout(
      () => reject(new Error(`socket still open after ${timeoutMs} ms:\n${data}`)),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on('error', reject);
  });
}

describeEachDialect('shutdown gate', (dialect) => {
  // /health/ready declares its own 503 shape: the gate's error body must not go through it (it was a 500).
  it.each(['/health', '/health/ready'])(
    'lets the request in flight finish and answers the next one (%s) 503 in our shape',
    async (path) => {
      let release: () => void = () => undefined;
      let started: () => void = () => undefined;
      const inFlight = new Promise<void>((resolve) => (started = resolve));
      const t = await buildTestApp({
        dialect,
        extend: (app) => {
          app.get('/slow', async () => {
            started();
            await new Promise<void>((resolve) => (release = resolve));
            return { done: true };
          });
        },
      });
      try {
        const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
        const socket = net.connect(Number(new URL(address).port), '127.0.0.1');
        const response = readUntilClosed(socket, 10_000);
        socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
        await inFlight;
        const closing = t.app.close();
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nX-Request-ID: after-close\r\n\r\n`);
        // Give the pipelined request time to be parsed and queued before the slow one ends (no assertion on time).
        await new Promise((resolve) => setTimeout(resolve, 100));
        release();
        const raw = await response;
        await closing;

        const [first, second] = raw.split(/(?=HTTP\/1\.1 )/);
        expect(first).toMatch(/^HTTP\/1\.1 200 /);
        expect(first).toContain('{"done":true}');
        expect(second).toMatch(/^HTTP\/1\.1 503 /);
        expect(second).toMatch(/\r\nconnection: close\r\n/i);
        expect(second).toMatch(/\r\nx-frame-options: DENY\r\n/i);
        const body = JSON.parse(second?.split('\r\n\r\n')[1] ?? '') as unknown;
        expect(body).toEqual({
          detail: 'Server is shutting down',
          code: 'shutting_down',
          request_id: 'after-close',
        });
      } finally {
        await t.app.close();
        await t.database.drop();
      }
    },
  );
});
