// chat_messages_total: messages stored, by role and status (complete, partial, error).
import { Counter, type Registry } from 'prom-client';

export interface ChatMetrics {
  message(role: 'user' | 'assistant', status: 'complete' | 'partial' | 'error'): void;
}

export function createChatMetrics(registry: Registry): ChatMetrics {
  const messages = new Counter({
    name: 'chat_messages_total',
    help: 'Chat messages stored, by role and status (complete, partial: the stream broke or the client left, error).',
    labelNames: ['role', 'status'],
    registers: [registry],
  });
  return { message: (role, status) => messages.inc({ role, status }) };
}
