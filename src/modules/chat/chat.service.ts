// A chat turn: validate, take the generation slots, store the user's message, send the conversation to the model,
// stream the answer back, and store it — complete, partial (the stream broke or the client left) or error. Text is
// kept exactly (chat-text.ts says what little changes). Nothing is lost on either side.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { BadRequestError, NotFoundError, UnauthorizedError } from '../../platform/errors.js';
import type { Transact, Tx } from '../../platform/db/transactions.js';
import { ServerShuttingDownError } from '../../platform/server-shutting-down.js';
import type { ChatTurn, LlmService, TokenUsage } from '../llm/index.js';
import { sessionNotFound, type ChatOwner } from './chat-owner.js';
import { ModelTextStream, cleanUserText } from './chat-text.js';
import type { ChatMetrics } from './chat.metrics.js';
import type { ChatRepository, ChatSessionRecord, ChatSource } from './chat.repository.js';

export interface ChatSettings {
  systemPrompt: string;
  contextMessages: number;
  contextChars: number;
  maxMessageChars: number;
  allowAnonymous: boolean;
  /** Temperature when a request sends none (the original's 0.7). */
  defaultTemperature: number;
  /** LLM_MAX_TOKENS: an agent's max_tokens above it is cut to it. */
  maxTokens: number;
}

/** What a chat needs of an agent: its model, system prompt and defaults. */
export interface ChatAgent {
  id: string;
  /** Null for an external agent service, which cannot chat. */
  model: string | null;
  systemPrompt: string | null;
  temperature: number | null;
  maxTokens: number | null;
  /** Seeded by the server (not a user's): its id is a metrics label, any other agent's is `custom`. */
  builtIn: boolean;
}

/** The agents a caller may chat through (the agents module): 404 agent_not_found for one it may not see. */
export interface ChatAgents {
  find(userId: number | null, id: string): Promise<ChatAgent>;
}

/** The files a turn is asked over: these ids, or every ready file of the user. */
export type FileSelection = { fileIds: string[] } | { all: true };

/**
 * The passages of a user's files for a question (the documents module): 404 file_not_found for a file that is not
 * theirs, 409 for one not ready. `instructions` is the system message that hands them to the model.
 */
export interface ChatDocuments {
  retrieve(
    userId: number,
    selection: FileSelection,
    question: string,
    call: { key: string; requestId?: string; signal: AbortSignal },
  ): Promise<{ instructions: string; sources: ChatSource[] }>;
}

export interface ChatServiceDeps {
  transact: Transact;
  agents: ChatAgents;
  documents: ChatDocuments;
  chats: ChatRepository;
  llm: LlmService;
  clock: Clock;
  metrics: ChatMetrics;
  settings: ChatSettings;
}

/** Who is chatting: whose sessions it sees, and whom the per-client generation limit counts. */
export interface ChatCaller {
  owner: ChatOwner;
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
  /**
   * Chat through this agent: its model, system prompt and defaults, where the request gives none. Absent: the
   * session's agent, if any; null: no agent, whatever the session's.
   */
  agent?: string | null;
  /** Answer over these files of the user (their best passages go into the context, and come back as sources). */
  files?: string[] | null;
  /** Answer over every ready file of the user. */
  useFiles?: boolean | null;
}

export type ChatEvent =
  | {
      type: 'start';
      sessionId: string;
      model: string;
      userMessageId: number;
      /** The user's message as stored (cleaned: chat-text.ts). */
      message: string;
      /** The session's owner: the caller's ownerKey, except for a caller without a cookie that continues a session
       * of its address (created by another request, with the cookie that request was given). */
      ownerKey: string;
    }
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
      /** The file passages the answer was given; null when the turn asked for no files. */
      sources: ChatSource[] | null;
    };

/** Stored with an answer the server's shutdown cut short (SHUTDOWN_TIMEOUT_MS), beside 'the client disconnected'. */
const SHUTDOWN_REASON = 'the server shut down before the answer was complete';
const TITLE_LENGTH = 80;

function describe(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

/** The first line of the first message, at most 80 characters: the session's title until it is renamed. */
export function titleFrom(text: string): string {
  // Leading blank lines are no line of the message: the title is its first line that says something.
  const line =
    text
      .trimStart()
      .split(/\r\n|\r|\n/, 1)[0]
      ?.trim() ?? '';
  const chars = [...line];
  return chars.length <= TITLE_LENGTH ? line : `${chars.slice(0, TITLE_LENGTH - 1).join('')}…`;
}

export class ChatService {
  constructor(private readonly deps: ChatServiceDeps) {}

  /**
   * Runs one chat turn as a stream of events: `start` once the user's message is stored, `token`s as they come
   * (cleaned by ModelTextStream), `end` once the answer is stored. Errors before `start` leave nothing behind; after it, the answer is
   * stored as `error` or `partial` before the error reaches the caller. Stopping the iteration early (the client
   * left) stores what was generated as `partial`; the caller aborts `signal` to cancel the upstream call.
   */
  async *converse(caller: ChatCaller, input: ChatInput, signal: AbortSignal): AsyncGenerator<ChatEvent> {
    const { llm, clock, metrics } = this.deps;
    const text = this.validate(caller, input);
    const sessionId = input.sessionId ?? null;
    const existing = await this.existingSession(caller, sessionId);
    const agent = await this.agentOf(caller, input.agent, existing);
    const model = llm.normaliseModel(input.model ?? agent?.model);
    const context = await this.contextOf(existing, agent?.systemPrompt ?? null);
    const documents = await this.documentsFor(caller, input, text, signal);
    const sources = documents?.sources ?? null;
    // An agent's default stays within LLM_MAX_TOKENS, as a request's own value must.
    const agentMaxTokens =
      agent?.maxTokens == null ? null : Math.min(agent.maxTokens, this.deps.settings.maxTokens);
    const maxTokens = input.maxTokens ?? agentMaxTokens;
    if (existing && existing.model !== model) metrics.modelSwitch();
    const generation = await llm.start(
      {
        model,
        messages: [
          ...context,
          ...(documents ? [{ role: 'system' as const, content: documents.instructions }] : []),
          { role: 'user', content: text },
        ],
        temperature: input.temperature ?? agent?.temperature ?? this.deps.settings.defaultTemperature,
        ...(maxTokens === null ? {} : { maxTokens }),
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
        { model, agent: agent?.id ?? null },
        text,
        startedAt,
      ));
    } catch (error) {
      // The slots taken by start() are released when its iteration ends: end it unread.
      await generation[Symbol.asyncIterator]().return?.();
      throw error;
    }
    metrics.message('user', 'complete');
    yield {
      type: 'start',
      sessionId: session.id,
      model,
      userMessageId,
      message: text,
      ownerKey: session.ownerKey,
    };

    const cleaner = new ModelTextStream();
    let answer = '';
    let finished = false;
    let failure: unknown;
    let usage: TokenUsage = { promptTokens: null, completionTokens: null };
    let answeredModel = model;
    try {
      for await (const event of generation) {
        if (event.type === 'token') {
          const clean = cleaner.push(event.text);
          if (clean) {
            answer += clean;
            yield { type: 'token', text: clean };
          }
        } else {
          usage = event.usage;
          answeredModel = event.model || model;
        }
      }
      const rest = cleaner.end();
      answer += rest;
      if (rest) yield { type: 'token', text: rest };
      finished = true;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      // A failure, or the consumer stopped early (the client left): keep what was generated, and say why it ended.
      if (!finished) {
        const content = answer + cleaner.end();
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
          sources,
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
      sources,
    });
    // Its owner deleted the session while the model answered: the answer has nowhere to go, and says so.
    if (messageId === undefined) throw sessionNotFound(session.id);
    metrics.message('assistant', 'complete');
    if (agent)
      metrics.agentTurn(agent.builtIn ? agent.id : 'custom', {
        prompt: usage.promptTokens,
        completion: usage.completionTokens,
      });
    yield {
      type: 'end',
      sessionId: session.id,
      messageId,
      model: answeredModel,
      text: answer,
      usage,
      startedAt,
      finishedAt: clock.now(),
      sources,
    };
  }

  /** The passages of the files the turn asks about, or null when it asks about none. Files are a user's only. */
  private async documentsFor(caller: ChatCaller, input: ChatInput, question: string, signal: AbortSignal) {
    const fileIds = input.files ?? [];
    if (fileIds.length === 0 && input.useFiles !== true) return null;
    const userId = caller.owner.userId;
    if (userId === null) throw new UnauthorizedError('Sign in to chat over your files');
    return this.deps.documents.retrieve(
      userId,
      fileIds.length > 0 ? { fileIds: [...new Set(fileIds)] } : { all: true },
      question,
      { key: caller.limitKey, signal, ...(caller.requestId ? { requestId: caller.requestId } : {}) },
    );
  }

  /**
   * The agent of this turn: the one asked for (404 when the caller may not see it, 400 when it cannot chat), else
   * the session's own — unless it can no longer serve the session (deleted, made private or external by its owner):
   * the session then goes on without it, as it does with `agent: null`.
   */
  private async agentOf(
    caller: ChatCaller,
    requested: string | null | undefined,
    session: ChatSessionRecord | undefined,
  ): Promise<ChatAgent | undefined> {
    const fromSession = requested === undefined;
    const id = fromSession ? (session?.agent ?? null) : requested;
    if (id === null) return undefined;
    let agent: ChatAgent;
    try {
      agent = await this.deps.agents.find(caller.owner.userId, id);
    } catch (error) {
      if (fromSession && error instanceof NotFoundError) return undefined;
      throw error;
    }
    if (agent.model === null) {
      if (fromSession) return undefined;
      throw new BadRequestError(
        `Agent ${id} is an external agent service: it has no model to chat with`,
        'agent_cannot_chat',
      );
    }
    return agent;
  }

  /** The message as stored and sent: cleaned (chat-text.ts), not trimmed; its length counts the cleaned text. */
  private validate(caller: ChatCaller, input: ChatInput): string {
    if (caller.owner.userId === null && !this.deps.settings.allowAnonymous) throw new UnauthorizedError();
    const text = cleanUserText(input.message);
    if (!text.trim()) throw new BadRequestError('Message cannot be empty', 'empty_message');
    const max = this.deps.settings.maxMessageChars;
    if ([...text].length > max)
      throw new BadRequestError(`Message exceeds maximum length of ${max} characters`, 'message_too_long');
    return text;
  }

  /** The caller's session with this id, or undefined when it is to be created (no id, or a new one). */
  private async existingSession(
    caller: ChatCaller,
    id: string | null,
  ): Promise<ChatSessionRecord | undefined> {
    return id === null ? undefined : this.deps.chats.findSession(caller.owner, id);
  }

  /**
   * The user's message, in its session: made only once the generation is admitted, so a refused chat leaves nothing
   * behind. A new session and its first message are one transaction (one write on SQLite, before the first token).
   */
  private async storeQuestion(
    caller: ChatCaller,
    existing: ChatSessionRecord | undefined,
    sessionId: string | null,
    chatWith: { model: string; agent: string | null },
    text: string,
    at: Date,
  ): Promise<{ session: ChatSessionRecord; userMessageId: number }> {
    const { chats, transact } = this.deps;
    const message = { role: 'user' as const, content: text, userId: caller.owner.userId };
    if (existing) {
      const userMessageId = await chats.addMessage({ ...message, sessionRowId: existing.rowId }, at);
      if (userMessageId !== undefined) return { session: existing, userMessageId };
      // Deleted by its owner since it was read: a message to an id that names no session starts a new one.
    }
    return transact(async (tx) => {
      const session = await this.createSession(tx, caller.owner, sessionId, chatWith, titleFrom(text));
      const userMessageId = await chats.addMessage({ ...message, sessionRowId: session.rowId }, at, tx);
      if (userMessageId === undefined) throw sessionNotFound(session.id);
      return { session, userMessageId };
    });
  }

  /**
   * A new session (in the caller's transaction); the one a concurrent request of the same owner (or, without a
   * cookie, the same address) just created with this id is reused.
   */
  private async createSession(
    tx: Tx,
    owner: ChatOwner,
    id: string | null,
    chatWith: { model: string; agent: string | null },
    title: string,
  ): Promise<ChatSessionRecord> {
    const sessionId = id ?? randomUUID();
    const { chats, clock } = this.deps;
    const created = await chats.createSession(
      { id: sessionId, owner, userId: owner.userId, model: chatWith.model, agent: chatWith.agent, title },
      clock.now(),
      tx,
    );
    if (created !== 'duplicate') return created;
    // Created by a concurrent request of the same owner between our read and our insert (and gone only if deleted
    // since, by that same owner).
    const raced = await chats.findSession(owner, sessionId, tx);
    if (!raced) throw sessionNotFound(sessionId);
    return raced;
  }

  /**
   * The system prompt (the agent's, else CHAT_SYSTEM_PROMPT), then the latest messages that fit CHAT_CONTEXT_MESSAGES
   * and CHAT_CONTEXT_CHARS.
   */
  private async contextOf(
    session: ChatSessionRecord | undefined,
    agentPrompt: string | null,
  ): Promise<ChatTurn[]> {
    const { chats, settings } = this.deps;
    // A new session has nothing to read: one statement less before the first token.
    const recent =
      !session || session.messageCount === 0
        ? []
        : await chats.recentMessages(session.rowId, settings.contextMessages);
    const turns: ChatTurn[] = [];
    let chars = 0;
    for (const message of recent.reverse()) {
      // A failed answer has nothing the model said; its question stays (the user may be asking again).
      if (message.status === 'error' || !message.content) continue;
      chars += message.content.length;
      if (chars > settings.contextChars) break;
      turns.unshift({ role: message.role, content: message.content });
    }
    const systemPrompt = agentPrompt ?? settings.systemPrompt;
    return systemPrompt ? [{ role: 'system', content: systemPrompt }, ...turns] : turns;
  }

  private async storeAnswer(
    sessionRowId: number,
    answer: {
      content: string;
      model: string;
      usage: TokenUsage;
      status: 'complete' | 'partial' | 'error';
      error: string | null;
      sources: ChatSource[] | null;
    },
  ): Promise<number | undefined> {
    return this.deps.chats.addMessage(
      {
        sessionRowId,
        role: 'assistant',
        content: answer.content,
        model: answer.model,
        promptTokens: answer.usage.promptTokens,
        completionTokens: answer.usage.completionTokens,
        status: answer.status,
        error: answer.error,
        sources: answer.sources,
      },
      this.deps.clock.now(),
    );
  }
}
