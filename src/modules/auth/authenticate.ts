// The hooks other modules put on their routes: `authenticate` (a valid bearer token is required), `optionalAuth`
// (anonymous is fine, but a token that is sent must be valid: a client that believes it is logged in must not be
// served as a stranger), and `requireSuperuser`. They leave the caller in `request.auth`. Routes run them in
// `onRequest`, before the body is read: a caller without a valid token costs no decompression, parsing or validation.
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { addressKey } from '../../platform/client-address.js';
import { UnauthorizedError } from '../../platform/errors.js';
import { notSuperuser } from './auth.errors.js';
import type { Authenticated, SessionService } from './session.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, after `authenticate` or `optionalAuth`; null when anonymous. */
    auth: Authenticated | null;
  }
  interface FastifyInstance {
    authenticate: onRequestAsyncHookHandler;
    optionalAuth: onRequestAsyncHookHandler;
    /** Runs `authenticate`, then refuses (403) anyone but a superuser. */
    requireSuperuser: onRequestAsyncHookHandler;
    /** The user behind an access token, for callers without a request's header (a WebSocket's `auth` frame). */
    authenticateToken(token: string): Promise<Authenticated>;
  }
}

/** The token of an `Authorization: Bearer <token>` header; undefined when absent; null when it is another scheme. */
export function bearerToken(request: FastifyRequest): string | undefined | null {
  const header = request.headers.authorization;
  if (header === undefined || header === '') return undefined;
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

/** The authenticated caller of a route behind `authenticate`; a programming error if the hook is missing. */
export function caller(request: FastifyRequest): Authenticated {
  if (!request.auth)
    throw new Error(`route ${request.routeOptions.url ?? ''} reads the caller without authenticate`);
  return request.auth;
}

/**
 * Who a per-client limit counts: the user when a valid token came with the request, else the client address
 * (request.ip honours TRUST_PROXY; see client-address.ts). Rate limits and LLM generation slots share it.
 */
export function clientKey(request: FastifyRequest): string {
  return request.auth ? `user:${request.auth.user.id}` : addressKey(request);
}

export function registerAuthHooks(app: FastifyInstance, sessions: SessionService): void {
  app.decorateRequest('auth', null);

  const authenticate: onRequestAsyncHookHandler = async (request) => {
    const token = bearerToken(request);
    if (!token) throw new UnauthorizedError();
    request.auth = await sessions.authenticate(token);
  };
  const optionalAuth: onRequestAsyncHookHandler = async (request) => {
    const token = bearerToken(request);
    if (token === undefined) return;
    if (token === null) throw new UnauthorizedError();
    request.auth = await sessions.authenticate(token);
  };
  const requireSuperuser: onRequestAsyncHookHandler = async function (request, reply) {
    await authenticate.call(this, request, reply);
    if (!caller(request).user.isSuperuser) throw notSuperuser();
  };
  app.decorate('authenticate', authenticate);
  app.decorate('optionalAuth', optionalAuth);
  app.decorate('requireSuperuser', requireSuperuser);
  app.decorate('authenticateToken', (token: string) => sessions.authenticate(token));
}
