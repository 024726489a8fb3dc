// Stored records to the JSON the API answers with.
import { mapError } from '../../platform/error-handler.js';
import type { ChatMessageRecord, ChatSessionRecord } from './chat.repository.js';

/** What a health or model-list answer says went wrong: the error's public message, as an error answer gives it. */
export function errorText(error: unknown): string {
  const { detail } = mapError(error);
  return typeof detail === 'string' ? detail : detail.map((issue) => issue.msg).join('; ');
}

export function sessionSummary(session: ChatSessionRecord) {
  return {
    session_id: session.id,
    title: session.title,
    model: session.model,
    message_count: session.messageCount,
    created_at: session.createdAt.toISOString(),
    last_activity: session.lastMessageAt.toISOString(),
  };
}

export function messageItem(message: ChatMessageRecord) {
  return {
    id: message.id,
    role: message.role,
    content: message.content,
    timestamp: message.createdAt.toISOString(),
    model: message.model,
    status: message.status,
    error: message.error,
    usage: { prompt_tokens: message.promptTokens, completion_tokens: message.completionTokens },
  };
}
