// A chat turn's events as server-sent events: `start`, `token`s, then `end` (or `error`). The transport (frames,
// keep-alive comments) is platform/sse.ts; this decides when the stream opens and what each event says.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mapError } from '../../platform/error-handler.js';
import { openSse } from '../../platform/sse.js';
import type { ChatEvent } from './chat.service.js';
import { endEventData } from './chat.views.js';

export interface ChatSseOptions {
  keepAliveMs: number;
  /** render=html: the `end` event carries content_html. */
  renderHtml: boolean;
}

/**
 * Errors that come before the stream opens are ordinary JSON answers with their status: validation, a foreign
 * session, limits, an open breaker — and whatever the provider says first (an unknown model, a refused connection),
 * when it says it within one keep-alive interval. A model still loading after that gets the stream opened, so
 * keep-alive comments can hold the connection; later errors travel as an `error` event.
 */
export async function sendChatAsSse(
  request: FastifyRequest,
  reply: FastifyReply,
  events: AsyncGenerator<ChatEvent>,
  { keepAliveMs, renderHtml }: ChatSseOptions,
): Promise<FastifyReply> {
  const first = await events.next();
  if (first.done || first.value.type !== 'start') throw new Error('the chat did not start');
  const upcoming = events.next();
  // Observed here so that a rejection settling after the race is not reported as unhandled; awaited below.
  upcoming.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    upcoming.then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(resolve, keepAliveMs, false);
    }),
  ]).finally(() => clearTimeout(timer));
  const sse = openSse(reply, keepAliveMs);
  const send = (event: ChatEvent) => {
    if (event.type === 'token') sse.send('token', { content: event.text });
    else if (event.type === 'end') sse.send('end', endEventData(event, renderHtml));
  };
  sse.send('start', {
    session_id: first.value.sessionId,
    model: first.value.model,
    user_message_id: first.value.userMessageId,
    request_id: request.id,
  });
  try {
    const next = await upcoming;
    if (!next.done) {
      send(next.value);
      for await (const event of events) {
        if (sse.closed) break;
        send(event);
      }
    }
  } catch (error) {
    const mapped = mapError(error);
    // The provider's failures are the LLM service's to log; a shutdown interrupting the stream is expected.
    const expected =
      mapped.code.startsWith('llm_') || ['model_not_found', 'server_shutting_down'].includes(mapped.code);
    if (mapped.status >= 500 && !expected) request.log.error({ err: error }, 'chat stream failed');
    sse.send('error', {
      detail: mapped.detail,
      code: mapped.code,
      status: mapped.status,
      request_id: request.id,
    });
  } finally {
    sse.close();
  }
  return reply;
}
