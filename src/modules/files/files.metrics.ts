// files_uploads_total{outcome}: upload requests by how they ended; files_uploaded_bytes_total: bytes of the uploads
// that were stored.
import { Counter, type Registry } from 'prom-client';

export type UploadOutcome =
  | 'success'
  | 'too_large'
  | 'quota_exceeded'
  | 'unsupported_type'
  | 'invalid'
  | 'aborted'
  | 'timed_out'
  | 'too_many'
  | 'error';

export interface FilesMetrics {
  upload(outcome: UploadOutcome, bytes?: number): void;
}

export function createFilesMetrics(registry: Registry): FilesMetrics {
  const uploads = new Counter({
    name: 'files_uploads_total',
    help:
      'File uploads by outcome (success, too_large, quota_exceeded, unsupported_type, invalid, aborted, ' +
      'timed_out, too_many, error).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'files_uploaded_bytes_total',
    help: 'Bytes of the files uploaded and stored.',
    registers: [registry],
  });
  return {
    upload: (outcome, size) => {
      uploads.inc({ outcome });
      if (size !== undefined && size > 0) bytes.inc(size);
    },
  };
}
