// Shapes of /api/v1/files: the original's (reference §6.4), with the generated id, the SHA-256 and the indexing
// state added, and the list paged like the chat history (skip/limit, or a cursor).
import { Type, type TSchema } from 'typebox';
import { Cursor, MAX_PAGE_SIZE } from '../../platform/pagination.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const FileRefParams = Type.Object({
  file_id: Type.String({
    minLength: 1,
    maxLength: 1024,
    description:
      'The file_id of one of your files, or (as the original) the name of one: the newest of that name.',
  }),
});

/** Without defaults: no skip, limit or cursor is the original's whole list (up to MAX_PAGE_SIZE files). */
export const FileListQuery = Type.Object({
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
  cursor: Type.Optional(Cursor),
});

const IndexStatus = Nullable(
  Type.Union(
    [Type.Literal('pending'), Type.Literal('indexing'), Type.Literal('ready'), Type.Literal('failed')],
    {
      description: 'Indexing for the chat over documents; null: not indexable, or never asked.',
    },
  ),
);

export const UploadedFile = Type.Object({
  file_id: Type.String({
    description: 'The generated id (the original used the first 16 hex digits of the SHA-256).',
  }),
  id: Type.String({ description: 'The same as file_id.' }),
  filename: Type.String({ description: 'The name as sent (the original prefixed a timestamp).' }),
  original_filename: Type.String(),
  size: Type.Integer(),
  mime_type: Type.String({ description: 'Detected from the content.' }),
  sha256: Type.String(),
  upload_time: Type.String(),
  message: Type.Literal('File uploaded successfully'),
  index_status: IndexStatus,
});

export const FileItem = Type.Object({
  file_id: Type.String(),
  filename: Type.String(),
  size: Type.Integer(),
  upload_time: Type.String(),
  mime_type: Type.String(),
  sha256: Type.String(),
  index_status: IndexStatus,
  index_error: Nullable(Type.String()),
  index_progress: Type.Integer(),
  index_chunks: Nullable(Type.Integer()),
});

export const FileList = Type.Object({
  files: Type.Array(FileItem),
  count: Type.Integer({ description: 'How many files you have (all pages).' }),
  total_size: Type.Integer({ description: 'Their total size in bytes (all pages).' }),
  total: Type.Integer(),
  skip: Type.Integer(),
  limit: Type.Integer(),
  has_more: Type.Boolean(),
  page: Type.Integer(),
  total_pages: Type.Integer(),
  next_cursor: Nullable(Type.String()),
});

export const DeletedFile = Type.Object({
  message: Type.Literal('File deleted successfully'),
  filename: Type.String(),
  file_id: Type.String(),
});
