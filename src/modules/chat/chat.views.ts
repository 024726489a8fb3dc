// Stored records and chat events to the JSON the API answers with. render=html adds content_html, rendered here at
// the edge and never stored.
import type { ChatEvent } from './chat.service.js';
import type { ChatMessageRecord, ChatSessionRecord } from './chat.repository.js';
import { renderMarkdownHtml } from './markdown-html.js';

export type EndEvent = Extract<ChatEvent, { type: 'end' }>;

function withHtml(content: string, renderHtml: boolean): { content_html?: string } {
  return renderHtml ? { content_html: renderMarkdownHtml(content) } : {};
}

export function sessionSummary(session: ChatSessionRecord) {
  return {
    session_id: session.id,
    title: session.title,
    model: session.model,
    agent: session.agent,
    message_count: session.messageCount,
    created_at: session.createdAt.toISOString(),
    last_activity: session.lastMessageAt.toISOString(),
  };
}

export function messageItem(message: ChatMessageRecord, renderHtml = false) {
  return {
    id: message.id,
    role: message.role,
    content: message.content,
    timestamp: message.createdAt.toISOString(),
    model: message.model,
    status: message.status,
    error: message.error,
    usage: { prompt_tokens: message.promptTokens, completion_tokens: message.completionTokens },
    sources: message.sources,
    ...withHtml(message.content, renderHtml),
  };
}

function usage(event: EndEvent) {
  return { prompt_tokens: event.usage.promptTokens, completion_tokens: event.usage.completionTokens };
}

function responseTime(event: EndEvent): number {
  return (event.finishedAt.getTime() - event.startedAt.getTime()) / 1000;
}

/** The JSON answer of a chat message (the original's shape, with message_id and usage). */
export function chatAnswer(event: EndEvent, renderHtml: boolean) {
  return {
    response: event.text,
    session_id: event.sessionId,
    model: event.model,
    status: 'success' as const,
    timestamp: event.finishedAt.toISOString(),
    response_time: responseTime(event),
    message_id: event.messageId,
    usage: usage(event),
    sources: event.sources,
    ...withHtml(event.text, renderHtml),
  };
}

/** The data of the SSE `end` event: the answer's text came in the tokens, its HTML (render=html) comes here once. */
export function endEventData(event: EndEvent, renderHtml: boolean) {
  return {
    session_id: event.sessionId,
    message_id: event.messageId,
    model: event.model,
    usage: usage(event),
    response_time: responseTime(event),
    sources: event.sources,
    ...withHtml(event.text, renderHtml),
  };
}

/** Runs the chat to its end and answers with the whole answer as JSON. */
export async function answerAsJson(events: AsyncIterable<ChatEvent>, renderHtml: boolean) {
  let end: EndEvent | undefined;
  for await (const event of events) if (event.type === 'end') end = event;
  if (!end) throw new Error('the chat ended without its answer');
  return chatAnswer(end, renderHtml);
}
