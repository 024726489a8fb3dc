// /api/v1/chat: the original's three message endpoints (one handler), JSON or SSE answers, and the caller's stored
// sessions — a user's, or an anonymous client's (chat-anonymous-owner.ts) when ALLOW_ANONYMOUS_CHAT is on.
// /chat/models and /chat/health belong to the llm module (llm/models.routes.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CursorQuery } from '../../platform/pagination.js';
import { requestAbortSignal } from '../../platform/request-abort-signal.js';
import type { OwnerChannels } from '../../platform/websocket/owner-channels.js';
import { clientKey } from '../auth/index.js';
import { chatOwner, setOwnerCookie } from './chat-anonymous-owner.js';
import { broadcastTurn } from './chat-broadcast.js';
import type { ChatHistoryService } from './chat-history.service.js';
import { sendChatAsSse } from './chat-sse.js';
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
  type ChatMessageBody,
} from './chat.schemas.js';
import type { ChatEvent, ChatService } from './chat.service.js';
import { answerAsJson, messageItem, sessionSummary } from './chat.views.js';

export interface ChatRoutesOptions {
  chat: ChatService;
  history: ChatHistoryService;
  /** Where each turn is published for the owner's WebSockets. */
  channels: OwnerChannels;
  maxTokens: number;
  keepAliveMs: number;
  allowAnonymous: boolean;
}

const tags = ['chat'];
// A token, or none (anonymous chat, when ALLOW_ANONYMOUS_CHAT is on).
const security: Record<string, string[]>[] = [{ bearerAuth: [] }, {}];

/**
 * The events of `turn`, setting the minted cookie when the session turns out to be the caller's own (before the
 * answer's headers go out). A session of the caller's address that another request created keeps that request's
 * cookie: handing out a second id for it would leave a client that keeps the last cookie it got (after parallel
 * first chats) unable to find it.
 */
async function* cookieOnNewSession(
  turn: AsyncGenerator<ChatEvent>,
  ownerKey: string,
  setCookie: () => void,
): AsyncGenerator<ChatEvent> {
  for await (const event of turn) {
    if (event.type === 'start' && event.ownerKey === ownerKey) setCookie();
    yield event;
  }
}

export const chatRoutes: FastifyPluginAsyncTypebox<ChatRoutesOptions> = async (app, opts) => {
  const { chat, history, channels, keepAliveMs, allowAnonymous } = opts;
  const body = chatMessageBody(opts.maxTokens);
  const owner = (request: FastifyRequest) => chatOwner(request, allowAnonymous).owner;

  const answer = async (request: FastifyRequest<{ Body: ChatMessageBody }>, reply: FastifyReply) => {
    const input = request.body;
    const { owner: caller, mintedId } = chatOwner(request, allowAnonymous);
    const asked = chat.converse(
      {
        owner: caller,
        limitKey: clientKey(request),
        requestId: request.id,
      },
      {
        message: input.message,
        sessionId: input.session_id ?? null,
        model: input.model ?? null,
        temperature: input.temperature ?? null,
        maxTokens: input.max_tokens ?? null,
        ...(input.agent === undefined ? {} : { agent: input.agent }),
        files: input.files ?? null,
        useFiles: input.use_files ?? null,
      },
      requestAbortSignal(reply),
    );
    const turn = broadcastTurn(asked, channels, request.id);
    const events =
      mintedId === null
        ? turn
        : cookieOnNewSession(turn, caller.ownerKey, () => {
            setOwnerCookie(request, reply, mintedId);
          });
    const renderHtml = input.render === 'html';
    return input.stream
      ? sendChatAsSse(request, reply, events, { keepAliveMs, renderHtml })
      : answerAsJson(events, renderHtml);
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
      onRequest: app.optionalAuth,
      schema: {
        tags,
        summary: 'Your chat sessions, most recently active first',
        security,
        querystring: CursorQuery,
        response: { 200: SessionList },
      },
    },
    async (request) => {
      const page = await history.listSessions(owner(request), {
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
      onRequest: app.optionalAuth,
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
      const { skip, limit, cursor, render } = request.query;
      const page = await history.messages(owner(request), request.params.session_id, {
        skip,
        limit,
        ...(cursor === undefined ? {} : { cursor }),
      });
      return {
        session_id: page.session.id,
        title: page.session.title,
        messages: page.messages.map((message) => messageItem(message, render === 'html')),
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
      onRequest: app.optionalAuth,
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
      sessionSummary(await history.rename(owner(request), request.params.session_id, request.body.title)),
  );

  app.delete(
    '/sessions/:session_id',
    {
      onRequest: app.optionalAuth,
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
      const deleted = await history.delete(owner(request), id);
      return { status: 'success' as const, message: `Session ${id} cleared`, messages_deleted: deleted };
    },
  );
};
