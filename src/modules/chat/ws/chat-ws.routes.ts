// The chat WebSocket at /api/v1/chat/ws and /ws (one handler: chat-ws-connection.ts), what a client needs to know
// before connecting (/api/v1/ws/info) and the connection figures for a superuser (/api/v1/chat/ws/stats).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { sendErrorBody } from '../../../platform/error-handler.js';
import type { Clock } from '../../../lib/clock.js';
import type { ChatHistoryService } from '../chat-history.service.js';
import type { ChatService } from '../chat.service.js';
import { ChatSocket, type ChatSocketDeps } from './chat-ws-connection.js';
import { PROTOCOL_VERSION, createFrameParser } from './chat-ws-frames.js';

export interface ChatWsRoutesOptions {
  chat: ChatService;
  history: ChatHistoryService;
  maxTokens: number;
  allowAnonymous: boolean;
  clock: Clock;
}

export const WS_PATHS = ['/api/v1/chat/ws', '/ws'] as const;
/** The owners with the most sockets that the stats list. */
const TOP_OWNERS = 20;

const WsInfo = Type.Object({
  protocol_version: Type.String(),
  endpoints: Type.Array(Type.String()),
  authentication: Type.Array(Type.String()),
  anonymous_allowed: Type.Boolean(),
  limits: Type.Object({
    max_connections_per_user: Type.Integer(),
    max_total_connections: Type.Integer(),
    max_message_bytes: Type.Integer(),
    messages_per_minute: Type.Integer({ description: '0: no limit.' }),
    max_buffered_bytes: Type.Integer(),
    auth_timeout_ms: Type.Integer(),
  }),
  heartbeat: Type.Object({ interval_ms: Type.Integer(), timeout_ms: Type.Integer() }),
  client_frames: Type.Array(Type.String()),
  server_frames: Type.Array(Type.String()),
});

const WsStats = Type.Object({
  total_connections: Type.Integer(),
  total_users: Type.Integer(),
  max_connections_per_user: Type.Integer(),
  max_total_connections: Type.Integer(),
  heartbeat_interval: Type.Number({ description: 'Seconds, as the original.' }),
  heartbeat_timeout: Type.Number({ description: 'Seconds, as the original.' }),
  user_distribution: Type.Record(Type.String(), Type.Integer(), {
    description: `Open sockets of the ${TOP_OWNERS} owners with the most (user:<id>, anon:<id>, ip:<address>).`,
  }),
  scope: Type.Union([Type.Literal('cluster'), Type.Literal('instance')], {
    description: 'cluster: every instance sharing REDIS_URL; instance: this one (no Redis, or it failed).',
  }),
  instance_connections: Type.Integer({ description: 'Sockets open on this instance, admitted or not yet.' }),
});

export const chatWsRoutes: FastifyPluginAsyncTypebox<ChatWsRoutesOptions> = async (app, opts) => {
  const { websockets } = app;
  const { config, manager, slots } = websockets;
  const deps: ChatSocketDeps = {
    chat: opts.chat,
    history: opts.history,
    websockets,
    authenticate: (token) => app.authenticateToken(token),
    parseFrame: createFrameParser(opts.maxTokens),
    allowAnonymous: opts.allowAnonymous,
    shutdownSignal: app.shutdownSignal,
    clock: opts.clock,
    log: app.log.child({ module: 'websocket' }),
  };

  // A plain GET (no upgrade) is told what the route is, instead of @fastify/websocket's bare 404.
  const notUpgraded = (request: FastifyRequest, reply: FastifyReply) =>
    sendErrorBody(
      request,
      reply.code(426).header('upgrade', 'websocket').header('connection', 'Upgrade'),
      'This is a WebSocket endpoint: connect with a WebSocket client (see /api/v1/ws/info)',
      'upgrade_required',
    );
  for (const url of WS_PATHS) {
    app.route({
      method: 'GET',
      url,
      schema: { hide: true },
      handler: notUpgraded,
      wsHandler: (socket, request) => new ChatSocket(socket, request, deps).start(),
    });
  }

  app.get(
    '/api/v1/ws/info',
    {
      schema: {
        tags: ['chat'],
        summary: 'The chat WebSocket: endpoints, authentication, limits and frames',
        response: { 200: WsInfo },
      },
    },
    async () => ({
      protocol_version: PROTOCOL_VERSION,
      endpoints: [...WS_PATHS],
      authentication: ['query:token', 'header:authorization', 'frame:auth'],
      anonymous_allowed: opts.allowAnonymous,
      limits: {
        max_connections_per_user: config.maxConnectionsPerUser,
        max_total_connections: config.maxConnections,
        max_message_bytes: config.maxMessageBytes,
        messages_per_minute: config.messagesPerMinute,
        max_buffered_bytes: config.maxBufferedBytes,
        auth_timeout_ms: config.authTimeoutMs,
      },
      heartbeat: { interval_ms: config.heartbeatIntervalMs, timeout_ms: config.heartbeatTimeoutMs },
      client_frames: ['auth', 'chat', 'ping', 'pong', 'get_history', 'clear_history'],
      server_frames: [
        'connection',
        'authenticated',
        'pong',
        'ping',
        'message_received',
        'stream_start',
        'stream_chunk',
        'stream_end',
        'response',
        'history',
        'history_cleared',
        'error',
      ],
    }),
  );

  app.get(
    '/api/v1/chat/ws/stats',
    {
      onRequest: app.requireSuperuser,
      schema: {
        tags: ['chat'],
        summary: 'Open chat WebSockets (superuser)',
        security: [{ bearerAuth: [] }],
        response: { 200: WsStats },
      },
    },
    async () => {
      let owners: Map<string, number>;
      let scope: 'cluster' | 'instance' = app.redis ? 'cluster' : 'instance';
      try {
        owners = await slots.distribution();
      } catch {
        // Redis is away: this instance's own figures, and saying so.
        owners = manager.owners();
        scope = 'instance';
      }
      const sorted = [...owners].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      return {
        total_connections: sorted.reduce((sum, [, count]) => sum + count, 0),
        total_users: sorted.length,
        max_connections_per_user: config.maxConnectionsPerUser,
        max_total_connections: config.maxConnections,
        heartbeat_interval: config.heartbeatIntervalMs / 1000,
        heartbeat_timeout: config.heartbeatTimeoutMs / 1000,
        user_distribution: Object.fromEntries(sorted.slice(0, TOP_OWNERS)),
        scope,
        instance_connections: manager.size,
      };
    },
  );
};
