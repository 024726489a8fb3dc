// Once shutdown has begun, a new request arriving on an already-open keep-alive connection is answered 503 in our
// error shape (Fastify's own return503OnClosing answers {"error","message","statusCode"}), with Connection: close
// so that the client reconnects, to another instance, for its next request.
//
// The gate also holds the app's "shutting down" signal: when the shutdown stops waiting for the requests still
// running (server.ts, at SHUTDOWN_TIMEOUT_MS), it aborts it with ServerShuttingDownError, and work done for a
// request (requestAbortSignal() in platform/request-abort-signal.ts) stops and answers `server_shutting_down` before its connection
// is closed, instead of being cut off mid-answer.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { sendErrorBody } from './error-handler.js';
import { ServerShuttingDownError } from './server-shutting-down.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Aborted (reason: ServerShuttingDownError) once the shutdown stops waiting for running requests. */
    shutdownSignal: AbortSignal;
    /** Aborts shutdownSignal: requests still running end now, answering 503 `server_shutting_down`. */
    interruptRequests(): void;
  }
}

const shutdownGatePlugin: FastifyPluginAsync = async (app) => {
  let closing = false;
  const shutdown = new AbortController();
  app.decorate('shutdownSignal', shutdown.signal);
  app.decorate('interruptRequests', () => shutdown.abort(new ServerShuttingDownError()));
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    void sendErrorBody(
      request,
      reply.code(503).header('connection', 'close').header('retry-after', '1'),
      'Server is shutting down',
      'shutting_down',
    );
  });
};

export default fp(shutdownGatePlugin, { name: 'shutdown-gate' });
