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
  /** Retired by 0005: login lock state lives in login_locks. */
  failed_login_attempts: Generated<number>;
  /** Retired by 0005: login lock state lives in login_locks. */
  account_locked_until: NullableTimestamp;
  password_changed_at: NullableTimestamp;
  /** Raised to revoke every token of the user at once; access tokens carry the version they were issued under. */
  session_version: Generated<number>;
}

export interface RefreshTokensTable {
  id: Generated<number>;
  user_id: number;
  /** One login's chain of rotated tokens: reuse of a rotated token revokes the whole family. */
  family_id: string;
  /** SHA-256 of the token; the token itself is never stored. */
  token_hash: string;
  issued_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export type OneTimeTokenPurpose = 'password_reset' | 'email_verification';

export interface OneTimeTokensTable {
  id: Generated<number>;
  user_id: number;
  purpose: OneTimeTokenPurpose;
  token_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface RevokedAccessTokensTable {
  jti: string;
  expires_at: Timestamp;
}

/** 0007: ended logins (`sid`), refused until their last access token has expired. */
export interface RevokedSessionsTable {
  session_id: string;
  expires_at: Timestamp;
}

/** 0005: the login lockout, per lowercased login name (an account's username, or any name tried). */
export interface LoginLocksTable {
  login_key: string;
  failed_attempts: Generated<number>;
  locked_until: NullableTimestamp;
  /** Password checks reserved and not yet judged; they lapse at in_flight_until. */
  in_flight: Generated<number>;
  in_flight_until: NullableTimestamp;
  updated_at: Timestamp;
}

export type OutboxStatus = 'pending' | 'sent' | 'failed';

export interface EmailOutboxTable {
  id: Generated<number>;
  kind: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  /** JSON object of extra headers (X-Email-Type, …): jsonb on PostgreSQL, text on SQLite. */
  headers: ColumnType<Record<string, string> | string, string, string>;
  status: ColumnType<OutboxStatus, OutboxStatus | undefined, OutboxStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  locked_until: NullableTimestamp;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: NullableTimestamp;
}

export type ChatMessageStatus = 'complete' | 'partial' | 'error';
export type ChatMessageRole = 'user' | 'assistant' | 'system';

export interface ChatSessionsTable {
  /** The database's key of a session (messages reference it); never shown. */
  id: Generated<number>;
  /** The API's session_id (up to 128 characters): chosen by the client or a UUID, unique per owner only. */
  public_id: string;
  /**
   * Whose ids these are: user:<id>, or anon:<id> (an anonymous client's signed cookie). Rows written before 0008 may
   * say `anonymous` (the one owner every anonymous client shared then).
   */
  owner_key: string;
  /**
   * 0008: ip:<address> on a session created by an anonymous client without a cookie, which finds it by this key
   * (unique with public_id when set); null otherwise.
   */
  ip_owner_key: string | null;
  user_id: number | null;
  title: string | null;
  title_is_custom: Flag;
  model: string;
  agent: string | null;
  message_count: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  last_message_at: Timestamp;
}

export interface ChatMessagesTable {
  id: Generated<number>;
  /** chat_sessions.id */
  session_id: number;
  role: ChatMessageRole;
  content: string;
  model: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  status: ColumnType<ChatMessageStatus, ChatMessageStatus | undefined, ChatMessageStatus>;
  error: string | null;
  user_id: number | null;
  created_at: Timestamp;
  /** JSON array of the file passages an answer was given (migration 0011); null otherwise. */
  sources: ColumnType<string | null, string | null | undefined, string | null>;
}

export type AgentVisibility = 'public' | 'private';

export interface AgentsTable {
  /** A slug, unique: the API's agent id. */
  id: string;
  name: string;
  type: string;
  description: ColumnType<string, string | undefined, string>;
  /** A JSON array of strings (jsonb on PostgreSQL, text on SQLite). */
  capabilities: ColumnType<unknown, string, string>;
  endpoint: string | null;
  /** Built-in agents: their port on AGENTS_BASE_URL. */
  port: number | null;
  model: string | null;
  system_prompt: string | null;
  temperature: number | null;
  max_tokens: number | null;
  /** A JSON object of more fields of the original's shape, or null. */
  extra: ColumnType<unknown, string | null | undefined, string | null>;
  visibility: ColumnType<AgentVisibility, AgentVisibility | undefined, AgentVisibility>;
  /** Null for the built-in agents. */
  owner_id: number | null;
  created_at: ColumnType<Date | string, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date | string, Date | string | undefined, Date | string>;
}

/** Where indexing a file for the chat over documents stands; null: not indexable, or never asked. */
export type FileIndexStatus = 'pending' | 'indexing' | 'ready' | 'failed';

/** 0010: uploaded files, stored on disk under FILES_DIR by id. */
export interface FilesTable {
  /** A UUID generated by the server: the file's name on disk and the API's file_id. */
  id: string;
  owner_id: number;
  /** The client's file name (control characters removed), for display only: never a path. */
  name: string;
  /** Bytes; bigint, which PostgreSQL hands back as text. */
  size: ColumnType<number | string | bigint, number, number>;
  /** Detected from the content, lower case, without parameters. */
  media_type: string;
  /** Hex SHA-256 of the content. */
  sha256: string;
  created_at: Timestamp;
  index_status: FileIndexStatus | null;
  index_error: string | null;
  index_progress: ColumnType<number, number | undefined, number>;
  index_chunks: number | null;
  index_updated_at: NullableTimestamp;
}

export interface DB {
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  one_time_tokens: OneTimeTokensTable;
  revoked_access_tokens: RevokedAccessTokensTable;
  revoked_sessions: RevokedSessionsTable;
  login_locks: LoginLocksTable;
  email_outbox: EmailOutboxTable;
  chat_sessions: ChatSessionsTable;
  chat_messages: ChatMessagesTable;
  agents: AgentsTable;
  files: FilesTable;
}
