// CORS for the origins in CORS_ORIGINS.
//
// Written by hand rather than with @fastify/cors: given a list of origins, that plugin still sends
// Allow-Credentials, Expose-Headers, Allow-Methods and Max-Age to origins it refuses, and bending it with a
// per-request options delegator made it re-normalise its options on every request (4 % of CPU on GET /health).
// The protocol part we need is small: echo an allowed origin, answer preflights, say nothing to anyone else.
//
// The answers no hook sees (a URL Fastify cannot route, a request Node's HTTP parser refuses) take their headers
// from corsHeadersFor() too: a browser hides an answer without them from the page, which then sees only a network
// error instead of the 400/414/431.
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
  'ratelimit',
  'ratelimit-policy',
].join(', ');
export const CORS_MAX_AGE_SECONDS = '600';

/** The CORS headers of an answer (not a preflight's) to a request from `origin`; none for a refused origin. */
export type CorsHeaders = (origin: string | undefined) => Readonly<Record<string, string>>;

export function corsHeadersFor(origins: readonly string[]): CorsHeaders {
  // "*" is never combined with credentials: browsers refuse it, and it would hand every site the user's cookies.
  if (origins.includes('*')) {
    const none = Object.freeze({});
    const any = Object.freeze({
      'access-control-allow-origin': '*',
      'access-control-expose-headers': CORS_EXPOSED_HEADERS,
    });
    // A request without Origin is no cross-origin request: it gets no CORS headers.
    return (origin) => (origin === undefined ? none : any);
  }
  // The answer depends on Origin, so caches must key on it. One frozen object per allowed origin: nothing is
  // built per request.
  const refused = Object.freeze({ vary: 'Origin' });
  const byOrigin = new Map(
    origins.map((origin) => [
      origin,
      Object.freeze({
        vary: 'Origin',
        'access-control-allow-origin': origin,
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': CORS_EXPOSED_HEADERS,
      }),
    ]),
  );
  return (origin) => (origin === undefined ? refused : (byOrigin.get(origin) ?? refused));
}

const corsPlugin: FastifyPluginAsync<{ origins: string[] }> = async (app, { origins }) => {
  const anyOrigin = origins.includes('*');
  const headersFor = corsHeadersFor(origins);

  app.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin;
    const headers = headersFor(origin);
    void reply.headers(headers);
    if (!('access-control-allow-origin' in headers)) return done();

    const requestedMethod = request.headers['access-control-request-method'];
    // An OPTIONS request without Access-Control-Request-Method is no preflight: it is routed like any other.
    if (request.method !== 'OPTIONS' || requestedMethod === undefined) return done();

    // A preflight's answer exposes nothing: it has no body a page could read.
    void reply.removeHeader('access-control-expose-headers');
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
