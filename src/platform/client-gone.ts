// A signal for work done on behalf of one HTTP request (an upstream LLM call, above all): aborted when the client goes
// away before its answer is complete, so that nobody keeps generating for a closed socket.
import type { FastifyReply } from 'fastify';

export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the client disconnected'));
  });
  return controller.signal;
}
