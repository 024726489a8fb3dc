// Ended logins (a refresh family's `sid`): a logout or a detected refresh-token reuse ends every access token of
// the login, not only the one presented, and that must survive a Redis restart, so it lives here. A row is kept
// until the last access token the login could have issued has expired. Replaces the per-token denylist of 0002
// (revoked_access_tokens, and its Redis twin), which this migration carries over as far as it can: every login whose
// refresh family is already revoked, kept until its last refresh token expires (an upper bound on its access tokens).
import { sql, type Kysely } from 'kysely';
import { columnTypes } from './column-types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('revoked_sessions')
    .addColumn('session_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('expires_at', t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('revoked_sessions_expires_idx')
    .on('revoked_sessions')
    .column('expires_at')
    .execute();
  await sql`
    INSERT INTO revoked_sessions (session_id, expires_at)
    SELECT family_id, max(expires_at) FROM refresh_tokens
     WHERE revoked_at IS NOT NULL AND expires_at > ${t.now}
     GROUP BY family_id`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('revoked_sessions').execute();
}
