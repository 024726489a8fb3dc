// Errors of the vector index, as HTTP answers them.
import { AppError } from '../../platform/errors.js';

export class DimensionMismatchError extends AppError {
  constructor(expected: number, got: number) {
    super(`This collection holds vectors of dimension ${expected}, not ${got}`, {
      status: 422,
      code: 'dimension_mismatch',
    });
  }
}

/** A configured backend that did not answer (down, timed out, or answered with a server error). */
export class VectorBackendUnavailableError extends AppError {
  constructor(name: string, cause?: unknown) {
    super(`${name} not available`, { status: 503, code: 'vector_backend_unavailable', cause });
  }
}

/** A backend asked for by ?database= whose URL setting is unset. */
export class VectorBackendNotConfiguredError extends AppError {
  constructor(name: string, setting: string) {
    super(`${name} is not configured on this server (${setting} is unset)`, {
      status: 503,
      code: 'vector_backend_not_configured',
    });
  }
}
