// multipart/form-data bodies written by hand, as browsers write them: in one buffer for app.inject, or as a stream
// generated piece by piece (a body of any size without holding it) for fetch over a real socket.
import { randomBytes } from 'node:crypto';

export interface FilePart {
  kind?: 'file';
  /** The form field; `file` unless said. */
  field?: string;
  /** Sent as filename="…" (UTF-8, `"` and `\` escaped); omitted when undefined. */
  filename?: string;
  content: Buffer | string;
  contentType?: string;
}

export interface FieldPart {
  kind: 'field';
  field: string;
  value: string;
}

export type Part = FilePart | FieldPart;

export interface MultipartBody {
  body: Buffer;
  contentType: string;
}

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, (char) => `\\${char}`)}"`;
}

function partHead(boundary: string, part: Part): string {
  if (part.kind === 'field') {
    return `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(part.field)}\r\n\r\n`;
  }
  const filename = part.filename === undefined ? '' : `; filename=${quoted(part.filename)}`;
  return (
    `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(part.field ?? 'file')}${filename}\r\n` +
    `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`
  );
}

export function newBoundary(): string {
  return `----sutazai-test-${randomBytes(8).toString('hex')}`;
}

export function multipartBody(parts: Part[], boundary = newBoundary()): MultipartBody {
  const pieces: Buffer[] = [];
  for (const part of parts) {
    pieces.push(Buffer.from(partHead(boundary, part), 'utf8'));
    pieces.push(Buffer.from(part.kind === 'field' ? part.value : part.content));
    pieces.push(Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(pieces), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** One file as a multipart body. */
export function fileBody(filename: string, content: Buffer | string, field = 'file'): MultipartBody {
  return multipartBody([{ field, filename, content }]);
}

export interface StreamedBody {
  stream: ReadableStream<Uint8Array>;
  contentType: string;
  /** Bytes of the whole body, envelope included. */
  length: number;
}

/**
 * A single-file multipart body of `size` bytes of file content, generated in `chunkBytes` pieces (one reused buffer:
 * the client holds no more than a piece at a time).
 */
export function streamedFileBody(
  filename: string,
  size: number,
  { chunkBytes = 64 * 1024, field = 'file' }: { chunkBytes?: number; field?: string } = {},
): StreamedBody {
  const boundary = newBoundary();
  const head = Buffer.from(partHead(boundary, { field, filename, content: '' }), 'utf8');
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const piece = Buffer.alloc(chunkBytes, 'x');
  let sent = -1;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent < 0) {
        sent = 0;
        controller.enqueue(new Uint8Array(head));
        return;
      }
      if (sent >= size) {
        controller.enqueue(new Uint8Array(tail));
        controller.close();
        return;
      }
      const length = Math.min(chunkBytes, size - sent);
      sent += length;
      // A copy per piece: the reader may keep it until it is written.
      controller.enqueue(new Uint8Array(piece.subarray(0, length)));
    },
  });
  return {
    stream,
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: head.length + size + tail.length,
  };
}
