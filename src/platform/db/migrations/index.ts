// Every migration, in order. Names sort lexically and are never changed once released.
import type { Migration } from 'kysely';
import * as m0001 from './0001_users.js';
import * as m0002 from './0002_auth.js';
import * as m0003 from './0003_chat.js';
import * as m0004 from './0004_chat_message_counts.js';
import * as m0005 from './0005_login_locks.js';
import * as m0006 from './0006_chat_session_owners.js';
import * as m0007 from './0007_revoked_sessions.js';
import * as m0008 from './0008_chat_anonymous_owners.js';
import * as m0009 from './0009_agents.js';
import * as m0010 from './0010_files.js';
import * as m0011 from './0011_chat_message_sources.js';

export const migrations: Record<string, Migration> = {
  '0001_users': m0001,
  '0002_auth': m0002,
  '0003_chat': m0003,
  '0004_chat_message_counts': m0004,
  '0005_login_locks': m0005,
  '0006_chat_session_owners': m0006,
  '0007_revoked_sessions': m0007,
  '0008_chat_anonymous_owners': m0008,
  '0009_agents': m0009,
  '0010_files': m0010,
  '0011_chat_message_sources': m0011,
};
