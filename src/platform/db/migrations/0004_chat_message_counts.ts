// A session's message count and last activity follow its messages in the database itself: a trigger updates the
// session in the same statement as the message is inserted, so the two never disagree (whatever the writer) and
// storing a message is one statement — one round trip on PostgreSQL, no explicit transaction on either.
import { sql, type Kysely } from 'kysely';
import { columnTypes } from './column-types.js';

const UPDATE_SESSION = `
  UPDATE chat_sessions
     SET message_count = message_count + 1,
         last_message_at = NEW.created_at,
         updated_at = NEW.created_at,
         model = coalesce(NEW.model, model)
   WHERE id = NEW.session_id`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function up(db: Kysely<any>): Promise<void> {
  if (columnTypes(db).isPostgres) {
    await sql
      .raw(
        `CREATE FUNCTION chat_message_counted() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN ${UPDATE_SESSION}; RETURN NULL; END $$`,
      )
      .execute(db);
    await sql
      .raw(
        `CREATE TRIGGER chat_message_counted AFTER INSERT ON chat_messages
         FOR EACH ROW EXECUTE FUNCTION chat_message_counted()`,
      )
      .execute(db);
  } else {
    await sql
      .raw(`CREATE TRIGGER chat_message_counted AFTER INSERT ON chat_messages BEGIN ${UPDATE_SESSION}; END`)
      .execute(db);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function down(db: Kysely<any>): Promise<void> {
  await sql
    .raw('DROP TRIGGER chat_message_counted' + (columnTypes(db).isPostgres ? ' ON chat_messages' : ''))
    .execute(db);
  if (columnTypes(db).isPostgres) await sql.raw('DROP FUNCTION chat_message_counted()').execute(db);
}
