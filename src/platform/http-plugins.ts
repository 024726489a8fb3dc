// Third-party Fastify plugins with the settings this server needs: CORS, compression, OpenAPI + Swagger UI.
import { constants as zlib } from 'node:zlib';
import compress from '@fastify/compress';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { REQUEST_ID_HEADER } from './request-context.js';

export const COMPRESSION_THRESHOLD_BYTES = 500;

/**
 * Text, JSON, JS and XML are compressed. Not server-sent events (every event must leave at once) and not
 * octet-stream downloads (a zlib stream holds output back until it has a block to emit).
 */
const COMPRESSIBLE =
  /^text\/(?!event-stream)|(?:\+|\/)json(?:;|$)|(?:\+|\/)text(?:;|$)|(?:\+|\/)xml(?:;|$)|\/javascript(?:;|$)/u;

export async function registerCompression(app: FastifyInstance): Promise<void> {
  await app.register(compress, {
    global: true,
    threshold: COMPRESSION_THRESHOLD_BYTES,
    encodings: ['br', 'gzip'],
    customTypes: COMPRESSIBLE,
    zlibOptions: { level: 6 },
    // Brotli's default quality (11) costs tens of milliseconds per JSON answer; 4 compresses about as well as
    // gzip 6, faster.
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  });
}

export async function registerCors(app: FastifyInstance, origins: string[]): Promise<void> {
  const anyOrigin = origins.includes('*');
  await app.register(cors, {
    // "*" is never combined with credentials: a browser would refuse it, and it would hand every site the user's
    // cookies. A disallowed origin gets no Access-Control-* headers at all.
    origin: anyOrigin ? '*' : origins,
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
    strictPreflight: true,
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
