// Domain errors. Services throw these; they know nothing of HTTP beyond a default status and, for refusals that end,
// how long until they do: the one error handler (platform/error-handler.ts) turns those into status and headers.

export class AppError extends Error {
  /** Default HTTP status; the error handler may still map it. */
  readonly status: number;
  /** Stable machine-readable code, sent to clients as `code`. */
  readonly code: string;
  /** Whole seconds (at least 1) after which the same request may succeed; the error handler sends Retry-After. */
  readonly retryAfterSeconds: number | undefined;
  /** Fields the error body carries besides detail, code and request_id (a 429's limit and reset). */
  readonly fields: Readonly<Record<string, unknown>> | undefined;

  constructor(
    message: string,
    options: {
      status: number;
      code: string;
      retryAfterSeconds?: number;
      fields?: Record<string, unknown>;
      cause?: unknown;
    },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = options.status;
    this.code = options.code;
    this.retryAfterSeconds =
      options.retryAfterSeconds === undefined ? undefined : Math.max(1, Math.ceil(options.retryAfterSeconds));
    this.fields = options.fields;
  }
}

export class BadRequestError extends AppError {
  constructor(message: string, code = 'bad_request') {
    super(message, { status: 400, code });
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Not authenticated', code = 'not_authenticated') {
    super(message, { status: 401, code });
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Not enough permissions', code = 'forbidden') {
    super(message, { status: 403, code });
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not Found', code = 'not_found') {
    super(message, { status: 404, code });
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict') {
    super(message, { status: 409, code });
  }
}

export class TooManyRequestsError extends AppError {
  constructor(
    message: string,
    retryAfterSeconds: number,
    code = 'rate_limited',
    fields?: Record<string, unknown>,
  ) {
    super(message, { status: 429, code, retryAfterSeconds, ...(fields ? { fields } : {}) });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, code = 'service_unavailable', retryAfterSeconds?: number) {
    super(message, { status: 503, code, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });
  }
}

/** One item of a FastAPI-style 422 body. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export class ValidationFailedError extends AppError {
  constructor(readonly issues: ValidationIssue[]) {
    super(issues.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '), {
      status: 422,
      code: 'validation_error',
    });
  }
}

/** The JSON body of every error answer: FastAPI's `detail`, plus our `code` and `request_id`. */
export interface ErrorBody {
  detail: string | ValidationIssue[];
  code: string;
  request_id: string;
}

/** A reason the server cannot start (database unreachable, migration failed, …): one clear line, exit 1. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}
