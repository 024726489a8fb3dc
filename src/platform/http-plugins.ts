// Third-party Fastify plugins with the settings this server needs: CORS, compression, OpenAPI + Swagger UI.
import { constants as zlib } from 'node:zlib';
import compress from '@fastify/compress';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { REQUEST_ID_HEADER } from './request-context.js';

export const COMPRESSION_THRESHOLD_BYTES = 500;

/**
 * Text, JSON, JS and XML are compressed. Not server-sent events (every event must leave at once, and proxies and
 * browsers handle them best unencoded) and not octet-stream downloads.
 */
const COMPRESSIBLE =
  /^text\/(?!event-stream)|(?:\+|\/)json(?:;|$)|(?:\+|\/)text(?:;|$)|(?:\+|\/)xml(?:;|$)|\/javascript(?:;|$)/u;

export async function registerCompression(app: FastifyInstance): Promise<void> {
  await app.register(compress, {
    global: true,
    threshold: COMPRESSION_THRESHOLD_BYTES,
    encodings: ['br', 'gzip'],
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

export async function registerCors(app: FastifyInstance, origins: string[]): Promise<void> {
  const anyOrigin = origins.includes('*');
  const shared: FastifyCorsOptions = {
    // "*" is never combined with credentials: a browser would refuse it, and it would hand every site the user's
    // cookies.
    credentials: !anyOrigin,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    exposedHeaders: [
      REQUEST_ID_HEADER,
      'retry-after',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
    ],
    maxAge: 600,
  };
  const answers = (origin: string) => ({
    usual: { ...shared, origin } satisfies FastifyCorsOptions,
    // An OPTIONS request without Access-Control-Request-Method is no preflight: it is routed like any other
    // request (405/404 in our error shape) instead of getting the plugin's text/plain "Invalid Preflight Request".
    notPreflight: { ...shared, origin, preflight: false } satisfies FastifyCorsOptions,
  });
  const byOrigin = new Map(origins.map((origin) => [origin, answers(origin)]));
  const wildcard = answers('*');
  // An origin not on the list (or no Origin at all) gets no Access-Control-* header. Decided here because, given a
  // list of origins, @fastify/cors leaves out only Allow-Origin and still sends Allow-Credentials, Expose-Headers,
  // Allow-Methods and Max-Age to anyone.
  const refused: FastifyCorsOptions = { origin: false };

  await app.register(cors, {
    delegator: (request, callback) => {
      const origin = request.headers.origin;
      const allowed = origin === undefined ? undefined : anyOrigin ? wildcard : byOrigin.get(origin);
      if (!allowed) return callback(null, refused);
      const optionsWithoutPreflight =
        request.method === 'OPTIONS' && request.headers['access-control-request-method'] === undefined;
      callback(null, optionsWithoutPreflight ? allowed.notPreflight : allowed.usual);
    },
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
