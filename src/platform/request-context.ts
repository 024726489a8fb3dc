// The request id, and anything else a request's downstream work must see, rides an AsyncLocalStorage.
//
// Written by hand rather than with @fastify/request-context because the pino mixin (platform/logger.ts) and the
// outgoing-call helpers need the raw store, and the one subtle part is small: Node emits a request body's 'data'
// events in the socket's async context, not ours, so the store is captured in an AsyncResource at onRequest and
// re-entered at preValidation, after the body has been read.
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

export interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The id of the request this code runs for, or undefined outside a request. */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** Runs fn with the given context (background work started for a request, tests). */
export function runWithRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';

/** Fastify's genReqId: a well-formed incoming X-Request-ID is kept, anything else is replaced by a new UUID. */
export function requestIdFor(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

const kResource = Symbol('sutazai.requestContextResource');

declare module 'fastify' {
  interface FastifyRequest {
    [kResource]?: AsyncResource;
  }
}

function hasBody(headers: IncomingMessage['headers']): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
}

const requestContextPlugin: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    storage.run({ requestId: request.id }, () => {
      // Without a body, Fastify runs every later hook and the handler from within done(), inside this context;
      // only a body's 'data' events arrive from outside it.
      if (hasBody(request.headers)) request[kResource] = new AsyncResource('sutazai.request');
      done();
    });
  });
  app.addHook('preValidation', (request, _reply, done) => {
    const resource = request[kResource];
    if (resource) resource.runInAsyncScope(done);
    else done();
  });
};

export default fp(requestContextPlugin, { name: 'request-context' });
