// Migration 0006 (chat session ids scoped to their owner) rebuilds both chat tables: every session and message of the
// 0004 schema comes over unchanged, message ids keep counting from where they were, the message-count trigger still
// works, and the way back restores the 0004 shape when no id is shared by two owners.
import { Migrator, sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { ChatRepository } from '../../../src/modules/chat/chat.repository.js';
import { createDatabase, type Database } from '../../../src/platform/db/database.js';
import { migrations } from '../../../src/platform/db/migrations/index.js';
import { toBool, toDate } from '../../../src/platform/db/values.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';

const BEFORE = '0004_chat_message_counts';

/** A row of either schema: the typed DB describes only the latest. */
type Row = Record<string, unknown>;

describeEachDialect('migration 0006: chat session ids scoped to their owner', (dialect) => {
  let fresh: FreshDatabase;
  let database: Database;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the schema changes under this handle
  let db: Kysely<any>;
  let migrator: Migrator;
  let chats: ChatRepository;

  beforeEach(async () => {
    fresh = await freshDatabase(dialect);
    database = createDatabase(parseConfig({ DATABASE_URL: fresh.url }).db);
    db = database.db;
    chats = new ChatRepository(database.db);
    migrator = new Migrator({ db, provider: { getMigrations: () => Promise.resolve(migrations) } });
    expect((await migrator.migrateTo(BEFORE)).error).toBeUndefined();
  });
  afterEach(async () => {
    await database.destroy();
    await fresh.drop();
  });

  const at = (minute: number) => new Date(Date.UTC(2030, 0, 1, 0, minute, 0, 123));
  const addUser = async (name: string): Promise<number> => {
    const row = await db
      .insertInto('users')
      .values({ email: `${name}@example.com`, username: name, hashed_password: 'h' })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  };
  const migrateToLatest = async () => {
    const { error } = await migrator.migrateToLatest();
    expect(error).toBeUndefined();
  };

  it('carries every session and message over; the trigger, the id counter and the owner scope work', async () => {
    const [ann, bob] = [await addUser('ann'), await addUser('bob')];
    const anonymousId = 'a1b2c3d4-0000-4000-8000-00000000beef';
    const sessions: Row[] = [
      { id: 'shared', user_id: ann, title: 'Renamed', title_is_custom: true, model: 'm1', agent: 'helper' },
      { id: 'bobs', user_id: bob, title: 'Bob asks', title_is_custom: false, model: 'm2', agent: null },
      { id: anonymousId, user_id: null, title: 'Anon', title_is_custom: false, model: 'm1', agent: null },
      { id: 'empty', user_id: ann, title: null, title_is_custom: false, model: 'm1', agent: null },
      { id: 'doomed', user_id: ann, title: 'Gone', title_is_custom: false, model: 'm1', agent: null },
    ];
    for (const [i, session] of sessions.entries())
      await db
        .insertInto('chat_sessions')
        .values({ ...session, created_at: at(i), updated_at: at(i), last_message_at: at(i) })
        .execute();
    const message = (session: string, minute: number, extra: Row = {}) =>
      db
        .insertInto('chat_messages')
        .values({
          session_id: session,
          role: 'user',
          content: `in ${session}`,
          created_at: at(minute),
          ...extra,
        })
        .execute();
    await message('shared', 10, { user_id: ann });
    await message('shared', 11, {
      role: 'assistant',
      content: 'half an answer',
      model: 'm1',
      prompt_tokens: 7,
      completion_tokens: 3,
      status: 'partial',
      error: 'the client disconnected',
    });
    await message('bobs', 12, { user_id: bob });
    await message(anonymousId, 13);
    await message(anonymousId, 14, { role: 'assistant', content: 'Hello <b>you</b>', model: 'm1' });
    // The highest ids so far leave with their session: a new message must not get them again.
    await message('doomed', 15, { user_id: ann });
    await message('doomed', 16, { role: 'assistant', content: 'bye' });
    const highest = Number(
      (
        (await db
          .selectFrom('chat_messages')
          .select((eb) => eb.fn.max('id').as('n'))
          .executeTakeFirst()) as Row
      ).n,
    );
    await db.deleteFrom('chat_sessions').where('id', '=', 'doomed').execute();
    const oldSessions = (await db.selectFrom('chat_sessions').selectAll().orderBy('id').execute()) as Row[];
    const oldMessages = (await db.selectFrom('chat_messages').selectAll().orderBy('id').execute()) as Row[];
    expect(oldSessions).toHaveLength(4);
    expect(oldMessages).toHaveLength(5);

    await migrateToLatest();

    const newSessions = (await db.selectFrom('chat_sessions').selectAll().execute()) as Row[];
    expect(newSessions).toHaveLength(oldSessions.length);
    const rowIdOf = new Map<string, number>();
    for (const old of oldSessions) {
      const id = old.id as string;
      const owner = old.user_id === null ? 'anonymous' : `user:${Number(old.user_id)}`;
      const record = await chats.findSession({ ownerKey: owner, ipKey: null }, id);
      expect(record, `session ${id}`).toEqual({
        rowId: expect.any(Number) as unknown,
        id: old.id,
        ownerKey: owner,
        ipOwnerKey: null,
        userId: old.user_id,
        title: old.title,
        titleIsCustom: toBool(old.title_is_custom as boolean | number),
        model: old.model,
        agent: old.agent,
        messageCount: old.message_count,
        createdAt: toDate(old.created_at as Date | string),
        updatedAt: toDate(old.updated_at as Date | string),
        lastMessageAt: toDate(old.last_message_at as Date | string),
      });
      rowIdOf.set(id, record?.rowId ?? -1);
    }
    expect(oldSessions.find((s) => s.id === 'shared')?.message_count).toBe(2);

    const newMessages = (await db.selectFrom('chat_messages').selectAll().orderBy('id').execute()) as Row[];
    expect(newMessages).toEqual(
      // 0011 (later) adds the sources of an answer, empty on every message written before it.
      oldMessages.map((old) => ({
        ...old,
        session_id: rowIdOf.get(old.session_id as string),
        sources: null,
      })),
    );
    const shared = rowIdOf.get('shared') ?? -1;
    expect((await chats.listMessages(shared, { limit: 10 })).map((m) => m.content)).toEqual([
      'in shared',
      'half an answer',
    ]);
    expect(
      (await chats.listSessions({ ownerKey: `user:${ann}`, ipKey: null }, { limit: 10 })).map((s) => s.id),
    ).toEqual(['shared', 'empty']);

    // The trigger still counts, and the counter goes on above every id ever handed out.
    const now = at(30);
    const id = await chats.addMessage({ sessionRowId: shared, role: 'user', content: 'new' }, now);
    expect(id).toBeGreaterThan(highest);
    expect(await chats.findSession({ ownerKey: `user:${ann}`, ipKey: null }, 'shared')).toMatchObject({
      messageCount: 3,
      lastMessageAt: now,
    });

    // An id is unique per owner only.
    const bobsShared = await chats.createSession(
      { id: 'shared', owner: { ownerKey: `user:${bob}`, ipKey: null }, userId: bob, model: 'm', title: null },
      now,
    );
    expect(bobsShared).toMatchObject({ id: 'shared', userId: bob, messageCount: 0 });
    const again = await chats.createSession(
      { id: 'shared', owner: { ownerKey: `user:${ann}`, ipKey: null }, userId: ann, model: 'm', title: null },
      now,
    );
    expect(again).toBe('duplicate');

    // Deleting an account still takes its sessions and their messages along.
    await db.deleteFrom('users').where('id', '=', bob).execute();
    expect(await chats.findSession({ ownerKey: `user:${bob}`, ipKey: null }, 'bobs')).toBeUndefined();
    const left = (await db.selectFrom('chat_messages').select('id').execute()) as Row[];
    expect(left).toHaveLength(5);
  });

  it('goes back to the 0004 shape, and refuses to while two owners share an id', async () => {
    await migrateToLatest();
    const [ann, bob] = [await addUser('ann'), await addUser('bob')];
    const now = at(0);
    const create = async (userId: number) => {
      const session = await chats.createSession(
        { id: 'same', owner: { ownerKey: `user:${userId}`, ipKey: null }, userId, model: 'm', title: 't' },
        now,
      );
      if (session === 'duplicate') throw new Error('duplicate');
      return session;
    };
    const anns = await create(ann);
    const bobs = await create(bob);
    const first = await chats.addMessage({ sessionRowId: anns.rowId, role: 'user', content: 'A' }, now);
    await chats.addMessage({ sessionRowId: bobs.rowId, role: 'user', content: 'B' }, now);

    const refused = await migrator.migrateTo(BEFORE);
    expect(String(refused.error)).toMatch(
      /0006: 1 session id\(s\) belong to several owners \(e\.g\. "same"\)/,
    );
    await db.deleteFrom('chat_sessions').where('id', '=', bobs.rowId).execute();

    const back = await migrator.migrateTo(BEFORE);
    expect(back.error).toBeUndefined();
    expect(
      (await db.selectFrom('chat_sessions').select(['id', 'user_id', 'message_count']).execute()) as Row[],
    ).toEqual([{ id: 'same', user_id: ann, message_count: 1 }]);
    expect(
      (await db.selectFrom('chat_messages').select(['id', 'session_id', 'content']).execute()) as Row[],
    ).toEqual([{ id: first, session_id: 'same', content: 'A' }]);
    // 0004's trigger counts on the old key again.
    await db
      .insertInto('chat_messages')
      .values({ session_id: 'same', role: 'user', content: 'again', created_at: now })
      .execute();
    const { rows } = await sql<Row>`SELECT message_count FROM chat_sessions WHERE id = 'same'`.execute(db);
    expect(rows[0]?.message_count).toBe(2);

    await migrateToLatest();
    expect(await chats.findSession({ ownerKey: `user:${ann}`, ipKey: null }, 'same')).toMatchObject({
      messageCount: 2,
    });
  });
});
