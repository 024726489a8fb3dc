// Third-party Fastify plugins with the settings this server needs: body parsers, compression, OpenAPI + Swagger UI.
import { constants as zlib } from 'node:zlib';
import compress from '@fastify/compress';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { AppError, ValidationFailedError } from './errors.js';

export const COMPRESSION_THRESHOLD_BYTES = 500;

/**
 * Text, JSON, JS and XML are compressed. Not server-sent events (every event must leave at once, and proxies and
 * browsers handle them best unencoded) and not octet-stream downloads.
 */
const COMPRESSIBLE =
  /^text\/(?!event-stream)|(?:\+|\/)json(?:;|$)|(?:\+|\/)text(?:;|$)|(?:\+|\/)xml(?:;|$)|\/javascript(?:;|$)/u;

/** Encodings a request body may come in; anything else is 415. */
export const REQUEST_ENCODINGS: ('gzip' | 'deflate' | 'br' | 'identity')[] = [
  'gzip',
  'deflate',
  'br',
  'identity',
];

/**
 * JSON bodies, and application/x-www-form-urlencoded ones (the OAuth2 password flow of the original's login posts
 * one). JSON goes through Fastify's own parser (secure-json-parse), which refuses a "__proto__" key or a
 * "constructor" with a "prototype" (prototype poisoning) with the same error as broken JSON; a refused body is
 * parsed once more to tell the client which of the two it sent.
 */
export async function registerBodyParsers(app: FastifyInstance): Promise<void> {
  await app.register(formbody);
  const parseJson = app.getDefaultJsonParser('error', 'error') as (
    request: FastifyRequest,
    body: string,
    done: (error: Error | null, value?: unknown) => void,
  ) => void;
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // The 404/405 handler has no use for a body, which is not even decompressed there (Content-Encoding is undone
    // per route): reading gzip bytes as JSON answered 422 instead of 404 or 405.
    if (request.is404) return done(null, undefined);
    parseJson(request, body as string, (error, value) => {
      const key = error ? forbiddenKeyIn(body as string) : undefined;
      if (key === undefined) return done(error, value);
      done(
        new ValidationFailedError([
          { loc: ['body'], msg: `The body must not contain the key "${key}"`, type: 'json_forbidden_key' },
        ]),
        undefined,
      );
    });
  });
}

/** The key secure-json-parse refused in otherwise valid JSON, if that is why it failed. */
function forbiddenKeyIn(text: string): '__proto__' | 'constructor.prototype' | undefined {
  let found: '__proto__' | 'constructor.prototype' | undefined;
  try {
    // JSON.parse defines "__proto__" as an own property (it sets no prototype), so the text can be walked safely.
    JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') found ??= '__proto__';
      else if (
        key === 'constructor' &&
        value !== null &&
        typeof value === 'object' &&
        Object.hasOwn(value, 'prototype')
      )
        found ??= 'constructor.prototype';
      return value;
    });
  } catch {
    return undefined;
  }
  return found;
}

export async function registerCompression(app: FastifyInstance): Promise<void> {
  await app.register(compress, {
    global: true,
    threshold: COMPRESSION_THRESHOLD_BYTES,
    encodings: ['br', 'gzip'],
    // Request bodies are inflated before parsing, and Fastify counts BODY_LIMIT_BYTES on the inflated bytes (a gzip
    // bomb is a 413 after that many). Routes behind a token check it in onRequest, before any of this.
    requestEncodings: REQUEST_ENCODINGS,
    // The plugin's own message quotes the encoding the client sent.
    onUnsupportedRequestEncoding: () =>
      new AppError(`Unsupported Content-Encoding: send ${REQUEST_ENCODINGS.join(', ')}`, {
        status: 415,
        code: 'unsupported_media_type',
      }),
    customTypes: COMPRESSIBLE,
    // A zlib stream holds its output back until it has a full block, so a streamed answer (a text or JSON stream
    // written piece by piece) would reach the client only at the end. Flushing after every write sends each piece
    // as soon as the route writes it; a buffered answer reaches zlib in one piece, so it costs that nothing.
    zlibOptions: { level: 6, flush: zlib.Z_SYNC_FLUSH },
    // Brotli's default quality (11) costs tens of milliseconds per JSON answer; 4 compresses about as well as
    // gzip 6, faster.
    brotliOptions: { flush: zlib.BROTLI_OPERATION_FLUSH, params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  });
}

export async function registerOpenApi(app: FastifyInstance, config: Config): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: config.app.name,
        version: config.app.version,
        description:
          'SutazAI server API: accounts, chat with local LLMs, agents, vectors, files, health and metrics.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, () => app.swagger());
  if (config.server.docsEnabled) {
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }
}
