// The chat WebSocket's settings (WS_*): connection limits, heartbeat, frame limits, and the Redis lease that frees
// the slots of an instance that died.
import type { Env } from './env-schema.js';

export interface WebSocketConfig {
  maxConnections: number;
  maxConnectionsPerUser: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxMessageBytes: number;
  /** 0: no limit. */
  messagesPerMinute: number;
  maxBufferedBytes: number;
  authTimeoutMs: number;
  redisLeaseMs: number;
}

export function websocketConfig(env: Env, problems: string[]): WebSocketConfig {
  // A timeout within one interval would terminate sockets between two pings that they answer in time.
  if (env.WS_HEARTBEAT_TIMEOUT_MS <= env.WS_HEARTBEAT_INTERVAL_MS)
    problems.push(
      `WS_HEARTBEAT_TIMEOUT_MS: must be above WS_HEARTBEAT_INTERVAL_MS (${env.WS_HEARTBEAT_INTERVAL_MS})`,
    );
  if (env.WS_MAX_CONNECTIONS_PER_USER > env.WS_MAX_CONNECTIONS)
    problems.push(
      `WS_MAX_CONNECTIONS_PER_USER: must not be above WS_MAX_CONNECTIONS (${env.WS_MAX_CONNECTIONS})`,
    );
  return {
    maxConnections: env.WS_MAX_CONNECTIONS,
    maxConnectionsPerUser: env.WS_MAX_CONNECTIONS_PER_USER,
    heartbeatIntervalMs: env.WS_HEARTBEAT_INTERVAL_MS,
    heartbeatTimeoutMs: env.WS_HEARTBEAT_TIMEOUT_MS,
    maxMessageBytes: env.WS_MAX_MESSAGE_BYTES,
    messagesPerMinute: env.WS_MESSAGES_PER_MINUTE,
    maxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
    authTimeoutMs: env.WS_AUTH_TIMEOUT_MS,
    redisLeaseMs: env.WS_REDIS_LEASE_MS,
  };
}
