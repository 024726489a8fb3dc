// Server-sent events over a Fastify reply: a PassThrough the reply sends (so every hook, header and metric applies as
// to any answer), with `event:`/`data:` frames and keep-alive comments so proxies and clients do not drop a stream
// that waits minutes for a model's first token. Compression never applies to text/event-stream (http-plugins.ts).
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { stringifyHtmlSafe } from './html-safe-json.js';

export interface SseStream {
  /** One event; `data` is sent as JSON on one line. False once the client is gone. */
  send(event: string, data: unknown): boolean;
  close(): void;
  readonly closed: boolean;
}

export function openSse(reply: FastifyReply, keepAliveMs: number): SseStream {
  const body = new PassThrough();
  let closed = false;
  const keepAlive = setInterval(() => {
    if (!closed) body.write(': keep-alive\n\n');
  }, keepAliveMs);
  keepAlive.unref();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    body.end();
  };
  // The client went away (or the server is closing the socket): stop writing.
  reply.raw.once('close', close);
  void reply
    .code(200)
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache, no-transform')
    // nginx buffers proxied answers unless told not to, which would hold every token back.
    .header('x-accel-buffering', 'no')
    .send(body);
  return {
    send(event, data) {
      if (closed) return false;
      // JSON.stringify never emits a raw newline, so the frame cannot be split or forged by its content; the stream
      // is not JSON to the onSend hook, so each line is made HTML-safe here (html-safe-json.ts).
      body.write(`event: ${event}\ndata: ${stringifyHtmlSafe(data)}\n\n`);
      return true;
    },
    close,
    get closed() {
      return closed;
    },
  };
}
