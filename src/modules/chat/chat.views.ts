// Stored records to the JSON the API answers with.
import type { ChatMessageRecord, ChatSessionRecord } from './chat.repository.js';

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
