// Row types of every table, as the repositories see them. Timestamps arrive as Date (PostgreSQL) or ISO text
// (SQLite) and booleans as boolean or 0/1: repositories convert them with platform/db/values.ts.
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date | string, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<
  Date | string | null,
  Date | string | null | undefined,
  Date | string | null
>;
type Flag = ColumnType<boolean | number, boolean | undefined, boolean>;

export interface UsersTable {
  id: Generated<number>;
  email: string;
  username: string;
  full_name: string | null;
  hashed_password: string;
  is_active: Flag;
  is_superuser: Flag;
  is_verified: Flag;
  verified_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  last_login: NullableTimestamp;
  failed_login_attempts: Generated<number>;
  account_locked_until: NullableTimestamp;
  password_changed_at: NullableTimestamp;
}

export interface DB {
  users: UsersTable;
}
