// WebSockets on @fastify/websocket, with what every socket route shares: the connection manager (heartbeat,
// shutdown), the connection limits (in Redis across instances when REDIS_URL is set) and the owners' channels that
// carry chat events to every socket of an owner. `app.websockets` holds them.
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { WebSocketConfig } from '../../config/websocket-config.js';
import { ConnectionManager } from './connection-manager.js';
import { createConnectionSlots, type ConnectionSlots } from './connection-slots.js';
import { createOwnerChannels, type OwnerChannels } from './owner-channels.js';
import { createWebSocketMetrics, type WebSocketMetrics } from './websocket-metrics.js';

export interface WebSockets {
  config: WebSocketConfig;
  manager: ConnectionManager;
  slots: ConnectionSlots;
  channels: OwnerChannels;
  metrics: WebSocketMetrics;
}

declare module 'fastify' {
  interface FastifyInstance {
    websockets: WebSockets;
  }
}

const websocketPlugin: FastifyPluginAsync<{ config: WebSocketConfig }> = async (app, { config }) => {
  const log = app.log.child({ module: 'websocket' });
  const metrics = createWebSocketMetrics(app.metrics.registry);
  const manager = new ConnectionManager({
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    metrics,
  });
  const slots = createConnectionSlots({
    redis: app.redis,
    limits: { total: config.maxConnections, perOwner: config.maxConnectionsPerUser },
    logger: log,
    leaseMs: config.redisLeaseMs,
  });
  const channels = createOwnerChannels(app.redis, log);
  app.decorate('websockets', { config, manager, slots, channels, metrics });

  await app.register(fastifyWebsocket, {
    // ws closes a socket that sends a bigger frame with 1009.
    options: { maxPayload: config.maxMessageBytes },
    // The default closes every socket at once, cutting generations off; ours lets them finish first (the graceful
    // shutdown interrupts them at SHUTDOWN_TIMEOUT_MS, and what they produced is stored).
    preClose: async () => {
      await manager.shutdown();
      await new Promise<void>((resolve) => {
        app.websocketServer.close(() => resolve());
      });
    },
    // A socket error (a client that broke the protocol, a reset) ends that socket only.
    errorHandler: (error, socket) => {
      log.debug({ err: error }, 'websocket error');
      socket.terminate();
    },
  });
  app.addHook('onClose', async () => {
    await slots.close();
    await channels.close();
  });
};

export default fp(websocketPlugin, { name: 'websocket', dependencies: ['metrics', 'redis'] });
