// SQL of chat sessions and messages. Records come back with Dates and booleans whatever the dialect. A session is
// found by its owner and public id together (ids are unique per owner only); everything after that goes by its
// internal key.
import type { Selectable } from 'kysely';
import type {
  ChatMessageRole,
  ChatMessageStatus,
  ChatMessagesTable,
  ChatSessionsTable,
} from '../../platform/db/schema.js';
import type { DbExecutor } from '../../platform/db/transactions.js';
import { isForeignKeyViolation } from '../../platform/db/constraint-errors.js';
import { toBool, toDate } from '../../platform/db/values.js';

export interface ChatSessionRecord {
  /** The internal key: what messages, cursors and updates use. Never shown. */
  rowId: number;
  /** The API's session_id. */
  id: string;
  ownerKey: string;
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
}

function toSession(row: Selectable<ChatSessionsTable>): ChatSessionRecord {
  return {
    rowId: row.id,
    id: row.public_id,
    ownerKey: row.owner_key,
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
  };
}

export class ChatRepository {
  /** The session `id` of `ownerKey`; another owner's session of the same id is not found. */
  async findSession(db: DbExecutor, ownerKey: string, id: string): Promise<ChatSessionRecord | undefined> {
    const row = await db
      .selectFrom('chat_sessions')
      .selectAll()
      .where('owner_key', '=', ownerKey)
      .where('public_id', '=', id)
      .executeTakeFirst();
    return row && toSession(row);
  }

  /**
   * The new session, or 'duplicate' when a concurrent request created one with this id for this owner first. The
   * conflict is skipped rather than raised: inside a PostgreSQL transaction a failed statement would abort it.
   */
  async createSession(
    db: DbExecutor,
    session: { id: string; ownerKey: string; userId: number | null; model: string; title: string | null },
    now: Date,
  ): Promise<ChatSessionRecord | 'duplicate'> {
    const row = await db
      .insertInto('chat_sessions')
      .values({
        public_id: session.id,
        owner_key: session.ownerKey,
        user_id: session.userId,
        model: session.model,
        title: session.title,
        title_is_custom: false,
        created_at: now,
        updated_at: now,
        last_message_at: now,
      })
      .onConflict((conflict) => conflict.columns(['owner_key', 'public_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    return row ? toSession(row) : 'duplicate';
  }

  /**
   * Adds a message. One statement: the database counts it on its session (message count, last activity, model) in
   * the same statement, by the trigger of migration 0004. Undefined when the session is gone (deleted by a concurrent
   * request since it was read).
   */
  async addMessage(db: DbExecutor, message: NewChatMessage, now: Date): Promise<number | undefined> {
    try {
      return await this.insertMessage(db, message, now);
    } catch (error) {
      if (isForeignKeyViolation(error)) return undefined;
      throw error;
    }
  }

  private async insertMessage(db: DbExecutor, message: NewChatMessage, now: Date): Promise<number> {
    const row = await db
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
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /** The last `limit` messages of a session (oldest first), for the model's context. */
  async recentMessages(db: DbExecutor, sessionRowId: number, limit: number): Promise<ChatMessageRecord[]> {
    if (limit === 0) return [];
    const rows = await db
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
    db: DbExecutor,
    sessionRowId: number,
    page: { limit: number; skip?: number; afterId?: number },
  ): Promise<ChatMessageRecord[]> {
    let query = db.selectFrom('chat_messages').selectAll().where('session_id', '=', sessionRowId);
    if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
    const rows = await query
      .orderBy('id')
      .limit(page.limit)
      .offset(page.skip ?? 0)
      .execute();
    return rows.map(toMessage);
  }

  async countMessages(db: DbExecutor, sessionRowId: number): Promise<number> {
    const row = await db
      .selectFrom('chat_messages')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('session_id', '=', sessionRowId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async firstMessageAt(db: DbExecutor, sessionRowId: number): Promise<Date | null> {
    const row = await db
      .selectFrom('chat_messages')
      .select('created_at')
      .where('session_id', '=', sessionRowId)
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    return row ? toDate(row.created_at) : null;
  }

  /** A user's sessions, most recently active first, after the keyset position `after` when given. */
  async listSessions(
    db: DbExecutor,
    userId: number,
    page: { limit: number; after?: { lastMessageAt: Date; id: string } },
  ): Promise<ChatSessionRecord[]> {
    let query = db.selectFrom('chat_sessions').selectAll().where('user_id', '=', userId);
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
    db: DbExecutor,
    rowId: number,
    title: string,
    now: Date,
  ): Promise<ChatSessionRecord | undefined> {
    const row = await db
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
  async deleteSession(db: DbExecutor, rowId: number): Promise<number | undefined> {
    const row = await db
      .deleteFrom('chat_sessions')
      .where('id', '=', rowId)
      .returning('message_count')
      .executeTakeFirst();
    return row?.message_count;
  }
}
