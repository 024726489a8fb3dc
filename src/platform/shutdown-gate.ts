// Once shutdown has begun, a new request arriving on an already-open keep-alive connection is answered 503 in our
// error shape (Fastify's own return503OnClosing answers {"error","message","statusCode"}), with Connection: close
// so that the client reconnects, to another instance, for its next request.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { errorBody } from './error-handler.js';

const shutdownGatePlugin: FastifyPluginAsync = async (app) => {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    void reply
      .code(503)
      .header('connection', 'close')
      .header('retry-after', '1')
      .send(errorBody(request, 'Server is shutting down', 'shutting_down'));
  });
};

export default fp(shutdownGatePlugin, { name: 'shutdown-gate' });
