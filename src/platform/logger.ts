// The process logger: pino, JSON lines, secrets redacted, and the current request id on every line.
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { LogController, type FastifyRequest } from 'fastify';
import type { FastifyChildLoggerFactory } from 'fastify/types/logger.js';
import { currentRequestId } from './request-context.js';

const kRequestBound = Symbol('sutazai.requestBoundLogger');

const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.new_password',
  '*.hashed_password',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  '*.secret',
  '*.authorization',
];

export function createLogger(level: LoggerOptions['level'], destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: '[redacted]' },
      // Request loggers carry request_id as a binding already; everything else (services, outgoing calls) gets it
      // from the request context, so that every line written while serving a request names it exactly once.
      mixin(_obj, _level, logger) {
        if ((logger as unknown as Record<symbol, boolean>)[kRequestBound]) return {};
        const id = currentRequestId();
        return id === undefined ? {} : { request_id: id };
      },
    },
    destination,
  );
}

/** Fastify's childLoggerFactory: the per-request logger, marked so that the mixin does not repeat the id. */
export const requestChildLogger: FastifyChildLoggerFactory = (logger, bindings, opts) => {
  const child = logger.child(bindings, opts);
  (child as unknown as Record<symbol, boolean>)[kRequestBound] = true;
  return child;
};

/**
 * One info line per request (when it completes, with status and time); the "incoming request" line moves to
 * debug, since it doubles log volume and carries nothing the completion line lacks.
 */
export class RequestLogController extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'request_id' });
  }

  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }
}
