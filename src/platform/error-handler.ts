// The one place where errors become HTTP answers, in the FastAPI shape original clients parse:
// {"detail": "<message>" | [{loc,msg,type}], "code", "request_id"}. 5xx answers never carry internals.
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorBody, type ValidationIssue } from './errors.js';
import { toValidationIssues } from './validation-issues.js';

interface Mapped {
  status: number;
  detail: string | ValidationIssue[];
  code: string;
  headers?: Record<string, string>;
}

/** Fastify's own error codes that mean "the client sent something wrong", with our answer for each. */
const FRAMEWORK_ERRORS: Record<string, (error: FastifyError) => Mapped> = {
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
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) => ({
    status: 415,
    code: 'unsupported_media_type',
    detail: e.message.replace(/^Unsupported Media Type:?\s*/i, 'Unsupported Media Type: ').trim(),
  }),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => ({
    status: 400,
    code: 'bad_request',
    detail: 'Request body size did not match Content-Length',
  }),
  FST_ERR_BAD_URL: () => ({ status: 400, code: 'bad_request', detail: 'Malformed URL' }),
};

export function mapError(error: unknown): Mapped {
  if (error instanceof AppError) {
    const detail =
      'issues' in error && Array.isArray(error.issues) ? (error.issues as ValidationIssue[]) : error.message;
    return { status: error.status, code: error.code, detail, headers: error.headers };
  }
  const fe = error as Partial<FastifyError> & { validationContext?: string };
  if (fe.validation) {
    return {
      status: 422,
      code: 'validation_error',
      detail: toValidationIssues(fe.validation, fe.validationContext),
    };
  }
  const known = fe.code ? FRAMEWORK_ERRORS[fe.code] : undefined;
  if (known) return known(fe as FastifyError);
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    return { status, code: 'bad_request', detail: fe.message || 'Bad Request' };
  }
  return {
    status: status >= 500 && status < 600 ? status : 500,
    code: 'internal_error',
    detail: 'Internal Server Error',
  };
}

export function errorBody(request: FastifyRequest, detail: ErrorBody['detail'], code: string): ErrorBody {
  return { detail, code, request_id: request.id };
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const mapped = mapError(error);
  if (mapped.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ status: mapped.status, code: mapped.code }, 'request rejected');
  }
  if (mapped.headers) void reply.headers(mapped.headers);
  return reply
    .code(mapped.status)
    .type('application/json; charset=utf-8')
    .send(errorBody(request, mapped.detail, mapped.code));
}

const errorHandlerPlugin: FastifyPluginAsync = async (app) => {
  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
};

export default fp(errorHandlerPlugin, { name: 'error-handler' });
