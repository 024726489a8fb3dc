// Reading and managing stored conversations: an owner's sessions (newest first, keyset pages), one session's messages
// (the original's offset page, plus a keyset cursor), renaming and deleting. A session id names one of the caller's
// own sessions only (ids are scoped to their owner): another owner's session of the same id is never found.
import type { Clock } from '../../lib/clock.js';
import { BadRequestError } from '../../platform/errors.js';
import type { CursorCodec } from '../../platform/pagination.js';
import { lookupKey, sessionNotFound, type ChatOwner } from './chat-owner.js';
import { cleanUserText } from './chat-text.js';
import type { ChatMessageRecord, ChatRepository, ChatSessionRecord } from './chat.repository.js';

export interface ChatHistoryDeps {
  chats: ChatRepository;
  cursors: CursorCodec;
  clock: Clock;
}

export interface SessionPage {
  items: ChatSessionRecord[];
  nextCursor: string | null;
}

export interface MessagePage {
  session: ChatSessionRecord;
  messages: ChatMessageRecord[];
  total: number;
  firstMessageAt: Date | null;
  nextCursor: string | null;
}

const MAX_TITLE_CHARS = 80;

export class ChatHistoryService {
  constructor(private readonly deps: ChatHistoryDeps) {}

  async listSessions(owner: ChatOwner, page: { limit: number; cursor?: string }): Promise<SessionPage> {
    const { chats, cursors } = this.deps;
    // A cursor is only good for the list it came from: another owner's is refused.
    const scope = `chat-sessions:${lookupKey(owner)}`;
    const after = page.cursor === undefined ? undefined : cursors.decode(page.cursor, scope);
    const rows = await chats.listSessions(owner, {
      // One more than asked tells whether there is a next page.
      limit: page.limit + 1,
      ...(after?.ts ? { after: { lastMessageAt: new Date(after.ts), id: String(after.id) } } : {}),
    });
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor:
        rows.length > page.limit && last
          ? cursors.encode({ id: last.id, ts: last.lastMessageAt.toISOString() }, scope)
          : null,
    };
  }

  async messages(
    owner: ChatOwner,
    sessionId: string,
    page: { limit: number; skip: number; cursor?: string },
  ): Promise<MessagePage> {
    const { chats, cursors } = this.deps;
    const session = await this.owned(owner, sessionId);
    // The internal key: a cursor of another owner's session with the same public id is not one of this session's.
    const scope = `chat-messages:${session.rowId}`;
    const after = page.cursor === undefined ? undefined : Number(cursors.decode(page.cursor, scope).id);
    const [rows, total, firstMessageAt] = await Promise.all([
      chats.listMessages(session.rowId, {
        // One more than asked tells whether there is a next page.
        limit: page.limit + 1,
        ...(after === undefined ? { skip: page.skip } : { afterId: after }),
      }),
      chats.countMessages(session.rowId),
      chats.firstMessageAt(session.rowId),
    ]);
    const messages = rows.slice(0, page.limit);
    const last = messages.at(-1);
    const hasMore = rows.length > page.limit;
    return {
      session,
      messages,
      total,
      firstMessageAt,
      nextCursor: hasMore && last ? cursors.encode({ id: last.id }, scope) : null,
    };
  }

  /** The title as typed, cleaned (chat-text.ts), with its runs of whitespace (line breaks too) made one space. */
  async rename(owner: ChatOwner, sessionId: string, title: string): Promise<ChatSessionRecord> {
    const session = await this.owned(owner, sessionId);
    const clean = cleanUserText(title).replace(/\s+/g, ' ').trim();
    if (!clean) throw new BadRequestError('Title cannot be empty', 'empty_title');
    if ([...clean].length > MAX_TITLE_CHARS)
      throw new BadRequestError(
        `Title exceeds maximum length of ${MAX_TITLE_CHARS} characters`,
        'title_too_long',
      );
    const renamed = await this.deps.chats.renameSession(session.rowId, clean, this.deps.clock.now());
    if (!renamed) throw sessionNotFound(sessionId);
    return renamed;
  }

  async delete(owner: ChatOwner, sessionId: string): Promise<number> {
    const session = await this.owned(owner, sessionId);
    const deleted = await this.deps.chats.deleteSession(session.rowId);
    // A concurrent delete of the same session got there first: it answers for the messages, this one finds none.
    if (deleted === undefined) throw sessionNotFound(sessionId);
    return deleted;
  }

  private async owned(owner: ChatOwner, sessionId: string): Promise<ChatSessionRecord> {
    const session = await this.deps.chats.findSession(owner, sessionId);
    if (!session) throw sessionNotFound(sessionId);
    return session;
  }
}
