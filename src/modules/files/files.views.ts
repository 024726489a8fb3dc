// Files as the API shows them (snake_case, ISO times).
import type { FileRecord } from './files.repository.js';

export function uploadedFile(file: FileRecord) {
  return {
    file_id: file.id,
    id: file.id,
    filename: file.name,
    original_filename: file.name,
    size: file.size,
    mime_type: file.mediaType,
    sha256: file.sha256,
    upload_time: file.createdAt.toISOString(),
    message: 'File uploaded successfully' as const,
    index_status: file.indexStatus,
  };
}

export function fileItem(file: FileRecord) {
  return {
    file_id: file.id,
    filename: file.name,
    size: file.size,
    upload_time: file.createdAt.toISOString(),
    mime_type: file.mediaType,
    sha256: file.sha256,
    index_status: file.indexStatus,
    index_error: file.indexError,
    index_progress: file.indexProgress,
    index_chunks: file.indexChunks,
  };
}
