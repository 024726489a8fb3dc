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
