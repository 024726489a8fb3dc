// The users table of the original (reference §3.1), the first table every other module refers to.
import type { Kysely } from 'kysely';
import { columnTypes } from './column-types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('users')
    .addColumn('id', t.serialId, (c) => (t.isPostgres ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('email', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('username', 'varchar(100)', (c) => c.notNull().unique())
    .addColumn('full_name', 'varchar(255)')
    .addColumn('hashed_password', 'text', (c) => c.notNull())
    .addColumn('is_active', t.boolean, (c) => c.notNull().defaultTo(true))
    .addColumn('is_superuser', t.boolean, (c) => c.notNull().defaultTo(false))
    .addColumn('is_verified', t.boolean, (c) => c.notNull().defaultTo(false))
    .addColumn('verified_at', t.timestamp)
    .addColumn('created_at', t.timestamp, (c) => c.notNull().defaultTo(t.now))
    .addColumn('updated_at', t.timestamp, (c) => c.notNull().defaultTo(t.now))
    .addColumn('last_login', t.timestamp)
    .addColumn('failed_login_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('account_locked_until', t.timestamp)
    .addColumn('password_changed_at', t.timestamp)
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('users').execute();
}
