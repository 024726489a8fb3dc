// The multipart body of an upload as the service reads it (files.service.ts UploadPart), with @fastify/multipart's
// errors turned into ours. The file's size limit is enforced as the parser reports it: the part's stream is destroyed
// with file_too_large at once, so the upload stops there.
import type { FastifyRequest } from 'fastify';
import { AppError, BadRequestError } from '../../platform/errors.js';
import { fileTooLarge, uploadAborted } from './files.errors.js';
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

export async function* uploadParts(request: FastifyRequest, maxBytes: number): AsyncGenerator<UploadPart> {
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        yield { kind: 'field', name: part.fieldname };
        continue;
      }
      const { file } = part;
      file.once('limit', () => file.destroy(fileTooLarge(maxBytes)));
      yield {
        kind: 'file',
        field: part.fieldname,
        // busboy gives '' for filename="" and undefined for none.
        filename: part.filename,
        stream: file,
        truncated: () => file.truncated,
      };
    }
  } catch (error) {
    throw multipartError(error, maxBytes);
  }
}
