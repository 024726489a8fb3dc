// Third-party Fastify plugins with the settings this server needs: form bodies, compression, OpenAPI + Swagger UI.
import { constants as zlib } from 'node:zlib';
import compress from '@fastify/compress';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';

export const COMPRESSION_THRESHOLD_BYTES = 500;

/**
 * Text, JSON, JS and XML are compressed. Not server-sent events (every event must leave at once, and proxies and
 * browsers handle them best unencoded) and not octet-stream downloads.
 */
const COMPRESSIBLE =
  /^text\/(?!event-stream)|(?:\+|\/)json(?:;|$)|(?:\+|\/)text(?:;|$)|(?:\+|\/)xml(?:;|$)|\/javascript(?:;|$)/u;

/** application/x-www-form-urlencoded bodies (the OAuth2 password flow of the original's login posts one). */
export async function registerFormBodies(app: FastifyInstance): Promise<void> {
  await app.register(formbody);
}

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
