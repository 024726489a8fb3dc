// websocket_*: open sockets, refused ones by reason, heartbeat terminations, frames in and out.
import { Counter, Gauge, type Registry } from 'prom-client';

export type RejectionReason =
  | 'server_limit'
  | 'user_limit'
  | 'auth_invalid'
  | 'auth_timeout'
  | 'auth_required'
  | 'pending_limit'
  | 'shutting_down';

export interface WebSocketMetrics {
  connections: Gauge;
  rejected(reason: RejectionReason): void;
  heartbeatTerminated(): void;
  message(direction: 'in' | 'out'): void;
}

export function createWebSocketMetrics(registry: Registry): WebSocketMetrics {
  const connections = new Gauge({
    name: 'websocket_connections',
    help: 'Chat WebSockets open on this instance (counted once admitted: authenticated, within the limits).',
    registers: [registry],
  });
  const rejections = new Counter({
    name: 'websocket_rejections_total',
    help: 'Chat WebSockets refused, by reason (server_limit, user_limit, auth_invalid, auth_timeout, auth_required, pending_limit, shutting_down); user_limit also counts an anonymous socket whose sign-in found the user at the limit.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const terminations = new Counter({
    name: 'websocket_heartbeat_terminations_total',
    help: 'Chat WebSockets terminated for silence past WS_HEARTBEAT_TIMEOUT_MS.',
    registers: [registry],
  });
  const messages = new Counter({
    name: 'websocket_messages_total',
    help: 'Chat WebSocket frames, by direction (in: from clients, out: to clients; protocol pings excluded).',
    labelNames: ['direction'],
    registers: [registry],
  });
  const inbound = messages.labels('in');
  const outbound = messages.labels('out');
  return {
    connections,
    rejected: (reason) => rejections.inc({ reason }),
    heartbeatTerminated: () => terminations.inc(),
    message: (direction) => (direction === 'in' ? inbound : outbound).inc(),
  };
}
