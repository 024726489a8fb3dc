// /api/v1/files/index/{file_id}: a file's index state, and indexing it again (the upload starts it for the types
// whose text can be read).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { caller } from '../auth/index.js';
import type { DocumentFile } from './document-files.port.js';
import type { DocumentsService } from './documents.service.js';

const tags = ['files'];
const security = [{ bearerAuth: [] }];
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

const FileIdParams = Type.Object({ file_id: Type.String({ minLength: 1, maxLength: 128 }) });
const IndexState = Type.Object({
  file_id: Type.String(),
  index_status: Nullable(
    Type.Union(
      [Type.Literal('pending'), Type.Literal('indexing'), Type.Literal('ready'), Type.Literal('failed')],
      {
        description: 'null: never indexed (its type has no text to read).',
      },
    ),
  ),
  index_error: Nullable(Type.String({ description: 'Why the indexing failed.' })),
  index_progress: Type.Integer({ description: 'Chunks embedded and stored so far.' }),
  index_chunks: Nullable(Type.Integer({ description: 'Chunks of the file, once its text is read.' })),
});

export function indexStateView(file: DocumentFile) {
  return {
    file_id: file.id,
    index_status: file.indexStatus,
    index_error: file.indexError,
    index_progress: file.indexProgress,
    index_chunks: file.indexChunks,
  };
}

export const documentsRoutes: FastifyPluginAsyncTypebox<{ documents: DocumentsService }> = async (
  app,
  { documents },
) => {
  app.addHook('onRequest', app.authenticate);

  app.get(
    '/index/:file_id',
    {
      schema: {
        tags,
        security,
        summary: 'The index state of one of your files',
        params: FileIdParams,
        response: { 200: IndexState },
      },
    },
    async (request) => indexStateView(await documents.state(caller(request).user.id, request.params.file_id)),
  );

  app.post(
    '/index/:file_id',
    {
      schema: {
        tags,
        security,
        summary:
          'Index one of your files again (text, markdown, CSV, JSON, PDF, DOCX); it runs in the background',
        params: FileIdParams,
        response: { 202: IndexState },
      },
    },
    async (request, reply) => {
      const file = await documents.reindex(caller(request).user.id, request.params.file_id);
      return reply.code(202).send(indexStateView(file));
    },
  );
};
