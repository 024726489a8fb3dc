// CORS for the origins in CORS_ORIGINS.
//
// Written by hand rather than with @fastify/cors: given a list of origins, that plugin still sends
// Allow-Credentials, Expose-Headers, Allow-Methods and Max-Age to origins it refuses, and bending it with a
// per-request options delegator made it re-normalise its options on every request (4 % of CPU on GET /health).
// The protocol part we need is small: echo an allowed origin, answer preflights, say nothing to anyone else.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { REQUEST_ID_HEADER } from './request-context.js';

export const CORS_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
export const CORS_EXPOSED_HEADERS = [
  REQUEST_ID_HEADER,
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
].join(', ');
export const CORS_MAX_AGE_SECONDS = '600';

const corsPlugin: FastifyPluginAsync<{ origins: string[] }> = async (app, { origins }) => {
  // "*" is never combined with credentials: browsers refuse it, and it would hand every site the user's cookies.
  const anyOrigin = origins.includes('*');
  const allowed = new Set(origins);

  app.addHook('onRequest', (request, reply, done) => {
    // The answer depends on Origin unless every origin gets the same one, so caches must key on it.
    if (!anyOrigin) void reply.header('vary', 'Origin');
    const origin = request.headers.origin;
    if (origin === undefined || !(anyOrigin || allowed.has(origin))) return done();

    void reply.header('access-control-allow-origin', anyOrigin ? '*' : origin);
    if (!anyOrigin) void reply.header('access-control-allow-credentials', 'true');

    const requestedMethod = request.headers['access-control-request-method'];
    // An OPTIONS request without Access-Control-Request-Method is no preflight: it is routed like any other.
    if (request.method !== 'OPTIONS' || requestedMethod === undefined) {
      void reply.header('access-control-expose-headers', CORS_EXPOSED_HEADERS);
      return done();
    }
    const requestedHeaders = request.headers['access-control-request-headers'];
    void reply.header('access-control-allow-methods', CORS_METHODS);
    if (requestedHeaders) {
      void reply.header('access-control-allow-headers', requestedHeaders);
      void reply.header(
        'vary',
        anyOrigin ? 'Access-Control-Request-Headers' : 'Origin, Access-Control-Request-Headers',
      );
    }
    void reply.header('access-control-max-age', CORS_MAX_AGE_SECONDS);
    void reply.code(204).send();
  });
};

export default fp(corsPlugin, { name: 'cors' });
