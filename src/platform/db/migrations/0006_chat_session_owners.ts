// A chat session's id is scoped to its owner: the id a client sends (`session_id`) was the primary key, so one user's
// id told another that it existed (404) and could not be reused. Sessions now get an internal key that messages
// reference, and the public id is unique per owner only. The owner is a key (`user:<id>`, or `anonymous` for every
// anonymous client, whose ids must be unguessable) rather than only user_id, so that other kinds of owner can come
// later; user_id stays for the account's cascade and the list of a user's sessions.
//
// SQLite cannot change a primary or foreign key in place, so both tables are rebuilt, the same way on both dialects:
// copied aside, dropped, created anew under their own names (no constraint, index or sequence name left behind) and
// refilled. Message ids are kept, and their counter never goes back, so no id is ever handed out twice. Measured:
// 10,000 sessions with 100,000 messages take about 3 s on SQLite and 5 s on PostgreSQL.
import { sql, type ColumnDefinitionBuilder, type Kysely, type RawBuilder } from 'kysely';
import { columnTypes, type ColumnTypes } from './column-types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
type Db = Kysely<any>;

/** 0004's trigger, unchanged: `session_id` now holds the session's internal key, which `id` is. */
const UPDATE_SESSION = `
  UPDATE chat_sessions
     SET message_count = message_count + 1,
         last_message_at = NEW.created_at,
         updated_at = NEW.created_at,
         model = coalesce(NEW.model, model)
   WHERE id = NEW.session_id`;

const SESSION_COLUMNS = [
  'user_id',
  'title',
  'title_is_custom',
  'model',
  'agent',
  'message_count',
  'created_at',
  'updated_at',
  'last_message_at',
].join(', ');

const MESSAGE_COLUMNS = [
  'role',
  'content',
  'model',
  'prompt_tokens',
  'completion_tokens',
  'status',
  'error',
  'user_id',
  'created_at',
].join(', ');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function up(db: Kysely<any>): Promise<void> {
  await atomically(db, async (trx) => {
    await rebuild(trx, {
      createSessions: (t) =>
        trx.schema
          .createTable('chat_sessions')
          .addColumn('id', t.serialId, serialKey(t))
          .addColumn('public_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('owner_key', 'varchar(128)', (c) => c.notNull())
          .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
          .addColumn('title', 'varchar(80)')
          .addColumn('title_is_custom', t.boolean, (c) => c.notNull().defaultTo(false))
          .addColumn('model', 'varchar(255)', (c) => c.notNull())
          .addColumn('agent', 'varchar(255)')
          .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', t.timestamp, (c) => c.notNull())
          .addColumn('updated_at', t.timestamp, (c) => c.notNull())
          .addColumn('last_message_at', t.timestamp, (c) => c.notNull())
          // Also what ON CONFLICT names when concurrent first messages create the same session.
          .addUniqueConstraint('chat_sessions_owner_public_id_key', ['owner_key', 'public_id'])
          .execute(),
      // A user's sessions, most recently active first, with the public id as the keyset's tie-breaker.
      sessionIndex: ['user_id', 'last_message_at', 'public_id'],
      sessionKey: 'integer',
      copySessions: sql.raw(
        `INSERT INTO chat_sessions (public_id, owner_key, ${SESSION_COLUMNS})
         SELECT id, CASE WHEN user_id IS NULL THEN 'anonymous' ELSE 'user:' || user_id END, ${SESSION_COLUMNS}
           FROM chat_sessions_0003 ORDER BY created_at, id`,
      ),
      // The old ids were unique on their own: the public id finds the one new session of each message.
      copyMessages: sql.raw(
        `INSERT INTO chat_messages (id, session_id, ${MESSAGE_COLUMNS})
         SELECT m.id, s.id, ${prefixed('m', MESSAGE_COLUMNS)}
           FROM chat_messages_0003 m JOIN chat_sessions s ON s.public_id = m.session_id`,
      ),
    });
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function down(db: Kysely<any>): Promise<void> {
  await atomically(db, async (trx) => {
    const { rows } = await sql<{ public_id: string }>`
      SELECT public_id FROM chat_sessions GROUP BY public_id HAVING count(*) > 1`.execute(trx);
    if (rows.length > 0)
      throw new Error(
        `cannot revert 0006: ${rows.length} session id(s) belong to several owners (e.g. "${rows[0]?.public_id}")`,
      );
    await rebuild(trx, {
      createSessions: (t) =>
        trx.schema
          .createTable('chat_sessions')
          .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
          .addColumn('title', 'varchar(80)')
          .addColumn('title_is_custom', t.boolean, (c) => c.notNull().defaultTo(false))
          .addColumn('model', 'varchar(255)', (c) => c.notNull())
          .addColumn('agent', 'varchar(255)')
          .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', t.timestamp, (c) => c.notNull())
          .addColumn('updated_at', t.timestamp, (c) => c.notNull())
          .addColumn('last_message_at', t.timestamp, (c) => c.notNull())
          .execute(),
      sessionIndex: ['user_id', 'last_message_at', 'id'],
      sessionKey: 'varchar(64)',
      copySessions: sql.raw(
        `INSERT INTO chat_sessions (id, ${SESSION_COLUMNS})
         SELECT public_id, ${SESSION_COLUMNS} FROM chat_sessions_0003`,
      ),
      copyMessages: sql.raw(
        `INSERT INTO chat_messages (id, session_id, ${MESSAGE_COLUMNS})
         SELECT m.id, s.public_id, ${prefixed('m', MESSAGE_COLUMNS)}
           FROM chat_messages_0003 m JOIN chat_sessions_0003 s ON s.id = m.session_id`,
      ),
    });
  });
}

interface Shape {
  createSessions: (t: ColumnTypes) => Promise<void>;
  sessionIndex: string[];
  /** The column type of a message's session_id: the sessions' key. */
  sessionKey: string;
  copySessions: RawBuilder<unknown>;
  copyMessages: RawBuilder<unknown>;
}

/** Copies both tables aside, recreates them in `shape`, refills them, and puts the message counter back. */
async function rebuild(db: Db, shape: Shape): Promise<void> {
  const t = columnTypes(db);
  const lastMessageId = await messageCounter(db, t);
  await sql`CREATE TABLE chat_sessions_0003 AS SELECT * FROM chat_sessions`.execute(db);
  await sql`CREATE TABLE chat_messages_0003 AS SELECT * FROM chat_messages`.execute(db);
  // Messages first: with SQLite's foreign keys on, dropping the sessions would delete them (on delete cascade).
  // The trigger goes with its table (PostgreSQL keeps the function; it is used again below).
  await db.schema.dropTable('chat_messages').execute();
  await db.schema.dropTable('chat_sessions').execute();

  await shape.createSessions(t);
  await db.schema
    .createIndex('chat_sessions_user_activity_idx')
    .on('chat_sessions')
    .columns(shape.sessionIndex)
    .execute();
  await db.schema
    .createTable('chat_messages')
    .addColumn('id', t.serialId, serialKey(t))
    .addColumn('session_id', sql.raw(shape.sessionKey), (c) =>
      c.notNull().references('chat_sessions.id').onDelete('cascade'),
    )
    .addColumn('role', 'varchar(16)', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('model', 'varchar(255)')
    .addColumn('prompt_tokens', 'integer')
    .addColumn('completion_tokens', 'integer')
    .addColumn('status', 'varchar(16)', (c) => c.notNull().defaultTo('complete'))
    .addColumn('error', 'text')
    .addColumn('user_id', 'integer')
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('chat_messages_session_idx')
    .on('chat_messages')
    .columns(['session_id', 'id'])
    .execute();

  await shape.copySessions.execute(db);
  await shape.copyMessages.execute(db);
  const [before, after] = await Promise.all([count(db, 'chat_messages_0003'), count(db, 'chat_messages')]);
  if (before !== after) throw new Error(`chat messages copied: ${after} of ${before}`);
  await restoreMessageCounter(db, t, lastMessageId);
  await db.schema.dropTable('chat_messages_0003').execute();
  await db.schema.dropTable('chat_sessions_0003').execute();

  // After the copy: the copied sessions already carry their counts.
  if (t.isPostgres)
    await sql`CREATE TRIGGER chat_message_counted AFTER INSERT ON chat_messages
              FOR EACH ROW EXECUTE FUNCTION chat_message_counted()`.execute(db);
  else
    await sql
      .raw(`CREATE TRIGGER chat_message_counted AFTER INSERT ON chat_messages BEGIN ${UPDATE_SESSION}; END`)
      .execute(db);
}

/**
 * One transaction around the whole rebuild. PostgreSQL's migrations already run in one; SQLite's do not (Kysely's
 * migrator runs them on a plain connection there), and a half-rebuilt chat would strand the data in the copies.
 */
async function atomically(db: Db, work: (trx: Db) => Promise<void>): Promise<void> {
  if (db.isTransaction) await work(db);
  else await db.transaction().execute(work);
}

function serialKey(t: ColumnTypes) {
  return (c: ColumnDefinitionBuilder) => (t.isPostgres ? c.primaryKey() : c.primaryKey().autoIncrement());
}

function prefixed(alias: string, columns: string): string {
  return columns
    .split(', ')
    .map((c) => `${alias}.${c}`)
    .join(', ');
}

async function count(db: Db, table: string): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(
    db,
  );
  return Number(rows[0]?.n ?? 0);
}

/** The highest message id ever handed out (deleted messages included), or 0. */
async function messageCounter(db: Db, t: ColumnTypes): Promise<number> {
  const { rows } = t.isPostgres
    ? await sql<{ n: string | null }>`
        SELECT CASE WHEN is_called THEN last_value END AS n FROM chat_messages_id_seq`.execute(db)
    : await sql<{
        n: number | null;
      }>`SELECT seq AS n FROM sqlite_sequence WHERE name = 'chat_messages'`.execute(db);
  const highest = await sql<{ n: number | string | null }>`SELECT max(id) AS n FROM chat_messages`.execute(
    db,
  );
  return Math.max(Number(rows[0]?.n ?? 0), Number(highest.rows[0]?.n ?? 0));
}

async function restoreMessageCounter(db: Db, t: ColumnTypes, last: number): Promise<void> {
  if (last === 0) return;
  if (t.isPostgres) {
    await sql`SELECT setval(pg_get_serial_sequence('chat_messages', 'id'), ${last})`.execute(db);
    return;
  }
  // SQLite keeps the counter of an AUTOINCREMENT table in sqlite_sequence; the copy set it to the highest copied id.
  await sql`DELETE FROM sqlite_sequence WHERE name = 'chat_messages'`.execute(db);
  await sql`INSERT INTO sqlite_sequence (name, seq) VALUES ('chat_messages', ${last})`.execute(db);
}
