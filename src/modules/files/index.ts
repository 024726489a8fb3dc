// What other modules (the document indexing) may use of the files module.
export { default as filesPlugin, type FilesPluginOptions } from './files.plugin.js';
export type {
  DeletedListener,
  FileListener,
  FilePage,
  FilesService,
  UploadPart,
  UploadedListener,
} from './files.service.js';
export type { FileRecord, IndexStatePatch } from './files.repository.js';
export type { FileIndexStatus } from '../../platform/db/schema.js';
