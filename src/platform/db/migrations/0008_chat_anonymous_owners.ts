// Anonymous chat sessions get an owner of their own (issue 10): the original clients send short ids of their own
// choosing ("test-session-001"), which were refused while every anonymous client shared one owner. An anonymous
// owner is a signed cookie's id (owner_key `anon:<id>`); a client that keeps no cookie is known by its address,
// which a session it created also carries (ip_owner_key `ip:<address>`), unique per address like owner_key is per
// owner. Session ids may now have up to 128 characters. Sessions are listed by either key, most recently active
// first.
import { sql, type Kysely } from 'kysely';
import { columnTypes } from './column-types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  // SQLite does not enforce a varchar's length: only PostgreSQL's column needs widening.
  if (columnTypes(db).isPostgres)
    await db.schema
      .alterTable('chat_sessions')
      .alterColumn('public_id', (c) => c.setDataType('varchar(128)'))
      .execute();
  await db.schema.alterTable('chat_sessions').addColumn('ip_owner_key', 'varchar(128)').execute();
  // Also what a concurrent first message of the same address with the same id conflicts on.
  await db.schema
    .createIndex('chat_sessions_ip_owner_public_id_key')
    .unique()
    .on('chat_sessions')
    .columns(['ip_owner_key', 'public_id'])
    .where(sql.ref('ip_owner_key'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('chat_sessions_owner_activity_idx')
    .on('chat_sessions')
    .columns(['owner_key', 'last_message_at', 'public_id'])
    .execute();
  await db.schema
    .createIndex('chat_sessions_ip_owner_activity_idx')
    .on('chat_sessions')
    .columns(['ip_owner_key', 'last_message_at', 'public_id'])
    .where(sql.ref('ip_owner_key'), 'is not', null)
    .execute();
}

export async function down(db: Db): Promise<void> {
  const { rows } = await sql<{ long_ids: number | string; ip_owned: number | string }>`
    SELECT sum(CASE WHEN length(public_id) > 64 THEN 1 ELSE 0 END) AS long_ids,
           count(ip_owner_key) AS ip_owned
      FROM chat_sessions`.execute(db);
  const longIds = Number(rows[0]?.long_ids ?? 0);
  const ipOwned = Number(rows[0]?.ip_owned ?? 0);
  if (longIds > 0 || ipOwned > 0)
    throw new Error(
      `cannot revert 0008: ${longIds} session id(s) are longer than 64 characters and ${ipOwned} session(s) ` +
        'are known by their client address; 0007 can hold neither (delete those sessions first)',
    );
  await db.schema.dropIndex('chat_sessions_ip_owner_activity_idx').execute();
  await db.schema.dropIndex('chat_sessions_owner_activity_idx').execute();
  await db.schema.dropIndex('chat_sessions_ip_owner_public_id_key').execute();
  await db.schema.alterTable('chat_sessions').dropColumn('ip_owner_key').execute();
  if (columnTypes(db).isPostgres)
    await db.schema
      .alterTable('chat_sessions')
      .alterColumn('public_id', (c) => c.setDataType('varchar(64)'))
      .execute();
}
