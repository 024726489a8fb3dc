// Chat sessions and their messages, persisted and owned (the original kept them in a per-process dict, shared by
// everyone and lost on restart).
import type { ColumnDefinitionBuilder, Kysely } from 'kysely';
import { columnTypes } from './column-types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(db);
  const id = (c: ColumnDefinitionBuilder) => (t.isPostgres ? c.primaryKey() : c.primaryKey().autoIncrement());

  await db.schema
    .createTable('chat_sessions')
    // The original's session_id: a client-chosen string or a generated UUID.
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    // Null for anonymous chat.
    .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('title', 'varchar(80)')
    .addColumn('title_is_custom', t.boolean, (c) => c.notNull().defaultTo(false))
    .addColumn('model', 'varchar(255)', (c) => c.notNull())
    .addColumn('agent', 'varchar(255)')
    .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('updated_at', t.timestamp, (c) => c.notNull())
    .addColumn('last_message_at', t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('chat_sessions_user_activity_idx')
    .on('chat_sessions')
    .columns(['user_id', 'last_message_at', 'id'])
    .execute();

  await db.schema
    .createTable('chat_messages')
    .addColumn('id', t.serialId, id)
    .addColumn('session_id', 'varchar(64)', (c) =>
      c.notNull().references('chat_sessions.id').onDelete('cascade'),
    )
    .addColumn('role', 'varchar(16)', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('model', 'varchar(255)')
    .addColumn('prompt_tokens', 'integer')
    .addColumn('completion_tokens', 'integer')
    // complete | partial (the stream broke or the client left) | error (the call failed; `error` says why)
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
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('chat_messages').execute();
  await db.schema.dropTable('chat_sessions').execute();
}
