// The multipart body of an upload as the service reads it (files.service.ts UploadPart), with @fastify/multipart's
// errors turned into ours. The file's size limit is enforced as the parser reports it: the part's stream is destroyed
// with file_too_large at once, so the upload stops there.
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { AppError, BadRequestError } from '../../platform/errors.js';
import { fileTooLarge, uploadAborted, uploadTimedOut } from './files.errors.js';
import type { UploadPart } from './files.service.js';

/** busboy's own limits for one upload: one file, and a few small fields (the original reads `file` only). */
export function multipartLimits(maxBytes: number) {
  return {
    fileSize: maxBytes,
    files: 1,
    fields: 16,
    fieldSize: 4096,
    fieldNameSize: 100,
    parts: 32,
    headerPairs: 32,
  };
}

/** An error of @fastify/multipart or busboy, as one of ours. */
export function multipartError(error: unknown, maxBytes: number): unknown {
  if (error instanceof AppError) return error;
  switch ((error as { code?: unknown }).code) {
    case 'FST_FILES_LIMIT':
      return new BadRequestError('Send one file per upload', 'too_many_files');
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new BadRequestError('The upload has too many form fields', 'too_many_fields');
    case 'FST_PROTO_VIOLATION':
      return new BadRequestError('A form field has a reserved name', 'invalid_field_name');
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new BadRequestError('A form field declared as JSON is not valid JSON', 'invalid_field');
    case 'FST_REQ_FILE_TOO_LARGE':
      return fileTooLarge(maxBytes);
    case 'FST_MP_PREMATURE_CLOSE':
    case 'ECONNRESET':
      return uploadAborted(error);
    default:
      // busboy's: no boundary, a malformed part header, the body ending inside a part.
      return error instanceof Error
        ? new BadRequestError('The multipart body is malformed', 'malformed_multipart')
        : error;
  }
}

function ignore(): void {}

/**
 * The parts of the request's multipart body (Fastify's requestTimeout is 0: nothing else bounds a stalled one). When no byte of the body arrives for `idleMs`, the upload times out: the
 * file part being read is destroyed with upload_timeout (its pipeline to the temporary file ends, and the intake
 * removes the file), and a wait for the next part fails with it. The route then answers 408 and closes the
 * connection (the lingering close bounds what is left of it).
 */
export async function* uploadParts(
  request: FastifyRequest,
  maxBytes: number,
  idleMs: number,
): AsyncGenerator<UploadPart> {
  const raw = request.raw;
  const parts = request.parts();
  let file: Readable | undefined;
  let expire: (error: AppError) => void = ignore;
  const expired = new Promise<never>((_resolve, reject) => (expire = reject));
  // Handled: when it fires while a part is being read, nothing waits on it (the part's stream carries the error).
  expired.catch(ignore);
  const idle = setTimeout(() => {
    const error = uploadTimedOut(idleMs);
    expire(error);
    file?.destroy(error);
  }, idleMs);
  const refresh = () => idle.refresh();
  const stop = () => {
    clearTimeout(idle);
    raw.off('data', refresh);
    raw.off('end', stop);
  };
  try {
    // The first call starts the parser, which pipes the request into itself: listening to 'data' from then on
    // takes nothing from it.
    let next = parts.next();
    raw.on('data', refresh);
    // The whole body has arrived: the rest (storing the file) is not the client's to hold up.
    raw.once('end', stop);
    for (;;) {
      const step = await Promise.race([next, expired]);
      if (step.done === true) return;
      const part = step.value;
      if (part.type === 'field') {
        yield { kind: 'field', name: part.fieldname };
      } else {
        const stream = part.file;
        file = stream;
        // Destroyed with our errors (too large, timed out) also while nothing reads it yet: never an unhandled error.
        stream.on('error', ignore);
        stream.once('limit', () => stream.destroy(fileTooLarge(maxBytes)));
        yield {
          kind: 'file',
          field: part.fieldname,
          // busboy gives '' for filename="" and undefined for none.
          filename: part.filename,
          stream,
          truncated: () => stream.truncated,
        };
      }
      next = parts.next();
    }
  } catch (error) {
    throw multipartError(error, maxBytes);
  } finally {
    stop();
    // Not awaited: after a time-out, the parser's pending read only ends with the connection.
    parts.return?.(undefined).catch(ignore);
  }
}
