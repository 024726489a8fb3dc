// A signal for work done on behalf of one HTTP request (an upstream LLM call, above all): aborted when nobody will
// receive its answer — the client went away before it was complete, so that nobody keeps generating for a closed
// socket, or the server's shutdown stopped waiting for the request (reason: ServerShuttingDownError, so that the work
// ends with a `server_shutting_down` answer while the connection is still open; platform/shutdown-gate.ts).
import type { FastifyReply } from 'fastify';

export function requestAbortSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const shutdown = reply.server.shutdownSignal;
  const interrupted = () => controller.abort(shutdown.reason);
  if (shutdown.aborted) interrupted();
  // Removed when the response closes: the app's signal lives as long as the app and must not collect listeners.
  else shutdown.addEventListener('abort', interrupted, { once: true });
  reply.raw.once('close', () => {
    shutdown.removeEventListener('abort', interrupted);
    if (!reply.raw.writableFinished) controller.abort(new Error('the client disconnected'));
  });
  return controller.signal;
}
