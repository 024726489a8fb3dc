// Security headers on every response: routes, 404s, errors, redirects, docs.
//
// Hand-written instead of @fastify/helmet: that plugin runs helmet's middleware factory anew on every request, in
// two onRequest hooks (one async), to produce what here are constant strings; on GET /health that cost shows in
// the benchmark. The values are the ones our issue names; each is commented where it is not the obvious choice.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';

/** Strict policy for API answers (JSON, text): nothing may be loaded, nothing may frame us. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Policy for HTML pages we serve (Swagger UI at /docs): its own scripts and styles only. Swagger UI's
 * stylesheet and a few inline style attributes need 'unsafe-inline' for styles; scripts get neither
 * 'unsafe-inline' nor 'unsafe-eval'.
 */
export const HTML_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; " +
  "object-src 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // 0, not "1; mode=block": OWASP and current browsers advise turning the legacy XSS auditor off, because its
  // blocking mode can itself be abused to leak data or break pages (XS-Leaks); Content-Security-Policy replaces it.
  'x-xss-protection': '0',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'permissions-policy': 'geolocation=(), microphone=(), camera=()',
  'content-security-policy': API_CSP,
});

export function applySecurityHeaders(reply: FastifyReply): void {
  void reply.headers(SECURITY_HEADERS);
}

const securityHeadersPlugin: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', (_request, reply, done) => {
    applySecurityHeaders(reply);
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && type.startsWith('text/html')) {
      void reply.header('content-security-policy', HTML_CSP);
    }
    done(null, payload);
  });
};

export default fp(securityHeadersPlugin, { name: 'security-headers' });
