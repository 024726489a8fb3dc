// A chat turn: validate, take the generation slots, store the user's message, send the conversation to the model,
// stream the answer back sanitized, and store it — complete, partial (the stream broke or the client left) or error.
// Nothing is lost on either side.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { BadRequestError, NotFoundError, UnauthorizedError } from '../../platform/errors.js';
import type { DbExecutor, Transact } from '../../platform/db/transactions.js';
import { ServerShuttingDownError } from '../../platform/server-shutting-down.js';
import { StreamingSanitizer, sanitizeUserText } from '../../platform/sanitize.js';
import type { ChatTurn, LlmService, TokenUsage } from '../llm/index.js';
import type { ChatMetrics } from './chat.metrics.js';
import type { ChatRepository, ChatSessionRecord } from './chat.repository.js';

export interface ChatSettings {
  systemPrompt: string;
  contextMessages: number;
  contextChars: number;
  maxMessageChars: number;
  allowAnonymous: boolean;
  /** Temperature when a request sends none (the original's 0.7). */
  defaultTemperature: number;
}

export interface ChatServiceDeps {
  db: DbExecutor;
  transact: Transact;
  chats: ChatRepository;
  llm: LlmService;
  clock: Clock;
  metrics: ChatMetrics;
  settings: ChatSettings;
}

/** Who is chatting: a user, or an anonymous client known by its address (for the per-client generation limit). */
export interface ChatCaller {
  userId: number | null;
  /** user:<id> or ip:<address>. */
  limitKey: string;
  requestId?: string;
}

export interface ChatInput {
  message: string;
  sessionId?: string | null;
  model?: string | null;
  temperature?: number | null;
  maxTokens?: number | null;
}

export type ChatEvent =
  | { type: 'start'; sessionId: string; model: string; userMessageId: number }
  | { type: 'token'; text: string }
  | {
      type: 'end';
      sessionId: string;
      messageId: number;
      model: string;
      text: string;
      usage: TokenUsage;
      startedAt: Date;
      finishedAt: Date;
    };

/** Stored with an answer the server's shutdown cut short (SHUTDOWN_TIMEOUT_MS), beside 'the client disconnected'. */
const SHUTDOWN_REASON = 'the server shut down before the answer was complete';
const TITLE_LENGTH = 80;
/** A UUID's length: a client-chosen id for an anonymous session must be as hard to guess. */
const MIN_ANONYMOUS_ID_LENGTH = 32;

function describe(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

export function sessionNotFound(id: string): NotFoundError {
  return new NotFoundError(`Session ${id} not found`, 'session_not_found');
}

/**
 * Session ids are unique per owner: the same id for two owners names two sessions, and nobody learns another's ids.
 * Every anonymous client shares one owner, so an anonymous session's id must be unguessable.
 */
export const ANONYMOUS_OWNER_KEY = 'anonymous';

export function userOwnerKey(userId: number): string {
  return `user:${userId}`;
}

function ownerKeyOf(caller: ChatCaller): string {
  return caller.userId === null ? ANONYMOUS_OWNER_KEY : userOwnerKey(caller.userId);
}

/** The first line of the first message, at most 80 characters: the session's title until it is renamed. */
function titleFrom(text: string): string {
  const line = text.split('\n', 1)[0]?.trim() ?? '';
  const chars = [...line];
  if (chars.length <= TITLE_LENGTH) return line;
  // The text is sanitized (& < > escaped): a cut must not leave half an entity such as "&am".
  return `${chars
    .slice(0, TITLE_LENGTH - 1)
    .join('')
    .replace(/&[#a-zA-Z0-9]*$/, '')}…`;
}

export class ChatService {
  constructor(private readonly deps: ChatServiceDeps) {}

  /**
   * Runs one chat turn as a stream of events: `start` once the user's message is stored, `token`s as they come
   * (sanitized), `end` once the answer is stored. Errors before `start` leave nothing behind; after it, the answer is
   * stored as `error` or `partial` before the error reaches the caller. Stopping the iteration early (the client
   * left) stores what was generated as `partial`; the caller aborts `signal` to cancel the upstream call.
   */
  async *converse(caller: ChatCaller, input: ChatInput, signal: AbortSignal): AsyncGenerator<ChatEvent> {
    const { llm, clock, metrics } = this.deps;
    const text = this.validate(caller, input);
    const model = llm.normaliseModel(input.model);
    const sessionId = input.sessionId ?? null;
    const existing = await this.existingSession(caller, sessionId);
    const context = await this.contextOf(existing);
    const generation = await llm.start(
      {
        model,
        messages: [...context, { role: 'user', content: text }],
        temperature: input.temperature ?? this.deps.settings.defaultTemperature,
        ...(input.maxTokens == null ? {} : { maxTokens: input.maxTokens }),
        signal,
        ...(caller.requestId ? { requestId: caller.requestId } : {}),
      },
      { key: caller.limitKey },
    );

    const startedAt = clock.now();
    let session: ChatSessionRecord;
    let userMessageId: number;
    try {
      ({ session, userMessageId } = await this.storeQuestion(
        caller,
        existing,
        sessionId,
        model,
        text,
        startedAt,
      ));
    } catch (error) {
      // The slots taken by start() are released when its iteration ends: end it unread.
      await generation[Symbol.asyncIterator]().return?.();
      throw error;
    }
    metrics.message('user', 'complete');
    yield { type: 'start', sessionId: session.id, model, userMessageId };

    const sanitizer = new StreamingSanitizer();
    let answer = '';
    let finished = false;
    let failure: unknown;
    let usage: TokenUsage = { promptTokens: null, completionTokens: null };
    let answeredModel = model;
    try {
      for await (const event of generation) {
        if (event.type === 'token') {
          const safe = sanitizer.push(event.text);
          if (safe) {
            answer += safe;
            yield { type: 'token', text: safe };
          }
        } else {
          usage = event.usage;
          answeredModel = event.model || model;
        }
      }
      const rest = sanitizer.end();
      answer += rest;
      if (rest) yield { type: 'token', text: rest };
      finished = true;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      // A failure, or the consumer stopped early (the client left): keep what was generated, and say why it ended.
      if (!finished) {
        const content = answer + sanitizer.end();
        // The server's shutdown cutting the answer short is no fault of the model: say so (the error the caller
        // gets is the signal's reason, server_shutting_down).
        const shutdown = signal.aborted && signal.reason instanceof ServerShuttingDownError;
        // The client leaving (an abort, or the consumer stopping early) is `partial` even before any token.
        const clientLeft = !shutdown && (signal.aborted || failure === undefined);
        const status = content || clientLeft ? 'partial' : 'error';
        const reason = shutdown
          ? SHUTDOWN_REASON
          : clientLeft
            ? 'the client disconnected'
            : describe(failure);
        await this.storeAnswer(session.rowId, {
          content,
          model: answeredModel,
          usage,
          status,
          error: reason,
        });
        metrics.message('assistant', status);
      }
    }
    const messageId = await this.storeAnswer(session.rowId, {
      content: answer,
      model: answeredModel,
      usage,
      status: 'complete',
      error: null,
    });
    // Its owner deleted the session while the model answered: the answer has nowhere to go, and says so.
    if (messageId === undefined) throw sessionNotFound(session.id);
    metrics.message('assistant', 'complete');
    yield {
      type: 'end',
      sessionId: session.id,
      messageId,
      model: answeredModel,
      text: answer,
      usage,
      startedAt,
      finishedAt: clock.now(),
    };
  }

  private validate(caller: ChatCaller, input: ChatInput): string {
    if (caller.userId === null && !this.deps.settings.allowAnonymous) throw new UnauthorizedError();
    const trimmed = input.message.trim();
    if (!trimmed) throw new BadRequestError('Message cannot be empty', 'empty_message');
    const max = this.deps.settings.maxMessageChars;
    if ([...trimmed].length > max)
      throw new BadRequestError(`Message exceeds maximum length of ${max} characters`, 'message_too_long');
    const text = sanitizeUserText(trimmed).trim();
    // Only markup: nothing is left to say.
    if (!text) throw new BadRequestError('Message cannot be empty', 'empty_message');
    return text;
  }

  /**
   * The caller's session with this id, or undefined when it is to be created (no id, or a new one: also when another
   * owner has a session of that id). A guessable new anonymous id is refused before anything is generated.
   */
  private async existingSession(
    caller: ChatCaller,
    id: string | null,
  ): Promise<ChatSessionRecord | undefined> {
    if (id === null) return undefined;
    const existing = await this.deps.chats.findSession(this.deps.db, ownerKeyOf(caller), id);
    if (existing) return existing;
    if (caller.userId === null && id.length < MIN_ANONYMOUS_ID_LENGTH) {
      // Anyone who knows an anonymous session's id can continue it, and the model's answers can reveal the earlier
      // conversation: an anonymous session's id must be unguessable (ours are random UUIDs).
      throw new BadRequestError(
        `An anonymous session_id must be at least ${MIN_ANONYMOUS_ID_LENGTH} characters (or leave it out)`,
        'guessable_session_id',
      );
    }
    return undefined;
  }

  /**
   * The user's message, in its session: made only once the generation is admitted, so a refused chat leaves nothing
   * behind. A new session and its first message are one transaction (one write on SQLite, before the first token).
   */
  private async storeQuestion(
    caller: ChatCaller,
    existing: ChatSessionRecord | undefined,
    sessionId: string | null,
    model: string,
    text: string,
    at: Date,
  ): Promise<{ session: ChatSessionRecord; userMessageId: number }> {
    const { db, chats, transact } = this.deps;
    const message = { role: 'user' as const, content: text, userId: caller.userId };
    if (existing) {
      const userMessageId = await chats.addMessage(db, { ...message, sessionRowId: existing.rowId }, at);
      if (userMessageId !== undefined) return { session: existing, userMessageId };
      // Deleted by its owner since it was read: a message to an id that names no session starts a new one.
    }
    return transact(async (trx) => {
      const session = await this.createSession(trx, caller, sessionId, model, titleFrom(text));
      const userMessageId = await chats.addMessage(trx, { ...message, sessionRowId: session.rowId }, at);
      if (userMessageId === undefined) throw sessionNotFound(session.id);
      return { session, userMessageId };
    });
  }

  /**
   * A new session (in the caller's transaction); the one a concurrent request of the same owner just created with
   * this id is reused.
   */
  private async createSession(
    trx: DbExecutor,
    caller: ChatCaller,
    id: string | null,
    model: string,
    title: string,
  ): Promise<ChatSessionRecord> {
    const sessionId = id ?? randomUUID();
    const ownerKey = ownerKeyOf(caller);
    const { chats, clock } = this.deps;
    const created = await chats.createSession(
      trx,
      { id: sessionId, ownerKey, userId: caller.userId, model, title },
      clock.now(),
    );
    if (created !== 'duplicate') return created;
    // Created by a concurrent request of the same owner between our read and our insert (and gone only if deleted
    // since, by that same owner).
    const raced = await chats.findSession(trx, ownerKey, sessionId);
    if (!raced) throw sessionNotFound(sessionId);
    return raced;
  }

  /** The system prompt, then the latest messages that fit CHAT_CONTEXT_MESSAGES and CHAT_CONTEXT_CHARS. */
  private async contextOf(session: ChatSessionRecord | undefined): Promise<ChatTurn[]> {
    const { db, chats, settings } = this.deps;
    // A new session has nothing to read: one statement less before the first token.
    const recent =
      !session || session.messageCount === 0
        ? []
        : await chats.recentMessages(db, session.rowId, settings.contextMessages);
    const turns: ChatTurn[] = [];
    let chars = 0;
    for (const message of recent.reverse()) {
      // A failed answer has nothing the model said; its question stays (the user may be asking again).
      if (message.status === 'error' || !message.content) continue;
      chars += message.content.length;
      if (chars > settings.contextChars) break;
      turns.unshift({ role: message.role, content: message.content });
    }
    return settings.systemPrompt ? [{ role: 'system', content: settings.systemPrompt }, ...turns] : turns;
  }

  private async storeAnswer(
    sessionRowId: number,
    answer: {
      content: string;
      model: string;
      usage: TokenUsage;
      status: 'complete' | 'partial' | 'error';
      error: string | null;
    },
  ): Promise<number | undefined> {
    return this.deps.chats.addMessage(
      this.deps.db,
      {
        sessionRowId,
        role: 'assistant',
        content: answer.content,
        model: answer.model,
        promptTokens: answer.usage.promptTokens,
        completionTokens: answer.usage.completionTokens,
        status: answer.status,
        error: answer.error,
      },
      this.deps.clock.now(),
    );
  }
}
