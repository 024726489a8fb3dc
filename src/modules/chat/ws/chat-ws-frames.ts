// The chat WebSocket's frames (reference §4.4, kept so the original's clients work): what a client may send, checked
// with the same kind of schema as the HTTP bodies, and what the server sends, built here and nowhere else. The
// frames a turn produces are the same for the socket that asked and for the owner's other sockets (chat-broadcast.ts).
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Mapped } from '../../../platform/error-handler.js';
import { AGENT_ID_PATTERN } from '../../agents/index.js';
import { ChatFiles } from '../chat.schemas.js';
import { MODEL_PATTERN } from '../../llm/index.js';
import { SESSION_ID_PATTERN } from '../chat.schemas.js';
import type { ChatEvent } from '../chat.service.js';
import { messageItem } from '../chat.views.js';
import type { ChatMessageRecord } from '../chat.repository.js';

/** The WebSocket protocol's version, in /api/v1/ws/info: raised when a frame changes incompatibly. */
export const PROTOCOL_VERSION = '1.0';
/** get_history's page size when none is asked for, and the largest. */
export const HISTORY_LIMIT = 100;

const Nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));
const SessionId = Nullable(Type.String({ pattern: SESSION_ID_PATTERN }));

export function chatFrameSchema(maxTokens: number) {
  return Type.Object({
    // Presence and blankness are checked first, with the original's message.
    message: Type.String(),
    session_id: SessionId,
    model: Nullable(Type.String({ pattern: MODEL_PATTERN })),
    temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
    max_tokens: Nullable(Type.Integer({ minimum: 1, maximum: maxTokens })),
    agent: Nullable(Type.String({ pattern: AGENT_ID_PATTERN })),
    files: Nullable(ChatFiles),
    use_files: Nullable(Type.Boolean()),
    stream: Nullable(Type.Boolean()),
  });
}
export type ChatFrame = Static<ReturnType<typeof chatFrameSchema>>;

const HistoryFrame = Type.Object({
  session_id: SessionId,
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: HISTORY_LIMIT })),
});
export type HistoryFrame = Static<typeof HistoryFrame>;

const ClearFrame = Type.Object({ session_id: SessionId });
export type ClearFrame = Static<typeof ClearFrame>;

const AuthFrame = Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }) });
export type AuthFrame = Static<typeof AuthFrame>;

/** A client frame, parsed: its type and body, or the error frame it deserves. */
export type ClientFrame =
  | { type: 'chat'; body: ChatFrame }
  | { type: 'ping' | 'pong' }
  | { type: 'get_history'; body: HistoryFrame }
  | { type: 'clear_history'; body: ClearFrame }
  | { type: 'auth'; body: AuthFrame }
  | { type: 'invalid'; error: ErrorFrame };

export interface ErrorFrame {
  type: 'error';
  message: string;
  code: string;
  [field: string]: unknown;
}

export function errorFrame(message: string, code: string, extra: Record<string, unknown> = {}): ErrorFrame {
  return { type: 'error', message, code, ...extra };
}

/** An error as HTTP would answer it (mapError), as a frame: its detail, code and status. */
export function mappedErrorFrame(mapped: Mapped, extra: Record<string, unknown> = {}): ErrorFrame {
  const message = typeof mapped.detail === 'string' ? mapped.detail : JSON.stringify(mapped.detail);
  return errorFrame(message, mapped.code, {
    status: mapped.status,
    ...(mapped.retryAfterSeconds === undefined ? {} : { retry_after: mapped.retryAfterSeconds }),
    ...mapped.fields,
    ...extra,
  });
}

type Checker = ReturnType<typeof Compile>;

function checked<T>(checker: Checker, value: unknown): T | ErrorFrame {
  if (checker.Check(value)) return value as T;
  const [first] = checker.Errors(value);
  const where = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : 'frame';
  return errorFrame(`${where}: ${first?.message ?? 'is invalid'}`, 'invalid_frame');
}

const isErrorFrame = (value: unknown): value is ErrorFrame =>
  typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'error';

export function createFrameParser(maxTokens: number): (text: string) => ClientFrame {
  const chat = Compile(chatFrameSchema(maxTokens));
  const history = Compile(HistoryFrame);
  const clear = Compile(ClearFrame);
  const auth = Compile(AuthFrame);

  const parse = <T>(checker: Checker, value: unknown, make: (body: T) => ClientFrame): ClientFrame => {
    const body = checked<T>(checker, value);
    return isErrorFrame(body) ? { type: 'invalid', error: body } : make(body);
  };

  return (text) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { type: 'invalid', error: errorFrame('Invalid JSON', 'invalid_json') };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { type: 'invalid', error: errorFrame('A frame must be a JSON object', 'invalid_frame') };
    const frame = value as Record<string, unknown>;
    // As the original: a frame without a type is a chat.
    const type = frame.type ?? 'chat';
    switch (type) {
      case 'chat':
        if (frame.message === undefined || frame.message === null || frame.message === '')
          return { type: 'invalid', error: errorFrame('No message provided', 'empty_message') };
        return parse<ChatFrame>(chat, frame, (body) => ({ type: 'chat', body }));
      case 'ping':
        return { type: 'ping' };
      case 'pong':
        return { type: 'pong' };
      case 'get_history':
        return parse<HistoryFrame>(history, frame, (body) => ({ type: 'get_history', body }));
      case 'clear_history':
        return parse<ClearFrame>(clear, frame, (body) => ({ type: 'clear_history', body }));
      case 'auth':
        return parse<AuthFrame>(auth, frame, (body) => ({ type: 'auth', body }));
      default:
        return {
          type: 'invalid',
          error: errorFrame(
            typeof type === 'string' ? `Unknown frame type "${type.slice(0, 64)}"` : 'type: must be a string',
            'unknown_type',
          ),
        };
    }
  };
}

// What the server sends. Timestamps are ISO 8601 (the original's isoformat()), except the heartbeat's JSON ping,
// which keeps the original manager's epoch seconds.

type StartEvent = Extract<ChatEvent, { type: 'start' }>;
type EndEvent = Extract<ChatEvent, { type: 'end' }>;

export function connectionFrame(sessionId: string, user: { id: number; username: string } | null) {
  return {
    type: 'connection',
    status: 'connected',
    session_id: sessionId,
    message: 'WebSocket chat connected successfully',
    user: user && { id: user.id, username: user.username },
    anonymous: user === null,
  };
}

export function messageReceivedFrame(start: StartEvent, at: Date) {
  return {
    type: 'message_received',
    message: start.message,
    timestamp: at.toISOString(),
    session_id: start.sessionId,
    message_id: start.userMessageId,
  };
}

export function streamStartFrame(start: StartEvent) {
  return { type: 'stream_start', model: start.model, session_id: start.sessionId };
}

export function streamChunkFrame(sessionId: string, content: string) {
  return { type: 'stream_chunk', content, done: false, session_id: sessionId };
}

function endFields(end: EndEvent) {
  return {
    session_id: end.sessionId,
    message_id: end.messageId,
    model: end.model,
    usage: { prompt_tokens: end.usage.promptTokens, completion_tokens: end.usage.completionTokens },
    sources: end.sources,
    timestamp: end.finishedAt.toISOString(),
  };
}

export function streamEndFrame(end: EndEvent) {
  return { type: 'stream_end', full_response: end.text, ...endFields(end) };
}

export function responseFrame(end: EndEvent) {
  return { type: 'response', content: end.text, ...endFields(end) };
}

export function historyFrame(
  sessionId: string,
  messages: ChatMessageRecord[],
  page: { total: number; skip: number; limit: number },
) {
  return {
    type: 'history',
    session_id: sessionId,
    messages: messages.map((message) => messageItem(message)),
    count: messages.length,
    total: page.total,
    skip: page.skip,
    limit: page.limit,
    has_more: page.skip + messages.length < page.total,
  };
}
