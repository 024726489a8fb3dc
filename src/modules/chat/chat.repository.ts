// SQL of chat sessions and messages. Records come back with Dates and booleans whatever the dialect. A session is
// found by its owner and public id together (ids are unique per owner only); everything after that goes by its
// internal key.
import type { SelectQueryBuilder, Selectable } from 'kysely';
import type {
  ChatMessageRole,
  ChatMessageStatus,
  ChatMessagesTable,
  ChatSessionsTable,
  DB,
} from '../../platform/db/schema.js';
import { Repository, type Tx } from '../../platform/db/transactions.js';
import { isForeignKeyViolation } from '../../platform/db/constraint-errors.js';
import { toBool, toDate } from '../../platform/db/values.js';
import type { ChatOwner } from './chat-owner.js';

/** What finds an owner's sessions: its address when it has one (an anonymous client without a cookie), else its key. */
export type SessionOwner = Pick<ChatOwner, 'ownerKey' | 'ipKey'>;

export interface ChatSessionRecord {
  /** The internal key: what messages, cursors and updates use. Never shown. */
  rowId: number;
  /** The API's session_id. */
  id: string;
  ownerKey: string;
  ipOwnerKey: string | null;
  userId: number | null;
  title: string | null;
  titleIsCustom: boolean;
  model: string;
  agent: string | null;
  messageCount: number;
  createdAt: Date;
  updatedAt: Date;
  lastMessageAt: Date;
}

export interface ChatMessageRecord {
  id: number;
  sessionRowId: number;
  role: ChatMessageRole;
  content: string;
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  status: ChatMessageStatus;
  error: string | null;
  userId: number | null;
  createdAt: Date;
  /** The file passages the answer was given (chat over files); null for every other message. */
  sources: ChatSource[] | null;
}

/** One passage of a user's file that an answer was given, as stored and returned. */
export interface ChatSource {
  file_id: string;
  name: string;
  chunk: number;
  score: number;
  excerpt: string;
}

export interface NewChatMessage {
  sessionRowId: number;
  role: ChatMessageRole;
  content: string;
  model?: string | null;
  promptTokens?: number | null;
  completionTokens?: number | null;
  status?: ChatMessageStatus;
  error?: string | null;
  userId?: number | null;
  sources?: ChatSource[] | null;
}

function toSession(row: Selectable<ChatSessionsTable>): ChatSessionRecord {
  return {
    rowId: row.id,
    id: row.public_id,
    ownerKey: row.owner_key,
    ipOwnerKey: row.ip_owner_key,
    userId: row.user_id,
    title: row.title,
    titleIsCustom: toBool(row.title_is_custom),
    model: row.model,
    agent: row.agent,
    messageCount: row.message_count,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    lastMessageAt: toDate(row.last_message_at),
  };
}

function toMessage(row: Selectable<ChatMessagesTable>): ChatMessageRecord {
  return {
    id: row.id,
    sessionRowId: row.session_id,
    role: row.role,
    content: row.content,
    model: row.model,
    promptTokens: row.prompt_tokens,
    completionTokens: row.completion_tokens,
    status: row.status,
    error: row.error,
    userId: row.user_id,
    createdAt: toDate(row.created_at),
    sources: row.sources === null ? null : (JSON.parse(row.sources) as ChatSource[]),
  };
}

function ownedBy<O>(
  query: SelectQueryBuilder<DB, 'chat_sessions', O>,
  owner: SessionOwner,
): SelectQueryBuilder<DB, 'chat_sessions', O> {
  return owner.ipKey === null
    ? query.where('owner_key', '=', owner.ownerKey)
    : query.where('ip_owner_key', '=', owner.ipKey);
}

export class ChatRepository extends Repository {
  /** The session `id` of `owner`; another owner's session of the same id is not found. */
  async findSession(owner: SessionOwner, id: string, tx?: Tx): Promise<ChatSessionRecord | undefined> {
    const row = await ownedBy(this.on(tx).selectFrom('chat_sessions').selectAll(), owner)
      .where('public_id', '=', id)
      .executeTakeFirst();
    return row && toSession(row);
  }

  /**
   * The new session, or 'duplicate' when a concurrent request created one with this id for this owner (or this
   * address) first. The conflict is skipped rather than raised: inside a PostgreSQL transaction a failed statement
   * would abort it. Untargeted, the skip covers both unique keys (owner_key and ip_owner_key, each with public_id).
   */
  async createSession(
    session: {
      id: string;
      owner: SessionOwner;
      userId: number | null;
      model: string;
      title: string | null;
      /** The agent the session chats through, if any. */
      agent?: string | null;
    },
    now: Date,
    tx?: Tx,
  ): Promise<ChatSessionRecord | 'duplicate'> {
    const row = await this.on(tx)
      .insertInto('chat_sessions')
      .values({
        public_id: session.id,
        owner_key: session.owner.ownerKey,
        ip_owner_key: session.owner.ipKey,
        user_id: session.userId,
        model: session.model,
        title: session.title,
        title_is_custom: false,
        agent: session.agent ?? null,
        created_at: now,
        updated_at: now,
        last_message_at: now,
      })
      .onConflict((conflict) => conflict.doNothing())
      .returningAll()
      .executeTakeFirst();
    return row ? toSession(row) : 'duplicate';
  }

  /**
   * Adds a message. One statement: the database counts it on its session (message count, last activity, model) in
   * the same statement, by the trigger of migration 0004. Undefined when the session is gone (deleted by a concurrent
   * request since it was read).
   */
  async addMessage(message: NewChatMessage, now: Date, tx?: Tx): Promise<number | undefined> {
    try {
      return await this.insertMessage(message, now, tx);
    } catch (error) {
      if (isForeignKeyViolation(error)) return undefined;
      throw error;
    }
  }

  private async insertMessage(message: NewChatMessage, now: Date, tx?: Tx): Promise<number> {
    const row = await this.on(tx)
      .insertInto('chat_messages')
      .values({
        session_id: message.sessionRowId,
        role: message.role,
        content: message.content,
        model: message.model ?? null,
        prompt_tokens: message.promptTokens ?? null,
        completion_tokens: message.completionTokens ?? null,
        status: message.status ?? 'complete',
        error: message.error ?? null,
        user_id: message.userId ?? null,
        created_at: now,
        sources: message.sources ? JSON.stringify(message.sources) : null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /** The last `limit` messages of a session (oldest first), for the model's context. */
  async recentMessages(sessionRowId: number, limit: number, tx?: Tx): Promise<ChatMessageRecord[]> {
    if (limit === 0) return [];
    const rows = await this.on(tx)
      .selectFrom('chat_messages')
      .selectAll()
      .where('session_id', '=', sessionRowId)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toMessage).reverse();
  }

  /** A page of a session's messages, oldest first: by offset, or after the message `afterId` (keyset). */
  async listMessages(
    sessionRowId: number,
    page: { limit: number; skip?: number; afterId?: number },
    tx?: Tx,
  ): Promise<ChatMessageRecord[]> {
    let query = this.on(tx).selectFrom('chat_messages').selectAll().where('session_id', '=', sessionRowId);
    if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
    const rows = await query
      .orderBy('id')
      .limit(page.limit)
      .offset(page.skip ?? 0)
      .execute();
    return rows.map(toMessage);
  }

  async countMessages(sessionRowId: number, tx?: Tx): Promise<number> {
    const row = await this.on(tx)
      .selectFrom('chat_messages')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('session_id', '=', sessionRowId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async firstMessageAt(sessionRowId: number, tx?: Tx): Promise<Date | null> {
    const row = await this.on(tx)
      .selectFrom('chat_messages')
      .select('created_at')
      .where('session_id', '=', sessionRowId)
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    return row ? toDate(row.created_at) : null;
  }

  /** An owner's sessions, most recently active first, after the keyset position `after` when given. */
  async listSessions(
    owner: SessionOwner,
    page: { limit: number; after?: { lastMessageAt: Date; id: string } },
    tx?: Tx,
  ): Promise<ChatSessionRecord[]> {
    let query = ownedBy(this.on(tx).selectFrom('chat_sessions').selectAll(), owner);
    const after = page.after;
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('last_message_at', '<', after.lastMessageAt),
          eb.and([eb('last_message_at', '=', after.lastMessageAt), eb('public_id', '<', after.id)]),
        ]),
      );
    }
    const rows = await query
      .orderBy('last_message_at', 'desc')
      .orderBy('public_id', 'desc')
      .limit(page.limit)
      .execute();
    return rows.map(toSession);
  }

  async renameSession(
    rowId: number,
    title: string,
    now: Date,
    tx?: Tx,
  ): Promise<ChatSessionRecord | undefined> {
    const row = await this.on(tx)
      .updateTable('chat_sessions')
      .set({ title, title_is_custom: true, updated_at: now })
      .where('id', '=', rowId)
      .returningAll()
      .executeTakeFirst();
    return row && toSession(row);
  }

  /**
   * Deletes the session and its messages; returns how many messages went with it, or undefined when a concurrent
   * request deleted it first (one statement, so of several deletes of one session exactly one gets the count).
   */
  async deleteSession(rowId: number, tx?: Tx): Promise<number | undefined> {
    const row = await this.on(tx)
      .deleteFrom('chat_sessions')
      .where('id', '=', rowId)
      .returning('message_count')
      .executeTakeFirst();
    return row?.message_count;
  }
}
