// The one place where errors become HTTP answers, in the FastAPI shape original clients parse:
// {"detail": "<message>" | [{loc,msg,type}], "code", "request_id"}. 5xx answers never carry internals.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import fp from 'fastify-plugin';
import type { CorsHeaders } from './cors.js';
import { dependencyUnavailableAnswer } from './dependency-errors.js';
import { AppError, type ErrorBody, type ValidationIssue } from './errors.js';
import { stringifyHtmlSafe } from './html-safe-json.js';
import { REQUEST_ID_HEADER } from './request-context.js';
import { SECURITY_HEADERS } from './security-headers.js';
import { boundIssues, toValidationIssues } from './validation-issues.js';

export interface Mapped {
  status: number;
  detail: string | ValidationIssue[];
  code: string;
  /** Sent as Retry-After. */
  retryAfterSeconds?: number;
  /** More fields of the body (AppError.fields). */
  fields?: Readonly<Record<string, unknown>>;
}

/** Fastify's own error codes that mean "the client sent something wrong", with our answer for each. */
const FRAMEWORK_ERRORS: Record<string, (error: FastifyError, contentType: string | undefined) => Mapped> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => ({
    status: 422,
    code: 'validation_error',
    detail: [{ loc: ['body'], msg: 'JSON decode error: the body is not valid JSON', type: 'json_invalid' }],
  }),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => ({
    status: 422,
    code: 'validation_error',
    detail: [{ loc: ['body'], msg: 'Field required', type: 'missing' }],
  }),
  FST_ERR_CTP_BODY_TOO_LARGE: () => ({
    status: 413,
    code: 'payload_too_large',
    detail: 'Request body is too large',
  }),
  // The refused type is not echoed: whatever a client sends must not come back in an answer.
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (_e, contentType) => ({
    status: 415,
    code: 'unsupported_media_type',
    detail: contentType
      ? 'Unsupported Media Type: this endpoint does not accept the Content-Type of the body'
      : 'Unsupported Media Type: the request has a body but no Content-Type',
  }),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => ({
    status: 400,
    code: 'bad_request',
    detail: 'Request body size did not match Content-Length',
  }),
  FST_ERR_BAD_URL: () => ({ status: 400, code: 'bad_request', detail: 'Malformed URL' }),
  // Fastify's message quotes the whole path.
  FST_ERR_MAX_PARAM_LENGTH: () => ({
    status: 414,
    code: 'uri_too_long',
    detail: 'URI Too Long: a path parameter is longer than the server accepts',
  }),
};

/** Codes for client errors no table above names, by status (a 415 from a plugin is not a "bad_request"). */
const CLIENT_ERROR_CODES: Record<number, string> = {
  401: 'not_authenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/** `contentType` is the request's Content-Type, when there is a request (a 415 says whether there was one). */
export function mapError(error: unknown, contentType?: string): Mapped {
  if (error instanceof AppError) {
    const detail =
      'issues' in error && Array.isArray(error.issues)
        ? boundIssues(error.issues as ValidationIssue[])
        : error.message;
    return {
      status: error.status,
      code: error.code,
      detail,
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
      ...(error.fields === undefined ? {} : { fields: error.fields }),
    };
  }
  const unavailable = dependencyUnavailableAnswer(error);
  if (unavailable) return unavailable;
  const fe = error as Partial<FastifyError> & { validationContext?: string };
  if (fe.validation) {
    return {
      status: 422,
      code: 'validation_error',
      detail: toValidationIssues(fe.validation, fe.validationContext),
    };
  }
  // Own keys only: an error whose code is "toString" or "constructor" must not call Object.prototype's.
  const known =
    typeof fe.code === 'string' && Object.hasOwn(FRAMEWORK_ERRORS, fe.code)
      ? FRAMEWORK_ERRORS[fe.code]
      : undefined;
  if (known) return known(fe as FastifyError, contentType);
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    return { status, code: CLIENT_ERROR_CODES[status] ?? 'bad_request', detail: fe.message || 'Bad Request' };
  }
  return {
    status: status >= 500 && status < 600 ? status : 500,
    code: 'internal_error',
    detail: 'Internal Server Error',
  };
}

export function errorBody(
  request: FastifyRequest,
  detail: ErrorBody['detail'],
  code: string,
  fields?: Readonly<Record<string, unknown>>,
): ErrorBody {
  // The fields first: none of them may replace detail, code or request_id.
  return { ...fields, detail, code, request_id: request.id };
}

/**
 * Sends an error body as JSON text, not through the route's response schema: a route that declares its own shape
 * for the same status (GET /health/ready's 503) would otherwise fail to serialize the error, and answer 500.
 */
export function sendErrorBody(
  request: FastifyRequest,
  reply: FastifyReply,
  detail: ErrorBody['detail'],
  code: string,
  fields?: Readonly<Record<string, unknown>>,
): FastifyReply {
  return reply
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(errorBody(request, detail, code, fields)));
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const mapped = mapError(error, request.headers['content-type']);
  if (mapped.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ status: mapped.status, code: mapped.code }, 'request rejected');
  }
  if (mapped.retryAfterSeconds !== undefined)
    void reply.header('retry-after', String(mapped.retryAfterSeconds));
  // Every 401 names the scheme that would be accepted (RFC 9110 §11.6.1).
  if (mapped.status === 401) void reply.header('www-authenticate', 'Bearer');
  return sendErrorBody(request, reply.code(mapped.status), mapped.detail, mapped.code, mapped.fields);
}

/**
 * The Origin header of a request Node's parser refused, read from the bytes it was parsing (`rawPacket`): the
 * headers were never parsed, and without CORS headers a browser hides the answer from the page. Only ever compared
 * with the allowed origins, never echoed as it is.
 */
function originOfRawRequest(rawPacket: unknown): string | undefined {
  if (!Buffer.isBuffer(rawPacket)) return undefined;
  const head = rawPacket.toString('latin1', 0, Math.min(rawPacket.length, 64 * 1024));
  // One unbounded quantifier per line: no backtracking blow-up on a hostile header line.
  return /\r\norigin[ \t]*:([^\r\n]*)\r\n/i.exec(head)?.[1]?.trim();
}

/**
 * Fastify's clientErrorHandler: a request Node's HTTP parser rejects (a broken header line, headers over the size
 * limit) never becomes a Fastify request, so no hook or error handler runs. Answer it in the same shape, with the
 * same security headers, the CORS headers of its origin and a request id, instead of Fastify's own
 * {"error","message","statusCode"} body.
 */
export function answerClientError(
  error: Error & { code?: string; rawPacket?: unknown },
  socket: Duplex,
  log: FastifyBaseLogger,
  corsHeaders: CorsHeaders = () => ({}),
): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, detail] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'Request Timeout']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'Request headers are too large']
        : [400, 'bad_request', 'Malformed HTTP request'];
  const requestId = randomUUID();
  log.debug({ err: error, request_id: requestId, status }, 'client error');
  if (socket.writable) {
    // Written on the socket, past the onSend hook that makes every other JSON body HTML-safe.
    const body = stringifyHtmlSafe({ detail, code, request_id: requestId } satisfies ErrorBody);
    const headers = {
      ...SECURITY_HEADERS,
      ...corsHeaders(originOfRawRequest(error.rawPacket)),
      [REQUEST_ID_HEADER]: requestId,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`);
  }
  socket.destroy(error);
}

const errorHandlerPlugin: FastifyPluginAsync = async (app) => {
  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
};

export default fp(errorHandlerPlugin, { name: 'error-handler' });
