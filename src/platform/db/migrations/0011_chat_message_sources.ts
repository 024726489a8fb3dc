// An answer given over the user's files keeps the passages it was given (issue 15): `sources`, the JSON array
// [{file_id, name, chunk, score, excerpt}], returned with the message in the history. Null for every other message.
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('chat_messages').addColumn('sources', 'text').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.alterTable('chat_messages').dropColumn('sources').execute();
}
