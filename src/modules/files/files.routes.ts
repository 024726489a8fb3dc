// /api/v1/files: upload (multipart, streamed to disk), the caller's list (paged), download (streamed, with byte
// ranges) and delete. {file_id} is one of the caller's ids or, as in the original's paths, one of its file names.
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, offsetPage } from '../../platform/pagination.js';
import { caller } from '../auth/index.js';
import { parseRange } from './byte-range.js';
import { attachmentDisposition } from './content-disposition.js';
import { DeletedFile, FileList, FileListQuery, FileRefParams, UploadedFile } from './files.schemas.js';
import type { FilesService } from './files.service.js';
import { fileItem, uploadedFile } from './files.views.js';
import { multipartLimits, uploadParts } from './upload-parts.js';

const tags = ['files'];
const security: Record<string, string[]>[] = [{ bearerAuth: [] }];

/**
 * A download is never run or rendered in the browser's origin, whatever its type: a sandboxed document that may
 * load nothing (the global nosniff and attachment do the rest).
 */
export const DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'";

export interface FilesRoutesOptions {
  files: FilesService;
  maxBytes: number;
  /** An upload whose body stops arriving for this long is answered 408 (FILES_UPLOAD_IDLE_TIMEOUT_MS). */
  uploadIdleTimeoutMs: number;
}

/**
 * An answer given while the body is still arriving (a refusal mid-upload) ends the connection: the lingering close
 * (platform/lingering-close.ts) then reads the rest of the body away so that the client can read the answer.
 */
function closeIfBodyUnread(request: FastifyRequest, reply: FastifyReply): void {
  if (!request.raw.complete) void reply.header('connection', 'close');
}

function contentType(mediaType: string): string {
  return mediaType.startsWith('text/') ? `${mediaType}; charset=utf-8` : mediaType;
}

export const filesRoutes: FastifyPluginAsyncTypebox<FilesRoutesOptions> = async (
  app,
  { files, maxBytes, uploadIdleTimeoutMs },
) => {
  // Here only: multipart bodies are for uploads. preservePath keeps the client's name exactly (busboy would cut it
  // to its last path segment); it is only ever displayed and compared, never used as a path.
  await app.register(multipart, { limits: multipartLimits(maxBytes), preservePath: true });

  app.post(
    '/upload',
    {
      onRequest: app.authenticate,
      // The body is read by busboy from the request itself: a Content-Encoding is refused below, not inflated.
      decompress: false,
      schema: {
        tags,
        summary:
          'Upload a file (multipart/form-data, field "file"); its type is detected from its content. At most ' +
          'FILES_MAX_CONCURRENT_UPLOADS per user at a time (429); a stalled body is dropped (408)',
        security,
        consumes: ['multipart/form-data'],
        response: { 200: UploadedFile },
      },
    },
    async (request, reply) => {
      const { user } = caller(request);
      try {
        const encoding = request.headers['content-encoding'];
        if (!request.isMultipart() || (encoding !== undefined && encoding.toLowerCase() !== 'identity')) {
          throw new AppError(
            'Send the file as multipart/form-data, in the field "file", without Content-Encoding',
            {
              status: 415,
              code: 'unsupported_media_type',
            },
          );
        }
        return uploadedFile(await files.upload(user.id, uploadParts(request, maxBytes, uploadIdleTimeoutMs)));
      } catch (error) {
        closeIfBodyUnread(request, reply);
        throw error;
      }
    },
  );

  app.get(
    '/list',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Your files, newest first (skip/limit or cursor; none of them: up to 500)',
        security,
        querystring: FileListQuery,
        response: { 200: FileList },
      },
    },
    async (request) => {
      const { user } = caller(request);
      const { cursor } = request.query;
      const paged =
        request.query.skip !== undefined || request.query.limit !== undefined || cursor !== undefined;
      const skip = request.query.skip ?? 0;
      const limit = request.query.limit ?? (paged ? DEFAULT_PAGE_SIZE : MAX_PAGE_SIZE);
      const page = await files.list(user.id, { skip, limit, ...(cursor === undefined ? {} : { cursor }) });
      const { items, ...envelope } = offsetPage(page.items.map(fileItem), page.total, skip, limit);
      return {
        files: items,
        count: page.total,
        total_size: page.totalBytes,
        ...envelope,
        has_more: cursor === undefined ? envelope.has_more : page.nextCursor !== null,
        next_cursor: page.nextCursor,
      };
    },
  );

  app.get(
    '/download/:file_id',
    {
      onRequest: app.authenticate,
      // Never compressed: Content-Length and Content-Range count the stored bytes (a 206 must not be encoded).
      compress: false,
      schema: {
        tags,
        summary: 'Download one of your files (Range: one byte range → 206; several → the whole file)',
        security,
        params: FileRefParams,
      },
    },
    async (request, reply) => {
      const { user } = caller(request);
      const file = await files.resolve(user.id, request.params.file_id);
      const etag = `"${file.sha256}"`;
      void reply.header('accept-ranges', 'bytes').header('etag', etag);
      // If-Range: the range only applies to the representation the client has (a date never matches: no
      // Last-Modified is sent).
      const ifRange = request.headers['if-range'];
      const range =
        ifRange === undefined || ifRange === etag ? parseRange(request.headers.range, file.size) : undefined;
      if (range?.kind === 'unsatisfiable') {
        void reply.header('content-range', `bytes */${file.size}`);
        throw new AppError(`Range Not Satisfiable: the file has ${file.size} bytes`, {
          status: 416,
          code: 'range_not_satisfiable',
        });
      }
      const partial = range?.kind === 'partial' ? range : undefined;
      const stream = await files.open(file, partial);
      void reply
        .header('content-type', contentType(file.mediaType))
        .header('content-disposition', attachmentDisposition(file.name))
        .header('content-security-policy', DOWNLOAD_CSP)
        .header('cache-control', 'private, no-store');
      if (partial) {
        void reply
          .code(206)
          .header('content-range', `bytes ${partial.start}-${partial.end}/${file.size}`)
          .header('content-length', String(partial.end - partial.start + 1));
      } else {
        void reply.header('content-length', String(file.size));
      }
      return reply.send(stream);
    },
  );

  app.delete(
    '/delete/:file_id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Delete one of your files',
        security,
        params: FileRefParams,
        response: { 200: DeletedFile },
      },
    },
    async (request) => {
      const { user } = caller(request);
      const file = await files.delete(user.id, request.params.file_id);
      return { message: 'File deleted successfully' as const, filename: file.name, file_id: file.id };
    },
  );
};
