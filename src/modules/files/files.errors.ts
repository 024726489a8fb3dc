// The files module's refusals: stable codes, and messages that name the limit they hit.
import { AppError, NotFoundError, ValidationFailedError } from '../../platform/errors.js';

export const MAX_NAME_CHARS = 255;

export function fileNotFound(): NotFoundError {
  return new NotFoundError('File not found', 'file_not_found');
}

export function fileTooLarge(maxBytes: number): AppError {
  return new AppError(`File too large: more than ${maxBytes} bytes (max ${maxBytes})`, {
    status: 413,
    code: 'file_too_large',
    fields: { max_bytes: maxBytes },
  });
}

/**
 * `inFlightBytes`: what the owner's other uploads in progress have already received; they count against the quota
 * as stored files do, so that parallel uploads cannot together fill the disk past it before any is stored.
 */
export function quotaExceeded(quotaBytes: number, usedBytes: number, inFlightBytes = 0): AppError {
  const left = Math.max(0, quotaBytes - usedBytes - inFlightBytes);
  const inFlight = inFlightBytes > 0 ? `, ${inFlightBytes} are taken by your other uploads in progress` : '';
  return new AppError(
    `Storage quota exceeded: your files may take ${quotaBytes} bytes in all; ${usedBytes} are used${inFlight}, ` +
      `and this upload is larger than the ${left} left. Delete files to make room.`,
    {
      status: 413,
      code: 'quota_exceeded',
      fields: { quota_bytes: quotaBytes, used_bytes: usedBytes, in_flight_bytes: inFlightBytes },
    },
  );
}

/** The original's message ("File type X not allowed", then a 400), with the reason; 415 here. */
export function typeNotAllowed(mediaType: string, allowed: readonly string[]): AppError {
  return new AppError(
    `File type ${mediaType} not allowed (the type is detected from the file's content, not its name or ` +
      `Content-Type; allowed: ${allowed.join(', ')})`,
    { status: 415, code: 'unsupported_file_type', fields: { media_type: mediaType } },
  );
}

export function fileFieldIssue(msg: string, type: string): ValidationFailedError {
  return new ValidationFailedError([{ loc: ['body', 'file'], msg, type }]);
}

export function missingFile(): ValidationFailedError {
  return fileFieldIssue(
    'Field required: send the file as multipart/form-data in the field "file"',
    'missing',
  );
}

/** The client's body broke off, or its multipart framing did, before the file was complete. */
export function uploadAborted(cause?: unknown): AppError {
  return new AppError('The upload ended before the file was complete', {
    status: 400,
    code: 'upload_aborted',
    cause,
  });
}

/** The client stopped sending its body for `idleMs`: the upload is dropped (nothing is stored). */
export function uploadTimedOut(idleMs: number): AppError {
  return new AppError(
    `Upload timed out: no data arrived for ${idleMs} ms, so the upload was dropped and nothing was stored. ` +
      'Send the file again.',
    { status: 408, code: 'upload_timeout', fields: { idle_timeout_ms: idleMs } },
  );
}

/** A 5th upload while the same user's 4 are still in progress (in this process). */
export function tooManyUploads(max: number): AppError {
  return new AppError(
    `Too many uploads in progress: at most ${max} of your uploads may run at the same time. Wait for one to ` +
      'finish, then send this file again.',
    { status: 429, code: 'too_many_uploads', fields: { max_concurrent_uploads: max } },
  );
}
