// Composition of the chat module: repository, services, the routes under /api/v1/chat and the chat WebSocket.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { transactor } from '../../platform/db/transactions.js';
import { createCursorCodec } from '../../platform/pagination.js';
import { registerAnonymousCookie } from './chat-anonymous-owner.js';
import { ChatHistoryService } from './chat-history.service.js';
import { createChatMetrics } from './chat.metrics.js';
import { ChatRepository } from './chat.repository.js';
import { chatRoutes } from './chat.routes.js';
import { ChatService } from './chat.service.js';
import { chatWsRoutes } from './ws/chat-ws.routes.js';

export interface ChatPluginOptions {
  chat: Config['chat'];
  maxTokens: number;
  /**
   * Signs pagination cursors, and (through a key derived from it) the anonymous owner's cookie: the JWT secret
   * (both are only ever read back by this server).
   */
  cursorSecret: string;
  clock: Clock;
}

/** The original's temperature when a request sends none (0 is kept as 0: the original turned it into 0.7). */
const DEFAULT_TEMPERATURE = 0.7;

const chatPlugin: FastifyPluginAsync<ChatPluginOptions> = async (app, opts) => {
  const db = app.database.db;
  const chats = new ChatRepository(db);
  const chat = new ChatService({
    transact: transactor(db),
    chats,
    agents: {
      find: async (userId, id) => {
        const agent = await app.agents.find(userId, id);
        return { ...agent, builtIn: agent.ownerId === null };
      },
    },
    documents: app.documents,
    llm: app.llm,
    clock: opts.clock,
    metrics: createChatMetrics(app.metrics.registry),
    settings: {
      systemPrompt: opts.chat.systemPrompt,
      contextMessages: opts.chat.contextMessages,
      contextChars: opts.chat.contextChars,
      maxMessageChars: opts.chat.maxMessageChars,
      allowAnonymous: opts.chat.allowAnonymous,
      defaultTemperature: DEFAULT_TEMPERATURE,
      maxTokens: opts.maxTokens,
    },
  });
  const history = new ChatHistoryService({
    chats,
    cursors: createCursorCodec(opts.cursorSecret),
    clock: opts.clock,
  });
  // Its own scope: the cookie plugin is the chat's alone (the WebSocket at /ws reads it too).
  await app.register(async (scope) => {
    await registerAnonymousCookie(scope, opts.cursorSecret);
    await scope.register(chatRoutes, {
      chat,
      history,
      channels: app.websockets.channels,
      maxTokens: opts.maxTokens,
      keepAliveMs: opts.chat.keepAliveMs,
      allowAnonymous: opts.chat.allowAnonymous,
      prefix: '/api/v1/chat',
    });
    await scope.register(chatWsRoutes, {
      chat,
      history,
      maxTokens: opts.maxTokens,
      allowAnonymous: opts.chat.allowAnonymous,
      clock: opts.clock,
    });
  });
};

export default fp(chatPlugin, {
  name: 'chat',
  dependencies: ['database', 'metrics', 'llm', 'auth', 'websocket', 'agents'],
});
