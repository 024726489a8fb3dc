// /api/v1/chat: the original's three message endpoints (one handler), JSON or SSE answers, and the caller's stored
// sessions. /chat/models and /chat/health belong to the llm module (llm/models.routes.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mapError } from '../../platform/error-handler.js';
import { CursorQuery } from '../../platform/pagination.js';
import { openSse } from '../../platform/sse.js';
import { caller as authenticated, clientKey } from '../auth/index.js';
import type { ChatHistoryService } from './chat-history.service.js';
import {
  ChatResponse,
  RenameBody,
  SessionCleared,
  SessionIdParams,
  SessionList,
  SessionMessagesPage,
  SessionMessagesQuery,
  SessionSummary,
  chatMessageBody,
} from './chat.schemas.js';
import type { ChatCaller, ChatEvent, ChatInput, ChatService } from './chat.service.js';
import { messageItem, sessionSummary } from './chat.views.js';
import { requestAbortSignal } from '../../platform/request-abort-signal.js';

export interface ChatRoutesOptions {
  chat: ChatService;
  history: ChatHistoryService;
  maxTokens: number;
  keepAliveMs: number;
}

const tags = ['chat'];
const security = [{ bearerAuth: [] }];

function chatCaller(request: FastifyRequest): ChatCaller {
  return { userId: request.auth?.user.id ?? null, limitKey: clientKey(request), requestId: request.id };
}

export const chatRoutes: FastifyPluginAsyncTypebox<ChatRoutesOptions> = async (app, opts) => {
  const { chat, history, keepAliveMs } = opts;
  const body = chatMessageBody(opts.maxTokens);

  const answer = async (request: FastifyRequest, reply: FastifyReply) => {
    const input = request.body as ChatInput & {
      stream?: boolean | null;
      max_tokens?: number | null;
      session_id?: string | null;
    };
    const events = chat.converse(
      chatCaller(request),
      {
        message: input.message,
        sessionId: input.session_id ?? null,
        model: input.model ?? null,
        temperature: input.temperature ?? null,
        maxTokens: input.max_tokens ?? null,
      },
      requestAbortSignal(reply),
    );
    if (!input.stream) {
      let end: Extract<ChatEvent, { type: 'end' }> | undefined;
      for await (const event of events) if (event.type === 'end') end = event;
      if (!end) throw new Error('the chat ended without its answer');
      return {
        response: end.text,
        session_id: end.sessionId,
        model: end.model,
        status: 'success' as const,
        timestamp: end.finishedAt.toISOString(),
        response_time: (end.finishedAt.getTime() - end.startedAt.getTime()) / 1000,
        message_id: end.messageId,
        usage: { prompt_tokens: end.usage.promptTokens, completion_tokens: end.usage.completionTokens },
      };
    }
    // Errors that come before the stream opens are ordinary JSON answers with their status: validation, a foreign
    // session, limits, an open breaker — and whatever the provider says first (an unknown model, a refused
    // connection), when it says it within one keep-alive interval. A model still loading after that gets the stream
    // opened, so keep-alive comments can hold the connection; later errors travel as an `error` event.
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
      else if (event.type === 'end')
        sse.send('end', {
          session_id: event.sessionId,
          message_id: event.messageId,
          model: event.model,
          usage: {
            prompt_tokens: event.usage.promptTokens,
            completion_tokens: event.usage.completionTokens,
          },
          response_time: (event.finishedAt.getTime() - event.startedAt.getTime()) / 1000,
        });
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
  };

  const post = {
    onRequest: app.optionalAuth,
    schema: {
      tags,
      summary: 'Send a message; the answer as JSON, or as server-sent events with "stream": true',
      security,
      body,
      response: { 200: ChatResponse },
    },
  };
  // Only /api/v1/chat/: the unslashed path answers 307 to it, as the original (platform/not-found.ts).
  app.post('/', { ...post, prefixTrailingSlash: 'slash' }, answer);
  app.post('/message', post, answer);
  app.post('/send', post, answer);

  app.get(
    '/sessions',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Your chat sessions, most recently active first',
        security,
        querystring: CursorQuery,
        response: { 200: SessionList },
      },
    },
    async (request) => {
      const page = await history.listSessions(authenticated(request).user.id, {
        limit: request.query.limit,
        ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }),
      });
      return {
        items: page.items.map(sessionSummary),
        next_cursor: page.nextCursor,
        has_more: page.nextCursor !== null,
      };
    },
  );

  app.get(
    '/sessions/:session_id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'A page of a session’s messages (skip/limit, or cursor)',
        security,
        params: SessionIdParams,
        querystring: SessionMessagesQuery,
        response: { 200: SessionMessagesPage },
      },
    },
    async (request) => {
      const { skip, limit, cursor } = request.query;
      const page = await history.messages(authenticated(request).user.id, request.params.session_id, {
        skip,
        limit,
        ...(cursor === undefined ? {} : { cursor }),
      });
      return {
        session_id: page.session.id,
        title: page.session.title,
        messages: page.messages.map(messageItem),
        total: page.total,
        skip,
        limit,
        has_more: cursor === undefined ? skip + limit < page.total : page.nextCursor !== null,
        page: Math.floor(skip / limit) + 1,
        total_pages: Math.ceil(page.total / limit),
        created_at: page.firstMessageAt?.toISOString() ?? null,
        next_cursor: page.nextCursor,
      };
    },
  );

  app.patch(
    '/sessions/:session_id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Rename a session',
        security,
        params: SessionIdParams,
        body: RenameBody,
        response: { 200: SessionSummary },
      },
    },
    async (request) =>
      sessionSummary(
        await history.rename(authenticated(request).user.id, request.params.session_id, request.body.title),
      ),
  );

  app.delete(
    '/sessions/:session_id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Delete a session',
        security,
        params: SessionIdParams,
        response: { 200: SessionCleared },
      },
    },
    async (request) => {
      const id = request.params.session_id;
      const deleted = await history.delete(authenticated(request).user.id, id);
      return { status: 'success' as const, message: `Session ${id} cleared`, messages_deleted: deleted };
    },
  );
};
